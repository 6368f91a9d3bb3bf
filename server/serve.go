package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Drain is DESIGN.md §5: after the first signal, keep serving for Delay while /readyz fails (so load
// balancers and kube-proxy take the pod out), then stop accepting and finish in-flight requests
// within Timeout.
type Drain struct {
	Delay   time.Duration
	Timeout time.Duration
	// Skip, when closed, ends the delay early (a second SIGTERM/SIGINT).
	Skip <-chan struct{}
	// Shutdown is called when the drain starts; the monitor's Shutdown makes /readyz fail.
	Shutdown func()
}

// Serve serves h on ln until ctx ends, then drains. It returns nil after a clean drain and an error
// if the listener failed or the drain ran out of time.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, d Drain, log *slog.Logger) error {
	srv := &http.Server{
		Handler: h,
		// Probes are tiny: a slow client must not hold a connection for long.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	if d.Shutdown != nil {
		d.Shutdown()
	}
	// Answers now say "Connection: close", so load balancers holding keep-alive connections reconnect
	// (to another pod) instead of reusing this one.
	srv.SetKeepAlivesEnabled(false)
	log.Info("shutting down: /readyz fails from now on; still serving during shutdown_delay", "shutdown_delay", d.Delay)
	timer := time.NewTimer(d.Delay)
	select {
	case <-timer.C:
	case <-d.Skip:
		timer.Stop()
		log.Info("second signal: ending shutdown_delay early")
	case err := <-errc:
		timer.Stop()
		return err
	}

	sctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
		err = errors.New("in-flight requests did not finish within shutdown_timeout")
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err == nil {
		log.Info("drained: stopped serving")
	}
	return err
}
