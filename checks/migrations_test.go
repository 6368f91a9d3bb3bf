package checks_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// These tests run every supported tool's table against the real Postgres, each in a schema of its own
// (created here, dropped after). golang-migrate and goose write their tables themselves, as test-only
// modules; dbmate's module is not on the module proxy this project can reach, so its tests run the dbmate
// binary that .ci/run installs from npm (HEALTHGATE_DBMATE, dbmateBinary). flyway, liquibase, rails and
// alembic are not Go, so their tables are created as those tools' documentation (and their Postgres
// drivers' DDL) lays them out, and filled with the rows the tools write.

// pgSchema is a fresh schema on the test Postgres: admin is a connection whose search_path is the schema,
// url reaches it too, read-only (default_transaction_read_only=on), so a check that wrote anything,
// or ran DDL, would fail.
type pgSchema struct {
	name   string
	admin  *pgx.Conn
	url    string // search_path=name, read-only
	rwURL  string // search_path=name, read-write: for the tools
	rawURL string // no search_path
}

func newPGSchema(t *testing.T) *pgSchema {
	t.Helper()
	base := checktest.PostgresURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hg_mig_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
		_ = admin.Close(context.Background())
	})
	if _, err := admin.Exec(ctx, "SET search_path TO "+name); err != nil {
		t.Fatal(err)
	}
	return &pgSchema{name: name, admin: admin, rawURL: base,
		url:   addParams(t, base, "search_path", name, "default_transaction_read_only", "on"),
		rwURL: addParams(t, base, "search_path", name)}
}

