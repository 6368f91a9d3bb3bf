package server

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/healthgate/healthgate/internal/grpcwire"
)

// dial connects to addr, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// drain stops g's Serve (a first signal) and returns what it returned, which the fixture's cleanup then
// does not check again.
func (g *grpcFixture) drain(t *testing.T) error {
	t.Helper()
	g.stop()
	select {
	case err := <-g.served:
		g.served <- nil
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// stalledStream opens one HTTP/2 stream (h2c, prior knowledge) on addr with a flow-control window of
// zero, as a client that never reads its answers does: the server can send the headers, never a
// byte of the body. With a nil body the request's own body is announced and never sent. It returns
// the connection, left open until the test ends.
func stalledStream(t *testing.T, addr, method, path, contentType string, body []byte) net.Conn {
	t.Helper()
	conn := dial(t, addr)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", addr}, {":path", path}, {"content-type", contentType}, {"te", "trailers"}} {
		if f[1] != "" {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: body != nil && len(body) == 0}); err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		if err := fr.WriteData(1, true, body); err != nil {
			t.Fatal(err)
		}
	}
	if body == nil {
		time.Sleep(200 * time.Millisecond) // the handler now waits for the request's message
		return conn
	}
	// Read (and acknowledge) until the server's headers have come: the handler has run and now waits
	// to send its body, which the window of zero never lets out.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("%s %s: no answer headers: %v", method, path, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			_ = conn.SetReadDeadline(time.Time{})
			return conn
		}
	}
}

