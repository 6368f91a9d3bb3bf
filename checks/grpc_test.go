package checks_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

const grpcService = "inventory.v1.Stock"

// startGRPC runs a grpc-go server on a free loopback port, with grpc-go's own health service unless
// withHealth is false (then every call is UNIMPLEMENTED); creds nil is plaintext.
func startGRPC(t *testing.T, withHealth bool, creds credentials.TransportCredentials, opts ...grpc.ServerOption) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	var hs *health.Server
	if withHealth {
		hs = health.NewServer()
		hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(srv, hs)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String(), hs
}

func TestGRPCHealth(t *testing.T) {
	addr, hs := startGRPC(t, true, nil)
	bare, _ := startGRPC(t, false, nil)
	p := checktest.NewProxy(t, addr)
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": p.Addr(), "service": grpcService})}, generousTimeout)
	whole := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": p.Addr()})}, generousTimeout)

	assertClass(t, runErr(t, ch), "")
	assertClass(t, runErr(t, whole), "")

	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_NOT_SERVING)
	err := runErr(t, ch)
	assertClass(t, err, checks.NotReady)
	if !strings.Contains(err.Error(), "NOT_SERVING") || !strings.Contains(ch.Hint(err), "not serving") {
		t.Errorf("NOT_SERVING: %v / hint %q", err, ch.Hint(err))
	}
	// The two other statuses an answer may carry (a server's own health service may send them, not
	// only an error status): UNKNOWN is not set yet, SERVICE_UNKNOWN a service it does not know.
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_UNKNOWN)
	err = runErr(t, ch)
	assertClass(t, err, checks.NotReady)
	if !strings.Contains(err.Error(), "status UNKNOWN") {
		t.Errorf("UNKNOWN: %v", err)
	}
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	err = runErr(t, ch)
	assertClass(t, err, checks.BadResponse)
	if !strings.Contains(err.Error(), "SERVICE_UNKNOWN") || !strings.Contains(err.Error(), grpcService) ||
		!strings.Contains(ch.Hint(err), "does not know this service") {
		t.Errorf("SERVICE_UNKNOWN: %v / hint %q; want the service named", err, ch.Hint(err))
	}
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	assertClass(t, runErr(t, ch), "")

	// Shutdown sets every service NOT_SERVING (grpc-go's own drain), the server as a whole included.
	hs.Shutdown()
	assertClass(t, runErr(t, whole), checks.NotReady)
	hs.Resume()
	assertClass(t, runErr(t, whole), "")

	if n := p.Accepted(); n != 2 {
		t.Errorf("%d connections for two checks' runs; want 2: each check keeps its one", n)
	}

	unknown := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": addr, "service": "orders.v1.Nope"})}, generousTimeout)
	err = runErr(t, unknown)
	assertClass(t, err, checks.BadResponse)
	if !strings.Contains(err.Error(), `"orders.v1.Nope"`) || !strings.Contains(unknown.Hint(err), "does not know this service") {
		t.Errorf("unknown service: %v / hint %q; want it named", err, unknown.Hint(err))
	}

	none := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": bare, "service": grpcService})}, generousTimeout)
	err = runErr(t, none)
	assertClass(t, err, checks.BadResponse)
	if !strings.Contains(err.Error(), "no health service") || !strings.Contains(none.Hint(err), "grpc.health.v1.Health") {
		t.Errorf("no health service: %v / hint %q", err, none.Hint(err))
	}
}

func runErr(t *testing.T, ch *checks.Check) error {
	t.Helper()
	err, _ := runCheck(t, ch)
	return err
}

