package startup_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/startup"
)

// syncBuffer is a buffer safe to read while it is written to.
type syncBuffer = checktest.Buffer

func spec(name string, timeout time.Duration) config.Check {
	c := config.NewCheck(name, "", "test", config.NewDefaults())
	c.Timeout = timeout
	return c
}

// scripted returns a probe that fails with errs in turn, then passes, and counts its runs.
func scripted(runs *atomic.Int32, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		n := int(runs.Add(1))
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}
}

var (
	errRefused  = checks.Failf(checks.Refused, "dial tcp 10.0.0.5:5432: connect: connection refused")
	errNotReady = checks.Failf(checks.NotReady, "FATAL: the database system is starting up (SQLSTATE 57P03)")
)

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func countPrefix(ls []string, prefix string) int {
	n := 0
	for _, l := range ls {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestWaitUntilEveryTargetPassedOnce(t *testing.T) {
	var dbRuns, cacheRuns atomic.Int32
	db := checks.Func(spec("db", time.Second), scripted(&dbRuns, errRefused, errRefused, errRefused, errNotReady))
	cache := checks.Func(spec("cache", time.Second), scripted(&cacheRuns))
	var out syncBuffer
	results, err := startup.Wait(t.Context(), []*checks.Check{db, cache}, startup.Options{Timeout: 10 * time.Second, Progress: &out})
	if err != nil {
		t.Fatalf("Wait: %v\n%s", err, out.String())
	}
	if got := dbRuns.Load(); got != 5 {
		t.Errorf("db ran %d times; want 5 (3 refused, 1 not_ready, 1 pass)", got)
	}
	if got := cacheRuns.Load(); got != 1 {
		t.Errorf("cache ran %d times; want 1: a passing target is not run again", got)
	}
	for _, r := range results {
		if !r.OK || r.Err != nil {
			t.Errorf("%s: OK %v, Err %v; want OK", r.Name, r.OK, r.Err)
		}
	}
	if results[0].Attempts != 5 || results[1].Attempts != 1 {
		t.Errorf("attempts = %d, %d; want 5, 1", results[0].Attempts, results[1].Attempts)
	}

	ls := lines(out.String())
	// One line per change of reason, not per attempt: refused (×3) then not_ready.
	want := []string{
		"waiting for db (func in-process): refused — nothing listens there yet",
		"waiting for db (func in-process): not_ready — the dependency is up but not serving yet",
		"ready: db (func in-process) after ",
		"ready: cache (func in-process) after ",
		"healthgate wait: all 2 ready after ",
	}
	for _, w := range want {
		if n := countPrefix(ls, w); n != 1 {
			t.Errorf("%d lines start with %q; want 1. Output:\n%s", n, w, out.String())
		}
	}
	if !strings.Contains(out.String(), "; error: dial tcp 10.0.0.5:5432: connect: connection refused") {
		t.Errorf("the refused line does not carry its cause:\n%s", out.String())
	}
	if n := countPrefix(ls, "waiting for"); n != 2 {
		t.Errorf("%d waiting lines; want 2 (one per reason):\n%s", n, out.String())
	}
}

// Refused polls fast: ten refused attempts take a fraction of a second, not ten.
func TestWaitFastWhileRefused(t *testing.T) {
	var runs atomic.Int32
	errs := make([]error, 10)
	for i := range errs {
		errs[i] = errRefused
	}
	c := checks.Func(spec("db", time.Second), scripted(&runs, errs...))
	start := time.Now()
	if _, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// About 10 × 25–50 ms; the transient curve would take seconds (100 ms doubling), the slack is a
	// loaded machine's.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("10 refused attempts then a pass took %v; want about 10 × 25–50 ms", took)
	}
}

func TestWaitTimeoutWritesTableEvenWhenQuiet(t *testing.T) {
	refused := checks.Func(spec("db", time.Second), func(context.Context) error { return errRefused })
	var okRuns atomic.Int32
	fine := checks.Func(spec("cache", time.Second), scripted(&okRuns))
	var out syncBuffer
	start := time.Now()
	results, err := startup.Wait(t.Context(), []*checks.Check{refused, fine}, startup.Options{
		Timeout: 400 * time.Millisecond, Progress: &out, Quiet: true,
	})
	took := time.Since(start)
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	if took < 400*time.Millisecond || took > 2*time.Second {
		t.Errorf("timed out after %v; want 400ms (+ a small margin)", took)
	}
	if results[0].OK || results[0].Class != checks.Refused || results[0].Attempts < 3 {
		t.Errorf("db = OK %v, class %q, %d attempts; want not ok, refused, several attempts", results[0].OK, results[0].Class, results[0].Attempts)
	}
	if !results[1].OK {
		t.Errorf("cache not OK: %v", results[1].Err)
	}
	s := out.String()
	for _, unwanted := range []string{"waiting for", "ready: ", "healthgate wait: waiting"} {
		if strings.Contains(s, unwanted) {
			t.Errorf("quiet output contains progress %q:\n%s", unwanted, s)
		}
	}
	for _, w := range []string{
		"healthgate wait: timed out after ", "1 of 2 targets not ready",
		"NAME", "REASON", "HINT",
		"db", "NOT READY", "refused", "connection refused — nothing listens there yet",
		"cache", "ready after",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("final table lacks %q:\n%s", w, s)
		}
	}
}

