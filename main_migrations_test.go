package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthgate/healthgate/checks/checktest"
)

// migrationsSchema creates a schema with a rails-style schema_migrations table (version varchar, a row
// per applied migration) on the real Postgres, dropped when the test ends. It returns a connection that
// writes there and a URL whose search_path reaches it.
func migrationsSchema(t *testing.T, applied ...string) (*pgx.Conn, string) {
	t.Helper()
	base := checktest.PostgresURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hg_wait_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		_ = conn.Close(context.Background())
	})
	for _, q := range []string{"CREATE SCHEMA " + name, "SET search_path TO " + name,
		"CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY)"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, v := range applied {
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations VALUES ($1)", v); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return conn, u.String()
}

// The migrations acceptance test: wait with --migrations exits 0 within one backoff step after another connection
// inserts the version the release needs.
func TestWaitMigrationsVersionAppears(t *testing.T) {
	t.Parallel() // a schema of its own; waits on the backoff
	conn, pg := migrationsSchema(t, "20241119000000", "9")
	inv := start(t, noEnv, "wait", "--postgres", pg, "--migrations", "rails:20241120093000", "--timeout", "60s")
	checktest.Eventually(t, 10*time.Second, "the schema line", func() bool {
		s := inv.stderr.String()
		return strings.Contains(s, "schema") && strings.Contains(s, "at 20241119000000, need 20241120093000")
	})
	// Let the backoff grow to its cap (3 s for schema, as for not_ready) before the version appears.
	time.Sleep(4 * time.Second)
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations VALUES ('20241120093000')"); err != nil {
		t.Fatal(err)
	}
	inserted := time.Now()
	if code := inv.end(t, 20*time.Second); code != exitOK {
		t.Fatalf("exit %d; want 0:\n%s", code, inv.stderr.String())
	}
	// One backoff step is at most 3 s, plus the run itself; generous for a loaded machine.
	if took := time.Since(inserted); took > 8*time.Second {
		t.Errorf("wait exited %v after the version appeared; want within one backoff step (≤ 3 s + a run)", took)
	}
	if !strings.Contains(inv.stderr.String(), "ready: postgres") {
		t.Errorf("no ready line:\n%s", inv.stderr.String())
	}
}

// ... and 124 with a final table naming the schema reason when it never does.
func TestWaitMigrationsNeverAppears(t *testing.T) {
	t.Parallel()
	_, pg := migrationsSchema(t, "9")
	code, _, stderr := runMain(t, noEnv, "wait", "--postgres", pg, "--migrations", "rails:10", "--timeout", "3s", "--quiet")
	if code != exitTimeout {
		t.Fatalf("exit %d; want %d:\n%s", code, exitTimeout, stderr)
	}
	var row string
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.HasPrefix(line, "postgres ") {
			row = line
		}
	}
	for _, want := range []string{"NOT READY", " schema ", "at 9, need 10", "should clear when the migration job finishes"} {
		if !strings.Contains(row, want) {
			t.Errorf("final table row %q does not contain %q; stderr:\n%s", row, want, stderr)
		}
	}
	if !strings.Contains(stderr, "REASON") {
		t.Errorf("no final table:\n%s", stderr)
	}
}

// An absent table never clears within the wait either, and says that no migration ever ran.
func TestWaitMigrationsAbsentTable(t *testing.T) {
	t.Parallel()
	_, pg := migrationsSchema(t)
	code, _, stderr := runMain(t, noEnv, "wait", "--postgres", pg, "--migrations", "goose:3", "--timeout", "2s", "--quiet")
	if code != exitTimeout || !strings.Contains(stderr, "goose_db_version does not exist") || !strings.Contains(stderr, "no migration has run yet") {
		t.Fatalf("exit %d; want 124 naming the missing table:\n%s", code, stderr)
	}
}

