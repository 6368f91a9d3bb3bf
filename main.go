// Command healthgate tells Kubernetes, load balancers and init containers the truth about whether a
// service can serve: `serve` answers /livez, /readyz and /startupz from background checks that really
// exercise Postgres, MySQL, Redis, HTTP and TCP dependencies; `wait` blocks start-up until they answer;
// `check` diagnoses them once.
//
// This file is the only place that reads os.Args, the environment and signals, and calls os.Exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
	"github.com/healthgate/healthgate/startup"
)

// Exit codes (docs/design.md §7).
const (
	exitOK            = 0
	exitFailed        = 1   // check: a critical check fails; serve: could not listen or drain
	exitUsage         = 2   // bad flags or configuration
	exitTimeout       = 124 // wait timed out (timeout(1)'s convention)
	exitNotExecutable = 126 // the command after -- exists but cannot be executed (the shell's status)
	exitNotFound      = 127 // the command after -- was not found
	exitSIGHUP        = 129
	exitSIGINT        = 130
	exitSIGTERM       = 143
)

// Set with -ldflags "-X main.version=v1.2.3 -X main.revision=abc123"; see versionInfo for the fallback.
var (
	version  = ""
	revision = ""
)

// defaultConfigFile is read when --config is not given and it exists in the working directory.
const defaultConfigFile = "healthgate.yaml"

func main() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	checks.UserAgent = "healthgate/" + versionField(1)
	os.Exit(run(os.Args[1:], os.LookupEnv, sigs, os.Stdout, os.Stderr))
}

// env is how run reads the environment (os.LookupEnv in main, a map in tests).
type env = config.LookupEnv

const usage = `healthgate tells probes and init containers whether a service's dependencies can serve.

Usage:
  healthgate serve [--config FILE] [--listen ADDR] [--log-format text|json] [--log-level LEVEL]
  healthgate wait [--config FILE] [--postgres URL] [--mysql URL] [--redis URL] [--http URL] [--tcp HOST:PORT] [--memcached HOST:PORT] [--grpc HOST:PORT] [--dns HOST]
                  [--amqp URL] [--nats URL] [--mqtt URL] [--only NAME] [--migrations TOOL:VERSION] [--timeout 5m] [--attempt-timeout D] [--quiet] [--log-format text|json] [-- COMMAND ARGS...]
  healthgate check [--config FILE] [--postgres URL] [--mysql URL] [--redis URL] [--http URL] [--tcp HOST:PORT] [--memcached HOST:PORT] [--grpc HOST:PORT] [--dns HOST]
                   [--amqp URL] [--nats URL] [--mqtt URL] [--only NAME] [--migrations TOOL:VERSION] [--output text|json]
  healthgate version

Run "healthgate COMMAND --help" for a command's flags.
`

// run is main without the process: it returns the exit code. Signals arrive on sigs: the first one
// cancels the command's context (with the signal as cause), a second one skips the serve drain delay.
// SIGHUP is the exception for serve: it asks for a configuration reload, and never stops it.
func run(args []string, lookup env, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	ctx, cancel := context.WithCancelCause(context.Background())
	again := make(chan struct{})
	hup := make(chan struct{}, 1)   // serve: reload requests; one pending is enough
	finished := make(chan struct{}) // closed when the command returns, to end the watcher
	var watch sync.WaitGroup
	defer watch.Wait()
	defer close(finished) // runs before watch.Wait (defers are LIFO), so the watcher can end
	defer cancel(nil)
	// next returns the next signal that stops, handing serve's SIGHUPs to the reloader (dropped once
	// serve is stopping); ok false when the command returned first.
	next := func(stopping bool) (os.Signal, bool) {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGHUP || cmd != "serve" {
					return s, true
				}
				if !stopping {
					select {
					case hup <- struct{}{}:
					default:
					}
				}
			case <-finished:
				return nil, false
			}
		}
	}
	watch.Go(func() {
		s, ok := next(false)
		if !ok {
			return
		}
		cancel(signalError{s})
		// ctx is done now: wait for a second signal (or the end), not for ctx.
		if _, ok := next(true); ok {
			close(again)
		}
	})

	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, lookup, again, hup, stderr)
	case "wait":
		return cmdWait(ctx, rest, lookup, stderr)
	case "check":
		return cmdCheck(ctx, rest, lookup, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionInfo())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "healthgate: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// signalError carries the signal that cancelled the context.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// signalExit returns 129/130/143 when ctx was cancelled by SIGHUP/SIGINT/SIGTERM (128 + the signal,
