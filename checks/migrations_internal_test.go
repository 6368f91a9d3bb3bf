package checks

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/healthgate/healthgate/config"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		ok   bool
	}{
		{"9", "10", -1, true}, // as text, "9" > "10"
		{"10", "9", 1, true},
		{"010", "10", 0, true},
		{"20241120093000", "20241120093000", 0, true},
		{"1.9", "1.10", -1, true}, // as text, "1.9" > "1.10"
		{"1.2", "1.2.0", 0, true},
		{"1.2.1", "1.2", 1, true},
		{"2", "1.99", 1, true},
		{"99999999999999999999999", "9", 1, true}, // beyond int64: still compared
		{"1.x", "1", 0, false},
		{"", "1", 0, false},
	}
	for _, tc := range tests {
		got, ok := compareVersions(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

// fakeReader records the statement and answers with fixed rows, or an error.
type fakeReader struct {
	query string
	args  []any
	rows  [][]*string
	err   error
}

func (f *fakeReader) readRows(_ context.Context, q string, args ...any) ([][]*string, error) {
	f.query, f.args = q, args
	return f.rows, f.err
}

var errNoSuchTable = errors.New("Error 1146: Table 'app.schema_migrations' doesn't exist")

// The tool logic takes a dialect and a reader, not a driver: a MySQL-style dialect (backquotes, ?
// placeholders, CAST AS CHAR, 1/0 booleans, error 1146) gets its own statements and the same decisions.
func TestMigrationsDialectIsPluggable(t *testing.T) {
	mysqlish := sqlDialect{
		quote: '`', maxIdent: 64,
		param:         func(int) string { return "?" },
		text:          func(e string) string { return "CAST(" + e + " AS CHAR)" },
		missingTable:  func(err error) bool { return errors.Is(err, errNoSuchTable) },
		missingColumn: func(error) bool { return false },
		classify:      func(err error) error { return &Error{Class: Query, Err: err} },
	}
	str := func(s string) *string { return &s }
	build := func(tool, table, version string) *schemaCheck {
		t.Helper()
		c := config.Check{Name: "db", Type: "a-sql-kind"}
		s, errs := newSchemaCheck(c, config.Migrations{Tool: tool, Table: table, Version: version}, mysqlish)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return s
	}

	s := build("golang-migrate", "app.schema_migrations", "11")
	r := &fakeReader{rows: [][]*string{{str("11"), str("1")}}}
	err := s.run(context.Background(), r)
	if ClassOf(err) != Schema || !strings.Contains(err.Error(), "migration 11 is dirty") {
		t.Errorf("dirty as MySQL's 1: %v", err)
	}
	if want := "SELECT CAST(version AS CHAR), CAST(dirty AS CHAR) FROM `app`.`schema_migrations` LIMIT 2"; r.query != want {
		t.Errorf("query %q; want %q", r.query, want)
	}
	s = build("golang-migrate", "app.schema_migrations", "10")
	if err := s.run(context.Background(), r); err != nil {
		t.Errorf("11 dirty > 10: 10 is in place: %v", err)
	}
	r.rows = [][]*string{{str("11"), str("0")}}
	if err := s.run(context.Background(), r); err != nil {
		t.Errorf("11 >= 10, clean: %v", err)
	}
	r.err = errNoSuchTable
	if err := s.run(context.Background(), r); ClassOf(err) != Schema || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing table: %v", err)
	}

	s = build("liquibase", "", "v1.0")
	r = &fakeReader{rows: [][]*string{{str("3"), nil, nil, nil}}}
	if err := s.run(context.Background(), r); ClassOf(err) != Schema || !strings.Contains(err.Error(), "not in databasechangelog") {
		t.Errorf("pending tag: %v", err)
	}
	if !strings.Contains(r.query, "WHERE LOWER(id) = LOWER(?) OR LOWER(tag) = LOWER(?)") || len(r.args) != 2 || r.args[0] != "v1.0" {
		t.Errorf("liquibase statement %q with %v: want ? placeholders and the tag twice", r.query, r.args)
	}
	if strings.Count(build("flyway", "we`ird", "1").quoted, "``") != 1 {
		t.Errorf("a backquote in a name is doubled")
	}
}

// A missing table's hint names what else picks the table on that server: the schema and search_path on
// Postgres, the database on MySQL, which has no search_path.
func TestMigrationsMissingTableHint(t *testing.T) {
	tests := []struct {
		name    string
		dialect sqlDialect
		err     error
		want    string
		notWant string
	}{
		{name: "postgres", dialect: postgresDialect, err: &pgconn.PgError{Code: "42P01", Message: `relation "schema_migrations" does not exist`},
			want: "check migrations.table, the schema and search_path"},
		{name: "mysql", dialect: mysqlDialect, err: &mysql.MySQLError{Number: 1146, Message: "Table 'test.schema_migrations' doesn't exist"},
			want: "check migrations.table, the database", notWant: "search_path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, errs := newSchemaCheck(config.Check{Name: "db", Type: tc.name}, config.Migrations{Tool: "golang-migrate", Version: "9"}, tc.dialect)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			err := s.run(context.Background(), &fakeReader{err: tc.err})
			var e *Error
			if !errors.As(err, &e) || e.Class != Schema {
				t.Fatalf("got %v; want a schema failure", err)
			}
			if !strings.Contains(e.Hint, tc.want) {
				t.Errorf("hint %q; want it to contain %q", e.Hint, tc.want)
			}
			if tc.notWant != "" && strings.Contains(e.Hint, tc.notWant) {
				t.Errorf("hint %q; want no %q", e.Hint, tc.notWant)
			}
		})
	}
}

