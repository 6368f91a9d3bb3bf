package checks_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// keptKind is a kind whose check keeps its connection between runs, and a server of it.
type keptKind struct {
	typ, url string
	address  bool // the target is an address field (host:port), not a url
}

// keptKinds are the kinds whose checks keep a connection (or a pool) between runs, each with a real
// server (a test server of this package for http and grpc).
func keptKinds(t *testing.T) []keptKind {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	grpcAddr, _ := startGRPC(t, true, nil)
	return []keptKind{{"postgres", checktest.PostgresURL(t), false}, {"mysql", checktest.MySQLURL(t), false},
		{"redis", checktest.RedisURL(t), false}, {"http", web.URL + "/healthz", false},
		{"amqp", checktest.AMQPURL(t), false}, {"nats", checktest.NATSURL(t), false}, {"mqtt", checktest.MQTTURL(t), false},
		{"memcached", checktest.MemcachedAddr(t), true}, {"grpc", grpcAddr, true}}
}

// throughProxy is a proxy to k's server and the spec of a check of k through it.
func (k keptKind) throughProxy(t *testing.T) (*checktest.Proxy, map[string]any) {
	if k.address {
		p := checktest.NewProxy(t, k.url)
		return p, map[string]any{"address": p.Addr()}
	}
	p := checktest.NewProxy(t, checktest.HostPort(t, k.url))
	return p, map[string]any{"url": checktest.WithHost(t, k.url, p.Addr())}
}

// TestPooledConnectionSevered: a dependency restart closes the connection a check keeps in its pool.
// The first run after it must not be "unknown": the dead pooled connection is a reset, and the retry
// on a fresh connection then says what the dependency is doing now (nothing listens: refused; it
// accepts and resets: reset).
func TestPooledConnectionSevered(t *testing.T) {
	for _, kind := range keptKinds(t) {
		for _, tc := range []struct {
			mode checktest.Mode
			want checks.Class
		}{
			{checktest.Refuse, checks.Refused},
			{checktest.Reset, checks.Reset},
		} {
			t.Run(kind.typ+"/"+tc.mode.String(), func(t *testing.T) {
				for try := range 3 { // it was classified unknown 3 times out of 3 before the fix
					p, spec := kind.throughProxy(t)
					ch := newCheckTimeout(t, config.Check{Type: kind.typ, Spec: config.SpecOf(spec)}, generousTimeout)
					err, _ := runCheck(t, ch)
					assertClass(t, err, "")
					if p.Accepted() != 1 {
						t.Fatalf("try %d: %d connections after the first run; want 1 kept in the pool", try, p.Accepted())
					}
					p.Set(tc.mode) // closes the pooled connection, as a restart does
					err, _ = runCheck(t, ch)
					if got := checks.ClassOf(err); got != tc.want {
						t.Fatalf("try %d: first run after the pooled connection was severed: %q (%v); want %q", try, got, err, tc.want)
					}
					p.Set(checktest.Forward)
					err, _ = runCheck(t, ch)
					assertClass(t, err, "")
				}
			})
		}
	}
}

// TestCloseOnHungDependency: closing a check (a shutdown, a reload that drops or changes it) whose last
// run timed out on a dependency that hangs with its connection open returns soon: at most its own
// goodbye's wait (amqp: min(timeout, 2 s)), not a client library's background cleanup. pgx's lasted
// 13.6 s here (a cancel request, then a drain, 15 s each at most) before postgresPool.close bounded it.
func TestCloseOnHungDependency(t *testing.T) {
	for _, kind := range keptKinds(t) {
		t.Run(kind.typ, func(t *testing.T) {
			t.Parallel() // each its own proxy and check; the time is spent waiting
			p, spec := kind.throughProxy(t)
			ch := newCheck(t, config.Check{Type: kind.typ, Spec: config.SpecOf(spec)})
			// The short timeout is for the run on the hung dependency; on a loaded machine the first
			// connect (a handshake, a login) may not make it within it at once.
			err := runUntilPass(t, ch)
			assertClass(t, err, "")
			p.Set(checktest.Stall)
			err, _ = runCheck(t, ch)
			assertClass(t, err, checks.Timeout)
			start := time.Now()
			ch.Close()
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("closing the check took %s after a run timed out on the hung %s; want at most a few times its timeout (%s)", took, kind.typ, timeout)
			}
		})
	}
}

