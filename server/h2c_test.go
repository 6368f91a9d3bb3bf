package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/monitor"
)

// protoClient is an HTTP client that speaks only the given protocols: HTTP/1.1, or HTTP/2 without TLS
// with prior knowledge (h2c), which is what the kubelet's `protocol: HTTP2` HTTP probe sends.
func protoClient(t *testing.T, h2c bool) *http.Client {
	t.Helper()
	var p http.Protocols
	if h2c {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

var runFigures = regexp.MustCompile(`"(observedValue|time)":[^,}]*`)

type protoAnswer struct {
	proto, contentType, body string
	code                     int
}

func getWith(t *testing.T, c *http.Client, url string, hdr ...string) protoAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return protoAnswer{proto: resp.Proto, contentType: resp.Header.Get("Content-Type"), body: string(b), code: resp.StatusCode}
}

// TestHTTPPortSpeaksH2C: the HTTP port answers HTTP/2 without TLS (prior knowledge) with the same
// codes and bodies as HTTP/1.1, which keeps working for HAProxy and the kubelet's default probe.
func TestHTTPPortSpeaksH2C(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	h1, h2 := protoClient(t, false), protoClient(t, true)
	paths := [][]string{
		{"/livez"}, {"/readyz"}, {"/readyz?verbose"}, {"/readyz/db"}, {"/startupz"},
		{"/readyz?format=json"}, {"/readyz", "Accept", "application/health+json"}, {"/readyz/nope"},
	}
	compare := func(when string) {
		t.Helper()
		for _, p := range paths {
			a1 := getWith(t, h1, g.httpURL+p[0], p[1:]...)
			a2 := getWith(t, h2, g.httpURL+p[0], p[1:]...)
			if a1.proto != "HTTP/1.1" || a2.proto != "HTTP/2.0" {
				t.Errorf("%s GET %s: protocols %s and %s; want HTTP/1.1 and HTTP/2.0", when, p[0], a1.proto, a2.proto)
			}
			a1.proto, a2.proto = "", ""
			// The check runs every 20 ms: the last run's duration and time may differ between the two.
			a1.body, a2.body = runFigures.ReplaceAllString(a1.body, ""), runFigures.ReplaceAllString(a2.body, "")
			if a1 != a2 {
				t.Errorf("%s GET %s:\nHTTP/1.1 %+v\nh2c      %+v", when, p[0], a1, a2)
			}
		}
	}
	compare("ready:")
	if a := getWith(t, h2, g.httpURL+"/readyz"); a.code != http.StatusOK {
		t.Errorf("h2c /readyz = %d; want 200", a.code)
	}
	db.fail(errSecret)
	g.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	compare("not ready:")
	if a := getWith(t, h2, g.httpURL+"/readyz"); a.code != http.StatusServiceUnavailable {
		t.Errorf("h2c /readyz with a failing check = %d; want 503", a.code)
	}
	db.heal()
	g.settle(t, func(s *monitor.Snapshot) bool { return s.Ready })

	// During the drain, h2c answers the truth too: /readyz 503, /livez 200.
	g.stop()
	g.settle(t, func(s *monitor.Snapshot) bool { return s.ShuttingDown })
	if a := getWith(t, protoClient(t, true), g.httpURL+"/readyz"); a.code != http.StatusServiceUnavailable {
		t.Errorf("h2c /readyz during the drain = %d; want 503", a.code)
	}
	if a := getWith(t, protoClient(t, true), g.httpURL+"/livez"); a.code != http.StatusOK {
		t.Errorf("h2c /livez during the drain = %d; want 200", a.code)
	}
}

// TestOptionsAsterisk: `OPTIONS *`, the server as a whole, answers as /readyz: 200 when ready, 503 when not
// and through the drain, with Cache-Control: no-store. net/http answered it itself, 200 whatever the state.
func TestOptionsAsterisk(t *testing.T) {
	var db dep
	g := newGRPCFixture(t, &db, time.Hour)
	ask := func(when string, want int) {
		t.Helper()
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.httpURL, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: OPTIONS * = %d, Cache-Control %q; want %d, no-store", when, resp.StatusCode, resp.Header.Get("Cache-Control"), want)
		}
	}
	ask("ready", http.StatusOK)
	db.fail(errSecret)
	g.settle(t, func(s *monitor.Snapshot) bool { return !s.Ready })
	ask("a critical check failing", http.StatusServiceUnavailable)
	db.heal()
	g.settle(t, func(s *monitor.Snapshot) bool { return s.Ready })
	g.stop()
	g.settle(t, func(s *monitor.Snapshot) bool { return s.ShuttingDown })
	ask("during the drain", http.StatusServiceUnavailable)
}
