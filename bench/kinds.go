package main

// The kinds figure: what the check kinds cost (README "The check kinds: binary, memory, connections").
//
// K1 is the size of the healthgate binary the harness built. K2 and K3 come from one `healthgate serve` with
// 10 checks of every kind whose service is here (postgres, redis, mysql, amqp, nats, mqtt, memcached, grpc,
// http, tcp, dns), every 1 s (timeout 500 ms), under a light probe load. Each kind that connects over TCP
// reaches its service through its own counting proxy of the harness (proxy.go, forwarding only), so the
// connections each kind opens are counted where they arrive. K2 is the peak resident set (VmHWM) at the end
// of the window. K3 is, per kind, the connections accepted during the window (after every check has passed
// once), per check and per run, scaled to an hour at the default interval (5 s, 720 runs an hour): a check
// that keeps its connection opens none; one that reconnects on every run opens 720.
//
// The services: Postgres, Redis, MariaDB, RabbitMQ, NATS and Mosquitto are CI's (a missing one is a missing
// figure); memcached and dnsmasq are started privately on free ports when their binaries are installed
// (`.ci/run` installs both; without them the kind's row says so and is not counted missing). The grpc checks
// ask a second healthgate's gRPC health service (server.grpc_listen); the http checks a server of the harness.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	colKinds       = "healthgate"
	kindsPerKind   = 10                 // checks of each kind
	kindsRSSTarget = 40e6               // bytes
	kindsDefault   = 5 * time.Second    // the default interval the per-hour figure is scaled to
	rowKindsBinary = "kindsbin"         //
	rowKindsRSS    = "kindsrss"         //
	kindsHour      = float64(time.Hour) //
)

// kindOrder is the order of the kinds in the table: every kind of the registry, once (TestLayoutBenchKinds in
// layout_test.go, in the main module, holds it to checks.Types()).
var kindOrder = []string{"postgres", "redis", "mysql", "amqp", "nats", "mqtt", "memcached", "grpc", "http", "tcp", "dns"}

// kindsCI are the kinds whose service CI guarantees: missing, their figures are missing.
var kindsCI = []string{"postgres", "redis", "mysql", "amqp", "nats", "mqtt"}

func rowKindConns(kind string) string { return "kindsconn-" + kind }

// kindsLayout creates the kinds table.
func (b *bench) kindsLayout() {
	t := newTable([]string{colKinds})
	all := []string{colKinds}
	t.add(rowKindsBinary, "K1. healthgate binary size (go build, as the harness builds it)", "—", all)
	t.add(rowKindsRSS, fmt.Sprintf("K2. peak RSS of serve, %d checks of every kind, every %v, under probes", kindsPerKind, interval), "< 40 MB", all)
	for _, k := range kindOrder {
		applies := all
		if k == "dns" {
			applies = nil // UDP: no connection to count
		}
		t.add(rowKindConns(k), fmt.Sprintf("K3. %s: connections opened per check per hour at interval %v, healthy", k, kindsDefault), "≤ 1", applies)
	}
	t.row(rowKindConns("dns")).cells[colKinds].text = "— (UDP: one query per run, no connection)"
	t.row(rowKindConns("dns")).target = "—"
	t.row(rowKindConns("tcp")).target = "— (the check is a connect)"
	t.row(rowKindConns("http")).target = "≤ 1 (keep-alive)"
	b.grpcgoLayout(t)
	b.kindsTab = t
}

// kindTarget is where one kind's checks go.
type kindTarget struct {
	kind     string
	upstream string // host:port of the service; "" for dns
	prx      *proxy
	check    func(i int, hostport string) string // the check's YAML flow mapping, given the address to use
	missing  error                               // why the kind is left out
}

