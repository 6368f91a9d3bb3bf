package checks_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

func TestMemcachedWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	mc := checktest.MemcachedAddr(t)
	build := func(addr string) config.Check {
		return config.Check{Type: "memcached", Spec: config.SpecOf(map[string]any{"address": addr})}
	}
	runFaults(t, mc, build)
	runGarbage(t, mc, build, "memcached")
}

// TestMemcachedReusesOneConnection: healthy runs share one connection (a check must never open a
// connection per run); a severed one is replaced by the next run, which reports what the server does
// now, and a recovered server passes again on one new connection.
func TestMemcachedReusesOneConnection(t *testing.T) {
	mc := checktest.MemcachedAddr(t)
	p := checktest.NewProxy(t, mc)
	ch := newCheckTimeout(t, config.Check{Type: "memcached", Spec: config.SpecOf(map[string]any{"address": p.Addr()})}, generousTimeout)
	for i := range 5 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
		if n := p.Accepted(); n != 1 {
			t.Fatalf("after run %d: %d connections accepted; want 1, reused", i+1, n)
		}
	}
	for _, tc := range []struct {
		mode checktest.Mode
		want checks.Class
	}{{checktest.Refuse, checks.Refused}, {checktest.Reset, checks.Reset}} {
		p.Set(tc.mode) // drops the kept connection, as a restart does
		err, _ := runCheck(t, ch)
		assertClass(t, err, tc.want)
		p.Set(checktest.Forward)
		before := p.Accepted()
		for range 3 {
			err, _ = runCheck(t, ch)
			assertClass(t, err, "")
		}
		if n := p.Accepted() - before; n != 1 {
			t.Errorf("after %s: %d new connections over 3 healthy runs; want 1", tc.mode, n)
		}
	}
}

func TestMemcachedServerAnswers(t *testing.T) {
	mc := checktest.MemcachedAddr(t)
	answering := func(reply string) string {
		return checktest.Serve(t, func(c net.Conn) {
			buf := make([]byte, 1024)
			if _, err := c.Read(buf); err == nil {
				_, _ = c.Write([]byte(reply))
			}
		})
	}
	host, port, _ := net.SplitHostPort(mc)
	tests := []struct {
		name, addr string
		want       checks.Class
		hint       string
	}{
		{name: "version", addr: mc},
		{name: "server error", addr: answering("SERVER_ERROR out of memory\r\n"), want: checks.BadResponse, hint: "answered `version` with an error"},
		{name: "unknown command", addr: answering("ERROR\r\n"), want: checks.BadResponse, hint: "answered `version` with an error"},
		{name: "an endless line", addr: answering(strings.Repeat("x", 4096)), want: checks.BadResponse, hint: "not memcached's text protocol"},
		{name: "answer cut off", addr: answering("VERS"), want: checks.BadResponse, hint: "not memcached's text protocol"},
		// Bytes without a line ending, the connection kept open: the first byte already says it is not memcached.
		{name: "binary answer kept open", addr: garbageServer(t, "\x00\x01\x02\x03garbage"), want: checks.BadResponse, hint: "not memcached's text protocol"},
		{name: "dns", addr: "healthgate-test.invalid:11211", want: checks.DNS, hint: "does not resolve"},
		{name: "default port", addr: host, want: map[bool]checks.Class{true: "", false: checks.Refused}[port == "11211"]},
	}
	if rd := checktest.RedisURL(t); rd != "" {
		// A real server of another protocol: Redis answers "-ERR unknown command".
		tests = append(tests, struct {
			name, addr string
			want       checks.Class
			hint       string
		}{name: "a Redis port", addr: checktest.HostPort(t, rd), want: checks.BadResponse, hint: "is it memcached"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "memcached", Spec: config.SpecOf(map[string]any{"address": tc.addr})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
		})
	}
}

