package policy

import (
	"strings"
	"testing"
)

// good is a minimal set that passes every rule: a ConfigMap, a Deployment serving healthgate with a native
// sidecar-free layout, its Service, a PDB, and a helm test pod.
const good = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
data:
  healthgate.yaml: |
    server: {listen: ":8080", shutdown_delay: 5s, shutdown_timeout: 10s}
    checks:
      - {name: db, type: postgres, url: "${DATABASE_URL}"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
  template:
    metadata:
      labels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 20
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: healthgate
          image: ghcr.io/healthgate/healthgate:1.0.0
          args: [serve, --config, /etc/healthgate/healthgate.yaml]
          ports: [{name: http, containerPort: 8080}]
          env:
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: db, key: url}}
          livenessProbe: {httpGet: {path: /livez, port: http}}
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          startupProbe: {httpGet: {path: /startupz, port: http}}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts: [{name: config, mountPath: /etc/healthgate}]
      volumes:
        - name: config
          configMap: {name: hg}
---
apiVersion: v1
kind: Service
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
  ports: [{name: http, port: 8080, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
---
apiVersion: v1
kind: Pod
metadata:
  name: hg-test
  labels: {app.kubernetes.io/name: hg-test}
  annotations: {helm.sh/hook: test}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: wait
      image: ghcr.io/healthgate/healthgate:1.0.0
      args: [wait, --http, "http://hg:8080/readyz", --timeout, 60s]
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {memory: 64Mi}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
`

// expectFinding checks manifest: no finding at all when want is empty, else one (of rule, unless rule
// is empty) whose message contains want.
func expectFinding(t *testing.T, manifest, rule, want string) {
	t.Helper()
	findings, err := check(t, manifest)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if want == "" {
		for _, f := range findings {
			t.Errorf("unexpected finding: %s", f)
		}
		return
	}
	for _, f := range findings {
		if (rule == "" || f.Rule == rule) && strings.Contains(f.Msg, want) {
			return
		}
	}
	t.Errorf("got %v, want a finding with %q", findings, want)
}

func check(t *testing.T, manifest string) ([]Finding, error) {
	t.Helper()
	objs, err := Decode("test.yaml", []byte(manifest))
	if err != nil {
		return nil, err
	}
	return Check(objs), nil
}

func TestGoodIsClean(t *testing.T) {
	findings, err := check(t, good)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, f := range findings {
		t.Errorf("unexpected finding: %s", f)
	}
}

// Each case breaks one thing in the good set; the checker must name it.
func TestFindings(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string
		wantRule  string // "" means a strict decode error is expected
		wantInMsg string
	}{
		{name: "unknown field", old: "      terminationGracePeriodSeconds: 20", new: "      terminationGracePeriodSecond: 20", wantInMsg: "unknown field"},
		{name: "wrong case field", old: "containerPort: 8080", new: "ContainerPort: 8080", wantInMsg: "unknown field"},
		{name: "duplicate field", old: "      terminationGracePeriodSeconds: 20", new: "      terminationGracePeriodSeconds: 20\n      terminationGracePeriodSeconds: 25", wantInMsg: "already set"},
		{name: "unknown kind", old: "kind: PodDisruptionBudget", new: "kind: PodDisruptionBudgett", wantInMsg: "no kind"},
		{name: "selector not in template", old: "    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  template", new: "    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: other}\n  template", wantRule: RuleSelector, wantInMsg: "not a subset"},
		{name: "selector extra key", old: "    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  template:\n    metadata:\n      labels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}", new: "    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x, app.kubernetes.io/version: v1}\n  template:\n    metadata:\n      labels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x, app.kubernetes.io/version: v1}", wantRule: RuleSelector, wantInMsg: "immutable"},
		{name: "token mounted", old: "    spec:\n      automountServiceAccountToken: false", new: "    spec:\n      automountServiceAccountToken: true", wantRule: RulePodSecurity, wantInMsg: "automountServiceAccountToken"},
		{name: "root allowed", old: "      securityContext:\n        runAsNonRoot: true", new: "      securityContext:\n        runAsNonRoot: false", wantRule: RulePodSecurity, wantInMsg: "runAsNonRoot"},
		{name: "wrong uid", old: "        runAsUser: 65532\n        runAsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      containers", new: "        runAsUser: 1000\n        runAsGroup: 65532\n        seccompProfile: {type: RuntimeDefault}\n      containers", wantRule: RulePodSecurity, wantInMsg: "65532"},
		{name: "nfs volume", old: "          configMap: {name: hg}\n", new: "          configMap: {name: hg}\n        - {name: shared, nfs: {server: nfs.internal, path: /exports}}\n", wantRule: RulePodSecurity, wantInMsg: `volume "shared": only configMap`},
		{name: "host port", old: "ports: [{name: http, containerPort: 8080}]", new: "ports: [{name: http, containerPort: 8080, hostPort: 8080}]", wantRule: RulePodSecurity, wantInMsg: "hostPort 8080"},
		{name: "no seccomp", old: "        seccompProfile: {type: RuntimeDefault}\n      containers", new: "        seccompProfile: {type: Unconfined}\n      containers", wantRule: RulePodSecurity, wantInMsg: "seccomp"},
		{name: "privilege escalation", old: "          securityContext:\n            allowPrivilegeEscalation: false", new: "          securityContext:\n            allowPrivilegeEscalation: true", wantRule: RulePodSecurity, wantInMsg: "allowPrivilegeEscalation"},
		{name: "writable root", old: "            readOnlyRootFilesystem: true", new: "            readOnlyRootFilesystem: false", wantRule: RulePodSecurity, wantInMsg: "readOnlyRootFilesystem"},
		{name: "caps kept", old: "            capabilities: {drop: [ALL]}", new: "            capabilities: {drop: [NET_RAW]}", wantRule: RulePodSecurity, wantInMsg: "drop must contain ALL"},
		{name: "no memory limit", old: "            limits: {memory: 64Mi}\n          securityContext", new: "            limits: {cpu: 100m}\n          securityContext", wantRule: RuleResources, wantInMsg: "memory limit"},
		{name: "no cpu request", old: "            requests: {cpu: 10m, memory: 32Mi}", new: "            requests: {memory: 32Mi}", wantRule: RuleResources, wantInMsg: "cpu request"},
		{name: "latest image", old: "          image: ghcr.io/healthgate/healthgate:1.0.0\n          args: [serve", new: "          image: ghcr.io/healthgate/healthgate:latest\n          args: [serve", wantRule: RuleImage, wantInMsg: "latest"},
		{name: "shell command", old: "          args: [serve, --config", new: "          command: [/bin/sh, -c]\n          args: [serve, --config", wantRule: RuleImage, wantInMsg: "no shell"},
		{name: "liveness on readyz", old: "livenessProbe: {httpGet: {path: /livez", new: "livenessProbe: {httpGet: {path: /readyz", wantRule: RuleProbes, wantInMsg: "database outage"},
		{name: "readiness wrong path", old: "readinessProbe: {httpGet: {path: /readyz", new: "readinessProbe: {httpGet: {path: /healthz", wantRule: RuleProbes, wantInMsg: `want "/readyz"`},
		{name: "no startup probe", old: "          startupProbe: {httpGet: {path: /startupz, port: http}}\n", new: "", wantRule: RuleProbes, wantInMsg: "no startupProbe"},
		{name: "probe named port missing", old: "readinessProbe: {httpGet: {path: /readyz, port: http}}", new: "readinessProbe: {httpGet: {path: /readyz, port: web}}", wantRule: RuleProbes, wantInMsg: `"web" is not a named port`},
		{name: "listen differs from port", old: `listen: ":8080"`, new: `listen: ":9000"`, wantRule: RulePorts, wantInMsg: "listens on 9000"},
		{name: "listen port unnamed", old: "ports: [{name: http, containerPort: 8080}]", new: "ports: [{containerPort: 8080}]", wantRule: RulePorts, wantInMsg: "has no name"},
		{name: "probe on another port", old: "livenessProbe: {httpGet: {path: /livez, port: http}}", new: "livenessProbe: {httpGet: {path: /livez, port: 9000}}", wantRule: RuleProbes, wantInMsg: "not healthgate's listen port 8080"},
		{name: "grace too short", old: "      terminationGracePeriodSeconds: 20", new: "      terminationGracePeriodSeconds: 15", wantRule: RuleGrace, wantInMsg: "mid-drain"},
		{name: "grace default too short", old: "shutdown_delay: 5s, shutdown_timeout: 10s}", new: "shutdown_delay: 20s, shutdown_timeout: 10s}", wantRule: RuleGrace, wantInMsg: "30s"},
		{name: "var from an optional ref", old: "{secretKeyRef: {name: db, key: url}}", new: "{secretKeyRef: {name: db, key: url, optional: true}}", wantRule: RuleConfig, wantInMsg: "whose env entry is optional"},
		{name: "var from optional envFrom only", old: "          env:\n            - name: DATABASE_URL\n              valueFrom: {secretKeyRef: {name: db, key: url}}\n", new: "          envFrom: [{secretRef: {name: db, optional: true}}]\n", wantRule: RuleConfig, wantInMsg: "only optional envFrom sources could"},
		{name: "var not provided", old: "            - name: DATABASE_URL\n", new: "            - name: DB_URL\n", wantRule: RuleConfig, wantInMsg: "${DATABASE_URL}"},
		{name: "config not in set", old: "          configMap: {name: hg}", new: "          configMap: {name: other}", wantRule: RuleConfig, wantInMsg: "not a file of a ConfigMap"},
		{name: "server key misspelt", old: `server: {listen: ":8080",`, new: `server: {listne: ":9000", listen: ":8080",`, wantRule: RuleConfig, wantInMsg: `listne: unknown field (did you mean "listen"?)`},
		{name: "server not a mapping", old: `server: {listen: ":8080", shutdown_delay: 5s, shutdown_timeout: 10s}`, new: `server: ":8080"`, wantRule: RuleConfig, wantInMsg: "server: must be a mapping"},
		{name: "grpc port not declared", old: `server: {listen: ":8080",`, new: `server: {grpc_listen: ":9090", listen: ":8080",`, wantRule: RulePorts, wantInMsg: "grpc_listen is 9090"},
		{name: "inline url password", old: `url: "${DATABASE_URL}"`, new: `url: "postgres://app:hunter2@db/app"`, wantRule: RuleSecrets, wantInMsg: "inline password"},
		{name: "inline dsn password", old: `url: "${DATABASE_URL}"`, new: `url: "host=db password=hunter2"`, wantRule: RuleSecrets, wantInMsg: "password="},
		{name: "inline token", old: `server: {listen: ":8080",`, new: `server: {details_token: s3cr3t, listen: ":8080",`, wantRule: RuleSecrets, wantInMsg: "details_token"},
		{name: "inline numeric token", old: `server: {listen: ":8080",`, new: `server: {details_token: 12345678, listen: ":8080",`, wantRule: RuleSecrets, wantInMsg: "details_token"},
		{name: "inline numeric memcached password", old: `      - {name: db, type: postgres, url: "${DATABASE_URL}"}`, new: `      - {name: db, type: postgres, url: "${DATABASE_URL}"}` + "\n" + `      - {name: sessions, type: memcached, address: "memcached:11211", username: app, password: 20240101}`, wantRule: RuleSecrets, wantInMsg: "password: secret-looking key holds a literal value"},
		{name: "inline memcached password", old: `      - {name: db, type: postgres, url: "${DATABASE_URL}"}`, new: `      - {name: db, type: postgres, url: "${DATABASE_URL}"}` + "\n" + `      - {name: sessions, type: memcached, address: "memcached:11211", username: app, password: hunter2}`, wantRule: RuleSecrets, wantInMsg: "password: secret-looking key holds a literal value"},
		{name: "inline auth header", old: `url: "${DATABASE_URL}"}`, new: `url: "${DATABASE_URL}", headers: {Authorization: "Bearer abc"}}`, wantRule: RuleSecrets, wantInMsg: "Authorization"},
		{name: "secret query param", old: `url: "${DATABASE_URL}"`, new: `url: "https://x/healthz?api_key=abc"`, wantRule: RuleSecrets, wantInMsg: "api_key"},
		{name: "secret query password", old: `url: "${DATABASE_URL}"`, new: `url: "postgres://app@db:5432/app?password=hunter2"`, wantRule: RuleSecrets, wantInMsg: `query parameter "password"`},
		{name: "secret query token", old: `url: "${DATABASE_URL}"`, new: `url: "https://x/healthz?a=1&token=abc"`, wantRule: RuleSecrets, wantInMsg: `query parameter "token"`},
		{name: "password with a host variable", old: `url: "${DATABASE_URL}"`, new: `url: "postgres://app:hunter2@${DB_HOST}/app"`, wantRule: RuleSecrets, wantInMsg: "inline password"},
		{name: "password as a variable default", old: `url: "${DATABASE_URL}"`, new: `url: "postgres://app:${PW:-hunter2}@db/app"`, wantRule: RuleSecrets, wantInMsg: "inline password"},
		{name: "inline dsn sslpassword", old: `url: "${DATABASE_URL}"`, new: `url: "host=db sslpassword=hunter2"`, wantRule: RuleSecrets, wantInMsg: "sslpassword="},
		{name: "literal custom header", old: `url: "${DATABASE_URL}"}`, new: `url: "${DATABASE_URL}", headers: {X-Auth: hunter2}}`, wantRule: RuleSecrets, wantInMsg: "header X-Auth"},
		{name: "inline mysql dsn password", old: `url: "${DATABASE_URL}"`, new: `url: "app:hunter2@tcp(db:3306)/orders"`, wantRule: RuleSecrets, wantInMsg: "value has an inline password"},
		{name: "inline mysql dsn password, no protocol", old: `url: "${DATABASE_URL}"`, new: `url: "app:hunter2@/orders"`, wantRule: RuleSecrets, wantInMsg: "value has an inline password"},
		{name: "inline nats token", old: `url: "${DATABASE_URL}"`, new: `url: "nats://s3cr3t@nats:4222"`, wantRule: RuleSecrets, wantInMsg: "an inline token (the user name of a nats:// URL)"},
		{name: "inline mqtt token", old: `url: "${DATABASE_URL}"`, new: `url: "mqtt://A1_TEST_TOKEN@mosquitto:1883"`, wantRule: RuleSecrets, wantInMsg: "an inline token (the user name of a mqtt:// URL)"},
		{name: "env literal mysql dsn", old: "            - name: DATABASE_URL\n              valueFrom: {secretKeyRef: {name: db, key: url}}", new: "            - name: DATABASE_URL\n              value: app:hunter2@unix(/run/mysqld/mysqld.sock)/orders", wantRule: RuleSecrets, wantInMsg: "env[0] DATABASE_URL: value has an inline password"},
		{name: "env literal nats token", old: "            - name: DATABASE_URL\n              valueFrom: {secretKeyRef: {name: db, key: url}}", new: "            - name: DATABASE_URL\n              value: tls://s3cr3t@nats:4222", wantRule: RuleSecrets, wantInMsg: "env[0] DATABASE_URL: value has an inline token"},
		{name: "env literal url password", old: "            - name: DATABASE_URL\n              valueFrom: {secretKeyRef: {name: db, key: url}}", new: "            - name: DATABASE_URL\n              value: postgres://app:hunter2@db/app", wantRule: RuleSecrets, wantInMsg: "env[0] DATABASE_URL: value has an inline password"},
		{name: "env literal secret query", old: "            - name: DATABASE_URL\n              valueFrom: {secretKeyRef: {name: db, key: url}}", new: "            - name: DATABASE_URL\n              value: https://x/h?api_key=abc", wantRule: RuleSecrets, wantInMsg: `query parameter "api_key"`},
		{name: "env secret name literal", old: "            - name: DATABASE_URL\n", new: "            - {name: API_TOKEN, value: abc}\n            - name: DATABASE_URL\n", wantRule: RuleSecrets, wantInMsg: "API_TOKEN: a secret-looking name"},
		{name: "env name twice", old: "              valueFrom: {secretKeyRef: {name: db, key: url}}\n", new: "              valueFrom: {secretKeyRef: {name: db, key: url}}\n            - {name: DATABASE_URL, value: \"postgres://db/app\"}\n", wantRule: RuleEnv, wantInMsg: "env[1] DATABASE_URL: already set by env[0]"},
		{name: "readiness period too long", old: "readinessProbe: {httpGet: {path: /readyz, port: http}}", new: "readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 15}", wantRule: RuleProbes, wantInMsg: "readinessProbe periodSeconds 15"},
		{name: "startup period too long", old: "startupProbe: {httpGet: {path: /startupz, port: http}}", new: "startupProbe: {httpGet: {path: /startupz, port: http}, periodSeconds: 30, failureThreshold: 20}", wantRule: RuleProbes, wantInMsg: "startupProbe periodSeconds 30"},
		{name: "startup budget under the first run", old: "startupProbe: {httpGet: {path: /startupz, port: http}}", new: "startupProbe: {httpGet: {path: /startupz, port: http}, periodSeconds: 1, failureThreshold: 2}", wantRule: RuleProbes, wantInMsg: "longest check timeout 2s"},
		{name: "service selects nothing", old: "  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  ports", new: "  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: z}\n  ports", wantRule: RuleService, wantInMsg: "matches no pod"},
		{name: "service target port", old: "targetPort: http}", new: "targetPort: metrics}", wantRule: RuleService, wantInMsg: "targetPort metrics"},
		{name: "pdb blocks drains", old: "  maxUnavailable: 1", new: "  minAvailable: 2", wantRule: RulePDB, wantInMsg: "node drains block"},
		{name: "pdb blocks drains, percent", old: "  maxUnavailable: 1", new: "  minAvailable: 51%", wantRule: RulePDB, wantInMsg: "minAvailable 51% >= replicas 2"},
		{name: "pdb maxUnavailable 0", old: "  maxUnavailable: 1", new: "  maxUnavailable: 0", wantRule: RulePDB, wantInMsg: "maxUnavailable 0 of 2 replicas"},
		{name: "pdb maxUnavailable 0%", old: "  maxUnavailable: 1", new: "  maxUnavailable: 0%", wantRule: RulePDB, wantInMsg: "maxUnavailable 0% of 2 replicas"},
		{name: "pdb selects nothing", old: "  selector:\n    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n---\napiVersion: v1\nkind: Pod", new: "  selector:\n    matchLabels: {app.kubernetes.io/name: hgx}\n---\napiVersion: v1\nkind: Pod", wantRule: RulePDB, wantInMsg: "matches no pod"},
		{name: "test pod selected by service", old: "  labels: {app.kubernetes.io/name: hg-test}", new: "  labels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}", wantRule: RuleService, wantInMsg: "test pod"},
		{name: "test pod restarts", old: "  restartPolicy: Never", new: "  restartPolicy: OnFailure", wantRule: RuleTestHook, wantInMsg: "Never"},
		{name: "test pod wrong service", old: `"http://hg:8080/readyz"`, new: `"http://nope:8080/readyz"`, wantRule: RuleTestHook, wantInMsg: `no Service "nope"`},
		{name: "test pod no timeout", old: `"http://hg:8080/readyz", --timeout, 60s]`, new: `"http://hg:8080/readyz"]`, wantRule: RuleTestHook, wantInMsg: "--timeout"},
		{name: "rollout default strategy", old: "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n", new: "", wantRule: RuleRollout, wantInMsg: "maxUnavailable must be 0"},
		{name: "rollout maxUnavailable 1", old: "maxUnavailable: 0}}", new: "maxUnavailable: 1}}", wantRule: RuleRollout, wantInMsg: "maxUnavailable must be 0"},
		{name: "rollout recreate", old: "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}", new: "  strategy: {type: Recreate}", wantRule: RuleRollout, wantInMsg: "Recreate"},
		{name: "missing name label", old: "  name: hg\n  labels: {app.kubernetes.io/name: hg}\nspec:\n  selector", new: "  name: hg\n  labels: {app: hg}\nspec:\n  selector", wantRule: RuleLabels, wantInMsg: "app.kubernetes.io/name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("test setup: %q not in the good manifest", tt.old)
			}
			findings, err := check(t, strings.Replace(good, tt.old, tt.new, 1))
			if tt.wantRule == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantInMsg) {
					t.Fatalf("decode error = %v, want one containing %q", err, tt.wantInMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			for _, f := range findings {
				if f.Rule == tt.wantRule && strings.Contains(f.Msg, tt.wantInMsg) {
					return
				}
			}
			t.Errorf("got findings %v, want rule %q with %q", findings, tt.wantRule, tt.wantInMsg)
		})
	}
}

// TestServiceTargetPortOmitted: a Service port without targetPort targets its own port number (the API
// server's default), which a container may declare.
func TestServiceTargetPortOmitted(t *testing.T) {
	expectFinding(t, strings.Replace(good, "port: 8080, targetPort: http}", "port: 8080}", 1), "", "")
	expectFinding(t, strings.Replace(good, "port: 8080, targetPort: http}", "port: 8081}", 1), RuleService, "targetPort 8081 is not a container port")
}

// TestTestHookDefaultPort: a test pod's --http URL without a port reaches the Service on its scheme's port.
func TestTestHookDefaultPort(t *testing.T) {
	m := strings.NewReplacer("ports: [{name: http, port: 8080, targetPort: http}]", "ports: [{name: http, port: 80, targetPort: http}]",
		`"http://hg:8080/readyz"`, `"http://hg/readyz"`).Replace(good)
	expectFinding(t, m, "", "")
	expectFinding(t, strings.Replace(m, `"http://hg/readyz"`, `"https://hg/readyz"`, 1), RuleTestHook, `no Service "hg" with port 443`)
}

func TestGRPCProbes(t *testing.T) {
	base := strings.NewReplacer(
		`server: {listen: ":8080",`, `server: {grpc_listen: ":9090", listen: ":8080",`,
		"ports: [{name: http, containerPort: 8080}]", "ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9090}]",
	).Replace(good)
	tests := []struct {
		name, liveness, readiness, want string
	}{
		{name: "liveness and readiness services", liveness: "liveness", readiness: "readiness"},
		{name: "readiness as the whole server", liveness: "liveness", readiness: `""`},
		{name: "liveness on readiness", liveness: "readiness", readiness: "readiness", want: `asks gRPC service "readiness"`},
		{name: "liveness on a check", liveness: "db", readiness: "readiness", want: `asks gRPC service "db"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := strings.NewReplacer(
				"livenessProbe: {httpGet: {path: /livez, port: http}}", "livenessProbe: {grpc: {port: 9090, service: "+tt.liveness+"}}",
				"readinessProbe: {httpGet: {path: /readyz, port: http}}", "readinessProbe: {grpc: {port: 9090, service: "+tt.readiness+"}}",
			).Replace(base)
			expectFinding(t, m, "", tt.want)
		})
	}
}

func TestGRPCServiceAppProtocol(t *testing.T) {
	base := strings.NewReplacer(
		`server: {listen: ":8080",`, `server: {grpc_listen: ":9090", listen: ":8080",`,
		"ports: [{name: http, containerPort: 8080}]", "ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9090}]",
	).Replace(good)
	tests := []struct {
		name, port, want string
	}{
		{name: "h2c", port: "{name: grpc, port: 9090, targetPort: grpc, appProtocol: kubernetes.io/h2c}"},
		{name: "by number", port: "{name: grpc, port: 9090, targetPort: 9090, appProtocol: kubernetes.io/h2c}"},
		{name: "grpc is not standard", port: "{name: grpc, port: 9090, targetPort: grpc, appProtocol: grpc}", want: "appProtocol grpc, want kubernetes.io/h2c"},
		{name: "none", port: "{name: health, port: 9090, targetPort: 9090}", want: "appProtocol <none>"},
		{name: "targetPort omitted", port: "{name: grpc, port: 9090, appProtocol: kubernetes.io/h2c}"},
		{name: "targetPort omitted, none", port: "{name: health, port: 9090}", want: "appProtocol <none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := strings.Replace(base, "ports: [{name: http, port: 8080, targetPort: http}]", "ports: [{name: http, port: 8080, targetPort: http}, "+tt.port+"]", 1)
			expectFinding(t, m, RuleService, tt.want)
		})
	}
}

func TestNativeSidecar(t *testing.T) {
	const pod = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {app.kubernetes.io/name: app}}
data:
  healthgate.yaml: |
    server: {listen: ":8081"}
---
apiVersion: v1
kind: Pod
metadata: {name: app, labels: {app.kubernetes.io/name: app}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
  initContainers:
    - name: healthgate
      image: ghcr.io/healthgate/healthgate:1.0.0
      restartPolicy: Always
      args: [serve, --config, /etc/healthgate/healthgate.yaml]
      ports: [{name: http, containerPort: 8081}]
      livenessProbe: {httpGet: {path: /livez, port: http}}
      readinessProbe: {httpGet: {path: /readyz, port: http}}
      startupProbe: {httpGet: {path: /startupz, port: http}}
      resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 64Mi}}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      volumeMounts: [{name: config, mountPath: /etc/healthgate}]
  containers:
    - name: app
      image: example.com/app:1
      ports: [{name: APPNAME, containerPort: APPPORT}]
      readinessProbe: {httpGet: {path: /readyz, port: PROBEPORT}}
      resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 64Mi}}
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
  volumes: [{name: config, configMap: {name: cfg}}]
