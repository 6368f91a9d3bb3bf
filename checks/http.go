package checks

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/healthgate/healthgate/config"
)

// maxBody is how much of a response an http check reads: enough for any health body, bounded so a
// dependency that streams cannot hold a run or the memory.
const maxBody = 64 << 10

// maxDrain bounds what is read of a longer answer, past maxBody, only to keep its connection for the next
// run: a body left unread closes it, and each run of a check of a large page (a home page, a verbose
// health report) opened a new connection, and a TLS handshake.
const maxDrain = 1 << 20

const maxRedirects = 5

// errTooManyRedirects ends a run whose redirects go on past maxRedirects (a loop, often a login page
// that sends to itself): the dependency answered, not as expected.
var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)

// errRedirectNotHTTP ends a run redirected to what no request can follow (ftp://, mailto:, http:// with
// no host), which net/http failed unclassified.
var errRedirectNotHTTP = errors.New("a redirect to a URL that is not http:// or https:// with a host")

const tooManyRedirectsHint = "the redirects from %s go on past 5: a loop (a login or a scheme redirect that sends back)? Check the last URL the error names"

type httpCheck struct {
	client    *http.Client
	transport *http.Transport
	method    string
	url       string // the real URL, secrets included: never shown
	origin    *url.URL
	shown     string // redacted
	hidden    bool   // shown is xxxxx whole: the url's host or port may be a secret's start (hideHost)
	header    http.Header
	host      string
	expect    []int
	contains  []byte
	// redirectFix says how to follow redirects where the check was given: --set for a --http target.
	redirectFix string
	// away serves the redirects to another host than the url's when tls.server_name is set, which is
	// the url's host's (serverNameHome); nil otherwise.
	away *http.Transport
}

// httpSpec is an http check's own configuration (config.Check.Spec, decoded).
type httpSpec struct {
	URL             string            `yaml:"url" secret:"true" schema:"minLength=1,form=http-url"`
	Method          string            `yaml:"method" schema:"minLength=1,form=http-method"`
	Headers         map[string]string `yaml:"headers" secret:"true" desc:"Header values that are secrets must be ${VAR} references (env from a Secret)." filedesc:"Header name to the path of a file holding its value (a Secret mounted with extraVolumes)."`
	ExpectStatus    []int             `yaml:"expect_status" schema:"itemMinimum=200,itemMaximum=599,minItems=1"`
	BodyContains    string            `yaml:"body_contains" schema:"minLength=1"`
	FollowRedirects bool              `yaml:"follow_redirects"`
	TLS             config.TLS        `yaml:"tls" plain:"http" plainunless:"follow_redirects"`
}

