package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Row keys, in the order of the figures (bench/README.md).
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

// step is one part of the run, which -only names by its key.
type step struct {
	key  string
	name string
	f    func(context.Context)
	rows []string // its rows of the main table, dropped when -only leaves it out
}

// steps are the parts of a run, in order.
func (b *bench) steps() []step {
	return []step{
		{"probes", "figures 1–5: probes, dependency load, blackhole, cut and restore, RSS", b.probeFigures,
			probeRows},
		{"rss10", "figure 5: RSS with 10 checks", b.rss10, []string{rowRSS10}},
		{"startup", "figure 7: start-up", b.startup, []string{rowStart}},
		{"wait", "figure 6: wait", b.wait, []string{rowWaitPG, rowWaitRd, rowTryPG, rowTryRd}},
		{"fleet", "fleet figure: HAProxy in front of 3 backends, fleet off and on; cost with 50 peers", b.fleet, nil},
		{"scale", "scale figure: CPU per check run and RSS at 10, 100, 1,000 checks", b.scale, nil},
		{"kinds", "kinds figure: binary size, RSS with 10 checks of every kind, connections per kind, grpc-go's cost",
			func(ctx context.Context) { b.kinds(ctx); b.grpcgoCost(ctx) }, nil},
	}
}

// stepKeys are the names -only takes.
func stepKeys() []string {
	var keys []string
	for _, s := range (&bench{}).steps() {
		keys = append(keys, s.key)
	}
	return keys
}

// measure takes every figure; a figure that cannot be taken keeps its error and the others go on.
// only, if not empty, names the steps to run (the others' figures are left out of the table).
func (b *bench) measure(ctx context.Context, only []string) {
	for _, s := range b.steps() {
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

// awaitReady waits until r answers /livez and /readyz with 200, for up to 30 s: no figure measures this
// wait, and a serve of hundreds of checks starting beside others on a loaded machine can take a while.
func awaitReady(ctx context.Context, r *running) error {
	for _, path := range []string{"/livez", "/readyz"} {
		if _, err := waitStatus(ctx, r.url(path), 200, 10*time.Millisecond, 30*time.Second); err != nil {
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

// report prints the header, the table and the notes.
func (b *bench) report(w *strings.Builder, cmd []string, took time.Duration, quickMode bool) {
	kind := "full"
	if quickMode {
		kind = "quick (figures only checked for presence; too short to compare)"
	}
	fmt.Fprintf(w, "\n### healthgate benchmark\n\n")
	fmt.Fprintf(w, "- date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(w, "- command: `%s` (%s run, took %v); healthgate commit %s\n", strings.Join(cmd, " "), kind, took.Round(time.Second), b.hgCommit)
	if b.tab.has(rowRate) {
		fmt.Fprintf(w, "- load: %d keep-alive connections, closed loop, `GET /readyz`, generator on the same cores; %d interleaved round(s) of %v\n",
			b.p.conns, b.p.rounds, b.p.run)
	}
	fmt.Fprintf(w, "- checks: Postgres `SELECT 1` and Redis `PING`, every %v, timeout %v (peers alike); healthgate failure_threshold %d, success_threshold %d\n\n",
		interval, timeout, failureThreshold, successThreshold)
	b.tab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	// A note only for the figures in the table (-only leaves some out).
	if b.tab.has(rowRate) {
		fmt.Fprintf(w, "- 1: each round's rate is divided by the same round's ceiling (the machine's speed drifts between rounds); the cells show the median and the range over the rounds. A target is met if every round met it, within noise if only the median did.\n")
	}
	if b.hopNote != "" {
		fmt.Fprintf(w, "- 1: %s. A server that queries on every probe (figure 2's closed-loop rows) pays it once per check per probe; the others only on their schedule.\n", b.hopNote)
	}
	if b.tab.has(rowPGq) {
		fmt.Fprintf(w, "- 2: closed loop: per 1,000 probes = (count over %v of probe load and 1.5 s after − idle rate × window) / probes answered (any status). Paced: %d probes/s for %v, every server at once (each counted at its own proxies), raw count beyond the idle rate. The proxy rows count what each server itself sends (Postgres Query and Sync messages, Redis commands). The service rows are global: Redis commands are all of INFO commandstats but INFO (the harness's reads); Postgres 15 publishes a backend's xact_commit only once it touches a table or disconnects, so a pooled connection running only SELECT 1 is never counted while it stays open, and that row sees per-probe connections (hellofresh) but not per-probe queries on a pool (sync, no cache).\n",
			b.p.depWindow, pacedRate, b.p.paced)
		fmt.Fprintf(w, "- 2: healthgate's verdicts compare its count beyond the idle rate with the noise of its check schedule: a window holds one run of each check more or fewer than its length says, and so did the idle window, so (1 + window/idle window) runs' worth of requests. The service rows count every client of the shared services: there the noise is %.1f per 1,000 probes.\n", globalNoise)
	}
	if b.bgNote != "" {
		fmt.Fprintf(w, "- 2: %s.\n", b.bgNote)
	}
	if b.tab.has(rowBH) {
		fmt.Fprintf(w, "- 3: from %v after the blackhole began; each probe timed from when it was due, so one that waits behind a stalled check counts; a probe is given up after %v; the answers were 503 unless the cell says otherwise. %d probes/s for %v over up to %d connections, server by server: where a cell says capacity, the server answered under 90%% of that rate (counted over the run less the time one probe alone takes), so its latencies are mostly time queued behind other probes. One at a time: 1 probe/s over one connection for %v, every server at once (staggered over the second), as one kubelet probes.\n",
			cutBound+500*time.Millisecond, bhTimeout, blackholeRate, b.p.blackhole, b.p.conns, b.p.single)
		fmt.Fprintf(w, "- 4: cut = the Postgres port closes and its connections are reset; /readyz polled every 10 ms; median (max) of %d.\n", b.p.cutReps)
	}
	if b.tab.has(rowWaitPG) {
		fmt.Fprintf(w, "- 6: %d runs per dependency, the port opens 1–2 s after the start; failing = Postgres answers FATAL 57P03 (starting up), Redis -LOADING; an attempt is a Postgres connection, or a Redis command other than the handshake (HELLO, AUTH, CLIENT, SELECT; a connection that sent none counts once); counted over %v after the first 5 s.\n",
			b.p.waitReps, b.p.failWindow)
	}
	if b.tab.has(rowStart) {
		fmt.Fprintf(w, "- 7: median of %d starts, /livez polled every 1 ms.\n", b.p.startReps)
	}
}