// TestGRPCReusesOneConnection: healthy runs share one HTTP/2 connection; after the server restarts
// (the proxy drops it) the next runs say so, then pass on one new connection.
func TestGRPCReusesOneConnection(t *testing.T) {
	addr, _ := startGRPC(t, true, nil)
	p := checktest.NewProxy(t, addr)
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": p.Addr(), "service": grpcService})}, generousTimeout)
	for i := range 5 {
		assertClass(t, runErr(t, ch), "")
		if n := p.Accepted(); n != 1 {
			t.Fatalf("after run %d: %d connections; want 1, reused", i+1, n)
		}
	}
	for _, tc := range []struct {
		mode checktest.Mode
		want checks.Class
	}{{checktest.Refuse, checks.Refused}, {checktest.Reset, checks.Reset}} {
		p.Set(tc.mode)
		assertClass(t, runErr(t, ch), tc.want)
		p.Set(checktest.Forward)
		before := p.Accepted()
		for range 3 {
			assertClass(t, runErr(t, ch), "")
		}
		if n := p.Accepted() - before; n != 1 {
			t.Errorf("after %s: %d new connections over 3 healthy runs; want 1", tc.mode, n)
		}
	}
}

func TestGRPCWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	addr, _ := startGRPC(t, true, nil)
	build := func(a string) config.Check {
		return config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": a, "service": grpcService})}
	}
	runFaults(t, addr, build)
	runGarbage(t, addr, build, "not as a gRPC server")
	// Bytes that are no frame header, without a line ending, the connection kept open (a binary banner, a
	// TLS port's alert): the run ends at once, not at its timeout.
	for _, banner := range []string{"\x00\x01\x02\x03garbage", "\x15\x03\x01\x00\x02\x02\x46"} {
		t.Run(fmt.Sprintf("%q kept open", banner), func(t *testing.T) {
			ch := newCheckTimeout(t, build(garbageServer(t, banner)), generousTimeout)
			err, took := runCheck(t, ch)
			assertClass(t, err, checks.BadResponse)
			if msg := err.Error(); strings.Count(msg, "first bytes") != 1 {
				t.Errorf("%q; want the first bytes named once", msg)
			}
			if took > generousTimeout/2 {
				t.Errorf("run took %s; want it to end well before its timeout", took)
			}
		})
	}
	t.Run("an HTTP/1 server", func(t *testing.T) {
		web := checktest.Serve(t, func(c net.Conn) {
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		})
		ch := newCheckTimeout(t, build(web), generousTimeout)
		err := runErr(t, ch)
		assertClass(t, err, checks.BadResponse)
	})
}

func TestGRPCTLS(t *testing.T) {
	pki := newPKI(t)
	caFile := pki.ca
	addr, _ := startGRPC(t, true, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}))
	plain, _ := startGRPC(t, true, nil)
	// net/http's h2c server (healthgate's own grpc_listen is one) resets a ClientHello it cannot read.
	h2c := httptest.NewUnstartedServer(http.NotFoundHandler())
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetHTTP1(true)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	t.Cleanup(h2c.Close)
	// An HTTPS server that speaks HTTP/1.1 only (ALPN http/1.1: it refuses h2), and a TLS server with no
	// ALPN at all, to which net/http would speak HTTP/1.1.
	https1 := httptest.NewUnstartedServer(http.NotFoundHandler())
	https1.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	https1.StartTLS()
	t.Cleanup(https1.Close)
	noALPN := httptest.NewUnstartedServer(http.NotFoundHandler())
	noALPN.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, NextProtos: []string{}}
	noALPN.StartTLS()
	t.Cleanup(noALPN.Close)
	for _, tc := range []struct {
		name  string
		check config.Check
		want  checks.Class
		hint  string
	}{
		{name: "trusted", check: config.Check{Spec: config.SpecOf(map[string]any{"address": addr, "tls": config.TLS{CAFile: caFile}})}},
		{name: "trusted, by server name", check: config.Check{Spec: config.SpecOf(map[string]any{"address": addr, "tls": config.TLS{CAFile: caFile, ServerName: "127.0.0.1"}})}},
		{name: "untrusted", check: config.Check{Spec: config.SpecOf(map[string]any{"address": addr, "tls": config.TLS{ServerName: "127.0.0.1"}})}, want: checks.TLS, hint: "tls.ca_file"},
		{name: "wrong name", check: config.Check{Spec: config.SpecOf(map[string]any{"address": addr, "tls": config.TLS{CAFile: caFile, ServerName: "inventory.internal"}})}, want: checks.TLS, hint: "tls.server_name"},
		{name: "tls to a plaintext server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": plain, "tls": config.TLS{CAFile: caFile}})}, want: checks.TLS},
		{name: "tls to a plaintext net/http h2c server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": h2c.Listener.Addr().String(), "tls": config.TLS{CAFile: caFile}})}, want: checks.TLS, hint: "may not speak TLS"},
		{name: "tls to an HTTP/1.1-only HTTPS server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": https1.Listener.Addr().String(), "tls": config.TLS{CAFile: caFile}})}, want: checks.BadResponse, hint: "not HTTP/2"},
		{name: "tls to a server without ALPN", check: config.Check{Spec: config.SpecOf(map[string]any{"address": noALPN.Listener.Addr().String(), "tls": config.TLS{CAFile: caFile}})}, want: checks.BadResponse, hint: "not HTTP/2"},
		{name: "plaintext to a TLS server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": addr})}, want: checks.Reset, hint: "wants TLS"},
		// https:// turns TLS on as tls: {} does (the flag --grpc https://... has no tls block); http:// is plaintext.
		{name: "https://, trusted by the tls block", check: config.Check{Spec: config.SpecOf(map[string]any{"address": "https://" + addr, "tls": config.TLS{CAFile: caFile}})}},
		{name: "https://, the system's CAs", check: config.Check{Spec: config.SpecOf(map[string]any{"address": "https://" + addr + "/"})}, want: checks.TLS, hint: "tls.ca_file"},
		{name: "http:// to a plaintext server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": "HTTP://" + plain})}},
		{name: "http:// to a TLS server", check: config.Check{Spec: config.SpecOf(map[string]any{"address": "http://" + addr})}, want: checks.Reset, hint: "wants TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Type = "grpc"
			tc.check.Spec.Set("service", grpcService)
			ch := newCheckTimeout(t, tc.check, generousTimeout)
			err := runErr(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
		})
	}
}

