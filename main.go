// Command healthgate tells Kubernetes, load balancers and init containers the truth about whether a
// service can serve: `serve` answers /livez, /readyz and /startupz from background checks that really
// exercise its dependencies (one kind per file in checks/); `wait` blocks start-up until they answer;
// `check` diagnoses them once.
//
// This file is the only place that reads os.Args, the environment and signals, and calls os.Exit; the
// commands (serve.go, wait.go, check.go) return an error that carries their exit code, and run prints
// it once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
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
	exitSIGQUIT       = 131 // wait, check: serve keeps Go's SIGQUIT, a dump of its goroutines
	exitSIGTERM       = 143
)

// Set with -ldflags "-X main.version=v1.2.3 -X main.revision=abc123"; see readVersion for the fallback.
var (
	version  = ""
	revision = ""
)

func main() {
	sigs := make(chan os.Signal, 2)
	notifySignals(sigs, os.Args[1:])
	stopRelay = func() { signal.Stop(sigs) }
	checks.UserAgent = "healthgate/" + readVersion().Version
	os.Exit(run(os.Args[1:], os.LookupEnv, sigs, os.Stdout, os.Stderr))
}

// notifySignals sends SIGINT, SIGTERM and SIGHUP to sigs, but for one the process was started with
// ignored (nohup ignores SIGHUP, a shell SIGINT for a job it starts in the background): catching it would
// stop a wait or a check that its parent meant to be immune to it, and, since execve resets a caught
// signal to its default but keeps an ignored one ignored, would make the command after `wait --` die of
// it, where `nohup healthgate wait ... -- app` (as `nohup env ... app`) must leave the app ignoring it.
// serve's SIGHUP is a reload request, not a stop: it is caught all the same. wait and check stop on
// SIGQUIT too, as on SIGTERM (a container whose image says STOPSIGNAL SIGQUIT, as nginx's does, stopped
// during the wait): Go's own answer is a dump of every goroutine and exit 2, the code of bad usage. serve
// leaves it to Go: that dump is how a hung server is looked into.
func notifySignals(sigs chan<- os.Signal, args []string) {
	serve := len(args) > 0 && args[0] == "serve"
	stops := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
	if !serve {
		stops = append(stops, syscall.SIGQUIT)
	}
	for _, s := range stops {
		if signal.Ignored(s) && !(serve && s == syscall.SIGHUP) {
			continue
		}
		signal.Notify(sigs, s)
	}
	// SIGPIPE is caught, and dropped, so that a write to a stdout or stderr whose reader has gone fails
	// with EPIPE, as a stalled one's is dropped (logWriter), instead of Go's default for fd 1 and 2, which
	// is to die of SIGPIPE (141): wait, whose log pipe was closed, exited at its first progress line without
	// running its command; check without a verdict; serve stopped serving. Not when the process was started
	// with it ignored, which execve keeps for the command after `wait --` (caught, it is reset to the default).
	if !signal.Ignored(syscall.SIGPIPE) {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	}
}

// stopRelay ends the relay of signals to run's channel that notifySignals started, and gives each signal back
// its disposition: the default for one that was caught, SIG_IGN for one the process was started with ignored.
// It is signal.Stop, not signal.Reset: Stop returns once a signal the runtime already took is on the
// channel, where Reset would drop it. Nothing in-process (tests), where no signal is relayed.
var stopRelay = func() {}

// env is how run reads the environment (os.LookupEnv in main, a map in tests).
type env = config.LookupEnv

