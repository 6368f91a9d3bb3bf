package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/startup"
)

// usage is the text of `healthgate help`; the target flags of wait and check are the registry's kinds.
func usage() string {
	return `healthgate tells probes and init containers whether a service's dependencies can serve.

Usage:
  healthgate serve [--config FILE] [--listen ADDR] [--validate] [--log-format text|json] [--log-level LEVEL]
` + wrapUsage("  healthgate wait ", "[--config FILE] "+startup.FlagUsage()+" [--only NAME] [--set KIND.FIELD=VALUE] [--migrations TOOL:VERSION]"+
		" [--timeout 5m] [--attempt-timeout DURATION] [--quiet] [--log-format text|json] [--log-level LEVEL] [-- COMMAND ARGS...]") +
		wrapUsage("  healthgate check ", "[--config FILE] "+startup.FlagUsage()+" [--only NAME] [--set KIND.FIELD=VALUE] [--migrations TOOL:VERSION]"+
			" [--attempt-timeout DURATION] [--output text|json]") +
		`  healthgate version

Run "healthgate COMMAND --help" for a command's flags.
`
}

// wrapUsage writes a usage line of [--flag ARG] groups wrapped at 110 columns, the continuation lines
// indented under the first group.
func wrapUsage(prefix, groups string) string {
	var b strings.Builder
	line := prefix
	indent := strings.Repeat(" ", len(prefix))
	for g := range strings.SplitSeq(strings.ReplaceAll(groups, "] [", "]\x00["), "\x00") {
		if len(line) > len(indent) && len(line)+1+len(g) > 110 {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		line += g + " "
	}
	b.WriteString(strings.TrimRight(line, " ") + "\n")
	return b.String()
}

// commonFlags are serve's --config and the log flags every command shares.
type commonFlags struct {
	config    startup.OnceFlag
	logFormat string
	logLevel  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	c.config.Empty = "empty (an unset variable?)"
	fs.Var(&c.config, "config", "configuration `FILE` (default: ./"+config.DefaultFile+" if present, else DATABASE_URL/REDIS_URL)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
}

// logger is the logger --log-format and --log-level ask for, or the problems with both flags (every
// usage error at once: the caller adds them to its own).
func (c *commonFlags) logger(w io.Writer) (*slog.Logger, []string) {
	var problems []string
	level, err := parseLevel(c.logLevel)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format: %s is not text or json", quoteValue(c.logFormat)))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return jsonLogger(w, opts), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// parseLevel reads a --log-level value.
func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	// The four names alone: slog also reads an offset (error+1), above which the records that are always
	// written (wait's usage error, its table of what was not ready) were dropped.
	if err := level.UnmarshalText([]byte(s)); err != nil || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("--log-level: %s is not one of debug, info, warn, error", quoteValue(s))
	}
	return level, nil
}

// jsonLogger writes one JSON object per line, with durations as "1.5ms", as in the text format,
// rather than slog's integer nanoseconds.
func jsonLogger(w io.Writer, opts *slog.HandlerOptions) *slog.Logger {
	opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// parseFlags parses a command's flags; a non-nil error ends the command (exit 0 after --help, which is
// written to stdout, as `healthgate --help` is, so that it pipes into a pager or grep). Errors and --help
// are written in the GNU `--flag` style the README and the usage use, not the flag package's `-flag`.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	asValue := flagAsValue(fs, args)
	err := fs.Parse(args)
	switch {
	case err == nil && asValue == "":
		return nil
	case errors.Is(err, flag.ErrHelp):
		printFlags(fs, stdout)
		return exitf(exitOK, "")
	}
	// The flags after the bad one are read all the same, their errors dropped: those that say how to
	// report this one (check's --output json, wait's --log-format json) count wherever they stand.
	// (A bad syntax, ---x, leaves its argument unread: the loop ends there.)
	for rest := fs.Args(); err != nil && fs.Parse(rest) != nil && len(fs.Args()) < len(rest); rest = fs.Args() {
	}
	msg := asValue
	if msg == "" {
		msg = gnuFlagError(err, fs, args)
	}
	return exitf(exitUsage, "%s\nRun \"%s --help\" for its flags.", msg, fs.Name())
}

// flagAsValue finds a flag that takes a value followed by another of the command's flags where its value
// should be: the flag package takes that flag as the value, and said something else (`--postgres
// $DATABASE_URL --redis URL` with the variable unset and unquoted: "--postgres: invalid keyword/value",
// and the next URL "an unexpected argument"). "" when there is none before the command (after --).
func flagAsValue(fs *flag.FlagSet, args []string) string {
	flagName := func(a string) (string, bool) {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			name, ok = strings.CutPrefix(a, "-")
		}
		return name, ok && name != ""
	}
	for i := 0; i < len(args)-1; i++ {
		name, ok := flagName(args[i])
		if args[i] == "--" {
			return ""
		}
		if !ok || strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		next := args[i+1]
		nextName, isFlag := flagName(next)
		nextName, _, _ = strings.Cut(nextName, "=")
		switch {
		case next == "--" && fs.Name() == "healthgate wait":
			return args[i] + ": needs a value (the next argument is --, which starts the command)"
		case next == "--":
			return fmt.Sprintf("%s: needs a value (the next argument is --, which ends the flags: %s runs no command)", args[i], strings.TrimPrefix(fs.Name(), "healthgate "))
		case isFlag && (fs.Lookup(nextName) != nil || nextName == "h" || nextName == "help"):
			return fmt.Sprintf("%s: needs a value, and the next argument is the flag %s (a variable that is empty or unset, and not quoted? %s \"$VAR\" says so)", args[i], next, args[i])
		}
		i++ // the value
	}
	return ""
}

