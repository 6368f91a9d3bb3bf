package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// servedAddr waits for the JSON "serving" line in a serve's log and returns its address.
func servedAddr(t *testing.T, l *syncBuffer) string {
	t.Helper()
	var addr string
	checktest.Eventually(t, 10*time.Second, "the serving log line", func() bool {
		var ok bool
		addr, ok = servingLine(l)
		return ok
	})
	return addr
}

// servingLine finds the JSON "serving" line in a serve's log and returns its address.
func servingLine(l *syncBuffer) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "serving" {
			return rec.Addr, true
		}
	}
	return "", false
}

// serveProcess is `healthgate serve` running in-process through run().
type serveProcess struct {
	addr   string
	log    *syncBuffer
	sigs   chan os.Signal
	exited chan int // receives the exit code once; see wait
}

// wait returns the exit code, or fails the test if serve has not exited within d.
func (p *serveProcess) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-p.exited:
		p.exited <- code // keep it for later callers
		return code
	case <-time.After(d):
		t.Fatalf("serve did not exit within %s", d)
		return -1
	}
}

// stop sends two SIGTERMs (the second skips the drain delay) and waits for the exit code.
func (p *serveProcess) stop(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.exited:
		p.exited <- code
		return code
	default:
	}
	p.sigs <- syscall.SIGTERM
	p.sigs <- syscall.SIGTERM
	return p.wait(t, 15*time.Second)
}

func startServe(t *testing.T, yaml string, env map[string]string) *serveProcess {
	t.Helper()
	return startServeFile(t, writeServeConfig(t, yaml), env)
}

func writeServeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServeFile runs serve on the configuration file at path.
func startServeFile(t *testing.T, path string, env map[string]string) *serveProcess {
	t.Helper()
	p := &serveProcess{log: &syncBuffer{}, sigs: make(chan os.Signal, 2), exited: make(chan int, 1)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		p.exited <- run([]string{"serve", "--config", path, "--log-format", "json"}, lookup, p.sigs, io.Discard, p.log)
	}()
	t.Cleanup(func() { p.stop(t) })
	// The serving line, or serve's exit, whichever comes first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if addr, ok := servingLine(p.log); ok {
			p.addr = addr
			return p
		}
		select {
		case code := <-p.exited:
			p.exited <- code
			t.Fatalf("serve exited %d before serving:\n%s", code, p.log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving log line after 10s:\n%s", p.log.String())
		}
	}
}

type probeResult struct {
	code   int
	body   string
	header http.Header
	took   time.Duration
}

func (p *serveProcess) probe(t *testing.T, path string, hdr ...string) probeResult {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.addr+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return probeResult{code: resp.StatusCode, body: string(b), header: resp.Header, took: time.Since(start)}
}

// waitCode polls path until it answers code, asserting /livez stays 200 all along, and returns how
// long it took.
func (p *serveProcess) waitCode(t *testing.T, path string, code int, within time.Duration) time.Duration {
	t.Helper()
	took, ok := checktest.Poll(within, 20*time.Millisecond, func() bool {
		if r := p.probe(t, "/livez"); r.code != 200 {
			t.Fatalf("/livez = %d while waiting for %s; it must never depend on a dependency", r.code, path)
		}
		return p.probe(t, path).code == code
	})
	if !ok {
		t.Fatalf("%s did not answer %d within %s; last: %q", path, code, within, p.probe(t, path+"?verbose").body)
	}
	return took
}

const (
	e2eInterval = 400 * time.Millisecond
	e2eTimeout  = 250 * time.Millisecond
	e2eSlack    = 1500 * time.Millisecond // a loaded 2-core CI machine
)

