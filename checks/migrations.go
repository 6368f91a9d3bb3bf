package checks

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/healthgate/healthgate/config"
)

// Migration-aware SQL checks (README "Migrations"): the schema must be at the version this release needs.
// Each tool's table is read with one SELECT on the check's own connection: no DDL, no lock taken beyond the
// read's own, nothing written. The logic here knows tools and tables but no driver: a SQL kind gives it a
// dialect (quoting, placeholders, text casts, which errors mean "no such table") and a rowsReader, so a
// MySQL kind reuses it as it is.

// sqlDialect is what the migrations read needs to know about one SQL server.
type sqlDialect struct {
	// quote is the identifier quote character: '"' (standard, Postgres) or '`' (MySQL).
	quote byte
	// maxIdent is the longest identifier the server keeps: Postgres 63 bytes (NAMEDATALEN - 1), MySQL
	// 64 characters, whatever their encoded size (identChars).
	maxIdent   int
	identChars bool
	// param is the placeholder of the n-th argument (1-based): $1 or ?.
	param func(n int) string
	// text casts a SQL expression to text, so every column reads as a string (or NULL).
	text func(expr string) string
	// missingTable and missingColumn recognise the server's "no such table (or schema)" and "no such
	// column" errors; classify classifies every other error of the read.
	missingTable  func(error) bool
	missingColumn func(error) bool
	classify      func(error) error
	// tableScope says, in a hint, what else decides which table a name finds: on Postgres the schema and
	// search_path, on MySQL the database (MySQL has no search_path).
	tableScope string
	// unusableSchemas, given an unqualified table name that was not found, names the schemas (at most
	// a few) that hold a table of that name which this login may not use: Postgres skips a schema of
	// search_path without USAGE, silently, so the table reads as missing. nil where no such thing
	// happens (MySQL says "command denied").
	unusableSchemas func(ctx context.Context, r rowsReader, table string) []string
	// tables are the tools whose default table is spelled otherwise on this server: liquibase creates
	// DATABASECHANGELOG in upper case on MySQL, where table names are case-sensitive (on Linux).
	tables map[string]string
	// pgNames says that the tools' pgNames apply: on Postgres, a tool that writes a name unquoted, or
	// lower-cases it itself, creates its table under another name than the one it is given.
	pgNames bool
}

// rowsReader runs one read-only statement and returns its rows, each column as text (nil for NULL).
type rowsReader interface {
	readRows(ctx context.Context, query string, args ...any) ([][]*string, error)
}

// versionKind is what a tool can store as a version, which decides how versions are validated and
// compared.
type versionKind int

const (
	wholeNumber versionKind = iota // a bigint: golang-migrate, goose
	digits                         // a string of digits (a timestamp, usually): dbmate, rails
	dotted                         // digits separated by dots, compared segment by segment: flyway
	identifier                     // an opaque id, matched exactly: liquibase (changeset id or tag), alembic
)

// migrationTool is one supported tool: its default table, what a version looks like, the read and how its
// rows decide.
type migrationTool struct {
	name     string
	table    string
	kind     versionKind
	maxLen   int    // the longest version the tool's column holds
	versions string // how to write a version, for messages
	repair   string // how the tool gets out of a failed state, for hints
	query    func(d sqlDialect, table, want string) (string, []any)
	columns  []string // the columns the read uses, for the layout hint
	decide   func(s *schemaCheck, rows [][]*string) error
	// pgNames is the name of the table the tool creates on Postgres when given schema and table (schema
	// "" when none); nil when it quotes them, so that they keep their case.
	pgNames func(schema, table string) (string, string)
}

