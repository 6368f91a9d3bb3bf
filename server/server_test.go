package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dep is a controllable dependency: its check fails with err while err is set.
type dep struct {
	err  atomic.Pointer[error]
	runs atomic.Int64
}

func (d *dep) fail(err error) { d.err.Store(&err) }
func (d *dep) heal()          { d.err.Store(nil) }

func (d *dep) check(name string, critical bool) *checks.Check {
	return d.checkEvery(name, critical, 20*time.Millisecond)
}

func (d *dep) checkEvery(name string, critical bool, interval time.Duration) *checks.Check {
	c := config.NewCheck(name, "postgres", "test", config.NewDefaults())
	// Two failures to fail, and a timeout of half the interval (at most 1 s): the function returns at
	// once, so only a stalled machine could time a run out, and one such run changes nothing a test reads.
	c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold, c.Critical = interval, min(interval/2, time.Second), 2, 1, critical
	return checks.Func(c, func(context.Context) error {
		d.runs.Add(1)
		if p := d.err.Load(); p != nil {
			return *p
		}
		return nil
	})
}

var errSecret = &checks.Error{Class: checks.Refused, Err: errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")}

// fixture is a running monitor and the handler in front of it.
type fixture struct {
	mon *monitor.Monitor
	h   *Handler
	srv *httptest.Server
}

func newFixture(t testing.TB, opts Options, cs ...*checks.Check) *fixture {
	t.Helper()
	return newFixtureWith(t, opts, monitor.Options{}, cs...)
}

func newFixtureWith(t testing.TB, opts Options, mopts monitor.Options, cs ...*checks.Check) *fixture {
	t.Helper()
	mopts.Heartbeat = 10 * time.Millisecond
	mon := monitor.New(cs, mopts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mon.Run(ctx); close(done) }()
	h := New(mon, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &fixture{mon: mon, h: h, srv: srv}
}

// settle waits until every check has a result that matches cond.
func (f *fixture) settle(t testing.TB, cond func(*monitor.Snapshot) bool) {
	t.Helper()
	if _, ok := checktest.Poll(5*time.Second, 5*time.Millisecond, func() bool { return cond(f.mon.Snapshot()) }); !ok {
		t.Fatalf("state did not settle: %+v", f.mon.Snapshot())
	}
}

// raw writes request, as is, on a new connection to the fixture's server and reads the response; the
// reader goes on with what follows it on the connection (closed when the test ends). Reads give up
// after 5 s.
func (f *fixture) raw(t *testing.T, request string) (*http.Response, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br
}

func allRan(s *monitor.Snapshot) bool {
	for _, c := range s.Checks {
		if c.State == monitor.Unknown {
			return false
		}
	}
	return true
}

type response struct {
	code   int
	body   string
	header http.Header
}

func (f *fixture) get(t *testing.T, path string, hdr ...string) response {
	t.Helper()
	return f.do(t, http.MethodGet, path, hdr...)
}

func (f *fixture) do(t *testing.T, method, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b), header: resp.Header}
}

// expectedBody is one probe and its exact answer.
type expectedBody struct {
	path string
	code int
	body string
}

func (f *fixture) expectBodies(t *testing.T, tests []expectedBody) {
	t.Helper()
	for _, tc := range tests {
		r := f.get(t, tc.path)
		if r.code != tc.code || r.body != tc.body {
			t.Errorf("GET %s = %d %q; want %d %q", tc.path, r.code, r.body, tc.code, tc.body)
		}
	}
}

