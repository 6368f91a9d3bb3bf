package checktest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// PgBouncerOptions configure a private PgBouncer.
type PgBouncerOptions struct {
	// PoolMode is PgBouncer's pool_mode: session, or transaction (a server connection per transaction,
	// where a prepared statement does not outlive its transaction), the mode poolers run in front of
	// busy services.
	PoolMode string
	// Databases are the database names PgBouncer knows ([databases]); none: every name, passed on.
	Databases []string
	// MaxClientConn bounds the clients PgBouncer takes at once (max_client_conn; 0: its default, 100).
	MaxClientConn int
}

// StartPgBouncer starts a private PgBouncer (Debian's pgbouncer) on a free loopback port in front of the
// Postgres at server (host:port; a Proxy's address, to cut the database behind the pooler), stopped when
// the test ends, and returns its host:port. Its one user, postgres, is taken without a password
// (auth_type trust), as the server's trust authentication takes it. PgBouncer retries a server login
// that failed after a second (server_login_retry, 15 s by default), and makes a client wait at most 5 s
// for a server connection (query_wait_timeout, 120 s), so a test sees its errors soon.
func StartPgBouncer(t testing.TB, server string, o PgBouncerOptions) string {
	t.Helper()
	Binary(t, "pgbouncer")
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		t.Fatal(err)
	}
	// PgBouncer refuses to run as root; it drops to nobody (-u) after reading its files, and writes none
	// (no logfile, pidfile or Unix socket).
	dir := readableTempDir(t, "healthgate-pgbouncer-")
	users := writeFile(t, dir, "users.txt", `"postgres" ""`+"\n")
	databases := "* = host=" + host + " port=" + port + "\n"
	if len(o.Databases) > 0 {
		databases = ""
		for _, db := range o.Databases {
			databases += db + " = host=" + host + " port=" + port + "\n"
		}
	}
	if o.MaxClientConn == 0 {
		o.MaxClientConn = 100
	}
	return daemon{name: "pgbouncer", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond,
		args: func(listen string) []string {
			conf := fmt.Sprintf(`[databases]
%s[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
max_client_conn = %d
default_pool_size = 2
server_login_retry = 1
query_wait_timeout = 5
`, databases, listen, users, o.PoolMode, o.MaxClientConn)
			return []string{"-u", "nobody", writeFile(t, dir, "pgbouncer-"+listen+".ini", conf)}
		},
		answers: Listens,
	}.start(t)
}
