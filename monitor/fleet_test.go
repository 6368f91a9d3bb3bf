package monitor

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

func TestDecide(t *testing.T) {
	const ratio, minPods = 0.5, 3
	tests := []struct {
		name           string
		wasOpen        bool
		lost           int
		heard, failing int
		wantOpen       bool
		wantLost       int
	}{
		{"alone: local truth", false, 0, 1, 1, false, 0},
		{"two pods cannot tell", false, 0, 2, 2, false, 0},
		{"min_pods reached, all failing", false, 0, 3, 3, true, 0},
		{"at the ratio opens", false, 0, 4, 2, true, 0},
		{"below the ratio stays closed", false, 0, 5, 2, false, 0},
		{"3 of 5 opens", false, 0, 5, 3, true, 0},
		{"open: 2 of 5 (0.4 = 0.8 × ratio) stays open", true, 0, 5, 2, true, 0},
		{"open: 1 of 5 closes (the odd one out)", true, 0, 5, 1, false, 0},
		{"open: a round without quorum is tolerated once", true, 0, 1, 1, true, 1},
		{"open: a second round without quorum closes", true, 1, 2, 2, false, 0},
		{"open: quorum back resets the count", true, 1, 5, 5, true, 0},
		{"closed: no quorum stays closed", false, 0, 2, 2, false, 0},
		// Without quorum, but the peers heard all see it passing: the odd one out closes at once, as with
		// quorum; it sat out one more round as a weak one.
		{"open: peers heard without quorum, none failing, closes at once", true, 0, 2, 1, false, 0},
		{"open: no peer heard at all is a weak round", true, 0, 1, 1, true, 1},
		// A sample of a large fleet that drew mostly passing pods, while others still fail.
		{"open: below the band with a peer failing is tolerated once", true, 0, 11, 3, true, 1},
		{"open: a second round below the band closes", true, 1, 11, 3, false, 0},
		{"open: a weak round, then a strong one, resets the count", true, 1, 11, 6, true, 0},
		{"open: no peer failing closes at once, weak rounds or not", true, 0, 11, 1, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open, lost := decide(tc.wasOpen, tc.lost, tc.heard, tc.failing, minPods, ratio)
			if open != tc.wantOpen || lost != tc.wantLost {
				t.Fatalf("decide(open=%v, lost=%d, heard=%d, failing=%d) = %v, %d; want %v, %d",
					tc.wasOpen, tc.lost, tc.heard, tc.failing, open, lost, tc.wantOpen, tc.wantLost)
			}
		})
	}
}

// TestNeverAloneOpen: a pod never fails open on its own failure alone, whatever min_pods and the ratio
// allow: with min_pods 2, one passing peer heard made 1 of 2, the default ratio; with ratio 0.2, 1 of 5.
func TestNeverAloneOpen(t *testing.T) {
	for _, tc := range []struct {
		heard, minPods int
		ratio          float64
	}{{2, 2, 0.5}, {5, 3, 0.2}, {3, 2, 0.3}} {
		for _, wasOpen := range []bool{false, true} {
			if open, _ := decide(wasOpen, 0, tc.heard, 1, tc.minPods, tc.ratio); open {
				t.Errorf("decide(open=%v, heard=%d, failing=1, min_pods=%d, ratio=%g) opens: only this pod fails", wasOpen, tc.heard, tc.minPods, tc.ratio)
			}
		}
	}
	if open, _ := decide(false, 0, 2, 2, 2, 0.5); !open {
		t.Error("min_pods 2: this pod and its one peer failing should open")
	}
}

