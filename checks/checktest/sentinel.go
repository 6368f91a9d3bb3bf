package checktest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// StartRedis starts a private redis-server on a free loopback port, with no persistence and args added
// (--replicaof HOST PORT for a replica), stopped when the test ends, and returns its host:port.
func StartRedis(t testing.TB, args ...string) string {
	t.Helper()
	return startRedis(t, nil, args)
}

// RedisTLS is the TLS side of a private Redis or Sentinel: PEM files of its certificate and key, and of
// the CA it trusts (for client certificates, and for the servers it connects to itself).
type RedisTLS struct {
	Cert, Key, CA string
	AuthClients   string // tls-auth-clients: yes, no or optional; "" is no
}

// directives are r's configuration: TLS only (port 0) on port, TLS for replication and for Sentinel's
// connections to the master too.
func (r RedisTLS) directives(port string) [][2]string {
	auth := r.AuthClients
	if auth == "" {
		auth = "no"
	}
	return [][2]string{{"port", "0"}, {"tls-port", port}, {"tls-cert-file", r.Cert}, {"tls-key-file", r.Key},
		{"tls-ca-cert-file", r.CA}, {"tls-auth-clients", auth}, {"tls-replication", "yes"}}
}

// StartRedisTLS is StartRedis for a redis-server that speaks only TLS, as tls says (a replica given
// --replicaof replicates over TLS).
func StartRedisTLS(t testing.TB, tls RedisTLS, args ...string) string {
	t.Helper()
	return startRedis(t, &tls, args)
}

func startRedis(t testing.TB, tls *RedisTLS, args []string) string {
	t.Helper()
	dir := t.TempDir()
	return daemon{name: "redis-server", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond,
		args: func(port string) []string {
			line := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
			if tls != nil {
				for _, d := range tls.directives(port) {
					line = append(line, "--"+d[0], d[1])
				}
			}
			return append(line, args...)
		},
		answers: Listens,
	}.start(t)
}

// SentinelMaster is the name of the master StartRedisSentinel's Sentinel watches.
const SentinelMaster = "mymaster"

// StartRedisSentinel starts a private Redis Sentinel (redis-server --sentinel) on a free loopback port
// that watches master (host:port; a Proxy's address, to cut it) as SentinelMaster, alone (quorum 1), and
// fails over to one of its replicas two seconds after it stops answering (down-after-milliseconds 2000,
// failover-timeout 2 s: Sentinel's defaults are 30 s and 3 min; shorter, one PING slow on a loaded machine
// can fail over a master that is up). Stopped when the test ends; returns its host:port. Sentinel
// rewrites its configuration file, which lives in the test's directory.
func StartRedisSentinel(t testing.TB, master string) string {
	t.Helper()
	return startSentinel(t, master, nil)
}

// StartRedisSentinelTLS is StartRedisSentinel for a Sentinel that speaks only TLS, to its clients and to
// the master and replicas it watches (tls-replication).
func StartRedisSentinelTLS(t testing.TB, master string, tls RedisTLS) string {
	t.Helper()
	return startSentinel(t, master, &tls)
}

func startSentinel(t testing.TB, master string, tls *RedisTLS) string {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return daemon{name: "redis-server", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond,
		args: func(listen string) []string {
			text := fmt.Sprintf(`port %s
bind 127.0.0.1
dir %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %s 2000
sentinel failover-timeout %s 2000
`, listen, dir, SentinelMaster, host, port, SentinelMaster, SentinelMaster)
			if tls != nil {
				for _, d := range tls.directives(listen) {
					text += d[0] + " " + d[1] + "\n"
				}
			}
			return []string{writeFile(t, dir, "sentinel-"+listen+".conf", text), "--sentinel"}
		},
		answers: Listens,
	}.start(t)
}
