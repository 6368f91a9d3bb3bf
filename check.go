package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/startup"
)

// cmdCheck is `healthgate check`: every configured check once, now, in parallel; a table or JSON on
// stdout; exit 0 when every critical check passes, 1 otherwise.
func cmdCheck(ctx context.Context, args []string, lookup env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthgate check", flag.ContinueOnError)
	var what startup.Targets
	what.Register(fs, "check", "whose checks to run")
	output := fs.String("output", "text", "output `FORMAT`: text or json")
	attemptTimeout := attemptTimeoutFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, unexpectedArgument(fs.Arg(0), ""))
	}
	if *output != "text" && *output != "json" {
		problems = append(problems, fmt.Sprintf("--output: %q is not text or json", *output))
	}
	attempt, problem := attemptTimeout()
	if problem != "" {
		problems = append(problems, problem)
	}
	fromConfig, fromFlags, more, cfgErr := what.Resolve(lookup, false, attempt)
	problems = append(problems, more...)
	if len(problems) > 0 || cfgErr != nil {
		return targetsError(problems, cfgErr)
	}
	cs, err := startup.Build(fromConfig, fromFlags)
	if err != nil {
		return configError(err)
	}
	defer checks.CloseAll(cs)

	results := startup.RunOnce(ctx, cs)
	if *output == "json" {
		err = startup.WriteJSON(stdout, results)
	} else {
		err = startup.WriteText(stdout, results)
	}
	if err != nil {
		return exitf(exitFailed, "writing the report: %v", err)
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