// TestGRPCAuthority: with tls.server_name the calls carry it as :authority, as grpc-go's and
// grpc-health-probe's do (a proxy in front of the server routes by it); without, the address dialled.
func TestGRPCAuthority(t *testing.T) {
	pki := newPKI(t)
	var authority atomic.Value
	record := grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		authority.Store(strings.Join(md.Get(":authority"), ","))
		return h(ctx, req)
	})
	addr, _ := startGRPC(t, true, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.server}}), record)
	for _, tc := range []struct{ serverName, want string }{{"localhost", "localhost"}, {"", addr}} {
		ch := newCheck(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": addr, "service": grpcService,
			"tls": config.TLS{CAFile: pki.ca, ServerName: tc.serverName}})})
		assertClass(t, runErr(t, ch), "")
		if got := authority.Load(); got != tc.want {
			t.Errorf("server_name %q: the call's :authority is %q, want %q", tc.serverName, got, tc.want)
		}
	}
}

func TestGRPCConfig(t *testing.T) {
	for _, tc := range []struct {
		c    config.Check
		want string
	}{
		{config.Check{}, "address: required"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "inventory"})}, "must be host:port"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "inventory:50051", "tls": config.TLS{CAFile: "/nonexistent/ca.pem"}})}, "ca_file"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "inventory:50051", "url": "http://x"})}, "does not apply"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "grpcs://inventory:50051"})}, "not a grpcs:// URL"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "https://inventory:50051/inventory.v1.Stock"})}, "https:// takes only host:port"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "https://inventory"})}, "must be host:port"},
		{config.Check{Spec: config.SpecOf(map[string]any{"address": "http://inventory:50051", "tls": config.TLS{}})}, "http:// is plaintext, but a tls block is written"},
	} {
		c := config.NewCheck("g", "grpc", "test", config.NewDefaults())
		c.Spec = tc.c.Spec
		if _, err := checks.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.c, err, tc.want)
		}
	}
	// A secret typed where the address goes is not repeated.
	for _, addr := range []string{"https://app:s3cret@inventory:50051", "app:s3cret@inventory://x"} {
		c := config.NewCheck("g", "grpc", "test", config.NewDefaults())
		c.Spec = config.SpecOf(map[string]any{"address": addr})
		if _, err := checks.New(c); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("address %q: %v; want an error without the secret", addr, err)
		}
	}
}

