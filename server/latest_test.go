package server

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
)

var lastSuccessLine = regexp.MustCompile(`healthgate_check_last_success_timestamp_seconds\{check="db",type="postgres"\} (\S+)`)

// TestLastSuccessWithoutPublish: a run that changes nothing a probe sees publishes no snapshot
// (docs/design.md §6), yet healthgate_check_last_success_timestamp_seconds follows every successful
// run: the scrape reads the runner's figures, not the snapshot's. With the heartbeat an hour away the
// snapshot's own figure stays at the first run.
func TestLastSuccessWithoutPublish(t *testing.T) {
	var db dep
	// A generous timeout: a run timed out by a loaded machine would be a change, and publish.
	cfg := config.NewCheck("db", "postgres", "test", config.NewDefaults())
	cfg.Interval, cfg.Timeout, cfg.FailureThreshold, cfg.SuccessThreshold = 60*time.Millisecond, 50*time.Millisecond, 3, 1
	check := checks.Func(cfg, func(context.Context) error { db.runs.Add(1); return nil })
	metrics := NewMetrics(BuildInfo{})
	mon := monitor.New([]*checks.Check{check}, monitor.Options{Heartbeat: time.Hour, OnRun: metrics.Observe})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mon.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(New(mon, Options{Metrics: metrics}))
	defer srv.Close()

	scrape := func() float64 {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		m := lastSuccessLine.FindSubmatch(body)
		if m == nil {
			t.Fatal("no healthgate_check_last_success_timestamp_seconds for db")
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	checktest.Eventually(t, 10*time.Second, "db passing", func() bool { return mon.Snapshot().Checks[0].Passing() })
	snap := mon.Snapshot()
	published := float64(snap.Checks[0].LastSuccess.UnixNano()) / 1e9
	start := db.runs.Load()
	checktest.Eventually(t, 10*time.Second, "five more runs of db", func() bool { return db.runs.Load() >= start+5 })
	got := scrape()
	if mon.Snapshot() != snap {
		t.Fatal("a snapshot was published by runs that changed nothing a probe sees")
	}
	if got <= published {
		t.Errorf("last success %f; want later than the published %f (5 successful runs since)", got, published)
	}
	if now := float64(time.Now().UnixNano()) / 1e9; got > now {
		t.Errorf("last success %f is in the future (now %f)", got, now)
	}
}