// check shows the schema class and exits 1; a passing version exits 0. The table name goes through the
// flag too (TOOL:TABLE:VERSION).
func TestCheckMigrations(t *testing.T) {
	_, pg := migrationsSchema(t, "9", "10")
	code, stdout, stderr := runMain(t, noEnv, "check", "--postgres", pg, "--migrations", "rails:schema_migrations:11", "--output", "json")
	if code != exitFailed || !strings.Contains(stdout, `"reason": "schema"`) && !strings.Contains(stdout, `"reason":"schema"`) {
		t.Fatalf("exit %d; want 1 with reason schema:\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runMain(t, noEnv, "check", "--postgres", pg, "--migrations", "rails:9")
	if code != exitOK {
		t.Fatalf("exit %d; want 0 (9 is applied):\n%s%s", code, stdout, stderr)
	}
	// A version that is not applied, below the highest one: out of order, or not a migration at all.
	code, stdout, stderr = runMain(t, noEnv, "check", "--postgres", pg, "--migrations", "rails:8")
	if code != exitFailed || !strings.Contains(stdout, "a later version is applied but 8 is not") {
		t.Fatalf("exit %d; want 1 naming 8 as not applied:\n%s%s", code, stdout, stderr)
	}
}

// liquibase's FILENAME::ID::AUTHOR goes through --migrations as a version, with or without the table.
func TestCheckMigrationsLiquibaseFlag(t *testing.T) {
	conn, pg := migrationsSchema(t)
	for _, q := range []string{
		"CREATE TABLE databasechangelog (id varchar(255) NOT NULL, author varchar(255) NOT NULL, filename varchar(255) NOT NULL," +
			" dateexecuted timestamp NOT NULL, orderexecuted integer NOT NULL, exectype varchar(10) NOT NULL, tag varchar(255))",
		"INSERT INTO databasechangelog VALUES ('1', 'dev', 'db/a.xml', now(), 1, 'EXECUTED', NULL), ('1', 'dev', 'db/b.xml', now(), 2, 'EXECUTED', 'v2')",
	} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		flag string
		code int
		want string
	}{
		{"liquibase:db/a.xml::1::dev", exitOK, ""},
		{"liquibase:databasechangelog:db/b.xml::1::dev", exitOK, ""},
		{"liquibase:v2", exitOK, ""},
		{"liquibase:db/c.xml::1::dev", exitFailed, `"db/c.xml::1::dev" is not in databasechangelog`},
		{"liquibase:1", exitFailed, "changeset id 1 is ambiguous"},
		// The hints name the flag's parts, not a file's migrations.version or migrations.table.
		{"liquibase:1", exitFailed, "write the VERSION of --migrations (TOOL:TABLE:VERSION) as FILENAME::ID::AUTHOR"},
		{"goose:20241120093000", exitFailed, "check the TABLE of --migrations (TOOL:TABLE:VERSION)"},
	} {
		code, stdout, stderr := runMain(t, noEnv, "check", "--postgres", pg, "--migrations", tc.flag)
		if code != tc.code || !strings.Contains(stdout, tc.want) {
			t.Errorf("--migrations %s: exit %d; want %d and %q:\n%s%s", tc.flag, code, tc.code, tc.want, stdout, stderr)
		}
	}
}

// Configuration errors: exit 2, every one at once, each at its file and line.
func TestMigrationsConfigErrors(t *testing.T) {
	cfg := writeConfig(t, `checks:
  - name: db
    type: postgres
    url: postgres://u@127.0.0.1:1/db
    migrations:
      tool: flywya
      version: "1"
  - name: db2
    type: postgres
    url: postgres://u@127.0.0.1:1/db
    migrations:
      tool: golang-migrate
      version: v1.2.0
  - name: cache
    type: redis
    url: redis://127.0.0.1:1/0
    migrations: {tool: goose, version: "1"}
`)
	code, _, stderr := runMain(t, noEnv, "check", "--config", cfg)
	if code != exitUsage {
		t.Fatalf("exit %d; want 2:\n%s", code, stderr)
	}
	for _, want := range []string{
		`healthgate.yaml:6:7: checks[0] "db".migrations: tool: unknown migration tool "flywya" (did you mean "flyway"?)`,
		`healthgate.yaml:13:7: checks[1] "db2".migrations: version: golang-migrate stores versions as a whole number (bigint): "v1.2.0" is not one`,
		`healthgate.yaml:17:5: checks[2] "cache": migrations: does not apply to a redis check: only a SQL database has a schema`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "healthgate.yaml:"); n != 3 {
		t.Errorf("%d errors reported; want the 3 at once:\n%s", n, stderr)
	}
}

func TestMigrationsFlagErrors(t *testing.T) {
	pg, pg2 := "postgres://u@127.0.0.1:1/db", "postgres://u@127.0.0.1:2/db"
	tests := []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"--postgres", pg, "--migrations", "golang-migrate"}, "write TOOL:VERSION or TOOL:TABLE:VERSION", ""},
		{[]string{"--postgres", pg, "--postgres", pg2, "--migrations", "flyway:1_2"}, "--migrations: version:", ""},
		{[]string{"--postgres", pg, "--migrations", "migrate:1"}, `--migrations: tool: unknown migration tool "migrate" (did you mean "golang-migrate"?)`, ""},
		{[]string{"--redis", "redis://127.0.0.1:1/0", "--migrations", "goose:1"}, "--migrations: applies to the SQL targets", ""},
		{[]string{"--postgres", pg, "--migrations", "goose:0"}, `--migrations: version: "0" is version 0, the row goose writes when it creates its table`, ""},
		// Both give the --postgres targets their migrations: one would replace the other unseen.
		{[]string{"--postgres", pg, "--set", `postgres.migrations={tool: goose, version: "1"}`, "--migrations", "golang-migrate:v1", "--timeout", "2s"},
			"--migrations and --set postgres.migrations: both say what the schema of the --postgres targets must be; give one of them", ""},
		{[]string{"--mysql", "mysql://u@127.0.0.1:1/db", "--migrations", "goose:1", "--set", `mysql.migrations={tool: goose, version: "1"}`, "--timeout", "2s"},
			"--migrations and --set mysql.migrations", ""},
		// A --set postgres.migrations error names that flag, not --migrations, which was not given.
		{[]string{"--postgres", pg, "--postgres", pg2, "--set", `postgres.migrations={tool: gose, version: "1"}`},
			`--set postgres.migrations: tool: unknown migration tool "gose" (did you mean "goose"?)`, "--migrations:"},
		{[]string{"--postgres", pg, "--set", `postgres.migrations={tool: flyway, version: "1_2"}`}, "--set postgres.migrations: version:", "--migrations:"},
	}
	for _, tc := range tests {
		code, _, stderr := runMain(t, noEnv, append([]string{"wait"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("wait %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		if tc.notWant != "" && strings.Contains(stderr, tc.notWant) {
			t.Errorf("wait %v: stderr %q; want no %q", tc.args, stderr, tc.notWant)
		}
		if strings.Count(stderr, "postgres.migrations: tool:") > 1 {
			t.Errorf("wait %v: the same --set problem reported per target:\n%s", tc.args, stderr)
		}
		if strings.Count(stderr, "--migrations: version:") > 1 {
			t.Errorf("wait %v: the same --migrations problem reported per target:\n%s", tc.args, stderr)
		}
	}
}

// From a configuration file: an unquoted dotted version stays as written (1.10, not the float 1.1), the
// table may be schema-qualified, and an empty migrations section is an error of its own.
func TestCheckMigrationsFromConfig(t *testing.T) {
	conn, _ := migrationsSchema(t, "20241120093000")
	var schema string
	if err := conn.QueryRow(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `checks:
  - name: db
    type: postgres
    url: ${DATABASE_URL}
    migrations:
      tool: rails
      table: `+schema+`.schema_migrations
      version: 20241120093000
  - name: flyway
    type: postgres
    url: ${DATABASE_URL}
    critical: false
    migrations: {tool: flyway, version: 1.10}
`)
	env := map[string]string{"DATABASE_URL": checktest.PostgresURL(t)}
	code, stdout, stderr := runMain(t, env, "check", "--config", cfg)
	if code != exitOK {
		t.Fatalf("exit %d; want 0 (the critical check passes):\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"flyway_schema_history does not exist", "schema"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output does not contain %q:\n%s", want, stdout)
		}
	}

	cfg = writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    url: postgres://u@127.0.0.1:1/db\n    migrations:\n")
	code, _, stderr = runMain(t, noEnv, "check", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, `healthgate.yaml:5:5: checks[0] "db": migrations: empty: write the tool and the version`) {
		t.Fatalf("exit %d; want 2 naming the empty migrations:\n%s", code, stderr)
	}
}

// TestServeReloadMigrationsVersion: a reload that changes a check makes the changed check's first run
// before it replaces the old one, so when it passes as before /readyz never leaves 200 (it used to turn
// 503 for the length of that first run on every reload, with a "not ready" line). A reload never
// changes a check's migrations: a new release's ConfigMap reaches the old release's pods during the
// rollout, and their app still needs only its own version; a restart takes the new one.
func TestServeReloadMigrationsVersion(t *testing.T) {
	t.Parallel() // a schema of its own; waits on reloads
	conn, pg := migrationsSchema(t, "1", "2", "3")
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	write := func(query, version string) {
		t.Helper()
		// Replaced, not rewritten: a poll that read a half-written (or empty, so valid) file would
		// drop db.
		writeServeChecks(t, path, fmt.Sprintf("  - {name: db, type: postgres, url: %q, query: %q, migrations: {tool: rails, version: %q}}\n", pg, query, version))
	}
	write("SELECT 1", "3")
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	reload := func(query, version string) {
		t.Helper()
		n := logCount(p.log, "configuration reloaded")
		write(query, version)
		p.sigs <- syscall.SIGHUP
		checktest.Eventually(t, 10*time.Second, "the reload to "+query+", version "+version, func() bool { return logCount(p.log, "configuration reloaded") > n })
	}
	h := startHammer(t, p.addr, "/readyz", "/readyz/db")
	for _, q := range []string{"SELECT 2", "SELECT 1", "SELECT 2"} {
		n := h.n.Load()
		checktest.Eventually(t, 10*time.Second, "probes before the reload", func() bool { return h.n.Load() > n+50 })
		reload(q, "3")
	}
	// A new release's version, not applied yet (its migration Job is running): this pod's app does
	// not need it, and the reload keeps the check as it is, saying so.
	n := h.n.Load()
	reload("SELECT 2", "4")
	checktest.Eventually(t, 10*time.Second, "probes after the reload", func() bool { return h.n.Load() > n+50 })
	h.end()
	if len(h.fails) > 0 {
		t.Errorf("%d of %d probes were not 200 across reloads; first: %s", len(h.fails), h.n.Load(), h.fails[0])
	}
	if n := logCount(p.log, "not ready"); n != 0 {
		t.Errorf("%d \"not ready\" lines across reloads; want none:\n%s", n, p.log.String())
	}
	if logCount(p.log, "migrations changed: it needs a restart (what this pod's app needs from the schema); the check keeps the migrations it started with") == 0 { // once per reload: the poll may reload before SIGHUP does
		t.Errorf("no line saying the migrations change needs a restart:\n%s", p.log.String())
	}

	// A restart takes the new version: not ready, with the schema reason, until it is applied.
	p2 := startServeFile(t, path, nil)
	checktest.Eventually(t, 10*time.Second, "a restart with version 4 (not applied): 503 with the schema reason", func() bool {
		r := p2.probe(t, "/readyz/db?verbose")
		return r.code == 503 && strings.Contains(r.body, "schema")
	})
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations VALUES ('4')"); err != nil {
		t.Fatal(err)
	}
	p2.waitCode(t, "/readyz", 200, 5*time.Second)
}