// TestMemcachedCancel: a run cancelled while the server does not answer (SIGTERM during a run) ends at
// once, not at its timeout.
func TestMemcachedCancel(t *testing.T) {
	mc := checktest.MemcachedAddr(t)
	p := checktest.NewProxy(t, mc)
	p.Set(checktest.Blackhole)
	ch := newCheckTimeout(t, config.Check{Type: "memcached", Spec: config.SpecOf(map[string]any{"address": p.Addr()})}, generousTimeout)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := ch.Run(ctx)
	if err == nil {
		t.Fatal("run passed against a blackhole")
	}
	if took := time.Since(start); took > generousTimeout/2 {
		t.Errorf("a cancelled run took %s; want it to end at the cancel", took)
	}
}

func TestMemcachedConfig(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"", "required"},
		{"memcached:http2", "port must be a number"},
		{"[::1", "must be host:port"},
	} {
		c := config.NewCheck("m", "memcached", "test", config.NewDefaults())
		c.Spec.Set("address", tc.addr)
		_, err := checks.New(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("address %q: %v; want %q", tc.addr, err, tc.want)
		}
	}
	c := config.NewCheck("m", "memcached", "test", config.NewDefaults())
	c.Spec.Set("address", "cache.internal")
	ch, err := checks.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.Target != "cache.internal:11211" {
		t.Errorf("target %q; want the default port added", ch.Target)
	}
}

// mcSecret is the SASL password of the memcached tests: it must appear in no error, hint or target.
const mcSecret = "hunter2-memcached-secret"

// assertNoMCSecret fails the test when the password shows in a run's error, its hint or the check's target.
func assertNoMCSecret(t *testing.T, ch *checks.Check, err error) {
	t.Helper()
	for _, s := range []string{err2s(err), ch.Hint(err), ch.Target} {
		if strings.Contains(s, mcSecret) || strings.Contains(s, mcSecret[:8]) {
			t.Errorf("the password shows in %q", s)
		}
	}
}

func memcachedCheck(spec map[string]any) config.Check {
	return config.Check{Type: "memcached", Spec: config.SpecOf(spec)}
}

