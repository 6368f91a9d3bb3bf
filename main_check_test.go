package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/healthgate/healthgate/checks/checktest"
)

// The secrets the check tests put in URLs; none may appear in any output.
var secrets = []string{"hunter2-check-secret", "topsecret-api-key", "hunter2-redis-secret", pathToken}

// pathToken is an API key carried as a path segment (a webhook's, a bot's), as http-500 is written.
const pathToken = "a1B2c3D4e5F6g7H8i9J0k1L2"

func assertNoSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q in output:\n%s", s, out)
			}
		}
	}
}

// reasonConfig is one healthy and one failing dependency per reason class this machine can produce.
// It returns the configuration and, per check name, the reason class it must report ("" = pass).
func reasonConfig(t *testing.T) (string, map[string]string) {
	t.Helper()
	pg, rd := checktest.PostgresURL(t), checktest.RedisURL(t)
	refused := checktest.NewProxy(t, checktest.HostPort(t, pg))
	refused.Set(checktest.Refuse)
	blackhole := checktest.NewProxy(t, checktest.HostPort(t, rd))
	blackhole.Set(checktest.Blackhole)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/fail") {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(ok.Close)

	withDB := func(raw, db string) string { return strings.Replace(raw, "/test", "/"+db, 1) }
	yaml := fmt.Sprintf(`defaults:
  timeout: 1s
checks:
  - name: postgres-ok
    type: postgres
    url: %[1]s
  - name: redis-ok
    type: redis
    url: %[2]s
  - name: http-ok
    type: http
    url: %[3]s/health?api_key=topsecret-api-key
  - name: tcp-ok
    type: tcp
    address: %[4]s
  - name: refused
    type: postgres
    url: %[5]s
  - name: blackhole
    type: redis
    url: %[6]s
    timeout: 300ms
  - name: dns
    type: http
    url: http://healthgate-test.invalid/health
  - name: wrong-database
    type: postgres
    url: %[7]s
  - name: unknown-role
    type: postgres
    url: %[8]s
  - name: redis-password
    type: redis
    url: %[9]s
  - name: http-500
    type: http
    url: %[3]s/fail/a1B2c3D4e5F6g7H8i9J0k1L2?api_key=topsecret-api-key
  - name: tls-to-plain
    type: http
    url: %[10]s/health
`,
		withPassword(t, pg, "hunter2-check-secret"),
		rd,
		ok.URL,
		checktest.HostPort(t, ok.URL),
		checktest.WithHost(t, pg, refused.Addr()),
		checktest.WithHost(t, rd, blackhole.Addr()),
		withPassword(t, withDB(pg, "healthgate_no_such_db"), "hunter2-check-secret"),
		strings.Replace(pg, "://postgres@", "://healthgate_no_such_role@", 1),
		strings.Replace(rd, "redis://", "redis://healthgate-no-such-user:hunter2-redis-secret@", 1),
		strings.Replace(ok.URL, "http://", "https://", 1),
	)
	want := map[string]string{
		"postgres-ok": "", "redis-ok": "", "http-ok": "", "tcp-ok": "",
		"refused": "refused", "blackhole": "timeout", "dns": "dns",
		"wrong-database": "auth", "unknown-role": "auth", "redis-password": "auth",
		"http-500": "bad_response", "tls-to-plain": "tls",
	}
	return writeConfig(t, yaml), want
}

type checkReport struct {
	Status string `json:"status"`
	Checks []struct {
		Name      string  `json:"name"`
		Type      string  `json:"type"`
		Target    string  `json:"target"`
		Critical  bool    `json:"critical"`
		Status    string  `json:"status"`
		LatencyMS float64 `json:"latency_ms"`
		Reason    string  `json:"reason"`
		Error     string  `json:"error"`
		Hint      string  `json:"hint"`
	} `json:"checks"`
}

