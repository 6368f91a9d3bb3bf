package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errRefused = &checks.Error{Class: checks.Refused, Err: errors.New("connect: connection refused")}

func spec(name string, interval, timeout time.Duration, fails, succs int) config.Check {
	c := config.NewCheck(name, "func", "test", config.NewDefaults())
	c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold = interval, timeout, fails, succs
	return c
}

// TestThresholds drives the tracker with a clock of our own: no sleeping.
func TestThresholds(t *testing.T) {
	type step struct {
		fail bool
		want State
	}
	tests := []struct {
		name         string
		fails, succs int
		steps        []step
	}{
		{"first result decides: pass", 3, 2, []step{{false, Passing}}},
		{"first result decides: fail", 3, 2, []step{{true, Failing}}},
		{"one blip does not flap", 2, 1, []step{{false, Passing}, {true, Passing}, {false, Passing}, {true, Passing}, {true, Failing}}},
		{"recovers after success threshold", 1, 3, []step{{true, Failing}, {false, Failing}, {false, Failing}, {false, Passing}}},
		{"a failure resets the success streak", 1, 2, []step{{true, Failing}, {false, Failing}, {true, Failing}, {false, Failing}, {false, Passing}}},
		{"threshold 1 fails at once", 1, 1, []step{{false, Passing}, {true, Failing}, {false, Passing}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			tr := newTracker(checks.Func(spec("c", time.Second, 100*time.Millisecond, tc.fails, tc.succs), nil), now)
			if tr.status.State != Unknown {
				t.Fatalf("initial state %s; want unknown", tr.status.State)
			}
			for i, s := range tc.steps {
				now = now.Add(time.Second)
				var err error
				if s.fail {
					err = errRefused
				}
				tr.observe(err, time.Millisecond, now)
				if got := tr.status.State; got != s.want {
					t.Fatalf("after step %d (fail=%v): state %s; want %s", i, s.fail, got, s.want)
				}
				if got := tr.status.State == Failing; got != (tr.status.Class != "") {
					t.Fatalf("step %d: class %q with state %s", i, tr.status.Class, tr.status.State)
				}
			}
		})
	}
}

// TestRecoveringReason: a failing check held by success_threshold while its dependency passes again
// says so in its reason (class kept: it is not passing yet); it read the old failure's text alone, for
// runs on end, while the dependency answered. The next failure's text replaces it.
func TestRecoveringReason(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newTracker(checks.Func(spec("c", time.Second, 100*time.Millisecond, 1, 3), nil), now)
	step := func(err error) {
		now = now.Add(time.Second)
		tr.observe(err, time.Millisecond, now)
	}
	step(errRefused)
	failed := tr.status.Err
	for i, want := range []string{"1 of the 3 runs", "2 of the 3 runs"} {
		step(nil)
		if s := tr.status; s.State != Failing || s.Class != checks.Refused || !strings.HasPrefix(s.Err, failed) || !strings.Contains(s.Err, "passing again: "+want) {
			t.Fatalf("pass %d under success_threshold 3: %s %s %q; want failing, refused, %q and %q", i+1, s.State, s.Class, s.Err, failed, want)
		}
	}
	step(errRefused)
	if s := tr.status; s.Err != failed {
		t.Fatalf("failed again: %q; want the failure's text alone, %q", s.Err, failed)
	}
	step(nil)
	if s := tr.status; !strings.Contains(s.Err, "passing again: 1 of the 3 runs") {
		t.Fatalf("passed after the second failure: %q; want the streak counted anew", s.Err)
	}
	step(nil)
	step(nil)
	if s := tr.status; s.State != Passing || s.Err != "" {
		t.Fatalf("after 3 passes in a row: %s %q; want passing, no reason", s.State, s.Err)
	}
}

