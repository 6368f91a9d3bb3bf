package main

// The scale figure: what one check run costs as the number of checks grows (docs/design.md §6).
//
// For each size (10, 100, 1,000 checks) one healthgate serves that many `tcp` checks of the local Redis,
// every 1 s (timeout 500 ms), under a light probe load (a kubelet and a load balancer: GET /readyz twice
// a second, GET /readyz?format=json once a second). After a warm-up, the CPU the process used over a window
// is divided by the runs completed in it: S1, CPU per run. S2 is the resident set at the end of the window,
// and what each check adds to it.
//
// The CPU is the sum, over the process's threads, of the first field of /proc/<pid>/task/<tid>/schedstat:
// nanoseconds on a CPU. /proc/<pid>/stat (utime + stime) counts the same time in clock ticks of 10 ms,
// too coarse for the 10-check size (a few ms of CPU per second); it is read too and shown beside, as a
// cross-check. The runs are the growth of healthgate_check_runs_total (summed over every check and result),
// scraped just before the window starts and just after it ends, outside the CPU reads.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scaleSizes are the numbers of checks measured; the first is the base the others are compared with.
var scaleSizes = []int{10, 100, 1000}

// scaleFlat is the target: CPU per run at the largest size within this factor of the smallest's.
const scaleFlat = 1.3

const colScale = "healthgate"

func rowScaleCPU(n int) string { return fmt.Sprintf("scalecpu%d", n) }
func rowScaleRSS(n int) string { return fmt.Sprintf("scalerss%d", n) }

// scalePoolChecks is the number of postgres checks of one database whose connections S3 counts: the
// 333 measured before pools were shared, which opened 666 when each check had its own pool of 2.
const scalePoolChecks = 333

const rowScalePools = "scalepools"

// scaleLayout creates the scale table.
func (b *bench) scaleLayout() {
	t := newTable([]string{colScale})
	all := []string{colScale}
	for i, n := range scaleSizes {
		target := "—"
		if i > 0 {
			target = fmt.Sprintf("≤ %.1f × each smaller size's figure", scaleFlat)
		}
		t.add(rowScaleCPU(n), fmt.Sprintf("S1. CPU per check run, %s checks", thousands(float64(n))), target, all)
	}
	for i, n := range scaleSizes {
		label := fmt.Sprintf("S2. RSS, %s checks", thousands(float64(n)))
		if i > 0 {
			label += fmt.Sprintf(" (per check beyond the %d-check figure)", scaleSizes[0])
		}
		t.add(rowScaleRSS(n), label, "—", all)
	}
	t.add(rowScalePools, fmt.Sprintf("S3. connections opened by %d `postgres` checks of one database", scalePoolChecks),
		"≤ 2 (one shared pool; before it: 666)", all)
	b.scaleTab = t
}

// scaleResult is one size's measurement.
type scaleResult struct {
	checks   int
	runs     float64
	cpu      time.Duration // schedstat
	cpuTicks time.Duration // /proc/<pid>/stat, 10 ms resolution
	window   time.Duration
	idle     time.Duration // the idle process's CPU over as long a window
	rss      int64
	probes   int
}

func (r scaleResult) perRun() time.Duration { return time.Duration(float64(r.cpu) / r.runs) }

// netPerRun is the CPU per run beyond the idle cost.
func (r scaleResult) netPerRun() time.Duration { return time.Duration(float64(r.cpu-r.idle) / r.runs) }