// check's acceptance test: one healthy and one failing dependency per reason class, the JSON output
// decodes, exit 1, no secret anywhere.
func TestCheckReasonClassesJSON(t *testing.T) {
	cfg, want := reasonConfig(t)
	start := time.Now()
	code, stdout, stderr := runMain(t, noEnv, "check", "--config", cfg, "--output", "json")
	took := time.Since(start)
	if code != exitFailed {
		t.Fatalf("exit %d; want 1:\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// In parallel: the whole run is bounded by the slowest check (1s), not their sum.
	if took > 2500*time.Millisecond {
		t.Errorf("check took %v; want the checks run in parallel", took)
	}
	var rep checkReport
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output does not decode: %v\n%s", err, stdout)
	}
	if rep.Status != "fail" {
		t.Errorf("status %q; want fail", rep.Status)
	}
	if len(rep.Checks) != len(want) {
		t.Errorf("%d checks; want %d", len(rep.Checks), len(want))
	}
	for _, c := range rep.Checks {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected check %q", c.Name)
			continue
		}
		wantStatus := "pass"
		if w != "" {
			wantStatus = "fail"
		}
		if c.Status != wantStatus || c.Reason != w {
			t.Errorf("%s: status %q reason %q (%s); want %q %q", c.Name, c.Status, c.Reason, c.Error, wantStatus, w)
		}
		if c.Type == "" || c.Target == "" || !c.Critical || c.LatencyMS <= 0 {
			t.Errorf("%s: incomplete row %+v", c.Name, c)
		}
		if w != "" && (c.Hint == "" || !strings.HasPrefix(c.Error, w+": ")) {
			t.Errorf("%s: error %q, hint %q; want the class first and a hint", c.Name, c.Error, c.Hint)
		}
		if w == "" && (c.Error != "" || c.Hint != "") {
			t.Errorf("%s passed with error %q hint %q", c.Name, c.Error, c.Hint)
		}
	}
	assertNoSecret(t, stdout, stderr)
}

// The hints point at the layer an operator acts on.
func TestCheckReasonClassesText(t *testing.T) {
	cfg, _ := reasonConfig(t)
	code, stdout, stderr := runMain(t, noEnv, "check", "--config", cfg)
	if code != exitFailed {
		t.Fatalf("exit %d; want 1:\n%s%s", code, stdout, stderr)
	}
	rows := map[string]string{} // by name, runs of spaces collapsed
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	if h := rows["NAME"]; h != "NAME TYPE TARGET CRITICAL STATUS LATENCY REASON HINT" {
		t.Errorf("header %q", h)
	}
	tests := []struct{ name, want string }{
		{"postgres-ok", " pass "},
		{"http-ok", "/health?api_key=xxxxx"}, // target redacted
		{"refused", "yes FAIL"},
		{"refused", "refused failed to connect"},
		{"refused", "— nothing listens there yet"},
		{"blackhole", "timeout"},
		{"dns", "no such host — the host name does not resolve: check the host in url ("},
		{"wrong-database", `database "healthgate_no_such_db" does not exist (SQLSTATE 3D000) — database does not exist: check the database name`},
		{"unknown-role", `role "healthgate_no_such_role" does not exist (SQLSTATE 28000) — the credentials were rejected: check the user, password and database`},
		{"redis-password", "auth WRONGPASS"},
		{"http-500", "status 500 from http://127.0.0.1:"},
		{"http-500", "/fail/xxxxx?api_key=xxxxx — the dependency answered, but not as expected"},
		{"tls-to-plain", "— the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS"},
	}
	for _, tc := range tests {
		if !strings.Contains(rows[tc.name], tc.want) {
			t.Errorf("row %s lacks %q:\n%s", tc.name, tc.want, rows[tc.name])
		}
	}
	if !strings.Contains(stdout, "fail: 8 critical checks failed") {
		t.Errorf("no verdict line:\n%s", stdout)
	}
	assertNoSecret(t, stdout, stderr)
}