// An attempt still without an answer when the wait times out is reported as a timeout, even when no
// attempt ever completed.
func TestWaitHungAttemptIsTimeout(t *testing.T) {
	hung := checks.Func(spec("db", 10*time.Second), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	var out syncBuffer
	results, err := startup.Wait(t.Context(), []*checks.Check{hung}, startup.Options{Timeout: 300 * time.Millisecond, Progress: &out})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	r := results[0]
	if r.Class != checks.Timeout || !strings.Contains(r.Err.Error(), "when the wait timed out") {
		t.Errorf("class %q, err %v; want timeout, no answer when the wait timed out", r.Class, r.Err)
	}
	if !strings.Contains(out.String(), "no answer within the timeout") {
		t.Errorf("table lacks the timeout hint:\n%s", out.String())
	}
}

// An attempt cut short by the wait's end, after attempts that failed otherwise (refused, while the server
// started), has the hint of the layer its run was waiting at (connected, but no answer), as a run that
// times out on its own does: the table said "the dependency is overloaded or hung, or a firewall drops the
// packets" for a connection the server had accepted.
func TestWaitCutShortHintNamesItsLayer(t *testing.T) {
	var runs atomic.Int32
	layer := "connected, but no answer (the layer the run said)"
	c := checks.Func(spec("db", 10*time.Second), func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			return errRefused
		}
		<-ctx.Done() // the second attempt hangs until the wait ends
		return &checks.Error{Class: checks.Timeout, Err: ctx.Err(), Hint: layer}
	})
	var out syncBuffer
	results, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 800 * time.Millisecond, Progress: &out})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	r := results[0]
	if r.Class != checks.Timeout || !strings.Contains(r.Err.Error(), "when the wait timed out") || r.Hint != layer {
		t.Errorf("class %q, err %v, hint %q; want timeout, no answer when the wait timed out, %q:\n%s", r.Class, r.Err, r.Hint, layer, out.String())
	}
}

// An attempt cut short by the wait's end after attempts that timed out already keeps their error: it says
// which layer went silent ("connected, but no answer"), where "no answer when the wait timed out" says
// nothing more.
func TestWaitCutShortKeepsTheTimeoutSaid(t *testing.T) {
	var runs atomic.Int32
	said := &checks.Error{Class: checks.Timeout, Err: errors.New("connected, but no answer within 150ms"), Hint: "the port may speak another protocol"}
	c := checks.Func(spec("db", 10*time.Second), func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			return said
		}
		<-ctx.Done() // the second attempt hangs until the wait ends
		return ctx.Err()
	})
	var out syncBuffer
	results, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 800 * time.Millisecond, Progress: &out})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	if r := results[0]; r.Err != said || r.Hint != said.Hint {
		t.Errorf("err %v, hint %q; want the first attempt's %v, %q:\n%s", r.Err, r.Hint, said, said.Hint, out.String())
	}
}