var migrationTools = []migrationTool{
	{
		name: "golang-migrate", table: "schema_migrations", kind: wholeNumber,
		versions: "the number at the start of a migration's file name (1_init.up.sql is 1, 20241120093000_users.up.sql is 20241120093000)",
		repair:   "fix the schema by hand, then record the right version with `migrate force VERSION`",
		columns:  []string{"version", "dirty"},
		query: func(d sqlDialect, t, _ string) (string, []any) {
			// golang-migrate keeps a single row: the current version and whether it failed part-way.
			return "SELECT " + d.text("version") + ", " + d.text("dirty") + " FROM " + t + " LIMIT 2", nil
		},
		decide: decideGolangMigrate,
	},
	{
		name: "goose", table: "goose_db_version", kind: wholeNumber,
		versions: "the number at the start of a migration's file name (00001_init.sql is 1, 20241120093000_users.sql is 20241120093000)",
		columns:  []string{"id", "version_id", "is_applied"},
		query: func(d sqlDialect, t, want string) (string, []any) {
			// goose appends a row per up (and, before v3.x providers, per down with is_applied false):
			// the latest row of each version says whether it is applied. Version 0 is the row goose
			// writes when it creates the table. The highest applied version, and whether the one asked
			// for is applied (with allow-missing, goose applies an older one after newer ones).
			applied := " a WHERE a.is_applied AND NOT EXISTS (SELECT 1 FROM " + t + " b WHERE b.version_id = a.version_id AND b.id > a.id)"
			n, _ := strconv.ParseInt(want, 10, 64) // validated
			return "SELECT (SELECT " + d.text("MAX(a.version_id)") + " FROM " + t + applied + " AND a.version_id > 0)," +
				" (SELECT " + d.text("COUNT(*)") + " FROM " + t + applied + " AND a.version_id = " + d.param(1) + ")", []any{n}
		},
		decide: decideVersionRows,
		// goose pastes its table name into its SQL unquoted (CREATE TABLE %s): Postgres folds it,
		// schema included, to lower case (ASCII letters only, in a multibyte encoding).
		pgNames: func(schema, table string) (string, string) { return asciiLower(schema), asciiLower(table) },
	},
	{
		// dbmate keys a migration by its version exactly as the file name writes it (0020_a.sql and
		// 20_b.sql are two migrations, both applied by dbmate migrate): the version asked for must be
		// applied as written, zeros included.
		name: "dbmate", table: "schema_migrations", kind: digits, maxLen: 128,
		versions: "the digits before the first _ of a migration's file name, leading zeros included (20241120093000_users.sql is 20241120093000, 0020_users.sql is 0020)",
		columns:  []string{"version"},
		query:    versionRows(true),
		decide:   decideVersionTable,
	},
	{
		// rails stores a migration's version as a number (0020_add_users.rb is 20): 0020 asked for is 20.
		name: "rails", table: "schema_migrations", kind: digits, maxLen: 255,
		versions: "the digits before the first _ of a migration's file name (20241120093000_add_users.rb is 20241120093000)",
		columns:  []string{"version"},
		query:    versionRows(false),
		decide:   decideVersionTable,
	},
	{
		name: "flyway", table: "flyway_schema_history", kind: dotted, maxLen: 50,
		versions: "a version as flyway stores it: digits separated by dots (V1_2__users.sql is 1.2)",
		repair:   "fix the schema by hand (or the migration), then run `flyway repair` and migrate again",
		columns:  []string{"installed_rank", "version", "type", "script", "success"},
		query: func(d sqlDialect, t, _ string) (string, []any) {
			// Every row, in the order flyway applied them (repeatable migrations have no version, and
			// count only when they failed): dotted versions compare segment by segment, which SQL
			// cannot do portably.
			return "SELECT version, type, " + d.text("success") + ", script FROM " + t + " ORDER BY installed_rank", nil
		},
		decide: decideFlyway,
	},
	{
		name: "liquibase", table: "databasechangelog", kind: identifier, maxLen: 255,
		versions: "a tag (liquibase tag NAME, or a tagDatabase changeset), or a changeset as liquibase status prints it, FILENAME::ID::AUTHOR, that must be applied",
		repair:   "fix the changeset or the schema, then run liquibase update again",
		columns:  []string{"id", "author", "filename", "tag", "exectype", "orderexecuted"},
		query: func(d sqlDialect, t, want string) (string, []any) {
			// The changelog's size, and the rows of the changeset or tag asked for: a count row always
			// comes back, so an empty changelog is told apart from a pending changeset. A changeset is
			// its file, id and author (ids such as 1 repeat across files); a bare id matches every file's.
			// Liquibase compares them without case, and the file once normalised, which SQL cannot do
			// portably: the server picks the rows by id (and author) without case, decideLiquibase the
			// changeset.
			where, args := "LOWER(id) = LOWER("+d.param(1)+") OR LOWER(tag) = LOWER("+d.param(2)+")", []any{want, want}
			if _, id, author, ok := liquibaseChangeset(want); ok {
				where, args = "LOWER(id) = LOWER("+d.param(1)+") AND LOWER(author) = LOWER("+d.param(2)+")", []any{id, author}
			}
			return "SELECT " + d.text("c.n") + ", r.id, r.tag, r.exectype, r.filename, r.author FROM (SELECT COUNT(*) AS n FROM " + t + ") c" +
				" LEFT JOIN (SELECT id, tag, exectype, filename, author, orderexecuted FROM " + t + " WHERE " + where + ") r" +
				" ON 1 = 1 ORDER BY r.orderexecuted", args
		},
		decide: decideLiquibase,
		// liquibase lower-cases its table name on Postgres (PostgresDatabase.getDatabaseChangeLogTableName:
		// DATABASECHANGELOG, its default, is databasechangelog there), and a schema name that does not
		// mix cases (correctObjectName).
		pgNames: func(schema, table string) (string, string) {
			if mixed := strings.ToLower(schema) != schema && strings.ToUpper(schema) != schema; !mixed {
				schema = strings.ToLower(schema)
			}
			return schema, strings.ToLower(table)
		},
	},
	{
		name: "alembic", table: "alembic_version", kind: identifier, maxLen: 32,
		versions: "the revision id of this release's head (alembic heads), such as 1975ea83b712",
		columns:  []string{"version_num"},
		query: func(d sqlDialect, t, _ string) (string, []any) {
			// One row per head (more than one with branches); an empty table is the base.
			return "SELECT version_num FROM " + t + " ORDER BY version_num", nil
		},
		decide: decideAlembic,
	},
}

