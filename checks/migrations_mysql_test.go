package checks_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-sql-driver/mysql"                        // also the database/sql driver "mysql", for goose
	_ "github.com/golang-migrate/migrate/v4/database/mysql" // the mysql:// driver of golang-migrate
	"github.com/pressly/goose/v3"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// The migrations tests of migrations_test.go, against the real MariaDB, each in a database of its own
// (created here, dropped after). golang-migrate (database/mysql), goose (its mysql dialect) and dbmate
// (its binary) write their tables themselves; rails, flyway, liquibase and alembic are replicated with
// the DDL their MySQL drivers use (liquibase's table is DATABASECHANGELOG in upper case there).

// myDB is a fresh database on the test MariaDB: admin is a connection to it; url reaches it read-only
// (tx_read_only=1, sent by the driver as a session setting), so a check that wrote anything would fail.
type myDB struct {
	name  string
	admin *sql.DB
	url   string // mysql://, read-only
	rwURL string // mysql://, read-write: for dbmate
	dsn   string // the driver's DSN, read-write, multiStatements: for the tools
	other string // mysql:// to the server's test database, read-only: for name.table
}

func newMyDB(t *testing.T) *myDB {
	t.Helper()
	base := checktest.MySQLURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hg_mig_" + hex.EncodeToString(b[:])
	pw, _ := u.User.Password()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pw, "tcp", u.Host
	root := openConfig(t, cfg)
	mustExec(t, root, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if _, err := root.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg = cfg.Clone()
	cfg.DBName, cfg.MultiStatements = name, true
	admin := openConfig(t, cfg)
	admin.SetMaxOpenConns(1)
	rw := *u
	rw.Path, rw.RawQuery = "/"+name, ""
	ro := rw
	ro.RawQuery = "tx_read_only=1"
	other := ro
	other.Path = u.Path
	return &myDB{name: name, admin: admin, url: ro.String(), rwURL: rw.String(), dsn: cfg.FormatDSN(), other: other.String()}
}

func openConfig(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func (d *myDB) exec(t *testing.T, stmts ...string) {
	t.Helper()
	mustExec(t, d.admin, stmts...)
}

func TestMySQLMigrationsGolangMigrate(t *testing.T) {
	d := newMyDB(t)
	files := golangMigrateDirtyFiles
	expectSchema(t, d.url, mig("golang-migrate", "9"), false, "schema_migrations does not exist", absentHint)
	m := newMigrate(t, files, "mysql://"+d.dsn)
	expectSchema(t, d.url, mig("golang-migrate", "9"), false, "holds no applied migration", pendingHint)

	if err := m.Migrate(9); err != nil {
		t.Fatalf("migrate to 9: %v", err)
	}
	expectSchema(t, d.url, mig("golang-migrate", "9"), true)
	expectSchema(t, d.url, mig("golang-migrate", "8"), true)
	expectSchema(t, d.url, mig("golang-migrate", "10"), false, "at version 9", "need 10", pendingHint) // "9" > "10" as text
	if err := m.Migrate(10); err != nil {
		t.Fatalf("migrate to 10: %v", err)
	}
	expectSchema(t, d.url, mig("golang-migrate", "9"), true) // "10" < "9" as text
	expectSchema(t, d.url, mig("golang-migrate", "10"), true)

	// Dirty: MySQL's DDL is not transactional, 11 fails half-way and golang-migrate leaves it dirty.
	if err := m.Up(); err == nil {
		t.Fatal("migration 11 should have failed")
	}
	var dirty bool
	if err := d.admin.QueryRow("SELECT dirty FROM schema_migrations").Scan(&dirty); err != nil || !dirty {
		t.Fatalf("golang-migrate did not leave a dirty version (dirty %v, %v)", dirty, err)
	}
	// 10 is in place below the dirty 11: a release that needs 10 passes, one that needs 11 fails.
	expectSchema(t, d.url, mig("golang-migrate", "10"), true)
	expectSchema(t, d.url, mig("golang-migrate", "11"), false, "migration 11 is dirty", failedHint, "migrate force")
	expectSchema(t, d.url, mig("golang-migrate", "12"), false, "migration 11 is dirty")

	if err := m.Force(10); err != nil {
		t.Fatal(err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	expectSchema(t, d.url, mig("golang-migrate", "9"), false, "holds no applied migration", pendingHint)

	// Database-qualified, from a connection to another database.
	if err := m.Migrate(10); err != nil {
		t.Fatal(err)
	}
	expectSchema(t, d.other, config.Migrations{Tool: "golang-migrate", Table: d.name + ".schema_migrations", Version: "10"}, true)
	expectSchema(t, d.other, config.Migrations{Tool: "golang-migrate", Table: d.name + ".nope", Version: "10"}, false, "does not exist", absentHint)
	expectSchema(t, d.other, config.Migrations{Tool: "golang-migrate", Table: d.name + "_gone.schema_migrations", Version: "10"}, false, "does not exist")
}

func TestMySQLMigrationsGoose(t *testing.T) {
	d := newMyDB(t)
	files := fstest.MapFS{
		"9_a.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n")},
		"10_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (x int);\n-- +goose Down\nDROP TABLE b;\n")},
		"11_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (x int);\nSELECT * FROM healthgate_no_such_table;\n-- +goose Down\nDROP TABLE c;\n")},
	}
	db, err := sql.Open("mysql", d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectMySQL, db, files)
	if err != nil {
		t.Fatalf("goose: %v", err)
	}
	ctx := context.Background()
	expectSchema(t, d.url, mig("goose", "9"), false, "goose_db_version does not exist", absentHint)
	if _, err := p.GetDBVersion(ctx); err != nil {
		t.Fatal(err)
	}
	expectSchema(t, d.url, mig("goose", "9"), false, "holds no applied migration", pendingHint)
	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatalf("up to 9: %v", err)
	}
	expectSchema(t, d.url, mig("goose", "9"), true)
	expectSchema(t, d.url, mig("goose", "10"), false, "at version 9", "need 10", pendingHint)
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatalf("up to 10: %v", err)
	}
	expectSchema(t, d.url, mig("goose", "9"), true)
	expectSchema(t, d.url, mig("goose", "10"), true)
	// A failing migration is not recorded (goose keeps no failed state): still at 10.
	if _, err := p.UpTo(ctx, 11); err == nil {
		t.Fatal("migration 11 should have failed")
	}
	expectSchema(t, d.url, mig("goose", "11"), false, "at version 10", "need 11")
	// goose's older history rows: the latest row of a version decides.
	d.exec(t, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (10, false)")
	expectSchema(t, d.url, mig("goose", "10"), false, "at version 9")
	d.exec(t, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (10, true)")
	expectSchema(t, d.url, mig("goose", "10"), true)
	if _, err := p.Down(ctx); err != nil { // the v3 provider: the row of 10 is deleted
		t.Fatal(err)
	}
	expectSchema(t, d.url, mig("goose", "10"), false, "at version 9", pendingHint)
	expectSchema(t, d.url, mig("goose", "9"), true)

	other := newMyDB(t)
	db2, err := sql.Open("mysql", other.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	gooseOutOfOrder(t, db2, goose.DialectMySQL, other.url)
}

// rails' table (ActiveRecord on mysql2): schema_migrations (version varchar(255) NOT NULL PRIMARY KEY), a
// row per applied migration.
func TestMySQLMigrationsRails(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("rails", "9"), false, "schema_migrations does not exist", absentHint)
	d.exec(t, "CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)",
		"CREATE TABLE ar_internal_metadata (`key` varchar(255) PRIMARY KEY, value varchar(255))")
	railsRows(t, d.exec, d.url)
}

// dbmate's own binary, against the real MariaDB.
func TestMySQLMigrationsDbmate(t *testing.T) {
	bin := dbmateBinary(t)
	d := newMyDB(t)
	dbmateNumbers(t, bin, d.rwURL, d.url)
	d = newMyDB(t)
	dbmateOutOfOrder(t, bin, d.rwURL, d.url)
	d = newMyDB(t)
	dbmateLeadingZeros(t, bin, d.rwURL, d.url)
}

// A backquote in a table name is doubled, not pasted; MySQL table names are case-sensitive on Linux.
func TestMySQLMigrationsTableQuoting(t *testing.T) {
	d := newMyDB(t)
	d.exec(t, "CREATE TABLE `Odd``Name` (version varchar(128) PRIMARY KEY)", "INSERT INTO `Odd``Name` VALUES ('7')")
	expectSchema(t, d.url, config.Migrations{Tool: "rails", Table: "Odd`Name", Version: "7"}, true)
	expectSchema(t, d.other, config.Migrations{Tool: "rails", Table: d.name + ".Odd`Name", Version: "8"}, false, "at version 7")
	// The lower-case name is another table.
	expectSchema(t, d.url, config.Migrations{Tool: "rails", Table: "odd`name", Version: "7"}, false, "does not exist")
	// MySQL keeps 64 characters of a name, not bytes: 64 two-byte characters are a name.
	long := strings.Repeat("é", 64)
	d.exec(t, "CREATE TABLE `"+long+"` (version varchar(128) PRIMARY KEY)", "INSERT INTO `"+long+"` VALUES ('7')")
	expectSchema(t, d.url, config.Migrations{Tool: "rails", Table: long, Version: "7"}, true)
	// A longer one is a configuration error.
	c := config.NewCheck("db", "mysql", "test", config.NewDefaults())
	c.Spec = config.SpecOf(map[string]any{"url": d.url, "migrations": config.Migrations{Tool: "rails", Table: strings.Repeat("t", 65), Version: "7"}})
	if _, err := checks.New(c); err == nil || !strings.Contains(err.Error(), "longer than the 64") {
		t.Errorf("a 65-character table name: %v; want a configuration error", err)
	}
}

func TestMySQLMigrationsWrongLayout(t *testing.T) {
	d := newMyDB(t)
	d.exec(t, "CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)", "INSERT INTO schema_migrations VALUES ('20241120093000')")
	expectSchema(t, d.url, mig("golang-migrate", "20241120093000"), false, "is not golang-migrate's", "migrations.tool")

	// golang-migrate's own table read as dbmate's or rails', clean, then dirty.
	d = newMyDB(t)
	golangMigrateReadAsOthers(t, "mysql://"+d.dsn, d.url)
}

// flyway_schema_history as Flyway creates it on MySQL (its mysql createMetaDataTable.sql); on MySQL a
// failed migration is recorded (success 0), its DDL having committed.
func TestMySQLMigrationsFlyway(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("flyway", "1"), false, "flyway_schema_history does not exist", absentHint)
	d.exec(t, flywayMySQLTable...)
	flywayHistory(t, d.exec, d.url)
	d = newMyDB(t)
	d.exec(t, flywayMySQLTable...)
	flywayBaseline(t, d.exec, d.url)
	d = newMyDB(t)
	d.exec(t, flywayMySQLTable...)
	flywayBaselineMigration(t, d.exec, d.url)
	d = newMyDB(t)
	d.exec(t, flywayMySQLTable...)
	flywayDeletedFailure(t, d.exec, d.url)
}