// flagSuggestion is what an unknown flag was likely meant to be: the command's nearest flag (--postgress,
// --atempt-timeout), or, for check's --timeout (wait's, for the whole wait), the flag that bounds each
// attempt, and for --json the flag that writes JSON; "" for nothing.
func flagSuggestion(name string, fs *flag.FlagSet) string {
	if flagName, value, ok := strings.Cut(name, ":"); ok && value != "" && fs.Lookup(flagName) != nil {
		return " (a flag and its value are two arguments, or one with =: --" + flagName + " VALUE, --" + flagName + "=VALUE)"
	}
	if name == "timeout" && fs.Lookup("attempt-timeout") != nil {
		return " (check tries each target once: --attempt-timeout bounds each attempt)"
	}
	// Other tools' spellings of JSON output (--json, kubectl's -o json): the flag that says it here.
	if (strings.EqualFold(name, "json") || name == "o") && fs.Lookup("output") != nil {
		return " (did you mean --output json?)"
	}
	if strings.EqualFold(name, "json") && fs.Lookup("log-format") != nil {
		return " (did you mean --log-format json?)"
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	// Within fewer edits for a short name: -t is no typo of --set.
	if best := config.Closest(strings.ToLower(name), names, min(3, len(name)/2+1)); best != "" {
		return " (did you mean --" + best + "?)"
	}
	return ""
}

// gnuFlagError rewords the flag package's errors of fs with --name (or -name, as it was written in args).
func gnuFlagError(err error, fs *flag.FlagSet, args []string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		// Redacted as a target: --postgres://app:pw@db/app (the = or the blank left out) is a flag
		// named after the whole URL.
		dashes := "--"
		for _, a := range args {
			if a == "-"+name || strings.HasPrefix(a, "-"+name+"=") {
				dashes = "-"
				break
			}
		}
		return "unknown flag " + dashes + checks.RedactURL(name) + flagSuggestion(name, fs)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + ": needs a value"
	}
	// invalid value "x" for flag -name: cause; invalid boolean value "x" for -name: cause (cut at the
	// last sep: the value, not the cause, may hold one)
	for _, sep := range []string{" for flag -", " for -"} {
		if j := strings.LastIndex(msg, sep); j >= 0 && strings.HasPrefix(msg, "invalid ") {
			what, rest := msg[:j], msg[j+len(sep):]
			name, cause, _ := strings.Cut(rest, ": ")
			out := "--" + name + ": " + redactQuoted(what)
			if cause != "" {
				out += ": " + cause
			}
			return out
		}
	}
	return msg
}

// quoteValue quotes a flag's value in its error, redacted as a target is: a URL or DSN given to a flag that
// is no target's (a value shifted by one, --timeout "$DATABASE_URL") showed its password.
func quoteValue(v string) string { return strconv.Quote(checks.RedactURL(v)) }

// redactQuoted is the flag package's `invalid value "VALUE"` with VALUE as quoteValue shows it; whole
// (VALUE not shown) when it does not read back.
func redactQuoted(what string) string {
	i := strings.IndexByte(what, '"')
	if i < 0 {
		return what
	}
	v, err := strconv.Unquote(what[i:])
	if err != nil {
		return what[:i] + "(not shown)"
	}
	return what[:i] + quoteValue(v)
}

