package checks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// Poolers in front of Postgres, as busy services run them: PgBouncer (session and transaction mode) and
// Pgpool-II (the pooler of Bitnami's postgresql-ha chart). The postgres check speaks the simple protocol
// (no prepared statement, which PgBouncer in transaction mode would hand to another client's server
// connection), and the poolers' own refusals (PgBouncer's SQLSTATE 08P01 for all of them, Pgpool-II's
// XX000) are told apart by their words: a login PgBouncer rejects is auth, a database it does not know is
// auth with the database hint, a pooler full or cut off from its server is not_ready with hints that name
// the pooler. Before, each one was "reset, the connection was closed right after it opened: restarting,
// or another protocol" (PgBouncer) or "query: check the SQL" (Pgpool-II).

// TestPostgresThroughPoolers: every form of the run passes through PgBouncer in session and in
// transaction mode, and through Pgpool-II, run after run on the connection the check keeps. Between two
// runs another client holds a transaction open, so that in PgBouncer's transaction mode the check's next
// run is given another server connection than its last: a statement prepared by one run (pgx's default,
// the extended protocol with a statement cache) would not exist on the server connection of the next.
func TestPostgresThroughPoolers(t *testing.T) {
	pg := checktest.PostgresURL(t)
	server := checktest.HostPort(t, pg)
	for _, pooler := range []struct {
		name  string
		start func() string
	}{
		{"PgBouncer session", func() string {
			return checktest.StartPgBouncer(t, server, checktest.PgBouncerOptions{PoolMode: "session"})
		}},
		{"PgBouncer transaction", func() string {
			return checktest.StartPgBouncer(t, server, checktest.PgBouncerOptions{PoolMode: "transaction"})
		}},
		{"Pgpool-II", func() string { return checktest.StartPgpool(t, server) }},
	} {
		url := checktest.WithHost(t, pg, pooler.start())
		other, err := pgx.Connect(t.Context(), withParams(t, url, "sslmode=disable"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Close(context.Background()) })
		for _, spec := range []map[string]any{
			{"url": url},
			{"url": url, "writable": true},
			{"url": url, "max_replication_lag": "30s"},
			{"url": url, "query": "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"},
		} {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(spec)}, generousTimeout)
			for run := range 6 {
				var tx pgx.Tx
				if run%2 == 1 {
					// The server connection the check's last run used, PgBouncer's most recent, taken.
					if tx, err = other.Begin(t.Context()); err != nil {
						t.Fatal(err)
					}
					if _, err := tx.Exec(t.Context(), "SELECT 1"); err != nil {
						t.Fatal(err)
					}
				}
				err, _ := runCheck(t, ch)
				if tx != nil {
					_ = tx.Rollback(t.Context())
				}
				if err != nil {
					t.Fatalf("%s, %v, run %d: %v", pooler.name, spec, run+1, err)
				}
			}
		}
	}
}

