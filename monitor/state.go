package monitor

import (
	"time"

	"github.com/healthgate/healthgate/checks"
)

// State is a check's state after thresholds (docs/design.md §2).
type State string

// The three states. Unknown counts as not passing.
const (
	Unknown State = "unknown"
	Passing State = "passing"
	Failing State = "failing"
)

// Status is the aggregate of /readyz in health+json terms.
type Status string

// pass: every check passes; warn: only non-critical checks do not; fail: a critical one does not, or
// the process is shutting down.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// CheckStatus is one check as a probe sees it: immutable once published.
type CheckStatus struct {
	Name     string
	Type     string
	Target   string
	Critical bool
	Shared   bool // scope shared (docs/design.md §10)

	State State
	// Class and Err describe why the check is not passing (Err is the redacted "class: cause" text);
	// both are empty while it passes.
	Class checks.Class
	Err   string
	Hint  string

	LastRun     time.Time     // end of the last completed run
	LastSuccess time.Time     // end of the last successful run
	Duration    time.Duration // of the last completed run
	Since       time.Time     // when State last changed
	EverPassed  bool

	// FailOpen: the check is failing locally but most of the fleet heard from sees it failing too, so
	// it does not fail /readyz (docs/design.md §10). FleetHeard and FleetFailing are that round's pods
	// heard from and pods failing, self included. All three stay zero unless State is Failing.
	FailOpen     bool
	FleetHeard   int
	FleetFailing int

	// LastErr is the last run's error, passing or not (a passing check may be one failure into its
	// threshold); nil when the last run succeeded.
	LastErr error
}

// Passing reports whether the check counts as passing.
func (c *CheckStatus) Passing() bool { return c.State == Passing }

// tracker is the threshold and staleness logic for one check: pure, clock passed in, so it is tested
// without sleeping.
type tracker struct {
	status      CheckStatus
	failures    int // consecutive failed runs
	successes   int // consecutive successful runs
	failThresh  int
	succThresh  int
	staleAfter  time.Duration
	started     time.Time
	hint        func(error) string
	hasFinished bool
}

func newTracker(c *checks.Check, start time.Time) *tracker {
	return &tracker{
		status: CheckStatus{
			Name: c.Name, Type: c.Type, Target: c.Target, Critical: c.Critical, Shared: c.Shared,
			State: Unknown, Err: "no result yet", Since: start,
		},
		failThresh: c.FailureThreshold,
		succThresh: c.SuccessThreshold,
		staleAfter: 2*c.Interval + c.Timeout,
		started:    start,
		hint:       c.Hint,
	}
}

// observe records one completed run and reports whether the published state must change: a new
// State, or a new reason while not passing.
func (t *tracker) observe(err error, dur time.Duration, now time.Time) (stateChanged, reasonChanged bool) {
	s := &t.status
	s.LastRun, s.Duration, s.LastErr = now, dur, err
	first := !t.hasFinished
	t.hasFinished = true
	prev, prevClass := s.State, s.Class

	if err == nil {
		t.failures, t.successes = 0, t.successes+1
		s.LastSuccess = now
		if first || s.State == Passing || t.successes >= t.succThresh {
			t.setPassing(now)
		}
	} else {
		t.successes, t.failures = 0, t.failures+1
		// The first result decides the first state; after that the threshold applies.
		if first || s.State != Passing || t.failures >= t.failThresh {
			t.setFailing(err, now)
		}
	}
	return s.State != prev, s.State != Passing && s.Class != prevClass
}

func (t *tracker) setPassing(now time.Time) {
	s := &t.status
	if s.State != Passing {
		s.Since = now
	}
	s.State, s.Class, s.Err, s.Hint, s.EverPassed = Passing, "", "", "", true
}

func (t *tracker) setFailing(err error, now time.Time) {
	s := &t.status
	if s.State != Failing {
		s.Since = now
	}
	s.State, s.Class, s.Err, s.Hint = Failing, checks.ClassOf(err), err.Error(), t.hint(err)
}

// checkStale turns the check failing with reason stale when no run has completed for
// 2 × interval + timeout: a wedged or dead runner is a failure, never a frozen pass.
func (t *tracker) checkStale(now time.Time) bool {
	last := t.status.LastRun
	if last.IsZero() {
		last = t.started
	}
	if now.Sub(last) <= t.staleAfter || t.status.Class == checks.Stale {
		return false
	}
	err := &checks.Error{Class: checks.Stale, Err: errorf("no completed run for %s (the limit is 2 × interval + timeout = %s)", now.Sub(last).Round(time.Millisecond), t.staleAfter)}
	t.failures, t.successes = 0, 0
	t.setFailing(err, now)
	return true
}
