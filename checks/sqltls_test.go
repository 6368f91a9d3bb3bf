package checks_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// yamlCheck is the one check of a configuration file's text: a tls block decoded as from a file, its
// lines known (an empty tls: {} is written, and so turns TLS on).
func yamlCheck(t *testing.T, text string) config.Check {
	t.Helper()
	cfg, err := config.Parse("healthgate.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(cfg.Checks) != 1 {
		t.Fatalf("%d checks; want 1", len(cfg.Checks))
	}
	return cfg.Checks[0]
}

// startMariaDBTLS starts a private MariaDB (grant tables in force) serving the PKI's server
// certificate, trusting its CA for client certificates, and refusing every connection over TCP that
// is not TLS (require_secure_transport): a check that passes there spoke TLS. The shared MariaDB has
// no SSL (have_ssl DISABLED) and is never reconfigured. It returns the TCP address and a root
// connection through the unix socket.
func startMariaDBTLS(t *testing.T, p *testPKI) (addr string, root func(stmts ...string)) {
	t.Helper()
	addr, sock := startMariaDBWith(t, true, true, "--ssl-cert="+p.serverCert, "--ssl-key="+p.serverKey,
		"--ssl-ca="+p.ca, "--require-secure-transport=ON")
	db := openMySQLNet(t, "unix", sock)
	return addr, func(stmts ...string) { t.Helper(); mustExec(t, db, stmts...) }
}