func TestStale(t *testing.T) {
	start := time.Unix(1000, 0)
	tr := newTracker(checks.Func(spec("c", time.Second, 200*time.Millisecond, 2, 1), nil), start)
	limit := 2*time.Second + 200*time.Millisecond
	if tr.checkStale(start.Add(limit)) {
		t.Fatal("stale at exactly 2 × interval + timeout; want only after")
	}
	if !tr.checkStale(start.Add(limit + time.Millisecond)) {
		t.Fatal("never ran for longer than the limit: want stale")
	}
	if tr.status.State != Failing || tr.status.Class != checks.Stale {
		t.Fatalf("state %s class %s; want failing/stale", tr.status.State, tr.status.Class)
	}
	// A run completes again: it counts towards recovery like any success.
	now := start.Add(5 * time.Second)
	tr.observe(nil, time.Millisecond, now)
	if tr.status.State != Passing {
		t.Fatalf("after a success: %s; want passing (success threshold 1)", tr.status.State)
	}
	if tr.checkStale(now.Add(time.Second)) {
		t.Fatal("stale one second after a run")
	}
}

// start runs a monitor until the test ends.
func start(t *testing.T, cs ...*checks.Check) *Monitor {
	t.Helper()
	m := New(cs, Options{Heartbeat: 20 * time.Millisecond})
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

// waitFor polls the snapshot until cond holds.
func waitFor(t *testing.T, m *Monitor, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := m.Snapshot()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last snapshot: %+v", what, s)
		}
		select {
		case <-s.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestAggregate(t *testing.T) {
	var dbUp, cacheUp atomic.Bool
	dbUp.Store(true)
	probe := func(up *atomic.Bool) func(context.Context) error {
		return func(context.Context) error {
			if up.Load() {
				return nil
			}
			return errRefused
		}
	}
	db := checks.Func(spec("db", 20*time.Millisecond, 10*time.Millisecond, 1, 1), probe(&dbUp))
	cacheSpec := spec("cache", 20*time.Millisecond, 10*time.Millisecond, 1, 1)
	cacheSpec.Critical = false
	cache := checks.Func(cacheSpec, probe(&cacheUp))
	m := start(t, db, cache)

	// db passing (a first run timed out by a stalled machine would make it fail until its next run).
	s := waitFor(t, m, "first results", func(s *Snapshot) bool { return s.Checks[1].State != Unknown && s.Checks[0].State == Passing })
	if !s.Ready || s.Status != Warn || !s.Degraded || !s.Started {
		t.Fatalf("db up, non-critical cache down: ready %v status %s degraded %v started %v; want true warn true true", s.Ready, s.Status, s.Degraded, s.Started)
	}
	dbUp.Store(false)
	s = waitFor(t, m, "db failing", func(s *Snapshot) bool { return !s.Ready })
	if s.Status != Fail || !s.Started {
		t.Errorf("critical down: status %s started %v; want fail, still started", s.Status, s.Started)
	}
	dbUp.Store(true)
	cacheUp.Store(true)
	s = waitFor(t, m, "all passing", func(s *Snapshot) bool { return s.Status == Pass })
	if !s.Ready || s.Degraded {
		t.Errorf("all up: %+v", s)
	}
	m.Shutdown()
	s = m.Snapshot()
	if s.Ready || !s.ShuttingDown || s.Status != Fail {
		t.Errorf("after Shutdown: ready %v shutting down %v status %s; want false true fail", s.Ready, s.ShuttingDown, s.Status)
	}
}

func TestUnknownUntilFirstResult(t *testing.T) {
	release := make(chan struct{})
	c := checks.Func(spec("slow", time.Second, 500*time.Millisecond, 1, 1), func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	m := start(t, c)
	s := m.Snapshot()
	if s.Ready || s.Started || s.Checks[0].State != Unknown {
		t.Fatalf("before any result: ready %v started %v state %s; want false false unknown", s.Ready, s.Started, s.Checks[0].State)
	}
	close(release)
	waitFor(t, m, "ready", func(s *Snapshot) bool { return s.Ready && s.Started })
}

func TestPanicIsAFailure(t *testing.T) {
	var n atomic.Int32
	// Deadlines generous enough that recovering the panic and taking its stack (slow under -race on a
	// loaded machine) never reads as the run overstaying them.
	c := checks.Func(spec("boom", 400*time.Millisecond, 200*time.Millisecond, 1, 1), func(context.Context) error {
		if n.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	m := start(t, c)
	s := waitFor(t, m, "first result", func(s *Snapshot) bool { return s.Checks[0].State != Unknown })
	if got := s.Checks[0]; got.State != Failing || got.Class != checks.Panic || !strings.Contains(got.Err, "panic: boom") {
		t.Fatalf("after a panic: %+v; want failing with reason panic", got)
	}
	waitFor(t, m, "recovery after the panic", func(s *Snapshot) bool { return s.Checks[0].State == Passing })
}

// TestDeadlineIgnored: a check that ignores its context still yields a timeout, no second run starts
// while it hangs, and nothing leaks once it returns.
func TestDeadlineIgnored(t *testing.T) {
	release := make(chan struct{})
	var running, maxRunning, calls atomic.Int32
	c := checks.Func(spec("stuck", 50*time.Millisecond, 20*time.Millisecond, 1, 1), func(context.Context) error {
		calls.Add(1)
		r := running.Add(1)
		defer running.Add(-1)
		for {
			old := maxRunning.Load()
			if r <= old || maxRunning.CompareAndSwap(old, r) {
				break
			}
		}
		<-release // ignores ctx on purpose
		return nil
	})
	m := start(t, c)
	s := waitFor(t, m, "a timeout", func(s *Snapshot) bool { return s.Checks[0].State == Failing })
	if s.Checks[0].Class != checks.Timeout {
		t.Errorf("class %s; want timeout", s.Checks[0].Class)
	}
	waitFor(t, m, "the in-flight guard to answer", func(s *Snapshot) bool {
		return strings.Contains(s.Checks[0].Err, "previous run has not returned")
	})
	close(release)
	waitFor(t, m, "recovery", func(s *Snapshot) bool { return s.Checks[0].State == Passing })
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("%d runs of one check were in flight at once; want at most 1", got)
	}
}

// TestDeadlineHonouredNearInterval: a check that honours its deadline, and takes a moment to return
// after it (a driver closing its connection), reports its own timeout however close its timeout is to
// its interval. The engine's margin was half the gap between the two (5 ms here, half a millisecond for
// timeout 999ms, interval 1s), so such a run read "the check did not honour its deadline", then "the
// previous run has not returned", with the kind's words and hint lost: an http check against a server
// that never answers did so, with timeout 999ms and interval 1s, from its third run on.
func TestDeadlineHonouredNearInterval(t *testing.T) {
	c := checks.Func(spec("slow", 300*time.Millisecond, 290*time.Millisecond, 1, 1), func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(30 * time.Millisecond) // winding down, as a driver closing its connection does
		return ctx.Err()
	})
	runs := make(chan Run, 100)
	runWith(t, Options{OnRun: func(r Run) {
		select {
		case runs <- r:
		default:
		}
	}}, c)
	for i := range 4 {
		var r Run
		select {
		case r = <-runs:
		case <-time.After(5 * time.Second):
			t.Fatal("no run reported in 5s")
		}
		if r.Overlapped || r.Class != checks.Timeout || !strings.Contains(r.Err.Error(), "no answer within 290ms") {
			t.Fatalf("run %d: %v (overlapped %v); want the check's own timeout, no answer within 290ms", i+1, r.Err, r.Overlapped)
		}
	}
}

// TestOverlappedRun: a run refused because the previous one has not returned is reported as such:
// Overlapped, with how long the hung run has been going as its duration and in its error, so the
// duration histogram can leave it out (it made no request; its ~0 s read as a fast dependency) and
// the operator reads how long the dependency has been hanging.
func TestOverlappedRun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	const timeout = 20 * time.Millisecond
	c := checks.Func(spec("stuck", 50*time.Millisecond, timeout, 1, 1), func(context.Context) error {
		<-release // ignores ctx on purpose
		return nil
	})
	runs := make(chan Run, 100)
	runWith(t, Options{Heartbeat: 20 * time.Millisecond, OnRun: func(r Run) {
		select {
		case runs <- r:
		default:
		}
	}}, c)
	var first time.Duration
	for n := 0; n < 3; {
		var r Run
		select {
		case r = <-runs:
		case <-time.After(5 * time.Second):
			t.Fatal("no run reported in 5s")
		}
		overlap := strings.Contains(fmt.Sprint(r.Err), "previous run has not returned")
		if overlap != r.Overlapped {
			t.Fatalf("run %+v: Overlapped %v, but its error says %q", r, r.Overlapped, r.Err)
		}
		if !overlap {
			continue
		}
		n++
		if r.Class != checks.Timeout {
			t.Errorf("overlapped run of class %s; want timeout", r.Class)
		}
		if !strings.Contains(r.Err.Error(), "running for ") {
			t.Errorf("overlapped run's error %q does not say for how long the previous run has been going", r.Err)
		}
		// The hung run started before the first one timed out, so it has been going at least that long,
		// and longer at each refusal.
		if r.Duration < timeout || r.Duration <= first {
			t.Errorf("overlapped run %d: duration %s; want the hung run's age, over the %s timeout and growing (last %s)", n, r.Duration, timeout, first)
		}
		first = r.Duration
	}
}

// TestStoppedRunsReturn: a check's client is closed once the monitor has let go of it (Replace's dropped
// checks, and every check once Run returns), and a client must not be closed under a run (checks.Check.Close):
// a grpc check closed while its run was in flight kept that run's HTTP/2 connection, with its reader,
// for as long as the server answered its pings. The engine returns on a cancelled run at once, so the
// monitor waits for the run itself, which winds down (a driver closing its connection) after it saw its
// context end.
func TestStoppedRunsReturn(t *testing.T) {
	windingDown := func(started chan<- struct{}, returned *atomic.Bool) func(context.Context) error {
		var once sync.Once
		return func(ctx context.Context) error {
			once.Do(func() { close(started) })
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond)
			returned.Store(true)
			return ctx.Err()
		}
	}
	c := spec("winding", 10*time.Second, 5*time.Second, 1, 1)

	t.Run("Replace", func(t *testing.T) {
		started := make(chan struct{})
		var returned atomic.Bool
		m := start(t, checks.Func(c, windingDown(started, &returned)))
		<-started
		if d := m.Replace(nil, nil); len(d) != 1 {
			t.Fatalf("dropped %v; want the check", names(d))
		}
		if !returned.Load() {
			t.Error("Replace returned a dropped check whose run had not returned")
		}
	})

	t.Run("Run", func(t *testing.T) {
		started := make(chan struct{})
		var returned atomic.Bool
		m := New([]*checks.Check{checks.Func(c, windingDown(started, &returned))}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		<-started
		cancel()
		<-done
		if !returned.Load() {
			t.Error("Run returned while a run was in flight")
		}
	})
}

// TestFixedRate: runs start every interval whatever they last (the detection bound depends on it).
func TestFixedRate(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	// Runs last 3/4 of the interval, so fixed delay and fixed rate are far apart (1.75 s against 1 s for
	// five intervals) and a loaded machine's scheduling delays cannot blur them.
	interval := 200 * time.Millisecond
	c := checks.Func(spec("steady", interval, 150*time.Millisecond, 1, 1), func(ctx context.Context) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		<-ctx.Done() // every run lasts its whole timeout
		return ctx.Err()
	})
	start(t, c)
	checktest.Poll(5*time.Second, 20*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(starts) >= 6
	})
	mu.Lock()
	defer mu.Unlock()
	if len(starts) < 6 {
		t.Fatalf("only %d runs in 5s", len(starts))
	}
	// Fixed delay would space starts by interval + timeout (350ms); fixed rate by interval (200ms).
	span := starts[5].Sub(starts[0])
	if span > 5*interval+400*time.Millisecond {
		t.Errorf("5 intervals took %s; want about %s (fixed rate, not interval + run time)", span, 5*interval)
	}
}