// scale takes the scale figures, one size after the other.
func (b *bench) scale(ctx context.Context) {
	if b.healthgate == "" {
		b.scaleTab.failAll(colScale, errors.New("healthgate is not built"))
		return
	}
	host := redisHostPort(b.rd.url)
	res := map[int]scaleResult{}
	// The idle cost first: the same process and probes with no check (`checks: []`). What the process
	// spends per second whatever its checks (probes, heartbeat, Go runtime) is taken off before dividing
	// by the runs, or it would make the smallest size look dear and any growth look flat.
	idle, err := b.scaleOne(ctx, 0, host)
	if err != nil {
		b.scaleTab.failAll(colScale, fmt.Errorf("idle (no checks): %w", err))
		return
	}
	idleRate := float64(idle.cpu) / idle.window.Seconds() // ns of CPU per second
	b.scaleIdle = fmt.Sprintf("idle (no checks, same probes): %s ms of CPU per second, RSS %.1f MB", fmtMillis(time.Duration(idleRate)), float64(idle.rss)/1e6)
	b.logf("  %s", b.scaleIdle)
	for _, n := range scaleSizes {
		if ctx.Err() != nil {
			return
		}
		r, err := b.scaleOne(ctx, n, host)
		if err != nil {
			b.scaleTab.fail(rowScaleCPU(n), colScale, err)
			b.scaleTab.fail(rowScaleRSS(n), colScale, err)
			b.logf("  %d checks: %v", n, err)
			continue
		}
		r.idle = time.Duration(idleRate * r.window.Seconds())
		res[n] = r
		b.logf("  %5d checks: %v CPU over %s runs in %v (%v per run beyond idle, %v in all; stat: %v), RSS %.1f MB, %d probes",
			n, r.cpu.Round(time.Millisecond), thousands(r.runs), r.window.Round(time.Millisecond), r.netPerRun().Round(time.Microsecond),
			r.perRun().Round(time.Microsecond), r.cpuTicks, float64(r.rss)/1e6, r.probes)
		b.scaleTab.set(rowScaleCPU(n), colScale, float64(r.netPerRun())/1e3, "%s µs (%s µs with the idle cost; %s CPU ms over %s runs in %.0f s, /proc stat: %s ms)",
			fmtMicros(r.netPerRun()), fmtMicros(r.perRun()), fmtMillis(r.cpu), thousands(r.runs), r.window.Seconds(), fmtMillis(r.cpuTicks))
	}
	if ctx.Err() == nil {
		b.scalePools(ctx)
	}
	base, ok := res[scaleSizes[0]]
	for _, n := range scaleSizes {
		r, have := res[n]
		if !have {
			continue
		}
		text := fmt.Sprintf("%.1f MB", float64(r.rss)/1e6)
		if ok && n != base.checks {
			text += fmt.Sprintf(" (%.1f KB per check)", float64(r.rss-base.rss)/float64(n-base.checks)/1e3)
		}
		b.scaleTab.set(rowScaleRSS(n), colScale, float64(r.rss)/1e6, "%s", text)
		if ok && n != base.checks {
			// Flat means within scaleFlat of every smaller size, not only of the smallest: at 10 checks
			// the runs of each second come in one small burst that pays the Go scheduler's wake-up on its
			// own (measured: about 380 µs per run, before and after this figure's fix), which would hide
			// a growth from 100 to 1,000 checks (it did: 0.98 × the 10-check figure, 1.81 × the 100-check
			// one, when every run published a snapshot).
			verdict, parts := "met", []string{}
			for _, m := range scaleSizes {
				smaller, have := res[m]
				if m >= n || !have {
					continue
				}
				ratio := float64(r.netPerRun()) / float64(smaller.netPerRun())
				if ratio > scaleFlat {
					verdict = "**missed**"
				}
				parts = append(parts, fmt.Sprintf("%.2f × the %s-check figure", ratio, thousands(float64(m))))
			}
			b.scaleTab.row(rowScaleCPU(n)).verdict = verdict + ": " + strings.Join(parts, ", ")
		}
	}
}

