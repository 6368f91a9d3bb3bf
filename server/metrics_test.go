package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// OnRun comes after the run's snapshot is published: the settle waits for both first runs to be
	// observed too, or the scrape could come between the two, before db's duration series exists.
	var observed atomic.Int64
	onRun := func(r monitor.Run) { m.Observe(r); observed.Add(1) }
	f := newFixtureWith(t, Options{Metrics: m}, monitor.Options{OnRun: onRun}, checksList...)
	f.settle(t, func(s *monitor.Snapshot) bool {
		return allRan(s) && s.Checks[0].LastSuccess.Unix() > 0 && observed.Load() >= int64(len(checksList))
	})

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

// TestMetricsFailureSeriesFromStart: every check has a failure counter at 0 for every reason class a
// run can fail with before its first failure, so the first failure is an increase Prometheus sees; a
// check removed by SetChecks loses them all, an added one gets them.
func TestMetricsFailureSeriesFromStart(t *testing.T) {
	var db dep
	m := NewMetrics(BuildInfo{})
	// The runs' classes as the monitor reported them: a run timed out by a stalled machine is a failure
	// too, so each counter is compared with what happened rather than with an assumed zero.
	var mu sync.Mutex
	seen := map[checks.Class]float64{}
	observe := func(r monitor.Run) {
		m.Observe(r)
		if r.Err != nil {
			mu.Lock()
			seen[r.Class]++
			mu.Unlock()
		}
	}
	c := db.checkEvery("db", true, 50*time.Millisecond)
	f := newFixtureWith(t, Options{Metrics: m}, monitor.Options{OnRun: observe}, c)
	f.settle(t, allRan)

	body := f.get(t, "/metrics").body
	for _, class := range checks.Classes {
		series := `healthgate_check_failures_total{check="db",reason="` + string(class) + `",type="postgres"}`
		_, ok := sample(body, series)
		switch {
		case class == checks.Stale && ok:
			t.Errorf("%s exists: a stale check adds no failed run, so it could only ever be 0", series)
		case class != checks.Stale && !ok:
			t.Errorf("%s absent before any failure; want it at 0", series)
		}
	}

	db.fail(&checks.Error{Class: checks.Refused, Err: checks.Failf(checks.Refused, "connection refused")})
	refused := `healthgate_check_failures_total{check="db",reason="refused",type="postgres"}`
	f.settle(t, func(*monitor.Snapshot) bool { v, _ := sample(f.get(t, "/metrics").body, refused); return v >= 1 })

	// A reload as serve makes it (reload.go): db removed, cache added. Replace stops db's runs before it
	// returns; SetChecks only then, or a run of db ending in between would bring its series back.
	var cache dep
	cc := cache.checkEvery("cache", true, time.Hour)
	cc.Type = "redis"
	f.mon.Replace([]*checks.Check{cc}, nil)

	// db's counters are final now: each class counts exactly the failed runs of that class, so every
	// series began at 0 (one born at 1 with its first failure would show one more).
	body = f.get(t, "/metrics").body
	mu.Lock()
	for _, class := range monitor.RunClasses {
		series := `healthgate_check_failures_total{check="db",reason="` + string(class) + `",type="postgres"}`
		if v, _ := sample(body, series); v != seen[class] {
			t.Errorf("%s = %v; %v such runs failed", series, v, seen[class])
		}
	}
	mu.Unlock()

	m.SetChecks(f.mon.Snapshot())
	body = f.get(t, "/metrics").body
	if strings.Contains(body, `healthgate_check_failures_total{check="db"`) {
		t.Error("the removed check's failure series are still exposed")
	}
	if v, ok := sample(body, `healthgate_check_failures_total{check="cache",reason="dns",type="redis"}`); !ok || v != 0 {
		t.Errorf("the added check's dns failures = %v (present %v); want 0", v, ok)
	}
}

// TestMetricsStale: a check the monitor has declared stale (its runner wedged: the monitor's own test,
// TestStale, makes one) shows healthgate_check_stale 1; every other check shows 0, failing or not.
func TestMetricsStale(t *testing.T) {
	now := time.Now()
	src := staticSource{&monitor.Snapshot{At: now, Checks: []monitor.CheckStatus{
		{Name: "db", Type: "postgres", Critical: true, State: monitor.Passing, LastSuccess: now},
		{Name: "wedged", Type: "redis", Critical: true, State: monitor.Failing, Class: checks.Stale},
		{Name: "down", Type: "tcp", State: monitor.Failing, Class: checks.Refused},
	}}}
	expectSamples(t, scrape(NewMetrics(BuildInfo{}).handler(src)), map[string]float64{
		`healthgate_check_stale{check="wedged",type="redis"}`: 1,
		`healthgate_check_stale{check="db",type="postgres"}`:  0,
		`healthgate_check_stale{check="down",type="tcp"}`:     0,
	})
}

