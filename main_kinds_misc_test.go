package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/healthgate/healthgate/checks/checktest"
)

// startGRPCHealth runs a grpc-go server with grpc-go's own health service, SERVING.
func startGRPCHealth(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

// miscKindTarget is one --memcached/--grpc/--redis (through Sentinel)/--dns flag target: an address that answers, and one that
// never will (refused, or a name that does not resolve).
type miscKindTarget struct {
	flag      string
	up, down  func(t *testing.T) string
	downClass string
}

var miscKindTargets = []miscKindTarget{
	{
		flag: "memcached",
		up:   func(t *testing.T) string { return checktest.MemcachedAddr(t) },
		down: func(t *testing.T) string {
			p := checktest.NewProxy(t, checktest.MemcachedAddr(t))
			p.Set(checktest.Refuse)
			return p.Addr()
		},
		downClass: "refused",
	},
	{
		flag: "grpc",
		up:   startGRPCHealth,
		down: func(t *testing.T) string {
			p := checktest.NewProxy(t, startGRPCHealth(t))
			p.Set(checktest.Refuse)
			return p.Addr()
		},
		downClass: "refused",
	},
	{
		// Through Sentinel: the URL names the master; the one that never answers names a master no
		// Sentinel watches.
		flag: "redis",
		up: func(t *testing.T) string {
			return "redis://" + checktest.StartRedisSentinel(t, checktest.StartRedis(t)) + "/0?master_name=" + checktest.SentinelMaster
		},
		down: func(t *testing.T) string {
			return "redis://" + checktest.StartRedisSentinel(t, checktest.StartRedis(t)) + "/0?master_name=nosuchmaster"
		},
		downClass: "bad_response",
	},
	{
		// The system resolver: /etc/hosts answers localhost everywhere; .invalid never resolves.
		flag:      "dns",
		up:        func(*testing.T) string { return "localhost" },
		down:      func(*testing.T) string { return "healthgate-test.invalid" },
		downClass: "dns",
	},
}

// TestWaitAndCheckMiscKinds: `wait --<kind>` exits 0 against the real server and 124 when it never
// answers; `check --<kind>` runs once, 0 or 1.
func TestWaitAndCheckMiscKinds(t *testing.T) {
	t.Parallel()
	checktest.EachParallel(t, miscKindTargets, func(k miscKindTarget) string { return k.flag }, func(t *testing.T, k miscKindTarget) {
		up, down := k.up(t), k.down(t)
		if code, _, stderr := runMain(t, noEnv, "wait", "--"+k.flag, up, "--timeout", "30s"); code != exitOK {
			t.Fatalf("wait --%s %s: exit %d; want 0:\n%s", k.flag, up, code, stderr)
		}
		code, _, stderr := runMain(t, noEnv, "wait", "--"+k.flag, down, "--timeout", "1.5s")
		if code != exitTimeout {
			t.Fatalf("wait --%s %s: exit %d; want 124:\n%s", k.flag, down, code, stderr)
		}
		for _, want := range []string{k.flag, "NOT READY", k.downClass} {
			if !strings.Contains(stderr, want) {
				t.Errorf("wait's table lacks %q:\n%s", want, stderr)
			}
		}
		if code, _, stderr := runMain(t, noEnv, "check", "--"+k.flag, up); code != exitOK {
			t.Errorf("check --%s %s: exit %d; want 0:\n%s", k.flag, up, code, stderr)
		}
		if code, _, _ := runMain(t, noEnv, "check", "--"+k.flag, down); code != exitFailed {
			t.Errorf("check --%s %s: exit %d; want 1", k.flag, down, code)
		}
	})
}

// TestGRPCFlagTLS: `--grpc https://HOST:PORT` reaches a gRPC server over TLS with the system's CAs, so an
// init container needs no configuration file for it: a private CA comes in through SSL_CERT_FILE, which
// Go reads for the system's CAs once per process (hence a real process here). Without that CA the same
// flag fails as tls, and a bare HOST:PORT stays plaintext.
func TestGRPCFlagTLS(t *testing.T) {
	t.Parallel()
	// httptest's certificate, for 127.0.0.1, signs itself: it is its own CA.
	web := httptest.NewTLSServer(nil)
	cert, ca := web.TLS.Certificates[0], web.Certificate().Raw
	web.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	addr := ln.Addr().String()

	bin := healthgateBinary(t)
	check := func(env []string, target string) (int, string) {
		cmd := exec.CommandContext(t.Context(), bin, "check", "--grpc", target)
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := check([]string{"SSL_CERT_FILE=" + caFile}, "https://"+addr); code != exitOK {
		t.Errorf("check --grpc https://%s with its CA in SSL_CERT_FILE: exit %d; want 0:\n%s", addr, code, out)
	}
	if code, out := check([]string{"SSL_CERT_FILE=" + filepath.Join(t.TempDir(), "none.pem")}, "https://"+addr); code != exitFailed || !strings.Contains(out, "tls") {
		t.Errorf("check --grpc https://%s without its CA: exit %d; want 1 with the tls class:\n%s", addr, code, out)
	}
	if code, out := check(nil, addr); code != exitFailed || strings.Contains(out, "tls:") {
		t.Errorf("check --grpc %s (plaintext to a TLS server): exit %d; want 1, not a TLS failure:\n%s", addr, code, out)
	}
}

// TestMemcachedSASLOutputs: a memcached check with SASL credentials, its password from a file or from
// the environment, against a real memcached with SASL: `check` passes with the right password and says
// auth for a wrong one or none, and no output of `check` (text and JSON) or of `wait` (its log in JSON)
// shows the password.
func TestMemcachedSASLOutputs(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-memcached-outputs"
	addr := checktest.StartMemcached(t, checktest.MemcachedOptions{Username: "healthgate", Password: secret})
	dir := t.TempDir()
	right, wrong := filepath.Join(dir, "right"), filepath.Join(dir, "wrong")
	for path, pw := range map[string]string{right: secret + "\n", wrong: secret + "-not\n"} {
		if err := os.WriteFile(path, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, `defaults:
  timeout: 3s
checks:
  - {name: from-file, type: memcached, address: "`+addr+`", username: healthgate, password_file: `+right+`}
  - {name: from-env, type: memcached, address: "`+addr+`", username: healthgate, password: "${MC_PASSWORD}"}
  - {name: wrong, type: memcached, address: "`+addr+`", username: healthgate, password_file: `+wrong+`}
  - {name: none, type: memcached, address: "`+addr+`"}
`)
	env := map[string]string{"MC_PASSWORD": secret}
	assertNoPassword := func(outputs ...string) {
		t.Helper()
		for _, out := range outputs {
			if strings.Contains(out, secret) || strings.Contains(out, secret[:10]) {
				t.Errorf("the password shows in:\n%s", out)
			}
		}
	}
	code, stdout, stderr := runMain(t, env, "check", "--config", cfg, "--output", "json")
	if code != exitFailed {
		t.Fatalf("check: exit %d; want 1:\n%s%s", code, stdout, stderr)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("output does not decode: %v\n%s", err, stdout)
	}
	want := map[string]string{"from-file": "", "from-env": "", "wrong": "auth", "none": "auth"}
	for _, c := range rep.Checks {
		if c.Reason != want[c.Name] {
			t.Errorf("%s: reason %q (%s, hint %q); want %q", c.Name, c.Reason, c.Error, c.Hint, want[c.Name])
		}
	}
	if len(rep.Checks) != len(want) {
		t.Errorf("%d checks; want %d", len(rep.Checks), len(want))
	}
	assertNoPassword(stdout, stderr)
	_, stdout, stderr = runMain(t, env, "check", "--config", cfg)
	for _, w := range []string{"check username and password", "requires SASL: set username and password"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("check's table lacks %q:\n%s", w, stdout)
		}
	}
	assertNoPassword(stdout, stderr)
	_, stdout, stderr = runMain(t, env, "wait", "--config", cfg, "--timeout", "1s", "--log-format", "json")
	if !strings.Contains(stderr, "wrong") {
		t.Errorf("wait's output does not name the failing check:\n%s", stderr)
	}
	assertNoPassword(stdout, stderr)
}

// TestWaitSetThroughTwemproxy: --set gives flag targets a field of their kind. twemproxy answers PING
// itself and closes the connection at HELLO: `check --redis` through it fails with a hint naming
// --set redis.key; `wait --redis ... --set redis.key=K` reads the key on the Redis behind it, and
// passes while that Redis answers and times out, saying refused, while it refuses.
func TestWaitSetThroughTwemproxy(t *testing.T) {
	behind := checktest.NewProxy(t, checktest.HostPort(t, checktest.RedisURL(t)))
	tw := "redis://" + checktest.StartTwemproxy(t, behind.Addr(), true) + "/0"
	code, stdout, stderr := runMain(t, noEnv, "check", "--redis", tw)
	if code != exitFailed || !strings.Contains(stdout, "--set redis.key=KEY") {
		t.Errorf("check --redis through twemproxy without a key: exit %d; want 1 and a hint naming --set redis.key:\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runMain(t, noEnv, "wait", "--redis", tw, "--set", "redis.key=healthgate:probe", "--timeout", "30s"); code != exitOK {
		t.Fatalf("wait --redis through twemproxy with --set redis.key: exit %d; want 0:\n%s", code, stderr)
	}
	behind.Set(checktest.Refuse)
	code, _, stderr = runMain(t, noEnv, "wait", "--redis", tw, "--set", "redis.key=healthgate:probe", "--timeout", "1.5s")
	if code != exitTimeout || !strings.Contains(stderr, "refused") {
		t.Errorf("wait with the Redis behind twemproxy refusing: exit %d; want 124 and refused:\n%s", code, stderr)
	}
}