// TestDrainNotHeldByStalledStreams: a client that opens a stream and never reads its answer (an
// HTTP/2 window of zero) must not hold the drain until shutdown_timeout, nor make it fail: neither a
// gRPC Watch nor Check, nor an h2c probe.
func TestDrainNotHeldByStalledStreams(t *testing.T) {
	call := grpcwire.Frame(nil) // HealthCheckRequest{service: ""}
	tests := []struct {
		name   string
		grpc   bool
		method string
		path   string
		ct     string
		body   []byte
	}{
		{name: "grpc Watch", grpc: true, method: "POST", path: methodWatch, ct: grpcContentType, body: call},
		{name: "grpc Check", grpc: true, method: "POST", path: methodCheck, ct: grpcContentType, body: call},
		{name: "grpc call without its message", grpc: true, method: "POST", path: methodWatch, ct: grpcContentType},
		{name: "not grpc on the grpc port", grpc: true, method: "GET", path: "/", body: []byte{}},
		{name: "h2c /readyz", method: "GET", path: "/readyz?verbose", body: []byte{}},
	}
	defer func(d time.Duration) { stalledAfter = d }(stalledAfter)
	stalledAfter = 300 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var db dep
			// A drain timeout well above stalledAfter and the second HTTP/2 holds after its last
			// stream before it closes a connection that its client keeps open.
			g := newGRPCFixtureDrain(t, &db, 0, 5*time.Second)
			addr := g.grpcAddr
			if !tc.grpc {
				addr = g.httpURL[len("http://"):]
			}
			stalledStream(t, addr, tc.method, tc.path, tc.ct, tc.body)
			start := time.Now()
			if err := g.drain(t); err != nil {
				t.Errorf("Serve = %v after %s; want a clean drain", err, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// TestWatchOutlivesStalledAfter: the bound is per message, not per stream: a Watch that stays quiet
// for longer (nothing changed) still gets the next change.
func TestWatchOutlivesStalledAfter(t *testing.T) {
	defer func(d time.Duration) { stalledAfter = d }(stalledAfter)
	stalledAfter = 200 * time.Millisecond
	var db dep
	g := newGRPCFixture(t, &db, 0)
	w, err := g.client(t).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "db"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING} {
		if i > 0 {
			time.Sleep(4 * stalledAfter)
			db.fail(errSecret)
		}
		resp, err := w.Recv()
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Watch message %d: %v, %v; want %v", i+1, resp.GetStatus(), err, want)
		}
	}
}

// TestDrainNotFailedBySilentConnections: a connection that was opened and sent nothing, or not yet a
// whole request (a load balancer's TCP check, a port scan, a slow client), holds no request, so it must
// not make a clean drain fail when shutdown_timeout ends before net/http lets go of it (it waits up to
// 5 s for a new connection's first request); a request in flight, one whose answer its client does not
// take (over HTTP/1.1 or HTTP/2, on either port), still does.
func TestDrainNotFailedBySilentConnections(t *testing.T) {
	tests := []struct {
		name     string
		send     string // what the client sends before the drain, on both ports
		inFlight string // and a request whose answer is never taken: "h2c" or "http/1.1" /readyz?verbose, or a "grpc" call
		wantErr  bool
	}{
		{name: "nothing sent", send: ""},
		{name: "half a request", send: "GET /readyz HTTP/1.1\r\nHost: x\r\n"},
		{name: "an h2c request in flight", inFlight: "h2c", wantErr: true},
		{name: "an HTTP/1.1 request in flight", inFlight: "http/1.1", wantErr: true},
		{name: "a gRPC call in flight", inFlight: "grpc", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var db dep
			hl := newWriteStalls(t)
			g := newGRPCFixtureOn(t, &db, 0, 300*time.Millisecond, hl)
			httpAddr := g.httpURL[len("http://"):]
			for _, addr := range []string{httpAddr, g.grpcAddr} {
				if _, err := dial(t, addr).Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			switch tc.inFlight {
			case "h2c":
				stalledStream(t, httpAddr, "GET", "/readyz?verbose", "", []byte{})
			case "http/1.1":
				pipelineUnread(t, httpAddr, "/readyz?verbose", hl.stalled)
			case "grpc":
				stalledStream(t, g.grpcAddr, "POST", methodCheck, grpcContentType, grpcwire.Frame(nil))
			}
			time.Sleep(100 * time.Millisecond) // the server has read what was sent
			if err := g.drain(t); (err != nil) != tc.wantErr {
				t.Errorf("Serve = %v; want an error: %v", err, tc.wantErr)
			}
		})
	}
}

// TestIdleConnectionsClosed: a connection that holds no stream is closed after idleTimeout on the gRPC
// port as on the HTTP port, so idle clients cannot pile up connections for ever.
func TestIdleConnectionsClosed(t *testing.T) {
	defer func(d time.Duration) { idleTimeout = d }(idleTimeout)
	idleTimeout = 300 * time.Millisecond
	var db dep
	g := newGRPCFixtureDrain(t, &db, 0, 5*time.Second)
	for name, addr := range map[string]string{"grpc": g.grpcAddr, "http (h2c)": g.httpURL[len("http://"):]} {
		t.Run(name, func(t *testing.T) {
			conn := dial(t, addr)
			if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
				t.Fatal(err)
			}
			fr := http2.NewFramer(conn, conn)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(5 * time.Second))
			for {
				if _, err := fr.ReadFrame(); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("an idle connection still open after %s", time.Since(start).Round(time.Millisecond))
					}
					return // closed by the server
				}
			}
		})
	}
}

// writeStalls is a listener whose connections report on stalled when one of the server's writes has
// been blocked for 200 ms (its client does not take what the server sends), and on closed when the
// server closes one.
type writeStalls struct {
	net.Listener
	stalled, closed chan struct{} // buffered channels of one
}

func newWriteStalls(t *testing.T) *writeStalls {
	return &writeStalls{Listener: listen(t), stalled: make(chan struct{}, 1), closed: make(chan struct{}, 1)}
}

func (l *writeStalls) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, l: l}, nil
}

type stallConn struct {
	net.Conn
	l *writeStalls
}

func (c *stallConn) Close() error {
	select {
	case c.l.closed <- struct{}{}:
	default:
	}
	return c.Conn.Close()
}

func (c *stallConn) Write(b []byte) (int, error) {
	t := time.AfterFunc(200*time.Millisecond, func() {
		select {
		case c.l.stalled <- struct{}{}:
		default:
		}
	})
	defer t.Stop()
	return c.Conn.Write(b)
}

