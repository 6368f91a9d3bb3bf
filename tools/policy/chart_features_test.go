package policy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// rendered is the chart rendered with some --set values, decoded strictly.
type rendered struct {
	objs   []Object
	deploy *appsv1.Deployment
	hpa    *autoscalingv2.HorizontalPodAutoscaler
	np     *networkingv1.NetworkPolicy
	test   *corev1.Pod
	rule   *monitoringv1.PrometheusRule
}

func renderChart(t *testing.T, helm string, set ...string) rendered {
	t.Helper()
	args := append([]string{"template", "x", chartDir}, monitoringAPIs...)
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", set, err, stderrOf(err))
	}
	objs, err := Decode("rendered", out)
	if err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	r := rendered{objs: objs}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			r.deploy = v
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpa = v
		case *networkingv1.NetworkPolicy:
			r.np = v
		case *corev1.Pod:
			r.test = v
		case *monitoringv1.PrometheusRule:
			r.rule = v
		}
	}
	for _, f := range Check(objs) {
		t.Errorf("policy: %s", f)
	}
	return r
}

// renderedConfig is the one healthgate.yaml of a rendering.
func renderedConfig(t *testing.T, r rendered) Config {
	t.Helper()
	cfgs, err := Configs(r.objs)
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("Configs = %v, %v; want one", cfgs, err)
	}
	return cfgs[0]
}

// loadRendered loads the rendering's healthgate.yaml as healthgate would, with the pod's variables env
// (nil: none set), and fails the test when healthgate would refuse it.
func loadRendered(t *testing.T, r rendered, env map[string]string) (*config.Config, Config) {
	t.Helper()
	file := renderedConfig(t, r)
	cfg, err := config.Parse(file.Name, []byte(file.Data), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the rendered healthgate.yaml does not load: %v\n%s", err, file.Data)
	}
	return cfg, file
}

// admits: the ingress rules let pods labelled from reach port (TCP), by a podSelector of the release's
// namespace (the only peers this test renders besides ipBlocks).
func admits(rules []networkingv1.NetworkPolicyIngressRule, from map[string]string, port int32) bool {
	for _, r := range rules {
		for _, p := range r.From {
			if p.PodSelector == nil || p.NamespaceSelector != nil || p.IPBlock != nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(p.PodSelector)
			if err == nil && sel.Matches(labels.Set(from)) && portsAllow(r.Ports, corev1.ProtocolTCP, port, "") {
				return true
			}
		}
	}
	return false
}

