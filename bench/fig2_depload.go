package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// pacedRate is figure 2's second probe rate, like a few kubelets' and load balancers': slower than a result
// cache of 1 s can hide, unlike the closed loop's tens of thousands per second.
const pacedRate = 10

// dependencyLoad is figure 2: the requests each server sends to Postgres and Redis while probed, beyond
// what it sends idle (its background schedule). The idle rates are measured first, with all servers running,
// over one window; then the probes come twice: at pacedRate, all servers at once, counted at their proxies;
// and in a saturating closed loop, each server in turn, counted at its proxies and by the services.
//
// Two counts: the proxy's (exact and per server) and the services' own. Postgres 15 publishes a backend's
// xact_commit only when that backend also has other statistics to report (it touched a table) or
// disconnects: a pooled connection running nothing but SELECT 1 is not counted at all while it stays open.
// So that row sees a check that opens a connection per probe, and is blind to one that reuses a pool; the
// proxy row sees both. Each closed-loop window is read again 1.5 s after the probes stop, for the
// connections that close.
func (b *bench) dependencyLoad(ctx context.Context, live []*running) {
	var deps []*running
	for _, r := range live {
		if r.srv.deps {
			deps = append(deps, r)
		}
	}
	sleep(ctx, 2*time.Second) // let the throughput runs' connections close and their statistics arrive
	p0, s0 := readProxies(deps), b.cnt.read(ctx)
	sleep(ctx, b.p.background)
	p1, s1 := readProxies(deps), b.cnt.read(ctx)
	idle := p1.at.Sub(p0.at)
	bgX, bgR, err := diff(s0, s1)
	if err != nil {
		for _, r := range deps {
			b.failColumn(r.srv.name, err, rowPGq, rowPGqPace, rowPG, rowRdq, rowRdqPace, rowRedis)
		}
		return
	}
	bg := idleRates{window: idle, xacts: bgX / idle.Seconds(), rdCmds: bgR / idle.Seconds(),
		pg: map[string]float64{}, rd: map[string]float64{}}
	for _, r := range deps {
		bg.pg[r.srv.name] = float64(p1.pg[r.srv.name]-p0.pg[r.srv.name]) / idle.Seconds()
		bg.rd[r.srv.name] = float64(p1.rd[r.srv.name]-p0.rd[r.srv.name]) / idle.Seconds()
	}
	b.bgNote = fmt.Sprintf("idle, all %d servers together: %.1f xact_commit/s, %.1f Redis commands/s (over %v); each server's own idle requests at its proxies are subtracted from its rows",
		len(live), bg.xacts, bg.rdCmds, idle.Round(100*time.Millisecond))
	b.logf("  %s", b.bgNote)
	b.pacedLoad(ctx, deps, bg)
	for _, r := range deps {
		if ctx.Err() != nil {
			return
		}
		b.saturatedLoad(ctx, r, bg)
	}
}

// idleRates are the requests per second sent with no probes: by each server to its proxies, and in all to
// the services (xact_commit, Redis commands), measured over window.
type idleRates struct {
	window        time.Duration
	pg, rd        map[string]float64
	xacts, rdCmds float64
}

// scheduleNoise is how far from 0 a count beyond the background can be with no probe-driven requests at all:
// a window holds one run of each check more or fewer than its length says, and so did the idle window the
// rate comes from, so 1 + win/idle runs of rate × interval requests each; at least one request.
func (bg idleRates) scheduleNoise(rate float64, win time.Duration) float64 {
	return max(1, rate*interval.Seconds()*(1+win.Seconds()/bg.window.Seconds()))
}

// proxyCounts are the requests every server had sent through its proxies at one moment.
type proxyCounts struct {
	at     time.Time
	pg, rd map[string]int64
}

func readProxies(deps []*running) proxyCounts {
	c := proxyCounts{at: time.Now(), pg: map[string]int64{}, rd: map[string]int64{}}
	for _, r := range deps {
		c.pg[r.srv.name] = r.pg.requests.Load()
		c.rd[r.srv.name] = r.rd.requests.Load()
	}
	return c
}

// count is one server's requests of one kind (row) in a window, beyond the idle rate.
type count struct {
	row    string
	idle   float64 // idle rate, per second
	beyond float64 // requests counted in the window less idle × window
	noise  float64 // see scheduleNoise, globalNoise
}

func (bg idleRates) count(row string, got, idle float64, win time.Duration) count {
	return count{row: row, idle: idle, beyond: got - idle*win.Seconds(), noise: bg.scheduleNoise(idle, win)}
}

