package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"golang.org/x/net/dns/dnsmessage"
)

// Fleet-aware readiness (docs/design.md §10), end to end: real serve processes (in-process through
// run()), each reaching the real Postgres through its own fault proxy, asking each other's /fleetz.

// Timing generous enough that a pod whose Postgres answers never fails a run on a loaded 2-core
// machine running -race with five serve processes (a 250 ms timeout did, once, at load 12).
const (
	fleetInterval = time.Second
	fleetTimeout  = 800 * time.Millisecond
	fleetPeerWait = 500 * time.Millisecond // the default for a 1 s interval
	// A round: the bound of docs/design.md §10 is one interval plus the peer timeout once the last
	// pod's check has turned failing; the slack absorbs a loaded 2-core machine running -race.
	fleetRound = fleetInterval + fleetPeerWait
	fleetSlack = 3 * time.Second
	// detection: failure_threshold × interval + timeout.
	fleetDetect = 2*fleetInterval + fleetTimeout
)

type fleetPod struct {
	*serveProcess
	pg    *checktest.Proxy
	cache *checktest.Proxy
	// reconfigure rewrites the pod's configuration file with s (the same proxies and URLs), for a reload.
	reconfigure func(s fleetSpec)
}

type fleetSpec struct {
	listen string
	peers  string // the YAML value of fleet.peers
	token  string
	extra  string // more fleet settings, YAML flow entries
}

