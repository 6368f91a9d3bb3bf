package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// runWith runs a monitor with opts until the test ends.
func runWith(t *testing.T, opts Options, cs ...*checks.Check) *Monitor {
	t.Helper()
	m := New(cs, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return m
}

// waitRuns waits until runs has grown by n.
func waitRuns(t *testing.T, runs *atomic.Int64, n int64) {
	t.Helper()
	want := runs.Load() + n
	if _, ok := checktest.Poll(10*time.Second, 5*time.Millisecond, func() bool { return runs.Load() >= want }); !ok {
		t.Fatalf("only %d of %d runs in 10s", runs.Load()-(want-n), n)
	}
}

// TestRunsThatChangeNothingPublishNothing: a run that changes nothing a probe sees publishes no
// snapshot (with the heartbeat out of the way, the snapshot stays the same object), while its per-run
// figures are still read fresh through Latest. Publishing on every run made the cost per run grow with
// the number of checks (docs/design.md §6).
func TestRunsThatChangeNothingPublishNothing(t *testing.T) {
	var runs atomic.Int64
	c := checks.Func(spec("steady", 20*time.Millisecond, 10*time.Millisecond, 3, 1), func(context.Context) error { return nil })
	m := runWith(t, Options{Heartbeat: time.Hour, OnRun: func(Run) { runs.Add(1) }}, c)
	first := waitFor(t, m, "passing", func(s *Snapshot) bool { return s.Checks[0].Passing() })
	firstRun := first.Checks[0].LastRun
	waitRuns(t, &runs, 10)
	if got := m.Snapshot(); got != first {
		t.Fatalf("a new snapshot after runs that changed nothing a probe sees (last run %v, was %v)", got.Checks[0].LastRun, firstRun)
	}
	select {
	case <-first.Changed():
		t.Fatal("Changed closed without a change")
	default:
	}
	lastRun, lastSuccess, dur := first.Checks[0].Latest()
	if !lastRun.After(firstRun) || !lastSuccess.Equal(lastRun) || dur <= 0 {
		t.Errorf("Latest: last run %v, last success %v, duration %v; want a run after %v that succeeded", lastRun, lastSuccess, dur, firstRun)
	}
}

// TestVisibleChangesPublish: what a probe sees is published at the run that changes it: a new state,
// and while failing a new reason text in the same class (the body shows it).
func TestVisibleChangesPublish(t *testing.T) {
	var n atomic.Int64
	c := checks.Func(spec("flaky", 20*time.Millisecond, 10*time.Millisecond, 1, 1), func(context.Context) error {
		i := n.Add(1)
		if i < 4 {
			return nil
		}
		return &checks.Error{Class: checks.Refused, Err: fmt.Errorf("refused by the attempt numbered %d", i)}
	})
	m := runWith(t, Options{Heartbeat: time.Hour}, c)
	s := waitFor(t, m, "failing", func(s *Snapshot) bool { return s.Checks[0].State == Failing })
	if s.Ready {
		t.Fatal("ready with the only critical check failing")
	}
	text := s.Checks[0].Err
	waitFor(t, m, "a new reason text", func(s *Snapshot) bool { return s.Checks[0].Err != text })
}

// TestHeartbeatPublishesFigures: the per-run figures reach a snapshot within a heartbeat, without a
// change of state.
func TestHeartbeatPublishesFigures(t *testing.T) {
	c := checks.Func(spec("steady", 20*time.Millisecond, 10*time.Millisecond, 3, 1), func(context.Context) error { return nil })
	m := runWith(t, Options{Heartbeat: 50 * time.Millisecond}, c)
	first := waitFor(t, m, "passing", func(s *Snapshot) bool { return s.Checks[0].Passing() })
	waitFor(t, m, "a later last run in the snapshot", func(s *Snapshot) bool {
		return s.Checks[0].Passing() && s.Checks[0].LastRun.After(first.Checks[0].LastRun) && s.Checks[0].Since.Equal(first.Checks[0].Since)
	})
}

// TestLatestBeforeAnyRun: no run yet, no figures.
func TestLatestBeforeAnyRun(t *testing.T) {
	m := New([]*checks.Check{checks.Func(spec("idle", time.Second, 100*time.Millisecond, 1, 1), func(context.Context) error { return errors.New("never run") })}, Options{})
	lastRun, lastSuccess, dur := m.Snapshot().Checks[0].Latest()
	if !lastRun.IsZero() || !lastSuccess.IsZero() || dur != 0 {
		t.Errorf("Latest before any run: %v %v %v; want zeros", lastRun, lastSuccess, dur)
	}
}

// TestReplaceAfterRunLogs: a Replace after Run returned that changes readiness writes its line itself
// (the writer is gone) instead of sending on the closed queue (it panicked).
func TestReplaceAfterRunLogs(t *testing.T) {
	var buf checktest.Buffer
	c := checks.Func(spec("never", time.Hour, 100*time.Millisecond, 1, 1), func(context.Context) error { return nil })
	m := New([]*checks.Check{c}, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Run(ctx) // returns at once: the check's only run is cut short, so it stays unknown (not ready)
	if m.Snapshot().Ready {
		t.Fatal("ready with an unknown critical check")
	}
	m.Replace(nil, nil)
	if !m.Snapshot().Ready {
		t.Fatal("not ready without checks")
	}
	if !strings.Contains(buf.String(), `msg=ready`) {
		t.Errorf("no ready line after the Replace; log:\n%s", buf.String())
	}
}

// TestReplaceChangedLogsOnlyChanges: a check a reload changed (not only retimed) logs a state line
// only when its first run under the new definition says something else than its predecessor did.
func TestReplaceChangedLogsOnlyChanges(t *testing.T) {
	var buf checktest.Buffer
	mk := func(name, target string, err error) *checks.Check {
		c := config.NewCheck(name, "func", target, config.NewDefaults()) // a new target: changed, not retimed
		c.Interval, c.Timeout, c.Critical, c.FailureThreshold = time.Hour, time.Second, true, 1
		return checks.Func(c, func(context.Context) error { return err })
	}
	m := New([]*checks.Check{mk("same", "a", nil), mk("flips", "a", nil)}, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, m, "both passing", func(s *Snapshot) bool { return s.Ready && s.Started })
	checktest.Eventually(t, 5*time.Second, "the passing lines", func() bool { return strings.Count(buf.String(), "msg=\"check passing\"") == 2 })
	mark := len(buf.String())
	after := func() string { return buf.String()[mark:] }

	m.Replace([]*checks.Check{mk("same", "b", nil), mk("flips", "b", errRefused)}, nil)
	checktest.Eventually(t, 5*time.Second, "the failing line of flips", func() bool { return strings.Contains(after(), "check=flips") })
	time.Sleep(50 * time.Millisecond) // any line about same would have been queued with flips's
	if strings.Contains(after(), "check=same") {
		t.Errorf("a line for the changed check whose state did not change:\n%s", after())
	}
}

// TestReplaceChangedKeepsThresholds: a changed check's first run counts towards its predecessor's
// streaks: one failure of a check whose failure_threshold is 3 leaves it passing (1 of 3), as its
// predecessor's next run would have; its status describes the new check (here: now critical). Entered with its
// first result alone, one failed run during a ConfigMap rollout turned every pod's /readyz 503 at once.
func TestReplaceChangedKeepsThresholds(t *testing.T) {
	mk := func(target string, err error) *checks.Check {
		c := config.NewCheck("db", "func", target, config.NewDefaults())
		c.Interval, c.Timeout, c.Critical, c.FailureThreshold, c.SuccessThreshold = time.Hour, time.Second, target == "b", 3, 2
		return checks.Func(c, func(context.Context) error { return err })
	}
	m := runWith(t, Options{}, mk("a", nil))
	waitFor(t, m, "db passing", func(s *Snapshot) bool { return s.Checks[0].State == Passing })
	m.Replace([]*checks.Check{mk("b", errRefused)}, nil)
	s := m.Snapshot()
	if !s.Ready || s.Checks[0].State != Passing || !s.Checks[0].Critical {
		t.Fatalf("after a changed check's first failed run: ready %v, state %s, critical %v; want ready, passing (1 of failure_threshold 3), critical",
			s.Ready, s.Checks[0].State, s.Checks[0].Critical)
	}
	// And the other way: a failing check changed (the fix) passes once success_threshold runs have.
	m2 := runWith(t, Options{}, mk("a", errRefused))
	waitFor(t, m2, "db failing", func(s *Snapshot) bool { return s.Checks[0].State == Failing })
	m2.Replace([]*checks.Check{mk("b", nil)}, nil)
	if s := m2.Snapshot(); s.Ready || !strings.Contains(s.Checks[0].Err, "passing again: 1 of the 2 runs") {
		t.Fatalf("after a failing check's fix passed once: ready %v, %q; want not ready yet (1 of success_threshold 2)", s.Ready, s.Checks[0].Err)
	}
}

// TestReasonChangeLogsHint: the line of a check that keeps failing for another reason carries that
// reason's hint, as every failing line does (README "Logs"): it is the line that says what to look at
// now (refused, then auth: the credentials, no longer the port). It had the reason and the error alone.
func TestReasonChangeLogsHint(t *testing.T) {
	var buf checktest.Buffer
	var runs atomic.Int64
	errAuth := &checks.Error{Class: checks.Auth, Err: errors.New("password authentication failed"), Hint: "check the password in PGPASSWORD"}
	c := checks.Func(spec("db", 50*time.Millisecond, 20*time.Millisecond, 1, 1), func(context.Context) error {
		if runs.Load() == 0 {
			return errRefused
		}
		return errAuth
	})
	runWith(t, Options{Heartbeat: time.Hour, Logger: slog.New(slog.NewTextHandler(&buf, nil)), OnRun: func(Run) { runs.Add(1) }}, c)
	checktest.Eventually(t, 5*time.Second, "the line of the new reason", func() bool { return strings.Contains(buf.String(), "for another reason") })
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "for another reason") && !strings.Contains(line, `hint="check the password in PGPASSWORD"`) {
			t.Errorf("the reason change's line has not the new reason's hint:\n%s", line)
		}
	}
}