// the shell's convention).
func signalExit(ctx context.Context) (int, bool) {
	var se signalError
	if !errors.As(context.Cause(ctx), &se) {
		return 0, false
	}
	switch se.sig {
	case syscall.SIGINT:
		return exitSIGINT, true
	case syscall.SIGHUP:
		return exitSIGHUP, true
	}
	return exitSIGTERM, true
}

// commonFlags are the flags every command shares.
type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "configuration file (default: ./"+defaultConfigFile+" if present, else DATABASE_URL/REDIS_URL)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return jsonLogger(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", c.logFormat)
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

// parseFlags parses a command's flags; ok false means the caller returns code. Errors and --help are
// written in the GNU `--flag` style the README and the usage use, not the flag package's `-flag`.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		printFlags(fs, stderr)
		return exitOK, false
	}
	fmt.Fprintf(stderr, "%s: %s\nRun \"%s --help\" for its flags.\n", fs.Name(), gnuFlagError(err), fs.Name())
	return exitUsage, false
}

// gnuFlagError rewords the flag package's errors with --name.
func gnuFlagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + name + ": needs a value"
	}
	// invalid value "x" for flag -name: cause; invalid boolean value "x" for -name: cause
	for _, sep := range []string{" for flag -", " for -"} {
		if what, rest, ok := strings.Cut(msg, sep); ok && strings.HasPrefix(what, "invalid ") {
			name, cause, _ := strings.Cut(rest, ": ")
			out := "--" + name + ": " + what
			if cause != "" {
				out += ": " + cause
			}
			return out
		}
	}
	return msg
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
			return errors.New("not a duration: write 30s, 5m or 1h30m")
		}
		d = v
		return nil
	})
	return &d
}

// configPath is the configuration file to read: the --config file, else ./healthgate.yaml if it
// exists, else "" (the environment).
func configPath(flag string) string {
	if flag == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			return defaultConfigFile
		}
	}
	return flag
}