// TestChartNetworkPolicy: networkPolicy.enabled renders a policy selecting the Deployment's pods that admits
// the listed sources on the health port (and gRPC's), the fleet peers and the test pod on the health port
// (each only when on), and restricts egress only when asked, then always with DNS (to networkPolicy.dnsTo,
// anywhere when empty) and the peers.
func TestChartNetworkPolicy(t *testing.T) {
	helm := helmBinary(t)
	if r := renderChart(t, helm); r.np != nil {
		t.Fatalf("networkPolicy.enabled false (the default) rendered NetworkPolicy/%s", r.np.Name)
	}
	const prometheus = "networkPolicy.from[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring"
	const lb = "networkPolicy.from[1].ipBlock.cidr=10.0.0.0/16"
	const db = "networkPolicy.egress[0].ports[0].port=5432"
	kubeDNS := []string{"networkPolicy.dnsTo[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=kube-system",
		"networkPolicy.dnsTo[0].podSelector.matchLabels.k8s-app=kube-dns", "networkPolicy.dnsTo[1].ipBlock.cidr=169.254.20.10/32"}
	kubeDNSPeers := []networkingv1.NetworkPolicyPeer{
		{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}},
	}
	for _, tc := range []struct {
		name                   string
		set                    []string
		port                   int32
		userPorts              []int32 // the ports networkPolicy.from reaches; nil: no such rule
		peers, testPod, egress bool
		wantEgressRules        int
		dnsTo                  []networkingv1.NetworkPolicyPeer // the DNS rule's destinations; nil: anywhere
		dnsPorts               []int32                          // the DNS rule's ports, UDP and TCP each; nil: 53
	}{
		{name: "defaults", set: nil, port: 8080, testPod: true},
		{name: "no test pod", set: []string{"tests.enabled=false"}, port: 8080},
		{name: "sources", set: []string{prometheus, lb}, port: 8080, userPorts: []int32{8080}, testPod: true},
		{name: "sources, grpc, other port", set: []string{prometheus, "grpc.enabled=true", "containerPorts.http=8081"}, port: 8081, userPorts: []int32{8081, 9090}, testPod: true},
		{name: "fleet", set: []string{prometheus, "fleet.enabled=true", "replicaCount=3"}, port: 8080, userPorts: []int32{8080}, peers: true, testPod: true},
		{name: "egress", set: []string{prometheus, db}, port: 8080, userPorts: []int32{8080}, testPod: true, egress: true, wantEgressRules: 2},
		{name: "egress, fleet", set: []string{prometheus, db, "fleet.enabled=true", "replicaCount=3", "tests.enabled=false"}, port: 8080, userPorts: []int32{8080}, peers: true, egress: true, wantEgressRules: 3},
		{name: "egress, DNS to the cluster's", set: append([]string{prometheus, db}, kubeDNS...), port: 8080, userPorts: []int32{8080}, testPod: true, egress: true, wantEgressRules: 2, dnsTo: kubeDNSPeers},
		{name: "egress, OpenShift's DNS ports", set: []string{prometheus, db, "networkPolicy.dnsPorts={53,5353}"}, port: 8080, userPorts: []int32{8080}, testPod: true, egress: true, wantEgressRules: 2, dnsPorts: []int32{53, 5353}},
		{name: "DNS to the cluster's, egress open", set: append([]string{prometheus}, kubeDNS...), port: 8080, userPorts: []int32{8080}, testPod: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := renderChart(t, helm, append([]string{"networkPolicy.enabled=true"}, tc.set...)...)
			if r.np == nil || r.deploy == nil {
				t.Fatalf("rendered no NetworkPolicy or Deployment")
			}
			spec := r.np.Spec
			sel, err := metav1.LabelSelectorAsSelector(&spec.PodSelector)
			if err != nil || !sel.Matches(labels.Set(r.deploy.Spec.Template.Labels)) || (r.test != nil && sel.Matches(labels.Set(r.test.Labels))) {
				t.Errorf("podSelector %v: want the Deployment's pods %v and not the test pod", spec.PodSelector, r.deploy.Spec.Template.Labels)
			}
			wantTypes := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if tc.egress {
				wantTypes = append(wantTypes, networkingv1.PolicyTypeEgress)
			}
			if !slices.Equal(spec.PolicyTypes, wantTypes) {
				t.Errorf("policyTypes %v, want %v", spec.PolicyTypes, wantTypes)
			}

			var userRule *networkingv1.NetworkPolicyIngressRule
			for i, rule := range spec.Ingress {
				if len(rule.From) > 0 && rule.From[0].NamespaceSelector != nil {
					userRule = &spec.Ingress[i]
				}
			}
			switch {
			case tc.userPorts == nil && userRule != nil:
				t.Errorf("a rule for networkPolicy.from, which is empty: %v", *userRule)
			case tc.userPorts != nil && userRule == nil:
				t.Errorf("no rule admits networkPolicy.from: %v", spec.Ingress)
			case userRule != nil:
				var got []int32
				for _, p := range userRule.Ports {
					got = append(got, p.Port.IntVal)
				}
				if !slices.Equal(got, tc.userPorts) {
					t.Errorf("networkPolicy.from reaches ports %v, want %v", got, tc.userPorts)
				}
				if n := strings.Count(strings.Join(tc.set, " "), "networkPolicy.from["); len(userRule.From) != n {
					t.Errorf("networkPolicy.from rule has %d peers, want the %d listed", len(userRule.From), n)
				}
			}
			if got := admits(spec.Ingress, r.deploy.Spec.Template.Labels, tc.port); got != tc.peers {
				t.Errorf("fleet peers admitted on %d: %v, want %v", tc.port, got, tc.peers)
			}
			if tc.testPod != (r.test != nil) {
				t.Fatalf("test pod rendered: %v, want %v", r.test != nil, tc.testPod)
			}
			if r.test != nil && !admits(spec.Ingress, r.test.Labels, tc.port) {
				t.Errorf("the test pod %v is not admitted on %d: %v", r.test.Labels, tc.port, spec.Ingress)
			}
			if len(spec.Egress) != tc.wantEgressRules {
				t.Fatalf("%d egress rules, want %d: %v", len(spec.Egress), tc.wantEgressRules, spec.Egress)
			}
			if tc.egress {
				dns := spec.Egress[0]
				dnsPorts := tc.dnsPorts
				if dnsPorts == nil {
					dnsPorts = []int32{53}
				}
				for _, port := range dnsPorts {
					if !portsAllow(dns.Ports, corev1.ProtocolUDP, port, "") || !portsAllow(dns.Ports, corev1.ProtocolTCP, port, "") {
						t.Errorf("first egress rule %v: want DNS, UDP and TCP %d", dns, port)
					}
				}
				if len(dns.Ports) != 2*len(dnsPorts) {
					t.Errorf("first egress rule %v: want DNS, UDP and TCP on %v, nothing else", dns, dnsPorts)
				}
				if !reflect.DeepEqual(dns.To, tc.dnsTo) {
					t.Errorf("DNS goes to %v, want %v (networkPolicy.dnsTo; nil: anywhere)", dns.To, tc.dnsTo)
				}
				last := spec.Egress[len(spec.Egress)-1]
				if len(last.Ports) != 1 || last.Ports[0].Port.IntVal != 5432 {
					t.Errorf("last egress rule %v: want networkPolicy.egress's", last)
				}
			}
		})
	}
}

// TestChartAutoscaling: autoscaling.enabled renders an autoscaling/v2 HPA on the Deployment and leaves the
// Deployment's replicas out (a helm upgrade would reset the count); the PodDisruptionBudget is judged at
// minReplicas.
func TestChartAutoscaling(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "replicaCount=4")
	if r.hpa != nil || r.deploy.Spec.Replicas == nil || *r.deploy.Spec.Replicas != 4 {
		t.Fatalf("autoscaling off: HPA %v, replicas %v; want no HPA and replicas 4", r.hpa, r.deploy.Spec.Replicas)
	}
	r = renderChart(t, helm, "replicaCount=4", "autoscaling.enabled=true", "autoscaling.minReplicas=3",
		"autoscaling.maxReplicas=7", "autoscaling.targetCPUUtilizationPercentage=60")
	if r.deploy.Spec.Replicas != nil {
		t.Errorf("autoscaling on: Deployment replicas %d, want none", *r.deploy.Spec.Replicas)
	}
	if r.hpa == nil {
		t.Fatal("autoscaling on: no HorizontalPodAutoscaler")
	}
	h := r.hpa.Spec
	if h.ScaleTargetRef != (autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: r.deploy.Name}) {
		t.Errorf("scaleTargetRef %+v, want the Deployment %s", h.ScaleTargetRef, r.deploy.Name)
	}
	if h.MinReplicas == nil || *h.MinReplicas != 3 || h.MaxReplicas != 7 {
		t.Errorf("min/max replicas %v/%d, want 3/7", h.MinReplicas, h.MaxReplicas)
	}
	if len(h.Metrics) != 1 || h.Metrics[0].Resource == nil || h.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		h.Metrics[0].Resource.Target.AverageUtilization == nil || *h.Metrics[0].Resource.Target.AverageUtilization != 60 {
		t.Errorf("metrics %+v, want CPU at 60%% utilisation", h.Metrics)
	}

	// minAvailable 2 of replicaCount 2 is refused; with autoscaling it is judged at minReplicas.
	pdb := []string{"podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=2", "podDisruptionBudget.maxUnavailable=null", "replicaCount=2"}
	renderChart(t, helm, append(pdb, "autoscaling.enabled=true", "autoscaling.minReplicas=3")...)
	out, err := exec.Command(helm, "template", "x", chartDir, "--set", strings.Join(append(pdb, "autoscaling.enabled=true", "replicaCount=9"), ",")).CombinedOutput()
	if want := "needs 2 of the 2 pods (autoscaling.minReplicas)"; err == nil || !strings.Contains(string(out), want) {
		t.Errorf("minAvailable 2 with autoscaling.minReplicas 2: %v, want a refusal with %q:\n%s", err, want, lastLines(out))
	}
}