// TestServeEndToEnd runs the real program against the real Postgres and Redis, cutting them on the
// wire with proxies.
func TestServeEndToEnd(t *testing.T) {
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	pg := checktest.NewProxy(t, checktest.HostPort(t, pgURL))
	rd := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	optional := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(api.Close)

	// Trust auth accepts any password, so the URL can carry one that must never be shown.
	dbURL := checktest.WithHost(t, strings.Replace(pgURL, "postgres@", "postgres:s3cr3t-pg-pw@", 1), pg.Addr())
	yaml := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_delay: 1s
  shutdown_timeout: 2s
  details: token
  details_token: ${TOKEN}
defaults: {interval: %s, timeout: %s, failure_threshold: 2, success_threshold: 1}
checks:
  - {name: db, type: postgres, url: "${DATABASE_URL}"}
  - {name: cache, type: redis, url: "%s"}
  - {name: sessions, type: redis, url: "%s", critical: false}
  - {name: api, type: http, url: "%s/health?api_key=s3cr3t-api-key"}
`, e2eInterval, e2eTimeout, checktest.WithHost(t, redisURL, rd.Addr()), checktest.WithHost(t, redisURL, optional.Addr()), api.URL)
	p := startServe(t, yaml, map[string]string{"DATABASE_URL": dbURL, "TOKEN": "s3cr3t-token"})

	p.waitCode(t, "/readyz", 200, 5*time.Second)
	if r := p.probe(t, "/startupz"); r.code != 200 {
		t.Errorf("/startupz = %d once ready; want 200", r.code)
	}

	// A critical dependency blackholed just after a run of db ended (so no run is under way to be cut
	// short): 503 within failure_threshold × interval + timeout.
	const dbRuns = `healthgate_check_runs_total{check="db",result="success",type="postgres"}`
	n, _ := metricValue(p.probe(t, "/metrics").body, dbRuns)
	checktest.Eventually(t, 5*time.Second, "a run of db to end", func() bool {
		m, _ := metricValue(p.probe(t, "/metrics").body, dbRuns)
		return m > n
	})
	const dbFailedRuns = `healthgate_check_runs_total{check="db",result="failure",type="postgres"}`
	f0, _ := metricValue(p.probe(t, "/metrics").body, dbFailedRuns)
	pg.Set(checktest.Blackhole)
	bound := 2*e2eInterval + e2eTimeout
	// waitCode waits longer than the bound, so that a late 503 is reported with its time, by the check below.
	took := p.waitCode(t, "/readyz", 503, bound+3*e2eSlack)
	if took > bound+e2eSlack {
		t.Errorf("503 after %s; bound %s", took, bound)
	}
	// And not before the second failed run ended: one failure must not flip it (threshold 2). Counted,
	// not timed: the first failed run starts anywhere within an interval of the blackhole (this test
	// sees a run's end only when it polls the metrics), so a floor on the time either misses threshold 1
	// or fails threshold 2 on a loaded machine (782 ms against 800 once). OnRun counts a run just after
	// the snapshot it changed is published, so the second failure may show a moment after the 503;
	// under threshold 1 it comes a whole interval (400 ms) after.
	var failed float64
	if _, ok := checktest.Poll(150*time.Millisecond, 10*time.Millisecond, func() bool {
		failed, _ = metricValue(p.probe(t, "/metrics").body, dbFailedRuns)
		return failed >= f0+2
	}); !ok {
		t.Errorf("/readyz turned 503 after %v failed runs of db: failure_threshold 2 not honoured", failed-f0)
	}
	// Probes stay fast while the dependency hangs: they are served from the snapshot. A probe that
	// waited on a run would take up to the timeout, and most would; a stalled machine slows a few.
	var slow int
	for range 50 {
		if p.probe(t, "/readyz").took > 100*time.Millisecond {
			slow++
		}
	}
	if slow > 3 {
		t.Errorf("%d of 50 probes took over 100 ms while Postgres is blackholed; want them served at once", slow)
	}
	r := p.probe(t, "/readyz")
	if !strings.Contains(r.body, "[-]db failed: reason withheld") {
		t.Errorf("without the token: %q", r.body)
	}
	r = p.probe(t, "/readyz", "Authorization", "Bearer s3cr3t-token")
	if !strings.Contains(r.body, "[-]db failed: timeout: ") {
		t.Errorf("with the token: %q; want the reason, class first", r.body)
	}
	if r := p.probe(t, "/readyz/db"); r.code != 503 {
		t.Errorf("/readyz/db = %d; want 503", r.code)
	}
	if r := p.probe(t, "/readyz/cache"); r.code != 200 {
		t.Errorf("/readyz/cache = %d; want 200", r.code)
	}

	// Restored: 200 within success_threshold × interval (+ the run's own time).
	pg.Set(checktest.Forward)
	bound = e2eInterval + e2eTimeout
	if took := p.waitCode(t, "/readyz", 200, bound+3*e2eSlack); took > bound+e2eSlack {
		t.Errorf("200 after %s; bound %s", took, bound)
	}

	// A non-critical dependency refused: still 200, status warn, Envoy's degraded header.
	optional.Set(checktest.Refuse)
	checktest.Eventually(t, 2*e2eInterval+e2eTimeout+e2eSlack, "the degraded header", func() bool {
		return p.probe(t, "/readyz").header.Get("X-Envoy-Degraded") == "true"
	})
	r = p.probe(t, "/readyz?format=json")
	if r.code != 200 || !strings.Contains(r.body, `"status":"warn"`) {
		t.Errorf("non-critical failure: %d %s; want 200 warn", r.code, r.body)
	}
	if r := p.probe(t, "/metrics"); !strings.Contains(r.body, `healthgate_check_up{check="sessions",critical="false",type="redis"} 0`) {
		t.Errorf("/metrics does not show sessions down")
	}

	// Secrets never appear: not in responses (even with details), not in the log.
	for _, path := range []string{"/readyz?verbose", "/readyz?format=json", "/metrics", "/startupz?verbose"} {
		if b := p.probe(t, path, "Authorization", "Bearer s3cr3t-token").body; strings.Contains(b, "s3cr3t") {
			t.Errorf("%s leaks a secret", path)
		}
	}

	// SIGTERM: /readyz fails at once, /livez stays 200, exit 0 after shutdown_delay.
	sent := time.Now()
	p.sigs <- syscall.SIGTERM
	// Within shutdown_delay (1 s), after which nothing answers: at once, give or take a loaded machine.
	checktest.Eventually(t, 900*time.Millisecond, "/readyz 503 after SIGTERM", func() bool {
		return p.probe(t, "/readyz").code == 503
	})
	if r := p.probe(t, "/readyz?verbose"); !strings.Contains(r.body, "[-]shutdown failed") {
		t.Errorf("after SIGTERM: %q; want the shutdown check failing", r.body)
	}
	if r := p.probe(t, "/livez"); r.code != 200 {
		t.Errorf("/livez after SIGTERM = %d; want 200", r.code)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d; want 0", code)
	}
	if took := time.Since(sent); took < time.Second {
		t.Errorf("exited %s after SIGTERM; want after shutdown_delay (1s)", took)
	}
	if log := p.log.String(); strings.Contains(log, "s3cr3t") {
		t.Errorf("the log leaks a secret:\n%s", log)
	}
	for _, want := range []string{`"msg":"check failing","check":"db","type":"postgres"`, `"reason":"timeout"`, `"msg":"check passing","check":"db"`, `"msg":"drained: stopped serving"`} {
		if !strings.Contains(p.log.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	yaml := "server: {listen: \"127.0.0.1:0\", details: sometimes}\nchecks:\n  - {name: db, type: postgres, url: \"postgres://u:s3cr3t@h/db\", interval: 1s, timeout: 2s}\n  - {name: x, type: nosuch}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run([]string{"serve", "--config", path}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	if code != exitUsage {
		t.Errorf("exit %d; want %d", code, exitUsage)
	}
	out := stderr.String()
	for _, want := range []string{"invalid configuration (3 errors)", path + ":1", "details", path + ":3", "timeout (2s) must be shorter than interval (1s)", path + ":4", `unknown type "nosuch"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "serving") {
		t.Errorf("stderr leaks a secret or served anyway:\n%s", out)
	}
}