// loadConfig finds and loads the configuration (docs/design.md §2 and README "Configuration"): the --config
// file, else ./healthgate.yaml, else the conventional DATABASE_URL and REDIS_URL. Every error, from
// the file and from the check kinds, is reported at once.
//
// serve also validates the server section; `check` and `wait` ignore it, so a setting only serve uses
// (details_token, say) cannot stop them.
func loadConfig(path string, lookup env, serve bool) (*config.Config, error) {
	path = configPath(path)
	if path == "" {
		return config.FromEnvironment(lookup), nil
	}
	cfg, err := config.Load(path, lookup)
	var errs config.Errors
	if err != nil && !errors.As(err, &errs) {
		return nil, err
	}
	if cfg != nil {
		errs = append(errs, checks.Validate(cfg.Checks)...)
		if serve {
			errs = append(errs, cfg.ValidateServer()...)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func reportConfigError(stderr io.Writer, command string, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		fmt.Fprintf(stderr, "healthgate %s: invalid configuration (%d %s):\n", command, len(errs), plural(len(errs), "error", "errors"))
		for _, e := range errs {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "healthgate %s: %v\n", command, err)
	return exitUsage
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cmdServe(ctx context.Context, args []string, lookup env, again, hup <-chan struct{}, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthgate serve", flag.ContinueOnError)
	var common commonFlags
	common.register(fs)
	listen := fs.String("listen", "", "address to serve on (overrides server.listen; default :8080)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "healthgate serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *listen != "" {
		if msg := config.CheckListen(*listen); msg != "" {
			fmt.Fprintf(stderr, "healthgate serve: --listen: %s\n", msg)
			return exitUsage
		}
	}
	log, err := common.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "healthgate serve: %v\n", err)
		return exitUsage
	}
	path := configPath(common.config)
	cfg, err := loadConfig(path, lookup, true)
	if err != nil {
		return reportConfigError(stderr, "serve", err)
	}
	if *listen != "" {
		if *listen == cfg.Server.GRPCListen {
			fmt.Fprintf(stderr, "healthgate serve: --listen: must differ from server.grpc_listen (%s)\n", cfg.Server.GRPCListen)
			return exitUsage
		}
		cfg.Server.Listen = *listen
	}
	if len(cfg.Checks) == 0 && cfg.File == config.EnvironmentName {
		// No file and neither variable: most likely a misspelled variable or a missing mount, and an
		// always-ready probe would hide it. A file that says `checks: []` is taken at its word.
		return reportUsage(stderr, "serve", []string{nothingToCheck("give --config, put checks in ./" + defaultConfigFile +
			", or set DATABASE_URL / REDIS_URL (to serve with no checks on purpose, write `checks: []` in the file)")})
	}
	cs, err := checks.NewAll(cfg.Checks)
	if err != nil {
		return reportConfigError(stderr, "serve", err)
	}
	if len(cs) == 0 {
		log.Warn(noChecksWarning(cfg.File))
	}

	metrics := server.NewMetrics(server.BuildInfo{Version: versionField(1), Revision: versionField(3)})
	rl := &reloader{path: path, lookup: lookup, listen: *listen, log: log, metrics: metrics, instance: server.NewInstanceID(), cfg: cfg, cs: cs}
	defer rl.close() // the checks and peer client in use when serve ends
	monOpts := monitor.Options{Logger: log, OnRun: metrics.Observe}
	srvOpts := server.Options{Metrics: metrics}
	rl.applyFleet(cfg, cs, &monOpts, &srvOpts)
	rl.applyServer(cfg, &srvOpts)
	mon := monitor.New(cs, monOpts)
	h := server.New(mon, srvOpts)
	rl.mon, rl.handler = mon, h

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen", "listen", cfg.Server.Listen, "error", err)
		return exitFailed
	}
	endpoints := server.Endpoints{HTTP: ln, Handler: h}
	if cfg.Server.GRPCListen != "" {
		gln, err := net.Listen("tcp", cfg.Server.GRPCListen)
		if err != nil {
			_ = ln.Close()
			log.Error("cannot listen", "grpc_listen", cfg.Server.GRPCListen, "error", err)
			return exitFailed
		}
		endpoints.GRPC, endpoints.Health = gln, server.NewHealth(mon)
		log.Info("serving gRPC health", "addr", gln.Addr().String())
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", versionInfo(), "config", cfg.File, "checks", strings.Join(names, ","))

	monCtx, stopMonitor := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { mon.Run(monCtx) })
	wg.Go(func() { rl.run(ctx, hup) }) // reloads until the drain starts
	err = server.Serve(ctx, endpoints, server.Drain{
		Skip: again, Shutdown: mon.Shutdown, Timing: rl.drainTiming,
	}, log)
	stopMonitor()
	wg.Wait()
	if err != nil {
		log.Error("serve failed", "error", err)
		return exitFailed
	}
	return exitOK
}

// newFleet wires fleet-aware readiness (docs/design.md §10): /fleetz for the peers, and the peer client
// the monitor asks while a shared check fails. instance is this process's id, kept across reloads.
func newFleet(cfg *config.Config, cs []*checks.Check, instance string, metrics *server.Metrics, log *slog.Logger, mon *monitor.Options, srv *server.Options) *server.Peers {
	f := cfg.Fleet
	peers := make([]config.Peer, 0, len(f.Peers))
	for _, s := range f.Peers {
		p, _ := config.ParsePeer(s) // validated by config.Load
		peers = append(peers, p)
	}
	cacheFor := time.Duration(0)
	var shared []string
	for _, c := range cs {
		if c.Shared && c.Critical {
			shared = append(shared, c.Name)
			if cacheFor == 0 || c.Interval < cacheFor {
				cacheFor = c.Interval
			}
		}
	}
	client := server.NewPeers(server.PeersOptions{
		Peers: peers, Token: f.Token, Sample: f.Sample, Instance: instance, CacheFor: cacheFor,
		OnResult: metrics.FleetRequest, Logger: log,
	})
	mon.Fleet = &monitor.Fleet{Peers: client, Ratio: f.FailOpenRatio, MinPods: f.MinPods, Timeout: f.Timeout}
	srv.Fleet = &server.FleetOptions{Instance: instance, Token: f.Token}
	if len(shared) == 0 {
		log.Warn("fleet configured but no critical check has scope: shared; nothing can fail open")
	} else {
		log.Info("fleet-aware readiness", "shared", strings.Join(shared, ","), "peers", strings.Join(f.Peers, ","),
			"fail_open_ratio", f.FailOpenRatio, "min_pods", f.MinPods, "sample", f.Sample, "instance", instance)
	}
	return client
}

// versionField returns one word of versionInfo: 1 the version, 3 the revision.
func versionField(i int) string {
	return strings.Trim(strings.Fields(versionInfo())[i], "(),")
}

// versionInfo is "healthgate VERSION (revision REV, goVERSION)", from -ldflags or, failing that,
// from the build information the go command records.
func versionInfo() string {
	v, rev := version, revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("healthgate %s (revision %s, %s)", v, rev, runtime.Version())
}

// ---- wait and check (docs/design.md §7) ----

// execCommand replaces the process with the command after `--`; a variable so that in-process tests
// never replace the test binary.
var execCommand = startup.Command.Exec

// flagTarget is one --postgres/--mysql/--redis/--http/--tcp flag, in command-line order.
type flagTarget struct{ typ, value string }

// targetFlag appends every use of one target flag to a shared list.
type targetFlag struct {
	typ  string
	list *[]flagTarget
}

func (f targetFlag) String() string { return "" }

func (f targetFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty (an unset variable?)")
	}
	*f.list = append(*f.list, flagTarget{f.typ, v})
	return nil
}

// namesFlag is a repeatable flag whose values may also be comma-separated.
type namesFlag []string

func (n *namesFlag) String() string { return strings.Join(*n, ",") }

func (n *namesFlag) Set(v string) error {
	for name := range strings.SplitSeq(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*n = append(*n, name)
		}
	}
	return nil
}

