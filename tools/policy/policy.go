package policy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Finding is one broken rule on one object.
type Finding struct {
	Object string // Kind/name
	Source string // file#document
	Rule   string
	Msg    string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s (%s): [%s] %s", f.Object, f.Source, f.Rule, f.Msg)
}

// Rule names, so tests can say which rule they break.
const (
	RuleLabels      = "labels"
	RuleSelector    = "selector"
	RulePodSecurity = "pod-security"
	RuleResources   = "resources"
	RuleImage       = "image"
	RulePorts       = "ports"
	RuleProbes      = "probes"
	RuleGrace       = "grace-period"
	RuleConfig      = "config"
	RuleSecrets     = "secrets"
	RuleChecksum    = "checksum"
	RuleTestHook    = "test-hook"
	RuleService     = "service"
	RulePDB         = "pdb"
	RuleMonitor     = "servicemonitor"
	RuleFleet       = "fleet"
	RuleRollout     = "rollout"
	RuleAutoscaling = "autoscaling"
	RuleNetwork     = "networkpolicy"
	RuleEnv         = "env"
)

const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelVersion   = "app.kubernetes.io/version"
	labelChart     = "helm.sh/chart"
	nonrootID      = 65532
	// maxProbePeriod caps readiness and startup probe periods: probes are served from healthgate's cache,
	// so probing often is free, while a long period keeps a ready pod out of the Service that long.
	maxProbePeriod = 10
)

// workload is anything with a pod template (or a bare Pod).
type workload struct {
	obj         Object
	meta        metav1.ObjectMeta // of the workload itself
	selector    *metav1.LabelSelector
	replicas    *int32
	podLabels   map[string]string
	podAnnots   map[string]string
	spec        *corev1.PodSpec
	strategy    *appsv1.DeploymentStrategy // of a Deployment
	isBarePod   bool
	helmManaged bool
}

type checker struct {
	objs       []Object
	findings   []Finding
	configMaps map[string]*corev1.ConfigMap
	services   []*corev1.Service
	workloads  []workload
	hpas       []*autoscalingv2.HorizontalPodAutoscaler
	netpols    []*networkingv1.NetworkPolicy
}

