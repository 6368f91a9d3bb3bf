package main

// The fleet figure: fleet-aware readiness (a check with `scope: shared` and a `fleet:` section, docs/design.md
// §10) measured behind a real load balancer, and what the peer requests cost.
//
// F1/F2: two identical stacks side by side, one per column: Debian's HAProxy in front of 3 small app backends
// (HTTP servers of the harness that always answer 200), each backend health-checked by HAProxy on /readyz of
// its own healthgate process (`option httpchk`, `check port`), each healthgate reaching the shared Postgres
// through its own fault proxy. "fleet off" has no fleet section; "fleet on" marks the Postgres check
// `scope: shared` and lists the 3 healthgates as peers. A paced client sends requests through HAProxy; a 200
// came from an app (HAProxy itself answers 503 when no server is up). Postgres is cut for all three backends,
// then for backend 1 only.
//
// F3/F4: one healthgate with 50 in-process peers that answer /fleetz as a healthgate would, sample 10: the
// fleet requests it sends per second while its shared check fails and while it passes, counted at the peers
// and in its /metrics; and /fleetz against /readyz under the closed-loop load of figure 1.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rows of the fleet table.
const (
	rowLBAll    = "lball"
	rowLB503    = "lb503"
	rowLBOne    = "lbone"
	rowCostFail = "fleetcostfail"
	rowCostIdle = "fleetcostidle"
	rowFleetz   = "fleetz"
)

// Columns of the fleet table.
const (
	colOff = "fleet off"
	colOn  = "fleet on"
)

const (
	lbBackends   = 3
	lbRate       = 100                    // client requests per second through HAProxy
	lbConns      = 8                      // the client's connections to HAProxy
	lbTimeout    = 2 * time.Second        // a client request unanswered after this is an error
	lbInter      = 500 * time.Millisecond // HAProxy's check interval
	lbFall       = 2                      // failed checks before HAProxy takes a server out
	lbRise       = 1                      // passed checks before it puts it back
	lbGap        = 500 * time.Millisecond // an app without a request for this long is out of HAProxy
	fleetTimeout = 500 * time.Millisecond // healthgate's fleet.timeout: under the 1 s interval
	costPeers    = 50
	costSample   = 10
	fleetCheck   = "db"
)

// fleetLayout creates the fleet table.
func (b *bench) fleetLayout() {
	t := newTable([]string{colOff, colOn})
	both := []string{colOff, colOn}
	on := []string{colOn}
	t.add(rowLBAll, fmt.Sprintf("F1. Postgres cut for all %d backends for %v: client requests through HAProxy that reached an app", lbBackends, b.p.fleetCut),
		"on: the apps answer; off: HAProxy's 503", both)
	t.add(rowLB503, "F1. … HAProxy 503s (no server available), first – last after the cut; backends that left HAProxy", "on: none", both)
	t.add(rowLBOne, fmt.Sprintf("F2. Postgres cut for backend 1 only, %v: backend 1 leaves after (its last request); client errors (non-200 or no answer); back after the restore", b.p.fleetOneCut),
		"leaves; 0 errors", both)
	t.add(rowCostFail, fmt.Sprintf("F3. fleet requests per pod per second, shared check failing, %d peers, sample %d", costPeers, costSample),
		fmt.Sprintf("≤ sample / interval = %d/s", int(float64(costSample)/interval.Seconds())), on)
	t.add(rowCostIdle, "F3. … all checks passing", "0", on)
	t.add(rowFleetz, "F4. /fleetz answers per second vs /readyz, closed loop, median (min–max) of the rounds", "≈ /readyz", on)
	b.fleetTab = t
}

// fleet takes the fleet figures.
func (b *bench) fleet(ctx context.Context) {
	if b.healthgate == "" {
		b.fleetTab.failAll(colOff, errors.New("healthgate is not built"))
		b.fleetTab.failAll(colOn, errors.New("healthgate is not built"))
		return
	}
	b.balancer(ctx)
	b.fleetCost(ctx)
	b.fleetVerdicts()
}

