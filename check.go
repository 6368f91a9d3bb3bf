package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/startup"
)

// cmdCheck is `healthgate check`: every configured check once, now, in parallel; a table or JSON on
// stdout; exit 0 when every critical check passes, 1 otherwise.
//
// A stdout nobody reads (a pipe into a consumer that stopped reading, a stalled log collector) never holds
// check: its exit comes at most exitGrace after its checks' own timeouts. What is written to stdout goes
// through a queue (logWriter), and the report is waited for at most exitGrace. A script reads the exit
// code first, and 0 promises the report was delivered: one that stdout did not take is exit 1, as a write
// error always was, its line on stderr (run's queue, bounded alike) saying so and the verdict the checks had.
func cmdCheck(ctx context.Context, args []string, lookup env, stdout, stderr io.Writer) error {
	report := newLogWriter(stdout, nil)
	defer report.close(exitGrace) // --help's and a usage error's; the report's is waited for below
	stdout = report
	fs := flag.NewFlagSet("healthgate check", flag.ContinueOnError)
	var what startup.Targets
	what.Register(fs, "check", "whose checks to run")
	output := fs.String("output", "text", "output `FORMAT`: text or json")
	attemptTimeout := attemptTimeoutFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return jsonExit(stdout, *output == "json", err)
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, unexpectedArgument(fs.Arg(0), "check takes flags only: --only NAME runs the configuration's check of that name; to start a command once the dependencies answer, healthgate wait ... -- CMD"))
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Sprintf("--output: %s is not text or json", quoteValue(*output)))
	}
	attempt, problem := attemptTimeout()
	if problem != "" {
		problems = append(problems, problem)
	}
	fromConfig, fromFlags, more, cfgErr := what.Resolve(lookup, false, attempt)
	problems = append(problems, more...)
	if len(problems) > 0 || cfgErr != nil {
		return jsonExit(stdout, *output == "json", targetsError(problems, cfgErr))
	}
	cs, err := startup.Build(fromConfig, fromFlags)
	if err != nil {
		return jsonExit(stdout, *output == "json", configError(err))
	}
	defer checks.CloseAll(cs)

	results := startup.RunOnce(ctx, cs)
	var b bytes.Buffer // one write: the queue takes a report whole
	if *output == "json" {
		err = startup.WriteJSON(&b, results)
	} else {
		err = startup.WriteText(&b, results)
	}
	if err == nil {
		_, _ = report.Write(b.Bytes())
		err = report.close(exitGrace)
	}
	if err != nil {
		return exitf(exitFailed, "writing the report to stdout: %v (the checks' verdict: %s)", err, startup.Verdict(results))
	}
	if startup.Verdict(results) == startup.Stopped {
		code, ok := signalExit(ctx)
		if !ok {
			code = exitFailed
		}
		return exitf(code, "stopped (%v) before every check had answered; the report shows those that did", context.Cause(ctx))
	}
	if startup.Verdict(results) == checks.Fail {
		return exitf(exitFailed, "") // the report says which
	}
	return nil
}

// jsonExit, with --output json, also writes the usage or configuration error that ends check before it
// ran anything as the report on stdout (status "invalid usage", the error and exit_code, as wait's JSON
// record of one), so that `check --output json | jq` reads why instead of nothing; the line on stderr
// stays.
func jsonExit(stdout io.Writer, asJSON bool, err error) error {
	var ee *exitError
	if asJSON && errors.As(err, &ee) && ee.msg != "" {
		_ = startup.WriteJSONInvalidUsage(stdout, ee.msg, ee.code) // stderr says it all the same
	}
	return err
}