type staticSource struct{ s *monitor.Snapshot }

func (s staticSource) Snapshot() *monitor.Snapshot { return s.s }
func (staticSource) Alive(time.Time) bool          { return true }

// sample reads one sample of an exposition body (0 and false when absent).
func sample(body, series string) (float64, bool) {
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// scrape is the exposition body h serves at /metrics.
func scrape(h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// expectSamples: each series of want is in body with its value.
func expectSamples(t *testing.T, body string, want map[string]float64) {
	t.Helper()
	for series, w := range want {
		if v, ok := sample(body, series); !ok || v != w {
			t.Errorf("%s = %v (present %v); want %v", series, v, ok, w)
		}
	}
}

// TestMetricsOverlappedRun: a run refused because the check's previous run has not returned counts
// as a failed run of class timeout, but adds nothing to the duration histogram: it made no request,
// and its figure is the hung run's age, which that run's own sample (at its timeout) already stands for.
func TestMetricsOverlappedRun(t *testing.T) {
	m := NewMetrics(BuildInfo{})
	c := &checks.Check{Name: "db", Type: "postgres"}
	timedOut := &checks.Error{Class: checks.Timeout, Err: errors.New("no result within 1s")}
	m.Observe(monitor.Run{Check: c, Err: timedOut, Class: checks.Timeout, Duration: time.Second, End: time.Now()})
	for age := 2; age <= 4; age++ {
		m.Observe(monitor.Run{Check: c, Err: timedOut, Class: checks.Timeout, Duration: time.Duration(age) * time.Second,
			End: time.Now(), Overlapped: true})
	}
	expectSamples(t, scrape(m.handler(staticSource{&monitor.Snapshot{}})), map[string]float64{
		`healthgate_check_duration_seconds_count{check="db",type="postgres"}`:          1,
		`healthgate_check_duration_seconds_sum{check="db",type="postgres"}`:            1,
		`healthgate_check_runs_total{check="db",result="failure",type="postgres"}`:     4,
		`healthgate_check_failures_total{check="db",reason="timeout",type="postgres"}`: 4,
	})
}

// TestMetricsDurationBuckets: the duration histogram tells sub-millisecond runs apart (a pooled round
// trip to a dependency on the node, a tcp connect: 100 µs to 1 ms), so histogram_quantile over it,
// the dashboard's p50 and p99, follows their latency rather than interpolating inside one bucket, and
// it tells apart runs up to a 10 s timeout and the longer ones a check's own timeout can allow (15 s, 45 s).
func TestMetricsDurationBuckets(t *testing.T) {
	m := NewMetrics(BuildInfo{})
	c := &checks.Check{Name: "cache", Type: "redis"}
	runs := []time.Duration{150 * time.Microsecond, 400 * time.Microsecond, 900 * time.Microsecond, 3 * time.Millisecond,
		200 * time.Millisecond, 2 * time.Second, 8 * time.Second, 15 * time.Second, 45 * time.Second}
	for _, d := range runs {
		m.Observe(monitor.Run{Check: c, Duration: d, End: time.Now()})
	}
	var bounds []float64
	for line := range strings.Lines(scrape(m.handler(staticSource{&monitor.Snapshot{}}))) {
		rest, ok := strings.CutPrefix(line, `healthgate_check_duration_seconds_bucket{check="cache",type="redis",le="`)
		if !ok {
			continue
		}
		le, _, _ := strings.Cut(rest, `"`)
		if le == "+Inf" {
			continue
		}
		v, err := strconv.ParseFloat(le, 64)
		if err != nil {
			t.Fatalf("bucket bound %q: %v", le, err)
		}
		bounds = append(bounds, v)
	}
	// Each two runs in a row fall into different buckets: a bound lies between them.
	for i := 1; i < len(runs); i++ {
		lo, hi := runs[i-1].Seconds(), runs[i].Seconds()
		between := false
		for _, b := range bounds {
			between = between || (lo <= b && b < hi)
		}
		if !between {
			t.Errorf("no bucket bound between %v and %v (bounds %v): the histogram cannot tell such runs apart", runs[i-1], runs[i], bounds)
		}
	}
}
