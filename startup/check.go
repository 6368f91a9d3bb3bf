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
)

// RunOnce runs every check once, now, in parallel, each bounded by its own timeout, and returns the
// results in the order of cs.
func RunOnce(ctx context.Context, cs []*checks.Check) []Result {
	results := make([]Result, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			start := time.Now()
			err := c.Run(ctx)
			r := Result{Name: c.Name, Type: c.Type, Target: c.Target, Critical: c.Critical,
				OK: err == nil, Err: err, Latency: time.Since(start), Attempts: 1}
			if err != nil {
				r.Class, r.Hint = checks.ClassOf(err), c.Hint(err)
			}
			results[i] = r // each goroutine writes only its own element
		})
	}
	wg.Wait()
	return results
}

// Verdict is fail when a critical check failed, warn when only non-critical ones did, else pass.
func Verdict(rs []Result) checks.Status {
	s := checks.Pass
	for _, r := range rs {
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
	failedCritical, failedOther := 0, 0
	for _, r := range rs {
		critical := "no"
		if r.Critical {
			critical = "yes"
		}
		status, reason, hint := "pass", "-", "-"
		if !r.OK {
			status, reason, hint = "FAIL", string(r.Class), cause(r.Err)+" — "+r.Hint
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
	case checks.Pass:
		line = fmt.Sprintf("pass: all %d %s passed", len(rs), plural(len(rs), "check", "checks"))
	case checks.Warn:
		line = fmt.Sprintf("warn: every critical check passed; %d non-critical %s failed", failedOther, plural(failedOther, "check", "checks"))
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
	Status checks.Status `json:"status"`
	Checks []jsonCheck   `json:"checks"`
}

type jsonCheck struct {
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Target    string        `json:"target"`
	Critical  bool          `json:"critical"`
	Status    checks.Status `json:"status"` // pass or fail
	LatencyMS float64       `json:"latency_ms"`
	Reason    string        `json:"reason,omitempty"`
	Error     string        `json:"error,omitempty"`
	Hint      string        `json:"hint,omitempty"`
}

// WriteJSON writes the results as one JSON object: {"status": "pass|warn|fail", "checks": [...]},
// each check with name, type, target, critical, status, latency_ms and, when it failed, reason,
// error (redacted) and hint.
func WriteJSON(w io.Writer, rs []Result) error {
	rep := jsonReport{Status: Verdict(rs), Checks: make([]jsonCheck, len(rs))}
	for i, r := range rs {
		c := jsonCheck{Name: r.Name, Type: r.Type, Target: r.Target, Critical: r.Critical, Status: checks.Pass,
			LatencyMS: float64(r.Latency.Microseconds()) / 1000}
		if !r.OK {
			c.Status, c.Reason, c.Error, c.Hint = checks.Fail, string(r.Class), errText(r.Err), r.Hint
		}
		rep.Checks[i] = c
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