`
	tests := []struct {
		name, appPort, probePort, appPortName, want string
	}{
		{name: "app probes the sidecar by number", appPort: "8080", probePort: "8081"},
		{name: "named port of another container", appPort: "8080", probePort: "healthgate", want: "named ports resolve per container"},
		{name: "same port twice", appPort: "8081", probePort: "8081", want: "one network namespace"},
		{name: "same port twice, one with its protocol written", appPort: "8081, protocol: TCP", probePort: "8081", want: "one network namespace"},
		{name: "same port name twice", appPort: "8080", probePort: "8081", appPortName: "http", want: `port name "http" is also used`},
		{name: "port nobody listens on", appPort: "8080", probePort: "9999", want: "not a container port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.appPortName
			if name == "" {
				name = "web"
			}
			m := strings.NewReplacer("APPPORT", tt.appPort, "PROBEPORT", tt.probePort, "APPNAME", name).Replace(pod)
			expectFinding(t, m, "", tt.want)
		})
	}
}

func TestIsOnlyRefs(t *testing.T) {
	for in, want := range map[string]bool{
		"${TOKEN}": true, "Bearer ${TOKEN}": true, "${A:-}": true, "${A}${B}": true,
		"abc": false, "Bearer abc": false, "x${A}": false, "": false,
		"${A:-hunter2}": false, "Bearer ${A:-abc}": false,
	} {
		if got := isOnlyRefs(in); got != want {
			t.Errorf("isOnlyRefs(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestConfigs(t *testing.T) {
	const cm = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {app.kubernetes.io/name: x}}
data:
  other.txt: "not yaml: ["
  healthgate.yaml: |
    server: {details: token, details_token: "${TOKEN:-}"}
    checks:
      - {name: db, type: postgres, url: "${DATABASE_URL}"}
      - {name: cache, type: redis, url: "redis://:${REDIS_PASSWORD}@redis:6379/0"}
      - {name: api, type: http, url_file: /etc/healthgate/secrets/api-url, headers: {Authorization: "Bearer ${API_TOKEN}"}, headers_file: {X-Api-Key: /etc/healthgate/secrets/api-key}}
      - {name: mq, type: tcp, address: "${MQ_ADDRESS:-rabbitmq:5672}"}
      - {name: legacy, type: tcp, address: "${LEGACY}"}
`
	objs, err := Decode("cm.yaml", []byte(cm))
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := Configs(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 1 {
		t.Fatalf("got %d configs, want 1", len(cfgs))
	}
	c := cfgs[0]
	if c.Checks != 5 {
		t.Errorf("Checks = %d, want 5", c.Checks)
	}
	wantEnv := map[string]string{
		"TOKEN":          "placeholder",
		"DATABASE_URL":   "postgres://healthgate@127.0.0.1:9/healthgate?sslmode=disable",
		"REDIS_PASSWORD": "placeholder",
		"API_TOKEN":      "placeholder",
		"LEGACY":         "127.0.0.1:9",
	}
	if len(c.Env) != len(wantEnv) {
		t.Errorf("got env %v, want %v", c.Env, wantEnv)
	}
	for k, want := range wantEnv {
		if got := c.Env[k]; got != want {
			t.Errorf("env %s = %q, want %q", k, got, want)
		}
	}
	if got, want := c.Files["/etc/healthgate/secrets/api-url"], "http://127.0.0.1:9/healthz"; got != want {
		t.Errorf("file placeholder = %q, want %q", got, want)
	}
	if _, ok := c.Files["/etc/healthgate/secrets/api-key"]; !ok {
		t.Errorf("no placeholder for the headers_file value; files: %v", c.Files)
	}
}

