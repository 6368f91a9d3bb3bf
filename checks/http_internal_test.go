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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestProxyHandshakeBounded: a run through a proxy that takes the connection and never answers its
// handshake holds that connection no longer than the check's timeout: an https:// URL through an HTTP
// proxy that never answers CONNECT (net/http waits a fixed minute for the answer, after the run that asked
// gave up: at an interval of a second, an outage of the proxy piled up sixty connections, and a goroutine
// each, before the first was let go), and a URL through a SOCKS5 proxy (HTTP_PROXY=socks5://...) that
// never answers its greeting (net/http runs the SOCKS handshake with no deadline at all, detached from the
// run: each run left a connection and a goroutine behind for as long as the proxy kept it open).
func TestProxyHandshakeBounded(t *testing.T) {
	for _, tc := range []struct{ scheme, url string }{
		{"http", "https://api.example.invalid/healthz"},
		{"socks5", "http://api.example.invalid/healthz"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			var open atomic.Int32
			h := proxiedCheck(t, tc.scheme, tc.url, proxiedTimeout, func(conn net.Conn) {
				open.Add(1) // read the CONNECT or the greeting, answer nothing, count the close
				_, _ = io.Copy(io.Discard, conn)
				open.Add(-1)
			})
			assertProxyLetGo(t, h, &open)
		})
	}
}

// assertProxyLetGo runs h three times through its silent proxy, each run a timeout, and fails unless
// every connection to the proxy (counted by open) is closed soon after the last run.
func assertProxyLetGo(t *testing.T, h proxiedHTTP, open *atomic.Int32) {
	t.Helper()
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
	t.Parallel() // waits out a deadline
	api := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer api.Close()
	var accepted atomic.Int32
	h := proxiedCheck(t, "http", api.URL+"/healthz", keptTimeout, func(conn net.Conn) { accepted.Add(1); tunnel(conn) })
	roots := x509.NewCertPool()
	roots.AddCert(api.Certificate())
	h.transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	assertProxyKept(t, h, &accepted)
}

// TestProxySOCKSKept: through a SOCKS5 proxy that completes the handshake, the connection is pooled
// without the deadline that bounded the handshake, for an http:// URL (whose first write after the
// handshake is the request) and an https:// one (the TLS handshake).
func TestProxySOCKSKept(t *testing.T) {
	t.Parallel() // waits out a deadline
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer secure.Close()
	for _, api := range []*httptest.Server{plain, secure} {
		var accepted atomic.Int32
		h := proxiedCheck(t, "socks5", api.URL+"/healthz", keptTimeout, func(conn net.Conn) { accepted.Add(1); socksTunnel(conn) })
		if api == secure {
			roots := x509.NewCertPool()
			roots.AddCert(api.Certificate())
			h.transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
		assertProxyKept(t, h, &accepted)
	}
}

// assertProxyKept runs h twice through its proxy, the second run after a pause longer than the check's
// timeout, and fails unless both pass on one connection to the proxy (counted by accepted).
func assertProxyKept(t *testing.T, h proxiedHTTP, accepted *atomic.Int32) {
	t.Helper()
	for i := range 2 {
		if i > 0 {
			time.Sleep(2 * h.timeout) // past any deadline left on the connection
		}
		if err := runProxied(t, h); err != nil {
			t.Fatalf("run %d through the proxy: %v", i+1, err)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("the proxy took %d connections for two runs; want 1, kept between them", n)
	}
}

// proxiedTimeout is the timeout of the checks whose runs through a proxy must time out: short, so they
// do quickly. keptTimeout is that of the runs that must pass, a connect, a proxy handshake and a TLS
// handshake on a loaded machine: long enough never to time out there.
const (
	proxiedTimeout = 300 * time.Millisecond
	keptTimeout    = time.Second
)

// proxiedHTTP is an http check through a proxy, and its timeout.
type proxiedHTTP struct {
	*httpCheck
	timeout time.Duration
}

// proxiedCheck builds an http check of rawURL, with timeout d, whose proxy (scheme http or socks5) is a
// listener of the test that hands each connection to handle (and closes it after). The check, then the
// listener, close with the test, which waits for every handler to return.
func proxiedCheck(t *testing.T, scheme, rawURL string, d time.Duration, handle func(net.Conn)) proxiedHTTP {
	t.Helper()
	proxy := checktest.Serve(t, handle)
	c := config.NewCheck("api", "http", "test", config.NewDefaults())
	c.Timeout = d
	p, _, errs := buildHTTP(c, &httpSpec{URL: rawURL})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	h := p.(*httpCheck)
	t.Cleanup(h.close)
	h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: scheme, Host: proxy})
	return proxiedHTTP{h, d}
}

