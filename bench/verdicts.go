package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// verdicts compares healthgate's figures with their targets (the target column) and says by how much a missed one is off.
func (b *bench) verdicts() {
	const hg = "healthgate"
	t := b.tab
	judge := func(row string, f func(v float64) string) {
		if v, ok := t.value(row, hg); ok {
			t.row(row).verdict = f(v)
		}
	}
	judge(rowRate, func(float64) string {
		var parts []string
		if r := perRound(b.rates[hg], b.rates[withRole(ceiling)]); len(r) > 0 {
			parts = append(parts, byRound(r, 0.9, "%.2f × ceiling"))
		}
		if r := perRound(b.rates[hg], b.rates[withRole(peer1)]); len(r) > 0 {
			parts = append(parts, byRound(r, 10, "%.1f × "+withRole(peer1)))
		}
		if r := perRound(b.rates[hg], b.rates[withRole(peer1NoCache)]); len(r) > 0 {
			parts = append(parts, fmt.Sprintf("(%.1f × %s)", median(r), withRole(peer1NoCache)))
		}
		return strings.Join(parts, "; ")
	})
	judge(rowRatio, func(float64) string {
		if r := perRound(b.rates[hg], b.rates[withRole(ceiling)]); len(r) > 0 {
			return byRound(r, 0.9, "%.2f")
		}
		return ""
	})
	for _, row := range []string{rowPGq, rowPGqPace, rowPG, rowRdq, rowRdqPace, rowRedis} {
		judge(row, func(v float64) string {
			// Whole requests against a schedule of whole check runs: a count up to its noise (see
			// scheduleNoise, globalNoise) is no probe-driven traffic, nor is one below 0 (the idle rate
			// overestimated); a per-probe checker is far beyond it.
			noise := t.row(row).cells[hg].noise
			got := fmt.Sprintf("%+.0f requests beyond the background", math.Round(v)+0)
			if v <= noise {
				return fmt.Sprintf("met: %s (noise %.1f)", got, noise)
			}
			return fmt.Sprintf("**missed**: %s, more than its noise (%.1f)", got, noise)
		})
	}
	judge(rowBH, func(v float64) string { return below(v, 5, "p99 %.2f ms", "5 ms") })
	judge(rowBH1, func(v float64) string { return below(v, 5, "max %.2f ms", "5 ms") })
	judge(rowCut, func(v float64) string { return atMost(v, ms(cutBound), "worst %.0f ms", cutBound.String()) })
	judge(rowRestore, func(v float64) string { return atMost(v, ms(restoreBound), "worst %.0f ms", restoreBound.String()) })
	judge(rowRSS10, func(v float64) string { return below(v, 30, "%.1f MB", "30 MB") })
	for _, row := range []string{rowWaitPG, rowWaitRd} {
		judge(row, func(v float64) string { return atMost(v, 100, "median %.0f ms", "100 ms") })
	}
	for _, row := range []string{rowTryPG, rowTryRd} {
		judge(row, func(v float64) string { return atMost(v, 2, "%.1f/s", "2/s") })
	}
	judge(rowStart, func(v float64) string { return below(v, 50, "%.1f ms", "50 ms") })
}

// byRound judges ratios taken round by round against a target: met if every round met it, within noise if the
// median did but not every round, missed otherwise (by how much: from the median). what formats a ratio.
func byRound(ratios []float64, target float64, what string) string {
	med := median(ratios)
	got := fmt.Sprintf(what, med)
	if len(ratios) > 1 {
		got += fmt.Sprintf(" (median of %d rounds, %.2f–%.2f)", len(ratios), slices.Min(ratios), slices.Max(ratios))
	}
	switch {
	case slices.Min(ratios) >= target:
		return "met: " + got
	case med >= target:
		return fmt.Sprintf("within noise: %s; target ≥ %g in every round", got, target)
	default:
		return fmt.Sprintf("**missed** by %s: %s, target ≥ %g", short(1-med/target), got, target)
	}
}

// atMost judges v ≤ limit; what formats v, want names the limit.
func atMost(v, limit float64, what, want string) string {
	got := fmt.Sprintf(what, v)
	if v <= limit {
		return "met: " + got
	}
	return fmt.Sprintf("**missed** by %s: %s, target ≤ %s", short(v/limit-1), got, want)
}

// below judges v < limit.
func below(v, limit float64, what, want string) string {
	got := fmt.Sprintf(what, v)
	if v < limit {
		return "met: " + got
	}
	return fmt.Sprintf("**missed** by %s: %s, target < %s", short(v/limit-1), got, want)
}

// short is how far a missed target is off (a fraction of it) in percent: whole percents, or one decimal under
// 1%, so that a median of 0.895 against 0.9 is not "missed by 0%".
func short(frac float64) string {
	if frac < 0.01 {
		return fmt.Sprintf("%.1f%%", frac*100)
	}
	return fmt.Sprintf("%.0f%%", frac*100)
}