// fleetGood is the good set with fleet-aware readiness: a shared check, fleet.peers naming a headless
// peers Service that keeps unready pods (publishNotReadyAddresses) on the listen port.
var fleetGood = strings.NewReplacer(
	"    checks:\n      - {name: db, type: postgres, url: \"${DATABASE_URL}\"}",
	"    fleet: {peers: \"dns:///hg-peers.shop.svc.cluster.local:8080\", token: \"${FLEET_TOKEN:-}\"}\n    checks:\n      - {name: db, type: postgres, url: \"${DATABASE_URL}\", scope: shared}",
	"---\napiVersion: policy/v1",
	`---
apiVersion: v1
kind: Service
metadata:
  name: hg-peers
  labels: {app.kubernetes.io/name: hg, app.kubernetes.io/component: fleet-peers}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
  ports: [{name: http, port: 8080, targetPort: http}]
---
apiVersion: policy/v1`,
).Replace(good)

// TestFleet: each case breaks the peers Service or target; the rule must name what breaks discovery.
func TestFleet(t *testing.T) {
	if !strings.Contains(fleetGood, "hg-peers") || !strings.Contains(fleetGood, "fleet: {peers") {
		t.Fatal("test setup: fleetGood did not get the peers Service and fleet section")
	}
	tests := []struct {
		name, old, new, want string
	}{
		{name: "clean"},
		{name: "short name", old: "hg-peers.shop.svc.cluster.local:8080", new: "hg-peers:8080"},
		{name: "static list", old: `peers: "dns:///hg-peers.shop.svc.cluster.local:8080"`, new: `peers: ["10.0.0.1:8080", "10.0.0.2:8080"]`},
		{name: "outside the cluster", old: "dns:///hg-peers.shop.svc.cluster.local:8080", new: "dns:///peers.example.com:8080"},
		{name: "not headless", old: "  clusterIP: None\n", new: "", want: "must be headless"},
		{name: "unready pods left out", old: "  publishNotReadyAddresses: true\n", new: "", want: "publishNotReadyAddresses: true"},
		{name: "selects other pods", old: "  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  ports: [{name: http, port: 8080, targetPort: http}]\n---\napiVersion: policy/v1", new: "  selector: {app.kubernetes.io/name: other}\n  ports: [{name: http, port: 8080, targetPort: http}]\n---\napiVersion: policy/v1", want: "does not select this workload"},
		{name: "service port instead of pod port", old: "hg-peers.shop.svc.cluster.local:8080", new: "hg-peers.shop.svc.cluster.local:80", want: "port 80 is dialled on the pod IPs"},
		{name: "unknown service", old: "dns:///hg-peers.shop", new: "dns:///hg-peerz.shop", want: `no Service "hg-peerz"`},
		{name: "literal token", old: `token: "${FLEET_TOKEN:-}"`, new: `token: s3cr3t`, want: "secret-looking key"},
		// healthgate check ignores the fleet section (serve alone uses it): the policy reports its errors.
		{name: "fleet key misspelt", old: `fleet: {peers:`, new: `fleet: {min_podz: 3, peers:`, want: `min_podz: unknown field (did you mean "min_pods"?)`},
		{name: "fleet ratio out of range", old: `fleet: {peers:`, new: `fleet: {fail_open_ratio: 2, peers:`, want: "fail_open_ratio: must be greater than 0 and at most 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(fleetGood, tt.old) {
				t.Fatalf("test setup: %q not in fleetGood", tt.old)
			}
			expectFinding(t, strings.Replace(fleetGood, tt.old, tt.new, 1), "", tt.want)
		})
	}
}