func addParams(t *testing.T, raw string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *pgSchema) exec(t *testing.T, sqls ...string) {
	t.Helper()
	for _, q := range sqls {
		if _, err := s.admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// expectSchema runs a postgres (or, for a mysql:// URL, mysql) check with migrations once; want "" means
// pass, else the run must fail with class schema and its error and hint must contain every one of the texts.
func expectSchema(t *testing.T, checkURL string, m config.Migrations, pass bool, texts ...string) {
	t.Helper()
	typ := "postgres"
	if strings.HasPrefix(checkURL, "mysql://") {
		typ = "mysql"
	}
	ch := newCheckTimeout(t, config.Check{Type: typ, Spec: config.SpecOf(map[string]any{"url": checkURL, "migrations": m})}, generousTimeout)
	err, _ := runCheck(t, ch)
	if pass {
		assertClass(t, err, "")
		return
	}
	assertClass(t, err, checks.Schema)
	got := err.Error() + " — " + ch.Hint(err)
	for _, s := range texts {
		if !strings.Contains(got, s) {
			t.Errorf("%s %s: %q does not contain %q", m.Tool, m.Version, got, s)
		}
	}
}

func mig(tool, version string) config.Migrations {
	return config.Migrations{Tool: tool, Version: version}
}

// The hints of docs/design.md §4 tell the three schema failures apart.
const (
	absentHint  = "no migration has run yet"
	pendingHint = "should clear when the migration job finishes"
	failedHint  = "will not clear by itself"
)

func TestMigrationsGolangMigrate(t *testing.T) {
	s := newPGSchema(t)
	files := fstest.MapFS{
		"m/9_a.up.sql":    {Data: []byte("CREATE TABLE a (x int);")},
		"m/9_a.down.sql":  {Data: []byte("DROP TABLE a;")},
		"m/10_b.up.sql":   {Data: []byte("CREATE TABLE b (x int);")},
		"m/10_b.down.sql": {Data: []byte("DROP TABLE b;")},
		"m/11_c.up.sql":   {Data: []byte("CREATE TABLE c (x int); SELECT 1/0;")},
		"m/11_c.down.sql": {Data: []byte("DROP TABLE IF EXISTS c;")},
	}
	// Absent: before golang-migrate ever ran (opening its driver creates the table), there is none.
	expectSchema(t, s.url, mig("golang-migrate", "9"), false, "schema_migrations does not exist", absentHint)

	m := newMigrate(t, files, strings.Replace(s.rwURL, "postgres://", "pgx5://", 1))
	expectSchema(t, s.url, mig("golang-migrate", "9"), false, "holds no applied migration", pendingHint)

	if err := m.Migrate(9); err != nil {
		t.Fatalf("migrate to 9: %v", err)
	}
	expectSchema(t, s.url, mig("golang-migrate", "9"), true)                                           // equal
	expectSchema(t, s.url, mig("golang-migrate", "8"), true)                                           // higher
	expectSchema(t, s.url, mig("golang-migrate", "10"), false, "at version 9", "need 10", pendingHint) // lower: "9" > "10" as text
	expectSchema(t, s.url, mig("golang-migrate", "0010"), false, "at version 9")

	if err := m.Migrate(10); err != nil {
		t.Fatalf("migrate to 10: %v", err)
	}
	expectSchema(t, s.url, mig("golang-migrate", "9"), true) // "10" < "9" as text, 10 > 9 as numbers
	expectSchema(t, s.url, mig("golang-migrate", "10"), true)

	// Dirty: 11 fails part-way, golang-migrate leaves version 11 dirty.
	if err := m.Up(); err == nil {
		t.Fatal("migration 11 should have failed")
	}
	var dirty bool
	if err := s.admin.QueryRow(context.Background(), "SELECT dirty FROM schema_migrations").Scan(&dirty); err != nil || !dirty {
		t.Fatalf("golang-migrate did not leave a dirty version (dirty %v, %v)", dirty, err)
	}
	// golang-migrate applies in order: with 11 dirty, 10 is in place, so a release that needs 10 (or
	// less) passes; one that needs 11 or more fails, naming the dirty version.
	expectSchema(t, s.url, mig("golang-migrate", "10"), true)
	expectSchema(t, s.url, mig("golang-migrate", "9"), true)
	expectSchema(t, s.url, mig("golang-migrate", "11"), false, "migration 11 is dirty", "being applied right now, or it failed part-way", failedHint, "migrate force")
	expectSchema(t, s.url, mig("golang-migrate", "12"), false, "migration 11 is dirty")

	// Empty: everything migrated down (after forcing the dirty version) leaves the table without a row.
	if err := m.Force(10); err != nil {
		t.Fatal(err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	expectSchema(t, s.url, mig("golang-migrate", "9"), false, "holds no applied migration", pendingHint)

	// Schema-qualified, from a connection whose search_path does not reach the schema.
	if err := m.Migrate(10); err != nil {
		t.Fatal(err)
	}
	expectSchema(t, s.rawURL, config.Migrations{Tool: "golang-migrate", Table: s.name + ".schema_migrations", Version: "10"}, true)
	expectSchema(t, s.rawURL, config.Migrations{Tool: "golang-migrate", Table: s.name + ".nope", Version: "10"}, false, "does not exist", absentHint)
	expectSchema(t, s.rawURL, config.Migrations{Tool: "golang-migrate", Table: s.name + "_gone.schema_migrations", Version: "10"}, false, "does not exist")
}

// While golang-migrate applies a migration, its version is dirty: the release before it (which needs
// the previous version) stays ready, and the release that needs it waits, told that it is being applied
// or failed; once it is done, both pass.
func TestMigrationsGolangMigrateWhileRunning(t *testing.T) {
	s := newPGSchema(t)
	files := fstest.MapFS{
		"m/1_a.up.sql":   {Data: []byte("CREATE TABLE a (x int);")},
		"m/1_a.down.sql": {Data: []byte("DROP TABLE a;")},
		"m/2_b.up.sql":   {Data: []byte("CREATE TABLE b (x int); SELECT pg_sleep(3);")},
		"m/2_b.down.sql": {Data: []byte("DROP TABLE b;")},
	}
	m := newMigrate(t, files, strings.Replace(s.rwURL, "postgres://", "pgx5://", 1))
	if err := m.Migrate(1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Migrate(2) }()
	checktest.Eventually(t, 10*time.Second, "golang-migrate marks 2 dirty", func() bool {
		var dirty bool
		err := s.admin.QueryRow(context.Background(), "SELECT dirty FROM schema_migrations WHERE version = 2").Scan(&dirty)
		return err == nil && dirty
	})
	expectSchema(t, s.url, mig("golang-migrate", "1"), true)
	expectSchema(t, s.url, mig("golang-migrate", "2"), false, "migration 2 is dirty", "being applied right now")
	if err := <-done; err != nil {
		t.Fatalf("migrate to 2: %v", err)
	}
	expectSchema(t, s.url, mig("golang-migrate", "1"), true)
	expectSchema(t, s.url, mig("golang-migrate", "2"), true)
}

func TestMigrationsGoose(t *testing.T) {
	s := newPGSchema(t)
	files := fstest.MapFS{
		"9_a.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n")},
		"10_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (x int);\n-- +goose Down\nDROP TABLE b;\n")},
		"11_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (x int);\nSELECT 1/0;\n-- +goose Down\nDROP TABLE c;\n")},
	}
	db, err := sql.Open("pgx", s.rwURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		t.Fatalf("goose: %v", err)
	}
	ctx := context.Background()

	expectSchema(t, s.url, mig("goose", "9"), false, "goose_db_version does not exist", absentHint)

	// goose creates its table with the version 0 row: nothing applied yet.
	if _, err := p.GetDBVersion(ctx); err != nil {
		t.Fatal(err)
	}
	expectSchema(t, s.url, mig("goose", "9"), false, "holds no applied migration", pendingHint)

	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatalf("up to 9: %v", err)
	}
	expectSchema(t, s.url, mig("goose", "9"), true)
	// 1 is not a migration: a later one is applied, 1 never will be.
	expectSchema(t, s.url, mig("goose", "1"), false, "a later version is applied but 1 is not", "not one of this release's migrations")
	expectSchema(t, s.url, mig("goose", "10"), false, "at version 9", "need 10", pendingHint) // "9" > "10" as text

	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatalf("up to 10: %v", err)
	}
	expectSchema(t, s.url, mig("goose", "9"), true) // "10" < "9" as text
	expectSchema(t, s.url, mig("goose", "10"), true)

	// A failing migration: goose runs it in a transaction on Postgres, so nothing of it is recorded and
	// the schema stays at 10: pending, as goose keeps no failed state.
	if _, err := p.UpTo(ctx, 11); err == nil {
		t.Fatal("migration 11 should have failed")
	}
	expectSchema(t, s.url, mig("goose", "11"), false, "at version 10", "need 11")

	// goose's history: the latest row of a version decides. goose before its v3 provider wrote a down as
	// a row with is_applied false (replicated here: the v3.30 provider deletes the row instead).
	s.exec(t, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (10, false)")
	expectSchema(t, s.url, mig("goose", "10"), false, "at version 9", "need 10")
	s.exec(t, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (10, true)")
	expectSchema(t, s.url, mig("goose", "10"), true)
	if _, err := p.Down(ctx); err != nil { // the v3 provider: the row of 10 is deleted
		t.Fatal(err)
	}
	expectSchema(t, s.url, mig("goose", "10"), false, "at version 9")

	other := newPGSchema(t)
	db2, err := sql.Open("pgx", other.rwURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	gooseOutOfOrder(t, db2, goose.DialectPostgres, other.url)
}

// gooseOutOfOrder: a migration older than the applied ones (a hotfix branch merged late) is not applied
// until goose applies it with allow-missing (it refuses by default); the version asked for must itself be
// applied, so it fails meanwhile although a later version is. Down takes back the latest applied one.
func gooseOutOfOrder(t *testing.T, db *sql.DB, dialect goose.Dialect, checkURL string) {
	t.Helper()
	ctx := context.Background()
	table := func(name string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE " + name + " (x int);\n-- +goose Down\nDROP TABLE " + name + ";\n")}
	}
	files := fstest.MapFS{"20241101000000_a.sql": table("a"), "20241121000000_c.sql": table("c")}
	provider := func(opts ...goose.ProviderOption) *goose.Provider {
		t.Helper()
		p, err := goose.NewProvider(dialect, db, files, opts...)
		if err != nil {
			t.Fatalf("goose: %v", err)
		}
		return p
	}
	if _, err := provider().Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	expectSchema(t, checkURL, mig("goose", "20241121000000"), true)
	expectSchema(t, checkURL, mig("goose", "20241101000000"), true)
	outOfOrder := "a later version is applied but 20241120093000 is not: an out-of-order migration is pending"
	expectSchema(t, checkURL, mig("goose", "20241120093000"), false, "version 20241120093000 is not applied", "at 20241121000000", outOfOrder)

	files["20241120093000_b.sql"] = table("b")
	if _, err := provider().Up(ctx); err == nil {
		t.Fatal("goose applied a missing (out-of-order) migration without allow-missing")
	}
	expectSchema(t, checkURL, mig("goose", "20241120093000"), false, outOfOrder)
	p := provider(goose.WithAllowOutofOrder(true))
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up with allow-missing: %v", err)
	}
	expectSchema(t, checkURL, mig("goose", "20241120093000"), true)
	expectSchema(t, checkURL, mig("goose", "20241121000000"), true)

	// goose's down takes back the latest applied migration (by its row), here the out-of-order one.
	res, err := p.Down(ctx)
	if err != nil || res.Source.Version != 20241120093000 {
		t.Fatalf("down: %v, %+v; want 20241120093000 rolled back", err, res)
	}
	expectSchema(t, checkURL, mig("goose", "20241120093000"), false, outOfOrder)
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	expectSchema(t, checkURL, mig("goose", "20241121000000"), false, "at version 20241101000000", pendingHint)
}

// Rails (ActiveRecord::SchemaMigration): schema_migrations (version character varying primary key), a
// row per applied migration, deleted on rollback; rails applies every pending migration, older ones too.
func TestMigrationsRails(t *testing.T) {
	s := newPGSchema(t)
	expectSchema(t, s.url, mig("rails", "9"), false, "schema_migrations does not exist", absentHint)
	s.exec(t, "CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY)",
		"CREATE TABLE ar_internal_metadata (key character varying PRIMARY KEY, value character varying)")
	railsRows(t, s.exec, s.url)
}

// railsRows fills an empty rails schema_migrations: versions compare as numbers (the highest by max()
// as text would be 9, not 10), and the version asked for must itself be applied.
func railsRows(t *testing.T, exec func(*testing.T, ...string), url string) {
	t.Helper()
	expectSchema(t, url, mig("rails", "9"), false, "holds no applied migration", pendingHint)
	exec(t, "INSERT INTO schema_migrations VALUES ('8'), ('9')")
	expectSchema(t, url, mig("rails", "9"), true)
	expectSchema(t, url, mig("rails", "8"), true)
	expectSchema(t, url, mig("rails", "0009"), true)                                        // a number: rails writes 9
	expectSchema(t, url, mig("rails", "10"), false, "at version 9", "need 10", pendingHint) // max() as text says 9 >= 10
	exec(t, "INSERT INTO schema_migrations VALUES ('10')")
	expectSchema(t, url, mig("rails", "10"), true)                              // max() as text says 9
	expectSchema(t, url, mig("rails", "11"), false, "at version 10", "need 11") // not "at version 9"
	expectSchema(t, url, mig("rails", "7"), false, "a later version is applied but 7 is not", "not one of this release's migrations")

	// Out of order: a hotfix branch's migration merged after later ones were applied.
	exec(t, "INSERT INTO schema_migrations VALUES ('20241101000000'), ('20241121000000')")
	expectSchema(t, url, mig("rails", "20241121000000"), true)
	expectSchema(t, url, mig("rails", "20241120093000"), false, "version 20241120093000 is not applied", "at 20241121000000",
		"a later version is applied but 20241120093000 is not: an out-of-order migration is pending")
	expectSchema(t, url, mig("rails", "20241121000001"), false, "at version 20241121000000", pendingHint)
	exec(t, "INSERT INTO schema_migrations VALUES ('20241120093000')") // rails db:migrate applies it
	expectSchema(t, url, mig("rails", "20241120093000"), true)
}

// TestMigrationsSchemaWithoutUsage: Postgres leaves a schema of search_path that the login has no USAGE
// on out of it, without a word, so the tool's table reads as missing and the hint said no migration
// ever ran (wait would wait for ever). It still fails schema (the table may be another app's), and the
// hint names the schema that holds a table of that name and the grant that is missing.
func TestMigrationsSchemaWithoutUsage(t *testing.T) {
	s := newPGSchema(t)
	// Tables named after the schema: other tests' tables (schema_migrations in their own schemas, out
	// of this role's reach too) run in parallel.
	table, nowhere := s.name+"_versions", s.name+"_nowhere"
	s.exec(t, "CREATE TABLE "+table+" (version character varying NOT NULL PRIMARY KEY)",
		"INSERT INTO "+table+" VALUES ('9')")
	role := s.name + "_app"
	s.exec(t, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() {
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := s.admin.Exec(context.Background(), q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "s3cr3t")
	m := config.Migrations{Tool: "rails", Table: table, Version: "9"}
	expectSchema(t, u.String(), m, false, table+" does not exist", absentHint,
		"a "+table+` table exists in schema "`+s.name+`", which this login has no USAGE privilege on`)
	// A table of that name nowhere: the hint as it was.
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": u.String(),
		"migrations": config.Migrations{Tool: "rails", Table: nowhere, Version: "9"}})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Schema, absentHint, "s3cr3t")
	if strings.Contains(ch.Hint(err), "USAGE") {
		t.Errorf("hint %q names a schema out of reach, with no %s table anywhere", ch.Hint(err), nowhere)
	}
	s.exec(t, "GRANT USAGE ON SCHEMA "+s.name+" TO "+role, "GRANT SELECT ON "+table+" TO "+role)
	expectSchema(t, u.String(), m, true)
}

