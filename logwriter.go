package main

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// logWriter is serve's log output: each write is queued and written to the real output (stderr) by a
// goroutine of its own, so no caller ever waits on it. A stalled stderr (a Docker logging driver in
// blocking mode, a full disk, a sidecar that stopped reading a pipe) held the line that starts the drain,
// and the drain with it: the pod sat in Terminating until the kubelet killed it. The monitor's own lines
// were queued already (monitor.Options.Logger); this covers the others (the drain, reloads, net/http's).
// A write that finds the queue full is dropped and counted, and the count is logged once the output
// keeps up again.
type logWriter struct {
	out     io.Writer
	notice  func(dropped int64) // logs that lines were dropped, written to out directly
	lines   chan []byte
	dropped atomic.Int64
	mu      sync.RWMutex // closed, against writes racing close
	closed  bool
	done    chan struct{}
}

// logQueue is how many log records wait for a stalled output before new ones are dropped: a reload's
// errors, a drain's lines and some thousand state changes.
const logQueue = 4096

// newLogWriter starts the goroutine that writes to out; close ends it. newNotice makes the logger (of
// the format of the others) that says lines were dropped, writing to out.
func newLogWriter(out io.Writer, newNotice func(io.Writer) *slog.Logger) *logWriter {
	notice := newNotice(out)
	w := &logWriter{out: out, lines: make(chan []byte, logQueue), done: make(chan struct{}),
		notice: func(n int64) {
			notice.Warn("log lines dropped: the log output was not keeping up", "dropped", n)
		}}
	go w.run()
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return len(p), nil
	}
	select {
	case w.lines <- bytes.Clone(p): // slog reuses its buffer
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	for p := range w.lines {
		if n := w.dropped.Swap(0); n > 0 {
			w.notice(n)
		}
		_, _ = w.out.Write(p)
	}
	if n := w.dropped.Swap(0); n > 0 {
		w.notice(n)
	}
}

// close writes what is queued, waiting at most wait for a stalled output (the process is exiting: what
// it could not write is lost, as it would be if it were killed), and drops what is written after.
func (w *logWriter) close(wait time.Duration) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.lines)
	}
	w.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
	}
}