// TestServeReloadMigrationsWithAnotherChange: a reload that changes a check's migrations block together
// with another of its fields (a new release's ConfigMap adds migrations and a query, or drops migrations
// and retimes the check) applies the other change and keeps the migrations the process started with.
// The block was left out of the check but the check still marked it as written, which read as
// "migrations: empty", and the whole reload was refused (the metric at 0, on every pod of the old
// release) for a block the reload must ignore.
func TestServeReloadMigrationsWithAnotherChange(t *testing.T) {
	t.Parallel() // a schema of its own; waits on reloads
	conn, pg := migrationsSchema(t, "1", "2", "3")
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	write := func(fields string) {
		t.Helper()
		writeServeChecks(t, path, fmt.Sprintf("  - {name: db, type: postgres, url: %q%s}\n", pg, fields))
	}
	const refused = "configuration reload refused: still serving the previous configuration"
	reload := func(p *serveProcess, fields, says string) {
		t.Helper()
		n, m := logCount(p.log, "configuration reloaded"), logCount(p.log, refused)
		write(fields)
		p.sigs <- syscall.SIGHUP
		checktest.Eventually(t, 10*time.Second, "the reload to"+fields, func() bool {
			return logCount(p.log, "configuration reloaded") > n || logCount(p.log, refused) > m
		})
		if logCount(p.log, refused) > m {
			t.Fatalf("reload to%s refused:\n%s", fields, p.log.String())
		}
		if v, _ := metricValue(p.probe(t, "/metrics").body, "healthgate_config_last_reload_successful"); v != 1 {
			t.Errorf("healthgate_config_last_reload_successful = %v after the reload to%s; want 1", v, fields)
		}
		if !strings.Contains(p.log.String(), `"msg":"`+says) {
			t.Errorf("no line saying %q:\n%s", says, p.log.String())
		}
	}

	// Started without migrations: a block added with a new query is ignored, the query taken.
	write("")
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 200, 10*time.Second)
	// (It said "the check keeps the migrations it started with", of a check that started with none.)
	reload(p, `, query: "SELECT 2", migrations: {tool: rails, version: "9"}`, "migrations added by a reload: it needs a restart")
	if strings.Contains(p.log.String(), "keeps the migrations it started with") {
		t.Errorf("a check started without migrations is said to keep them:\n%s", p.log.String())
	}
	if !strings.Contains(p.log.String(), `"changed":"db"`) {
		t.Errorf("the query change was not applied:\n%s", p.log.String())
	}
	p.waitCode(t, "/readyz", 200, 5*time.Second)

	// Started with migrations: dropping the block with a new interval keeps it (version 3 still
	// required: once its row is gone, db fails with schema).
	write(`, migrations: {tool: rails, version: "3"}`)
	p2 := startServeFile(t, path, nil)
	p2.waitCode(t, "/readyz", 200, 10*time.Second)
	reload(p2, `, interval: 900ms`, "migrations changed: it needs a restart")
	if _, err := conn.Exec(context.Background(), "DELETE FROM schema_migrations WHERE version = '3'"); err != nil {
		t.Fatal(err)
	}
	checktest.Eventually(t, 10*time.Second, "db failing with schema once version 3 is gone", func() bool {
		r := p2.probe(t, "/readyz/db?verbose")
		return r.code == 503 && strings.Contains(r.body, "schema")
	})
}