// pipelineUnread writes requests for path to addr on one HTTP/1.1 connection, back to back, and reads
// none of the answers, until the server is blocked writing one (stalled): the answers have filled both
// sockets' buffers. It returns the connection, closed when the test ends.
func pipelineUnread(t *testing.T, addr, path string, stalled <-chan struct{}) net.Conn {
	t.Helper()
	conn := dial(t, addr)
	batch := bytes.Repeat([]byte("GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"), 64)
	var pending []byte
	giveUp := time.Now().Add(20 * time.Second)
	for time.Now().Before(giveUp) {
		select {
		case <-stalled:
			return conn
		default:
		}
		if len(pending) == 0 {
			pending = batch
		}
		// Once the server stops reading, this write blocks too: go on (where it stopped, so that no
		// request is cut) until the server is blocked in its own.
		_ = conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Write(pending)
		pending = pending[n:]
		if ne, ok := err.(net.Error); err != nil && (!ok || !ne.Timeout()) {
			t.Fatal(err)
		}
	}
	t.Fatal("the server was never blocked writing an answer")
	return nil
}

// TestDrainNotHeldByUnreadPipeline: an HTTP/1.1 client that pipelines requests and never reads the
// answers must not hold the drain until shutdown_timeout, nor make it fail (exit 1 on a clean SIGTERM):
// net/http's goroutine for its connection is blocked writing an answer the client does not take, the
// connection still active, and the server has no write timeout.
func TestDrainNotHeldByUnreadPipeline(t *testing.T) {
	defer func(d, e time.Duration) { stalledAfter, sweepEvery = d, e }(stalledAfter, sweepEvery)
	stalledAfter = 300 * time.Millisecond
	sweepEvery = time.Hour // the drain's own bound, not the sweep's before it, lets go of the connection
	var db dep
	hl := newWriteStalls(t)
	g := newGRPCFixtureOn(t, &db, 0, 5*time.Second, hl)
	pipelineUnread(t, g.httpURL[len("http://"):], "/readyz?verbose", hl.stalled)
	start := time.Now()
	err := g.drain(t)
	took := time.Since(start)
	if err != nil {
		t.Errorf("Serve = %v after %s; want a clean drain", err, took.Round(time.Millisecond))
	}
	// The blocked write fails stalledAfter into the drain; net/http then sees the connection closed at
	// its next look (at most 500 ms apart).
	if took > 3*time.Second {
		t.Errorf("the drain took %s; want it not held by the unread answers (stalledAfter %s)", took.Round(time.Millisecond), stalledAfter)
	}
}

// TestUnreadAnswersBounded: outside the drain too, a connection whose client does not take what the
// server writes (an HTTP/1.1 client that pipelines requests and never reads) is closed once a write has
// been blocked for stalledAfter, rather than holding its goroutine and socket buffers for as long as
// the client likes; a connection that is merely quiet is not.
func TestUnreadAnswersBounded(t *testing.T) {
	defer func(d time.Duration) { stalledAfter = d }(stalledAfter)
	stalledAfter = 300 * time.Millisecond
	var db dep
	hl := newWriteStalls(t)
	g := newGRPCFixtureOn(t, &db, 0, 5*time.Second, hl)
	addr := g.httpURL[len("http://"):]
	quiet := dial(t, addr)
	if _, err := quiet.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(quiet)
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		_ = resp.Body.Close()
	}
	pipelineUnread(t, addr, "/readyz?verbose", hl.stalled)
	start := time.Now()
	select {
	case <-hl.closed:
		// A write blocked for stalledAfter is seen at the next look, stalledAfter apart.
		if took := time.Since(start); took > 2*stalledAfter+time.Second {
			t.Errorf("closed %s after the write blocked; want within 2 × stalledAfter (%s)", took.Round(time.Millisecond), stalledAfter)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a connection whose client takes no answer was still open after 5 s")
	}
	// The quiet keep-alive connection, idle for longer than stalledAfter, still answers.
	if _, err := quiet.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the quiet connection: %v, %v; want 200", resp, err)
	}
}