// printFlags is flag.PrintDefaults with --name.
func printFlags(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nFlags:\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(usage, "default") {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// durationFlag is fs.Duration with an error that says what to write: `--timeout 30` is a common slip.
func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fs.Func(name, usage, func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil {
			if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
				return errors.New("needs a unit: write 30s, 5m or 1h30m")
			}
			if config.DurationTooLong(s) {
				return errors.New("longer than a duration holds (about 292 years, 2562047h)")
			}
			return errors.New("not a duration: write 30s, 5m or 1h30m")
		}
		d = v
		return nil
	})
	return &d
}

// attemptTimeoutFlag registers --attempt-timeout, which wait and check share: the bound of one attempt of
// a flag target, instead of defaults.timeout. The function it returns gives the value once the flags are
// parsed (0: not given), or the problem with it.
func attemptTimeoutFlag(fs *flag.FlagSet) func() (time.Duration, string) {
	d := durationFlag(fs, "attempt-timeout", 0, "bound each attempt of a flag target, and of the DATABASE_URL and REDIS_URL checks, to this `DURATION` (default: defaults.timeout, 2s)")
	return func() (time.Duration, string) {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "attempt-timeout" })
		if set && *d < config.MinTimeout {
			return 0, fmt.Sprintf("--attempt-timeout: must be at least %s (got %s)", config.MinTimeout, *d)
		}
		return *d, ""
	}
}

// configError is the usage error of a configuration that does not load: every problem, one per line.
func configError(err error) error {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return exitf(exitUsage, "%v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d %s):", len(errs), plural(len(errs), "error", "errors"))
	for _, e := range errs {
		b.WriteString("\n  " + errorText(e))
	}
	return exitf(exitUsage, "%s", b.String())
}

// errorText is a configuration error as printed. A file that does not exist is named redacted: it is then
// no file name but what was given to --config in place of a target flag (--config "$DATABASE_URL"), and
// "URL: no such file" showed its password.
func errorText(e *config.Error) string {
	if _, err := os.Stat(e.File); err == nil {
		return e.Error()
	}
	shown := *e
	shown.File = checks.RedactURL(e.File)
	return shown.Error()
}

// usageError is every usage and configuration problem at once.
func usageError(problems []string) error {
	if len(problems) == 1 {
		return exitf(exitUsage, "%s", problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors:", len(problems))
	for _, p := range problems {
		b.WriteString("\n  " + p)
	}
	return exitf(exitUsage, "%s", b.String())
}

// targetsError is every problem of wait's or check's arguments at once. The configuration's own errors
// (cfgErr) read as serve reports them when they are all there is; beside problems of the flags, they
// join the one list.
func targetsError(problems []string, cfgErr error) error {
	if cfgErr == nil {
		return usageError(problems)
	}
	if len(problems) == 0 {
		return configError(cfgErr)
	}
	var errs config.Errors
	if !errors.As(cfgErr, &errs) {
		return usageError(append(problems, cfgErr.Error()))
	}
	for _, e := range errs {
		problems = append(problems, errorText(e))
	}
	return usageError(problems)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// dsnWord is an argument that reads as a key=value pair: a piece of a DSN split at its blanks.
var dsnWord = regexp.MustCompile(`^[A-Za-z_]+=`)

// unexpectedArgument is the usage problem of an argument after the flags, shown redacted as a target is:
// an unquoted $DATABASE_URL holding a key=value DSN (host=db password=... dbname=app) splits at its blanks,
// and the stray argument is then its password=... . otherwise says what to do with an argument that is
// no piece of a DSN ("" for nothing).
func unexpectedArgument(arg, otherwise string) string {
	msg := fmt.Sprintf("unexpected argument %q", checks.RedactURL(arg))
	if dsnWord.MatchString(arg) {
		return msg + ": a key=value DSN holds blanks; quote it as one argument, as in --postgres \"$DATABASE_URL\""
	}
	if otherwise != "" {
		msg += ": " + otherwise
	}
	return msg
}

// nothingToCheck is the usage error of a command started with no check at all; how says how to give some.
func nothingToCheck(how string) string { return "nothing to check: " + how }

// commandSuggestion is what an unknown command was likely meant to be: the nearest command (serv,
// chek), or, for a flag written first (healthgate --postgres URL), that flags follow the command.
func commandSuggestion(cmd string) string {
	if cmd == "-v" || cmd == "-V" {
		return " (did you mean --version?)"
	}
	if strings.HasPrefix(cmd, "-") {
		return " (flags follow the command: healthgate check " + cmd + " ..., or wait, or serve)"
	}
	if best := config.Closest(strings.ToLower(cmd), []string{"serve", "wait", "check", "version", "help"}, 3); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}
