package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/internal/grpcwire"
	"github.com/healthgate/healthgate/monitor"
)

// grpcFixture serves HTTP and gRPC through Serve, as `healthgate serve` does, until the test ends or
// stop is called.
type grpcFixture struct {
	*fixture
	grpcAddr string
	httpURL  string
	stop     context.CancelFunc
	served   chan error
}

func newGRPCFixture(t *testing.T, d *dep, delay time.Duration) *grpcFixture {
	t.Helper()
	return newGRPCFixtureDrain(t, d, delay, 2*time.Second)
}

// newGRPCFixtureDrain is newGRPCFixture with the drain's timeout (shutdown_timeout).
func newGRPCFixtureDrain(t *testing.T, d *dep, delay, timeout time.Duration) *grpcFixture {
	t.Helper()
	return newGRPCFixtureOn(t, d, delay, timeout, listen(t))
}

// listen listens on a free port of 127.0.0.1.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newGRPCFixtureOn is newGRPCFixtureDrain serving HTTP on hl.
func newGRPCFixtureOn(t *testing.T, d *dep, delay, timeout time.Duration, hl net.Listener) *grpcFixture {
	t.Helper()
	f := newFixture(t, Options{}, d.check("db", true))
	f.settle(t, allRan)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	skip := make(chan struct{}) // closed at cleanup: a second signal
	g := &grpcFixture{fixture: f, grpcAddr: gl.Addr().String(), httpURL: "http://" + hl.Addr().String(), stop: cancel, served: make(chan error, 1)}
	go func() {
		g.served <- Serve(ctx, Endpoints{HTTP: hl, Handler: f.h, GRPC: gl, Health: NewHealth(f.mon)},
			Drain{Delay: delay, Timeout: timeout, Skip: skip, Shutdown: f.mon.Shutdown}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		close(skip)
		select {
		case err := <-g.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return g
}

func (g *grpcFixture) client(t *testing.T) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(g.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestGRPCHealth(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	c := g.client(t)
	ctx := t.Context()

	for _, svc := range []string{"", "readiness", "liveness", "db"} {
		resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(unknown) error %v; want NOT_FOUND", err)
	}
	// A long unknown name is echoed bounded, as /readyz/{name}'s 404 echoes it: a 4 KiB name came back
	// whole in grpc-message, percent-encoded to about 16 KB.
	long := strings.Repeat("x", 4000)
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: long}); status.Code(err) != codes.NotFound ||
		len(status.Convert(err).Message()) > 200 || !strings.Contains(status.Convert(err).Message(), "(4000 bytes; a check name has at most") {
		t.Errorf("Check(4000-byte unknown name): %d-byte message %.120q; want NOT_FOUND, the name cut", len(status.Convert(err).Message()), status.Convert(err).Message())
	}
	list, err := c.List(ctx, &healthpb.HealthListRequest{})
	if err != nil || len(list.GetStatuses()) != 5 {
		t.Errorf("List = %v, %v; want 5 services", list, err)
	}

	ready, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: "readiness"})
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(s healthpb.Health_WatchClient, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := s.Recv()
		if err != nil || resp.GetStatus() != want {
			t.Fatalf("Watch got %v, %v; want %v", resp.GetStatus(), err, want)
		}
	}
	expect(ready, healthpb.HealthCheckResponse_SERVING)
	expect(unknown, healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	db.fail(errSecret)
	expect(ready, healthpb.HealthCheckResponse_NOT_SERVING) // pushed on the change
	db.heal()
	expect(ready, healthpb.HealthCheckResponse_SERVING)

	live, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: "liveness"})
	if err != nil {
		t.Fatal(err)
	}
	expect(live, healthpb.HealthCheckResponse_SERVING)

	// Shutdown: readiness and every check NOT_SERVING at once, and Watch says so; liveness stays
	// SERVING through the drain, as /livez stays 200, so a grpc: liveness probe does not restart a
	// draining pod.
	g.stop()
	expect(ready, healthpb.HealthCheckResponse_NOT_SERVING)
	for _, svc := range []string{"", "readiness", "db"} {
		resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("during shutdown Check(%q) = %v, %v; want NOT_SERVING", svc, resp.GetStatus(), err)
		}
	}
	resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "liveness"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("during shutdown Check(liveness) = %v, %v; want SERVING (as /livez stays 200)", resp.GetStatus(), err)
	}
	list, err = c.List(ctx, &healthpb.HealthListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for svc, st := range list.GetStatuses() {
		want := healthpb.HealthCheckResponse_NOT_SERVING
		if svc == "liveness" {
			want = healthpb.HealthCheckResponse_SERVING
		}
		if st.GetStatus() != want {
			t.Errorf("during shutdown List[%q] = %v; want %v", svc, st.GetStatus(), want)
		}
	}
	if r, err := http.Get(g.httpURL + "/livez"); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("during shutdown /livez = %v, %v; want 200", r, err)
	} else {
		_ = r.Body.Close()
	}
	// The liveness Watch saw no change: it polls every second, so give it two polls.
	got := make(chan healthpb.HealthCheckResponse_ServingStatus, 1)
	go func() {
		if resp, err := live.Recv(); err == nil {
			got <- resp.GetStatus()
		}
	}()
	select {
	case st := <-got:
		t.Errorf("liveness Watch during shutdown sent %v; want no change from SERVING", st)
	case <-time.After(2500 * time.Millisecond):
	}
}