// scalePools counts the connections S3's checks open through a proxy: they share one pool of at most
// 2 connections (checks/shared.go), where each check once had its own.
func (b *bench) scalePools(ctx context.Context) {
	px, err := newProxy(b.pg)
	if err != nil {
		b.scaleTab.fail(rowScalePools, colScale, err)
		return
	}
	defer px.close()
	addr := freeAddr()
	var sb strings.Builder
	fmt.Fprintf(&sb, "server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\n", addr)
	fmt.Fprintf(&sb, "defaults: {interval: %v, timeout: %v}\nchecks:\n", interval, timeout)
	for i := range scalePoolChecks {
		fmt.Fprintf(&sb, "  - {name: pg%d, type: postgres, url: %q}\n", i, withHost(b.pg.url, px.addr))
	}
	file := filepath.Join(b.tmp, "healthgate-scale-pools.yaml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.scaleTab.fail(rowScalePools, colScale, err)
		return
	}
	p, err := start("healthgate (333 postgres checks)", b.healthgate, "serve", "--config", file)
	if err != nil {
		b.scaleTab.fail(rowScalePools, colScale, err)
		return
	}
	defer p.stop(3 * time.Second)
	r := &running{srv: servers[0], proc: p, addr: addr}
	if err := awaitReady(ctx, r); err != nil {
		b.scaleTab.fail(rowScalePools, colScale, err)
		return
	}
	runs0, _ := scrapeRuns(ctx, r.url("/metrics"))
	sleep(ctx, 3*interval) // every check runs three more times
	runs1, err := scrapeRuns(ctx, r.url("/metrics"))
	if err != nil {
		b.scaleTab.fail(rowScalePools, colScale, err)
		return
	}
	n := px.accepted.Load()
	b.logf("  %d postgres checks of one database: %d connections accepted by the proxy over %s runs", scalePoolChecks, n, thousands(runs1))
	b.scaleTab.set(rowScalePools, colScale, float64(n), "%d (over %s runs, %s of them in the last %v)", n, thousands(runs1), thousands(runs1-runs0), 3*interval)
	if n <= 2 {
		b.scaleTab.row(rowScalePools).verdict = "met"
	} else {
		b.scaleTab.row(rowScalePools).verdict = "**missed**"
	}
}

// scaleOne measures one size.
func (b *bench) scaleOne(ctx context.Context, n int, redis string) (scaleResult, error) {
	res := scaleResult{checks: n}
	addr := freeAddr()
	var sb strings.Builder
	fmt.Fprintf(&sb, "server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\n", addr)
	fmt.Fprintf(&sb, "defaults: {interval: %v, timeout: %v, failure_threshold: %d, success_threshold: %d}\n",
		interval, timeout, failureThreshold, successThreshold)
	sb.WriteString("checks:")
	if n == 0 {
		sb.WriteString(" []")
	}
	sb.WriteString("\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - {name: tcp%d, type: tcp, address: %q}\n", i, redis)
	}
	file := filepath.Join(b.tmp, fmt.Sprintf("healthgate-scale-%d.yaml", n))
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		return res, err
	}
	p, err := start(fmt.Sprintf("healthgate (%d checks)", n), b.healthgate, "serve", "--config", file)
	if err != nil {
		return res, err
	}
	defer p.stop(3 * time.Second)
	r := &running{srv: servers[0], proc: p, addr: addr}
	if err := awaitReady(ctx, r); err != nil {
		return res, err
	}
	pid := p.cmd.Process.Pid

	// The probe load runs from the warm-up to the end of the window.
	pctx, stopProbes := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var probes, failed int
	var mu sync.Mutex
	for _, pr := range []struct {
		path  string
		every time.Duration
	}{{"/readyz", 500 * time.Millisecond}, {"/readyz?format=json", time.Second}} {
		wg.Go(guard(func() {
			t := time.NewTicker(pr.every)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
				}
				code := status(pctx, r.url(pr.path))
				mu.Lock()
				probes++
				if code == 0 && pctx.Err() == nil {
					failed++
				}
				mu.Unlock()
			}
		}))
	}
	defer func() { stopProbes(); wg.Wait() }()

	sleep(ctx, b.p.scaleWarm)
	runs0, err := scrapeRuns(ctx, r.url("/metrics"))
	if err != nil && (n > 0 || !errors.Is(err, errNoSeries)) {
		return res, err
	}
	cpu0, err := taskCPU(pid)
	if err != nil {
		return res, err
	}
	ticks0, err := statCPU(pid)
	if err != nil {
		return res, err
	}
	began := time.Now()
	sleep(ctx, b.p.scaleWindow)
	cpu1, err := taskCPU(pid)
	if err != nil {
		return res, err
	}
	ticks1, _ := statCPU(pid)
	res.window = time.Since(began)
	runs1, err := scrapeRuns(ctx, r.url("/metrics"))
	if err != nil && (n > 0 || !errors.Is(err, errNoSeries)) {
		return res, err
	}
	if res.rss, err = currentRSS(pid); err != nil {
		return res, err
	}
	stopProbes()
	wg.Wait()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.cpu, res.cpuTicks, res.runs, res.probes = cpu1-cpu0, ticks1-ticks0, runs1-runs0, probes
	if n > 0 && res.runs < float64(n) {
		return res, fmt.Errorf("only %.0f runs of %d checks in %v", res.runs, n, res.window.Round(time.Millisecond))
	}
	if failed > 0 {
		return res, fmt.Errorf("%d of %d probes unanswered", failed, probes)
	}
	return res, nil
}

