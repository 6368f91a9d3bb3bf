package policy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const chartDir = "../../charts/healthgate"

// helmBinary is the helm pinned in tools/go.mod (built once by the go command, then cached).
func helmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs helm")
	}
	out, err := exec.Command("go", "-C", "..", "tool", "-n", "helm").Output()
	if err != nil {
		t.Fatalf("go tool -n helm: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestChartOwnKeysRefused: the keys values.schema.json refuses in every labels value the chart adds to its
// objects' own (commonLabels, podLabels, the ServiceMonitor's, the PrometheusRule's, the dashboard's) are
// exactly the label keys the chart sets itself (on any object, every feature on), podAnnotations
// refuses the annotations it sets on the pods, and the alerts' labels (alertLabels, each alert's own) the
// labels the rules set (severity). A user's copy of one would be a second key in the same YAML mapping:
// the last one wins, and an app.kubernetes.io/name or instance breaks the selectors, a component the
// ServiceMonitor's, a checksum/config stops the pods rolling on a config change, a severity overrides the
// alert's own.
func TestChartOwnKeysRefused(t *testing.T) {
	helm := helmBinary(t)
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`replicaCount: 3
fleet: {enabled: true}
grpc: {enabled: true}
podDisruptionBudget: {enabled: true}
autoscaling: {enabled: true}
networkPolicy: {enabled: true, egress: [{ports: [{port: 5432}]}]}
metrics:
  serviceMonitor: {enabled: true}
  prometheusRule: {enabled: true}
  dashboard: {enabled: true, labels: {grafana_dashboard: null}}   # values, not the chart's own
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "x", chartDir, "-f", values,
		"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	labels, podAnnotations, ruleLabels := map[string]bool{}, map[string]bool{}, map[string]bool{}
	kinds := 0
	for doc := range strings.SplitSeq(string(out), "\n---\n") {
		var o struct {
			Kind     string
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				Template struct {
					Metadata struct {
						Labels      map[string]string
						Annotations map[string]string
					}
				}
				Groups []struct {
					Rules []struct{ Labels map[string]string }
				} // a PrometheusRule's
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("helm's output: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			continue
		}
		kinds++
		for k := range o.Metadata.Labels {
			labels[k] = true
		}
		for k := range o.Spec.Template.Metadata.Labels {
			labels[k] = true
		}
		for k := range o.Spec.Template.Metadata.Annotations {
			podAnnotations[k] = true
		}
		for _, g := range o.Spec.Groups {
			for _, r := range g.Rules {
				for k := range r.Labels {
					ruleLabels[k] = true
				}
			}
		}
	}
	if kinds < 12 || !podAnnotations["checksum/config"] || !ruleLabels["severity"] {
		t.Fatalf("helm rendered %d objects, pod annotations %v, alert labels %v: want every feature's objects, checksum/config and severity", kinds, podAnnotations, ruleLabels)
	}

	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	type ownKeys struct {
		key  string
		want map[string]bool
	}
	keys := []ownKeys{
		{"commonLabels", labels},
		{"podLabels", labels},
		{"metrics.serviceMonitor.labels", labels},
		{"serviceMonitor.labels", labels},
		{"metrics.prometheusRule.labels", labels},
		{"metrics.dashboard.labels", labels},
		{"podAnnotations", podAnnotations},
		{"metrics.prometheusRule.alertLabels", ruleLabels},
	}
	alerts, _ := schemaAt(schema, "metrics.prometheusRule.alerts").(map[string]any)
	if len(alerts) < 5 {
		t.Fatalf("values.schema.json: metrics.prometheusRule.alerts has %d alerts, want healthgate's 5", len(alerts))
	}
	for name := range alerts {
		keys = append(keys, ownKeys{"metrics.prometheusRule.alerts." + name + ".labels", ruleLabels})
	}
	for _, tt := range keys {
		node := schemaAt(schema, tt.key)
		if node == nil {
			t.Errorf("values.schema.json: %s has no properties (refusing the chart's own keys)", tt.key)
			continue
		}
		var got []string
		for k, v := range node.(map[string]any) {
			if v != false {
				t.Errorf("values.schema.json %s.properties[%q] = %v, want false (refused)", tt.key, k, v)
			}
			got = append(got, k)
		}
		var want []string
		for k := range tt.want {
			want = append(want, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("values.schema.json refuses %s keys %q, want the chart's own %q", tt.key, got, want)
		}
	}
}

// TestChartFleetNotes: NOTES.txt warns when the fleet can never fail a check open: fewer replicas than
// fleet.min_pods (with autoscaling, the chart's or an external scaler's, a minReplicas below it), or no
// critical check with scope: shared.
func TestChartFleetNotes(t *testing.T) {
	helm := helmBinary(t)
	const minPods = "fleet.min_pods"
	const noShared = "no critical check has scope: shared"
	const minReplicas = "autoscaling.minReplicas"
	for _, tc := range []struct {
		name string
		set  []string
		want []string // warnings, by a phrase each
	}{
		{name: "a shared critical check, 3 replicas", set: []string{"replicaCount=3", "checks[0].scope=shared"}},
		{name: "one replica", set: []string{"replicaCount=1", "checks[0].scope=shared"}, want: []string{minPods}},
		{name: "no shared check", set: []string{"replicaCount=3"}, want: []string{noShared}},
		{name: "the shared check is not critical", set: []string{"replicaCount=3", "checks[0].scope=shared", "checks[0].critical=false"}, want: []string{noShared}},
		{name: "autoscaling from 3, one replica written", set: []string{"replicaCount=1", "checks[0].scope=shared", "autoscaling.enabled=true", "autoscaling.minReplicas=3"}},
		{name: "autoscaling from 2", set: []string{"replicaCount=5", "checks[0].scope=shared", "autoscaling.enabled=true", "autoscaling.minReplicas=2"}, want: []string{minPods, minReplicas}},
		{name: "autoscaling from 3, min_pods 4", set: []string{"checks[0].scope=shared", "autoscaling.enabled=true", "autoscaling.minReplicas=3", "fleet.min_pods=4"}, want: []string{minPods, minReplicas}},
		{name: "external scaler from 3, one replica written", set: []string{"replicaCount=1", "checks[0].scope=shared", "autoscaling.external=true", "autoscaling.minReplicas=3"}},
		{name: "external scaler from 2", set: []string{"replicaCount=5", "checks[0].scope=shared", "autoscaling.external=true", "autoscaling.minReplicas=2"}, want: []string{minPods, minReplicas}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := installNotes(t, helm, append([]string{"fleet.enabled=true", "checks[0].name=db", "checks[0].type=postgres",
				"checks[0].url=postgres://db/app"}, tc.set...)...)
			for _, w := range []string{minPods, noShared, minReplicas} {
				if got, want := strings.Contains(notes, "WARNING") && strings.Contains(notes, w), slices.Contains(tc.want, w); got != want {
					t.Errorf("warning naming %q: %v; want %v. NOTES:\n%s", w, got, want, notes)
				}
			}
		})
	}
}

// TestChartPDBNotes: NOTES.txt warns when the PodDisruptionBudget refuses to evict unready pods while it is
// exhausted (IfHealthyBudget): a dependency outage that makes every pod unready would block node drains.
func TestChartPDBNotes(t *testing.T) {
	helm := helmBinary(t)
	const phrase = "every eviction is refused"
	for _, tc := range []struct {
		name string
		set  []string
		want bool
	}{
		{name: "AlwaysAllow, the default", set: []string{"podDisruptionBudget.enabled=true"}},
		{name: "IfHealthyBudget", set: []string{"podDisruptionBudget.enabled=true", "podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget"}, want: true},
		{name: "IfHealthyBudget, no budget rendered", set: []string{"podDisruptionBudget.unhealthyPodEvictionPolicy=IfHealthyBudget"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := installNotes(t, helm, append([]string{"replicaCount=3", "checks[0].name=db", "checks[0].type=postgres",
				"checks[0].url=postgres://db/app"}, tc.set...)...)
			if got := strings.Contains(notes, "WARNING") && strings.Contains(notes, phrase); got != tc.want {
				t.Errorf("warning %q: %v; want %v. NOTES:\n%s", phrase, got, tc.want, notes)
			}
		})
	}
}

// installNotes: the NOTES.txt that `helm install --dry-run=client` prints with these --set values.
func installNotes(t *testing.T, helm string, set ...string) string {
	t.Helper()
	args := []string{"install", "x", chartDir, "--dry-run=client"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm install --dry-run: %v\n%s", err, out)
	}
	_, notes, _ := strings.Cut(string(out), "NOTES:")
	return notes
}

// schemaAt: the properties of the schema node at a dotted values key.
func schemaAt(schema any, key string) any {
	node := schema
	for name := range strings.SplitSeq(key+".", ".") {
		m, _ := node.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		if name != "" {
			node = props[name]
			continue
		}
		node = props
	}
	return node
}

// TestChartNetworkPolicyNotes: NOTES.txt warns when networkPolicy.from is empty: every consumer but the
// kubelet's probes, the peers and the test pod is refused.
func TestChartNetworkPolicyNotes(t *testing.T) {
	helm := helmBinary(t)
	const warning = "networkPolicy.from is empty"
	for _, tc := range []struct {
		name string
		set  []string
		want bool
	}{
		{name: "no NetworkPolicy", set: []string{"networkPolicy.enabled=false"}},
		{name: "sources listed", set: []string{"networkPolicy.enabled=true", "networkPolicy.from[0].ipBlock.cidr=10.0.0.0/8"}},
		{name: "no sources", set: []string{"networkPolicy.enabled=true"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := installNotes(t, helm, tc.set...)
			if got := strings.Contains(notes, "WARNING: "+warning); got != tc.want {
				t.Errorf("warning %q: %v, want %v. NOTES:\n%s", warning, got, tc.want, notes)
			}
		})
	}
}

// TestChartShapeBNotes: with deployment.enabled false the chart sets no environment, so NOTES.txt names what
// the user's own healthgate container must set: HEALTHGATE_DETAILS_TOKEN with details: token (healthgate.yaml
// says details_token: ${HEALTHGATE_DETAILS_TOKEN:-}, and serve refuses it empty: the sidecar exited 2
// with nothing telling the user), and the ${VAR}s the checks use without a default ($${VAR} is text, not one).
func TestChartShapeBNotes(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"deployment.enabled=false", "checks[0].name=db", "checks[0].type=postgres", "checks[0].url=${DATABASE_URL}",
		"checks[1].name=cache", "checks[1].type=tcp", "checks[1].address=${CACHE_ADDR:-redis:6379}"}
	notes := installNotes(t, helm, append(base, "config.server.details=token", "detailsToken.secretName=hg-details")...)
	for _, want := range []string{"HEALTHGATE_DETAILS_TOKEN", "{name: hg-details, key: token}", "must set (unset, healthgate exits 2): DATABASE_URL."} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES without %q:\n%s", want, notes)
		}
	}
	if notes := installNotes(t, helm, base...); strings.Contains(notes, "HEALTHGATE_DETAILS_TOKEN") || strings.Contains(notes, "CACHE_ADDR") {
		t.Errorf("NOTES name HEALTHGATE_DETAILS_TOKEN without details: token, or a ${VAR} with a default:\n%s", notes)
	}
	// $$ is healthgate's literal $: $${NOT_A_VAR} is text, which no container need set; $$${QUERY_VAR} is a variable.
	escaped := append(base, "checks[0].query=SELECT '$${NOT_A_VAR}' || '$$${QUERY_VAR}'")
	if notes := installNotes(t, helm, escaped...); strings.Contains(notes, "NOT_A_VAR") || !strings.Contains(notes, "must set (unset, healthgate exits 2): QUERY_VAR, DATABASE_URL.") {
		t.Errorf("NOTES name the escaped $${NOT_A_VAR}, or not $$${QUERY_VAR}:\n%s", notes)
	}
}

// TestChartEnvCommentNames: values.yaml's comment on env names every variable the chart sets itself (the
// names healthgate.envUnique refuses in env), so that a user does not set one of them a second time.
func TestChartEnvCommentNames(t *testing.T) {
	helpers, err := os.ReadFile(filepath.Join(chartDir, "templates", "_helpers.tpl"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(values), "\n")
	i := slices.Index(lines, "env: []")
	if i < 0 {
		t.Fatal("values.yaml: no `env: []` line")
	}
	var comment []string
	for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
		comment = append(comment, lines[j])
	}
	text := strings.Join(comment, " ")
	var names []string
	for _, line := range strings.Split(string(helpers), "\n") {
		if _, rest, ok := strings.Cut(line, `set $seen "`); ok {
			name, by, _ := strings.Cut(rest, `"`)
			if strings.HasPrefix(strings.TrimSpace(by), `"the chart`) {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		t.Fatal(`_helpers.tpl: no set $seen "NAME" "the chart ..." in healthgate.envUnique`)
	}
	for _, name := range names {
		if !strings.Contains(text, name) {
			t.Errorf("values.yaml: the comment on env does not name %s, which the chart sets", name)
		}
	}
}
