package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/startup"
)

// defaultSignalsForChildren makes the processes the tests start begin with SIGHUP and SIGINT at their
// default, however `go test` was started: under nohup, or as a non-interactive shell's background job,
// the test binary starts with one ignored and would hand it on ignored, and a healthgate that starts
// with one ignored keeps it so (notifySignals): the tests that send it would wait for ever. Catching a
// signal here (Go's handler installed) is what makes a child start with it at its default: the runtime
// resets the signals it handles to SIG_DFL in a forked child, and keeps ignored ones ignored. The tests
// that need a signal ignored ignore it in the child's own shell (TestWaitKeepsIgnoredSignals).
func defaultSignalsForChildren() {
	for _, s := range []os.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if signal.Ignored(s) {
			signal.Notify(make(chan os.Signal, 1), s)
		}
	}
}

// The healthgate binary the process-level tests run (exec, signals): TestMain starts building it once,
// in the background, while the in-process tests run; healthgateBinary waits for it.
var (
	binPath  string
	binError error
	binBuilt = make(chan struct{})
)

func TestMain(m *testing.M) {
	if os.Getenv(execWindowEnv) != "" {
		runExecWindow() // TestWaitSignalBeforeExec's healthgate: never returns
	}
	defaultSignalsForChildren()
	dir, err := os.MkdirTemp("", "healthgate-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "healthgate")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Dir, err = os.Getwd() // the package's directory: tests may t.Chdir while it builds
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		defer close(binBuilt)
		if out, err := build.CombinedOutput(); err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	}()
	// In-process runs must never replace the test binary; the exec tests run the real binary.
	execCommand = func(c startup.Command, _ []string) error {
		return fmt.Errorf("exec %s: %w (disabled in in-process tests)", c.Path, startup.ErrNotFound)
	}
	// The build ends before goleak looks and before its directory goes, even when no test used it.
	goleak.VerifyTestMain(awaitBuild{m}, goleak.Cleanup(func(int) { _ = os.RemoveAll(dir) }))
}

// awaitBuild runs the tests, then waits for the binary's build.
type awaitBuild struct{ m *testing.M }

func (a awaitBuild) Run() int {
	code := a.m.Run()
	<-binBuilt
	return code
}

// healthgateBinary returns the binary TestMain built, waiting for the build.
func healthgateBinary(t *testing.T) string {
	t.Helper()
	<-binBuilt
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// syncBuffer is a buffer safe to read while it is written to.
type syncBuffer = checktest.Buffer

// invocation is run() in-process: its exit code and output, and a way to send it signals.
type invocation struct {
	code           int
	stdout, stderr *syncBuffer
	sigs           chan os.Signal
	done           chan struct{}
	took           time.Duration
}

// start runs healthgate's run() in-process with a fixed environment; end waits for it.
func start(t *testing.T, env map[string]string, args ...string) *invocation {
	t.Helper()
	inv := &invocation{stdout: &syncBuffer{}, stderr: &syncBuffer{}, sigs: make(chan os.Signal, 2), done: make(chan struct{})}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	begin := time.Now()
	go func() {
		defer close(inv.done)
		inv.code = run(args, lookup, inv.sigs, inv.stdout, inv.stderr)
		inv.took = time.Since(begin)
	}()
	t.Cleanup(func() {
		select {
		case <-inv.done:
		default:
			inv.sigs <- syscall.SIGTERM
			<-inv.done
		}
	})
	return inv
}

func (inv *invocation) end(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-inv.done:
		return inv.code
	case <-time.After(within):
		t.Fatalf("still running after %v; stderr:\n%s", within, inv.stderr.String())
		return -1
	}
}

// runMain runs healthgate in-process to its end.
func runMain(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	inv := start(t, env, args...)
	code := inv.end(t, 30*time.Second)
	return code, inv.stdout.String(), inv.stderr.String()
}

// withPassword returns raw with a password in its userinfo (the test servers ignore it: trust auth).
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	user := "postgres"
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// listening returns the address of a listener that accepts (and closes) connections until the test ends.
func listening(t *testing.T) string {
	t.Helper()
	return checktest.Serve(t, func(net.Conn) {})
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noEnv is an empty environment: no DATABASE_URL, no REDIS_URL.
var noEnv = map[string]string{}

// wait's first acceptance test: wait against a proxy that refuses, then forwards to the real Postgres and
// Redis: exit 0 soon after, with the progress lines as documented.
func TestWaitDependencyComesUp(t *testing.T) {
	t.Parallel() // its own proxy per kind; waits on the backoff
	type dependency struct {
		kind string
		url  func(testing.TB) string
	}
	tests := []dependency{
		{"postgres", checktest.PostgresURL},
		{"redis", checktest.RedisURL},
	}
	checktest.EachParallel(t, tests, func(tc dependency) string { return tc.kind }, func(t *testing.T, tc dependency) {
		raw := tc.url(t)
		px := checktest.NewProxy(t, checktest.HostPort(t, raw))
		px.Set(checktest.Refuse)
		inv := start(t, noEnv, "wait", "--"+tc.kind, checktest.WithHost(t, raw, px.Addr()), "--timeout", "30s")
		refused := fmt.Sprintf("waiting for %s (%s %s/", tc.kind, tc.kind, px.Addr())
		checktest.Eventually(t, 5*time.Second, "the refused line", func() bool {
			return strings.Contains(inv.stderr.String(), refused)
		})
		up := time.Now()
		px.Set(checktest.Forward)
		if code := inv.end(t, 10*time.Second); code != exitOK {
			t.Fatalf("exit %d; want 0:\n%s", code, inv.stderr.String())
		}
		// Generous for a loaded CI machine: the benchmark measures the real figure (tens of ms).
		if took := time.Since(up); took > 2*time.Second {
			t.Errorf("exited %v after the dependency came up; want well under a second", took)
		}
		out := inv.stderr.String()
		for _, want := range []string{
			fmt.Sprintf("healthgate wait: waiting up to 30s for %s (%s %s/", tc.kind, tc.kind, px.Addr()),
			refused,
			"): refused — nothing listens there yet: is the dependency running, and are host and port in --" + tc.kind + " right?",
			fmt.Sprintf("ready: %s (%s %s/", tc.kind, tc.kind, px.Addr()),
			"healthgate wait: all 1 ready after ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stderr lacks %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "waiting for "+tc.kind); n != 1 {
			t.Errorf("%d waiting lines; want 1 (one per change of reason):\n%s", n, out)
		}
	})
}

// Both at once, from flags, with a password in the URL that must never be printed.
func TestWaitParallelTargetsNoSecret(t *testing.T) {
	pg, rd := checktest.PostgresURL(t), checktest.RedisURL(t)
	pgProxy := checktest.NewProxy(t, checktest.HostPort(t, pg))
	pgProxy.Set(checktest.Refuse)
	secretPG := withPassword(t, checktest.WithHost(t, pg, pgProxy.Addr()), "hunter2-pg-secret")
	inv := start(t, noEnv, "wait", "--postgres", secretPG, "--redis", rd, "--log-format", "json", "--timeout", "30s")
	checktest.Eventually(t, 5*time.Second, "redis ready and postgres refused", func() bool {
		s := inv.stderr.String()
		return strings.Contains(s, `"msg":"ready","check":"redis"`) && strings.Contains(s, `"reason":"refused"`)
	})
	pgProxy.Set(checktest.Forward)
	if code := inv.end(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d; want 0:\n%s", code, inv.stderr.String())
	}
	out := inv.stderr.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password leaked:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("--log-format json line %q: %v", l, err)
		}
		if d, ok := rec["duration"]; ok {
			if _, err := time.ParseDuration(fmt.Sprint(d)); err != nil {
				t.Errorf("duration %v is not a duration string such as 1.5ms", d)
			}
		}
	}
	if !strings.Contains(out, `"msg":"all ready"`) {
		t.Errorf("no all-ready record:\n%s", out)
	}
}