// TestGRPCShutdownService: service "shutdown" is /readyz/shutdown's built-in check on Check, Watch and
// List: SERVING whatever the checks say until the drain starts, NOT_SERVING during it, as /readyz/shutdown
// answers 200 and then 503.
func TestGRPCShutdownService(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	c := g.client(t)
	ctx := t.Context()
	shutdown := &healthpb.HealthCheckRequest{Service: monitor.ShutdownCheck}
	expect := func(when string, want healthpb.HealthCheckResponse_ServingStatus, wantHTTP int) {
		t.Helper()
		if resp, err := c.Check(ctx, shutdown); err != nil || resp.GetStatus() != want {
			t.Errorf("%s: Check(shutdown) = %v, %v; want %v", when, resp.GetStatus(), err, want)
		}
		list, err := c.List(ctx, &healthpb.HealthListRequest{})
		if st, ok := list.GetStatuses()[monitor.ShutdownCheck]; err != nil || !ok || st.GetStatus() != want {
			t.Errorf("%s: List[shutdown] = %v (listed %v), %v; want %v", when, st.GetStatus(), ok, err, want)
		}
		if r, err := http.Get(g.httpURL + "/readyz/shutdown"); err != nil || r.StatusCode != wantHTTP {
			t.Errorf("%s: /readyz/shutdown = %v, %v; want %d", when, r, err, wantHTTP)
		} else {
			_ = r.Body.Close()
		}
	}
	watch, err := c.Watch(ctx, shutdown)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch(shutdown) = %v, %v; want SERVING", resp.GetStatus(), err)
	}
	expect("serving", healthpb.HealthCheckResponse_SERVING, http.StatusOK)
	db.fail(errSecret)
	g.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	expect("db failing", healthpb.HealthCheckResponse_SERVING, http.StatusOK)

	g.stop()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch(shutdown) at the drain = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	expect("draining", healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable)
}

// TestGRPCShutdownNamedCheck: a check named "shutdown" (which the config refuses) is answered for
// itself, and listed once.
func TestGRPCShutdownNamedCheck(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check(monitor.ShutdownCheck, true))
	db.fail(errSecret)
	f.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	h := NewHealth(f.mon)
	s := f.mon.Snapshot()
	if st, known := h.statusOf(s, monitor.ShutdownCheck); !known || st != statusNotServing {
		t.Errorf("statusOf(shutdown) with a failing check of that name = %v, %v; want NOT_SERVING", st, known)
	}
	// An entry's key is field 1: tag 0x0a, length 8, the name.
	if n := bytes.Count(h.encodeList(s), []byte("\x0a\x08shutdown")); n != 1 {
		t.Errorf("List holds %d entries named shutdown; want 1", n)
	}
}

// TestGRPCDrainEndsWatches: open Watch streams must not hold the drain.
func TestGRPCDrainEndsWatches(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, 0)
	w, err := g.client(t).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.stop()
	select {
	case err := <-g.served:
		g.served <- err // for the cleanup
		if err != nil {
			t.Errorf("Serve: %v; want a clean drain", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain blocked by an open Watch stream")
	}
	// A Watch that held the drain would end it at the drain's timeout, 2 s, with an error.
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("drain took %s with a Watch open", took)
	}
}

// healthProbe finds the grpc-health-probe binary that .ci/run installs (what a Kubernetes grpc:
// probe amounts to). In CI its absence fails the test.
func healthProbe(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HEALTHGATE_GRPC_HEALTH_PROBE"); p != "" {
		return p
	}
	for _, name := range []string{"grpc_health_probe", "grpc-health-probe"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(string(out[:len(out)-1]), "bin", "grpc-health-probe")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if checktest.InCI() {
		t.Fatal("grpc-health-probe not found (CI=true: .ci/run installs it)")
	}
	t.Skip("grpc-health-probe not installed: go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.62")
	return ""
}

func TestGRPCHealthProbeBinary(t *testing.T) {
	probe := healthProbe(t)
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	run := func(args ...string) int {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), probe, append([]string{"-addr=" + g.grpcAddr, "-connect-timeout=2s", "-rpc-timeout=2s"}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
		return 0
	}
	if code := run(); code != 0 {
		t.Errorf("ready: exit %d; want 0", code)
	}
	if code := run("-service=db"); code != 0 {
		t.Errorf("db ready: exit %d; want 0", code)
	}
	db.fail(errSecret)
	g.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	if code := run(); code != 4 {
		t.Errorf("not ready: exit %d; want 4 (NOT_SERVING)", code)
	}
	if code := run("-service=liveness"); code != 0 {
		t.Errorf("liveness with a failing dependency: exit %d; want 0", code)
	}
}

