// Package startup owns what runs checks directly, with no server and no background engine
// (docs/design.md §7): the `wait` loop that gates start-up (retry policy, progress for a human reading
// `kubectl logs`, the final table, exec of the command after `--`) and the one-shot `check`.
package startup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/healthgate/healthgate/checks"
)

// ErrTimeout is the cause of a wait that ran out of time.
var ErrTimeout = errors.New("wait timed out")

// DefaultSummaryEvery is how often a wait prints a summary while it waits.
const DefaultSummaryEvery = 10 * time.Second

// cutAfter is how long an attempt must have been in flight, when the wait ends, to be reported as
// a timeout: an attempt that started just before the end says nothing about the dependency.
const cutAfter = 250 * time.Millisecond

// Options tune a Wait. The zero value waits for ever and reports nothing.
type Options struct {
	// Timeout bounds the whole wait; 0 waits for ever. Each attempt is bounded by its check's
	// timeout.
	Timeout time.Duration
	// Progress receives the progress lines and, when the wait times out, the table of the targets
	// that were not ready. Nil reports nothing.
	Progress io.Writer
	// Log, when set, receives progress as structured records (e.g. one JSON object per line) instead
	// of text lines on Progress.
	Log *slog.Logger
	// Quiet hides progress; the final table of what was not ready is still written.
	Quiet bool
	// Level drops the progress below it, text lines and records alike (the zero value is info): warn
	// keeps what is wrong, debug adds each failed attempt whose reason was shown already. The final table
	// of what was not ready is an error, and always written.
	Level slog.Level
	// SummaryEvery is how often a summary line is written while waiting (default 10s).
	SummaryEvery time.Duration
}

// Result is one check's outcome: of its single run (Check), or of waiting for it (Wait).
type Result struct {
	Name     string
	Type     string
	Target   string // redacted
	Critical bool

	// OK says the check passed (in a wait: at least once).
	OK bool
	// Err is the last failure (nil when OK, and in a wait before any attempt completed): a
	// *checks.Error whose text is redacted. Class and Hint describe it.
	Err   error
	Class checks.Class
	Hint  string
	// Latency is how long the last run took.
	Latency time.Duration
	// Stopped says a one-shot run (RunOnce) was cut by the command's stop (a signal) before it
	// answered: it neither passed nor failed.
	Stopped bool

	// Attempts counts the runs a wait made, Elapsed is the time from the wait's start to the pass
	// (or to the end of the wait), Since is when the current class was first seen.
	Attempts int
	Elapsed  time.Duration
	Since    time.Time

	// shown holds the reasons a progress line has shown that are still recent: a failure whose reason
	// alternates (a reset during the connect, then right after it; a Service's pods, one answering 503,
	// the other 500) writes a line for each reason once, not one for every flip. seen holds the
	// reasons of the current summary period: at its end, a reason not seen during it is forgotten, and
	// shown again when it comes back.
	shown, seen []reason
}

// reason is what a progress line says of a failure: its class, and within it the hint.
type reason struct {
	class checks.Class
	hint  string
}

// forget ends a summary period: the reasons shown stay shown only if they were seen during it (the
// current one always: the attempts of a check with a long timeout can be further apart than a period).
func (r *Result) forget() {
	r.shown, r.seen = r.seen, nil
	if now := (reason{r.Class, r.Hint}); r.Class != "" && !slices.Contains(r.shown, now) {
		r.shown = append(r.shown, now)
	}
}

// attempt is what a target's goroutine reports after each run.
type attempt struct {
	i     int
	err   error
	start time.Time
	dur   time.Duration
	cut   bool // the wait ended during the run
}

