package checks_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// startPostgres starts a private Postgres (no TLS) on a free loopback port, as the postgres user, with
// conf added to postgresql.conf and hba as its pg_hba.conf (local connections are always trusted), and
// stops it when the test ends. It returns the TCP address and the socket directory. The shared server
// is never reconfigured.
func startPostgres(t *testing.T, conf, hba string) (addr, socketDir string) {
	t.Helper()
	return startPrivatePostgres(t, "ssl = off\n"+conf, hba, nil)
}

// startPrivatePostgres is startPostgres with files (a name in the data directory → the file to copy
// there, owned by the postgres user, mode 0600: a server certificate and key) and no ssl setting of its
// own.
func startPrivatePostgres(t *testing.T, conf, hba string, files map[string]string) (addr, socketDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no private Postgres")
	}
	bin := postgresBin(t)
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		unavailable(t, "no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "healthgate-pgsrv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		unavailable(t, "cannot hand a directory to the postgres user (not root?): %v", err)
	}
	runAs := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	data := filepath.Join(dir, "data")
	runAs("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	// The server reads a key only when the postgres user owns it, mode 0600.
	for to, from := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to = filepath.Join(data, to)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(to, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port := checktest.FreePort(t)
	appendFile(t, filepath.Join(data, "postgresql.conf"), fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\n%s\n", port, dir, conf))
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte("local all all trust\n"+hba), 0o600); err != nil {
		t.Fatal(err)
	}
	runAs("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return fmt.Sprintf("127.0.0.1:%d", port), dir
}

// TestPostgresHbaRefusal: pg_hba.conf refuses a user (no line for it, or a reject line) on a server that
// speaks no TLS. Under sslmode=prefer (the default) the server refused TLS first, so hostssl is not why:
// the hint said to add a tls block, which would then fail on a server without TLS; it says pg_hba.conf
// lets this host, user and database in by no line, and that the password is not the problem. Without a
// TLS attempt (sslmode=disable) the server may want TLS (hostssl), and the hint says both.
func TestPostgresHbaRefusal(t *testing.T) {
	addr, _ := startPostgres(t, "", "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n")
	for _, tc := range []struct{ name, url, hint, not string }{
		{"sslmode=prefer, TLS refused", "postgres://app:s3cr3t-pw@" + addr + "/postgres", "the server's pg_hba.conf lets this user into this database from this host by no line", "tls block"},
		{"sslmode=disable", "postgres://app:s3cr3t-pw@" + addr + "/postgres?sslmode=disable", "if the server has no TLS, pg_hba.conf lets this host, user and database in by no line", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Auth, tc.hint, "s3cr3t-pw")
			if tc.not != "" && strings.Contains(ch.Hint(err), tc.not) {
				t.Errorf("hint %q names a %s, to a server that refused TLS", ch.Hint(err), tc.not)
			}
		})
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://postgres@" + addr + "/postgres"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
	// TLS required of a server without it: the server's "no" is said, where the hint spoke of a CA and a
	// server name, which no certificate could fix.
	for _, tc := range []struct {
		name string
		spec map[string]any
		hint string
	}{
		{"sslmode=require", map[string]any{"url": "postgres://postgres:s3cr3t-pw@" + addr + "/postgres?sslmode=require"}, "the server takes no TLS (it answered the TLS request with no: ssl = off in postgresql.conf, or a pooler such as PgBouncer without TLS set up), and sslmode in url requires it"},
		{"a tls block", map[string]any{"url": "postgres://postgres:s3cr3t-pw@" + addr + "/postgres", "tls": config.TLS{InsecureSkipVerify: true}}, "and the tls block requires it: enable TLS on the server, or remove the tls block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(tc.spec)}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.TLS, tc.hint, "s3cr3t-pw")
		})
	}
}

// TestPostgresTooManyConnections: a server whose connection slots are all taken, or a role at its
// CONNECTION LIMIT, answers 53300. That does not clear by itself as a start or a stop does: other
// sessions hold the slots. The hint said "starting, shutting down, loading data: it should clear by
// itself"; it says who holds what, and where to look.
func TestPostgresTooManyConnections(t *testing.T) {
	addr, _ := startPostgres(t, "max_connections = 4\nsuperuser_reserved_connections = 1", "host all all 127.0.0.1/32 trust\n")
	url := func(user string) string { return "postgres://" + user + "@" + addr + "/postgres?sslmode=disable" }
	admin := connect(t, url("postgres"))
	if _, err := admin.Exec(t.Context(), "CREATE ROLE capped LOGIN CONNECTION LIMIT 0; CREATE ROLE plain LOGIN"); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, user string) {
		t.Helper()
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url(user)})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "has no connection left for this user: other sessions hold every slot of max_connections", "no secret here")
	}
	t.Run("role at its connection limit", func(t *testing.T) { check(t, "capped") })
	t.Run("every slot taken", func(t *testing.T) {
		connect(t, url("postgres"))
		connect(t, url("postgres")) // with admin's, every slot but the superusers' reserved one
		check(t, "plain")           // "remaining connection slots are reserved for ... superuser connections"
	})
}

