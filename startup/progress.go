package startup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/internal/termtext"
)

// progress writes what a wait does, for a human reading `kubectl logs` (text) or for a machine
// (JSON, one object per line). Every line is built from redacted targets and errors.
type progress struct {
	w     io.Writer
	log   *slog.Logger // structured progress, instead of text lines
	quiet bool
	level slog.Level
}

func newProgress(o Options) *progress {
	w := o.Progress
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, quiet: o.Quiet, log: o.Log, level: o.Level}
}

// on: progress at level l is written.
func (p *progress) on(l slog.Level) bool { return !p.quiet && l >= p.level }

// describe is how a line names a target: `db (postgres 10.0.0.5:5432/app)`.
func describe(name, typ, target string) string {
	return fmt.Sprintf("%s (%s %s)", name, typ, target)
}

func (p *progress) start(cs []*checks.Check, timeout time.Duration) {
	if !p.on(slog.LevelInfo) {
		return
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = describe(c.Name, c.Type, c.Target)
	}
	if p.log != nil {
		p.log.Info("waiting", "targets", len(cs), "timeout", timeout, "names", names)
		return
	}
	limit := "with no time limit"
	if timeout > 0 {
		limit = "up to " + round(timeout).String()
	}
	fmt.Fprintf(p.w, "healthgate wait: waiting %s for %s\n", limit, strings.Join(names, ", "))
}

// waiting is the line written when a target's reason changes:
// `waiting for db (postgres 10.0.0.5:5432/app): refused — nothing listens there yet: ...; error: ...`.
func (p *progress) waiting(r *Result) {
	if !p.on(slog.LevelWarn) {
		return
	}
	if p.log != nil {
		p.log.Warn("not ready", resultAttrs(r)...)
		return
	}
	fmt.Fprintf(p.w, "waiting for %s: %s — %s; error: %s\n", describe(r.Name, r.Type, r.Target), r.Class, termtext.Printable(r.Hint), cause(r.Err))
}

// attempt is the line of a failed attempt whose reason was shown already (debug):
// `attempt 3 for db (postgres 10.0.0.5:5432/app): refused; error: ...`.
func (p *progress) attempt(r *Result) {
	if !p.on(slog.LevelDebug) {
		return
	}
	if p.log != nil {
		p.log.Debug("attempt failed", resultAttrs(r)...)
		return
	}
	fmt.Fprintf(p.w, "attempt %d for %s: %s; error: %s\n", r.Attempts, describe(r.Name, r.Type, r.Target), r.Class, cause(r.Err))
}

// ready is the final line of a target: its time to ready.
func (p *progress) ready(r *Result) {
	if !p.on(slog.LevelInfo) {
		return
	}
	if p.log != nil {
		p.log.Info("ready", "check", r.Name, "type", r.Type, "target", r.Target,
			"duration", r.Elapsed, "attempts", r.Attempts)
		return
	}
	fmt.Fprintf(p.w, "ready: %s after %s (%d %s)\n", describe(r.Name, r.Type, r.Target), round(r.Elapsed),
		r.Attempts, plural(r.Attempts, "attempt", "attempts"))
}

// waitingTarget is one entry of the JSON "still waiting" record's waiting list: a log store can
// filter on each field, where a sentence would need parsing.
type waitingTarget struct {
	Check    string `json:"check"`
	Reason   string `json:"reason,omitempty"` // absent before the first answer
	For      string `json:"for,omitempty"`    // how long the reason has held, a Go duration string
	Attempts int    `json:"attempts"`
}

func (p *progress) summary(rs []Result, elapsed time.Duration) {
	if !p.on(slog.LevelInfo) {
		return
	}
	var waiting []waitingTarget
	for i := range rs {
		r := &rs[i]
		if r.OK {
			continue
		}
		w := waitingTarget{Check: r.Name, Attempts: r.Attempts}
		if r.Class != "" {
			w.Reason, w.For = string(r.Class), round(time.Since(r.Since)).String()
		}
		waiting = append(waiting, w)
	}
	ready := len(rs) - len(waiting)
	if p.log != nil {
		p.log.Info("still waiting", "duration", elapsed, "ready", ready, "targets", len(rs), "waiting", waiting)
		return
	}
	texts := make([]string, len(waiting))
	for i, w := range waiting {
		if w.Reason == "" {
			// No attempt has ended: "no answer yet, 0 attempts" read as if none had been made.
			texts[i] = w.Check + " (no answer yet: its first attempt is under way)"
			continue
		}
		texts[i] = fmt.Sprintf("%s (%s for %s, %d %s)", w.Check, w.Reason, w.For, w.Attempts, plural(w.Attempts, "attempt", "attempts"))
	}
	fmt.Fprintf(p.w, "still waiting after %s: %d of %d ready; waiting for %s\n", round(elapsed), ready, len(rs), strings.Join(texts, ", "))
}

