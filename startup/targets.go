package startup

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// Targets are the flags `wait` and `check` share to say what to test (docs/design.md §7): a configuration
// file, narrowed with --only, and/or targets given on the command line, one flag per registered kind
// (--postgres URL, --tcp HOST:PORT, ...).
type Targets struct {
	config     OnceFlag
	targets    []flagTarget
	only       namesFlag
	migrations OnceFlag
	sets       rawFlag // --set KIND.FIELD=VALUE, parsed by fieldSets
}

// rawFlag is a repeatable flag kept as given; its values are read later, and never quoted whole in an
// error (a --set value may hold a secret).
type rawFlag []string

func (r *rawFlag) String() string { return "" }

func (r *rawFlag) Set(v string) error {
	*r = append(*r, v)
	return nil
}

// setName and setField are what a --set's KIND and FIELD can be (a field may name one within it: tls.ca_file).
var (
	setName  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	setField = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// fieldSet is one --set KIND.FIELD=VALUE: a field of every flag target of that kind, as a configuration
// file would write it under the check; value holds that field alone, read once.
type fieldSet struct {
	kind, field string
	value       config.Spec
}

func (f fieldSet) flag() string { return "--set " + f.kind + "." + f.field }

// flagTarget is one use of a kind's flag, in command-line order.
type flagTarget struct{ kind, value string }

// targetFlag appends every use of one kind's flag to a shared list.
type targetFlag struct {
	kind string
	list *[]flagTarget
}

func (f targetFlag) String() string { return "" }

func (f targetFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty (an unset variable?)")
	}
	*f.list = append(*f.list, flagTarget{f.kind, v})
	return nil
}

// namesFlag is a repeatable flag whose values may also be comma-separated.
type namesFlag []string

func (n *namesFlag) String() string { return strings.Join(*n, ",") }

func (n *namesFlag) Set(v string) error {
	added := false
	for name := range strings.SplitSeq(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*n = append(*n, name)
			added = true
		}
	}
	if !added {
		// Without a name, --only would not narrow anything: every check would run, or be waited for.
		return errors.New("no name (an unset variable?)")
	}
	return nil
}

// OnceFlag is a flag that takes one value (--config, --migrations; serve's --config too): it keeps every
// value given, for Resolve (or serve) to refuse a second one, which would silently replace the first (as
// a second --set of a field is refused). Empty, when not "", is the error of an empty value: `--config
// "$CONFIG"` with the variable unset would otherwise read as no --config at all, and use
// ./healthgate.yaml or DATABASE_URL/REDIS_URL instead.
type OnceFlag struct {
	given []string
	Empty string
}

// Value is the value given, "" when none.
func (o *OnceFlag) Value() string {
	if len(o.given) == 0 {
		return ""
	}
	return o.given[0]
}

func (o *OnceFlag) String() string { return o.Value() }

func (o *OnceFlag) Set(v string) error {
	if v == "" && o.Empty != "" {
		return errors.New(o.Empty)
	}
	o.given = append(o.given, v)
	return nil
}

// Problem is the usage error of a flag given more than once, "" when it was not.
func (o *OnceFlag) Problem(name string) string {
	if len(o.given) < 2 {
		return ""
	}
	times := "twice"
	if len(o.given) > 2 {
		times = fmt.Sprintf("%d times", len(o.given))
	}
	quoted := make([]string, len(o.given))
	for i, v := range o.given {
		quoted[i] = strconv.Quote(checks.RedactURL(v)) // --config "$DATABASE_URL" in place of --postgres
	}
	return fmt.Sprintf("--%s: given %s (%s); it takes one value: give it once", name, times, strings.Join(quoted, ", "))
}