// A signal (ctx cancelled with a cause) stops the wait at once, with that cause, in-flight attempts
// included; goleak checks that nothing is left running.
func TestWaitStopsAtOnceOnCancel(t *testing.T) {
	hung := checks.Func(spec("db", 10*time.Second), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	refused := checks.Func(spec("cache", time.Second), func(context.Context) error { return errRefused })
	ctx, cancel := context.WithCancelCause(t.Context())
	sigterm := errors.New("received terminated")
	time.AfterFunc(100*time.Millisecond, func() { cancel(sigterm) })
	var out syncBuffer
	start := time.Now()
	_, err := startup.Wait(ctx, []*checks.Check{hung, refused}, startup.Options{Progress: &out})
	if !errors.Is(err, sigterm) {
		t.Fatalf("Wait = %v; want the cancellation cause", err)
	}
	if took := time.Since(start); took > 2*time.Second { // the hung attempt's timeout is 10 s
		t.Errorf("stopped %v after start (cancelled at 100ms); want at once", took)
	}
	if !strings.Contains(out.String(), "healthgate wait: stopped after") || !strings.Contains(out.String(), "received terminated") {
		t.Errorf("no stop line:\n%s", out.String())
	}
}

func TestWaitSummaryWhileWaiting(t *testing.T) {
	refused := checks.Func(spec("db", time.Second), func(context.Context) error { return errRefused })
	var out syncBuffer
	_, err := startup.Wait(t.Context(), []*checks.Check{refused}, startup.Options{
		Timeout: time.Second, Progress: &out, SummaryEvery: 100 * time.Millisecond,
	})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	ls := lines(out.String())
	n := countPrefix(ls, "still waiting after ")
	if n < 5 || n > 10 { // a stalled machine drops a tick or two
		t.Errorf("%d summary lines in 1s at one per 100ms; want about 9:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "0 of 1 ready; waiting for db (refused for ") {
		t.Errorf("summary does not name the target and its reason:\n%s", out.String())
	}
	if n := countPrefix(ls, "waiting for db"); n != 1 {
		t.Errorf("%d change lines for an unchanging reason; want 1", n)
	}
}

// TestWaitSummaryFirstAttempt: a target whose first attempt has not ended is said to be under way, not
// "no answer yet, 0 attempts", which read as if none had been made (the final table then said 1).
func TestWaitSummaryFirstAttempt(t *testing.T) {
	hung := checks.Func(spec("db", 10*time.Second), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	var out syncBuffer
	_, err := startup.Wait(t.Context(), []*checks.Check{hung}, startup.Options{
		Timeout: 500 * time.Millisecond, Progress: &out, SummaryEvery: 100 * time.Millisecond,
	})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	if !strings.Contains(out.String(), "0 of 1 ready; waiting for db (no answer yet: its first attempt is under way)\n") {
		t.Errorf("the summary does not say the first attempt is under way:\n%s", out.String())
	}
}

// A new line when the reason changes within a class: the hint is what the operator acts on.
func TestWaitLineWhenHintChanges(t *testing.T) {
	var runs atomic.Int32
	noRole := checks.Failf(checks.Auth, `FATAL: role "app" does not exist (SQLSTATE 28000)`)
	noDB := &checks.Error{Class: checks.Auth, Err: errors.New(`FATAL: database "app" does not exist (SQLSTATE 3D000)`), Hint: "database does not exist: check the database name in %s"}
	// The hints alternate (as a reset during the connect and one right after it do): a line for each
	// hint once, not one for every flip. Five auth failures back off at most 0.25+0.5+1+2+4 = 7.75 s
	// (full jitter under the persistent curve); six could take 13.75 s, past a 10 s timeout.
	c := checks.Func(spec("db", time.Second), scripted(&runs, noRole, noRole, noDB, noRole, noDB))
	var out syncBuffer
	if _, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 20 * time.Second, Progress: &out}); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if n := strings.Count(out.String(), "waiting for db"); n != 2 {
		t.Errorf("%d waiting lines; want 2 (one per hint):\n%s", n, out.String())
	}
}

// Reasons whose class alternates (a Service's pods, one answering 503, the other 500; refused, then
// reset) write a line each once, as alternating hints do: a line for every flip was a line per attempt.
// One that comes back after a whole summary period without it is said again.
func TestWaitLineWhenClassAlternates(t *testing.T) {
	var runs atomic.Int32
	flips := []error{errRefused, errNotReady, errRefused, errNotReady, errRefused, errNotReady, errRefused, errNotReady}
	c := checks.Func(spec("db", time.Second), scripted(&runs, flips...))
	var out syncBuffer
	if _, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 20 * time.Second, Progress: &out}); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if n := strings.Count(out.String(), "waiting for db"); n != 2 {
		t.Errorf("%d waiting lines for %d attempts that flip between 2 reasons; want 2:\n%s", n, len(flips)+1, out.String())
	}

	// refused, then not_ready for at least 4 × 50 ms (the backoff's floor), ten 20 ms periods, then
	// refused again (the dependency restarted): said again.
	runs.Store(0)
	c = checks.Func(spec("db", time.Second), scripted(&runs, errRefused, errNotReady, errNotReady, errNotReady, errNotReady, errRefused))
	var back syncBuffer
	if _, err := startup.Wait(t.Context(), []*checks.Check{c}, startup.Options{Timeout: 20 * time.Second, Progress: &back, SummaryEvery: 20 * time.Millisecond}); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if n := strings.Count(back.String(), "waiting for db (func in-process): refused"); n != 2 {
		t.Errorf("%d refused lines; want 2, the second when it came back:\n%s", n, back.String())
	}
	// Its attempts further apart than a period: no line for each.
	if n := strings.Count(back.String(), "waiting for db (func in-process): not_ready"); n != 1 {
		t.Errorf("%d not_ready lines; want 1 (the reason held through every period):\n%s", n, back.String())
	}
}

