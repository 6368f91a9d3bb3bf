package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
)

// configMapDir lays a configuration out as the kubelet mounts a ConfigMap: name -> ..data/name, and
// ..data -> a timestamped directory; update swaps ..data atomically to a new directory.
type configMapDir struct {
	dir string
	gen int
}

func newConfigMapDir(t *testing.T, yaml string) (*configMapDir, string) {
	t.Helper()
	d := &configMapDir{dir: t.TempDir()}
	d.update(t, yaml)
	path := filepath.Join(d.dir, "healthgate.yaml")
	if err := os.Symlink(filepath.Join("..data", "healthgate.yaml"), path); err != nil {
		t.Fatal(err)
	}
	return d, path
}

func (d *configMapDir) update(t *testing.T, yaml string) {
	t.Helper()
	d.gen++
	gen := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", d.gen, d.gen)
	if err := os.Mkdir(filepath.Join(d.dir, gen), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, gen, "healthgate.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// hammer probes paths as fast as it can until stopped, and remembers every answer that was not 200.
type hammer struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	n     atomic.Int64
	mu    sync.Mutex
	fails []string
}

func startHammer(t *testing.T, addr string, paths ...string) *hammer {
	h := &hammer{stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range paths {
		h.wg.Go(func() {
			for {
				select {
				case <-h.stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + path)
				code := 0
				if err == nil {
					code = resp.StatusCode
					_ = resp.Body.Close()
				}
				h.n.Add(1)
				time.Sleep(time.Millisecond) // hard, but leaving the checks some of the 2 cores
				if code != 200 {
					h.mu.Lock()
					h.fails = append(h.fails, fmt.Sprintf("%s %s: %d %v", time.Now().Format("15:04:05.000"), path, code, err))
					h.mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(h.end)
	return h
}

func (h *hammer) end() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.wg.Wait()
}

// metricValue reads one sample of /metrics (0 and false when absent).
func metricValue(body, series string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// logCount counts the JSON log lines with this message.
func logCount(l *syncBuffer, msg string) int {
	return strings.Count(l.String(), `"msg":"`+msg+`"`)
}

// logShows says whether the log holds want, or comes to within a few seconds: serve writes its log through a
// queue, so a line may land a moment after a metric, a probe or an earlier line shows what it says.
func logShows(l *syncBuffer, want string) bool {
	_, ok := checktest.Poll(5*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(l.String(), want) })
	return ok
}

// TestServeReload is the reload acceptance test (README "Reload, not restart"), against the real Postgres and Redis: the mounted
// ConfigMap is updated the way the kubelet does it, while probes hammer serve; an unchanged check
// keeps its state, counters and connections (no 503, no reconnect), an added one starts unknown,
// a changed one starts again, a removed one is gone from every output and metric. Then an invalid
// configuration, sent with SIGHUP, is refused whole.
func TestServeReload(t *testing.T) {
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	pg := checktest.NewProxy(t, checktest.HostPort(t, pgURL))
	rd := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	dbURL := checktest.WithHost(t, pgURL, pg.Addr())
	cacheURL := checktest.WithHost(t, redisURL, rd.Addr())
	redisAddr := checktest.HostPort(t, redisURL)

	v1 := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_delay: 0s
defaults: {interval: 300ms, timeout: 200ms}
checks:
  - {name: db, type: postgres, url: "${DATABASE_URL}", interval: 1s, timeout: 900ms}
  - {name: cache, type: redis, url: "%s", interval: 1s, timeout: 900ms}
  - {name: gone, type: tcp, address: "%s"}
  - {name: tweak, type: tcp, address: "%s", critical: false}
`, cacheURL, redisAddr, redisAddr)
	cm, path := newConfigMapDir(t, v1)
	p := startServeFile(t, path, map[string]string{"DATABASE_URL": dbURL})
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	h := startHammer(t, p.addr, "/readyz", "/readyz/db", "/readyz/cache", "/startupz")
	// db's run counter, once it has counted a few: a counter reset by the reload would start again
	// below it.
	const dbSuccesses = `healthgate_check_runs_total{check="db",result="success",type="postgres"}`
	var dbRuns float64
	checktest.Eventually(t, 10*time.Second, "three runs of db", func() bool {
		dbRuns, _ = metricValue(p.probe(t, "/metrics").body, dbSuccesses)
		return dbRuns >= 3
	})
	pgConns, rdConns := pg.Accepted(), rd.Accepted()
	if pgConns == 0 || rdConns == 0 {
		t.Fatalf("proxies accepted %d/%d connections; the checks do not go through them", pgConns, rdConns)
	}

	// v2 (a new timestamped directory, ..data swapped): gone removed, tweak changed, fresh added; db,
	// cache and every server setting as before, in a new order and with other line numbers.
	v2 := fmt.Sprintf(`# reloaded
server:
  listen: 127.0.0.1:0
  shutdown_delay: 0s
defaults: {interval: 300ms, timeout: 200ms}
checks:
  - {name: fresh, type: redis, url: "%s", critical: false}
  - {name: cache, type: redis, url: "%s", interval: 1s, timeout: 900ms}
  - {name: tweak, type: tcp, address: "%s", critical: false, interval: 500ms}
  - {name: db, type: postgres, url: "${DATABASE_URL}", interval: 1s, timeout: 900ms}
`, checktest.WithHost(t, redisURL, redisAddr), cacheURL, redisAddr)
	cm.update(t, v2)
	checktest.Eventually(t, 15*time.Second, "the file change to be reloaded", func() bool {
		return logCount(p.log, "configuration reloaded") == 1
	})
	if !regexp.MustCompile(`"msg":"configuration reloaded","trigger":"file changed",.*"added":"fresh","removed":"gone","changed":"tweak","unchanged":2`).MatchString(p.log.String()) {
		t.Errorf("reload line does not say what changed:\n%s", p.log.String())
	}
	checktest.Eventually(t, 10*time.Second, "fresh to pass", func() bool { return p.probe(t, "/readyz/fresh").code == 200 })
	n := h.n.Load()
	checktest.Eventually(t, 10*time.Second, "more probes after the reload", func() bool { return h.n.Load() > n+200 })
	h.end()
	if len(h.fails) > 0 {
		t.Errorf("%d of %d probes were not 200 across the reload (unchanged checks must not flap); first: %s", len(h.fails), h.n.Load(), h.fails[0])
	}
	if f, _ := metricValue(p.probe(t, "/metrics").body, `healthgate_check_runs_total{check="db",result="failure",type="postgres"}`); f > 0 {
		t.Logf("db had %v failed runs (a loaded machine): a reconnect after one is not the reload's", f)
	} else if got := pg.Accepted(); got != pgConns {
		t.Errorf("Postgres proxy accepted %d connections, %d before the reload: the unchanged check reconnected", got, pgConns)
	}
	if f, _ := metricValue(p.probe(t, "/metrics").body, `healthgate_check_runs_total{check="cache",result="failure",type="redis"}`); f > 0 {
		t.Logf("cache had %v failed runs (a loaded machine): a reconnect after one is not the reload's", f)
	} else if got := rd.Accepted(); got != rdConns {
		t.Errorf("Redis proxy accepted %d connections, %d before the reload: the unchanged check reconnected", got, rdConns)
	}

	r := p.probe(t, "/readyz?verbose")
	for _, want := range []string{"[+]db ok", "[+]cache ok", "[+]fresh ok", "[+]tweak ok"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/readyz?verbose lacks %q:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "gone") {
		t.Errorf("/readyz?verbose still lists the removed check:\n%s", r.body)
	}
	if r := p.probe(t, "/readyz/gone"); r.code != 404 {
		t.Errorf("/readyz/gone = %d after its removal; want 404", r.code)
	}
	m := p.probe(t, "/metrics").body
	if strings.Contains(m, `check="gone"`) {
		t.Errorf("/metrics still has series of the removed check")
	}
	if _, ok := metricValue(m, `healthgate_check_runs_total{check="fresh",result="failure",type="redis"}`); !ok {
		t.Errorf("/metrics lacks the added check's run counters")
	}
	if v, ok := metricValue(m, `healthgate_check_failures_total{check="fresh",reason="refused",type="redis"}`); !ok || v != 0 {
		t.Errorf("the added check's refused failures = %v (present %v); want a series at 0 from the start", v, ok)
	}
	if after, _ := metricValue(m, dbSuccesses); after < dbRuns {
		t.Errorf("db runs %v after the reload, %v before: its counters were reset", after, dbRuns)
	}
	if v, _ := metricValue(m, "healthgate_config_last_reload_successful"); v != 1 {
		t.Errorf("healthgate_config_last_reload_successful = %v; want 1", v)
	}
	okAt, _ := metricValue(m, "healthgate_config_last_reload_success_timestamp_seconds")

	// An invalid configuration, sent with SIGHUP: refused whole, every error logged with its line, the
	// old configuration still served, the metric at 0.
	bad := strings.Replace(v2, "interval: 500ms}", "interval: soon}", 1)
	bad = strings.Replace(bad, "type: postgres", "type: postgress", 1)
	bad = strings.Replace(bad, "name: fresh", "name: fresher", 1)
	// The poller may see the new file before the signal arrives and refuse it first: then SIGHUP (which
	// always reloads) refuses it again, so the test waits for the signal's own refusal.
	const refused = "configuration reload refused: still serving the previous configuration"
	cm.update(t, bad)
	p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the refusal", func() bool {
		return strings.Contains(p.log.String(), `"msg":"`+refused+`","trigger":"SIGHUP"`)
	})
	refusals := logCount(p.log, refused)
	// Each error is a line of its own after the refusal's (which says how many).
	for _, want := range []string{`healthgate.yaml:9:84: checks[2] \"tweak\": interval: invalid duration`, `healthgate.yaml:10:16: checks[3] \"db\": type: unknown type \"postgress\"`} {
		if !logShows(p.log, want) {
			t.Errorf("the log lacks %q:\n%s", want, p.log.String())
		}
	}
	m = p.probe(t, "/metrics").body
	if v, ok := metricValue(m, "healthgate_config_last_reload_successful"); !ok || v != 0 {
		t.Errorf("healthgate_config_last_reload_successful = %v (present %v) after a refused reload; want 0", v, ok)
	}
	if v, _ := metricValue(m, "healthgate_config_last_reload_success_timestamp_seconds"); v != okAt {
		t.Errorf("the success timestamp moved (%v → %v) on a refused reload", okAt, v)
	}
	for _, path := range []string{"/readyz", "/readyz/db", "/readyz/fresh"} {
		if r := p.probe(t, path); r.code != 200 {
			t.Errorf("%s = %d after a refused reload; want 200 (the old configuration kept)", path, r.code)
		}
	}
	if r := p.probe(t, "/readyz/fresher"); r.code != 404 {
		t.Errorf("/readyz/fresher = %d: part of a refused configuration was applied", r.code)
	}
	// The poller saw the same content: it does not try (and log) it again.
	time.Sleep(pollInterval + time.Second)
	if n := logCount(p.log, refused); n != refusals {
		t.Errorf("the refused configuration was tried %d times; want no more after the signal's (%d)", n, refusals)
	}

	// Fixed (and a restart-only setting changed): applied, the metric back to 1.
	cm.update(t, strings.Replace(v2, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1\n  grpc_listen: 127.0.0.1:2", 1))
	checktest.Eventually(t, 15*time.Second, "the fixed configuration to load", func() bool {
		v, _ := metricValue(p.probe(t, "/metrics").body, "healthgate_config_last_reload_successful")
		return v == 1
	})
	if !logShows(p.log, "server.listen changed: it needs a restart") {
		t.Errorf("a changed server.listen is not logged as needing a restart:\n%s", p.log.String())
	}
	if !logShows(p.log, "server.grpc_listen changed: it needs a restart") {
		t.Errorf("a changed server.grpc_listen is not logged as needing a restart:\n%s", p.log.String())
	}
	if v, _ := metricValue(p.probe(t, "/metrics").body, "healthgate_config_last_reload_success_timestamp_seconds"); v <= okAt {
		t.Errorf("the success timestamp %v did not move past %v", v, okAt)
	}
	if code := p.stop(t); code != exitOK {
		t.Errorf("serve exited %d; want 0", code)
	}
}

// TestServeReloadSeesEveryChange: the poll (no SIGHUP) notices a change of a check's own field alone
// (the address here: a fingerprint that missed the kind's fields reloaded nothing), a renewed TLS file
// that the configuration names by the same path, a rotated *_file, and a configuration file swapped for something that
// is not a regular file, which is refused at once and does not keep serve from stopping.
func TestServeReloadSeesEveryChange(t *testing.T) {
	t.Parallel() // waits on the poll
	listen := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		return ln.Addr().String()
	}
	web := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(web.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: web.Certificate().Raw})
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "address")
	if err := os.WriteFile(secret, []byte(listen()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	interval := "300ms"
	config := func(addr string) string {
		return fmt.Sprintf(`server: {listen: "127.0.0.1:0", shutdown_delay: 0s}
defaults: {interval: 300ms, timeout: 200ms}
checks:
  - {name: port, type: tcp, address: "%s", interval: %s}
  - {name: web, type: http, url: "%s", tls: {ca_file: "%s"}}
  - {name: secret, type: tcp, address_file: "%s"}
`, addr, interval, web.URL, ca, secret)
	}
	cm, path := newConfigMapDir(t, config(listen()))
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 200, 10*time.Second)
	reloaded := func(what, added, changed string) {
		t.Helper()
		checktest.Eventually(t, 15*time.Second, what, func() bool {
			return strings.Contains(p.log.String(), `"trigger":"file changed","config":"`+path+`","added":"`+added+`","removed":"","changed":"`+changed+`"`)
		})
	}

	addr := listen()
	cm.update(t, config(addr)) // only the tcp check's address changes
	reloaded("the new address to be reloaded", "", "port")
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	// Only its timing changes: rebuilt, but its last result carries over, so /readyz does not turn 503
	// on every pod that reloads until the first run.
	h := startHammer(t, p.addr, "/readyz")
	notReady := logCount(p.log, "not ready")
	interval = "400ms"
	cm.update(t, config(addr))
	checktest.Eventually(t, 15*time.Second, "the new interval to be reloaded", func() bool {
		return logCount(p.log, "configuration reloaded") == 2
	})
	time.Sleep(time.Second)
	h.end()
	if len(h.fails) > 0 || logCount(p.log, "not ready") != notReady {
		t.Fatalf("a check whose interval changed failed /readyz (%d probes): %v\n%s", h.n.Load(), h.fails, p.log.String())
	}

	// An added critical check that fails: /readyz tells the truth, /startupz does not go back.
	cm.update(t, config(addr)+`  - {name: late, type: tcp, address: "`+checktest.Unreachable(t)+`"}
`)
	reloaded("the added check", "late", "")
	p.waitCode(t, "/readyz", 503, 10*time.Second)
	if r := p.probe(t, "/startupz"); r.code != 200 {
		t.Fatalf("/startupz = %d after a reload added a failing critical check; want 200 (start-up happened once)", r.code)
	}
	cm.update(t, config(addr))
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	// The certificate renewed (cert-manager rewriting a mounted Secret): same path, new bytes, swapped
	// in by a rename as the kubelet does, so no poll sees a half-written file.
	replaceFile(t, ca, string(append(certPEM, certPEM...)))
	reloaded("the renewed CA file to rebuild web", "", "web")
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	// A *_file rotated (a mounted Secret updated): the check that reads it rebuilt.
	replaceFile(t, secret, listen()+"\n")
	reloaded("the rotated address_file to rebuild secret", "", "secret")
	p.waitCode(t, "/readyz", 200, 10*time.Second)

	// A FIFO, then /dev/zero, where the file was: refused (never read without bound, never hung on).
	for i, target := range []string{"fifo", "/dev/zero"} {
		if target == "fifo" {
			target = filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(target, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// Swapped in one rename (no moment without a file, which a poll would refuse for another reason).
		tmp := filepath.Join(cm.dir, "..data_tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		checktest.Eventually(t, 15*time.Second, "the refusal of "+target, func() bool {
			return logCount(p.log, "configuration reload refused: still serving the previous configuration") == i+1
		})
		if !strings.Contains(p.log.String(), "not a regular file") {
			t.Fatalf("the refusal does not say why:\n%s", p.log.String())
		}
	}
	if r := p.probe(t, "/readyz"); r.code != 200 {
		t.Fatalf("/readyz = %d after refused reloads; want the old configuration still serving", r.code)
	}
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Fatalf("serve exited %d; want 0", code)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("serve took %s to stop", took)
	}
}

// TestServeReloadRefusesNoChecks: a configuration that lost its checks key (a ConfigMap rendered with
// only its server section) is refused whole like any invalid one, not applied as an always-ready
// /readyz with every check removed.
func TestServeReloadRefusesNoChecks(t *testing.T) {
	addr := listening(t)
	server := "server: {listen: \"127.0.0.1:0\", shutdown_delay: 0s}\n"
	cm, path := newConfigMapDir(t, server+"checks:\n  - {name: port, type: tcp, address: \""+addr+"\", interval: 300ms, timeout: 200ms}\n")
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz/port", 200, 10*time.Second)
	cm.update(t, server)
	p.sigs <- syscall.SIGHUP
	const refused = `"msg":"configuration reload refused: still serving the previous configuration","trigger":"SIGHUP"`
	checktest.Eventually(t, 10*time.Second, "the refusal", func() bool { return strings.Contains(p.log.String(), refused) })
	if want := `"error":"nothing to check: ` + path + ` has no checks; add some under checks:`; !strings.Contains(p.log.String(), want) {
		t.Errorf("the refusal does not say why (%s):\n%s", want, p.log.String())
	}
	if v, ok := metricValue(p.probe(t, "/metrics").body, "healthgate_config_last_reload_successful"); !ok || v != 0 {
		t.Errorf("healthgate_config_last_reload_successful = %v (present %v); want 0", v, ok)
	}
	if r := p.probe(t, "/readyz/port"); r.code != 200 {
		t.Errorf("/readyz/port = %d after the refused reload; want 200 (the old configuration kept)", r.code)
	}
	// An explicit `checks: []` is taken at its word, with the warning.
	cm.update(t, server+"checks: []\n")
	p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the reload", func() bool { return logCount(p.log, "configuration reloaded") == 1 })
	if !strings.Contains(p.log.String(), "no checks configured in "+path) {
		t.Errorf("no warning about an empty checks list:\n%s", p.log.String())
	}
	if r := p.probe(t, "/readyz/port"); r.code != 404 {
		t.Errorf("/readyz/port = %d after checks: []; want 404", r.code)
	}
}

// TestServeReloadSeesAChangeDuringStart: a configuration that changes while serve starts (after its
// first read, before the poll's first look) is still applied: the poll must compare with what was
// loaded, not with what the file became. The environment's first read rewrites the file, the latest
// moment such a change can come.
func TestServeReloadSeesAChangeDuringStart(t *testing.T) {
	t.Parallel() // waits on the poll
	addr := listening(t)
	v1 := "server: {listen: \"127.0.0.1:0\", shutdown_delay: 0s}\nchecks:\n  - {name: first, type: tcp, address: \"${ADDR}\"}\n"
	v2 := v1 + "  - {name: second, type: tcp, address: \"${ADDR}\"}\n"
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	lookup := func(k string) (string, bool) {
		once.Do(func() {
			if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
				t.Error(err)
			}
		})
		return addr, k == "ADDR"
	}
	p := &serveProcess{log: &syncBuffer{}, sigs: make(chan os.Signal, 2), exited: make(chan int, 1)}
	go func() {
		p.exited <- run([]string{"serve", "--config", path, "--log-format", "json"}, lookup, p.sigs, io.Discard, p.log)
	}()
	p.addr = servedAddr(t, p.log)
	t.Cleanup(func() { p.stop(t) })
	checktest.Eventually(t, 10*time.Second, "the second check, written during the start, to be served", func() bool {
		return p.probe(t, "/readyz/second").code == 200
	})
}

// pollConfig writes a configuration of n tcp checks beside a postgres check whose URL names a root
// certificate, an http check with a tls block and a secret read from a file (url_file), and a ${VAR}:
// every kind of input the poll watches. It returns the configuration's path and the directory.
func pollConfig(t testing.TB, n int) (string, string) {
	dir := t.TempDir()
	for name, data := range map[string]string{"root.pem": "root v1", "ca.pem": "ca v1", "url": "http://127.0.0.1:1/v1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server: {listen: "127.0.0.1:0"}
checks:
  - {name: db, type: postgres, url: "postgres://u@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=%s"}
  - {name: web, type: http, url: "https://127.0.0.1:1/", tls: {ca_file: "%s"}}
  - {name: api, type: http, url_file: "%s"}
  - {name: port, type: tcp, address: "${ADDR}"}
`, filepath.Join(dir, "root.pem"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "url"))
	for i := range n {
		fmt.Fprintf(&b, "  - {name: c%d, type: tcp, address: \"127.0.0.1:%d\"}\n", i, 1+i%60000)
	}
	path := filepath.Join(dir, "healthgate.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// TestReloadPollDecodesOnlyOnChange: the idle poll decodes nothing (decoding a large configuration
// every 2 s cost a quarter of a core for ever); a comment costs one decode and no reload; a change of
// each input the configuration reads (a secret file, a certificate its URL or tls block names, a
// variable, the file swapped as a ConfigMap is) is seen by the next poll.
func TestReloadPollDecodesOnlyOnChange(t *testing.T) {
	path, dir := pollConfig(t, 100)
	vars := map[string]string{"ADDR": "127.0.0.1:1"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	var w configWatch
	w.take(path, lookup) // as cmdServe does
	w.changed(path, lookup)
	decodes := w.decodes // the inputs the first fingerprint found are read from the next poll on
	if decodes > 2 {
		t.Fatalf("%d decodes to start watching; want at most 2", decodes)
	}
	idle := func(what string) {
		t.Helper()
		for range 5 {
			if w.changed(path, lookup) {
				t.Fatalf("%s: the poll saw a change in an unchanged configuration", what)
			}
		}
		if w.decodes != decodes {
			t.Fatalf("%s: %d decodes in 5 polls of an unchanged configuration; want none", what, w.decodes-decodes)
		}
	}
	idle("at start")

	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write("healthgate.yaml", string(data)+"# a comment\n")
	if w.changed(path, lookup) {
		t.Fatal("a comment counts as a change")
	}
	decodes++
	idle("after a comment")

	for _, change := range []struct {
		what  string
		apply func()
	}{
		{"a rotated url_file", func() { write("url", "http://127.0.0.1:1/v2\n") }},
		{"a renewed sslrootcert", func() { write("root.pem", "root v2") }},
		{"a renewed tls.ca_file", func() { write("ca.pem", "ca v2") }},
		{"a variable's value", func() { vars["ADDR"] = "127.0.0.1:2" }},
	} {
		change.apply()
		if !w.changed(path, lookup) {
			t.Fatalf("%s: not seen by the poll", change.what)
		}
		decodes++
		idle("after " + change.what)
	}

	// A ConfigMap update: the file swapped by a symlink, its path the same.
	cm, cmPath := newConfigMapDir(t, string(data))
	w = configWatch{}
	w.take(cmPath, lookup)
	w.changed(cmPath, lookup)
	path, decodes = cmPath, w.decodes
	idle("in a ConfigMap")
	cm.update(t, strings.Replace(string(data), "name: c1,", "name: renamed,", 1))
	if !w.changed(path, lookup) {
		t.Fatal("the ConfigMap's update is not seen by the poll")
	}
	decodes++
	idle("after the ConfigMap's update")
}

// TestReloadPollWaitsForTheWrite: a file written in place and read half-written, the half valid YAML
// (cut between two checks), is not loaded: the poll sees it still changing and looks again at the next
// round, which loads it whole. The half was loaded: the checks past the cut removed, then back as unknown.
func TestReloadPollWaitsForTheWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	lookup := func(string) (string, bool) { return "", false }
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const one = "checks:\n  - {name: a, type: tcp, address: \"127.0.0.1:1\"}\n"
	const two = one + "  - {name: b, type: tcp, address: \"127.0.0.1:2\"}\n"
	write(one)
	var w configWatch
	w.take(path, lookup)
	w.changed(path, lookup) // the inputs the first fingerprint found are read from the next poll on
	write(two + "  - {name: c, type: tcp, address: \"127.0.0.1:3\"}\n")
	if !w.changed(path, lookup) {
		t.Fatal("a check added is not seen by the poll")
	}
	// Written in place again: truncated, and read with its first two checks alone before the rest lands.
	write(two)
	w.settling = func() { write(two + "  - {name: c, type: tcp, address: \"127.0.0.1:33\"}\n") }
	if w.changed(path, lookup) {
		t.Fatal("the half-written file was loaded")
	}
	w.settling = nil
	if !w.changed(path, lookup) {
		t.Fatal("the whole file, once written, is not seen by the next poll")
	}
	if w.changed(path, lookup) {
		t.Fatal("an unchanged file counts as a change")
	}
}

// BenchmarkReloadPoll is the idle poll of a configuration near --config's 1 MiB cap.
func BenchmarkReloadPoll(b *testing.B) {
	path, _ := pollConfig(b, 17000)
	if info, err := os.Stat(path); err == nil {
		b.Logf("configuration of %d KiB", info.Size()>>10)
	}
	lookup := func(k string) (string, bool) { return "127.0.0.1:1", k == "ADDR" }
	var w configWatch
	w.take(path, lookup)
	w.changed(path, lookup)
	b.ReportAllocs()
	for b.Loop() {
		if w.changed(path, lookup) {
			b.Fatal("changed")
		}
	}
}

// startTCPReloadFile writes a configuration of one tcp check "db" on a closed port (interval 1h, timeout
// 1s) and loads it as serve starts; write replaces its checks (YAML list items).
func startTCPReloadFile(t *testing.T) (path, closed string, write func(checks string), lookup env, cfg *config.Config, cs []*checks.Check) {
	t.Helper()
	closed = fmt.Sprintf("127.0.0.1:%d", checktest.FreePort(t))
	path = filepath.Join(t.TempDir(), "healthgate.yaml")
	write = func(checks string) {
		t.Helper()
		cfg := "server: {listen: 127.0.0.1:0}\ndefaults: {interval: 1h, timeout: 1s}\nchecks:\n" + checks
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("  - {name: db, type: tcp, address: %q}\n", closed))
	lookup = func(string) (string, bool) { return "", false }
	cfg, err := startConfig(path, lookup, "")
	if err != nil {
		t.Fatal(err)
	}
	if cs, err = checks.NewAll(cfg.Checks); err != nil {
		t.Fatal(err)
	}
	return path, closed, write, lookup, cfg, cs
}

// TestReloadSeriesBornAtZero: a reload's new series exist at 0 before the first run of their check is
// observed, so Prometheus sees that run as an increase (README "Metrics": a first failure is an increase
// that rate() and increase() see). Replace makes the first run of a changed check itself, before it
// returns, and starts an added check's runner: both runs can end before SetChecks. Here db's type changes
// (tcp to redis: new series) and both the old and the new db are refused, as is the added check.
func TestReloadSeriesBornAtZero(t *testing.T) {
	path, closed, write, lookup, cfg, cs := startTCPReloadFile(t)

	metrics := server.NewMetrics(server.BuildInfo{})
	var h *server.Handler
	scrape := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String()
	}
	var mu sync.Mutex
	var problems []string
	seen := map[string]bool{}
	observe := func(r monitor.Run) {
		key := r.Check.Name + "/" + r.Check.Type
		mu.Lock()
		if !seen[key] {
			seen[key] = true
			// This run is not counted yet: every series of its check must be there, at 0.
			body := scrape()
			for _, series := range []string{
				fmt.Sprintf(`healthgate_check_runs_total{check=%q,result="failure",type=%q}`, r.Check.Name, r.Check.Type),
				fmt.Sprintf(`healthgate_check_runs_total{check=%q,result="success",type=%q}`, r.Check.Name, r.Check.Type),
				fmt.Sprintf(`healthgate_check_failures_total{check=%q,reason=%q,type=%q}`, r.Check.Name, r.Class, r.Check.Type),
			} {
				if v, ok := metricValue(body, series); !ok || v != 0 {
					problems = append(problems, fmt.Sprintf("before the first run of %s is counted, %s = %v (present %t); want 0", key, series, v, ok))
				}
			}
		}
		mu.Unlock()
		metrics.Observe(r)
	}
	mon := monitor.New(cs, monitor.Options{OnRun: observe})
	h = server.New(mon, server.Options{Metrics: metrics})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { mon.Run(ctx) })
	rl := &reloader{path: path, lookup: lookup, log: slog.New(slog.DiscardHandler), metrics: metrics,
		instance: server.NewInstanceID(), mon: mon, handler: h, started: cfg, cfg: cfg, cs: cs}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		rl.close()
	})
	checktest.Eventually(t, 10*time.Second, "db's first run", func() bool {
		v, _ := metricValue(scrape(), `healthgate_check_runs_total{check="db",result="failure",type="tcp"}`)
		return v == 1
	})

	write(fmt.Sprintf("  - {name: db, type: redis, url: \"redis://%s\"}\n  - {name: fresh, type: tcp, address: %q}\n", closed, closed))
	rl.reload(t.Context(), "test")
	checktest.Eventually(t, 10*time.Second, "the first runs of the new db and of fresh", func() bool {
		body := scrape()
		db, _ := metricValue(body, `healthgate_check_runs_total{check="db",result="failure",type="redis"}`)
		fresh, _ := metricValue(body, `healthgate_check_runs_total{check="fresh",result="failure",type="tcp"}`)
		return db == 1 && fresh == 1
	})
	if strings.Contains(scrape(), `check="db",result="failure",type="tcp"`) {
		t.Error("the series of db as a tcp check are still exposed")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
}

// replaceFile writes data beside path and renames it over path, as the kubelet swaps a mounted file: a
// poll never reads it half-written.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// movedCheck is a serve whose one check, dep (a tcp check through proxy), is written in path after the
// lines write is given; it starts with none above dep, and dep has failed once with a hint that names
// line 4 and passes again.
type movedCheck struct {
	p     *serveProcess
	proxy *checktest.Proxy
	path  string
}

func startMovedCheck(t *testing.T) *movedCheck {
	t.Helper()
	m := &movedCheck{proxy: checktest.NewProxy(t, checktest.Serve(t, func(net.Conn) {})), path: filepath.Join(t.TempDir(), "healthgate.yaml")}
	m.proxy.Set(checktest.Refuse)
	m.write(t, "")
	m.p = startServeFile(t, m.path, nil)
	m.failing(t, 4)
	m.proxy.Set(checktest.Forward)
	m.p.waitCode(t, "/readyz", 200, 10*time.Second)
	return m
}

func (m *movedCheck) write(t *testing.T, above string) {
	t.Helper()
	writeServeChecks(t, m.path, above+fmt.Sprintf("  - {name: dep, type: tcp, address: %q, interval: 200ms, timeout: 150ms}\n", m.proxy.Addr()))
}

// failing cuts dep and waits for a failure line whose hint names line.
func (m *movedCheck) failing(t *testing.T, line int) {
	t.Helper()
	m.proxy.Set(checktest.Refuse)
	want := fmt.Sprintf(`address (%s:%d)`, m.path, line)
	checktest.Eventually(t, 10*time.Second, "a check failing line whose hint names "+want, func() bool {
		return strings.Contains(m.p.log.String(), want)
	})
}

// TestServeReloadMovedCheckHints: a reload keeps a check configured the same wherever it moved in the
// file (its state, its connections), and its hints name the line it is on now: they named the line it
// was built from, after lines above it were added (a check added before it, a comment).
func TestServeReloadMovedCheckHints(t *testing.T) {
	m := startMovedCheck(t)
	n := logCount(m.p.log, "configuration reloaded")
	m.write(t, "  # two lines above dep\n  - {name: other, type: tcp, address: \""+m.proxy.Addr()+"\"}\n")
	m.p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the reload", func() bool { return logCount(m.p.log, "configuration reloaded") > n })
	if strings.Contains(m.p.log.String(), `"changed":"dep"`) {
		t.Fatalf("dep was rebuilt, not kept:\n%s", m.p.log.String())
	}
	m.failing(t, 6)
}

// TestServeReloadMovedCheckPolled: a check that only moved in the file (a comment written above it, the
// file saved as an editor or the kubelet does) is not reloaded, and the poll still points its hints at
// the line it is on now: they named the old line, as the poll's fingerprint leaves positions out and no
// reload ran to move them (SIGHUP did).
func TestServeReloadMovedCheckPolled(t *testing.T) {
	m := startMovedCheck(t)
	m.write(t, "  # a comment above dep\n")
	time.Sleep(2*pollInterval + 500*time.Millisecond) // two polls
	m.failing(t, 5)
	if n := logCount(m.p.log, "configuration reloaded"); n != 0 {
		t.Errorf("a comment reloaded the configuration (%d reloads):\n%s", n, m.p.log.String())
	}
}

// TestServeReloadWaitsForAMissingFile: a configuration refused because a file it names does not exist yet
// (a Secret's volume updated after the ConfigMap's) is loaded by the poll once the file appears, with no
// SIGHUP and no other edit: a tls block's ca_file, and a postgres URL's sslrootcert=, which pgx reads
// itself (the poll watched only the files that existed).
func TestServeReloadWaitsForAMissingFile(t *testing.T) {
	t.Parallel() // waits on the poll
	pg := checktest.PostgresURL(t)
	web := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(web.Close)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: web.Certificate().Raw})
	base := `server: {listen: "127.0.0.1:0", shutdown_delay: 0s}
defaults: {interval: 300ms, timeout: 200ms}
checks:
  - {name: web, type: http, url: "` + web.URL + `"}
`
	cm, path := newConfigMapDir(t, base)
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 503, 10*time.Second) // its certificate is not trusted: started
	dir := t.TempDir()
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ name, check string }{
		{"webca", `{name: webca, type: http, url: "` + web.URL + `", critical: false, tls: {ca_file: "` + filepath.Join(dir, "webca.pem") + `"}}`},
		{"pgtls", `{name: pgtls, type: postgres, critical: false, url: "postgres://postgres@` + u.Host + `/test?sslmode=verify-full&sslrootcert=` + filepath.Join(dir, "pgtls.pem") + `"}`},
	} {
		base += "  - " + tc.check + "\n"
		cm.update(t, base)
		checktest.Eventually(t, 15*time.Second, "the reload that adds "+tc.name+" to be refused", func() bool {
			return logCount(p.log, "configuration reload refused: still serving the previous configuration") == i+1
		})
		replaceFile(t, filepath.Join(dir, tc.name+".pem"), string(certPEM))
		checktest.Eventually(t, 15*time.Second, tc.name+"'s file to be seen and the configuration loaded", func() bool {
			return strings.Contains(p.log.String(), `"added":"`+tc.name+`"`)
		})
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("serve exited %d; want 0", code)
	}
}

// reloadOntoSilentCheck starts serve with a check "web" on an HTTP server that answers (interval 30s,
// timeout as given), then changes its URL to a listener that never answers and sends SIGHUP: it returns
// once the changed check's first run, which the reload waits for, has reached that listener.
func reloadOntoSilentCheck(t *testing.T, shutdownDelay, timeout string) *serveProcess {
	t.Helper()
	var dialled atomic.Int32
	hung := checktest.Serve(t, func(c net.Conn) { dialled.Add(1); _, _ = io.Copy(io.Discard, c) })
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(up.Close)
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	write := func(url string) {
		t.Helper()
		replaceFile(t, path, `server: {listen: "127.0.0.1:0", shutdown_delay: `+shutdownDelay+`}
checks:
  - {name: web, type: http, url: "`+url+`", interval: 30s, timeout: `+timeout+`}
`)
	}
	write(up.URL)
	p := startServeFile(t, path, nil)
	p.waitCode(t, "/readyz", 200, 10*time.Second)
	write("http://" + hung + "/healthz")
	p.sigs <- syscall.SIGHUP
	checktest.Eventually(t, 10*time.Second, "the changed check's first run to reach the silent listener", func() bool { return dialled.Load() > 0 })
	return p
}

// TestServeReloadCutByTheDrain: a reload under way when the drain starts (waiting for a changed check's
// first run, on a dependency that does not answer) ends with serve, promptly, and says so; it logged
// "configuration reloaded" after "drained: stopped serving", of checks whose first run was cut short.
func TestServeReloadCutByTheDrain(t *testing.T) {
	t.Parallel() // waits on a reload
	p := reloadOntoSilentCheck(t, "0s", "20s")
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Fatalf("serve exited %d; want 0", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve took %s to stop during a reload; want it to cut the reload short", took)
	}
	log := p.log.String()
	if strings.Contains(log, `"msg":"configuration reloaded"`) || !strings.Contains(log, "configuration reload ended by the shutdown") {
		t.Errorf("the reload cut by the drain is not said to have ended with serve:\n%s", log)
	}
}

// TestReloadNotAfterTheDrain: a SIGHUP that arrived while the reloader was busy (a reload waiting for a
// changed check's first run) and is still pending when the drain starts reloads nothing: run chose at
// random between the drain and the pending SIGHUP, and half the time applied a configuration after
// "draining" (its new checks started during the drain, and it logged that their first runs were cut short
// when the reload had not even started before the shutdown).
func TestReloadNotAfterTheDrain(t *testing.T) {
	path, closed, write, lookup, cfg, cs := startTCPReloadFile(t)
	metrics := server.NewMetrics(server.BuildInfo{})
	mon := monitor.New(cs, monitor.Options{})
	var log syncBuffer
	rl := &reloader{path: path, lookup: lookup, log: slog.New(slog.NewJSONHandler(&log, nil)), metrics: metrics,
		instance: server.NewInstanceID(), mon: mon, handler: server.New(mon, server.Options{Metrics: metrics}), started: cfg, cfg: cfg, cs: cs}
	t.Cleanup(rl.close)
	rl.watch.take(path, lookup)
	write(fmt.Sprintf("  - {name: db, type: tcp, address: %q}\n  - {name: fresh, type: tcp, address: %q}\n", closed, closed))

	drained, drain := context.WithCancel(context.Background())
	drain()
	hup := make(chan struct{}, 1)
	for range 20 {
		hup <- struct{}{}
		rl.run(drained, hup)
		if rl.cfg != cfg {
			t.Fatalf("a SIGHUP pending when the drain started reloaded the configuration:\n%s", log.String())
		}
		select {
		case <-hup:
		default:
		}
	}
}

// TestReloadMovedCheckKeepsMigrationsHints: a check whose migrations block a reload left as the process
// started with it (a new release's version, which needs a restart) still has its hints pointed at the
// line it is on now when it only moves in the file (a comment written above it): the poll compared the
// file's check, new block and all, with the running one and found it not the same, so its hints kept
// naming the line it was on before.
func TestReloadMovedCheckKeepsMigrationsHints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	write := func(above, version string) {
		t.Helper()
		writeServeChecks(t, path, above+`  - {name: db, type: postgres, url: "postgres://u@127.0.0.1:1/db", migrations: {tool: rails, version: "`+version+`"}}`+"\n")
	}
	write("", "3")
	lookup := func(string) (string, bool) { return "", false }
	var watch configWatch
	watch.take(path, lookup)
	cfg, err := startConfig(path, lookup, "")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := checks.NewAll(cfg.Checks)
	if err != nil {
		t.Fatal(err)
	}
	metrics := server.NewMetrics(server.BuildInfo{})
	mon := monitor.New(cs, monitor.Options{})
	rl := &reloader{path: path, lookup: lookup, log: slog.New(slog.DiscardHandler), metrics: metrics, instance: server.NewInstanceID(),
		mon: mon, handler: server.New(mon, server.Options{Metrics: metrics}), started: cfg, cfg: cfg, cs: cs, watch: watch}
	t.Cleanup(rl.close)
	refused := &checks.Error{Class: checks.Refused, Err: errors.New("connection refused")}
	names := func(line int) bool { return strings.Contains(cs[0].Hint(refused), fmt.Sprintf("%s:%d", path, line)) }
	if !names(4) {
		t.Fatalf("db's hint does not name line 4: %s", cs[0].Hint(refused))
	}

	write("", "4") // a new release's version: the check keeps the block it started with
	rl.reload(t.Context(), "test")
	if len(rl.cs) != 1 || rl.cs[0] != cs[0] {
		t.Fatal("the reload that only changed the migrations version rebuilt db")
	}
	write("  # a comment above db\n", "4")
	if rl.watch.changed(path, lookup) {
		t.Fatal("a comment counts as a change")
	}
	if rl.watch.moved == nil {
		t.Fatal("the poll did not see db move")
	}
	rl.relocate(rl.watch.moved)
	if !names(5) {
		t.Errorf("db moved to line 5; its hint names: %s", cs[0].Hint(refused))
	}
}

// TestServeReloadFinishedDuringTheDrain: a reload under way when the drain starts, whose changed check's
// first run ends before the drain does (shutdown_delay longer than the check's timeout), is applied whole
// and logged as any reload, with what it added, removed and changed: it was logged as "ended by the
// shutdown: the first runs of its new checks were cut short", which none was.
func TestServeReloadFinishedDuringTheDrain(t *testing.T) {
	t.Parallel() // waits on a reload and a drain
	p := reloadOntoSilentCheck(t, "3s", "1s")
	p.sigs <- syscall.SIGTERM // one: the drain waits shutdown_delay, past the first run's timeout
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("serve exited %d; want 0", code)
	}
	log := p.log.String()
	if strings.Contains(log, "cut short") || !regexp.MustCompile(`"msg":"configuration reloaded","trigger":"SIGHUP",.*"changed":"web"`).MatchString(log) {
		t.Errorf("a reload whose first runs ended before the drain did is not logged as done:\n%s", log)
	}
}