// deadlineConn records its write deadline.
type deadlineConn struct {
	net.Conn // nil: only SetWriteDeadline is used
	write    time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.write = t
	return nil
}

// TestStallReachesLateConnections: the drain's write deadline goes to every connection held when it is
// set, and to one that net/http accepted just before its listener closed but reports afterwards.
func TestStallReachesLateConnections(t *testing.T) {
	var a activity
	held, late, gone := &deadlineConn{}, &deadlineConn{}, &deadlineConn{}
	a.track(&conn{Conn: held}, http.StateNew)
	a.track(&conn{Conn: gone}, http.StateNew)
	for c := range a.conns {
		if c.Conn == gone {
			a.track(c, http.StateClosed)
		}
	}
	deadline := time.Now().Add(time.Minute)
	a.stall(deadline)
	a.track(&conn{Conn: late}, http.StateNew)
	for name, c := range map[string]*deadlineConn{"held": held, "late": late} {
		if !c.write.Equal(deadline) {
			t.Errorf("%s connection's write deadline: %v; want %v", name, c.write, deadline)
		}
	}
	if !gone.write.IsZero() {
		t.Errorf("a closed connection got a write deadline")
	}
}

// slowConn takes what is written at rate bytes a second, or nothing with a rate of zero, until closed.
type slowConn struct {
	net.Conn // nil: only Write and Close are used
	rate     int
	once     sync.Once
	closed   chan struct{}
}

func newSlowConn(rate int) *slowConn { return &slowConn{rate: rate, closed: make(chan struct{})} }

func (c *slowConn) Write(b []byte) (int, error) {
	var takes <-chan time.Time // nil: never
	if c.rate > 0 {
		takes = time.After(time.Duration(len(b)) * time.Second / time.Duration(c.rate))
	}
	select {
	case <-takes:
		return len(b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *slowConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// TestSweepClosesStalledWritesOnly: the sweep closes a connection whose write takes nothing, and not
// one that takes a large answer slowly but steadily (its write goes out in pieces, each of which
// moves), nor one that writes nothing.
func TestSweepClosesStalledWritesOnly(t *testing.T) {
	defer func(d time.Duration) { stalledAfter = d }(stalledAfter)
	stalledAfter = 300 * time.Millisecond
	var a activity
	stalled, slow, quiet := newSlowConn(0), newSlowConn(40*maxWrite), newSlowConn(0) // slow: a piece per 25 ms
	conns := map[string]*slowConn{"stalled": stalled, "slow": slow, "quiet": quiet}
	for _, c := range conns {
		a.track(&conn{Conn: c}, http.StateNew)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { a.sweep(stop) })
	defer func() {
		close(stop)
		for _, c := range conns {
			_ = c.Close()
		}
		wg.Wait()
	}()
	var tracked []*conn
	for c := range a.conns {
		tracked = append(tracked, c)
	}
	written := make(chan error, 2)
	for _, c := range tracked {
		switch c.Conn {
		case stalled:
			wg.Go(func() { _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n")); written <- err })
		case slow:
			// 2.5 s at this rate in one call: it would look stalled to two sweeps in a row.
			wg.Go(func() { _, err := c.Write(make([]byte, 100*maxWrite)); written <- err })
		}
	}
	select {
	case err := <-written:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("first write to end: %v; want the stalled one, closed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled write was not closed within 5 s")
	}
	if err := <-written; err != nil {
		t.Errorf("the slow write: %v; want it to go through", err)
	}
	select {
	case <-quiet.closed:
		t.Error("the quiet connection was closed")
	default:
	}
}

// BenchmarkConnState is what Serve's ConnState hook costs a keep-alive HTTP/1.1 probe: StateActive
// and StateIdle, from 8 connections at once.
func BenchmarkConnState(b *testing.B) {
	var a activity
	b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		pc, peer := net.Pipe()
		defer func() { _, _ = pc.Close(), peer.Close() }()
		c := &conn{Conn: pc}
		a.track(c, http.StateNew)
		for pb.Next() {
			a.track(c, http.StateActive)
			a.track(c, http.StateIdle)
		}
		a.track(c, http.StateClosed)
	})
}