// TestWaitLevel: Options.Level drops the lines below it, text and JSON alike: warn keeps what is wrong
// (a reason, the end), debug adds a line per failed attempt whose reason did not change.
func TestWaitLevel(t *testing.T) {
	for _, tt := range []struct {
		level      slog.Level
		want, none []string
	}{
		{level: slog.LevelWarn,
			want: []string{"waiting for db (func in-process): refused", "waiting for db (func in-process): not_ready"},
			none: []string{"healthgate wait: waiting up to", "ready: ", "healthgate wait: all 1 ready", "attempt "}},
		{level: slog.LevelInfo,
			want: []string{"healthgate wait: waiting up to", "waiting for db", "ready: db", "healthgate wait: all 1 ready"},
			none: []string{"attempt "}},
		{level: slog.LevelDebug,
			want: []string{"healthgate wait: waiting up to", "waiting for db (func in-process): refused", "attempt 2 for db (func in-process): refused; error: dial tcp",
				"attempt 3 for db (func in-process): refused", "waiting for db (func in-process): not_ready", "ready: db"},
			none: []string{"attempt 1 ", "attempt 4 "}},
	} {
		t.Run(tt.level.String(), func(t *testing.T) {
			var runs atomic.Int32
			c := checks.Func(spec("db", time.Second), scripted(&runs, errRefused, errRefused, errRefused, errNotReady))
			for _, format := range []string{"text", "json"} {
				runs.Store(0)
				var out syncBuffer
				opts := startup.Options{Timeout: 10 * time.Second, Progress: &out, Level: tt.level}
				if format == "json" {
					opts.Log = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
				}
				if _, err := startup.Wait(t.Context(), []*checks.Check{c}, opts); err != nil {
					t.Fatalf("Wait = %v", err)
				}
				s := out.String()
				if format == "json" {
					var levels []string
					for _, l := range lines(s) {
						var rec struct{ Level string }
						if err := json.Unmarshal([]byte(l), &rec); err != nil {
							t.Fatalf("line %q is not JSON: %v", l, err)
						}
						levels = append(levels, rec.Level)
					}
					// warn: not ready ×2; info: + waiting, ready, all ready; debug: + attempts 2 and 3
					want := map[slog.Level]int{slog.LevelWarn: 2, slog.LevelInfo: 5, slog.LevelDebug: 7}[tt.level]
					if len(levels) != want || slices.ContainsFunc(levels, func(l string) bool {
						var got slog.Level
						return got.UnmarshalText([]byte(l)) != nil || got < tt.level
					}) {
						t.Errorf("%s: records at levels %v; want %d, none below %s:\n%s", format, levels, want, tt.level, s)
					}
					continue
				}
				for _, w := range tt.want {
					if !strings.Contains(s, w) {
						t.Errorf("%s: no %q in:\n%s", format, w, s)
					}
				}
				for _, w := range tt.none {
					if strings.Contains(s, w) {
						t.Errorf("%s: %q, below the level, in:\n%s", format, w, s)
					}
				}
			}
		})
	}
}