// MySQL keeps 64 characters of a name, whatever their size in bytes; Postgres 63 bytes.
func TestQuoteTableLimits(t *testing.T) {
	tests := []struct {
		name    string
		dialect sqlDialect
		table   string
		want    string // "" accepted, else in the message
	}{
		{"mysql 64 two-byte characters", mysqlDialect, strings.Repeat("é", 64), ""},
		{"mysql 64 three-byte characters", mysqlDialect, "db." + strings.Repeat("表", 64), ""},
		{"mysql 65 characters", mysqlDialect, strings.Repeat("é", 65), "longer than the 64 characters"},
		{"mysql 65 ASCII characters", mysqlDialect, strings.Repeat("t", 65), "longer than the 64 characters"},
		{"postgres 63 bytes", postgresDialect, strings.Repeat("é", 31) + "t", ""},
		{"postgres 32 two-byte characters", postgresDialect, strings.Repeat("é", 32), "longer than the 63 bytes"},
		{"postgres 64 ASCII characters", postgresDialect, "app." + strings.Repeat("t", 64), "longer than the 63 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			quoted, msg := quoteTable(tc.table, tc.dialect)
			switch {
			case tc.want == "" && (msg != "" || quoted == ""):
				t.Errorf("refused: %s", msg)
			case tc.want != "" && !strings.Contains(msg, tc.want):
				t.Errorf("message %q (quoted %s); want it to contain %q", msg, quoted, tc.want)
			}
		})
	}
}

// liquibasePath writes a changelog path as liquibase compares it (DatabaseChangeLog.normalizePath).
func TestLiquibasePath(t *testing.T) {
	for in, want := range map[string]string{
		"db/a.xml":             "db/a.xml",
		"classpath:/db/a.xml":  "db/a.xml",
		"classpath:db/a.xml":   "db/a.xml",
		`C:\work\db\a.xml`:     "work/db/a.xml",
		"./db/./a.xml":         "db/a.xml",
		"db//changelog//a.xml": "db/changelog/a.xml",
		"/db/a.xml":            "db/a.xml",
		"db/a.xml/":            "db/a.xml/",
	} {
		if got := liquibasePath(in); got != want {
			t.Errorf("liquibasePath(%q) = %q, want %q", in, got, want)
		}
	}
}