// toolAliases are names users write for a tool.
var toolAliases = map[string]string{
	"migrate": "golang-migrate", "golang_migrate": "golang-migrate", "golangmigrate": "golang-migrate",
	"activerecord": "rails", "active_record": "rails", "sqlalchemy": "alembic",
}

// MigrationTools names the migration tools a migrations block (and --migrations) takes.
func MigrationTools() []string {
	names := make([]string, len(migrationTools))
	for i, t := range migrationTools {
		names[i] = t.name
	}
	return names
}

func findTool(name string) (migrationTool, bool) {
	for _, t := range migrationTools {
		if t.name == name {
			return t, true
		}
	}
	return migrationTool{}, false
}

// versionRows reads a table of applied versions as text (dbmate, rails): the numerically highest one
// (longer digit strings are larger once leading zeros are dropped, so the order is by length, then by
// text, and 10 sorts above 9), and whether the one asked for is among them: exactly as written (dbmate),
// or as a number (rails: 0010 is 10). When exact, a fourth column is a version applied that is the same
// number spelled otherwise (0020 for 20), for the message.
//
// dbmate, rails and golang-migrate all name their table schema_migrations, so the table may well be
// golang-migrate's (version bigint, dirty): version is cast to text, so that such a table reads rather
// than failing as a type error, and a third column is that table's dirty flag. Its subquery names dirty
// unqualified: in standard SQL (Postgres, MySQL, MariaDB) that is the table's own column when it has
// one, else the outer query's NULL, so one statement reads both layouts, without a catalog query.
func versionRows(exact bool) func(d sqlDialect, t, want string) (string, []any) {
	return func(d sqlDialect, t, want string) (string, []any) {
		version := d.text("version")
		trimmed := "TRIM(LEADING '0' FROM " + version + ")"
		highest := "(SELECT " + version + " FROM " + t + " ORDER BY CHAR_LENGTH(" + trimmed + ") DESC, " + trimmed + " DESC LIMIT 1)"
		dirty := "(SELECT " + d.text("dirty") + " FROM " + t + " LIMIT 1)"
		if !exact {
			return "SELECT " + highest + ", (SELECT " + d.text("COUNT(*)") + " FROM " + t + " WHERE " + trimmed + " = " + d.param(1) + "), " +
				dirty + " FROM (SELECT NULL AS dirty) o", []any{strings.TrimLeft(want, "0")}
		}
		return "SELECT " + highest + ", (SELECT " + d.text("COUNT(*)") + " FROM " + t + " WHERE " + version + " = " + d.param(1) + "), " +
			dirty + ", (SELECT MIN(" + version + ") FROM " + t + " WHERE " + trimmed + " = " + d.param(2) + ")" +
			" FROM (SELECT NULL AS dirty) o", []any{want, strings.TrimLeft(want, "0")}
	}
}