func TestReadyzBodies(t *testing.T) {
	var db, cache dep
	f := newFixture(t, Options{}, db.check("db", true), cache.check("cache", true))
	f.settle(t, allRan)

	tests := []expectedBody{
		{"/readyz", 200, "ok"},
		{"/readyz?verbose", 200, "[+]shutdown ok\n[+]db ok\n[+]cache ok\nreadyz check passed\n"},
		{"/readyz?verbose=1&exclude=cache", 200, "[+]shutdown ok\n[+]db ok\n[+]cache excluded: ok\nreadyz check passed\n"},
		{"/readyz/db", 200, "ok"},
		{"/readyz/shutdown", 200, "ok"},
		{"/livez", 200, "ok"},
		{"/livez?verbose", 200, "[+]ping ok\n[+]monitor ok\nlivez check passed\n"},
		{"/startupz", 200, "ok"},
	}
	f.expectBodies(t, tests)

	db.fail(errSecret)
	f.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	tests = []expectedBody{
		// A failure is always verbose; the reason is withheld by default.
		{"/readyz", 503, "[+]shutdown ok\n[-]db failed: reason withheld\n[+]cache ok\nreadyz check failed\n"},
		{"/readyz?exclude=db", 200, "ok"},
		{"/readyz?exclude=db&verbose", 200, "[+]shutdown ok\n[+]db excluded: ok\n[+]cache ok\nreadyz check passed\n"},
		{"/readyz?exclude=db&exclude=nope", 200, "[+]shutdown ok\n[+]db excluded: ok\n[+]cache ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n"},
		// A name given twice is one name, listed or counted once; names cut alike are still two.
		{"/readyz?exclude=db&exclude=n1&exclude=n2&exclude=n1&exclude=n3&exclude=n4&exclude=n5&exclude=n6&exclude=n6&exclude=n7&exclude=n6&exclude=n7", 200,
			"[+]shutdown ok\n[+]db excluded: ok\n[+]cache ok\n" +
				"warn: some health checks cannot be excluded: no matches for \"n1\"\nwarn: some health checks cannot be excluded: no matches for \"n2\"\n" +
				"warn: some health checks cannot be excluded: no matches for \"n3\"\nwarn: some health checks cannot be excluded: no matches for \"n4\"\n" +
				"warn: some health checks cannot be excluded: no matches for \"n5\"\nwarn: and 2 more excluded names that match no check\nreadyz check passed\n"},
		{"/readyz?exclude=db&exclude=" + strings.Repeat("x", 64) + "a&exclude=" + strings.Repeat("x", 64) + "b&exclude=" + strings.Repeat("x", 64) + "a", 200,
			"[+]shutdown ok\n[+]db excluded: ok\n[+]cache ok\n" +
				strings.Repeat("warn: some health checks cannot be excluded: no matches for \""+strings.Repeat("x", 64)+"...\"\n", 2) + "readyz check passed\n"},
		// Keys and values are read percent-decoded, as kube-apiserver reads them (r.URL.Query()).
		{"/readyz?%65xclude=db", 200, "ok"},
		{"/readyz?exclude=d%62&verb%6Fse", 200, "[+]shutdown ok\n[+]db excluded: ok\n[+]cache ok\nreadyz check passed\n"},
		{"/readyz/db", 503, "[-]db failed: reason withheld\nreadyz check failed\n"},
		{"/readyz/cache", 200, "ok"},
		// So is the path: a percent-encoded character is that character (RFC 3986 §6.2.2), as for
		// kube-apiserver and net/http's ServeMux, in a check's name too.
		{"/readyz/d%62", 503, "[-]db failed: reason withheld\nreadyz check failed\n"},
		{"/readyz/%63ache", 200, "ok"},
		{"/readyz/%73hutdown", 200, "ok"},
		{"/ready%7A", 503, "[+]shutdown ok\n[-]db failed: reason withheld\n[+]cache ok\nreadyz check failed\n"},
		{"/livez", 200, "ok"},
		{"/startupz", 200, "ok"}, // it passed once: start-up stays finished
	}
	f.expectBodies(t, tests)
	if r := f.get(t, "/readyz/nope"); r.code != 404 {
		t.Errorf("unknown check: %d; want 404", r.code)
	}
}