// splitCommand separates `wait`'s own arguments from the command after the first `--`.
func splitCommand(args []string) (own, command []string, hasCommand bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], true
		}
	}
	return args, nil, false
}

// cmdWait is `healthgate wait`: it blocks until every target answered once, then exits 0 or execs
// the command after `--` (README "wait"). Every usage and configuration error is reported before
// the first attempt.
func cmdWait(ctx context.Context, args []string, lookup env, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthgate wait", flag.ContinueOnError)
	var what targetFlags
	what.register(fs, "wait for", "whose critical checks to wait for")
	timeout := durationFlag(fs, "timeout", 5*time.Minute, "give up after this `DURATION`, with exit code 124 (0 waits for ever; default 5m)")
	attemptTimeout := durationFlag(fs, "attempt-timeout", 0, "`DURATION` bound of each attempt of a flag target (default: defaults.timeout, 2s)")
	quiet := fs.Bool("quiet", false, "no progress lines (the table of what was not ready on timeout is still written)")
	logFormat := fs.String("log-format", "text", "progress format: text or json")
	own, command, hasCommand := splitCommand(args)
	if code, ok := parseFlags(fs, own, stderr); !ok {
		return code
	}

	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q: put the command to run after --, as in: healthgate wait --postgres URL -- ./app", fs.Arg(0)))
	}
	if hasCommand && len(command) == 0 {
		problems = append(problems, "--: no command after it")
	}
	if *logFormat != "text" && *logFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format: %q is not text or json", *logFormat))
	}
	if *timeout < 0 {
		problems = append(problems, fmt.Sprintf("--timeout: must not be negative (got %s); 0 waits for ever", *timeout))
	}
	attemptSet := false
	fs.Visit(func(f *flag.Flag) { attemptSet = attemptSet || f.Name == "attempt-timeout" })
	if attemptSet && *attemptTimeout < config.MinTimeout {
		problems = append(problems, fmt.Sprintf("--attempt-timeout: must be at least %s (got %s)", config.MinTimeout, *attemptTimeout))
	}

	selected, flagChecks, more := what.resolve(lookup, true, *attemptTimeout)
	problems = append(problems, more...)
	if len(problems) == 0 && len(selected)+len(flagChecks) == 0 {
		problems = append(problems, "nothing to wait for: give --postgres, --mysql, --redis, --http or --tcp, a --config with critical checks, or set DATABASE_URL / REDIS_URL")
	}
	if len(problems) > 0 {
		return reportUsage(stderr, "wait", problems)
	}

	var cmd startup.Command
	if hasCommand {
		var err error
		if cmd, err = startup.LookCommand(command); err != nil {
			fmt.Fprintf(stderr, "healthgate wait: %v\n", err)
			return commandExit(err)
		}
	}

	cs, code := buildTargets(selected, flagChecks, "wait", stderr)
	if cs == nil {
		return code
	}
	defer func() { checks.CloseAll(cs) }() // cs is nil once closed before an exec

	opts := startup.Options{Timeout: *timeout, Progress: stderr, Quiet: *quiet}
	if *logFormat == "json" {
		opts.Log = jsonLogger(stderr, &slog.HandlerOptions{})
	}
	_, err := startup.Wait(ctx, cs, opts)
	switch {
	case errors.Is(err, startup.ErrTimeout):
		return exitTimeout
	case err != nil:
		if code, ok := signalExit(ctx); ok {
			return code
		}
		fmt.Fprintf(stderr, "healthgate wait: %v\n", err)
		return exitFailed
	}
	if !hasCommand {
		return exitOK
	}
	checks.CloseAll(cs) // the deferred close never runs after exec
	cs = nil
	if code, ok := signalExit(ctx); ok {
		return code // a signal arrived just as the last target became ready
	}
	err = execCommand(cmd, os.Environ())
	fmt.Fprintf(stderr, "healthgate wait: %v\n", err)
	return commandExit(err)
}

