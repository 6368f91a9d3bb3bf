package startup

import (
	"flag"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// TestTargetFlagsFromRegistry: every registered kind has its flag, its usage and a flag target that
// builds, with nothing listed in the CLI.
func TestTargetFlagsFromRegistry(t *testing.T) {
	var ts Targets
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	ts.Register(fs, "check", "whose checks to run")
	if len(checks.Kinds()) == 0 {
		t.Fatal("no kinds registered")
	}
	for _, k := range checks.Kinds() {
		f := fs.Lookup(k.Name)
		if f == nil {
			t.Errorf("no --%s flag", k.Name)
			continue
		}
		if arg, _ := flag.UnquoteUsage(f); arg == "" {
			t.Errorf("--%s: usage %q names no argument", k.Name, f.Usage)
		}
		if !strings.Contains(FlagUsage(), "[--"+k.Name+" "+k.TargetArg+"]") || !strings.Contains(FlagNames(), "--"+k.Name) {
			t.Errorf("usage %q / %q does not list --%s", FlagUsage(), FlagNames(), k.Name)
		}
		// The example target (tools/policy's placeholder) builds, as a flag target.
		c := config.NewCheck(k.Name, k.Name, "test", config.NewDefaults())
		if !checks.SetTarget(&c, k.TargetExample) {
			t.Errorf("SetTarget refuses kind %s", k.Name)
		}
		if ch, err := checks.New(c); err != nil {
			t.Errorf("kind %s: example target %q does not build: %v", k.Name, k.TargetExample, err)
		} else {
			ch.Close()
		}
	}
}

// --migrations keeps its documented forms (TOOL:VERSION, TOOL:TABLE:VERSION) and takes liquibase's
// FILENAME::ID::AUTHOR as a version: the table ends at the first single colon after the tool.
func TestMigrationsFlag(t *testing.T) {
	tests := []struct{ flag, tool, table, version string }{
		{"golang-migrate:20241120093000", "golang-migrate", "", "20241120093000"},
		{"dbmate:schema_migrations:11", "dbmate", "schema_migrations", "11"},
		{"rails:app.schema_migrations:11", "rails", "app.schema_migrations", "11"},
		{"flyway:1.10", "flyway", "", "1.10"},
		{"liquibase:v2.0", "liquibase", "", "v2.0"},
		{"liquibase:db/changelog.xml::1::dev", "liquibase", "", "db/changelog.xml::1::dev"},
		{"liquibase:DATABASECHANGELOG:db/changelog.xml::1::dev", "liquibase", "DATABASECHANGELOG", "db/changelog.xml::1::dev"},
		{"liquibase:app.databasechangelog:classpath:/db/changelog.xml::1::dev", "liquibase", "app.databasechangelog", "classpath:/db/changelog.xml::1::dev"},
		{"goose::5", "goose", "", "5"},
	}
	for _, tc := range tests {
		m, problem := migrationsFlag(tc.flag)
		if problem != "" || m.Tool != tc.tool || m.Table != tc.table || m.Version != tc.version {
			t.Errorf("%s: tool %q table %q version %q (%s); want %q %q %q", tc.flag, m.Tool, m.Table, m.Version, problem, tc.tool, tc.table, tc.version)
		}
	}
	if _, problem := migrationsFlag("liquibase"); !strings.Contains(problem, "write TOOL:VERSION") {
		t.Errorf("no version: %q", problem)
	}
}
