package main

// The Prometheus kit (README.md "Prometheus kit"): the chart's alert rules under `promtool test rules`,
// `promtool check metrics` on a real scrape of a real `healthgate serve`, and every query of the chart's
// Grafana dashboard run against a real Prometheus that scraped it. The chart is rendered with the helm
// pinned in tools/go.mod; promtool and prometheus are Debian's `prometheus` package (.ci/run installs it).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/healthgate/healthgate/checks/checktest"
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary is the helm pinned in tools/go.mod (built once by the go command, then cached).
func helmBinary(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		out, err := exec.Command("go", "-C", "tools", "tool", "-n", "helm").Output()
		helmPath, helmErr = strings.TrimSpace(string(out)), err
	})
	if helmErr != nil {
		t.Fatalf("go tool -n helm: %v", helmErr)
	}
	return helmPath
}

// kit is what the chart renders for Prometheus: the PrometheusRule's spec (a Prometheus rule file) and
// the dashboard's JSON.
type kit struct {
	rules     []byte
	dashboard []byte
}

// renderKit renders the chart as release "hg" in namespace "default", on a cluster that serves the
// Prometheus Operator's CRDs, with the rules and the dashboard enabled and the extra --set values.
func renderKit(t *testing.T, sets ...string) kit {
	t.Helper()
	args := []string{"template", "hg", "charts/healthgate",
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	var k kit
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     yaml.Node
			Data     map[string]string
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding helm's output: %v", err)
		}
		switch {
		case doc.Kind == "PrometheusRule":
			if k.rules, err = yaml.Marshal(&doc.Spec); err != nil {
				t.Fatal(err)
			}
		case doc.Kind == "ConfigMap" && doc.Metadata.Name == "hg-healthgate-dashboard":
			k.dashboard = []byte(doc.Data["healthgate.json"])
		}
	}
	if k.rules == nil || k.dashboard == nil {
		t.Fatalf("helm template rendered no PrometheusRule (%t) or no dashboard ConfigMap (%t)", k.rules != nil, k.dashboard != nil)
	}
	return k
}

// alertCase is one promtool test: input series at a 1m interval, and at each evaluation time the alerts
// of one rule that must be firing (by their series' labels; none: it must not fire).
type alertCase struct {
	name   string
	alert  string
	series map[string]string // series selector -> promtool values
	evals  map[string][]map[string]string
}

