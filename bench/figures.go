package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Row keys, in the order of the figures.
const (
	rowRate    = "rate"
	rowRatio   = "ratio"
	rowPGq     = "pgqueries"
	rowPGqPace = "pgqueriespaced"
	rowPG      = "pgxacts"
	rowRdq     = "rediscommands"
	rowRdqPace = "rediscommandspaced"
	rowRedis   = "rediscmdstats"
	rowBH      = "blackhole"
	rowBH1     = "blackholesingle"
	rowCut     = "cut"
	rowRestore = "restore"
	rowRSS     = "rss"
	rowRSS10   = "rss10"
	rowWaitPG  = "waitpg"
	rowWaitRd  = "waitredis"
	rowTryPG   = "trypg"
	rowTryRd   = "tryredis"
	rowStart   = "start"
)

// The bounds healthgate promises for its configuration.
var (
	cutBound     = failureThreshold*interval + timeout
	restoreBound = successThreshold*interval + timeout
)

// layout creates the rows, each with the programs it applies to.
func (b *bench) layout() {
	var all, withDeps []string
	for _, s := range servers {
		all = append(all, s.name)
		if s.deps {
			withDeps = append(withDeps, s.name)
		}
	}
	var wait []string
	for _, w := range waiters {
		wait = append(wait, w.name)
	}
	t := b.tab
	t.add(rowRate, "1. /readyz probes per second, all dependencies up, median (min–max) of the rounds",
		fmt.Sprintf("≥ 0.9 × ceiling, ≥ 10 × %s", withRole(peer1)), all)
	t.add(rowRatio, "1. … ratio to the net/http ceiling, round by round, median (min–max)", "≥ 0.9", all)
	t.add(rowPGq, "2. Postgres queries per 1,000 probes, closed loop (saturating), counted at the proxy", "0", withDeps)
	t.add(rowPGqPace, fmt.Sprintf("2. … Postgres queries at %d probes/s (paced), counted at the proxy", pacedRate), "0", withDeps)
	t.add(rowPG, "2. … Postgres xact_commit per 1,000 probes, closed loop (pg_stat_database)", "0", withDeps)
	t.add(rowRdq, "2. Redis commands per 1,000 probes, closed loop (saturating), counted at the proxy", "0", withDeps)
	t.add(rowRdqPace, fmt.Sprintf("2. … Redis commands at %d probes/s (paced), counted at the proxy", pacedRate), "0", withDeps)
	t.add(rowRedis, "2. … Redis commands per 1,000 probes, closed loop (INFO commandstats)", "0", withDeps)
	t.add(rowBH, fmt.Sprintf("3. /readyz latency p50 / p99, Postgres blackholed, %d probes/s", blackholeRate), "p99 < 5 ms", withDeps)
	t.add(rowBH1, "3. … one probe at a time (1/s, one connection), p50 / max", "max < 5 ms", withDeps)
	t.add(rowCut, "4. Postgres cut → /readyz 503", fmt.Sprintf("≤ %v (%d × interval + timeout)", cutBound, failureThreshold), withDeps)
	t.add(rowRestore, "4. Postgres restored → /readyz 200", fmt.Sprintf("≤ %v (%d × interval + timeout)", restoreBound, successThreshold), withDeps)
	t.add(rowRSS, "5. peak RSS under probe load, 2 checks", "—", all)
	t.add(rowRSS10, "5. peak RSS under probe load, 10 checks", "< 30 MB", []string{"healthgate"})
	t.add(rowWaitPG, "6. wait: Postgres answers → exit, median / p90", "median ≤ 100 ms", wait)
	t.add(rowWaitRd, "6. wait: Redis answers → exit, median / p90", "median ≤ 100 ms", wait)
	t.add(rowTryPG, "6. wait: attempts/s on a failing Postgres, after 5 s", "≤ 2/s", wait)
	t.add(rowTryRd, "6. wait: attempts/s on a failing Redis, after 5 s", "≤ 2/s", wait)
	t.add(rowStart, "7. start → first /livez 200, median", "< 50 ms", all)
}

