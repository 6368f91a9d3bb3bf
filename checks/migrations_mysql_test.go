package checks_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-sql-driver/mysql" // also the database/sql driver "mysql", for goose
	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/mysql" // the mysql:// driver of golang-migrate
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/pressly/goose/v3"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// The migrations tests of migrations_test.go, against the real MariaDB, each in a database of its own
// (created here, dropped after). golang-migrate (database/mysql) and goose (its mysql dialect) write
// their tables themselves; dbmate, rails, flyway, liquibase and alembic are replicated with the DDL their
// MySQL drivers use (liquibase's table is DATABASECHANGELOG in upper case there).

// myDB is a fresh database on the test MariaDB: admin is a connection to it; url reaches it read-only
// (tx_read_only=1, sent by the driver as a session setting), so a check that wrote anything would fail.
type myDB struct {
	name  string
	admin *sql.DB
	url   string // mysql://, read-only
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
	ro := *u
	ro.Path, ro.RawQuery = "/"+name, "tx_read_only=1"
	other := ro
	other.Path = u.Path
	return &myDB{name: name, admin: admin, url: ro.String(), dsn: cfg.FormatDSN(), other: other.String()}
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
	files := fstest.MapFS{
		"m/9_a.up.sql":    {Data: []byte("CREATE TABLE a (x int);")},
		"m/9_a.down.sql":  {Data: []byte("DROP TABLE a;")},
		"m/10_b.up.sql":   {Data: []byte("CREATE TABLE b (x int);")},
		"m/10_b.down.sql": {Data: []byte("DROP TABLE b;")},
		"m/11_c.up.sql":   {Data: []byte("CREATE TABLE c (x int); SELECT * FROM healthgate_no_such_table;")},
		"m/11_c.down.sql": {Data: []byte("DROP TABLE IF EXISTS c;")},
	}
	expectSchema(t, d.url, mig("golang-migrate", "9"), false, "schema_migrations does not exist", absentHint)
	src, err := iofs.New(files, "m")
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, "mysql://"+d.dsn)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer m.Close()
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
	expectSchema(t, d.url, mig("golang-migrate", "10"), false, "migration 11 is dirty", failedHint, "migrate force")

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
}