// TestResettingServerOneConnectPerRun: a dependency (or a proxy in front of it) that accepts and resets
// every connection sees one connect per run, not a retry on top: the retry on a fresh connection is for
// a pooled connection that died while idle, a failed connect is already what the dependency does now,
// pgconn's cancel request for a connection that never started could cancel nothing, and a look into why
// a new connection was closed (twemproxy's dropped HELLO, memcached's SASL) is made once an outage, not
// once a run. At a 1 s interval across a fleet, each extra connect per run is one more connection per
// pod per second at a dependency that is already failing.
func TestResettingServerOneConnectPerRun(t *testing.T) {
	const runs = 12 // enough that a fix undone shows: a reset may land at the startup write, where pgconn sends no cancel
	for _, kind := range keptKinds(t) {
		t.Run(kind.typ, func(t *testing.T) {
			p, spec := kind.throughProxy(t)
			p.Set(checktest.Reset)
			ch := newCheckTimeout(t, config.Check{Type: kind.typ, Spec: config.SpecOf(spec)}, generousTimeout)
			var perRun []int64
			for range runs {
				before := p.Accepted()
				err, _ := runCheck(t, ch)
				if checks.ClassOf(err) == "" {
					t.Fatalf("a run passed through a proxy that resets every connection")
				}
				perRun = append(perRun, p.Accepted()-before)
			}
			// One look into the dependency is allowed, in whichever run first got far enough to see a
			// connection closed at its first command (a reset can also land during the dial).
			if total := p.Accepted(); total > runs+1 {
				t.Errorf("connections per run %v; want one a run, and one look more at most", perRun)
			}
		})
	}
}

// TestPostgresPooledConnectionEndedByServer: a server that restarts (a fast shutdown), or
// pg_terminate_backend, ends each idle backend with a FATAL error it leaves on the socket (57P01), and
// idle_session_timeout with 57P05; pgx reads it at the next run's query. It says what happened to the
// pooled connection while it was idle, not what the server does now: the run retries on a fresh
// connection and passes, as after a reset. It was not_ready (57P01: "it should clear by itself", while
// the server was serving) and query (57P05: "check the SQL").
func TestPostgresPooledConnectionEndedByServer(t *testing.T) {
	pg := checktest.PostgresURL(t)
	admin := connect(t, pg)
	for _, tc := range []struct {
		name, params string
		end          func(t *testing.T, app string)
	}{
		{"pg_terminate_backend (57P01, as a restart)", "", func(t *testing.T, app string) {
			var n int
			if err := admin.QueryRow(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil || n != 1 {
				t.Fatalf("terminated %d backends (%v); want the check's one", n, err)
			}
		}},
		{"idle_session_timeout (57P05)", "&idle_session_timeout=300", func(t *testing.T, _ string) {
			time.Sleep(800 * time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := "healthgate-ended-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			url := withParams(t, pg, "sslmode=disable&application_name="+app+tc.params)
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, "")
			tc.end(t, app)
			time.Sleep(100 * time.Millisecond) // the FATAL message on the socket
			err, _ = runCheck(t, ch)
			assertClass(t, err, "")
		})
	}
}

// TestPostgresPoolConnectionsEndedByServer: checks of one target share a pool, which keeps two connections
// once their runs overlapped; a restart of the server (here pg_terminate_backend, the same 57P01) ends
// both while idle. The run after it got one, retried on the other, which the pool handed out as it had
// the first, and failed not_ready "terminating connection due to administrator command" against a server
// that was serving: it goes on to a fresh connection and passes, with at most one connection dialled.
func TestPostgresPoolConnectionsEndedByServer(t *testing.T) {
	pg := checktest.PostgresURL(t)
	admin := connect(t, pg)
	app := "healthgate-ended2-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	url := withParams(t, pg, "sslmode=disable&application_name="+app)
	slow := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url, "query": "SELECT pg_sleep(0.5)"})}, generousTimeout)
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
	backends := func() int {
		var n int
		if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	slowDone := make(chan error, 1)
	go func() { slowDone <- slow.Run(t.Context()) }()
	checktest.Eventually(t, 10*time.Second, "the slow check's connection", func() bool { return backends() == 1 })
	err, _ := runCheck(t, ch) // on the pool's second connection, while the first runs the slow query
	assertClass(t, err, "")
	assertClass(t, <-slowDone, "")
	if n := backends(); n != 2 {
		t.Fatalf("%d connections in the pool; want 2", n)
	}
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil || n != 2 {
		t.Fatalf("terminated %d backends (%v); want the pool's two", n, err)
	}
	checktest.Eventually(t, 10*time.Second, "the backends to end", func() bool { return backends() == 0 })
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
	if n := backends(); n != 1 {
		t.Errorf("%d connections after the run; want the one fresh connection", n)
	}
}

