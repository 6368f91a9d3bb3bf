// Package monitor runs checks in the background, applies thresholds and staleness, and publishes an
// immutable Snapshot through an atomic pointer, so that a probe is a pointer load (docs/design.md §2, §6).
// It knows nothing about HTTP.
//
// The engine. alexliesenfeld/health (docs/design.md §6) executes each run: one Checker per check,
// holding that check as a synchronous check, called only by that check's runner goroutine. That gives
// us its bounded execution (the run's goroutine reports on a buffered channel, so a check that
// overstays its deadline cannot block or leak the runner) and its panic recovery as a backstop. We do
// not use its periodic checks, its aggregation or its HTTP handler, because of what they do to the
// promises of docs/design.md §1 (read in v0.8.0's check.go):
//   - periodic checks sleep `interval` after each run ends (startPeriodicChecks → waitForStopSignal),
//     so a blackholed dependency fails after failure_threshold × (interval + timeout); our runner
//     ticks at a fixed rate, so it fails within failure_threshold × interval + timeout, the bound the
//     README promises (interval 5s, timeout 2s, threshold 2: 12 s instead of 14 s; TestFixedRate);
//   - Checker.Check holds one mutex while checks and listeners run, so serving probes through it
//     makes a slow check block every probe; probes here never touch a Checker;
//   - its status has no success threshold, no critical/non-critical split and no staleness, and the
//     first failure of a fresh check reads "up" when MaxContiguousFails > 1.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexliesenfeld/health"

	"github.com/healthgate/healthgate/checks"
)

// backstop is how long past a check's own timeout the engine waits before giving up on a run whose
// driver ignores its context: our kinds all honour the context, so this only bounds a bug. It is a
// share of the interval, not of the gap between timeout and interval: a kind returns a moment after its
// deadline (a driver closing its connection, a goroutine scheduled late), and with a timeout close to
// its interval half that gap (half a millisecond for 999ms and 1s) made such a run "the check did not
// honour its deadline", then the next "the previous run has not returned", the kind's words and hint
// lost (TestDeadlineHonouredNearInterval). Half an interval keeps a run that does overstay its deadline
// well inside the staleness limit (2 × interval + timeout): it is a timeout, never stale; should it end
// after the next tick, that tick's run starts as it ends.
func backstop(c *checks.Check) time.Duration {
	return min(250*time.Millisecond, c.Interval/2)
}

// Run describes one completed run, for observers such as metrics.
type Run struct {
	Check    *checks.Check
	Err      error
	Class    checks.Class // Err's reason class; empty when Err is nil
	Duration time.Duration
	End      time.Time
	// Overlapped: no run was made, the check's previous run was still in flight (a check that does
	// not honour its deadline). It fails with class timeout, and Duration is how long that previous
	// run has been going, not a run's latency: a histogram of run durations leaves it out.
	Overlapped bool
}

// RunClasses are the reason classes a failed run can carry: every class but stale, which the
// monitor gives a check whose run never returned (so no run ends with it). Metrics create a failure
// series per class before the first failure.
var RunClasses = slices.DeleteFunc(slices.Clone(checks.Classes), func(c checks.Class) bool { return c == checks.Stale })

// Options tune a Monitor; the zero value is usable.
type Options struct {
	Logger *slog.Logger
	// OnRun is called after every completed run, from the check's runner goroutine, once the run is
	// recorded (and a snapshot published, if it changed what a probe sees). It must not block.
	OnRun func(Run)
	// Heartbeat is how often the engine proves it is alive and looks for stale checks (default 1s).
	Heartbeat time.Duration
	// Fleet, when set, lets shared critical checks fail open (fleet.go).
	Fleet *Fleet
}