// Check asserts the rules on a set of objects deployed together (one rendered chart, or one example).
func Check(objs []Object) []Finding {
	c := &checker{objs: objs, configMaps: map[string]*corev1.ConfigMap{}}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *corev1.ConfigMap:
			c.configMaps[v.Name] = v
		case *corev1.Service:
			c.services = append(c.services, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpas = append(c.hpas, v)
		case *networkingv1.NetworkPolicy:
			c.netpols = append(c.netpols, v)
		case *appsv1.Deployment:
			c.workloads = append(c.workloads, workload{obj: o, meta: v.ObjectMeta, selector: v.Spec.Selector,
				replicas: v.Spec.Replicas, podLabels: v.Spec.Template.Labels, podAnnots: v.Spec.Template.Annotations,
				spec: &v.Spec.Template.Spec, strategy: &v.Spec.Strategy})
		case *appsv1.StatefulSet:
			c.workloads = append(c.workloads, workload{obj: o, meta: v.ObjectMeta, selector: v.Spec.Selector,
				replicas: v.Spec.Replicas, podLabels: v.Spec.Template.Labels, podAnnots: v.Spec.Template.Annotations,
				spec: &v.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			c.workloads = append(c.workloads, workload{obj: o, meta: v.ObjectMeta, selector: v.Spec.Selector,
				podLabels: v.Spec.Template.Labels, podAnnots: v.Spec.Template.Annotations, spec: &v.Spec.Template.Spec})
		case *corev1.Pod:
			c.workloads = append(c.workloads, workload{obj: o, meta: v.ObjectMeta, podLabels: v.Labels,
				podAnnots: v.Annotations, spec: &v.Spec, isBarePod: true})
		}
	}
	for i := range c.workloads {
		c.workloads[i].helmManaged = c.workloads[i].meta.Labels[labelManagedBy] == "Helm"
	}

	for _, o := range objs {
		c.labels(o)
		switch v := o.Obj.(type) {
		case *corev1.ConfigMap:
			c.configMapSecrets(o, v)
		case *corev1.Service:
			c.service(o, v)
		case *policyv1.PodDisruptionBudget:
			c.pdb(o, v)
		case *monitoringv1.ServiceMonitor:
			c.serviceMonitor(o, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.hpa(o, v)
		}
	}
	for _, w := range c.workloads {
		c.workload(w)
	}
	return c.findings
}

func (c *checker) add(o Object, rule, format string, args ...any) {
	c.findings = append(c.findings, Finding{Object: o.String(), Source: o.Source, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func metaOf(o Object) metav1.Object {
	m, _ := o.Obj.(metav1.Object)
	return m
}

// labels: the recommended app.kubernetes.io labels; the Helm ones on Helm-managed objects.
func (c *checker) labels(o Object) {
	m := metaOf(o)
	if m == nil {
		c.add(o, RuleLabels, "object has no metadata")
		return
	}
	l := m.GetLabels()
	if l[labelName] == "" {
		c.add(o, RuleLabels, "missing label %s", labelName)
	}
	if l[labelManagedBy] == "Helm" {
		for _, k := range []string{labelInstance, labelVersion, labelChart} {
			if l[k] == "" {
				c.add(o, RuleLabels, "Helm-managed object misses label %s", k)
			}
		}
	}
}

// subset reports whether every key=value of sel is in labels (and sel is not empty).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func isTestHook(w workload) bool {
	return strings.Contains(w.meta.Annotations["helm.sh/hook"], "test")
}

// servedPods: workloads that serve traffic (not test hooks).
func (c *checker) servedPods() []workload {
	var ws []workload
	for _, w := range c.workloads {
		if !isTestHook(w) {
			ws = append(ws, w)
		}
	}
	return ws
}

func (c *checker) service(o Object, s *corev1.Service) {
	if len(s.Spec.Selector) == 0 {
		c.add(o, RuleService, "service has no selector")
		return
	}
	var matched []workload
	for _, w := range c.workloads {
		if subset(s.Spec.Selector, w.podLabels) {
			if isTestHook(w) {
				c.add(o, RuleService, "selector %v also selects the test pod %s", s.Spec.Selector, w.obj)
				continue
			}
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		c.add(o, RuleService, "selector %v matches no pod template in this set", s.Spec.Selector)
		return
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.IntValue() == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port) // omitted: the API server defaults it to port
		}
		for _, w := range matched {
			if !podHasPort(w.spec, p.TargetPort, p.Protocol) {
				c.add(o, RuleService, "port %q: targetPort %s is not a container port of %s", p.Name, p.TargetPort.String(), w.obj)
			}
			// healthgate's gRPC health is plaintext HTTP/2: kubernetes.io/h2c is the standard appProtocol
			// for it ("grpc" is no standard value, and meshes would assume TLS or HTTP/1 without one).
			if targetsGRPC(w.spec, p) && (p.AppProtocol == nil || *p.AppProtocol != appProtocolH2C) {
				got := "<none>"
				if p.AppProtocol != nil {
					got = *p.AppProtocol
				}
				c.add(o, RuleService, "port %q targets healthgate's gRPC port: appProtocol %s, want %s", p.Name, got, appProtocolH2C)
			}
		}
	}
}

const appProtocolH2C = "kubernetes.io/h2c"

// targetsGRPC: the Service port leads to a healthgate container's port named grpc (which the ports rule
// ties to its grpc_listen).
func targetsGRPC(spec *corev1.PodSpec, p corev1.ServicePort) bool {
	for _, ct := range servingContainers(spec) {
		if !isHealthgate(ct) {
			continue
		}
		for _, cp := range ct.Ports {
			if cp.Name == "grpc" && ((p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "grpc") ||
				(p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == cp.ContainerPort)) {
				return true
			}
		}
	}
	return false
}

func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(spec.InitContainers), spec.Containers...)
}

// servingContainers: containers that run alongside the pod (app containers and native sidecars).
func servingContainers(spec *corev1.PodSpec) []corev1.Container {
	var cs []corev1.Container
	for _, ic := range spec.InitContainers {
		if isSidecar(ic) {
			cs = append(cs, ic)
		}
	}
	return append(cs, spec.Containers...)
}

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func podHasPort(spec *corev1.PodSpec, p intstr.IntOrString, proto corev1.Protocol) bool {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, ct := range servingContainers(spec) {
		if containerHasPort(ct, p, proto) {
			return true
		}
	}
	return false
}

func containerHasPort(ct corev1.Container, p intstr.IntOrString, proto corev1.Protocol) bool {
	for _, cp := range ct.Ports {
		pp := cp.Protocol
		if pp == "" {
			pp = corev1.ProtocolTCP
		}
		if pp != proto {
			continue
		}
		if p.Type == intstr.String && cp.Name == p.StrVal {
			return true
		}
		if p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return true
		}
	}
	return false
}