// commandExit is the shell's status for a command that cannot run: 126 when it exists but is not
// executable, 127 when it is not found.
func commandExit(err error) int {
	if errors.Is(err, startup.ErrNotExecutable) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOEXEC) {
		return exitNotExecutable
	}
	return exitNotFound
}

// targetFlags are the flags `wait` and `check` share to say what to test: a configuration file, narrowed
// with --only, and/or targets given on the command line.
type targetFlags struct {
	config     string
	targets    []flagTarget
	only       namesFlag
	migrations string
}

// register adds the flags; verb ("wait for", "check") and configUse word their help.
func (t *targetFlags) register(fs *flag.FlagSet, verb, configUse string) {
	fs.StringVar(&t.config, "config", "", "configuration `FILE` "+configUse+" (default: ./"+defaultConfigFile+
		" if present, else DATABASE_URL/REDIS_URL; not read when target flags are given without --config or --only)")
	fs.Var(targetFlag{"postgres", &t.targets}, "postgres", verb+" a Postgres `URL` (a query must answer; repeatable)")
	fs.Var(targetFlag{"mysql", &t.targets}, "mysql", verb+" a MySQL or MariaDB `URL` (mysql://user:pw@host:3306/db or user:pw@tcp(host:3306)/db; a query must answer; repeatable)")
	fs.Var(targetFlag{"redis", &t.targets}, "redis", verb+" a Redis `URL` (PING must answer PONG; repeatable)")
	fs.Var(targetFlag{"http", &t.targets}, "http", verb+" an HTTP `URL` (2xx; repeatable)")
	fs.Var(targetFlag{"tcp", &t.targets}, "tcp", verb+" `HOST:PORT` (a connection must open; repeatable)")
	fs.Var(targetFlag{"memcached", &t.targets}, "memcached", verb+" a memcached at `HOST:PORT` (version must answer; repeatable)")
	fs.Var(targetFlag{"grpc", &t.targets}, "grpc", verb+" a gRPC server at `HOST:PORT` (grpc.health.v1.Health/Check must answer SERVING, plaintext; repeatable)")
	fs.Var(targetFlag{"dns", &t.targets}, "dns", verb+" a DNS name `HOST` to resolve (A/AAAA, system resolver; repeatable)")
	fs.Var(targetFlag{"amqp", &t.targets}, "amqp", verb+" an AMQP 0-9-1 broker (RabbitMQ) `URL` (login and a channel; repeatable)")
	fs.Var(targetFlag{"nats", &t.targets}, "nats", verb+" a NATS server `URL` (PING must answer PONG; repeatable)")
	fs.Var(targetFlag{"mqtt", &t.targets}, "mqtt", verb+" an MQTT broker `URL` (CONNECT must be accepted; repeatable)")
	fs.Var(&t.only, "only", "only the configuration's check of this `NAME` (repeatable; critical or not)")
	fs.StringVar(&t.migrations, "migrations", "", "the schema of every --postgres and --mysql target must be at this version: `TOOL:VERSION` or TOOL:TABLE:VERSION "+
		"(tools: golang-migrate, goose, dbmate, rails, flyway, liquibase, alembic)")
}