func buildHTTP(c config.Check, s *httpSpec) (prober, string, config.Errors) {
	var errs config.Errors
	if s.URL == "" {
		return nil, "", config.Errors{c.Src.Errorf("url", "required: an http:// or https:// URL")}
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		// RedactURL cannot show a URL that does not parse: the cause is said instead.
		errs = append(errs, c.Src.Errorf("url", "%s", urlParseProblem("not a valid URL", "http", s.URL, err)))
	} else if fixed, ok := schemeless("http", s.URL); ok && u.Opaque != "" {
		errs = append(errs, c.Src.Errorf("url", "not a valid URL: %s%s", noSchemeWords, fixed))
	} else if fixed, ok := hostWithoutScheme(u, s.URL); ok {
		// example.com/health, localhost/healthz: a host and a path, read by net/url as a path alone.
		errs = append(errs, c.Src.Errorf("url", "must be an absolute http:// or https:// URL: %s%s", noSchemeWords, fixed))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, c.Src.Errorf("url", "must be an absolute http:// or https:// URL (got %s)", RedactURL(s.URL)))
	} else if u.Hostname() == "" {
		// http:///x, and a port without a name (http://${HOST:-}:8080 with HOST empty), which net/http would
		// dial on localhost: curl refuses both ("no host part").
		errs = append(errs, c.Src.Errorf("url", "must be an absolute http:// or https:// URL with a host (got %s)", RedactURL(s.URL)))
	} else if p := u.Port(); p != "" {
		// net/url takes any digits: every run would fail at the dial, unclassified.
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			errs = append(errs, c.Src.Errorf("url", "the port must be a number from 1 to 65535"))
		}
	}
	method := strings.ToUpper(s.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		if config.MayHoldSecret(s.Method, c.Src.Vars["method"]) {
			errs = append(errs, c.Src.Errorf("method", "not an HTTP method %s", config.NotShown))
		} else {
			errs = append(errs, c.Src.Errorf("method", "%q is not an HTTP method", s.Method))
		}
	}
	if method == http.MethodHead && s.BodyContains != "" {
		// An answer to HEAD has no body: every run would fail bad_response.
		errs = append(errs, c.Src.Errorf("body_contains", "an answer to method HEAD has no body to search: remove body_contains, or use GET"))
	}
	for _, code := range s.ExpectStatus {
		if code < 100 || code > 599 {
			errs = append(errs, c.Src.Errorf("expect_status", "%d is not an HTTP status code", code))
		} else if code < 200 {
			// net/http reads past an interim answer (100, 103) to the final one, and after a 101 the
			// connection is another protocol, which the check does not speak: no run could pass.
			errs = append(errs, c.Src.Errorf("expect_status", "%d is an informational (1xx) status, never the answer to a check's request: expect the final status (2xx...)", code))
		}
	}
	header := http.Header{}
	host := ""
	first := map[string]string{} // a canonical header name: the first name (sorted) that spells it
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		v := s.Headers[k]
		line, col := c.Spec.EntryAt("headers", k) // its own line: one of headers, or of headers_file
		if !validToken(k) {
			errs = append(errs, c.Src.ErrorfAt("headers", line, col, "%s", badHeaderName(k)))
			continue
		}
		// Header names are case-insensitive: Authorization and authorization (written by hand, or one
		// from an anchor merged in and one from headers_file) are one header, and which value was sent
		// would be the map's iteration order's choice, from run to run.
		if other, dup := first[http.CanonicalHeaderKey(k)]; dup {
			errs = append(errs, c.Src.ErrorfAt("headers", line, col, "header %s is set twice, as %s and %s (header names are case-insensitive): keep one", http.CanonicalHeaderKey(k), other, k))
			continue
		}
		first[http.CanonicalHeaderKey(k)] = k
		// net/http refuses such a value at every request ("invalid header field value"), which would
		// fail every run as unknown; the usual cause is a token from a Secret written with a trailing
		// newline. Said once, here, without the value.
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			errs = append(errs, c.Src.ErrorfAt("headers", line, col, "header %s: its value holds a line break or another control character, which HTTP cannot carry (a Secret written with a trailing newline?)", k))
			continue
		}
		if strings.EqualFold(k, "Host") {
			if !httpguts.ValidHostHeader(v) {
				// net/http would send no Host at all in its place, and the server would answer for its
				// default virtual host. Not quoted: a header's value.
				errs = append(errs, c.Src.ErrorfAt("headers", line, col, "header %s: not a host name or host:port (a space, '/' or another character a Host header cannot hold)", k))
				continue
			}
			host = v
			continue
		}
		header.Set(k, v)
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", UserAgent)
	}
	if u != nil && strings.EqualFold(u.Scheme, "http") && !s.FollowRedirects && tlsWritten(c, s.TLS) {
		// A plaintext check its writer believes verified (https:// meant): as redis://, amqp:// and
		// mqtt:// with a block are refused. With follow_redirects the block serves an https:// hop.
		errs = append(errs, c.Src.Errorf("tls", "applies to https:// URLs (and, with follow_redirects, to a redirect to one); this one is http:// (no TLS): write https://, or remove the block (the CA of an https:// proxy is given with SSL_CERT_FILE)"))
	}
	tlsConfig, tlsErrs := clientTLS(s.TLS)
	errs = append(errs, tlsErrs...)
	if len(errs) > 0 {
		return nil, "", errs
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = noticeCertRequests(tlsConfig, nil)
	tr.MaxIdleConns = 2
	tr.MaxIdleConnsPerHost = 1
	tr.DisableCompression = true
	// net/http dials, and shakes TLS hands, in the background of a run, and goes on after the run has
	// given up, to pool the connection for a later request; only the dialer's timeout and
	// TLSHandshakeTimeout end it (30 s and 10 s by default). They are the check's timeout, so a dependency
	// that never completes the connect or the handshake holds no run's attempt past about the run's end,
	// and an outage does not pile them up.
	tr.TLSHandshakeTimeout = c.Timeout
	tr.OnProxyConnectResponse = func(_ context.Context, proxy *url.URL, _ *http.Request, resp *http.Response) error {
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		return &proxyRefusal{proxy: proxy.Host, status: resp.Status, code: resp.StatusCode}
	}
	dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialContext(ctx, dialer, network, addr)
		if err != nil {
			return nil, err
		}
		return &firstBytesConn{Conn: &proxyHandshakeConn{Conn: conn, timeout: c.Timeout}, judge: httpFirstByte}, nil
	}
	h := &httpCheck{
		transport: tr, method: method, url: s.URL, origin: u, shown: RedactURL(s.URL), hidden: cutUserinfo(u),
		header: header, host: host, expect: s.ExpectStatus, contains: []byte(s.BodyContains),
		redirectFix: "set follow_redirects: true in the config",
	}
	if _, ok := FlagTarget(c.Src.Origin("url")); ok { // no configuration to edit
		h.redirectFix = "add --set http.follow_redirects=true"
	}
	var rt http.RoundTripper = tr
	if tlsConfig.ServerName != "" && s.FollowRedirects {
		h.away = tr.Clone()
		h.away.TLSClientConfig.ServerName = "" // each host's own name, as net/http gives it
		rt = serverNameHome{home: tr, away: h.away, host: u.Hostname()}
	}
	h.client = &http.Client{
		Transport: locationCheck{rt},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !s.FollowRedirects {
				return http.ErrUseLastResponse
			}
			// via holds the requests made so far, one per redirect received: the 5th redirect is
			// followed, a 6th is not.
			if len(via) > maxRedirects {
				return errTooManyRedirects
			}
			if (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Hostname() == "" {
				return errRedirectNotHTTP
			}
			if h.header.Get("Referer") == "" {
				// net/http sends each hop the URL it was redirected from as Referer, query and all
				// (only the user part cut): a url's api_key= went to whatever host a redirect named.
				req.Header.Del("Referer")
			}
			if !h.sameOrigin(req.URL) {
				// net/http copies every header of the first request to each hop, and drops only
				// Authorization and cookies, and only for another host name (not another port or
				// scheme): an X-Api-Key went to whatever host a redirect named, a token in clear to an
				// http:// one. The configured headers are secrets: they go only where they were
				// configured for.
				for k := range h.header {
					if k != "User-Agent" {
						req.Header.Del(k)
					}
				}
			}
			return nil
		},
	}
	return h, h.shown, nil
}

// serverNameHome sends the requests to the url's host (on any port, by any scheme: the http:// to
// https:// redirect) through home, whose TLS carries tls.server_name, and those to any other host a
// redirect names through away, verified against that host's own name: net/http sends a configured
// ServerName to every host, so a redirect to a server valid for its own name failed verification, and
// one whose certificate held the configured name (not its own) passed. The CA, the client certificate
// and insecure_skip_verify serve every hop, as curl's --cacert, --cert and -k do.
type serverNameHome struct {
	home, away *http.Transport
	host       string
}

func (t serverNameHome) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.EqualFold(req.URL.Hostname(), t.host) {
		return t.home.RoundTrip(req)
	}
	return t.away.RoundTrip(req)
}