// liquibaseChangeset splits liquibase's own name of a changeset, FILENAME::ID::AUTHOR (as liquibase
// status prints it); ok is false for a bare id or a tag.
func liquibaseChangeset(v string) (file, id, author string, ok bool) {
	parts := strings.Split(v, "::")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// liquibaseKey is how liquibase tells changesets apart (RanChangeSet.isSameAs): file, id and author
// compared without case, the file as liquibasePath writes it.
func liquibaseKey(file, id, author string) string {
	return strings.ToLower(liquibasePath(file) + "::" + id + "::" + author)
}

// liquibasePath is a changelog file's path as liquibase compares it (DatabaseChangeLog.normalizePath),
// so that db/a.xml matches the classpath:/db/a.xml an earlier run stored: no classpath: prefix, / for \,
// no empty or . segments, no drive letter, no leading / or ./.
func liquibasePath(p string) string {
	p = strings.TrimPrefix(p, "classpath:")
	p = strings.ReplaceAll(p, `\`, "/")
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = strings.ReplaceAll(p, "/./", "/")
	if len(p) > 1 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z') {
		p = p[2:]
	}
	if strings.HasPrefix(p, "./") {
		p = p[1:]
	}
	return strings.TrimPrefix(p, "/")
}

// schemaCheck is a built migrations requirement of one check.
type schemaCheck struct {
	tool    migrationTool
	table   string // as written (or the default), for messages
	quoted  string // quoted for the dialect
	want    string
	dialect sqlDialect
	flag    bool // given by --migrations TOOL:[TABLE:]VERSION, not a migrations section
}

// versionAs is how to write v as the version asked for, as the user gives it.
func (s *schemaCheck) versionAs(v string) string {
	if s.flag {
		return "the VERSION of --migrations as " + v
	}
	return fmt.Sprintf("migrations.version: %q (quoted)", v)
}

// fields names the settings a hint asks to check, as the user wrote them: migrations.tool and
// migrations.table in a file, the TOOL and TABLE of --migrations on the command line.
func (s *schemaCheck) fields(names ...string) string {
	if s.flag {
		return "the " + strings.ToUpper(strings.Join(names, " and ")) + " of --migrations (TOOL:TABLE:VERSION)"
	}
	return "migrations." + strings.Join(names, " and migrations.")
}

// newSchemaCheck validates a check's migrations section for a SQL kind; nil, nil when none was given.
func newSchemaCheck(c config.Check, m config.Migrations, d sqlDialect) (*schemaCheck, config.Errors) {
	if !m.Set() && !c.Src.IsSet("migrations") {
		return nil, nil
	}
	if m.Src.Failed[""] {
		return nil, nil // not a mapping: config said so
	}
	if !m.Set() {
		return nil, config.Errors{c.Src.Errorf("migrations", "empty: write the tool and the version this release needs, as in migrations: {tool: golang-migrate, version: \"20241120093000\"}")}
	}
	src := m.Src
	if src.File == "" {
		src = c.Src // built in code, not decoded: errors are about the check
	}
	var errs config.Errors
	add := func(field, format string, args ...any) {
		if !m.Src.Failed[field] {
			errs = append(errs, src.Errorf(field, format, args...))
		}
	}
	tool, ok := findTool(m.Tool)
	switch {
	case ok:
	case m.Tool == "":
		add("tool", "required: the migration tool that keeps the schema's version (one of %s)", strings.Join(MigrationTools(), ", "))
	default:
		add("tool", "unknown migration tool %s%s (known: %s)", config.Quote(m.Tool, nil), suggestTool(m.Tool), strings.Join(MigrationTools(), ", "))
	}
	table := m.Table
	if table == "" && ok {
		table = tool.table
		if t, found := d.tables[tool.name]; found {
			table = t
		}
	}
	if ok && d.pgNames && tool.pgNames != nil {
		table = toolTable(tool, table)
	}
	quoted, msg := quoteTable(table, d)
	if msg != "" {
		add("table", "%s", msg)
	}
	if ok {
		if msg := tool.validVersion(m.Version); msg != "" {
			add("version", "%s", msg)
		}
	} else if m.Version == "" {
		add("version", "required: the version this release needs")
	}
	if len(errs) > 0 || !ok {
		return nil, errs
	}
	return &schemaCheck{tool: tool, table: table, quoted: quoted, want: m.Version, dialect: d, flag: c.Src.Origin("migrations") == "--migrations"}, nil
}

var (
	digitsPattern = regexp.MustCompile(`^[0-9]+$`)
	dottedPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
)

// validVersion says why v is not a version the tool could ever store, or "".
func (t migrationTool) validVersion(v string) string {
	if v == "" {
		return fmt.Sprintf("required: the %s version this release needs: %s", t.name, t.versions)
	}
	if strings.TrimSpace(v) != v || strings.ContainsAny(v, "\x00\n\r\t") {
		return fmt.Sprintf("%q has spaces or control characters around or in it; %s never stores such a version", v, t.name)
	}
	switch t.kind {
	case wholeNumber:
		if !digitsPattern.MatchString(v) {
			return fmt.Sprintf("%s stores versions as a whole number (bigint): %q is not one; write %s", t.name, v, t.versions)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Sprintf("%q is larger than the biggest version %s can store (a bigint, %d)", v, t.name, int64(1<<63-1))
		}
		if n == 0 && t.name == "goose" {
			// goose writes version 0 when it creates its table: it would pass before any migration ran.
			return fmt.Sprintf("%q is version 0, the row goose writes when it creates its table, never a migration; write %s", v, t.versions)
		}
	case digits:
		if !digitsPattern.MatchString(v) {
			return fmt.Sprintf("%s versions are digits only: %q is not; write %s", t.name, v, t.versions)
		}
	case dotted:
		if !dottedPattern.MatchString(v) {
			hint := ""
			if dottedPattern.MatchString(strings.ReplaceAll(v, "_", ".")) {
				hint = fmt.Sprintf(" (flyway stores V%s__name.sql as %s)", v, strings.ReplaceAll(v, "_", "."))
			}
			return fmt.Sprintf("%q is not a flyway version%s; write %s", v, hint, t.versions)
		}
	case identifier:
		// alembic refuses @, - and + in a revision id (Revision.verify_rev_id): they write relative and
		// branch revisions (ae10@head, ae10-1, heads+2).
		if t.name == "alembic" && (v == "head" || v == "heads" || v == "base" || strings.ContainsAny(v, " @+-")) {
			return fmt.Sprintf("%q is not a revision id: write the head's revision id itself (alembic heads), such as 1975ea83b712", v)
		}
		if t.name == "liquibase" && strings.Contains(v, "::") {
			if _, _, _, ok := liquibaseChangeset(v); !ok {
				return fmt.Sprintf("%q: write a changeset as liquibase status prints it, FILENAME::ID::AUTHOR (three parts, none empty), or a tag", v)
			}
			for part := range strings.SplitSeq(v, "::") {
				if len(part) > t.maxLen {
					return fmt.Sprintf("%q is longer than liquibase's filename, id and author columns hold (%d characters each)", part, t.maxLen)
				}
			}
			return ""
		}
	}
	if t.maxLen > 0 && len(v) > t.maxLen {
		return fmt.Sprintf("%q is longer than %s's version column holds (%d characters)", v, t.name, t.maxLen)
	}
	return ""
}

func suggestTool(name string) string {
	lower := strings.ToLower(strings.TrimSpace(name))
	if alias, ok := toolAliases[lower]; ok {
		return fmt.Sprintf(" (did you mean %q?)", alias)
	}
	best := config.Closest(lower, MigrationTools(), 4)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// toolTable is the table the tool creates on Postgres when given name (table, or schema.table).
func toolTable(tool migrationTool, name string) string {
	parts := strings.Split(name, ".")
	switch len(parts) {
	case 1:
		_, table := tool.pgNames("", parts[0])
		return table
	case 2:
		schema, table := tool.pgNames(parts[0], parts[1])
		return schema + "." + table
	}
	return name // not a table name: quoteTable says so
}

// asciiLower lower-cases the ASCII letters of s, as Postgres folds an unquoted name (in a multibyte
// encoding such as UTF8).
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// quoteTable quotes a table name, optionally schema-qualified (schema.table), for the dialect; the
// message says why it cannot be a table name.
func quoteTable(name string, d sqlDialect) (string, string) {
	if name == "" {
		return "", "" // reported with the tool
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Sprintf("%q: write a table name, or schema.table", name)
	}
	q := string(d.quote)
	quoted := make([]string, len(parts))
	for i, p := range parts {
		switch {
		case p == "":
			return "", fmt.Sprintf("%q: an empty name on one side of the dot; write a table name, or schema.table", name)
		case strings.ContainsRune(p, 0):
			return "", fmt.Sprintf("%q: a NUL character cannot be part of a name", name)
		case d.identChars && utf8.RuneCountInString(p) > d.maxIdent:
			return "", fmt.Sprintf("%q: longer than the %d characters the server keeps of a name", p, d.maxIdent)
		case !d.identChars && len(p) > d.maxIdent:
			return "", fmt.Sprintf("%q: longer than the %d bytes the server keeps of a name (a character outside ASCII takes 2 to 4)", p, d.maxIdent)
		}
		quoted[i] = q + strings.ReplaceAll(p, q, q+q) + q
	}
	return strings.Join(quoted, "."), ""
}

// run reads the tool's table once and says whether the schema is at the version this release needs.
func (s *schemaCheck) run(ctx context.Context, r rowsReader) error {
	query, args := s.tool.query(s.dialect, s.quoted, s.want)
	rows, err := r.readRows(ctx, query, args...)
	switch {
	case err == nil:
		return s.tool.decide(s, rows)
	case s.dialect.missingTable(err):
		hint := fmt.Sprintf("no migration has run yet (no %s table): it should clear once the migration job has run; if it has, check %s, %s", s.table, s.fields("table"), s.dialect.tableScope)
		if s.dialect.unusableSchemas != nil && !strings.Contains(s.table, ".") {
			if schemas := s.dialect.unusableSchemas(ctx, r, s.table); len(schemas) > 0 {
				hint += fmt.Sprintf("; a %s table exists in schema %s, which this login has no USAGE privilege on: Postgres leaves such a schema out of search_path without a word. If it is this app's, GRANT USAGE ON SCHEMA (and SELECT on the table) to the URL's user", s.table, strings.Join(schemas, ", "))
			}
		}
		return &Error{Class: Schema,
			Err:  fmt.Errorf("table %s does not exist: %s has never run against this database (this release needs version %s)", s.table, s.tool.name, s.want),
			Hint: hint}
	case s.dialect.missingColumn(err):
		return &Error{Class: Schema, Err: fmt.Errorf("table %s has no %s column as %s writes it: %w", s.table, strings.Join(s.tool.columns, "/"), s.tool.name, err),
			Hint: fmt.Sprintf("table %s is not %s's: check %s", s.table, s.tool.name, s.fields("tool", "table"))}
	}
	return s.dialect.classify(err)
}

// Schema failures, worded by what will happen next.

func (s *schemaCheck) empty() error {
	return &Error{Class: Schema, Err: fmt.Errorf("%s holds no applied migration; this release needs version %s", s.table, s.want),
		Hint: fmt.Sprintf("no migration is applied yet (need %s): it should clear when the migration job finishes", s.want)}
}

func (s *schemaCheck) behind(current string) error {
	return &Error{Class: Schema, Err: fmt.Errorf("schema at version %s, this release needs %s (%s, table %s)", current, s.want, s.tool.name, s.table),
		Hint: fmt.Sprintf("migrations are pending (at %s, need %s): it should clear when the migration job finishes; if none runs, run it", current, s.want)}
}

// missing is a version that is not applied although a later one is: the tools that keep a row per
// version apply an older pending migration after newer ones (a hotfix branch merged late: rails and
// dbmate always, goose with allow-missing, flyway with outOfOrder), or the version is not a migration
// at all.
func (s *schemaCheck) missing(highest string) error {
	return &Error{Class: Schema, Err: fmt.Errorf("version %s is not applied, though later ones are (at %s; %s, table %s)", s.want, highest, s.tool.name, s.table),
		Hint: fmt.Sprintf("a later version is applied but %s is not: an out-of-order migration is pending (it clears when the migration job applies it), or %s is not one of this release's migrations (check %s)", s.want, s.want, s.fields("version"))}
}

func (s *schemaCheck) failed(version, how string) error {
	return &Error{Class: Schema, Err: fmt.Errorf("migration %s %s (%s, table %s); this release needs %s", version, how, s.tool.name, s.table, s.want),
		Hint: fmt.Sprintf("migration %s failed: this will not clear by itself; %s", version, s.tool.repair)}
}

// dirty is golang-migrate's dirty flag, which it sets before a migration and clears after it: a
// migration being applied right now, or one that failed part-way. Only time tells them apart, so the
// hint says both (a `wait` keeps waiting either way).
func (s *schemaCheck) dirty(version string) error {
	return &Error{Class: Schema, Err: fmt.Errorf("migration %s is dirty (%s, table %s): being applied now, or it failed part-way; this release needs %s", version, s.tool.name, s.table, s.want),
		Hint: fmt.Sprintf("migration %s is being applied right now, or it failed part-way: if no migration job is running, it failed and will not clear by itself; %s", version, s.tool.repair)}
}

func (s *schemaCheck) layout(detail string) error {
	return &Error{Class: Schema, Err: fmt.Errorf("table %s does not read as %s's: %s", s.table, s.tool.name, detail),
		Hint: fmt.Sprintf("table %s is not %s's: check %s", s.table, s.tool.name, s.fields("tool", "table"))}
}

// compare compares a stored version with the one asked for, as numbers.
func (s *schemaCheck) compare(current string) (int, error) {
	c, ok := compareVersions(current, s.want)
	if !ok {
		return 0, s.layout(fmt.Sprintf("version %q is not a %s version", current, s.tool.name))
	}
	return c, nil
}

// decideGolangMigrate: golang-migrate keeps one row, the version it is at, so at least the version
// asked for passes. It applies migrations in order and marks each one dirty while it runs: a dirty
// version above the one asked for means that one is in place (while a migration job runs, the pods of
// the release before stay ready); a dirty version at or below it fails.
func decideGolangMigrate(s *schemaCheck, rows [][]*string) error {
	if len(rows) == 0 || rows[0][0] == nil {
		return s.empty()
	}
	if len(rows) > 1 {
		return s.layout(fmt.Sprintf("%d rows: golang-migrate keeps exactly one", len(rows)))
	}
	version := *rows[0][0]
	c, ok := compareVersions(version, s.want)
	switch {
	case rows[0][1] != nil && sqlTrue(*rows[0][1]) && !(ok && c > 0):
		return s.dirty(version) // -1 (dirty before any version) included
	case !ok:
		return s.layout(fmt.Sprintf("version %q is not a %s version", version, s.tool.name))
	case c < 0:
		return s.behind(version)
	}
	return nil
}

// decideVersionRows decides for the tools that keep a row per applied version (goose, dbmate, rails)
// from one row: the highest applied version (NULL: none) and how many rows apply the one asked for.
func decideVersionRows(s *schemaCheck, rows [][]*string) error {
	if len(rows) == 0 || rows[0][0] == nil {
		return s.empty()
	}
	return s.decideApplied(*rows[0][0], rows[0][1] != nil && *rows[0][1] != "0")
}

// decideVersionTable decides for dbmate and rails (versionRows): a dirty flag read means the table is
// golang-migrate's, whose one row is the version it is at, not a row per applied migration; for dbmate,
// the version asked for spelled otherwise (0020 for 20) is named as such, not as a later version.
func decideVersionTable(s *schemaCheck, rows [][]*string) error {
	if len(rows) > 0 && rows[0][2] != nil {
		return &Error{Class: Schema,
			Err: fmt.Errorf("table %s does not read as %s's: it has golang-migrate's dirty column (golang-migrate keeps one row, the version it is at, as a bigint), not a row per applied migration",
				s.table, s.tool.name),
			Hint: fmt.Sprintf("table %s is golang-migrate's, not %s's (both name their table schema_migrations): check %s", s.table, s.tool.name, s.fields("tool", "table"))}
	}
	if len(rows) > 0 && len(rows[0]) > 3 && deref(rows[0][1]) == "0" && rows[0][3] != nil {
		// The same number, applied under another spelling: to dbmate another migration.
		other := *rows[0][3]
		return &Error{Class: Schema,
			Err: fmt.Errorf("version %s is not applied, %s is (%s, table %s): %s keys a migration by its version exactly as the file name writes it, so %s and %s are two migrations",
				s.want, other, s.tool.name, s.table, s.tool.name, s.want, other),
			Hint: fmt.Sprintf("%s is applied, not %s: if this release's migration is %s_*.sql, write %s; if it is %s_*.sql, it is pending and clears when the migration job applies it",
				other, s.want, other, s.versionAs(other), s.want)}
	}
	return decideVersionRows(s, rows)
}

// decideApplied: the version asked for must itself be applied; when it is not, the highest applied one
// says whether it is pending (the highest is lower) or missing out of order (the highest is higher).
func (s *schemaCheck) decideApplied(highest string, applied bool) error {
	if applied {
		return nil
	}
	c, err := s.compare(highest)
	switch {
	case err != nil:
		return err
	case c < 0:
		return s.behind(highest)
	}
	return s.missing(highest)
}

// decideFlyway replays the rows in installed_rank order: a successful migration (or baseline) applies
// its version, an undo or a deleted row takes it back (a deleted row a failure too), and a failed row with no later success of the
// same version (or, for a repeatable migration, of the same script) is a failed migration. The version
// asked for must be applied, or covered by a baseline (or baseline migration) at or above it. Flyway refuses to migrate past a
// failed row until `flyway repair`: a failed repeatable migration, or a failed version at or below the
// one asked for, fails; a failed version above it (the next release's migration job) fails only when
// the version asked for is not applied either.
func decideFlyway(s *schemaCheck, rows [][]*string) error {
	type migration struct{ version, script string } // a repeatable migration has no version: its script
	applied := map[string]string{}                  // version → the type of the row that applied it
	failed := map[migration]bool{}
	var failures []migration // in order
	for _, row := range rows {
		version, typ := deref(row[0]), strings.ToUpper(deref(row[1]))
		success := row[2] != nil && sqlTrue(*row[2])
		key := migration{version: version}
		if version == "" {
			key.script = deref(row[3])
		}
		switch {
		case typ == "SCHEMA":
			// The marker of the schemas flyway created (version 0): not a migration.
		case typ == "DELETE":
			// `flyway repair`'s mark of a migration whose script is gone (its version and script): the
			// latest row of that version, or repeatable migration, is deleted, succeeded or failed.
			if success {
				delete(applied, version)
				delete(failed, key)
			}
		case strings.HasPrefix(typ, "UNDO"):
			if success {
				delete(applied, version)
			}
		case success:
			if version != "" {
				applied[version] = typ
			}
			delete(failed, key)
		default:
			failed[key] = true
			failures = append(failures, key)
		}
	}
	wanted, highest := false, ""
	for v, typ := range applied {
		if c, ok := compareVersions(v, s.want); ok && (c == 0 || c > 0 && flywayBaselineType(typ)) {
			wanted = true
		}
		if c, ok := compareVersions(v, highest); highest == "" || ok && c > 0 {
			highest = v
		}
	}
	for _, m := range failures {
		if !failed[m] {
			continue
		}
		if m.version == "" {
			return s.failed(m.script, "(a repeatable migration) failed (success = false, no later success)")
		}
		if c, ok := compareVersions(m.version, s.want); !ok || c <= 0 || !wanted {
			return s.failed(m.version, "failed (success = false, no later success)")
		}
	}
	if len(applied) == 0 {
		return s.empty()
	}
	return s.decideApplied(highest, wanted)
}

// flywayBaselineType says whether a flyway_schema_history type stands for every version up to its own:
// the BASELINE marker of `flyway baseline`, and a baseline migration (B7__all.sql, or a Java one), which
// builds an empty schema at its version in one script (SQL_BASELINE, JDBC_BASELINE; SQL_STATE_SCRIPT and
// JDBC_STATE_SCRIPT before Flyway 8). Flyway never applies the versions below one.
func flywayBaselineType(typ string) bool {
	switch typ {
	case "BASELINE", "SQL_BASELINE", "JDBC_BASELINE", "SQL_STATE_SCRIPT", "JDBC_STATE_SCRIPT":
		return true
	}
	return false
}

// decideLiquibase: the tag, or the changeset (FILENAME::ID::AUTHOR, or a bare id that names one
// changeset), must have a row that ran (EXECUTED, RERAN or MARK_RAN). Liquibase compares changesets
// without case and their files normalised (RanChangeSet.isSameAs), and looks a tag up without case
// (AfterTagChangeSetFilter): the rows the server picked are matched again here the same way, so that
// the server's collation (MySQL's ignores accents and trailing spaces) decides nothing.
func decideLiquibase(s *schemaCheck, rows [][]*string) error {
	if len(rows) == 0 || deref(rows[0][0]) == "0" {
		return s.empty()
	}
	file, id, author, full := liquibaseChangeset(s.want)
	var changesets, keys []string // the changesets a bare id matched, as FILENAME::ID::AUTHOR, and their keys
	var otherwise []string        // what the server picked that liquibase holds for another changeset or tag
	ran, failed := false, false
	for _, row := range rows {
		if row[1] == nil && row[2] == nil {
			continue // the count row when nothing matched
		}
		name := deref(row[4]) + "::" + deref(row[1]) + "::" + deref(row[5])
		key := liquibaseKey(deref(row[4]), deref(row[1]), deref(row[5]))
		tagged := !full && strings.EqualFold(deref(row[2]), s.want)
		byID := !full && strings.EqualFold(deref(row[1]), s.want)
		if !tagged && !byID && !(full && key == liquibaseKey(file, id, author)) {
			if !slices.Contains(otherwise, name) {
				otherwise = append(otherwise, name)
			}
			continue
		}
		if byID && !slices.Contains(keys, key) {
			changesets, keys = append(changesets, name), append(keys, key)
		}
		switch strings.ToUpper(deref(row[3])) {
		case "EXECUTED", "RERAN", "MARK_RAN":
			if tagged {
				return nil
			}
			ran = true
		case "FAILED":
			failed = true
		}
	}
	switch {
	case len(changesets) > 1:
		return &Error{Class: Schema,
			Err:  fmt.Errorf("changeset id %q names %d changesets in %s: %s (a changeset is its file, id and author)", s.want, len(changesets), s.table, strings.Join(changesets, ", ")),
			Hint: fmt.Sprintf("changeset id %s is ambiguous (ids repeat across changelog files): write %s as FILENAME::ID::AUTHOR, as liquibase status prints it (such as %s), or use a tag", s.want, s.fields("version"), changesets[0])}
	case ran:
		return nil
	case failed:
		return s.failed(s.want, "is recorded with exectype FAILED and never ran since")
	}
	other := ""
	if len(otherwise) > 0 {
		if n := len(otherwise); n > 3 { // an id such as 1, by the same author, in many files
			otherwise = append(otherwise[:3], fmt.Sprintf("%d more", n-3))
		}
		other = fmt.Sprintf("; %s is, another changeset to liquibase, which compares file, id and author", strings.Join(otherwise, ", "))
	}
	return &Error{Class: Schema,
		Err:  fmt.Errorf("changeset or tag %q is not in %s (%s rows%s): this release needs it applied", s.want, s.table, deref(rows[0][0]), other),
		Hint: fmt.Sprintf("changeset %s is pending: it should clear when the migration job finishes (liquibase update); if none runs, run it", s.want)}
}

// decideAlembic: the head asked for must be one of the table's rows. Revision ids have no order, so
// another revision reads the same whether an upgrade is pending or the database is past this release
// (another release's head, as after a rollback of the app): the hint says both.
func decideAlembic(s *schemaCheck, rows [][]*string) error {
	var heads []string
	for _, row := range rows {
		if row[0] != nil {
			heads = append(heads, *row[0])
		}
	}
	if slices.Contains(heads, s.want) {
		return nil
	}
	if len(heads) == 0 {
		return s.empty()
	}
	at := strings.Join(heads, ",")
	return &Error{Class: Schema,
		Err: fmt.Errorf("schema at revision %s, this release needs head %s (alembic, table %s)", at, s.want, s.table),
		Hint: fmt.Sprintf("the database is at revision %s, not %s: an upgrade is pending (clears when the migration job finishes), or the database is at another release's head, e.g. after a rollback",
			at, s.want)}
}

// compareVersions compares two versions made of dot-separated digit runs as numbers, segment by segment
// (9 < 10, 1.9 < 1.10, 1.2 = 1.2.0); ok is false when either is not such a version.
func compareVersions(a, b string) (int, bool) {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		if !digitsPattern.MatchString(x) || !digitsPattern.MatchString(y) {
			return 0, false
		}
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1, true
			}
			return 1, true
		}
		if c := strings.Compare(x, y); c != 0 {
			return c, true
		}
	}
	return 0, true
}

// sqlTrue reads a boolean cast to text: Postgres writes true/false, MySQL 1/0.
func sqlTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "1", "y", "yes", "on":
		return true
	}
	return false
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
