package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Figure 3 sends blackholeRate probes per second (an open loop); a probe unanswered after bhTimeout is given up.
const (
	blackholeRate = 50
	bhTimeout     = 5 * time.Second
)

// atLeastDur prints d, or "≥ limit" once d reached it (the probe was given up).
func atLeastDur(d, limit time.Duration) string {
	if d >= limit {
		return "≥ " + fmtDur(limit)
	}
	return fmtDur(d)
}

// blackholed is figure 3: Postgres accepts connections and never answers; the probes' latency is measured once
// every server has had time to notice. Twice: one probe at a time (what one kubelet sees), every server at
// once since that is no load; then at a steady blackholeRate, server by server, so that a probe that stalls
// others counts them all, and a server that cannot answer that many while Postgres hangs shows its queue.
func (b *bench) blackholed(ctx context.Context, deps []*running) {
	for _, r := range deps {
		r.pg.set(blackhole)
	}
	sleep(ctx, cutBound+500*time.Millisecond)
	single := make([]loadResult, len(deps))
	var wg sync.WaitGroup
	for i, r := range deps {
		wg.Go(guard(func() {
			// Staggered over the second, so that no two servers (nor their proxies, in this process) are busy
			// at the same moment.
			sleep(ctx, time.Duration(i)*time.Second/time.Duration(len(deps)))
			single[i] = pace(ctx, r.addr, "/readyz", 1, b.p.single, 1, bhTimeout)
		}))
	}
	wg.Wait()
	for i, r := range deps {
		res := single[i]
		if res.answered() == 0 {
			b.tab.fail(rowBH1, r.srv.name, noAnswer(res))
			continue
		}
		hi := quantile(res.latencies, 1)
		b.tab.set(rowBH1, r.srv.name, ms(hi), "%s%s", latencies(res.quantile(0.5), hi), notes(answers(res)))
		b.logf("  %-30s blackholed, one at a time: %d probes, p50 %v max %v (%s)", r.srv.name, len(res.latencies),
			res.quantile(0.5), hi, res.codes())
	}
	for i, r := range deps {
		if ctx.Err() != nil {
			return
		}
		res := pace(ctx, r.addr, "/readyz", blackholeRate, b.p.blackhole, b.p.conns, bhTimeout)
		if res.answered() == 0 {
			b.tab.fail(rowBH, r.srv.name, noAnswer(res))
			continue
		}
		p50, p99 := res.quantile(0.5), res.quantile(0.99)
		why := answers(res)
		// The answers per second, over the run less the time one probe alone takes (the one-at-a-time row):
		// below the offered rate, the latencies are mostly time spent queued behind other probes.
		span := max(b.p.blackhole, res.elapsed-quantile(single[i].latencies, 1))
		if served := float64(res.answered()) / span.Seconds(); served < 0.9*blackholeRate {
			why = append(why, fmt.Sprintf("capacity %.1f/s < %d/s offered: a queue's wait", served, blackholeRate))
		}
		b.tab.set(rowBH, r.srv.name, ms(p99), "%s%s", latencies(p50, p99), notes(why))
		b.logf("  %-30s blackholed, %d/s: %d probes, p50 %v p99 %v (%s)", r.srv.name, blackholeRate, len(res.latencies),
			p50, p99, res.codes())
	}
	for _, r := range deps {
		r.pg.set(forward)
	}
	for _, r := range deps {
		if _, err := waitStatus(ctx, r.url("/readyz"), 200, 20*time.Millisecond, 10*time.Second); err != nil {
			b.logf("  %s did not recover after the blackhole: %v", r.srv.name, err)
		}
	}
}

// noAnswer is why a figure 3 run has no figure: not one HTTP answer (probes given up have a latency too).
func noAnswer(res loadResult) error {
	return fmt.Errorf("no HTTP answer (%s; %v)", res.codes(), res.firstErr)
}

// latencies is "p50 / p99" (or "p50 / max"), a probe given up shown as "≥ bhTimeout".
func latencies(p50, hi time.Duration) string {
	return atLeastDur(p50, bhTimeout) + " / " + atLeastDur(hi, bhTimeout)
}

// answers notes what was not answered in time, and answers other than 503.
func answers(res loadResult) []string {
	var why []string
	if res.errors > 0 {
		why = append(why, fmt.Sprintf("%d of %d unanswered after %v", res.errors, len(res.latencies), bhTimeout))
	}
	if len(res.status) > 1 || res.status[503] == 0 {
		why = append(why, "answered "+res.codes()+", not only 503")
	}
	return why
}

// notes is " (a; b)", or "" for none.
func notes(why []string) string {
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}