// dbmate's own binary writes its table: dbmate migrate and rollback against the real Postgres.
func TestMigrationsDbmate(t *testing.T) {
	bin := dbmateBinary(t)
	s := newPGSchema(t)
	// dbmate keeps schema_migrations in the first schema of search_path.
	dbmateNumbers(t, bin, s.rwURL, s.url)
	s = newPGSchema(t)
	dbmateOutOfOrder(t, bin, s.rwURL, s.url)
	s = newPGSchema(t)
	dbmateLeadingZeros(t, bin, s.rwURL, s.url)
}

// dbmateLeadingZeros: dbmate keys a migration by its version as the file name writes it, so 0020 and 20
// are two migrations: 20 is not applied while only 0020 is (the message names 0020), and dbmate migrate
// applies 20_b.sql beside 0020_a.sql.
func dbmateLeadingZeros(t *testing.T, bin, dbURL, checkURL string) {
	t.Helper()
	dir := t.TempDir()
	dbmateFile(t, dir, "0020_a.sql", "")
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "0020"), true)
	spelled := "0020 is applied, not 20: if this release's migration is 0020_*.sql, write migrations.version: \"0020\" (quoted); if it is 20_*.sql, it is pending"
	expectSchema(t, checkURL, mig("dbmate", "20"), false, "version 20 is not applied, 0020 is", "0020 are two migrations", spelled)
	expectSchema(t, checkURL, mig("dbmate", "020"), false, "version 020 is not applied, 0020 is")
	expectSchema(t, checkURL, mig("dbmate", "21"), false, "at version 0020", "need 21", pendingHint)
	dbmateFile(t, dir, "20_b.sql", "")
	dbmateRun(t, bin, dbURL, dir, true, "migrate") // dbmate's own verdict: 20 was pending
	expectSchema(t, checkURL, mig("dbmate", "20"), true)
	expectSchema(t, checkURL, mig("dbmate", "0020"), true)
	// rails reads the same rows as numbers (rails itself writes 0020_a.rb as 20).
	expectSchema(t, checkURL, mig("rails", "020"), true)
}

// dbmateBinary finds the dbmate binary that .ci/run installs from npm (@dbmate/linux-x64, pinned;
// HEALTHGATE_DBMATE), or one on PATH. In CI its absence fails the test.
func dbmateBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HEALTHGATE_DBMATE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("dbmate"); err == nil {
		return p
	}
	if checktest.InCI() {
		t.Fatal("dbmate not found (CI=true: .ci/run installs it and sets HEALTHGATE_DBMATE)")
	}
	t.Skip("dbmate not installed: npm install --prefix DIR @dbmate/linux-x64@2.36.0, then HEALTHGATE_DBMATE=DIR/node_modules/@dbmate/linux-x64/bin/dbmate")
	return ""
}