// locationCheck takes from an answer a Location that is not a URL (unparsedLocation says it did). net/http
// parses the Location of every 301, 302, 303, 307 and 308 before it asks CheckRedirect, followed or
// not, and fails the request with the header quoted: the run was unknown, its error held the Location's
// query (a token) unredacted, and an expect_status of that redirect could never pass. Without it, the
// answer is a redirect net/http returns as it is.
type locationCheck struct{ http.RoundTripper }

const unparsedLocation = "Healthgate-Unparsed-Location"

func (t locationCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.RoundTripper.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Header.Del(unparsedLocation)
	if loc := resp.Header.Get("Location"); loc != "" {
		if _, err := req.URL.Parse(loc); err != nil {
			resp.Header.Del("Location")
			resp.Header.Set(unparsedLocation, "1")
		}
	}
	return resp, nil
}

// sameOrigin: u has the scheme, host and port of the configured URL, so a redirect to it is sent the
// configured headers.
func (h *httpCheck) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, h.origin.Scheme) && strings.EqualFold(u.Hostname(), h.origin.Hostname()) &&
		effectivePort(u) == effectivePort(h.origin)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// proxyHandshakeConn bounds a proxy's handshake by the check's timeout: the wait for an HTTP proxy's
// answer to CONNECT (an https:// URL through HTTPS_PROXY), for which net/http waits a fixed minute, and
// a SOCKS5 proxy's (HTTP_PROXY=socks5://...), for which it has no bound at all; both after the run that
// asked gave up, so an outage of the proxy piled up a connection and a goroutine per run. The deadline is
// set at the first write on the connection when that is a CONNECT or a SOCKS5 greeting (version 5), and
// cleared at the first write that is not the handshake's: the TLS handshake's first message (bounded by
// TLSHandshakeTimeout) or, through SOCKS to an http:// URL, the request (bounded by the run). A SOCKS
// handshake's writes each begin with 5 (greeting, CONNECT request) or 1 (user/password). A connection the
// pool keeps has no deadline; one that does not begin with a handshake is left as it is. net/http writes
// on one goroutine at a time, the handshake's writer done before the next starts.
type proxyHandshakeConn struct {
	net.Conn
	timeout time.Duration
	writes  int
	socks   bool
	armed   bool
}

func (c *proxyHandshakeConn) Write(p []byte) (int, error) {
	c.writes++
	switch {
	case c.writes == 1 && (bytes.HasPrefix(p, []byte("CONNECT ")) || bytes.HasPrefix(p, []byte{5})):
		c.socks = p[0] == 5
		c.armed = c.Conn.SetDeadline(time.Now().Add(c.timeout)) == nil
	case c.armed && c.socks && len(p) > 0 && (p[0] == 5 || p[0] == 1):
		// still the SOCKS handshake
	case c.armed:
		c.armed = false
		_ = c.Conn.SetDeadline(time.Time{})
	}
	return c.Conn.Write(p)
}

// proxyRefusal is a proxy's answer other than 200 to the CONNECT of an https:// URL (HTTPS_PROXY): net/http
// fails the request with the status text alone ("Forbidden"), which reads as the dependency's answer and
// was class unknown.
type proxyRefusal struct {
	proxy  string // host:port, never the proxy URL's credentials
	status string
	code   int
}

func (e *proxyRefusal) Error() string {
	return fmt.Sprintf("the proxy %s did not open the tunnel to the url (CONNECT): %s", e.proxy, e.status)
}

const (
	proxyAuthHint    = "the proxy (HTTPS_PROXY, HTTP_PROXY) wants credentials: give them in its URL (http://user:password@proxy:3128), or list this host in NO_PROXY if it is reached without the proxy"
	proxyDeniedHint  = "the proxy (HTTPS_PROXY, HTTP_PROXY) does not allow a connection to this host and port: its allow list, or NO_PROXY for a host reached without the proxy (an in-cluster service)"
	proxyUpHint      = "the proxy (HTTPS_PROXY, HTTP_PROXY) could not reach the dependency in %s: is it running, and can the proxy reach it? A host reached without the proxy (an in-cluster service) belongs in NO_PROXY"
	proxyDialHint    = "the proxy (HTTPS_PROXY, HTTP_PROXY) could not be reached: is it running, and is its address right? A host reached without the proxy (an in-cluster service) belongs in NO_PROXY"
	proxyRefusalHint = "the proxy (HTTPS_PROXY, HTTP_PROXY) refused the connection to the dependency: see its status and the proxy's log"
)

const proxyAnsweredHint = "the answer came through the proxy (HTTP_PROXY), and may be its own for a host it cannot reach or does not allow: a host reached without the proxy (an in-cluster service) belongs in NO_PROXY; else check the dependency's status"

// httpProxy is the host:port of the HTTP proxy req went through, when it is one that answers in the
// dependency's place (an http:// URL through an http:// or https:// proxy: not a CONNECT tunnel, nor
// SOCKS); "" for none. It is xxxxx when the proxy's URL is cut (proxyOf).
func (h *httpCheck) httpProxy(req *http.Request) string {
	if req == nil || req.URL.Scheme != "http" {
		return ""
	}
	proxy, hidden := h.proxyOf(req)
	switch {
	case proxy == nil || (proxy.Scheme != "http" && proxy.Scheme != "https"):
		return ""
	case hidden:
		return redacted
	}
	return proxy.Host
}

// proxyOf is the proxy req goes through (HTTP_PROXY for an http:// URL, HTTPS_PROXY for an https://
// one, unless NO_PROXY lists its host), nil for none; hidden says that nothing net reads from it may be
// shown: its URL has an '@' after its host (cutUserinfo: HTTP_PROXY=http://TOKEN/x@proxy:3128, a token
// or a password with an unescaped '/', whose start net dials as the proxy's host or port and quotes in a
// DNS lookup's name or a dial's address). A proxy variable that does not parse is no proxy to net/http.
func (h *httpCheck) proxyOf(req *http.Request) (proxy *url.URL, hidden bool) {
	if req == nil || h.transport.Proxy == nil {
		return nil, false
	}
	proxy, err := h.transport.Proxy(req)
	if err != nil || proxy == nil {
		return nil, false
	}
	return proxy, cutUserinfo(proxy)
}

