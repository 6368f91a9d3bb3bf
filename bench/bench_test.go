package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func pgMessage(typ byte, body string) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

func TestPGCounter(t *testing.T) {
	var stream []byte
	ssl := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	startup := []byte{0, 0, 0, 13, 0, 3, 0, 0, 'u', 0, 'x', 0, 0}
	stream = append(stream, ssl...)
	stream = append(stream, startup...)
	stream = append(stream, pgMessage('p', "password\x00")...)
	stream = append(stream, pgMessage('Q', "SELECT 1\x00")...)
	stream = append(stream, pgMessage('P', "\x00SELECT 1\x00\x00\x00")...)
	stream = append(stream, pgMessage('B', strings.Repeat("x", 300))...)
	stream = append(stream, pgMessage('E', "\x00\x00\x00\x00\x00")...)
	stream = append(stream, pgMessage('S', "")...)
	stream = append(stream, pgMessage('Q', "SELECT 'Q'\x00")...)
	stream = append(stream, pgMessage('X', "")...)
	const want = 3 // Q, S, Q
	for _, chunk := range []int{1, 2, 3, 7, 64, len(stream)} {
		c := &pgCounter{}
		got := 0
		for b := stream; len(b) > 0; {
			k := min(chunk, len(b))
			got += c.count(b[:k])
			b = b[k:]
		}
		if got != want {
			t.Errorf("chunks of %d: counted %d, want %d", chunk, got, want)
		}
	}
}

func TestRESPCounter(t *testing.T) {
	stream := "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n" + "*1\r\n$4\r\nPING\r\n" + "*2\r\n$4\r\nECHO\r\n$6\r\n*1\r\n$x\r\n" + "PING\r\n"
	const want = 4
	for _, chunk := range []int{1, 2, 5, len(stream)} {
		c := &respCounter{}
		got := 0
		for b := []byte(stream); len(b) > 0; {
			k := min(chunk, len(b))
			got += c.count(b[:k])
			b = b[k:]
		}
		if got != want {
			t.Errorf("chunks of %d: counted %d, want %d", chunk, got, want)
		}
	}
}