// TestServeReloadAddedCheckMigrations: a check that a reload adds (or gives another type under its name)
// runs without its migrations block until a restart, as a changed block does: the new release's ConfigMap
// reaches the old release's pods during the rollout, and a check it adds with the new release's version
// failed every old pod with schema (503) until the migration Job ended, emptying the Service mid-deploy.
func TestServeReloadAddedCheckMigrations(t *testing.T) {
	t.Parallel() // a schema of its own; waits on reloads
	_, pg := migrationsSchema(t, "1", "2", "3")
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	write := func(more string) {
		t.Helper()
		writeServeChecks(t, path, fmt.Sprintf("  - {name: db, type: postgres, url: %q}\n%s", pg, more))
	}
	write("")
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 200, 10*time.Second)
	// The next release's ConfigMap: a second check of the database, needing version 4 (its Job runs).
	write(fmt.Sprintf("  - {name: schema, type: postgres, url: %q, migrations: {tool: rails, version: \"4\"}}\n", pg))
	p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the reload adding schema", func() bool { return logCount(p.log, "configuration reloaded") > 0 })
	checktest.Eventually(t, 10*time.Second, "schema passing (run without the new release's migrations)", func() bool {
		r := p.probe(t, "/readyz/schema")
		return r.code == 200
	})
	if r := p.probe(t, "/readyz?verbose"); r.code != 200 {
		t.Errorf("/readyz = %d after the reload: %s", r.code, r.body)
	}
	if logCount(p.log, "migrations of a check added by a reload: it needs a restart (what this pod's app needs from the schema); the check runs without migrations until then") == 0 {
		t.Errorf("no line saying the added check's migrations need a restart:\n%s", p.log.String())
	}
	// Another reload, the file unchanged: the check still runs without them, and is not said to keep
	// "the migrations it started with" (it started with none).
	n := logCount(p.log, "configuration reloaded")
	p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the second reload", func() bool { return logCount(p.log, "configuration reloaded") > n })
	if strings.Contains(p.log.String(), "keeps the migrations it started with") {
		t.Errorf("a check added without its migrations is said to keep the migrations it started with:\n%s", p.log.String())
	}

	// A restart (the new release's pod) takes them: not ready, with the schema reason.
	p2 := startServeFile(t, path, nil)
	checktest.Eventually(t, 10*time.Second, "a restart: schema 503 with the schema reason", func() bool {
		r := p2.probe(t, "/readyz/schema?verbose")
		return r.code == 503 && strings.Contains(r.body, "schema at version 3")
	})
}