// proxyHidden: the request whose failure err is went through a proxy whose URL must not be shown
// (proxyOf). The request is the one net/http's error names (a redirect's hop), else the url's.
func (h *httpCheck) proxyHidden(err error) bool {
	u := h.origin
	var ue *url.Error
	if errors.As(err, &ue) {
		if hop, perr := url.Parse(ue.URL); perr == nil {
			u = hop
		}
	}
	_, hidden := h.proxyOf(&http.Request{URL: u})
	return hidden
}

// proxyFailure classifies a failure of the proxy between the check and its url: a CONNECT refused
// (proxyRefusal), or the proxy itself not reached (net/http's "proxyconnect" error); nil for any other.
func proxyFailure(err error) error {
	var refusal *proxyRefusal
	if errors.As(err, &refusal) {
		switch refusal.code {
		case http.StatusProxyAuthRequired:
			return &Error{Class: Auth, Err: err, Hint: proxyAuthHint}
		case http.StatusForbidden:
			return &Error{Class: Auth, Err: err, Hint: proxyDeniedHint}
		case http.StatusBadGateway, http.StatusServiceUnavailable:
			return &Error{Class: Refused, Err: err, Hint: proxyUpHint}
		case http.StatusGatewayTimeout:
			return &Error{Class: Timeout, Err: err, Hint: proxyUpHint}
		}
		return &Error{Class: BadResponse, Err: err, Hint: proxyRefusalHint}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "proxyconnect" {
		switch class := classifyNet(err); {
		case class == DNS || class == Refused || class == Timeout:
			return &Error{Class: class, Err: err, Hint: proxyDialHint}
		case class == Reset || answeredNotTLS(err):
			// An https:// proxy URL whose port speaks plain HTTP (most proxies take CONNECT in plaintext):
			// its TLS handshake closed, or answered with HTTP. plainPort would tell the url to use
			// http://, which would send the check through HTTP_PROXY in plaintext instead. (A proxy's
			// certificate is judged as a server's: its hints name the CA.)
			return &Error{Class: TLS, Err: err, Hint: proxyPlainHint}
		}
	}
	return nil
}

// proxyPlainHint: an https:// proxy URL whose port does not speak TLS.
const proxyPlainHint = "the proxy (HTTPS_PROXY, or HTTP_PROXY for an http:// url) answered its TLS handshake with something else, or closed the connection: if it takes CONNECT in plaintext, as most proxies do, write its URL http://host:port"

// clientTLS builds the client side of TLS from a check's tls block, for every kind that speaks TLS
// (checks/tls.go).
func clientTLS(t config.TLS) (*tls.Config, config.Errors) {
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in, documented
	var errs config.Errors
	if t.CAFile != "" {
		pem, err := config.ReadFile(t.CAFile, config.BundleFileLimit)
		if err != nil {
			errs = append(errs, t.Src.Errorf("ca_file", "%v", err))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, t.Src.Errorf("ca_file", "%s holds no PEM certificate", t.CAFile))
			}
			cfg.RootCAs = pool
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, t.Src.Errorf("cert_file", "cert_file and key_file go together"))
	} else if t.CertFile != "" {
		certPEM, certErr := config.ReadFile(t.CertFile, config.BundleFileLimit)
		if certErr != nil {
			errs = append(errs, t.Src.Errorf("cert_file", "%v", certErr))
		}
		keyPEM, keyErr := config.ReadFile(t.KeyFile, config.BundleFileLimit)
		if keyErr != nil {
			errs = append(errs, t.Src.Errorf("key_file", "%v", keyErr))
		}
		if certErr == nil && keyErr == nil {
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				errs = append(errs, t.Src.Errorf("cert_file", "cannot load the client certificate: %v", err))
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg, errs
}

// badHeaderName says why name is not a valid header name, quoting it only up to the first character a
// name cannot hold: what follows can be the header's value, a secret, written into its name
// ("Authorization: Bearer s3cr3t": x, or Authorization=Bearer s3cr3t).
func badHeaderName(name string) string {
	if name == "" {
		return "a header name is empty"
	}
	i := strings.IndexFunc(name, func(r rune) bool { return !validToken(string(r)) })
	if i < 0 { // not reached: validToken refused the name
		return "a header name is not valid"
	}
	r, _ := utf8.DecodeRuneInString(name[i:])
	what := fmt.Sprintf("%q", r)
	if r == ' ' {
		what = "a space"
	}
	if i == 0 {
		return fmt.Sprintf("a header name begins with %s, which no header name holds (the rest of it is not shown: it may hold a value)", what)
	}
	return fmt.Sprintf("header name %q... holds %s, which no header name does (the rest of it is not shown: it may hold the value; write headers: {Name: value})", name[:i], what)
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

const httpMalformedHint = "the answer is HTTP, but its body cannot be read (a Content-Length that is not one number, a Transfer-Encoding other than chunked, a broken chunked body): a broken server, or a proxy in front of it"

const httpNotHTTPHint = "the answer is not HTTP: is this port an HTTP server's in %s (an https:// one, if it wants TLS)?"

const httpPlainPortHint = "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (use http:// in %s, or the server's HTTPS port)"

// answeredNotTLS reports whether err is a TLS handshake answered with something else: a record that is
// not TLS, net/http's words for an HTTP status line, or bytes that are not even that (firstBytesConn).
func answeredNotTLS(err error) bool {
	var record tls.RecordHeaderError
	var notHTTP notHTTPError
	return errors.As(err, &record) || errors.As(err, &notHTTP) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// plainPort classifies the failure of an https:// url whose handshake began and never completed, the
// server having closed the connection (a database's port, that drops bytes it cannot read) or answered
// with something else (a plain HTTP server's error page, or its status line), as what it is: tls, the
// port does not speak TLS. It read "reset: ... restarting or at its connection limit" and "the answer is
// not HTTP", which sent the operator to the dependency when the scheme was wrong. A proxy's failure and a
// redirect's keep their own hint.
func plainPort(ctx context.Context, err error) error {
	t := traceOf(ctx)
	var e *Error
	if err == nil || t == nil || !t.tlsStarted.Load() || t.tlsDone.Load() || !errors.As(err, &e) {
		return err
	}
	hint := e.Hint
	switch {
	case e.Class == Reset && e.Hint == "":
		hint = httpPlainPortHint
	case answeredNotTLS(err):
		if hint == "" || hint == httpNotHTTPHint {
			hint = httpPlainPortHint
		}
	default:
		return err
	}
	return &Error{Class: TLS, Err: e.Err, Hint: hint}
}

// httpFirstByte judges the first byte a server sends (firstBytesConn): an HTTP/1 answer starts
// "HTTP/", TLS (https, or a TLS proxy) with a record (0x16, or an alert, 0x15), a SOCKS5 proxy
// (HTTP_PROXY=socks5://...) with its version, 5. net/http reads a status line up to its line ending.
func httpFirstByte(head []byte) error {
	if head[0] == 'H' || head[0] == 0x16 || head[0] == 0x15 || head[0] == 0x05 {
		return nil
	}
	// Its first line at most: a server that sends the request back sends its target, query and all,
	// and then its headers (Authorization).
	line, _, _ := strings.Cut(string(head), "\n")
	return notHTTPError(redactWords(truncate(strings.TrimSuffix(line, "\r"), 32)))
}

// notHTTPError is httpFirstByte's verdict: the server's first bytes, redacted.
type notHTTPError string

func (e notHTTPError) Error() string {
	return fmt.Sprintf("the server's first bytes %q are not an HTTP status line", string(e))
}

// hostHidden is the cause of a failed exchange with a URL shown as xxxxx whole (cutUserinfo: an '@'
// after its host, https://TOKEN/part@api), or through a proxy whose URL is so cut (proxyOf): its host or
// its port may be a token's or a password's start, which net's errors quote (a DNS lookup's name, a
// dial's address, a certificate's name). The text is not shown; the chain is kept, for the class and the
// hint.
type hostHidden struct {
	err   error
	proxy bool // the proxy's URL, not the url
}

func (e hostHidden) Error() string {
	if e.proxy {
		// A proxy URL that does not parse (a space or a bare '%' in its password) is read by net/http as
		// "http://" and it: host "http:", the rest a path, its '@' with it.
		return "the cause is not shown: the proxy's URL (HTTPS_PROXY, HTTP_PROXY) has an '@' after its host, so its host or port may be a password's or a token's start, cut short by an unescaped '/', '?' or '#', or not read as a URL at all for a character of the user or password that is not percent-encoded (percent-encode them: / is %2F, a space %20, % itself %25)"
	}
	return "the cause is not shown: with an '@' after its host, the url's host or port may be a password's or a token's start, cut short by an unescaped '/', '?' or '#' (percent-encode them: / is %2F)"
}

func (e hostHidden) Unwrap() error { return e.err }

// hideHost hides the cause of err when the url is shown as xxxxx whole, or when proxy says the request
// went through a proxy whose URL must not be shown (proxyOf), keeping its class and hint.
func (h *httpCheck) hideHost(err error, proxy bool) error {
	var e *Error
	if !(h.hidden || proxy) || !errors.As(err, &e) {
		return err
	}
	return &Error{Class: e.Class, Hint: e.Hint, past: e.past, Err: hostHidden{err: e.Err, proxy: proxy && !h.hidden}}
}

func (h *httpCheck) probe(ctx context.Context) error {
	var used runConns
	resp, err := h.do(ctx, &used)
	if err != nil {
		// No answer: when the run's handshake was asked for a client certificate, a reset is the
		// server's refusal of it, said after the handshake (TLS 1.3).
		err = h.hideHost(plainPort(ctx, certRefused(ctx, h.exchangeError(err))), h.proxyHidden(err))
	} else {
		err = h.answer(resp)
	}
	if class := ClassOf(err); err != nil && (!timeLeft(ctx) || class == Timeout || class == Reset || class == TLS) {
		// A request left unanswered (or a body left unread) says nothing good of its connection: over
		// HTTP/1, net/http closes it with the request; over HTTP/2 (https:// to a server that speaks it:
		// most do) it only resets the stream, and the connection stayed in the pool, so when its path had
		// died (a NAT's or a firewall's entry dropped, a load balancer's backend gone) every later run
		// went on it and timed out, for as long as TCP took to give it up, while a new connection would
		// have been answered. The next run dials afresh, as over HTTP/1.
		used.close()
	}
	return err
}

// runConns are the connections a run's requests went on (httptrace's GotConn: the transport's own
// connection, under HTTP/1 or HTTP/2), to close when the run failed in a way that condemns them.
type runConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (r *runConns) got(info httptrace.GotConnInfo) {
	if info.Conn == nil {
		return
	}
	r.mu.Lock()
	r.conns = append(r.conns, info.Conn)
	r.mu.Unlock()
}

// close closes them: the transport drops a connection closed under it, and dials afresh.
func (r *runConns) close() {
	r.mu.Lock()
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// exchangeError classifies the error of a request that got no answer.
func (h *httpCheck) exchangeError(err error) error {
	err = redactEcho(redactURLError(err))
	// net/http's words for an answer that is not HTTP (another protocol on the port): a malformed
	// status line or header, or (readLoopPeekFailLocked with no transport error under it) bytes the
	// server sent before the request, which an HTTP server never does (an SSH banner).
	msg := err.Error()
	var notHTTP notHTTPError
	if perr := proxyFailure(err); perr != nil {
		return perr
	}
	if errors.Is(err, errRedirectNotHTTP) {
		return &Error{Class: BadResponse, Err: err}
	}
	if errors.Is(err, errTooManyRedirects) {
		return &Error{Class: BadResponse, Err: err, Hint: tooManyRedirectsHint}
	}
	if errors.As(err, &notHTTP) {
		return &Error{Class: BadResponse, Err: err, Hint: httpNotHTTPHint}
	}
	if e := streamReset(err); e != nil {
		return e
	}
	if connLost(err) {
		return &Error{Class: Reset, Err: err}
	}
	if strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "malformed MIME header") ||
		(strings.Contains(msg, "readLoopPeekFailLocked") && classifyNet(err) == Unknown) {
		return &Error{Class: BadResponse, Err: err, Hint: httpNotHTTPHint}
	}
	if strings.Contains(msg, "transport connection broken") && classifyNet(err) == Unknown {
		// net/http's words for an answer it could not read that is no network failure: a status line
		// and headers it cannot frame a body by (a Content-Length that is not a number, two that
		// differ, a Transfer-Encoding other than chunked). It was class unknown.
		return &Error{Class: BadResponse, Err: err, Hint: httpMalformedHint}
	}
	return h.redirectedHint(withTLSHint(classified(err)), err)
}

// redirectedHint gives a failure of a redirect's target (another host or port than the url's: the
// first answer was a redirect, followed) a hint that says so: the class's own spoke of the host and
// port in the url, which answered.
func (h *httpCheck) redirectedHint(err, cause error) error {
	var e *Error
	var ue *url.Error
	if !errors.As(err, &e) || !errors.As(cause, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Host == "" || h.sameOrigin(u) {
		return err
	}
	if e.Hint == hostnameHint && !strings.EqualFold(u.Hostname(), h.origin.Hostname()) {
		// Not the url's host, nor tls.server_name's (serverNameHome): the hop's own name.
		e.Hint = "the URL in %s answered with a redirect, followed to " + u.Scheme + "://" + u.Host + ", whose certificate does not name " + u.Hostname() + " (tls.server_name serves the url's host only): the redirect points to the wrong name, or point %s at the final URL"
		return err
	}
	if e.Hint != "" {
		return err
	}
	switch e.Class {
	case DNS, Refused, Timeout, TLS, Reset:
		e.Hint = "the URL in %s answered with a redirect, followed to " + u.Scheme + "://" + u.Host + ", which failed: that server is down or unreachable from here, or the redirect points to the wrong place (an internal host, another port, http for https); check it, or point %s at the final URL"
	}
	return err
}

const httpsPortHint = "the port speaks HTTPS and was sent plain HTTP: use https:// in %s (with a tls block if its certificate needs one)"

// plainToHTTPS reports whether a 400's body is an HTTPS server's answer to a plain HTTP request, in the
// words of Go's servers (Caddy, Traefik, most Go services), nginx and Apache.
func plainToHTTPS(body []byte) bool {
	for _, s := range []string{"Client sent an HTTP request to an HTTPS server", "The plain HTTP request was sent to HTTPS port",
		"speaking plain HTTP to an SSL-enabled server port"} {
		if bytes.Contains(body, []byte(s)) {
			return true
		}
	}
	return false
}

// hostWithoutScheme reports whether raw, which net/url read as u, is a host name written without http://
// (example.com/health, localhost/healthz, api.internal): a relative reference whose first segment is a
// name with a dot, or localhost. It returns raw with http:// before it, redacted, to show.
func hostWithoutScheme(u *url.URL, raw string) (string, bool) {
	if u.Scheme != "" || u.Host != "" || u.Path == "" || strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, ".") {
		return "", false
	}
	host, _, _ := strings.Cut(u.Path, "/")
	if host != "localhost" && (!strings.Contains(host, ".") || config.BadDNSName(host) != "" && !isIPLiteral(host)) {
		return "", false
	}
	return RedactURL("http://" + raw), true
}

// answer judges the answer to the request: its status, and its body.
func (h *httpCheck) answer(resp *http.Response) error {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The check asks for no upgrade. The body of a 101 is the connection itself, which no deadline
		// of the run bounds: it is closed unread, not drained until the server closes it.
		return &Error{Class: BadResponse, Err: fmt.Errorf("status 101 (Switching Protocols) from %s", h.shown), Hint: httpUpgradeHint}
	}
	if !h.statusOK(resp.StatusCode) {
		// The status says it: a body of unknown length is not waited for (a 503 whose body stalls was a
		// timeout, at the end of the run's time, instead of the 503 at once). One of a length the
		// server gave, small enough, is read, so that the connection is kept for the next run (during an
		// outage, not a new connection, and a TLS handshake, each run); if it stalls, the run still
		// ends with the status (past).
		drained := resp.ContentLength >= 0 && resp.ContentLength <= maxBody
		var head []byte // the start of a 400's body: an HTTPS server's answer to plain HTTP says so there
		if resp.StatusCode == http.StatusBadRequest && (drained || resp.ProtoMajor == 1 && resp.ProtoMinor == 0) {
			// Go's servers answer it in HTTP/1.0 and close (the body ends at once), nginx and Apache
			// with a length.
			head, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		}
		if drained {
			_, _ = io.Copy(io.Discard, resp.Body)
		}
		msg := fmt.Sprintf("status %d from %s", resp.StatusCode, h.shown)
		if resp.Request != nil && resp.Request.Response != nil {
			// a redirect was followed: the answer is the last hop's
			msg = fmt.Sprintf("status %d from %s (redirected from %s)", resp.StatusCode, RedactURL(resp.Request.URL.String()), h.shown)
			if !h.sameOrigin(resp.Request.URL) && len(h.header) > 1 {
				msg += "; the configured headers were not sent to it: another scheme, host or port than the url's"
			}
		}
		if loc, err := resp.Location(); err == nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// Location() resolves a relative reference against the request, so it is redacted as a URL.
			msg += fmt.Sprintf(" (redirect to %s, not followed: check that URL instead, or %s)", RedactURL(loc.String()), h.redirectFix)
		} else if resp.Header.Get(unparsedLocation) != "" {
			msg += " (a redirect whose Location header is not a valid URL: not followed, not shown)"
		}
		// An http:// request goes to the proxy, which answers for a host it cannot reach or does not
		// allow with a status of its own (502, 503, 403): read as the dependency's.
		hint := ""
		if proxy := h.httpProxy(resp.Request); proxy != "" {
			msg += ", through the proxy " + proxy
			hint = proxyAnsweredHint
		}
		if resp.StatusCode == http.StatusProxyAuthRequired {
			// only a proxy answers 407: an http:// url through HTTP_PROXY
			return &Error{Class: Auth, Err: errors.New(msg), Hint: proxyAuthHint, past: drained}
		}
		class := BadResponse
		if hint == "" { // the dependency's own answer, not a proxy's
			class, hint = httpStatusClass(resp.StatusCode)
			if plainToHTTPS(head) {
				class, hint = TLS, httpsPortHint
				msg += ": the server speaks HTTPS on this port"
			}
		}
		return &Error{Class: class, Err: errors.New(msg), Hint: hint, past: drained}
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if readErr == nil && len(body) == maxBody && resp.ContentLength <= maxDrain {
		// Read to its end, up to maxDrain in all, so the connection is kept; what is read says
		// nothing more (a body cut off or stalling past maxBody leaves the verdict as it is).
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain-maxBody))
	}
	if readErr != nil {
		// A status line followed by a body that stalls or is cut off is not a healthy answer.
		_, proxy := h.proxyOf(resp.Request)
		readErr = cutHeaderLinesErr(redactURLError(fmt.Errorf("reading the body: %w", readErr)))
		if e := streamReset(readErr); e != nil {
			return h.hideHost(e, proxy)
		}
		if connLost(readErr) {
			return h.hideHost(&Error{Class: Reset, Err: readErr}, proxy)
		}
		if classifyNet(readErr) == Unknown {
			// No network failure: a chunked body net/http cannot read (a chunk length that is not hex,
			// a chunk without its line ending), which was class unknown.
			return h.hideHost(&Error{Class: BadResponse, Err: readErr, Hint: httpMalformedHint}, proxy)
		}
		return h.hideHost(classified(readErr), proxy)
	}
	if len(h.contains) > 0 {
		body, err := decodeBody(resp.Header.Get("Content-Encoding"), body)
		if err != nil {
			return &Error{Class: BadResponse, Err: fmt.Errorf("body (Content-Encoding %q): %w", resp.Header.Get("Content-Encoding"), err)}
		}
		if !bytes.Contains(body, h.contains) {
			return &Error{Class: BadResponse, Err: fmt.Errorf("body (first %d KiB) does not contain %q", maxBody>>10, h.contains)}
		}
	}
	return nil
}

