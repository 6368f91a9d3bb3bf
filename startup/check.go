package startup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/internal/termtext"
)

// RunOnce runs every check once, now, in parallel, each bounded by its own timeout, and returns the
// results in the order of cs. When ctx ends first (a signal), the runs it cut are marked Stopped and
// the ones that answered before keep their result: an operator who interrupts a check hung on one
// dependency still sees what the others said.
func RunOnce(ctx context.Context, cs []*checks.Check) []Result {
	results := make([]Result, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			start := time.Now()
			err := c.Run(ctx)
			r := Result{Name: c.Name, Type: c.Type, Target: c.Target, Critical: c.Critical,
				OK: err == nil, Err: err, Latency: time.Since(start), Attempts: 1}
			switch {
			case err != nil && ctx.Err() != nil:
				r.Stopped = true
			case err != nil:
				r.Class, r.Hint = checks.ClassOf(err), c.Hint(err)
			}
			results[i] = r // each goroutine writes only its own element
		})
	}
	wg.Wait()
	return results
}

// Stopped is the status of a check, and of the whole report, when a signal cut a run before it
// answered.
const Stopped checks.Status = "stopped"

// Verdict is stopped when a run was cut before it answered, else fail when a critical check failed,
// warn when only non-critical ones did, else pass.
func Verdict(rs []Result) checks.Status {
	s := checks.Pass
	for _, r := range rs {
		if r.Stopped {
			return Stopped
		}
		s = s.With(r.OK, r.Critical)
	}
	return s
}

// WriteText writes the results as an aligned table, one row per check, the failures with their
// cause and hint, then the verdict:
//
//	NAME  TYPE      TARGET               CRITICAL  STATUS  LATENCY  REASON  HINT
//	db    postgres  10.0.0.5:5432/app    yes       fail    2.1ms    auth    password authentication failed ... — check ...
func WriteText(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tTARGET\tCRITICAL\tSTATUS\tLATENCY\tREASON\tHINT")
	failedCritical, failedOther, stopped, criticals := 0, 0, 0, 0
	for _, r := range rs {
		critical := "no"
		if r.Critical {
			critical = "yes"
			criticals++
		}
		status, reason, hint := "pass", "-", "-"
		switch {
		case r.Stopped:
			status, hint = "stopped", "stopped before it answered"
			stopped++
		case !r.OK:
			status, reason, hint = "FAIL", string(r.Class), cause(r.Err)+" — "+termtext.Printable(r.Hint)
			if r.Critical {
				failedCritical++
			} else {
				failedOther++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Target, critical, status, round(r.Latency), reason, hint)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var line string
	switch Verdict(rs) {
	case Stopped:
		line = fmt.Sprintf("stopped: %d of %d %s answered before the stop", len(rs)-stopped, len(rs), plural(len(rs), "check", "checks"))
		if failed := failedCritical + failedOther; failed > 0 {
			line += fmt.Sprintf("; %d of them failed (%d critical)", failed, failedCritical)
		}
	case checks.Pass:
		line = fmt.Sprintf("pass: all %d %s passed", len(rs), plural(len(rs), "check", "checks"))
	case checks.Warn:
		line = fmt.Sprintf("warn: every critical check passed; %d non-critical %s failed", failedOther, plural(failedOther, "check", "checks"))
		if criticals == 0 {
			// Not "every critical check passed" of none: the exit code is 0 because no check is critical.
			line = fmt.Sprintf("warn: %d non-critical %s failed (no check is critical)", failedOther, plural(failedOther, "check", "checks"))
		}
	case checks.Fail:
		line = fmt.Sprintf("fail: %d critical %s failed", failedCritical, plural(failedCritical, "check", "checks"))
		if failedOther > 0 {
			line += fmt.Sprintf(", and %d non-critical", failedOther)
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", line)
	return err
}

// jsonReport is the shape of `healthgate check --output json`.
type jsonReport struct {
	Status   checks.Status `json:"status"`
	Error    string        `json:"error,omitempty"`     // InvalidUsage: every problem
	ExitCode int           `json:"exit_code,omitempty"` // InvalidUsage: 2
	Checks   []jsonCheck   `json:"checks"`
}

// InvalidUsage is the status of the JSON report of a check that ran nothing: a usage or configuration
// error, as wait's JSON record of one says ("msg": "invalid usage").
const InvalidUsage checks.Status = "invalid usage"

type jsonCheck struct {
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Target    string        `json:"target"`
	Critical  bool          `json:"critical"`
	Status    checks.Status `json:"status"` // pass, fail or stopped
	LatencyMS float64       `json:"latency_ms"`
	Reason    string        `json:"reason,omitempty"`
	Error     string        `json:"error,omitempty"`
	Hint      string        `json:"hint,omitempty"`
}

// WriteJSON writes the results as one JSON object: {"status": "pass|warn|fail|stopped", "checks": [...]},
// each check with name, type, target, critical, status (pass, fail, or stopped when a signal cut it),
// latency_ms and, when it failed, reason, error (redacted) and hint.
func WriteJSON(w io.Writer, rs []Result) error {
	rep := jsonReport{Status: Verdict(rs), Checks: make([]jsonCheck, len(rs))}
	for i, r := range rs {
		c := jsonCheck{Name: r.Name, Type: r.Type, Target: r.Target, Critical: r.Critical, Status: checks.Pass,
			LatencyMS: float64(r.Latency.Microseconds()) / 1000}
		switch {
		case r.Stopped:
			c.Status = Stopped
		case !r.OK:
			c.Status, c.Reason, c.Error, c.Hint = checks.Fail, string(r.Class), errText(r.Err), r.Hint
		}
		rep.Checks[i] = c
	}
	return writeJSON(w, rep)
}

// WriteJSONInvalidUsage writes the JSON report of a check that a usage or configuration error stopped
// before it ran anything: {"status": "invalid usage", "error": msg, "exit_code": code, "checks": []}.
func WriteJSONInvalidUsage(w io.Writer, msg string, code int) error {
	return writeJSON(w, jsonReport{Status: InvalidUsage, Error: msg, ExitCode: code, Checks: []jsonCheck{}})
}

func writeJSON(w io.Writer, rep jsonReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