func (c *checker) pdb(o Object, p *policyv1.PodDisruptionBudget) {
	if p.Spec.Selector == nil || len(p.Spec.Selector.MatchLabels) == 0 {
		c.add(o, RulePDB, "no selector.matchLabels")
		return
	}
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		c.add(o, RulePDB, "set exactly one of minAvailable and maxUnavailable")
	}
	found := false
	for _, w := range c.workloads {
		if !subset(p.Spec.Selector.MatchLabels, w.podLabels) {
			continue
		}
		if isTestHook(w) {
			c.add(o, RulePDB, "selector also selects the test pod %s", w.obj)
			continue
		}
		found = true
		// The fewest pods there may be: with an autoscaler, its minReplicas.
		replicas := c.minReplicas(w)
		// The disruption controller rounds both percentages up (intstr.GetScaledValueFromIntOrPercent).
		if m := p.Spec.MinAvailable; m != nil && replicas > 0 {
			if n, err := intstr.GetScaledValueFromIntOrPercent(m, int(replicas), true); err == nil && n >= int(replicas) {
				c.add(o, RulePDB, "minAvailable %s >= replicas %d of %s: no pod could ever be evicted (node drains block)", m, replicas, w.obj)
			}
		}
		if m := p.Spec.MaxUnavailable; m != nil && replicas > 0 {
			if n, err := intstr.GetScaledValueFromIntOrPercent(m, int(replicas), true); err == nil && n < 1 {
				c.add(o, RulePDB, "maxUnavailable %s of %d replicas of %s: no pod could ever be evicted (node drains block)", m, replicas, w.obj)
			}
		}
	}
	if !found {
		c.add(o, RulePDB, "selector %v matches no pod template in this set", p.Spec.Selector.MatchLabels)
	}
}

func (c *checker) serviceMonitor(o Object, sm *monitoringv1.ServiceMonitor) {
	var matched []*corev1.Service
	for _, s := range c.services {
		if subset(sm.Spec.Selector.MatchLabels, s.Labels) {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		c.add(o, RuleMonitor, "selector %v matches no Service in this set", sm.Spec.Selector.MatchLabels)
		return
	}
	if len(sm.Spec.Endpoints) == 0 {
		c.add(o, RuleMonitor, "no endpoints")
	}
	// Two matched Services selecting the same pods (the main Service and the fleet peers Service): every
	// pod is scraped once per Service, and its series are doubled under two `service` labels.
	for i, a := range matched {
		for _, b := range matched[i+1:] {
			for _, w := range c.servedPods() {
				if subset(a.Spec.Selector, w.podLabels) && subset(b.Spec.Selector, w.podLabels) {
					c.add(o, RuleMonitor, "selects Service/%s and Service/%s, which both select %s: its pods would be scraped twice", a.Name, b.Name, w.obj)
				}
			}
		}
	}
	for _, e := range sm.Spec.Endpoints {
		if e.Path != "/metrics" {
			c.add(o, RuleMonitor, "endpoint path %q, want /metrics", e.Path)
		}
		if e.Port == "" {
			c.add(o, RuleMonitor, "endpoint has no named port")
			continue
		}
		for _, s := range matched {
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
				c.add(o, RuleMonitor, "endpoint port %q is not a port of Service/%s", e.Port, s.Name)
			}
		}
	}
}

var allowedSelectorKeys = []string{labelName, labelInstance}

func (c *checker) workload(w workload) {
	o := w.obj
	if !w.isBarePod {
		switch {
		case w.selector == nil || len(w.selector.MatchLabels) == 0:
			c.add(o, RuleSelector, "no selector.matchLabels")
		case len(w.selector.MatchExpressions) > 0:
			c.add(o, RuleSelector, "selector.matchExpressions: keep selectors to matchLabels name+instance")
		case !subset(w.selector.MatchLabels, w.podLabels):
			c.add(o, RuleSelector, "selector %v is not a subset of the pod template labels %v", w.selector.MatchLabels, w.podLabels)
		}
		if w.selector != nil {
			for k := range w.selector.MatchLabels {
				if !slices.Contains(allowedSelectorKeys, k) {
					c.add(o, RuleSelector, "selector key %q: selectors are immutable, use only %v", k, allowedSelectorKeys)
				}
			}
		}
	}
	c.podSecurity(o, w.spec)
	c.containers(o, w)
	c.rollout(w)
	if isTestHook(w) {
		c.testHook(o, w)
	}
	if w.helmManaged && !isTestHook(w) {
		for _, v := range w.spec.Volumes {
			if v.ConfigMap != nil && c.configMaps[v.ConfigMap.Name] != nil && w.podAnnots["checksum/config"] == "" {
				c.add(o, RuleChecksum, "mounts ConfigMap/%s but the pod template has no checksum/config annotation: pods would not roll on a config change", v.ConfigMap.Name)
			}
		}
	}
}