// TestServiceMonitorScrapesOnce: a ServiceMonitor matching both the main and the peers Service (same pods)
// would scrape every pod twice.
func TestServiceMonitorScrapesOnce(t *testing.T) {
	sm := func(sel string) string {
		return fleetGood + `---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  selector:
    matchLabels: ` + sel + `
  endpoints: [{port: http, path: /metrics}]
`
	}
	withComponent := strings.Replace(sm("{app.kubernetes.io/name: hg, app.kubernetes.io/component: health-server}"),
		"  name: hg\n  labels: {app.kubernetes.io/name: hg}\nspec:\n  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  ports: [{name: http, port: 8080, targetPort: http}]",
		"  name: hg\n  labels: {app.kubernetes.io/name: hg, app.kubernetes.io/component: health-server}\nspec:\n  selector: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}\n  ports: [{name: http, port: 8080, targetPort: http}]", 1)
	if !strings.Contains(withComponent, "component: health-server}\nspec") {
		t.Fatal("test setup: main Service not relabelled")
	}
	expectFinding(t, withComponent, RuleMonitor, "")
	expectFinding(t, sm("{app.kubernetes.io/name: hg}"), RuleMonitor, "scraped twice")
}

// TestConfigsFleet: the fleet section's token (a ${VAR} or token_file) gets a placeholder too, so the
// rendered config loads with it set.
func TestConfigsFleet(t *testing.T) {
	for _, tt := range []struct{ token, env, file string }{
		{token: `token: "${HEALTHGATE_FLEET_TOKEN:-}"`, env: "HEALTHGATE_FLEET_TOKEN"},
		{token: `token_file: /etc/healthgate/fleet/token`, file: "/etc/healthgate/fleet/token"},
	} {
		cm := `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {app.kubernetes.io/name: x}}
data:
  healthgate.yaml: |
    fleet: {peers: "dns:///p.ns.svc.cluster.local:8080", ` + tt.token + `}
    checks:
      - {name: db, type: postgres, url: "${DATABASE_URL}", scope: shared}
`
		objs, err := Decode("cm.yaml", []byte(cm))
		if err != nil {
			t.Fatal(err)
		}
		cfgs, err := Configs(objs)
		if err != nil || len(cfgs) != 1 {
			t.Fatalf("Configs = %v, %v; want one", cfgs, err)
		}
		c := cfgs[0]
		if tt.env != "" && c.Env[tt.env] != "placeholder" {
			t.Errorf("%s: env %v, want a placeholder for %s", tt.token, c.Env, tt.env)
		}
		if tt.file != "" && c.Files[tt.file] != "placeholder" {
			t.Errorf("%s: files %v, want a placeholder at %s", tt.token, c.Files, tt.file)
		}
	}
}