// TestMySQLTLS runs mysql checks with a tls block against a real MariaDB that speaks TLS.
func TestMySQLTLS(t *testing.T) {
	p := newPKI(t)
	addr, root := startMariaDBTLS(t, p)
	// mon may connect over TLS only, certmon with a client certificate only: each pass below is the
	// server's own word that the check spoke TLS.
	root("CREATE DATABASE app",
		"CREATE USER 'mon'@'%' IDENTIFIED BY 's3cr3t-pw' REQUIRE SSL", "GRANT SELECT ON app.* TO 'mon'@'%'",
		"CREATE USER 'certmon'@'%' REQUIRE X509", "GRANT SELECT ON app.* TO 'certmon'@'%'")
	_, port, _ := strings.Cut(addr, ":")
	url := "mysql://mon:s3cr3t-pw@" + addr + "/app"
	run := func(url string, tb config.TLS) (*checks.Check, error) {
		t.Helper()
		spec := map[string]any{"url": url}
		if tb.CAFile != "" || tb.ServerName != "" || tb.InsecureSkipVerify || tb.CertFile != "" {
			spec["tls"] = tb
		}
		ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(spec)}, generousTimeout)
		err, _ := runCheck(t, ch)
		if err != nil {
			t.Logf("%v (hint: %s)", err, ch.Hint(err))
		}
		if strings.Contains(err2s(err)+ch.Hint(err)+ch.Target, "s3cr3t") {
			t.Errorf("output leaks the password: %v", err)
		}
		return ch, err
	}

	t.Run("no TLS: the server refuses plaintext", func(t *testing.T) {
		// MariaDB says access denied (1045), in the words of a wrong password; MySQL says 3159.
		ch, err := run(url, config.TLS{})
		if c := checks.ClassOf(err); c != checks.Auth && c != checks.TLS {
			t.Fatalf("class %q (%v); want auth (MariaDB's 1045) or tls (MySQL's 3159)", c, err)
		}
		if h := ch.Hint(err); !strings.Contains(h, "add a tls block") {
			t.Errorf("hint %q does not say to add a tls block", h)
		}
	})
	t.Run("trusted CA", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("trusted CA, the driver's DSN", func(t *testing.T) {
		_, err := run("mon:s3cr3t-pw@tcp("+addr+")/app", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("trusted CA beside the URL's tls=true", func(t *testing.T) {
		_, err := run(url+"?tls=true", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("the URL's tls=true alone: system roots do not know the CA", func(t *testing.T) {
		ch, err := run(url+"?tls=true", config.TLS{})
		assertClass(t, err, checks.TLS)
		if h := ch.Hint(err); !strings.Contains(h, "tls.ca_file") {
			t.Errorf("hint %q does not name tls.ca_file", h)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.otherCA})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.ca_file")
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.otherCA, InsecureSkipVerify: true})
		assertClass(t, err, "")
	})
	t.Run("server_name mismatch", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.ca, ServerName: "db.example.com"})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.server_name")
	})
	t.Run("server_name the certificate holds", func(t *testing.T) {
		// Dialled by IP, verified as localhost.
		_, err := run(url, config.TLS{CAFile: p.ca, ServerName: "localhost"})
		assertClass(t, err, "")
	})
	t.Run("URL host the certificate holds", func(t *testing.T) {
		_, err := run("mysql://mon:s3cr3t-pw@localhost:"+port+"/app", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("REQUIRE X509 user with a client certificate", func(t *testing.T) {
		_, err := run("mysql://certmon@"+addr+"/app", config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey})
		assertClass(t, err, "")
	})
	t.Run("REQUIRE X509 user without one", func(t *testing.T) {
		ch, err := run("mysql://certmon@"+addr+"/app", config.TLS{CAFile: p.ca})
		assertClass(t, err, checks.Auth)
		if h := ch.Hint(err); !strings.Contains(h, "tls.cert_file") {
			t.Errorf("hint %q does not name tls.cert_file", h)
		}
	})
	t.Run("pools: one per TLS block and the contents of its files", func(t *testing.T) {
		tlsPools(t, p, addr, func(addr string) string { return "mysql://mon:s3cr3t-pw@" + addr + "/app" }, run)
	})
	t.Run("an empty block: TLS with the system's CAs", func(t *testing.T) {
		c := yamlCheck(t, "checks:\n  - name: db\n    type: mysql\n    url: "+url+"\n    tls: {}\n")
		ch := newCheckTimeout(t, c, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.TLS) // not the plaintext refusal: the handshake's unknown authority
		if h := ch.Hint(err); !strings.Contains(h, "tls.ca_file") {
			t.Errorf("hint %q does not name tls.ca_file", h)
		}
	})
}

// TestSQLTLSConfig: the tls block of mysql and postgres is refused beside a URL parameter that says
// something else, and on a unix socket, each error at the tls block's line and naming both.
func TestSQLTLSConfig(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name, typ, url string
		want           string // "" means builds
	}{
		{"mysql", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders", ""},
		{"mysql tls=true", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=true", ""},
		{"mysql DSN tls=1", "mysql", "app:s3cr3t-pw@tcp(db:3306)/orders?tls=1", ""},
		{"mysql tls=skip-verify", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=skip-verify", `healthgate.yaml:7: checks[0] "db": tls: a tls block and the url's tls=skip-verify say different things`},
		{"mysql tls=preferred", "mysql", "app:s3cr3t-pw@tcp(db:3306)/orders?tls=preferred", "the url's tls=preferred"},
		{"mysql tls=false", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=false", "the url's tls=false"},
		{"mysql unix socket", "mysql", "app:s3cr3t-pw@unix(/run/mysqld/mysqld.sock)/orders", "this DSN connects by a unix socket"},
		{"postgres", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders", ""},
		{"postgres sslmode=verify-full", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslmode=verify-full", ""},
		{"postgres DSN", "postgres", "host=db user=app password=s3cr3t-pw dbname=orders", ""},
		{"postgres sslmode=require", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslmode=require", `healthgate.yaml:7: checks[0] "db": tls: a tls block and the url's sslmode=require both configure TLS`},
		{"postgres DSN sslmode=disable", "postgres", "host=db user=app password=s3cr3t-pw sslmode=disable", "the url's sslmode=disable"},
		{"postgres sslrootcert", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslmode=verify-full&sslrootcert=" + p.ca, "remove sslrootcert from the url"},
		{"postgres sslcert and sslkey", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslcert=" + p.clientCert + "&sslkey=" + p.clientKey, "the url's sslcert"},
		{"postgres unix socket", "postgres", "postgres://app:s3cr3t-pw@%2Frun%2Fpostgresql/orders", "unix socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "checks:\n  - name: db\n    type: " + tc.typ + "\n    url: \"" + tc.url + "\"\n    timeout: 1s\n    interval: 5s\n    tls:\n      ca_file: " + p.ca + "\n"
			ch, err := checks.New(yamlCheck(t, text))
			if err == nil {
				ch.Close()
			}
			if tc.want == "" && err != nil {
				t.Fatalf("build: %v; want no error", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("build error %v; want one containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error leaks the password: %v", err)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startPostgresTLS starts a private Postgres serving the PKI's server certificate, trusting its CA for
// client certificates, and taking TCP connections over TLS only (pg_hba.conf: hostnossl reject): a
// check that passes there spoke TLS. The role healthgate (the client certificate's CN) must present a
// certificate (the cert method). The shared Postgres is never reconfigured. It returns the TCP address.
func startPostgresTLS(t *testing.T, p *testPKI) string {
	t.Helper()
	bin := postgresBin(t)
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		unavailable(t, "no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "healthgate-pgtls-")
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
	// The server reads its key only when the postgres user owns it, mode 0600.
	for _, f := range []struct{ from, to string }{{p.serverCert, "server.crt"}, {p.serverKey, "server.key"}, {p.ca, "ca.crt"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(data, f.to)
		writeFile(t, to, b)
		if err := os.Chown(to, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	appendFile(t, filepath.Join(data, "postgresql.conf"), fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\n"+
		"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n", port, dir))
	hba := "local all all trust\nhostnossl all all 127.0.0.1/32 reject\nhostssl all healthgate 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	runAs("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE ROLE healthgate LOGIN"); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestPostgresTLS runs postgres checks with a tls block against a real Postgres that speaks TLS.
func TestPostgresTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no private Postgres")
	}
	p := newPKI(t)
	addr := startPostgresTLS(t, p)
	_, port, _ := strings.Cut(addr, ":")
	url := "postgres://postgres@" + addr + "/postgres"
	run := func(url string, tb config.TLS) (*checks.Check, error) {
		t.Helper()
		spec := map[string]any{"url": url}
		if tb.CAFile != "" || tb.ServerName != "" || tb.InsecureSkipVerify || tb.CertFile != "" {
			spec["tls"] = tb
		}
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(spec)}, generousTimeout)
		err, _ := runCheck(t, ch)
		if err != nil {
			t.Logf("%v (hint: %s)", err, ch.Hint(err))
		}
		return ch, err
	}
	hint := func(t *testing.T, ch *checks.Check, err error, what string) {
		t.Helper()
		if h := ch.Hint(err); !strings.Contains(h, what) {
			t.Errorf("hint %q does not contain %q", h, what)
		}
	}

	t.Run("no TLS: the server refuses plaintext", func(t *testing.T) {
		ch, err := run(url+"?sslmode=disable", config.TLS{})
		assertClass(t, err, checks.Auth)
		hint(t, ch, err, "add a tls block")
	})
	t.Run("trusted CA", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("trusted CA, key=value DSN", func(t *testing.T) {
		_, err := run("host=127.0.0.1 port="+port+" user=postgres dbname=postgres", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("trusted CA beside sslmode=verify-full", func(t *testing.T) {
		_, err := run(url+"?sslmode=verify-full", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("libpq's parameters, without a block", func(t *testing.T) {
		_, err := run(url+"?sslmode=verify-full&sslrootcert="+p.ca, config.TLS{})
		assertClass(t, err, "")
	})
	t.Run("unknown CA", func(t *testing.T) {
		ch, err := run(url, config.TLS{CAFile: p.otherCA})
		assertClass(t, err, checks.TLS)
		hint(t, ch, err, "tls.ca_file")
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.otherCA, InsecureSkipVerify: true})
		assertClass(t, err, "")
	})
	t.Run("server_name mismatch", func(t *testing.T) {
		ch, err := run(url, config.TLS{CAFile: p.ca, ServerName: "db.example.com"})
		assertClass(t, err, checks.TLS)
		hint(t, ch, err, "tls.server_name")
	})
	t.Run("server_name the certificate holds", func(t *testing.T) {
		_, err := run(url, config.TLS{CAFile: p.ca, ServerName: "localhost"})
		assertClass(t, err, "")
	})
	t.Run("URL host the certificate holds", func(t *testing.T) {
		_, err := run("postgres://postgres@localhost:"+port+"/postgres", config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("second host of the URL, over TLS too", func(t *testing.T) {
		// The first host refuses: the next one is tried, with the block's TLS (hostnossl would refuse
		// it in plaintext).
		_, err := run(fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%s/postgres", freePort(t), port), config.TLS{CAFile: p.ca})
		assertClass(t, err, "")
	})
	t.Run("cert user with a client certificate", func(t *testing.T) {
		_, err := run("postgres://healthgate@"+addr+"/postgres", config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey})
		assertClass(t, err, "")
	})
	t.Run("cert user without one", func(t *testing.T) {
		ch, err := run("postgres://healthgate@"+addr+"/postgres", config.TLS{CAFile: p.ca})
		assertClass(t, err, checks.Auth)
		hint(t, ch, err, "tls.cert_file")
	})
	t.Run("pools: one per TLS block and the contents of its files", func(t *testing.T) {
		tlsPools(t, p, addr, func(addr string) string { return "postgres://postgres@" + addr + "/postgres" }, run)
	})
	t.Run("an empty block: TLS with the system's CAs", func(t *testing.T) {
		c := yamlCheck(t, "checks:\n  - name: db\n    type: postgres\n    url: "+url+"\n    tls: {}\n")
		ch := newCheckTimeout(t, c, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.TLS)
		hint(t, ch, err, "tls.ca_file")
	})
}

// tlsPools: checks of one URL and tls block share a pool; a check built after the block's CA file was
// rewritten (a renewed certificate), or with another server_name, has a pool of its own. run builds
// and runs a check of the URL that url makes of an address.
func tlsPools(t *testing.T, p *testPKI, addr string, url func(addr string) string, run func(url string, tb config.TLS) (*checks.Check, error)) {
	t.Helper()
	px := checktest.NewProxy(t, addr)
	u := url(px.Addr())
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pem, err := os.ReadFile(p.ca)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, ca, pem)
	tb := config.TLS{CAFile: ca}
	_, err = run(u, tb)
	assertClass(t, err, "")
	opened := px.Accepted()
	_, err = run(u, tb)
	assertClass(t, err, "")
	if px.Accepted() != opened {
		t.Fatal("a second check of the same URL and tls block opened a connection; want the shared pool's")
	}
	// The same CA file renewed (other bytes): a check built now has a pool of its own.
	writeFile(t, ca, append(append([]byte("# renewed\n"), pem...), '\n'))
	_, err = run(u, tb)
	assertClass(t, err, "")
	if px.Accepted() == opened {
		t.Fatal("a check built after its CA file changed joined the pool built with the old one")
	}
	opened = px.Accepted()
	_, err = run(u, config.TLS{CAFile: ca, ServerName: "localhost"})
	assertClass(t, err, "")
	if px.Accepted() == opened {
		t.Fatal("a check with another server_name joined another block's pool")
	}
}