// dbmateRun is one dbmate command on the migrations of dir/db/migrations; ok says whether it must succeed.
func dbmateRun(t *testing.T, bin, dbURL, dir string, ok bool, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--url", dbURL, "--migrations-dir", filepath.Join(dir, "db", "migrations"), "--no-dump-schema"}, args...)...)
	cmd.Dir = dir // dbmate reads ./.env: there is none
	out, err := cmd.CombinedOutput()
	if (err == nil) != ok {
		t.Fatalf("dbmate %s: %v (want success %v):\n%s", strings.Join(args, " "), err, ok, out)
	}
}

// dbmateFile writes a migration that creates a table named after it, then runs more (such as a failing
// statement).
func dbmateFile(t *testing.T, dir, name, more string) {
	t.Helper()
	migrations := filepath.Join(dir, "db", "migrations")
	if err := os.MkdirAll(migrations, 0o755); err != nil {
		t.Fatal(err)
	}
	table := "t" + strings.TrimSuffix(name, ".sql")
	body := "-- migrate:up\nCREATE TABLE " + table + " (x int);\n" + more + "\n-- migrate:down\nDROP TABLE " + table + ";\n"
	if err := os.WriteFile(filepath.Join(migrations, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dbmateNumbers: versions that sort differently as text and as numbers, a failing migration (dbmate
// records nothing of it) and a rollback. dbmate itself orders versions as text: its rollback takes
// back 9, not 10.
func dbmateNumbers(t *testing.T, bin, dbURL, checkURL string) {
	t.Helper()
	dir := t.TempDir()
	expectSchema(t, checkURL, mig("dbmate", "9"), false, "schema_migrations does not exist", absentHint)
	dbmateFile(t, dir, "9_a.sql", "")
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	dbmateRun(t, bin, dbURL, dir, true, "rollback")
	expectSchema(t, checkURL, mig("dbmate", "9"), false, "holds no applied migration", pendingHint)
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "9"), true)
	// dbmate keys migrations by the version as written: 09 would be another migration.
	expectSchema(t, checkURL, mig("dbmate", "09"), false, "version 09 is not applied, 9 is", `write migrations.version: "9"`)
	expectSchema(t, checkURL, mig("dbmate", "10"), false, "at version 9", "need 10", pendingHint) // "9" > "10" as text
	dbmateFile(t, dir, "10_b.sql", "")
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "10"), true)
	expectSchema(t, checkURL, mig("dbmate", "9"), true)
	dbmateFile(t, dir, "11_c.sql", "SELECT * FROM healthgate_no_such_table;")
	dbmateRun(t, bin, dbURL, dir, false, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "11"), false, "at version 10", "need 11", pendingHint)
	if err := os.Remove(filepath.Join(dir, "db", "migrations", "11_c.sql")); err != nil {
		t.Fatal(err)
	}
	dbmateRun(t, bin, dbURL, dir, true, "rollback") // dbmate's latest, as text: 9
	expectSchema(t, checkURL, mig("dbmate", "9"), false, "a later version is applied but 9 is not")
	expectSchema(t, checkURL, mig("dbmate", "10"), true)
}

// dbmateOutOfOrder: a hotfix branch's migration, older than the applied ones, is pending until dbmate
// migrate applies it (dbmate applies every pending migration, older ones too); rollback takes the
// latest back.
func dbmateOutOfOrder(t *testing.T, bin, dbURL, checkURL string) {
	t.Helper()
	dir := t.TempDir()
	dbmateFile(t, dir, "20241101000000_a.sql", "")
	dbmateFile(t, dir, "20241121000000_c.sql", "")
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "20241121000000"), true)
	expectSchema(t, checkURL, mig("dbmate", "20241101000000"), true)
	outOfOrder := "a later version is applied but 20241120093000 is not: an out-of-order migration is pending"
	expectSchema(t, checkURL, mig("dbmate", "20241120093000"), false, "version 20241120093000 is not applied", "at 20241121000000", outOfOrder)
	dbmateFile(t, dir, "20241120093000_b.sql", "")
	expectSchema(t, checkURL, mig("dbmate", "20241120093000"), false, outOfOrder)
	dbmateRun(t, bin, dbURL, dir, true, "migrate")
	expectSchema(t, checkURL, mig("dbmate", "20241120093000"), true)
	expectSchema(t, checkURL, mig("dbmate", "20241121000000"), true)
	dbmateRun(t, bin, dbURL, dir, true, "rollback")
	expectSchema(t, checkURL, mig("dbmate", "20241121000000"), false, "at version 20241120093000", pendingHint)
	expectSchema(t, checkURL, mig("dbmate", "20241120093000"), true)
}

// A table name is quoted, not pasted: mixed case and a double quote in the name reach the right table.
func TestMigrationsTableQuoting(t *testing.T) {
	s := newPGSchema(t)
	s.exec(t, `CREATE TABLE "Odd""Name" (version varchar(128) PRIMARY KEY)`, `INSERT INTO "Odd""Name" VALUES ('7')`)
	expectSchema(t, s.url, config.Migrations{Tool: "rails", Table: `Odd"Name`, Version: "7"}, true)
	expectSchema(t, s.rawURL, config.Migrations{Tool: "rails", Table: s.name + `.Odd"Name`, Version: "8"}, false, "at version 7")
	// The lower-case name is another table (Postgres folds only unquoted names).
	expectSchema(t, s.url, config.Migrations{Tool: "rails", Table: `odd"name`, Version: "7"}, false, "does not exist")
}

// Another tool's table under the same name (rails' schema_migrations read as golang-migrate's) is named
// as a layout mismatch, not as pending migrations.
func TestMigrationsWrongLayout(t *testing.T) {
	s := newPGSchema(t)
	s.exec(t, "CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY)", "INSERT INTO schema_migrations VALUES ('20241120093000')")
	expectSchema(t, s.url, mig("golang-migrate", "20241120093000"), false, "is not golang-migrate's", "migrations.tool")

	// The other way round: golang-migrate's own table (version bigint, dirty) read as dbmate's or
	// rails', which share its default name, clean or dirty.
	s = newPGSchema(t)
	golangMigrateReadAsOthers(t, strings.Replace(s.rwURL, "postgres://", "pgx5://", 1), s.url)
}

