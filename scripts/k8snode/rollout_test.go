//go:build k8snode

package k8snode

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load is a client at a steady rate against a URL: every request on a new connection, each bounded by the
// client's timeout, every answer counted.
type load struct {
	url    string
	rate   int // requests per second
	total  atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	why    map[string]int
	fails  []time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(url string, rate int) *load {
	l := &load{url: url, rate: rate, why: map[string]int{}, stop: make(chan struct{})}
	l.wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				l.wg.Go(l.one)
			}
		}
	})
	return l
}

// loadClient is client with more time than the demo app gives its own dependencies (2 s): a request
// the loaded machine slows is answered (200, or the app's 503), not cut short by the client and counted
// as lost; a request sent to a pod that is gone still fails, by refusal, reset or this timeout.
var loadClient = &http.Client{Timeout: 5 * time.Second, Transport: client.Transport}

func (l *load) one() {
	code, body := getWith(loadClient, l.url)
	l.total.Add(1)
	if code == 200 {
		return
	}
	l.failed.Add(1)
	reason := strconv.Itoa(code)
	if code == 0 {
		reason = body
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:] // "connection refused", "i/o timeout", ...
		}
	}
	l.mu.Lock()
	l.why[reason]++
	l.fails = append(l.fails, time.Now())
	l.mu.Unlock()
}

// reset returns the counts so far and starts over.
func (l *load) reset() (total, failed int64, why string, fails []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total, failed = l.total.Swap(0), l.failed.Swap(0)
	fails, l.fails = l.fails, nil
	var parts []string
	for k, v := range l.why {
		parts = append(parts, fmt.Sprintf("%d× %s", v, k))
	}
	sort.Strings(parts)
	l.why = map[string]int{}
	return total, failed, strings.Join(parts, ", "), fails
}

// quiet waits for a 3-second window without a failed request, and says whether one came: the first
// windows after a deploy (or after endpoints came back) may still lose requests that the node's Service
// rules were not yet programmed for. Up to 10 windows are tried, each failed one logged; when none was
// quiet, the test is marked failed with the last window's counts.
func (l *load) quiet(t *testing.T, what string) bool {
	t.Helper()
	for w := 1; ; w++ {
		time.Sleep(3 * time.Second)
		total, failed, why, _ := l.reset()
		if failed == 0 {
			return true
		}
		if w == 10 {
			t.Errorf("%s: no 3-second window without a failed request, in %d windows; the last: %d of %d failed (%s)", what, w, failed, total, why)
			return false
		}
		t.Logf("%s, window %d: %d of %d requests failed (%s); another window", what, w, failed, total, why)
	}
}

func (l *load) close() {
	close(l.stop)
	l.wg.Wait()
}

// HEALTHGATE_K8S_SETUPS picks setups by letter (default "abc").

// rollouts is how many rolling updates each setup gets: HEALTHGATE_K8S_ROLLOUTS, default 1 (CI's quick
// mode); the README's figure uses 3.
func rollouts(t *testing.T) int {
	if s := os.Getenv("HEALTHGATE_K8S_ROLLOUTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("HEALTHGATE_K8S_ROLLOUTS=%q", s)
		}
		return n
	}
	return 1
}

// warmUp is how long Postgres refuses a new pod in TestRollingDeploy (warmProxy): long enough that a pod
// Ready on its own /healthz gets traffic it cannot serve, short enough for CI's quick mode (healthgate's
// rollout waits about this much more per new pod).
const warmUp = 6 * time.Second

