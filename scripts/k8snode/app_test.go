//go:build k8snode

package k8snode

import (
	"fmt"
	"strings"
	"testing"
)

// The check timing the sidecar-shape tests install (chart values config.defaults), and what the chart
// derives from it (charts/healthgate/README.md "Probe timing"): readiness period min(⌈I/2⌉, 10) s with
// failureThreshold 2, startup period 1 s.
const (
	checkInterval    = 2 // s
	checkTimeout     = 1 // s
	failureThreshold = 2
	successThreshold = 1
	readinessPeriod  = 1 // min(⌈2/2⌉, 10)
	probeFailures    = 2 // the chart's readiness failureThreshold
	shutdownDelay    = 5 // s, config.server.shutdown_delay (chart default)
	preStopSeconds   = shutdownDelay
)

// configOnlyValues are chart values for shape B: only the ConfigMap (healthgate.yaml) with the demo app's
// two dependencies as critical checks, Postgres and Redis, whose URLs the pods set from a Secret.
func configOnlyValues() string {
	return fmt.Sprintf(`deployment:
  enabled: false
containerPorts:
  http: 8081
config:
  defaults:
    interval: %ds
    timeout: %ds
    failure_threshold: %d
    success_threshold: %d
checks:
  - name: db
    type: postgres
    url: ${DATABASE_URL}
    critical: true
  - name: cache
    type: redis
    url: ${REDIS_URL}
    critical: true
`, checkInterval, checkTimeout, failureThreshold, successThreshold)
}

// deps are the addresses where the pods reach the demo app's dependencies (fault proxies on the host).
type deps struct{ pg, redis string }

// depsSecret creates Secret demo-db with the URLs of Postgres (key url) and Redis (key redis) at d.
func (n *node) depsSecret(ns string, d deps) {
	n.t.Helper()
	n.kc("-n", ns, "create", "secret", "generic", "demo-db",
		"--from-literal=url=postgres://postgres@"+d.pg+"/test?sslmode=disable&connect_timeout=2",
		"--from-literal=redis=redis://"+d.redis+"/0")
}

// probeSetup is how a Deployment of the demo app is gated.
type probeSetup int

const (
	setupNone       probeSetup = iota // no readiness probe, no preStop
	setupShallow                      // the app's own /healthz as readiness probe, no preStop
	setupHealthgate                   // healthgate: wait init container, native sidecar whose /readyz is the app's readiness, preStop sleep
)

func (s probeSetup) String() string {
	return [...]string{"no readiness probe", "app's shallow /healthz", "healthgate sidecar"}[s]
}

// appOpts describe a Deployment of the demo app (and its Service, port 80 → 8080).
type appOpts struct {
	name      string
	replicas  int
	version   string
	setup     probeSetup
	configMap string // the chart's ConfigMap (setupHealthgate)
}

// depsEnv sets DATABASE_URL and REDIS_URL from Secret demo-db (depsSecret), in an env list.
const depsEnv = `
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: demo-db, key: url}}
            - name: REDIS_URL
              valueFrom: {secretKeyRef: {name: demo-db, key: redis}}`

const restrictedContainer = `
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: ["ALL"]}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 128Mi}`

// demoApp renders the Deployment and Service. With setupHealthgate the pod has, as charts/healthgate's
// README shape B and examples/kubernetes/deployment-sidecar.yaml show: a `wait` init container, healthgate as
// a native sidecar (startup /startupz, liveness /livez, readiness /readyz on 8081: a sidecar's readiness is
// part of the pod's), the app's readiness on its own endpoint, and a preStop sleep of shutdown_delay.
func demoApp(o appOpts) string {
	if o.version == "" {
		o.version = "v1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
`, o.name, o.replicas)
	healthgateEnv := `
          env:` + depsEnv
	if o.setup == setupHealthgate {
		fmt.Fprintf(&b, `      initContainers:
        - name: wait-for-deps
          image: localhost/hg-healthgate:v1
          imagePullPolicy: Never
          args: ["wait", "--config", "/etc/healthgate/healthgate.yaml"]%[2]s
          volumeMounts: [{name: healthgate-config, mountPath: /etc/healthgate, readOnly: true}]%[1]s
        - name: healthgate
          image: localhost/hg-healthgate:v1
          imagePullPolicy: Never
          restartPolicy: Always
          args: ["serve", "--config", "/etc/healthgate/healthgate.yaml", "--log-format", "json"]
          ports: [{name: healthgate, containerPort: 8081}]%[2]s
          startupProbe: {httpGet: {path: /startupz, port: healthgate}, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 600}
          livenessProbe: {httpGet: {path: /livez, port: healthgate}, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3}
          readinessProbe: {httpGet: {path: /readyz, port: healthgate}, periodSeconds: %[3]d, timeoutSeconds: 1, failureThreshold: %[4]d}
          volumeMounts: [{name: healthgate-config, mountPath: /etc/healthgate, readOnly: true}]%[1]s
`, restrictedContainer, healthgateEnv, readinessPeriod, probeFailures)
	}
	fmt.Fprintf(&b, `      containers:
        - name: app
          image: localhost/hg-demo:%[1]s
          imagePullPolicy: Never
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: VERSION, value: %[1]s}
            - {name: SHUTDOWN_GRACE, value: 1s}%[2]s%[3]s
`, o.version, depsEnv, restrictedContainer)
	switch o.setup {
	case setupShallow:
		b.WriteString(`          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1}
`)
	case setupHealthgate:
		// The app's own readiness says it listens; the sidecar's readiness (/readyz) says its dependencies
		// answer; the pod is Ready when both are. Pointing the app's probe at the sidecar's /readyz instead
		// made the pod Ready before the app had bound its port (refused requests in rolling updates: the
		// sidecar's /readyz already passed when the app container started).
		fmt.Fprintf(&b, `          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: %d, timeoutSeconds: 1, failureThreshold: %d}
          lifecycle:
            preStop: {sleep: {seconds: %d}}
      volumes:
        - name: healthgate-config
          configMap: {name: %s}
`, readinessPeriod, probeFailures, preStopSeconds, o.configMap)
	}
	fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http}]
`, o.name)
	return b.String()
}

// deployDemo installs the chart (config only) as release "hg", the Secret, and the demo app with its
// dependencies at d; it returns once every replica is Ready with an endpoint ready=true, and the ClusterIP
// answers 200.
func (n *node) deployDemo(t *testing.T, ns string, o appOpts, d deps) string {
	t.Helper()
	n.depsSecret(ns, d)
	if o.setup == setupHealthgate {
		n.helmInstall(ns, "hg", configOnlyValues())
		o.configMap = "hg-healthgate"
	}
	n.apply(ns, demoApp(o))
	n.waitReady(ns, o.name, o.replicas, 180e9)
	return n.clusterIP(ns, o.name)
}
