package checks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		// MariaDB says access denied (MySQL: 3159), in the words of a wrong password.
		ch, err := run(url, config.TLS{})
		assertClass(t, err, checks.Auth)
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
		px := checktest.NewProxy(t, addr)
		url := "mysql://mon:s3cr3t-pw@" + px.Addr() + "/app"
		ca := filepath.Join(t.TempDir(), "ca.pem")
		pem, err := os.ReadFile(p.ca)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, ca, pem)
		tb := config.TLS{CAFile: ca}
		_, err = run(url, tb)
		assertClass(t, err, "")
		opened := px.Accepted()
		_, err = run(url, tb)
		assertClass(t, err, "")
		if px.Accepted() != opened {
			t.Fatal("a second check of the same URL and tls block opened a connection; want the shared pool's")
		}
		// The same CA file renewed (other bytes): a check built now has a pool of its own.
		writeFile(t, ca, append(append([]byte("# renewed\n"), pem...), '\n'))
		_, err = run(url, tb)
		assertClass(t, err, "")
		if px.Accepted() == opened {
			t.Fatal("a check built after its CA file changed joined the pool built with the old one")
		}
		opened = px.Accepted()
		_, err = run(url, config.TLS{CAFile: ca, ServerName: "localhost"})
		assertClass(t, err, "")
		if px.Accepted() == opened {
			t.Fatal("a check with another server_name joined another block's pool")
		}
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
