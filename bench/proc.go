package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs keeps every process the harness started, so that each one is stopped and waited for on every way out:
// normal end, Ctrl-C (the context), an error, or a panic in main (deferred stopAll). Pdeathsig covers the rest:
// if the harness itself dies, the kernel kills its children.
var procs = struct {
	sync.Mutex
	live map[*proc]struct{}
}{live: map[*proc]struct{}{}}

// proc is one started program.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	stderr  *tailBuffer
	done    chan struct{} // closed when the process has exited and been waited for
	exited  time.Time
	err     error // from Wait
}

// start runs bin with args; its output is kept (the last few KiB) for error messages.
func start(name, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	tail := &tailBuffer{max: 4096}
	cmd.Stdout = tail
	cmd.Stderr = tail
	p := &proc{name: name, cmd: cmd, stderr: tail, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	procs.Lock()
	procs.live[p] = struct{}{}
	procs.Unlock()
	go func() {
		p.err = cmd.Wait()
		p.exited = time.Now()
		procs.Lock()
		delete(procs.live, p)
		procs.Unlock()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to end (SIGTERM), kills it after grace, and waits for it.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// exitCode is the exit status once the process has ended, -1 if a signal ended it.
func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// output is the tail of what the process printed, on one line.
func (p *proc) output() string {
	s := strings.TrimSpace(p.stderr.String())
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return s
}

// stopAll stops every process still running, in parallel.
func stopAll() {
	procs.Lock()
	list := make([]*proc, 0, len(procs.live))
	for p := range procs.live {
		list = append(list, p)
	}
	procs.Unlock()
	var wg sync.WaitGroup
	for _, p := range list {
		wg.Go(func() { p.stop(2 * time.Second) })
	}
	wg.Wait()
}

// A panic in a goroutine ends the process at once, without the deferred calls of the others: the programs
// started would run on (until Pdeathsig) and the temporary directory would stay. So the harness starts its
// goroutines through guard, which recovers a panic, records the first, and cancels the run; run then stops
// everything, cleans up, and raises it again (repanic).
var panicked struct {
	sync.Mutex
	value  any
	stack  []byte
	cancel context.CancelFunc
}

// onPanic sets what a recovered panic cancels.
func onPanic(cancel context.CancelFunc) {
	panicked.Lock()
	panicked.cancel = cancel
	panicked.Unlock()
}

// guard wraps f so that a panic in it is recovered, recorded and cancels the run.
func guard(f func()) func() {
	return func() {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			panicked.Lock()
			if panicked.value == nil {
				panicked.value, panicked.stack = v, debug.Stack()
			}
			cancel := panicked.cancel
			panicked.Unlock()
			if cancel != nil {
				cancel()
			}
		}()
		f()
	}
}

// crashed reports whether a guarded goroutine panicked.
func crashed() bool {
	panicked.Lock()
	defer panicked.Unlock()
	return panicked.value != nil
}

// repanic raises the recorded panic, if any, with the stack of the goroutine where it happened. It is deferred
// by run before the cleanup, so that it runs after it.
func repanic() {
	panicked.Lock()
	v, stack := panicked.value, panicked.stack
	panicked.Unlock()
	if v != nil {
		fmt.Fprintf(os.Stderr, "bench: a goroutine panicked; every process is stopped, the temporary files are removed; its stack:\n%s\n", stack)
		panic(v)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// goBuild builds the main packages pkgs of the module in dir into out (a directory when several).
func goBuild(ctx context.Context, dir, out string, pkgs ...string) error {
	args := append([]string{"build", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(buf.String()), " ")
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return fmt.Errorf("go build %s: %w: %s", strings.Join(pkgs, " "), err, msg)
	}
	return nil
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago, taken at random below the
// kernel's ephemeral range and never twice: a port from listening on ":0" and closing is in that range, where
// the next outgoing connection of any process (the load generator's, a check's) may take it before the
// program meant to listen there starts ("cannot listen ... address already in use" failed a CI run so once).
// Below the range the kernel hands out nothing by itself. The range is shared with the tests' ports
// (checktest.FreePort in the main module; the bench is a module of its own): each process claims a block of
// it by the same abstract Unix socket names, so a bench run beside go test never picks a port a test holds
// (one did: a fleet stack's HAProxy found its port taken).
func freeAddr() string {
	low, high := portBlock()
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 200 {
		p := low + rand.IntN(high-low)
		if freePorts.given[p] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if ln, err := net.Listen("tcp", addr); err == nil {
			_ = ln.Close()
			freePorts.given[p] = true
			return addr
		}
	}
	panic("no free TCP port on 127.0.0.1 below the ephemeral range")
}

// listenFree listens on a free address (freeAddr). A port free a moment ago can still be taken before
// the listen (seen once in CI: a wait figure lost to "bind: address already in use"); in this process,
// unlike for a child given the address, another port can simply be tried.
func listenFree() (net.Listener, error) {
	var err error
	for range 5 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", freeAddr()); err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, err
}

// portBlock is this process's part of [10000, start of the ephemeral range): the first of 8 blocks whose
// abstract Unix socket "@healthgate-test-ports-N" it can bind, held for the life of the process (the
// tests' checktest.portBlock, same names and sizes); the whole range when every block is taken.
var portBlock = sync.OnceValues(func() (int, int) {
	low, high := 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				high = n
			}
		}
	}
	const blocks = 8
	size := (high - low) / blocks
	for i := range blocks {
		if ln, err := net.Listen("unix", fmt.Sprintf("@healthgate-test-ports-%d", i)); err == nil {
			claimedBlock = ln
			return low + i*size, low + (i+1)*size
		}
	}
	return low, high
})

var claimedBlock net.Listener // kept open (the block claimed) until the process exits

var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// probeClient is used for single probes (status polling); the load generator has its own client.
var probeClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
}

// status returns the HTTP status of GET url, or 0 when there was no answer.
func status(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var b [512]byte
	for {
		if _, err := resp.Body.Read(b[:]); err != nil {
			break
		}
	}
	return resp.StatusCode
}

// waitStatus polls url every step until it answers want, and returns when it first did.
func waitStatus(ctx context.Context, url string, want int, step, limit time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := 0
	for {
		if last = status(ctx, url); last == want {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			if last == 0 {
				return time.Time{}, fmt.Errorf("%s: no answer within %v", url, limit)
			}
			return time.Time{}, fmt.Errorf("%s: still %d after %v, want %d", url, last, limit, want)
		case <-time.After(step):
		}
	}
}

// peakRSS reads VmHWM (the peak resident set size) of pid, in bytes.
func peakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

// currentRSS reads VmRSS (the resident set size now) of pid, in bytes.
func currentRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmRSS") }

// procStatusBytes reads a field of /proc/pid/status given in kB, in bytes.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
