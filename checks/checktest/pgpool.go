package checktest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// StartPgpool starts a private Pgpool-II (Debian's pgpool2; the pooler of Bitnami's postgresql-ha chart)
// on a free loopback port in front of the one Postgres at server (host:port; a Proxy's address, to cut the
// database behind it), stopped when the test ends, and returns its host:port. It pools and passes
// everything on (raw mode: no load balancing, no failover, no health check of its own), with its
// sockets, pid file and logs in a directory of the test's, and 4 client processes.
func StartPgpool(t testing.TB, server string) string {
	t.Helper()
	Binary(t, "pgpool")
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pcp := writeFile(t, dir, "pcp.conf", "")
	return daemon{name: "pgpool", tries: 5, wait: 15 * time.Second, every: 50 * time.Millisecond,
		args: func(listen string) []string {
			text := fmt.Sprintf(`listen_addresses = '127.0.0.1'
port = %s
unix_socket_directories = '%s'
pcp_listen_addresses = ''
pcp_socket_dir = '%s'
pid_file_name = '%s/pgpool-%s.pid'
logdir = '%s'
backend_clustering_mode = 'raw'
backend_hostname0 = '%s'
backend_port0 = %s
backend_flag0 = 'DISALLOW_TO_FAILOVER'
enable_pool_hba = off
num_init_children = 4
max_pool = 2
health_check_period = 0
sr_check_period = 0
failover_on_backend_error = off
memory_cache_enabled = off
`, listen, dir, dir, dir, listen, dir, host, port)
			return []string{"-n", "-f", writeFile(t, dir, "pgpool-"+listen+".conf", text), "-F", pcp}
		},
		answers: Listens,
	}.start(t)
}
