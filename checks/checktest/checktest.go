// Package checktest holds what the integration tests of every package share: where the real Postgres
// and Redis are (and the rule that in CI their absence fails a test instead of skipping it), and a
// TCP proxy that injects faults on the wire.
package checktest

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// PostgresURL returns the URL of the real Postgres the tests use (HEALTHGATE_TEST_POSTGRES_URL, by
// default the local trust-auth server's `test` database). It fails the test in CI (CI=true) and skips
// it elsewhere when nothing answers there.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	require(t, "Postgres", hostOf(t, u, "5432"))
	return u
}

// RedisURL is PostgresURL for Redis (HEALTHGATE_TEST_REDIS_URL, default redis://127.0.0.1:6379/0).
func RedisURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	require(t, "Redis", hostOf(t, u, "6379"))
	return u
}

// AMQPURL is PostgresURL for RabbitMQ (HEALTHGATE_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/,
// the broker's default vhost; RabbitMQ lets guest log in from localhost only).
func AMQPURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	require(t, "RabbitMQ", hostOf(t, u, "5672"))
	return u
}

// NATSURL is PostgresURL for NATS (HEALTHGATE_TEST_NATS_URL, default nats://127.0.0.1:4222).
func NATSURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_NATS_URL", "nats://127.0.0.1:4222")
	require(t, "NATS", hostOf(t, u, "4222"))
	return u
}

// MQTTURL is PostgresURL for an MQTT broker (HEALTHGATE_TEST_MQTT_URL, default mqtt://127.0.0.1:1883,
// Mosquitto).
func MQTTURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
	require(t, "MQTT broker", hostOf(t, u, "1883"))
	return u
}

// MySQLURL is PostgresURL for MySQL/MariaDB (HEALTHGATE_TEST_MYSQL_URL, default the local MariaDB's
// root user, no password, database test).
func MySQLURL(t testing.TB) string {
	t.Helper()
	u := envOr("HEALTHGATE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
	require(t, "MySQL/MariaDB", hostOf(t, u, "3306"))
	return u
}

// WithHost returns rawURL pointing at addr (host:port) instead, e.g. at a Proxy.
func WithHost(t testing.TB, rawURL, addr string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	u.Host = addr
	return u.String()
}

// HostPort returns the host:port a URL points at.
func HostPort(t testing.TB, rawURL string) string {
	t.Helper()
	return hostOf(t, rawURL, "")
}

func hostOf(t testing.TB, rawURL, defPort string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	if u.Port() == "" && defPort != "" {
		return net.JoinHostPort(u.Hostname(), defPort)
	}
	return u.Host
}

// InCI reports whether the tests run in CI, where a missing service is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

func require(t testing.TB, what, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = conn.Close()
		return
	}
	if InCI() {
		t.Fatalf("%s is not reachable at %s (CI=true: integration tests must not skip): %v", what, addr, err)
	}
	t.Skipf("%s not reachable at %s: %v", what, addr, err)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Poll calls cond every `every` until it returns true or timeout passes, and reports how long that
// took and whether cond held. It is the tests' one polling loop: tests wait on conditions, never on
// fixed sleeps. Eventually fails the test when cond never holds; a caller with more to say uses Poll.
func Poll(timeout, every time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(every)
	}
}

// Eventually polls cond every 10ms (see Poll) until it is true, failing the test if timeout passes
// first, and returns how long it took.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := Poll(timeout, 10*time.Millisecond, cond)
	if !ok {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return took
}

// Serve listens on a free loopback port and hands each connection to handle, on a goroutine of its own,
// closing it when handle returns; when the test ends the listener closes and every handler is waited for
// (a handler must return once its client has gone). It returns the listener's host:port.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer conn.Close(); handle(conn) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// Listens reports whether something accepts TCP connections at addr (one dial, closed at once): the
// condition polled while a private server starts.
func Listens(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err == nil {
		_ = c.Close()
	}
	return err == nil
}

// EachParallel runs f on every case of a table as a parallel subtest named name(c): for tables whose
// cases are independent (their own proxies, servers and ports, no environment or package state) and
// spend their time waiting on a timeout, a backoff or a dependency, not on the CPU.
func EachParallel[C any](t *testing.T, cases []C, name func(C) string, f func(t *testing.T, c C)) {
	t.Helper()
	for _, c := range cases {
		t.Run(name(c), func(t *testing.T) {
			t.Parallel()
			f(t, c)
		})
	}
}

// Buffer is a bytes.Buffer safe to read while a command or a goroutine writes to it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