const httpUpgradeHint = "the server answered 101, switching the connection to another protocol the check did not ask for: the url is a WebSocket or another upgrade endpoint (or a proxy in front upgrades every request); point %s at a health endpoint that answers with a status"

const (
	httpAuthHint     = "the dependency refused the request (401 or 403): check the credentials the check sends (headers, or user:password in %s) and that they are allowed on this path"
	httpNotReadyHint = "the dependency answered that it cannot serve now (429, 502, 503 or 504): starting, draining, overloaded, or a gateway in front of it without a healthy backend; it should clear by itself, else see its log"
)

// httpStatusClass is the class of an unexpected status, as gRPC maps HTTP statuses (checks/grpc.go): a
// refused credential is auth, a dependency (or the gateway in front of it) that cannot serve now is
// not_ready, any other status bad_response with no hint (the message names the status).
func httpStatusClass(status int) (Class, string) {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return Auth, httpAuthHint
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return NotReady, httpNotReadyHint
	}
	return BadResponse, ""
}

// decodeBody is the first maxBody bytes of a body read as sent, decoded by its Content-Encoding: the check
// asks for none (net/http's Accept-Encoding is off), but a server may compress regardless, or because
// the headers ask it to (Accept-Encoding: gzip, as the application sends), and body_contains searched
// the compressed bytes. gzip and deflate are decoded; another encoding (br, zstd) is said.
func decodeBody(encoding string, body []byte) ([]byte, error) {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("not gzip: %w", err)
		}
		r = zr
	case "deflate":
		// zlib, as HTTP says; some servers send raw deflate
		if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
			r = zr
		} else {
			r = flate.NewReader(bytes.NewReader(body))
		}
	default:
		return nil, errors.New("an encoding the check does not decode: remove Accept-Encoding from headers, or ask the server not to compress its health answer")
	}
	out, err := io.ReadAll(io.LimitReader(r, maxBody))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// the first maxBody bytes of a longer body, cut where it was
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("it does not decode: %w", err)
	}
	return out, nil
}

