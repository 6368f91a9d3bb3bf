package checktest

import (
	"fmt"
	"testing"
	"time"
)

// StartHAProxy starts a private HAProxy (Debian's haproxy) in TCP mode on a free loopback port, in front
// of the one server at server (host:port; a Proxy's address, to cut it), stopped when the test ends, and
// returns its host:port. This is how HAProxy fronts Postgres, MySQL and Redis for a service (Patroni's and
// Galera's usual setups): a TCP health check every 200 ms marks the server down after one failure and up
// after one success (inter 200ms fall 1 rise 1; HAProxy's defaults are 2 s, 3 and 2), and its sessions are
// shut when it goes down (on-marked-down shutdown-sessions), so a test sees the outcome soon.
func StartHAProxy(t testing.TB, server string) string {
	t.Helper()
	dir := t.TempDir()
	return daemon{name: "haproxy", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond,
		args: func(listen string) []string {
			text := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 500ms
    timeout client 30s
    timeout server 30s
    retries 1
frontend front
    bind 127.0.0.1:%s
    default_backend servers
backend servers
    server one %s check inter 200ms fall 1 rise 1 on-marked-down shutdown-sessions
`, listen, server)
			// -db: in the foreground, no daemon
			return []string{"-db", "-f", writeFile(t, dir, "haproxy-"+listen+".cfg", text)}
		},
		answers: Listens,
	}.start(t)
}