// setCounts records the counts of a server that answered n probes; show formats one.
func (b *bench) setCounts(name string, n int, show func(v, n float64) string, counts ...count) {
	for _, c := range counts {
		b.tab.set(c.row, name, c.beyond, "%s", show(c.beyond, float64(n)))
		b.tab.setNoise(c.row, name, c.noise)
	}
}

// pacedLoad probes every server at pacedRate at once, for b.p.paced: each is counted at its own proxies, so
// they do not disturb each other's counts, and a few probes per second are no load for the machine.
func (b *bench) pacedLoad(ctx context.Context, deps []*running, bg idleRates) {
	results := make([]loadResult, len(deps))
	a := readProxies(deps)
	var wg sync.WaitGroup
	for i, r := range deps {
		wg.Go(guard(func() { results[i] = pace(ctx, r.addr, "/readyz", pacedRate, b.p.paced, 2, 5*time.Second) }))
	}
	wg.Wait()
	z := readProxies(deps)
	win := z.at.Sub(a.at)
	for i, r := range deps {
		name, res := r.srv.name, results[i]
		if res.answered() == 0 {
			b.failColumn(name, fmt.Errorf("no answer at %d probes/s (%s; %v)", pacedRate, res.codes(), res.firstErr),
				rowPGqPace, rowRdqPace)
			continue
		}
		pg := bg.count(rowPGqPace, float64(z.pg[name]-a.pg[name]), bg.pg[name], win)
		rd := bg.count(rowRdqPace, float64(z.rd[name]-a.rd[name]), bg.rd[name], win)
		b.setCounts(name, res.answered(), rawCount, pg, rd)
		b.logf("  %-30s %d probes at %d/s in %v, beyond background: %+.1f queries (idle %.1f/s), %+.1f Redis commands (idle %.1f/s)",
			name, res.answered(), pacedRate, win.Round(100*time.Millisecond), pg.beyond, pg.idle, rd.beyond, rd.idle)
	}
}

// saturatedLoad probes r in a closed loop for b.p.depWindow and counts at its proxies and at the services.
func (b *bench) saturatedLoad(ctx context.Context, r *running, bg idleRates) {
	name := r.srv.name
	deps := []*running{r}
	pa, sa := readProxies(deps), b.cnt.read(ctx)
	res := load(ctx, r.addr, "/readyz", b.p.conns, b.p.depWindow, 10*time.Second)
	sleep(ctx, 1500*time.Millisecond)
	pz, sz := readProxies(deps), b.cnt.read(ctx)
	x, c, err := diff(sa, sz)
	if err == nil && res.answered() == 0 {
		err = fmt.Errorf("no answer (%s; %v)", res.codes(), res.firstErr)
	}
	if err != nil {
		b.failColumn(name, err, rowPGq, rowPG, rowRdq, rowRedis)
		return
	}
	win := pz.at.Sub(pa.at)
	global := func(row string, got, idle float64) count {
		c := bg.count(row, got, idle, win)
		c.noise = globalNoise * float64(res.answered()) / 1000
		return c
	}
	counts := []count{
		bg.count(rowPGq, float64(pz.pg[name]-pa.pg[name]), bg.pg[name], win),
		global(rowPG, x, bg.xacts),
		bg.count(rowRdq, float64(pz.rd[name]-pa.rd[name]), bg.rd[name], win),
		global(rowRedis, c, bg.rdCmds),
	}
	b.setCounts(name, res.answered(), perThousand, counts...)
	b.logf("  %-30s %d probes, beyond background: %+.0f queries (idle %.1f/s), %+.0f xact_commit, %+.0f Redis commands (idle %.1f/s), %+.0f in commandstats",
		name, res.answered(), counts[0].beyond, counts[0].idle, counts[1].beyond, counts[2].beyond, counts[2].idle, counts[3].beyond)
}

// perThousand shows v per 1,000 of n, with the raw counts.
func perThousand(v, n float64) string {
	per := math.Round(v/n*1000*100)/100 + 0 // + 0: no "-0.00"
	return fmt.Sprintf("%.2f (%+.0f in %s probes)", per, math.Round(v)+0, thousands(n))
}

// globalNoise is the noise, per 1,000 probes, of the services' own counts: they count every client of the
// services, whose activity no check schedule bounds (a per-probe checker makes 1,000 or more).
const globalNoise = 0.5

// rawCount shows v beyond the background in n probes, and per 1,000.
func rawCount(v, n float64) string {
	v = math.Round(v) + 0 // + 0: no "-0"
	return fmt.Sprintf("%+.0f in %s probes (%.0f per 1,000)", v, thousands(n), v/n*1000)
}