// run is main without the process: it returns the exit code. Signals arrive on sigs: the first one
// cancels the command's context (with the signal as cause), a second one skips the serve drain delay.
// SIGHUP is the exception for serve: it asks for a configuration reload, and never stops it.
//
// Every line on stderr, run's own (the usage, the line that says why a command failed) and the command's,
// goes through a queue (logWriter), written by a goroutine of its own, so a stalled stderr holds no
// command: lines it cannot take are dropped and counted, and run waits at most exitGrace for it when the
// command returns.
func run(args []string, lookup env, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	name := "healthgate" // as the command's lines begin: healthgate serve: ...
	if len(args) > 0 && slices.Contains([]string{"serve", "wait", "check"}, args[0]) {
		name += " " + args[0]
	}
	errq := newLogWriter(stderr, func(n int64) { fmt.Fprintf(stderr, "%s: %s (%d dropped)\n", name, droppedMessage, n) })
	defer errq.close(exitGrace) // deferred first: it runs last, after the command's lines
	if len(args) == 0 {
		fmt.Fprint(errq, usage())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	ctx, cancel := context.WithCancelCause(context.Background())
	again := make(chan struct{})
	hup := make(chan struct{}, 1)   // serve: reload requests; one pending is enough
	finished := make(chan struct{}) // closed when the command returns, to end the watcher
	released := make(chan struct{}) // closed by stopCatching: no signal will come any more
	idle := make(chan struct{})     // closed when the watcher has ended
	var watch sync.WaitGroup
	defer watch.Wait()
	defer close(finished) // runs before watch.Wait (defers are LIFO), so the watcher can end
	defer cancel(nil)
	// next returns the next signal that stops, handing serve's SIGHUPs to the reloader (dropped once
	// serve is stopping); ok false when the command returned first, or, once released, when no signal
	// is left on sigs.
	next := func(stopping bool) (os.Signal, bool) {
		for {
			var s os.Signal
			select {
			case s = <-sigs:
			case <-finished:
				return nil, false
			case <-released:
				select {
				case s = <-sigs:
				default:
					return nil, false
				}
			}
			if s != syscall.SIGHUP || cmd != "serve" {
				return s, true
			}
			if !stopping {
				select {
				case hup <- struct{}{}:
				default:
				}
			}
		}
	}
	watch.Go(func() {
		defer close(idle)
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

	// stopCatching is wait's last step before its exec: from then on a signal takes its default action
	// (or stays ignored), as it would in the command before it installs its handlers, and one that
	// arrived before has cancelled ctx when it returns, so that wait stops instead of exec'ing a
	// command that would never see it.
	stopCatching := func() {
		stopRelay()
		close(released)
		<-idle
	}

	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, lookup, again, hup, stdout, errq)
	case "wait":
		err = cmdWait(ctx, rest, lookup, stopCatching, stdout, errq)
	case "check":
		err = cmdCheck(ctx, rest, lookup, stdout, errq)
	case "version", "--version", "-version": // one dash too, as the commands' flags take it (Go's flag package)
		fmt.Fprintln(stdout, readVersion())
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage())
	default:
		fmt.Fprintf(errq, "healthgate: unknown command %q%s\n\n%s", cmd, commandSuggestion(cmd), usage())
		return exitUsage
	}
	return exitCode(errq, cmd, err)
}

// exitError ends a command with an exit code; run prints its message, when it has one, once:
// "healthgate COMMAND: message".
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitf is the error that ends a command with code and the message format gives ("" prints nothing).
func exitf(code int, format string, args ...any) error {
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	return &exitError{code: code, msg: format}
}

// exitCode prints err (the one place a command's failure is printed) and returns its exit code: an
// exitError's own, exitFailed for any other error.
func exitCode(stderr io.Writer, cmd string, err error) int {
	if err == nil {
		return exitOK
	}
	code, msg := exitFailed, err.Error()
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg != "" {
		fmt.Fprintf(stderr, "healthgate %s: %s\n", cmd, msg)
	}
	return code
}

// signalError carries the signal that cancelled the context.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received " + e.sig.String() }

// signalExit returns 129/130/131/143 when ctx was cancelled by SIGHUP/SIGINT/SIGQUIT/SIGTERM (128 + the
// signal, the shell's convention).
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
	case syscall.SIGQUIT:
		return exitSIGQUIT, true
	}
	return exitSIGTERM, true
}

// buildVersion says which healthgate this is: from -ldflags or, failing that, from the build
// information the go command records.
type buildVersion struct {
	Version  string // v1.2.3, or "devel"
	Revision string // the VCS revision, or "unknown"
	Go       string // the Go release it was built with
}

func readVersion() buildVersion {
	v := buildVersion{Version: version, Revision: revision, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && v.Revision == "" {
				v.Revision = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Revision == "" {
		v.Revision = "unknown"
	}
	return v
}

// String is "healthgate VERSION (revision REV, goVERSION)", as `healthgate version` prints it.
func (v buildVersion) String() string {
	return fmt.Sprintf("healthgate %s (revision %s, %s)", v.Version, v.Revision, v.Go)
}