// TestChartExternalScaler: autoscaling.external (another controller owns the count: KEDA's ScaledObject,
// which makes its own HPA) leaves the Deployment's replicas out without rendering the chart's HPA, whatever
// replicaCount says; the PodDisruptionBudget is judged at autoscaling.minReplicas, the fewest pods that
// scaler keeps (the refusals are in tools/testdata/chart-invalid/autoscaling-*external*.yaml).
func TestChartExternalScaler(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{name: "replicaCount ignored", set: []string{"replicaCount=4"}},
		{name: "maxReplicas not judged", set: []string{"autoscaling.minReplicas=3", "autoscaling.maxReplicas=1"}},
		{name: "a budget", set: []string{"podDisruptionBudget.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := renderChart(t, helm, append([]string{"autoscaling.external=true"}, tc.set...)...)
			if r.deploy == nil {
				t.Fatal("rendered no Deployment")
			}
			if r.deploy.Spec.Replicas != nil {
				t.Errorf("Deployment replicas %d, want none: every helm upgrade would reset the count the external scaler chose", *r.deploy.Spec.Replicas)
			}
			if r.hpa != nil {
				t.Errorf("rendered HorizontalPodAutoscaler/%s: the external scaler makes its own, and two would fight over the count", r.hpa.Name)
			}
		})
	}

	// minAvailable 2 of replicaCount 2 passes at minReplicas 3 (tools/policy, seeing no autoscaler in the
	// set, leaves the count to the chart's own refusal).
	r := renderChart(t, helm, "autoscaling.external=true", "autoscaling.minReplicas=3", "replicaCount=2",
		"podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=2", "podDisruptionBudget.maxUnavailable=null")
	if !slices.ContainsFunc(r.objs, func(o Object) bool { _, ok := o.Obj.(*policyv1.PodDisruptionBudget); return ok }) {
		t.Error("minAvailable 2 with an external scaler's minReplicas 3: no PodDisruptionBudget rendered")
	}

	// NOTES.txt names the Deployment the scaler must target, and only then.
	const target = "scaleTargetRef: Deployment x-healthgate"
	if notes := installNotes(t, helm, "autoscaling.external=true"); !strings.Contains(notes, target) {
		t.Errorf("autoscaling.external: NOTES do not say %q:\n%s", target, notes)
	}
	if notes := installNotes(t, helm, "autoscaling.enabled=true"); strings.Contains(notes, target) {
		t.Errorf("autoscaling.enabled (the chart's own HPA): NOTES say %q:\n%s", target, notes)
	}
}

// TestChartAlertLabels: an alert's labels are its severity, alertLabels and its own labels, the alert's
// winning on a shared key, each key once (the rule decodes strictly; the labels were appended one after the
// other, and a key in both was written twice).
func TestChartAlertLabels(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "metrics.prometheusRule.enabled=true",
		"metrics.prometheusRule.alertLabels.team=payments", "metrics.prometheusRule.alertLabels.tier=backend",
		"metrics.prometheusRule.alerts.notReady.labels.team=platform", "metrics.prometheusRule.alerts.notReady.labels.page=yes")
	if r.rule == nil || len(r.rule.Spec.Groups) != 1 {
		t.Fatal("rendered no PrometheusRule with one group")
	}
	rules := map[string]map[string]string{}
	for _, rule := range r.rule.Spec.Groups[0].Rules {
		rules[rule.Alert] = rule.Labels
	}
	for alert, want := range map[string]map[string]string{
		"HealthgateNotReady":             {"severity": "warning", "team": "platform", "tier": "backend", "page": "yes"},
		"HealthgateCriticalCheckFailing": {"severity": "critical", "team": "payments", "tier": "backend"},
		"HealthgateCheckStale":           {"severity": "warning", "team": "payments", "tier": "backend"},
	} {
		if got := rules[alert]; !maps.Equal(got, want) {
			t.Errorf("%s labels %v, want %v", alert, got, want)
		}
	}
}

// TestChartVersionLabel: app.kubernetes.io/version comes from image.tag, which may be up to 128 characters
// and start with '_' (a valid tag), but a label value is at most 63 characters that start and end with a
// letter or digit. A tag cut at 63 on a '-' or '.', or one starting with '_', made a label the API server
// refuses: the install failed on every object.
func TestChartVersionLabel(t *testing.T) {
	helm := helmBinary(t)
	for _, tag := range []string{
		strings.Repeat("a", 62) + "-build.7", // cut at 63: ends in '-'
		strings.Repeat("b", 62) + ".7",       // cut at 63: ends in '.'
		"_nightly",
		"1.0.0-rc.1", // kept as it is
	} {
		t.Run(tag[:min(len(tag), 12)], func(t *testing.T) {
			r := renderChart(t, helm, "image.tag="+tag, "fleet.enabled=true", "podDisruptionBudget.enabled=true",
				"networkPolicy.enabled=true", "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
				"metrics.dashboard.enabled=true")
			seen := 0
			check := func(what string, l map[string]string) {
				v, ok := l["app.kubernetes.io/version"]
				if !ok {
					return
				}
				seen++
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					t.Errorf("%s: app.kubernetes.io/version %q: %s", what, v, strings.Join(errs, "; "))
				}
				if tag == "1.0.0-rc.1" && v != tag {
					t.Errorf("%s: app.kubernetes.io/version %q, want the tag %q as it is", what, v, tag)
				}
			}
			for _, o := range r.objs {
				check(o.String(), metaOf(o).GetLabels())
			}
			if r.deploy == nil {
				t.Fatal("no Deployment rendered")
			}
			check("Deployment pod template", r.deploy.Spec.Template.Labels)
			if seen < 10 {
				t.Errorf("app.kubernetes.io/version on %d objects, want every one", seen)
			}
		})
	}
}

