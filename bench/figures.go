package main

import (
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
	rowPG      = "pgxacts"
	rowRdq     = "rediscommands"
	rowRedis   = "redispings"
	rowBH      = "blackhole"
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
	t.add(rowRate, "1. /readyz probes per second, all dependencies up", "≥ 0.9 × ceiling, ≥ 10 × alexliesenfeld sync", all)
	t.add(rowRatio, "1. … ratio to the net/http ceiling", "≥ 0.9", all)
	t.add(rowPGq, "2. Postgres queries per 1,000 probes, counted at the proxy", "0", withDeps)
	t.add(rowPG, "2. … Postgres xact_commit per 1,000 probes (pg_stat_database)", "0", withDeps)
	t.add(rowRdq, "2. Redis commands per 1,000 probes, counted at the proxy", "0", withDeps)
	t.add(rowRedis, "2. … Redis PING calls per 1,000 probes (INFO commandstats)", "0", withDeps)
	t.add(rowBH, fmt.Sprintf("3. /readyz latency p50 / p99, Postgres blackholed, %d probes/s", blackholeRate), "p99 < 5 ms", withDeps)
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
			[]string{rowRate, rowRatio, rowPGq, rowPG, rowRdq, rowRedis, rowBH, rowCut, rowRestore, rowRSS}},
		{"rss10", "figure 5: RSS with 10 checks", b.rss10, []string{rowRSS10}},
		{"startup", "figure 7: start-up", b.startup, []string{rowStart}},
		{"wait", "figure 6: wait", b.wait, []string{rowWaitPG, rowWaitRd, rowTryPG, rowTryRd}},
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

// probeFigures runs every server side by side and takes figures 1 to 5 (2 checks).
func (b *bench) probeFigures(ctx context.Context) {
	rows := []string{rowRate, rowRatio, rowPGq, rowPG, rowRdq, rowRedis, rowBH, rowCut, rowRestore, rowRSS}
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
			b.failColumn(s.name, err, rows...)
			continue
		}
		wg.Go(func() {
			if err := awaitReady(ctx, r); err != nil {
				b.failColumn(s.name, err, rows...)
				r.stop()
				return
			}
			mu.Lock()
			live = append(live, r)
			mu.Unlock()
		})
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

// throughput is figure 1: interleaved closed-loop runs, best of several, counting the 200s actually served.
func (b *bench) throughput(ctx context.Context, live []*running) {
	best := map[string]loadResult{}
	for round := range b.p.rounds {
		for _, r := range live {
			if ctx.Err() != nil {
				return
			}
			load(ctx, r.addr, "/readyz", b.p.conns, 300*time.Millisecond, 10*time.Second) // warm up
			res := load(ctx, r.addr, "/readyz", b.p.conns, b.p.run, 10*time.Second)
			b.logf("  round %d %-24s %8.0f/s (%s)", round+1, r.srv.name, res.rate(), res.codes())
			if prev, ok := best[r.srv.name]; !ok || res.rate() > prev.rate() {
				best[r.srv.name] = res
			}
		}
	}
	ceiling := best["net/http ceiling"].rate()
	for _, r := range live {
		res := best[r.srv.name]
		if res.ok() == 0 {
			b.tab.fail(rowRate, r.srv.name, fmt.Errorf("no 200 served (%s; %v)", res.codes(), res.firstErr))
			continue
		}
		note := ""
		if len(res.status) > 1 || res.errors > 0 {
			note = " (" + res.codes() + ")"
		}
		b.tab.set(rowRate, r.srv.name, res.rate(), "%s/s%s", thousands(res.rate()), note)
		if ceiling > 0 {
			b.tab.set(rowRatio, r.srv.name, res.rate()/ceiling, "%.2f ×", res.rate()/ceiling)
		} else {
			b.tab.fail(rowRatio, r.srv.name, errors.New("no ceiling figure"))
		}
	}
}