// golangMigrateDirtyFiles are golang-migrate migrations 9 and 10, then 11, which fails part-way and leaves
// the version dirty, on either server.
var golangMigrateDirtyFiles = fstest.MapFS{
	"m/9_a.up.sql":    {Data: []byte("CREATE TABLE a (x int);")},
	"m/9_a.down.sql":  {Data: []byte("DROP TABLE a;")},
	"m/10_b.up.sql":   {Data: []byte("CREATE TABLE b (x int);")},
	"m/10_b.down.sql": {Data: []byte("DROP TABLE b;")},
	"m/11_c.up.sql":   {Data: []byte("CREATE TABLE c (x int); SELECT * FROM healthgate_no_such_table;")},
	"m/11_c.down.sql": {Data: []byte("DROP TABLE IF EXISTS c;")},
}

// golangMigrateReadAsOthers migrates with golang-migrate itself (through migrateURL) to 10, then fails
// 11, leaving it dirty. Either way its schema_migrations, read through url as dbmate's or rails', is
// named as golang-migrate's (a schema failure with the layout hint), whatever the version asked for.
func golangMigrateReadAsOthers(t *testing.T, migrateURL, url string) {
	t.Helper()
	m := newMigrate(t, golangMigrateDirtyFiles, migrateURL)
	if err := m.Migrate(10); err != nil {
		t.Fatalf("migrate to 10: %v", err)
	}
	expectReadAsOthers(t, url)
	if err := m.Up(); err == nil {
		t.Fatal("migration 11 should have failed")
	}
	expectReadAsOthers(t, url)
}

func expectReadAsOthers(t *testing.T, url string) {
	t.Helper()
	for _, tool := range []string{"dbmate", "rails"} {
		for _, version := range []string{"9", "10", "11"} {
			expectSchema(t, url, mig(tool, version), false, "does not read as "+tool+"'s: it has golang-migrate's dirty column",
				"table schema_migrations is golang-migrate's, not "+tool+"'s", "check migrations.tool")
		}
	}
}

// flyway_schema_history as Flyway 9/10 creates it on Postgres (its createMetaDataTable.sql): one row per
// applied script, in installed_rank order; repeatable migrations (R__) have a NULL version; a baseline is a
// row of type BASELINE; a failure is a row with success false (Postgres rolls back a failed
// transactional migration, so flyway records it only for non-transactional ones, or on MySQL).
func TestMigrationsFlyway(t *testing.T) {
	s := newPGSchema(t)
	expectSchema(t, s.url, mig("flyway", "1"), false, "flyway_schema_history does not exist", absentHint)
	s.exec(t, flywayPostgresTable)
	flywayHistory(t, s.exec, s.url)
	s = newPGSchema(t)
	s.exec(t, flywayPostgresTable)
	flywayBaseline(t, s.exec, s.url)
	s = newPGSchema(t)
	s.exec(t, flywayPostgresTable)
	flywayBaselineMigration(t, s.exec, s.url)
	s = newPGSchema(t)
	s.exec(t, flywayPostgresTable)
	flywayDeletedFailure(t, s.exec, s.url)
}

// flywayDeletedFailure: `flyway repair` marks a migration whose script is gone as deleted with a DELETE
// row (success true, the version and script of the row it deletes), and that marks the latest row of
// that version, or of that repeatable migration, deleted whether it succeeded or failed
// (MigrationInfoServiceImpl.markAsDeleted, markRepeatableAsDeleted): a deleted failure fails no more.
func flywayDeletedFailure(t *testing.T, exec func(*testing.T, ...string), url string) {
	t.Helper()
	exec(t, flywayRow(1, "1", "SQL", "V1__a.sql", true), flywayRow(2, "", "SQL", "R__views.sql", false), flywayRow(3, "2", "SQL", "V2__b.sql", false))
	expectSchema(t, url, mig("flyway", "1"), false, "migration R__views.sql (a repeatable migration) failed")
	exec(t, flywayRow(4, "", "DELETE", "R__views.sql", true))
	expectSchema(t, url, mig("flyway", "1"), true)
	expectSchema(t, url, mig("flyway", "2"), false, "migration 2 failed")
	exec(t, flywayRow(5, "2", "DELETE", "V2__b.sql", true))
	expectSchema(t, url, mig("flyway", "2"), false, "at version 1", pendingHint)
}

const flywayPostgresTable = `CREATE TABLE flyway_schema_history (
	installed_rank integer NOT NULL, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,
	script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
	installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL, success boolean NOT NULL,
	CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank));
	CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success)`

// flywayRow is a row of flyway_schema_history as flyway writes it; version "" is NULL (a repeatable
// migration).
func flywayRow(rank int, version, typ, script string, success bool) string {
	v := "NULL"
	if version != "" {
		v = "'" + version + "'"
	}
	return "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (" +
		strconv.Itoa(rank) + ", " + v + ", 'd', '" + typ + "', '" + script + "', 1, 'flyway', 3, " + strconv.FormatBool(success) + ")"
}

// flywayHistory fills an empty flyway_schema_history the way flyway does, on either server.
func flywayHistory(t *testing.T, exec func(*testing.T, ...string), url string) {
	t.Helper()
	row := flywayRow
	expectSchema(t, url, mig("flyway", "1"), false, "holds no applied migration", pendingHint)
	exec(t, row(1, "1", "SQL", "V1__init.sql", true), row(2, "", "SQL", "R__views.sql", true), row(3, "1.9", "SQL", "V1_9__a.sql", true))
	expectSchema(t, url, mig("flyway", "1.9"), true)
	expectSchema(t, url, mig("flyway", "1"), true)
	expectSchema(t, url, mig("flyway", "1.10"), false, "at version 1.9", "need 1.10", pendingHint) // "1.9" > "1.10" as text
	exec(t, row(4, "1.10", "SQL", "V1_10__b.sql", true), row(5, "", "SQL", "R__views.sql", true))
	expectSchema(t, url, mig("flyway", "1.10"), true) // "1.10" < "1.9" as text
	expectSchema(t, url, mig("flyway", "1.10.0"), true)
	expectSchema(t, url, mig("flyway", "2"), false, "at version 1.10")

	// Out of order (flyway's outOfOrder): 1.9.5, merged late, is pending although 1.10 is applied.
	expectSchema(t, url, mig("flyway", "1.9.5"), false, "version 1.9.5 is not applied", "at 1.10",
		"a later version is applied but 1.9.5 is not: an out-of-order migration is pending")
	exec(t, row(6, "1.9.5", "SQL", "V1_9_5__hotfix.sql", true))
	expectSchema(t, url, mig("flyway", "1.9.5"), true)

	// A failed migration above the version asked for (the next release's job failed): flyway applies in
	// order, so the version asked for is in place and passes; at or above the failed one, it fails,
	// naming it (flyway migrates no further until `flyway repair`).
	exec(t, row(7, "1.11", "SQL", "V1_11__c.sql", false))
	expectSchema(t, url, mig("flyway", "1.10"), true)
	expectSchema(t, url, mig("flyway", "1.11"), false, "migration 1.11 failed", failedHint, "flyway repair")
	expectSchema(t, url, mig("flyway", "1.12"), false, "migration 1.11 failed", failedHint)
	// After `flyway repair` (which deletes the failed row) and a successful migrate, it passes.
	exec(t, "DELETE FROM flyway_schema_history WHERE installed_rank = 7", row(8, "1.11", "SQL", "V1_11__c.sql", true))
	expectSchema(t, url, mig("flyway", "1.11"), true)
	// A failed row followed by a success of the same version is not failed either.
	exec(t, row(9, "1.12", "SQL", "V1_12__d.sql", false), row(10, "1.12", "SQL", "V1_12__d.sql", true))
	expectSchema(t, url, mig("flyway", "1.12"), true)
	// An undone version (Flyway Teams undo) is no longer applied.
	exec(t, row(11, "1.12", "UNDO_SQL", "U1_12__d.sql", true))
	expectSchema(t, url, mig("flyway", "1.12"), false, "at version 1.11")

	// A failed repeatable migration (no version): flyway migrates no further until `flyway repair`, and
	// it has no version to compare, so it fails whatever the version asked for, naming the script.
	exec(t, row(12, "", "SQL", "R__views.sql", false))
	expectSchema(t, url, mig("flyway", "1.11"), false, "migration R__views.sql (a repeatable migration) failed", failedHint, "flyway repair")
	exec(t, row(13, "", "SQL", "R__views.sql", true))
	expectSchema(t, url, mig("flyway", "1.11"), true)
}