func TestWaitJSONProgress(t *testing.T) {
	var runs atomic.Int32
	c := checks.Func(spec("db", time.Second), scripted(&runs, errRefused, errRefused))
	never := checks.Func(spec("cache", time.Second), func(context.Context) error { return errNotReady })
	var out syncBuffer
	_, err := startup.Wait(t.Context(), []*checks.Check{c, never}, startup.Options{Timeout: time.Second, Log: slog.New(slog.NewJSONHandler(&out, nil))})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	msgs := map[string]int{}
	for _, l := range lines(out.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		msg, _ := rec["msg"].(string)
		msgs[msg]++
		if names, _ := rec["names"].([]any); msg == "waiting" && len(names) != 2 {
			t.Errorf("waiting record does not list both targets: %s", l)
		}
		if msg == "not ready" {
			for _, k := range []string{"check", "type", "target", "reason", "error", "hint", "attempts"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("not-ready record lacks %q: %s", k, l)
				}
			}
		}
	}
	// waiting, not ready ×2 (db refused, cache not_ready), ready (db), not ready (cache, final), timed out
	if msgs["ready"] != 1 || msgs["timed out"] != 1 || msgs["not ready"] != 3 || msgs["waiting"] != 1 {
		t.Errorf("messages = %v; want waiting 1, not ready 3, ready 1, timed out 1:\n%s", msgs, out.String())
	}
}