// Monitor owns the background runs of a set of checks and the published state.
type Monitor struct {
	log       *slog.Logger
	onRun     func(Run)
	heartbeat time.Duration
	// fleet is replaced by a reload; nil turns fail-open off.
	fleet atomic.Pointer[Fleet]

	mu           sync.Mutex // guards entries, trackers, shuttingDown, started and figuresBehind; held only to update and publish
	entries      []*entry   // replaced (under runMu and mu) by Replace
	index        map[string]int
	shuttingDown bool
	// started: /startupz passed once; it never goes back, even when a reload adds a check that has
	// not passed yet.
	started bool
	// figuresBehind: a run completed since the last publish without publishing (it changed only its
	// per-run figures); the next heartbeat publishes.
	figuresBehind bool

	// logs carries the lines decided under mu, in order, to one writer goroutine: a log writer that
	// blocks (a stalled stderr pipe) must not hold mu and so stall every check and the heartbeat.
	// When it is full, lines are dropped and counted rather than waited for.
	logs    chan logLines
	dropped atomic.Int64
	// logsClosed: Run has returned and closed logs (guarded by mu).
	logsClosed bool

	snap atomic.Pointer[Snapshot]
	// beat is when the last heartbeat was, as nanoseconds since epoch on the monotonic clock: a wall
	// clock stepped back (NTP, a resumed VM) would otherwise keep a wedged engine "alive" for as long
	// as the step, and one stepped forward fail /livez of a healthy one.
	beat  atomic.Int64
	epoch time.Time

	// runMu serializes Run's start and end with Replace: goroutines are only added to runWG while
	// Run is between the two (active and not stopping), so never concurrently with runWG.Wait.
	runMu    sync.Mutex
	runWG    sync.WaitGroup
	runCtx   context.Context
	active   bool
	stopping bool
}

type entry struct {
	check    *checks.Check
	tracker  *tracker
	checker  health.Checker
	inFlight atomic.Bool
	// runStart is when the run in flight started (Unix ns): a run refused because its predecessor has
	// not returned says for how long that one has been going.
	runStart atomic.Int64
	// panicked: the last run panicked, its stack logged; a check that panics on every run logs its
	// stack once, not once per run. Only the goroutine that runs the check (prime, then the runner)
	// reads and writes it.
	panicked bool
	// wake starts a fleet round (shared critical checks with a fleet only; nil otherwise).
	wake  chan struct{}
	fleet fleetState
	// primed: the check's first run was made by Replace, before the entry was published; its runner
	// starts with a tick instead of a run (set before it starts).
	primed bool

	// stop ends this entry's goroutines (set when they start); done is closed once they all returned.
	stop context.CancelFunc
	done chan struct{}
}

// New prepares a monitor; nothing runs until Run.
func New(cs []*checks.Check, opts Options) *Monitor {
	m := &Monitor{log: opts.Logger, onRun: opts.OnRun, heartbeat: opts.Heartbeat, logs: make(chan logLines, 256)}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.heartbeat <= 0 {
		m.heartbeat = time.Second
	}
	m.fleet.Store(opts.Fleet)
	now := time.Now()
	for _, c := range cs {
		m.entries = append(m.entries, newEntry(c, opts.Fleet != nil, now))
	}
	m.index = indexOf(m.entries)
	m.epoch = now
	m.beat.Store(0)
	m.publishLocked(now)
	return m
}

// newEntry prepares one check's entry, state unknown; withFleet gives a shared critical check its
// fleet loop.
func newEntry(c *checks.Check, withFleet bool, now time.Time) *entry {
	e := &entry{check: c, tracker: newTracker(c, now), done: make(chan struct{})}
	if withFleet && c.Shared && c.Critical {
		e.wake = make(chan struct{}, 1)
	}
	limit := c.Timeout + backstop(c)
	e.checker = health.NewChecker(
		health.WithDisabledAutostart(),
		// Not WithDisabledCache: with a cache period of 0 the library still skips a run (and returns the
		// last result) until time.Now() is after the last run's time, which it stores with .UTC() and so
		// compares on the wall clock alone: a clock stepped back by Δ would freeze the last verdict for Δ,
		// a pass the staleness check cannot see (runs seem to complete). A period of minus a century makes
		// every call run, whatever the wall clock does.
		health.WithCacheDuration(-100*365*24*time.Hour),
		health.WithTimeout(limit),
		health.WithCheck(health.Check{Name: c.Name, Timeout: limit, Check: e.runGuarded}),
	)
	return e
}

func indexOf(es []*entry) map[string]int {
	idx := make(map[string]int, len(es))
	for i, e := range es {
		idx[e.check.Name] = i
	}
	return idx
}

// Snapshot returns the current published state. It never blocks.
func (m *Monitor) Snapshot() *Snapshot { return m.snap.Load() }

// Alive reports whether the engine's heartbeat is recent: the scheduler goroutine is running and
// the state lock is not wedged. It is /livez's signal and never looks at a dependency.
func (m *Monitor) Alive(now time.Time) bool {
	return int64(now.Sub(m.epoch))-m.beat.Load() < int64(livenessWindow(m.heartbeat))
}