// rollout: a Deployment that runs healthgate rolls as the rolling-deploy figure measured it with no failed
// request (README.md "Rolling deploys on a real node"): maxUnavailable 0 written out (the default, 25%,
// takes a ready pod away before its replacement is ready from four replicas on), and every app container
// that serves (declares a port) beside healthgate has a preStop hook: without one it stops at SIGTERM
// while kube-proxy and load balancers still send it new connections (~3% failed requests measured).
func (c *checker) rollout(w workload) {
	if w.strategy == nil || !slices.ContainsFunc(allContainers(w.spec), isHealthgate) {
		return
	}
	o := w.obj
	if w.strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.add(o, RuleRollout, "strategy Recreate stops every pod before the new ones are ready; use RollingUpdate with maxUnavailable: 0")
	} else if ru := w.strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" && ru.MaxUnavailable.String() != "0%" {
		c.add(o, RuleRollout, "strategy.rollingUpdate.maxUnavailable must be 0 (and maxSurge at least 1): an old pod leaves only once its replacement is ready (the default, 25%%, takes a ready pod away first from four replicas on)")
	}
	for _, ct := range w.spec.Containers {
		if isHealthgate(ct) || len(ct.Ports) == 0 {
			continue
		}
		if ct.Lifecycle == nil || ct.Lifecycle.PreStop == nil {
			c.add(o, RuleRollout, "container %q serves beside healthgate but has no lifecycle.preStop: it would stop at SIGTERM while kube-proxy and load balancers still send it traffic; sleep for healthgate's shutdown_delay", ct.Name)
		}
	}
}

// podSecurity: Pod Security Standard "restricted", plus no service account token.
func (c *checker) podSecurity(o Object, spec *corev1.PodSpec) {
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		c.add(o, RulePodSecurity, "automountServiceAccountToken must be false")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		c.add(o, RulePodSecurity, "host namespaces are not allowed")
	}
	for _, v := range spec.Volumes {
		switch vs := v.VolumeSource; {
		case vs.HostPath != nil:
			c.add(o, RulePodSecurity, "volume %q: hostPath is not allowed", v.Name)
		case vs.ConfigMap == nil && vs.CSI == nil && vs.DownwardAPI == nil && vs.EmptyDir == nil && vs.Ephemeral == nil &&
			vs.Image == nil && vs.PersistentVolumeClaim == nil && vs.Projected == nil && vs.Secret == nil:
			// "restricted" admits these kinds only (pod-security-admission's restrictedVolumes): an nfs or
			// iscsi volume passed through extraVolumes is refused at admission.
			c.add(o, RulePodSecurity, "volume %q: only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes are allowed", v.Name)
		}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	ports := map[string]string{}
	portNames := map[string]string{}
	for _, ct := range allContainers(spec) {
		sc := ct.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		who := fmt.Sprintf("container %q", ct.Name)
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			c.add(o, RulePodSecurity, "%s: runAsNonRoot must be true", who)
		}
		uid, gid := sc.RunAsUser, sc.RunAsGroup
		if uid == nil {
			uid = psc.RunAsUser
		}
		if gid == nil {
			gid = psc.RunAsGroup
		}
		if uid != nil && *uid == 0 {
			c.add(o, RulePodSecurity, "%s: runAsUser 0", who)
		}
		if isHealthgate(ct) {
			if uid == nil || *uid != nonrootID || gid == nil || *gid != nonrootID {
				c.add(o, RulePodSecurity, "%s: healthgate runs as %d:%d (the image's nonroot user); set runAsUser and runAsGroup", who, nonrootID, nonrootID)
			}
		}
		sp := sc.SeccompProfile
		if sp == nil {
			sp = psc.SeccompProfile
		}
		if sp == nil || (sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost) {
			c.add(o, RulePodSecurity, "%s: seccompProfile must be RuntimeDefault", who)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.add(o, RulePodSecurity, "%s: allowPrivilegeEscalation must be false", who)
		}
		if sc.Privileged != nil && *sc.Privileged {
			c.add(o, RulePodSecurity, "%s: privileged", who)
		}
		for _, p := range ct.Ports {
			if p.HostPort != 0 {
				c.add(o, RulePodSecurity, "%s: hostPort %d is not allowed", who, p.HostPort)
			}
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			c.add(o, RulePodSecurity, "%s: readOnlyRootFilesystem must be true", who)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			c.add(o, RulePodSecurity, "%s: capabilities.drop must contain ALL", who)
		}
		if sc.Capabilities != nil {
			for _, a := range sc.Capabilities.Add {
				if a != "NET_BIND_SERVICE" {
					c.add(o, RulePodSecurity, "%s: capability %s added", who, a)
				}
			}
		}
		// Resources: requests for the scheduler, a memory limit so a leak cannot take the node.
		r := ct.Resources
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := r.Requests[name]; !ok {
				c.add(o, RuleResources, "%s: no %s request", who, name)
			}
		}
		if _, ok := r.Limits[corev1.ResourceMemory]; !ok {
			c.add(o, RuleResources, "%s: no memory limit", who)
		}
		if msg := imageProblem(ct.Image); msg != "" {
			c.add(o, RuleImage, "%s: %s", who, msg)
		}
		// Containers of a pod share one network namespace: two of them on one port cannot both listen.
		if isSidecar(ct) || slices.ContainsFunc(spec.Containers, func(x corev1.Container) bool { return x.Name == ct.Name }) {
			for _, p := range ct.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP // the API server's default: 8081 and 8081/TCP are one port
				}
				key := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
				if other, dup := ports[key]; dup {
					c.add(o, RulePorts, "%s: port %s is also declared by container %q (one network namespace per pod)", who, key, other)
				}
				ports[key] = ct.Name
				if p.Name == "" {
					continue
				}
				if other, dup := portNames[p.Name]; dup {
					c.add(o, RulePorts, "%s: port name %q is also used by container %q: Services and probes that name it would pick one of them", who, p.Name, other)
				}
				portNames[p.Name] = ct.Name
			}
		}
	}
}

