package server

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Drain is docs/design.md §5: after the first signal, keep serving for Delay while /readyz fails (so load
// balancers and kube-proxy take the pod out), then stop accepting and finish in-flight requests
// within Timeout.
type Drain struct {
	Delay   time.Duration
	Timeout time.Duration
	// Skip, when closed, ends the delay early (a second SIGTERM/SIGINT).
	Skip <-chan struct{}
	// Shutdown is called when the drain starts; the monitor's Shutdown makes /readyz fail.
	Shutdown func()
	// Timing, when set, is asked for Delay and Timeout when the drain starts, so that a
	// configuration reloaded since the start applies.
	Timing func() (delay, timeout time.Duration)
}

// Endpoints are what Serve serves: the HTTP probes, and optionally the gRPC health service.
type Endpoints struct {
	HTTP    net.Listener
	Handler http.Handler
	GRPC    net.Listener // nil: no gRPC
	Health  *Health
}

// Limits of both ports' servers. idleTimeout is a variable for tests.
var idleTimeout = 60 * time.Second

const maxHeaderBytes = 16 << 10

// Serve serves the endpoints until ctx ends, then drains. It returns nil after a clean drain and an
// error if a listener failed or the drain ran out of time.
func Serve(ctx context.Context, ep Endpoints, d Drain, log *slog.Logger) error {
	// HTTP/1.1, and HTTP/2 without TLS with prior knowledge (h2c): the kubelet's `protocol: HTTP2`
	// HTTP probe speaks the latter, HAProxy and the kubelet's default probe the former. net/http tells
	// them apart by the connection preface.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:   ep.Handler,
		Protocols: &protocols,
		// A slow client must not hold a connection for long. Probes have no body and their answers
		// are a few hundred bytes written at once, so the header deadline is the one that matters;
		// read and write timeouts would set two more deadlines per probe (3.4% of the CPU, bench/README.md). A
		// client that does not read its answers is bounded otherwise: see stalledAfter.
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// `OPTIONS *` is the Handler's (readiness, Handler.ServeHTTP): net/http's own answer is 200,
		// whatever the state and through the drain, to a checker configured with it.
		DisableGeneralOptionsHandler: true,
	}
	var requests activity
	srv.ConnState = requests.track
	stopSweep := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() { requests.sweep(stopSweep) })
	defer func() {
		close(stopSweep)
		sweeper.Wait()
	}()
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(listener{ep.HTTP}) }()
	var gs *http.Server
	if ep.GRPC != nil {
		gs = ep.Health.newGRPCServer(srv.ErrorLog)
		gs.ConnState = requests.track
		go func() { errc <- gs.Serve(listener{ep.GRPC}) }()
	}
	servers := 1 + boolInt(gs != nil)

	select {
	case err := <-errc:
		stopAll(srv, gs)
		return err
	case <-ctx.Done():
	}

	if d.Shutdown != nil {
		d.Shutdown()
	}
	if d.Timing != nil {
		d.Delay, d.Timeout = d.Timing()
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
		stopAll(srv, gs)
		return err
	}

	sctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	// A write still blocked stalledAfter from now fails, and its connection closes (see stalledAfter).
	requests.stall(time.Now().Add(stalledAfter))
	var wg sync.WaitGroup
	var gerr error
	if gs != nil {
		ep.Health.stop() // Watch streams would hold the shutdown for ever
		wg.Go(func() { gerr = shutdown(sctx, gs, &requests) })
	}
	err := shutdown(sctx, srv, &requests)
	wg.Wait()
	err = cmp.Or(err, gerr)
	for range servers {
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	if err == nil {
		log.Info("drained: stopped serving")
	}
	return err
}

// stalledAfter bounds how long a client may keep the server waiting: to send the message of a gRPC
// call, and to take an answer written to it. A probe's answer is a few hundred bytes written at once,
// so a write still blocked after this fails, as when a write deadline passes.
//
// HTTP/2 has a flow-control window per stream, and a client that never reads (or that opens with a
// window of zero) leaves a handler blocked in its write for as long as the connection lives: each
// stream gets this as its write deadline (and a gRPC call as its read deadline). HTTP/1.1 has no such
// window, but its socket buffers are no bound either: a client that pipelines requests and never reads
// the answers fills both ends' buffers (a few MB on loopback) and net/http's goroutine for its
// connection then blocks in a write, the connection still active. Without a bound, either held the
// drain until shutdown_timeout and made it fail (exit 1); so once the drain stops accepting, every
// connection gets this as its write deadline. Before the drain, a connection whose write has been
// blocked this long is closed at the next sweep (activity.sweep): a client can no longer hold a
// goroutine and a few MB of socket buffers for as long as it likes. A WriteTimeout would bound HTTP/1.1
// at one more deadline update per request (bench/README.md measured the read and write timeouts at
// 3.4% of the server's CPU) and cut a gRPC Watch; the sweep costs a write two atomic additions. A
// variable so that tests can shorten it.
var stalledAfter = 5 * time.Second