// do sends the run's request; once more, on a fresh connection, when the connection it went on was kept
// from an earlier run and the server closed or reset it without a byte of answer: a keep-alive timeout
// that ran out as the request went (Node.js closes an idle connection after 5 s, the default interval),
// not what the server is doing now. net/http sends such a request again itself, but only a GET, HEAD,
// OPTIONS or TRACE: a POST check failed reset now and then. A run on a fresh connection is not sent again.
// used collects the connections the request went on.
func (h *httpCheck) do(ctx context.Context, used *runConns) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var stale atomic.Bool // the connection is a kept one that has answered nothing yet
		run := traceOf(ctx)
		trace := &httptrace.ClientTrace{
			GotConn:              func(info httptrace.GotConnInfo) { stale.Store(info.Reused); used.got(info) },
			GotFirstResponseByte: func() { stale.Store(false) },
			// net/http's own handshake (an https:// url), for the run's trace (handshake).
			TLSHandshakeStart: func() {
				if run != nil {
					run.tlsStarted.Store(true)
				}
			},
			TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
				if run != nil && err == nil {
					run.tlsDone.Store(true)
				}
			},
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), h.method, h.url, nil)
		if err != nil {
			return nil, &Error{Class: Unknown, Err: redactURLError(err)}
		}
		req.Header = h.header.Clone()
		if h.host != "" {
			req.Host = h.host
		}
		resp, err := h.client.Do(req)
		if err == nil || attempt > 0 || !stale.Load() || ctx.Err() != nil || (classifyNet(err) != Reset && !connLost(err)) {
			return resp, err
		}
	}
}