// imageProblem: images need a tag or digest, not latest.
func imageProblem(img string) string {
	if img == "" {
		return "no image"
	}
	if strings.Contains(img, "@sha256:") {
		return ""
	}
	last := img[strings.LastIndex(img, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		return fmt.Sprintf("image %q has no tag", img)
	}
	if last[i+1:] == "latest" {
		return fmt.Sprintf("image %q uses :latest", img)
	}
	return ""
}

// isHealthgate: the container runs healthgate's image (repository name "healthgate").
func isHealthgate(ct corev1.Container) bool {
	img := ct.Image
	if i := strings.Index(img, "@"); i >= 0 {
		img = img[:i]
	}
	last := img[strings.LastIndex(img, "/")+1:]
	if i := strings.Index(last, ":"); i >= 0 {
		last = last[:i]
	}
	return last == "healthgate"
}

// subcommand of a healthgate container ("" if it sets its own command, which an image without a shell cannot run).
func subcommand(ct corev1.Container) string {
	if len(ct.Command) > 0 || len(ct.Args) == 0 {
		return ""
	}
	return ct.Args[0]
}

func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func (c *checker) containers(o Object, w workload) {
	spec := w.spec
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	for _, ct := range allContainers(spec) {
		who := fmt.Sprintf("container %q", ct.Name)
		c.envSecrets(o, ct)
		c.envUnique(o, ct)
		serving := isSidecar(ct) || slices.ContainsFunc(spec.Containers, func(x corev1.Container) bool { return x.Name == ct.Name })
		for _, pr := range []struct {
			kind  string
			probe *corev1.Probe
		}{{"livenessProbe", ct.LivenessProbe}, {"readinessProbe", ct.ReadinessProbe}, {"startupProbe", ct.StartupProbe}} {
			if pr.probe == nil {
				continue
			}
			if !serving {
				c.add(o, RuleProbes, "%s: %s on a plain init container (only sidecars and app containers are probed)", who, pr.kind)
				continue
			}
			c.probePort(o, who, pr.kind, ct, spec, pr.probe)
			// Liveness must never follow a dependency: a restart cannot fix a database (docs/design.md §1, §3).
			if pr.kind == "livenessProbe" && pr.probe.HTTPGet != nil {
				if p := pr.probe.HTTPGet.Path; p == "/readyz" || strings.HasPrefix(p, "/readyz/") || p == "/startupz" {
					c.add(o, RuleProbes, "%s: livenessProbe on %s follows dependencies: a database outage would restart the pod; use /livez", who, p)
				}
			}
		}
		if !isHealthgate(ct) {
			continue
		}
		if len(ct.Command) > 0 {
			c.add(o, RuleImage, "%s: sets command %v; healthgate's image is FROM scratch (no shell): use args only", who, ct.Command)
		}
		switch sub := subcommand(ct); sub {
		case "serve":
			if !serving {
				c.add(o, RuleProbes, "%s: serve in a plain init container never finishes; make it a native sidecar (restartPolicy: Always)", who)
			}
			cfg := c.containerConfig(o, who, ct, spec)
			c.serveContainer(o, who, ct, cfg)
			drain := cfg.shutdownDelay + cfg.shutdownTimeout
			if time.Duration(grace)*time.Second <= drain {
				c.add(o, RuleGrace, "terminationGracePeriodSeconds %d must be longer than shutdown_delay + shutdown_timeout (%s): kubelet would kill healthgate mid-drain", grace, drain)
			}
			c.envProvided(o, who, ct, cfg)
			c.fleet(o, who, w, cfg)
			c.networkPolicies(o, who, w, cfg)
		case "wait", "check":
			if isSidecar(ct) {
				c.add(o, RuleConfig, "%s: %s exits when done; a native sidecar (restartPolicy: Always) would be restarted for ever", who, sub)
			}
			cfg := hgConfig{}
			if _, ok := flagValue(ct.Args, "--config"); ok {
				cfg = c.containerConfig(o, who, ct, spec)
				c.envProvided(o, who, ct, cfg)
			}
			c.networkPolicies(o, who, w, cfg)
		case "version":
		default:
			c.add(o, RuleConfig, "%s: args %v do not start with a healthgate subcommand (serve, wait, check, version)", who, ct.Args)
		}
	}
}

// probePort: a named port resolves in the probed container only (kubelet's rule); a number must be a port
// some container of the pod listens on (a sidecar's, for instance: containers share the network namespace).
func (c *checker) probePort(o Object, who, kind string, ct corev1.Container, spec *corev1.PodSpec, pr *corev1.Probe) {
	var port intstr.IntOrString
	switch {
	case pr.HTTPGet != nil:
		port = pr.HTTPGet.Port
	case pr.TCPSocket != nil:
		port = pr.TCPSocket.Port
	case pr.GRPC != nil:
		port = intstr.FromInt32(pr.GRPC.Port)
	default:
		return
	}
	if port.Type == intstr.String {
		if !containerHasPort(ct, port, corev1.ProtocolTCP) {
			c.add(o, RuleProbes, "%s: %s port %q is not a named port of this container (named ports resolve per container)", who, kind, port.StrVal)
		}
		return
	}
	if !podHasPort(spec, port, corev1.ProtocolTCP) {
		c.add(o, RuleProbes, "%s: %s port %d is not a container port in this pod", who, kind, port.IntVal)
	}
}

// serveContainer: the named ports match what healthgate listens on, and the probes hit the right endpoints.
func (c *checker) serveContainer(o Object, who string, ct corev1.Container, cfg hgConfig) {
	listen := cfg.listenPort
	if l, ok := flagValue(ct.Args, "--listen"); ok {
		p, err := listenPort(l)
		if err != nil {
			c.add(o, RuleConfig, "%s: --listen %q: %v", who, l, err)
		}
		listen = p
	}
	// The ports healthgate listens on must be declared, and named, so probes and Services can use them.
	var httpName string
	var httpFound, grpcFound bool
	for _, p := range ct.Ports {
		switch p.ContainerPort {
		case listen:
			httpFound, httpName = true, p.Name
		case cfg.grpcPort:
			grpcFound = true
		}
	}
	switch {
	case !httpFound:
		c.add(o, RulePorts, "%s: healthgate listens on %d but no container port declares it", who, listen)
	case httpName == "":
		c.add(o, RulePorts, "%s: container port %d (healthgate's listen port) has no name", who, listen)
	}
	if cfg.grpcPort != 0 && !grpcFound {
		c.add(o, RulePorts, "%s: grpc_listen is %d but no container port declares it", who, cfg.grpcPort)
	}
	for _, p := range ct.Ports {
		if p.Name == "grpc" && p.ContainerPort != cfg.grpcPort {
			c.add(o, RulePorts, "%s: port grpc (%d) is not healthgate's grpc_listen port", who, p.ContainerPort)
		}
	}
	wantHTTP := func(kind string, pr *corev1.Probe, path string) {
		switch {
		case pr == nil:
			c.add(o, RuleProbes, "%s: no %s (want GET %s on port http)", who, kind, path)
		case pr.HTTPGet == nil:
			c.add(o, RuleProbes, "%s: %s must be an httpGet on %s", who, kind, path)
		case pr.HTTPGet.Path != path:
			c.add(o, RuleProbes, "%s: %s path %q, want %q", who, kind, pr.HTTPGet.Path, path)
		case (httpName == "" || pr.HTTPGet.Port.String() != httpName) && pr.HTTPGet.Port.IntValue() != int(listen):
			c.add(o, RuleProbes, "%s: %s port %s is not healthgate's listen port %d", who, kind, pr.HTTPGet.Port.String(), listen)
		}
	}
	// gRPC probes ask healthgate's grpc.health.v1 service: "liveness" mirrors /livez, "" and "readiness"
	// mirror /readyz (server/grpc.go).
	wantGRPC := func(kind string, pr *corev1.Probe, services ...string) {
		if cfg.grpcPort == 0 || pr.GRPC.Port != cfg.grpcPort {
			c.add(o, RuleProbes, "%s: %s grpc port %d is not healthgate's grpc_listen port", who, kind, pr.GRPC.Port)
		}
		svc := ""
		if pr.GRPC.Service != nil {
			svc = *pr.GRPC.Service
		}
		if !slices.Contains(services, svc) {
			c.add(o, RuleProbes, "%s: %s asks gRPC service %q, want one of %q", who, kind, svc, services)
		}
	}
	// Timing: the kubelet's defaults apply to fields left at zero (period 10 s, failureThreshold 3).
	orDefault := func(v, d int32) int32 {
		if v == 0 {
			return d
		}
		return v
	}
	for _, pr := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"readinessProbe", ct.ReadinessProbe}, {"startupProbe", ct.StartupProbe}} {
		if p := pr.probe; p != nil && orDefault(p.PeriodSeconds, 10) > maxProbePeriod {
			c.add(o, RuleProbes, "%s: %s periodSeconds %d: over %d s keeps a ready pod out of the Service that long; probes are served from cache, so probe more often", who, pr.kind, p.PeriodSeconds, maxProbePeriod)
		}
	}
	if p := ct.StartupProbe; p != nil && cfg.maxTimeout > 0 {
		budget := time.Duration(orDefault(p.PeriodSeconds, 10)*orDefault(p.FailureThreshold, 3)) * time.Second
		if budget <= cfg.maxTimeout {
			c.add(o, RuleProbes, "%s: startupProbe allows %s (periodSeconds × failureThreshold), not more than the longest check timeout %s: the first check run may not finish before the kubelet restarts healthgate", who, budget, cfg.maxTimeout)
		}
	}
	if pr := ct.LivenessProbe; pr != nil && pr.GRPC != nil {
		wantGRPC("livenessProbe", pr, "liveness")
	} else {
		wantHTTP("livenessProbe", pr, "/livez")
	}
	wantHTTP("startupProbe", ct.StartupProbe, "/startupz")
	if pr := ct.ReadinessProbe; pr != nil && pr.GRPC != nil {
		wantGRPC("readinessProbe", pr, "readiness", "")
	} else {
		wantHTTP("readinessProbe", pr, "/readyz")
	}
}