// TestMemcachedTLS runs memcached checks with a tls block against a real memcached serving TLS (-Z),
// as memcached's own TLS and ElastiCache's in-transit encryption do.
func TestMemcachedTLS(t *testing.T) {
	p := newPKI(t)
	addr := checktest.StartMemcached(t, checktest.MemcachedOptions{CertFile: p.serverCert, KeyFile: p.serverKey})
	mtls := checktest.StartMemcached(t, checktest.MemcachedOptions{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCA: p.ca})
	plain := checktest.MemcachedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name, addr string
		tls        any // config.TLS, or a map for tls: {}
		want       checks.Class
		hint       string
	}{
		{name: "trusted CA", addr: addr, tls: config.TLS{CAFile: p.ca}},
		{name: "unknown CA", addr: addr, tls: config.TLS{CAFile: p.otherCA}, want: checks.TLS, hint: "tls.ca_file"},
		{name: "tls: {}, the system's CAs", addr: addr, tls: map[string]any{}, want: checks.TLS, hint: "tls.ca_file"},
		{name: "insecure_skip_verify", addr: addr, tls: config.TLS{CAFile: p.otherCA, InsecureSkipVerify: true}},
		{name: "server_name mismatch", addr: addr, tls: config.TLS{CAFile: p.ca, ServerName: "cache.example.com"}, want: checks.TLS, hint: "tls.server_name"},
		{name: "server_name the certificate holds", addr: addr, tls: config.TLS{CAFile: p.ca, ServerName: "localhost"}},
		{name: "a host name the certificate holds", addr: "localhost:" + port, tls: config.TLS{CAFile: p.ca}},
		{name: "client certificate required and given", addr: mtls, tls: config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}},
		{name: "client certificate required and missing", addr: mtls, tls: config.TLS{CAFile: p.ca}, want: checks.TLS, hint: "tls.cert_file"},
		// memcached resets a connection whose first bytes are not a TLS record.
		{name: "plaintext to the TLS port", addr: addr, want: checks.Reset, hint: "add a tls block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"address": tc.addr}
			if tc.tls != nil {
				spec["tls"] = tc.tls
			}
			ch := newCheckTimeout(t, memcachedCheck(spec), generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q (error: %v)", ch.Hint(err), tc.hint, err)
			}
		})
	}
	t.Run("TLS to a plaintext memcached", func(t *testing.T) {
		// memcached reads a ClientHello as a text command: it answers ERROR at the first line feed among
		// the hello's random bytes, and waits for more when the hello holds none (a fraction of a percent
		// of hellos), which then ends in a timeout; both say the port may not speak TLS.
		ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": plain, "tls": config.TLS{CAFile: p.ca}}), 3*time.Second)
		err, _ := runCheck(t, ch)
		if checks.ClassOf(err) == checks.Timeout {
			t.Logf("the ClientHello held no line feed: %v", err)
		} else {
			assertClass(t, err, checks.TLS)
		}
		if h := ch.Hint(err); !strings.Contains(h, "may not speak TLS") || !strings.Contains(h, "remove the tls block") {
			t.Errorf("hint %q does not say the port may not speak TLS (error: %v)", h, err)
		}
	})
	t.Run("one connection, kept", func(t *testing.T) {
		px := checktest.NewProxy(t, addr)
		ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": px.Addr(), "tls": config.TLS{CAFile: p.ca, ServerName: "localhost"}}), generousTimeout)
		if want := px.Addr() + " (tls)"; ch.Target != want {
			t.Errorf("target %q; want %q", ch.Target, want)
		}
		for i := range 3 {
			err, _ := runCheck(t, ch)
			assertClass(t, err, "")
			if n := px.Accepted(); n != 1 {
				t.Fatalf("after run %d: %d connections accepted; want 1, reused", i+1, n)
			}
		}
	})
}

// TestMemcachedSASL runs memcached checks against a real memcached with SASL (-S, a sasldb with one
// user), as Bitnami's image and chart start it when a user and password are set.
func TestMemcachedSASL(t *testing.T) {
	sasl := checktest.StartMemcached(t, checktest.MemcachedOptions{Username: "healthgate", Password: mcSecret})
	plain := checktest.MemcachedAddr(t)
	ascii := checktest.StartMemcached(t, checktest.MemcachedOptions{Args: []string{"-B", "ascii"}})
	for _, tc := range []struct {
		name, addr, user, password string
		want                       checks.Class
		hint                       string
	}{
		{name: "the right password", addr: sasl, user: "healthgate", password: mcSecret},
		{name: "a wrong password", addr: sasl, user: "healthgate", password: mcSecret + "-not", want: checks.Auth, hint: "check username and password"},
		{name: "an unknown user", addr: sasl, user: "nobody-here", password: mcSecret, want: checks.Auth, hint: "check username and password"},
		// memcached with SASL takes only the binary protocol: it reads `version` as the start of a binary
		// header, and closes the connection once it is one.
		{name: "no credentials", addr: sasl, want: checks.Auth, hint: "requires SASL: set username and password"},
		{name: "credentials for a memcached without SASL", addr: plain, user: "healthgate", password: mcSecret, want: checks.Auth, hint: "does not require authentication"},
		{name: "credentials for a memcached of the text protocol only", addr: ascii, user: "healthgate", password: mcSecret, want: checks.Auth, hint: "does not require authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"address": tc.addr}
			if tc.user != "" {
				spec["username"], spec["password"] = tc.user, tc.password
			}
			assertMCAnswer(t, spec, tc.want, tc.hint)
		})
	}
	t.Run("one connection, kept, authenticated once", func(t *testing.T) {
		px := checktest.NewProxy(t, sasl)
		ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": px.Addr(), "username": "healthgate", "password": mcSecret}), generousTimeout)
		for i := range 3 {
			err, _ := runCheck(t, ch)
			assertClass(t, err, "")
			if n := px.Accepted(); n != 1 {
				t.Fatalf("after run %d: %d connections accepted; want 1, reused", i+1, n)
			}
		}
		px.Set(checktest.Reset) // a restart: the next run reports it, the one after authenticates afresh
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.Reset)
		px.Set(checktest.Forward)
		err, _ = runCheck(t, ch)
		assertClass(t, err, "")
	})
	t.Run("password_file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(file, []byte(mcSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := yamlCheck(t, "checks:\n  - name: sessions\n    type: memcached\n    address: "+sasl+"\n    username: healthgate\n    password_file: "+file+"\n")
		ch := newCheckTimeout(t, c, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	})
	t.Run("SASL over TLS", func(t *testing.T) {
		p := newPKI(t)
		both := checktest.StartMemcached(t, checktest.MemcachedOptions{CertFile: p.serverCert, KeyFile: p.serverKey, Username: "healthgate", Password: mcSecret})
		ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": both, "username": "healthgate", "password": mcSecret, "tls": config.TLS{CAFile: p.ca}}), generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
		ch = newCheckTimeout(t, memcachedCheck(map[string]any{"address": both, "tls": config.TLS{CAFile: p.ca}}), generousTimeout)
		err, _ = runCheck(t, ch)
		assertClass(t, err, checks.Auth)
		if h := ch.Hint(err); !strings.Contains(h, "requires SASL") {
			t.Errorf("hint %q does not say the server requires SASL", h)
		}
	})
}