func TestCheckExitCodes(t *testing.T) {
	pg := checktest.PostgresURL(t)
	down := checktest.ClosedAddr(t)
	cfg := func(optionalDown, criticalDown bool) string {
		y := fmt.Sprintf("checks:\n  - name: db\n    type: postgres\n    url: %s\n", pg)
		if optionalDown {
			y += fmt.Sprintf("  - name: optional\n    type: tcp\n    address: %s\n    critical: false\n", down)
		}
		if criticalDown {
			y += fmt.Sprintf("  - name: critical\n    type: tcp\n    address: %s\n", down)
		}
		return writeConfig(t, y)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		stdout   string
		stderr   string
	}{
		{name: "all pass", args: []string{"--config", cfg(false, false)}, wantCode: exitOK, stdout: "pass: all 1 check passed"},
		{name: "only a non-critical fails", args: []string{"--config", cfg(true, false)}, wantCode: exitOK, stdout: "warn: every critical check passed; 1 non-critical check failed"},
		{name: "no critical check, one fails", args: []string{"--config", writeConfig(t, fmt.Sprintf("checks:\n  - {name: optional, type: tcp, address: %s, critical: false}\n", down))}, wantCode: exitOK, stdout: "warn: 1 non-critical check failed (no check is critical)"},
		{name: "non-critical, JSON", args: []string{"--config", cfg(true, false), "--output", "json"}, wantCode: exitOK, stdout: `"status": "warn"`},
		{name: "a critical fails", args: []string{"--config", cfg(true, true)}, wantCode: exitFailed, stdout: "fail: 1 critical check failed, and 1 non-critical"},
		{name: "bad --output", args: []string{"--config", cfg(false, false), "--output", "xml"}, wantCode: exitUsage, stderr: `--output: "xml" is not text or json`},
		{name: "unknown flag", args: []string{"--bogus"}, wantCode: exitUsage, stderr: "healthgate check: unknown flag --bogus"},
		{name: "wait's --timeout", args: []string{"--timeout", "5s"}, wantCode: exitUsage, stderr: "healthgate check: unknown flag --timeout (check tries each target once: --attempt-timeout bounds each attempt)"},
		{name: "mistyped flag", args: []string{"--postgress", "postgres://app:hunter2@db/app"}, wantCode: exitUsage, stderr: "healthgate check: unknown flag --postgress (did you mean --postgres?)"},
		{name: "other tools' --json", args: []string{"--json", "--tcp", down}, wantCode: exitUsage, stderr: "healthgate check: unknown flag --json (did you mean --output json?)"},
		{name: "kubectl's -o json", args: []string{"-o", "json", "--tcp", down}, wantCode: exitUsage, stderr: "healthgate check: unknown flag -o (did you mean --output json?)"},
		{name: "target flags, no file", args: []string{"--postgres", pg, "--tcp", down}, wantCode: exitFailed, stdout: "fail: 1 critical check failed"},
		{name: "target flags beside a file", args: []string{"--config", cfg(false, false), "--tcp", down, "--output", "json"}, wantCode: exitFailed, stdout: `"name": "tcp"`},
		{name: "--only narrows the file", args: []string{"--config", cfg(true, true), "--only", "db"}, wantCode: exitOK, stdout: "pass: all 1 check passed"},
		{name: "--only names a non-critical check: critical, as /readyz/NAME makes it", args: []string{"--config", cfg(true, false), "--only", "optional"}, wantCode: exitFailed, stdout: "fail: 1 critical check failed"},
		{name: "bad target flag", args: []string{"--tcp", "nohostport"}, wantCode: exitUsage, stderr: `--tcp (target "tcp"): must be host:port`},
		{name: "argument", args: []string{"db"}, wantCode: exitUsage, stderr: `unexpected argument "db": check takes flags only: --only NAME runs the configuration's check of that name`},
		{name: "a command after --", args: []string{"--tcp", "127.0.0.1:1", "--", "./app"}, wantCode: exitUsage, stderr: `unexpected argument "./app": check takes flags only: --only NAME runs the configuration's check of that name; to start a command once the dependencies answer, healthgate wait ... -- CMD`},
		{name: "bad field", args: []string{"--config", writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    urll: x\n")}, wantCode: exitUsage, stderr: "healthgate.yaml:4"},
		{name: "unknown type", args: []string{"--config", writeConfig(t, "checks:\n  - name: db\n    type: no-such-kind\n")}, wantCode: exitUsage, stderr: `type: unknown type "no-such-kind"`},
		{name: "missing file", args: []string{"--config", "/nonexistent/healthgate.yaml"}, wantCode: exitUsage, stderr: "/nonexistent/healthgate.yaml"},
		{name: "no checks", args: []string{"--config", writeConfig(t, "checks: []\n")}, wantCode: exitUsage, stderr: "healthgate.yaml has no checks; add some, or give --"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, noEnv, append([]string{"check"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d; want %d:\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q:\nstdout: %s\nstderr: %s", tc.stdout, tc.stderr, stdout, stderr)
			}
		})
	}
}

// --attempt-timeout bounds a flag target's run, as in wait, instead of defaults.timeout (2s), and the run
// of REDIS_URL's (or DATABASE_URL's) check, which has no file to set a timeout in either.
func TestCheckAttemptTimeout(t *testing.T) {
	t.Parallel()
	redis := checktest.RedisURL(t)
	blackhole := checktest.NewProxy(t, checktest.HostPort(t, redis))
	blackhole.Set(checktest.Blackhole)
	silent := checktest.WithHost(t, redis, blackhole.Addr())
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--redis", noEnv, []string{"--redis", silent}},
		{"REDIS_URL", map[string]string{"REDIS_URL": silent}, nil},
	} {
		args := append(append([]string{"check"}, tc.args...), "--attempt-timeout", "300ms", "--output", "json")
		code, stdout, stderr := runMain(t, tc.env, args...)
		if code != exitFailed {
			t.Fatalf("%s: exit %d; want %d:\nstdout: %s\nstderr: %s", tc.name, code, exitFailed, stdout, stderr)
		}
		var report struct {
			Checks []struct {
				Reason    string  `json:"reason"`
				LatencyMS float64 `json:"latency_ms"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(stdout), &report); err != nil || len(report.Checks) != 1 {
			t.Fatalf("%s: report %q: %v; want one check", tc.name, stdout, err)
		}
		// Well under the 2s default, whatever the machine's load.
		if c := report.Checks[0]; c.Reason != "timeout" || c.LatencyMS < 250 || c.LatencyMS > 1500 {
			t.Errorf("%s: reason %q after %.0f ms; want timeout after about 300 ms", tc.name, c.Reason, c.LatencyMS)
		}
	}

	code, _, stderr := runMain(t, noEnv, "check", "--redis", redis, "--attempt-timeout", "1ms")
	if want := "healthgate check: --attempt-timeout: must be at least 10ms (got 1ms)"; code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, want)
	}
}

// Without a file, check reads DATABASE_URL and REDIS_URL, and names them in its hints.
func TestCheckEnvironment(t *testing.T) {
	checktest.PostgresURL(t)
	t.Chdir(t.TempDir()) // no ./healthgate.yaml
	env := map[string]string{
		"DATABASE_URL": "postgres://postgres:hunter2-check-secret@" + checktest.ClosedAddr(t) + "/app?sslmode=disable",
		// A database number the server lacks: its hint names the variable too.
		"REDIS_URL": "redis://" + checktest.HostPort(t, checktest.RedisURL(t)) + "/99",
	}
	code, stdout, stderr := runMain(t, env, "check")
	if code != exitFailed {
		t.Fatalf("exit %d; want 1:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "are host and port in DATABASE_URL right?") {
		t.Errorf("the hint does not name DATABASE_URL:\n%s", stdout)
	}
	if !strings.Contains(stdout, "the database number in REDIS_URL") {
		t.Errorf("the hint does not name REDIS_URL:\n%s", stdout)
	}
	assertNoSecret(t, stdout, stderr)
}

// A signal stops a check that waits on a hung dependency at once, and the report still shows what the
// checks that answered before it said, the cut one as stopped.
func TestCheckSignal(t *testing.T) {
	pg := checktest.PostgresURL(t)
	px := checktest.NewProxy(t, checktest.HostPort(t, pg))
	px.Set(checktest.Blackhole)
	var answered atomic.Int32
	up := checktest.Serve(t, func(net.Conn) { answered.Add(1) })
	cfg := writeConfig(t, fmt.Sprintf("defaults:\n  interval: 30s\n  timeout: 20s\nchecks:\n  - name: hung\n    type: postgres\n    url: %s\n  - {name: up, type: tcp, address: %q}\n", checktest.WithHost(t, pg, px.Addr()), up))
	for _, tc := range []struct {
		sig    os.Signal
		want   int
		output string
		report []string // in the report on stdout
	}{
		{syscall.SIGINT, exitSIGINT, "text", []string{"\nhung  ", "  stopped  ", "stopped before it answered", "\nup  ", "  pass  ",
			"\nstopped: 1 of 2 checks answered before the stop\n"}},
		{syscall.SIGHUP, exitSIGHUP, "json", []string{"\"status\": \"stopped\",\n  \"checks\"", `"name": "hung",`, "\"status\": \"stopped\",\n      \"latency_ms\"",
			`"name": "up",`, `"status": "pass",`}},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			accepted, done := px.Accepted(), answered.Load()
			inv := start(t, noEnv, "check", "--config", cfg, "--output", tc.output)
			checktest.Eventually(t, 5*time.Second, "the checks to reach the proxy and the listener", func() bool {
				return px.Accepted() > accepted && answered.Load() > done
			})
			time.Sleep(100 * time.Millisecond) // the tcp check has its connection: let it return
			inv.sigs <- tc.sig
			if code := inv.end(t, 2*time.Second); code != tc.want {
				t.Fatalf("exit %d; want %d", code, tc.want)
			}
			if line := "healthgate check: stopped (received " + tc.sig.String() + ") before every check had answered; the report shows those that did"; !strings.Contains(inv.stderr.String(), line) {
				t.Errorf("no %q line:\n%s", line, inv.stderr.String())
			}
			for _, want := range tc.report {
				if !strings.Contains(inv.stdout.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, inv.stdout.String())
				}
			}
			if tc.output == "json" && !json.Valid([]byte(inv.stdout.String())) {
				t.Errorf("not one JSON document:\n%s", inv.stdout.String())
			}
		})
	}
}

// Settings only serve uses (server:, fleet:) never stop check or wait: a missing details_token, an unset
// variable, a bad duration or a misspelled key of those sections is serve's problem. serve still
// reports them, each at its line.
func TestServerSettingsAreServeOnly(t *testing.T) {
	tests := []struct {
		name      string
		server    string
		serveErrs []string // what serve reports, after the file name
	}{
		{name: "values", server: "server:\n  details: token\n  listen: nonsense\n",
			serveErrs: []string{"invalid configuration (2 errors)", ":2:3: server: details_token: required when details is token", ":3:3: server: listen: must be host:port"}},
		{name: "decoding", server: "server:\n  details: token\n  details_token: ${HEALTHGATE_DETAILS_TOKEN}\n  shutdown_delay: soon\n  listne: \":8080\"\n",
			serveErrs: []string{"invalid configuration (3 errors)", ":3:18: server: details_token: environment variable HEALTHGATE_DETAILS_TOKEN is not set",
				":4:19: server: shutdown_delay: invalid duration \"soon\"", ":5:3: server: listne: unknown field (did you mean \"listen\"?)"}},
		{name: "not a mapping", server: "server: 8080\n",
			serveErrs: []string{"invalid configuration (1 error)", ":1:9: server: must be a mapping"}},
		{name: "fleet", server: "fleet:\n  peers: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n  token: ${HEALTHGATE_FLEET_TOKEN}\n  fail_open_ratio: 2\n  sampel: 3\n",
			serveErrs: []string{"invalid configuration (3 errors)", ":3:10: fleet: token: environment variable HEALTHGATE_FLEET_TOKEN is not set",
				":4:3: fleet: fail_open_ratio: must be greater than 0 and at most 1 (got 2)", ":5:3: fleet: sampel: unknown field (did you mean \"sample\"?)"}},
		{name: "fleet not a mapping", server: "fleet: 3\n",
			serveErrs: []string{"invalid configuration (1 error)", ":1:8: fleet: must be a mapping"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, fmt.Sprintf("%schecks:\n  - {name: up, type: tcp, address: %q}\n", tc.server, listening(t)))
			for _, cmd := range [][]string{{"check", "--config", cfg}, {"wait", "--config", cfg, "--timeout", "30s"}} {
				code, stdout, stderr := runMain(t, noEnv, cmd...)
				if code != exitOK {
					t.Errorf("%s: exit %d; want 0:\nstdout: %s\nstderr: %s", cmd[0], code, stdout, stderr)
				}
			}
			code, _, stderr := runMain(t, noEnv, "serve", "--config", cfg)
			for i, want := range tc.serveErrs {
				if i > 0 {
					want = cfg + want
				}
				if !strings.Contains(stderr, want) {
					t.Errorf("serve: stderr lacks %q:\n%s", want, stderr)
				}
			}
			if code != exitUsage {
				t.Errorf("serve: exit %d; want %d", code, exitUsage)
			}
			// What check does not say, serve --validate does, in serve's words.
			vcode, _, vstderr := runMain(t, noEnv, "serve", "--config", cfg, "--validate")
			if vcode != exitUsage || vstderr != stderr {
				t.Errorf("serve --validate: exit %d, stderr:\n%s\nwant exit 2 and serve's:\n%s", vcode, vstderr, stderr)
			}
		})
	}
}

// A redirect that is not followed says how to follow it where the check was given: --set for a --http
// target, which has no configuration to edit, the field for a check in a file.
func TestCheckRedirectHintNamesWhereToFollow(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusMovedPermanently))
	t.Cleanup(srv.Close)
	file := writeConfig(t, "checks:\n  - name: web\n    type: http\n    url: "+srv.URL+"/\n")
	for _, tc := range []struct {
		args       []string
		want, dont string
	}{
		{[]string{"--http", srv.URL + "/"}, "add --set http.follow_redirects=true", "in the config"},
		{[]string{"--config", file}, "set follow_redirects: true in the config", "--set"},
	} {
		code, stdout, stderr := runMain(t, noEnv, append([]string{"check"}, tc.args...)...)
		if code != exitFailed || !strings.Contains(stdout, tc.want) || strings.Contains(stdout, tc.dont) {
			t.Errorf("check %s: exit %d; want 1, a report with %q and without %q:\n%s%s", strings.Join(tc.args, " "), code, tc.want, tc.dont, stdout, stderr)
		}
	}
}

// A stray argument is shown redacted: an unquoted key=value DSN splits at its blanks, and the first stray
// piece can be its password.
func TestCheckUnexpectedArgumentRedacted(t *testing.T) {
	code, stdout, stderr := runMain(t, noEnv, "check", "--postgres", "host=127.0.0.1", "password=hunter2-check-secret", "dbname=app")
	want := `healthgate check: unexpected argument "password=xxxxx": a key=value DSN holds blanks; quote it as one argument`
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d; want 2 and %q:\n%s%s", code, want, stdout, stderr)
	}
	assertNoSecret(t, stdout, stderr)
}

// A URL given to a flag that is no target's is quoted redacted in its error, as a stray argument is.
func TestCheckInvalidFlagValueRedacted(t *testing.T) {
	for _, args := range [][]string{
		{"--tcp", "127.0.0.1:9", "--output", "postgres://app:hunter2-check-secret@db/app"},
		{"--tcp", "127.0.0.1:9", "--attempt-timeout", "postgres://app:hunter2-check-secret@db/app"},
	} {
		code, stdout, stderr := runMain(t, noEnv, append([]string{"check"}, args...)...)
		want := `"postgres://app:xxxxx@db/app"`
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%q: exit %d; want 2 and %s quoted:\n%s%s", args, code, want, stdout, stderr)
		}
		assertNoSecret(t, stdout, stderr)
	}
}

// check runs no command: a flag followed by -- where its value should be is not told that -- starts one.
func TestCheckDoubleDashWhereTheValueShouldBe(t *testing.T) {
	code, stdout, stderr := runMain(t, noEnv, "check", "--tcp", "127.0.0.1:9", "--only", "--", "db")
	want := "healthgate check: --only: needs a value (the next argument is --, which ends the flags: check runs no command)"
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d; want 2 and %q:\n%s%s", code, want, stdout, stderr)
	}
}

// With --output json, a usage or configuration error is a report on stdout too (status "invalid usage", the
// error and exit_code 2, as wait's JSON record of one), the line on stderr kept: `check --output json | jq`
// read nothing at all.
func TestCheckJSONUsageError(t *testing.T) {
	badConfig := writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    url: postgres://127.0.0.1/x\n    timeout: 10s\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--output", "json", "--tcp", "nohostport", "--attempt-timeout", "1ms"}, []string{"2 errors:", "--attempt-timeout: must be at least", `--tcp (target "tcp"): must be host:port`}},
		{[]string{"--output", "json", "--config", badConfig}, []string{"invalid configuration (1 error):", "timeout (10s) must be shorter than interval (5s)"}},
		// A flag's own error (--postgres "$DATABASE_URL" with the variable unset), --output before or after it.
		{[]string{"--output", "json", "--postgres", ""}, []string{`--postgres: invalid value "": empty (an unset variable?)`}},
		{[]string{"--postgres", "", "--output", "json"}, []string{`--postgres: invalid value "": empty (an unset variable?)`}},
		{[]string{"--bogus", "--output=json"}, []string{"unknown flag --bogus"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, noEnv, append([]string{"check"}, tc.args...)...)
			if code != exitUsage || !strings.HasPrefix(stderr, "healthgate check: ") {
				t.Fatalf("exit %d; want 2 and the error on stderr:\n%s", code, stderr)
			}
			var rep struct {
				Status, Error string
				ExitCode      int               `json:"exit_code"`
				Checks        []json.RawMessage `json:"checks"`
			}
			dec := json.NewDecoder(strings.NewReader(stdout))
			if err := dec.Decode(&rep); err != nil || dec.More() {
				t.Fatalf("stdout is not one JSON object (%v):\n%s", err, stdout)
			}
			if rep.Status != "invalid usage" || rep.ExitCode != exitUsage || rep.Checks == nil || len(rep.Checks) != 0 {
				t.Errorf("report %+v; want status %q, exit_code 2, checks []", rep, "invalid usage")
			}
			if want := strings.TrimSpace(strings.TrimPrefix(stderr, "healthgate check: ")); rep.Error != want {
				t.Errorf("error %q; want stderr's %q", rep.Error, want)
			}
			for _, w := range tc.want {
				if !strings.Contains(rep.Error, w) {
					t.Errorf("error %q lacks %q", rep.Error, w)
				}
			}
		})
	}
	// Text output writes nothing on stdout.
	if code, stdout, _ := runMain(t, noEnv, "check", "--tcp", "nohostport"); code != exitUsage || stdout != "" {
		t.Errorf("--output text: exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
}

// A hint that says to change a setting says it where the check was given: the --set to add or remove for a
// --grpc or --memcached target, which has no configuration to edit; the field or the tls block for a check in
// a file.
func TestCheckFlagTargetHintsNameTheSet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	grpcAddr, plain := ln.Addr().String(), listening(t) // plain accepts and closes: no TLS there
	grpcFile := writeConfig(t, "checks:\n  - name: api\n    type: grpc\n    address: "+grpcAddr+"\n    service: orders.v1.Nope\n")
	mcFile := writeConfig(t, "checks:\n  - name: cache\n    type: memcached\n    address: "+plain+"\n    tls: {}\n")
	for _, tc := range []struct {
		args       []string
		want, dont string
	}{
		{[]string{"--grpc", grpcAddr, "--set", "grpc.service=orders.v1.Nope"}, "check --set grpc.service against the names the server registers", "configuration"},
		{[]string{"--config", grpcFile}, "check service in the configuration", "--set"},
		{[]string{"--memcached", plain, "--set", "memcached.tls={}"}, "remove --set memcached.tls, or point --memcached at", "tls block"},
		{[]string{"--config", mcFile}, "remove the tls block", "--set"},
	} {
		code, stdout, stderr := runMain(t, noEnv, append([]string{"check"}, tc.args...)...)
		if code != exitFailed || !strings.Contains(stdout, tc.want) || strings.Contains(stdout, tc.dont) {
			t.Errorf("check %s: exit %d; want 1, a report with %q and without %q:\n%s%s", strings.Join(tc.args, " "), code, tc.want, tc.dont, stdout, stderr)
		}
	}
}

// What a server writes in its error (a Redis -ERR line, a Postgres or MySQL message) reaches an operator's
// terminal through check's table and wait's lines (kubectl logs): its control characters are shown, not
// sent. An escape sequence was run by the terminal (a window title set, the screen cleared, a row recoloured
// or hidden), a carriage return let the rest of the message overwrite the row from its start (its FAIL
// with a "pass"), and a tab split a cell of the table. JSON escapes them already.
func TestCheckServerTextControlCharacters(t *testing.T) {
	evil := "\x1b]0;pwned\x07\x1b[2Jcleared\rpass\tcell\x1b[0m\u009b31m\x9b" // \u009b: the one-character CSI; \x9b, that CSI in Latin-1
	addr := checktest.Serve(t, func(conn net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			if _, err := conn.Write([]byte("-ERR " + evil + "\r\n")); err != nil {
				return
			}
		}
	})
	target := "redis://" + addr + "/0"
	code, stdout, stderr := runMain(t, noEnv, "check", "--redis", target)
	if code != exitFailed || !strings.Contains(stdout, `ERR \x1b]0;pwned\a\x1b[2Jcleared pass cell\x1b[0m\u009b31m\x9b`) {
		t.Errorf("check: exit %d; want 1 and the server's text with its control characters shown:\n%q\n%s", code, stdout, stderr)
	}
	code, _, waitErr := runMain(t, noEnv, "wait", "--redis", target, "--timeout", "300ms")
	if code != exitTimeout || !strings.Contains(waitErr, `ERR \x1b]0;pwned`) {
		t.Errorf("wait: exit %d; want 124 and the server's text shown:\n%q", code, waitErr)
	}
	for name, out := range map[string]string{"check": stdout + stderr, "wait": waitErr} {
		if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && unicode.IsControl(r) || r == utf8.RuneError }); i >= 0 {
			t.Errorf("%s wrote the control character %q:\n%q", name, out[i:i+1], out)
		}
	}
}