// fleet: a dns:/// peers target that names a Service of this set (<svc>, <svc>.<ns>, <svc>.<ns>.svc...)
// must resolve to the pods themselves, every one of them: a headless Service (clusterIP: None: a ClusterIP
// name resolves to one virtual IP, one "peer" that is a random pod each time), with publishNotReadyAddresses
// (a pod whose shared check fails is unready, and so are the peers it must ask in an outage), selecting this
// workload. The target's port is dialled on the pod IPs directly, so it must be healthgate's listen port.
func (c *checker) fleet(o Object, who string, w workload, cfg hgConfig) {
	for _, p := range cfg.peers {
		rest, ok := strings.CutPrefix(p, "dns://")
		if !ok {
			continue // a static host:port list: nothing in the set to compare with
		}
		_, target, _ := strings.Cut(rest, "/")
		host, port, err := net.SplitHostPort(target)
		if err != nil {
			c.add(o, RuleFleet, "%s: %s fleet.peers %q: %v", who, cfg.name, p, err)
			continue
		}
		svcName, domain, _ := strings.Cut(host, ".")
		inCluster := domain == "" || !strings.Contains(domain, ".") || strings.Contains(domain, ".svc")
		var svc *corev1.Service
		for _, s := range c.services {
			if s.Name == svcName {
				svc = s
			}
		}
		if svc == nil {
			if inCluster {
				c.add(o, RuleFleet, "%s: %s fleet.peers %q: no Service %q in this set", who, cfg.name, p, svcName)
			}
			continue
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			c.add(o, RuleFleet, "%s: fleet.peers %q: Service/%s must be headless (clusterIP: None): a ClusterIP name resolves to one virtual IP, not the pods", who, p, svc.Name)
		}
		if !svc.Spec.PublishNotReadyAddresses {
			c.add(o, RuleFleet, "%s: fleet.peers %q: Service/%s needs publishNotReadyAddresses: true: in an outage the peers are unready, and DNS would list none of them", who, p, svc.Name)
		}
		if !subset(svc.Spec.Selector, w.podLabels) {
			c.add(o, RuleFleet, "%s: fleet.peers %q: Service/%s selector %v does not select this workload's pods", who, p, svc.Name, svc.Spec.Selector)
		}
		if n, err := strconv.Atoi(port); err != nil || int32(n) != cfg.listenPort {
			c.add(o, RuleFleet, "%s: fleet.peers %q: port %s is dialled on the pod IPs directly, but healthgate listens on %d", who, p, port, cfg.listenPort)
		}
	}
}