// Register adds the flags: --config, --only and one per registered kind; verb ("wait for", "check")
// and configUse word their help.
func (t *Targets) Register(fs *flag.FlagSet, verb, configUse string) {
	t.config.Empty = "empty (an unset variable?)"
	t.migrations.Empty = "empty (an unset variable?)"
	fs.Var(&t.config, "config", "configuration `FILE` "+configUse+" (default: ./"+config.DefaultFile+
		" if present, else DATABASE_URL/REDIS_URL; not read when target flags are given without --config or --only)")
	for _, k := range checks.Kinds() {
		fs.Var(targetFlag{k.Name, &t.targets}, k.Name, verb+" "+k.TargetHelp+"; repeatable)")
	}
	fs.Var(&t.only, "only", "only the configuration's check of this `NAME` (repeatable or comma-separated; critical or not: named, it counts as critical)")
	fs.Var(&t.sets, "set", "set a field of every target of a kind given by flag, as a configuration file writes it under the check: `KIND.FIELD=VALUE`, "+
		"the value read as YAML (redis.key=healthgate:probe through twemproxy, postgres.writable=true, postgres.max_replication_lag=30s, redis.tls={ca_file: /ca.pem}); repeatable")
	fs.Var(&t.migrations, "migrations", "the schema of every "+strings.Join(migrationFlags(), ", ")+" target must be at this version: `TOOL:VERSION` or TOOL:TABLE:VERSION "+
		"(tools: "+strings.Join(checks.MigrationTools(), ", ")+"; the table ends at the first single colon, so liquibase's FILENAME::ID::AUTHOR is a version)")
}

// migrationKinds are the kinds that have a schema, to which --migrations applies (checks.Kind.Migrations).
func migrationKinds() []string {
	var names []string
	for _, k := range checks.Kinds() {
		if k.Migrations {
			names = append(names, k.Name)
		}
	}
	return names
}

// migrationFlags are their flags: --postgres.
func migrationFlags() []string {
	var flags []string
	for _, k := range migrationKinds() {
		flags = append(flags, "--"+k)
	}
	return flags
}

// migrationsFlag parses --migrations TOOL:VERSION or TOOL:TABLE:VERSION; the checks package validates
// the tool, table and version as it does the configuration's. A version may hold double colons
// (liquibase's FILENAME::ID::AUTHOR), so the table ends at the first single colon after the tool:
// liquibase:db/changelog.xml::1::dev names no table, liquibase:DATABASECHANGELOG:db/changelog.xml::1::dev
// does (and a file name with a colon of its own, classpath:..., needs the table written first).
func migrationsFlag(v string) (config.Migrations, string) {
	tool, rest, ok := strings.Cut(v, ":")
	if !ok || tool == "" {
		return config.Migrations{}, fmt.Sprintf("--migrations: write TOOL:VERSION or TOOL:TABLE:VERSION, as in golang-migrate:20241120093000 (got %q)", v)
	}
	m := config.Migrations{Tool: tool, Version: rest,
		Src: config.Source{File: "flag --migrations", Path: "--migrations", Lines: map[string]int{}}}
	for i := range len(rest) {
		if rest[i] == ':' && (i == 0 || rest[i-1] != ':') && (i+1 == len(rest) || rest[i+1] != ':') {
			m.Table, m.Version = rest[:i], rest[i+1:]
			break
		}
	}
	return m, ""
}

// FlagUsage is the target flags in usage form: "[--http URL] [--postgres URL] ... [--tcp HOST:PORT]".
func FlagUsage() string {
	var parts []string
	for _, k := range checks.Kinds() {
		parts = append(parts, fmt.Sprintf("[--%s %s]", k.Name, k.TargetArg))
	}
	return strings.Join(parts, " ")
}