// TestWaitLogLevel: --log-level warn keeps only what is not ready (an init container's log in an
// aggregator: no line while all is well), debug adds each failed attempt; text and JSON alike.
func TestWaitLogLevel(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		refused    string // what the refused attempts write: the dependency comes up once it is there
		want, none []string
	}{
		{args: []string{"--log-level", "warn"}, refused: "refused", want: []string{"waiting for tcp", "refused"},
			none: []string{"healthgate wait: waiting up to", "ready: ", "all 1 ready", "attempt "}},
		{args: []string{"--log-level", "warn", "--log-format", "json"}, refused: `"msg":"not ready"`, want: []string{`"level":"WARN","msg":"not ready"`},
			none: []string{`"level":"INFO"`, `"level":"DEBUG"`}},
		{args: []string{"--log-level", "debug"}, refused: "attempt 2 for tcp", want: []string{"healthgate wait: waiting up to", "waiting for tcp", "attempt 2 for tcp", "ready: tcp", "all 1 ready"}},
		{args: []string{"--log-level", "debug", "--log-format", "json"}, refused: `"msg":"attempt failed"`, want: []string{`"level":"DEBUG","msg":"attempt failed"`, `"msg":"all ready"`}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			proxy := checktest.NewProxy(t, listening(t))
			proxy.Set(checktest.Refuse)
			inv := start(t, noEnv, append([]string{"wait", "--tcp", proxy.Addr(), "--timeout", "30s"}, tt.args...)...)
			checktest.Eventually(t, 10*time.Second, "refused attempts logged", func() bool { return strings.Contains(inv.stderr.String(), tt.refused) })
			proxy.Set(checktest.Forward)
			if code := inv.end(t, 10*time.Second); code != exitOK {
				t.Fatalf("exit %d; want 0:\n%s", code, inv.stderr.String())
			}
			out := inv.stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			for _, w := range tt.none {
				if strings.Contains(out, w) {
					t.Errorf("%q, below the level, in:\n%s", w, out)
				}
			}
		})
	}
}

// wait's second acceptance test: a dependency that never comes: 124 at the timeout, with the table.
func TestWaitTimeout(t *testing.T) {
	t.Parallel() // each case waits out its own 1.5 s timeout
	pg := checktest.PostgresURL(t)
	blackhole := checktest.NewProxy(t, checktest.HostPort(t, pg))
	blackhole.Set(checktest.Blackhole)
	type timeoutCase struct {
		name  string
		args  []string
		quiet bool
		want  []string
	}
	tests := []timeoutCase{
		{
			name: "refused",
			args: []string{"--tcp", checktest.ClosedAddr(t)},
			want: []string{"tcp", "NOT READY", "refused", "connection refused — nothing listens there yet"},
		},
		{
			name:  "refused, quiet: the table still",
			args:  []string{"--tcp", checktest.ClosedAddr(t), "--quiet"},
			quiet: true,
			want:  []string{"tcp", "NOT READY", "refused"},
		},
		{
			name: "blackhole: the attempt in flight is a timeout",
			args: []string{"--postgres", checktest.WithHost(t, pg, blackhole.Addr()), "--attempt-timeout", "10s"},
			// The layer that went silent, as a run that times out on its own says it.
			want: []string{"postgres", "NOT READY", "timeout", "no answer after", "when the wait timed out — connected, but no answer within the timeout"},
		},
	}
	checktest.EachParallel(t, tests, func(tc timeoutCase) string { return tc.name }, func(t *testing.T, tc timeoutCase) {
		code, _, stderr := runMain(t, noEnv, append([]string{"wait", "--timeout", "1.5s"}, tc.args...)...)
		if code != exitTimeout {
			t.Fatalf("exit %d; want 124:\n%s", code, stderr)
		}
		// The wait's own length: 1.5s, and on a loaded machine a little more (the timer fires late).
		if m := regexp.MustCompile(`healthgate wait: timed out after ([0-9.]+m?s):`).FindStringSubmatch(stderr); m == nil {
			t.Errorf("stderr lacks \"healthgate wait: timed out after <duration>:\":\n%s", stderr)
		} else if d, err := time.ParseDuration(m[1]); err != nil || d < 1500*time.Millisecond || d > 3*time.Second {
			t.Errorf("timed out after %s; want 1.5s (up to 3s on a loaded machine):\n%s", m[1], stderr)
		}
		want := append([]string{"1 of 1 target not ready", "NAME", "STATUS", "REASON", "HINT"}, tc.want...)
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, stderr)
			}
		}
		if got := strings.Contains(stderr, "healthgate wait: waiting up to"); got == tc.quiet {
			t.Errorf("progress lines present: %v; want %v:\n%s", got, !tc.quiet, stderr)
		}
	})
}

func TestWaitTimeoutIsOnTime(t *testing.T) {
	inv := start(t, noEnv, "wait", "--tcp", checktest.ClosedAddr(t), "--timeout", "1.5s", "--quiet")
	if code := inv.end(t, 10*time.Second); code != exitTimeout {
		t.Fatalf("exit %d; want 124", code)
	}
	// Late by no more than the start and the final table: not by a whole attempt's timeout or backoff.
	if inv.took < time.Second || inv.took > 2500*time.Millisecond {
		t.Errorf("exited after %v; want about 1.5s", inv.took)
	}
}

