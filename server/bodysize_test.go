package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/monitor"
)

// TestBodySizeWorstCase: the longest lines a body can hold (names of 63 characters, reasons cut, a
// fleet's counts, ?exclude names whose every byte is escaped) still give a body of at most 10 KiB that
// ends with its verdict, in every format.
func TestBodySizeWorstCase(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("%s-%03d", strings.Repeat("n", 59), i) }
	reason := "timeout: " + strings.Repeat("a long reason ", 40)
	missing := make([]string, maxMissing)
	for i := range missing {
		missing[i] = strings.Repeat("\xff", maxNameShown) + "..."
	}
	tests := []struct {
		name    string
		line    func(i int) line
		missing []string
	}{
		{name: "failing", line: func(i int) line {
			return line{name: name(i), typ: "postgres", comp: "datastore", reason: reason, critical: true, hasRun: true, duration: 1999999 * time.Microsecond, at: time.Now()}
		}},
		{name: "failing, unknown excludes", missing: missing, line: func(i int) line {
			return line{name: name(i), typ: "postgres", comp: "datastore", reason: reason, critical: true, hasRun: true, duration: time.Second, at: time.Now()}
		}},
		{name: "failing open, unknown excludes", missing: missing, line: func(i int) line {
			return line{name: name(i), typ: "postgres", comp: "datastore", ok: true, failOpen: true, reason: reason, critical: true,
				fleet: "failing open: failing on 1000 of 1000 pods heard from", hasRun: true, duration: 1999999 * time.Microsecond, at: time.Now()}
		}},
	}
	for _, tc := range tests {
		v := view{endpoint: "readyz", ok: true, status: monitor.Pass, missing: tc.missing, more: 99999}
		v.add(line{name: monitor.ShutdownCheck, ok: true, critical: true})
		for i := range 300 {
			v.add(tc.line(i))
		}
		verdict := "readyz check passed\n"
		if !v.ok {
			verdict = "readyz check failed\n"
		}
		for _, f := range []format{plain, verbose, hjson} {
			for _, details := range []bool{false, true} {
				b := render(v, f, details)
				what := fmt.Sprintf("%s, format %d, details %v", tc.name, f, details)
				if len(b) > maxBody {
					t.Errorf("%s: %d bytes; want at most %d", what, len(b), maxBody)
				}
				if f == hjson && !json.Valid(b) {
					t.Errorf("%s: invalid JSON", what)
				}
				if f != hjson && !strings.HasSuffix(string(b), verdict) {
					t.Errorf("%s: the verdict line was cut: ...%q", what, b[max(0, len(b)-100):])
				}
			}
		}
	}
}

// TestBodyCountsAgree: the notes that count what a cut body leaves out say "1 check", not "1 checks",
// and say it in the same words in text and JSON.
func TestBodyCountsAgree(t *testing.T) {
	v := view{endpoint: "readyz", status: monitor.Fail}
	v.add(line{name: monitor.ShutdownCheck, ok: true, critical: true}) // the one passing line
	for i := range 300 {
		v.add(line{name: fmt.Sprintf("%s-%03d", strings.Repeat("n", 59), i), typ: "postgres", comp: "datastore",
			reason: "timeout: no answer within 2s", critical: true, hasRun: true, at: time.Now()})
	}
	want := "1 passing or excluded check not listed"
	if b := render(v, verbose, true); !strings.Contains(string(b), "[+]"+want+"\n") {
		t.Errorf("text: no %q line in ...%q", want, b[max(0, len(b)-200):])
	}
	if b := render(v, hjson, true); !strings.Contains(string(b), `"`+want+`"`) {
		t.Errorf("JSON: no %q note in ...%q", want, b[max(0, len(b)-300):])
	}
}
