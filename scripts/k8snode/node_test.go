//go:build k8snode

// Package k8snode holds acceptance tests against a real single-node Kubernetes (scripts/k8s-node): the chart
// installed with helm, healthgate's images running under the kubelet, and every assertion read from
// Kubernetes' own objects (pod conditions, EndpointSlices, restart counts) or from traffic through a
// ClusterIP. Run them with `scripts/k8s-node test`, which starts the node, runs them and takes it down.
package k8snode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/healthgate/healthgate/checks/checktest"
)

// The node's network, as scripts/k8s-node sets it up.
const (
	hostIP   = "10.250.0.254" // the host side of the veth: pods reach the test's proxies and DNS here
	postgres = "127.0.0.1:5432"
	redisAt  = "127.0.0.1:6379"
)

// node is the running cluster.
type node struct {
	t       *testing.T
	dir     string
	kubectl string
	helm    string
	repo    string
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// needNode returns the node scripts/k8s-node started, or fails (CI=true) / skips the test without one.
func needNode(t *testing.T) *node {
	t.Helper()
	dir := os.Getenv("HEALTHGATE_K8S_NODE_DIR")
	missing := ""
	switch {
	case dir == "":
		missing = "HEALTHGATE_K8S_NODE_DIR is not set (run these tests with scripts/k8s-node test)"
	default:
		if _, err := os.Stat(filepath.Join(dir, "conf", "admin.kubeconfig")); err != nil {
			missing = "no node in " + dir + ": " + err.Error()
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	_, file, _, _ := runtime.Caller(0)
	n := &node{t: t, dir: dir, kubectl: filepath.Join(dir, "bin", "kubectl"), repo: filepath.Join(filepath.Dir(file), "..", "..")}
	helmOnce.Do(func() {
		out, err := exec.Command("go", "tool", "-modfile="+filepath.Join(n.repo, "tools", "go.mod"), "-n", "helm").Output()
		helmPath, helmErr = strings.TrimSpace(string(out)), err
	})
	if helmErr != nil {
		t.Fatalf("helm from tools/go.mod: %v", helmErr)
	}
	n.helm = helmPath
	return n
}

// kc runs kubectl; a failure fails the test.
func (n *node) kc(args ...string) string {
	n.t.Helper()
	out, err := n.kcErr(args...)
	if err != nil {
		n.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (n *node) kcErr(args ...string) (string, error) {
	cmd := exec.Command(n.kubectl, append([]string{"--kubeconfig", filepath.Join(n.dir, "conf", "admin.kubeconfig")}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// apply applies manifests from a string.
func (n *node) apply(ns, manifests string) {
	n.t.Helper()
	cmd := exec.Command(n.kubectl, "--kubeconfig", filepath.Join(n.dir, "conf", "admin.kubeconfig"), "-n", ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifests)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("kubectl apply: %v\n%s\n--- manifests:\n%s", err, out, manifests)
	}
}

// helmInstall installs charts/healthgate as release into ns with the values given (YAML).
func (n *node) helmInstall(ns, release, values string) {
	n.t.Helper()
	f := filepath.Join(n.t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(n.helm, "--kubeconfig", filepath.Join(n.dir, "conf", "admin.kubeconfig"), "-n", ns,
		"install", release, filepath.Join(n.repo, "charts", "healthgate"), "-f", f)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("helm install %s: %v\n%s", release, err, out)
	} else {
		n.t.Logf("helm install %s: %s", release, firstLine(string(out), "STATUS:"))
	}
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// namespace creates a namespace enforcing Pod Security "restricted", deleted when the test ends.
func (n *node) namespace(name string) string {
	n.t.Helper()
	n.kc("create", "namespace", name)
	n.kc("label", "namespace", name, "healthgate-k8s-node=test",
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")
	n.t.Cleanup(func() {
		if n.t.Failed() {
			out, _ := n.kcErr("-n", name, "get", "pods,endpointslices", "-o", "wide")
			n.t.Logf("namespace %s at the end:\n%s", name, out)
			ev, _ := n.kcErr("-n", name, "get", "events", "--sort-by=.lastTimestamp")
			n.t.Logf("events:\n%s", tail(ev, 30))
		}
		// Not waited for: its pods drain (preStop, shutdown_delay) while the next test runs, and
		// scripts/k8s-node down removes whatever is left.
		if out, err := n.kcErr("delete", "namespace", name, "--wait=false"); err != nil {
			n.t.Logf("delete namespace %s: %v %s", name, err, out)
		}
	})
	// The ServiceAccount controller creates "default" shortly after.
	n.eventually(30*time.Second, "ServiceAccount default in "+name, func() (bool, string) {
		_, err := n.kcErr("-n", name, "get", "serviceaccount", "default")
		return err == nil, ""
	})
	return name
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// eventually polls cond every 200 ms until it holds, and fails the test after timeout with cond's last word.
// It returns how long it took.
func (n *node) eventually(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	n.t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		last = why
		if time.Since(start) > timeout {
			n.t.Fatalf("%s: not within %v (last: %s)", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Pod is the part of a Pod's status the tests read.
type Pod struct {
	Metadata struct {
		Name              string  `json:"name"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		InitContainerStatuses []ContainerStatus `json:"initContainerStatuses"`
		ContainerStatuses     []ContainerStatus `json:"containerStatuses"`
	} `json:"status"`
}

// ContainerStatus is a container's status.
type ContainerStatus struct {
	Name         string `json:"name"`
	Ready        bool   `json:"ready"`
	RestartCount int    `json:"restartCount"`
	State        struct {
		Waiting *struct {
			Reason string `json:"reason"`
		} `json:"waiting"`
		Running *struct {
			StartedAt time.Time `json:"startedAt"`
		} `json:"running"`
		Terminated *struct {
			ExitCode int    `json:"exitCode"`
			Reason   string `json:"reason"`
		} `json:"terminated"`
	} `json:"state"`
}

// Ready reports the pod's Ready condition.
func (p Pod) Ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// Restarts sums the restart counts of every container, init and sidecar containers included.
func (p Pod) Restarts() int {
	r := 0
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		r += c.RestartCount
	}
	return r
}

// Container returns the status of the named container (init or not).
func (p Pod) Container(name string) (ContainerStatus, bool) {
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerStatus{}, false
}

// pods lists the pods matching selector in ns.
func (n *node) pods(ns, selector string) []Pod {
	n.t.Helper()
	var list struct {
		Items []Pod `json:"items"`
	}
	n.getJSON(&list, "-n", ns, "get", "pods", "-l", selector)
	return list.Items
}

// getJSON reads objects; a read the API server failed (a timeout on a loaded machine, as tests poll it
// side by side) is tried again, twice, before it fails the test: a read changes nothing.
func (n *node) getJSON(v any, args ...string) {
	n.t.Helper()
	args = append(args, "-o", "json")
	out, err := n.kcErr(args...)
	for try := 0; err != nil && try < 2; try++ {
		time.Sleep(time.Second)
		out, err = n.kcErr(args...)
	}
	if err != nil {
		n.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.t.Fatalf("kubectl %v: %v", args, err)
	}
}

// Endpoint is one endpoint of an EndpointSlice.
type Endpoint struct {
	Addresses  []string `json:"addresses"`
	Conditions struct {
		Ready       *bool `json:"ready"`
		Serving     *bool `json:"serving"`
		Terminating *bool `json:"terminating"`
	} `json:"conditions"`
	TargetRef struct {
		Name string `json:"name"`
	} `json:"targetRef"`
}

// endpoints lists the endpoints of Service svc in ns, keyed by pod name.
func (n *node) endpoints(ns, svc string) map[string]Endpoint {
	n.t.Helper()
	var list struct {
		Items []struct {
			Endpoints []Endpoint `json:"endpoints"`
		} `json:"items"`
	}
	n.getJSON(&list, "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name="+svc)
	m := map[string]Endpoint{}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			m[e.TargetRef.Name] = e
		}
	}
	return m
}

// readyCount counts the endpoints with ready=true; summary describes every endpoint.
func readyCount(eps map[string]Endpoint) (int, string) {
	ready := 0
	var b strings.Builder
	for name, e := range eps {
		r := e.Conditions.Ready != nil && *e.Conditions.Ready
		if r {
			ready++
		}
		fmt.Fprintf(&b, "%s ready=%v ", name, r)
	}
	return ready, b.String()
}

// clusterIP returns the Service's ClusterIP.
func (n *node) clusterIP(ns, svc string) string {
	n.t.Helper()
	ip := strings.TrimSpace(n.kc("-n", ns, "get", "service", svc, "-o", "jsonpath={.spec.clusterIP}"))
	if net.ParseIP(ip) == nil {
		n.t.Fatalf("service %s/%s: clusterIP %q", ns, svc, ip)
	}
	return ip
}

// client is an HTTP client for ClusterIPs and pod IPs that never reuses a connection: every request goes
// through kube-proxy's rules afresh, as a new client's would.
var client = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// get returns the status code and body of GET url (0 and the error text when no answer came).
func get(url string) (int, string) { return getWith(client, url) }

// getWith is get with the client c.
func getWith(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// pgProxy is a fault proxy to the host's Postgres on the veth's host side, where pods reach it.
func pgProxy(t *testing.T) *checktest.Proxy {
	t.Helper()
	return checktest.NewProxyAt(t, hostIP+":0", postgres)
}

// redisProxy is a fault proxy to the host's Redis on the veth's host side. The demo app counts its requests
// there (demoHitsKey): when the test ends, the key goes, and the shared Redis is left as it was found.
func redisProxy(t *testing.T) *checktest.Proxy {
	t.Helper()
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: redisAt})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rdb.Del(ctx, demoHitsKey).Err(); err != nil {
			t.Errorf("deleting the demo app's %s from the shared Redis: %v", demoHitsKey, err)
		}
	})
	return checktest.NewProxyAt(t, hostIP+":0", redisAt)
}

// demoHitsKey is the key the demo app (demo/main.go) increments on each request.
const demoHitsKey = "healthgate-demo:hits"