// TestChartLabelsMerged: a key in commonLabels and in an object's own labels (podLabels, the ServiceMonitor's,
// the PrometheusRule's, the dashboard's) is written once, the object's own value winning. Platform teams put
// release: prometheus in commonLabels and in metrics.serviceMonitor.labels; the chart wrote the key twice in
// one mapping, which strict YAML (and the install) refuses, or which silently keeps the last.
func TestChartLabelsMerged(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "commonLabels.release=common", "podLabels.release=pod",
		"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=sm",
		"metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=rule",
		"metrics.dashboard.enabled=true", "metrics.dashboard.labels.release=dash")
	want := map[string]string{"ServiceMonitor": "sm", "PrometheusRule": "rule", "ConfigMap/x-healthgate-dashboard": "dash",
		"Deployment": "common", "Service": "common", "ConfigMap/x-healthgate": "common"}
	for _, o := range r.objs {
		l := metaOf(o).GetLabels()
		w, ok := want[o.String()[:strings.Index(o.String(), "/")]]
		if v, own := want[o.String()]; own {
			w, ok = v, true
		}
		if ok && l["release"] != w {
			t.Errorf("%s: label release %q, want %q", o, l["release"], w)
		}
		// The label kube-prometheus-stack's Grafana sidecar selects dashboards by (grafana_dashboard: "1",
		// its default): kept beside the labels given, or the dashboard is silently never loaded.
		if o.String() == "ConfigMap/x-healthgate-dashboard" && l["grafana_dashboard"] != "1" {
			t.Errorf("%s: label grafana_dashboard %q, want \"1\" (the Grafana sidecar's default)", o, l["grafana_dashboard"])
		}
	}
	if r.deploy == nil {
		t.Fatal("no Deployment rendered")
	}
	if got := r.deploy.Spec.Template.Labels["release"]; got != "pod" {
		t.Errorf("pod template label release %q, want podLabels' %q", got, "pod")
	}
}

// TestChartGracePeriodMilliseconds: the drain the grace period must exceed is shutdown_delay + shutdown_timeout
// to the millisecond. Each rounded up to seconds on its own, 1500ms + 1500ms counted as 4 s, and a grace
// period of 4 s (longer than the 3 s drain) was refused.
func TestChartGracePeriodMilliseconds(t *testing.T) {
	helm := helmBinary(t)
	drain := []string{"config.server.shutdown_delay=1500ms", "config.server.shutdown_timeout=1500ms"}
	for _, tc := range []struct {
		set  string
		want int64
	}{
		{"terminationGracePeriodSeconds=4", 4},
		{"terminationGracePeriodSeconds=null", 8}, // derived: the 3 s drain + 5 s
	} {
		r := renderChart(t, helm, append(drain, tc.set)...)
		if r.deploy == nil || r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds == nil {
			t.Fatalf("%s: no Deployment, or no terminationGracePeriodSeconds", tc.set)
		}
		if got := *r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; got != tc.want {
			t.Errorf("%s: terminationGracePeriodSeconds %d, want %d", tc.set, got, tc.want)
		}
	}
	// A drain over 3 s by less than a millisecond: 3 s would kill healthgate in it (tools/policy's grace-period
	// rule says so too), and the derived grace is 4 + 5 s. Each part cut to milliseconds, the chart took 3.
	over := []string{"config.server.shutdown_delay=1500.5ms", "config.server.shutdown_timeout=1499.9ms"}
	args := []string{"template", "x", chartDir, "--set", over[0], "--set", over[1], "--set", "terminationGracePeriodSeconds=3"}
	if out, err := exec.Command(helm, args...).CombinedOutput(); err == nil || !strings.Contains(string(out), "(1500.5ms + 1499.9ms = 3000400000ns)") {
		t.Errorf("terminationGracePeriodSeconds 3 with a drain of 3.0004s: %v, want it refused:\n%s", err, lastLines(out))
	}
	r := renderChart(t, helm, over...)
	if got := *r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 9 {
		t.Errorf("derived terminationGracePeriodSeconds %d for a drain of 3.0004s, want 9 (4 s + 5 s)", got)
	}
}

// TestChartFleetPreviousToken: fleet.previousToken, the old token of a rotation, reaches healthgate as
// HEALTHGATE_FLEET_PREVIOUS_TOKEN from its Secret and as previous_token in healthgate.yaml, which loads
// with both tokens as the pod has them.
func TestChartFleetPreviousToken(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "replicaCount=3", "fleet.enabled=true", "fleet.token.secretName=hg-fleet",
		"fleet.previousToken.secretName=hg-fleet-old", "checks[0].name=db", "checks[0].type=postgres",
		"checks[0].url=postgres://db/app", "checks[0].scope=shared")
	var ref *corev1.SecretKeySelector
	for _, c := range r.deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "HEALTHGATE_FLEET_PREVIOUS_TOKEN" && e.ValueFrom != nil {
				ref = e.ValueFrom.SecretKeyRef
			}
		}
	}
	if ref == nil || ref.Name != "hg-fleet-old" || ref.Key != "token" {
		t.Fatalf("HEALTHGATE_FLEET_PREVIOUS_TOKEN from %+v; want secret hg-fleet-old, key token", ref)
	}
	cfg, file := loadRendered(t, r, map[string]string{"HEALTHGATE_FLEET_TOKEN": "new-token", "HEALTHGATE_FLEET_PREVIOUS_TOKEN": "old-token"})
	if cfg.Fleet.Token != "new-token" || cfg.Fleet.PreviousToken != "old-token" {
		t.Errorf("fleet tokens %q, %q; want new-token, old-token:\n%s", cfg.Fleet.Token, cfg.Fleet.PreviousToken, file.Data)
	}
}

