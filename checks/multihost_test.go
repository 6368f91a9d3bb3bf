package checks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestPostgresMultiHostFirstHostSilent: a multi-host URL (Patroni's, CloudNativePG's hosts: the cluster's
// nodes, target_session_attrs=read-write) whose first host drops every packet (its node gone) still
// finds the primary within the run. pgx bounds the connect to each host by the connect timeout, which
// was the whole run's: the first host used it all, every run timed out while the primary served.
func TestPostgresMultiHostFirstHostSilent(t *testing.T) {
	good := checktest.PostgresURL(t)
	silent := checktest.NewProxy(t, checktest.HostPort(t, good))
	silent.Set(checktest.Blackhole)
	hosts := silent.Addr() + "," + checktest.HostPort(t, good)
	url := checktest.WithHost(t, good, hosts)
	if strings.Contains(url, "?") {
		url += "&target_session_attrs=read-write"
	} else {
		url += "?target_session_attrs=read-write"
	}
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, 3*time.Second)
	err, took := runCheck(t, ch)
	assertClass(t, err, "")
	if silent.Accepted() == 0 {
		t.Fatalf("the silent first host was never tried (run took %s): the test proves nothing", took)
	}
	// And a URL of silent hosts alone still fails as a timeout, within the run.
	other := checktest.NewProxy(t, checktest.HostPort(t, good))
	other.Set(checktest.Blackhole)
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, good, silent.Addr()+","+other.Addr())})}, time.Second)
	err, took = runCheck(t, ch)
	assertClass(t, err, checks.Timeout)
	if took > 3*time.Second {
		t.Errorf("a run over two silent hosts took %s; want it within its 1s timeout", took)
	}
}