// A configuration that does not load reads the same from serve, check and wait: serve's header, every
// error at its line. Given with --only, it is reported as it is, never as a configuration without the
// named checks.
func TestConfigErrorsReadAlike(t *testing.T) {
	path := writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    url: postgres://127.0.0.1/x\n    intervall: 1s\n    timeout: 10s\n")
	for _, args := range [][]string{
		{"serve", "--config", path},
		{"check", "--config", path},
		{"wait", "--config", path},
		{"check", "--config", path, "--only", "db"},
		{"wait", "--config", path, "--only", "db"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := runMain(t, noEnv, args...)
			if code != exitUsage {
				t.Fatalf("exit %d; want %d:\n%s", code, exitUsage, stderr)
			}
			want := "healthgate " + args[0] + ": invalid configuration (2 errors):\n" +
				"  " + path + ":5:5: checks[0] \"db\": intervall: unknown field (did you mean \"interval\"?)\n" +
				"  " + path + ":6:5: checks[0] \"db\": timeout: timeout (10s) must be shorter than interval (5s), so one run ends before the next starts\n"
			if stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
}

// --listen is checked like server.listen: a usage error (exit 2), before anything is served.
func TestServeListenFlagErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte("server: {grpc_listen: \"127.0.0.1:19090\"}\nchecks: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ listen, want string }{
		{"foo", `--listen: must be host:port or :port (got "foo")`},
		{":99999", `--listen: port must be a number from 0 to 65535 (got "99999")`},
		{"127.0.0.1:19090", "--listen: must differ from server.grpc_listen (127.0.0.1:19090)"},
		{":19090", "--listen: must differ from server.grpc_listen (127.0.0.1:19090)"}, // a wildcard binds it too
	} {
		var stderr bytes.Buffer
		code := run([]string{"serve", "--config", path, "--listen", tc.listen}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("--listen %s: exit %d, stderr %q; want exit 2 and %q", tc.listen, code, stderr.String(), tc.want)
		}
	}

	// Every usage error at once, as for the configuration.
	var stderr bytes.Buffer
	code := run([]string{"serve", "--config", path, "--listen", "foo", "--log-format", "xml", "extra"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	want := "healthgate serve: 3 errors:\n  unexpected argument \"extra\": serve runs the checks of --config FILE (or of DATABASE_URL and REDIS_URL)\n  --listen: must be host:port or :port (got \"foo\")\n  --log-format: \"xml\" is not text or json\n"
	if code != exitUsage || stderr.String() != want {
		t.Errorf("three usage errors: exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, stderr.String(), want)
	}
	// A URL given as an argument (serve "$DATABASE_URL") is shown redacted, as wait and check show it.
	stderr.Reset()
	code = run([]string{"serve", "postgres://app:hunter2@db/app"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	if want := `unexpected argument "postgres://app:xxxxx@db/app"`; code != exitUsage || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("serve URL: exit %d, stderr:\n%s\nwant exit 2, %q and no password", code, stderr.String(), want)
	}

	// A flag's error and the configuration's together, as check and wait report them: it read the flag's alone.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("checks:\n  - {name: db, type: tcp, adress: \"127.0.0.1:1\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	code = run([]string{"serve", "--validate", "--config", bad, "--listen", "foo"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	for _, w := range []string{"errors:", `--listen: must be host:port or :port (got "foo")`, bad + `:2:27: checks[0] "db": adress: unknown field (did you mean "address"?)`} {
		if code != exitUsage || !strings.Contains(stderr.String(), w) {
			t.Errorf("--listen and the file wrong: exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr.String(), w)
		}
	}

	// --listen moves the HTTP port off a file whose listen equals its grpc_listen: the file's listen is not
	// bound, and nothing clashes; it was refused ("grpc_listen: must differ from listen"), at start and
	// at every reload.
	same := filepath.Join(t.TempDir(), "same.yaml")
	if err := os.WriteFile(same, []byte("server: {listen: \"127.0.0.1:19091\", grpc_listen: \"127.0.0.1:19091\"}\nchecks: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	code = run([]string{"serve", "--validate", "--config", same, "--listen", "127.0.0.1:19092"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	if code != 0 {
		t.Errorf("--listen off a file whose listen is its grpc_listen: exit %d, stderr:\n%s\nwant 0", code, stderr.String())
	}
	stderr.Reset()
	code = run([]string{"serve", "--validate", "--config", same}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "grpc_listen: must differ from listen") {
		t.Errorf("without --listen: exit %d, stderr:\n%s\nwant 2 and the clash", code, stderr.String())
	}

	// Both log flags wrong: both said.
	stderr.Reset()
	code = run([]string{"serve", "--config", path, "--log-level", "loud", "--log-format", "xml"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
	want = "healthgate serve: 2 errors:\n  --log-level: \"loud\" is not one of debug, info, warn, error\n  --log-format: \"xml\" is not text or json\n"
	if code != exitUsage || stderr.String() != want {
		t.Errorf("two log flag errors: exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, stderr.String(), want)
	}

	// --config given twice, or empty (`--config "$CONFIG"`, the variable unset): refused, as wait and
	// check refuse them. The second replaced the first without a word, and an empty one read as no
	// --config, serving ./healthgate.yaml or DATABASE_URL/REDIS_URL instead.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", path, "--config", "other.yaml"}, `--config: given twice ("` + path + `", "other.yaml"); it takes one value: give it once`},
		{[]string{"--config", ""}, `--config: invalid value "": empty (an unset variable?)`},
	} {
		stderr.Reset()
		code = run(append([]string{"serve"}, tc.args...), func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// startServeInDir runs serve in an empty directory, with ./healthgate.yaml holding yaml unless it
// is empty, and this environment.
func startServeInDir(t *testing.T, yaml string, env map[string]string) *serveProcess {
	t.Helper()
	t.Chdir(t.TempDir())
	if yaml != "" {
		if err := os.WriteFile(config.DefaultFile, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := &serveProcess{log: &syncBuffer{}, sigs: make(chan os.Signal, 2), exited: make(chan int, 1)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		p.exited <- run([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, lookup, p.sigs, io.Discard, p.log)
	}()
	p.addr = servedAddr(t, p.log)
	return p
}

// An explicit `checks: []` serves, always ready, with a warning.
func TestServeWithoutChecks(t *testing.T) {
	p := startServeInDir(t, "checks: []\n", nil)
	if r := p.probe(t, "/readyz"); r.code != 200 {
		t.Errorf("/readyz with no checks = %d; want 200", r.code)
	}
	if !strings.Contains(p.log.String(), "no checks configured in healthgate.yaml") {
		t.Errorf("no warning about missing checks:\n%s", p.log)
	}
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("two signals: exit took %s; the second must skip shutdown_delay", took)
	}
}

// A file that says nothing of checks (empty, only comments, only a server section, every item of
// checks: commented out) is refused as check and wait refuse it, not served as an always-ready /readyz:
// only an explicit `checks: []` serves with no checks.
func TestServeRefusesAFileWithoutChecks(t *testing.T) {
	for name, yaml := range map[string]string{
		"empty":          "",
		"comments":       "# checks to come\n",
		"server only":    "server:\n  listen: 127.0.0.1:0\n",
		"items hidden":   "server: {listen: \"127.0.0.1:0\"}\nchecks:\n#  - {name: db, type: tcp, address: \"db:5432\"}\n",
		"defaults, null": "defaults: {interval: 10s}\nchecks: ~\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, yaml)
			code, _, stderr := runMain(t, noEnv, "serve", "--config", path, "--listen", "127.0.0.1:0")
			want := "healthgate serve: nothing to check: " + path + " has no checks; add some under checks: (to serve with no checks on purpose, write `checks: []`)\n"
			if code != exitUsage || stderr != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and:\n%s", code, stderr, want)
			}
			// check says it in the same words.
			_, _, stderr = runMain(t, noEnv, "check", "--config", path)
			if !strings.HasPrefix(stderr, "healthgate check: nothing to check: "+path+" has no checks; add some") {
				t.Errorf("check: %s", stderr)
			}
		})
	}
}

// TestServeValidate: `serve --validate` judges the configuration as serve and its reloads do, the
// server and fleet sections included (which check ignores), and exits 0 or 2 without listening on the
// configured address (held here: listening would fail with exit 1) or running a check (the proxies in
// front of the real Postgres and of a port see no connection).
func TestServeValidate(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	pg := checktest.NewProxy(t, checktest.HostPort(t, checktest.PostgresURL(t)))
	port := checktest.NewProxy(t, listening(t))
	checksYAML := fmt.Sprintf(`checks:
  - {name: db, type: postgres, url: "postgres://postgres@%s/test", scope: shared}
  - {name: port, type: tcp, address: "%s"}
`, pg.Addr(), port.Addr())
	valid := writeConfig(t, fmt.Sprintf("server: {listen: %q}\nfleet: {peers: [\"127.0.0.1:1\", \"127.0.0.2:1\"]}\n", held.Addr())+checksYAML)
	code, stdout, stderr := runMain(t, noEnv, "serve", "--config", valid, "--validate")
	if want := "healthgate serve: configuration OK: " + valid + " (2 checks)\n"; code != exitOK || stdout != want || stderr != "" {
		t.Errorf("valid: exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	// Valid, but a list of one peer can never reach min_pods (3): said after the OK line.
	lonely := writeConfig(t, fmt.Sprintf("server: {listen: %q}\nfleet: {peers: [\"127.0.0.1:1\"]}\n", held.Addr())+checksYAML)
	code, stdout, _ = runMain(t, noEnv, "serve", "--config", lonely, "--validate")
	if want := "healthgate serve: warning: fleet: this pod and the 1 peer listed are fewer than min_pods (3); nothing can fail open"; code != exitOK || !strings.Contains(stdout, want) {
		t.Errorf("one peer listed: exit %d, stdout %q; want 0 and a line saying %q", code, stdout, want)
	}

	invalid := writeConfig(t, fmt.Sprintf("server: {listen: %q, details: sometimes}\nfleet: {peers: [\"127.0.0.1:1\"], fail_open_ratio: 2}\n", held.Addr())+checksYAML)
	code, stdout, stderr = runMain(t, noEnv, "serve", "--config", invalid, "--validate")
	want := "healthgate serve: invalid configuration (2 errors):\n" +
		"  " + invalid + fmt.Sprintf(":1:%d", len(`server: {listen: "`+held.Addr().String()+`", `)+1) + ": server: details: must be one of never, token, always (got \"sometimes\")\n" +
		"  " + invalid + ":2:33: fleet: fail_open_ratio: must be greater than 0 and at most 1 (got 2)\n"
	if code != exitUsage || stdout != "" || stderr != want {
		t.Errorf("server and fleet errors: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and:\n%s", code, stdout, stderr, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no checks key", []string{"--config", writeConfig(t, "server: {details: never}\n")}, "has no checks"},
		{"--listen on the gRPC port", []string{"--config", writeConfig(t, "server: {grpc_listen: \"127.0.0.1:19090\"}\nchecks: []\n"), "--listen", "127.0.0.1:19090"},
			"--listen: must differ from server.grpc_listen (127.0.0.1:19090)"},
	} {
		code, stdout, stderr := runMain(t, noEnv, append([]string{"serve", "--validate"}, tc.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, code, stdout, stderr, tc.want)
		}
	}
	if n := pg.Accepted() + port.Accepted(); n != 0 {
		t.Errorf("--validate made %d connections; want none (no check runs)", n)
	}
}

// No file and neither DATABASE_URL nor REDIS_URL (a misspelled variable, a missing mount): not an
// always-ready probe but exit 2, as wait and check do.
func TestServeNothingToCheck(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "or set DATABASE_URL / REDIS_URL"},
		{map[string]string{"DATABSE_URL": "postgres://u:s3cr3t@h/db", "DATABASE_URL": ""}, "or give DATABASE_URL a URL: it is set, but empty"},
	} {
		env := tc.env
		var stderr bytes.Buffer
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		done := make(chan int, 1)
		go func() { done <- run([]string{"serve", "--listen", "127.0.0.1:0"}, lookup, nil, io.Discard, &stderr) }()
		select {
		case code := <-done:
			out := stderr.String()
			if code != exitUsage || !strings.HasPrefix(out, "healthgate serve: nothing to check: give --config") ||
				!strings.Contains(out, tc.want) || strings.Contains(out, "serving") || strings.Contains(out, "s3cr3t") {
				t.Errorf("env %v: exit %d, stderr %q; want exit 2 and the nothing-to-check help with %q", env, code, out, tc.want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("env %v: serve did not exit; want exit 2 at once", env)
		}
	}
}

func TestServeFromEnvironment(t *testing.T) {
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	p := startServeInDir(t, "", map[string]string{"DATABASE_URL": pgURL, "REDIS_URL": redisURL})
	p.waitCode(t, "/readyz", 200, 10*time.Second)
	if r := p.probe(t, "/readyz?verbose"); !strings.Contains(r.body, "[+]postgres ok\n[+]redis ok\n") {
		t.Errorf("checks from DATABASE_URL and REDIS_URL: %q", r.body)
	}
	start := time.Now()
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("two signals: exit took %s; the second must skip shutdown_delay", took)
	}
}

// TestServeListenerFails: a listener that fails while serving (no signal, no drain) ends serve with
// exit 1 and "serve failed", at once: the configuration reloader, which stops with the drain, must not
// hold it for ever. The listening socket is shut down under net/http, whose next accept then fails.
// TestServeCannotListen: an address in use, or one this machine does not have, ends serve with the
// reason and what to do about it, where the log line carried net's error alone.
func TestServeCannotListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte("server: {shutdown_delay: 0s}\nchecks: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ listen, want string }{
		{taken.Addr().String(), `"hint":"another process listens on this port (healthgate already running, or the application itself): free it, or set server.listen (or --listen) to another port"`},
		{"192.0.2.1:18080", `"hint":"no interface of this machine has that address`}, // TEST-NET-1: no host has it
	} {
		var stderr bytes.Buffer
		code := run([]string{"serve", "--config", path, "--log-format", "json", "--listen", tc.listen}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
		if code != exitFailed || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("--listen %s: exit %d, stderr %q; want exit %d and %q", tc.listen, code, stderr.String(), exitFailed, tc.want)
		}
	}
}

func TestServeListenerFails(t *testing.T) {
	p := startServe(t, "server: {listen: \"127.0.0.1:0\", shutdown_delay: 0s}\nchecks: []\n", nil)
	if err := syscall.Shutdown(listeningFD(t, p.addr), syscall.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != exitFailed {
		t.Fatalf("serve exited %d after its listener failed; want %d:\n%s", code, exitFailed, p.log.String())
	}
	if !strings.Contains(p.log.String(), `"msg":"serve failed"`) {
		t.Errorf("no serve failed line:\n%s", p.log.String())
	}
}

// listeningFD finds this process's listening socket bound to addr (an IPv4 host:port).
func listeningFD(t *testing.T, addr string) int {
	t.Helper()
	want, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); !strings.HasPrefix(l, "socket:") {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		in, ok := sa.(*syscall.SockaddrInet4)
		if err != nil || !ok || in.Port != want.Port || !net.IP(in.Addr[:]).Equal(want.IP) {
			continue
		}
		if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err == nil && v == 1 {
			return fd
		}
	}
	t.Fatalf("no listening socket for %s", addr)
	return -1
}

// TestUnknownCommand: a mistyped command is answered with the one meant, and a flag written before the
// command with where flags go; it said "unknown command" and the usage alone.
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"serv", `healthgate: unknown command "serv" (did you mean "serve"?)`},
		{"Check", `healthgate: unknown command "Check" (did you mean "check"?)`},
		{"--postgres", `healthgate: unknown command "--postgres" (flags follow the command: healthgate check --postgres ..., or wait, or serve)`},
		{"frobnicate", "healthgate: unknown command \"frobnicate\"\n"},
		{"-v", `healthgate: unknown command "-v" (did you mean --version?)`},
	} {
		var stderr bytes.Buffer
		code := run([]string{tc.arg, "x"}, func(string) (string, bool) { return "", false }, nil, io.Discard, &stderr)
		if code != exitUsage || !strings.HasPrefix(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 2, %q and the usage", tc.arg, code, stderr.String(), tc.want)
		}
	}
	// One dash, as every command's flags take it: -version and -help answer as --version and --help.
	for arg, want := range map[string]string{"-version": "healthgate ", "-help": "Usage:"} {
		var stdout bytes.Buffer
		if code := run([]string{arg}, func(string) (string, bool) { return "", false }, nil, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), want) {
			t.Errorf("%s: exit %d, stdout %q; want exit 0 and %q", arg, code, stdout.String(), want)
		}
	}
}

// stalledWriter is an output that nobody reads (a stderr whose reader stopped): every write blocks until
// released, and then it takes everything.
type stalledWriter struct {
	released chan struct{}
	entered  atomic.Int64 // writes begun
	n        atomic.Int64 // writes done
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	w.entered.Add(1)
	<-w.released
	w.n.Add(1)
	return len(p), nil
}

// TestServeDrainsWithStderrStalled: serve answers, and its drain ends on time, when nobody reads its
// stderr. The drain's first line was written at once, and a stalled stderr held it, the drain with it,
// until the kubelet's SIGKILL; the lines it could not write are lost, not waited for.
func TestServeDrainsWithStderrStalled(t *testing.T) {
	t.Parallel() // waits on a drain
	addr := checktest.ClosedAddr(t)
	path := writeConfig(t, fmt.Sprintf(`server: {listen: %q, shutdown_delay: 500ms, shutdown_timeout: 1s}
checks:
  - {name: up, type: tcp, address: %q, interval: 100ms, timeout: 50ms}
`, addr, listening(t)))
	out := &stalledWriter{released: make(chan struct{})}
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	go func() {
		exited <- run([]string{"serve", "--config", path}, func(string) (string, bool) { return "", false }, sigs, io.Discard, out)
	}()
	defer close(out.released) // then the writer's goroutine writes what it holds, and ends
	client := &http.Client{Timeout: 2 * time.Second}
	checktest.Eventually(t, 10*time.Second, "serve to answer /readyz 200 with its stderr stalled", func() bool {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	sent := time.Now()
	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d; want 0", code)
		}
		// shutdown_delay 500ms, the drain's timeout 1s, the log's last wait 1s: well under 10 s.
		if took := time.Since(sent); took > 6*time.Second {
			t.Errorf("serve took %s to drain with its stderr stalled", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not end its drain with its stderr stalled")
	}
	if out.n.Load() != 0 {
		t.Errorf("%d writes went through a stalled output", out.n.Load())
	}
}