// records decodes each line of out as one JSON log record of type T.
func records[T any](t *testing.T, out string) []T {
	t.Helper()
	var rs []T
	for _, l := range lines(out) {
		var r T
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q is not JSON as documented: %v", l, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// The JSON "still waiting" record lists each waiting target as an object a log store can filter on:
// check, reason and for (absent before the first answer), attempts.
func TestWaitJSONStillWaiting(t *testing.T) {
	refused := checks.Func(spec("db", time.Second), func(context.Context) error { return errRefused })
	hung := checks.Func(spec("cache", 10*time.Second), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	var out syncBuffer
	_, err := startup.Wait(t.Context(), []*checks.Check{refused, hung}, startup.Options{
		Timeout: 500 * time.Millisecond, SummaryEvery: 200 * time.Millisecond, Log: slog.New(slog.NewJSONHandler(&out, nil)),
	})
	if !errors.Is(err, startup.ErrTimeout) {
		t.Fatalf("Wait = %v; want ErrTimeout", err)
	}
	type target struct {
		Check    string `json:"check"`
		Reason   string `json:"reason"`
		For      string `json:"for"`
		Attempts *int   `json:"attempts"`
	}
	summaries := 0
	for _, rec := range records[struct {
		Msg     string   `json:"msg"`
		Ready   *int     `json:"ready"`
		Waiting []target `json:"waiting"`
	}](t, out.String()) {
		if rec.Msg != "still waiting" {
			continue
		}
		summaries++
		if rec.Ready == nil || *rec.Ready != 0 || len(rec.Waiting) != 2 {
			t.Fatalf("still waiting record %+v: want ready 0 and both targets waiting", rec)
		}
		db, cache := rec.Waiting[0], rec.Waiting[1]
		if _, err := time.ParseDuration(db.For); db.Check != "db" || db.Reason != "refused" || err != nil || db.Attempts == nil || *db.Attempts < 1 {
			t.Errorf("db entry = %+v; want check db, reason refused, for a duration, attempts ≥ 1", db)
		}
		if cache.Check != "cache" || cache.Reason != "" || cache.For != "" || cache.Attempts == nil || *cache.Attempts != 0 {
			t.Errorf("cache entry = %+v; want check cache, no reason yet, 0 attempts", cache)
		}
	}
	if summaries == 0 {
		t.Errorf("no still waiting record:\n%s", out.String())
	}
}

// A stopped wait's JSON record gives not_ready as a count, as the timed-out one does (a log store gives a
// field one type), and the targets not ready by name.
func TestWaitJSONStopped(t *testing.T) {
	never := checks.Func(spec("cache", time.Second), func(context.Context) error { return errNotReady })
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(200*time.Millisecond, func() { cancel(errors.New("received terminated")) })
	var out syncBuffer
	if _, err := startup.Wait(ctx, []*checks.Check{never}, startup.Options{Timeout: 10 * time.Second, Log: slog.New(slog.NewJSONHandler(&out, nil))}); err == nil {
		t.Fatal("Wait passed")
	}
	for _, rec := range records[struct {
		Msg      string   `json:"msg"`
		NotReady *int     `json:"not_ready"`
		Names    []string `json:"names"`
	}](t, out.String()) {
		if rec.Msg == "stopped" && (rec.NotReady == nil || *rec.NotReady != 1 || len(rec.Names) != 1 || rec.Names[0] != "cache") {
			t.Errorf("stopped record %+v; want not_ready 1, names [cache]", rec)
		}
	}
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped record:\n%s", out.String())
	}
}

// Stopped before the exec, every target ready: names is an empty list, as a log store that gave the field
// a list type reads it, not null.
func TestWaitJSONStoppedBeforeExec(t *testing.T) {
	var out syncBuffer
	rs := []startup.Result{{Name: "db", OK: true}}
	startup.WriteStopped(startup.Options{Log: slog.New(slog.NewJSONHandler(&out, nil))}, rs, time.Second, errors.New("received terminated"))
	if !strings.Contains(out.String(), `"not_ready":0,"targets":1,"names":[]}`) {
		t.Errorf("stopped record %s; want not_ready 0 and names []", out.String())
	}
}

// The real thing: targets behind proxies that refuse, then forward to the real Postgres and Redis.
func TestWaitRealDependenciesComeUp(t *testing.T) {
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	pgProxy := checktest.NewProxy(t, checktest.HostPort(t, pgURL))
	rdProxy := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	pgProxy.Set(checktest.Refuse)
	rdProxy.Set(checktest.Refuse)

	build := func(name, typ, url string) *checks.Check {
		c := config.NewCheck(name, typ, "test", config.NewDefaults())
		c.Spec.Set("url", url)
		ch, err := checks.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ch.Close)
		return ch
	}
	cs := []*checks.Check{
		build("db", "postgres", checktest.WithHost(t, pgURL, pgProxy.Addr())),
		build("cache", "redis", checktest.WithHost(t, redisURL, rdProxy.Addr())),
	}
	var out syncBuffer
	type ret struct {
		rs  []startup.Result
		err error
		at  time.Time
	}
	done := make(chan ret, 1)
	go func() {
		rs, err := startup.Wait(t.Context(), cs, startup.Options{Timeout: 30 * time.Second, Progress: &out})
		done <- ret{rs, err, time.Now()}
	}()
	checktest.Eventually(t, 5*time.Second, "both refused lines", func() bool {
		s := out.String()
		return strings.Contains(s, "waiting for db (postgres "+pgProxy.Addr()+"/") &&
			strings.Contains(s, "waiting for cache (redis "+rdProxy.Addr()+"/")
	})
	up := time.Now()
	pgProxy.Set(checktest.Forward)
	rdProxy.Set(checktest.Forward)
	var r ret
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still waiting 10 s after both came up:\n%s", out.String())
	}
	if r.err != nil {
		t.Fatalf("Wait: %v\n%s", r.err, out.String())
	}
	// A generous bound for a loaded CI machine; the benchmark measures the real figure.
	if took := r.at.Sub(up); took > 3*time.Second {
		t.Errorf("Wait returned %v after the dependencies came up; want well under a second", took)
	}
	for _, res := range r.rs {
		if !res.OK {
			t.Errorf("%s not OK: %v", res.Name, res.Err)
		}
	}
	t.Logf("up → return: %v\n%s", r.at.Sub(up), out.String())
}