// ours are the labels of this release's series as a ServiceMonitor scrapes them.
func ours(kv ...string) map[string]string {
	l := map[string]string{"job": "hg-healthgate", "namespace": "default", "pod": "hg-healthgate-7d9f-abcde", "instance": "10.0.0.7:8080"}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

func selector(name string, l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// alertCases: for each alert one case where it fires and one where it must not (too short, recovered,
// not critical, another release's series).
func alertCases() []alertCase {
	db := ours("check", "db", "type", "postgres")
	other := ours("job", "other-healthgate")
	crit, nonCrit := ours("check", "db", "type", "postgres", "critical", "true"), ours("check", "cache", "type", "redis", "critical", "false")
	shared := ours("check", "db")
	return []alertCase{
		{name: "not ready for 9m", alert: "HealthgateNotReady",
			series: map[string]string{selector("healthgate_ready", ours()): "1 0x10"},
			evals:  map[string][]map[string]string{"10m": {ours()}}},
		{name: "not ready for 3m, then ready; another release unready", alert: "HealthgateNotReady",
			series: map[string]string{selector("healthgate_ready", ours()): "1 0 0 0 1x7", selector("healthgate_ready", other): "0x10"},
			evals:  map[string][]map[string]string{"4m": nil, "10m": nil}},
		{name: "critical check failing for 10m", alert: "HealthgateCriticalCheckFailing",
			series: map[string]string{selector("healthgate_check_up", crit): "0x10"},
			evals:  map[string][]map[string]string{"10m": {crit}}},
		{name: "non-critical check failing; critical one failing 3m then passing", alert: "HealthgateCriticalCheckFailing",
			series: map[string]string{selector("healthgate_check_up", nonCrit): "0x10", selector("healthgate_check_up", crit): "0 0 0 1x7"},
			evals:  map[string][]map[string]string{"3m": nil, "10m": nil}},
		{name: "check stale for 4m", alert: "HealthgateCheckStale",
			series: map[string]string{selector("healthgate_check_stale", db): "0 1x5"},
			evals:  map[string][]map[string]string{"5m": {db}}},
		{name: "check stale for one scrape; another never", alert: "HealthgateCheckStale",
			series: map[string]string{selector("healthgate_check_stale", db): "0 1 0x8", selector("healthgate_check_stale", ours("check", "cache", "type", "redis")): "0x10"},
			evals:  map[string][]map[string]string{"2m": nil, "10m": nil}},
		{name: "failing open for 9m", alert: "HealthgateCheckFailingOpen",
			series: map[string]string{selector("healthgate_check_fail_open", shared): "0 1x10"},
			evals:  map[string][]map[string]string{"10m": {shared}}},
		{name: "failing open for 2m, then not", alert: "HealthgateCheckFailingOpen",
			series: map[string]string{selector("healthgate_check_fail_open", shared): "1 1 0x8"},
			evals:  map[string][]map[string]string{"2m": nil, "10m": nil}},
		{name: "config reload refused 9m ago", alert: "HealthgateConfigReloadFailed",
			series: map[string]string{selector("healthgate_config_last_reload_successful", ours()): "1 0x10"},
			evals:  map[string][]map[string]string{"10m": {ours()}}},
		{name: "config reload refused, fixed 2m later; another release refused", alert: "HealthgateConfigReloadFailed",
			series: map[string]string{selector("healthgate_config_last_reload_successful", ours()): "0 0 1x8",
				selector("healthgate_config_last_reload_successful", other): "0x10"},
			evals: map[string][]map[string]string{"2m": nil, "10m": nil}},
	}
}

// promtoolTests writes the promtool test file for cases against rulesFile: the expected annotations are
// the rules' own templates expanded as Prometheus does ({{ $labels.x }}), so a broken template, a wrong
// label or a missing alert all fail.
func promtoolTests(t *testing.T, rules []byte, severity map[string]string, extra map[string]string) []byte {
	t.Helper()
	var spec struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(rules, &spec); err != nil {
		t.Fatal(err)
	}
	annotations := map[string]map[string]string{}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			annotations[r.Alert] = r.Annotations
			if got := r.Labels["severity"]; got != severity[r.Alert] {
				t.Errorf("%s: severity %q; want %q", r.Alert, got, severity[r.Alert])
			}
		}
	}
	expand := func(alert string, labels map[string]string) map[string]string {
		out := map[string]string{}
		for k, text := range annotations[alert] {
			tmpl, err := template.New(k).Option("missingkey=zero").Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
			if err != nil {
				t.Fatalf("%s annotation %s: %v", alert, k, err)
			}
			var b strings.Builder
			if err := tmpl.Execute(&b, struct {
				Labels map[string]string
				Value  float64
			}{labels, 0}); err != nil {
				t.Fatalf("%s annotation %s: %v", alert, k, err)
			}
			out[k] = b.String()
		}
		return out
	}

	type expAlert struct {
		Labels      map[string]string `yaml:"exp_labels"`
		Annotations map[string]string `yaml:"exp_annotations"`
	}
	type alertTest struct {
		EvalTime  string     `yaml:"eval_time"`
		Alertname string     `yaml:"alertname"`
		ExpAlerts []expAlert `yaml:"exp_alerts"`
	}
	type inputSeries struct{ Series, Values string }
	type testGroup struct {
		Name       string        `yaml:"name"`
		Interval   string        `yaml:"interval"`
		InputSerie []inputSeries `yaml:"input_series"`
		AlertTests []alertTest   `yaml:"alert_rule_test"`
	}
	file := struct {
		RuleFiles          []string    `yaml:"rule_files"`
		EvaluationInterval string      `yaml:"evaluation_interval"`
		Tests              []testGroup `yaml:"tests"`
	}{RuleFiles: []string{"rules.yaml"}, EvaluationInterval: "1m"}
	for _, c := range alertCases() {
		g := testGroup{Name: c.alert + ": " + c.name, Interval: "1m"}
		for _, s := range slices.Sorted(maps.Keys(c.series)) {
			g.InputSerie = append(g.InputSerie, inputSeries{s, c.series[s]})
		}
		for _, at := range slices.Sorted(maps.Keys(c.evals)) {
			at := alertTest{EvalTime: at, Alertname: c.alert, ExpAlerts: []expAlert{}}
			for _, l := range c.evals[at.EvalTime] {
				want := maps.Clone(l)
				maps.Copy(want, extra)
				want["severity"] = severity[c.alert]
				at.ExpAlerts = append(at.ExpAlerts, expAlert{want, expand(c.alert, want)})
			}
			g.AlertTests = append(g.AlertTests, at)
		}
		file.Tests = append(file.Tests, g)
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runPromtoolTests writes rules and tests into a directory and runs `promtool test rules` on them.
func runPromtoolTests(t *testing.T, promtool string, rules, tests []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"rules.yaml": rules, "tests.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(promtool, "test", "rules", "tests.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPrometheusRuleAlerts: every alert of the chart's PrometheusRule fires on synthetic series where
// it must (after its `for`) and stays silent where it must not, with the configured severity and extra
// labels and its runbook annotations; with longer `for` values the same series no longer fire.
func TestPrometheusRuleAlerts(t *testing.T) {
	t.Parallel() // helm and promtool processes of its own
	promtool := checktest.Binary(t, "promtool")
	severity := map[string]string{"HealthgateNotReady": "warning", "HealthgateCriticalCheckFailing": "critical",
		"HealthgateCheckStale": "warning", "HealthgateCheckFailingOpen": "warning", "HealthgateConfigReloadFailed": "page"}
	extra := map[string]string{"team": "payments"}
	k := renderKit(t, "metrics.prometheusRule.alertLabels.team=payments",
		"metrics.prometheusRule.alerts.configReloadFailed.severity=page")
	tests := promtoolTests(t, k.rules, severity, extra)
	if out, err := runPromtoolTests(t, promtool, k.rules, tests); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\nrules:\n%s", err, out, k.rules)
	}

	// Negative control: the thresholds come from values. With every `for` at 20m the cases that fire
	// at 10m at the latest must now fail, one per alert.
	var sets []string
	for _, a := range []string{"notReady", "criticalCheckFailing", "checkStale", "checkFailingOpen", "configReloadFailed"} {
		sets = append(sets, "metrics.prometheusRule.alerts."+a+".for=20m")
	}
	slow := renderKit(t, append(sets, "metrics.prometheusRule.alertLabels.team=payments",
		"metrics.prometheusRule.alerts.configReloadFailed.severity=page")...)
	out, err := runPromtoolTests(t, promtool, slow.rules, promtoolTests(t, slow.rules, severity, extra))
	if err == nil {
		t.Fatalf("promtool test rules passed with every `for` at 20m; the firing cases must fail:\n%s", out)
	}
	for alert := range severity {
		if !strings.Contains(out, alert) {
			t.Errorf("with `for: 20m`, promtool reports no failure for %s:\n%s", alert, out)
		}
	}
}

// servedHealthgate is `healthgate serve` run as a process on the real Postgres and Redis, with a third
// check failing for real (a port that refuses), so every metric family has series.
func servedHealthgate(t *testing.T) string {
	t.Helper()
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	down := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	down.Set(checktest.Refuse)
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_delay: 0s
defaults: {interval: 500ms, timeout: 400ms}
checks:
  - {name: db, type: postgres, url: "${DATABASE_URL}"}
  - {name: cache, type: redis, url: "%s"}
  - {name: queue, type: tcp, address: "%s", critical: false}
`, redisURL, down.Addr())
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(healthgateBinary(t), "serve", "--config", path, "--log-format", "json")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgURL)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, cmd, "healthgate serve") })
	return servedAddr(t, log)
}

// stopProcess sends SIGTERM (twice: healthgate's second one skips the drain) and waits; SIGKILL after 20s.
func stopProcess(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s ignored SIGTERM for 20s: killed", name)
		_ = cmd.Process.Kill()
		<-done
	}
}

// TestPrometheusScrape: a real healthgate's /metrics passes `promtool check metrics`, and a real
// Prometheus scraping it answers every query of the chart's dashboard (panels and variables) with series.
func TestPrometheusScrape(t *testing.T) {
	t.Parallel() // its own healthgate and Prometheus processes, on ports of their own; waits on scrapes
	promtool := checktest.Binary(t, "promtool")
	prometheus := checktest.Binary(t, "prometheus")
	k := renderKit(t)
	addr := servedHealthgate(t)

	// Wait until every check has run and the refused one fails.
	var body string
	checktest.Eventually(t, 20*time.Second, "every check to have a result", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		v, _ := metricValue(body, `healthgate_check_failures_total{check="queue",reason="refused",type="tcp"}`)
		up, _ := metricValue(body, `healthgate_check_up{check="db",critical="true",type="postgres"}`)
		return v > 0 && up == 1
	})

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("dashboard queries", func(t *testing.T) {
		api := startPrometheus(t, prometheus, addr)
		var dash struct {
			Templating struct {
				List []struct {
					Name  string
					Type  string
					Query json.RawMessage
				}
			}
			Panels []struct {
				Title   string
				Targets []struct{ Expr, RefID string }
			}
		}
		if err := json.Unmarshal(k.dashboard, &dash); err != nil {
			t.Fatalf("the dashboard is not JSON: %v", err)
		}
		if len(dash.Panels) < 4 {
			t.Fatalf("the dashboard has %d panels", len(dash.Panels))
		}
		// Grafana's variables as a user who picked "All" would have them.
		vars := strings.NewReplacer("$namespace", ".*", "$job", ".*", "$__rate_interval", "1m", "${datasource}", "")
		// Rates need two scrapes in their window, and the failing check some failed runs between them.
		checktest.Eventually(t, 60*time.Second, "Prometheus to have scraped healthgate a few times", func() bool {
			n, err := promQuery(api, `count_over_time(healthgate_ready{job="healthgate"}[1m])`)
			if err != nil || len(n) != 1 || len(n[0].Value) != 2 {
				return false
			}
			v, _ := strconv.ParseFloat(fmt.Sprint(n[0].Value[1]), 64)
			return v >= 5
		})
		for _, p := range dash.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				expr := vars.Replace(tg.Expr)
				res, err := promQuery(api, expr)
				switch {
				case err != nil:
					t.Errorf("panel %q query %s: %v", p.Title, tg.RefID, err)
				case len(res) == 0:
					t.Errorf("panel %q query %s returned no series: %s", p.Title, tg.RefID, expr)
				default:
					t.Logf("panel %q query %s: %d series", p.Title, tg.RefID, len(res))
				}
			}
		}
		labelValues := regexp.MustCompile(`^label_values\((.*), *(\w+)\)$`)
		for _, v := range dash.Templating.List {
			if v.Type != "query" {
				continue
			}
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("variable %s: %v", v.Name, err)
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
				continue
			}
			vals, err := promLabelValues(api, m[2], vars.Replace(m[1]))
			if err != nil || len(vals) == 0 {
				t.Errorf("variable %s (%s): values %v, err %v", v.Name, q.Query, vals, err)
			}
		}
	})
}

// startPrometheus runs a private Prometheus on a free loopback port, scraping target every second with
// the labels a ServiceMonitor would add (namespace, pod), and returns its base URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: healthgate
    static_configs:
      - targets: [%q]
        labels: {namespace: test, pod: healthgate-0}
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", checktest.FreePort(t))
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen,
		"--web.console.templates="+dir, "--web.console.libraries="+dir, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, cmd, "prometheus") })
	api := "http://" + listen
	checktest.Eventually(t, 30*time.Second, "prometheus to be ready", func() bool {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	return api
}

type promSample struct {
	Metric map[string]string
	Value  []any
}

// promQuery runs an instant query; an error for a bad query or a non-vector result.
func promQuery(api, expr string) ([]promSample, error) {
	resp, err := http.Get(api + "/api/v1/query?" + url.Values{"query": {expr}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     []promSample
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s; want vector", r.Data.ResultType)
	}
	return r.Data.Result, nil
}

func promLabelValues(api, label, match string) ([]string, error) {
	resp, err := http.Get(api + "/api/v1/label/" + label + "/values?" + url.Values{"match[]": {match}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status, Error string
		Data          []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return r.Data, nil
}