// TestPgBouncerAnswers: what PgBouncer answers for a login it rejects, a database it does not know, a
// full pooler, and a database behind it that is down, each from a real PgBouncer.
func TestPgBouncerAnswers(t *testing.T) {
	pg := checktest.PostgresURL(t)
	server := checktest.HostPort(t, pg)
	t.Run("unknown user", func(t *testing.T) {
		bouncer := checktest.StartPgBouncer(t, server, checktest.PgBouncerOptions{PoolMode: "transaction"})
		url := withUser(t, checktest.WithHost(t, pg, bouncer), "nosuchuser", "s3cret-pgb")
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Auth, "check the user, password and database", "s3cret-pgb")
	})
	t.Run("unknown database", func(t *testing.T) {
		bouncer := checktest.StartPgBouncer(t, server, checktest.PgBouncerOptions{PoolMode: "transaction", Databases: []string{"test"}})
		// sslmode=prefer, libpq's default: PgBouncer (no TLS configured) refuses TLS, and the plaintext
		// attempt is refused for its own reason; the error says that reason, not the expected refusal of
		// TLS before it.
		url := withParams(t, withDB(t, withUser(t, checktest.WithHost(t, pg, bouncer), "postgres", "s3cret-pgb"), "nosuchdb"), "sslmode=prefer")
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Auth, "database does not exist", "s3cret-pgb")
		if msg := err2s(err); strings.Contains(msg, "refused TLS") || !strings.Contains(msg, "no such database: nosuchdb") {
			t.Errorf("error %q: want PgBouncer's refusal alone, without the TLS attempt before it", msg)
		}
	})
	t.Run("max_client_conn", func(t *testing.T) {
		bouncer := checktest.StartPgBouncer(t, server, checktest.PgBouncerOptions{PoolMode: "transaction", MaxClientConn: 2})
		url := checktest.WithHost(t, pg, bouncer)
		// Other clients take the pooler's places, until it refuses one (it counts a client being
		// logged in as well, so not always at exactly max_client_conn).
		for taken := 0; ; taken++ {
			other, err := pgx.Connect(t.Context(), withParams(t, url, "sslmode=disable"))
			if err != nil {
				break
			}
			t.Cleanup(func() { _ = other.Close(context.Background()) })
			if taken == 10 {
				t.Fatal("PgBouncer with max_client_conn 2 took 10 clients")
			}
		}
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": withUser(t, url, "postgres", "s3cret-pgb")})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "max_client_conn", "s3cret-pgb")
	})
	t.Run("database behind it hung", func(t *testing.T) {
		behind := checktest.NewProxy(t, server)
		bouncer := checktest.StartPgBouncer(t, behind.Addr(), checktest.PgBouncerOptions{PoolMode: "transaction"})
		url := withUser(t, checktest.WithHost(t, pg, bouncer), "postgres", "s3cret-pgb")
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, time.Second)
		if err, _ := runCheck(t, ch); err != nil {
			t.Fatal(err)
		}
		// PgBouncer's server connection is gone, and its new one hangs (server_connect_timeout: 15 s):
		// the run waits in the pooler until its timeout.
		behind.Set(checktest.Blackhole)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Timeout, "a proxy or pooler in front of it waits for a server it cannot reach", "s3cret-pgb")
	})
	t.Run("database behind it down", func(t *testing.T) {
		behind := checktest.NewProxy(t, server)
		bouncer := checktest.StartPgBouncer(t, behind.Addr(), checktest.PgBouncerOptions{PoolMode: "transaction"})
		// The first run after the cut may wait for PgBouncer's own attempt to reach the server, up to the
		// run's timeout; PgBouncer then refuses its clients at once while its logins fail.
		assertServerCut(t, pg, bouncer, behind, checks.Timeout)
	})
}

// TestPgpoolAnswers: Pgpool-II's own answers, from a real one, for a database behind it that goes away
// under the connection the check keeps, and that is down when a connection opens. A user or database the
// server does not know is the server's own answer, passed on.
func TestPgpoolAnswers(t *testing.T) {
	pg := checktest.PostgresURL(t)
	behind := checktest.NewProxy(t, checktest.HostPort(t, pg))
	pool := checktest.StartPgpool(t, behind.Addr())
	// The first run after the cut finds Pgpool-II's connection to the server gone: a reset that names the
	// pooler; later runs open a connection, and Pgpool-II cannot open its own.
	assertServerCut(t, pg, pool, behind, checks.Reset)
	for _, tc := range []struct {
		name, url string
		hint      string
	}{
		{"unknown user", withUser(t, checktest.WithHost(t, pg, pool), "nosuchuser", "s3cret-pgb"), "check the user, password and database"},
		{"unknown database", withDB(t, withUser(t, checktest.WithHost(t, pg, pool), "postgres", "s3cret-pgb"), "nosuchdb"), "database does not exist"},
	} {
		ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Auth, tc.hint, "s3cret-pgb")
	}
}

// assertServerCut runs a postgres check through the pooler at addr, which reaches the server through
// behind: a pass, then, the server cut (refused), runs that fail not_ready with the pooler's hint (the
// first of them may be first instead), then a pass within 10 s of the server coming back.
func assertServerCut(t *testing.T, pg, addr string, behind *checktest.Proxy, first checks.Class) {
	t.Helper()
	url := withUser(t, checktest.WithHost(t, pg, addr), "postgres", "s3cret-pgb")
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, timeoutFor(first))
	// With the short timeout, the first connect through the pooler may not make it at once on a loaded
	// machine.
	err := runUntilPass(t, ch)
	if err != nil {
		t.Fatal(err)
	}
	behind.Set(checktest.Refuse)
	for run := 0; run < 5 && checks.ClassOf(err) != checks.NotReady; run++ {
		err, _ = runCheck(t, ch)
		switch c := checks.ClassOf(err); {
		case c == first && run == 0:
			assertAnswer(t, ch, err, first, "pooler", "s3cret-pgb")
		case c != checks.NotReady:
			t.Fatalf("run %d after the cut: %s (%v); want not_ready (or %s first)", run+1, c, err, first)
		}
	}
	assertAnswer(t, ch, err, checks.NotReady, "cannot reach or log in to the database server behind it", "s3cret-pgb")
	behind.Set(checktest.Forward)
	if _, ok := checktest.Poll(10*time.Second, 200*time.Millisecond, func() bool { err, _ := runCheck(t, ch); return err == nil }); !ok {
		t.Fatal("the check did not pass again within 10 s of the database coming back behind the pooler")
	}
}