func TestDecodeService(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string
		err  bool
	}{
		{"empty message", nil, "", false},
		{"service", []byte{0x0a, 2, 'd', 'b'}, "db", false},
		{"unknown fields skipped", []byte{0x10, 0x96, 0x01, 0x1a, 1, 'x', 0x0a, 2, 'd', 'b', 0x25, 1, 2, 3, 4}, "db", false},
		{"truncated string", []byte{0x0a, 5, 'd'}, "", true},
		{"bad wire type", []byte{0x0f}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeService(tc.msg)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("decodeService(% x) = %q, %v; want %q, error %v", tc.msg, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestGRPCPortRefusesPlainHTTP(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	rec := httptest.NewRecorder()
	NewHealth(f.mon).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("GET on the gRPC port: %d; want 415", rec.Code)
	}
}

// grpcCall makes one call by hand over h2c and returns the response's grpc-status and grpc-message
// (from the trailers, or the headers of a Trailers-Only answer).
func grpcCall(t *testing.T, addr, method string, hdr http.Header, body []byte) (status, message string) {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+method, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s: reading the answer: %v", method, err)
	}
	if s := resp.Trailer.Get("Grpc-Status"); s != "" {
		return s, resp.Trailer.Get("Grpc-Message")
	}
	return resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
}

// TestGRPCUnknownMethod: a call to another service is UNIMPLEMENTED whatever its message (here one
// larger than a service name, and one that is no HealthCheckRequest), as grpcurl's reflection client
// and every gRPC client expect of a method the server does not have.
func TestGRPCUnknownMethod(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	for _, msg := range [][]byte{bytes.Repeat([]byte{'x'}, 8<<10), {0x0f}, nil} {
		code, text := grpcCall(t, g.grpcAddr, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", nil, grpcwire.Frame(msg))
		if code != "12" {
			t.Errorf("unknown method with a %d-byte message: grpc-status %s (%s); want 12 (UNIMPLEMENTED)", len(msg), code, text)
		}
	}
}

// TestGRPCRequestTooLarge: a request message over the server's limit is RESOURCE_EXHAUSTED, as grpc-go
// answers one over its own (it was INVALID_ARGUMENT, which says the request is wrong, not too big).
func TestGRPCRequestTooLarge(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	big := grpcwire.AppendBytes(nil, 1, bytes.Repeat([]byte{'x'}, maxGRPCMessage))
	if code, text := grpcCall(t, g.grpcAddr, methodCheck, nil, grpcwire.Frame(big)); code != "8" {
		t.Errorf("a %d-byte request: grpc-status %s (%s); want 8 (RESOURCE_EXHAUSTED)", len(big), code, text)
	}
}

// TestGRPCCompressedRequest: a client that compresses its messages (grpc-go with
// grpc.UseCompressor(gzip.Name)) is answered; another algorithm is UNIMPLEMENTED with the
// grpc-accept-encoding the protocol asks for, and a message flagged compressed with no grpc-encoding
// is a protocol error (INTERNAL).
func TestGRPCCompressedRequest(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	resp, err := g.client(t).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "db"}, grpc.UseCompressor(gzip.Name))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gzip-compressed Check = %v, %v; want SERVING", resp.GetStatus(), err)
	}
	compressed := []byte{1, 0, 0, 0, 2, 0x0a, 0}
	for _, tc := range []struct {
		encoding, want string
	}{{"snappy", "12"}, {"", "13"}, {"identity", "13"}} {
		hdr := http.Header{}
		if tc.encoding != "" {
			hdr.Set("Grpc-Encoding", tc.encoding)
		}
		if code, text := grpcCall(t, g.grpcAddr, methodCheck, hdr, compressed); code != tc.want {
			t.Errorf("compressed message, grpc-encoding %q: grpc-status %s (%s); want %s", tc.encoding, code, text, tc.want)
		}
	}
}

// TestGRPCWatchTimeout: a Watch whose client sent grpc-timeout ends with DEADLINE_EXCEEDED when it
// passes, as the protocol asks of a server (a client that leaves it to the server, or whose RST_STREAM
// is lost, is not left on an open stream for ever).
func TestGRPCWatchTimeout(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	start := time.Now()
	code, text := grpcCall(t, g.grpcAddr, methodWatch, http.Header{"Grpc-Timeout": {"200m"}}, grpcwire.Frame(nil))
	if code != "4" {
		t.Errorf("Watch with grpc-timeout 200m: grpc-status %q (%s); want 4 (DEADLINE_EXCEEDED)", code, text)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("Watch ended after %s, before its grpc-timeout", took)
	}
}