// kinds takes the kinds figures.
func (b *bench) kinds(ctx context.Context) {
	t := b.kindsTab
	if b.healthgate == "" {
		t.failAll(colKinds, errors.New("healthgate is not built"))
		return
	}
	if fi, err := os.Stat(b.healthgate); err != nil {
		t.fail(rowKindsBinary, colKinds, err)
	} else {
		t.set(rowKindsBinary, colKinds, float64(fi.Size()), "%s bytes (%.1f MB)", thousands(float64(fi.Size())), float64(fi.Size())/1e6)
	}

	targets, cleanup, err := b.kindTargets(ctx)
	defer cleanup()
	if err != nil {
		t.fail(rowKindsRSS, colKinds, err)
		return
	}
	var present []*kindTarget
	for _, kt := range targets {
		if kt.missing == nil {
			present = append(present, kt)
			continue
		}
		b.logf("  %s: %v", kt.kind, kt.missing)
		if kt.kind == "dns" {
			continue
		}
		if slices.Contains(kindsCI, kt.kind) {
			t.fail(rowKindConns(kt.kind), colKinds, kt.missing)
		} else {
			c := t.row(rowKindConns(kt.kind)).cells[colKinds]
			*c = cell{na: true, text: "not measured: " + kt.missing.Error()}
		}
	}
	for _, kt := range present {
		if kt.upstream == "" {
			continue
		}
		if kt.prx, err = newProxy(dependency{kind: kt.kind, upstream: kt.upstream,
			counter: func() requestCounter { return nil }}); err != nil {
			t.fail(rowKindConns(kt.kind), colKinds, err)
			return
		}
		defer kt.prx.close()
	}

	var sb strings.Builder
	addr := freeAddr()
	fmt.Fprintf(&sb, "server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\n", addr)
	fmt.Fprintf(&sb, "defaults: {interval: %v, timeout: %v, failure_threshold: %d, success_threshold: %d}\n",
		interval, timeout, failureThreshold, successThreshold)
	sb.WriteString("checks:\n")
	var names []string
	for _, kt := range present {
		hp := kt.upstream
		if kt.prx != nil {
			hp = kt.prx.addr
		}
		names = append(names, kt.kind)
		for i := range kindsPerKind {
			fmt.Fprintf(&sb, "  - %s\n", kt.check(i, hp))
		}
	}
	file := filepath.Join(b.tmp, "healthgate-kinds.yaml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		t.fail(rowKindsRSS, colKinds, err)
		return
	}
	p, err := start("healthgate (every kind)", b.healthgate, "serve", "--config", file)
	if err != nil {
		t.fail(rowKindsRSS, colKinds, err)
		return
	}
	defer p.stop(3 * time.Second)
	r := &running{srv: servers[0], proc: p, addr: addr}
	if err := awaitReady(ctx, r); err != nil {
		err = fmt.Errorf("not ready with %d checks of %s: %w", kindsPerKind, strings.Join(names, ", "), err)
		t.failAll(colKinds, err)
		return
	}
	b.kindsNote = fmt.Sprintf("%d checks: %d each of %s", len(names)*kindsPerKind, kindsPerKind, strings.Join(names, ", "))

	// A light probe load, as in the scale figure: a kubelet and a load balancer.
	pctx, stopProbes := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var unanswered, not200 int
	var mu sync.Mutex
	wg.Go(guard(func() {
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tk.C:
			}
			code := status(pctx, r.url("/readyz"))
			mu.Lock()
			if code == 0 && pctx.Err() == nil {
				unanswered++
			} else if code != 200 && code != 0 {
				not200++
			}
			mu.Unlock()
		}
	}))
	defer func() { stopProbes(); wg.Wait() }()

	// Every check has passed once (ready); a second interval lets a pool finish what its first run began.
	sleep(ctx, interval+timeout)
	before := map[string]int64{}
	for _, kt := range present {
		if kt.prx != nil {
			before[kt.kind] = kt.prx.accepted.Load()
		}
	}
	failedBefore, failedErr := failedRuns(ctx, r)
	began := time.Now()
	sleep(ctx, b.p.kindsWindow)
	window := time.Since(began)
	after := map[string]int64{}
	for _, kt := range present {
		if kt.prx != nil {
			after[kt.kind] = kt.prx.accepted.Load()
		}
	}
	failedAfter, err := failedRuns(ctx, r)
	failedErr = cmp.Or(failedErr, err)
	rss, rssErr := peakRSS(p.cmd.Process.Pid)
	final := status(ctx, r.url("/readyz"))
	stopProbes()
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if !p.running() {
		t.failAll(colKinds, fmt.Errorf("serve exited (%d): %s", p.exitCode(), p.output()))
		return
	}
	if rssErr != nil {
		t.fail(rowKindsRSS, colKinds, rssErr)
	} else {
		t.set(rowKindsRSS, colKinds, float64(rss), "%.1f MB (%s)", float64(rss)/1e6, b.kindsNote)
		verdict := "met"
		if rss >= kindsRSSTarget {
			verdict = "**missed**"
		}
		t.row(rowKindsRSS).verdict = fmt.Sprintf("%s: %.1f MB", verdict, float64(rss)/1e6)
	}
	// A kind's figure counts only if its checks passed through the window: a failed run may reconnect,
	// which is no steady state. Judged per kind, by the runs that failed, so one slow check of one kind
	// on a loaded machine does not void the others; without /metrics, by the probes.
	healthy := unanswered == 0 && not200 == 0 && final == 200
	runs := window.Seconds() / interval.Seconds() // runs of each check in the window
	for _, kt := range present {
		if kt.prx == nil {
			continue
		}
		row := rowKindConns(kt.kind)
		if failedErr == nil {
			if n := failedAfter[kt.kind] - failedBefore[kt.kind]; n > 0 {
				t.fail(row, colKinds, fmt.Errorf("not healthy through the window: %d runs of %s checks failed", n, kt.kind))
				continue
			}
		} else if !healthy {
			t.fail(row, colKinds, fmt.Errorf("not healthy through the window: %d probes unanswered, %d not 200, last %d (and %v)", unanswered, not200, final, failedErr))
			continue
		}
		opened := after[kt.kind] - before[kt.kind]
		perRun := float64(opened) / kindsPerKind / runs
		perHour := perRun * kindsHour / float64(kindsDefault)
		resolution := 1.0 / kindsPerKind / runs * kindsHour / float64(kindsDefault)
		t.set(row, colKinds, perHour, "%s per hour (%d opened in %.0f s by %d checks, about %.0f runs each; %s when the checks started; one more in the window would read %.1f)",
			fmtPerHour(perHour), opened, window.Seconds(), kindsPerKind, runs, plural(before[kt.kind], "connection"), resolution)
		b.logf("  %-9s %d connections at the start, %d in %v", kt.kind, before[kt.kind], opened, window.Round(time.Millisecond))
		if kt.kind == "tcp" {
			t.row(row).verdict = fmt.Sprintf("a connect per run: %.2f per run", perRun)
			continue
		}
		verdict := "met"
		if perHour > 1 {
			verdict = "**missed**"
		}
		t.row(row).verdict = fmt.Sprintf("%s: %s per hour", verdict, fmtPerHour(perHour))
	}
}