// Wait runs every check until each has passed once, in parallel, retrying with Backoff. It returns
// the results in the order of cs and nil when all passed; ErrTimeout when opts.Timeout ran out; or
// the cause of ctx's cancellation (a signal), at once. Every goroutine it starts has ended when it
// returns.
func Wait(ctx context.Context, cs []*checks.Check, opts Options) ([]Result, error) {
	start := time.Now()
	if opts.SummaryEvery <= 0 {
		opts.SummaryEvery = DefaultSummaryEvery
	}
	p := newProgress(opts)
	p.start(cs, opts.Timeout)

	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, ErrTimeout)
		defer cancel()
	}
	results := make([]Result, len(cs))
	for i, c := range cs {
		results[i] = Result{Name: c.Name, Type: c.Type, Target: c.Target, Critical: c.Critical}
	}

	// Every target's goroutine sends each attempt and ends on a pass or when ctx is done; the loop
	// below receives until all have ended, so no send blocks for ever.
	out := make(chan attempt)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { retry(ctx, i, c, out) })
	}
	go func() {
		wg.Wait()
		close(out)
	}()

	ticker := time.NewTicker(opts.SummaryEvery)
	defer ticker.Stop()
	done := ctx.Done()
	var endedAt time.Time // when ctx ended: the wait's length, not the goroutines' wind-down after it
	for out != nil {
		select {
		case a, ok := <-out:
			if !ok {
				out = nil
				continue
			}
			r := &results[a.i]
			if a.cut {
				cutShort(r, a, ended(ctx), cs[a.i])
				continue
			}
			r.Attempts++
			r.Latency = a.dur
			r.Elapsed = a.start.Add(a.dur).Sub(start)
			if a.err == nil {
				r.OK, r.Err, r.Class, r.Hint = true, nil, "", ""
				p.ready(r)
				continue
			}
			class, hint := checks.ClassOf(a.err), cs[a.i].Hint(a.err)
			if class != r.Class || r.Since.IsZero() {
				r.Class, r.Since = class, a.start
			}
			r.Err, r.Hint = a.err, hint
			// A new line when the reason changes (its class, or its hint within a class: a role that
			// does not exist, then a database that does not exist, both auth) to one not shown
			// recently: reasons that alternate write a line each once, not one per attempt.
			why := reason{class, hint}
			if !slices.Contains(r.seen, why) {
				r.seen = append(r.seen, why)
			}
			if !slices.Contains(r.shown, why) {
				r.shown = append(r.shown, why)
				p.waiting(r)
			} else {
				p.attempt(r)
			}
		case <-ticker.C:
			p.summary(results, time.Since(start))
			for i := range results {
				results[i].forget()
			}
		case <-done:
			done = nil // keep receiving until every target's goroutine has ended
			endedAt = time.Now()
		}
	}

	elapsed := time.Since(start)
	if !endedAt.IsZero() {
		elapsed = endedAt.Sub(start)
	}
	for i := range results {
		if !results[i].OK {
			results[i].Elapsed = elapsed
		}
	}
	if allOK(results) {
		p.allReady(results, elapsed)
		return results, nil
	}
	cause := ended(ctx) // not nil: a target's goroutine ends early only when ctx has ended
	if errors.Is(cause, ErrTimeout) {
		p.timedOut(results, elapsed)
		return results, ErrTimeout
	}
	p.stopped(results, elapsed, cause)
	return results, cause
}

// WriteStopped writes the line of a wait whose every target was ready, stopped by a signal before the command
// after -- ran, as Wait writes it for a signal that stops the wait itself.
func WriteStopped(opts Options, rs []Result, elapsed time.Duration, cause error) {
	newProgress(opts).stopped(rs, elapsed, cause)
}

// retry runs one check until it passes or ctx ends.
func retry(ctx context.Context, i int, c *checks.Check, out chan<- attempt) {
	failures := 0 // consecutive failed attempts that reached the dependency
	misses := 0   // consecutive failed lookups
	for {
		start := time.Now()
		err := c.Run(ctx)
		a := attempt{i: i, err: err, start: start, dur: time.Since(start)}
		if err != nil && ended(ctx) != nil {
			a.cut = true
			out <- a
			return
		}
		out <- a
		if err == nil {
			return
		}
		class := checks.ClassOf(err)
		if reachesDependency(class) {
			failures++
		}
		n := failures
		if class == checks.DNS {
			misses++
			n = misses
		} else {
			misses = 0
		}
		t := time.NewTimer(Backoff(class, n, rand.Float64()))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// ended returns why ctx ended, or nil. A deadline that has passed counts as ErrTimeout even before
// the context's timer marks it done: a dial started in that gap fails at once with "i/o timeout",
// and that failure says nothing about the dependency.
func ended(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return ErrTimeout
	}
	return nil
}

// cutShort records an attempt that the end of the wait interrupted. When the wait timed out while
// the attempt had long been waiting for an answer (or nothing else is known), that is the reason
// the target was not ready: a timeout, with the hint of the layer the attempt was waiting at, as its
// run said it (connected, but no answer; no TLS handshake; no connection). When the attempts before
// it timed out already, their error says more (their own timeout) and is kept.
func cutShort(r *Result, a attempt, cause error, c *checks.Check) {
	r.Attempts++
	if !errors.Is(cause, ErrTimeout) || (r.Err != nil && (a.dur < cutAfter || r.Class == checks.Timeout)) {
		return
	}
	err := &checks.Error{Class: checks.Timeout, Err: fmt.Errorf("no answer after %s, when the wait timed out", round(a.dur))}
	if r.Class != checks.Timeout {
		r.Since = a.start
	}
	r.Err, r.Class, r.Latency = err, checks.Timeout, a.dur
	r.Hint = checks.Hint(err, "")
	if checks.ClassOf(a.err) == checks.Timeout {
		r.Hint = c.Hint(a.err) // the run's deadline was the wait's: its hint names the layer that went silent
	}
}

func allOK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}