// livenessWindow is how stale the heartbeat may be before /livez fails: long enough that a starved
// CPU does not restart a healthy pod, short enough that a wedged engine does.
func livenessWindow(heartbeat time.Duration) time.Duration { return max(10*heartbeat, 10*time.Second) }

// Shutdown makes /readyz fail from now on (the built-in shutdown check); checks keep running until
// Run's context ends.
func (m *Monitor) Shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.shuttingDown {
		m.shuttingDown = true
		m.publishLocked(time.Now())
	}
}

// Run starts one runner per check and the heartbeat, and blocks until ctx ends and every goroutine it
// started has returned.
func (m *Monitor) Run(ctx context.Context) {
	m.runMu.Lock()
	if m.active {
		m.runMu.Unlock()
		panic("monitor: Run called twice")
	}
	m.active, m.runCtx = true, ctx
	for _, e := range m.entries {
		m.startLocked(e)
	}
	m.runWG.Go(func() { m.heartbeatLoop(ctx) })
	m.runMu.Unlock()

	var writer sync.WaitGroup
	writer.Go(m.logWriter)
	<-ctx.Done()
	m.runMu.Lock()
	m.stopping = true // from now on Replace starts nothing
	m.runMu.Unlock()
	m.runWG.Wait()
	m.mu.Lock()
	m.logsClosed = true // a Replace after Run writes its lines itself (queue)
	close(m.logs)       // nothing records any more: the writer writes what is left and returns
	m.mu.Unlock()
	writer.Wait()
}

// queue hands lines to the writer; m.mu is held, which keeps them in the order they were decided.
func (m *Monitor) queue(ls logLines) {
	if len(ls) == 0 {
		return
	}
	if m.logsClosed {
		// Run has returned (a Replace after it): no writer, and no runner left for a slow log to stall.
		ls.emit(m.log)
		return
	}
	select {
	case m.logs <- ls:
	default:
		m.dropped.Add(int64(len(ls)))
	}
}

func (m *Monitor) logWriter() {
	for ls := range m.logs {
		if n := m.dropped.Swap(0); n > 0 {
			m.log.Warn("log lines dropped: the log output was not keeping up", "dropped", n)
		}
		ls.emit(m.log)
	}
}

// startLocked starts e's runner (and fleet loop) under a context of its own, so that Replace can stop
// this one entry; m.runMu must be held, with Run active and not stopping.
func (m *Monitor) startLocked(e *entry) {
	ctx, stop := context.WithCancel(m.runCtx)
	e.stop = stop
	var g sync.WaitGroup
	g.Go(func() { m.runner(ctx, e) })
	if e.wake != nil {
		g.Go(func() { m.fleetLoop(ctx, e) })
	}
	m.runWG.Go(func() {
		g.Wait()
		stop()
		close(e.done)
	})
}