// dbmate's MySQL driver: schema_migrations (version varchar(128) primary key); rails' (ActiveRecord on
// mysql2): schema_migrations (version varchar(255) NOT NULL PRIMARY KEY). A row per applied migration.
func TestMySQLMigrationsVersionRows(t *testing.T) {
	for _, tool := range []string{"dbmate", "rails"} {
		t.Run(tool, func(t *testing.T) {
			d := newMyDB(t)
			expectSchema(t, d.url, mig(tool, "9"), false, "schema_migrations does not exist", absentHint)
			if tool == "dbmate" {
				d.exec(t, "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
			} else {
				d.exec(t, "CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)",
					"CREATE TABLE ar_internal_metadata (`key` varchar(255) PRIMARY KEY, value varchar(255))")
			}
			expectSchema(t, d.url, mig(tool, "9"), false, "holds no applied migration", pendingHint)
			d.exec(t, "INSERT INTO schema_migrations VALUES ('8'), ('9')")
			expectSchema(t, d.url, mig(tool, "9"), true)
			expectSchema(t, d.url, mig(tool, "10"), false, "at version 9", "need 10", pendingHint)
			d.exec(t, "INSERT INTO schema_migrations VALUES ('10')")
			expectSchema(t, d.url, mig(tool, "10"), true)
			expectSchema(t, d.url, mig(tool, "11"), false, "at version 10", "need 11")
			d.exec(t, "INSERT INTO schema_migrations VALUES ('20241120093000'), ('20241119000000')")
			expectSchema(t, d.url, mig(tool, "20241120093000"), true)
			expectSchema(t, d.url, mig(tool, "20241120093001"), false, "at version 20241120093000")
		})
	}
}

// A backquote in a table name is doubled, not pasted; MySQL table names are case-sensitive on Linux.
func TestMySQLMigrationsTableQuoting(t *testing.T) {
	d := newMyDB(t)
	d.exec(t, "CREATE TABLE `Odd``Name` (version varchar(128) PRIMARY KEY)", "INSERT INTO `Odd``Name` VALUES ('7')")
	expectSchema(t, d.url, config.Migrations{Tool: "dbmate", Table: "Odd`Name", Version: "7"}, true)
	expectSchema(t, d.other, config.Migrations{Tool: "dbmate", Table: d.name + ".Odd`Name", Version: "8"}, false, "at version 7")
	// The lower-case name is another table.
	expectSchema(t, d.url, config.Migrations{Tool: "dbmate", Table: "odd`name", Version: "7"}, false, "does not exist")
	// MySQL keeps 64 characters of a name: a longer one is a configuration error.
	c := config.NewCheck("db", "mysql", "test", config.NewDefaults())
	c.URL, c.Migrations = d.url, config.Migrations{Tool: "dbmate", Table: strings.Repeat("t", 65), Version: "7"}
	if _, err := checks.New(c); err == nil || !strings.Contains(err.Error(), "longer than the 64") {
		t.Errorf("a 65-character table name: %v; want a configuration error", err)
	}
}

func TestMySQLMigrationsWrongLayout(t *testing.T) {
	d := newMyDB(t)
	d.exec(t, "CREATE TABLE schema_migrations (version varchar(255) NOT NULL PRIMARY KEY)", "INSERT INTO schema_migrations VALUES ('20241120093000')")
	expectSchema(t, d.url, mig("golang-migrate", "20241120093000"), false, "is not golang-migrate's", "migrations.tool")
}

// flyway_schema_history as Flyway creates it on MySQL (its mysql createMetaDataTable.sql); on MySQL a
// failed migration is recorded (success 0), its DDL having committed.
func TestMySQLMigrationsFlyway(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("flyway", "1"), false, "flyway_schema_history does not exist", absentHint)
	d.exec(t, "CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL, version VARCHAR(50), description VARCHAR(200) NOT NULL,"+
		" type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL,"+
		" installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT NULL, success BOOL NOT NULL,"+
		" CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)) ENGINE=InnoDB",
		"CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success)")
	row := func(rank int, version, typ, script string, success bool) string {
		v := "NULL"
		if version != "" {
			v = "'" + version + "'"
		}
		return "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES (" +
			strconv.Itoa(rank) + ", " + v + ", 'd', '" + typ + "', '" + script + "', 1, 'flyway', 3, " + strconv.FormatBool(success) + ")"
	}
	expectSchema(t, d.url, mig("flyway", "1"), false, "holds no applied migration", pendingHint)
	d.exec(t, row(1, "1", "SQL", "V1__init.sql", true), row(2, "", "SQL", "R__views.sql", true), row(3, "1.9", "SQL", "V1_9__a.sql", true))
	expectSchema(t, d.url, mig("flyway", "1.9"), true)
	expectSchema(t, d.url, mig("flyway", "1.10"), false, "at version 1.9", "need 1.10", pendingHint)
	d.exec(t, row(4, "1.10", "SQL", "V1_10__b.sql", true))
	expectSchema(t, d.url, mig("flyway", "1.10"), true)
	expectSchema(t, d.url, mig("flyway", "1.9.5"), true)
	d.exec(t, row(5, "1.11", "SQL", "V1_11__c.sql", false))
	expectSchema(t, d.url, mig("flyway", "1.10"), false, "migration 1.11 failed", failedHint, "flyway repair")
	d.exec(t, "DELETE FROM flyway_schema_history WHERE installed_rank = 5", row(6, "1.11", "SQL", "V1_11__c.sql", true))
	expectSchema(t, d.url, mig("flyway", "1.11"), true)
	d.exec(t, row(7, "1.11", "UNDO_SQL", "U1_11__c.sql", true))
	expectSchema(t, d.url, mig("flyway", "1.11"), false, "at version 1.10")
}