// flywayBaseline: the marker row of the schemas flyway created (type SCHEMA, version 0) is no migration;
// a BASELINE row stands for every version up to its own.
func flywayBaseline(t *testing.T, exec func(*testing.T, ...string), url string) {
	t.Helper()
	exec(t, "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)"+
		" VALUES (0, '0', '<< Flyway Schema Creation >>', 'SCHEMA', '\"app\"', NULL, 'flyway', 0, true)")
	expectSchema(t, url, mig("flyway", "1"), false, "holds no applied migration", pendingHint)
	exec(t, "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)"+
		" VALUES (1, '5', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'flyway', 0, true)")
	expectSchema(t, url, mig("flyway", "5"), true)
	expectSchema(t, url, mig("flyway", "3"), true) // below the baseline
	expectSchema(t, url, mig("flyway", "10"), false, "at version 5", pendingHint)
	exec(t, flywayRow(2, "6", "SQL", "V6__a.sql", true))
	expectSchema(t, url, mig("flyway", "6"), true)
	expectSchema(t, url, mig("flyway", "5.5"), false, "a later version is applied but 5.5 is not")
}

// flywayBaselineMigration: a baseline migration (B7__all.sql, or a Java one) builds an empty schema at its
// version in one script, and flyway records it with type SQL_BASELINE (JDBC_BASELINE; SQL_STATE_SCRIPT and
// JDBC_STATE_SCRIPT before Flyway 8): like a BASELINE row, it stands for every version up to its own, which
// flyway never applies there (BaselineMigrationType.isBaseline, MigrationInfoServiceImpl).
func flywayBaselineMigration(t *testing.T, exec func(*testing.T, ...string), url string) {
	t.Helper()
	exec(t, flywayRow(1, "7", "SQL_BASELINE", "B7__all.sql", true))
	expectSchema(t, url, mig("flyway", "7"), true)
	expectSchema(t, url, mig("flyway", "3"), true) // below the baseline migration: never applied, covered
	expectSchema(t, url, mig("flyway", "8"), false, "at version 7", pendingHint)
	exec(t, flywayRow(2, "8", "SQL", "V8__a.sql", true))
	expectSchema(t, url, mig("flyway", "8"), true)
	expectSchema(t, url, mig("flyway", "7.5"), false, "a later version is applied but 7.5 is not")
	for i, typ := range []string{"JDBC_BASELINE", "SQL_STATE_SCRIPT", "JDBC_STATE_SCRIPT"} {
		exec(t, "DELETE FROM flyway_schema_history", flywayRow(i+3, "9", typ, "db.migration.B9__All", true))
		expectSchema(t, url, mig("flyway", "2"), true)
	}
}

// databasechangelog as Liquibase 4 creates it: one row per changeset run, with exectype EXECUTED,
// FAILED, SKIPPED, RERAN or MARK_RAN, and the tag of `liquibase tag` (or a tagDatabase changeset) on the
// last row. A changeset is its file, id and author: `version` is a tag, FILENAME::ID::AUTHOR (as
// liquibase status prints it) or a bare id that names one changeset; ids have no order, so they match
// exactly.
func TestMigrationsLiquibase(t *testing.T) {
	s := newPGSchema(t)
	expectSchema(t, s.url, mig("liquibase", "1"), false, "databasechangelog does not exist", absentHint)
	s.exec(t, liquibasePostgresTable)
	liquibaseChangelog(t, s.exec, s.url, "databasechangelog", "now()")
}

const liquibasePostgresTable = `CREATE TABLE databasechangelog (id varchar(255) NOT NULL, author varchar(255) NOT NULL, filename varchar(255) NOT NULL,
	dateexecuted timestamp NOT NULL, orderexecuted integer NOT NULL, exectype varchar(10) NOT NULL, md5sum varchar(35),
	description varchar(255), comments varchar(255), tag varchar(255), liquibase varchar(20), contexts varchar(255),
	labels varchar(255), deployment_id varchar(10))`

// On Postgres, goose and liquibase create their table under another name than the one they are given:
// goose pastes it into its SQL unquoted (CREATE TABLE %s), so Postgres folds it to lower case, schema
// included; liquibase lower-cases its table name itself (PostgresDatabase.getDatabaseChangeLogTableName),
// and a schema name that does not mix cases (correctObjectName). A table written as the tool's own setting
// is (databaseChangeLogTableName's default is DATABASECHANGELOG) must find that table.
func TestMigrationsPostgresToolFoldedNames(t *testing.T) {
	s := newPGSchema(t)
	s.exec(t, liquibasePostgresTable, "INSERT INTO databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype, tag)"+
		" VALUES ('1', 'dev', 'db/a.xml', now(), 1, 'EXECUTED', 'v1.0')")
	expectSchema(t, s.url, config.Migrations{Tool: "liquibase", Table: "DATABASECHANGELOG", Version: "v1.0"}, true)
	expectSchema(t, s.rawURL, config.Migrations{Tool: "liquibase", Table: strings.ToUpper(s.name) + ".DATABASECHANGELOG", Version: "v1.0"}, true)
	expectSchema(t, s.url, config.Migrations{Tool: "liquibase", Table: "DatabaseChangeLog", Version: "v1.0"}, true)

	db, err := sql.Open("pgx", s.rwURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files := fstest.MapFS{"1_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n")}}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithTableName("App_Versions"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		t.Fatalf("goose up: %v", err)
	}
	expectSchema(t, s.url, config.Migrations{Tool: "goose", Table: "App_Versions", Version: "1"}, true)
	expectSchema(t, s.rawURL, config.Migrations{Tool: "goose", Table: strings.ToUpper(s.name) + ".App_Versions", Version: "1"}, true)
	// A tool that quotes its table name keeps its case: rails' App_Versions is another table.
	expectSchema(t, s.url, config.Migrations{Tool: "rails", Table: "App_Versions", Version: "1"}, false, "does not exist")
}