// redisHostPort is the host:port of the Redis URL (a tcp check connects there).
func redisHostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "127.0.0.1:6379"
	}
	if u.Port() == "" {
		return u.Hostname() + ":6379"
	}
	return u.Host
}

// taskCPU is the CPU time of every thread of pid so far: the sum of the first field (ns on a CPU) of
// /proc/<pid>/task/*/schedstat.
func taskCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited meanwhile
			}
			return 0, err
		}
		ns, err := parseSchedstat(string(data))
		if err != nil {
			return 0, err
		}
		total += ns
	}
	return time.Duration(total), nil
}

func parseSchedstat(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, fmt.Errorf("schedstat %q: no fields", s)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// statCPU is utime + stime of pid from /proc/<pid>/stat, in clock ticks of 10 ms (USER_HZ 100 on Linux).
func statCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(data))
}

func parseStatCPU(s string) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// scrapeRuns sums healthgate_check_runs_total over every series of a /metrics scrape.
func scrapeRuns(ctx context.Context, u string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return sumCounter(resp.Body, "healthgate_check_runs_total")
}

// errNoSeries: the scrape has no series of the family (a healthgate without checks has no run counters).
var errNoSeries = errors.New("no series of healthgate_check_runs_total in the scrape")

// sumCounter sums the samples of one metric family in the Prometheus text format.
func sumCounter(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	total, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", name, line, err)
		}
		total, found = total+v, true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, errNoSeries
	}
	return total, nil
}

func fmtMicros(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64)
}

func fmtMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64)
}

// scaleReport prints the scale table and its notes; header, when the main table is left out (-only scale),
// says where and how it was taken.
func (b *bench) scaleReport(w *strings.Builder, header bool, cmd []string, took time.Duration, quickMode bool) {
	fmt.Fprintf(w, "\n### Cost per check run as the checks grow\n\n")
	if header {
		kind := "full"
		if quickMode {
			kind = "quick (figures only checked for presence; too short to compare)"
		}
		fmt.Fprintf(w, "- date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
		fmt.Fprintf(w, "- command: `%s` (%s run, took %v); healthgate commit %s\n", strings.Join(cmd, " "), kind, took.Round(time.Second), b.hgCommit)
	}
	fmt.Fprintf(w, "- one healthgate per size, one after the other: N `tcp` checks of the local Redis, every %v (timeout %v); probes meanwhile: GET /readyz twice a second, GET /readyz?format=json once a second; %v of warm-up, then a window of %v\n\n",
		interval, timeout, b.p.scaleWarm, b.p.scaleWindow)
	b.scaleTab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	fmt.Fprintf(w, "- S1: CPU of the serve process over the window (every thread's time on a CPU, /proc/<pid>/task/*/schedstat, in ns; /proc/<pid>/stat's utime + stime, in 10 ms ticks, beside it), less the idle cost over as long a window, divided by the runs completed in it (growth of healthgate_check_runs_total); the figure with the idle cost left in is shown beside. The idle cost is what the same process spends per second under the same probes with `checks: []` (%s): the probes, the heartbeat and the Go runtime, paid whatever the checks. At 10 checks each run also wakes an otherwise idle process (the scheduler, the network poller), which at 1,000 checks, where the process is never idle, is shared.\n", b.scaleIdle)
	fmt.Fprintf(w, "- S2: VmRSS at the end of the window; per check = (RSS − RSS at %d checks) / (N − %d).\n", scaleSizes[0], scaleSizes[0])
	fmt.Fprintf(w, "- S3: one healthgate with %d `postgres` checks of the local Postgres's database through a counting proxy, every %v; the connections the proxy accepted once every check passed and ran three more times. Checks of one target share one pool of at most 2 (README \"Checks of one target share one pool\"); each check had its own before, 2 × %d = %d.\n", scalePoolChecks, interval, scalePoolChecks, 2*scalePoolChecks)
}