// FlagNames is the target flags as a phrase: "--http, --postgres, --redis or --tcp".
func FlagNames() string {
	var names []string
	for _, k := range checks.Kinds() {
		names = append(names, "--"+k.Name)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Resolve returns what to run: the configuration's checks (the critical ones when criticalOnly, or
// exactly those --only names) and the flag targets, or what to report before any attempt: the problems
// of the flags, and cfgErr, the configuration's own errors (a config.Errors, as serve reports them).
// Explicit beats implicit: `--postgres "$DATABASE_URL"` alone must not also run the DATABASE_URL check
// the environment would add, nor a stray ./healthgate.yaml, so the configuration is read only with
// --config or --only, or when no target flag is given.
func (t *Targets) Resolve(lookup config.LookupEnv, criticalOnly bool, attemptTimeout time.Duration) (fromConfig, fromFlags []config.Check, problems []string, cfgErr error) {
	cfg := &config.Config{File: "flags", Defaults: config.NewDefaults()}
	// Given twice, --config and --migrations say no one file or version: neither is read.
	configTwice, migrationsTwice := t.config.Problem("config"), t.migrations.Problem("migrations")
	for _, p := range []string{configTwice, migrationsTwice} {
		if p != "" {
			problems = append(problems, p)
		}
	}
	if configTwice == "" && (t.config.Value() != "" || len(t.only) > 0 || len(t.targets) == 0) {
		if loaded, err := config.Find(t.config.Value(), lookup, config.FindOptions{Kinds: checks.Validate}); err != nil {
			cfgErr = err
		} else {
			cfg = loaded
		}
	}
	if cfgErr == nil && configTwice == "" {
		// --only names checks of a configuration that loaded: against one that did not, every name
		// would be reported missing from an empty stand-in.
		var more []string
		fromConfig, more = selectChecks(cfg, t.only, criticalOnly)
		problems = append(problems, more...)
	}
	var migrations config.Migrations
	if t.migrations.Value() != "" {
		var problem string
		if migrations, problem = migrationsFlag(t.migrations.Value()); problem != "" && migrationsTwice == "" {
			problems = append(problems, problem)
		}
		if !slices.ContainsFunc(t.targets, func(f flagTarget) bool { return slices.Contains(migrationKinds(), f.kind) }) {
			problems = append(problems, "--migrations: applies to the SQL targets given by flag ("+strings.Join(migrationFlags(), " URL, ")+" URL), and there is none; in a configuration file, write migrations: under the check")
		}
	}
	switch {
	case attemptTimeout > 0 && cfg.File == config.EnvironmentName:
		// DATABASE_URL and REDIS_URL's checks have no file to set a timeout in, as flag targets.
		for i := range fromConfig {
			boundAttempt(&fromConfig[i], attemptTimeout)
		}
	case attemptTimeout > 0 && len(t.targets) == 0 && (cfgErr == nil || config.Path(t.config.Value()) != ""):
		// It would be ignored: the configuration's checks keep their own timeout. (Not said when it is
		// DATABASE_URL and REDIS_URL's that did not load: they take it, and their errors say what to fix.)
		problems = append(problems, "--attempt-timeout: applies to the targets given by flag ("+FlagNames()+") and to DATABASE_URL and REDIS_URL, and there is none; a configuration's check has its own timeout (timeout: under the check, or defaults.timeout)")
	}
	sets, more := t.fieldSets()
	problems = append(problems, more...)
	if t.migrations.Value() != "" {
		// Both would give the same targets their migrations, and one would silently replace the other
		// (with its errors, if any, never reported): refused, naming both.
		for _, f := range sets {
			if f.field == "migrations" {
				problems = append(problems, fmt.Sprintf("--migrations and %s: both say what the schema of the --%s targets must be; give one of them (--migrations for every %s target, %s for the --%s targets alone)",
					f.flag(), f.kind, strings.Join(migrationFlags(), " and "), f.flag(), f.kind))
			}
		}
	}
	fromFlags, more = flagTargetChecks(cfg, t.targets, attemptTimeout, migrations, sets)
	problems = append(problems, more...)
	if len(problems) == 0 && cfgErr == nil && len(fromConfig)+len(fromFlags) == 0 {
		problems = append(problems, nothing(cfg.File, criticalOnly, len(cfg.Checks) == 0, lookup))
	}
	return fromConfig, fromFlags, problems, cfgErr
}

// fieldSets reads the --set flags: each names a kind that has a target given by flag and a field of
// that kind other than the target (given by the kind's own flag), once, with a value that reads as YAML.
// The kind's decode judges the value, when flagTargetChecks builds the targets.
func (t *Targets) fieldSets() ([]fieldSet, []string) {
	kinds := map[string]checks.Kind{}
	var names []string
	for _, k := range checks.Kinds() {
		kinds[k.Name] = k
		names = append(names, k.Name)
	}
	var sets []fieldSet
	var problems []string
	for _, raw := range t.sets {
		lhs, value, ok := strings.Cut(raw, "=")
		kindName, field, dotted := strings.Cut(lhs, ".")
		if !ok || !dotted || kindName == "" || field == "" {
			problems = append(problems, "--set: write KIND.FIELD=VALUE, as in redis.key=healthgate:probe")
			continue
		}
		if !setName.MatchString(kindName) || !setField.MatchString(field) {
			// Not a kind and a field: a URL given to --set in place of its target flag (--set "$DATABASE_URL",
			// cut at its first '=' and '.'), whose password the messages below would quote.
			problems = append(problems, "--set: write KIND.FIELD=VALUE, as in redis.key=healthgate:probe (what comes before its '=' is no KIND.FIELD, and is not shown: it may hold a secret; a target is given with its own flag, --postgres URL)")
			continue
		}
		f := fieldSet{kind: kindName, field: field}
		k, known := kinds[kindName]
		// Each refusal points only at what is taken: the target's flag, --set of a plain field, or a
		// configuration file (--config), never at another --set that is refused in its turn.
		base, isFile := strings.CutSuffix(field, "_file")
		isFile = isFile && slices.Contains(k.Fields, base)
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("--set %s: no kind named %q (kinds: %s)", lhs, kindName, strings.Join(names, ", ")))
		case field == k.TargetField:
			problems = append(problems, fmt.Sprintf("%s: the %s is the target: give it as --%s %s", f.flag(), field, kindName, k.TargetArg))
		case isFile && base == k.TargetField:
			problems = append(problems, fmt.Sprintf("%s: the %s is the target, given as --%s %s; to read it from a file, write the check in a configuration file (%s: PATH) and give that with --config", f.flag(), base, kindName, k.TargetArg, field))
		case isFile && slices.Contains(k.Secrets, base):
			problems = append(problems, fmt.Sprintf("%s: a *_file field is read from a configuration file, and %s is a secret, which a command line never takes: write the check in a configuration file (%s: PATH, or %s: ${VAR}) and give that with --config", f.flag(), base, field, base))
		case isFile:
			problems = append(problems, fmt.Sprintf("%s: a *_file field is read from a configuration file; give the value itself (%s.%s=...), or the check in a file with --config", f.flag(), kindName, base))
		case slices.Contains(k.Secrets, field):
			problems = append(problems, fmt.Sprintf("%s: a secret takes a configuration file (its value from ${VAR} or %s_file), not a command line, which ps and the pod's spec show: write the check in one and give it with --config", f.flag(), field))
		case slices.Contains(k.Secrets, k.Needs[field]):
			// Without its secret the field is refused by the kind, and the secret cannot follow it here.
			needed := k.Needs[field]
			problems = append(problems, fmt.Sprintf("%s: needs %s, a secret, which a command line never takes (ps and the pod's spec show it): write the check in a configuration file (%s, and %s_file: PATH or %s: ${VAR}) and give that with --config", f.flag(), needed, field, needed, needed))
		case !slices.Contains(k.Fields, field):
			problems = append(problems, fmt.Sprintf("%s: %s has no field %q (its fields: %s)", f.flag(), kindName, field, strings.Join(k.Fields, ", ")))
		case !slices.ContainsFunc(t.targets, func(ft flagTarget) bool { return ft.kind == kindName }):
			problems = append(problems, fmt.Sprintf("%s: applies to the targets given as --%s, and there is none", f.flag(), kindName))
		case slices.ContainsFunc(sets, func(o fieldSet) bool { return o.kind == kindName && o.field == field }):
			problems = append(problems, fmt.Sprintf("%s: given twice", f.flag()))
		default:
			if err := f.value.SetYAML(field, value); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", f.flag(), err))
				continue
			}
			sets = append(sets, f)
		}
	}
	return sets, problems
}

