package monitor

import (
	"context"
	"log/slog"
	"time"
)

// Fleet-aware readiness (docs/design.md §10). A shared critical check that fails locally asks a
// sample of the other pods, once per interval, whether they see it failing too; when most of the pods
// heard from do, the check fails open: /readyz stays 200 with status warn, so an outage every pod sees
// does not empty the Service, while a pod that fails alone is still taken out. The check's own state
// (/readyz/{name}, metrics, logs) keeps telling the local truth. The monitor knows nothing about how
// peers are asked: Peers is the server's HTTP client in production and a fake in unit tests.

// Peers asks the other pods of the fleet for their local state of one check.
type Peers interface {
	// Ask asks a sample of peers, in parallel and within ctx, about the named check. answered counts
	// the peers (never this process) that reported the check passing or failing; failing counts those
	// that reported it failing. A peer that did not answer in time, was refused, or does not have the
	// check is not counted.
	Ask(ctx context.Context, check string) (answered, failing int)
}

// Fleet configures fail-open; nil in Options turns it off.
type Fleet struct {
	Peers Peers
	// Ratio: fail open when failing/heard ≥ Ratio (self included in both).
	Ratio float64
	// MinPods: never fail open with fewer pods heard from (self included).
	MinPods int
	// Timeout bounds one round of requests.
	Timeout time.Duration
}

// The thresholds and the hysteresis (docs/design.md §10), so a share that hovers at the threshold, or
// a sample's noise, does not flip a pod every round:
//   - a pod never fails open on its own failure alone: at least one peer heard must see the check
//     failing too (with min_pods: 2, one passing peer would otherwise make 1 of 2, the ratio);
//   - a check enters fail-open when heard ≥ MinPods and failing/heard ≥ Ratio, and leaves it when the
//     share falls below leaveFactor × Ratio (0.4 for the default 0.5): at 5 pods, 3 failing opens and
//     2 failing keeps it open; when peers are heard and none sees it failing (the fleet recovered,
//     this pod did not), it closes at once, with quorum or without;
//   - a check failing open survives one weak round: one that hears fewer than MinPods pods (a peer
//     restarting, a dropped packet), or one below the band while a peer still sees it failing (a
//     sample of a large fleet that drew mostly passing pods); a second in a row closes it. So a fleet
//     that lost its peers falls back to the local truth within two rounds, and neither one lost round
//     nor one unlucky sample empties the Service.
const leaveFactor = 0.8

// weakRoundsTolerated is how many weak rounds in a row a fail-open check survives.
const weakRoundsTolerated = 1

// fleetState is one check's fail-open bookkeeping; guarded by Monitor.mu.
type fleetState struct {
	weakRounds int
}

// decide applies the thresholds and the hysteresis to one round: heard and failing count this pod.
func decide(wasOpen bool, weakRounds, heard, failing, minPods int, ratio float64) (open bool, weak int) {
	const epsilon = 1e-9 // 2/5 against 0.8 × 0.5: equal, whatever the floating point says
	share := float64(failing) / float64(heard)
	switch {
	case heard > 1 && failing < 2:
		// Peers heard, none sees it failing: this pod's own fault, with quorum or without (one
		// passing peer heard of three asked is no weak round to sit out: it is the odd one out).
		return false, 0
	case heard >= minPods && share >= ratio-epsilon, heard >= minPods && wasOpen && share >= leaveFactor*ratio-epsilon:
		return true, 0
	case wasOpen && weakRounds < weakRoundsTolerated:
		return true, weakRounds + 1
	}
	return false, 0
}