// TestUnknownCheck: /readyz/{unknown} is a 404 that echoes at most a bounded part of the name, in JSON
// when JSON was asked for; so is every other 404 (/readyz/, /readyz/db/x, /fleetz without a fleet).
func TestUnknownCheck(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	long := strings.Repeat("n", 16<<10)
	for _, tc := range []struct {
		path string
		hdr  []string
		json bool
		want string
	}{
		{"/readyz/nope", nil, false, `not found: no check named "nope"`},
		{"/readyz/" + long, nil, false, `not found: no check named "` + long[:64] + `"... (16384 bytes; a check name has at most 63)`},
		{"/readyz/nope?format=json", nil, true, `not found: no check named "nope"`},
		{"/readyz/" + long, []string{"Accept", "application/json"}, true, `not found: no check named "` + long[:64] + `"... (16384 bytes`},
		{"/readyz/", []string{"Accept", "application/health+json"}, true, "not found: healthgate serves /livez, /readyz, /readyz/{check}"},
		{"/readyz/db/x", []string{"Accept", "application/health+json"}, true, "not found: healthgate serves"},
		{"/readyz/db/" + long, []string{"Accept", "application/health+json"}, true, "not found: healthgate serves"},
		{"/livez/x?format=json", nil, true, "not found: healthgate serves"},
		{"/fleetz", []string{"Accept", "application/health+json"}, true, "not found: healthgate serves"},
		{"/readyz/db/x", nil, false, "not found: healthgate serves"},
	} {
		r := f.get(t, tc.path, tc.hdr...)
		shown := tc.path[:min(len(tc.path), 40)]
		if r.code != 404 || len(r.body) > 512 || (!tc.json && !strings.Contains(r.body, tc.want)) {
			t.Errorf("GET %s: %d, %d bytes %.300q; want 404, under 512 bytes, containing %q", shown, r.code, len(r.body), r.body, tc.want)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q; want no-store", shown, r.header.Get("Cache-Control"))
		}
		if !tc.json {
			continue
		}
		var body struct{ Status, Output string }
		if ct := r.header.Get("Content-Type"); ct != "application/health+json" {
			t.Errorf("GET %s: Content-Type %q; want application/health+json", shown, ct)
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Status != "fail" || !strings.Contains(body.Output, tc.want) {
			t.Errorf("GET %s: %q (%v); want JSON with status fail and the message in output", shown, r.body, err)
		}
	}
}

// TestNoResultYetShown: before a check's first run, its line says so whatever server.details is: healthgate's
// own words, no dependency's detail, where "reason withheld" told an operator nothing (the check may be
// slow to run, or stuck). A monitor that is not run keeps its checks there.
func TestNoResultYetShown(t *testing.T) {
	var db dep
	srv := httptest.NewServer(New(monitor.New([]*checks.Check{db.check("db", true)}, monitor.Options{}), Options{}))
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv}
	f.expectBodies(t, []expectedBody{
		{"/readyz", 503, "[+]shutdown ok\n[-]db failed: no result yet\nreadyz check failed\n"},
		{"/readyz/db", 503, "[-]db failed: no result yet\nreadyz check failed\n"},
		{"/startupz", 503, "[-]db failed: has not passed yet: no result yet\nstartupz check failed\n"},
	})
	if r := f.get(t, "/readyz?format=json"); !strings.Contains(r.body, `"output":"no result yet"`) {
		t.Errorf("health+json: %s; want the output no result yet", r.body)
	}
}

// TestReasonsOneLine: a driver's multi-line error ("\n\t" per attempt) is one line in every body.
func TestReasonsOneLine(t *testing.T) {
	var db dep
	f := newFixture(t, Options{Details: DetailsAlways}, db.check("db", true))
	db.fail(&checks.Error{Class: checks.Refused, Err: errors.New("failed to connect to `user=u`:\n\t127.0.0.1:1: refused\n\t127.0.0.1:2: refused")})
	// Failing, not merely not ready: before its first run the check is unknown ("no result yet").
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Checks[0].State == monitor.Failing })
	for _, path := range []string{"/readyz", "/readyz/db", "/readyz?format=json"} {
		r := f.get(t, path)
		if strings.Contains(r.body, "\t") || strings.Contains(r.body, `\t`) || strings.Contains(r.body, `\n`) ||
			!strings.Contains(r.body, "failed to connect to `user=u`: 127.0.0.1:1: refused 127.0.0.1:2: refused") {
			t.Errorf("GET %s: %q; want the reason on one line, without tabs", path, r.body)
		}
	}
}

// TestReasonsControlCharacters: a server's control characters in a check's error (a Redis -ERR line,
// a Postgres message) are shown escaped in the bodies, not sent: /readyz is read with curl on a
// terminal, which ran an escape sequence (window title, screen cleared) from the dependency.
func TestReasonsControlCharacters(t *testing.T) {
	var db dep
	// Failing from its first run: a check that passed once is done on /startupz, whose "ok" shows no reason.
	db.fail(&checks.Error{Class: checks.BadResponse, Err: errors.New("ERR \x1b]0;pwned\x07\x1b[2Jcleared\u009b31m\x9b")})
	f := newFixture(t, Options{Details: DetailsAlways}, db.check("db", true))
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Checks[0].State == monitor.Failing })
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz/db", "/startupz"} {
		r := f.get(t, path)
		if strings.ContainsFunc(r.body, func(c rune) bool { return c != '\n' && unicode.IsControl(c) }) || !utf8.ValidString(r.body) ||
			!strings.Contains(r.body, `ERR \x1b]0;pwned\a\x1b[2Jcleared\u009b31m\x9b`) {
			t.Errorf("GET %s: %q; want the reason's control characters escaped", path, r.body)
		}
	}
}

