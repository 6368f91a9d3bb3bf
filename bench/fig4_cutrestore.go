package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// cutRestore is figure 4: Postgres goes away (the port closes, connections are reset) and comes back; /readyz
// is polled every 10 ms. The cut falls at a random point of the check interval, so it is repeated.
func (b *bench) cutRestore(ctx context.Context, deps []*running) {
	down := map[string][]time.Duration{}
	up := map[string][]time.Duration{}
	errs := map[string]error{}
	var mu sync.Mutex
	phase := func(m mode, want int, into map[string][]time.Duration) {
		var wg sync.WaitGroup
		t0 := time.Now()
		for _, r := range deps {
			r.pg.set(m)
		}
		for _, r := range deps {
			wg.Go(guard(func() {
				at, err := waitStatus(ctx, r.url("/readyz"), want, 10*time.Millisecond, 10*time.Second)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs[r.srv.name] = err
					return
				}
				into[r.srv.name] = append(into[r.srv.name], at.Sub(t0))
			}))
		}
		wg.Wait()
	}
	for range b.p.cutReps {
		sleep(ctx, time.Duration(rand.Int64N(int64(interval))))
		phase(refuse, 503, down)
		sleep(ctx, time.Duration(rand.Int64N(int64(interval))))
		phase(forward, 200, up)
		if ctx.Err() != nil {
			return
		}
	}
	for _, r := range deps {
		name := r.srv.name
		for _, f := range []struct {
			row string
			d   []time.Duration
		}{{rowCut, down[name]}, {rowRestore, up[name]}} {
			if len(f.d) < b.p.cutReps {
				b.tab.fail(f.row, name, errs[name])
				continue
			}
			b.tab.set(f.row, name, ms(slices.Max(f.d)), "%s", spread(f.d))
		}
		b.logf("  %-24s cut → 503 %v, restored → 200 %v", name, down[name], up[name])
	}
}