// measure takes every figure; a figure that cannot be taken keeps its error and the others go on.
// only, if not empty, names the steps to run (the others' figures are left out of the table).
func (b *bench) measure(ctx context.Context, only []string) {
	steps := []struct {
		key  string
		name string
		f    func(context.Context)
		rows []string
	}{
		{"probes", "figures 1–5: probes, dependency load, blackhole, cut and restore, RSS", b.probeFigures,
			probeRows},
		{"rss10", "figure 5: RSS with 10 checks", b.rss10, []string{rowRSS10}},
		{"startup", "figure 7: start-up", b.startup, []string{rowStart}},
		{"wait", "figure 6: wait", b.wait, []string{rowWaitPG, rowWaitRd, rowTryPG, rowTryRd}},
		{"fleet", "fleet figure: HAProxy in front of 3 backends, fleet off and on; cost with 50 peers", b.fleet, nil},
		{"scale", "scale figure: CPU per check run and RSS at 10, 100, 1,000 checks", b.scale, nil},
		{"kinds", "kinds figure: binary size, RSS with 10 checks of every kind, connections per kind", b.kinds, nil},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return
		}
		if len(only) > 0 && !slices.Contains(only, s.key) {
			b.tab.drop(s.rows...)
			continue
		}
		b.logf("%s", s.name)
		begin := time.Now()
		s.f(ctx)
		b.logf("  took %v", time.Since(begin).Round(100*time.Millisecond))
	}
	b.verdicts()
}

// running is a started health server with its own proxies to Postgres and Redis.
type running struct {
	srv    server
	proc   *proc
	addr   string
	pg, rd *proxy
}

func (r *running) url(path string) string { return "http://" + r.addr + path }

func (r *running) stop() {
	if r.proc != nil {
		r.proc.stop(3 * time.Second)
	}
	for _, p := range []*proxy{r.pg, r.rd} {
		if p != nil {
			p.close()
		}
	}
}

// startServer starts s with checks checks (healthgate only; peers have their two), without waiting for it.
func (b *bench) startServer(s server, checks int) (*running, error) {
	r := &running{srv: s, addr: freeAddr()}
	if s.deps {
		var err error
		if r.pg, err = newProxy(b.pg); err != nil {
			return nil, err
		}
		if r.rd, err = newProxy(b.rd); err != nil {
			r.stop()
			return nil, err
		}
	}
	var err error
	if s.peer == "" {
		if b.healthgate == "" {
			return nil, errors.New("healthgate is not built")
		}
		file := filepath.Join(b.tmp, fmt.Sprintf("healthgate-%s.yaml", strings.ReplaceAll(r.addr, ":", "-")))
		if err = os.WriteFile(file, []byte(b.healthgateConfig(r, checks)), 0o644); err != nil {
			r.stop()
			return nil, err
		}
		r.proc, err = start(s.name, b.healthgate, "serve", "--config", file)
	} else {
		args := []string{"-listen", r.addr}
		if s.deps {
			args = append(args, "-postgres", withHost(b.pg.url, r.pg.addr), "-redis", withHost(b.rd.url, r.rd.addr),
				"-interval", interval.String(), "-timeout", timeout.String())
		}
		r.proc, err = start(s.name, b.bin(s.peer), args...)
	}
	if err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// healthgateConfig is a serve configuration with checks checks (half Postgres, half Redis) through r's proxies.
func (b *bench) healthgateConfig(r *running, checks int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\n", r.addr)
	fmt.Fprintf(&sb, "defaults: {interval: %v, timeout: %v, failure_threshold: %d, success_threshold: %d}\n",
		interval, timeout, failureThreshold, successThreshold)
	sb.WriteString("checks:\n")
	for i := range checks {
		suffix := ""
		if n := i/2 + 1; n > 1 {
			suffix = fmt.Sprint(n)
		}
		if i%2 == 0 {
			fmt.Fprintf(&sb, "  - {name: db%s, type: postgres, url: %q}\n", suffix, withHost(b.pg.url, r.pg.addr))
		} else {
			fmt.Fprintf(&sb, "  - {name: cache%s, type: redis, url: %q}\n", suffix, withHost(b.rd.url, r.rd.addr))
		}
	}
	return sb.String()
}

// awaitReady waits until r answers /livez and /readyz with 200.
func awaitReady(ctx context.Context, r *running) error {
	for _, path := range []string{"/livez", "/readyz"} {
		if _, err := waitStatus(ctx, r.url(path), 200, 10*time.Millisecond, 10*time.Second); err != nil {
			if !r.proc.running() {
				return fmt.Errorf("exited (%d): %s", r.proc.exitCode(), r.proc.output())
			}
			return err
		}
	}
	return nil
}

// withHost replaces the host:port of a URL.
func withHost(raw, hostport string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Host = hostport
	return u.String()
}

// failColumn records err for every figure of a column in rows.
func (b *bench) failColumn(col string, err error, rows ...string) {
	for _, r := range rows {
		b.tab.fail(r, col, err)
	}
}

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

// wait is figure 6, for every waiter against Postgres and Redis at once (each through its own proxy):
// (a) the time from the dependency's port opening to the waiter's exit, (b) the attempts per second (accepted
// connections) against a dependency that accepts and answers "not ready".
func (b *bench) wait(ctx context.Context) {
	targets := []struct {
		dep             dependency
		rowWait, rowTry string
	}{
		{b.pg, rowWaitPG, rowTryPG},
		{b.rd, rowWaitRd, rowTryRd},
	}
	var wg sync.WaitGroup
	for _, w := range waiters {
		if w.peer == "" && b.healthgate == "" {
			continue
		}
		for _, t := range targets {
			wg.Go(guard(func() {
				if err := b.waitUp(ctx, w, t.dep, t.rowWait); err != nil {
					b.tab.fail(t.rowWait, w.name, err)
				}
			}))
			wg.Go(guard(func() {
				if err := b.waitFailing(ctx, w, t.dep, t.rowTry); err != nil {
					b.tab.fail(t.rowTry, w.name, err)
				}
			}))
		}
	}
	wg.Wait()
}

// startWaiter starts w waiting for the dependency at px.
func (b *bench) startWaiter(w waiter, px *proxy) (*proc, error) {
	url := withHost(px.url, px.addr)
	if w.peer == "" {
		return start("healthgate wait", b.healthgate, "wait", "--"+px.kind, url, "--timeout", "30s", "--quiet")
	}
	return start(w.name, b.bin(w.peer), "-"+px.kind, url, "-timeout", "30s")
}

func (b *bench) waitUp(ctx context.Context, w waiter, d dependency, row string) error {
	var times []time.Duration
	for range b.p.waitReps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t, err := b.waitOnce(ctx, w, d)
		if err != nil {
			return err
		}
		times = append(times, t)
	}
	b.logf("  %-12s %-8s up → exit %v", w.name, d.kind, times)
	b.tab.set(row, w.name, ms(median(times)), "%s / %s", fmtDur(median(times)), fmtDur(quantile(times, 0.9)))
	return nil
}