// nothing is the usage error of a wait (criticalOnly) or check left with no check at all: what was read,
// and how to give some. A file that was read is named, so the hint does not ask for the --config given;
// one with no checks at all (empty) is said to have none, not to have no critical ones.
func nothing(file string, criticalOnly, empty bool, lookup config.LookupEnv) string {
	head, which := "nothing to check: ", "checks"
	if criticalOnly {
		head, which = "nothing to wait for: ", "critical checks"
	}
	switch file {
	case "flags", config.EnvironmentName:
		return head + "give " + FlagNames() + ", --config (a file with " + which + "), put checks in ./" + config.DefaultFile +
			", or " + config.EnvironmentHint(lookup)
	}
	if criticalOnly && !empty {
		return head + file + " has no critical checks (wait waits for those alone); mark some critical: true, name them with --only, or give " + FlagNames()
	}
	return head + file + " has no checks; add some, or give " + FlagNames()
}

// Build builds the resolved checks. The error is a config.Errors for the configuration's checks.
func Build(fromConfig, fromFlags []config.Check) ([]*checks.Check, error) {
	cs, err := checks.NewAll(fromConfig)
	if err != nil {
		return nil, err
	}
	for _, c := range fromFlags {
		ch, err := checks.New(c)
		if err != nil {
			// Flag targets were built once already by flagTargetChecks; this cannot fail.
			checks.CloseAll(cs)
			return nil, err
		}
		cs = append(cs, ch)
	}
	return cs, nil
}