// Replace makes cs the monitored checks, in this order, for a configuration reload
// (docs/design.md §11). A check of cs that is already monitored (the same *checks.Check) keeps its
// entry: state, counters, thresholds and runner go on untouched, so it neither flaps nor reconnects.
// A check that only changed its timing (checks.Check.Retimes) carries its predecessor's state over
// until its first run. A check that replaces another of its name in any other way makes its first run
// here, before it is published (make before break: the one it replaces is published meanwhile), so it
// enters with that first result counted towards its predecessor's streaks (tracker.carryState), never
// unknown; Replace waits for that run, at most the check's
// timeout. An added check starts unknown, as at start-up. A check that was failing open and is
// removed, or replaced by one that does not fail open, says so in the log. The checks no longer in cs
// are stopped (their runs ended, their goroutines returned) and returned, for the caller to close.
// fleet replaces the fleet settings (nil: no fail-open). One new snapshot is published. Replace may be
// called before, during or after Run; it must not be called concurrently with itself.
func (m *Monitor) Replace(cs []*checks.Check, fleet *Fleet) (dropped []*checks.Check) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	old := make(map[*checks.Check]*entry, len(m.entries))
	for _, e := range m.entries { // m.entries changes only under runMu: no need for m.mu to read it
		old[e.check] = e
	}
	byName := make(map[string]*entry, len(m.entries))
	for _, e := range m.entries {
		byName[e.check.Name] = e
	}
	now := time.Now()
	next := make([]*entry, 0, len(cs))
	var added, primed []*entry
	retimed := make(map[*entry]*entry) // a check rebuilt with new timing only → the entry it carries over
	for _, c := range cs {
		if e, ok := old[c]; ok && (e.wake != nil) == (fleet != nil && c.Shared && c.Critical) {
			delete(old, c)
			next = append(next, e)
			continue
		}
		e := newEntry(c, fleet != nil, now)
		if was := byName[c.Name]; was != nil && was.check != c {
			if c.Retimes(was.check) {
				retimed[e] = was // carried once was's runner has stopped, below
			} else {
				e.primed = true
				primed = append(primed, e)
			}
		}
		next = append(next, e)
		added = append(added, e)
	}
	runs := m.prime(primed)
	keep := make(map[*checks.Check]bool, len(cs))
	for _, c := range cs {
		keep[c] = true
	}
	// Stop what goes before publishing, outside m.mu (a run that ends now records under it): once
	// Replace returns, nothing reports a dropped check any more (OnRun included).
	for _, e := range old {
		if e.stop != nil {
			e.stop()
			<-e.done
		}
		if !keep[e.check] {
			dropped = append(dropped, e.check)
		}
	}

	var lines logLines
	m.mu.Lock()
	// A retimed check carries its predecessor's state as that runner left it: carried before it
	// stopped, a run that ended meanwhile (while the changed checks made their first runs) would be
	// published and then undone by this reload, and missing from the new check's streaks.
	for e, was := range retimed {
		e.tracker.carry(was.tracker)
		e.fleet = was.fleet // a weak round it is sitting out, with the FailOpen carried
	}
	// The entries made here start their staleness clock as they are published: the first runs above
	// may have taken up to the longest changed check's timeout, and a carried check's last run is its
	// predecessor's (tracker.checkStale).
	now = time.Now()
	for _, e := range added {
		e.tracker.started = now
	}
	before := m.snap.Load()
	for i, e := range primed {
		if !e.primed {
			continue // its first run was cut short: unknown until its runner makes one
		}
		e.tracker.carryState(byName[e.check.Name].tracker)
		stateChanged, reasonChanged := e.tracker.observe(runs[i].Err, runs[i].Duration, runs[i].End)
		was := byName[e.check.Name].tracker.status
		if now := e.tracker.status; now.State == was.State && now.Class == was.Class {
			// The reload changed the check, not what it says: a line would report a change that
			// /readyz does not show (its log line says which checks changed).
			stateChanged, reasonChanged = false, false
		}
		lines.change(e, stateChanged, reasonChanged, runs[i].Duration)
		if was.FailOpen && e.wake != nil && e.tracker.status.State == Failing {
			// Still failing, and still shared: the fleet's verdict on this check stands until the
			// next round (which its first record below starts), rather than a 503 until then.
			s := &e.tracker.status
			s.FailOpen, s.FleetHeard, s.FleetFailing = true, was.FleetHeard, was.FleetFailing
			e.fleet = byName[e.check.Name].fleet // the weak round it is sitting out too
		}
		m.fleetAfterRecord(e, &lines)
	}
	for _, e := range next {
		if s := &e.tracker.status; s.FailOpen && e.wake == nil { // carried over to a check that cannot fail open
			s.FailOpen, s.FleetHeard, s.FleetFailing = false, 0, 0
		}
	}
	m.entries, m.index = next, indexOf(next)
	for _, was := range byName {
		s := was.tracker.status
		if !s.FailOpen {
			continue
		}
		why := "the check was removed by a configuration reload"
		if i, ok := m.index[s.Name]; ok {
			if e := next[i]; e.tracker.status.FailOpen || e.primed && e.wake != nil {
				continue // still failing open, or its first run's record said why it stopped
			}
			why = "a configuration reload changed the check; its own state is " + string(next[i].tracker.status.State)
		}
		lines.add(slog.LevelInfo, "check stopped failing open: "+why, "check", s.Name, "failing", s.FleetFailing, "heard", s.FleetHeard)
	}
	m.fleet.Store(fleet)
	lines.readiness(before, m.publishLocked(now))
	m.queue(lines)
	m.mu.Unlock()

	if m.active && !m.stopping {
		for _, e := range added {
			m.startLocked(e)
		}
	}
	if m.onRun != nil {
		for _, r := range runs {
			if !r.End.IsZero() {
				m.onRun(r)
			}
		}
	}
	return dropped
}

