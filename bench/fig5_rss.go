package main

import (
	"context"
	"fmt"
	"time"
)

// rss10 is figure 5 for healthgate with 10 checks configured, under the same probe load.
func (b *bench) rss10(ctx context.Context) {
	if b.healthgate == "" {
		return
	}
	r, err := b.startServer(servers[0], 10)
	if err != nil {
		b.tab.fail(rowRSS10, "healthgate", err)
		return
	}
	defer r.stop()
	if err := awaitReady(ctx, r); err != nil {
		b.tab.fail(rowRSS10, "healthgate", err)
		return
	}
	res := load(ctx, r.addr, "/readyz", b.p.conns, b.p.rssRun, 10*time.Second)
	rss, err := peakRSS(r.proc.cmd.Process.Pid)
	if err == nil && res.ok() == 0 {
		err = fmt.Errorf("no 200 served (%s)", res.codes())
	}
	if err != nil {
		b.tab.fail(rowRSS10, "healthgate", err)
		return
	}
	b.tab.set(rowRSS10, "healthgate", float64(rss)/1e6, "%.1f MB (%s probes)", float64(rss)/1e6, thousands(float64(res.ok())))
}