// liquibaseChangelog fills an empty changelog table the way liquibase does, on either server.
func liquibaseChangelog(t *testing.T, exec func(*testing.T, ...string), url, table, now string) {
	t.Helper()
	row := func(order int, file, id, exectype, tag string) string {
		t := "NULL"
		if tag != "" {
			t = "'" + tag + "'"
		}
		return "INSERT INTO " + table + " (id, author, filename, dateexecuted, orderexecuted, exectype, md5sum, tag, liquibase, deployment_id) VALUES ('" +
			id + "', 'dev', '" + file + "', " + now + ", " + strconv.Itoa(order) + ", '" + exectype + "', '9:abc', " + t + ", '4.29.2', '1234567890')"
	}
	expectSchema(t, url, mig("liquibase", "1"), false, "holds no applied migration", pendingHint)
	exec(t, row(1, "db/a.xml", "1", "EXECUTED", ""), row(2, "db/a.xml", "9", "EXECUTED", "v1.0"))
	expectSchema(t, url, mig("liquibase", "9"), true)
	expectSchema(t, url, mig("liquibase", "1"), true) // one changeset has this id, so far
	expectSchema(t, url, mig("liquibase", "v1.0"), true)
	expectSchema(t, url, mig("liquibase", "db/a.xml::1::dev"), true)
	expectSchema(t, url, mig("liquibase", "10"), false, `"10" is not in `+table, pendingHint) // "9" > "10" as text: no order for ids
	expectSchema(t, url, mig("liquibase", "v2.0"), false, "changeset v2.0 is pending")
	expectSchema(t, url, mig("liquibase", "db/b.xml::1::dev"), false, `"db/b.xml::1::dev" is not in `+table, pendingHint)
	expectSchema(t, url, mig("liquibase", "db/a.xml::1::someone"), false, "is not in "+table)
	// Liquibase tells a changeset that ran from one that did not by its file, id and author compared
	// without case, the file as its normalizePath writes it (no classpath: prefix, no leading slash or
	// ./, / for \): RanChangeSet.isSameAs. It looks a tag up in the database without case too
	// (AfterTagChangeSetFilter, for rollback). So does healthgate, on Postgres as on MySQL.
	expectSchema(t, url, mig("liquibase", "V1.0"), true)
	expectSchema(t, url, mig("liquibase", "DB/A.XML::1::DEV"), true)
	expectSchema(t, url, mig("liquibase", "classpath:/db/a.xml::1::dev"), true)
	expectSchema(t, url, mig("liquibase", "./db//a.xml::1::dev"), true)
	expectSchema(t, url, mig("liquibase", `db\a.xml::1::dev`), true)
	expectSchema(t, url, mig("liquibase", "db/a.xml/::1::dev"), false, `"db/a.xml/::1::dev" is not in `+table, "db/a.xml::1::dev is")
	expectSchema(t, url, mig("liquibase", "db/b.xml::1::dev"), false, `"db/b.xml::1::dev" is not in `+table, "db/a.xml::1::dev is")
	// A quote in the id is an argument, not SQL.
	expectSchema(t, url, mig("liquibase", "x' OR '1'='1"), false, "is not in "+table)
	exec(t, row(3, "db/a.xml", "10", "MARK_RAN", ""), row(4, "db/a.xml", "add-users", "FAILED", ""))
	expectSchema(t, url, mig("liquibase", "10"), true)
	expectSchema(t, url, mig("liquibase", "add-users"), false, "migration add-users", "FAILED", failedHint)
	expectSchema(t, url, mig("liquibase", "db/a.xml::add-users::dev"), false, "migration db/a.xml::add-users::dev", "FAILED", failedHint)
	exec(t, row(5, "db/a.xml", "add-users", "RERAN", "v2.0"))
	expectSchema(t, url, mig("liquibase", "add-users"), true)
	expectSchema(t, url, mig("liquibase", "v2.0"), true)

	// Ids repeat across changelog files: a bare id that names changesets of two files is ambiguous, even
	// when both ran; the full name or a tag is not.
	exec(t, row(6, "db/b.xml", "1", "EXECUTED", ""))
	expectSchema(t, url, mig("liquibase", "1"), false, `changeset id "1" names 2 changesets in `+table, "db/a.xml::1::dev, db/b.xml::1::dev",
		"changeset id 1 is ambiguous", "FILENAME::ID::AUTHOR", "or use a tag")
	expectSchema(t, url, mig("liquibase", "db/b.xml::1::dev"), true)
	expectSchema(t, url, mig("liquibase", "db/a.xml::1::dev"), true)
	exec(t, row(7, "db/c.xml", "2", "FAILED", ""))
	expectSchema(t, url, mig("liquibase", "db/c.xml::2::dev"), false, "migration db/c.xml::2::dev", failedHint)
	// A changeset recorded by an earlier run under another spelling of its file (liquibase 3 kept the
	// classpath: prefix) is the same changeset: stored twice, a bare id naming it is not ambiguous.
	exec(t, row(8, "classpath:/db/d.xml", "d-1", "EXECUTED", ""), row(9, "db/D.xml", "D-1", "EXECUTED", ""))
	expectSchema(t, url, mig("liquibase", "db/d.xml::d-1::dev"), true)
	expectSchema(t, url, mig("liquibase", "d-1"), true)
}