func TestChangedClosesOnPublish(t *testing.T) {
	m := New(nil, Options{})
	s := m.Snapshot()
	select {
	case <-s.Changed():
		t.Fatal("closed before any change")
	default:
	}
	m.Shutdown()
	select {
	case <-s.Changed():
	default:
		t.Fatal("not closed after a new snapshot")
	}
	if !m.Snapshot().ShuttingDown {
		t.Fatal("new snapshot does not say shutting down")
	}
}

func TestAlive(t *testing.T) {
	m := start(t)
	if !m.Alive(time.Now()) {
		t.Fatal("not alive while running")
	}
	if m.Alive(time.Now().Add(time.Minute)) {
		t.Fatal("alive with a heartbeat a minute old")
	}
}

func TestNoChecksIsReady(t *testing.T) {
	s := New(nil, Options{}).Snapshot()
	if !s.Ready || !s.Started || s.Status != Pass {
		t.Fatalf("no checks: %+v; want ready, started, pass", s)
	}
}

// blockedWriter is a log output that never takes a line until released: a stalled stderr pipe.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestBlockedLogDoesNotStall: while the log output is stalled, checks keep changing state and the
// heartbeat keeps beating (/livez and /readyz stay true); the lines are written once it drains.
func TestBlockedLogDoesNotStall(t *testing.T) {
	var n atomic.Int32
	c := checks.Func(spec("flappy", 10*time.Millisecond, 5*time.Millisecond, 1, 1), func(context.Context) error {
		if n.Add(1)%2 == 0 {
			return errRefused
		}
		return nil
	})
	m := startStalledLog(t, c)
	first := m.Snapshot()
	waitFor(t, m, "20 runs with the log stalled", func(*Snapshot) bool { return n.Load() >= 20 })
	if m.Snapshot() == first || !m.Alive(time.Now()) {
		t.Fatal("the snapshot or the heartbeat stopped while the log output was stalled")
	}
	// Alive allows a heartbeat 10 s old, so it holds here even with no beat since New: watch one beat.
	beat := m.beat.Load()
	if _, ok := checktest.Poll(5*time.Second, 5*time.Millisecond, func() bool { return m.beat.Load() != beat }); !ok {
		t.Fatal("the heartbeat stopped while the log output was stalled")
	}
}

