package checks_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// twemproxy (nutcracker) in front of Redis or memcached, as services shard a pool of either. It answers
// a Redis PING itself, without its servers, so a redis check through it names a key to read (key:); it
// closes the connection on a command it does not know, go-redis's HELLO among them; it answers in place
// of a server it cannot reach with that failure's words ("-ERR Connection refused", "SERVER_ERROR
// Connection timed out").

// twemproxied are the kinds twemproxy fronts: the server of the test, and the check of it through addr.
var twemproxied = []struct {
	typ    string
	server func(t *testing.T) string
	spec   func(addr string) map[string]any
}{
	{"redis", func(t *testing.T) string { return checktest.HostPort(t, checktest.RedisURL(t)) },
		func(addr string) map[string]any {
			return map[string]any{"url": "redis://" + addr, "key": "healthgate:probe"}
		}},
	{"memcached", func(t *testing.T) string { return checktest.MemcachedAddr(t) },
		func(addr string) map[string]any { return map[string]any{"address": addr} }},
}

// TestThroughTwemproxy: the redis check with a key, and the memcached check, pass through twemproxy run
// after run on the connection the check keeps; when the server behind it refuses, hangs or resets, the
// runs fail with that class and a hint that names the proxy, and pass again once the server is back.
func TestThroughTwemproxy(t *testing.T) {
	for _, kind := range twemproxied {
		t.Run(kind.typ, func(t *testing.T) {
			behind := checktest.NewProxy(t, kind.server(t))
			front := checktest.NewProxy(t, checktest.StartTwemproxy(t, behind.Addr(), kind.typ == "redis"))
			// Longer than twemproxy's own timeout (2 s), whose answer the blackhole case expects.
			ch := newCheckTimeout(t, config.Check{Type: kind.typ, Spec: config.SpecOf(kind.spec(front.Addr()))}, 5*time.Second)
			for run := range 5 {
				if err, _ := runCheck(t, ch); err != nil {
					t.Fatalf("run %d through twemproxy: %s (%v; hint: %s)", run+1, checks.ClassOf(err), err, ch.Hint(err))
				}
			}
			if n := front.Accepted(); n != 1 {
				t.Errorf("%d connections to twemproxy for 5 runs; want 1, kept", n)
			}
			for _, tc := range []struct {
				mode checktest.Mode
				want checks.Class
			}{{checktest.Refuse, checks.Refused}, {checktest.Blackhole, checks.Timeout}, {checktest.Reset, checks.Reset}} {
				behind.Set(tc.mode)
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, tc.want, "answered in place of the server behind it", "no secret here")
				behind.Set(checktest.Forward)
				if _, ok := checktest.Poll(10*time.Second, 100*time.Millisecond, func() bool { err, _ := runCheck(t, ch); return err == nil }); !ok {
					t.Fatalf("after %s: no pass within 10 s of the server coming back", tc.mode)
				}
			}
			if n := front.Accepted(); n != 1 {
				t.Errorf("%d connections to twemproxy; want 1: its answers for the server are not the proxy's failure", n)
			}
		})
	}
}

// TestRedisThroughTwemproxyWithoutKey: without a key, go-redis's first command, HELLO, makes twemproxy
// close the connection. The run asks again without HELLO: the proxy answers PING (itself), so the run
// fails as a bad answer that names key, rather than pass on the proxy's word. A server that closes every
// connection (a load balancer with no server behind it, a restart) is not taken for such a proxy.
func TestRedisThroughTwemproxyWithoutKey(t *testing.T) {
	tw := checktest.StartTwemproxy(t, checktest.HostPort(t, checktest.RedisURL(t)), true)
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + tw})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.BadResponse, "set key", "no secret here")

	// HAProxy with no server up behind it reads the command and closes the connection (tried by hand:
	// the same for postgres, mysql and redis checks).
	closing := checktest.Serve(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 256)) })
	ch = newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + closing})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Reset, "a load balancer in front of it has no server", "no secret here")
	if strings.Contains(ch.Hint(err), "key") {
		t.Errorf("hint %q takes a server that closes every connection for a proxy that does not know HELLO", ch.Hint(err))
	}
}

// TestRedisKey: with a key, a run against Redis itself reads it (EXISTS: no side effect, whether it
// exists or not) and still tells a password Redis refuses.
func TestRedisKey(t *testing.T) {
	url := checktest.RedisURL(t)
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": url, "key": "healthgate:probe"})}, generousTimeout)
	for run := range 3 {
		if err, _ := runCheck(t, ch); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
	}
	bad := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": withUser(t, url, "nosuchuser", "s3cret-rd"), "key": "healthgate:probe"})}, generousTimeout)
	err, _ := runCheck(t, bad)
	assertAnswer(t, bad, err, checks.Auth, "", "s3cret-rd")
}

// TestRedisThroughEnvoyAnswers: Envoy's Redis proxy (not packaged on the machine the tests run on) answers
// HELLO with "unknown command" and PING itself, and in place of a server it cannot use with its own
// errors, per its documentation: "no upstream host" (no healthy host for the key) and "upstream failure"
// (the server did not answer in time, or closed the connection). A scripted server gives those answers to
// a check with a key.
func TestRedisThroughEnvoyAnswers(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   checks.Class
	}{{"no upstream host", checks.Refused}, {"upstream failure", checks.Reset}} {
		t.Run(tc.answer, func(t *testing.T) {
			addr := checktest.Serve(t, func(c net.Conn) {
				buf := make([]byte, 1024)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write([]byte("-" + tc.answer + "\r\n")); err != nil {
						return
					}
				}
			})
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + addr, "key": "healthgate:probe"})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, "answered in place of the server behind it", "no secret here")
		})
	}
}