// TestPostgresNoConnectPrivilege: a role that may log in but has no CONNECT privilege on the database
// (revoked from PUBLIC) is refused at the login with 42501, "permission denied for database": auth, with a
// hint that names the privilege. It was query, "check the SQL", of a run that ran none. A role without
// LOGIN (CREATE ROLE makes one so, CREATE USER does not; a group role) is refused with 28000 after its
// password was taken: its hint said to check the user, password and database; it names the attribute.
func TestPostgresNoConnectPrivilege(t *testing.T) {
	addr, _ := startPostgres(t, "", "host all all 127.0.0.1/32 trust\n")
	admin := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	for _, q := range []string{"CREATE ROLE app LOGIN", "CREATE DATABASE orders", "REVOKE CONNECT ON DATABASE orders FROM PUBLIC", "CREATE ROLE readers"} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://app:s3cr3t-pw@" + addr + "/orders?sslmode=disable"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Auth, "no CONNECT privilege", "s3cr3t-pw")
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://readers:s3cr3t-pw@" + addr + "/postgres?sslmode=disable"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Auth, "may not log in (NOLOGIN", "s3cr3t-pw")
	// A query the role may not run is the query's: query still.
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://app@" + addr + "/postgres?sslmode=disable", "query": "SELECT * FROM pg_authid"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Query, "", "no secret here")
}

// TestPostgresDatabaseNotAccepting: a database whose ALLOW_CONNECTIONS is false (an administrator's or a
// tool's, for maintenance, a restore, a DROP to come; template0's always) refuses every login with FATAL
// 55000, "is not currently accepting connections". That was query, "check the SQL and the role's
// permissions", of a run that ran none; it is not_ready, with a hint that names the setting.
func TestPostgresDatabaseNotAccepting(t *testing.T) {
	addr, _ := startPostgres(t, "", "host all all 127.0.0.1/32 trust\n")
	admin := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE orders ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://postgres:s3cr3t-pw@" + addr + "/orders?sslmode=disable"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.NotReady, "ALLOW_CONNECTIONS", "s3cr3t-pw")
	if _, err := admin.Exec(t.Context(), "ALTER DATABASE orders WITH ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
	// A query's own 55000 (here: currval before nextval in the session) is the query's: query still.
	if _, err := admin.Exec(t.Context(), "CREATE SEQUENCE healthgate_seq"); err != nil {
		t.Fatal(err)
	}
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://postgres@" + addr + "/postgres?sslmode=disable", "query": "SELECT currval('healthgate_seq')"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Query, "", "no secret here")
}

// TestPostgresNoPasswordGiven: a server that asks for a password (scram-sha-256, md5, password) of a
// check whose URL gives none (and no PGPASSWORD or passfile line does) answers 28P01, "password
// authentication failed", as for a wrong one: the hint said to check the user, password and database; it
// says none was given, as Redis's NOAUTH does. A wrong password keeps the hint that says to check it.
func TestPostgresNoPasswordGiven(t *testing.T) {
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none")) // no ~/.pgpass of the machine's
	addr, _ := startPostgres(t, "", "host all postgres 127.0.0.1/32 trust\nhost all plain 127.0.0.1/32 password\nhost all all 127.0.0.1/32 scram-sha-256\n")
	admin := connect(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	for _, q := range []string{"CREATE ROLE app LOGIN PASSWORD 's3cr3t-pw'", "CREATE ROLE plain LOGIN PASSWORD 's3cr3t-pw'"} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatal(q, err)
		}
	}
	port := strings.TrimPrefix(addr, "127.0.0.1:")
	for _, tc := range []struct{ name, url, hint string }{
		{"scram, url", "postgres://app@" + addr + "/postgres?sslmode=disable", "this check gives none"},
		{"scram, key=value DSN", "host=127.0.0.1 port=" + port + " user=app dbname=postgres sslmode=disable", "this check gives none"},
		{"password", "postgres://plain@" + addr + "/postgres?sslmode=disable", "this check gives none"},
		{"scram, wrong password", "postgres://app:wr0ng-pw@" + addr + "/postgres?sslmode=disable", "check the user, password and database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Auth, tc.hint, "wr0ng-pw")
		})
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://app:s3cr3t-pw@" + addr + "/postgres?sslmode=disable"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
}
