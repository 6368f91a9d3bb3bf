package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/startup"
)

// The `wait` and `check` commands (docs/design.md §7). Their target flags, the resolution of targets and
// the selection of checks are in startup/targets.go.

// execCommand replaces the process with the command after `--`; a variable so that in-process tests
// never replace the test binary.
var execCommand = startup.Command.Exec

// execWindow runs at the last moment of `wait -- cmd` when signals are still caught, every target ready
// and the command not yet run: a test sends a signal there.
var execWindow = func(context.Context) {}

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
// stopCatching, called just before the exec, ends the catching of signals (see run).
// stderr is run's queue: a stalled stderr (a log collector that stopped reading the init container's pipe)
// holds neither the deadline nor the exec. The progress it cannot take is dropped (and the count said when
// it takes lines again); what is queued when the wait ends is waited for at most exitGrace, before the
// exit as before the exec.
func cmdWait(ctx context.Context, args []string, lookup env, stopCatching func(), stdout io.Writer, stderr *logWriter) error {
	fs := flag.NewFlagSet("healthgate wait", flag.ContinueOnError)
	var what startup.Targets
	what.Register(fs, "wait for", "whose critical checks to wait for")
	timeout := durationFlag(fs, "timeout", 5*time.Minute, "give up after this `DURATION`, with exit code 124 (0 waits for ever; default 5m)")
	attemptTimeout := attemptTimeoutFlag(fs)
	quiet := fs.Bool("quiet", false, "no progress lines (the table of what was not ready on timeout is still written)")
	logFormat := fs.String("log-format", "text", "progress `FORMAT`: text or json")
	logLevel := fs.String("log-level", "info", "progress `LEVEL`: debug (adds each failed attempt), info, warn (only what is not ready) or error (only the table of what was not ready on timeout)")
	own, command, hasCommand := splitCommand(args)
	flagArgs := own
	if hasCommand {
		// With the -- that ends them, so that a flag left without its value there is told so (flagAsValue).
		flagArgs = args[:len(own)+1]
	}
	flagErr := parseFlags(fs, flagArgs, stdout)
	level, levelErr := parseLevel(*logLevel)
	// With --log-format json (and a --log-level that reads), every line wait writes is a JSON record, its
	// usage and configuration errors included: a log pipeline reading the init container's stderr as
	// JSON must not meet the one line that says why it failed as plain text.
	var log *slog.Logger
	if *logFormat == "json" && levelErr == nil {
		log = jsonLogger(stderr, &slog.HandlerOptions{Level: level})
		// Whatever the level or --quiet: the lines dropped may be the table of what was not ready.
		stderr.logDrops(func(w io.Writer) *slog.Logger { return jsonLogger(w, &slog.HandlerOptions{}) })
	}
	if flagErr != nil {
		return logExit(log, "invalid usage", flagErr)
	}

	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, unexpectedArgument(fs.Arg(0), "put the command to run after --, as in: healthgate wait --postgres URL -- ./app"))
	}
	if hasCommand && len(command) == 0 {
		problems = append(problems, "--: no command after it")
	}
	if *logFormat != "text" && *logFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format: %s is not text or json", quoteValue(*logFormat)))
	}
	if levelErr != nil {
		problems = append(problems, levelErr.Error())
	}
	if *timeout < 0 {
		problems = append(problems, fmt.Sprintf("--timeout: must not be negative (got %s); 0 waits for ever", *timeout))
	}
	attempt, problem := attemptTimeout()
	if problem != "" {
		problems = append(problems, problem)
	}

	selected, flagChecks, more, cfgErr := what.Resolve(lookup, true, attempt)
	problems = append(problems, more...)
	if len(problems) > 0 || cfgErr != nil {
		return logExit(log, "invalid usage", targetsError(problems, cfgErr))
	}

	var cmd startup.Command
	if hasCommand {
		var err error
		if cmd, err = startup.LookCommand(command); err != nil {
			return logExit(log, "cannot run the command", commandExit(err))
		}
	}

	cs, err := startup.Build(selected, flagChecks)
	if err != nil {
		return logExit(log, "invalid usage", configError(err))
	}
	defer func() { checks.CloseAll(cs) }() // cs is nil once closed before an exec

	opts := startup.Options{Timeout: *timeout, Progress: stderr, Quiet: *quiet, Level: level, Log: log}
	began := time.Now()
	results, err := startup.Wait(ctx, cs, opts)
	switch {
	case errors.Is(err, startup.ErrTimeout):
		return exitf(exitTimeout, "") // startup.Wait wrote what was not ready
	case err != nil:
		if code, ok := signalExit(ctx); ok {
			return exitf(code, "")
		}
		return exitf(exitFailed, "%v", err)
	}
	if !hasCommand {
		return nil
	}
	checks.CloseAll(cs) // the deferred close never runs after exec
	cs = nil
	// The progress still queued would be lost with the process: written first, as long as stderr takes it.
	stderr.flush(exitGrace)
	execWindow(ctx)
	// A signal that arrived since the last target became ready was caught, and the command would never
	// see it: stop as during the wait. One after this reaches healthgate as it would reach the command.
	stopCatching()
	if code, ok := signalExit(ctx); ok {
		startup.WriteStopped(opts, results, time.Since(began), context.Cause(ctx))
		return exitf(code, "")
	}
	return logExit(log, "cannot run the command", commandExit(execCommand(cmd, os.Environ())))
}

// logExit, with JSON logs (log not nil), writes the error that ends wait before its first attempt (the
// usage, the configuration, a command that cannot run) as a record of that msg, so that the stream stays
// one JSON object a line, and ends with its code with nothing more printed.
func logExit(log *slog.Logger, msg string, err error) error {
	var ee *exitError
	if log == nil || !errors.As(err, &ee) || ee.msg == "" {
		return err
	}
	log.Error(msg, "error", ee.msg, "exit_code", ee.code)
	return exitf(ee.code, "")
}

// commandExit ends wait with the shell's status for a command that cannot run: 127 when it is not found,
// 126 for any other reason (not executable, and execve's own refusals: an argument list too long, E2BIG).
func commandExit(err error) error {
	if errors.Is(err, startup.ErrNotFound) || errors.Is(err, syscall.ENOENT) {
		return exitf(exitNotFound, "%v", err)
	}
	return exitf(exitNotExecutable, "%v", err)
}