// envUnique: each env name once per container. Kubernetes keeps the last of two silently (the API server
// only warns), so the second replaces the first, a Secret reference included.
func (c *checker) envUnique(o Object, ct corev1.Container) {
	seen := map[string]int{}
	for i, e := range ct.Env {
		if j, ok := seen[e.Name]; ok {
			c.add(o, RuleEnv, "container %q env[%d] %s: already set by env[%d]; only the last is kept", ct.Name, i, e.Name, j)
			continue
		}
		seen[e.Name] = i
	}
}

// envProvided: every ${VAR} (without :-default) of the config is set on the container, and not from an
// optional reference: without its Secret or key Kubernetes leaves the variable unset, and healthgate
// refuses the config (exit 2), so the pod crash-loops instead of waiting. An envFrom source that is not
// optional may hold any name, so then nothing is checked; optional sources alone do not provide one.
func (c *checker) envProvided(o Object, who string, ct corev1.Container, cfg hgConfig) {
	if slices.ContainsFunc(ct.EnvFrom, func(s corev1.EnvFromSource) bool { return !optionalFrom(s) }) {
		return // names come from a Secret/ConfigMap we cannot see
	}
	for _, v := range cfg.vars {
		i := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == v })
		switch {
		case i < 0 && len(ct.EnvFrom) > 0:
			c.add(o, RuleConfig, "%s: %s uses ${%s}, which no env entry provides and only optional envFrom sources could: without them %s is unset and healthgate refuses the config; drop optional, add an env entry, or give the reference a default", who, cfg.name, v, v)
		case i < 0:
			c.add(o, RuleConfig, "%s: %s uses ${%s} but the container has no env %s and no envFrom", who, cfg.name, v, v)
		case optionalRef(ct.Env[i].ValueFrom):
			c.add(o, RuleConfig, "%s: %s uses ${%s}, whose env entry is optional: without its Secret or key, %s is unset and healthgate refuses the config; drop optional, or give the reference a default", who, cfg.name, v, v)
		}
	}
}