// runProxied is one run of h within its timeout.
func runProxied(t *testing.T, h proxiedHTTP) error {
	ctx, cancel := context.WithTimeout(t.Context(), h.timeout)
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
	splice(conn, br, up)
}

// socksTunnel is a SOCKS5 proxy's side of one connection (RFC 1928, no authentication): it answers the
// greeting and a CONNECT to an IPv4 address, and copies both ways.
func socksTunnel(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	greeting := make([]byte, 2)
	if _, err := io.ReadFull(conn, greeting); err != nil || greeting[0] != 5 {
		return
	}
	if _, err := io.ReadFull(conn, make([]byte, greeting[1])); err != nil {
		return
	}
	if _, err := conn.Write([]byte{5, 0}); err != nil {
		return
	}
	req := make([]byte, 10) // version, CONNECT, reserved, IPv4, 4 address bytes, 2 port bytes
	if _, err := io.ReadFull(conn, req); err != nil || req[1] != 1 || req[3] != 1 {
		return
	}
	addr := &net.TCPAddr{IP: net.IP(req[4:8]), Port: int(req[8])<<8 | int(req[9])}
	up, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	if _, err := conn.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		return
	}
	splice(conn, conn, up)
}

// splice copies a tunnel both ways, the client's bytes read from in (conn, or a reader buffering it), until
// either side closes, and closes both.
func splice(conn net.Conn, in io.Reader, up net.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _, _ = io.Copy(up, in); _ = up.Close() })
	_, _ = io.Copy(conn, up)
	_ = conn.Close()
}

// TestProxyRefusals: a proxy that does not open the tunnel to an https:// url (its answer to CONNECT is
// not 200) fails the run with the class of its status and a hint that names the proxy: net/http gave the
// status text alone ("Forbidden"), which read as the dependency's answer, class unknown. A proxy that asks
// for credentials (407) is auth, for an http:// url too; a proxy that cannot be reached is said to be the
// proxy. Neither the url's secrets nor the proxy's credentials are shown.
func TestProxyRefusals(t *testing.T) {
	for _, tc := range []struct {
		url, status string
		want        Class
	}{
		{"https://api.example.invalid/healthz?token=s3cr3t-q", "407 Proxy Authentication Required", Auth},
		{"https://api.example.invalid/healthz?token=s3cr3t-q", "403 Forbidden", Auth},
		{"https://api.example.invalid/healthz?token=s3cr3t-q", "502 Bad Gateway", Refused},
		{"https://api.example.invalid/healthz?token=s3cr3t-q", "504 Gateway Timeout", Timeout},
		{"https://api.example.invalid/healthz?token=s3cr3t-q", "500 Internal Server Error", BadResponse},
		{"http://api.example.invalid/healthz?token=s3cr3t-q", "407 Proxy Authentication Required", Auth},
		// an http:// url goes to the proxy, whose own answer for a host it cannot reach reads as the
		// dependency's: the error and hint say it came through the proxy
		{"http://api.example.invalid/healthz?token=s3cr3t-q", "503 Service Unavailable", BadResponse},
	} {
		t.Run(tc.url[:5]+" "+tc.status, func(t *testing.T) {
			h := proxiedCheck(t, "http", tc.url, keptTimeout, func(conn net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
					_, _ = io.WriteString(conn, "HTTP/1.1 "+tc.status+"\r\nContent-Length: 0\r\n\r\n")
				}
			})
			proxy := h.transport.Proxy
			h.transport.Proxy = func(r *http.Request) (*url.URL, error) {
				u, err := proxy(r)
				u.User = url.UserPassword("proxyuser", "s3cr3t-pw")
				return u, err
			}
			err := runProxied(t, h)
			assertProxyFailure(t, err, tc.want)
		})
	}
	// An https:// proxy URL whose port takes CONNECT in plaintext (most do), or is not a proxy at all: its
	// TLS handshake closed, or answered with text. The url's "use http://" would have sent the check
	// through HTTP_PROXY in plaintext: the hint names the proxy's URL.
	for name, answer := range map[string]string{"closes": "", "answers HTTP": "HTTP/1.1 400 Bad Request\r\n\r\n", "answers a page": "<!DOCTYPE HTML>\n"} {
		t.Run("an https:// proxy URL to a port that "+name, func(t *testing.T) {
			plain := checktest.Serve(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 512)); _, _ = io.WriteString(c, answer) })
			h := proxiedCheck(t, "http", "https://api.example.invalid/healthz?token=s3cr3t-q", keptTimeout, func(net.Conn) {})
			h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "https", Host: plain, User: url.UserPassword("proxyuser", "s3cr3t-pw")})
			err := runProxied(t, h)
			assertProxyFailure(t, err, TLS)
			if hint := Hint(err, ""); !strings.Contains(hint, "write its URL http://host:port") {
				t.Errorf("hint %q; want it to say to write the proxy's URL http://", hint)
			}
		})
	}
	t.Run("the proxy not listening", func(t *testing.T) {
		h := proxiedCheck(t, "http", "https://api.example.invalid/healthz?token=s3cr3t-q", keptTimeout, func(net.Conn) {})
		h.transport.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: checktest.ClosedAddr(t), User: url.UserPassword("proxyuser", "s3cr3t-pw")})
		assertProxyFailure(t, runProxied(t, h), Refused)
	})
}

