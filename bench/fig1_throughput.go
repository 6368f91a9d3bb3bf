package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// probeRows are the rows of probeFigures.
var probeRows = []string{rowRate, rowRatio, rowPGq, rowPGqPace, rowPG, rowRdq, rowRdqPace, rowRedis, rowBH, rowBH1,
	rowCut, rowRestore, rowRSS}

// probeFigures runs every server side by side and takes figures 1 to 5 (2 checks).
func (b *bench) probeFigures(ctx context.Context) {
	b.proxyHop(ctx)
	var live []*running
	defer func() {
		for _, r := range live {
			r.stop()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range servers {
		if s.peer == "" && b.healthgate == "" {
			continue
		}
		r, err := b.startServer(s, 2)
		if err != nil {
			b.failColumn(s.name, err, probeRows...)
			continue
		}
		wg.Go(guard(func() {
			if err := awaitReady(ctx, r); err != nil {
				b.failColumn(s.name, err, probeRows...)
				r.stop()
				return
			}
			mu.Lock()
			live = append(live, r)
			mu.Unlock()
		}))
	}
	wg.Wait()
	// Keep the registration order, so that runs interleave the same way every time.
	slices.SortFunc(live, func(a, c *running) int { return indexOf(a.srv) - indexOf(c.srv) })

	b.throughput(ctx, live)
	b.dependencyLoad(ctx, live)
	for _, r := range live {
		if rss, err := peakRSS(r.proc.cmd.Process.Pid); err != nil {
			b.tab.fail(rowRSS, r.srv.name, err)
		} else {
			b.tab.set(rowRSS, r.srv.name, float64(rss)/1e6, "%.1f MB", float64(rss)/1e6)
		}
	}
	var deps []*running
	for _, r := range live {
		if r.srv.deps {
			deps = append(deps, r)
		}
	}
	b.blackholed(ctx, deps)
	b.cutRestore(ctx, deps)
}

func indexOf(s server) int {
	return slices.IndexFunc(servers, func(x server) bool { return x.name == s.name })
}

// throughput is figure 1: interleaved closed-loop runs counting the 200s actually served. The machine's speed
// drifts between rounds (the cores are shared), so each round's rates are compared with that round's ceiling,
// and the figure is the median of those ratios with their range; b.rates keeps the rounds for the verdicts.
func (b *bench) throughput(ctx context.Context, live []*running) {
	b.rates = map[string][]float64{}
	notes := map[string]string{}
	for round := range b.p.rounds {
		for _, r := range live {
			if ctx.Err() != nil {
				return
			}
			load(ctx, r.addr, "/readyz", b.p.conns, 300*time.Millisecond, 10*time.Second) // warm up
			res := load(ctx, r.addr, "/readyz", b.p.conns, b.p.run, 10*time.Second)
			b.logf("  round %d %-30s %8.0f/s (%s)", round+1, r.srv.name, res.rate(), res.codes())
			b.rates[r.srv.name] = append(b.rates[r.srv.name], res.rate())
			if _, seen := notes[r.srv.name]; !seen && (len(res.status) > 1 || res.errors > 0 || res.ok() == 0) {
				notes[r.srv.name] = fmt.Sprintf("round %d: %s; %v", round+1, res.codes(), res.firstErr)
			}
		}
	}
	ceil := b.rates[withRole(ceiling)]
	for _, r := range live {
		name := r.srv.name
		rates := b.rates[name]
		if len(rates) == 0 || slices.Max(rates) == 0 {
			b.failColumn(name, fmt.Errorf("no 200 served (%s)", notes[name]), rowRate, rowRatio)
			continue
		}
		note := ""
		if n := notes[name]; n != "" {
			note = " (" + n + ")"
		}
		b.tab.set(rowRate, name, median(rates), "%s/s%s%s", thousands(median(rates)), rangeOf(rates, thousands), note)
		ratios := perRound(rates, ceil)
		if len(ratios) == 0 {
			b.tab.fail(rowRatio, name, errors.New("no ceiling figure"))
			continue
		}
		f := func(v float64) string { return fmt.Sprintf("%.2f", v) }
		b.tab.set(rowRatio, name, median(ratios), "%s ×%s", f(median(ratios)), rangeOf(ratios, f))
	}
}

// perRound divides a by b round by round, leaving out the rounds where b has nothing.
func perRound(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// rangeOf is " (min–max)" of several values, each formatted by f, or "" for one.
func rangeOf(v []float64, f func(float64) string) string {
	if len(v) < 2 {
		return ""
	}
	return fmt.Sprintf(" (%s–%s)", f(slices.Min(v)), f(slices.Max(v)))
}