// dependencyLoad is figure 2: the requests each server sends to Postgres and Redis while probed, beyond
// what it sends idle (its background schedule), per 1,000 probes. The idle rates are measured first, with all
// servers running, over one window; then each server in turn takes probes for another.
//
// Two counts: the proxy's (exact and per server) and the services' own. Postgres 15 publishes a backend's
// xact_commit only when that backend also has other statistics to report (it touched a table) or
// disconnects: a pooled connection running nothing but SELECT 1 is not counted at all while it stays open.
// So that row sees a check that opens a connection per probe, and is blind to one that reuses a pool; the
// proxy row sees both. Each window is read again 1.5 s after the probes stop, for the connections that close.
func (b *bench) dependencyLoad(ctx context.Context, live []*running) {
	type counts struct {
		s         sample
		pg, redis map[string]int64 // requests at each server's proxies
	}
	read := func() counts {
		c := counts{s: b.cnt.read(ctx), pg: map[string]int64{}, redis: map[string]int64{}}
		for _, r := range live {
			if r.srv.deps {
				c.pg[r.srv.name] = r.pg.requests.Load()
				c.redis[r.srv.name] = r.rd.requests.Load()
			}
		}
		return c
	}
	sleep(ctx, 2*time.Second) // let the throughput runs' connections close and their statistics arrive
	c0 := read()
	sleep(ctx, b.p.background)
	c1 := read()
	sec := c1.s.at.Sub(c0.s.at).Seconds()
	bgX, bgP, err := extra(c0.s, c1.s, 0, 0)
	if err != nil {
		for _, r := range live {
			b.failColumn(r.srv.name, err, rowPGq, rowPG, rowRdq, rowRedis)
		}
		return
	}
	bgX, bgP = bgX/sec, bgP/sec
	b.bgNote = fmt.Sprintf("idle, all %d servers together: %.1f xact_commit/s, %.1f PING/s (over %v); each server's own idle requests at its proxies are subtracted from its row",
		len(live), bgX, bgP, b.p.background)
	b.logf("  %s", b.bgNote)
	for _, r := range live {
		if !r.srv.deps || ctx.Err() != nil {
			continue
		}
		name := r.srv.name
		bgPG := float64(c1.pg[name]-c0.pg[name]) / sec
		bgRd := float64(c1.redis[name]-c0.redis[name]) / sec
		a := read()
		res := load(ctx, r.addr, "/readyz", b.p.conns, b.p.depWindow, 10*time.Second)
		sleep(ctx, 1500*time.Millisecond)
		z := read()
		x, p, err := extra(a.s, z.s, bgX, bgP)
		if err == nil && res.ok() == 0 {
			err = fmt.Errorf("no 200 served (%s)", res.codes())
		}
		if err != nil {
			b.failColumn(name, err, rowPGq, rowPG, rowRdq, rowRedis)
			continue
		}
		n := float64(res.ok())
		win := z.s.at.Sub(a.s.at).Seconds()
		q := float64(z.pg[name]-a.pg[name]) - bgPG*win
		c := float64(z.redis[name]-a.redis[name]) - bgRd*win
		b.logf("  %-24s %d probes, beyond background: %+.0f queries (idle %.1f/s), %+.0f xact_commit, %+.0f Redis commands (idle %.1f/s), %+.0f PING",
			name, res.ok(), q, bgPG, x, c, bgRd, p)
		b.tab.set(rowPGq, name, q/n*1000, "%s", perThousand(q, n))
		b.tab.set(rowPG, name, x/n*1000, "%s", perThousand(x, n))
		b.tab.set(rowRdq, name, c/n*1000, "%s", perThousand(c, n))
		b.tab.set(rowRedis, name, p/n*1000, "%s", perThousand(p, n))
	}
}