// alembic_version as Alembic creates it: version_num varchar(32), primary key alembic_version_pkc; one
// row per head (more than one with branches), none at base. The version is this release's exact head.
func TestMigrationsAlembic(t *testing.T) {
	s := newPGSchema(t)
	expectSchema(t, s.url, mig("alembic", "1975ea83b712"), false, "alembic_version does not exist", absentHint)
	s.exec(t, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
	expectSchema(t, s.url, mig("alembic", "1975ea83b712"), false, "holds no applied migration", pendingHint)
	s.exec(t, "INSERT INTO alembic_version VALUES ('ae1027a6acf')")
	expectSchema(t, s.url, mig("alembic", "1975ea83b712"), false, "at revision ae1027a6acf", "needs head 1975ea83b712", alembicHint("ae1027a6acf", "1975ea83b712"))
	s.exec(t, "UPDATE alembic_version SET version_num = '1975ea83b712'")
	expectSchema(t, s.url, mig("alembic", "1975ea83b712"), true)
	// Revision ids have no order: "9" is not "at least" "10", nor the reverse.
	s.exec(t, "UPDATE alembic_version SET version_num = '9'")
	expectSchema(t, s.url, mig("alembic", "10"), false, "at revision 9", alembicHint("9", "10"))
	// Two branches: either head is this release's.
	s.exec(t, "INSERT INTO alembic_version VALUES ('27c6a30d7c24')")
	expectSchema(t, s.url, mig("alembic", "27c6a30d7c24"), true)
	expectSchema(t, s.url, mig("alembic", "9"), true)
	expectSchema(t, s.url, mig("alembic", "1975ea83b712"), false, "at revision")
}

// alembicHint is the hint for another revision: alembic's ids have no order, so it says both cases.
func alembicHint(at, want string) string {
	return "the database is at revision " + at + ", not " + want + ": an upgrade is pending (clears when the migration job finishes), or the database is at another release's head, e.g. after a rollback"
}

// Migrations are read on the check's connection: a server that refuses the connection is classified as
// always, and a missing table or an old version never hides the server's own state.
func TestMigrationsOtherFailuresKeepTheirClass(t *testing.T) {
	s := newPGSchema(t)
	ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, s.url, checktest.Unreachable(t)), "migrations": mig("goose", "1")})})
	err, _ := runCheck(t, ch)
	if c := checks.ClassOf(err); c == checks.Schema || c == "" {
		t.Fatalf("unreachable server: class %s (%v)", c, err)
	}
	// writable still reads the recovery state: the primary passes, then the schema decides. (On s.rwURL:
	// s.url's sessions are read-only, which writable reads as a primary that takes no writes.)
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": s.rwURL, "writable": true, "migrations": mig("goose", "1")})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, checks.Schema)
}

func TestMigrationsConfigErrors(t *testing.T) {
	pg := "postgres://u@127.0.0.1:1/db"
	tests := []struct {
		m     config.Migrations
		field string
		want  string
	}{
		{config.Migrations{Tool: "flywya", Version: "1"}, "tool", `unknown migration tool "flywya" (did you mean "flyway"?)`},
		{config.Migrations{Tool: "migrate", Version: "1"}, "tool", `did you mean "golang-migrate"?`},
		{config.Migrations{Tool: "sqitch", Version: "1"}, "tool", "known: golang-migrate, goose, dbmate, rails, flyway, liquibase, alembic"},
		{config.Migrations{Version: "1"}, "tool", "required"},
		{config.Migrations{Tool: "golang-migrate"}, "version", "required"},
		{config.Migrations{Tool: "golang-migrate", Version: "v1.2"}, "version", "whole number"},
		{config.Migrations{Tool: "goose", Version: "-3"}, "version", "whole number"},
		{config.Migrations{Tool: "goose", Version: "99999999999999999999"}, "version", "larger than"},
		{config.Migrations{Tool: "goose", Version: "0"}, "version", `"0" is version 0, the row goose writes when it creates its table, never a migration; write the number at the start`},
		{config.Migrations{Tool: "goose", Version: "00"}, "version", "the row goose writes when it creates its table"},
		{config.Migrations{Tool: "dbmate", Version: "2024-11-20"}, "version", "digits only"},
		{config.Migrations{Tool: "rails", Version: " 1"}, "version", "spaces"},
		{config.Migrations{Tool: "flyway", Version: "1_2"}, "version", "stores V1_2__name.sql as 1.2"},
		{config.Migrations{Tool: "flyway", Version: "1.x"}, "version", "not a flyway version"},
		{config.Migrations{Tool: "alembic", Version: "head"}, "version", "not a revision id"},
		{config.Migrations{Tool: "alembic", Version: "ae1027a6acf-users"}, "version", "not a revision id"}, // alembic: '-' not allowed in an id
		{config.Migrations{Tool: "alembic", Version: "ae1027a6acf@head"}, "version", "not a revision id"},
		{config.Migrations{Tool: "alembic", Version: strings.Repeat("a", 33)}, "version", "32 characters"},
		{config.Migrations{Tool: "liquibase", Version: ""}, "version", "changeset"},
		{config.Migrations{Tool: "liquibase", Version: "db/changelog.xml::1"}, "version", "FILENAME::ID::AUTHOR (three parts, none empty)"},
		{config.Migrations{Tool: "liquibase", Version: "db/changelog.xml::::dev"}, "version", "FILENAME::ID::AUTHOR"},
		{config.Migrations{Tool: "liquibase", Version: "f::" + strings.Repeat("i", 256) + "::a"}, "version", "255 characters each"},
		{config.Migrations{Tool: "goose", Version: "1", Table: "a.b.c"}, "table", "schema.table"},
		{config.Migrations{Tool: "goose", Version: "1", Table: ".b"}, "table", "empty name"},
		{config.Migrations{Tool: "goose", Version: "1", Table: strings.Repeat("t", 64)}, "table", "longer than the 63"},
	}
	for _, tc := range tests {
		// From a file, so that every error has its line.
		var fields []string
		for _, f := range []struct{ k, v string }{{"tool", tc.m.Tool}, {"table", tc.m.Table}, {"version", tc.m.Version}} {
			if f.v != "" {
				fields = append(fields, f.k+": "+strconv.Quote(f.v))
			}
		}
		cfg, err := config.Parse("test.yaml", []byte("checks:\n  - name: db\n    type: postgres\n    url: "+pg+"\n    migrations: {"+strings.Join(fields, ", ")+"}\n"), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.Checks[0]
		_, err = checks.New(c)
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Errorf("%+v: want one config error, got %v", tc.m, err)
			continue
		}
		if errs[0].Field != tc.field || !strings.Contains(errs[0].Msg, tc.want) || errs[0].Line == 0 {
			t.Errorf("%+v: got %q (field %s, line %d); want field %s containing %q", tc.m, errs[0], errs[0].Field, errs[0].Line, tc.field, tc.want)
		}
	}
	// A URL error and a migrations error are reported together.
	c := config.NewCheck("db", "postgres", "test.yaml", config.NewDefaults())
	c.Spec = config.SpecOf(map[string]any{"url": "postgres://u@h:notaport/db", "migrations": config.Migrations{Tool: "nope", Version: "1"}})
	if _, err := checks.New(c); err == nil || !strings.Contains(err.Error(), "url") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("want the url and the tool errors at once, got %v", err)
	}
}

// newMigrate is golang-migrate itself, migrating the database at url with the files under m/ (closed
// when the test ends).
func newMigrate(t *testing.T, files fstest.MapFS, url string) *migrate.Migrate {
	t.Helper()
	src, err := iofs.New(files, "m")
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, url)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() { _, _ = m.Close() })
	return m
}
