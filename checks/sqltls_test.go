package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	run := sqlTLSRunner(t, "mysql")

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
	runSQLTLSCases(t, run, blockTLSCases(p, url, "mysql://mon:s3cr3t-pw@localhost:"+port+"/app"))
	runSQLTLSCases(t, run, []sqlTLSCase{
		{name: "trusted CA", url: url, tls: config.TLS{CAFile: p.ca}},
		{name: "trusted CA, the driver's DSN", url: "mon:s3cr3t-pw@tcp(" + addr + ")/app", tls: config.TLS{CAFile: p.ca}},
		{name: "trusted CA beside the URL's tls=true", url: url + "?tls=true", tls: config.TLS{CAFile: p.ca}},
		{name: "the URL's tls=true alone: system roots do not know the CA", url: url + "?tls=true", want: checks.TLS, hint: "tls.ca_file"},
		{name: "REQUIRE X509 user with a client certificate", url: "mysql://certmon@" + addr + "/app", tls: config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}},
		{name: "REQUIRE X509 user without one", url: "mysql://certmon@" + addr + "/app", tls: config.TLS{CAFile: p.ca}, want: checks.Auth, hint: "tls.cert_file"},
	})
	t.Run("pools: one per TLS block and the contents of its files", func(t *testing.T) {
		tlsPools(t, p, addr, func(addr string) string { return "mysql://mon:s3cr3t-pw@" + addr + "/app" }, run)
	})
	t.Run("an empty block: TLS with the system's CAs", func(t *testing.T) {
		emptyTLSBlock(t, "mysql", url) // not the plaintext refusal: the handshake's unknown authority
	})
}

// blockTLSCases are the tls block's cases every SQL kind shares: url dials the server by IP, localURL by
// localhost, a name its certificate holds.
func blockTLSCases(p *testPKI, url, localURL string) []sqlTLSCase {
	return []sqlTLSCase{
		{name: "unknown CA", url: url, tls: config.TLS{CAFile: p.otherCA}, want: checks.TLS, hint: "tls.ca_file"},
		{name: "insecure_skip_verify", url: url, tls: config.TLS{CAFile: p.otherCA, InsecureSkipVerify: true}},
		{name: "server_name mismatch", url: url, tls: config.TLS{CAFile: p.ca, ServerName: "db.example.com"}, want: checks.TLS, hint: "tls.server_name"},
		// Dialled by IP, verified as localhost.
		{name: "server_name the certificate holds", url: url, tls: config.TLS{CAFile: p.ca, ServerName: "localhost"}},
		{name: "URL host the certificate holds", url: localURL, tls: config.TLS{CAFile: p.ca}},
	}
}

// sqlTLSCase is one run of a check with a tls block against a server that speaks TLS only.
type sqlTLSCase struct {
	name string
	url  string
	tls  config.TLS // none written when zero
	want checks.Class
	hint string // the hint must contain it, when set
}

// sqlTLSRunner returns run: it builds a check of kind from url and tb and runs it once. No output may
// hold the tests' password.
func sqlTLSRunner(t *testing.T, kind string) func(url string, tb config.TLS) (*checks.Check, error) {
	return func(url string, tb config.TLS) (*checks.Check, error) {
		t.Helper()
		spec := map[string]any{"url": url}
		if tb.CAFile != "" || tb.ServerName != "" || tb.InsecureSkipVerify || tb.CertFile != "" {
			spec["tls"] = tb
		}
		ch := newCheckTimeout(t, config.Check{Type: kind, Spec: config.SpecOf(spec)}, generousTimeout)
		err, _ := runCheck(t, ch)
		if err != nil {
			t.Logf("%v (hint: %s)", err, ch.Hint(err))
		}
		if strings.Contains(err2s(err)+ch.Hint(err)+ch.Target, "s3cr3t") {
			t.Errorf("output leaks the password: %v", err)
		}
		return ch, err
	}
}

func runSQLTLSCases(t *testing.T, run func(url string, tb config.TLS) (*checks.Check, error), cases []sqlTLSCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := run(tc.url, tc.tls)
			assertClass(t, err, tc.want)
			if h := ch.Hint(err); tc.hint != "" && !strings.Contains(h, tc.hint) {
				t.Errorf("hint %q does not contain %q", h, tc.hint)
			}
		})
	}
}

// emptyTLSBlock: `tls: {}` turns TLS on with the system's CAs, which do not know the test's CA.
func emptyTLSBlock(t *testing.T, kind, url string) {
	t.Helper()
	c := yamlCheck(t, "checks:\n  - name: db\n    type: "+kind+"\n    url: "+url+"\n    tls: {}\n")
	ch := newCheckTimeout(t, c, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.TLS)
	if h := ch.Hint(err); !strings.Contains(h, "tls.ca_file") {
		t.Errorf("hint %q does not name tls.ca_file", h)
	}
}