// TestKeptConnectionStalled: the path of the connection a check keeps dies under it while the dependency
// stays reachable (a NAT's or a firewall's entry dropped silently, a load balancer's backend gone, on a
// connection kept between runs): the run on it times out, and the next run passes on one fresh
// connection. Over HTTP/2 (an https:// url to a server that speaks it, as most do) net/http only resets
// the timed-out request's stream and keeps the connection: every later run went on it and timed out,
// for as long as TCP took to give it up (minutes), while a new connection would have been answered.
// Over HTTP/1 net/http closes the connection with the request. The grpc check closed its idle
// connections after such a run, but the call given up was still one of the connection's streams for a
// moment (net/http resets it in the background), so the connection was not idle, stayed, and took the
// next runs (in most tries here).
func TestKeptConnectionStalled(t *testing.T) {
	pki := newPKI(t)
	var h2Proto atomic.Value
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h2Proto.Store(r.Proto)
		_, _ = io.WriteString(w, "ok")
	}))
	h2.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	grpcPlain, _ := startGRPC(t, true, nil)
	grpcTLS, _ := startGRPC(t, true, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
	type testCase struct {
		name, typ, target string
		spec              func(addr string) map[string]any
		h2                bool // the http server that speaks HTTP/2
	}
	cases := []testCase{
		{"http, HTTP/1.1", "http", web.Listener.Addr().String(), func(addr string) map[string]any {
			return map[string]any{"url": "http://" + addr + "/healthz"}
		}, false},
		{"http, HTTP/2", "http", h2.Listener.Addr().String(), func(addr string) map[string]any {
			return map[string]any{"url": "https://" + addr + "/healthz", "tls": config.TLS{CAFile: pki.ca, ServerName: "localhost"}}
		}, true},
		{"grpc, h2c", "grpc", grpcPlain, func(addr string) map[string]any {
			return map[string]any{"address": addr, "service": grpcService}
		}, false},
		{"grpc, TLS", "grpc", grpcTLS, func(addr string) map[string]any {
			return map[string]any{"address": addr, "service": grpcService, "tls": config.TLS{CAFile: pki.ca, ServerName: "localhost"}}
		}, false},
	}
	// The stalled run ends at this timeout; the run after it dials and (for TLS) shakes hands within it.
	const stallTimeout = 2 * time.Second
	checktest.EachParallel(t, cases, func(c testCase) string { return c.name }, func(t *testing.T, c testCase) {
		for try := range 3 {
			p := checktest.NewProxy(t, c.target)
			ch := newCheckTimeout(t, config.Check{Type: c.typ, Spec: config.SpecOf(c.spec(p.Addr()))}, stallTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, "")
			p.Set(checktest.StallKept)
			err, took := runCheck(t, ch)
			assertClass(t, err, checks.Timeout)
			if took < stallTimeout-50*time.Millisecond {
				t.Fatalf("try %d: the run on the stalled connection ended after %s; want at its timeout (%s)", try, took, stallTimeout)
			}
			err, _ = runCheck(t, ch)
			if err != nil {
				t.Fatalf("try %d: the run after the one that timed out on the stalled kept connection: %v; want pass on a fresh connection", try, err)
			}
			if n := p.Accepted(); n != 2 {
				t.Errorf("try %d: %d connections; want 2 (the stalled one, and one fresh)", try, n)
			}
		}
		if got := h2Proto.Load(); c.h2 && got != "HTTP/2.0" {
			t.Errorf("the check spoke %v to the HTTP/2 server; want HTTP/2.0", got)
		}
	})
}