// TestConfigsCheckNotAMapping: a check that is not a mapping is an error naming it, not a silent skip.
func TestConfigsCheckNotAMapping(t *testing.T) {
	objs, err := Decode("cm.yaml", []byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {app.kubernetes.io/name: x}}
data:
  healthgate.yaml: |
    checks:
      - {name: db, type: postgres, url: "${DATABASE_URL}"}
      - just a string
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Configs(objs); err == nil || !strings.Contains(err.Error(), "cfg/healthgate.yaml: checks[1] is not a mapping") {
		t.Errorf("Configs: %v; want checks[1] is not a mapping", err)
	}
}

// TestRolloutPreStop: an app container serving beside healthgate (a `wait` init container here) needs a
// preStop hook; the chart's own Deployment (healthgate alone) and containers without ports do not.
func TestRolloutPreStop(t *testing.T) {
	const deploy = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, labels: {app.kubernetes.io/name: app}}
spec:
  strategy: {rollingUpdate: {maxUnavailable: 0}}
  selector: {matchLabels: {app.kubernetes.io/name: app}}
  template:
    metadata: {labels: {app.kubernetes.io/name: app}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      initContainers:
        - name: wait
          image: ghcr.io/healthgate/healthgate:1.0.0
          args: [wait, --tcp, "db:5432"]
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      containers:
        - name: app
          image: example.com/app:1
          PORTS
          LIFECYCLE
          resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 64Mi}}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`
	tests := []struct{ name, ports, lifecycle, want string }{
		{name: "preStop sleep", ports: "ports: [{name: http, containerPort: 8080}]", lifecycle: "lifecycle: {preStop: {sleep: {seconds: 5}}}"},
		{name: "no preStop", ports: "ports: [{name: http, containerPort: 8080}]", want: `container "app" serves beside healthgate but has no lifecycle.preStop`},
		{name: "no port, no traffic", ports: "", lifecycle: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectFinding(t, strings.NewReplacer("PORTS", tt.ports, "LIFECYCLE", tt.lifecycle).Replace(deploy), RuleRollout, tt.want)
		})
	}
}

// TestAutoscaler: a HorizontalPodAutoscaler's Deployment leaves replicas out, and a PodDisruptionBudget is
// judged by the fewest pods there may be, the autoscaler's minReplicas.
func TestAutoscaler(t *testing.T) {
	hpa := func(min string) string {
		return `---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hg}
  minReplicas: ` + min + `
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
`
	}
	noReplicas := strings.Replace(good, "  replicas: 2\n", "", 1)
	minAvailable2 := strings.Replace(noReplicas, "  maxUnavailable: 1", "  minAvailable: 2", 1)
	if noReplicas == good || minAvailable2 == noReplicas {
		t.Fatal("test setup: replicas or maxUnavailable not in the good manifest")
	}
	for _, tt := range []struct {
		name, manifest, rule, want string
	}{
		{name: "clean", manifest: noReplicas + hpa("2")},
		{name: "replicas written", manifest: good + hpa("2"), rule: RuleAutoscaling, want: "Deployment/hg sets replicas: 2 while this autoscaler scales it"},
		{name: "min over max", manifest: noReplicas + hpa("6"), rule: RuleAutoscaling, want: "minReplicas 6 > maxReplicas 5"},
		{name: "target not in the set", manifest: noReplicas + strings.Replace(hpa("2"), "kind: Deployment, name: hg}", "kind: Deployment, name: other}", 1), rule: RuleAutoscaling, want: "scaleTargetRef Deployment/other is no Deployment"},
		{name: "pdb below minReplicas", manifest: minAvailable2 + hpa("3")},
		{name: "pdb of minReplicas", manifest: minAvailable2 + hpa("2"), rule: RulePDB, want: "minAvailable 2 >= replicas 2"},
		// No replicas and no autoscaler in the set: a scaler outside it owns the count (the chart's
		// autoscaling.external, KEDA's ScaledObject), which the set cannot tell; the budget is not judged by it.
		{name: "pdb of a Deployment scaled from outside the set", manifest: minAvailable2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectFinding(t, tt.manifest, tt.rule, tt.want)
		})
	}
}

// TestNetworkPolicy: a NetworkPolicy selecting healthgate's pods leaves DNS open when it restricts egress,
// and, with the fleet, admits the pods themselves on the listen port both ways. What the manifests cannot
// tell (an ipBlock, a namespaceSelector) counts as admitted.
func TestNetworkPolicy(t *testing.T) {
	np := func(spec string) string {
		return `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: hg
  labels: {app.kubernetes.io/name: hg}
