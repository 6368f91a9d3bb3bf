package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// logWriter is the stderr of every command (run), and check's stdout: each write is queued and written to
// the real output by a goroutine of its own, so no caller ever waits on it. A stalled stderr (a Docker
// logging driver in blocking mode, a full disk, a sidecar that stopped reading a pipe) held the line that
// starts serve's drain, and the drain with it: the pod sat in Terminating until the kubelet killed it; a
// usage or configuration error held serve for good, before it had anything to drain; and wait's first
// progress line held it past its --timeout, past the dependency's answer, and never exec'd its command.
// The monitor's own lines were queued already (monitor.Options.Logger); this covers the others (the
// drain, reloads, net/http's, the usage, wait's progress, check's report). A write that finds the queue
// full is dropped and counted, and the count is said once the output keeps up again.
type logWriter struct {
	out     io.Writer
	notice  atomic.Pointer[func(dropped int64)] // says lines were dropped, writing to out directly; nil: nothing
	lines   chan queued
	dropped atomic.Int64
	mu      sync.RWMutex // closed, against writes racing close
	closed  bool
	done    chan struct{}
	failed  error // out's first error, read once done is closed

	closing  sync.Once
	closeErr error
}

// queued is one write, or a flush's mark (flushed, closed once what was queued before it is written).
type queued struct {
	p       []byte
	flushed chan struct{}
}

// logQueue is how many log records wait for a stalled output before new ones are dropped: a reload's
// errors, a drain's lines and some thousand state changes; a wait's progress of some hours.
const logQueue = 4096

// exitGrace is how long a command about to exit (or wait about to exec its command) waits for a stalled
// output to take what is queued: what it has not taken then is lost, as it would be if the process were
// killed (or replaced), and the exit (or the exec) is late by a second at most.
const exitGrace = time.Second

// droppedMessage is what the notice says.
const droppedMessage = "log lines dropped: the log output was not keeping up"

// newLogWriter starts the goroutine that writes to out; close ends it. notice, when not nil, says that
// lines were dropped, writing to out (on the writer's goroutine).
func newLogWriter(out io.Writer, notice func(dropped int64)) *logWriter {
	w := &logWriter{out: out, lines: make(chan queued, logQueue), done: make(chan struct{})}
	if notice != nil {
		w.notice.Store(&notice)
	}
	go w.run()
	return w
}

// logDrops makes the notice a record of the logger newLogger makes on the real output: in the format of
// the command's other lines, once its flags have said which.
func (w *logWriter) logDrops(newLogger func(io.Writer) *slog.Logger) {
	l := newLogger(w.out)
	notice := func(n int64) { l.Warn(droppedMessage, "dropped", n) }
	w.notice.Store(&notice)
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return len(p), nil
	}
	select {
	case w.lines <- queued{p: bytes.Clone(p)}: // slog reuses its buffer
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	for q := range w.lines {
		w.sayDropped()
		if q.flushed != nil {
			close(q.flushed)
		} else if _, err := w.out.Write(q.p); err != nil && w.failed == nil {
			w.failed = err
		}
	}
	w.sayDropped()
}

func (w *logWriter) sayDropped() {
	if notice := w.notice.Load(); notice != nil {
		if n := w.dropped.Swap(0); n > 0 {
			(*notice)(n)
		}
	}
}

// flush waits, at most wait, until what was written before it is written to the output, and a count of
// dropped lines said: wait's last step before its exec, which would lose what is queued. It reports
// whether it all was. It holds the read lock while the queue is full: a close waits for it (at most wait).
func (w *logWriter) flush(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	flushed := make(chan struct{})
	w.mu.RLock()
	sent := !w.closed
	if sent {
		select {
		case w.lines <- queued{flushed: flushed}:
		case <-t.C:
			sent = false
		}
	}
	w.mu.RUnlock()
	if !sent {
		return false
	}
	select {
	case <-flushed:
		return true
	case <-t.C:
		return false
	}
}

// close writes what is queued, waiting at most wait for a stalled output (the process is exiting: what
// it could not write is lost, as it would be if it were killed), and drops what is written after. Its
// error is the output's first, or says it did not take everything within wait; a later call returns the
// first one's at once.
func (w *logWriter) close(wait time.Duration) error {
	w.closing.Do(func() {
		w.mu.Lock()
		w.closed = true
		close(w.lines)
		w.mu.Unlock()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-w.done:
			w.closeErr = w.failed
		case <-t.C:
			w.closeErr = fmt.Errorf("stalled: not all written within %s", wait)
		}
	})
	return w.closeErr
}
