package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
)

type hjsonEntry struct {
	ComponentID   string   `json:"componentId"`
	ComponentType string   `json:"componentType"`
	ComponentKind string   `json:"componentKind"`
	ObservedValue *float64 `json:"observedValue"`
	ObservedUnit  string   `json:"observedUnit"`
	Status        string   `json:"status"`
	Time          string   `json:"time"`
}

// TestHealthJSONDraft: health+json as draft-inadarei-api-health-check has it. componentType is one of
// the draft's values (datastore for postgres and redis, component for http and tcp, system for the
// built-in lines) with the kind in componentKind; a key "name:responseTime" always carries its
// observedValue, and what has measured nothing (a check that has not run yet, the built-in lines) is
// keyed by its name alone.
func TestHealthJSONDraft(t *testing.T) {
	var db dep
	kindCheck := func(name, kind string, critical bool, fn func(context.Context) error) *checks.Check {
		c := config.NewCheck(name, kind, "test", config.NewDefaults())
		c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold, c.Critical = 20*time.Millisecond, 10*time.Millisecond, 1, 1, critical
		return checks.Func(c, fn)
	}
	ok := func(context.Context) error { return nil }
	release := make(chan struct{})
	defer close(release)
	pending := config.NewCheck("pending", "postgres", "test", config.NewDefaults())
	pending.Interval, pending.Timeout, pending.FailureThreshold, pending.SuccessThreshold, pending.Critical = time.Minute, time.Minute, 1, 1, false
	f := newFixture(t, Options{},
		db.check("db", true),
		kindCheck("cache", "redis", false, func(context.Context) error { return errSecret }),
		kindCheck("api", "http", true, ok),
		kindCheck("port", "tcp", true, ok),
		checks.Func(pending, func(ctx context.Context) error { // its first run has not ended
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}),
	)
	f.settle(t, func(s *monitor.Snapshot) bool {
		for _, c := range s.Checks {
			if c.Name != "pending" && c.LastRun.IsZero() {
				return false
			}
		}
		return true
	})

	want := map[string]struct{ key, typ, kind string }{
		"db":       {"db:responseTime", "datastore", "postgres"},
		"cache":    {"cache:responseTime", "datastore", "redis"},
		"api":      {"api:responseTime", "component", "http"},
		"port":     {"port:responseTime", "component", "tcp"},
		"pending":  {"pending", "datastore", "postgres"},
		"shutdown": {"shutdown", "system", ""},
		"ping":     {"ping", "system", ""},
		"monitor":  {"monitor", "system", ""},
	}
	decode := func(path string, hdr ...string) map[string][]hjsonEntry {
		t.Helper()
		r := f.get(t, path, hdr...)
		var body struct {
			Status string                  `json:"status"`
			Checks map[string][]hjsonEntry `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, r.body)
		}
		for key, entries := range body.Checks {
			name, measurement, hasMeasurement := strings.Cut(key, ":")
			for _, e := range entries {
				switch e.ComponentType {
				case "datastore", "component", "system":
				default:
					t.Errorf("%s %s: componentType %q; want one of the draft's: datastore, component, system", path, key, e.ComponentType)
				}
				if e.ComponentID != name {
					t.Errorf("%s %s: componentId %q", path, key, e.ComponentID)
				}
				if hasMeasurement && (measurement != "responseTime" || e.ObservedValue == nil || e.ObservedUnit != "ms" || e.Time == "") {
					t.Errorf("%s %s: %+v; want a responseTime with observedValue, observedUnit ms and time", path, key, e)
				}
				if !hasMeasurement && (e.ObservedValue != nil || e.ObservedUnit != "") {
					t.Errorf("%s %s: %+v; an entry without a measurement has no observedValue", path, key, e)
				}
				w, ok := want[name]
				if !ok || key != w.key || e.ComponentType != w.typ || e.ComponentKind != w.kind {
					t.Errorf("%s %q: type %q kind %q; want key %q type %q kind %q", path, key, e.ComponentType, e.ComponentKind, w.key, w.typ, w.kind)
				}
			}
		}
		return body.Checks
	}
	ready := decode("/readyz", "Accept", "application/health+json")
	for _, name := range []string{"shutdown", "db", "cache", "api", "port", "pending"} {
		if _, ok := ready[want[name].key]; !ok {
			t.Errorf("/readyz: no entry %q", want[name].key)
		}
	}
	if _, ok := ready["pending:responseTime"]; ok {
		t.Error(`/readyz: "pending:responseTime" for a check that has not run`)
	}
	if c := ready["cache:responseTime"]; len(c) != 1 || c[0].Status != "fail" {
		t.Errorf("/readyz cache: %+v; want fail", c)
	}
	live := decode("/livez?format=json")
	if len(live["ping"]) != 1 || len(live["monitor"]) != 1 {
		t.Errorf("/livez: %+v; want ping and monitor", live)
	}
	decode("/startupz?format=json")
	decode("/readyz/db?format=json")
	decode("/readyz/pending?format=json")
	decode("/readyz/shutdown", "Accept", "application/json")
}

// TestAcceptNegotiation: JSON is served when the Accept header prefers it to text by q-value, as HTTP
// content negotiation reads it (RFC 9110 §12.5.1): any mention of JSON was enough, so a client that asked
// for text first (text/plain, application/json;q=0.5), or refused JSON with q=0, got JSON. The header is
// read without an allocation: it is on the probe path.
func TestAcceptNegotiation(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/health+json":                   true,
		"application/json":                          true,
		"Application/JSON":                          true,
		"application/json, */*":                     true,
		"application/json;q=0.5, */*;q=0.1":         true,
		"text/plain;q=0.2, application/health+json": true,
		"*/*":                                                    false,
		"text/plain":                                             false,
		"text/plain, application/json;q=0.5":                     false,
		"application/json;q=0":                                   false,
		"application/json; q=0.0, text/plain":                    false,
		"application/json;q=0.5, text/*":                         false,
		"text/*;q=0.1, */*, application/json;q=0.5":              true, // text/* is text/plain's range, not */*
		"application/json;q=bad":                                 true, // unreadable: 1
		"text/html,application/xhtml+xml,*/*;q=0.8":              false,
		"application/jsonx":                                      false,
		"application/json;charset=utf-8;q=0.9, text/plain;q=0.9": true,
	} {
		if got := wantsJSON(accept); got != want {
			t.Errorf("Accept %q: JSON %v; want %v", accept, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { wantsJSON("text/plain;q=0.2, application/health+json;q=0.9, */*;q=0.1") }); n != 0 {
		t.Errorf("wantsJSON: %.0f allocations; want none", n)
	}
}