var flywayMySQLTable = []string{"CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL," +
	" type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL," +
	" installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT NULL, success BOOL NOT NULL," +
	" CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)) ENGINE=InnoDB",
	"CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success)"}

// DATABASECHANGELOG as Liquibase 4 creates it on MySQL: upper-case table (the default read here), one
// row per changeset run.
func TestMySQLMigrationsLiquibase(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("liquibase", "1"), false, "DATABASECHANGELOG does not exist", absentHint)
	d.exec(t, "CREATE TABLE DATABASECHANGELOG (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, FILENAME VARCHAR(255) NOT NULL,"+
		" DATEEXECUTED datetime NOT NULL, ORDEREXECUTED INT NOT NULL, EXECTYPE VARCHAR(10) NOT NULL, MD5SUM VARCHAR(35),"+
		" DESCRIPTION VARCHAR(255), COMMENTS VARCHAR(255), TAG VARCHAR(255), LIQUIBASE VARCHAR(20), CONTEXTS VARCHAR(255),"+
		" LABELS VARCHAR(255), DEPLOYMENT_ID VARCHAR(10))")
	liquibaseChangelog(t, d.exec, d.url, "DATABASECHANGELOG", "NOW()")
}

func TestMySQLMigrationsAlembic(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "alembic_version does not exist", absentHint)
	d.exec(t, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "holds no applied migration", pendingHint)
	d.exec(t, "INSERT INTO alembic_version VALUES ('ae1027a6acf')")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "at revision ae1027a6acf", alembicHint("ae1027a6acf", "1975ea83b712"))
	d.exec(t, "UPDATE alembic_version SET version_num = '1975ea83b712'")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), true)
	// Revision ids have no order and match exactly: "9" is not "at least" "10", nor is it "09".
	d.exec(t, "UPDATE alembic_version SET version_num = '9'")
	expectSchema(t, d.url, mig("alembic", "10"), false, "at revision 9", alembicHint("9", "10"))
	expectSchema(t, d.url, mig("alembic", "09"), false, "at revision 9")
	// Two branches: either head is this release's; another revision names both.
	d.exec(t, "INSERT INTO alembic_version VALUES ('27c6a30d7c24')")
	expectSchema(t, d.url, mig("alembic", "27c6a30d7c24"), true)
	expectSchema(t, d.url, mig("alembic", "9"), true)
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "at revision 27c6a30d7c24,9", alembicHint("27c6a30d7c24,9", "1975ea83b712"))
}

// The server's own state comes first: writable reads read_only, then the schema decides; an unreachable
// server is not a schema failure.
func TestMySQLMigrationsOtherFailuresKeepTheirClass(t *testing.T) {
	d := newMyDB(t)
	ch := newCheck(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, d.url, checktest.Unreachable(t)), "migrations": mig("goose", "1")})})
	err, _ := runCheck(t, ch)
	if c := checks.ClassOf(err); c == checks.Schema || c == "" {
		t.Fatalf("unreachable server: class %s (%v)", c, err)
	}
	ch = newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": d.url, "writable": true, "migrations": mig("goose", "1")})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, checks.Schema)
}