// failedRuns is healthgate_check_runs_total{result="failure"} of r, summed by check type.
func failedRuns(ctx context.Context, r *running) (map[string]int64, error) {
	n := map[string]int64{}
	err := scrape(ctx, r, "healthgate_check_runs_total{", func(line string, v float64) {
		if !strings.Contains(line, `result="failure"`) {
			return
		}
		if _, rest, ok := strings.Cut(line, `type="`); ok {
			typ, _, _ := strings.Cut(rest, `"`)
			n[typ] += int64(v)
		}
	})
	return n, err
}

func fmtPerHour(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f", v)
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// kindTargets finds (or starts) a service for every kind; cleanup stops what it started.
func (b *bench) kindTargets(ctx context.Context) ([]*kindTarget, func(), error) {
	var stops []func()
	cleanup := func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	pgURL, rdURL := b.pg.url, b.rd.url
	list := []*kindTarget{
		{kind: "postgres", upstream: b.cnt.pgHost, check: func(i int, hp string) string {
			return fmt.Sprintf("{name: postgres%d, type: postgres, url: %q}", i, withHost(pgURL, hp))
		}},
		{kind: "redis", upstream: b.cnt.rdHost, check: func(i int, hp string) string {
			return fmt.Sprintf("{name: redis%d, type: redis, url: %q}", i, withHost(rdURL, hp))
		}},
		{kind: "mysql", upstream: "127.0.0.1:3306", check: func(i int, hp string) string {
			return fmt.Sprintf("{name: mysql%d, type: mysql, url: \"mysql://root@%s/test\"}", i, hp)
		}},
		{kind: "amqp", upstream: "127.0.0.1:5672", check: func(i int, hp string) string {
			return fmt.Sprintf("{name: amqp%d, type: amqp, url: \"amqp://guest:guest@%s/\"}", i, hp)
		}},
		{kind: "nats", upstream: "127.0.0.1:4222", check: func(i int, hp string) string {
			return fmt.Sprintf("{name: nats%d, type: nats, url: \"nats://%s\"}", i, hp)
		}},
		{kind: "mqtt", upstream: "127.0.0.1:1883", check: func(i int, hp string) string {
			return fmt.Sprintf("{name: mqtt%d, type: mqtt, url: \"mqtt://%s\"}", i, hp)
		}},
	}
	for _, kt := range list {
		if err := dialable(kt.upstream); err != nil {
			kt.missing = fmt.Errorf("no %s service at %s: %w", kt.kind, kt.upstream, err)
		}
	}

	mc := &kindTarget{kind: "memcached", check: func(i int, hp string) string {
		return fmt.Sprintf("{name: memcached%d, type: memcached, address: %q}", i, hp)
	}}
	if bin, err := exec.LookPath("memcached"); err != nil {
		mc.missing = errors.New("memcached is not installed")
	} else {
		mc.upstream = freeAddr()
		_, port, _ := net.SplitHostPort(mc.upstream)
		p, err := start("memcached", bin, "-u", "nobody", "-l", "127.0.0.1", "-p", port, "-U", "0")
		if err != nil {
			return list, cleanup, err
		}
		stops = append(stops, func() { p.stop(2 * time.Second) })
		if err := awaitDial(ctx, mc.upstream, p); err != nil {
			mc.missing = fmt.Errorf("memcached did not start: %w", err)
		}
	}
	list = append(list, mc)

	// grpc: a second healthgate with one tcp check (Redis) serving grpc.health.v1.
	g := &kindTarget{kind: "grpc", upstream: freeAddr(), check: func(i int, hp string) string {
		return fmt.Sprintf("{name: grpc%d, type: grpc, address: %q}", i, hp)
	}}
	gfile := filepath.Join(b.tmp, "healthgate-grpc-target.yaml")
	gaddr := freeAddr()
	gconf := fmt.Sprintf("server: {listen: %q, grpc_listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\nchecks:\n  - {name: cache, type: tcp, address: %q}\n",
		gaddr, g.upstream, b.cnt.rdHost)
	if err := os.WriteFile(gfile, []byte(gconf), 0o600); err != nil {
		return list, cleanup, err
	}
	gp, err := start("healthgate (grpc target)", b.healthgate, "serve", "--config", gfile)
	if err != nil {
		return list, cleanup, err
	}
	stops = append(stops, func() { gp.stop(3 * time.Second) })
	if err := awaitReady(ctx, &running{srv: servers[0], proc: gp, addr: gaddr}); err != nil {
		g.missing = fmt.Errorf("the grpc target did not start: %w", err)
	}
	list = append(list, g)

	// http: a server of the harness, keep-alive.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return list, cleanup, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }),
		ReadHeaderTimeout: 5 * time.Second}
	go guard(func() { hs.Serve(ln) })()
	stops = append(stops, func() { hs.Close() })
	list = append(list, &kindTarget{kind: "http", upstream: ln.Addr().String(), check: func(i int, hp string) string {
		return fmt.Sprintf("{name: http%d, type: http, url: \"http://%s/healthz\"}", i, hp)
	}})

	list = append(list, &kindTarget{kind: "tcp", upstream: b.cnt.rdHost, check: func(i int, hp string) string {
		return fmt.Sprintf("{name: tcp%d, type: tcp, address: %q}", i, hp)
	}})

	// dns: a private dnsmasq answering one name, else the system resolver on localhost (/etc/hosts).
	d := &kindTarget{kind: "dns"}
	if bin, err := exec.LookPath("dnsmasq"); err == nil {
		daddr := freeAddr() // a free TCP port; dnsmasq listens on UDP and TCP there
		_, port, _ := net.SplitHostPort(daddr)
		p, err := start("dnsmasq", bin, "-k", "--conf-file=/dev/null", "--port="+port, "--listen-address=127.0.0.1",
			"--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/bench.healthgate.test/127.0.0.1", "--user=root", "--pid-file=")
		if err != nil {
			return list, cleanup, err
		}
		stops = append(stops, func() { p.stop(2 * time.Second) })
		if err := awaitDial(ctx, daddr, p); err != nil {
			d.missing = fmt.Errorf("dnsmasq did not start: %w", err)
		}
		b.kindsDNS = "a private dnsmasq"
		d.check = func(i int, _ string) string {
			return fmt.Sprintf("{name: dns%d, type: dns, host: bench.healthgate.test., record: A, server: %q, expect: [127.0.0.1]}", i, daddr)
		}
	} else {
		b.kindsDNS = "the system resolver (localhost, /etc/hosts; dnsmasq is not installed)"
		d.check = func(i int, _ string) string {
			return fmt.Sprintf("{name: dns%d, type: dns, host: localhost, record: A}", i)
		}
	}
	list = append(list, d)
	return list, cleanup, nil
}

