package startup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/startup"
)

func sleeper(d time.Duration, err error) func(context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-time.After(d):
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Check runs every check once, in parallel: three 1 s checks take about 1 s, not 3.
func TestCheckRunsInParallel(t *testing.T) {
	optional := spec("metrics", 5*time.Second)
	optional.Critical = false
	cs := []*checks.Check{
		checks.Func(spec("db", 5*time.Second), sleeper(time.Second, nil)),
		checks.Func(spec("cache", 5*time.Second), sleeper(time.Second, errNotReady)),
		checks.Func(optional, sleeper(time.Second, errRefused)),
	}
	start := time.Now()
	rs := startup.RunOnce(t.Context(), cs)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("three 1s checks took %v; want them in parallel", took)
	}
	want := []struct {
		name  string
		ok    bool
		class checks.Class
	}{{"db", true, ""}, {"cache", false, checks.NotReady}, {"metrics", false, checks.Refused}}
	for i, w := range want {
		r := rs[i]
		if r.Name != w.name || r.OK != w.ok || r.Class != w.class || r.Attempts != 1 {
			t.Errorf("result %d = %s ok %v class %q attempts %d; want %s ok %v class %q attempts 1", i, r.Name, r.OK, r.Class, r.Attempts, w.name, w.ok, w.class)
		}
		if r.Latency < 200*time.Millisecond {
			t.Errorf("%s latency %v; want ≥ 200ms", r.Name, r.Latency)
		}
		if !w.ok && r.Hint == "" {
			t.Errorf("%s failed without a hint", r.Name)
		}
	}
}

// TestCheckPanicIsAFailure: a check that panics fails with reason panic, as in serve, and the others
// keep their results; it took check and wait down with Go's exit status 2 (a usage error's), no table.
func TestCheckPanicIsAFailure(t *testing.T) {
	cs := []*checks.Check{
		checks.Func(spec("db", time.Second), func(context.Context) error { panic("boom") }),
		checks.Func(spec("cache", time.Second), sleeper(0, nil)),
	}
	rs := startup.RunOnce(t.Context(), cs)
	if rs[0].OK || rs[0].Class != checks.Panic || !strings.Contains(rs[0].Err.Error(), "panic: boom") || rs[0].Hint == "" {
		t.Errorf("db: ok %v class %q err %v hint %q; want a panic failure with its hint", rs[0].OK, rs[0].Class, rs[0].Err, rs[0].Hint)
	}
	if !rs[1].OK {
		t.Errorf("cache: %v; want it passed", rs[1].Err)
	}

	var runs atomic.Int32
	flaky := checks.Func(spec("db", time.Second), func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	if _, err := startup.Wait(t.Context(), []*checks.Check{flaky}, startup.Options{Timeout: 10 * time.Second}); err != nil || runs.Load() != 2 {
		t.Errorf("wait on a check that panicked once: %v after %d runs; want it passed on the second", err, runs.Load())
	}
}

func TestCheckHonoursTimeout(t *testing.T) {
	c := checks.Func(spec("db", 100*time.Millisecond), sleeper(time.Hour, nil))
	start := time.Now()
	rs := startup.RunOnce(t.Context(), []*checks.Check{c})
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v; want the check's 100ms timeout", took)
	}
	if rs[0].OK || rs[0].Class != checks.Timeout {
		t.Errorf("ok %v class %q; want a timeout", rs[0].OK, rs[0].Class)
	}
}

