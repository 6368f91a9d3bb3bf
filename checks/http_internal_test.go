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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			go func() { // read the CONNECT, answer nothing, count the close
				_, _ = io.Copy(io.Discard, conn)
				_ = conn.Close()
				open.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })

	c := config.NewCheck("api", "http", "test", config.NewDefaults())
	c.Timeout = 300 * time.Millisecond
	p, _, errs := buildHTTP(c, &httpSpec{URL: "https://api.example.invalid/healthz"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := p.(*httpCheck)
	defer h.close()
	h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), c.Timeout)
		err := h.probe(ctx)
		cancel()
		if ClassOf(err) != Timeout {
			t.Fatalf("run through a silent proxy: %s (%v); want timeout", ClassOf(err), err)
		}
	}
	deadline := time.Now().Add(5 * c.Timeout)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n > 0 {
		t.Fatalf("%d connections to the proxy still open %v after the last run; want none past the check's timeout", n, 5*c.Timeout)
	}
}

// TestProxyConnectKept: through a proxy that answers CONNECT, the tunnelled connection is pooled without
// the deadline that bounded the CONNECT: a run after a pause longer than the check's timeout reuses it.
func TestProxyConnectKept(t *testing.T) {
	api := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() { tunnel(conn) })
		}
	})
	c := config.NewCheck("api", "http", "test", config.NewDefaults())
	c.Timeout = 300 * time.Millisecond
	p, _, errs := buildHTTP(c, &httpSpec{URL: api.URL + "/healthz"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := p.(*httpCheck)
	roots := x509.NewCertPool()
	roots.AddCert(api.Certificate())
	h.transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})
	for i := range 2 {
		if i > 0 {
			time.Sleep(2 * c.Timeout) // past any deadline left on the connection
		}
		ctx, cancel := context.WithTimeout(t.Context(), c.Timeout)
		err := h.probe(ctx)
		cancel()
		if err != nil {
			t.Fatalf("run %d through the proxy: %v", i+1, err)
		}
	}
	h.close()
	_ = ln.Close()
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("the proxy took %d connections for two runs; want 1, kept between them", n)
	}
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
