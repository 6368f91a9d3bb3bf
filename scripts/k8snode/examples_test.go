//go:build k8snode

package k8snode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/healthgate/healthgate/checks/checktest"
)

// readExample returns examples/kubernetes/<file>.
func readExample(t *testing.T, repo, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "examples", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// substitute applies each replacement (old, new) to s, the text of where; an old text that s no longer holds
// fails the test: the example changed, and the test must follow it rather than run something else.
func substitute(t *testing.T, where, s string, rs ...[2]string) string {
	t.Helper()
	for _, r := range rs {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("%s has no %q any more: update this test", where, r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// exampleImages points the examples' images at this node's: healthgate's, and the demo app for the app,
// whose readiness is on the demo's /healthz (the examples' app has /ready).
var exampleImages = [][2]string{
	{"ghcr.io/healthgate/healthgate:0.1.0", "localhost/hg-healthgate:v1"},
	{"registry.example.com/my-app:1.4.2", "localhost/hg-demo:v1"},
	{"httpGet: {path: /ready, port: http}", "httpGet: {path: /healthz, port: http}"},
}

// exampleTiming is what the bounds of TestExamplesRun follow from: the check timing in
// examples/kubernetes/configmap.yaml and the sidecar's readinessProbe in deployment-sidecar.yaml, read from
// the files, so that the test holds whatever timing the examples recommend.
type exampleTiming struct {
	interval, timeout                  time.Duration
	failureThreshold, successThreshold int
	probePeriod, probeFailures         int
}

func readExampleTiming(t *testing.T, configMap, sidecar string) exampleTiming {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal([]byte(configMap), &cm); err != nil {
		t.Fatalf("examples/kubernetes/configmap.yaml: %v", err)
	}
	var cfg struct {
		Defaults struct {
			Interval         string `yaml:"interval"`
			Timeout          string `yaml:"timeout"`
			FailureThreshold int    `yaml:"failure_threshold"`
			SuccessThreshold int    `yaml:"success_threshold"`
		} `yaml:"defaults"`
		Checks []map[string]any `yaml:"checks"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["healthgate.yaml"]), &cfg); err != nil {
		t.Fatalf("examples/kubernetes/configmap.yaml healthgate.yaml: %v", err)
	}
	for _, c := range cfg.Checks {
		for _, k := range []string{"interval", "timeout", "failure_threshold", "success_threshold"} {
			if _, ok := c[k]; ok {
				t.Fatalf("examples/kubernetes/configmap.yaml: check %v sets %s: the bounds here assume the defaults' timing", c["name"], k)
			}
		}
	}
	var tm exampleTiming
	var err error
	if tm.interval, err = time.ParseDuration(cfg.Defaults.Interval); err != nil {
		t.Fatalf("examples/kubernetes/configmap.yaml defaults.interval: %v", err)
	}
	if tm.timeout, err = time.ParseDuration(cfg.Defaults.Timeout); err != nil {
		t.Fatalf("examples/kubernetes/configmap.yaml defaults.timeout: %v", err)
	}
	tm.failureThreshold, tm.successThreshold = cfg.Defaults.FailureThreshold, cfg.Defaults.SuccessThreshold

	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					InitContainers []struct {
						Name           string `yaml:"name"`
						ReadinessProbe *struct {
							PeriodSeconds    int `yaml:"periodSeconds"`
							FailureThreshold int `yaml:"failureThreshold"`
						} `yaml:"readinessProbe"`
					} `yaml:"initContainers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	doc, _, _ := strings.Cut(sidecar, "\n---\n")
	if err := yaml.Unmarshal([]byte(doc), &dep); err != nil {
		t.Fatalf("examples/kubernetes/deployment-sidecar.yaml: %v", err)
	}
	for _, c := range dep.Spec.Template.Spec.InitContainers {
		if c.Name == "healthgate" && c.ReadinessProbe != nil {
			tm.probePeriod, tm.probeFailures = c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.FailureThreshold
		}
	}
	if tm.probePeriod == 0 || tm.probeFailures == 0 || tm.failureThreshold == 0 || tm.successThreshold == 0 {
		t.Fatalf("examples/kubernetes: timing not found (%+v): the sidecar's readinessProbe needs periodSeconds and failureThreshold, the config's defaults both thresholds", tm)
	}
	return tm
}

// TestExamplesRun: the manifests users copy, examples/kubernetes (configmap.yaml, deployment-wait.yaml,
// deployment-sidecar.yaml, and the Secret app-db they read), applied as they are but for the images, in a
// Pod-Security-"restricted" namespace. While Postgres refuses, both shapes hold the app: the wait init
// container runs, the sidecar's startupProbe has not passed, no app container started, no pod Ready. Once it
// answers, the four pods turn Ready. Then Postgres cut for the sidecar shape's pods → its Service's endpoints
// ready=false within the bound the examples' own timing gives (README "Probe timing"), and ready=true again
// once restored; no container restarts; the URL's password in no log. Last, a rolling update of the sidecar
// shape under load through its ClusterIP fails no request.
func TestExamplesRun(t *testing.T) {
	n := needNode(t)
	t.Parallel()
	pg, rd := pgProxy(t), redisProxy(t)
	configMap := substitute(t, "examples/kubernetes/configmap.yaml", readExample(t, n.repo, "configmap.yaml"),
		[2]string{"@redis:6379/0", "@" + rd.Addr() + "/0"})
	sidecar := substitute(t, "examples/kubernetes/deployment-sidecar.yaml", readExample(t, n.repo, "deployment-sidecar.yaml"), exampleImages...)
	waitShape := substitute(t, "examples/kubernetes/deployment-wait.yaml", readExample(t, n.repo, "deployment-wait.yaml"), exampleImages...)
	tm := readExampleTiming(t, configMap, sidecar)

	ns := n.namespace("hg-examples")
	pg.Set(checktest.Refuse)
	// Trust auth ignores the password: it is there to be looked for in the logs. The shared Redis has no
	// AUTH: an empty password (the example's ${REDIS_PASSWORD:-}) sends none.
	const password = "k8s-examples-s3cret"
	n.kc("-n", ns, "create", "secret", "generic", "app-db",
		"--from-literal=url=postgres://postgres:"+password+"@"+pg.Addr()+"/test?sslmode=disable&connect_timeout=2",
		"--from-literal=redis-password=")
	n.apply(ns, configMap+"\n---\n"+waitShape+"\n---\n"+sidecar)
	const (
		waitPods    = "app.kubernetes.io/instance=my-app-wait"
		sidecarPods = "app.kubernetes.io/instance=my-app-sidecar"
	)

	// held says what is not held back in the pods of one shape: gate is the container that must be running.
	held := func(selector, gate string) string {
		ps := n.pods(ns, selector)
		if len(ps) != 2 {
			return fmt.Sprintf("%d pods of %s, want 2", len(ps), selector)
		}
		for _, p := range ps {
			app, _ := p.Container("app")
			if p.Ready() || app.State.Running != nil || app.State.Terminated != nil {
				return fmt.Sprintf("pod %s: Ready=%v, app container started (%+v)", p.Metadata.Name, p.Ready(), app.State)
			}
			if g, _ := p.Container(gate); g.State.Running == nil {
				return fmt.Sprintf("pod %s: %s not running: %+v", p.Metadata.Name, gate, g.State)
			}
		}
		return ""
	}
	n.eventually(120*time.Second, "both shapes' gates running while Postgres refuses", func() (bool, string) {
		bad := held(waitPods, "wait-for-deps") + held(sidecarPods, "healthgate")
		return bad == "", bad
	})
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(500 * time.Millisecond) {
		if bad := held(waitPods, "wait-for-deps") + held(sidecarPods, "healthgate"); bad != "" {
			t.Fatalf("Postgres refusing: %s", bad)
		}
	}
	t.Log("held: no app container started, no pod Ready for 10 s while Postgres refuses (both shapes)")

	pg.Set(checktest.Forward)
	for _, sel := range []string{waitPods, sidecarPods} {
		n.eventually(120*time.Second, "both pods of "+sel+" Ready once Postgres answers", func() (bool, string) {
			ps := n.pods(ns, sel)
			ready := 0
			for _, p := range ps {
				if p.Ready() {
					ready++
				}
			}
			return len(ps) == 2 && ready == 2, fmt.Sprintf("%d of %d Ready", ready, len(ps))
		})
	}
	n.waitReady(ns, "my-app", 2, 60*time.Second)

	// README "Probe timing": failing within failure_threshold × interval + timeout, then the kubelet's
	// probeFailures probes probePeriod apart; passing again within success_threshold × interval + timeout
	// and one probe.
	probe := time.Duration(tm.probePeriod) * time.Second
	down := time.Duration(tm.failureThreshold)*tm.interval + tm.timeout + time.Duration(tm.probeFailures)*probe
	up := time.Duration(tm.successThreshold)*tm.interval + tm.timeout + probe
	pg.Set(checktest.Refuse)
	took := n.eventually(down+slack, "both endpoints of my-app ready=false after the Postgres cut", func() (bool, string) {
		eps := n.endpoints(ns, "my-app")
		r, s := readyCount(eps)
		return r == 0 && len(eps) == 2, s
	})
	t.Logf("Postgres cut: both endpoints ready=false after %v (bound from the examples' timing %v, + %v slack)",
		took.Round(100*time.Millisecond), down, slack)
	pg.Set(checktest.Forward)
	took = n.eventually(up+slack, "both endpoints of my-app ready=true after the restore", func() (bool, string) {
		r, s := readyCount(n.endpoints(ns, "my-app"))
		return r == 2, s
	})
	t.Logf("Postgres restored: both endpoints ready=true after %v (bound %v, + %v slack)", took.Round(100*time.Millisecond), up, slack)

	n.noRestarts(ns, "app.kubernetes.io/name=my-app")
	for _, sel := range []struct{ selector, container string }{{waitPods, "wait-for-deps"}, {sidecarPods, "healthgate"}} {
		for _, p := range n.pods(ns, sel.selector) {
			logs := n.kc("-n", ns, "logs", p.Metadata.Name, "-c", sel.container)
			if strings.Contains(logs, password) {
				t.Errorf("pod %s: %s's log holds the URL's password:\n%s", p.Metadata.Name, sel.container, logs)
			}
		}
	}

	// A rolling update of the sidecar shape (kubectl rollout restart: new pods, as a new version's) under a
	// steady load through its ClusterIP: with the examples' probes, maxSurge 1 / maxUnavailable 0 and the
	// preStop sleep, no request fails. As in TestRollingDeploy, a first window without a failed request
	// comes before (kube-proxy may still be programming the endpoints that came back).
	const rate = 20
	l := startLoad("http://"+n.clusterIP(ns, "my-app")+"/", rate)
	defer l.close()
	if !l.quiet(t, "before the rollout") {
		t.FailNow()
	}
	start := time.Now()
	n.kc("-n", ns, "rollout", "restart", "deployment/my-app-sidecar")
	n.kc("-n", ns, "rollout", "status", "deployment/my-app-sidecar", "--timeout=300s")
	took = time.Since(start)
	// The old pods drain after the rollout reports complete (preStop, shutdown): counted until they are gone.
	n.eventually(120*time.Second, "the old pods gone", func() (bool, string) {
		ps := n.pods(ns, sidecarPods)
		return len(ps) == 2, fmt.Sprint(len(ps), " pods")
	})
	time.Sleep(2 * time.Second)
	total, failed, why, _ := l.reset()
	t.Logf("rolling update of the sidecar shape: %d of %d requests failed (%s), rollout took %v", failed, total, why, took.Round(100*time.Millisecond))
	if failed > 0 {
		t.Errorf("rolling update of examples/kubernetes/deployment-sidecar.yaml: %d of %d requests failed (%s); want none", failed, total, why)
	}
	if least := int64(took.Seconds()) * rate / 2; total < least {
		t.Errorf("only %d requests during a %v rollout at %d/s: the load did not run", total, took.Round(time.Second), rate)
	}
}