// fleetLoop runs the rounds of one shared critical check: after each failing run (woken by record or
// the heartbeat), so at most once per interval. A passing check sends nothing.
//
// The ticker is only a fallback, should a failing check go a while without a run: it fires after two
// intervals without a round. At one interval it would race the runs' wakes (both once per interval;
// a run a little later than the last one fires the ticker first, and its wake then makes a second
// round right after): measured, 12 rounds in 10 s instead of 10 (bench, fleet figure F3).
func (m *Monitor) fleetLoop(ctx context.Context, e *entry) {
	fallback := 2 * e.check.Interval
	ticker := time.NewTicker(fallback)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-e.wake:
		}
		if m.fleetRound(ctx, e) {
			ticker.Reset(fallback) // the fallback counts from the last round
		}
	}
}

// fleetRound asks the peers if the check fails locally and applies the verdict; it reports whether
// it asked.
func (m *Monitor) fleetRound(ctx context.Context, e *entry) bool {
	m.mu.Lock()
	failing := e.tracker.status.State == Failing
	m.mu.Unlock()
	f := m.fleet.Load() // the settings of this round: a reload may replace them
	if !failing || f == nil {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, f.Timeout)
	answered, peersFailing := f.Peers.Ask(rctx, e.check.Name)
	cancel()
	if ctx.Err() != nil {
		return true
	}
	heard, nFailing := 1+answered, 1+peersFailing

	var lines logLines
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &e.tracker.status
	if s.State != Failing {
		return true // recovered while we asked: record has already closed any fail-open
	}
	if m.fleet.Load() != f {
		// A reload replaced the fleet section while we asked: these answers were weighed against
		// the old min_pods and ratio (an operator who raised them to send the pods out would see a
		// check open again, then sit out a weak round). The next run's round asks under the new ones.
		return true
	}
	open, weak := decide(s.FailOpen, e.fleet.weakRounds, heard, nFailing, f.MinPods, f.Ratio)
	e.fleet.weakRounds = weak
	attrs := []any{"check", s.Name, "failing", nFailing, "heard", heard, "min_pods", f.MinPods, "fail_open_ratio", f.Ratio}
	switch {
	case open && !s.FailOpen:
		lines.add(slog.LevelWarn, "check failing open: most of the fleet sees it failing; /readyz stays 200 (warn)", attrs...)
	case !open && s.FailOpen:
		lines.add(slog.LevelWarn, "check stopped failing open: "+closeReason(heard, nFailing, f.MinPods), attrs...)
	case !open || (s.FleetHeard == heard && s.FleetFailing == nFailing) || weak > 0:
		return true // nothing a probe would see changes (a weak round keeps the last counts)
	}
	s.FailOpen = open
	s.FleetHeard, s.FleetFailing = 0, 0
	if open {
		s.FleetHeard, s.FleetFailing = heard, nFailing
	}
	before := m.snap.Load()
	lines.readiness(before, m.publishLocked(time.Now()))
	m.queue(lines)
	return true
}

func closeReason(heard, failing, minPods int) string {
	switch {
	case heard > 1 && failing < 2:
		return "no other pod heard from sees it failing; the local truth holds"
	case heard < minPods:
		return "too few pods heard from to tell an outage from this pod's own fault; the local truth holds"
	}
	return "most of the fleet no longer sees it failing; the local truth holds"
}

// fleetAfterRecord is called under mu after a run or a staleness change of e: a check that stops
// failing leaves fail-open at once (it passes, or it is unknown), and a failing one wakes its fleet
// loop, so each round follows a fresh local result (and the first follows the run that turned it
// failing) rather than waiting for the loop's next tick.
func (m *Monitor) fleetAfterRecord(e *entry, lines *logLines) {
	if e.wake == nil {
		return
	}
	s := &e.tracker.status
	if s.State != Failing {
		if s.FailOpen {
			why := "it passes again"
			if s.State != Passing {
				why = "its own state is " + string(s.State) + " (not failing)"
			}
			lines.add(slog.LevelInfo, "check stopped failing open: "+why,
				"check", s.Name, "failing", s.FleetFailing, "heard", s.FleetHeard) // the last round's counts
			s.FailOpen, s.FleetHeard, s.FleetFailing = false, 0, 0
			e.fleet.weakRounds = 0
		}
		return
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