// selectChecks picks from the configuration: every check (or, when criticalOnly, the critical ones),
// or exactly the ones --only names (critical or not: each counts as critical, asked for by name).
func selectChecks(cfg *config.Config, only []string, criticalOnly bool) ([]config.Check, []string) {
	if len(only) == 0 {
		var cs []config.Check
		for _, c := range cfg.Checks {
			if c.Critical || !criticalOnly {
				cs = append(cs, c)
			}
		}
		return cs, nil
	}
	names := make([]string, len(cfg.Checks))
	byName := map[string]config.Check{}
	for i, c := range cfg.Checks {
		names[i] = c.Name
		byName[c.Name] = c
	}
	var cs []config.Check
	var problems []string
	seen := map[string]bool{}
	for _, name := range only {
		c, ok := byName[name]
		switch {
		case seen[name]:
			continue
		case config.NameMaySecret(name):
			// No check can have it: a URL given to --only in place of a target flag, say, whose password
			// quoting it would show.
			problems = append(problems, "--only: a name that is no check name (a check's name is "+config.NamePattern.String()+"), not shown: it may hold a secret; a target is given with its own flag, --postgres URL")
		case !ok && len(names) == 0:
			problems = append(problems, fmt.Sprintf("--only: no check named %q: the configuration (%s) has no checks", name, cfg.File))
		case !ok:
			meant := ""
			if best := config.Closest(strings.ToLower(name), names, 3); best != "" {
				meant = fmt.Sprintf(" (did you mean %q?)", best)
			}
			problems = append(problems, fmt.Sprintf("--only: no check named %q%s in %s (checks: %s)", name, meant, cfg.File, strings.Join(names, ", ")))
		default:
			// Asked for by name, a check counts as critical, as /readyz/NAME makes it: its failure is the
			// answer. Kept non-critical, `check --only cache` on a failing cache said warn and exited 0,
			// and a script's `healthgate check --only cache || alert` never alerted.
			c.Critical = true
			cs = append(cs, c)
		}
		seen[name] = true
	}
	return cs, problems
}