// sqlKinds are the target types that have a schema, to which --migrations applies.
var sqlKinds = []string{"postgres", "mysql"}

// migrationsFlag parses --migrations TOOL:VERSION or TOOL:TABLE:VERSION; the checks package validates
// the tool, table and version as it does the configuration's.
func migrationsFlag(v string) (config.Migrations, string) {
	tool, rest, ok := strings.Cut(v, ":")
	if !ok || tool == "" {
		return config.Migrations{}, fmt.Sprintf("--migrations: write TOOL:VERSION or TOOL:TABLE:VERSION, as in golang-migrate:20241120093000 (got %q)", v)
	}
	m := config.Migrations{Tool: tool, Version: rest,
		Src: config.Source{File: "flag --migrations", Path: "--migrations", Lines: map[string]int{}}}
	if table, version, ok := strings.Cut(rest, ":"); ok {
		m.Table, m.Version = table, version
	}
	return m, ""
}

// resolve returns what to run: the configuration's checks (the critical ones when criticalOnly, or
// exactly those --only names) and the flag targets, or the problems to report before any attempt.
// Explicit beats implicit: `--postgres "$DATABASE_URL"` alone must not also run the DATABASE_URL check
// the environment would add, nor a stray ./healthgate.yaml, so the configuration is read only with
// --config or --only, or when no target flag is given.
func (t *targetFlags) resolve(lookup env, criticalOnly bool, attemptTimeout time.Duration) (fromConfig, fromFlags []config.Check, problems []string) {
	cfg := &config.Config{File: "flags", Defaults: config.NewDefaults()}
	if t.config != "" || len(t.only) > 0 || len(t.targets) == 0 {
		loaded, err := loadConfig(t.config, lookup, false)
		var errs config.Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				problems = append(problems, e.Error())
			}
		case err != nil:
			problems = append(problems, err.Error())
		default:
			cfg = loaded
		}
	}
	fromConfig, more := selectChecks(cfg, t.only, criticalOnly)
	problems = append(problems, more...)
	var migrations config.Migrations
	if t.migrations != "" {
		var problem string
		if migrations, problem = migrationsFlag(t.migrations); problem != "" {
			problems = append(problems, problem)
		}
		if !slices.ContainsFunc(t.targets, func(f flagTarget) bool { return slices.Contains(sqlKinds, f.typ) }) {
			problems = append(problems, "--migrations: applies to the SQL targets given by flag (--postgres URL, --mysql URL), and there is none; in a configuration file, write migrations: under the check")
		}
	}
	fromFlags, more = flagTargetChecks(cfg, t.targets, attemptTimeout, migrations)
	return fromConfig, fromFlags, append(problems, more...)
}

// buildTargets builds the resolved checks; on a failure it reports and returns nil and the exit code.
func buildTargets(fromConfig, fromFlags []config.Check, command string, stderr io.Writer) ([]*checks.Check, int) {
	cs, err := checks.NewAll(fromConfig)
	if err != nil {
		return nil, reportConfigError(stderr, command, err)
	}
	for _, c := range fromFlags {
		ch, err := checks.New(c)
		if err != nil {
			// Flag targets were built once already by flagTargetChecks; this cannot fail.
			checks.CloseAll(cs)
			fmt.Fprintf(stderr, "healthgate %s: %v\n", command, err)
			return nil, exitUsage
		}
		cs = append(cs, ch)
	}
	return cs, exitOK
}

// selectChecks picks from the configuration: every check (or, when criticalOnly, the critical ones),
// or exactly the ones --only names (critical or not).
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
		case !ok && len(names) == 0:
			problems = append(problems, fmt.Sprintf("--only: no check named %q: the configuration (%s) has no checks", name, cfg.File))
		case !ok:
			problems = append(problems, fmt.Sprintf("--only: no check named %q in %s (checks: %s)", name, cfg.File, strings.Join(names, ", ")))
		default:
			cs = append(cs, c)
		}
		seen[name] = true
	}
	return cs, problems
}