func (p *progress) allReady(rs []Result, elapsed time.Duration) {
	if !p.on(slog.LevelInfo) {
		return
	}
	if p.log != nil {
		p.log.Info("all ready", "duration", elapsed, "targets", len(rs))
		return
	}
	fmt.Fprintf(p.w, "healthgate wait: all %d ready after %s\n", len(rs), round(elapsed))
}

// timedOut writes the final table, even when quiet: the one thing an operator needs from a failed
// init container is which dependency was not ready, and why.
func (p *progress) timedOut(rs []Result, elapsed time.Duration) {
	notReady := 0
	for _, r := range rs {
		if !r.OK {
			notReady++
		}
	}
	if p.log != nil {
		for i := range rs {
			if !rs[i].OK {
				p.log.Error("not ready", resultAttrs(&rs[i])...)
			}
		}
		p.log.Error("timed out", "duration", elapsed, "not_ready", notReady, "targets", len(rs))
		return
	}
	// One write, the line and its table: an output that drops what it cannot take (wait's stderr) drops
	// the whole, never some cells of it.
	var b bytes.Buffer
	fmt.Fprintf(&b, "healthgate wait: timed out after %s: %d of %d %s not ready\n", round(elapsed), notReady, len(rs),
		plural(len(rs), "target", "targets"))
	writeWaitTable(&b, rs)
	_, _ = p.w.Write(b.Bytes())
}

// stopped is written when a signal ends the wait.
func (p *progress) stopped(rs []Result, elapsed time.Duration, cause error) {
	if !p.on(slog.LevelWarn) {
		return
	}
	waiting := []string{} // [] in JSON, not null, when every target was ready (stopped before the exec)
	for _, r := range rs {
		if !r.OK {
			waiting = append(waiting, r.Name)
		}
	}
	if p.log != nil {
		// not_ready is a count, as in "timed out" (a log store gives a field one type); the names follow.
		p.log.Warn("stopped", "cause", fmt.Sprint(cause), "duration", elapsed, "not_ready", len(waiting), "targets", len(rs), "names", waiting)
		return
	}
	what := "not ready: " + strings.Join(waiting, ", ")
	if len(waiting) == 0 {
		what = "every target was ready; the command after -- was not run"
	}
	fmt.Fprintf(p.w, "healthgate wait: stopped after %s (%v); %s\n", round(elapsed), cause, what)
}

func writeWaitTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tTARGET\tSTATUS\tATTEMPTS\tREASON\tHINT")
	for _, r := range rs {
		status, reason, hint := "ready after "+round(r.Elapsed).String(), "-", "-"
		if !r.OK {
			status = "NOT READY"
			if r.Class != "" {
				reason, hint = string(r.Class), cause(r.Err)+" — "+termtext.Printable(r.Hint)
			} else {
				reason, hint = "none", "no attempt completed"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.Type, r.Target, status, r.Attempts, reason, hint)
	}
	_ = tw.Flush()
}

func resultAttrs(r *Result) []any {
	return []any{"check", r.Name, "type", r.Type, "target", r.Target, "reason", string(r.Class),
		"error", errText(r.Err), "hint", r.Hint, "attempts", r.Attempts}
}

// cause is a failure's text without its class (which the line shows already), as the text lines and
// tables write it (termtext.Printable: a server's control characters shown, not sent).
func cause(err error) string {
	if err == nil {
		return ""
	}
	var ce *checks.Error
	if errors.As(err, &ce) && ce.Err != nil {
		return termtext.Printable(oneLine(ce.Err.Error()))
	}
	return termtext.Printable(oneLine(err.Error()))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return oneLine(err.Error())
}

// oneLine joins the lines of a multi-line error (pgx lists every host it tried, one per line,
// often the same twice for sslmode=prefer) into one line, dropping repeats: a progress line or a
// table row stays one line.
func oneLine(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var parts []string
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !slices.Contains(parts, line) {
			parts = append(parts, line)
		}
	}
	out := ""
	for i, p := range parts {
		switch {
		case i == 0:
			out = p
		case strings.HasSuffix(out, ":"):
			out += " " + p
		default:
			out += "; " + p
		}
	}
	return out
}

// round shortens a duration for people: 3.4ms, 123ms, 1.23s, 5m0s.
func round(d time.Duration) time.Duration {
	switch {
	case d < time.Microsecond:
		return d
	case d < 100*time.Microsecond:
		// A lookup from a local cache: rounded as the longer ones are, it read "0s".
		return d.Round(time.Microsecond)
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