// startFleetPod starts one pod: a shared critical Postgres check and a local critical Redis check,
// each through a proxy of its own.
func startFleetPod(t *testing.T, s fleetSpec) *fleetPod {
	t.Helper()
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	pod := &fleetPod{pg: checktest.NewProxy(t, checktest.HostPort(t, pgURL)), cache: checktest.NewProxy(t, checktest.HostPort(t, redisURL))}
	yaml := func(s fleetSpec) string {
		return fmt.Sprintf(`server:
  listen: %s
  shutdown_delay: 0s
  shutdown_timeout: 2s
  details: always
fleet:
  peers: %s
  token: ${FLEET_TOKEN:-}
  timeout: %s
  %s
defaults: {interval: %s, timeout: %s, failure_threshold: 2, success_threshold: 1}
checks:
  - {name: db, type: postgres, url: "${DATABASE_URL}", scope: shared}
  - {name: cache, type: redis, url: "%s"}
`, s.listen, s.peers, fleetPeerWait, s.extra, fleetInterval, fleetTimeout, checktest.WithHost(t, redisURL, pod.cache.Addr()))
	}
	env := map[string]string{"DATABASE_URL": checktest.WithHost(t, pgURL, pod.pg.Addr())}
	if s.token != "" {
		env["FLEET_TOKEN"] = s.token
	}
	path := writeServeConfig(t, yaml(s))
	pod.reconfigure = func(s fleetSpec) {
		if err := os.WriteFile(path, []byte(yaml(s)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pod.serveProcess = startServeFile(t, path, env)
	return pod
}

// staticFleet starts n pods on loopback, each listing every pod (itself included: it must skip itself).
func staticFleet(t *testing.T, n int, token func(i int) string) []*fleetPod {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", checktest.FreePort(t))
	}
	peers := `["` + strings.Join(addrs, `", "`) + `"]`
	pods := make([]*fleetPod, n)
	for i := range pods {
		tok := ""
		if token != nil {
			tok = token(i)
		}
		pods[i] = startFleetPod(t, fleetSpec{listen: addrs[i], peers: peers, token: tok})
	}
	waitAllReady(t, pods)
	return pods
}

// waitAllReady waits until every pod's /readyz answers 200.
func waitAllReady(t *testing.T, pods []*fleetPod) {
	t.Helper()
	for _, p := range pods {
		p.waitCode(t, "/readyz", 200, 10*time.Second)
	}
}

// cutAllFailOpen cuts every pod's Postgres with fault and waits until every pod fails open, having
// heard from all of them.
func cutAllFailOpen(t *testing.T, pods []*fleetPod, fault checktest.Mode, what string) {
	t.Helper()
	for _, p := range pods {
		p.pg.Set(fault)
	}
	heard := fmt.Sprintf("failing on %d of %d pods", len(pods), len(pods))
	until(t, pods, fleetDetect+fleetRound+fleetSlack, what, func(_ int, s readyState) bool {
		return failingOpen(s) && strings.Contains(s.body, heard)
	}, nil)
}

// readyState is what a load balancer sees of one pod.
type readyState struct {
	code     int
	degraded bool
	body     string
}

func (p *fleetPod) ready(t *testing.T) readyState {
	t.Helper()
	r := p.probe(t, "/readyz")
	return readyState{code: r.code, degraded: r.header.Get("X-Envoy-Degraded") == "true", body: r.body}
}

// until polls every pod until cond holds for all of them, asserting hold on the others (and /livez
// on every pod) at each poll; it returns how long it took.
func until(t *testing.T, pods []*fleetPod, within time.Duration, what string, cond func(i int, s readyState) bool, hold func(i int, s readyState) string) time.Duration {
	t.Helper()
	var last []string
	took, ok := checktest.Poll(within, 25*time.Millisecond, func() bool {
		all := true
		last = last[:0]
		for i, p := range pods {
			if r := p.probe(t, "/livez"); r.code != 200 {
				t.Fatalf("pod %d: /livez = %d; it must never depend on a dependency", i, r.code)
			}
			s := p.ready(t)
			if hold != nil {
				if msg := hold(i, s); msg != "" {
					t.Fatalf("pod %d while waiting for %s: %s (body %q)", i, what, msg, s.body)
				}
			}
			if !cond(i, s) {
				all = false
				last = append(last, fmt.Sprintf("pod %d: %d %q", i, s.code, s.body))
			}
		}
		return all
	})
	if !ok {
		t.Fatalf("%s: not within %s; %s", what, within, strings.Join(last, "; "))
	}
	return took
}

// during asserts hold on every pod at each poll for d (and /livez, as until does).
func during(t *testing.T, pods []*fleetPod, d time.Duration, what string, hold func(i int, s readyState) string) {
	t.Helper()
	checktest.Poll(d, 50*time.Millisecond, func() bool {
		for i, p := range pods {
			if r := p.probe(t, "/livez"); r.code != 200 {
				t.Fatalf("pod %d: /livez = %d; it must never depend on a dependency", i, r.code)
			}
			if s := p.ready(t); hold(i, s) != "" {
				t.Fatalf("pod %d %s: %s (%d, body %q)", i, what, hold(i, s), s.code, s.body)
			}
		}
		return false
	})
}

// fleetRequests sums healthgate_fleet_requests_total over its results in a /metrics body.
func fleetRequests(metrics string) float64 {
	var sum float64
	for line := range strings.SplitSeq(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, "healthgate_fleet_requests_total{"); ok {
			_, v, _ := strings.Cut(rest, "} ")
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

func failingOpen(s readyState) bool {
	return s.code == 200 && s.degraded && strings.Contains(s.body, "[+]db failing open: failing on ")
}

func passing(s readyState) bool { return s.code == 200 && !s.degraded && s.body == "ok" }

func TestFleetFailOpen(t *testing.T) {
	t.Parallel() // its own pods, proxies and ports; waits on rounds
	pods := staticFleet(t, 5, nil)
	modes := []checktest.Mode{checktest.Refuse, checktest.Blackhole, checktest.Reset, checktest.Refuse, checktest.Blackhole}

	// A healthy fleet sends no fleet traffic: not one request in three rounds. A pod whose db run failed
	// (five processes starting on two cores can time one out) rightly asks: it is left out.
	const dbFailures = `healthgate_check_runs_total{check="db",result="failure",type="postgres"}`
	before := make([]float64, len(pods))
	for i, p := range pods {
		before[i], _ = metricValue(p.probe(t, "/metrics").body, dbFailures)
	}
	time.Sleep(3 * fleetRound)
	quiet := 0
	for i, p := range pods {
		m := p.probe(t, "/metrics").body
		if f, _ := metricValue(m, dbFailures); f != 0 || before[i] != 0 {
			t.Logf("pod %d: db failed %g times: its fleet requests are not counted", i, f)
			continue
		}
		quiet++
		if n := fleetRequests(m); n != 0 {
			t.Fatalf("pod %d sent %g fleet requests while every check passes; want none", i, n)
		}
	}
	if quiet < 3 {
		t.Fatalf("only %d pods passed throughout: too few to tell whether a healthy fleet is quiet", quiet)
	}

	// 1. One pod cut: it leaves; the four others stay 200 throughout.
	othersPass := func(n int) func(i int, s readyState) string {
		return func(i int, s readyState) string {
			if i >= n && !passing(s) {
				return "a pod whose dependency answers is not passing"
			}
			return ""
		}
	}
	pods[0].pg.Set(checktest.Refuse)
	until(t, pods, fleetDetect+fleetSlack, "pod 0 alone → 503",
		func(i int, s readyState) bool { return (i == 0) == (s.code == 503) }, othersPass(1))
	// It stays out (the others see the dependency passing), and they stay in.
	during(t, pods, 3*fleetRound, "while pod 0 alone is cut", func(i int, s readyState) string {
		if i == 0 && (s.code != 503 || s.degraded) {
			return "pod 0 alone must stay 503 (local truth)"
		}
		return othersPass(1)(i, s)
	})

	// 4a. Two of five cut: 2/5 is below fail_open_ratio 0.5; those two 503, the others 200 throughout.
	pods[1].pg.Set(checktest.Blackhole)
	cut := func(n int) func(i int, s readyState) bool {
		return func(i int, s readyState) bool { return (i < n) == (s.code == 503) }
	}
	until(t, pods, fleetDetect+fleetSlack, "2 of 5 → those two 503", cut(2), othersPass(2))
	during(t, pods, 3*fleetRound, "while 2 of 5 are cut", func(i int, s readyState) string {
		if !cut(2)(i, s) {
			return "want pods 0 and 1 at 503, the others 200"
		}
		return othersPass(2)(i, s)
	})

	// 4b. Three of five: 3/5 ≥ 0.5, the three cut ones fail open (200, degraded); the two others pass.
	pods[2].pg.Set(checktest.Reset)
	until(t, pods, fleetDetect+fleetRound+fleetSlack, "3 of 5 → all five 200", func(i int, s readyState) bool {
		if i < 3 {
			return failingOpen(s)
		}
		return passing(s)
	}, nil)

	// 2. All cut: every pod 200 + warn + degraded within a round of the last one turning failing;
	// /readyz/db tells the local truth.
	for i := 3; i < 5; i++ {
		pods[i].pg.Set(modes[i])
	}
	start := time.Now()
	for _, p := range pods[3:] {
		p.waitCode(t, "/readyz/db", 503, fleetDetect+fleetSlack)
	}
	lastFailing := time.Since(start)
	took := until(t, pods, fleetRound+fleetSlack, "all cut → all fail open", func(_ int, s readyState) bool { return failingOpen(s) }, nil)
	t.Logf("all cut: last pod's check failing after %s, every pod failing open %s later (bound %s + slack)", lastFailing, took, fleetRound)
	for i, p := range pods {
		if r := p.probe(t, "/readyz/db"); r.code != 503 {
			t.Errorf("pod %d: /readyz/db = %d while failing open; want 503 (the local truth)", i, r.code)
		}
		j := p.probe(t, "/readyz", "Accept", "application/health+json")
		if j.code != 200 || !strings.Contains(j.body, `"status":"warn"`) || !strings.Contains(j.body, "failing open: failing on ") {
			t.Errorf("pod %d: health+json %d %s; want 200, warn, the fail-open text", i, j.code, j.body)
		}
		v := p.probe(t, "/readyz?verbose")
		if !strings.Contains(v.body, "of 5 pods heard from") {
			t.Errorf("pod %d: verbose %q; want how many of how many pods", i, v.body)
		}
		m := p.probe(t, "/metrics").body
		for _, want := range []string{`healthgate_check_fail_open{check="db"} 1`, `healthgate_check_up{check="db",critical="true",type="postgres"} 0`, "healthgate_ready 1"} {
			if !strings.Contains(m, want) {
				t.Errorf("pod %d: /metrics lacks %s", i, want)
			}
		}
		if !strings.Contains(m, `healthgate_fleet_requests_total{result="self"}`) || strings.Contains(m, `healthgate_fleet_requests_total{result="self"} 0`) {
			t.Errorf("pod %d: never skipped itself (it is in its own peers list)", i)
		}
		if r := p.probe(t, "/startupz"); r.code != 200 {
			t.Errorf("pod %d: /startupz = %d; want 200 (it started before the outage)", i, r.code)
		}
	}
	// A local check never fails open, even when every pod sees it failing.
	for _, p := range pods {
		p.cache.Set(checktest.Refuse)
	}
	until(t, pods, fleetDetect+fleetSlack, "local cache cut everywhere → 503", func(_ int, s readyState) bool {
		return s.code == 503 && strings.Contains(s.body, "[-]cache failed")
	}, nil)
	for _, p := range pods {
		p.cache.Set(checktest.Forward)
	}

	// 3. Restore: all 200 without the degraded header.
	for _, p := range pods {
		p.pg.Set(checktest.Forward)
	}
	until(t, pods, 2*fleetInterval+fleetSlack, "restored → all pass", func(_ int, s readyState) bool { return passing(s) }, nil)

	// The fleet recovers but one pod does not: the odd one out turns 503 within a round.
	for _, p := range pods {
		p.pg.Set(checktest.Refuse)
	}
	until(t, pods, fleetDetect+fleetRound+fleetSlack, "all cut again → all fail open", func(_ int, s readyState) bool { return failingOpen(s) }, nil)
	for _, p := range pods[1:] {
		p.pg.Set(checktest.Forward)
	}
	until(t, pods, 2*fleetInterval+fleetRound+fleetSlack, "fleet recovered, pod 0 not → pod 0 503", func(i int, s readyState) bool {
		if i == 0 {
			return s.code == 503 && !s.degraded
		}
		return passing(s)
	}, nil)

	// 5. Cut for everyone, then the peers' HTTP stops: no one to confirm, the local truth holds.
	for _, p := range pods[1:] {
		p.pg.Set(checktest.Refuse)
	}
	until(t, pods, fleetDetect+fleetRound+fleetSlack, "all cut a third time → all fail open", func(_ int, s readyState) bool { return failingOpen(s) }, nil)
	for _, p := range pods[1:] {
		if code := p.stop(t); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
	}
	// Two rounds: one round without quorum is tolerated (docs/design.md §10).
	until(t, pods[:1], 2*fleetRound+fleetSlack, "peers gone → pod 0 503", func(_ int, s readyState) bool { return s.code == 503 && !s.degraded }, nil)
}

// TestFleetWrongToken: a peer that answers with another token is not heard, so nothing fails open.
func TestFleetWrongToken(t *testing.T) {
	t.Parallel()
	pods := staticFleet(t, 3, func(i int) string {
		if i == 0 {
			return "s3cr3t-fleet-right"
		}
		return "s3cr3t-fleet-other"
	})
	for _, p := range pods {
		p.pg.Set(checktest.Refuse)
	}
	until(t, pods, fleetDetect+fleetSlack, "all cut → 503", func(_ int, s readyState) bool { return s.code == 503 }, nil)
	time.Sleep(3 * fleetRound)
	until(t, pods, 0, "still 503: pod 0 hears no one, pods 1 and 2 hear 2 < min_pods", func(_ int, s readyState) bool { return s.code == 503 && !s.degraded }, nil)
	m := pods[0].probe(t, "/metrics").body
	if !strings.Contains(m, `healthgate_fleet_requests_total{result="unauthorized"}`) || strings.Contains(m, `healthgate_fleet_requests_total{result="unauthorized"} 0`) {
		t.Errorf("pod 0 counted no refused request:\n%s", grepLines(m, "healthgate_fleet"))
	}
	// /fleetz itself: the token is required, and the body says nothing but states.
	if r := pods[0].probe(t, "/fleetz"); r.code != 401 {
		t.Errorf("/fleetz without the token = %d; want 401", r.code)
	}
	r := pods[0].probe(t, "/fleetz", "Authorization", "Bearer s3cr3t-fleet-right")
	if r.code != 200 || !strings.Contains(r.body, `"db":"failing"`) || !strings.Contains(r.body, `"cache":"passing"`) {
		t.Errorf("/fleetz = %d %q", r.code, r.body)
	}
	for _, secret := range []string{"s3cr3t", "127.0.0.1", "refused"} {
		if strings.Contains(r.body, secret) {
			t.Errorf("/fleetz shows %q: %s", secret, r.body)
		}
	}
	for i, p := range pods {
		if strings.Contains(p.log.String(), "s3cr3t-fleet") {
			t.Errorf("pod %d logged the fleet token", i)
		}
		// Every pod's peers include one whose token differs: each says so, once (at most once a minute).
		if n := strings.Count(p.log.String(), "peers refuse this pod's token"); n != 1 {
			t.Errorf("pod %d logged %d lines about its token refused; want 1:\n%s", i, n, p.log)
		}
	}
}

// TestFleetDNS: peers discovered through dns:/// against a real DNS server (dnsmasq) whose records
// include the pod itself.
func TestFleetDNS(t *testing.T) {
	t.Parallel() // its own dnsmasq, and loopback addresses no other test uses
	// Three pods on three loopback addresses, one port: what a headless Service's A records look like.
	ips := []string{"127.0.0.41", "127.0.0.42", "127.0.0.43"}
	port := checktest.FreePort(t, ips...)
	records := make([]string, 0, len(ips))
	for _, ip := range ips {
		records = append(records, "--host-record=peers.fleet.test,"+ip)
	}
	dnsAddr := checktest.Dnsmasq(t, "fleet.test", "peers.fleet.test", records...) // fails in CI without dnsmasq
	peers := fmt.Sprintf("dns://%s/peers.fleet.test:%d", dnsAddr, port)
	pods := make([]*fleetPod, len(ips))
	for i, ip := range ips {
		pods[i] = startFleetPod(t, fleetSpec{listen: net.JoinHostPort(ip, strconv.Itoa(port)), peers: peers})
	}
	waitAllReady(t, pods)
	cutAllFailOpen(t, pods, checktest.Blackhole, "all cut → all fail open (3 of 3 heard through DNS)")
	for i, p := range pods {
		m := p.probe(t, "/metrics").body
		if strings.Contains(m, `healthgate_fleet_requests_total{result="self"} 0`) {
			t.Errorf("pod %d never reached itself through the name, or did not skip itself:\n%s", i, grepLines(m, "healthgate_fleet"))
		}
		// Resolution works: "3 of 3 heard" above came through the name. A lookup starved of CPU for the
		// round's short timeout may still fail once (kept stale, counted resolve_error): not asserted.
	}
	for _, p := range pods {
		p.pg.Set(checktest.Forward)
	}
	until(t, pods, 2*fleetInterval+fleetSlack, "restored", func(_ int, s readyState) bool { return passing(s) }, nil)
}

// TestFleetDNSReloadWhileUnresolved: a reload that changes the fleet section during an outage, while the
// peers' name does not resolve, keeps asking the last answer's pods (for up to a minute, as any failed
// lookup does): the new peer client started with no answer, every peer went unheard, and the pod stopped
// failing open within two rounds, 503 while the whole fleet still saw the dependency failing (an operator
// lowering min_pods to keep the pods in would have sent them out).
func TestFleetDNSReloadWhileUnresolved(t *testing.T) {
	t.Parallel() // its own DNS server, and loopback addresses no other test uses
	ips := []string{"127.0.0.51", "127.0.0.52", "127.0.0.53"}
	port := checktest.FreePort(t, ips...)
	var broken atomic.Bool
	dns := checktest.ServeDNS(t, "127.0.0.1:0", func(name string) ([]netip.Addr, dnsmessage.RCode) {
		if broken.Load() {
			return nil, dnsmessage.RCodeServerFailure
		}
		if name != "peers.fleet.test." {
			return nil, dnsmessage.RCodeNameError
		}
		var addrs []netip.Addr
		for _, ip := range ips {
			addrs = append(addrs, netip.MustParseAddr(ip))
		}
		return addrs, dnsmessage.RCodeSuccess
	})
	peers := fmt.Sprintf("dns://%s/peers.fleet.test:%d", dns, port)
	pods := make([]*fleetPod, len(ips))
	specs := make([]fleetSpec, len(ips))
	for i, ip := range ips {
		specs[i] = fleetSpec{listen: net.JoinHostPort(ip, strconv.Itoa(port)), peers: peers}
		pods[i] = startFleetPod(t, specs[i])
	}
	waitAllReady(t, pods)
	cutAllFailOpen(t, pods, checktest.Refuse, "all cut → all fail open (3 of 3 heard through DNS)")

	broken.Store(true)
	reloaded := strings.Count(pods[0].log.String(), `"msg":"configuration reloaded"`)
	specs[0].extra = "min_pods: 2"
	pods[0].reconfigure(specs[0])
	pods[0].sigs <- syscall.SIGHUP
	checktest.Eventually(t, 15*time.Second, "pod 0's reload", func() bool {
		return strings.Count(pods[0].log.String(), `"msg":"configuration reloaded"`) > reloaded
	})
	during(t, pods, 3*fleetRound+fleetSlack, "while the peers' name does not resolve, pod 0 reloaded", func(_ int, s readyState) string {
		if !failingOpen(s) {
			return "no longer failing open"
		}
		return ""
	})
	broken.Store(false)
	for _, p := range pods {
		p.pg.Set(checktest.Forward)
	}
	until(t, pods, 2*fleetInterval+fleetSlack, "restored", func(_ int, s readyState) bool { return passing(s) }, nil)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A fleet whose list (no dns:/// target) holds fewer pods than min_pods can never fail open: serve says
// so when it starts, and not when the list is long enough or a dns:/// target may hold more.
func TestFleetTooFewPeersListed(t *testing.T) {
	const warning = "listed are fewer than min_pods"
	for _, tc := range []struct {
		peers string
		warn  bool
	}{
		{`["127.0.0.1:9"]`, true},
		{`["127.0.0.1:9", "127.0.0.1:9"]`, true}, // the same pod twice
		{`["127.0.0.1:9", "127.0.0.2:9"]`, false},
		{`["127.0.0.1:9", "dns:///localhost:9"]`, false},
	} {
		p := startServe(t, "fleet:\n  peers: "+tc.peers+"\nchecks:\n  - {name: db, type: tcp, address: \"127.0.0.1:9\", scope: shared}\n", nil)
		if got := strings.Contains(p.log.String(), warning); got != tc.warn {
			t.Errorf("peers %s: warned %v; want %v:\n%s", tc.peers, got, tc.warn, p.log)
		}
		p.stop(t)
	}
}

// TestFleetWarningListsSelf: a list that names every pod, this one too (one ConfigMap for all), counts
// this pod once: with two pods listed and min_pods 3, a round hears at most 2 pods, and serve said
// nothing (it counted both entries as other pods).
func TestFleetWarningListsSelf(t *testing.T) {
	const warning = "listed are fewer than min_pods"
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("no host name: %v", err)
	}
	host, _, _ = strings.Cut(host, ".")
	for _, tc := range []struct {
		listen, peers string
		warn          bool
	}{
		{"127.0.0.1:8080", `["127.0.0.1:8080", "10.0.0.12:8080"]`, true},
		{":8080", `["127.0.0.1:8080", "10.0.0.12:8080"]`, true},
		{"[::1]:8080", `["[::1]:8080", "10.0.0.12:8080"]`, true},
		{":8080", `["127.0.0.1:8080", "10.0.0.12:8080", "10.0.0.13:8080"]`, false},
		{":9090", `["127.0.0.1:8080", "10.0.0.12:8080"]`, false}, // another port: another process
		{"127.0.0.2:8080", `["127.0.0.1:8080", "10.0.0.12:8080"]`, false},
		// By name, as a StatefulSet's pods are listed (their IPs change): this pod's own name is its
		// host name, the names not looked up (--validate runs where they do not resolve). Two pods
		// listed by name, min_pods 3, and serve said nothing.
		{":8080", `["` + host + `.peers.shop.svc:8080", "other-1.peers.shop.svc:8080"]`, true},
		{":8080", `["` + strings.ToUpper(host) + `.peers.:8080", "other-1.peers:8080"]`, true},
		{"0.0.0.0:8080", `["localhost:8080", "other-1.peers:8080"]`, true},
		{":8080", `["` + host + `.peers:8080", "other-1.peers:8080", "other-2.peers:8080"]`, false},
		{":9090", `["` + host + `.peers:8080", "other-1.peers:8080"]`, false},          // another port
		{"127.0.0.1:8080", `["` + host + `.peers:8080", "other-1.peers:8080"]`, false}, // loopback only: its name reaches another address
		{":8080", `["` + host + `x.peers:8080", "other-1.peers:8080"]`, false},
	} {
		yaml := "server: {listen: \"" + tc.listen + "\"}\nfleet:\n  peers: " + tc.peers + "\nchecks:\n  - {name: db, type: tcp, address: \"127.0.0.1:9\", scope: shared}\n"
		cfg, err := config.Parse("f.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(fleetWarning(cfg), warning); got != tc.warn {
			t.Errorf("listen %s, peers %s: warned %v (%q); want %v", tc.listen, tc.peers, got, fleetWarning(cfg), tc.warn)
		}
	}
}

// TestFleetTokenRotationEndToEnd: mid-rotation, a pod with the new token (and the old one as
// previous_token) and two pods that still have the old one hear each other: all three fail open.
func TestFleetTokenRotationEndToEnd(t *testing.T) {
	t.Parallel()
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", checktest.FreePort(t))
	}
	peers := `["` + strings.Join(addrs, `", "`) + `"]`
	pods := make([]*fleetPod, len(addrs))
	for i := range pods {
		s := fleetSpec{listen: addrs[i], peers: peers, token: "s3cr3t-fleet-old"}
		if i == 0 {
			s.token, s.extra = "s3cr3t-fleet-new", "previous_token: s3cr3t-fleet-old"
		}
		pods[i] = startFleetPod(t, s)
	}
	waitAllReady(t, pods)
	cutAllFailOpen(t, pods, checktest.Refuse, "all cut mid-rotation → all fail open, 3 of 3 heard")
	for i, p := range pods {
		if strings.Contains(p.log.String(), "s3cr3t-fleet") {
			t.Errorf("pod %d logged a fleet token", i)
		}
	}
}

// TestFleetShared: the checks that ask the fleet are the shared critical ones, and the peers' DNS answer
// is kept for the shortest interval among them: each round of the most frequent resolves afresh.
func TestFleetShared(t *testing.T) {
	check := func(name, scope string, critical bool, interval time.Duration) *checks.Check {
		return checks.Func(config.Check{Name: name, Scope: scope, Critical: critical, Interval: interval, Timeout: time.Second},
			func(context.Context) error { return nil })
	}
	names, cacheFor := fleetShared([]*checks.Check{
		check("db", config.ScopeShared, true, 5*time.Second),
		check("local", config.ScopeLocal, true, time.Second),
		check("optional", config.ScopeShared, false, 500*time.Millisecond),
		check("cache", config.ScopeShared, true, 2*time.Second),
	})
	if !slices.Equal(names, []string{"db", "cache"}) || cacheFor != 2*time.Second {
		t.Errorf("fleetShared = %v, %v; want [db cache], 2s (the shortest interval of the shared critical checks)", names, cacheFor)
	}
}
