package checks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// HAProxy in TCP mode in front of a database or a cache (Patroni's way to reach the Postgres primary,
// Galera's to reach MySQL): with its server up it passes the bytes through; with no server it can reach
// (refused, or a connect that does not complete) it accepts a connection and closes it. A check through
// it must not take that for the dependency's answer (nor, for redis, for a proxy that does not know
// HELLO): the run fails as reset at once, with a hint that names a load balancer with no server. A server
// that accepts and hangs passes HAProxy's TCP health check: that run is a timeout, as without HAProxy.

const noServerHint = "a load balancer in front of it has no server"

// TestThroughHAProxy: postgres, mysql and redis checks through a real HAProxy pass; while the server
// behind it refuses they fail as reset with the load-balancer hint, and pass again once it is back; a
// hung server behind it is a timeout; a server whose connects never complete is the load balancer's reset.
func TestThroughHAProxy(t *testing.T) {
	kinds := []struct {
		typ string
		url func(t testing.TB) string
	}{
		{"postgres", checktest.PostgresURL},
		{"mysql", checktest.MySQLURL},
		{"redis", checktest.RedisURL},
	}
	for _, kind := range kinds {
		t.Run(kind.typ, func(t *testing.T) {
			t.Parallel()
			url := kind.url(t)
			through := func(ha string) *checks.Check {
				return newCheck(t, config.Check{Type: kind.typ, Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, url, ha)})})
			}
			behind := checktest.NewProxy(t, checktest.HostPort(t, url))
			ch := through(checktest.StartHAProxy(t, behind.Addr()))
			passes := func(what string) {
				t.Helper()
				if _, ok := checktest.Poll(5*time.Second, 100*time.Millisecond, func() bool { err, _ := runCheck(t, ch); return err == nil }); !ok {
					err, _ := runCheck(t, ch)
					t.Fatalf("no pass through HAProxy within 5 s %s: %v (hint: %s)", what, err, ch.Hint(err))
				}
			}
			passes("of its start")

			behind.Set(checktest.Refuse)
			// The first run may meet the pooled connection HAProxy shut when it marked the server down.
			awaitNoServer(t, ch, "the server refusing")
			behind.Set(checktest.Forward)
			passes("of the server coming back")

			behind.Set(checktest.Blackhole)
			// The pooled connection, shut by the switch (HAProxy passes the close on), may fail the
			// first run; a new one reaches the hung server.
			if err, _ := runCheck(t, ch); err != nil && checks.ClassOf(err) != checks.Reset && checks.ClassOf(err) != checks.Timeout {
				t.Fatalf("the first run after the server hung: %v; want reset (the pooled connection closed) or timeout", err)
			}
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Timeout, "a proxy or pooler in front of it waits", "no secret here")

			// Connects that never complete: HAProxy gives up after its timeout connect (500 ms).
			awaitNoServer(t, through(checktest.StartHAProxy(t, checktest.Unreachable(t))), "its start")
		})
	}
}

// awaitNoServer waits (5 s at most) until a run of ch fails with the load balancer's hint, then asserts
// that the next runs meet HAProxy with no server.
func awaitNoServer(t *testing.T, ch *checks.Check, since string) {
	t.Helper()
	var last error
	if _, ok := checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool {
		last, _ = runCheck(t, ch)
		return last != nil && strings.Contains(ch.Hint(last), noServerHint)
	}); !ok {
		t.Fatalf("no run within 5 s of %s failed with the load balancer's hint; last: %v (hint: %s)", since, last, ch.Hint(last))
	}
	for range 3 {
		assertNoServer(t, ch)
	}
}

// assertNoServer: a run of ch meets HAProxy with no server: reset, the load-balancer hint, no wait for the
// run's timeout, and no advice meant for another proxy.
func assertNoServer(t *testing.T, ch *checks.Check) {
	t.Helper()
	err, took := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Reset, noServerHint, "no secret here")
	if h := ch.Hint(err); strings.Contains(h, "key") {
		t.Errorf("hint %q takes HAProxy with no server for a proxy that does not know HELLO", h)
	}
	if took >= timeout {
		t.Errorf("the run took %s, its whole timeout: HAProxy closes the connection well before", took)
	}
}
