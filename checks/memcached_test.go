package checks_test

import (
	"context"
	"net"
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
	t.Run("garbage", func(t *testing.T) {
		p := checktest.NewProxy(t, mc)
		p.Set(checktest.Garbage)
		ch := newCheckTimeout(t, build(p.Addr()), generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.BadResponse)
		if h := ch.Hint(err); !strings.Contains(h, "memcached") {
			t.Errorf("hint %q does not name memcached", h)
		}
	})
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
		return fakeServer(t, func(c net.Conn) {
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