// TestPanicStackLoggedOnce: a check that panics on every run logs its stack once, not once per run
// (README "Logs": never one line per run); a panic after a run that did not panic logs it again.
func TestPanicStackLoggedOnce(t *testing.T) {
	var buf checktest.Buffer
	var runs, n atomic.Int64
	// Deadlines generous enough that taking a stack (slow under -race on a loaded machine) never reads
	// as the run overstaying them, as in TestPanicIsAFailure.
	c := checks.Func(spec("boom", 300*time.Millisecond, 200*time.Millisecond, 1, 1), func(context.Context) error {
		if n.Add(1) != 4 {
			panic("boom")
		}
		return nil
	})
	runWith(t, Options{Heartbeat: time.Hour, Logger: slog.New(slog.NewTextHandler(&buf, nil)), OnRun: func(Run) { runs.Add(1) }}, c)
	waitRuns(t, &runs, 6)
	checktest.Eventually(t, 5*time.Second, "two stacks", func() bool { return strings.Count(buf.String(), `msg="check panicked"`) >= 2 })
	if got := strings.Count(buf.String(), `msg="check panicked"`); got != 2 {
		t.Errorf("%d stacks logged for runs 1-3 and 5-6 panicking; want 2 (one per streak):\n%s", got, buf.String())
	}
}
