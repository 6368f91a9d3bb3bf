package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// stalledPipe returns the ends of a pipe that nobody reads and whose buffer is full, as the stderr of a
// container whose log collector stopped reading: every write to w blocks (its buffer holds 64 KiB or more
// of NUL bytes, to read before what is written after). Both ends close when the test ends.
func stalledPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	r = os.NewFile(uintptr(fds[0]), "stalled pipe, read end")
	t.Cleanup(func() { _ = r.Close() })
	// Filled while non-blocking, down to single bytes: not even a one-byte line fits.
	chunk := make([]byte, 64<<10)
	for size := len(chunk); size > 0; {
		if _, err := syscall.Write(fds[1], chunk[:size]); errors.Is(err, syscall.EAGAIN) {
			size /= 2
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.SetNonblock(fds[1], false); err != nil {
		t.Fatal(err)
	}
	w = os.NewFile(uintptr(fds[1]), "stalled pipe, write end")
	t.Cleanup(func() { _ = w.Close() })
	return r, w
}

// brokenPipe returns the write end of a pipe whose read end is closed, as the stderr of `healthgate wait ...
// 2>&1 | tool` once tool has exited: every write to it fails (EPIPE). It closes when the test ends.
func brokenPipe(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// stalledRun is one run of the healthgate binary with its stderr, or its stdout, a stalled pipe.
type stalledRun struct {
	name    string
	stalled string // "stderr", "stdout" or "stdout and stderr"
	args    []string
	code    int
	within  time.Duration // from the start to the exit: the command's own bound, and a grace
	stdout  string        // wanted on stdout, when it is not stalled
	stderr  string        // wanted on stderr, when it is not stalled
	signal  syscall.Signal
	broken  bool // the stalled stream is a pipe whose reader has gone (brokenPipe), not a full one
}

// run starts the binary and returns its exit code, how long it ran, and what it wrote on the stream that is
// not stalled. It is killed after 20 s: a process held by its stalled output never exits.
func (s stalledRun) run(t *testing.T) (code int, took time.Duration, stdout, stderr string) {
	t.Helper()
	bin := healthgateBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	cmd := exec.CommandContext(ctx, bin, s.args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	pipe := func() *os.File { _, w := stalledPipe(t); return w }
	if s.broken {
		pipe = func() *os.File { return brokenPipe(t) }
	}
	if s.stalled != "stdout" {
		cmd.Stderr = pipe()
	}
	if s.stalled != "stderr" {
		cmd.Stdout = pipe()
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if s.signal != 0 {
		time.Sleep(500 * time.Millisecond) // waiting, its first line held by the pipe
		if err := cmd.Process.Signal(s.signal); err != nil {
			t.Fatal(err)
		}
	}
	_ = cmd.Wait()
	took = time.Since(began)
	if ctx.Err() != nil {
		t.Fatalf("still running after %s with %s stalled: killed", took, s.stalled)
	}
	return cmd.ProcessState.ExitCode(), took, out.String(), errOut.String()
}

// checkStalled runs each case in parallel and asserts its exit code, that it came within the case's bound,
// and what the stream that is not stalled says.
func checkStalled(t *testing.T, cases []stalledRun) {
	checktest.EachParallel(t, cases, func(s stalledRun) string { return s.name }, func(t *testing.T, s stalledRun) {
		code, took, stdout, stderr := s.run(t)
		if code != s.code {
			t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", code, s.code, stdout, stderr)
		}
		if took > s.within {
			t.Errorf("exited after %s; want within %s", took, s.within)
		}
		if !strings.Contains(stdout, s.stdout) || !strings.Contains(stderr, s.stderr) {
			t.Errorf("stdout lacks %q or stderr lacks %q\nstdout: %s\nstderr: %s", s.stdout, s.stderr, stdout, stderr)
		}
	})
}

// TestWaitStderrStalled: wait's deadline, its success and the exec of its command are not held by a stderr
// nobody reads (a log collector that stopped reading the init container's pipe): the progress it cannot
// write is dropped, and it exits on time, at most a second (exitGrace) late. Its first progress line
// blocked it for good: after its --timeout, after the dependency answered, after a SIGTERM.
func TestWaitStderrStalled(t *testing.T) {
	t.Parallel() // each case waits on a real process
	pg, redis, closed := checktest.PostgresURL(t), checktest.RedisURL(t), checktest.ClosedAddr(t)
	// A second of grace, and on a loaded machine as much again.
	checkStalled(t, []stalledRun{
		{name: "timeout", stalled: "stderr", args: []string{"wait", "--tcp", closed, "--timeout", "1s"}, code: exitTimeout, within: 4 * time.Second},
		{name: "timeout, json", stalled: "stderr", args: []string{"wait", "--tcp", closed, "--timeout", "1s", "--log-format", "json"}, code: exitTimeout, within: 4 * time.Second},
		{name: "timeout, quiet: only the table", stalled: "stderr", args: []string{"wait", "--tcp", closed, "--timeout", "1s", "--quiet"}, code: exitTimeout, within: 4 * time.Second},
		{name: "ready", stalled: "stderr", args: []string{"wait", "--postgres", pg, "--redis", redis}, code: exitOK, within: 4 * time.Second},
		{name: "ready, then the command", stalled: "stderr", args: []string{"wait", "--postgres", pg, "--redis", redis, "--", "/bin/echo", "the command ran"},
			code: exitOK, within: 4 * time.Second, stdout: "the command ran"},
		{name: "SIGTERM", stalled: "stderr", args: []string{"wait", "--tcp", closed, "--timeout", "0"}, signal: syscall.SIGTERM, code: exitSIGTERM, within: 4 * time.Second},
		{name: "usage error", stalled: "stderr", args: []string{"wait", "--timeout", "30"}, code: exitUsage, within: 3 * time.Second},
		{name: "command not found", stalled: "stderr", args: []string{"wait", "--tcp", closed, "--", "healthgate-no-such-command"}, code: exitNotFound, within: 3 * time.Second},
	})
}

// TestWaitSaysLinesDropped: the progress a stalled stderr could not take is dropped, and once it takes lines
// again one line says how many, before the lines that follow: here a log collector that resumes reading
// after two seconds, while 1,000 targets refused at debug level write some thousands of lines a second (the
// queue holds 4,096: the first attempts alone write 1,000, and 400 targets wrote 8,700 in two seconds on a
// machine loaded twelve times over).
func TestWaitSaysLinesDropped(t *testing.T) {
	t.Parallel() // waits on a real process
	bin, closed := healthgateBinary(t), checktest.ClosedAddr(t)
	args := []string{"wait", "--log-level", "debug", "--timeout", "3500ms"}
	for range 1000 {
		args = append(args, "--tcp", closed)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r, w := stalledPipe(t)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // the reader sees the end of the pipe when the process exits
	time.Sleep(2 * time.Second)
	var got bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&got, r)
	}()
	_ = cmd.Wait()
	<-read
	text := strings.TrimLeft(got.String(), "\x00")
	if code := cmd.ProcessState.ExitCode(); code != exitTimeout {
		t.Fatalf("exit %d; want 124:\n%.2000s", code, text)
	}
	notice := regexp.MustCompile(`(?m)^healthgate wait: log lines dropped: the log output was not keeping up \(([0-9]+) dropped\)$`)
	m := notice.FindStringSubmatchIndex(text)
	if m == nil {
		t.Fatalf("no line says lines were dropped:\n%.2000s", text)
	}
	if n, _ := strconv.Atoi(text[m[2]:m[3]]); n < 1 {
		t.Errorf("the line says %d lines were dropped", n)
	}
	if table := strings.Index(text, "healthgate wait: timed out after"); table < m[1] {
		t.Errorf("the table of what was not ready is missing, or comes before the line that says lines were dropped:\n%s", text[max(0, m[0]-500):])
	}
}

// TestCheckOutputStalled: check's report on a stdout nobody reads does not hold it past its checks' own
// timeouts and a second of grace: it exits 1 (a report that could not be written, as on a write error),
// saying so and the verdict it had on stderr. A usage error's JSON on stdout, and its line on a stalled
// stderr, hold it no longer.
func TestCheckOutputStalled(t *testing.T) {
	t.Parallel() // each case waits on a real process
	pg, closed := checktest.PostgresURL(t), checktest.ClosedAddr(t)
	checkStalled(t, []stalledRun{
		{name: "pass", stalled: "stdout", args: []string{"check", "--postgres", pg}, code: exitFailed, within: 4 * time.Second,
			stderr: "healthgate check: writing the report to stdout: stalled: not all written within 1s (the checks' verdict: pass)"},
		{name: "pass, json", stalled: "stdout", args: []string{"check", "--postgres", pg, "--output", "json"}, code: exitFailed, within: 4 * time.Second,
			stderr: "(the checks' verdict: pass)"},
		{name: "fail", stalled: "stdout", args: []string{"check", "--tcp", closed, "--postgres", pg}, code: exitFailed, within: 4 * time.Second,
			stderr: "(the checks' verdict: fail)"},
		{name: "usage error, json", stalled: "stdout", args: []string{"check", "--bogus", "--output", "json"}, code: exitUsage, within: 3 * time.Second,
			stderr: "unknown flag --bogus"},
		{name: "usage error, stderr stalled", stalled: "stderr", args: []string{"check", "--bogus"}, code: exitUsage, within: 3 * time.Second},
		{name: "fail, both stalled", stalled: "stdout and stderr", args: []string{"check", "--tcp", closed}, code: exitFailed, within: 5 * time.Second},
	})
}

// TestOutputBrokenPipe: an output whose reader has gone (`healthgate wait ... 2>&1 | logger` after logger
// exited; `healthgate check | head -1`) fails its writes and stops nothing, as a stalled one: wait still
// waits and runs its command, check still exits with what it could not write said as on any write error.
// Go's default for a write to a broken stdout or stderr is to die of SIGPIPE: wait exited 141 at its first
// progress line, without running its command, and check 141 with no verdict.
func TestOutputBrokenPipe(t *testing.T) {
	t.Parallel() // each case waits on a real process
	pg, closed := checktest.PostgresURL(t), checktest.ClosedAddr(t)
	checkStalled(t, []stalledRun{
		{name: "wait, then the command", stalled: "stderr", broken: true, args: []string{"wait", "--log-level", "debug", "--postgres", pg, "--", "/bin/echo", "the command ran"},
			code: exitOK, within: 4 * time.Second, stdout: "the command ran"},
		{name: "wait, timeout", stalled: "stderr", broken: true, args: []string{"wait", "--tcp", closed, "--timeout", "1s"}, code: exitTimeout, within: 4 * time.Second},
		{name: "check, pass", stalled: "stdout", broken: true, args: []string{"check", "--postgres", pg}, code: exitFailed, within: 4 * time.Second,
			stderr: "(the checks' verdict: pass)"},
		{name: "check, both", stalled: "stdout and stderr", broken: true, args: []string{"check", "--tcp", closed}, code: exitFailed, within: 4 * time.Second},
	})
}

// TestServeStderrStalled: serve's usage and configuration errors, and the lines it writes before it serves,
// do not hold it on a stderr nobody reads: it exits 2 (or 1, when it cannot listen) at most a second
// (exitGrace) late. Its lines before the configuration had loaded were written at once, and the first
// one blocked it for good.
func TestServeStderrStalled(t *testing.T) {
	t.Parallel() // each case waits on a real process
	busy := listening(t)
	checkStalled(t, []stalledRun{
		{name: "configuration error", stalled: "stderr", args: []string{"serve", "--config", writeConfig(t, "checks:\n  - {name: x, type: nosuch}\n")},
			code: exitUsage, within: 3 * time.Second},
		{name: "usage error", stalled: "stderr", args: []string{"serve", "--listen", "nohostport"}, code: exitUsage, within: 3 * time.Second},
		{name: "usage error, json", stalled: "stderr", args: []string{"serve", "--log-format", "json", "--config", "/nonexistent/healthgate.yaml"},
			code: exitUsage, within: 3 * time.Second},
		// The warning that there is nothing to check, then the listen that fails.
		{name: "no checks, cannot listen", stalled: "stderr", args: []string{"serve", "--listen", busy, "--config", writeConfig(t, "checks: []\n")},
			code: exitFailed, within: 3 * time.Second},
		{name: "unknown command", stalled: "stderr", args: []string{"serv"}, code: exitUsage, within: 3 * time.Second},
	})
}