// TestGRPCLongTimeout: a run's grpc-timeout fits the header's 8 digits whatever the timeout; 30 h in
// milliseconds has 9, which grpc-go's server refused with HTTP 400 (bad_response).
func TestGRPCLongTimeout(t *testing.T) {
	addr, _ := startGRPC(t, true, nil)
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": addr, "service": grpcService})}, 30*time.Hour)
	assertClass(t, runErr(t, ch), "")
}

// TestGRPCCompressedAnswer: a server that compresses its answers (grpc-go's grpc.RPCCompressor, asked
// or not) is read, not called "not a gRPC server".
func TestGRPCCompressedAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.RPCCompressor(grpc.NewGZIPCompressor())) //nolint:staticcheck // what such servers run
	hs := health.NewServer()
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": ln.Addr().String(), "service": grpcService})}, generousTimeout)
	assertClass(t, runErr(t, ch), "")
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_NOT_SERVING)
	assertClass(t, runErr(t, ch), checks.NotReady)
}

// TestGRPCHTTPStatus: an HTTP/2 server (a proxy in front of the gRPC server, or no gRPC server) that
// answers an HTTP status instead of a gRPC answer is classed as the http check classes it: 401/403 auth,
// 429/502/503/504 not_ready, another bad_response, each with the grpc check's hint.
func TestGRPCHTTPStatus(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as the check speaks it
	srv.Start()
	t.Cleanup(srv.Close)
	ch := newCheck(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": srv.Listener.Addr().String()})})
	for code, want := range map[int32]checks.Class{401: checks.Auth, 403: checks.Auth, 429: checks.NotReady, 503: checks.NotReady,
		504: checks.NotReady, 404: checks.BadResponse, 500: checks.BadResponse} {
		status.Store(code)
		err, _ := runCheck(t, ch)
		assertClass(t, err, want)
		if !strings.Contains(err.Error(), fmt.Sprintf("HTTP status %d instead of a gRPC answer", code)) {
			t.Errorf("%d: error %q does not name the status", code, err)
		}
	}
}

// TestGRPCStreamReset: a server (or a proxy in front of it) that resets the call's HTTP/2 stream
// (RST_STREAM INTERNAL_ERROR: a handler that failed, a backend gone) fails the run reset, with a hint that
// says so; it was class unknown. It is the server's answer on a sound connection: the call is not made
// again on a fresh one, as it is when a kept connection turns out dead.
func TestGRPCStreamReset(t *testing.T) {
	var calls, answered atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= answered.Load() {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			_, _ = w.Write([]byte{0, 0, 0, 0, 2, 0x08, 0x01}) // SERVING
			w.Header().Set("Grpc-Status", "0")
			return
		}
		panic(http.ErrAbortHandler) // net/http's server resets the stream
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	answered.Store(1) // the first run passes and keeps its connection; the second's stream is reset on it
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": srv.Listener.Addr().String()})}, generousTimeout)
	assertClass(t, runErr(t, ch), "")
	err := runErr(t, ch)
	assertClass(t, err, checks.Reset)
	if h := ch.Hint(err); !strings.Contains(h, "reset the request's HTTP/2 stream") {
		t.Errorf("hint %q does not say the stream was reset", h)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls for 2 runs; want 2: a stream the server reset is not asked again", n)
	}
}

// TestGRPCOKWithoutMessage: a server that answers the Check with gRPC's content type and status OK but
// no message (Trailers-Only, or trailers after an empty body) answered as gRPC: its hint says the
// answer carried no message, not that the port is not a gRPC server's.
func TestGRPCOKWithoutMessage(t *testing.T) {
	for _, trailersOnly := range []bool{true, false} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			if trailersOnly {
				w.Header().Set("Grpc-Status", "0")
				return
			}
			w.Header().Set("Trailer", "Grpc-Status")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("Grpc-Status", "0")
		}))
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		t.Cleanup(srv.Close)
		ch := newCheck(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": srv.Listener.Addr().String()})})
		err := runErr(t, ch)
		assertClass(t, err, checks.BadResponse)
		if h := ch.Hint(err); !strings.Contains(h, "answered as gRPC") || !strings.Contains(h, "carried no message") {
			t.Errorf("trailers-only %v: hint %q does not say the gRPC answer carried no message", trailersOnly, h)
		}
	}
}