const streamResetHint = "the server reset the request's HTTP/2 stream: its handler failed or gave up (see its log), or a proxy in front of it lost the connection to its backend"

// streamReset classifies an HTTP/2 stream the server reset (RST_STREAM), nil for any other error: net/http
// reports it in a type it does not export ("stream error: stream ID 3; INTERNAL_ERROR; received from
// peer"), which was class unknown, where HTTP/1 says the same (a handler that failed, a proxy whose
// backend went away) by closing the connection: a reset.
func streamReset(err error) error {
	if _, rest, ok := strings.Cut(err.Error(), "stream error: stream ID "); !ok || !strings.Contains(rest, "; received from peer") {
		return nil
	}
	return &Error{Class: Reset, Err: err, Hint: streamResetHint}
}

// connLost: err is net/http's for an HTTP/2 connection that closed under the request, in words that do
// not wrap their cause (h2ConnLost: a server that said GOAWAY and closed it with the request in flight),
// which was class unknown where HTTP/1's closed connection is a reset.
func connLost(err error) bool { return classifyNet(err) == Unknown && h2ConnLost(err.Error()) }

// wasStreamReset: err is a run's stream the server reset (streamReset), an answer on a sound connection.
func wasStreamReset(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Hint == streamResetHint
}

// redactEcho redacts the URLs and query strings in the server's bytes that net/http quotes when they are
// not HTTP ("malformed HTTP status code \"/health?token=...\""): a server that sends the request back
// (an echo service, a proxy quoting it in an error) returns the request target, query and all. Each
// word that can hold a query or a user is redacted as a URL (RedactURL), the rest kept.
func redactEcho(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) || !strings.Contains(ue.Err.Error(), "malformed") {
		return err
	}
	return &url.Error{Op: ue.Op, URL: ue.URL, Err: errors.New(redactWords(cutHeaderLines(ue.Err.Error())))}
}