func assertProxyFailure(t *testing.T, err error, want Class) {
	t.Helper()
	if ClassOf(err) != want {
		t.Fatalf("class %s (%v); want %s", ClassOf(err), err, want)
	}
	if hint := Hint(err, ""); !strings.Contains(hint, "proxy") || !strings.Contains(err.Error(), "proxy") {
		t.Errorf("error %q, hint %q: want both to name the proxy", err, hint)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error leaks a secret: %v", err)
	}
}

// TestProxyURLCut: a proxy URL whose token or password holds an unescaped '/' (HTTP_PROXY or HTTPS_PROXY
// http://TOKEN/x@proxy:3128) is dialled with the token's start as the proxy's host, which net's errors
// quote (proxyconnect ... lookup TOKEN), and the status of an http:// url through it named the proxy by
// that host. Such a failure keeps its class and hint, and says its cause is not shown; the status, that
// it came through the proxy xxxxx.
func TestProxyURLCut(t *testing.T) {
	const cut = "http://s3cr3t-proxy-token/x@proxy.example:3128"
	answer503 := checktest.Serve(t, func(conn net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
			_, _ = io.WriteString(conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		}
	})
	unresolved := func(_ context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Name: host, Err: "no such host", IsNotFound: true}}
	}
	toProxy := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, answer503)
	}
	for _, tc := range []struct {
		name, url string
		env       httpproxy.Config
		dial      func(context.Context, string, string) (net.Conn, error)
		want      Class
		hidden    string // the error says so
	}{
		{"HTTPS_PROXY", "https://api.example.invalid/healthz", httpproxy.Config{HTTPSProxy: cut}, unresolved, DNS, "is not shown"},
		{"HTTP_PROXY", "http://api.example.invalid/healthz", httpproxy.Config{HTTPProxy: cut}, unresolved, DNS, "is not shown"},
		// Not a URL (a space in the password): net/http reads it as http://http:/..., the '@' in its path.
		{"HTTP_PROXY unparsed", "http://api.example.invalid/healthz", httpproxy.Config{HTTPProxy: "http://user:s3cr3t pw@proxy.example:3128"}, unresolved, DNS, "a space %20"},
		{"HTTP_PROXY answering", "http://api.example.invalid/healthz", httpproxy.Config{HTTPProxy: cut}, toProxy, BadResponse, "through the proxy xxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.NewCheck("api", "http", "test", config.NewDefaults())
			c.Timeout = keptTimeout
			p, _, errs := buildHTTP(c, &httpSpec{URL: tc.url})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			h := p.(*httpCheck)
			t.Cleanup(h.close)
			fromEnv := tc.env.ProxyFunc() // what http.ProxyFromEnvironment reads the variables with
			h.transport.Proxy = func(r *http.Request) (*url.URL, error) { return fromEnv(r.URL) }
			h.transport.DialContext = tc.dial
			err := runProxied(t, proxiedHTTP{h, keptTimeout})
			if ClassOf(err) != tc.want || !strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("class %s (%v); want %s, an error saying %q", ClassOf(err), err, tc.want, tc.hidden)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(Hint(err, ""), "s3cr3t") {
				t.Errorf("the error shows the proxy's secret: %v (hint %q)", err, Hint(err, ""))
			}
		})
	}
}

// TestRedactWords: a server's words keep what holds no credential and lose the credential after a
// secret's label or an auth scheme, and a URL's password or secret parameter.
func TestRedactWords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"token: s3cr3t (expired)", "token: xxxxx (expired)"},
		{"Authorization: Bearer s3cr3t", "Authorization: Bearer xxxxx"},
		{"Authorization: Token s3cr3t", "Authorization: Token xxxxx"},
		{`"Authorization: Basic s3cr3t"`, `"Authorization: Basic xxxxx"`},
		{"X-Api-Key: s3cr3t, retry", "X-Api-Key: xxxxx, retry"},
		{"sent Bearer s3cr3t", "sent Bearer xxxxx"},
		{"GET /v1?api_key=s3cr3t: 503", "GET /v1?api_key=xxxxx: 503"},
		{"invalid token provided", "invalid token provided"},
		{"session expired: log in again", "session expired: log in again"},
		{"status: 503 backend: down", "status: 503 backend: down"},
	} {
		if got := redactWords(tc.in); got != tc.want {
			t.Errorf("redactWords(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