// TestSampledOutage: a steady outage of 30 of 50 pods, each round asking a random 10 peers (the README's
// cost figure), seldom flips a failing pod in and out: an unlucky sample is one weak round, and only two
// in a row close it. Before weak rounds below the band were tolerated, such a pod closed on about 4% of
// rounds (7,903 flips in 100,000 rounds, against 309 now; about 160 and 6 in these 2,000).
func TestSampledOutage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	peers := make([]bool, 49) // the others: 29 failing, 20 passing
	for i := range 29 {
		peers[i] = true
	}
	open, weak, flips := false, 0, 0
	for round := range 2000 {
		rng.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
		failing := 1
		for _, f := range peers[:10] {
			if f {
				failing++
			}
		}
		next, w := decide(open, weak, 11, failing, 3, 0.5)
		if round > 0 && next != open {
			flips++
		}
		open, weak = next, w
	}
	if flips > 20 {
		t.Fatalf("the verdict flipped %d times in 2000 rounds of a steady 60%% outage; want at most 20", flips)
	}
}

// TestHysteresis: a share that hovers at the threshold round after round does not flip the verdict.
func TestHysteresis(t *testing.T) {
	open, lost, flips := false, 0, 0
	// 10 pods heard, failing alternating 5, 4, 5, 4, ...: 0.5 then 0.4 against ratio 0.5.
	for i := range 20 {
		failing := 5 - i%2
		next, l := decide(open, lost, 10, failing, 3, 0.5)
		if next != open {
			flips++
		}
		open, lost = next, l
	}
	if flips != 1 || !open {
		t.Fatalf("verdict flipped %d times (open=%v); want it to open once and stay open", flips, open)
	}
}

// fakePeers answers every round with the counts it holds, and counts the rounds.
type fakePeers struct {
	mu                sync.Mutex
	answered, failing int
	rounds            atomic.Int64
	checks            []string
}

func (f *fakePeers) set(answered, failing int) {
	f.mu.Lock()
	f.answered, f.failing = answered, failing
	f.mu.Unlock()
}

func (f *fakePeers) Ask(ctx context.Context, check string) (int, int) {
	f.rounds.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, check)
	return f.answered, f.failing
}

func sharedSpec(name string) config.Check {
	c := spec(name, 50*time.Millisecond, 20*time.Millisecond, 1, 1)
	c.Scope = config.ScopeShared
	return c
}

func startFleet(t *testing.T, peers Peers, cs ...*checks.Check) *Monitor {
	t.Helper()
	return startFleetLogging(t, peers, nil, cs...)
}

