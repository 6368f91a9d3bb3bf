package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/healthgate/healthgate/checks/checktest"
)

// --mysql has --postgres's semantics: critical, waited for, backed off by class; the password never shows.
func TestWaitMySQLFlag(t *testing.T) {
	t.Parallel()
	my := checktest.MySQLURL(t)
	code, stdout, stderr := runMain(t, noEnv, "wait", "--mysql", my, "--timeout", "30s")
	if code != exitOK {
		t.Fatalf("wait --mysql %s: exit %d; want 0\n%s%s", my, code, stdout, stderr)
	}

	p := checktest.NewProxy(t, checktest.HostPort(t, my))
	p.Set(checktest.Refuse)
	code, _, stderr = runMain(t, noEnv, "wait", "--mysql", checktest.WithHost(t, my, p.Addr()), "--timeout", "2s")
	if code != exitTimeout || !strings.Contains(stderr, "refused") {
		t.Fatalf("wait --mysql (refused): exit %d; want %d naming refused\n%s", code, exitTimeout, stderr)
	}

	// The driver's DSN form, with a password the server rejects (1045): auth, and no password anywhere.
	dsn := "healthgate_nobody:s3cr3t-pw@tcp(" + checktest.HostPort(t, my) + ")/test"
	code, stdout, stderr = runMain(t, noEnv, "check", "--mysql", dsn)
	if code != exitFailed || !strings.Contains(stdout, "auth") || !strings.Contains(stdout, "--mysql") {
		t.Fatalf("check --mysql (bad user): exit %d; want 1 with auth and a hint naming --mysql\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "s3cr3t-pw") {
		t.Fatalf("the password shows:\n%s%s", stdout, stderr)
	}
}

// mysqlMigrationsDB creates a database with a rails-style schema_migrations table on the real MariaDB,
// dropped when the test ends; it returns a connection that writes there and a URL to it.
func mysqlMigrationsDB(t *testing.T, applied ...string) (*sql.DB, string) {
	t.Helper()
	base := checktest.MySQLURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hg_wait_" + hex.EncodeToString(b[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pw, "tcp", u.Host
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if _, err := db.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop database: %v", err)
		}
		_ = db.Close()
	})
	for _, q := range []string{"CREATE DATABASE " + name, "USE " + name,
		"CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, v := range applied {
		if _, err := db.Exec("INSERT INTO schema_migrations VALUES (?)", v); err != nil {
			t.Fatal(err)
		}
	}
	u.Path = "/" + name
	return db, u.String()
}

// wait --mysql with --migrations: exits 0 within one backoff step after another connection inserts the
// version, and 124 with a final table naming the schema reason when it never does.
func TestWaitMySQLMigrations(t *testing.T) {
	t.Parallel() // a database of its own; waits on the backoff
	db, my := mysqlMigrationsDB(t, "20241119000000", "9")
	inv := start(t, noEnv, "wait", "--mysql", my, "--migrations", "rails:20241120093000", "--timeout", "60s")
	checktest.Eventually(t, 10*time.Second, "the schema line", func() bool {
		s := inv.stderr.String()
		return strings.Contains(s, "schema") && strings.Contains(s, "at 20241119000000, need 20241120093000")
	})
	time.Sleep(4 * time.Second) // the backoff at its cap (3 s for schema)
	if _, err := db.Exec("INSERT INTO schema_migrations VALUES ('20241120093000')"); err != nil {
		t.Fatal(err)
	}
	inserted := time.Now()
	if code := inv.end(t, 20*time.Second); code != exitOK {
		t.Fatalf("exit %d; want 0:\n%s", code, inv.stderr.String())
	}
	if took := time.Since(inserted); took > 8*time.Second {
		t.Errorf("wait exited %v after the version appeared; want within one backoff step (≤ 3 s + a run)", took)
	}

	code, _, stderr := runMain(t, noEnv, "wait", "--mysql", my, "--migrations", "goose:3", "--timeout", "3s", "--quiet")
	if code != exitTimeout || !strings.Contains(stderr, " schema ") || !strings.Contains(stderr, "goose_db_version does not exist") {
		t.Fatalf("exit %d; want 124 with the schema reason naming the missing table:\n%s", code, stderr)
	}
}