// TestServeReloadRestoredCheckMigrations: a check the process started with, removed by a reload and
// restored by the next (a bad ConfigMap edit rolled back), is the same check and gets its migrations
// block back; it came back without it ("a check added by a reload"), its schema gate gone until a
// restart.
func TestServeReloadRestoredCheckMigrations(t *testing.T) {
	t.Parallel() // a schema of its own; waits on reloads
	_, pg := migrationsSchema(t, "1", "2", "3")
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	keep := fmt.Sprintf("  - {name: keep, type: postgres, url: %q}\n", pg)
	db := fmt.Sprintf("  - {name: db, type: postgres, url: %q, migrations: {tool: rails, version: \"4\"}}\n", pg)
	writeServeChecks(t, path, keep+db)
	p := startServeFile(t, path, nil)
	schema503 := func(what string) {
		t.Helper()
		checktest.Eventually(t, 10*time.Second, what, func() bool {
			r := p.probe(t, "/readyz/db?verbose")
			return r.code == 503 && strings.Contains(r.body, "schema at version 3")
		})
	}
	schema503("db 503 with the schema reason (version 4 is not applied)")
	for i, checks := range []string{keep, keep + db} {
		writeServeChecks(t, path, checks)
		p.sigs <- syscall.SIGHUP
		checktest.Eventually(t, 10*time.Second, "the reload", func() bool { return logCount(p.log, "configuration reloaded") > i })
	}
	schema503("the restored db 503 with the schema reason, as it started")
	if strings.Contains(p.log.String(), "migrations of a check added by a reload") {
		t.Errorf("the restored check was taken for one the process did not start with:\n%s", p.log.String())
	}
}

// writeServeChecks replaces the configuration at path with one that serves on a free port, runs checks
// every second, and has the checks given (YAML list items, each line indented by two spaces).
func writeServeChecks(t *testing.T, path, checks string) {
	t.Helper()
	replaceFile(t, path, `server: {listen: "127.0.0.1:0", shutdown_delay: 0s, details: always}
defaults: {interval: 1s, timeout: 800ms}
checks:
`+checks)
}