// malformedHeaderLine is net/textproto's quote of a header or trailer line it cannot read, whole: past its
// name it may be a value the server sent back, which no label marks when the colon is what is missing
// ("X-Api-Key VALUE").
var malformedHeaderLine = regexp.MustCompile(`(malformed MIME header(?: line| initial line|: missing colon): )"((?:[^"\\]|\\.)*)"`)

// cutHeaderLines keeps, of each line malformedHeaderLine quotes, its name up to its colon; of a line
// without one (or that begins with a blank: a continuation), nothing.
func cutHeaderLines(s string) string {
	return malformedHeaderLine.ReplaceAllStringFunc(s, func(m string) string {
		sub := malformedHeaderLine.FindStringSubmatch(m)
		name, _, ok := strings.Cut(sub[2], ":")
		if !ok || strings.HasPrefix(name, " ") || strings.HasPrefix(name, `\t`) {
			return sub[1] + `"..."`
		}
		return sub[1] + `"` + name + `: ..."`
	})
}

// cutHeaderLinesErr is err with its message cut as cutHeaderLines does, its chain kept.
func cutHeaderLinesErr(err error) error {
	if msg := cutHeaderLines(err.Error()); msg != err.Error() {
		return &flatError{msg: msg, err: err}
	}
	return err
}

// redactWords redacts each word of s that can hold a query or a user as a URL (RedactURL), and the word
// after a secret's name and a colon ("token: ...", "Authorization: Bearer ...": after its scheme) or after
// an auth scheme ("Bearer ..."), and keeps the rest: for the server's bytes, which may be the request sent
// back, or a server's own words about what failed behind it.
func redactWords(s string) string {
	words := strings.Split(s, " ")
	for i := 0; i < len(words); i++ {
		w := words[i]
		core := strings.Trim(w, `"'`)
		if name, ok := strings.CutSuffix(core, ":"); ok && secretLabel.MatchString(name) && isSecretName(name) || credentialScheme(core) {
			if i+1 < len(words) {
				if next := strings.Trim(words[i+1], `"'`); credentialScheme(next) || strings.EqualFold(next, "token") {
					i++ // Authorization: Bearer VALUE, Authorization: Token VALUE
				}
			}
			if i+1 < len(words) {
				if v := strings.Trim(words[i+1], `"',;)`); v != "" {
					words[i+1] = strings.Replace(words[i+1], v, redacted, 1)
				}
				i++
			}
			continue
		}
		if core := strings.Trim(w, `"':`); strings.ContainsAny(core, "?=@") {
			words[i] = strings.Replace(w, core, RedactURL(core), 1)
		}
	}
	return strings.Join(words, " ")
}

// secretLabel is a name that labels a value after its colon (token:, api_key:, X-Api-Key:), not a URL or
// a sentence's word.
var secretLabel = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

// credentialScheme reports whether w is an HTTP authentication scheme that a credential follows wherever
// it stands (Token does only after a label: "invalid token provided" holds none).
func credentialScheme(w string) bool {
	return strings.EqualFold(w, "bearer") || strings.EqualFold(w, "basic")
}

func (h *httpCheck) statusOK(code int) bool {
	if len(h.expect) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(h.expect, code)
}

func (h *httpCheck) close() {
	h.transport.CloseIdleConnections()
	if h.away != nil {
		h.away.CloseIdleConnections()
	}
}