// boundAttempt gives c the --attempt-timeout d, its interval kept longer than it, as everywhere.
func boundAttempt(c *config.Check, d time.Duration) {
	c.Timeout = d
	c.Interval = max(c.Interval, 2*d)
}

// flagTargetChecks turns the target flags into critical checks named after their kind and index
// (postgres, postgres-2, ...), skipping names the configuration uses. Each is built once here so
// that a bad value is reported, naming the flag, before any attempt.
func flagTargetChecks(cfg *config.Config, targets []flagTarget, attemptTimeout time.Duration, migrations config.Migrations, sets []fieldSet) ([]config.Check, []string) {
	taken := map[string]bool{}
	for _, c := range cfg.Checks {
		taken[c.Name] = true
	}
	fields := map[string]string{}
	for _, k := range checks.Kinds() {
		fields[k.Name] = k.TargetField
	}
	count := map[string]int{}
	var cs []config.Check
	var problems []string
	for _, t := range targets {
		count[t.kind]++
		name := t.kind
		for n := count[t.kind]; ; n++ {
			if n > 1 {
				name = fmt.Sprintf("%s-%d", t.kind, n)
			}
			if !taken[name] {
				break
			}
		}
		taken[name] = true
		flagName := "--" + t.kind
		c := config.NewCheck(name, t.kind, "flag "+flagName, cfg.Defaults)
		c.Critical = true
		checks.SetTarget(&c, t.value)
		// Hints name where the value came from: "check the credentials in --postgres".
		c.Src.SetOrigin(fields[t.kind], flagName)
		if slices.Contains(migrationKinds(), t.kind) && migrations.Tool != "" {
			c.Spec.Set("migrations", migrations)
			c.Src.SetOrigin("migrations", "--migrations") // its hints name the flag's parts
		}
		for _, f := range sets {
			if f.kind == t.kind {
				c.Spec, _ = c.Spec.Adopt(f.value, f.field)
				c.Src.SetOrigin(f.field, f.flag())
			}
		}
		if attemptTimeout > 0 {
			boundAttempt(&c, attemptTimeout)
		}
		ch, err := checks.New(c)
		if err != nil {
			var errs config.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					p := fmt.Sprintf("%s (target %q): %s", flagName, name, e.Msg)
					f, fromSet := setOf(sets, t.kind, e)
					switch {
					case strings.HasSuffix(e.Path, ".migrations") && fromSet:
						p = fmt.Sprintf("%s: %s: %s", f.flag(), e.Field, e.Msg) // the same for every target of the kind
					case strings.HasSuffix(e.Path, ".migrations"):
						p = fmt.Sprintf("--migrations: %s: %s", e.Field, e.Msg) // the same for every target
					case fromSet && e.Field != f.field: // inside the value: --set postgres.tls={bogus: 1}
						p = fmt.Sprintf("%s (target %q): %s: %s", f.flag(), name, e.Field, e.Msg)
					case fromSet:
						p = fmt.Sprintf("%s (target %q): %s", f.flag(), name, e.Msg)
					}
					if !slices.Contains(problems, p) {
						problems = append(problems, p)
					}
				}
			} else {
				problems = append(problems, fmt.Sprintf("%s (target %q): %v", flagName, name, err))
			}
			continue
		}
		ch.Close()
		cs = append(cs, c)
	}
	return cs, problems
}

// setOf is the --set of kind whose field (or a field within it, tls.ca_file, or an item of it,
// expect_status[1]) e is about.
func setOf(sets []fieldSet, kind string, e *config.Error) (fieldSet, bool) {
	for _, f := range sets {
		if f.kind == kind && (e.Field == f.field || strings.HasPrefix(e.Field, f.field+"[") || strings.HasSuffix(e.Path, "."+f.field)) {
			return f, true
		}
	}
	return fieldSet{}, false
}
