// Command healthgate tells Kubernetes, load balancers and init containers the truth about whether a
// service can serve: `serve` answers /livez, /readyz and /startupz from background checks that really
// exercise Postgres, Redis, HTTP and TCP dependencies; `wait` blocks start-up until they answer;
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
	"strings"
	"sync"
	"syscall"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
)

// Exit codes (DESIGN.md §7).
const (
	exitOK       = 0
	exitFailed   = 1   // check: a critical check fails; serve: could not listen or drain
	exitUsage    = 2   // bad flags or configuration
	exitTimeout  = 124 // wait timed out (timeout(1)'s convention)
	exitNotFound = 127 // the command after -- was not found
	exitSIGINT   = 130
	exitSIGTERM  = 143
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
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	checks.UserAgent = "healthgate/" + versionField(1)
	os.Exit(run(os.Args[1:], os.LookupEnv, sigs, os.Stdout, os.Stderr))
}

// env is how run reads the environment (os.LookupEnv in main, a map in tests).
type env = config.LookupEnv

const usage = `healthgate tells probes and init containers whether a service's dependencies can serve.

Usage:
  healthgate serve [--config FILE] [--listen ADDR] [--log-format text|json] [--log-level LEVEL]
  healthgate version

Run "healthgate COMMAND --help" for a command's flags.
`

// run is main without the process: it returns the exit code. Signals arrive on sigs: the first one
// cancels the command's context (with the signal as cause), a second one skips the serve drain delay.
func run(args []string, lookup env, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	again := make(chan struct{})
	var watch sync.WaitGroup
	defer watch.Wait()
	defer cancel(nil) // runs before watch.Wait (defers are LIFO), so the watcher can end
	watch.Go(func() {
		select {
		case s := <-sigs:
			cancel(signalError{s})
		case <-ctx.Done():
			return
		}
		select {
		case <-sigs:
			close(again)
		case <-ctx.Done():
		}
	})

	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, lookup, again, stderr)
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

// signalExit returns 130/143 when ctx was cancelled by SIGINT/SIGTERM.
func signalExit(ctx context.Context) (int, bool) {
	var se signalError
	if !errors.As(context.Cause(ctx), &se) {
		return 0, false
	}
	if se.sig == syscall.SIGINT {
		return exitSIGINT, true
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
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", c.logFormat)
}

// parseFlags parses a command's flags; ok false means the caller returns code.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// loadConfig finds and loads the configuration (DESIGN.md and README "Configuration"): the --config
// file, else ./healthgate.yaml, else the conventional DATABASE_URL and REDIS_URL. Every error, from
// the file and from the check kinds, is reported at once.
func loadConfig(path string, lookup env) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
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
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func reportConfigError(stderr io.Writer, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		fmt.Fprintf(stderr, "healthgate: invalid configuration (%d %s):\n", len(errs), plural(len(errs), "error", "errors"))
		for _, e := range errs {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "healthgate: %v\n", err)
	return exitUsage
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func cmdServe(ctx context.Context, args []string, lookup env, again <-chan struct{}, stderr io.Writer) int {
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
	log, err := common.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "healthgate serve: %v\n", err)
		return exitUsage
	}
	cfg, err := loadConfig(common.config, lookup)
	if err != nil {
		return reportConfigError(stderr, err)
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	cs, err := checks.NewAll(cfg.Checks)
	if err != nil {
		return reportConfigError(stderr, err)
	}
	defer checks.CloseAll(cs)
	if len(cs) == 0 {
		log.Warn("no checks configured: /readyz always passes; add checks in " + defaultConfigFile + " (see README) or set DATABASE_URL / REDIS_URL")
	}

	metrics := server.NewMetrics(server.BuildInfo{Version: versionField(1), Revision: versionField(3)})
	mon := monitor.New(cs, monitor.Options{Logger: log, OnRun: metrics.Observe})
	h := server.New(mon, server.Options{Details: cfg.Server.Details, DetailsToken: cfg.Server.DetailsToken, Metrics: metrics})

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
	err = server.Serve(ctx, endpoints, server.Drain{
		Delay: cfg.Server.ShutdownDelay, Timeout: cfg.Server.ShutdownTimeout, Skip: again, Shutdown: mon.Shutdown,
	}, log)
	stopMonitor()
	wg.Wait()
	if err != nil {
		log.Error("serve failed", "error", err)
		return exitFailed
	}
	return exitOK
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