// DATABASECHANGELOG as Liquibase 4 creates it on MySQL: upper-case table (the default read here), one
// row per changeset run.
func TestMySQLMigrationsLiquibase(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("liquibase", "1"), false, "DATABASECHANGELOG does not exist", absentHint)
	d.exec(t, "CREATE TABLE DATABASECHANGELOG (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, FILENAME VARCHAR(255) NOT NULL,"+
		" DATEEXECUTED datetime NOT NULL, ORDEREXECUTED INT NOT NULL, EXECTYPE VARCHAR(10) NOT NULL, MD5SUM VARCHAR(35),"+
		" DESCRIPTION VARCHAR(255), COMMENTS VARCHAR(255), TAG VARCHAR(255), LIQUIBASE VARCHAR(20), CONTEXTS VARCHAR(255),"+
		" LABELS VARCHAR(255), DEPLOYMENT_ID VARCHAR(10))")
	row := func(order int, id, exectype, tag string) string {
		t := "NULL"
		if tag != "" {
			t = "'" + tag + "'"
		}
		return "INSERT INTO DATABASECHANGELOG (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, EXECTYPE, MD5SUM, TAG, LIQUIBASE, DEPLOYMENT_ID) VALUES ('" +
			id + "', 'dev', 'db/changelog.xml', NOW(), " + strconv.Itoa(order) + ", '" + exectype + "', '9:abc', " + t + ", '4.29.2', '1234567890')"
	}
	expectSchema(t, d.url, mig("liquibase", "1"), false, "holds no applied migration", pendingHint)
	d.exec(t, row(1, "1", "EXECUTED", ""), row(2, "9", "EXECUTED", "v1.0"))
	expectSchema(t, d.url, mig("liquibase", "9"), true)
	expectSchema(t, d.url, mig("liquibase", "v1.0"), true)
	expectSchema(t, d.url, mig("liquibase", "10"), false, `"10" is not in DATABASECHANGELOG`, pendingHint)
	// A quote in the id is an argument, not SQL.
	expectSchema(t, d.url, mig("liquibase", "x' OR '1'='1"), false, "is not in DATABASECHANGELOG")
	d.exec(t, row(3, "10", "MARK_RAN", ""), row(4, "add-users", "FAILED", ""))
	expectSchema(t, d.url, mig("liquibase", "10"), true)
	expectSchema(t, d.url, mig("liquibase", "add-users"), false, "migration add-users", "FAILED", failedHint)
	d.exec(t, row(5, "add-users", "RERAN", "v2.0"))
	expectSchema(t, d.url, mig("liquibase", "add-users"), true)
}

func TestMySQLMigrationsAlembic(t *testing.T) {
	d := newMyDB(t)
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "alembic_version does not exist", absentHint)
	d.exec(t, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "holds no applied migration", pendingHint)
	d.exec(t, "INSERT INTO alembic_version VALUES ('ae1027a6acf')")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), false, "at revision ae1027a6acf", pendingHint)
	d.exec(t, "UPDATE alembic_version SET version_num = '1975ea83b712'")
	expectSchema(t, d.url, mig("alembic", "1975ea83b712"), true)
}

// The server's own state comes first: writable reads read_only, then the schema decides; an unreachable
// server is not a schema failure.
func TestMySQLMigrationsOtherFailuresKeepTheirClass(t *testing.T) {
	d := newMyDB(t)
	ch := newCheck(t, config.Check{Type: "mysql", URL: checktest.WithHost(t, d.url, checktest.Unreachable(t)), Migrations: mig("goose", "1")})
	err, _ := runCheck(t, ch)
	if c := checks.ClassOf(err); c == checks.Schema || c == "" {
		t.Fatalf("unreachable server: class %s (%v)", c, err)
	}
	ch = newCheck(t, config.Check{Type: "mysql", URL: d.url, Writable: true, Migrations: mig("goose", "1")})
	err, _ = runCheck(t, ch)
	assertClass(t, err, checks.Schema)
}