// mcBinaryAnswer is a binary protocol answer header (24 bytes) for op with status and body, echoing the
// opaque of the request it answers.
func mcBinaryAnswer(req []byte, status uint16, body string) []byte {
	h := make([]byte, 24, 24+len(body))
	h[0], h[1] = 0x81, req[1]
	binary.BigEndian.PutUint16(h[6:], status)
	binary.BigEndian.PutUint32(h[8:], uint32(len(body)))
	copy(h[12:16], req[12:16])
	return append(h, body...)
}

// TestMemcachedBinaryAnswers: what an authenticating check makes of a server's binary answers that a
// real memcached does not give on demand.
func TestMemcachedBinaryAnswers(t *testing.T) {
	// answering answers the SASL auth with auth(req) and a version request with "1.6.99".
	answering := func(auth func(req []byte) []byte) string {
		return checktest.Serve(t, func(c net.Conn) {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			for {
				req := make([]byte, 24)
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(req[8:12]))
				if _, err := io.ReadFull(c, body); err != nil {
					return
				}
				answer := mcBinaryAnswer(req, 0, "1.6.99")
				if req[1] == 0x21 {
					answer = auth(req)
				}
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
		})
	}
	status := func(s uint16) func([]byte) []byte {
		return func(req []byte) []byte { return mcBinaryAnswer(req, s, "some words") }
	}
	for _, tc := range []struct {
		name string
		addr string
		want checks.Class
		hint string
	}{
		{name: "authenticated", addr: answering(status(0))},
		{name: "out of memory", addr: answering(status(0x82)), want: checks.NotReady},
		{name: "busy", addr: answering(status(0x85)), want: checks.NotReady},
		{name: "another step asked (PLAIN takes one)", addr: answering(status(0x21)), want: checks.BadResponse},
		{name: "an answer to another request", addr: answering(func(req []byte) []byte {
			a := mcBinaryAnswer(req, 0, "")
			a[1] = 0x0b
			return a
		}), want: checks.BadResponse, hint: "binary protocol"},
		{name: "a body too long", addr: answering(func(req []byte) []byte {
			return mcBinaryAnswer(req, 0, strings.Repeat("x", 64<<10))
		}), want: checks.BadResponse, hint: "binary protocol"},
		{name: "a TLS alert", addr: garbageServer(t, "\x15\x03\x03\x00\x02\x02\x46"), want: checks.TLS, hint: "add a tls block"},
		{name: "another protocol", addr: garbageServer(t, "SSH-2.0-OpenSSH_9.2\r\n"), want: checks.BadResponse, hint: "binary protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertMCAnswer(t, map[string]any{"address": tc.addr, "username": "healthgate", "password": mcSecret}, tc.want, tc.hint)
		})
	}
	t.Run("a text protocol server that speaks TLS", func(t *testing.T) {
		// A plaintext check's `version` answered with a TLS record: a TLS port.
		ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": garbageServer(t, "\x15\x03\x03\x00\x02\x02\x46")}), generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.TLS)
		if h := ch.Hint(err); !strings.Contains(h, "add a tls block") {
			t.Errorf("hint %q does not say to add a tls block", h)
		}
	})
}