// TestRollingDeploy: 3 replicas of the demo app, a client at a steady rate against the ClusterIP, rolling
// updates (v1 → v2 → v1 ...) to a version whose dependency is slow to accept at first: the pods reach
// Postgres through a warmProxy, which resets every new pod's connections for its first warmUp. Failed
// requests are counted per rollout: (a) no readiness probe, (b) the app's own shallow /healthz, both
// without a preStop, against (c) healthgate (wait init container, sidecar /readyz, preStop sleep =
// shutdown_delay). healthgate must show no failed request; (a) and (b) are reported, not asserted. Every
// setup must have had each new pod refused at first (else the rollout did not test the slow dependency).
// It is not parallel: Go runs it before the parallel scenarios, alone on the node, so the counts are not
// disturbed by other tests' pods.
func TestRollingDeploy(t *testing.T) {
	n := needNode(t)
	k := rollouts(t)
	const rate = 50
	type row struct {
		setup     probeSetup
		failed    []int64
		total     []int64
		durations []time.Duration
	}
	var rows []row
	setups := []probeSetup{setupNone, setupShallow, setupHealthgate}
	if only := os.Getenv("HEALTHGATE_K8S_SETUPS"); only != "" { // e.g. "c": healthgate only
		setups = nil
		for _, c := range only {
			setups = append(setups, probeSetup(c-'a'))
		}
	}
	for _, setup := range setups {
		ns := n.namespace(fmt.Sprintf("hg-roll-%d", setup))
		pg := newWarmProxy(t, warmUp)
		cip := n.deployDemo(t, ns, appOpts{name: "demo", replicas: 3, setup: setup}, deps{pg.Addr(), redisProxy(t).Addr()})
		l := startLoad("http://"+cip+"/", rate)
		r := row{setup: setup}
		// The baseline: a 3-second window without a failed request before any rollout.
		if !l.quiet(t, fmt.Sprintf("%v, before any rollout", setup)) {
			l.close()
			t.FailNow()
		}
		// Every v1 pod has connected by now (the app on its first request, healthgate at start): from
		// here on, an address Postgres has not seen is a new pod, refused for its first warmUp.
		pg.arm()
		for i := 0; i < k; i++ {
			version := []string{"v2", "v1"}[i%2]
			start := time.Now()
			tl := watchPods(n, ns, "app=demo")
			// One template change: image and VERSION together.
			n.kc("-n", ns, "patch", "deployment", "demo", "-p", fmt.Sprintf(
				`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"localhost/hg-demo:%s","env":[{"name":"VERSION","value":"%s"}]}]}}}}`,
				version, version))
			n.kc("-n", ns, "rollout", "status", "deployment/demo", "--timeout=300s")
			took := time.Since(start)
			// Old pods drain after the rollout reports complete (preStop, shutdown): keep counting until
			// none is left.
			n.eventually(120*time.Second, "old pods gone", func() (bool, string) {
				ps := n.pods(ns, "app=demo")
				return len(ps) == 3, fmt.Sprint(len(ps), " pods")
			})
			time.Sleep(2 * time.Second)
			total, failed, why, fails := l.reset()
			events := tl.stop()
			clients := pg.newClients()
			refused := 0
			for _, c := range clients {
				if c > 0 {
					refused++
				}
			}
			if refused < 3 {
				t.Errorf("%v, rollout %d: %d new pods were refused by Postgres at first (%s), want 3: the rollout did not meet a slow dependency",
					setup, i+1, refused, describeClients(clients))
			}
			if failed > 0 && setup == setupHealthgate { // where a failure needs explaining
				t.Logf("%v, rollout %d: pod timeline and failed requests (s after the rollout began):\n%s", setup, i+1, timeline(start, events, fails))
			}
			t.Logf("%v, rollout %d to %s: %d of %d requests failed (%s), rollout took %v; Postgres reset the new pods' first connections (%s)",
				setup, i+1, version, failed, total, why, took.Round(100*time.Millisecond), describeClients(clients))
			r.failed, r.total, r.durations = append(r.failed, failed), append(r.total, total), append(r.durations, took)
		}
		l.close()
		n.noRestarts(ns, "app=demo")
		rows = append(rows, r)
	}
	t.Logf("rolling deploy, 3 replicas, maxSurge 1, maxUnavailable 0, %d req/s to the ClusterIP, Postgres refusing each new pod for %v, %d rollout(s) each:",
		rate, warmUp, k)
	t.Logf("| setup | failed requests per rollout | requests per rollout | rollout duration |")
	for _, r := range rows {
		t.Logf("| %v | %v | %v | %v |", r.setup, r.failed, r.total, r.durations)
		if r.setup == setupHealthgate {
			for i, f := range r.failed {
				if f != 0 {
					t.Errorf("healthgate: %d failed requests in rollout %d, want 0", f, i+1)
				}
			}
		}
	}
}

// podEvent is a pod transition the test saw while polling.
type podEvent struct {
	at   time.Time
	what string
}

type podWatch struct {
	stopc chan struct{}
	done  chan []podEvent
}

// watchPods polls the pods every 200 ms and records when each was first seen, Ready, and terminating.
func watchPods(n *node, ns, selector string) *podWatch {
	w := &podWatch{stopc: make(chan struct{}), done: make(chan []podEvent, 1)}
	go func() {
		var events []podEvent
		seen := map[string]bool{}
		for {
			select {
			case <-w.stopc:
				w.done <- events
				return
			default:
			}
			out, err := n.kcErr("-n", ns, "get", "pods", "-l", selector, "-o", "json")
			now := time.Now()
			var list struct {
				Items []Pod `json:"items"`
			}
			if err == nil && json.Unmarshal([]byte(out), &list) == nil {
				for _, p := range list.Items {
					for what, on := range map[string]bool{"created": true, "Ready": p.Ready(), "terminating": p.Metadata.DeletionTimestamp != nil} {
						k := p.Metadata.Name + " " + what
						if on && !seen[k] {
							seen[k] = true
							events = append(events, podEvent{now, k})
						}
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return w
}

func (w *podWatch) stop() []podEvent {
	close(w.stopc)
	return <-w.done
}

func timeline(start time.Time, events []podEvent, fails []time.Time) string {
	for _, f := range fails {
		events = append(events, podEvent{f, "FAILED REQUEST"})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %6.2f %s\n", e.at.Sub(start).Seconds(), e.what)
	}
	return b.String()
}