func dialable(hostport string) error {
	c, err := net.DialTimeout("tcp", hostport, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// awaitDial waits until hostport accepts a connection (at most 5 s) while p runs.
func awaitDial(ctx context.Context, hostport string, p *proc) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := dialable(hostport)
		if err == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("exited (%d): %s", p.exitCode(), p.output())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

// kindsReport prints the kinds table and its notes; header, when it is printed alone, says where and how.
func (b *bench) kindsReport(w *strings.Builder, header bool, cmd []string, took time.Duration, quickMode bool) {
	fmt.Fprintf(w, "\n### The check kinds: binary, memory, connections\n\n")
	if header {
		kind := "full"
		if quickMode {
			kind = "quick (figures only checked for presence; too short to compare)"
		}
		fmt.Fprintf(w, "- date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
		fmt.Fprintf(w, "- command: `%s` (%s run, took %v); healthgate commit %s\n", strings.Join(cmd, " "), kind, took.Round(time.Second), b.hgCommit)
	}
	fmt.Fprintf(w, "- one `healthgate serve` with %d checks of every kind (%s), every %v (timeout %v), GET /readyz twice a second; every kind but dns reaches its service through its own counting proxy of the harness; after every check passed, %v more, then a window of %v\n",
		kindsPerKind, b.kindsNote, interval, timeout, interval+timeout, b.p.kindsWindow)
	fmt.Fprintf(w, "- services: Postgres, Redis (tcp too), MariaDB (root, db test), RabbitMQ (guest), NATS, Mosquitto on their usual local ports; memcached started privately; grpc: a second healthgate's gRPC health service; http: a server of the harness; dns: %s\n\n", b.kindsDNS)
	b.kindsTab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	fmt.Fprintf(w, "- K2: VmHWM of the serve process at the end of the window.\n")
	fmt.Fprintf(w, "- K3: connections each kind's proxy accepted during the window, per check and per run, × 720 runs (an hour at the default interval of %v); the connections opened when the checks started are shown beside and not counted. A kind that keeps its connection reads 0; one that connects on every run reads 720 (tcp does: its check is the connect).\n", kindsDefault)
	fmt.Fprintf(w, "- K4: healthgate built again with one more file in package main (through `go build -overlay`, the repository untouched) that references grpc-go's client, server and health service, against the build of K1; the resident set of `serve` with one tcp check, %v after it is ready, median of %d starts each. Why the gRPC health server and the grpc check use net/http's HTTP/2 instead (docs/design.md).\n", 2*interval, grpcgoStarts)
}
