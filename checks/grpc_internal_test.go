package checks

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestGRPCIdlePings: a grpc-go server (keepalive.EnforcementPolicy's defaults) counts every PING after
// the first on a connection with no call as a strike, and closes the connection with GOAWAY
// "too_many_pings", and an error in its log, after the third. The check's kept connection, idle between
// runs, must send one PING at most in an idle stretch: it is closed before a second. Timings scaled down
// (grpcPingAfter, grpcIdleClose); the PINGs are counted in the client's bytes as the server reads them.
func TestGRPCIdlePings(t *testing.T) {
	pingAfter, idleClose := grpcPingAfter, grpcIdleClose
	grpcPingAfter, grpcIdleClose = 400*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { grpcPingAfter, grpcIdleClose = pingAfter, idleClose })

	ch, pings, conns := grpcCheckOfCountingServer(t)
	for range 2 {
		if err := ch.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// An idle stretch of four PING intervals, as a check every 2 minutes has against 30 s. The idle close
		// comes 300 ms before a second PING would: room for a stalled timer (-race, CI).
		time.Sleep(4 * grpcPingAfter)
		if n := pings.Swap(0); n > 1 {
			t.Errorf("%d PINGs in an idle stretch; want one at most (grpc-go closes the connection after three)", n)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 2 runs an idle stretch apart; want a fresh one each (the idle one closed)", n)
	}
}

// grpcCheckOfCountingServer starts a grpc-go health server whose connections and the PINGs they read
// are counted, and returns a grpc check of it; both end with the test.
func grpcCheckOfCountingServer(t *testing.T) (ch *Check, pings, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pings, conns = new(atomic.Int32), new(atomic.Int32)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(&pingCountingListener{Listener: ln, pings: pings, conns: conns}) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	ch, err = New(config.Check{Name: "inventory", Type: "grpc", Interval: time.Second, Timeout: 5 * time.Second,
		Spec: config.SpecOf(map[string]any{"address": ln.Addr().String()})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Close)
	return ch, pings, conns
}

// pingCountingListener counts the HTTP/2 PING frames (not their acks) its connections read.
type pingCountingListener struct {
	net.Listener
	pings, conns *atomic.Int32
}

func (l *pingCountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns.Add(1)
		c = &pingCountingConn{Conn: c, pings: l.pings}
	}
	return c, err
}

type pingCountingConn struct {
	net.Conn
	pings   *atomic.Int32
	buf     []byte
	preface bool
}

func (c *pingCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf = append(c.buf, p[:n]...)
	if !c.preface && len(c.buf) >= 24 { // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
		c.buf, c.preface = c.buf[24:], true
	}
	for c.preface && len(c.buf) >= 9 {
		length := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
		if len(c.buf) < 9+length {
			break
		}
		if c.buf[3] == 0x6 && c.buf[4]&0x1 == 0 { // PING, not ACK
			c.pings.Add(1)
		}
		c.buf = c.buf[9+length:]
	}
	return n, err
}

// TestGRPCBusyConnectionKept: a connection in use by runs closer together than grpcIdleClose is kept,
// and no other is dialled beside it. net/http's Transport with IdleConnTimeout and unencrypted HTTP/2
// (h2c, gRPC's plaintext) dials a throwaway connection every IdleConnTimeout however busy the kept one
// is (closed at once unused; over TLS it does not): 80 connections an hour per check, which the bench's
// kinds figure counted (K3 grpc: 10 opened in 60 s by 10 checks, 12 per hour, where every other kind
// opens none). Timings scaled down.
func TestGRPCBusyConnectionKept(t *testing.T) {
	pingAfter, idleClose := grpcPingAfter, grpcIdleClose
	grpcPingAfter, grpcIdleClose = 5*time.Second, 400*time.Millisecond
	t.Cleanup(func() { grpcPingAfter, grpcIdleClose = pingAfter, idleClose })

	// The idle timer is armed within a run and stopped within the next: it can have closed the kept
	// connection (as it should) only when the next run ended grpcIdleClose or more after the previous
	// one began. Such a pair (a stalled machine: -race, CI) allows a connection more; the others none.
	ch, _, conns := grpcCheckOfCountingServer(t)
	runs, mayIdle := 0, 0
	var began time.Time
	for end := time.Now().Add(6 * grpcIdleClose); time.Now().Before(end); time.Sleep(grpcIdleClose / 8) {
		start := time.Now()
		if err := ch.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if runs++; runs > 1 && time.Since(began) >= grpcIdleClose {
			mayIdle++
		}
		began = start
	}
	if n := conns.Load(); n > int32(1+mayIdle) {
		t.Errorf("%d connections for %d runs every %v over %v (%d pairs of runs %v or more apart); want %d at most",
			n, runs, grpcIdleClose/8, 6*grpcIdleClose, mayIdle, grpcIdleClose, 1+mayIdle)
	}
}

// slowHealth answers no Check before the call ends: a run is in flight for as long as it lasts.
type slowHealth struct {
	healthpb.UnimplementedHealthServer
}

func (slowHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// openConnsListener counts its connections not closed yet.
type openConnsListener struct {
	net.Listener
	open atomic.Int32
}

func (l *openConnsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedOpenConn{Conn: c, open: &l.open}, nil
}

type countedOpenConn struct {
	net.Conn
	open *atomic.Int32
	once sync.Once
}

func (c *countedOpenConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// TestGRPCCancelledRunClosesItsConnection: a run cancelled in flight (its check dropped by a reload, serve
// stopping) closes the connection it went on, as a timed-out run does. Its call is still one of the
// connection's streams for a moment after the run returned (net/http resets it in the background), so
// the check's Close, right after, found no idle connection to close, and the connection, kept by a server
// that answers its PINGs, outlived the check: a grpc-go server closed it minutes later with
// "too_many_pings", another may never; half the checks dropped mid-run left theirs.
func TestGRPCCancelledRunClosesItsConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &openConnsListener{Listener: ln}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, slowHealth{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(counted) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	for i := range 10 {
		ch, err := New(config.Check{Name: "inventory", Type: "grpc", Interval: 10 * time.Second, Timeout: 5 * time.Second,
			Spec: config.SpecOf(map[string]any{"address": ln.Addr().String()})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { _ = ch.Run(ctx); close(ran) }()
		for counted.open.Load() == 0 { // the call is under way once its connection is
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-ran
		ch.Close()
		if _, ok := checktest.Poll(5*time.Second, 10*time.Millisecond, func() bool { return counted.open.Load() == 0 }); !ok {
			t.Fatalf("check %d: its connection still open 5s after the run was cancelled and the check closed", i+1)
		}
	}
}