// optionalFrom reports whether an envFrom source is an optional Secret or ConfigMap: when it is missing,
// Kubernetes starts the container without its names.
func optionalFrom(s corev1.EnvFromSource) bool {
	if r := s.SecretRef; r != nil {
		return r.Optional != nil && *r.Optional
	}
	if r := s.ConfigMapRef; r != nil {
		return r.Optional != nil && *r.Optional
	}
	return false
}

// optionalRef reports whether an env entry's value comes from an optional Secret or ConfigMap key.
func optionalRef(f *corev1.EnvVarSource) bool {
	if f == nil {
		return false
	}
	if r := f.SecretKeyRef; r != nil && r.Optional != nil && *r.Optional {
		return true
	}
	r := f.ConfigMapKeyRef
	return r != nil && r.Optional != nil && *r.Optional
}

// testHook: `helm test` pods run healthgate wait against the Service's /readyz, once.
func (c *checker) testHook(o Object, w workload) {
	if w.spec.RestartPolicy != corev1.RestartPolicyNever {
		c.add(o, RuleTestHook, "restartPolicy %q, want Never", w.spec.RestartPolicy)
	}
	ok := false
	for _, ct := range w.spec.Containers {
		if !isHealthgate(ct) || subcommand(ct) != "wait" {
			continue
		}
		raw, has := flagValue(ct.Args, "--http")
		if !has {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			c.add(o, RuleTestHook, "--http %q: %v", raw, err)
			continue
		}
		if u.Path != "/readyz" {
			c.add(o, RuleTestHook, "--http %q: want path /readyz", raw)
		}
		host := strings.SplitN(u.Hostname(), ".", 2)[0]
		port, _ := strconv.Atoi(u.Port())
		if u.Port() == "" {
			port = map[string]int{"http": 80, "https": 443}[u.Scheme] // the scheme's, as wait dials it
		}
		svcOK := slices.ContainsFunc(c.services, func(s *corev1.Service) bool {
			return s.Name == host && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port })
		})
		if !svcOK {
			c.add(o, RuleTestHook, "--http %q: no Service %q with port %d in this set", raw, host, port)
		}
		if _, has := flagValue(ct.Args, "--timeout"); !has {
			c.add(o, RuleTestHook, "wait without --timeout")
		}
		ok = true
	}
	if !ok {
		c.add(o, RuleTestHook, "no healthgate container running `wait --http <service>/readyz`")
	}
}