// goingAway serves each connection with an http.Server of its own (HTTP/2: h2 over TLS with cert, else
// h2c), so that a handler can shut down its own connection alone, as a server does to a connection past
// its maximum age or at a shutdown whose grace ran out: it answers the first answered requests of each
// connection (with answer), and at the next one says GOAWAY and closes the connection, the request
// unanswered. It returns the address and a count of the connections.
func goingAway(t *testing.T, cert *tls.Certificate, answered int32, answer http.HandlerFunc) (string, *atomic.Int32) {
	var conns atomic.Int32
	addr := checktest.Serve(t, func(c net.Conn) {
		conns.Add(1)
		srv := &http.Server{Protocols: new(http.Protocols), ReadHeaderTimeout: 30 * time.Second}
		var requests atomic.Int32
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if requests.Add(1) <= answered {
				answer(w, r)
				return
			}
			shut, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_ = srv.Shutdown(shut) // GOAWAY; the request in flight stays
			_ = c.Close()
		})
		ln := &oneConn{conn: c, closed: make(chan struct{})}
		if cert != nil {
			srv.Protocols.SetHTTP2(true)
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
			_ = srv.ServeTLS(ln, "", "")
		} else {
			srv.Protocols.SetUnencryptedHTTP2(true)
			_ = srv.Serve(ln)
		}
		_ = srv.Close()
	})
	return addr, &conns
}

// oneConn is a listener that accepts one connection, then waits to be closed, or for the connection to
// be closed (the server's Serve then returns).
type oneConn struct {
	conn   net.Conn
	once   sync.Once
	given  atomic.Bool
	closed chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.given.CompareAndSwap(false, true) {
		return closingConn{l.conn, l}, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

// closingConn closes its listener with it.
type closingConn struct {
	net.Conn
	l *oneConn
}

func (c closingConn) Close() error { _ = c.l.Close(); return c.Conn.Close() }

func (l *oneConn) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }

// TestH2GoawayMidRequest: an HTTP/2 server that says GOAWAY and closes the connection with the run's
// request in flight (a shutdown whose grace ran out, a connection past its maximum age) has closed the
// connection under the request, as an HTTP/1 server that closes it does: reset, and on a connection kept
// from an earlier run, the request is made again on a fresh one, which passes. net/http reports it in
// words that wrap no cause ("http2: server sent GOAWAY and closed the connection"): the http check's run
// was unknown, the grpc check's bad_response ("not as a gRPC server").
func TestH2GoawayMidRequest(t *testing.T) {
	pki := newPKI(t)
	okAnswer := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }
	serving := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		_, _ = w.Write([]byte{0, 0, 0, 0, 2, 0x08, 0x01}) // SERVING
		w.Header().Set("Grpc-Status", "0")
	}
	type testCase struct {
		name   string
		cert   *tls.Certificate
		answer http.HandlerFunc
		spec   func(addr string) map[string]any
	}
	cases := []testCase{
		{"http", &pki.server, okAnswer, func(addr string) map[string]any {
			return map[string]any{"url": "https://" + addr + "/healthz", "tls": config.TLS{CAFile: pki.ca, ServerName: "localhost"}}
		}},
		{"grpc", nil, serving, func(addr string) map[string]any { return map[string]any{"address": addr} }},
	}
	checktest.EachParallel(t, cases, func(c testCase) string { return c.name }, func(t *testing.T, c testCase) {
		t.Run("on a kept connection", func(t *testing.T) {
			addr, conns := goingAway(t, c.cert, 1, c.answer)
			ch := newCheckTimeout(t, config.Check{Type: c.name, Spec: config.SpecOf(c.spec(addr))}, generousTimeout)
			for i := range 2 {
				if err, _ := runCheck(t, ch); err != nil {
					t.Fatalf("run %d: %v; want pass (the kept connection went away under the request: made again on a fresh one)", i+1, err)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections for 2 runs; want 2", n)
			}
		})
		t.Run("on a fresh connection", func(t *testing.T) {
			addr, conns := goingAway(t, c.cert, 0, c.answer)
			ch := newCheckTimeout(t, config.Check{Type: c.name, Spec: config.SpecOf(c.spec(addr))}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.Reset)
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for 1 run on a fresh connection; want 1", n)
			}
		})
	})
}
