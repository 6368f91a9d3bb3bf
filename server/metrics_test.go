package server

import (
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/monitor"
)

func TestMetrics(t *testing.T) {
	var db, cache dep
	cache.fail(&checks.Error{Class: checks.Auth, Err: checks.Failf(checks.Auth, "password s3cr3t-pw rejected")})
	m := NewMetrics(BuildInfo{Version: "v9.9.9", Revision: "abc123"})
	// The monitor reports runs to the metrics, as in main.
	// One run each at start, then none for an hour: every later run would be the scrapes' doing.
	checksList := []*checks.Check{db.checkEvery("db", true, time.Hour), cache.checkEvery("cache", false, time.Hour)}
	f := newFixtureWith(t, Options{Metrics: m}, monitor.Options{OnRun: m.Observe}, checksList...)
	f.settle(t, func(s *monitor.Snapshot) bool { return allRan(s) && s.Checks[0].LastSuccess.Unix() > 0 })

	r := f.get(t, "/metrics")
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("/metrics: Cache-Control %q; want no-store", got)
	}
	body := r.body
	for _, want := range []string{
		`healthgate_check_up{check="db",critical="true",type="postgres"} 1`,
		`healthgate_check_up{check="cache",critical="false",type="postgres"} 0`,
		`healthgate_check_runs_total{check="db",result="success",type="postgres"}`,
		`healthgate_check_failures_total{check="cache",reason="auth",type="postgres"}`,
		`healthgate_check_duration_seconds_bucket{check="db",type="postgres",le="0.001"}`,
		`healthgate_check_last_success_timestamp_seconds{check="db",type="postgres"}`,
		`healthgate_ready 1`,
		`healthgate_build_info{goversion="go`,
		`version="v9.9.9"`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "s3cr3t") {
		t.Error("a secret appears in /metrics")
	}

	// Scraping reads state: 100 scrapes (and probes) do not run a check.
	before := db.runs.Load() + cache.runs.Load()
	for range 100 {
		f.get(t, "/metrics")
		f.get(t, "/readyz")
	}
	if ran := db.runs.Load() + cache.runs.Load() - before; ran != 0 {
		t.Errorf("100 scrapes and probes ran checks %d times; want 0", ran)
	}
}
