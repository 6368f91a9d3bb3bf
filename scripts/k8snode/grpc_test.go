//go:build k8snode

package k8snode

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// TestGRPCProbe: the chart's standalone Deployment with grpc.probes: the kubelet's native grpc: readiness
// and liveness probes ask healthgate's grpc.health.v1 service. A Postgres cut takes the endpoint out, the
// restore brings it back, and liveness ("liveness", never a dependency) never restarts the pod.
func TestGRPCProbe(t *testing.T) {
	n := needNode(t)
	t.Parallel()
	ns := n.namespace("hg-grpc")
	pg := pgProxy(t)
	n.helmInstall(ns, "hg", fmt.Sprintf(`replicaCount: 1
image: {repository: localhost/hg-healthgate, tag: v1, pullPolicy: Never}
grpc:
  enabled: true
  port: 9090
  probes: true
config:
  defaults: {interval: %ds, timeout: %ds, failure_threshold: %d, success_threshold: %d}
checks:
  - {name: db, type: postgres, url: "postgres://postgres@%s/test?sslmode=disable&connect_timeout=2", critical: true}
tests:
  enabled: false
`, checkInterval, checkTimeout, failureThreshold, successThreshold, pg.Addr()))
	const svc = "hg-healthgate"
	// The rendered probes are gRPC ones: the kubelet, not an HTTP GET, decides here.
	probes := n.kc("-n", ns, "get", "deployment", svc, "-o",
		"jsonpath={.spec.template.spec.containers[0].readinessProbe.grpc.service} {.spec.template.spec.containers[0].livenessProbe.grpc.service}")
	if strings.TrimSpace(probes) != "readiness liveness" {
		t.Fatalf("rendered grpc probe services = %q, want \"readiness liveness\"", probes)
	}
	n.waitReadyPath(ns, svc, 1, "/readyz", 180*time.Second)

	down := time.Duration(failureThreshold*checkInterval+checkTimeout+probeFailures*readinessPeriod) * time.Second
	up := time.Duration(successThreshold*checkInterval+checkTimeout+readinessPeriod) * time.Second
	pg.Set(checktest.Refuse)
	took := n.eventually(down+slack, "endpoint ready=false after the cut (grpc probe)", func() (bool, string) {
		r, s := readyCount(n.endpoints(ns, svc))
		return r == 0, s
	})
	t.Logf("cut: endpoint ready=false after %v through the kubelet's grpc probe (bound %v + %v slack)", took.Round(100*time.Millisecond), down, slack)
	pg.Set(checktest.Forward)
	took = n.eventually(up+slack, "endpoint ready=true after the restore (grpc probe)", func() (bool, string) {
		r, s := readyCount(n.endpoints(ns, svc))
		return r == 1, s
	})
	t.Logf("restore: endpoint ready=true after %v (bound %v + %v slack)", took.Round(100*time.Millisecond), up, slack)
	n.noRestarts(ns, "app.kubernetes.io/instance=hg")
}