func TestHeaders(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	for _, path := range []string{"/readyz/nope", "/readyz/", "/nope"} {
		if r := f.get(t, path); r.code != 404 || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q; want 404, no-store", path, r.code, r.header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/livez", "/readyz", "/readyz/db", "/startupz", "/readyz?format=json", "/readyz?format=JSON"} {
		r := f.get(t, path)
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q; want no-store", path, got)
		}
		want := "text/plain; charset=utf-8"
		if strings.Contains(strings.ToLower(path), "json") {
			want = "application/health+json"
		}
		if got := r.header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q; want %q", path, got, want)
		}
	}
}

func TestMethods(t *testing.T) {
	var db dep
	db.fail(errSecret)
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		if r := f.do(t, m, "/readyz"); r.code != 503 {
			t.Errorf("%s /readyz = %d; want 503 like GET", m, r.code)
		}
		if r := f.do(t, m, "/livez"); r.code != 200 {
			t.Errorf("%s /livez = %d; want 200", m, r.code)
		}
	}
	if r := f.do(t, http.MethodPost, "/readyz"); r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("POST /readyz = %d (Allow %q); want 405 with Allow", r.code, r.header.Get("Allow"))
	}
	// A path that is none of the endpoints is not found whatever the method: one the router has no
	// name for (PURGE, PROPFIND, a lower-case get) as much as POST; on an endpoint, either is 405.
	for _, m := range []string{http.MethodPost, "PURGE", "PROPFIND", "get"} {
		for _, path := range []string{"/nope", "/readyz/db/x", "/"} {
			if r := f.do(t, m, path); r.code != http.StatusNotFound || r.header.Get("Allow") != "" {
				t.Errorf("%s %s = %d (Allow %q); want 404 without Allow, as GET", m, path, r.code, r.header.Get("Allow"))
			}
		}
		for _, path := range []string{"/readyz", "/readyz/db", "/readyz/nope", "/livez"} {
			if r := f.do(t, m, path); r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
				t.Errorf("%s %s = %d (Allow %q); want 405 with Allow", m, path, r.code, r.header.Get("Allow"))
			}
		}
	}
	// /fleetz without a fleet section is not found whatever the method, as GET finds it; with one
	// (a reload may add it), another method is 405 there too.
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, "PURGE"} {
		if r := f.do(t, m, "/fleetz"); r.code != http.StatusNotFound || r.header.Get("Allow") != "" {
			t.Errorf("%s /fleetz without a fleet = %d (Allow %q); want 404 without Allow", m, r.code, r.header.Get("Allow"))
		}
	}
	f.h.Reconfigure(Options{Fleet: &FleetOptions{Instance: "me"}})
	if r := f.do(t, http.MethodPost, "/fleetz"); r.code != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("POST /fleetz with a fleet = %d (Allow %q); want 405 with Allow", r.code, r.header.Get("Allow"))
	}
	// Every error answers in the format asked for, as a 404 does: a 405 and /fleetz's 401 too.
	f.h.Reconfigure(Options{Fleet: &FleetOptions{Instance: "me", Token: "s3cr3t-fleet"}})
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{http.MethodPost, "/readyz?format=json", 405, "method not allowed: use GET, HEAD or OPTIONS"},
		{http.MethodDelete, "/readyz/db?format=json", 405, "method not allowed: use GET, HEAD or OPTIONS"},
		{http.MethodGet, "/fleetz?format=json", 401, "unauthorized: /fleetz needs the fleet token"},
	} {
		r := f.do(t, tc.method, tc.path)
		var got struct{ Status, Output string }
		err := json.Unmarshal([]byte(r.body), &got)
		if r.code != tc.code || err != nil || got.Status != "fail" || got.Output != tc.want ||
			r.header.Get("Content-Type") != "application/health+json" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s = %d %q %q (%v); want %d, health+json, output %q", tc.method, tc.path, r.code,
				r.header.Get("Content-Type"), r.body, err, tc.code, tc.want)
		}
	}
}