// flagTargetChecks turns the target flags into critical checks named after their type and index
// (postgres, postgres-2, ...), skipping names the configuration uses. Each is built once here so
// that a bad value is reported, naming the flag, before any attempt.
func flagTargetChecks(cfg *config.Config, targets []flagTarget, attemptTimeout time.Duration, migrations config.Migrations) ([]config.Check, []string) {
	taken := map[string]bool{}
	for _, c := range cfg.Checks {
		taken[c.Name] = true
	}
	count := map[string]int{}
	var cs []config.Check
	var problems []string
	for _, t := range targets {
		count[t.typ]++
		name := t.typ
		for n := count[t.typ]; ; n++ {
			if n > 1 {
				name = fmt.Sprintf("%s-%d", t.typ, n)
			}
			if !taken[name] {
				break
			}
		}
		taken[name] = true
		flagName := "--" + t.typ
		c := config.NewCheck(name, t.typ, "flag "+flagName, cfg.Defaults)
		c.Critical = true
		field := "url"
		switch t.typ {
		case "tcp", "memcached", "grpc":
			c.Address, field = t.value, "address"
		case "dns":
			c.Host, field = t.value, "host"
		default:
			c.URL = t.value
		}
		// Hints name where the value came from: "check the credentials in --postgres".
		c.Src.SetOrigin(field, flagName)
		if slices.Contains(sqlKinds, t.typ) && migrations.Tool != "" {
			c.Migrations = migrations
		}
		if attemptTimeout > 0 {
			c.Timeout = attemptTimeout
			c.Interval = max(c.Interval, 2*attemptTimeout) // keep timeout < interval, as everywhere
		}
		ch, err := checks.New(c)
		if err != nil {
			var errs config.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					p := fmt.Sprintf("%s (target %q): %s", flagName, name, e.Msg)
					if e.Path == "--migrations" {
						p = fmt.Sprintf("--migrations: %s: %s", e.Field, e.Msg) // the same for every target
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

// nothingToCheck is the usage error of a command started with no check at all; how says how to give some.
func nothingToCheck(how string) string { return "nothing to check: " + how }

// reportUsage prints every usage and configuration problem at once and returns exitUsage.
func reportUsage(stderr io.Writer, cmd string, problems []string) int {
	if len(problems) == 1 {
		fmt.Fprintf(stderr, "healthgate %s: %s\n", cmd, problems[0])
		return exitUsage
	}
	fmt.Fprintf(stderr, "healthgate %s: %d errors:\n", cmd, len(problems))
	for _, p := range problems {
		fmt.Fprintf(stderr, "  %s\n", p)
	}
	return exitUsage
}

// cmdCheck is `healthgate check`: every configured check once, now, in parallel; a table or JSON on
// stdout; exit 0 when every critical check passes, 1 otherwise.
func cmdCheck(ctx context.Context, args []string, lookup env, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthgate check", flag.ContinueOnError)
	var what targetFlags
	what.register(fs, "check", "whose checks to run")
	output := fs.String("output", "text", "output format: text or json")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Sprintf("--output: %q is not text or json", *output))
	}
	fromConfig, fromFlags, more := what.resolve(lookup, false, 0)
	problems = append(problems, more...)
	if len(problems) == 0 && len(fromConfig)+len(fromFlags) == 0 {
		problems = append(problems, nothingToCheck("give --postgres, --mysql, --redis, --http or --tcp, --config, put checks in ./"+defaultConfigFile+", or set DATABASE_URL / REDIS_URL"))
	}
	if len(problems) > 0 {
		return reportUsage(stderr, "check", problems)
	}
	cs, code := buildTargets(fromConfig, fromFlags, "check", stderr)
	if cs == nil {
		return code
	}
	defer checks.CloseAll(cs)

	results := startup.Check(ctx, cs)
	if code, ok := signalExit(ctx); ok {
		fmt.Fprintf(stderr, "healthgate check: stopped (%v) before every check had answered; nothing to report\n", context.Cause(ctx))
		return code
	}
	var err error
	if *output == "json" {
		err = startup.WriteJSON(stdout, results)
	} else {
		err = startup.WriteText(stdout, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "healthgate check: writing the report: %v\n", err)
		return exitFailed
	}
	if startup.Verdict(results) == startup.Fail {
		return exitFailed
	}
	return exitOK
}
