package main

import (
	"context"
	"fmt"
	"time"
)

// startup is figure 7: from just before the process is started to the first 200 on /livez, polled every
// millisecond; the programs take turns, and the median counts.
func (b *bench) startup(ctx context.Context) {
	times := map[string][]time.Duration{}
	for range b.p.startReps {
		for _, s := range servers {
			if (s.peer == "" && b.healthgate == "") || ctx.Err() != nil {
				continue
			}
			r, err := b.startServer(s, 2)
			if err != nil {
				b.tab.fail(rowStart, s.name, err)
				continue
			}
			at, err := waitStatus(ctx, r.url("/livez"), 200, time.Millisecond, 10*time.Second)
			if err != nil {
				if !r.proc.running() {
					err = fmt.Errorf("exited (%d): %s", r.proc.exitCode(), r.proc.output())
				}
				b.tab.fail(rowStart, s.name, err)
			} else {
				times[s.name] = append(times[s.name], at.Sub(r.proc.started))
			}
			r.stop()
		}
	}
	for name, d := range times {
		if len(d) == b.p.startReps {
			b.tab.set(rowStart, name, ms(median(d)), "%s", fmtDur(median(d)))
		}
	}
}
