package monitor

import (
	"fmt"
	"sync/atomic"
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

// Status is checks.Status, the health+json verdict, named here for the server, which sees only the
// monitor: the aggregate of /readyz and each line of a probe body.
type Status = checks.Status

// The verdicts, as checks defines them.
const (
	Pass = checks.Pass
	Warn = checks.Warn
	Fail = checks.Fail
)

// CheckStatus is one check as a probe sees it: immutable once published.
type CheckStatus struct {
	Name      string
	Type      string
	Component string // the health+json componentType of the check's kind: datastore or component
	Target    string
	Critical  bool
	Shared    bool // scope shared (docs/design.md §10)

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

	// live holds the per-run figures as the runner stores them after every run, for Latest. LastRun,
	// LastSuccess, Duration and LastErr above are as of this snapshot's publish, which a run that
	// changes nothing a probe sees does not cause (docs/design.md §6).
	live *figures
}

// figures are one check's per-run figures, stored by its runner after every run and loaded without a
// lock: unix nanoseconds (0: never) and nanoseconds.
type figures struct {
	lastRun, lastSuccess, duration atomic.Int64
}

func (f *figures) store(s *CheckStatus) {
	f.lastRun.Store(unixNano(s.LastRun))
	f.lastSuccess.Store(unixNano(s.LastSuccess))
	f.duration.Store(int64(s.Duration))
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Latest returns the check's per-run figures as of now (the end of the last run and of the last
// successful one, and the last run's duration), read from the check's runner without a copy of the
// snapshot: a snapshot is published when something a probe sees changes and, for these figures, at
// most once per heartbeat, so its own LastRun, LastSuccess and Duration may be up to a heartbeat
// behind (docs/design.md §6). Metrics read these.
func (c *CheckStatus) Latest() (lastRun, lastSuccess time.Time, dur time.Duration) {
	if c.live == nil {
		return c.LastRun, c.LastSuccess, c.Duration
	}
	return fromUnixNano(c.live.lastRun.Load()), fromUnixNano(c.live.lastSuccess.Load()), time.Duration(c.live.duration.Load())
}

// seen is what a probe, a watcher, a peer or a metric can see of one check, the per-run figures
// aside: a run that changes none of it publishes no snapshot.
type seen struct {
	state                    State
	class                    checks.Class
	err, hint                string
	everPassed, ran          bool
	failOpen                 bool
	fleetHeard, fleetFailing int
}

func (s *CheckStatus) seen() seen {
	return seen{state: s.State, class: s.Class, err: s.Err, hint: s.Hint, everPassed: s.EverPassed, ran: !s.LastRun.IsZero(),
		failOpen: s.FailOpen, fleetHeard: s.FleetHeard, fleetFailing: s.FleetFailing}
}

// Passing reports whether the check counts as passing.
func (c *CheckStatus) Passing() bool { return c.State == Passing }

// Stale reports whether the check is failing because no run has completed for 2 × interval +
// timeout (its runner wedged).
func (c *CheckStatus) Stale() bool { return c.Class == checks.Stale }

// tracker is the threshold and staleness logic for one check: pure, clock passed in, so it is tested
// without sleeping.
type tracker struct {
	status      CheckStatus
	failures    int // consecutive failed runs
	successes   int // consecutive successful runs
	failThresh  int
	succThresh  int
	staleAfter  time.Duration
	started     time.Time // when its runner began: New, or the reload that published it (checkStale counts from it)
	hint        func(error) string
	hasFinished bool
	failedWith  string // Err as the failure that made the check failing left it
}

// NoResult is the Err of a check that has not run yet: healthgate's own words, no dependency's detail.
const NoResult = "no result yet"

func newTracker(c *checks.Check, start time.Time) *tracker {
	return &tracker{
		status: CheckStatus{
			Name: c.Name, Type: c.Type, Component: checks.ComponentType(c.Type), Target: c.Target, Critical: c.Critical, Shared: c.Shared,
			State: Unknown, Err: NoResult, Since: start, live: &figures{},
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
// carry takes over old's state for a check rebuilt with new timing only (checks.Check.Retimes): it asks
// the same dependency the same way, so its last result still stands until its first run under the new
// timing, instead of an unknown that would fail /readyz on every pod that reloads (docs/design.md §11).
// The streaks carry too, and are measured against the new thresholds.
// Not its staleness clock: t's runner is not old's, and old's last run is not t's (see checkStale).
func (t *tracker) carry(old *tracker) {
	live := t.status.live
	t.status = old.status
	t.status.live = live
	live.store(&t.status)
	t.failures, t.successes, t.hasFinished, t.failedWith = old.failures, old.successes, old.hasFinished, old.failedWith
}

// carryState is carry for a check that replaces old in another way than its timing (a new URL, a new
// query): what old's runs established (its state, its reason, its streaks) stands, and the new check's
// first result counts towards its thresholds; what describes the check (its name, type, target,
// criticality) is the new one's. Entered with its first result alone, one failed run of a changed check
// turned /readyz 503 without failure_threshold, on every pod the ConfigMap reached within seconds.
func (t *tracker) carryState(old *tracker) {
	s := t.status
	t.carry(old)
	t.status.Name, t.status.Type, t.status.Component, t.status.Target = s.Name, s.Type, s.Component, s.Target
	t.status.Critical, t.status.Shared = s.Critical, s.Shared
}

func (t *tracker) observe(err error, dur time.Duration, now time.Time) (stateChanged, reasonChanged bool) {
	s := &t.status
	s.LastRun, s.Duration, s.LastErr = now, dur, err
	defer s.live.store(s)
	first := !t.hasFinished
	t.hasFinished = true
	prev, prevClass := s.State, s.Class

	if err == nil {
		t.failures, t.successes = 0, t.successes+1
		s.LastSuccess = now
		if first || s.State == Passing || t.successes >= t.succThresh {
			t.setPassing(now)
		} else if s.State == Failing {
			// Still failing, by success_threshold: the reason says the dependency answers again, or it
			// would still read "refused" for runs on end while the dependency is back.
			s.Err = fmt.Sprintf("%s; passing again: %d of the %d runs in a row success_threshold asks", t.failedWith, t.successes, t.succThresh)
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
	t.failedWith = s.Err
}

// checkStale turns the check failing with reason stale when no run has completed for
// 2 × interval + timeout since its runner started: a wedged or dead runner is a failure, never a frozen
// pass. A check that a reload carried over (carry) keeps its predecessor's last run, which says nothing
// of its own runner: it is timed from when the reload published it (started), or its first heartbeat
// could fail it, and /readyz, before its first run ended.
func (t *tracker) checkStale(now time.Time) bool {
	last := t.status.LastRun
	if t.started.After(last) {
		last = t.started
	}
	if now.Sub(last) <= t.staleAfter || t.status.Class == checks.Stale {
		return false
	}
	err := &checks.Error{Class: checks.Stale, Err: fmt.Errorf("no completed run for %s (the limit is 2 × interval + timeout = %s)", now.Sub(last).Round(time.Millisecond), t.staleAfter)}
	t.failures, t.successes = 0, 0
	t.setFailing(err, now)
	return true
}