// TestChartStringsQuoted: a value the schema takes as a string is rendered as one, whatever it reads as
// in YAML: a Secret named 123 with key 1, a priorityClassName "true", a dashboard namespace "0123" were
// written unquoted, read back as a number or a bool, and the Deployment did not decode (the API server
// refuses it too).
func TestChartStringsQuoted(t *testing.T) {
	helm := helmBinary(t)
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`priorityClassName: "true"
config: {server: {details: token}}
detailsToken: {secretName: "123", secretKey: "1"}
fleet:
  enabled: true
  token: {secretName: "yes", secretKey: "2"}
  previousToken: {secretName: "0123", secretKey: "null"}
metrics: {dashboard: {enabled: true, namespace: "0123"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "x", chartDir, "-f", values).Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderrOf(err))
	}
	objs, err := Decode("rendered", out)
	if err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	refs := map[string]string{}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			if got := v.Spec.Template.Spec.PriorityClassName; got != "true" {
				t.Errorf("priorityClassName %q, want true", got)
			}
			for _, e := range v.Spec.Template.Spec.Containers[0].Env {
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					refs[e.Name] = r.Name + "/" + r.Key
				}
			}
		case *corev1.ConfigMap:
			if strings.HasSuffix(v.Name, "-dashboard") && v.Namespace != "0123" {
				t.Errorf("dashboard namespace %q, want 0123", v.Namespace)
			}
		}
	}
	want := map[string]string{"HEALTHGATE_DETAILS_TOKEN": "123/1", "HEALTHGATE_FLEET_TOKEN": "yes/2", "HEALTHGATE_FLEET_PREVIOUS_TOKEN": "0123/null"}
	if !maps.Equal(refs, want) {
		t.Errorf("secretKeyRefs %v, want %v", refs, want)
	}
}

// TestChartEscapedDollar: $$ is healthgate's literal $, so $${VAR} in a check names no variable and
// needs no env entry (the chart refused it as an unset ${VAR}); $$${VAR} still does.
func TestChartEscapedDollar(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "checks[0].name=db", "checks[0].type=postgres", "checks[0].url=postgres://db/app",
		"checks[0].query=SELECT '$${NOT_A_VAR}'")
	cfg, _ := loadRendered(t, r, nil)
	var spec struct {
		URL   string `yaml:"url"`
		Query string `yaml:"query"`
	}
	if errs := cfg.Checks[0].DecodeSpec(&spec); len(errs) > 0 || spec.Query != "SELECT '${NOT_A_VAR}'" {
		t.Errorf("query %q (%v); want SELECT '${NOT_A_VAR}'", spec.Query, errs)
	}
	out, err := exec.Command(helm, "template", "x", chartDir, "--set", "checks[0].name=db", "--set", "checks[0].type=postgres",
		"--set", "checks[0].url=postgres://db/app", "--set", "checks[0].query=SELECT '$$${UNSET_VAR}'").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "uses ${UNSET_VAR} but no env entry UNSET_VAR") {
		t.Errorf("$$${UNSET_VAR} rendered (%v); want it refused as an unset variable:\n%s", err, out)
	}
}

// TestChartCommonLabelsEveryObject: commonLabels label every object the chart renders, every feature on and
// the `helm test` pod included (README: "labels added to every object"). The test pod lacked them, and an
// admission policy that requires a team or cost-centre label on every pod refused it, failing `helm test`.
func TestChartCommonLabelsEveryObject(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "commonLabels.team=payments", "commonLabels.cost-centre=cc42", "replicaCount=3",
		"fleet.enabled=true", "grpc.enabled=true", "podDisruptionBudget.enabled=true", "autoscaling.enabled=true",
		"networkPolicy.enabled=true", "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
		"metrics.dashboard.enabled=true")
	if len(r.objs) < 12 || r.test == nil {
		t.Fatalf("rendered %d objects (test pod: %v); want every feature's, the test pod included", len(r.objs), r.test != nil)
	}
	want := map[string]string{"team": "payments", "cost-centre": "cc42"}
	for _, o := range r.objs {
		l := metaOf(o).GetLabels()
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: label %s %q, want commonLabels' %q", o, k, l[k], v)
			}
		}
	}
	for k, v := range want {
		if got := r.deploy.Spec.Template.Labels[k]; got != v {
			t.Errorf("pod template label %s %q, want commonLabels' %q", k, got, v)
		}
	}
}

// TestChartReleaseNameWithDot: Helm accepts a release name with dots (my.app), or one that starts with a
// digit (1app), but a Service's name is a DNS label, starting with a letter before Kubernetes 1.35: the
// chart's Services were refused by the API server, after the ServiceAccount and ConfigMap were created.
// The chart now refuses such a name itself and names the fix (fullnameOverride); the objects of shape B (a
// ConfigMap, whose name may hold dots) and a release with fullnameOverride still render.
func TestChartReleaseNameWithDot(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct{ release, want, override string }{
		{"my.app", `"my.app-healthgate" (from the release name) holds a dot`, "my-app-healthgate"},
		{"1app", `"1app-healthgate" (from the release name) starts with a digit`, "hg-1app-healthgate"},
	} {
		out, err := exec.Command(helm, "template", tc.release, chartDir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) ||
			!strings.Contains(string(out), fmt.Sprintf("fullnameOverride, say %q", tc.override)) {
			t.Errorf("helm template %s: %v, want the release name refused, fullnameOverride named:\n%s", tc.release, err, lastLines(out))
		}
		for _, set := range [][]string{{"fullnameOverride=" + tc.override}, {"deployment.enabled=false"}} {
			args := []string{"template", tc.release, chartDir}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			out, err := exec.Command(helm, args...).Output()
			if err != nil {
				t.Fatalf("helm template %s %v: %v\n%s", tc.release, set, err, stderrOf(err))
			}
			objs, err := Decode("rendered", out)
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			for _, o := range objs {
				if s, ok := o.Obj.(*corev1.Service); ok {
					if errs := validation.IsDNS1035Label(s.Name); len(errs) > 0 {
						t.Errorf("%s %v: Service name %q: %v", tc.release, set, s.Name, errs)
					}
				}
			}
			for _, f := range Check(objs) {
				t.Errorf("%s %v: policy: %s", tc.release, set, f)
			}
		}
	}
}

// TestChartYAMLWordNames: names that YAML reads as something else when written bare (a release on or yes,
// nameOverride y, fullnameOverride no, serviceAccount.name off: booleans to the YAML that Kubernetes reads)
// are rendered as strings: the labels, selectors and names of every object held a bool, and no object
// decoded.
func TestChartYAMLWordNames(t *testing.T) {
	helm := helmBinary(t)
	all := []string{"fleet.enabled=true", "networkPolicy.enabled=true", "podDisruptionBudget.enabled=true", "autoscaling.enabled=true",
		"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true", "metrics.dashboard.enabled=true"}
	for _, tc := range []struct {
		release string
		set     []string
	}{
		{"on", all},
		{"yes", []string{"deployment.enabled=false"}},
		{"x", append([]string{"nameOverride=y"}, all...)},
		{"x", append([]string{"fullnameOverride=no", "serviceAccount.name=off"}, all...)},
	} {
		args := append([]string{"template", tc.release, chartDir}, monitoringAPIs...)
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helm, args...).Output()
		if err != nil {
			t.Fatalf("helm template %s %v: %v\n%s", tc.release, tc.set, err, stderrOf(err))
		}
		objs, err := Decode("rendered", out)
		if err != nil {
			t.Fatalf("%s %v: strict decode: %v", tc.release, tc.set, err)
		}
		for _, o := range objs {
			if m := metaOf(o); m.GetLabels()["app.kubernetes.io/instance"] != tc.release {
				t.Errorf("%s %v: %s has instance label %q", tc.release, tc.set, o, m.GetLabels()["app.kubernetes.io/instance"])
			}
		}
		for _, f := range Check(objs) {
			t.Errorf("%s %v: policy: %s", tc.release, tc.set, f)
		}
	}
}

// TestChartTestPodScheduling: the `helm test` pod runs where the server's pods may: their nodeSelector and
// tolerations. Without them, on dedicated (tainted) nodes or with a Linux-only nodeSelector in a mixed
// cluster, the test pod stayed Pending (or landed on a node that cannot run the image) and helm test failed.
func TestChartTestPodScheduling(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "nodeSelector.kubernetes\\.io/os=linux", "tolerations[0].key=dedicated",
		"tolerations[0].operator=Equal", "tolerations[0].value=health", "tolerations[0].effect=NoSchedule")
	if r.deploy == nil || r.test == nil {
		t.Fatal("want the Deployment and the test pod")
	}
	pod := r.deploy.Spec.Template.Spec
	if !reflect.DeepEqual(r.test.Spec.NodeSelector, pod.NodeSelector) || len(pod.NodeSelector) != 1 {
		t.Errorf("test pod nodeSelector %v, want the server pods' %v", r.test.Spec.NodeSelector, pod.NodeSelector)
	}
	if !reflect.DeepEqual(r.test.Spec.Tolerations, pod.Tolerations) || len(pod.Tolerations) != 1 {
		t.Errorf("test pod tolerations %v, want the server pods' %v", r.test.Spec.Tolerations, pod.Tolerations)
	}
}

// TestChartExternalTrafficPolicy: service.externalTrafficPolicy reaches a LoadBalancer (or NodePort) Service.
// README "NetworkPolicy" tells LoadBalancer users to set externalTrafficPolicy: Local and admit the load
// balancer's source ranges, but values.schema.json had no such key and refused it; left null, the Service
// keeps Kubernetes' default. (With ClusterIP it is refused: chart-invalid/external-traffic-policy-*.yaml.)
func TestChartExternalTrafficPolicy(t *testing.T) {
	helm := helmBinary(t)
	for _, tc := range []struct {
		set  []string
		want corev1.ServiceExternalTrafficPolicy
	}{
		{[]string{"service.type=LoadBalancer", "service.externalTrafficPolicy=Local"}, corev1.ServiceExternalTrafficPolicyLocal},
		{[]string{"service.type=NodePort", "service.externalTrafficPolicy=Cluster"}, corev1.ServiceExternalTrafficPolicyCluster},
		{[]string{"service.type=LoadBalancer"}, ""},
		{nil, ""},
	} {
		r := renderChart(t, helm, tc.set...)
		found := false
		for _, o := range r.objs {
			if s, ok := o.Obj.(*corev1.Service); ok && s.Name == "x-healthgate" {
				found = true
				if s.Spec.ExternalTrafficPolicy != tc.want {
					t.Errorf("%v: externalTrafficPolicy %q, want %q", tc.set, s.Spec.ExternalTrafficPolicy, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%v: no Service x-healthgate", tc.set)
		}
	}
}

// TestChartFleetTimeoutNonCriticalShared: only a shared critical check asks the peers, so only its interval
// bounds fleet.timeout, as healthgate's own validation has it (config/fleet.go asksPeers). A non-critical
// shared check with an interval no longer than fleet.timeout was refused by the chart, though the
// healthgate.yaml it would render loads.
func TestChartFleetTimeoutNonCriticalShared(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "replicaCount=3", "fleet.enabled=true", "fleet.timeout=2s",
		"checks[0].name=db", "checks[0].type=postgres", "checks[0].url=postgres://db/app", "checks[0].scope=shared",
		"checks[0].interval=5s",
		"checks[1].name=cache", "checks[1].type=redis", "checks[1].url=redis://cache:6379/0", "checks[1].scope=shared",
		"checks[1].critical=false", "checks[1].interval=2s", "checks[1].timeout=1s")
	loadRendered(t, r, nil)
}

// TestChartFleetTimeoutFraction: fleet.timeout is read to the nanosecond, as healthgate reads it: 500us is
// greater than 0, and 150.2ms is shorter than a shared check's 150.7ms interval. The chart read both in whole
// milliseconds, and refused them (0, and 150 >= 150), though the healthgate.yaml they render loads.
func TestChartFleetTimeoutFraction(t *testing.T) {
	helm := helmBinary(t)
	for _, set := range [][]string{
		{"fleet.timeout=500us", "checks[0].interval=5s"},
		{"fleet.timeout=150.2ms", "checks[0].interval=150.7ms", "checks[0].timeout=100ms"},
	} {
		r := renderChart(t, helm, append([]string{"replicaCount=3", "fleet.enabled=true", "checks[0].name=db", "checks[0].type=tcp",
			"checks[0].address=db:5432", "checks[0].scope=shared"}, set...)...)
		loadRendered(t, r, nil)
	}
}

// TestChartMigrationsVersionVariable: a migrations.version that refers to a variable (set by the
// release's pipeline) renders: the schema's pattern for the tool's versions is healthgate's to apply once
// the variable is expanded, as healthgate does. The pattern refused it.
func TestChartMigrationsVersionVariable(t *testing.T) {
	helm := helmBinary(t)
	r := renderChart(t, helm, "checks[0].name=db", "checks[0].type=postgres", "checks[0].url=postgres://db/app",
		"checks[0].migrations.tool=golang-migrate", "checks[0].migrations.version=${SCHEMA_VERSION}",
		"env[0].name=SCHEMA_VERSION", "env[0].valueFrom.configMapKeyRef.name=release", "env[0].valueFrom.configMapKeyRef.key=schema-version")
	if file := renderedConfig(t, r); !strings.Contains(file.Data, "${SCHEMA_VERSION}") {
		t.Errorf("the rendered healthgate.yaml lost the variable:\n%s", file.Data)
	}
}

// TestChartDependentEnvPassword: an env value that composes a URL with a Secret's password through
// Kubernetes' dependent variable, $(DB_PASSWORD) set by an entry above it from a secretKeyRef (the way
// Kubernetes documents it), renders, and this package's rules find no secret in it: both read $(NAME) as
// the reference it is. Both refused it as an inline password. Whether the variable is set is not the
// chart's to say (a Service's variables, envFrom's): a $(NAME) that no entry sets renders too.
func TestChartDependentEnvPassword(t *testing.T) {
	helm := helmBinary(t)
	common := []string{"checks[0].name=db", "checks[0].type=postgres", "checks[0].url=${DATABASE_URL}"}
	r := renderChart(t, helm, append(common,
		"env[0].name=DB_PASSWORD", "env[0].valueFrom.secretKeyRef.name=db", "env[0].valueFrom.secretKeyRef.key=password",
		"env[1].name=DATABASE_URL", "env[1].value=postgres://app:$(DB_PASSWORD)@db:5432/app")...)
	env := r.deploy.Spec.Template.Spec.Containers[0].Env
	if i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "DATABASE_URL" }); i < 0 || env[i].Value != "postgres://app:$(DB_PASSWORD)@db:5432/app" {
		t.Errorf("DATABASE_URL not rendered as given: %+v", env)
	}
	renderChart(t, helm, append(common, "envFrom[0].secretRef.name=db",
		"env[0].name=DATABASE_URL", "env[0].value=postgres://app:$(DB_PASSWORD)@$(DB_SERVICE_HOST):5432/app")...)
	// A secret-looking name whose value only refers to another variable holds no literal: the chart and
	// tools/policy refused PGPASSWORD: $(DB_PASSWORD) as "a secret-looking name with a literal value".
	renderChart(t, helm, append(common, "envFrom[0].secretRef.name=db",
		"env[0].name=PGPASSWORD", "env[0].value=$(DB_PASSWORD)", "env[1].name=API_AUTH", "env[1].value=Bearer $(API_TOKEN)")...)
	for _, v := range []string{"$(DB_PASSWORD)x", "x$(DB_PASSWORD)", "hunter2"} {
		args := append([]string{"template", "x", chartDir}, "--set", "env[0].name=PGPASSWORD", "--set", "env[0].value="+v)
		out, err := exec.Command(helm, args...).CombinedOutput()
		if want := "env[0] PGPASSWORD: a secret-looking name with a literal value"; err == nil || !strings.Contains(string(out), want) {
			t.Errorf("PGPASSWORD: %s: %v, want %q:\n%s", v, err, want, lastLines(out))
		}
	}
}

// TestChartTLSWithTLSURL: the schema's refusal of a tls block with a URL that has no TLS
// (chart-invalid/tls-on-plain-url.yaml) leaves alone what healthgate takes: a TLS scheme, a URL behind a
// ${VAR} (healthgate judges it once expanded), and an http:// URL with follow_redirects (to an https://
// one).
func TestChartTLSWithTLSURL(t *testing.T) {
	helm := helmBinary(t)
	for _, set := range [][]string{
		{"checks[0].type=redis", "checks[0].url=rediss://cache:6380/0"},
		{"checks[0].type=redis", "checks[0].url=${REDIS_URL}", "env[0].name=REDIS_URL", "env[0].valueFrom.secretKeyRef.name=cache", "env[0].valueFrom.secretKeyRef.key=url"},
		{"checks[0].type=http", "checks[0].url=http://api.internal/healthz", "checks[0].follow_redirects=true"},
		{"checks[0].type=amqp", "checks[0].url=AMQPS://broker/prod"},
	} {
		renderChart(t, helm, append([]string{"checks[0].name=dep", "checks[0].tls.server_name=dep.internal"}, set...)...)
	}
}

// TestChartFractionalDurations: a duration with a fraction or in microseconds (1.5s, 0.3s, 1m0.5s,
// 15000us), which healthgate takes, renders, and the chart reads it as healthgate does: the probes'
// timing derives from 1.5s (readiness every second), the drain from 2.5s, and healthgate's floors and
// timeout-below-interval rule hold to the nanosecond. The schema took durations in whole units only, and
// the chart's reading of them dropped a fraction.
func TestChartFractionalDurations(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"config.server.shutdown_delay=2.5s", "config.server.shutdown_timeout=0.5s",
		"checks[0].name=a", "checks[0].type=tcp", "checks[0].address=db:5432", "checks[0].interval=1.5s", "checks[0].timeout=0.3s",
		"checks[1].name=b", "checks[1].type=tcp", "checks[1].address=db:5432", "checks[1].interval=1m0.5s", "checks[1].timeout=15000us"}
	r := renderChart(t, helm, base...)
	c := r.deploy.Spec.Template.Spec.Containers[0]
	if got := c.ReadinessProbe.PeriodSeconds; got != 1 {
		t.Errorf("readiness periodSeconds %d; want 1 (half of the 1.5s interval, rounded up to whole seconds, halved)", got)
	}
	if got := *r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 8 {
		t.Errorf("terminationGracePeriodSeconds %d; want 8 (the 3 s drain + 5 s)", got)
	}
	loadRendered(t, r, nil)
	for _, tc := range []struct{ interval, timeout, want string }{
		{"0.0999s", "50ms", "must be at least 100ms"},
		{"0.1s", "9999us", "must be at least 10ms"},
		{"150.7ms", "150700us", "must be shorter than interval"},
	} {
		args := []string{"template", "x", chartDir, "--set", "checks[0].name=a", "--set", "checks[0].type=tcp", "--set", "checks[0].address=db:5432",
			"--set", "checks[0].interval=" + tc.interval, "--set", "checks[0].timeout=" + tc.timeout}
		if out, err := exec.Command(helm, args...).CombinedOutput(); err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("interval %s, timeout %s: %v, want a failure with %q:\n%s", tc.interval, tc.timeout, err, tc.want, out)
		}
	}
	// Within the same millisecond, a timeout below the interval is one healthgate takes.
	renderChart(t, helm, "checks[0].name=a", "checks[0].type=tcp", "checks[0].address=db:5432", "checks[0].interval=150.7ms", "checks[0].timeout=150.2ms")
}

// TestChartNanoseconds: the chart's healthgate.nanoseconds reads a duration as time.ParseDuration does, to
// the nanosecond: a fraction's part of a nanosecond dropped, not rounded. Rounded, 99.9999999ms was 100ms,
// over healthgate's floor (which refuses it, 99.999999ms), and fleet.timeout 0.5ns above 0 (healthgate: 0).
func TestChartNanoseconds(t *testing.T) {
	inputs := []string{"0.3s", "1.5s", "1m0.5s", "15000us", "2.5µs", "2.5μs", "99.9999999ms", "0.5ns", "1.9999999999s",
		".5s", "5.s", "1h1m1s1ms1us1ns", "0.1234567891234567891s", "10ms", "0s", "100ms", "1.000000001s"}
	rng := rand.New(rand.NewPCG(1, 2))
	units := []string{"ns", "us", "ms", "s", "m", "h"}
	for range 200 {
		inputs = append(inputs, fmt.Sprintf("%d.%0*d%s", rng.IntN(1000), 1+rng.IntN(12), rng.Int64N(1e12), units[rng.IntN(len(units))]))
	}
	got := includeEach(t, "healthgate.nanoseconds", inputs)
	for i, in := range inputs {
		d, err := time.ParseDuration(in)
		if err != nil {
			t.Fatalf("time.ParseDuration(%q): %v", in, err)
		}
		if got[i] != strconv.FormatInt(int64(d), 10) {
			t.Errorf("healthgate.nanoseconds %q = %s, time.ParseDuration: %d", in, got[i], int64(d))
		}
	}
}

// TestChartHeaderNames: an http check's header names are refused as healthgate refuses them (a name that is
// no token, a header given twice in two cases or in headers and headers_file: chart-invalid/http-header-twice.yaml),
// and every token character renders, into a configuration healthgate builds.
func TestChartHeaderNames(t *testing.T) {
	helm := helmBinary(t)
	render := func(headers string) ([]byte, error) {
		values := filepath.Join(t.TempDir(), "values.yaml")
		data := "checks:\n  - {name: api, type: http, url: https://api.internal/healthz, headers: " + headers + "}\n" +
			"env: [{name: API_TOKEN, valueFrom: {secretKeyRef: {name: api, key: token}}}]\n"
		if err := os.WriteFile(values, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return exec.Command(helm, "template", "x", chartDir, "-f", values).CombinedOutput()
	}
	out, err := render("{\"X-Token_!#$%&'*+.^\x60|~9\": \"${API_TOKEN}\", Accept: application/json, Accept-Language: en}")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs, err := Decode("rendered", out)
	if err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	cfg, _ := loadRendered(t, rendered{objs: objs}, map[string]string{"API_TOKEN": "t0ken"})
	if errs := checks.Validate(cfg.Checks); len(errs) > 0 {
		t.Errorf("healthgate refuses the rendered headers: %v", errs)
	}
	for _, tc := range []struct{ headers, want string }{
		{`{"X Api Key": "${API_TOKEN}"}`, `checks[0] "api": headers: a header name that is not one`},
		{`{"Authorization:": "${API_TOKEN}"}`, `checks[0] "api": headers: a header name that is not one`},
		{`{Accept: application/json, accept: text/plain}`, `checks[0] "api": header accept is set twice, as headers Accept and headers accept`},
	} {
		if out, err := render(tc.headers); err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("headers %s: %v, want a failure with %q:\n%s", tc.headers, err, tc.want, lastLines(out))
		}
	}
}