// waitOnce starts w while nothing listens, opens the port after a random pause, and times the exit.
func (b *bench) waitOnce(ctx context.Context, w waiter, d dependency) (time.Duration, error) {
	px, err := newProxy(d)
	if err != nil {
		return 0, err
	}
	defer px.close()
	if err := px.set(refuse); err != nil {
		return 0, err
	}
	p, err := b.startWaiter(w, px)
	if err != nil {
		return 0, err
	}
	defer p.stop(2 * time.Second)
	// A pause of 1–2 s puts the opening at a uniformly random point of a 1 s poller's cycle.
	sleep(ctx, time.Second+time.Duration(rand.Int64N(int64(time.Second))))
	if !p.running() {
		return 0, fmt.Errorf("exited (%d) before the dependency was up: %s", p.exitCode(), p.output())
	}
	t0 := time.Now()
	if err := px.set(forward); err != nil {
		return 0, err
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		return 0, errors.New("still waiting 10 s after the dependency came up")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if c := p.exitCode(); c != 0 {
		return 0, fmt.Errorf("exited %d: %s", c, p.output())
	}
	return p.exited.Sub(t0), nil
}

// waitFailing counts the tries per second of w against a dependency that answers "not ready", after 5 s.
func (b *bench) waitFailing(ctx context.Context, w waiter, d dependency, row string) error {
	px, err := newProxy(d)
	if err != nil {
		return err
	}
	defer px.close()
	px.set(failing)
	p, err := b.startWaiter(w, px)
	if err != nil {
		return err
	}
	defer p.stop(2 * time.Second)
	sleep(ctx, 5*time.Second)
	a := px.tries.Load()
	sleep(ctx, b.p.failWindow)
	z := px.tries.Load()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !p.running() {
		return fmt.Errorf("exited (%d) while the dependency failed: %s", p.exitCode(), p.output())
	}
	rate := float64(z-a) / b.p.failWindow.Seconds()
	b.logf("  %-12s %-8s failing: %d attempts in the first 5 s, %.1f/s after", w.name, d.kind, a, rate)
	b.tab.set(row, w.name, rate, "%.1f/s (%d in the first 5 s)", rate, a)
	return nil
}

// verdicts compares healthgate's figures with the targets and says by how much a missed one is off.
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
		return fmt.Sprintf("**missed** by %.0f%%: %s, target ≥ %g", (1-med/target)*100, got, target)
	}
}

// atMost judges v ≤ limit; what formats v, want names the limit.
func atMost(v, limit float64, what, want string) string {
	got := fmt.Sprintf(what, v)
	if v <= limit {
		return "met: " + got
	}
	return fmt.Sprintf("**missed** by %.0f%%: %s, target ≤ %s", (v/limit-1)*100, got, want)
}

// below judges v < limit.
func below(v, limit float64, what, want string) string {
	got := fmt.Sprintf(what, v)
	if v < limit {
		return "met: " + got
	}
	return fmt.Sprintf("**missed** by %.0f%%: %s, target < %s", (v/limit-1)*100, got, want)
}