// perThousand shows v per 1,000 of n, with the raw counts.
func perThousand(v, n float64) string {
	per := math.Round(v/n*1000*100)/100 + 0 // + 0: no "-0.00"
	return fmt.Sprintf("%.2f (%+.0f in %s probes)", per, math.Round(v)+0, thousands(n))
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
// every server has had time to notice, at a steady rate, so that a probe that stalls others counts them all.
func (b *bench) blackholed(ctx context.Context, deps []*running) {
	for _, r := range deps {
		r.pg.set(blackhole)
	}
	sleep(ctx, cutBound+500*time.Millisecond)
	for _, r := range deps {
		if ctx.Err() != nil {
			return
		}
		res := pace(ctx, r.addr, "/readyz", blackholeRate, b.p.blackhole, b.p.conns, bhTimeout)
		if len(res.latencies) == 0 {
			b.tab.fail(rowBH, r.srv.name, fmt.Errorf("no answer (%s; %v)", res.codes(), res.firstErr))
			continue
		}
		p50, p99 := res.quantile(0.5), res.quantile(0.99)
		b.logf("  %-24s blackholed: %d probes, p50 %v p99 %v (%s)", r.srv.name, len(res.latencies), p50, p99, res.codes())
		text := fmt.Sprintf("%s / %s", atLeastDur(p50, bhTimeout), atLeastDur(p99, bhTimeout))
		if res.errors > 0 {
			text += fmt.Sprintf(" (%d of %d unanswered after %v)", res.errors, len(res.latencies), bhTimeout)
		}
		if len(res.status) > 1 || (len(res.status) == 1 && res.status[503] == 0) {
			text += " (answered " + res.codes() + ", not only 503)"
		}
		b.tab.set(rowBH, r.srv.name, ms(p99), "%s", text)
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
			wg.Go(func() {
				at, err := waitStatus(ctx, r.url("/readyz"), want, 10*time.Millisecond, 10*time.Second)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs[r.srv.name] = err
					return
				}
				into[r.srv.name] = append(into[r.srv.name], at.Sub(t0))
			})
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
			wg.Go(func() {
				if err := b.waitUp(ctx, w, t.dep, t.rowWait); err != nil {
					b.tab.fail(t.rowWait, w.name, err)
				}
			})
			wg.Go(func() {
				if err := b.waitFailing(ctx, w, t.dep, t.rowTry); err != nil {
					b.tab.fail(t.rowTry, w.name, err)
				}
			})
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
	judge(rowRate, func(v float64) string {
		var parts []string
		if c, ok := t.value(rowRate, "net/http ceiling"); ok && c > 0 {
			parts = append(parts, atLeast(v/c, 0.9, "%.2f × ceiling", "%.2f"))
		}
		if s, ok := t.value(rowRate, "alexliesenfeld sync"); ok && s > 0 {
			parts = append(parts, atLeast(v/s, 10, "%.1f × sync peer", "%.0f"))
		}
		if s, ok := t.value(rowRate, "alexliesenfeld sync, no cache"); ok && s > 0 {
			parts = append(parts, fmt.Sprintf("(%.1f × the sync peer with its cache off)", v/s))
		}
		return strings.Join(parts, "; ")
	})
	judge(rowRatio, func(v float64) string { return atLeast(v, 0.9, "%.2f", "%.2f") })
	for _, row := range []string{rowPGq, rowPG, rowRdq, rowRedis} {
		judge(row, func(v float64) string {
			// Counts are whole requests against a background that drifts by a few: under 0.5 per 1,000
			// probes is no probe-driven traffic.
			return atMost(math.Abs(v), 0.5, "%.2f per 1,000", "0 (under 0.5 is noise)")
		})
	}
	judge(rowBH, func(v float64) string { return below(v, 5, "p99 %.2f ms", "5 ms") })
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

// atLeast judges v ≥ target; what formats v, want the target.
func atLeast(v, target float64, what, want string) string {
	got := fmt.Sprintf(what, v)
	if v >= target {
		return "met: " + got
	}
	return fmt.Sprintf("**missed** by %.0f%%: %s, target ≥ "+want, (1-v/target)*100, got, target)
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
	fmt.Fprintf(w, "- load: %d keep-alive connections, closed loop, `GET /readyz`, generator on the same cores; best of %d interleaved runs of %v\n",
		b.p.conns, b.p.rounds, b.p.run)
	fmt.Fprintf(w, "- checks: Postgres `SELECT 1` and Redis `PING`, every %v, timeout %v (peers alike); healthgate failure_threshold %d, success_threshold %d\n\n",
		interval, timeout, failureThreshold, successThreshold)
	b.tab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	fmt.Fprintf(w, "- 2: per 1,000 probes = (count over %v of probe load − idle rate × window) / 200s served. The proxy rows count what each server itself sends (Postgres Query and Sync messages, Redis commands). The service rows are global, and Postgres 15 publishes a backend's xact_commit only once it touches a table or disconnects: a pooled connection running only SELECT 1 is never counted while it stays open, so that row sees per-probe connections (hellofresh) but not per-probe queries on a pool (sync, no cache).\n", b.p.depWindow)
	if b.bgNote != "" {
		fmt.Fprintf(w, "- 2: %s.\n", b.bgNote)
	}
	fmt.Fprintf(w, "- 3: %d probes/s for %v over up to %d connections, from %v after the blackhole began; each probe timed from when it was due, so one that waits behind a stalled check counts; the answers were 503 unless the cell says otherwise.\n",
		blackholeRate, b.p.blackhole, b.p.conns, cutBound+500*time.Millisecond)
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

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

// quantile by the nearest-rank method.
func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
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