// A bad URL from the environment names the variable to fix, for every command that reads it.
func TestEnvironmentURLErrorNamesTheVariable(t *testing.T) {
	for _, tc := range []struct{ variable, url string }{
		{"DATABASE_URL", "postgres://app:hunter2@db:notaport/app"},
		{"REDIS_URL", "redis://:hunter2@cache:notaport/0"},
	} {
		for _, cmd := range []string{"wait", "check", "serve"} {
			t.Run(tc.variable+"/"+cmd, func(t *testing.T) {
				code, _, stderr := runMain(t, map[string]string{tc.variable: tc.url}, cmd)
				if code != exitUsage {
					t.Fatalf("exit %d; want 2:\n%s", code, stderr)
				}
				for _, w := range []string{"healthgate " + cmd + ": invalid configuration", tc.variable + ": "} {
					if !strings.Contains(stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, stderr)
					}
				}
				if strings.Contains(stderr, "hunter2") {
					t.Errorf("a secret in the message:\n%s", stderr)
				}
			})
		}
	}
}

// --attempt-timeout applies to DATABASE_URL's check: with a bad URL there, its error alone is reported, not
// also that --attempt-timeout had no target ("and to DATABASE_URL and REDIS_URL, and there is none").
func TestAttemptTimeoutWithBadEnvironmentURL(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://app:hunter2@db:notaport/app"}
	for _, cmd := range []string{"wait", "check"} {
		code, _, stderr := runMain(t, env, cmd, "--attempt-timeout", "1s")
		if code != exitUsage || !strings.Contains(stderr, "DATABASE_URL: ") || strings.Contains(stderr, "--attempt-timeout") {
			t.Errorf("%s: exit %d; want 2 and DATABASE_URL's error alone:\n%s", cmd, code, stderr)
		}
	}
}

