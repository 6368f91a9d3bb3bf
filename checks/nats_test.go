package checks_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// startNATS runs a private nats-server on a free port with a configuration file (the shared one is
// never reconfigured) and returns its address.
func startNATS(t *testing.T, conf string) string {
	t.Helper()
	addr, _ := startNATSProcess(t, conf)
	return addr
}

// startNATSProcess is startNATS, also returning the server's process (to signal it).
func startNATSProcess(t *testing.T, conf string) (string, *os.Process) {
	t.Helper()
	bin := checktest.Binary(t, "nats-server")
	port := checktest.FreePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	conf = fmt.Sprintf("listen: 127.0.0.1:%d\n%s\n", port, strings.ReplaceAll(conf, "STORE", filepath.Join(dir, "js")))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	var out checktest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	checktest.Eventually(t, 15*time.Second, "the private nats-server to listen", func() bool { return checktest.Listens(addr) })
	return addr, cmd.Process
}

// sharedHasJetStream asks the shared server, with a client of the test's own.
func sharedHasJetStream(t *testing.T, rawURL string) bool {
	t.Helper()
	nc, err := nats.Connect(rawURL)
	if err != nil {
		t.Fatalf("fixture connection: %v", err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.AccountInfo(nats.MaxWait(5 * time.Second))
	return err == nil
}

// natsInfo is a NATS server's greeting, asking for credentials.
const natsInfo = `INFO {"server_id":"x","version":"2.10.0","proto":1,"host":"0.0.0.0","port":4222,"max_payload":1048576,"auth_required":true}` + "\r\n"

func TestNATSServerAnswers(t *testing.T) {
	shared := checktest.NATSURL(t)
	js := startNATS(t, "jetstream { store_dir: \"STORE\" }")
	secured := startNATS(t, "authorization { user: app, password: \"s3cr3t-pw\" }")
	tokened := startNATS(t, "authorization { token: \"s3cr3t-token\" }")
	// The shared server's JetStream: asked of it either way; where it has none, the check must say so.
	var sharedJS checks.Class
	sharedJSHint := ""
	if !sharedHasJetStream(t, shared) {
		sharedJS, sharedJSHint = checks.BadResponse, "without JetStream"
	}
	noJS := startNATS(t, "")
	tests := []struct {
		name      string
		url       string
		jetstream bool
		want      checks.Class
		hint      string
	}{
		{name: "ping", url: shared},
		{name: "jetstream", url: "nats://" + js, jetstream: true},
		{name: "jetstream on the shared server", url: shared, jetstream: true, want: sharedJS, hint: sharedJSHint},
		{name: "jetstream not enabled", url: "nats://" + noJS, jetstream: true, want: checks.BadResponse, hint: "without JetStream"},
		{name: "no jetstream asked of a server without it", url: "nats://" + noJS},
		{name: "user and password", url: "nats://app:s3cr3t-pw@" + secured},
		{name: "wrong password", url: "nats://app:wrong-s3cr3t-pw@" + secured, want: checks.Auth, hint: "authorization violation"},
		{name: "no credentials", url: "nats://" + secured, want: checks.Auth, hint: "authorization violation"},
		{name: "token", url: "nats://s3cr3t-token@" + tokened},
		{name: "wrong token", url: "nats://wrong-s3cr3t-token@" + tokened, want: checks.Auth},
		{name: "tls to a plain server", url: strings.Replace(shared, "nats://", "tls://", 1), want: checks.TLS, hint: "wants TLS"},
		{name: "dns", url: checktest.WithHost(t, shared, "healthgate-test.invalid:4222"), want: checks.DNS},
		{name: "not a NATS server", url: "nats://" + garbageServer(t, "HTTP/1.1 400 Bad Request\r\n\r\n"), want: checks.BadResponse, hint: "client port (4222"},
		// A server that greets with INFO and then sends back what it gets: the client's CONNECT holds the
		// password or the token.
		{name: "CONNECT sent back, password", url: "nats://app:s3cr3t-pw@" + echoServer(t, natsInfo), want: checks.BadResponse, hint: "client port (4222"},
		{name: "CONNECT sent back, token", url: "nats://s3cr3t-token@" + echoServer(t, natsInfo), want: checks.BadResponse, hint: "client port (4222"},
		// Bytes without a line ending, the connection kept open: the first byte already says it is not INFO.
		{name: "binary answer kept open", url: "nats://" + garbageServer(t, "\x00\x01\x02\x03garbage"), want: checks.BadResponse, hint: "client port (4222"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": tc.url, "jetstream": tc.jetstream})}, config.DefaultTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t")
		})
	}
}