// startFleetLogging is startFleet with the monitor's log written to log (discarded when nil).
func startFleetLogging(t *testing.T, peers Peers, log *checktest.Buffer, cs ...*checks.Check) *Monitor {
	t.Helper()
	opts := Options{Heartbeat: 20 * time.Millisecond, Fleet: &Fleet{Peers: peers, Ratio: 0.5, MinPods: 3, Timeout: 20 * time.Millisecond}}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	m := New(cs, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

func TestFailOpen(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	peers := &fakePeers{}
	// Two failures to fail: one run timed out by a stalled machine must not wake a round while the
	// dependency is up (the zero-rounds assertion below).
	dbSpec := sharedSpec("db")
	dbSpec.FailureThreshold = 2
	db := checks.Func(dbSpec, func(context.Context) error {
		if up.Load() {
			return nil
		}
		return errRefused
	})
	var log checktest.Buffer
	m := startFleetLogging(t, peers, &log, db)
	waitFor(t, m, "ready", func(s *Snapshot) bool { return s.Ready && s.Status == Pass })
	time.Sleep(200 * time.Millisecond) // four intervals, all passing
	if n := peers.rounds.Load(); n != 0 {
		t.Fatalf("%d fleet rounds while the check passes; want none (a healthy fleet sends no fleet traffic)", n)
	}

	// Alone: the peers see it passing. Local truth: not ready.
	peers.set(4, 0)
	up.Store(false)
	s := waitFor(t, m, "not ready", func(s *Snapshot) bool { return !s.Ready })
	if c, _ := s.Lookup("db"); c.FailOpen {
		t.Fatal("fails open while every peer sees the check passing")
	}
	// The fleet sees it too: fail open, degraded, the local state still failing.
	peers.set(4, 4)
	s = waitFor(t, m, "fail open", func(s *Snapshot) bool { return s.Ready })
	c, _ := s.Lookup("db")
	if !c.FailOpen || c.State != Failing || c.FleetHeard != 5 || c.FleetFailing != 5 || s.Status != Warn || !s.Degraded {
		t.Fatalf("fail open: ready=%v status=%s degraded=%v check=%+v; want ready, warn, degraded, failing on 5 of 5", s.Ready, s.Status, s.Degraded, *c)
	}
	if !s.Started {
		t.Fatal("started went back")
	}
	// The fleet recovers, this pod does not: the odd one out leaves.
	peers.set(4, 0)
	s = waitFor(t, m, "local truth again", func(s *Snapshot) bool { return !s.Ready })
	if c, _ := s.Lookup("db"); c.FailOpen || c.FleetHeard != 0 {
		t.Fatalf("check still marked failing open: %+v", *c)
	}
	// Everyone fails again, then this pod recovers: passing at once, fail-open cleared.
	peers.set(4, 4)
	waitFor(t, m, "fail open again", func(s *Snapshot) bool { return s.Ready && s.Status == Warn })
	up.Store(true)
	s = waitFor(t, m, "passing", func(s *Snapshot) bool { return s.Status == Pass })
	if c, _ := s.Lookup("db"); c.FailOpen || !s.Ready || s.Degraded {
		t.Fatalf("after recovery: %+v ready=%v degraded=%v", *c, s.Ready, s.Degraded)
	}
	// Each start and stop of failing open is one line with the round's counts.
	for _, want := range []string{
		`msg="check failing open: most of the fleet sees it failing; /readyz stays 200 (warn)" check=db failing=5 heard=5`,
		`msg="check stopped failing open: no other pod heard from sees it failing; the local truth holds" check=db failing=1 heard=5`,
		`msg="check stopped failing open: it passes again" check=db failing=5 heard=5`,
	} {
		checktest.Eventually(t, 2*time.Second, "the line "+want, func() bool { return strings.Contains(log.String(), want) })
	}
	peers.mu.Lock() // a round may still be under way
	asked := slices.Clone(peers.checks)
	peers.mu.Unlock()
	for _, name := range asked {
		if name != "db" {
			t.Fatalf("peers asked about %q", name)
		}
	}
}

// TestStartedDuringOutage: a pod that starts while the whole fleet sees the shared dependency failing fails
// open on /readyz like the others, but has not started: /startupz (and so wait) keep it out until the
// dependency has answered once. A new pod must not begin serving on a dependency it has never reached.
func TestStartedDuringOutage(t *testing.T) {
	peers := &fakePeers{}
	peers.set(4, 4)
	db := checks.Func(sharedSpec("db"), func(context.Context) error { return errRefused })
	m := startFleet(t, peers, db)
	s := waitFor(t, m, "fail open", func(s *Snapshot) bool { return s.Ready })
	if c, _ := s.Lookup("db"); !c.FailOpen || c.EverPassed || s.Started {
		t.Fatalf("started during the outage: started=%v check=%+v; want failing open, never passed, not started", s.Started, *c)
	}
}

// TestLocalNeverFailsOpen: only a shared critical check asks peers or fails open.
func TestLocalNeverFailsOpen(t *testing.T) {
	peers := &fakePeers{}
	peers.set(9, 9)
	local := checks.Func(spec("cache", 50*time.Millisecond, 20*time.Millisecond, 1, 1), func(context.Context) error { return errRefused })
	optional := sharedSpec("search")
	optional.Critical = false
	nonCritical := checks.Func(optional, func(context.Context) error { return errRefused })
	m := startFleet(t, peers, local, nonCritical)
	waitFor(t, m, "both failing", func(s *Snapshot) bool {
		return s.Checks[0].State == Failing && s.Checks[1].State == Failing
	})
	time.Sleep(300 * time.Millisecond) // failing on: several runs in which neither may fail open
	s := m.Snapshot()
	if s.Ready || s.Checks[0].FailOpen || s.Checks[1].FailOpen {
		t.Fatalf("a local (or non-critical) check failed open: ready=%v %+v", s.Ready, s.Checks)
	}
	if n := peers.rounds.Load(); n != 0 {
		t.Fatalf("%d fleet rounds for checks that are not shared and critical; want none", n)
	}
}

// TestLostQuorum: a fail-open check whose peers stop answering falls back to the local truth within
// two rounds.
func TestLostQuorum(t *testing.T) {
	peers := &fakePeers{}
	peers.set(4, 4)
	db := checks.Func(sharedSpec("db"), func(context.Context) error { return errRefused })
	m := startFleet(t, peers, db)
	waitFor(t, m, "fail open", func(s *Snapshot) bool { return s.Ready && s.Checks[0].FailOpen })
	peers.set(0, 0)
	waitFor(t, m, "local truth", func(s *Snapshot) bool { return !s.Ready && !s.Checks[0].FailOpen })
}

// TestRoundsFollowRuns: while a shared check fails, the peers are asked once per run (once per interval),
// not more, even when the runs' durations vary: the fallback ticker must not race the runs' wakes (it did
// at one interval: a slow run let the ticker fire first, and its wake made a second round right after).
func TestRoundsFollowRuns(t *testing.T) {
	peers := &fakePeers{}
	peers.set(4, 4)
	var runs atomic.Int64
	c := spec("db", 100*time.Millisecond, 60*time.Millisecond, 1, 1)
	c.Scope = config.ScopeShared
	db := checks.Func(c, func(ctx context.Context) error {
		if runs.Add(1)%2 == 0 { // every other run takes 40 ms: the run ends jitter by that much
			select {
			case <-ctx.Done():
			case <-time.After(40 * time.Millisecond):
			}
		}
		return errRefused
	})
	m := startFleet(t, peers, db)
	waitFor(t, m, "fail open", func(s *Snapshot) bool { return s.Checks[0].FailOpen })
	runs0, rounds0 := runs.Load(), peers.rounds.Load()
	time.Sleep(1500 * time.Millisecond)
	dRuns, dRounds := runs.Load()-runs0, peers.rounds.Load()-rounds0
	if dRuns < 5 {
		t.Fatalf("only %d runs in 1.5 s at a 100 ms interval", dRuns)
	}
	if dRounds > dRuns+2 {
		t.Fatalf("%d fleet rounds for %d failing runs; want at most one per run", dRounds, dRuns)
	}
	if dRounds < dRuns/2 {
		t.Fatalf("%d fleet rounds for %d failing runs; want about one per run", dRounds, dRuns)
	}
}

// TestReplaceWhileFailingOpen: a reload that changes a check failing open keeps the fleet's verdict
// while the new check still fails and is still shared (no 503 until the next round), and a check that
// stops failing open because a reload changed it to local, or removed it, says so in the log, as the
// fleet's own decisions do (docs/design.md §10, §11).
func TestReplaceWhileFailingOpen(t *testing.T) {
	peers := &fakePeers{}
	peers.set(4, 4)
	refused := func(context.Context) error { return errRefused }
	fleet := &Fleet{Peers: peers, Ratio: 0.5, MinPods: 3, Timeout: 20 * time.Millisecond}
	var log checktest.Buffer
	m := startFleetLogging(t, peers, &log, checks.Func(sharedSpec("db"), refused), checks.Func(sharedSpec("cache"), refused))
	waitFor(t, m, "both failing open", func(s *Snapshot) bool { return s.Ready && s.Checks[0].FailOpen && s.Checks[1].FailOpen })

	// db changed (still shared, still failing): it enters failing open, so /readyz never turns 503.
	rounds := peers.rounds.Load()
	m.Replace([]*checks.Check{checks.Func(sharedSpec("db"), refused), checks.Func(sharedSpec("cache"), refused)}, fleet)
	s := m.Snapshot()
	if c, _ := s.Lookup("db"); !s.Ready || !c.FailOpen || c.State != Failing || c.FleetHeard != 5 {
		t.Fatalf("right after a reload changed db: ready=%v %+v; want still failing open on 5 pods heard", s.Ready, *c)
	}
	checktest.Eventually(t, 2*time.Second, "a fleet round for the new db", func() bool { return peers.rounds.Load() > rounds })
	if s := m.Snapshot(); !s.Ready {
		t.Fatal("not ready after the new db's first round; the fleet still sees it failing")
	}

	// db made local: it cannot fail open any more, and the log says it stopped; cache removed.
	local := sharedSpec("db")
	local.Scope = config.ScopeLocal
	m.Replace([]*checks.Check{checks.Func(local, refused)}, fleet)
	s = m.Snapshot()
	if c, _ := s.Lookup("db"); s.Ready || c.FailOpen {
		t.Fatalf("a local db failing: ready=%v %+v; want not ready, not failing open", s.Ready, *c)
	}
	for _, want := range []string{
		`msg="check stopped failing open: a configuration reload changed the check; its own state is failing" check=db failing=5 heard=5`,
		`msg="check stopped failing open: the check was removed by a configuration reload" check=cache failing=5 heard=5`,
	} {
		checktest.Eventually(t, 2*time.Second, "the line "+want, func() bool { return strings.Contains(log.String(), want) })
	}
	if n := strings.Count(log.String(), "stopped failing open"); n != 2 {
		t.Errorf("%d lines about stopping to fail open; want 2:\n%s", n, log.String())
	}
}

// heldPeers answers a round only when released, as a round whose peers answer late does.
type heldPeers struct {
	asked   chan struct{}
	release chan struct{}
}

func (h *heldPeers) Ask(ctx context.Context, _ string) (int, int) {
	select {
	case h.asked <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
		return 4, 4
	case <-ctx.Done():
		return 0, 0
	}
}

// TestReloadDuringRound: a round under way when a reload replaces the fleet section (the check kept) is
// not applied: its answers were weighed against the old settings, and an operator who raised min_pods to
// send the pods out saw the check open on that round, then stay open one weak round more.
func TestReloadDuringRound(t *testing.T) {
	held := &heldPeers{asked: make(chan struct{}, 1), release: make(chan struct{})}
	db := checks.Func(sharedSpec("db"), func(context.Context) error { return errRefused })
	m := New([]*checks.Check{db}, Options{Heartbeat: 20 * time.Millisecond,
		Fleet: &Fleet{Peers: held, Ratio: 0.5, MinPods: 3, Timeout: 5 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-held.asked:
	case <-time.After(5 * time.Second):
		t.Fatal("no round")
	}
	// The fleet section changes: min_pods 6, more than the held round hears (5).
	after := &fakePeers{}
	after.set(4, 4)
	m.Replace([]*checks.Check{db}, &Fleet{Peers: after, Ratio: 0.5, MinPods: 6, Timeout: 20 * time.Millisecond})
	close(held.release) // the old round's answers: 5 of 5 failing, enough for min_pods 3
	checktest.Eventually(t, 2*time.Second, "a round under the new settings", func() bool { return after.rounds.Load() > 0 })
	if s := m.Snapshot(); s.Checks[0].FailOpen || s.Ready {
		t.Fatalf("failing open on a round asked before the reload: %+v", s.Checks[0])
	}
}

// TestReplacedPassingStopsFailingOpenOnce: a reload that changes a check failing open, whose new
// configuration passes at its first run, stops failing open with one line ("it passes again"), as a run
// that passes does; it logged a second one for the same change, that the reload changed the check.
func TestReplacedPassingStopsFailingOpenOnce(t *testing.T) {
	peers := &fakePeers{}
	peers.set(4, 4)
	fleet := &Fleet{Peers: peers, Ratio: 0.5, MinPods: 3, Timeout: 20 * time.Millisecond}
	var log checktest.Buffer
	m := startFleetLogging(t, peers, &log, checks.Func(sharedSpec("db"), func(context.Context) error { return errRefused }))
	waitFor(t, m, "failing open", func(s *Snapshot) bool { return s.Ready && s.Checks[0].FailOpen })

	m.Replace([]*checks.Check{checks.Func(sharedSpec("db"), func(context.Context) error { return nil })}, fleet)
	if c := m.Snapshot().Checks[0]; c.State != Passing || c.FailOpen {
		t.Fatalf("after the reload: %+v; want passing, not failing open", c)
	}
	want := `msg="check stopped failing open: it passes again" check=db failing=5 heard=5`
	checktest.Eventually(t, 2*time.Second, "the line "+want, func() bool { return strings.Contains(log.String(), want) })
	if n := strings.Count(log.String(), "stopped failing open"); n != 1 {
		t.Errorf("%d lines about stopping to fail open; want 1:\n%s", n, log.String())
	}
}

// scriptedPeers answers each round with the counts the test sends, and says when a round asks.
type scriptedPeers struct {
	asked   chan struct{}
	answers chan [2]int
}

func (p *scriptedPeers) Ask(ctx context.Context, _ string) (int, int) {
	select {
	case p.asked <- struct{}{}:
	case <-ctx.Done():
		return 0, 0
	}
	select {
	case a := <-p.answers:
		return a[0], a[1]
	case <-ctx.Done():
		return 0, 0
	}
}

// TestReplaceKeepsWeakRound: a reload that changes a check failing open, which still fails, keeps the
// fleet's verdict, the weak round it is sitting out included: the round after the reload is the second
// weak one in a row and closes it. The new check started with no weak round, and a reload in each weak
// round kept a pod that had lost its peers failing open for good. Both ways a reload replaces a check:
// changed (its first run made by the reload) and retimed (its predecessor's state carried over).
func TestReplaceKeepsWeakRound(t *testing.T) {
	addr := checktest.ClosedAddr(t) // refused
	tcp := func(interval time.Duration) *checks.Check {
		c, err := checks.New(config.Check{Name: "db", Type: "tcp", Critical: true, Scope: config.ScopeShared, Interval: interval,
			Timeout: 20 * time.Millisecond, FailureThreshold: 1, SuccessThreshold: 1, Spec: config.SpecOf(map[string]any{"address": addr})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	refused := func(context.Context) error { return errRefused }
	for _, tc := range []struct {
		name        string
		first, next *checks.Check
	}{
		{"changed", checks.Func(sharedSpec("db"), refused), checks.Func(sharedSpec("db"), refused)},
		{"retimed", tcp(50 * time.Millisecond), tcp(60 * time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peers := &scriptedPeers{asked: make(chan struct{}), answers: make(chan [2]int)}
			fleet := &Fleet{Peers: peers, Ratio: 0.5, MinPods: 3, Timeout: 10 * time.Second}
			m := New([]*checks.Check{tc.first}, Options{Heartbeat: 20 * time.Millisecond, Fleet: fleet})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			asked := func() {
				t.Helper()
				select {
				case <-peers.asked:
				case <-time.After(5 * time.Second):
					t.Fatal("no round")
				}
			}
			round := func(answered, failing int) {
				t.Helper()
				asked()
				peers.answers <- [2]int{answered, failing}
			}
			round(4, 4) // opens
			round(0, 0) // no peer heard: a weak round, still open
			asked()     // the round before has been applied once the next one asks
			if c := m.Snapshot().Checks[0]; !c.FailOpen {
				t.Fatalf("after one weak round: %+v; want still failing open", c)
			}
			m.Replace([]*checks.Check{tc.next}, fleet) // the old round is called off
			if c := m.Snapshot().Checks[0]; !c.FailOpen {
				t.Fatalf("right after the reload: %+v; want still failing open", c)
			}
			round(0, 0) // the second weak round in a row: closes
			asked()
			if c := m.Snapshot().Checks[0]; c.FailOpen {
				t.Fatalf("after two weak rounds in a row, a reload between them: %+v; want the local truth", c)
			}
		})
	}
}