func TestMemcachedCredentialsConfig(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name string
		spec map[string]any
		want string
	}{
		{"username without password", map[string]any{"address": "cache:11211", "username": "app"}, "username: needs a password"},
		{"password without username", map[string]any{"address": "cache:11211", "password": mcSecret}, "password: needs a username"},
		{"a NUL in the password", map[string]any{"address": "cache:11211", "username": "app", "password": mcSecret + "\x00x"}, "password: must not hold a NUL byte"},
		{"a NUL in the username", map[string]any{"address": "cache:11211", "username": "a\x00pp", "password": mcSecret}, "username: must not hold a NUL byte"},
		{"a trailing newline in the password", map[string]any{"address": "cache:11211", "username": "app", "password": mcSecret + "\n"}, "password: ends with a line break (a Secret written with a trailing newline"},
		{"a tls block with a missing file", map[string]any{"address": "cache:11211", "tls": config.TLS{CAFile: "/nonexistent/ca.pem"}}, "ca_file"},
		{"a tls block with a key and no certificate", map[string]any{"address": "cache", "tls": config.TLS{KeyFile: p.clientKey}}, "cert_file and key_file go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.NewCheck("m", "memcached", "test", config.NewDefaults())
			c.Spec = config.SpecOf(tc.spec)
			_, err := checks.New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v; want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), mcSecret[:8]) {
				t.Errorf("the password shows in %q", err)
			}
		})
	}
	c := config.NewCheck("m", "memcached", "test", config.NewDefaults())
	c.Spec = config.SpecOf(map[string]any{"address": "cache", "username": "app", "password": mcSecret, "tls": map[string]any{}})
	ch, err := checks.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.Target != "cache:11211 (tls)" {
		t.Errorf("target %q; want the default port and (tls)", ch.Target)
	}
}

// TestMemcachedCredentialFileUnread: a password_file (or username_file) that cannot be read is one
// error, naming the file's field; the other credential's "needs a password" would only echo it.
func TestMemcachedCredentialFileUnread(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("s3cr3t"), 12000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, creds, want string }{
		{"password_file over 64 KiB", "username: app\n    password_file: " + big, "password_file: cannot read " + big + ": larger than 64 KiB"},
		{"password_file missing", "username: app\n    password_file: " + dir + "/none", "password_file: cannot read"},
		{"username_file missing", "username_file: " + dir + "/none\n    password: s3cr3t-pw", "username_file: cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := yamlCheck(t, "checks:\n  - name: sessions\n    type: memcached\n    address: cache:11211\n    "+tc.creds+"\n")
			_, err := checks.New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "needs a") {
				t.Errorf("an error implied by the unread file: %v", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the password shows in %q", err)
			}
		})
	}
}