// app is one backend behind HAProxy: it answers every request 200 and notes when each came.
type app struct {
	srv  *http.Server
	addr string
	mu   sync.Mutex
	hits []time.Time
}

func startApp(name string) (*app, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &app{addr: ln.Addr().String()}
	body := []byte(name + "\n")
	a.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		a.hits = append(a.hits, time.Now())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})}
	go guard(func() { a.srv.Serve(ln) })()
	return a, nil
}

// between returns the times of the requests a received in [from, to).
func (a *app) between(from, to time.Time) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []time.Time
	for _, t := range a.hits {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out
}

func (a *app) close() { a.srv.Close() }

// stack is one column of F1/F2: HAProxy, its apps, and their healthgates.
type stack struct {
	col     string
	haproxy *proc
	front   string // HAProxy's frontend address
	apps    []*app
	hg      []*running
}

func (s *stack) stop() {
	if s.haproxy != nil {
		s.haproxy.stop(3 * time.Second)
	}
	for _, r := range s.hg {
		r.stop()
	}
	for _, a := range s.apps {
		a.close()
	}
}

// startHealthgate starts one healthgate with one Postgres check through its own proxy; fleet, when not
// empty, is its fleet section (and the check is shared).
func (b *bench) startHealthgate(name, addr string, fleet string) (*running, error) {
	r := &running{srv: server{name: name, deps: true}, addr: addr}
	var err error
	if r.pg, err = newProxy(b.pg); err != nil {
		return nil, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\n", addr)
	fmt.Fprintf(&sb, "defaults: {interval: %v, timeout: %v, failure_threshold: %d, success_threshold: %d}\n",
		interval, timeout, failureThreshold, successThreshold)
	scope := ""
	if fleet != "" {
		scope = ", scope: shared"
		sb.WriteString(fleet)
	}
	fmt.Fprintf(&sb, "checks:\n  - {name: %s, type: postgres, url: %q%s}\n", fleetCheck, withHost(b.pg.url, r.pg.addr), scope)
	file := filepath.Join(b.tmp, fmt.Sprintf("fleet-%s.yaml", strings.ReplaceAll(addr, ":", "-")))
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		r.stop()
		return nil, err
	}
	if r.proc, err = start(name, b.healthgate, "serve", "--config", file); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// fleetSection is a fleet section listing peers.
func fleetSection(peers []string, sample int) string {
	return fmt.Sprintf("fleet: {peers: [%s], sample: %d, timeout: %v}\n", strings.Join(peers, ", "), sample, fleetTimeout)
}

// startStack starts the apps, their healthgates and HAProxy, and waits until HAProxy sends to every app.
func (b *bench) startStack(ctx context.Context, col, haproxyBin string, fleetOn bool) (*stack, error) {
	s := &stack{col: col}
	hgAddrs := make([]string, lbBackends)
	for i := range hgAddrs {
		hgAddrs[i] = freeAddr()
	}
	fleet := ""
	if fleetOn {
		fleet = fleetSection(hgAddrs, costSample) // every healthgate, itself included: it skips itself
	}
	for i := range lbBackends {
		a, err := startApp(fmt.Sprintf("app%d", i+1))
		if err != nil {
			s.stop()
			return nil, err
		}
		s.apps = append(s.apps, a)
		r, err := b.startHealthgate(fmt.Sprintf("healthgate %s %d", col, i+1), hgAddrs[i], fleet)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.hg = append(s.hg, r)
	}
	for _, r := range s.hg {
		if err := awaitReady(ctx, r); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w", r.srv.name, err)
		}
	}
	s.front = freeAddr()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 1
    option redispatch
frontend front
    bind %s
    default_backend apps
backend apps
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter %dms fall %d rise %d
`, s.front, lbInter.Milliseconds(), lbFall, lbRise)
	for i, a := range s.apps {
		_, hgPort, _ := net.SplitHostPort(hgAddrs[i])
		fmt.Fprintf(&cfg, "    server app%d %s check port %s\n", i+1, a.addr, hgPort)
	}
	file := filepath.Join(b.tmp, fmt.Sprintf("haproxy-%s.cfg", strings.ReplaceAll(col, " ", "-")))
	if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
		s.stop()
		return nil, err
	}
	var err error
	if s.haproxy, err = start("haproxy "+col, haproxyBin, "-f", file, "-db"); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.awaitAllIn(ctx, 10*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// awaitAllIn waits until a short burst of client requests through HAProxy reaches every app, all answered.
func (s *stack) awaitAllIn(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := ""
	for ctx.Err() == nil && time.Now().Before(deadline) {
		from := time.Now()
		res := paceLog(ctx, s.front, "/", lbRate, 500*time.Millisecond, lbConns, lbTimeout)
		to := time.Now()
		in := 0
		for _, a := range s.apps {
			if len(a.between(from, to)) > 0 {
				in++
			}
		}
		ok := 0
		for _, h := range res {
			if h.code == 200 {
				ok++
			}
		}
		if in == len(s.apps) && ok == len(res) && ok > 0 {
			return nil
		}
		last = fmt.Sprintf("%d of %d apps reached, %d of %d requests answered 200", in, len(s.apps), ok, len(res))
		if !s.haproxy.running() {
			return fmt.Errorf("haproxy exited (%d): %s", s.haproxy.exitCode(), s.haproxy.output())
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s: not every backend in after %v (%s; haproxy: %s)", s.col, limit, last, s.haproxy.output())
}

// sent is one client request: when it was due (from the start of the run) and what came back.
type sent struct {
	at   time.Duration
	code int // 0: no answer
}

// paceLog sends GET path to addr at rate for d, like pace, and returns every request with its outcome.
func paceLog(ctx context.Context, addr, path string, rate float64, d time.Duration, conns int, timeout time.Duration) []sent {
	n := int(rate * d.Seconds())
	due := make(chan time.Duration, n)
	begin := time.Now()
	go guard(func() {
		defer close(due)
		for i := range n {
			at := time.Duration(float64(i) / rate * float64(time.Second))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(begin.Add(at))):
				due <- at
			}
		}
	})()
	var mu sync.Mutex
	var out []sent
	var wg sync.WaitGroup
	for range conns {
		wg.Go(guard(func() {
			cl := newClient(addr, path)
			defer cl.close()
			for at := range due {
				code, err := cl.do(begin.Add(at).Add(timeout))
				if err != nil {
					code = 0
				}
				mu.Lock()
				out = append(out, sent{at: at, code: code})
				mu.Unlock()
			}
		}))
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b sent) int { return int(a.at - b.at) })
	return out
}

// balancer is F1 and F2, both stacks at once (the same moment, the same machine load).
func (b *bench) balancer(ctx context.Context) {
	rows := []string{rowLBAll, rowLB503, rowLBOne}
	fail := func(col string, err error) {
		for _, r := range rows {
			b.fleetTab.fail(r, col, err)
		}
	}
	hap, err := exec.LookPath("haproxy")
	if err != nil {
		err = errors.New("haproxy not found (Debian: apt-get install haproxy; .ci/run installs it)")
		fail(colOff, err)
		fail(colOn, err)
		return
	}
	b.haproxyVersion = haproxyVersion(hap)
	stacks := make([]*stack, 2)
	var wg sync.WaitGroup
	for i, col := range []string{colOff, colOn} {
		wg.Go(guard(func() {
			s, err := b.startStack(ctx, col, hap, col == colOn)
			if err != nil {
				fail(col, err)
				return
			}
			stacks[i] = s
		}))
	}
	wg.Wait()
	var live []*stack
	for _, s := range stacks {
		if s != nil {
			live = append(live, s)
			defer s.stop()
		}
	}
	if len(live) == 0 {
		return
	}

	// F1: every backend's Postgres is cut for fleetCut; the client goes on for fleetTail after the restore.
	runs := b.cutRun(ctx, live, b.p.fleetCut, func(s *stack) []*running { return s.hg })
	for _, s := range live {
		r := runs[s.col]
		var during, ok, lb503, other int
		var first, last time.Duration = -1, -1
		for _, h := range r.sent {
			if h.at < r.cut {
				during++
				if h.code == 200 {
					ok++
				}
			}
			switch {
			case h.code == 503:
				lb503++
				if first < 0 {
					first = h.at
				}
				last = h.at
			case h.code != 200:
				other++
			}
		}
		if during == 0 {
			b.fleetTab.fail(rowLBAll, s.col, errors.New("no client request sent"))
			b.fleetTab.fail(rowLB503, s.col, errors.New("no client request sent"))
			continue
		}
		share := float64(ok) / float64(during)
		extra := ""
		if other > 0 {
			extra = fmt.Sprintf("; %d other errors", other)
		}
		b.fleetTab.set(rowLBAll, s.col, share, "%.1f%% (%s of %s)%s", 100*share, thousands(float64(ok)), thousands(float64(during)), extra)
		left, longest, outAtRestore := r.outages()
		backText := fmt.Sprintf("%d of %d backends left HAProxy", left, len(s.apps))
		if left > 0 {
			backText += fmt.Sprintf(" (longest out during the cut: %s", fmtDur(longest))
			if outAtRestore > 0 {
				if back := r.backAfter(); back >= 0 {
					backText += fmt.Sprintf("; %d still out at the restore, all back %s after it", outAtRestore, fmtDur(back))
				} else {
					backText += fmt.Sprintf("; %d still out at the restore, not all back before the run ended", outAtRestore)
				}
			}
			backText += ")"
		}
		if lb503 == 0 {
			b.fleetTab.set(rowLB503, s.col, 0, "none in %s requests; %s", thousands(float64(len(r.sent))), backText)
		} else {
			b.fleetTab.set(rowLB503, s.col, float64(lb503), "%s: %s – %s%s; %s", thousands(float64(lb503)), fmtDur(first), fmtDur(last),
				afterRestore(last, r.cut), backText)
		}
		b.logf("  %-10s all cut: %d of %d requests reached an app; %d HAProxy 503 (first %v, last %v); %s",
			s.col, ok, during, lb503, first, last, backText)
	}
	// A stack whose backends are not all back fails its F2 cell alone: the other column still runs.
	var ready []*stack
	for _, s := range live {
		if err := s.awaitAllIn(ctx, 15*time.Second); err != nil {
			b.fleetTab.fail(rowLBOne, s.col, err)
			continue
		}
		ready = append(ready, s)
	}
	if len(ready) == 0 {
		return
	}

	// F2: backend 1's Postgres only.
	runs = b.cutRun(ctx, ready, b.p.fleetOneCut, func(s *stack) []*running { return s.hg[:1] })
	for _, s := range ready {
		r := runs[s.col]
		errs := 0
		for _, h := range r.sent {
			if h.code != 200 {
				errs++
			}
		}
		hits := s.apps[0].between(r.t0, r.t0.Add(r.cut))
		if len(hits) == 0 {
			b.fleetTab.fail(rowLBOne, s.col, errors.New("backend 1 got no request at all during the cut"))
			continue
		}
		left := hits[len(hits)-1].Sub(r.t0)
		// It left if it got nothing in the last second of the cut, while the others got about lbRate/2 each.
		if r.cut-left < time.Second {
			b.fleetTab.set(rowLBOne, s.col, -1, "did not leave (a request %s after the cut, %s before the restore); %d errors in %s",
				fmtDur(left), fmtDur(r.cut-left), errs, thousands(float64(len(r.sent))))
			continue
		}
		back := "not back before the run ended"
		if after := s.apps[0].between(r.t0.Add(r.cut), r.t0.Add(r.cut+b.p.fleetTail+lbTimeout)); len(after) > 0 {
			back = "back " + fmtDur(after[0].Sub(r.t0.Add(r.cut))) + " after the restore"
		}
		b.fleetTab.set(rowLBOne, s.col, float64(errs), "left %s after the cut; %d errors in %s requests; %s",
			fmtDur(left), errs, thousands(float64(len(r.sent))), back)
		b.logf("  %-10s one cut: backend 1 left %v after the cut; %d errors in %d; %s", s.col, left, errs, len(r.sent), back)
	}
}

// afterRestore says where a time falls relative to the restore at cut.
func afterRestore(t, cut time.Duration) string {
	if t >= cut {
		return fmt.Sprintf(" (%s after the restore)", fmtDur(t-cut))
	}
	return ""
}

// cutResult is one stack's client log over a cut and the tail after it.
type cutResult struct {
	t0   time.Time
	cut  time.Duration
	sent []sent
	apps []*app
}

// outages finds, for each app, its longest stretch without a request during the cut (from the cut, between
// two requests, or until the restore); it gets one every 30 ms or so while HAProxy sends to it, so a stretch
// longer than lbGap means HAProxy had taken it out. It returns how many apps were out at some point, the
// longest stretch, and how many were still out at the restore.
func (r cutResult) outages() (left int, longest time.Duration, outAtRestore int) {
	end := r.t0.Add(r.cut)
	for _, a := range r.apps {
		prev := r.t0
		var worst time.Duration
		for _, t := range append(a.between(r.t0, end), end) {
			worst = max(worst, t.Sub(prev))
			if t.Equal(end) && t.Sub(prev) > lbGap {
				outAtRestore++
			}
			prev = t
		}
		if worst > lbGap {
			left++
			longest = max(longest, worst)
		}
	}
	return left, longest, outAtRestore
}

// backAfter is when, after the restore, every app had received a request again; -1 if not all did.
func (r cutResult) backAfter() time.Duration {
	restore := r.t0.Add(r.cut)
	var worst time.Duration
	for _, a := range r.apps {
		hits := a.between(restore, restore.Add(time.Hour))
		if len(hits) == 0 {
			return -1
		}
		worst = max(worst, hits[0].Sub(restore))
	}
	return worst
}

// cutRun refuses Postgres to the healthgates which() picks in every stack for cut, restores it, and logs the
// client's requests through each HAProxy over the cut and fleetTail after.
func (b *bench) cutRun(ctx context.Context, live []*stack, cut time.Duration, which func(*stack) []*running) map[string]cutResult {
	out := map[string]cutResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, s := range live {
		for _, r := range which(s) {
			r.pg.set(refuse)
		}
	}
	wg.Go(guard(func() {
		sleep(ctx, cut)
		for _, s := range live {
			for _, r := range which(s) {
				r.pg.set(forward)
			}
		}
	}))
	for _, s := range live {
		wg.Go(guard(func() {
			log := paceLog(ctx, s.front, "/", lbRate, cut+b.p.fleetTail, lbConns, lbTimeout)
			mu.Lock()
			out[s.col] = cutResult{t0: t0, cut: cut, sent: log, apps: s.apps}
			mu.Unlock()
		}))
	}
	wg.Wait()
	return out
}

func haproxyVersion(bin string) string {
	out, err := exec.Command(bin, "-v").Output()
	if err != nil {
		return "HAProxy (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) >= 3 {
		return "HAProxy " + f[2]
	}
	return strings.TrimSpace(line)
}

// fakePeer answers /fleetz as a healthgate whose check db fails, and counts the requests.
type fakePeer struct {
	srv  *http.Server
	addr string
	n    atomic.Int64
}

func startFakePeer(i int) (*fakePeer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &fakePeer{addr: ln.Addr().String()}
	body := []byte(fmt.Sprintf(`{"instance":"bench-peer-%d","checks":{%q:"failing"}}`+"\n", i, fleetCheck))
	p.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fleetz" {
			http.NotFound(w, r)
			return
		}
		p.n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go guard(func() { p.srv.Serve(ln) })()
	return p, nil
}

// fleetCost is F3 and F4.
func (b *bench) fleetCost(ctx context.Context) {
	rows := []string{rowCostFail, rowCostIdle, rowFleetz}
	fail := func(err error) {
		for _, r := range rows {
			b.fleetTab.fail(r, colOn, err)
		}
	}
	var peers []*fakePeer
	defer func() {
		for _, p := range peers {
			p.srv.Close()
		}
	}()
	var addrs []string
	for i := range costPeers {
		p, err := startFakePeer(i + 1)
		if err != nil {
			fail(err)
			return
		}
		peers = append(peers, p)
		addrs = append(addrs, p.addr)
	}
	count := func() int64 {
		var n int64
		for _, p := range peers {
			n += p.n.Load()
		}
		return n
	}
	r, err := b.startHealthgate("healthgate fleet of 50", freeAddr(), fleetSection(addrs, costSample))
	if err != nil {
		fail(err)
		return
	}
	defer r.stop()
	if err := awaitReady(ctx, r); err != nil {
		fail(err)
		return
	}

	// Healthy: no fleet traffic.
	w := b.p.fleetWindow
	c0, m0, t0 := count(), fleetRequests(ctx, r), time.Now()
	sleep(ctx, w)
	c1, m1, el := count(), fleetRequests(ctx, r), time.Since(t0)
	if m0 < 0 || m1 < 0 {
		b.fleetTab.fail(rowCostIdle, colOn, errors.New("no healthgate_fleet_requests_total in /metrics"))
	} else {
		b.fleetTab.set(rowCostIdle, colOn, float64(c1-c0)/el.Seconds(), "%.1f/s (%d requests in %v at the peers, %d in /metrics)",
			float64(c1-c0)/el.Seconds(), c1-c0, el.Round(100*time.Millisecond), m1-m0)
	}

	// /fleetz against /readyz, interleaved rounds like figure 1.
	var rz, fz []float64
	for range b.p.rounds {
		if ctx.Err() != nil {
			return
		}
		for _, path := range []string{"/readyz", "/fleetz"} {
			load(ctx, r.addr, path, b.p.conns, 300*time.Millisecond, 10*time.Second) // warm up
			res := load(ctx, r.addr, path, b.p.conns, b.p.run, 10*time.Second)
			b.logf("  %-8s %8.0f/s (%s)", path, res.rate(), res.codes())
			if path == "/readyz" {
				rz = append(rz, res.rate())
			} else {
				fz = append(fz, res.rate())
			}
		}
	}
	if len(fz) == 0 || slices.Max(fz) == 0 {
		b.fleetTab.fail(rowFleetz, colOn, errors.New("/fleetz served no 200"))
	} else {
		ratios := perRound(fz, rz)
		f := func(v float64) string { return fmt.Sprintf("%.2f", v) }
		b.fleetTab.set(rowFleetz, colOn, median(ratios), "%s/s%s vs /readyz %s/s%s: %s ×%s", thousands(median(fz)), rangeOf(fz, thousands),
			thousands(median(rz)), rangeOf(rz, thousands), f(median(ratios)), rangeOf(ratios, f))
	}

	// Failing: Postgres refused; counted from the moment /readyz/db says so.
	r.pg.set(refuse)
	defer r.pg.set(forward)
	if _, err := waitStatus(ctx, r.url("/readyz/"+fleetCheck), 503, 10*time.Millisecond, 10*time.Second); err != nil {
		b.fleetTab.fail(rowCostFail, colOn, err)
		return
	}
	c2, m2, t2 := count(), fleetRequests(ctx, r), time.Now()
	before := make([]int64, len(peers))
	for i, p := range peers {
		before[i] = p.n.Load()
	}
	sleep(ctx, w)
	c3, m3, el := count(), fleetRequests(ctx, r), time.Since(t2)
	asked := 0
	for i, p := range peers {
		if p.n.Load() > before[i] {
			asked++
		}
	}
	readyz := status(ctx, r.url("/readyz"))
	if ctx.Err() != nil {
		return
	}
	if m2 < 0 || m3 < 0 {
		b.fleetTab.fail(rowCostFail, colOn, errors.New("no healthgate_fleet_requests_total in /metrics"))
		return
	}
	rate, err := failingFleetRate(c3-c2, el)
	if err != nil {
		b.fleetTab.fail(rowCostFail, colOn, fmt.Errorf("%w (/readyz meanwhile %d)", err, readyz))
		return
	}
	b.fleetTab.set(rowCostFail, colOn, rate, "%.1f/s (%d requests in %v at the peers, %d in /metrics; %d of %d peers asked; /readyz meanwhile %d)",
		rate, c3-c2, el.Round(100*time.Millisecond), m3-m2, asked, costPeers, readyz)
	b.logf("  fleet cost: %.1f/s failing (%d in %v, metrics %d), %d peers asked, /readyz %d; idle %d", rate, c3-c2, el, m3-m2, asked, readyz, c1-c0)
}

// failingFleetRate is F3's figure while the shared check fails: n requests at the peers in el. None at all
// means the pod never asked its peers (the fleet is not working), which would read as within any bound.
func failingFleetRate(n int64, el time.Duration) (float64, error) {
	if n == 0 {
		return 0, fmt.Errorf("no fleet request in %v while the shared check failed", el.Round(100*time.Millisecond))
	}
	return float64(n) / el.Seconds(), nil
}

// fleetRequests is the sum of healthgate_fleet_requests_total over its results, -1 if /metrics has none
// (a process that has sent none yet has no series: 0 then, as long as /metrics answers).
// A scrape that failed (a request a loaded machine let time out) is tried again, twice.
func fleetRequests(ctx context.Context, r *running) int64 {
	for try := 0; ; try++ {
		var n int64
		err := scrape(ctx, r, "healthgate_fleet_requests_total{", func(_ string, v float64) { n += int64(v) })
		if err == nil {
			return n
		}
		if try == 2 || ctx.Err() != nil {
			return -1
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// scrape reads r's /metrics and calls add with each sample whose line starts with prefix: the line and
// its value.
func scrape(ctx context.Context, r *running, prefix string, add func(line string, v float64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url("/metrics"), nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return fmt.Errorf("/metrics: %q: %w", line, err)
		}
		add(line, v)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return sc.Err()
}

// fleetVerdicts compares the fleet figures with their targets.
func (b *bench) fleetVerdicts() {
	t := b.fleetTab
	if on, okOn := t.value(rowLBAll, colOn); okOn {
		v := fmt.Sprintf("fleet on: %.1f%% of requests reached an app", 100*on)
		if off, okOff := t.value(rowLBAll, colOff); okOff {
			v += fmt.Sprintf(", fleet off: %.1f%%", 100*off)
		}
		t.row(rowLBAll).verdict = v
	}
	if n, ok := t.value(rowLB503, colOn); ok {
		if n == 0 {
			t.row(rowLB503).verdict = "met: no 503 with the fleet on"
		} else {
			t.row(rowLB503).verdict = fmt.Sprintf("missed: %.0f 503s with the fleet on", n)
		}
	}
	var one []string
	for _, col := range []string{colOff, colOn} {
		n, ok := t.value(rowLBOne, col)
		switch {
		case !ok:
		case n < 0:
			one = append(one, col+": missed, backend 1 did not leave")
		case n > 0:
			one = append(one, fmt.Sprintf("%s: missed, %.0f errors", col, n))
		default:
			one = append(one, col+": met")
		}
	}
	t.row(rowLBOne).verdict = strings.Join(one, "; ")
	if v, ok := t.value(rowCostFail, colOn); ok {
		limit := float64(costSample) / interval.Seconds()
		// A window holds one round more or fewer than its length says.
		if v <= limit+float64(costSample)/b.p.fleetWindow.Seconds() {
			t.row(rowCostFail).verdict = fmt.Sprintf("met: %.1f/s", v)
		} else {
			t.row(rowCostFail).verdict = fmt.Sprintf("missed: %.1f/s", v)
		}
	}
	if v, ok := t.value(rowCostIdle, colOn); ok {
		if v == 0 {
			t.row(rowCostIdle).verdict = "met: 0"
		} else {
			t.row(rowCostIdle).verdict = fmt.Sprintf("missed: %.1f/s", v)
		}
	}
	if v, ok := t.value(rowFleetz, colOn); ok {
		t.row(rowFleetz).verdict = fmt.Sprintf("%.2f × /readyz", v)
	}
}

// fleetReport prints the fleet table and its notes; header, when the main table is left out (-only fleet),
// says where and how it was taken.
func (b *bench) fleetReport(w *strings.Builder, header bool, cmd []string, took time.Duration, quickMode bool) {
	fmt.Fprintf(w, "\n### Fleet-aware readiness behind a real load balancer, and its cost\n\n")
	if header {
		kind := "full"
		if quickMode {
			kind = "quick (figures only checked for presence; too short to compare)"
		}
		fmt.Fprintf(w, "- date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
		fmt.Fprintf(w, "- command: `%s` (%s run, took %v); healthgate commit %s\n", strings.Join(cmd, " "), kind, took.Round(time.Second), b.hgCommit)
	}
	hv := b.haproxyVersion
	if hv == "" {
		hv = "HAProxy"
	}
	fmt.Fprintf(w, "- F1, F2: %s in front of %d app backends (HTTP servers of the harness, always 200), `balance roundrobin`, `option httpchk GET /readyz` on each backend's own healthgate (`check port`), `inter %v fall %d rise %d`; each healthgate checks Postgres through its own proxy every %v (timeout %v, failure_threshold %d, success_threshold %d). fleet off: no fleet section; fleet on: the check is `scope: shared`, `fleet: {peers: [the %d healthgates], timeout: %v}` (fail_open_ratio 0.5, min_pods 3). Both stacks run side by side, cut at the same moment.\n",
		hv, lbBackends, lbInter, lbFall, lbRise, interval, timeout, failureThreshold, successThreshold, lbBackends, fleetTimeout)
	fmt.Fprintf(w, "- client: %d requests/s (open loop, %d keep-alive connections) through each HAProxy from the cut to %v after the restore; a request unanswered after %v is an error. A 200 came from an app; HAProxy answers 503 when no server is up. Cut = the Postgres port closes and its connections are reset.\n",
		lbRate, lbConns, b.p.fleetTail, lbTimeout)
	fmt.Fprintf(w, "- F3, F4: one healthgate with `fleet: {peers: [%d addresses], sample: %d, timeout: %v}` and one shared Postgres check every %v; the %d peers are HTTP servers of the harness answering `/fleetz` as a healthgate whose check fails, counting requests. Windows of %v: passing, then from when `/readyz/db` turns 503. F4 is figure 1's closed loop (%d connections, %d round(s) of %v each path, interleaved).\n\n",
		costPeers, costSample, fleetTimeout, interval, costPeers, b.p.fleetWindow, b.p.conns, b.p.rounds, b.p.run)
	b.fleetTab.markdown(w)
	fmt.Fprintf(w, "\nNotes:\n")
	fmt.Fprintf(w, "- F1: share = requests due during the cut answered 200 by an app. With the fleet off, every healthgate turns 503 within %v of the cut and HAProxy takes a server out after %d failed checks, so from about 2–3.5 s on the client gets HAProxy's 503 until the restore. With the fleet on, a pod whose check turns failing asks its peers at once; the first to fail may hear the others still passing (1 of 3 failing: the local truth, 503) and asks again an interval later, so a backend may leave HAProxy for a round before it fails open.\n",
		cutBound, lbFall)
	fmt.Fprintf(w, "- F2: backend 1 left = its last request during the cut; with 1 of 3 pods failing (under fail_open_ratio) the fleet-on pod keeps the local truth and leaves like the fleet-off one. The app itself keeps answering 200 (it is the health check that takes it out), so the errors count what the client saw from HAProxy.\n")
	fmt.Fprintf(w, "- F3: counted at the peers and in healthgate's own `healthgate_fleet_requests_total`; peers asked = how many of the %d received at least one request in the window (a random sample of %d each round).\n", costPeers, costSample)
}
