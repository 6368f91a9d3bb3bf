package main

import (
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