// TestHTTP10 sends what the simplest load-balancer checks send: HTTP/1.0, no Host header.
func TestHTTP10(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	resp, _ := f.raw(t, "GET /readyz HTTP/1.0\r\n\r\n")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("HTTP/1.0 /readyz = %d %q; want 200 ok", resp.StatusCode, body)
	}
}

func TestJSON(t *testing.T) {
	var db, cache dep
	f := newFixture(t, Options{}, db.check("db", true), cache.check("cache", false))
	cache.fail(errSecret)
	f.settle(t, func(s *monitor.Snapshot) bool { return allRan(s) && s.Status == monitor.Warn })
	for _, hdr := range [][]string{{"Accept", "application/health+json"}, {"Accept", "application/json"}, nil} {
		path := "/readyz"
		if hdr == nil {
			path = "/readyz?format=json"
		}
		r := f.get(t, path, hdr...)
		var body struct {
			Status string `json:"status"`
			Checks map[string][]struct {
				ComponentID   string   `json:"componentId"`
				ComponentType string   `json:"componentType"`
				ObservedValue *float64 `json:"observedValue"`
				ObservedUnit  string   `json:"observedUnit"`
				Status        string   `json:"status"`
				Time          string   `json:"time"`
				Output        string   `json:"output"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("%s %v: body does not decode: %v\n%s", path, hdr, err, r.body)
		}
		if r.code != 200 || body.Status != "warn" || r.header.Get("X-Envoy-Degraded") != "true" {
			t.Errorf("non-critical failure: %d status %q degraded %q; want 200 warn true", r.code, body.Status, r.header.Get("X-Envoy-Degraded"))
		}
		db := body.Checks["db:responseTime"]
		if len(db) != 1 || db[0].ComponentType != "datastore" || db[0].ObservedUnit != "ms" || db[0].ObservedValue == nil || db[0].Status != "pass" {
			t.Errorf("db entry = %+v", db)
		}
		if _, err := time.Parse(time.RFC3339Nano, db[0].Time); err != nil {
			t.Errorf("time %q: %v", db[0].Time, err)
		}
		cache := body.Checks["cache:responseTime"]
		if len(cache) != 1 || cache[0].Status != "fail" || cache[0].Output != "reason withheld" {
			t.Errorf("cache entry = %+v; want fail, reason withheld", cache)
		}
	}
}

func TestDetails(t *testing.T) {
	const token = "s3cr3t-details-token"
	tests := []struct {
		name    string
		opts    Options
		hdr     []string
		reasons bool
	}{
		{"never", Options{Details: DetailsNever}, nil, false},
		{"never ignores a token", Options{Details: DetailsNever, DetailsToken: token}, []string{"Authorization", "Bearer " + token}, false},
		{"token, none sent", Options{Details: DetailsToken, DetailsToken: token}, nil, false},
		{"token, wrong one", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", "Bearer nope"}, false},
		{"token, right one", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", "Bearer " + token}, true},
		{"token, scheme in lower case", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", "bearer " + token}, true},
		{"token, after several spaces (RFC 9110: 1*SP)", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", "BEARER   " + token}, true},
		{"token, a prefix of it", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", "Bearer " + token[:5]}, false},
		{"token, no scheme", Options{Details: DetailsToken, DetailsToken: token}, []string{"Authorization", token}, false},
		{"always", Options{Details: DetailsAlways}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var db dep
			db.fail(errSecret)
			f := newFixture(t, tc.opts, db.check("db", true))
			f.settle(t, allRan)
			for _, path := range []string{"/readyz", "/readyz/db", "/readyz?format=json", "/startupz?verbose"} {
				r := f.get(t, path, tc.hdr...)
				shown := strings.Contains(r.body, "refused: dial tcp 10.0.0.5:5432")
				if shown != tc.reasons {
					t.Errorf("%s: reason shown = %v; want %v\n%s", path, shown, tc.reasons, r.body)
				}
				if !tc.reasons && !strings.Contains(r.body, "reason withheld") && !strings.HasPrefix(path, "/startupz") {
					t.Errorf("%s: withheld reason not marked:\n%s", path, r.body)
				}
				if strings.Contains(r.body, token) {
					t.Errorf("%s: the details token appears in the body", path)
				}
			}
			if tc.reasons {
				if r := f.get(t, "/readyz", tc.hdr...); !strings.Contains(r.body, "[-]db failed: refused: dial tcp") {
					t.Errorf("verbose line with details: %q; want class first", r.body)
				}
			}
		})
	}
}

func TestStartupz(t *testing.T) {
	var db, cache dep
	db.fail(errSecret)
	f := newFixture(t, Options{}, db.check("db", true), cache.check("cache", true))
	f.settle(t, allRan)
	if r := f.get(t, "/startupz"); r.code != 503 || !strings.Contains(r.body, "[-]db failed") {
		t.Errorf("before the first pass: %d %q; want 503", r.code, r.body)
	}
	// ?exclude= as on /readyz (kube-apiserver takes it on each of its probe endpoints): a start-up
	// probe may leave out a check that is allowed to come late.
	f.expectBodies(t, []expectedBody{
		{"/startupz?exclude=db", 200, "ok"},
		{"/startupz?exclude=db&verbose", 200, "[+]db excluded: ok\n[+]cache ok\nstartupz check passed\n"},
		{"/startupz?exclude=db&exclude=shutdown&exclude=nope", 200, "[+]db excluded: ok\n[+]cache ok\n" +
			"warn: some health checks cannot be excluded: no matches for \"nope\"\nstartupz check passed\n"},
		{"/startupz?exclude=cache", 503, "[-]db failed: has not passed yet: reason withheld\n[+]cache excluded: ok\nstartupz check failed\n"},
	})
	db.heal()
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Started })
	db.fail(errSecret)
	f.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	if r := f.get(t, "/startupz"); r.code != 200 {
		t.Errorf("after a pass then a failure: %d; want 200 (start-up finished)", r.code)
	}
}

func TestShutdownFailsReadyOnly(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	f.mon.Shutdown()
	if r := f.get(t, "/readyz"); r.code != 503 || !strings.Contains(r.body, "[-]shutdown failed: reason withheld") {
		t.Errorf("/readyz while shutting down: %d %q", r.code, r.body)
	}
	if r := f.get(t, "/readyz/shutdown"); r.code != 503 {
		t.Errorf("/readyz/shutdown: %d; want 503", r.code)
	}
	if r := f.get(t, "/livez"); r.code != 200 {
		t.Errorf("/livez while shutting down: %d; want 200", r.code)
	}
}

// deadEngine is a Source whose heartbeat stopped.
type deadEngine struct{ *monitor.Monitor }

func (deadEngine) Alive(time.Time) bool { return false }

func TestLivezFollowsTheEngineOnly(t *testing.T) {
	var db dep
	db.fail(errSecret)
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	if r := f.get(t, "/livez"); r.code != 200 {
		t.Errorf("/livez with a failing dependency: %d; want 200 (a restart cannot fix a database)", r.code)
	}
	h := New(deadEngine{f.mon}, Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "[-]monitor failed") {
		t.Errorf("/livez with a dead engine: %d %q; want 503", rec.Code, rec.Body)
	}
}

// TestBodySize: kubelet reads 10 KiB; a body never grows past that, and keeps its verdict.
func TestBodySize(t *testing.T) {
	var cs []*checks.Check
	var deps []*dep
	for i := range 120 {
		d := &dep{}
		d.fail(&checks.Error{Class: checks.Timeout, Err: errors.New(strings.Repeat("a long reason ", 40))})
		deps = append(deps, d)
		cs = append(cs, d.check(fmt.Sprintf("check-with-a-rather-long-name-%03d", i), i%2 == 0))
	}
	f := newFixture(t, Options{Details: DetailsAlways}, cs...)
	f.settle(t, allRan)
	manyExcludes := strings.Repeat("&exclude="+strings.Repeat("x", 200), 100)
	for i := range 400 {
		manyExcludes += fmt.Sprintf("&exclude=no-such-check-%03d", i)
	}
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz?format=json", "/startupz",
		"/readyz?verbose" + manyExcludes, "/readyz?format=json" + manyExcludes} {
		r := f.get(t, path)
		if len(path) > 60 {
			path = path[:60] + "...(500 unknown excludes)"
		}
		if len(r.body) > maxBody {
			t.Errorf("%s: %d bytes; want at most %d", path, len(r.body), maxBody)
		}
		if r.code != 503 {
			t.Errorf("%s: %d; want 503", path, r.code)
		}
		if !strings.Contains(path, "json") && !strings.HasSuffix(r.body, "check failed\n") {
			t.Errorf("%s: the verdict line was cut:\n...%s", path, r.body[max(0, len(r.body)-200):])
		}
		if strings.Contains(path, "json") && !json.Valid([]byte(r.body)) {
			t.Errorf("%s: invalid JSON after trimming", path)
		}
	}
	_ = deps
}

// TestProbeDoesNoWork: a probe of /readyz, /readyz/{check}, /livez, /startupz or /fleetz (GET, HEAD or OPTIONS) is a
// pointer load and a write of bytes rendered once per state change: it allocates nothing, as
// BenchmarkProbe measures (a render after a state change is amortised over the probes between changes).
// Through chi's router each cost two allocations (its routing context on a copy of the request).
func TestProbeDoesNoWork(t *testing.T) {
	var db dep
	// One run, then none while measuring: AllocsPerRun counts the whole process's allocations.
	f := newFixture(t, Options{Fleet: &FleetOptions{Instance: "t"}}, db.checkEvery("db", true, time.Hour))
	f.settle(t, allRan)
	// /fleetz?check=NAME is what a peer asks; a name this process does not have is answered from a cache too.
	for _, path := range []string{"/readyz", "/livez", "/startupz", "/fleetz", "/fleetz?check=db", "/fleetz?check=other", "/readyz/db", "/readyz/shutdown"} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
			w := &discardWriter{h: http.Header{}}
			req := httptest.NewRequest(method, path, nil)
			f.h.ServeHTTP(w, req) // the first call renders the body
			if allocs := testing.AllocsPerRun(100, func() {
				clear(w.h)
				f.h.ServeHTTP(w, req)
			}); allocs != 0 {
				t.Errorf("%s %s: %.0f allocations a probe; want none", method, path, allocs)
			}
		}
	}
}

// BenchmarkProbe measures the probe path without the network: a snapshot pointer load and a write of
// bytes rendered once per state change (profiled before it was tuned). The README quotes it:
//
//	go test -run '^$' -bench Probe -benchmem -cpuprofile /tmp/cpu.out ./server && go tool pprof -top /tmp/cpu.out
func BenchmarkProbe(b *testing.B) {
	var db, cache dep
	cache.fail(errSecret)
	// One run each, then none for an hour: every iteration serves the same snapshot.
	f := newFixture(b, Options{}, db.checkEvery("db", true, time.Hour), cache.checkEvery("cache", false, time.Hour))
	f.settle(b, allRan)
	// /fleetz (what a peer asks) is served like /readyz: the README's fleet figure compares the two.
	fleet := newFixture(b, Options{Fleet: &FleetOptions{Instance: "bench"}}, db.checkEvery("db", true, time.Hour))
	fleet.settle(b, allRan)
	for _, path := range []string{"/readyz", "/readyz?verbose", "/readyz?format=json", "/readyz/db", "/livez", "/fleetz"} {
		h := f.h
		if path == "/fleetz" {
			h = fleet.h
		}
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkServeKeepAlive is BenchmarkProbe's /readyz through Serve over loopback TCP, as figure 1 of bench/
// measures it: keep-alive HTTP/1.1 from 8 parallel connections, each waiting for its answer before it
// asks again. It adds what the handler alone does not see: net/http's parsing, the syscalls, and
// Serve's ConnState hook (twice per request). The client shares the machine, so compare runs of it
// only with each other. Not named Probe: bench/README.md's profile of -bench Probe is the handler's.
func BenchmarkServeKeepAlive(b *testing.B) {
	var db dep
	f := newFixture(b, Options{}, db.checkEvery("db", true, time.Hour))
	f.settle(b, allRan)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, Endpoints{HTTP: l, Handler: f.h}, Drain{Timeout: time.Second}, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Errorf("Serve: %v", err)
		}
	}()
	req := []byte("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer func() { _ = conn.Close() }()
		br := bufio.NewReader(conn)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("/readyz: %d", resp.StatusCode)
				return
			}
		}
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// TestBodyClosesConnection: a request with a body is answered, then its connection closed, so a slow
// body can never hold the server (it sets no read deadline past the headers).
func TestBodyClosesConnection(t *testing.T) {
	var db dep
	f := newFixture(t, Options{}, db.check("db", true))
	f.settle(t, allRan)
	// Promise a large body and send only a little of it.
	resp, br := f.raw(t, "GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
	_, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("status %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v; want the server to close the connection (EOF)", err)
	}
	if took := time.Since(start); took > bodyDeadline+time.Second {
		t.Errorf("the connection closed %s after the answer; want within the body deadline (%s)", took, bodyDeadline)
	}
}

// TestReload: the handler follows a monitor's Replace (names, order, the render cache, /startupz) and
// Reconfigure (details, /fleetz).
func TestReload(t *testing.T) {
	var db, cache, extra dep
	db.fail(errSecret)
	dbCheck := db.check("db", false)
	f := newFixture(t, Options{Details: DetailsNever}, dbCheck, cache.check("cache", true))
	f.settle(t, allRan)
	if r := f.get(t, "/readyz/cache"); r.code != 200 {
		t.Fatalf("/readyz/cache = %d", r.code)
	}
	if r := f.get(t, "/readyz?verbose"); !strings.Contains(r.body, "[-]db failed: reason withheld") {
		t.Fatalf("before: %q", r.body)
	}

	extra.fail(errSecret)
	dropped := f.mon.Replace([]*checks.Check{extra.check("extra", true), dbCheck}, nil)
	f.h.Reconfigure(Options{Details: DetailsAlways, Fleet: &FleetOptions{Instance: "me"}})
	if len(dropped) != 1 || dropped[0].Name != "cache" {
		t.Fatalf("dropped %v", dropped)
	}
	if r := f.get(t, "/readyz/cache"); r.code != 404 {
		t.Errorf("/readyz/cache = %d after its removal; want 404", r.code)
	}
	f.settle(t, allRan)
	if r := f.get(t, "/readyz/db"); r.code != 503 || !strings.Contains(r.body, "[-]db failed: refused: ") {
		t.Errorf("/readyz/db = %d %q; want 503 with the reason (details: always, db now second)", r.code, r.body)
	}
	if r := f.get(t, "/readyz/extra"); r.code != 503 || !strings.Contains(r.body, "[-]extra failed") {
		t.Errorf("/readyz/extra = %d %q; want its own 503", r.code, r.body)
	}
	if r := f.get(t, "/startupz?verbose"); r.code != 200 || !strings.Contains(r.body, "added or changed by a reload, has not passed yet") {
		t.Errorf("/startupz = %d %q; want 200 (start-up does not go back) naming the added check", r.code, r.body)
	}
	if r := f.get(t, "/fleetz"); r.code != 200 || !strings.Contains(r.body, `"instance":"me"`) {
		t.Errorf("/fleetz = %d %q after a reload added a fleet", r.code, r.body)
	}
	// What healthgate says of the check is no dependency's detail: shown with the reasons withheld too.
	f.h.Reconfigure(Options{})
	want := "[-]extra failed: added or changed by a reload, has not passed yet: reason withheld\n"
	if r := f.get(t, "/startupz?verbose"); r.code != 200 || !strings.Contains(r.body, want) {
		t.Errorf("/startupz with details withheld = %d %q; want 200 and %q", r.code, r.body, want)
	}
}

// TestQueryDecoded: the probe's query string is read percent- and plus-decoded, as r.URL.Query() reads it
// (kube-apiserver's way), while the common forms stay on the path that does not allocate.
func TestQueryDecoded(t *testing.T) {
	tests := []struct {
		raw  string
		want query
	}{
		{"verbose&format=json&exclude=db", query{verbose: true, json: true, exclude: true}},
		{"f%6Frmat=%6Ason", query{json: true}},
		{"%76erbose=1", query{verbose: true}},
		{"%65xclude=a+b", query{exclude: true}},
		{"format=%zz&verbose", query{verbose: true}}, // a bad escape is ignored, as url.ParseQuery drops it
		{"verbose+=1", query{}},                      // "verbose " is another key
	}
	for _, tc := range tests {
		if got := parseQuery(tc.raw); got != tc.want {
			t.Errorf("parseQuery(%q) = %+v; want %+v", tc.raw, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseQuery("verbose&format=json&exclude=db") }); n != 0 {
		t.Errorf("parseQuery of a plain query allocates %v times; want 0", n)
	}
}
