package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// stalledPipe returns the write end of a pipe that nobody reads and whose buffer is full, as the stderr of a
// container whose log collector stopped reading: every write to it blocks. Both ends close when the test
// ends.
func stalledPipe(t *testing.T) *os.File {
	t.Helper()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(fds[0]), "stalled pipe, read end")
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
	w := os.NewFile(uintptr(fds[1]), "stalled pipe, write end")
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
	if s.stalled != "stdout" {
		cmd.Stderr = stalledPipe(t)
	}
	if s.stalled != "stderr" {
		cmd.Stdout = stalledPipe(t)
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
