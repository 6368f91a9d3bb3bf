package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutages: an app that gets a request every 30 ms is in; a gap of more than lbGap is a time out of
// HAProxy, counted once per app, and one that reaches the restore is still out then.
func TestOutages(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cut := 10 * time.Second
	every := func(from, to time.Duration) []time.Time {
		var out []time.Time
		for d := from; d < to; d += 30 * time.Millisecond {
			out = append(out, t0.Add(d))
		}
		return out
	}
	steady := &app{hits: every(0, cut+2*time.Second)}
	blip := &app{hits: append(every(0, 3*time.Second), every(3*time.Second+600*time.Millisecond, cut+2*time.Second)...)}
	gone := &app{hits: append(every(0, 2500*time.Millisecond), every(cut+time.Second, cut+2*time.Second)...)}
	r := cutResult{t0: t0, cut: cut, apps: []*app{steady, blip, gone}}
	left, longest, atRestore := r.outages()
	if left != 2 || atRestore != 1 {
		t.Errorf("left %d, still out at the restore %d; want 2 and 1", left, atRestore)
	}
	if want := cut - 2500*time.Millisecond; longest < want-50*time.Millisecond || longest > want+50*time.Millisecond {
		t.Errorf("longest out %v, want about %v", longest, want)
	}
	if back := r.backAfter(); back < time.Second || back > time.Second+50*time.Millisecond {
		t.Errorf("all back %v after the restore, want about 1 s", back)
	}
	r.apps = []*app{steady}
	if left, _, _ := r.outages(); left != 0 {
		t.Errorf("a steady app counted as out %d times", left)
	}
}

// TestFleetRequests sums every result of healthgate_fleet_requests_total, and tells a /metrics without the
// counter (0) from no /metrics (-1).
func TestFleetRequests(t *testing.T) {
	var metrics atomic.Value
	metrics.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := metrics.Load().(string)
		if body == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	r := &running{addr: strings.TrimPrefix(srv.URL, "http://")}
	if n := fleetRequests(context.Background(), r); n != -1 {
		t.Errorf("no /metrics: %d, want -1", n)
	}
	metrics.Store("# HELP x\nhealthgate_ready 1\n")
	if n := fleetRequests(context.Background(), r); n != 0 {
		t.Errorf("no counter yet: %d, want 0", n)
	}
	metrics.Store("# TYPE healthgate_fleet_requests_total counter\n" +
		`healthgate_fleet_requests_total{result="answered"} 97` + "\n" +
		`healthgate_fleet_requests_total{result="self"} 1` + "\n" +
		`healthgate_fleet_requests_total{result="unreachable"} 2` + "\n" +
		`healthgate_check_fail_open{check="db"} 1` + "\n")
	if n := fleetRequests(context.Background(), r); n != 100 {
		t.Errorf("counted %d, want 100", n)
	}
}

// F3 while the shared check fails: requests per second, and no figure at all when the pod asked no peer
// (a fleet that does nothing must not read as "within sample / interval").
func TestFailingFleetRate(t *testing.T) {
	if got, err := failingFleetRate(100, 10*time.Second); err != nil || got != 10 {
		t.Errorf("failingFleetRate(100, 10s) = %v, %v; want 10", got, err)
	}
	if got, err := failingFleetRate(0, 10*time.Second); err == nil {
		t.Errorf("failingFleetRate(0, 10s) = %v, want an error", got)
	}
}