// startStalledLog runs a monitor of c whose log output is stalled until the test ends (then drained).
func startStalledLog(t *testing.T, c *checks.Check) *Monitor {
	t.Helper()
	w := blockedWriter{release: make(chan struct{})}
	m := New([]*checks.Check{c}, Options{Heartbeat: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(w, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		close(w.release)
		cancel()
		<-done
	})
	return m
}

// TestBlockedLogPanics: a panicking check's stack goes through the log writer too, so a stalled log
// output neither stops that check's runs (it would go stale) nor holds Run's return at shutdown.
func TestBlockedLogPanics(t *testing.T) {
	var n atomic.Int32
	c := checks.Func(spec("boom", 100*time.Millisecond, 50*time.Millisecond, 1, 1), func(context.Context) error {
		n.Add(1)
		panic("boom")
	})
	m := startStalledLog(t, c)
	waitFor(t, m, "5 panicking runs with the log stalled", func(*Snapshot) bool { return n.Load() >= 5 })
	if c := m.Snapshot().Checks[0]; c.Class != checks.Panic {
		t.Fatalf("class %q (%s); want panic", c.Class, c.Err)
	}
}

// TestReplace: a reload keeps the entries of the checks it is given again (state, since, runner), starts
// an added one unknown and a changed one with its own first run, stops the dropped ones before
// returning them, and never takes start-up back.
func TestReplace(t *testing.T) {
	var keptRuns, goneRuns, oldRuns atomic.Int64
	// A run counts when its context is live: the engine may start the function of a run that was
	// cancelled when its check was dropped (alexliesenfeld/health runs it in a goroutine and returns
	// on the context), and that run sees its context done.
	counting := func(n *atomic.Int64, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if ctx.Err() == nil {
				n.Add(1)
			}
			return err
		}
	}
	// Two failures to fail: a run timed out by a stalled machine does not move the kept check's Since.
	crit := func(name string) config.Check {
		c := spec(name, 20*time.Millisecond, 10*time.Millisecond, 2, 1)
		c.Critical = true
		return c
	}
	kept := checks.Func(crit("kept"), counting(&keptRuns, nil))
	gone := checks.Func(crit("gone"), counting(&goneRuns, nil))
	changedOld := checks.Func(crit("changed"), counting(&oldRuns, nil))
	m := start(t, kept, gone, changedOld)
	before := waitFor(t, m, "every check passing", func(s *Snapshot) bool { return s.Ready && s.Started })
	keptSince := before.Checks[0].Since

	// The changed check runs more slowly than its predecessor: its first run ends after its interval
	// would have ticked, so a second run right after it (the runner not knowing the first was made)
	// would show in the count.
	var newRuns atomic.Int64
	var secondRunGap atomic.Int64 // from the start of the first run to that of the second
	var firstRunAt time.Time
	changedSpec := spec("changed", 200*time.Millisecond, 100*time.Millisecond, 1, 1)
	changedNew := checks.Func(changedSpec, func(ctx context.Context) error {
		switch newRuns.Add(1) { // runs of one check never overlap
		case 1:
			firstRunAt = time.Now()
		case 2:
			secondRunGap.Store(int64(time.Since(firstRunAt)))
		}
		select {
		case <-time.After(20 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	// The added check's first run waits too, so "unknown right after the reload" is not a race with a
	// run that ends at once (it flaked under load: the run finished before the snapshot was read); its
	// timeout is long, so its context does not end that wait either.
	addedGo := make(chan struct{})
	addedSpec := spec("added", time.Minute, 30*time.Second, 1, 1)
	addedSpec.Critical = true
	added := checks.Func(addedSpec, func(ctx context.Context) error {
		select {
		case <-addedGo:
		case <-ctx.Done():
		}
		return errRefused
	})
	dropped := m.Replace([]*checks.Check{changedNew, kept, added}, nil)

	if len(dropped) != 2 || !containsCheck(dropped, gone) || !containsCheck(dropped, changedOld) {
		t.Fatalf("dropped %v; want gone and the old changed", names(dropped))
	}
	goneAfter, oldAfter := goneRuns.Load(), oldRuns.Load()
	s := m.Snapshot()
	if got := names2(s); got != "changed,kept,added" {
		t.Fatalf("snapshot checks %s; want changed,kept,added (the new order)", got)
	}
	k, _ := s.Lookup("kept")
	if k.State != Passing || !k.Since.Equal(keptSince) {
		t.Errorf("kept check: %s since %v; want passing since %v (state kept)", k.State, k.Since, keptSince)
	}
	// The changed check made its first run before it was published: never unknown, so an edit of a
	// check that still passes does not flap /readyz (docs/design.md §11).
	if c, _ := s.Lookup("changed"); c.State != Passing || newRuns.Load() != 1 {
		t.Errorf("changed: %s after %d runs right after the reload; want passing after its one first run", c.State, newRuns.Load())
	}
	if c, _ := s.Lookup("added"); c.State != Unknown {
		t.Errorf("added: %s right after the reload; want unknown", c.State)
	}
	if _, ok := s.Lookup("gone"); ok {
		t.Error("gone is still in the snapshot")
	}
	if s.Ready || !s.Started {
		t.Errorf("ready=%v started=%v; want not ready (the added critical check unknown) but still started", s.Ready, s.Started)
	}
	if i, ok := s.Index("added"); !ok || s.Checks[i].Name != "added" {
		t.Errorf("Index(added) = %d, %v", i, ok)
	}

	runs := keptRuns.Load()
	close(addedGo)
	waitFor(t, m, "the added check failing", func(s *Snapshot) bool { c, _ := s.Lookup("added"); return c.State == Failing })
	checktest.Eventually(t, 5*time.Second, "the kept check to keep running", func() bool { return keptRuns.Load() > runs+2 })
	if s := m.Snapshot(); !s.Started {
		t.Error("start-up went back after a reload added a failing critical check")
	}
	// Its runner starts with a tick, not a second run at once: one run per interval from the first.
	checktest.Eventually(t, 5*time.Second, "the changed check's second run", func() bool { return newRuns.Load() >= 2 })
	if gap := time.Duration(secondRunGap.Load()); gap < changedSpec.Interval/2 {
		t.Errorf("the changed check ran again %v after its first run began; want about an interval (%v)", gap, changedSpec.Interval)
	}
	if goneRuns.Load() != goneAfter || oldRuns.Load() != oldAfter {
		t.Errorf("dropped checks ran after Replace returned: gone %d→%d, old changed %d→%d", goneAfter, goneRuns.Load(), oldAfter, oldRuns.Load())
	}

	// Replace before Run: the checks given run once Run starts.
	var lateRuns atomic.Int64
	m2 := New([]*checks.Check{gone}, Options{})
	if d := m2.Replace([]*checks.Check{checks.Func(crit("late"), counting(&lateRuns, nil))}, nil); len(d) != 1 || d[0] != gone {
		t.Fatalf("dropped %v before Run; want gone", names(d))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m2.Run(ctx); close(done) }()
	checktest.Eventually(t, 5*time.Second, "the late check to run", func() bool { return lateRuns.Load() > 0 })
	cancel()
	<-done
	// After Run, a changed check's first run is cut short at once: it stays unknown, never passing
	// on a run that did not happen.
	if d := m2.Replace([]*checks.Check{checks.Func(crit("late"), counting(&lateRuns, nil))}, nil); len(d) != 1 {
		t.Fatalf("dropped %v after Run; want late", names(d))
	}
	if c, _ := m2.Snapshot().Lookup("late"); c.State != Unknown {
		t.Errorf("a changed check replaced after Run: %s; want unknown (its first run was cut short)", c.State)
	}
}

// TestReplaceStalenessFromPublish: a check that enters with a reload is stale only when its own runner,
// started when the reload publishes it, has completed no run for 2 × interval + timeout. Measured from
// anything earlier, the first heartbeat after the reload could find it stale before its first run
// ended, fail it with reason stale (an ERROR line, healthgate_check_stale 1) and, for a critical
// check, fail /readyz: a retimed check whose predecessor last ran longer ago than the new timing's
// limit (its interval lowered from 10s to 1s, say), or an added check published after a changed
// check's first run took longer than that limit.
func TestReplaceStalenessFromPublish(t *testing.T) {
	tcp := func(interval, timeout time.Duration) *checks.Check {
		c, err := checks.New(config.Check{Name: "port", Type: "tcp", Critical: true, Interval: interval, Timeout: timeout,
			FailureThreshold: 1, SuccessThreshold: 1, Spec: config.SpecOf(map[string]any{"address": "db:5432"})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	// Retimed: the old check last passed 8s ago (its interval was 10s); the new one's limit is 2.5s.
	was := tcp(10*time.Second, time.Second)
	m := New([]*checks.Check{was}, Options{}) // not running: nothing runs but what Replace primes
	m.mu.Lock()
	m.entries[0].tracker.observe(nil, time.Millisecond, time.Now().Add(-8*time.Second))
	m.mu.Unlock()
	retimed := tcp(time.Second, 500*time.Millisecond)
	if !retimed.Retimes(was) {
		t.Fatal("not a retime")
	}
	m.Replace([]*checks.Check{retimed}, nil)
	if c, _ := m.Snapshot().Lookup("port"); c.State != Passing {
		t.Fatalf("retimed check: %s; want passing (carried over)", c.State)
	}
	if m.entries[0].tracker.checkStale(time.Now()) {
		t.Error("a retimed check is stale before its runner could make a run: its predecessor's last run is not its own")
	}

	// Added: published once the changed check's first run (400ms) ended; its limit is 250ms.
	slow := spec("slow", time.Second, 800*time.Millisecond, 1, 1)
	m2 := New([]*checks.Check{checks.Func(slow, func(context.Context) error { return nil })}, Options{})
	changed := checks.Func(slow, func(context.Context) error { time.Sleep(400 * time.Millisecond); return nil })
	added := checks.Func(spec("added", 100*time.Millisecond, 50*time.Millisecond, 1, 1), func(context.Context) error { return nil })
	m2.Replace([]*checks.Check{changed, added}, nil)
	if c, _ := m2.Snapshot().Lookup("slow"); c.State != Passing {
		t.Fatalf("changed check: %s; want passing (its first run made by Replace)", c.State)
	}
	if m2.entries[1].tracker.checkStale(time.Now()) {
		t.Error("an added check is stale as it is published: its limit counted from before the changed check's first run")
	}
}

func containsCheck(cs []*checks.Check, c *checks.Check) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func names(cs []*checks.Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func names2(s *Snapshot) string {
	var out []string
	for _, c := range s.Checks {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

// TestEveryCallRuns: each run the monitor asks of the engine is a real run of the check, even when the
// clock shows no time since the last one. alexliesenfeld/health skips a run, returning the last result,
// until time.Now() is past the last run's time, which it keeps on the wall clock alone: with its cache
// "disabled" (a period of 0), a wall clock stepped back by Δ would repeat the last verdict for Δ while
// the runs seemed to complete. In a synctest bubble the clock stands still unless every goroutine
// waits, as a stepped-back wall clock does for the engine.
func TestEveryCallRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		c := checks.Func(spec("db", time.Second, 100*time.Millisecond, 1, 1), func(context.Context) error {
			if runs.Add(1) > 1 {
				return errRefused
			}
			return nil
		})
		m := New([]*checks.Check{c}, Options{})
		before := time.Now()
		for i := range 3 {
			run, ok := m.execute(t.Context(), m.entries[0])
			if !ok {
				t.Fatalf("run %d: cut short", i+1)
			}
			if wantErr := i > 0; (run.Err != nil) != wantErr {
				t.Errorf("run %d: error %v; want an error: %t (the check's own answer, not the last one repeated)", i+1, run.Err, wantErr)
			}
		}
		if !time.Now().Equal(before) {
			t.Fatalf("the clock moved by %v: the test proves nothing", time.Since(before))
		}
		if n := runs.Load(); n != 3 {
			t.Errorf("the check ran %d times for 3 runs; want 3", n)
		}
		c.Close()
	})
}

// TestReplaceRetimedCarriesLatest: a retimed check carries its predecessor's state as of the reload's
// publish, not as of when Replace began. A run of the old check that ends while the reload waits for a
// changed check's first run is published; carrying the state from before it would undo it (a check
// that had come back would be published failing again) and drop it from the new check's streak.
func TestReplaceRetimedCarriesLatest(t *testing.T) {
	// Refused until the dependency comes back below. A FreePort's address: a port-0 listener's, closed,
	// can be taken meanwhile by any connection or listener the kernel gives an ephemeral port.
	addr := checktest.ClosedAddr(t)
	tcp := func(interval, timeout time.Duration, succs int) *checks.Check {
		c, err := checks.New(config.Check{Name: "port", Type: "tcp", Critical: true, Interval: interval, Timeout: timeout,
			FailureThreshold: 1, SuccessThreshold: succs, Spec: config.SpecOf(map[string]any{"address": addr})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	was := tcp(50*time.Millisecond, 25*time.Millisecond, 1)
	slowSpec := spec("slow", time.Minute, 30*time.Second, 1, 1)
	m := start(t, was, checks.Func(slowSpec, func(context.Context) error { return nil }))
	waitFor(t, m, "the port failing", func(s *Snapshot) bool { c, _ := s.Lookup("port"); return c.State == Failing })

	// The retimed check needs two successes to pass: one run of its own is not enough.
	retimed := tcp(5*time.Second, time.Second, 2)
	if !retimed.Retimes(was) {
		t.Fatal("not a retime")
	}
	entered, release := make(chan struct{}), make(chan struct{})
	changed := checks.Func(slowSpec, func(ctx context.Context) error {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	replaced := make(chan struct{})
	go func() { m.Replace([]*checks.Check{retimed, changed}, nil); close(replaced) }()
	<-entered
	// While the reload waits for the changed check's first run, the dependency comes back and the old
	// check's runner publishes it passing.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	waitFor(t, m, "the old check passing", func(s *Snapshot) bool { c, _ := s.Lookup("port"); return c.State == Passing })
	close(release)
	<-replaced
	if c, _ := m.Snapshot().Lookup("port"); c.State != Passing {
		t.Fatalf("retimed check right after the reload: %s (%s); want passing, as its predecessor last published", c.State, c.Err)
	}
}