// sweepEvery is how often the sweep looks: stalledAfter when zero. A variable so that a test of the
// drain can keep the sweep out of its way.
var sweepEvery time.Duration

// shutdown stops accepting and waits for in-flight requests until ctx ends, then closes what is left.
// Running out of time is an error only if a request was still in flight: net/http also waits (up to 5 s)
// for a new connection's first request, and a connection that sent nothing (a load balancer's TCP
// check, a port scan) must not turn a clean drain into exit 1.
func shutdown(ctx context.Context, srv *http.Server, requests *activity) error {
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		busy := requests.busy()
		_ = srv.Close()
		if !busy {
			return nil
		}
		return errors.New("in-flight requests did not finish within shutdown_timeout")
	}
	return err
}

// activity tracks the servers' connections, and those that hold a request.
type activity struct {
	mu    sync.Mutex
	conns map[*conn]struct{} // every connection, from its StateNew to its StateClosed or StateHijacked
	// stalled, once the drain stops accepting, is every connection's write deadline: a connection
	// accepted just before gets it too.
	stalled time.Time
}

// conn is a connection accepted by Serve's listeners. It carries its own state, so that the ConnState
// hook's two calls per keep-alive request (StateActive, StateIdle), on the probe path, take no lock and
// look nothing up: a mutex and a map there cost about 100 ns per request (BenchmarkConnState).
type conn struct {
	net.Conn
	active atomic.Bool // a request in flight: http.StateActive (for HTTP/2, a stream open)
	// writes counts each write twice, when it starts and when it returns, so it is odd while one is
	// blocked. net/http writes a connection from one goroutine at a time; were two writes ever at once,
	// the count would be even, and a stalled one missed, never a moving one closed.
	writes atomic.Uint64
	swept  uint64 // writes at the last sweep; activity.mu guards it
}

// maxWrite is the most a write may send at once and still count as progress: a large answer to a
// slow client must not look stalled because one call takes longer than stalledAfter.
const maxWrite = 64 << 10

func (c *conn) Write(b []byte) (int, error) {
	var n int
	for {
		p := b[n:min(len(b), n+maxWrite)]
		c.writes.Add(1)
		m, err := c.Conn.Write(p)
		c.writes.Add(1)
		n += m
		if err != nil || n == len(b) {
			return n, err
		}
	}
}

// CloseWrite keeps net/http's half-close before it closes a connection whose client still sends.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// listener makes every connection it accepts a *conn.
type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// track is an http.Server's ConnState hook. For HTTP/2 (h2c), StateActive means a stream is open,
// StateIdle that none is left; StateClosed can follow StateNew, StateActive or StateIdle. net/http names
// the connection as the listener returned it, in every state (TestDrainNotFailedBySilentConnections
// holds it to that for both protocols and both ports).
func (a *activity) track(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return // not from Serve's listeners
	}
	switch s {
	case http.StateActive:
		c.active.Store(true)
		return
	case http.StateIdle:
		c.active.Store(false)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch s {
	case http.StateNew:
		if a.conns == nil {
			a.conns = map[*conn]struct{}{}
		}
		a.conns[c] = struct{}{}
		if !a.stalled.IsZero() {
			_ = c.SetWriteDeadline(a.stalled)
		}
	case http.StateClosed, http.StateHijacked:
		delete(a.conns, c) // whatever its last state
	}
}

// stall sets every connection's write deadline, now and for those still to come. net/http clears an
// HTTP/1.1 connection's write deadline after each answer, but keep-alives are off by then, so the
// connection closes after that answer.
func (a *activity) stall(deadline time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stalled = deadline
	for c := range a.conns {
		_ = c.SetWriteDeadline(deadline)
	}
}

// sweep closes, every stalledAfter until stop is closed, the connections with a write blocked since
// the sweep before (for between one and two stalledAfter): their clients take nothing the server sends.
// net/http then ends the request and closes the connection as after any write error; a connection
// that is merely quiet (idle keep-alive, a gRPC Watch waiting for a change) is writing nothing, and
// an HTTP/2 stream whose window is shut waits in its handler, bounded by its own deadline.
func (a *activity) sweep(stop <-chan struct{}) {
	t := time.NewTicker(cmp.Or(sweepEvery, stalledAfter))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		a.mu.Lock()
		for c := range a.conns {
			w := c.writes.Load()
			if w&1 == 1 && w == c.swept {
				_ = c.Close()
			}
			c.swept = w
		}
		a.mu.Unlock()
	}
}

func (a *activity) busy() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		if c.active.Load() {
			return true
		}
	}
	return false
}

// stopAll stops whatever still serves after one server failed.
func stopAll(srv, gs *http.Server) {
	_ = srv.Close()
	if gs != nil {
		_ = gs.Close()
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
