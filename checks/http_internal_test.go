package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/config"
)

// TestProxyConnectBounded: an https:// URL through a proxy that takes the connection and never answers
// CONNECT holds that connection no longer than the check's timeout. net/http waits a fixed minute for
// the answer, after the run that asked gave up: at an interval of a second, an outage of the proxy
// piled up sixty connections (and a goroutine each) before the first was let go.
func TestProxyConnectBounded(t *testing.T) {
	var open atomic.Int32
	h := proxiedCheck(t, "https://api.example.invalid/healthz", func(conn net.Conn) {
		open.Add(1) // read the CONNECT, answer nothing, count the close
		_, _ = io.Copy(io.Discard, conn)
		open.Add(-1)
	})
	for range 3 {
		if err := runProxied(t, h); ClassOf(err) != Timeout {
			t.Fatalf("run through a silent proxy: %s (%v); want timeout", ClassOf(err), err)
		}
	}
	wait := 5 * proxiedTimeout
	deadline := time.Now().Add(wait)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n > 0 {
		t.Fatalf("%d connections to the proxy still open %v after the last run; want none past the check's timeout", n, wait)
	}
}

// TestProxyConnectKept: through a proxy that answers CONNECT, the tunnelled connection is pooled without
// the deadline that bounded the CONNECT: a run after a pause longer than the check's timeout reuses it.
func TestProxyConnectKept(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer api.Close()
	var accepted atomic.Int32
	h := proxiedCheck(t, api.URL+"/healthz", func(conn net.Conn) { accepted.Add(1); tunnel(conn) })
	roots := x509.NewCertPool()
	roots.AddCert(api.Certificate())
	h.transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	for i := range 2 {
		if i > 0 {
			time.Sleep(2 * proxiedTimeout) // past any deadline left on the connection
		}
		if err := runProxied(t, h); err != nil {
			t.Fatalf("run %d through the proxy: %v", i+1, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the proxy took %d connections for two runs; want 1, kept between them", n)
	}
}

// proxiedTimeout is the timeout of proxiedCheck's check, and of each of its runs.
const proxiedTimeout = 300 * time.Millisecond

// proxiedCheck builds an http check of rawURL whose proxy is a listener of the test that hands each
// connection to handle (and closes it after). The check, then the listener, close with the test, which
// waits for every handler to return.
func proxiedCheck(t *testing.T, rawURL string, handle func(net.Conn)) *httpCheck {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer conn.Close(); handle(conn) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	c := config.NewCheck("api", "http", "test", config.NewDefaults())
	c.Timeout = proxiedTimeout
	p, _, errs := buildHTTP(c, &httpSpec{URL: rawURL})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := p.(*httpCheck)
	t.Cleanup(h.close)
	h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	return h
}

// runProxied is one run of h within its timeout.
func runProxied(t *testing.T, h *httpCheck) error {
	ctx, cancel := context.WithTimeout(t.Context(), proxiedTimeout)
	defer cancel()
	return h.probe(ctx)
}

// tunnel is an HTTP proxy's side of one connection: it answers a CONNECT and copies both ways.
func tunnel(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _, _ = io.Copy(up, br); _ = up.Close() })
	_, _ = io.Copy(conn, up)
	_ = conn.Close()
}