// prime makes the first run of each of es, in parallel, within the running monitor's context (a
// background one before Run), and returns the runs in the order of es; each is bounded by its check's
// timeout. A run cut short because the monitor is stopping is a zero Run, and the check stays unknown.
func (m *Monitor) prime(es []*entry) []Run {
	runs := make([]Run, len(es))
	ctx := context.Background()
	if m.active {
		ctx = m.runCtx
	}
	var wg sync.WaitGroup
	for i, e := range es {
		wg.Go(func() {
			if r, ok := m.execute(ctx, e); ok {
				runs[i] = r
			}
		})
	}
	wg.Wait()
	for i, e := range es {
		if runs[i].End.IsZero() {
			e.primed = false // its runner makes the first run
		}
	}
	return runs
}

func (m *Monitor) runner(ctx context.Context, e *entry) {
	// A fixed-rate ticker: runs start every interval whatever they last, which is what makes the
	// detection bound failure_threshold × interval + timeout hold (see the package comment).
	ticker := time.NewTicker(e.check.Interval)
	defer ticker.Stop()
	for first := true; ; first = false {
		if !first || !e.primed {
			m.runOnce(ctx, e)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (m *Monitor) runOnce(ctx context.Context, e *entry) {
	run, ok := m.execute(ctx, e)
	if !ok {
		return
	}
	m.record(e, run)
	if m.onRun != nil {
		m.onRun(run)
	}
}

// runEndedKey carries, in a run's context, the channel its goroutine closes when it returns (runGuarded).
type runEndedKey struct{}

// execute makes one run of e's check; ok is false when ctx ended meanwhile.
func (m *Monitor) execute(ctx context.Context, e *entry) (run Run, ok bool) {
	start := time.Now()
	ended := make(chan struct{})
	res := e.checker.Check(context.WithValue(ctx, runEndedKey{}, ended))
	end := time.Now()
	if ctx.Err() != nil {
		// Stopping: a run cut short by our own shutdown says nothing about the dependency. The engine
		// returns on a cancelled context at once, while the run winds down in its own goroutine (a driver
		// closing its connection); the check may be closed as soon as its runner has returned (Replace's
		// dropped checks, every check after Run), and a check is not closed under a run: a grpc check kept
		// that run's HTTP/2 connection for good. So wait for the run, as long as a run may last.
		t := time.NewTimer(e.check.Timeout + backstop(e.check))
		defer t.Stop()
		select {
		case <-ended:
		case <-t.C:
		}
		return Run{}, false
	}
	err := res.Details[e.check.Name].Error
	if err == health.CheckTimeoutErr {
		err = &checks.Error{Class: checks.Timeout, Err: fmt.Errorf("no result within %s (the check did not honour its deadline)", e.check.Timeout)}
	}
	stack := checks.PanicStack(err)
	if stack != "" && !e.panicked {
		// Through the writer, as every line: a stalled log output must not hold this runner.
		m.mu.Lock()
		m.queue(logLines{{slog.LevelError, "check panicked", []any{"check", e.check.Name, "type", e.check.Type, "stack", stack}}})
		m.mu.Unlock()
	}
	e.panicked = stack != ""
	run = Run{Check: e.check, Err: err, Duration: end.Sub(start), End: end}
	if o, isOverlap := errors.AsType[*overlapError](err); isOverlap {
		run.Overlapped, run.Duration = true, o.since
	}
	if err != nil {
		run.Class = checks.ClassOf(err)
	}
	return run, true
}

// overlapError is the failure of a run refused because the check's previous run has not returned.
type overlapError struct{ since time.Duration }

func (e *overlapError) Error() string {
	return fmt.Sprintf("the previous run has not returned (running for %s)", e.since.Round(time.Millisecond))
}

// runGuarded is the function the engine executes: at most one run of a check in flight. (A panic in
// the check is its failure of class panic: checks.Check.Run recovers it.)
func (e *entry) runGuarded(ctx context.Context) error {
	if ended, ok := ctx.Value(runEndedKey{}).(chan struct{}); ok {
		defer close(ended) // last: the run has returned
	}
	if !e.inFlight.CompareAndSwap(false, true) {
		since := time.Since(time.Unix(0, e.runStart.Load()))
		return &checks.Error{Class: checks.Timeout, Err: &overlapError{since}}
	}
	defer e.inFlight.Store(false)
	e.runStart.Store(time.Now().UnixNano())
	return e.check.Run(ctx)
}

// record applies one run to e's tracker, and publishes a snapshot only if the run changed something a
// probe sees (e.tracker.status.seen): most runs of a healthy service change nothing but the per-run
// figures, which e's tracker stores where Latest reads them and the heartbeat publishes. So a run costs
// the same whatever the number of checks: publishing copies every check's status and makes the next
// probe render again, and doing that on every run made the whole cost grow with the square of the
// checks (docs/design.md §6).
func (m *Monitor) record(e *entry, run Run) {
	var lines logLines
	m.mu.Lock()
	was := e.tracker.status.seen()
	stateChanged, reasonChanged := e.tracker.observe(run.Err, run.Duration, run.End)
	lines.change(e, stateChanged, reasonChanged, run.Duration)
	m.fleetAfterRecord(e, &lines)
	if e.tracker.status.seen() != was {
		before := m.snap.Load()
		lines.readiness(before, m.publishLocked(run.End))
	} else {
		m.figuresBehind = true
	}
	m.queue(lines)
	m.mu.Unlock()
}

func (m *Monitor) heartbeatLoop(ctx context.Context) {
	ticker := time.NewTicker(m.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			var lines logLines
			m.mu.Lock()
			before := m.snap.Load()
			changed := false
			for _, e := range m.entries {
				if e.tracker.checkStale(now) {
					changed = true
					lines.change(e, true, true, 0)
					m.fleetAfterRecord(e, &lines)
				}
			}
			if changed || m.figuresBehind {
				// A state change, or runs whose figures (last run, duration) are not published yet:
				// those are published at most once per heartbeat, however many checks ran since, so
				// a snapshot's figures are at most a heartbeat old and publishing them costs O(checks)
				// per heartbeat, not per run.
				lines.readiness(before, m.publishLocked(now))
			}
			m.queue(lines)
			m.mu.Unlock()
			m.beat.Store(int64(now.Sub(m.epoch)))
		}
	}
}

// logLines are the lines decided under m.mu and written after it is released.
type logLines []logLine

type logLine struct {
	level slog.Level
	msg   string
	attrs []any
}

func (ls *logLines) add(level slog.Level, msg string, attrs ...any) {
	*ls = append(*ls, logLine{level, msg, attrs})
}

func (ls logLines) emit(log *slog.Logger) {
	for _, l := range ls {
		log.Log(context.Background(), l.level, l.msg, l.attrs...)
	}
}

// change adds the one line per state change (or reason change while not passing) that
// docs/design.md §2 describes; the error is already redacted by the check.
func (ls *logLines) change(e *entry, stateChanged, reasonChanged bool, dur time.Duration) {
	if !stateChanged && !reasonChanged {
		return
	}
	s := e.tracker.status
	attrs := []any{"check", s.Name, "type", s.Type, "target", s.Target, "critical", s.Critical, "duration", dur.Round(time.Microsecond)}
	switch {
	case s.State == Passing:
		ls.add(slog.LevelInfo, "check passing", attrs...)
	case s.Class == checks.Stale || s.Class == checks.Panic:
		ls.add(slog.LevelError, "check failing", append(attrs, "reason", s.Class, "error", s.Err, "hint", s.Hint)...)
	case stateChanged:
		ls.add(slog.LevelWarn, "check failing", append(attrs, "reason", s.Class, "error", s.Err, "hint", s.Hint)...)
	default:
		ls.add(slog.LevelWarn, "check still failing, for another reason", append(attrs, "reason", s.Class, "error", s.Err, "hint", s.Hint)...)
	}
}

func (ls *logLines) readiness(before, after *Snapshot) {
	if before.Ready == after.Ready && before.Started == after.Started {
		return
	}
	if after.Started && !before.Started {
		ls.add(slog.LevelInfo, "start-up complete: every critical check has passed once")
	}
	if before.Ready != after.Ready {
		if after.Ready {
			ls.add(slog.LevelInfo, "ready", "status", after.Status)
		} else {
			ls.add(slog.LevelWarn, "not ready", "failing", after.failingNames())
		}
	}
}

// publishLocked builds and publishes a new snapshot from the trackers; m.mu must be held (or the
// monitor not yet shared).
func (m *Monitor) publishLocked(now time.Time) *Snapshot {
	s := &Snapshot{At: now, ShuttingDown: m.shuttingDown, Checks: make([]CheckStatus, len(m.entries)), index: m.index, next: make(chan struct{})}
	for i, e := range m.entries {
		s.Checks[i] = e.tracker.status
	}
	s.summarize()
	s.Started = s.Started || m.started
	m.started = s.Started
	m.figuresBehind = false
	if old := m.snap.Swap(s); old != nil {
		close(old.next)
	}
	return s
}
