package checks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestPooledConnectionSevered: a dependency restart closes the connection a check keeps in its pool.
// The first run after it must not be "unknown": the dead pooled connection is a reset, and the retry
// on a fresh connection then says what the dependency is doing now (nothing listens: refused; it
// accepts and resets: reset).
func TestPooledConnectionSevered(t *testing.T) {
	pg, rd, my := checktest.PostgresURL(t), checktest.RedisURL(t), checktest.MySQLURL(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(web.Close)
	grpcAddr, _ := startGRPC(t, true, nil)
	for _, kind := range []struct {
		typ, url string
		address  bool // the target is an address field (host:port), not a url
	}{{"postgres", pg, false}, {"mysql", my, false}, {"redis", rd, false}, {"http", web.URL + "/healthz", false},
		{"amqp", checktest.AMQPURL(t), false}, {"nats", checktest.NATSURL(t), false}, {"mqtt", checktest.MQTTURL(t), false},
		{"memcached", checktest.MemcachedAddr(t), true}, {"grpc", grpcAddr, true}} {
		for _, tc := range []struct {
			mode checktest.Mode
			want checks.Class
		}{
			{checktest.Refuse, checks.Refused},
			{checktest.Reset, checks.Reset},
		} {
			t.Run(kind.typ+"/"+tc.mode.String(), func(t *testing.T) {
				for try := range 3 { // it was classified unknown 3 times out of 3 before the fix
					var p *checktest.Proxy
					var spec map[string]any
					if kind.address {
						p = checktest.NewProxy(t, kind.url)
						spec = map[string]any{"address": p.Addr()}
					} else {
						p = checktest.NewProxy(t, checktest.HostPort(t, kind.url))
						spec = map[string]any{"url": checktest.WithHost(t, kind.url, p.Addr())}
					}
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