// report prints the header, the table and the notes.
func (b *bench) report(w *strings.Builder, cmd []string, took time.Duration, quickMode bool) {
	kind := "full"
	if quickMode {
		kind = "quick (figures only checked for presence; too short to compare)"
	}
	fmt.Fprintf(w, "\n### healthgate benchmark\n\n")
	fmt.Fprintf(w, "- date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(w, "- command: `%s` (%s run, took %v); healthgate commit %s\n", strings.Join(cmd, " "), kind, took.Round(time.Second), b.hgCommit)
	fmt.Fprintf(w, "- load: %d keep-alive connections, closed loop, `GET /readyz`, generator on the same cores; %d interleaved round(s) of %v\n",
		b.p.conns, b.p.rounds, b.p.run)
	fmt.Fprintf(w, "- checks: Postgres `SELECT 1` and Redis `PING`, every %v, timeout %v (peers alike); healthgate failure_threshold %d, success_threshold %d\n\n",
		interval, timeout, failureThreshold, successThreshold)
	b.tab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	fmt.Fprintf(w, "- 1: each round's rate is divided by the same round's ceiling (the machine's speed drifts between rounds); the cells show the median and the range over the rounds. A target is met if every round met it, within noise if only the median did.\n")
	if b.hopNote != "" {
		fmt.Fprintf(w, "- 1: %s. A server that queries on every probe (figure 2's closed-loop rows) pays it once per check per probe; the others only on their schedule.\n", b.hopNote)
	}
	fmt.Fprintf(w, "- 2: closed loop: per 1,000 probes = (count over %v of probe load and 1.5 s after − idle rate × window) / probes answered (any status). Paced: %d probes/s for %v, every server at once (each counted at its own proxies), raw count beyond the idle rate. The proxy rows count what each server itself sends (Postgres Query and Sync messages, Redis commands). The service rows are global: Redis commands are all of INFO commandstats but INFO (the harness's reads); Postgres 15 publishes a backend's xact_commit only once it touches a table or disconnects, so a pooled connection running only SELECT 1 is never counted while it stays open, and that row sees per-probe connections (hellofresh) but not per-probe queries on a pool (sync, no cache).\n",
		b.p.depWindow, pacedRate, b.p.paced)
	fmt.Fprintf(w, "- 2: healthgate's verdicts compare its count beyond the idle rate with the noise of its check schedule: a window holds one run of each check more or fewer than its length says, and so did the idle window, so (1 + window/idle window) runs' worth of requests. The service rows count every client of the shared services: there the noise is %.1f per 1,000 probes.\n", globalNoise)
	if b.bgNote != "" {
		fmt.Fprintf(w, "- 2: %s.\n", b.bgNote)
	}
	fmt.Fprintf(w, "- 3: from %v after the blackhole began; each probe timed from when it was due, so one that waits behind a stalled check counts; a probe is given up after %v; the answers were 503 unless the cell says otherwise. %d probes/s for %v over up to %d connections, server by server: where a cell says capacity, the server answered under 90%% of that rate (counted over the run less the time one probe alone takes), so its latencies are mostly time queued behind other probes. One at a time: 1 probe/s over one connection for %v, every server at once (staggered over the second), as one kubelet probes.\n",
		cutBound+500*time.Millisecond, bhTimeout, blackholeRate, b.p.blackhole, b.p.conns, b.p.single)
	fmt.Fprintf(w, "- 4: cut = the Postgres port closes and its connections are reset; /readyz polled every 10 ms; median (max) of %d.\n", b.p.cutReps)
	fmt.Fprintf(w, "- 6: %d runs per dependency, the port opens 1–2 s after the start; failing = Postgres answers FATAL 57P03 (starting up), Redis -LOADING; an attempt is a Postgres connection, or a Redis command other than the handshake (HELLO, AUTH, CLIENT, SELECT; a connection that sent none counts once); counted over %v after the first 5 s.\n",
		b.p.waitReps, b.p.failWindow)
	fmt.Fprintf(w, "- 7: median of %d starts, /livez polled every 1 ms.\n", b.p.startReps)
}

// helpers

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median[T cmp.Ordered](s []T) T { return quantile(s, 0.5) }

// quantile of s (q in [0, 1]) by the nearest-rank method: the smallest value with at least q of them at or
// below it. The zero value for none.
func quantile[T cmp.Ordered](s []T, q float64) T {
	if len(s) == 0 {
		var zero T
		return zero
	}
	s = slices.Clone(s)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// spread is "median (max)" of several durations, or the one.
func spread(d []time.Duration) string {
	if len(d) == 1 {
		return fmtDur(d[0])
	}
	return fmt.Sprintf("%s (%s)", fmtDur(median(d)), fmtDur(slices.Max(d)))
}

// fmtDur prints a duration with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms(d))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// thousands prints n rounded, with commas between thousands.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
