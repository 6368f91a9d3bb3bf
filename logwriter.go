package main

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// logWriter is the stderr of every command (run): each write is queued and written to the real output by a
// goroutine of its own, so no caller ever waits on it. A stalled stderr (a Docker logging driver in
// blocking mode, a full disk, a sidecar that stopped reading a pipe) held the line that starts serve's
// drain, and the drain with it: the pod sat in Terminating until the kubelet killed it; and a usage or
// configuration error held serve for good, before it had anything to drain. The monitor's own lines were
// queued already (monitor.Options.Logger); this covers the others (the drain, reloads, net/http's, the
// usage). A write that finds the queue full is dropped and counted, and the count is said once the
// output keeps up again.
type logWriter struct {
	out     io.Writer
	notice  atomic.Pointer[func(dropped int64)] // says lines were dropped, writing to out directly
	lines   chan []byte
	dropped atomic.Int64
	mu      sync.RWMutex // closed, against writes racing close
	closed  bool
	done    chan struct{}
}

// logQueue is how many log records wait for a stalled output before new ones are dropped: a reload's
// errors, a drain's lines and some thousand state changes.
const logQueue = 4096

// exitGrace is how long a command about to exit waits for a stalled stderr to take what is queued: what
// it has not taken then is lost, as it would be if the process were killed, and the exit is late by a
// second at most.
const exitGrace = time.Second

// droppedMessage is what the notice says.
const droppedMessage = "log lines dropped: the log output was not keeping up"

// newLogWriter starts the goroutine that writes to out; close ends it. notice says that lines were
// dropped, writing to out (on the writer's goroutine).
func newLogWriter(out io.Writer, notice func(dropped int64)) *logWriter {
	w := &logWriter{out: out, lines: make(chan []byte, logQueue), done: make(chan struct{})}
	w.notice.Store(&notice)
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
	case w.lines <- bytes.Clone(p): // slog reuses its buffer
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

func (w *logWriter) run() {
	defer close(w.done)
	for p := range w.lines {
		w.sayDropped()
		_, _ = w.out.Write(p)
	}
	w.sayDropped()
}

func (w *logWriter) sayDropped() {
	if n := w.dropped.Swap(0); n > 0 {
		(*w.notice.Load())(n)
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
