//go:build k8snode

package k8snode

import (
	"fmt"
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

func (l *load) one() {
	code, body := get(l.url)
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
	l.mu.Unlock()
}

// reset returns the counts so far and starts over.
func (l *load) reset() (total, failed int64, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total, failed = l.total.Swap(0), l.failed.Swap(0)
	var parts []string
	for k, v := range l.why {
		parts = append(parts, fmt.Sprintf("%d× %s", v, k))
	}
	sort.Strings(parts)
	l.why = map[string]int{}
	return total, failed, strings.Join(parts, ", ")
}

func (l *load) close() {
	close(l.stop)
	l.wg.Wait()
}

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

// TestRollingDeploy: 3 replicas of the demo app, a client at a steady rate against the ClusterIP, rolling
// updates (v1 → v2 → v1 ...), failed requests counted per rollout: (a) no readiness probe, (b) the app's own
// shallow /healthz, both without a preStop, against (c) healthgate (wait init container, sidecar /readyz,
// preStop sleep = shutdown_delay). healthgate must show no failed request; (a) and (b) are reported, not
// asserted.
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
	for _, setup := range []probeSetup{setupNone, setupShallow, setupHealthgate} {
		ns := n.namespace(fmt.Sprintf("hg-roll-%d", setup))
		pg := pgProxy(t)
		cip := n.deployDemo(t, ns, appOpts{name: "demo", replicas: 3, setup: setup}, pg.Addr())
		l := startLoad("http://"+cip+"/", rate)
		r := row{setup: setup}
		time.Sleep(3 * time.Second)
		if total, failed, why := l.reset(); failed != 0 {
			l.close()
			t.Fatalf("%v: %d of %d requests failed before any rollout (%s)", setup, failed, total, why)
		}
		for i := 0; i < k; i++ {
			version := []string{"v2", "v1"}[i%2]
			start := time.Now()
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
			total, failed, why := l.reset()
			t.Logf("%v, rollout %d to %s: %d of %d requests failed (%s), rollout took %v",
				setup, i+1, version, failed, total, why, took.Round(100*time.Millisecond))
			r.failed, r.total, r.durations = append(r.failed, failed), append(r.total, total), append(r.durations, took)
		}
		l.close()
		n.noRestarts(ns, "app=demo")
		rows = append(rows, r)
	}
	t.Logf("rolling deploy, 3 replicas, maxSurge 1, maxUnavailable 0, %d req/s to the ClusterIP, %d rollout(s) each:", rate, k)
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
