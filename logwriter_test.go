package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// TestLogWriterDropsAndSaysSo: while the output is stalled, writes return at once; past the queue they are
// dropped, and once the output takes lines again the count is logged before the next line, in the log's
// own format.
func TestLogWriterDropsAndSaysSo(t *testing.T) {
	out := &stalledWriter{released: make(chan struct{})}
	var got syncBuffer
	w := newLogWriter(io.MultiWriter(out, &got), func(int64) {})
	w.logDrops(func(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) })
	fmt.Fprintln(w, "line 0")
	checktest.Eventually(t, 10*time.Second, "the writer to be held by the output", func() bool { return out.entered.Load() == 1 })
	start := time.Now()
	for i := range logQueue + 9 {
		fmt.Fprintf(w, "line %d\n", i+1)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("writes to a stalled output took %s; want them to return at once", took)
	}
	close(out.released)
	w.close(10 * time.Second)
	text := got.String()
	// One line is with the writer, held, and logQueue wait: the rest, 9, are dropped.
	if !strings.Contains(text, `"msg":"log lines dropped: the log output was not keeping up","dropped":9}`) {
		t.Errorf("no line saying 9 lines were dropped:\n%.500s", text)
	}
	if n := strings.Count(text, "line "); n != logQueue+1 {
		t.Errorf("%d lines written; want %d", n, logQueue+1)
	}
	fmt.Fprintln(w, "after close") // dropped, not a panic
}

// TestLogWriterFlushAndClose: flush returns once what was written before it is out (wait's last step before
// its exec), and gives up after its wait on a stalled output; close says the output stalled, or failed.
func TestLogWriterFlushAndClose(t *testing.T) {
	var got syncBuffer
	w := newLogWriter(&got, nil)
	fmt.Fprintln(w, "before the flush")
	if !w.flush(10*time.Second) || got.String() != "before the flush\n" {
		t.Errorf("flush returned with %q written; want the line before it", got.String())
	}
	if err := w.close(10 * time.Second); err != nil {
		t.Errorf("close: %v; want nil", err)
	}

	out := &stalledWriter{released: make(chan struct{})}
	s := newLogWriter(out, nil)
	defer close(out.released) // then the writer's goroutine writes what it holds, and ends
	fmt.Fprintln(s, "held")
	start := time.Now()
	if s.flush(100 * time.Millisecond) {
		t.Error("flush says a stalled output took what was queued")
	}
	if err := s.close(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "not all written within 100ms") {
		t.Errorf("close of a stalled output: %v; want it to say so", err)
	}
	if err := s.close(time.Hour); err == nil { // at once: the first call's answer
		t.Error("a second close forgot the first one's error")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("flush and close took %s on a stalled output; want about 200ms", took)
	}

	f := newLogWriter(failingWriter{}, nil)
	fmt.Fprintln(f, "lost")
	if err := f.close(10 * time.Second); !errors.Is(err, errFailingWriter) {
		t.Errorf("close after a failed write: %v; want %v", err, errFailingWriter)
	}
}

var errFailingWriter = errors.New("no space left on device")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errFailingWriter }