// assertMCAnswer runs a memcached check of spec once: its class is want, its hint mentions hint (unless
// empty), a failure ends at the server's answer rather than the timeout, and no secret shows.
func assertMCAnswer(t *testing.T, spec map[string]any, want checks.Class, hint string) {
	t.Helper()
	ch := newCheckTimeout(t, memcachedCheck(spec), generousTimeout)
	err, took := runCheck(t, ch)
	assertClass(t, err, want)
	if hint != "" && !strings.Contains(ch.Hint(err), hint) {
		t.Errorf("hint %q does not mention %q (error: %v)", ch.Hint(err), hint, err)
	}
	if want != "" && took > generousTimeout/2 {
		t.Errorf("the run took %s: the server's answer says why, no need to wait for the timeout", took)
	}
	assertNoMCSecret(t, ch, err)
}

// TestMemcachedMaxConnections: a memcached at its connection limit (-c) accepts a new connection,
// writes "ERROR Too many open connections" and closes it, whatever the client sends (under -Z too, in
// clear, before any handshake). That is a server
// with no connection left (not_ready, clearing when clients disconnect), not another protocol on the
// port, nor, for a check with credentials, a memcached without SASL.
func TestMemcachedMaxConnections(t *testing.T) {
	plain := checktest.StartMemcached(t, checktest.MemcachedOptions{Args: []string{"-c", "20", "-t", "1"}})
	sasl := checktest.StartMemcached(t, checktest.MemcachedOptions{Username: "healthgate", Password: mcSecret, Args: []string{"-c", "20", "-t", "1"}})
	// memcached refuses at the accept, before TLS: the line comes in clear, where the ServerHello should.
	p := newPKI(t)
	overTLS := checktest.StartMemcached(t, checktest.MemcachedOptions{CertFile: p.serverCert, KeyFile: p.serverKey, Args: []string{"-c", "20", "-t", "1"}})
	for _, tc := range []struct {
		name string
		spec map[string]any
	}{
		{"text protocol", map[string]any{"address": plain}},
		{"SASL", map[string]any{"address": sasl, "username": "healthgate", "password": mcSecret}},
		{"TLS", map[string]any{"address": overTLS, "tls": config.TLS{CAFile: p.ca}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, memcachedCheck(tc.spec), generousTimeout)
			// Every connection until the server refuses one, held open without a word.
			var held []net.Conn
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			full := false
			for range 40 {
				c, err := net.Dial("tcp", tc.spec["address"].(string))
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				b := make([]byte, 64)
				if n, _ := c.Read(b); n > 0 {
					_ = c.Close()
					if !strings.HasPrefix(string(b[:n]), "ERROR Too many open connections") {
						t.Fatalf("a filler connection read %q", b[:n])
					}
					full = true
					break
				}
				held = append(held, c)
			}
			if !full {
				t.Fatal("memcached did not refuse a connection at -c 20")
			}
			err, took := runCheck(t, ch)
			assertClass(t, err, checks.NotReady)
			if h := ch.Hint(err); !strings.Contains(h, "connection limit") {
				t.Errorf("hint %q does not name the connection limit (error: %v)", h, err)
			}
			if took > generousTimeout/2 {
				t.Errorf("the run took %s: the server's answer says why", took)
			}
			assertNoMCSecret(t, ch, err)
			for _, c := range held {
				_ = c.Close()
			}
			held = nil
			checktest.Eventually(t, 5*time.Second, "a run to pass once the connections closed", func() bool { err, _ := runCheck(t, ch); return err == nil })
		})
	}
}

// TestMemcachedAtAnotherProtocolsPort: memcached's port mistaken for a broker's (Mosquitto, which closes
// a connection whose first bytes are not MQTT) is a reset whose hint names that case too: it named TLS,
// a restart and a proxy with no server only.
func TestMemcachedAtAnotherProtocolsPort(t *testing.T) {
	ch := newCheckTimeout(t, memcachedCheck(map[string]any{"address": checktest.HostPort(t, checktest.MQTTURL(t))}), generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.Reset)
	if h := ch.Hint(err); !strings.Contains(h, "is another protocol's") {
		t.Errorf("hint %q does not say the port may be another protocol's", h)
	}
}
