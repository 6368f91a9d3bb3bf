package server

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/healthgate/healthgate/monitor"
)

// Metrics exposes the health state to Prometheus, following the Kubernetes component-SLI convention
// (1 = pass). A scrape reads the published snapshot and counters updated by the runners; it never
// runs a check. Labels are check names, types and reason classes only: never a target or an error.
type Metrics struct {
	reg      *prometheus.Registry
	runs     *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	fleet    *prometheus.CounterVec

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge

	mu    sync.Mutex
	known map[checkKey]bool // the checks whose series exist
}

type checkKey struct{ name, typ string }

// BuildInfo labels healthgate_build_info.
type BuildInfo struct {
	Version, Revision string
}

// NewMetrics builds the registry: healthgate's own metrics, build info, and the Go and process
// collectors.
func NewMetrics(build BuildInfo) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthgate_check_runs_total",
			Help: "Completed runs of each check, by result.",
		}, []string{"check", "type", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthgate_check_failures_total",
			Help: "Failed runs of each check, by reason class.",
		}, []string{"check", "type", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "healthgate_check_duration_seconds",
			Help: "Duration of each check run.",
			// From 100 µs: a check of a dependency on the node or next to it (a pooled Redis or Postgres
			// round trip, a tcp connect) answers well under a millisecond, and with 1 ms as the first
			// bound every such run fell in it, so the dashboard's p50 and p99 read 0.5 ms and 0.99 ms
			// whatever the latency. Up to 60 s: a check's timeout has no upper bound but its interval, and
			// a run that ended in a 15 s or 30 s timeout fell in +Inf with 10 s as the last bound, where
			// histogram_quantile reads it as 10 s, less than the timeout the operator set.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"check", "type"}),
		fleet: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthgate_fleet_requests_total",
			Help: "Requests to peers' /fleetz (and failed peer resolutions), by result; none while every shared check passes.",
		}, []string{"result"}),
	}
	for _, r := range []string{PeerAnswered, PeerNoCheck, PeerSelf, PeerUnreachable, PeerRefused, PeerBadAnswer, ResolveError} {
		m.fleet.WithLabelValues(r)
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "healthgate_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(build.Version, build.Revision, runtime.Version()).Set(1)
	// Prometheus' own names for the same thing, so the same alert rules fit.
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "healthgate_config_last_reload_successful",
		Help: "Whether the last configuration reload succeeded (1) or was refused, the previous configuration kept (0).",
	})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "healthgate_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful configuration load (start-up or reload).",
	})
	m.ConfigLoaded(true, time.Now())
	m.reg.MustRegister(m.runs, m.failures, m.duration, m.fleet, buildInfo, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records one completed run: the monitor's OnRun hook.
func (m *Metrics) Observe(r monitor.Run) {
	name, typ := r.Check.Name, r.Check.Type
	if !r.Overlapped {
		// An overlapped run made no request: its ~0 s would pull the quantiles of a hung
		// dependency toward fast. The hung run itself was observed, at its timeout.
		m.duration.WithLabelValues(name, typ).Observe(r.Duration.Seconds())
	}
	if r.Err == nil {
		m.runs.WithLabelValues(name, typ, "success").Inc()
		return
	}
	m.runs.WithLabelValues(name, typ, "failure").Inc()
	m.failures.WithLabelValues(name, typ, string(r.Class)).Inc()
}

// ConfigLoaded records a configuration load: at start-up, and each reload, refused (ok false) or not.
func (m *Metrics) ConfigLoaded(ok bool, at time.Time) {
	if !ok {
		m.reloadOK.Set(0)
		return
	}
	m.reloadOK.Set(1)
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
}

// SetChecks makes the per-check series follow the checks of s, the monitor's snapshot: those of a
// check (name and type) that is gone are deleted, so a removed check disappears from /metrics; a new
// check's run counters exist from the start (see createSeries), so rate() and absent() behave before
// its first run ends. A check kept by a reload keeps its series and their values. Call it with the
// snapshot of monitor.Snapshot once the dropped checks' runs have stopped (after monitor.Replace), or a
// last run could bring a deleted series back.
func (m *Metrics) SetChecks(s *monitor.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[checkKey]bool, len(s.Checks))
	for _, c := range s.Checks {
		next[checkKey{c.Name, c.Type}] = true
	}
	for k := range m.known {
		if !next[k] {
			l := prometheus.Labels{"check": k.name, "type": k.typ}
			m.runs.DeletePartialMatch(l)
			m.failures.DeletePartialMatch(l)
			m.duration.DeletePartialMatch(l)
		}
	}
	for k := range next {
		m.createSeries(k)
	}
	m.known = next
}