// TestNATSConnectionLimit: a server at its max_connections sends a new connection its INFO, then -ERR
// 'maximum connections exceeded', and closes it. That is not_ready, the server's connection limit, as the
// README says; nats.go, having read both lines, failed to write its CONNECT (reset: "write: broken pipe",
// most runs), or returned an error that is not nats.ErrMaxConnectionsExceeded (bad_response).
func TestNATSConnectionLimit(t *testing.T) {
	addr := startNATS(t, "max_connections: 1")
	// The one slot, taken by the test: until the server has seen startNATS's probe connection close,
	// that one holds it, and the fixture's connect is refused as the check's will be.
	var holder *nats.Conn
	checktest.Eventually(t, 10*time.Second, "the fixture connection to take the server's one slot", func() bool {
		var err error
		holder, err = nats.Connect("nats://" + addr)
		return err == nil
	})
	defer holder.Close()
	ch := newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": "nats://" + addr})}, config.DefaultTimeout)
	for range 10 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.NotReady)
		if h := ch.Hint(err); !strings.Contains(h, "connection limit") {
			t.Fatalf("error %q, hint %q; want the server's connection limit named", err, h)
		}
	}
	holder.Close()
	checktest.Eventually(t, 5*time.Second, "the check to pass once the slot is free", func() bool {
		err, _ := runCheck(t, ch)
		return err == nil
	})
}

// TestNATSPermissionsViolation: a user the server does not let ask JetStream gets an -ERR that nats.go
// hands to its error handler only, and no reply. The run says auth at once instead of waiting out its
// timeout (and then redialling as for a hung server). A denied publish keeps the connection (the server
// answered, and answers the next run's publish the same); a denied subscription is refused once per
// connection, so the next run asks on a new one.
func TestNATSPermissionsViolation(t *testing.T) {
	addr := startNATS(t, `jetstream { store_dir: "STORE" }
authorization { users: [
  {user: nopub, password: "s3cr3t-pw", permissions: {publish: {deny: ["$JS.>"]}}},
  {user: nosub, password: "s3cr3t-pw", permissions: {subscribe: {deny: ["_INBOX.>"]}}},
  {user: full, password: "s3cr3t-pw"}
] }`)
	p := checktest.NewProxy(t, addr)
	for _, tc := range []struct {
		user  string
		want  checks.Class
		conns int64
	}{{"full", "", 1}, {"nopub", checks.Auth, 1}, {"nosub", checks.Auth, 3}} {
		t.Run(tc.user, func(t *testing.T) {
			before := p.Accepted()
			ch := newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{
				"url": "nats://" + tc.user + ":s3cr3t-pw@" + p.Addr(), "jetstream": true})}, generousTimeout)
			for range 3 {
				err, took := runCheck(t, ch)
				assertAnswer(t, ch, err, tc.want, "", "s3cr3t")
				if tc.want != "" && !strings.Contains(ch.Hint(err), "permissions violation") {
					t.Errorf("hint %q does not say it is a permissions violation", ch.Hint(err))
				}
				if took > generousTimeout/2 {
					t.Errorf("run took %s: it waited for a reply the server had refused", took)
				}
			}
			if n := p.Accepted() - before; n != tc.conns {
				t.Errorf("%d connections for 3 runs; want %d", n, tc.conns)
			}
		})
	}
}

// TestNATSLameDuck: a server put in lame duck mode (SIGUSR2, as a rolling restart's preStop does) stops
// accepting connections and tells its clients with an INFO carrying ldm, then closes them over
// lame_duck_duration. The check must not keep passing on its kept connection meanwhile: it reports
// not_ready, naming lame duck mode, also on the next run, which finds no connection to keep.
func TestNATSLameDuck(t *testing.T) {
	addr, proc := startNATSProcess(t, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"20s\"")
	ch := newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": "nats://" + addr})}, generousTimeout)
	if err := runUntilPass(t, ch); err != nil {
		t.Fatalf("before lame duck mode: %v", err)
	}
	if err := proc.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	checktest.Eventually(t, 10*time.Second, "the server to stop listening", func() bool { return !checktest.Listens(addr) })
	var err error
	checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool { err, _ = runCheck(t, ch); return err != nil })
	for range 2 {
		assertAnswer(t, ch, err, checks.NotReady, "lame duck", "s3cr3t")
		err, _ = runCheck(t, ch)
	}
}

func TestNATSWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	nu := checktest.NATSURL(t)
	target, build := checktest.HostPort(t, nu), urlCheck(t, "nats", nu)
	runFaults(t, target, build)
	runGarbage(t, target, build, "")
}

// TestNATSKeepsItsConnection: healthy runs share one connection; a severed one is redialled by the next
// run, which reports what the server does now.
func TestNATSKeepsItsConnection(t *testing.T) {
	p, ch := keptCheck(t, "nats", checktest.NATSURL(t))
	assertRedials(t, p, ch)
}

func TestNATSConfiguration(t *testing.T) {
	assertConfigErrors(t, "events", "nats", []configCase{
		{"no url", config.Check{}, "required"},
		{"other scheme", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://app:s3cr3t-pw@nats:4222"})}, "scheme must be nats or tls"},
		{"a server list", config.Check{Spec: config.SpecOf(map[string]any{"url": "nats://a:4222,nats://b:4222"})}, "one server URL"},
		{"bad escape in the password", config.Check{Spec: config.SpecOf(map[string]any{"url": "nats://app:s3cr3t%zz@nats:4222"})}, "percent-encoded"},
	})
	for raw, want := range map[string]string{
		"nats://s3cr3t-token@nats:4222": "nats://xxxxx@nats:4222 (jetstream)",
		"tls://app:s3cr3t-pw@nats:4222": "tls://app:xxxxx@nats:4222 (jetstream)",
	} {
		ch := newCheck(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": raw, "jetstream": true})})
		if ch.Target != want {
			t.Errorf("target %q; want %q", ch.Target, want)
		}
	}
}