// wait's fourth acceptance test: flag and config errors exit 2, naming the flag or field, before any attempt.
func TestWaitUsageErrors(t *testing.T) {
	badConfig := writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    url: postgres://127.0.0.1/x\n    timeout: 10s\n")
	twoChecks := writeConfig(t, "checks:\n  - name: db\n    type: tcp\n    address: 127.0.0.1:1\n  - name: cache\n    type: tcp\n    address: 127.0.0.1:2\n")
	noCritical := writeConfig(t, "checks:\n  - name: db\n    type: tcp\n    address: 127.0.0.1:1\n    critical: false\n")
	noChecks := writeConfig(t, "checks: []\n")
	tcp := checktest.ClosedAddr(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"--bogus"}, []string{"healthgate wait: unknown flag --bogus\nRun \"healthgate wait --help\" for its flags."}},
		{"unknown one-dash flag", []string{"-t", "5s"}, []string{"healthgate wait: unknown flag -t\n"}},
		{"mistyped flag", []string{"--tcp", tcp, "--atempt-timeout", "1s"}, []string{"healthgate wait: unknown flag --atempt-timeout (did you mean --attempt-timeout?)\n"}},
		{"other tools' --json", []string{"--tcp", tcp, "--json"}, []string{"healthgate wait: unknown flag --json (did you mean --log-format json?)\n"}},
		// The = or the blank left out: a flag named after the whole URL, which was shown with its password.
		{"a URL glued to its flag", []string{"--postgres://app:hunter2@db/app"}, []string{"unknown flag --postgres://app:xxxxx@db/app (a flag and its value are two arguments, or one with =: --postgres VALUE, --postgres=VALUE)"}},
		// An unset, unquoted variable: the next flag was taken as the value, and the error spoke of a bad URL
		// and of the next URL as an unexpected argument.
		{"a flag where the value should be", []string{"--postgres", "--redis", "redis://127.0.0.1:6379/0"}, []string{"healthgate wait: --postgres: needs a value, and the next argument is the flag --redis"}},
		{"a flag with = where the value should be", []string{"--config", "--tcp=" + tcp}, []string{"--config: needs a value, and the next argument is the flag --tcp="}},
		// wait's flags end before the command: a flag left without its value there was "needs a value" alone.
		{"-- where the value should be", []string{"--tcp", tcp, "--timeout", "--", "./app"}, []string{"healthgate wait: --timeout: needs a value (the next argument is --, which starts the command)"}},
		{"--help where the value should be", []string{"--tcp", "--help"}, []string{"--tcp: needs a value, and the next argument is the flag --help"}},
		{"one-dash flags, named as written", []string{"-postgres", "-redis", "redis://127.0.0.1:6379/0"}, []string{"healthgate wait: -postgres: needs a value, and the next argument is the flag -redis"}},
		{"bad --timeout", []string{"--tcp", tcp, "--timeout", "soon"}, []string{`--timeout: invalid value "soon": not a duration`}},
		{"--timeout too long", []string{"--tcp", tcp, "--timeout", "9999999h"}, []string{`--timeout: invalid value "9999999h": longer than a duration holds (about 292 years, 2562047h)`}},
		{"--timeout without a unit", []string{"--tcp", tcp, "--timeout", "5"}, []string{`--timeout: invalid value "5": needs a unit: write 30s, 5m or 1h30m`}},
		{"negative --timeout", []string{"--tcp", tcp, "--timeout", "-1s"}, []string{"--timeout: must not be negative"}},
		{"zero --attempt-timeout", []string{"--tcp", tcp, "--attempt-timeout", "0"}, []string{"--attempt-timeout: must be at least 10ms (got 0s)"}},
		{"tiny --attempt-timeout", []string{"--tcp", tcp, "--attempt-timeout", "2ns"}, []string{"--attempt-timeout: must be at least 10ms (got 2ns)"}},
		// Ignored without a flag target: refused, as --migrations is.
		{"--attempt-timeout without a flag target", []string{"--config", twoChecks, "--attempt-timeout", "1s"}, []string{"--attempt-timeout: applies to the targets given by flag", "timeout: under the check, or defaults.timeout"}},
		{"bad --log-format", []string{"--tcp", tcp, "--log-format", "xml"}, []string{`--log-format: "xml" is not text or json`}},
		{"bad --log-level", []string{"--tcp", tcp, "--log-level", "verbose"}, []string{`--log-level: "verbose" is not one of debug, info, warn, error`}},
		// slog reads offsets too: above error, the JSON logger dropped the record of this very usage error (and
		// the table of a timeout), and wait exited 2 without a word.
		{"--log-level above error", []string{"--tcp", tcp, "--log-format", "json", "--log-level", "error+1", "--timeout", "-1s"}, []string{`--log-level: "error+1" is not one of debug, info, warn, error`, "--timeout: must not be negative"}},
		// A URL given to a flag that is no target's (a value shifted by one, $DATABASE_URL where the
		// duration should be) is quoted redacted, as one given to --config, --only or --set is.
		{"--timeout of a URL", []string{"--tcp", tcp, "--timeout", "postgres://app:hunter2@db/app"}, []string{`--timeout: invalid value "postgres://app:xxxxx@db/app": not a duration`}},
		{"--attempt-timeout of a DSN", []string{"--tcp", tcp, "--attempt-timeout", "host=db password=hunter2"}, []string{`--attempt-timeout: invalid value "host=db password=xxxxx": not a duration`}},
		{"--quiet= of a URL", []string{"--tcp", tcp, "--quiet=redis://:hunter2@cache:6379"}, []string{`--quiet: invalid boolean value "redis://:xxxxx@cache:6379"`}},
		{"--log-format of a URL", []string{"--tcp", tcp, "--log-format", "postgres://app:hunter2@db/app"}, []string{`--log-format: "postgres://app:xxxxx@db/app" is not text or json`}},
		{"--log-level of a URL", []string{"--tcp", tcp, "--log-level", "postgres://app:hunter2@db/app"}, []string{`--log-level: "postgres://app:xxxxx@db/app" is not one of debug`}},
		{"bad --postgres", []string{"--postgres", "postgres://app:hunter2@db:notaport/app"}, []string{`--postgres (target "postgres"): not a valid postgres URL`}},
		{"bad --redis", []string{"--redis", "http://cache:6379"}, []string{`--redis (target "redis"): not a valid redis URL`}},
		{"bad --http", []string{"--http", "ftp://example.com/x"}, []string{`--http (target "http"): must be an absolute http:// or https:// URL`}},
		{"bad --tcp", []string{"--tcp", "nohostport"}, []string{`--tcp (target "tcp"): must be host:port`}},
		{"empty --tcp", []string{"--tcp", ""}, []string{`--tcp: invalid value "": empty (an unset variable?)`}},
		{"second bad --tcp", []string{"--tcp", tcp, "--tcp", "x"}, []string{`--tcp (target "tcp-2"): must be host:port`}},
		{"every problem at once", []string{"--tcp", "x", "--timeout", "-1s", "--redis", "nope"}, []string{"3 errors:", "--timeout", "--tcp", "--redis"}},
		{"config field", []string{"--config", badConfig}, []string{"healthgate.yaml:5", `checks[0] "db"`, "timeout (10s) must be shorter than interval (5s)"}},
		{"missing config file", []string{"--config", "/nonexistent/healthgate.yaml"}, []string{"/nonexistent/healthgate.yaml"}},
		{"--only unknown", []string{"--config", twoChecks, "--only", "db,nope"}, []string{`--only: no check named "nope"`, "(checks: db, cache)"}},
		{"--only mistyped", []string{"--config", twoChecks, "--only", "cahce"}, []string{`--only: no check named "cahce" (did you mean "cache"?) in `, "(checks: db, cache)"}},
		{"--only of a URL", []string{"--config", twoChecks, "--only", "postgres://app:hunter2@db/app"}, []string{"--only: a name that is no check name", "not shown: it may hold a secret"}},
		{"nothing to wait for", nil, []string{"nothing to wait for: give --amqp", "--config (a file with critical checks)"}},
		{"no critical check", []string{"--config", noCritical}, []string{"nothing to wait for: ", "healthgate.yaml has no critical checks (wait waits for those alone); mark some critical: true"}},
		// A file with no checks at all has none, not "no critical checks".
		{"no check", []string{"--config", noChecks}, []string{"nothing to wait for: ", "healthgate.yaml has no checks; add some"}},
		{"command without --", []string{"--tcp", tcp, "./app", "--port", "8080"}, []string{`unexpected argument "./app": put the command to run after --`}},
		{"-- without a command", []string{"--tcp", tcp, "--"}, []string{"--: no command after it"}},
		// An unquoted $DATABASE_URL holding a key=value DSN splits at its blanks: the stray argument is
		// then its password, shown redacted.
		{"unquoted DSN", []string{"--postgres", "host=127.0.0.1", "password=hunter2", "dbname=app"}, []string{`unexpected argument "password=xxxxx": a key=value DSN holds blanks; quote it as one argument`}},
		{"unquoted URL with a blank", []string{"--tcp", tcp, "app:hunter2@db/x"}, []string{`unexpected argument "xxxxx": put the command to run after --`}},
		{"--set without a field", []string{"--tcp", tcp, "--set", "tcp=hunter2"}, []string{"--set: write KIND.FIELD=VALUE, as in redis.key=healthgate:probe"}},
		{"--set of no kind", []string{"--tcp", tcp, "--set", "cache.key=hunter2"}, []string{`--set cache.key: no kind named "cache" (kinds: amqp,`}},
		// A URL given to --set in place of its target flag is no KIND.FIELD: not quoted, it holds a password.
		{"--set of a URL", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres://app:hunter2@db.internal/app?sslmode=require"}, []string{"--set: write KIND.FIELD=VALUE", "is not shown: it may hold a secret"}},
		{"--set of a URL after a kind", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres.url://app:hunter2@db.internal/app?sslmode=require"}, []string{"--set: write KIND.FIELD=VALUE", "is not shown: it may hold a secret"}},
		{"--set of no field", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.passwd=hunter2"}, []string{`--set redis.passwd: redis has no field "passwd" (its fields: url, role, key, tls)`}},
		{"--set of the target", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.url=redis://:hunter2@x"}, []string{"--set redis.url: the url is the target: give it as --redis URL"}},
		{"--set of a file field", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.key_file=/run/secrets/hunter2"}, []string{"--set redis.key_file: a *_file field is read from a configuration file"}},
		{"--set with no target of its kind", []string{"--tcp", tcp, "--set", "redis.key=hunter2"}, []string{"--set redis.key: applies to the targets given as --redis, and there is none"}},
		{"--set of a secret", []string{"--memcached", "127.0.0.1:11211", "--set", "memcached.password=hunter2"}, []string{"--set memcached.password: a secret takes a configuration file (its value from ${VAR} or password_file)"}},
		// No refusal points at another --set that is refused in its turn: a secret's file, the target's
		// file and a field useless without a secret say to write a configuration file.
		{"--set of a secret's file", []string{"--memcached", "127.0.0.1:11211", "--set", "memcached.password_file=/run/secrets/hunter2"}, []string{"--set memcached.password_file: a *_file field is read from a configuration file, and password is a secret, which a command line never takes: write the check in a configuration file (password_file: PATH, or password: ${VAR}) and give that with --config"}},
		{"--set of a secret map's file", []string{"--http", "http://127.0.0.1:9/", "--set", "http.headers_file={Authorization: /run/secrets/hunter2}"}, []string{"--set http.headers_file: a *_file field is read from a configuration file, and headers is a secret"}},
		{"--set of the target's file", []string{"--amqp", "amqp://127.0.0.1:9/", "--set", "amqp.url_file=/run/secrets/hunter2"}, []string{"--set amqp.url_file: the url is the target, given as --amqp URL; to read it from a file, write the check in a configuration file (url_file: PATH) and give that with --config"}},
		{"--set of a field that needs a secret", []string{"--memcached", "127.0.0.1:11211", "--set", "memcached.username=app"}, []string{"--set memcached.username: needs password, a secret, which a command line never takes (ps and the pod's spec show it): write the check in a configuration file (username, and password_file: PATH or password: ${VAR}) and give that with --config"}},
		{"--set twice", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.key=a", "--set", "redis.key=hunter2"}, []string{"--set redis.key: given twice"}},
		{"--set not YAML", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.key={hunter2: ["}, []string{"--set redis.key: not one YAML value"}},
		// A YAML comment would drop the rest of the value, silently: the query run cut short.
		{"--set with a comment", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres.query=SELECT hunter2 # from orders"}, []string{"--set postgres.query: a '#' at its start or after a blank starts a YAML comment"}},
		{"--set that is a comment", []string{"--http", "http://127.0.0.1:9/", "--set", "http.body_contains=#hunter2"}, []string{"--set http.body_contains: a '#' at its start or after a blank starts a YAML comment"}},
		// An anchor or a tag would drop the start of the value, silently: the check ran without the key.
		{"--set that is an anchor", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.key=&hunter2"}, []string{"--set redis.key: a value that begins with '&' is read as a YAML anchor"}},
		{"--set anchored in a mapping", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres.tls={server_name: &hunter2 db}"}, []string{"--set postgres.tls: a value that begins with '&' is read as a YAML anchor"}},
		{"--set that is an alias", []string{"--http", "http://127.0.0.1:9/", "--set", "http.body_contains=*hunter2"}, []string{"--set http.body_contains: a value that begins with '*' is read as a YAML alias"}},
		{"--set that is a tag", []string{"--redis", "redis://127.0.0.1:6379", "--set", "redis.key=!hunter2"}, []string{"--set redis.key: a value that begins with '!' is read as a YAML tag"}},
		{"--set value the kind refuses", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres.writable=maybe"}, []string{`--set postgres.writable (target "postgres"): invalid boolean "maybe": write true or false`}},
		{"--set value with an unknown field inside", []string{"--postgres", "postgres://127.0.0.1:5432/x", "--set", "postgres.tls={cert_fil: x}"}, []string{`--set postgres.tls (target "postgres"): cert_fil: unknown field (did you mean "cert_file"?)`}},
		// An item of a list the kind refuses is the --set's too: it was blamed on --http.
		{"--set list with an item the kind refuses", []string{"--http", "http://127.0.0.1:9/", "--set", "http.expect_status=[200, 2xx]"}, []string{`--set http.expect_status (target "http"): expect_status[1]: invalid integer "2xx"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, noEnv, append([]string{"wait"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d; want 2:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "waiting for") || stdout != "" {
				t.Errorf("an attempt was made or stdout written:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("a secret in the message:\n%s", stderr)
			}
		})
	}
}

// Every command's --help (and -h) is on stdout, as `healthgate --help` is, so that it pipes into a pager
// or grep, and exits 0.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"wait", "--help"}, []string{"  --postgres URL", "  --redis URL", "  --http URL", "  --tcp HOST:PORT", "  --only NAME", "  --set KIND.FIELD=VALUE", "  --timeout DURATION", "  --attempt-timeout DURATION", "  --quiet", "  --log-format", "  --log-level"}},
		{[]string{"check", "-h"}, []string{"  --postgres URL", "  --only NAME", "  --set KIND.FIELD=VALUE", "  --attempt-timeout DURATION", "  --output"}},
		{[]string{"serve", "--help"}, []string{"  --config FILE\n", "  --listen ADDR\n", "  --validate\n", "  --log-format FORMAT\n", "  --log-level LEVEL\n"}},
		{[]string{"--help"}, []string{"healthgate serve [--config FILE]"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, noEnv, tc.args...)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			// Each value is named as the usage line names it (--config FILE), not by its Go type.
			if strings.Contains(stdout, " string\n") {
				t.Errorf("a flag's value is shown as \"string\":\n%s", stdout)
			}
		})
	}
}

// Config checks and flags together: --only narrows the config, a flag target whose name clashes
// with a config check gets the next free suffix, defaults come from the config.
func TestWaitConfigAndFlags(t *testing.T) {
	pg := checktest.PostgresURL(t)
	cfg := writeConfig(t, fmt.Sprintf(`defaults:
  timeout: 1s
checks:
  - name: postgres
    type: postgres
    url: %s
  - name: down
    type: tcp
    address: %s
  - name: optional
    type: tcp
    address: %s
    critical: false
`, pg, checktest.ClosedAddr(t), listening(t)))
	tests := []struct {
		name     string
		args     []string
		want     []string
		wantCode int
	}{
		{
			name:     "critical checks only: down is waited for, optional is not",
			args:     []string{"--config", cfg, "--timeout", "300ms"},
			want:     []string{"waiting up to 300ms for postgres (postgres ", ", down (tcp ", "NOT READY"},
			wantCode: exitTimeout,
		},
		{
			name:     "--only narrows, and may name a non-critical check",
			args:     []string{"--config", cfg, "--only", "postgres", "--only", "optional"},
			want:     []string{"ready: postgres (postgres ", "ready: optional (tcp "},
			wantCode: exitOK,
		},
		{
			name:     "flag target named after the next free suffix",
			args:     []string{"--config", cfg, "--only", "postgres", "--postgres", pg, "--postgres", pg, "--tcp", listening(t)},
			want:     []string{"ready: postgres (postgres ", "ready: postgres-2 (postgres ", "ready: postgres-3 (postgres ", "ready: tcp (tcp "},
			wantCode: exitOK,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, noEnv, append([]string{"wait"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d; want %d:\n%s", code, tc.wantCode, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "optional") && !strings.Contains(strings.Join(tc.args, " "), "optional") {
				t.Errorf("waited for a non-critical check:\n%s", stderr)
			}
		})
	}
}

// Without a file, the environment's DATABASE_URL is the target; with target flags (and no --config),
// it is not waited for a second time.
func TestWaitEnvironment(t *testing.T) {
	pg := checktest.PostgresURL(t)
	t.Chdir(t.TempDir()) // no ./healthgate.yaml
	code, _, stderr := runMain(t, map[string]string{"DATABASE_URL": pg}, "wait")
	if code != exitOK || !strings.Contains(stderr, "ready: postgres (postgres ") {
		t.Fatalf("exit %d; want 0 with the DATABASE_URL check ready:\n%s", code, stderr)
	}
	code, _, stderr = runMain(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}, "wait", "--tcp", listening(t))
	if code != exitOK || strings.Contains(stderr, "postgres") {
		t.Fatalf("exit %d; want 0 and no postgres target (flags replace the implicit configuration):\n%s", code, stderr)
	}
}

// SIGINT/SIGTERM stop the wait at once with 130/143 (in-process: the signal channel run() watches); SIGHUP
// and SIGQUIT with 129 and 131 (SIGQUIT was Go's: a dump of every goroutine, and exit 2).
func TestWaitSignalInProcess(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		want int
	}{{syscall.SIGTERM, exitSIGTERM}, {syscall.SIGINT, exitSIGINT}, {syscall.SIGHUP, exitSIGHUP}, {syscall.SIGQUIT, exitSIGQUIT}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			inv := start(t, noEnv, "wait", "--tcp", checktest.ClosedAddr(t), "--timeout", "0")
			checktest.Eventually(t, 5*time.Second, "waiting", func() bool { return strings.Contains(inv.stderr.String(), "waiting for tcp") })
			sent := time.Now()
			inv.sigs <- tc.sig
			if code := inv.end(t, 5*time.Second); code != tc.want {
				t.Fatalf("exit %d; want %d", code, tc.want)
			}
			if took := time.Since(sent); took > 2*time.Second { // at once; the slack is a loaded machine's
				t.Errorf("stopped %v after the signal; want at once", took)
			}
			if line := "(received " + tc.sig.String() + "); not ready: tcp"; !strings.Contains(inv.stderr.String(), line) {
				t.Errorf("no stopped line with %q:\n%s", line, inv.stderr.String())
			}
			if !strings.Contains(inv.stderr.String(), "with no time limit") {
				t.Errorf("--timeout 0 does not say it waits for ever:\n%s", inv.stderr.String())
			}
		})
	}
}

// The same with a real process and real signals.
func TestWaitSignalProcess(t *testing.T) {
	bin := healthgateBinary(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGTERM, exitSIGTERM}, {syscall.SIGINT, exitSIGINT}, {syscall.SIGHUP, exitSIGHUP}, {syscall.SIGQUIT, exitSIGQUIT}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			var stderr syncBuffer
			cmd := exec.CommandContext(t.Context(), bin, "wait", "--tcp", checktest.ClosedAddr(t), "--timeout", "0")
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			checktest.Eventually(t, 5*time.Second, "waiting", func() bool { return strings.Contains(stderr.String(), "waiting for tcp") })
			sent := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != tc.want {
				t.Fatalf("exit %d; want %d:\n%s", got, tc.want, stderr.String())
			}
			if took := time.Since(sent); took > 2*time.Second { // at once; the slack is a loaded machine's
				t.Errorf("exited %v after the signal; want at once", took)
			}
			if line := "(received " + tc.sig.String() + ")"; !strings.Contains(stderr.String(), "healthgate wait: stopped after ") || !strings.Contains(stderr.String(), line) {
				t.Errorf("no stopped line with %q:\n%s", line, stderr.String())
			}
		})
	}
}

// wait's third acceptance test: `wait -- cmd` runs the command in place of itself: same PID, its args and
// environment, its exit code.
func TestWaitExec(t *testing.T) {
	bin := healthgateBinary(t)
	var stdout, stderr syncBuffer
	script := `echo "pid=$$ name=$0 args=$1|$2 env=$HEALTHGATE_TEST_VAR"; exit 7`
	cmd := exec.CommandContext(t.Context(), bin, "wait", "--tcp", listening(t), "--", "/bin/sh", "-c", script, "app-name", "one", "two words")
	cmd.Env = append(os.Environ(), "HEALTHGATE_TEST_VAR=from-the-environment")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Wait()
	if got := cmd.ProcessState.ExitCode(); got != 7 {
		t.Fatalf("exit %d; want the command's 7:\nstdout: %s\nstderr: %s", got, stdout.String(), stderr.String())
	}
	want := "pid=" + strconv.Itoa(pid) + " name=app-name args=one|two words env=from-the-environment\n"
	if got := stdout.String(); got != want {
		t.Errorf("the command printed %q; want %q (same PID, args and environment)", got, want)
	}
	// The last line too, queued (logWriter) just before the exec, which would lose it unflushed.
	if !strings.Contains(stderr.String(), "ready: tcp (tcp ") || !strings.Contains(stderr.String(), "healthgate wait: all 1 ready after ") {
		t.Errorf("no ready line, or no \"all 1 ready\", before the exec:\n%s", stderr.String())
	}
}

// After the exec, signals go to the command, and its exit code is the container's.
func TestWaitExecSignalsGoToCommand(t *testing.T) {
	bin := healthgateBinary(t)
	var stdout syncBuffer
	script := `trap 'echo got TERM; exit 42' TERM; echo started; while :; do sleep 0.05; done`
	cmd := exec.CommandContext(t.Context(), bin, "wait", "--quiet", "--tcp", listening(t), "--", "/bin/sh", "-c", script)
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	checktest.Eventually(t, 5*time.Second, "the command started", func() bool { return strings.Contains(stdout.String(), "started") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := cmd.ProcessState.ExitCode(); got != 42 {
		t.Fatalf("exit %d; want the trap's 42 (output %q)", got, stdout.String())
	}
	if !strings.Contains(stdout.String(), "got TERM") {
		t.Errorf("the command did not get the signal: %q", stdout.String())
	}
}

// execWindowEnv makes the test binary healthgate itself, which sends itself a SIGTERM in wait's exec window
// (execWindow) and goes on once the signal has stopped the wait's context: the window made observable.
const execWindowEnv = "HEALTHGATE_TEST_EXEC_WINDOW"

func runExecWindow() {
	execWindow = func(ctx context.Context) {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-ctx.Done()
	}
	main()
}

// A signal that arrives once every target is ready but before the exec is not lost: wait stops as it does
// for a signal during the wait (its stopped line, 143), and the command never runs. It was caught on
// healthgate's channel, and the command ran without ever seeing it.
func TestWaitSignalBeforeExec(t *testing.T) {
	var stdout, stderr syncBuffer
	cmd := exec.CommandContext(t.Context(), os.Args[0], "wait", "--tcp", listening(t), "--", "/bin/sh", "-c", "echo the command ran")
	cmd.Env = append(os.Environ(), execWindowEnv+"=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if got := cmd.ProcessState.ExitCode(); got != exitSIGTERM || stdout.String() != "" {
		t.Fatalf("exit %d, stdout %q; want %d and the command not run, the SIGTERM not lost:\n%s", got, stdout.String(), exitSIGTERM, stderr.String())
	}
	if want := "(received terminated); every target was ready; the command after -- was not run"; !strings.Contains(stderr.String(), want) {
		t.Errorf("no stopped line with %q:\n%s", want, stderr.String())
	}
}

// A missing command is a clear error, 127, before any attempt (a command that exists but cannot be
// executed: 126, as in a shell).
func TestWaitMissingCommand(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noShebang := filepath.Join(t.TempDir(), "app.sh")
	if err := os.WriteFile(noShebang, []byte("exec ./app\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		command  string
		wantCode int
		want     string
	}{
		{"not in PATH", "healthgate-no-such-app", exitNotFound, "healthgate wait: command not found: healthgate-no-such-app is not in PATH"},
		{"no such file", "/nonexistent/app", exitNotFound, "healthgate wait: command not found: /nonexistent/app: no such file"},
		{"not executable", notExec, 126, "healthgate wait: command not executable: " + notExec + ": permission denied"},
		{"no #! line", noShebang, 126, "healthgate wait: command not executable: " + noShebang + " is neither a program (ELF) nor a script that starts with a #! line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The target is down: a lookup after the wait would time out instead.
			code, _, stderr := runMain(t, noEnv, "wait", "--tcp", checktest.ClosedAddr(t), "--timeout", "0", "--", tc.command, "--port", "8080")
			if code != tc.wantCode {
				t.Fatalf("exit %d; want %d:\n%s", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "waiting for") {
				t.Errorf("an attempt was made before the command was looked up:\n%s", stderr)
			}
			// With JSON logs, the error is a record like every other line.
			code, _, stderr = runMain(t, noEnv, "wait", "--log-format", "json", "--tcp", checktest.ClosedAddr(t), "--timeout", "0", "--", tc.command)
			var rec struct {
				Msg      string `json:"msg"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(stderr), &rec); code != tc.wantCode || err != nil || rec.Msg != "cannot run the command" || rec.ExitCode != tc.wantCode {
				t.Errorf("--log-format json: exit %d, stderr %q (%v); want %d and one JSON record", code, stderr, err, tc.wantCode)
			}
		})
	}
	// And with the real process.
	cmd := exec.CommandContext(t.Context(), healthgateBinary(t), "wait", "--tcp", listening(t), "--", "healthgate-no-such-app")
	out, _ := cmd.CombinedOutput()
	if got := cmd.ProcessState.ExitCode(); got != exitNotFound || !strings.Contains(string(out), "command not found") {
		t.Errorf("binary: exit %d; want 127 with a clear message: %s", got, out)
	}
	// With no PATH at all (env -i), the lookup had nowhere to look: said, with the way out. It said
	// "true is not in PATH", of a command every system has.
	cmd = exec.CommandContext(t.Context(), healthgateBinary(t), "wait", "--tcp", listening(t), "--", "true")
	cmd.Env = []string{}
	out, _ = cmd.CombinedOutput()
	if got, want := cmd.ProcessState.ExitCode(), "command not found: true is not in PATH, which is empty or not set here: set PATH, or write the command's full path"; got != exitNotFound || !strings.Contains(string(out), want) {
		t.Errorf("binary, no PATH: exit %d; want 127 and %q: %s", got, want, out)
	}
}

// A signal the process was started with ignored (nohup's SIGHUP, the SIGINT a shell ignores for a job it
// starts in the background) stays ignored: the wait goes on, and the command after -- inherits it ignored,
// as with `nohup env ... app`. Caught, it stopped the wait (129), and execve reset it to its default, so the
// command died of the first SIGHUP.
func TestWaitKeepsIgnoredSignals(t *testing.T) {
	bin := healthgateBinary(t)
	t.Run("the command", func(t *testing.T) {
		var stdout, stderr syncBuffer
		inner := `kill -HUP $$; kill -INT $$; echo alive`
		script := `trap "" HUP INT; exec "$0" wait --quiet --tcp "$1" -- /bin/sh -c "$2"`
		cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", script, bin, listening(t), inner)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 0 || stdout.String() != "alive\n" {
			t.Fatalf("exit %d, stdout %q; want 0 and %q (the command ignores SIGHUP and SIGINT as healthgate's parent asked):\n%s",
				code, stdout.String(), "alive\n", stderr.String())
		}
	})
	t.Run("the wait", func(t *testing.T) {
		var stderr syncBuffer
		cmd := exec.CommandContext(t.Context(), "/bin/sh", "-c", `trap "" HUP INT; exec "$0" wait --tcp "$1" --timeout 1500ms`, bin, checktest.ClosedAddr(t))
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		checktest.Eventually(t, 5*time.Second, "waiting", func() bool { return strings.Contains(stderr.String(), "waiting for tcp") })
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
		_ = cmd.Wait()
		if got := cmd.ProcessState.ExitCode(); got != exitTimeout {
			t.Fatalf("exit %d; want %d (the ignored signals ignored, the wait timing out):\n%s", got, exitTimeout, stderr.String())
		}
	})
}

// An empty --config or --only (`--config "$CONFIG"`, `--only "$DEPS"` with the variable unset) is a usage
// error, as an empty target flag is: it read as no flag at all, so wait and check fell back on
// ./healthgate.yaml or DATABASE_URL, or on every check instead of the ones named.
func TestEmptyConfigAndOnly(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://postgres@" + checktest.ClosedAddr(t) + "/test"}
	assertUsageErrors(t, env, []usageCase{
		{[]string{"--config", ""}, `--config: invalid value "": empty (an unset variable?)`},
		{[]string{"--config="}, `--config: invalid value "": empty (an unset variable?)`},
		{[]string{"--only", ""}, `--only: invalid value "": no name (an unset variable?)`},
		{[]string{"--only", " , "}, `--only: invalid value " , ": no name (an unset variable?)`},
	})
}

// An empty --migrations (`--migrations "$SCHEMA_VERSION"` with the variable unset) is a usage error, as an
// empty --config is: it read as no --migrations at all, so wait was ready, and check passed, on a database
// whose schema was never looked at.
func TestEmptyMigrations(t *testing.T) {
	target := "postgres://postgres@" + checktest.ClosedAddr(t) + "/test"
	assertUsageErrors(t, noEnv, []usageCase{
		{[]string{"--postgres", target, "--migrations", ""}, `--migrations: invalid value "": empty (an unset variable?)`},
		{[]string{"--postgres", target, "--migrations="}, `--migrations: invalid value "": empty (an unset variable?)`},
	})
}

// usageCase is the arguments of a wait or a check, and what its usage error says.
type usageCase struct {
	args []string
	want string
}

// assertUsageErrors runs each case as wait (with a short --timeout, were it to wait) and as check, and
// wants exit 2 with the case's text, before any attempt.
func assertUsageErrors(t *testing.T, env map[string]string, tests []usageCase) {
	t.Helper()
	for _, cmd := range []string{"wait", "check"} {
		for _, tc := range tests {
			t.Run(cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				args := append([]string{cmd}, tc.args...)
				if cmd == "wait" {
					args = append(args, "--timeout", "300ms")
				}
				code, stdout, stderr := runMain(t, env, args...)
				if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "waiting") {
					t.Fatalf("exit %d; want 2 and %q, before any attempt:\nstdout: %s\nstderr: %s", code, tc.want, stdout, stderr)
				}
			})
		}
	}
}

// DATABASE_URL or REDIS_URL set but empty (a Secret's empty key, DATABASE_URL=$UNSET in a manifest), and
// nothing else to check: the error says the variable is set but empty. It said to set it, and a reader
// looked for a typo in a name that was right.
func TestEmptyConventionalVariable(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./healthgate.yaml
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_URL": ""}, ", or give DATABASE_URL a URL: it is set, but empty"},
		{map[string]string{"REDIS_URL": ""}, ", or give REDIS_URL a URL: it is set, but empty"},
		{map[string]string{"DATABASE_URL": "", "REDIS_URL": ""}, ", or give DATABASE_URL or REDIS_URL a URL: both are set, but empty"},
		{noEnv, ", or set DATABASE_URL / REDIS_URL"},
	} {
		for _, cmd := range []string{"wait", "check", "serve"} {
			t.Run(fmt.Sprint(cmd, " ", tc.env), func(t *testing.T) {
				code, _, stderr := runMain(t, tc.env, cmd)
				if code != exitUsage || !strings.Contains(stderr, "nothing to ") || !strings.Contains(stderr, tc.want) {
					t.Errorf("exit %d; want 2 and %q:\n%s", code, tc.want, stderr)
				}
			})
		}
	}
}

// --config and --migrations take one value: given twice, the last silently replaced the first (a file, a
// version the schema must have), where a second --set of a field is refused; they are refused too.
func TestRepeatedConfigOrMigrations(t *testing.T) {
	cfg := writeConfig(t, "checks:\n  - name: db\n    type: tcp\n    address: "+listening(t)+"\n")
	pg := "postgres://postgres@" + checktest.ClosedAddr(t) + "/test"
	assertUsageErrors(t, noEnv, []usageCase{
		{[]string{"--config", cfg, "--config", cfg}, fmt.Sprintf(`--config: given twice (%q, %q); it takes one value: give it once`, cfg, cfg)},
		{[]string{"--postgres", pg, "--migrations", "golang-migrate:1", "--migrations=golang-migrate:2", "--migrations", "x"},
			`--migrations: given 3 times ("golang-migrate:1", "golang-migrate:2", "x"); it takes one value: give it once`},
	})
}

// A URL given to --config in place of a target flag (--config "$DATABASE_URL") names no file: the error shows
// it redacted, as a target is shown, and so does a --config given twice. Both quoted it whole, password and all.
func TestConfigURLRedacted(t *testing.T) {
	t.Chdir(t.TempDir())
	dsn := "postgres://app:hunter2-check-secret@db:5432/app"
	for _, tc := range []usageCase{
		{[]string{"--config", dsn}, "postgres://app:xxxxx@db:5432/app: no such file"},
		{[]string{"--config", "host=db password=hunter2-check-secret"}, "host=db password=xxxxx: no such file"},
		{[]string{"--config", "a.yaml", "--config", dsn}, `--config: given twice ("a.yaml", "postgres://app:xxxxx@db:5432/app")`},
	} {
		for _, cmd := range []string{"wait", "check", "serve"} {
			t.Run(cmd+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				code, stdout, stderr := runMain(t, noEnv, append([]string{cmd}, tc.args...)...)
				if code != exitUsage || !strings.Contains(stderr, tc.want) {
					t.Errorf("exit %d; want 2 and %q:\n%s%s", code, tc.want, stdout, stderr)
				}
				assertNoSecret(t, stdout, stderr)
			})
		}
	}
}

// With --log-format json, a usage or configuration error is a JSON record like every other line wait
// writes (msg "invalid usage", its error and exit_code), not a line of text among them.
func TestWaitJSONUsageError(t *testing.T) {
	badConfig := writeConfig(t, "checks:\n  - name: db\n    type: postgres\n    url: postgres://127.0.0.1/x\n    timeout: 10s\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--log-format", "json", "--tcp", "nohostport", "--timeout", "-1s"}, []string{"2 errors:", "--timeout: must not be negative", `--tcp (target "tcp"): must be host:port`}},
		{[]string{"--log-format", "json", "--config", badConfig}, []string{"invalid configuration (1 error):", "timeout (10s) must be shorter than interval (5s)"}},
		// A flag's own error (--postgres "$DATABASE_URL" with the variable unset, --timeout 30, an unknown
		// flag), before the format flag or after it: it stayed text.
		{[]string{"--log-format", "json", "--postgres", ""}, []string{`--postgres: invalid value "": empty (an unset variable?)`}},
		{[]string{"--timeout", "30", "--log-format", "json"}, []string{`--timeout: invalid value "30": needs a unit`}},
		{[]string{"--bogus", "--log-format=json"}, []string{"unknown flag --bogus"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runMain(t, noEnv, append([]string{"wait"}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d; want 2:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			var rec struct {
				Level, Msg, Error string
				ExitCode          int `json:"exit_code"`
			}
			if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil {
				t.Fatalf("stderr is not one JSON record:\n%s", stderr)
			}
			if rec.Level != "ERROR" || rec.Msg != "invalid usage" || rec.ExitCode != exitUsage {
				t.Errorf("record %+v; want level ERROR, msg %q, exit_code 2", rec, "invalid usage")
			}
			for _, w := range tc.want {
				if !strings.Contains(rec.Error, w) {
					t.Errorf("error %q lacks %q", rec.Error, w)
				}
			}
		})
	}
}