// AddCheck makes the series of a check (name and type) exist at 0 before its first run ends (see
// createSeries). A reload calls it for each check of the new configuration before monitor.Replace:
// Replace makes the first run of a changed check itself and starts an added one's runner, and either
// run can end, and be observed, before SetChecks runs; a series born at 1 with that run shows no
// increase. SetChecks, after Replace, deletes what the reload dropped.
func (m *Metrics) AddCheck(name, typ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known == nil {
		m.known = map[checkKey]bool{}
	}
	k := checkKey{name, typ}
	m.known[k] = true
	m.createSeries(k)
}

// createSeries makes a check's counters exist at 0 before its first run: both run results, and a
// failure series per reason class, so the first failure of each class is an increase that rate() and
// increase() see (a series born at 1 shows none). Every class a run can fail with (monitor.RunClasses):
// not stale, a check whose run never returned, which adds no failed run (healthgate_check_stale shows it).
func (m *Metrics) createSeries(k checkKey) {
	m.runs.WithLabelValues(k.name, k.typ, "success")
	m.runs.WithLabelValues(k.name, k.typ, "failure")
	for _, c := range monitor.RunClasses {
		m.failures.WithLabelValues(k.name, k.typ, string(c))
	}
}

// FleetRequest counts one request to a peer: PeersOptions.OnResult.
func (m *Metrics) FleetRequest(result string) { m.fleet.WithLabelValues(result).Inc() }

// handler serves the registry, adding the collector that reads src's snapshot at scrape time.
func (m *Metrics) handler(src Source) http.Handler {
	m.mu.Lock()
	if m.known == nil {
		m.known = map[checkKey]bool{}
	}
	// Series exist from the start, so rate() and absent() behave before the first run ends.
	for _, c := range src.Snapshot().Checks {
		k := checkKey{c.Name, c.Type}
		m.known[k] = true
		m.createSeries(k)
	}
	m.mu.Unlock()
	m.reg.MustRegister(stateCollector{src: src})
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	upDesc = prometheus.NewDesc("healthgate_check_up",
		"Whether the check passes after thresholds (1) or not (0; unknown counts as 0).",
		[]string{"check", "type", "critical"}, nil)
	lastSuccessDesc = prometheus.NewDesc("healthgate_check_last_success_timestamp_seconds",
		"Unix time of the check's last successful run (0 if none yet).",
		[]string{"check", "type"}, nil)
	staleDesc = prometheus.NewDesc("healthgate_check_stale",
		"Whether the check is failing because no run has completed for 2 × interval + timeout, its runner wedged (1), or not (0).",
		[]string{"check", "type"}, nil)
	failOpenDesc = prometheus.NewDesc("healthgate_check_fail_open",
		"Whether the check fails here but counts as passing in /readyz because most of the fleet sees it failing too (1) or not (0).",
		[]string{"check"}, nil)
	readyDesc = prometheus.NewDesc("healthgate_ready",
		"Whether /readyz passes (1) or not (0).", nil, nil)
)

// stateCollector turns the published snapshot into gauges at scrape time.
type stateCollector struct{ src Source }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- lastSuccessDesc
	ch <- staleDesc
	ch <- readyDesc
	ch <- failOpenDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	for i := range s.Checks {
		cs := &s.Checks[i]
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, boolFloat(cs.Passing()), cs.Name, cs.Type, strconv.FormatBool(cs.Critical))
		// The snapshot's own figure can be a heartbeat old (a run that changes nothing a probe sees
		// publishes none): read the runner's.
		last := 0.0
		if _, success, _ := cs.Latest(); !success.IsZero() {
			last = float64(success.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, last, cs.Name, cs.Type)
		ch <- prometheus.MustNewConstMetric(staleDesc, prometheus.GaugeValue, boolFloat(cs.Stale()), cs.Name, cs.Type)
		if cs.Shared {
			ch <- prometheus.MustNewConstMetric(failOpenDesc, prometheus.GaugeValue, boolFloat(cs.FailOpen), cs.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, boolFloat(s.Ready))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
