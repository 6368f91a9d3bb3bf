package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/monitor"
)

// fuzzHandler is a Handler over a monitor whose checks ran once and will not run again for an hour:
// 150 checks of the longest names, failing with long reasons (invalid UTF-8 and line breaks in them), a
// third not critical, so that every body is at its largest. No listener: requests go to ServeHTTP.
func fuzzHandler(f *testing.F) *Handler {
	f.Helper()
	var cs []*checks.Check
	for i := range 150 {
		d := &dep{}
		if i%5 != 0 {
			d.fail(&checks.Error{Class: checks.Timeout, Err: errors.New("no answer \xff\xfe\n\t" + strings.Repeat("a long reason ", 40))})
		}
		cs = append(cs, d.checkEvery(fmt.Sprintf("%s-%03d", strings.Repeat("n", 59), i), i%3 != 0, time.Hour))
	}
	mon := monitor.New(cs, monitor.Options{Heartbeat: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mon.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	if _, ok := checktest.Poll(10*time.Second, 5*time.Millisecond, func() bool { return allRan(mon.Snapshot()) }); !ok {
		f.Fatal("the checks did not run")
	}
	return New(mon, Options{})
}

// FuzzProbe sends any request line, Accept and Authorization header to the probe handler: arbitrary
// paths (/readyz/{name} with any name, escaped or not) and query strings (?exclude= of any names, any
// number of them, malformed escapes, ?format=, ?verbose). It must not panic; a probe answers 200 or
// 503 (404 for an unknown check), every body stays under maxBody (what the kubelet reads), its
// Content-Length is its length, and a body in health+json, or one asked for as JSON, is valid JSON in
// valid UTF-8.
func FuzzProbe(f *testing.F) {
	h := fuzzHandler(f)
	long := strings.Repeat("n", 300)
	for _, target := range []string{
		"/readyz", "/readyz?verbose", "/readyz?format=json", "/readyz?format=JSON&verbose=0",
		"/readyz?exclude=" + long[:59] + "-001&exclude=nope&exclude=%ff%fe&exclude=" + long,
		"/readyz?exclude=shutdown&exclude=&exclude=%zz&format=json", "/readyz?exclude=a&exclude=b&exclude=c&exclude=d&exclude=e&exclude=f",
		"/readyz/" + long[:59] + "-001", "/readyz/" + long[:59] + "-000?format=json", "/readyz/shutdown", "/readyz/%ff%00", "/readyz/" + long,
		"/readyz/a%2Fb", "/livez?format=json", "/livez?verbose", "/startupz", "/startupz?format=json", "/fleetz", "/metrics", "/",
		"/readyz//x", "/readyz/x/y", "/readyz/", "/readyz?exclude=%E2%82", "*", "http://host/readyz?verbose",
		"/ready%7A", "/readyz/%64b", "/readyz%2F%64b",
	} {
		f.Add(target, "", "", uint8(0))
	}
	f.Add("/readyz?verbose", "application/health+json", "Bearer t0ken", uint8(1))
	f.Add("/readyz/nope", "APPLICATION/JSON", "bearer t0ken", uint8(2))
	f.Add("/readyz?exclude=x", "text/plain", "Bearer wrong", uint8(1))
	f.Fuzz(func(t *testing.T, target, accept, auth string, details uint8) {
		h.Reconfigure(Options{Details: Details(details % 3), DetailsToken: "t0ken"})
		raw := "GET " + target + " HTTP/1.1\r\nHost: probe\r\nAccept: " + accept + "\r\nAuthorization: " + auth + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler sees it
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		code := rec.Code
		// What the router routes to a probe: /readyz/{name} is one segment of the decoded path (a
		// percent-encoded character is that character: /ready%7A is /readyz).
		path := req.URL.Path
		name, one := strings.CutPrefix(path, "/readyz/")
		probe := path == "/livez" || path == "/readyz" || path == "/startupz" || one && name != "" && !strings.Contains(name, "/")
		switch {
		case probe && code != 200 && code != 503 && code != 404:
			t.Fatalf("%q: %d; a probe answers 200 or 503, or 404 for an unknown check", target, code)
		case !probe && code != 404:
			t.Fatalf("%q: %d; want 404", target, code)
		case len(body) > maxBody:
			t.Fatalf("%q: %d bytes; the kubelet reads %d", target, len(body), maxBody)
		}
		if cl := rec.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
			t.Fatalf("%q: Content-Length %s for %d bytes", target, cl, len(body))
		}
		ct := rec.Header().Get("Content-Type")
		asked := wantsJSON(req.Header.Get("Accept"))
		if ct == "application/health+json" || probe && asked {
			if ct != "application/health+json" {
				t.Fatalf("%q with Accept %q: Content-Type %q; want application/health+json", target, accept, ct)
			}
			if !utf8.Valid(body) || !json.Valid(body) {
				t.Fatalf("%q: invalid JSON or UTF-8: %.300q", target, body)
			}
		}
	})
}

// roundTripFunc answers a request without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzPeerAnswer has a peer answer /fleetz with any bytes (a broken or hostile peer: any status line,
// headers, framing, body) and checks what the asking pod makes of it against what the answer says,
// read independently: it must not panic, reads at most maxFleetBody, records exactly one result, and
// counts the peer as heard only for a 200 whose whole body is a /fleetz answer (an instance other than
// its own, the check passing or failing). A 401 or 403 is unauthorized, a transport error or a cut
// body unreachable, its own instance self, and any other answer bad_response.
func FuzzPeerAnswer(f *testing.F) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
	for _, raw := range []string{
		ok + `{"instance":"a","checks":{"db":"failing"}}`,
		ok + `{"instance":"b","checks":{"db":"passing","cache":"unknown"}}`,
		ok + `{"instance":"me","checks":{"db":"failing"}}`,
		ok + `{"instance":"c","checks":{"cache":"failing"}}`,
		ok + `{"instance":"","checks":{"db":"failing"}}`,
		ok + `{"instance":"d","checks":{"db":5}}`,
		ok + `{"instance":"d","checks":{"db":"failing"}} trailing`,
		ok + `<html>`,
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + `{"instance":"a","checks":{"db":"failing"}}`,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2a\r\n" + `{"instance":"a","checks":{"db":"failing"}}` + "\r\n0\r\n\r\n",
		"HTTP/1.1 401 Unauthorized\r\n\r\nno",
		"HTTP/1.1 503 Service Unavailable\r\n\r\n" + `{"instance":"a","checks":{"db":"failing"}}`,
		"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://10.0.0.9:8080/fleetz\r\n\r\n",
		"HTTP/1.0 200\r\n\r\n" + `{"INSTANCE":"a","Checks":{"db":"passing"}}`,
		ok + `{"instance":"a","checks":{"db":"failing"}}` + strings.Repeat(" ", maxFleetBody) + "garbage",
		"garbage",
	} {
		f.Add([]byte(raw))
	}
	p := NewPeers(PeersOptions{Instance: "me", Token: "t0ken", Sample: 1})
	f.Cleanup(p.Close)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var results []string
		p.opts.OnResult = func(r string) { results = append(results, r) }
		read := 0
		p.send = roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
			if err != nil {
				return nil, err
			}
			resp.Body = countReads{resp.Body, &read}
			return resp, nil
		})
		got := p.askOne(context.Background(), "10.0.0.5:8080", "db")
		if len(results) != 1 {
			t.Fatalf("%q: results %q; want one", raw, results)
		}
		if read > maxFleetBody+1 {
			t.Fatalf("%q: read %d bytes of the body; at most %d", raw, read, maxFleetBody+1)
		}
		want, heard := peerVerdict(raw)
		if results[0] != want || (got.state != "") != heard {
			t.Fatalf("%.300q: %s, heard %v (%+v); want %s, heard %v", raw, results[0], got.state != "", got, want, heard)
		}
	})
}

// countReads counts what is read of a body.
type countReads struct {
	io.ReadCloser
	n *int
}

func (c countReads) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	*c.n += n
	return n, err
}

// peerVerdict reads a peer's raw answer as a /fleetz answer for check db, asked by instance "me": the
// result askOne must record, and whether the peer is heard.
func peerVerdict(raw []byte) (string, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: http.MethodGet})
	if err != nil {
		return PeerUnreachable, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFleetBody+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return PeerRefused, false
	case err != nil:
		return PeerUnreachable, false
	case resp.StatusCode != http.StatusOK, len(body) > maxFleetBody:
		return PeerBadAnswer, false
	}
	var fb struct {
		Instance string                   `json:"instance"`
		Checks   map[string]monitor.State `json:"checks"`
	}
	switch {
	case json.Unmarshal(body, &fb) != nil, fb.Instance == "":
		return PeerBadAnswer, false
	case fb.Instance == "me":
		return PeerSelf, false
	case fb.Checks["db"] != monitor.Passing && fb.Checks["db"] != monitor.Failing:
		return PeerNoCheck, false
	}
	return PeerAnswered, true
}