// echo is an upstream that answers every line with the same line.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func TestProxyModes(t *testing.T) {
	px, err := newProxy(dependency{kind: "redis", upstream: echo(t), fail: failRedis,
		counter: func() requestCounter { return &respCounter{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	if err := roundTrip(px.addr, time.Second); err != nil {
		t.Fatalf("forward: %v", err)
	}
	// The proxy counts a request once it has passed it on, so the echo can come back before the count:
	// wait for it (a loaded machine showed the gap).
	for deadline := time.Now().Add(2 * time.Second); px.requests.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := px.requests.Load(); got != 1 {
		t.Errorf("forward: counted %d requests, want 1", got)
	}

	px.set(refuse)
	if _, err := net.DialTimeout("tcp", px.addr, time.Second); err == nil {
		t.Errorf("refuse: dial succeeded")
	}

	px.set(blackhole)
	if err := roundTrip(px.addr, 200*time.Millisecond); err == nil {
		t.Errorf("blackhole: got an answer")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("blackhole: %v, want a timeout", err)
	}

	px.set(failing)
	c, err := net.Dial("tcp", px.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "-LOADING") {
		t.Errorf("failing: answer %q, want -LOADING", line)
	}

	px.set(forward)
	if err := roundTrip(px.addr, time.Second); err != nil {
		t.Fatalf("forward again: %v", err)
	}
	if got := px.accepted.Load(); got != 4 {
		t.Errorf("accepted %d connections, want 4", got)
	}
}

// A connection stalled by a blackhole goes on when the partition heals.
func TestProxyBlackholeStallsThenHeals(t *testing.T) {
	px, err := newProxy(dependency{upstream: echo(t), counter: func() requestCounter { return &respCounter{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	c, err := net.Dial("tcp", px.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	c.Write([]byte("PING\r\n")) // a round trip first: the proxy has accepted the connection
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	px.set(blackhole)
	c.Write([]byte("PING\r\n"))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("answer through a blackhole")
	}
	px.set(forward)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if line, err := br.ReadString('\n'); err != nil || line != "PING\r\n" {
		t.Errorf("after healing: %q, %v", line, err)
	}
}

func TestLoadAndPace(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte("o"))
			w.(http.Flusher).Flush()
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, path := range []string{"/readyz", "/chunked"} {
		res := load(context.Background(), addr, path, 2, 100*time.Millisecond, time.Second)
		if res.ok() == 0 || res.errors > 0 {
			t.Errorf("load %s: %d ok, %d errors (%v)", path, res.ok(), res.errors, res.firstErr)
		}
	}
	res := pace(context.Background(), addr, "/readyz", 100, 200*time.Millisecond, 2, time.Second)
	if res.ok() != 20 || len(res.latencies) != 20 {
		t.Errorf("pace: %d ok, %d latencies, want 20", res.ok(), len(res.latencies))
	}
}

func TestFailPostgres(t *testing.T) {
	a, b := net.Pipe()
	go func() { failPostgres(b, new(atomic.Int64)); b.Close() }()
	startup := []byte{0, 0, 0, 13, 0, 3, 0, 0, 'u', 0, 'x', 0, 0}
	a.Write(startup)
	msg, _ := io.ReadAll(a)
	if len(msg) == 0 || msg[0] != 'E' || !strings.Contains(string(msg), "57P03") {
		t.Errorf("answer %q, want an ErrorResponse with 57P03", msg)
	}
}

func TestQuantile(t *testing.T) {
	s := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0, 1}, {0.2, 1}, {0.5, 3}, {0.99, 5}, {1, 5}} {
		if got := quantile(s, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", s, tc.q, got, tc.want)
		}
	}
	// Nearest rank on the sizes the figures take: figure 3's p99 of 300 probes (the 297th), figure 6's p90
	// of 15 runs (the 14th), an even count's median (the lower one).
	for _, tc := range []struct {
		n    int
		q    float64
		want int
	}{{300, 0.99, 297}, {100, 0.99, 99}, {15, 0.9, 14}, {15, 0.5, 8}, {10, 0.5, 5}, {3, 0.9, 3}} {
		v := make([]int, tc.n)
		for i := range v {
			v[i] = tc.n - i // 1..n, reversed
		}
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile(1..%d, %v) = %d, want %d", tc.n, tc.q, got, tc.want)
		}
	}
	if got := quantile([]time.Duration(nil), 0.5); got != 0 {
		t.Errorf("quantile of none = %v, want 0", got)
	}
	if s[0] != 5 {
		t.Errorf("quantile sorted its argument: %v", s)
	}
}

// The figures' number formats: thousands separated, a sign kept apart from the digits; durations in the unit
// their size reads best in; "median (max)".
func TestFormats(t *testing.T) {
	for n, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 416631: "416,631", 1234567.4: "1,234,567",
		-1: "-1", -123: "-123", -1234: "-1,234", -123456: "-123,456"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%v) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{259 * time.Microsecond: "259 µs", 7020 * time.Microsecond: "7.02 ms",
		501 * time.Millisecond: "501 ms", 1340 * time.Millisecond: "1.34 s"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := spread([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}); got != "2.00 ms (3.00 ms)" {
		t.Errorf("spread = %q, want the median and the max", got)
	}
}

// What the counting proxy adds to a round trip, as the notes print it: a hop measured faster than the direct
// round trip (the medians of two series on a shared machine) is no negative cost.
func TestHopNote(t *testing.T) {
	if got := hopPart("Redis PING", 8*time.Microsecond, 13*time.Microsecond); got != "5 µs to a Redis PING (8 µs direct, 13 µs through it)" {
		t.Errorf("hopPart = %q", got)
	}
	got := hopPart("Postgres SELECT 1", 90*time.Microsecond, 38*time.Microsecond)
	if strings.Contains(got, "-") || !strings.Contains(got, "90 µs direct, 38 µs through it") {
		t.Errorf("hopPart, faster through the proxy = %q, want no negative cost and both medians", got)
	}
}

func TestCommandCalls(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_ping:calls=7,usec=10,usec_per_call=1.43,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=100,usec=900,usec_per_call=9.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hello:calls=3,usec=30,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=6,usec=6,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
	got, err := commandCalls(info)
	if err != nil || got != 16 {
		t.Errorf("commandCalls = %d, %v, want 16 (all but INFO)", got, err)
	}
}

func TestByRound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ratios []float64
		want   string
	}{
		{"every round", []float64{0.91, 0.95, 0.93}, "met: "},
		{"median only", []float64{0.88, 0.92, 0.93}, "within noise: "},
		{"median below", []float64{0.85, 0.89, 0.95}, "**missed** by 1%: "},
		{"median just below", []float64{0.80, 0.895, 1.39}, "**missed** by 0.6%: "}, // 0.895 prints as 0.90
		{"one round", []float64{0.9}, "met: "},
	} {
		if got := byRound(tc.ratios, 0.9, "%.2f"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: byRound(%v) = %q, want it to start with %q", tc.name, tc.ratios, got, tc.want)
		}
	}
}

func TestPerRound(t *testing.T) {
	got := perRound([]float64{90, 80, 70}, []float64{100, 0})
	if len(got) != 1 || got[0] != 0.9 {
		t.Errorf("perRound = %v, want [0.9] (round 2 has no ceiling, round 3 no pair)", got)
	}
}

func TestScheduleNoise(t *testing.T) {
	bg := idleRates{window: 8 * time.Second}
	if got := bg.scheduleNoise(1, 8*time.Second); got != 2 { // one run per second, one check: ±1 run per window
		t.Errorf("scheduleNoise(1/s, 8 s) = %v, want 2", got)
	}
	if got := bg.scheduleNoise(0, 8*time.Second); got != 1 {
		t.Errorf("scheduleNoise(idle 0) = %v, want 1 (a count is whole)", got)
	}
}

// A panic in a guarded goroutine is recorded and cancels the run; repanic raises it.
func TestGuard(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	onPanic(cancel)
	t.Cleanup(func() {
		panicked.Lock()
		panicked.value, panicked.stack, panicked.cancel = nil, nil, nil
		panicked.Unlock()
	})
	done := make(chan struct{})
	go guard(func() {
		defer close(done)
		panic("boom")
	})()
	<-done
	<-ctx.Done()
	if !crashed() {
		t.Fatal("crashed() = false after a panic")
	}
	defer func() {
		if v := recover(); v != "boom" {
			t.Errorf("repanic raised %v, want boom", v)
		}
	}()
	repanic()
	t.Error("repanic did not panic")
}

// Figure 6's attempts per second, and no figure when no attempt reached the dependency in the first 5 s (a
// waiter that never tries would read 0/s, under any bound).
func TestTriesRate(t *testing.T) {
	if got, err := triesRate(5, 15, 10*time.Second); err != nil || got != 1 {
		t.Errorf("triesRate(5, 15, 10s) = %v, %v; want 1", got, err)
	}
	if got, err := triesRate(0, 0, 10*time.Second); err == nil {
		t.Errorf("triesRate(0, 0, 10s) = %v, want an error", got)
	}
}

// The report's notes and load line are those of the figures in the table: `-only wait` prints figure 6's
// note, not the closed loop's nor figures 1–4's and 7's.
func TestReportNotesOnlyForFiguresRun(t *testing.T) {
	b := &bench{p: full, tab: newTable([]string{"healthgate", "1 s poller"})}
	b.layout()
	b.tab.drop(probeRows...)
	b.tab.drop(rowRSS10, rowStart)
	var sb strings.Builder
	b.report(&sb, []string{"go -C bench run . -only wait"}, time.Second, false)
	out := sb.String()
	if !strings.Contains(out, "\n- 6: ") {
		t.Errorf("no note for figure 6:\n%s", out)
	}
	for _, absent := range []string{"\n- 1: ", "\n- 2: ", "\n- 3: ", "\n- 4: ", "\n- 7: ", "- load: "} {
		if strings.Contains(out, absent) {
			t.Errorf("%q printed for a figure not in the table:\n%s", absent, out)
		}
	}
}

// -only names steps of the harness: a name that is none (a typo, `-only probe`) is a usage error before
// anything is built, not a run that measures nothing, prints nothing and exits 0.
func TestOnlyUnknownStep(t *testing.T) {
	for _, only := range []string{"probe", "wait,fleat", "probes,"} {
		var stdout, stderr strings.Builder
		code := run(t.Context(), []string{"-only", only, "-repo", t.TempDir()}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "no step") {
			t.Errorf("-only %s: exit %d, stderr %q; want 2 and the step named", only, code, stderr.String())
		}
	}
}

// -only's usage lists the steps the run has, in order (the root's docs test checks the READMEs' -only
// against that list).
func TestOnlyUsageListsTheSteps(t *testing.T) {
	_, listed, _ := strings.Cut(onlyUsage, ": ")
	if got, want := listed, strings.Join(stepKeys(), ", "); got != want {
		t.Errorf("-only's usage lists %q, the steps are %q", got, want)
	}
}
