//go:build k8snode

package k8snode

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// fleetValues: the chart's own Deployment (shape A), 3 replicas, fleet.enabled (the headless peers Service
// and healthgate.yaml's fleet section), one critical shared Postgres check through the proxy at addr.
func fleetValues(addr string) string {
	return fmt.Sprintf(`replicaCount: 3
image: {repository: localhost/hg-healthgate, tag: v1, pullPolicy: Never}
fleet:
  enabled: true
config:
  defaults:
    interval: %ds
    timeout: %ds
    failure_threshold: %d
    success_threshold: %d
checks:
  - name: db
    type: postgres
    url: "postgres://postgres@%s/test?sslmode=disable&connect_timeout=2"
    critical: true
    scope: shared
tests:
  enabled: false
`, checkInterval, checkTimeout, failureThreshold, successThreshold, addr)
}

// TestFleetSharedCut: the chart with fleet.enabled, 3 pods that find each other through the peers Service's
// DNS name. The shared Postgres cut for all 3 → the Service never empties and, after the first round, every
// endpoint is ready (fail open) with the ClusterIP answering; cut for one pod only (a REJECT rule for its address in the node's own namespace) → only its
// endpoint leaves, and comes back when the path does.
func TestFleetSharedCut(t *testing.T) {
	n := needNode(t)
	t.Parallel()
	startClusterDNS(t, n)
	ns := n.namespace("hg-fleet")
	pg := pgProxy(t)
	n.helmInstall(ns, "hg", fleetValues(pg.Addr()))
	n.fleetDiagnostics(ns, "app.kubernetes.io/instance=hg")
	const svc = "hg-healthgate"
	n.waitReadyPath(ns, svc, 3, "/readyz", 180*time.Second)
	cip := n.clusterIP(ns, svc)

	// Every pod hears the other two: /fleetz through the name must work before the cut means anything.
	pods := n.pods(ns, "app.kubernetes.io/instance=hg")
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3", len(pods))
	}

	down := time.Duration(failureThreshold*checkInterval+checkTimeout+probeFailures*readinessPeriod) * time.Second
	pg.Set(checktest.Refuse)
	cut := time.Now()
	// docs/design.md §10 "Bounds": the first pod to see the outage reports the local truth (503) until a round
	// tells it the others see it too, so that pod may leave for up to a round; the second one to see it
	// already hears one failing peer and fails open at once. So: at every poll at least 2 of 3 endpoints are
	// ready and the ClusterIP answers; once the detection bound and a round have passed, all 3 are ready and
	// stay ready, answering /readyz 200 degraded through the ClusterIP.
	round := time.Duration(checkInterval+1) * time.Second // interval + fleet.timeout (default 1s)
	settled := down + round + slack
	hold := 15 * time.Second
	var minReady = 3
	var outFor time.Duration
	last := time.Now()
	allSince := time.Time{}
	// A poll that breaks the bound fails the test only if the next one does too: one request, or one
	// probe round, slowed by a loaded machine is not the Service emptying; a fleet that does not fail
	// open breaks it at every poll.
	strikes := 0
	strike := func(format string, args ...any) {
		t.Helper()
		if strikes++; strikes >= 2 {
			t.Fatalf(format, args...)
		}
		t.Logf("once (tolerated if the next poll holds): "+format, args...)
	}
	for time.Since(cut) < settled+hold {
		eps := n.endpoints(ns, svc)
		r, s := readyCount(eps)
		now := time.Now()
		if r < 3 {
			outFor += now.Sub(last)
		}
		last = now
		minReady = min(minReady, r)
		if r < 2 {
			strike("%v after the shared cut: %s; the Service must keep at least 2 of 3", time.Since(cut).Round(100*time.Millisecond), s)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		resp, err := client.Get("http://" + cip + ":8080/readyz")
		if err != nil {
			strike("ClusterIP /readyz during the shared cut: %v (the Service must never empty)", err)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		degraded := resp.Header.Get("X-Envoy-Degraded") == "true"
		resp.Body.Close()
		switch {
		case r == 3 && resp.StatusCode == 200 && degraded:
			strikes = 0
			if allSince.IsZero() {
				allSince = now
			}
		case time.Since(cut) > settled:
			strike("%v after the shared cut (bound %v): %s, ClusterIP /readyz %d degraded=%v; want all 3 ready, 200 degraded",
				time.Since(cut).Round(100*time.Millisecond), settled, s, resp.StatusCode, degraded)
			allSince = time.Time{}
		default:
			strikes = 0
			allSince = time.Time{}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("shared cut: at least %d of 3 endpoints ready throughout; fewer than 3 for about %v; all 3 ready and failing open (ClusterIP /readyz 200 degraded) from %v after the cut on, held %v",
		minReady, outFor.Round(100*time.Millisecond), allSince.Sub(cut).Round(100*time.Millisecond), time.Since(allSince).Round(time.Second))
	// Locally the check is failing on every pod: healthgate_check_fail_open says they fail open.
	for _, p := range n.pods(ns, "app.kubernetes.io/instance=hg") {
		code, body := get("http://" + p.Status.PodIP + ":8080/metrics")
		if code != 200 || !strings.Contains(body, `healthgate_check_fail_open{check="db"} 1`) {
			t.Errorf("pod %s: not failing open per its metrics (%d):\n%s", p.Metadata.Name, code, grepAny(body, "fail_open"))
		}
	}
	pg.Set(checktest.Forward)
	n.eventually(30*time.Second, "no pod failing open after the restore", func() (bool, string) {
		resp, err := client.Get("http://" + cip + ":8080/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.Header.Get("X-Envoy-Degraded") == "", resp.Status
	})

	// One pod cut alone: the node's namespace rejects its connections to the proxy (FORWARD chain there; the
	// host's tables are not touched).
	odd := pods[0]
	rule := []string{"FORWARD", "-s", odd.Status.PodIP, "-d", hostIP, "-p", "tcp", "--dport", port(pg.Addr()), "-j", "REJECT", "--reject-with", "tcp-reset"}
	n.nodeIptables(append([]string{"-I"}, rule...)...)
	removed := false
	unrule := func() {
		if !removed {
			removed = true
			n.nodeIptables(append([]string{"-D"}, rule...)...)
		}
	}
	t.Cleanup(unrule)
	cut = time.Now()
	took := n.eventually(down+slack, "the odd pod's endpoint ready=false", func() (bool, string) {
		e := n.endpoints(ns, svc)[odd.Metadata.Name]
		return e.Conditions.Ready != nil && !*e.Conditions.Ready, "still ready"
	})
	if r, s := readyCount(n.endpoints(ns, svc)); r != 2 {
		t.Fatalf("one pod cut: %s; want the other 2 ready", s)
	}
	t.Logf("one pod cut: its endpoint ready=false after %v, the other 2 ready", took.Round(100*time.Millisecond))
	unrule()
	n.eventually(30*time.Second, "all 3 ready after the odd pod's path is back", func() (bool, string) {
		r, s := readyCount(n.endpoints(ns, svc))
		return r == 3, s
	})
	n.noRestarts(ns, "app.kubernetes.io/instance=hg")
}

// fleetDiagnostics logs, if the test fails, what each pod said about its fleet rounds: its log lines about
// the fleet and failing open (with the heard and failing counts) and its fleet metrics (requests by result).
func (n *node) fleetDiagnostics(ns, selector string) {
	n.t.Cleanup(func() {
		if !n.t.Failed() {
			return
		}
		var list struct {
			Items []Pod `json:"items"`
		}
		out, err := n.kcErr("-n", ns, "get", "pods", "-l", selector, "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), &list) != nil {
			n.t.Logf("fleet diagnostics: kubectl get pods: %v", err)
			return
		}
		for _, p := range list.Items {
			logs, _ := n.kcErr("-n", ns, "logs", p.Metadata.Name, "--all-containers", "--tail=200")
			_, metrics := get("http://" + p.Status.PodIP + ":8080/metrics")
			n.t.Logf("pod %s (%s): fleet log lines:\n%s\nfleet metrics:\n%s", p.Metadata.Name, p.Status.PodIP,
				tail(grepAny(logs, "fleet", "failing open", "check "), 40), grepAny(metrics, "healthgate_fleet", "fail_open"))
		}
	})
}

// grepAny returns the lines of s that contain any of subs.
func grepAny(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// waitReadyPath is waitReady for a Service on port 8080 and a given path.
func (n *node) waitReadyPath(ns, svc string, want int, path string, timeout time.Duration) {
	n.t.Helper()
	n.eventually(timeout, fmt.Sprintf("%d ready endpoints of %s/%s", want, ns, svc), func() (bool, string) {
		eps := n.endpoints(ns, svc)
		r, s := readyCount(eps)
		return r == want && len(eps) == want, s
	})
	cip := n.clusterIP(ns, svc)
	n.eventually(30*time.Second, "ClusterIP "+cip+" answers 200", func() (bool, string) {
		code, body := get("http://" + cip + ":8080" + path)
		return code == 200, fmt.Sprint(code, " ", body)
	})
}

// nodeIptables runs iptables inside the node's network namespace.
func (n *node) nodeIptables(args ...string) {
	n.t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/hgk8s", "iptables", "-w"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("iptables %v in the node's namespace: %v\n%s", args, err, out)
	}
}

func port(hostport string) string { return hostport[strings.LastIndex(hostport, ":")+1:] }