// failingHealth is a health service whose Check fails with code and msg, as a server whose own check of
// its dependencies failed may answer.
type failingHealth struct {
	healthpb.UnimplementedHealthServer
	code codes.Code
	msg  string
}

func (f failingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, status.Error(f.code, f.msg)
}

// TestGRPCStatusMessageRedacted: a server's status message is shown, as the server's word for what failed,
// and may quote what failed behind it: a connection URL with its password, a key=value DSN, a URL's
// secret parameter, a credential after its name or its auth scheme (token: ..., Bearer ...). They are
// redacted as any URL is (the message was shown as it came), also in a message long enough to be cut.
func TestGRPCStatusMessageRedacted(t *testing.T) {
	for _, msg := range []string{
		"db postgres://app:s3cr3t@db:5432/orders unreachable",
		"connect failed: host=db user=app password=s3cr3t dbname=orders",
		"GET https://api.internal/v1?api_key=s3cr3t: 503",
		strings.Repeat("x", 140) + " redis://:s3cr3t-at-the-cut@cache:6379/0 refused",
		// A secret's name and a colon, or an auth scheme, and the credential after it.
		"upstream refused token: s3cr3t (expired)",
		"upstream answered 401 to Authorization: Bearer s3cr3t",
		`upstream: "Authorization: Basic s3cr3t"`,
		"api_key: s3cr3t rejected",
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, failingHealth{code: codes.Unavailable, msg: msg})
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Stop(); <-done })
		ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": ln.Addr().String()})}, generousTimeout)
		err = runErr(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "", "s3cr3t")
		if !strings.Contains(err.Error(), "UNAVAILABLE: ") {
			t.Errorf("error %q does not give the server's message", err)
		}
	}
}

// TestGRPCDeadlineExceededAnswered: a server that answers DEADLINE_EXCEEDED at once (its own check of a
// dependency timed out) is a timeout whose hint says the server answered so; it said "connected, but no
// answer within the timeout", the hint of a server that never answered.
func TestGRPCDeadlineExceededAnswered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, failingHealth{code: codes.DeadlineExceeded, msg: "redis ping timed out"})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	ch := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": ln.Addr().String()})}, generousTimeout)
	err, took := runCheck(t, ch)
	assertClass(t, err, checks.Timeout)
	if took > 5*time.Second {
		t.Errorf("run took %s; want the server's answer at once", took)
	}
	if h := ch.Hint(err); !strings.Contains(h, "answered DEADLINE_EXCEEDED") || strings.Contains(h, "no answer") {
		t.Errorf("error %q, hint %q; want a hint that says the server answered DEADLINE_EXCEEDED", err, h)
	}
}

// TestGRPCClientCertificate: a gRPC server that requires a client certificate passes a check that gives
// one; without one the run is tls, its hint naming tls.cert_file, over TLS 1.2 (whose alert is a bare
// "handshake failure", which did not name the certificate) and TLS 1.3 (whose refusal comes after the
// client's handshake is done, and can meet the check's first writes as a reset).
func TestGRPCClientCertificate(t *testing.T) {
	pki := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			addr, _ := startGRPC(t, true, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.server},
				ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.caPool, MinVersion: version, MaxVersion: version}))
			given := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": addr, "service": grpcService,
				"tls": config.TLS{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey}})}, generousTimeout)
			assertClass(t, runErr(t, given), "")
			for range 5 { // a race, on TLS 1.3
				missing := newCheckTimeout(t, config.Check{Type: "grpc", Spec: config.SpecOf(map[string]any{"address": addr, "service": grpcService,
					"tls": config.TLS{CAFile: pki.ca}})}, generousTimeout)
				err := runErr(t, missing)
				assertClass(t, err, checks.TLS)
				assertHint(t, err, "tls.cert_file")
			}
		})
	}
}