func results(critical, optional bool) []startup.Result {
	fail := func(name string, critical bool, err error) startup.Result {
		return startup.Result{Name: name, Type: "postgres", Target: "10.0.0.5:5432/app", Critical: critical,
			Err: err, Class: checks.ClassOf(err), Hint: checks.Hint(err, "DATABASE_URL"), Latency: 2100 * time.Microsecond}
	}
	rs := []startup.Result{{Name: "cache", Type: "redis", Target: "10.0.0.6:6379/0", Critical: true, OK: true, Latency: time.Millisecond}}
	if critical {
		rs = append(rs, fail("db", true, checks.Failf(checks.Auth, `password authentication failed for user "app"`)))
	}
	if optional {
		rs = append(rs, fail("replica", false, checks.Failf(checks.Refused, "connection refused")))
	}
	return rs
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name               string
		critical, optional bool
		want               checks.Status
	}{
		{"all pass", false, false, checks.Pass},
		{"only a non-critical fails", false, true, checks.Warn},
		{"a critical fails", true, false, checks.Fail},
		{"both fail", true, true, checks.Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := startup.Verdict(results(tc.critical, tc.optional)); got != tc.want {
				t.Errorf("Verdict = %s; want %s", got, tc.want)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := startup.WriteText(&b, results(true, true)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	ls := strings.Split(strings.TrimSpace(out), "\n")
	if len(ls) != 6 { // header, 3 rows, blank, verdict
		t.Fatalf("%d lines; want 6:\n%s", len(ls), out)
	}
	header := strings.Fields(ls[0])
	if got, want := strings.Join(header, " "), "NAME TYPE TARGET CRITICAL STATUS LATENCY REASON HINT"; got != want {
		t.Errorf("header = %q; want %q", got, want)
	}
	// Aligned: every row's TARGET starts where the header's does.
	col := strings.Index(ls[0], "TARGET")
	for _, l := range ls[1:4] {
		if !strings.HasPrefix(l[col:], "10.0.0.") {
			t.Errorf("row not aligned under TARGET:\n%s", out)
		}
	}
	for _, w := range []string{
		"cache    redis     10.0.0.6:6379/0    yes       pass    1ms      -        -",
		`db       postgres  10.0.0.5:5432/app  yes       FAIL    2.1ms    auth     password authentication failed for user "app" — the credentials were rejected: check the user, password and database in DATABASE_URL`,
		"replica", "no ", "refused",
		"fail: 1 critical check failed, and 1 non-critical",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestWriteTextShortLatency: a run shorter than 50 µs (a DNS answer from a local cache) is shown as it
// took, not rounded to "0s".
func TestWriteTextShortLatency(t *testing.T) {
	for _, tc := range []struct {
		latency time.Duration
		want    string
	}{{30 * time.Microsecond, "30µs"}, {600 * time.Nanosecond, "600ns"}, {1234 * time.Microsecond, "1.2ms"}} {
		var b bytes.Buffer
		rs := []startup.Result{{Name: "dns", Type: "dns", Target: "A api.internal", Critical: true, OK: true, Latency: tc.latency}}
		if err := startup.WriteText(&b, rs); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), " pass    "+tc.want+" ") {
			t.Errorf("latency %v: want %s in:\n%s", tc.latency, tc.want, b.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := startup.WriteJSON(&b, results(false, true)); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status string
		Checks []struct {
			Name, Type, Target, Status, Reason, Error, Hint string
			Critical                                        bool
			LatencyMS                                       float64 `json:"latency_ms"`
		}
	}
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "warn" || len(got.Checks) != 2 {
		t.Fatalf("status %q, %d checks; want warn, 2", got.Status, len(got.Checks))
	}
	c, r := got.Checks[0], got.Checks[1]
	if c.Name != "cache" || c.Status != "pass" || !c.Critical || c.LatencyMS != 1 || c.Reason != "" || c.Error != "" {
		t.Errorf("cache = %+v", c)
	}
	if r.Name != "replica" || r.Status != "fail" || r.Critical || r.Reason != "refused" ||
		r.Error != "refused: connection refused" || !strings.HasPrefix(r.Hint, "nothing listens there yet") || r.LatencyMS != 2.1 {
		t.Errorf("replica = %+v", r)
	}
}

func TestLookCommand(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Executable, but no #! line: execve refuses it (ENOEXEC), which wait said only after the
	// dependencies came up.
	noShebang := filepath.Join(dir, "no-shebang")
	if err := os.WriteFile(noShebang, []byte("echo hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// In PATH but not executable (a script copied without chmod +x): a shell and env say permission
	// denied (126); it was "not in PATH" (127).
	inPathDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(inPathDir, "healthgate-not-executable"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", os.Getenv("PATH")+string(filepath.ListSeparator)+inPathDir)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		argv     []string
		wantPath string
		wantErr  error
	}{
		{name: "in PATH", argv: []string{"sh", "-c", "true"}, wantPath: sh},
		{name: "absolute path", argv: []string{sh}, wantPath: sh},
		{name: "missing in PATH", argv: []string{"healthgate-no-such-command"}, wantErr: startup.ErrNotFound},
		{name: "missing path", argv: []string{filepath.Join(dir, "nope")}, wantErr: startup.ErrNotFound},
		{name: "not executable", argv: []string{notExec}, wantErr: startup.ErrNotExecutable},
		{name: "in PATH, not executable", argv: []string{"healthgate-not-executable"}, wantErr: startup.ErrNotExecutable},
		{name: "a directory", argv: []string{dir}, wantErr: startup.ErrNotExecutable},
		// A file where the path wants a directory: 126 with "not a directory", as a shell says (it was 127).
		{name: "under a file", argv: []string{filepath.Join(notExec, "app")}, wantErr: startup.ErrNotExecutable},
		{name: "a script without #!", argv: []string{noShebang}, wantErr: startup.ErrNotExecutable},
		{name: "empty", argv: nil, wantErr: startup.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := startup.LookCommand(tc.argv)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v; want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Path != tc.wantPath || len(cmd.Args) != len(tc.argv) {
				t.Errorf("cmd = %+v; want path %s, args %q", cmd, tc.wantPath, tc.argv)
			}
		})
	}
}

// A command found through a relative entry of PATH (PATH=node_modules/.bin:..., or . or an empty entry) is
// run, as sh, bash and env run it: it was refused, 127, with "write ./app", which named no file for bin/app.
// One only in the working directory is not found, as in a shell, and the error says to write ./app.
func TestLookCommandRelativePathEntry(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("bin", "healthgate-app"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("healthgate-here", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sep := string(filepath.ListSeparator)
	for _, tc := range []struct{ path, name, want string }{
		{"bin" + sep + os.Getenv("PATH"), "healthgate-app", filepath.Join("bin", "healthgate-app")},
		{"." + sep + os.Getenv("PATH"), "healthgate-here", "healthgate-here"},
		{sep + os.Getenv("PATH"), "healthgate-here", "healthgate-here"},
	} {
		t.Setenv("PATH", tc.path)
		cmd, err := startup.LookCommand([]string{tc.name, "arg"})
		if err != nil {
			t.Errorf("PATH=%s: LookCommand(%s) = %v; want it found, as a shell finds it", tc.path, tc.name, err)
			continue
		}
		if filepath.Clean(cmd.Path) != tc.want || cmd.Args[0] != tc.name {
			t.Errorf("PATH=%s: cmd = %+v; want path %s, argv[0] %s", tc.path, cmd, tc.want, tc.name)
		}
	}

	// Not in PATH, as in a shell, but in the working directory (the image's WORKDIR): the error says how to
	// name it.
	t.Setenv("PATH", "/nonexistent")
	_, err := startup.LookCommand([]string{"healthgate-here"})
	if want := "healthgate-here is not in PATH; there is one in the current directory: write ./healthgate-here"; !errors.Is(err, startup.ErrNotFound) || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("LookCommand = %v; want a not found that says %q", err, want)
	}
}

// TestExecMissingInterpreter: a script whose #! line names a program that is not there (or ends in a
// carriage return) exists, yet execve says "no such file or directory": the error says what is missing,
// and stays a not-found (127, as a shell's).
func TestExecMissingInterpreter(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, script, want string }{
		{name: "missing", script: "#!/nonexistent/healthgate-sh\necho hi\n", want: `names the interpreter "/nonexistent/healthgate-sh", which does not exist`},
		{name: "crlf", script: "#!/bin/sh\r\necho hi\r\n", want: `names the interpreter "/bin/sh\r", which does not exist (the line ends in a carriage return`},
		// env exists, and execve runs it; what is missing is the program env runs: found out after the
		// wait, from env, until the lookup looked for it too.
		{name: "env crlf", script: "#!/usr/bin/env sh\r\necho hi\r\n", want: `has /usr/bin/env run "sh\r", which is not in PATH (the line ends in a carriage return`},
		{name: "env missing", script: "#!/usr/bin/env healthgate-no-such-sh\necho hi\n", want: `has /usr/bin/env run "healthgate-no-such-sh", which is not in PATH`},
		{name: "env with an argument", script: "#!/usr/bin/env sh -e\necho hi\n", want: `runs /usr/bin/env with "sh -e" as one argument`},
		{name: "env fine", script: "#!/usr/bin/env  sh \necho hi\n", want: ""},
		{name: "env -S", script: "#!/usr/bin/env -S sh -e\necho hi\n", want: ""},
		{name: "fine", script: "#! /bin/sh -e\necho hi\n", want: ""},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(path, []byte(tc.script), 0o755); err != nil {
			t.Fatal(err)
		}
		// wait looks the command up before its first attempt: a missing interpreter fails then, not
		// after the dependencies came up.
		_, err := startup.LookCommand([]string{path})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: LookCommand = %v; want no error", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, startup.ErrNotFound) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: LookCommand = %v; want ErrNotFound (wait's 127) containing %q", tc.name, err, tc.want)
		}
		if strings.HasPrefix(tc.name, "env") {
			continue // execve would run env, in place of the test
		}
		// Should the interpreter vanish after the lookup, execve's ENOENT still names the likely cause.
		err = startup.Command{Path: path, Args: []string{path}}.Exec(nil) // fails: the test process is not replaced
		if !errors.Is(err, syscall.ENOENT) || !strings.Contains(fmt.Sprint(err), "interpreter") {
			t.Errorf("%s: Exec = %v; want ENOENT (wait's 127) with the missing interpreter named", tc.name, err)
		}
	}
}