func TestSQLTLSConfig(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name, typ, url string
		want           string // "" means builds
	}{
		{"mysql", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders", ""},
		{"mysql tls=true", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=true", ""},
		{"mysql DSN tls=1", "mysql", "app:s3cr3t-pw@tcp(db:3306)/orders?tls=1", ""},
		{"mysql tls=skip-verify", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=skip-verify", `healthgate.yaml:7:5: checks[0] "db": tls: a tls block and the url's tls=skip-verify say different things`},
		{"mysql tls=preferred", "mysql", "app:s3cr3t-pw@tcp(db:3306)/orders?tls=preferred", "the url's tls=preferred"},
		{"mysql tls=false", "mysql", "mysql://app:s3cr3t-pw@db:3306/orders?tls=false", "the url's tls=false"},
		{"mysql unix socket", "mysql", "app:s3cr3t-pw@unix(/run/mysqld/mysqld.sock)/orders", "this DSN connects by a unix socket"},
		{"postgres", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders", ""},
		{"postgres sslmode=verify-full", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslmode=verify-full", ""},
		{"postgres DSN", "postgres", "host=db user=app password=s3cr3t-pw dbname=orders", ""},
		{"postgres sslmode=require", "postgres", "postgres://app:s3cr3t-pw@db:5432/orders?sslmode=require", `healthgate.yaml:7:5: checks[0] "db": tls: a tls block and the url's sslmode=require both configure TLS`},
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
	addr, dir := startPrivatePostgres(t, "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n",
		"hostnossl all all 127.0.0.1/32 reject\nhostssl all healthgate 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\n",
		map[string]string{"server.crt": p.serverCert, "server.key": p.serverKey, "ca.crt": p.ca})
	_, port, _ := strings.Cut(addr, ":")
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable", dir, port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE ROLE healthgate LOGIN"); err != nil {
		t.Fatal(err)
	}
	return addr
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
	run := sqlTLSRunner(t, "postgres")
	runSQLTLSCases(t, run, blockTLSCases(p, url, "postgres://postgres@localhost:"+port+"/postgres"))
	runSQLTLSCases(t, run, []sqlTLSCase{
		{name: "no TLS: the server refuses plaintext", url: url + "?sslmode=disable", want: checks.Auth, hint: "add a tls block"},
		{name: "trusted CA", url: url, tls: config.TLS{CAFile: p.ca}},
		{name: "trusted CA, key=value DSN", url: "host=127.0.0.1 port=" + port + " user=postgres dbname=postgres", tls: config.TLS{CAFile: p.ca}},
		{name: "trusted CA beside sslmode=verify-full", url: url + "?sslmode=verify-full", tls: config.TLS{CAFile: p.ca}},
		{name: "libpq's parameters, without a block", url: url + "?sslmode=verify-full&sslrootcert=" + p.ca},
		// Without a block, the hints name libpq's parameters: the block's fields are not what the user wrote.
		{name: "libpq's parameters, unknown CA", url: url + "?sslmode=verify-full&sslrootcert=" + p.otherCA, want: checks.TLS, hint: "sslrootcert="},
		{name: "libpq's sslmode=verify-ca, unknown CA", url: url + "?sslmode=verify-ca&sslrootcert=" + p.otherCA, want: checks.TLS, hint: "sslrootcert="},
		{name: "libpq's sslmode=verify-full, the system's CAs", url: url + "?sslmode=verify-full", want: checks.TLS, hint: "sslrootcert="},
		// The first host refuses: the next one is tried, with the block's TLS (hostnossl would refuse it
		// in plaintext).
		{name: "second host of the URL, over TLS too", url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%s/postgres", checktest.FreePort(t), port), tls: config.TLS{CAFile: p.ca}},
		{name: "cert user with a client certificate", url: "postgres://healthgate@" + addr + "/postgres", tls: config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}},
		{name: "cert user without one", url: "postgres://healthgate@" + addr + "/postgres", tls: config.TLS{CAFile: p.ca}, want: checks.Auth, hint: "tls.cert_file"},
	})
	t.Run("pools: one per TLS block and the contents of its files", func(t *testing.T) {
		tlsPools(t, p, addr, func(addr string) string { return "postgres://postgres@" + addr + "/postgres" }, run)
	})
	t.Run("an empty block: TLS with the system's CAs", func(t *testing.T) {
		emptyTLSBlock(t, "postgres", url)
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

// TestPostgresFilesBounded: the files pgx reads while it parses a connection string (sslrootcert, sslcert,
// sslkey, passfile, servicefile, from the string, a service or the environment) are held to what
// healthgate reads of any file: a named pipe would block the parse, and with it a reload and the shutdown
// waiting for it, for ever; a device or a huge file would be read without bound. Each is a configuration
// error naming the parameter, at once.
func TestPostgresFilesBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, make([]byte, config.BundleFileLimit+1), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("not read: sslkey is refused first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	services := filepath.Join(dir, "pg_service.conf")
	if err := os.WriteFile(services, []byte("[x]\nhost=127.0.0.1\nsslmode=verify-full\nsslrootcert="+fifo+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "postgres://app:s3cr3t-pw@127.0.0.1:9/app"
	for _, tc := range []struct {
		name, url string
		env       map[string]string
		want      string
	}{
		{"sslrootcert a named pipe", base + "?sslmode=verify-full&sslrootcert=" + fifo, nil, "sslrootcert: cannot read " + fifo + ": not a regular file (a named pipe)"},
		{"sslrootcert too large", base + "?sslmode=verify-full&sslrootcert=" + huge, nil, "sslrootcert: cannot read " + huge + ": larger than 1 MiB"},
		{"sslkey a device", base + "?sslmode=require&sslcert=" + cert + "&sslkey=/dev/null", nil, "sslkey: cannot read /dev/null: not a regular file (a device)"},
		{"DSN", "host=127.0.0.1 password=s3cr3t-pw sslmode=verify-ca sslrootcert=" + fifo, nil, "sslrootcert: cannot read " + fifo},
		{"PGSSLROOTCERT", base + "?sslmode=verify-full", map[string]string{"PGSSLROOTCERT": fifo}, "sslrootcert: cannot read " + fifo},
		{"PGPASSFILE", "postgres://app@127.0.0.1:9/app?sslmode=disable", map[string]string{"PGPASSFILE": fifo}, "passfile: cannot read " + fifo},
		{"servicefile a named pipe", base + "?service=x&servicefile=" + fifo, nil, "servicefile: cannot read " + fifo},
		{"the service's sslrootcert", "postgres://app:s3cr3t-pw@/app?service=x&servicefile=" + services, nil, "sslrootcert: cannot read " + fifo},
		{"PGSERVICE and PGSERVICEFILE", base, map[string]string{"PGSERVICE": "x", "PGSERVICEFILE": services}, "sslrootcert: cannot read " + fifo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := config.NewCheck("db", "postgres", "test.yaml", config.NewDefaults())
			c.Spec = config.SpecOf(map[string]any{"url": tc.url})
			done := make(chan error, 1)
			go func() {
				ch, err := checks.New(c)
				if err == nil {
					ch.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v; want one saying %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error leaks the password: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("checks.New still reading after 10s (a named pipe read without bound)")
			}
		})
	}
}

// TestPostgresTLSBlockIgnoresPGSSLFiles: with a tls block, libpq's variables for TLS files
// (PGSSLROOTCERT, PGSSLCERT, PGSSLKEY) give way to it, as README "TLS" says: a file they name that is
// missing, not PEM or not a regular file (the app's own CA path in a shared image) is not read. pgx read
// them while it parsed the URL, and the check failed as "not a valid postgres URL". Without a block, they
// are libpq's settings, read as before.
func TestPostgresTLSBlockIgnoresPGSSLFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "root.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	build := func(url string, block bool) error {
		spec := map[string]any{"url": url}
		if block {
			spec["tls"] = config.TLS{ServerName: "db.internal"}
		}
		c := config.NewCheck("db", "postgres", "test.yaml", config.NewDefaults())
		c.Spec = config.SpecOf(spec)
		ch, err := checks.New(c)
		if err == nil {
			ch.Close()
		}
		return err
	}
	for _, env := range []map[string]string{
		{"PGSSLROOTCERT": filepath.Join(dir, "missing.crt")},
		{"PGSSLROOTCERT": notPEM},
		{"PGSSLROOTCERT": "/dev/zero"},
		{"PGSSLCERT": filepath.Join(dir, "missing.crt"), "PGSSLKEY": filepath.Join(dir, "missing.key")},
	} {
		t.Run(fmt.Sprint(env), func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			for _, url := range []string{
				"postgres://app@127.0.0.1:9/app",
				"postgres://app@127.0.0.1:9/app?sslmode=verify-full",
				"host=127.0.0.1 port=9 user=app dbname=app",
			} {
				if err := build(url, true); err != nil {
					t.Errorf("%s with a tls block: %v; want the variables ignored", url, err)
				}
			}
			if err := build("postgres://app@127.0.0.1:9/app", false); err == nil {
				t.Error("without a tls block: no error; want libpq's variables read (this test's files are bad)")
			}
		})
	}
}