spec:
  podSelector:
    matchLabels: {app.kubernetes.io/name: hg, app.kubernetes.io/instance: x}
` + spec
	}
	const self = "{podSelector: {matchLabels: {app.kubernetes.io/name: hg}}}"
	const dns = "    - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]\n"
	const peersOut = "    - to: [" + self + "]\n      ports: [{port: 8080}]\n"
	for _, tt := range []struct {
		name, manifest, want string
	}{
		{name: "ingress only, no fleet", manifest: good + np("  policyTypes: [Ingress]\n  ingress: []\n")},
		{name: "fleet peers admitted", manifest: fleetGood + np("  policyTypes: [Ingress]\n  ingress:\n    - from: ["+self+"]\n      ports: [{port: 8080, protocol: TCP}]\n")},
		{name: "fleet peers admitted by port name", manifest: fleetGood + np("  ingress:\n    - from: ["+self+"]\n      ports: [{port: http}]\n")},
		{name: "fleet peers admitted from everywhere", manifest: fleetGood + np("  ingress:\n    - ports: [{port: 8080}]\n")},
		{name: "fleet peers maybe in an ipBlock", manifest: fleetGood + np("  ingress:\n    - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n")},
		{name: "fleet peers not admitted", manifest: fleetGood + np("  policyTypes: [Ingress]\n  ingress: []\n"), want: "ingress restricted by NetworkPolicy/hg with no fleet peer (these pods) on port 8080"},
		{name: "fleet peers on another port", manifest: fleetGood + np("  ingress:\n    - from: ["+self+"]\n      ports: [{port: 9090}]\n"), want: "no fleet peer"},
		{name: "fleet peers of another app", manifest: fleetGood + np("  ingress:\n    - from: [{podSelector: {matchLabels: {app.kubernetes.io/name: other}}}]\n"), want: "no fleet peer"},
		{name: "fleet peers over UDP", manifest: fleetGood + np("  ingress:\n    - from: ["+self+"]\n      ports: [{port: 8080, protocol: UDP}]\n"), want: "no fleet peer"},
		{name: "other pods selected", manifest: fleetGood + strings.Replace(np("  ingress: []\n"), "app.kubernetes.io/instance: x}", "app.kubernetes.io/instance: other}", 1)},
		{name: "egress with DNS", manifest: good + np("  policyTypes: [Egress]\n  egress:\n"+dns)},
		{name: "egress without DNS", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 5432}]\n"), want: "egress restricted by NetworkPolicy/hg without DNS (UDP port 53)"},
		{name: "egress types defaulted", manifest: good + np("  egress:\n    - ports: [{port: 5432}]\n"), want: "without DNS"},
		{name: "egress DNS over UDP only", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 53, protocol: UDP}]\n"), want: "egress restricted by NetworkPolicy/hg allows DNS over UDP but not TCP (port 53)"},
		{name: "egress DNS over UDP and TCP in two rules", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 53, protocol: UDP}]\n    - ports: [{port: 53, protocol: TCP}]\n")},
		// A named egress port is the destination's (CoreDNS: dns over UDP, dns-tcp over TCP), which the set
		// cannot see: counted as DNS.
		{name: "egress DNS by the resolver's port names", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n      ports: [{port: dns, protocol: UDP}, {port: dns-tcp, protocol: TCP}]\n")},
		{name: "egress DNS by a port name over UDP only", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: dns, protocol: UDP}]\n"), want: "allows DNS over UDP but not TCP"},
		// OpenShift's resolver pods listen on 5353 behind the Service's 53 (networkPolicy.dnsPorts: [53, 5353]):
		// 5353 alone is DNS there, and nowhere else. Not "without DNS", which was said of it.
		{name: "egress DNS on 5353 alone", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 5353, protocol: UDP}, {port: 5353, protocol: TCP}]\n"),
			want: "egress restricted by NetworkPolicy/hg allows DNS on port 5353 alone, not 53: the port OpenShift's resolver pods listen on behind the Service's 53; elsewhere the resolver listens on 53, and no check and no peer name resolves (OpenShift: allow both, 53 and 5353)"},
		{name: "egress DNS over TCP only", manifest: good + np("  policyTypes: [Egress]\n  egress:\n    - ports: [{port: 53, protocol: TCP}]\n"), want: "without DNS"},
		{name: "egress to everything", manifest: good + np("  policyTypes: [Egress]\n  egress: [{}]\n")},
		{name: "egress denied", manifest: good + np("  policyTypes: [Egress]\n"), want: "without DNS"},
		{name: "fleet egress to peers", manifest: fleetGood + np("  policyTypes: [Egress]\n  egress:\n"+dns+peersOut)},
		{name: "fleet egress without peers", manifest: fleetGood + np("  policyTypes: [Egress]\n  egress:\n"+dns), want: "egress restricted by NetworkPolicy/hg with no connection to the fleet peers (these pods) on port 8080"},
		{name: "fleet egress to peers in a range", manifest: fleetGood + np("  policyTypes: [Egress]\n  egress:\n"+dns+"    - ports: [{port: 8000, endPort: 8099}]\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectFinding(t, tt.manifest, RuleNetwork, tt.want)
		})
	}
}
