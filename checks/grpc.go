package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/internal/grpcwire"
)

// A grpc check calls grpc.health.v1.Health/Check for one service over one long-lived HTTP/2
// connection (gRPC multiplexes every call on it), plaintext (h2c with prior knowledge, as gRPC
// clients speak it) or TLS with the tls block.
//
// Why not grpc-go: the call is one unary request whose message is one string field and whose
// answer is one enum, and net/http's HTTP/2 (already in the binary for the http check and the
// server) carries it; internal/grpcwire, shared with our gRPC health server, frames and decodes
// it. grpc-go costs about 16 MB of binary and 3.6 MB more resident memory in an idle `serve`: the
// figures of record are the bench's (kinds figure, K4, in README.md: 16.3 MB with grpc-go's client,
// server and health service linked in); its client and health package alone add 16.3 MB (27.5 →
// 43.8 MB, the same `go build -overlay` rerun for this comment): the client is what costs. A
// standalone client making the same calls peaks at 12.9 MB against 9.1 MB for net/http (measured on
// the commit that added this check). The tests hold this client to grpc-go's own health server.

const (
	grpcMethodCheck = "/grpc.health.v1.Health/Check"
	// grpcMaxResponse bounds the answer read: a HealthCheckResponse is 2 bytes.
	grpcMaxResponse = 4 << 10
)

// Serving status values of grpc.health.v1.HealthCheckResponse.
const (
	grpcStatusUnknown        = 0
	grpcStatusServing        = 1
	grpcStatusNotServing     = 2
	grpcStatusServiceUnknown = 3
)

const (
	grpcNoHealthHint      = "the server does not implement grpc.health.v1.Health: register the standard health service (grpc-go: google.golang.org/grpc/health), or check the port with type: tcp"
	grpcUnknownSvcHint    = "the health service does not know this service name: check service in the configuration against the names the server registers (\"\" asks for the server as a whole)"
	grpcNotServingHint    = "the server says it is not serving: it is starting, draining, or one of its own dependencies is failing; see its log"
	grpcNotGRPCHint       = "the port in %s answered, but not as a gRPC server: is it the gRPC port, and does it want TLS (set tls:) or plaintext?"
	grpcPlainPortHint     = "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (remove the tls block, or point %s at the server's TLS port)"
	grpcNoH2TLSHint       = "the port in %s speaks TLS but not HTTP/2 (ALPN h2), which gRPC runs on: is it the gRPC port, or an HTTPS (HTTP/1.1) one?"
	grpcUnavailableHint   = "the server answered UNAVAILABLE: it is starting, shutting down or overloaded; it should clear by itself"
	grpcUnauthorizedHint  = "the server refused the call (UNAUTHENTICATED or PERMISSION_DENIED): the health service should be open to unauthenticated callers, or give the check a client certificate in tls:"
	grpcDeadlineHint      = "the server answered DEADLINE_EXCEEDED: its health service, or a dependency it asks, did not finish within its own deadline or the check's grpc-timeout (the run's time left); see the server's log"
	grpcNoMessageHint     = "the server answered as gRPC, with status OK, but its grpc.health.v1.Health/Check answer carried no message (HealthCheckResponse): its health service is broken, or a proxy in front of it dropped the body; see the server's log"
	grpcServiceWholeLabel = `"" (the server as a whole)`
)

// grpcSettings is grpcSpec checked and resolved: what the runs of a grpc check read.
type grpcSettings struct {
	address string
	service string
	tls     *tls.Config // nil: plaintext (h2c)
}

// grpcSpec is a grpc check's own configuration (config.Check.Spec, decoded).
type grpcSpec struct {
	Address string     `yaml:"address" schema:"minLength=1,form=grpc-address" desc:"host:port of the gRPC server (plaintext unless a tls block is written), or https://host:port (TLS) or http://host:port (plaintext)"`
	Service string     `yaml:"service" desc:"the service name asked of grpc.health.v1.Health/Check (default \"\": the server as a whole)"`
	TLS     config.TLS `yaml:"tls" plain:"http"`
}

func grpcSettingsOf(c config.Check, s *grpcSpec) (grpcSettings, config.Errors) {
	var errs config.Errors
	address, scheme, serr := grpcScheme(c, s.Address)
	if serr != nil {
		errs = append(errs, serr)
	}
	addr, err := checkAddress(c, address, "address", "")
	if err != nil && serr == nil {
		errs = append(errs, err)
	}
	g := grpcSettings{address: addr, service: s.Service}
	written := tlsWritten(c, s.TLS)
	if scheme == "http" && written {
		errs = append(errs, c.Src.Errorf("address", "http:// is plaintext, but a tls block is written: write https:// (or the bare host:port) to use it"))
	}
	// A written tls: block, even an empty one (tls: {}: the system's CAs), turns TLS on; so does
	// https:// (the system's CAs, unless a tls block says more).
	if written || scheme == "https" {
		cfg, tlsErrs := clientTLS(s.TLS)
		errs = append(errs, tlsErrs...)
		g.tls = cfg
	}
	return g, errs
}

// grpcScheme splits an address written as a URL: https://HOST:PORT asks for TLS, http://HOST:PORT for
// plaintext (h2c), as the Rust grpc_health_probe's --addr reads them. It lets `--grpc https://...` on
// the command line, where no tls block can be written, reach a TLS server (a private CA through
// SSL_CERT_FILE, which Go reads for the system's CAs). A bare HOST:PORT is returned as it is.
func grpcScheme(c config.Check, address string) (string, string, *config.Error) {
	if !strings.Contains(address, "://") {
		return address, "", nil
	}
	const forms = "must be host:port, https://host:port (TLS) or http://host:port (plaintext)"
	// net/url reads the scheme (lower-cased, only the characters a scheme may hold: a secret typed in
	// the wrong place is not one) and tells a user, path or query apart.
	u, err := url.Parse(address)
	switch {
	case err != nil:
		return "", "", c.Src.Errorf("address", "%s", forms)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", c.Src.Errorf("address", "%s; not a %s:// URL", forms, u.Scheme)
	case u.User != nil || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		// A path would be ignored (gRPC's method is the path), and a user or password has no place.
		return "", "", c.Src.Errorf("address", "%s:// takes only host:port, with no user, path or query", u.Scheme)
	}
	return u.Host, u.Scheme, nil
}

type grpcCheck struct {
	// notH2 is set when the server's first bytes on a plaintext connection are not an HTTP/2
	// SETTINGS frame: whatever answered then, it is not a gRPC server.
	notH2 atomic.Bool

	cfg grpcSettings
	url string
	// authority is the :authority of every call: tls.server_name when written (as grpc-go and
	// grpc-health-probe send it: a proxy or ingress in front of the server routes by it, and it is
	// the name the certificate was checked against), else "" for the address dialled.
	authority string
	request   []byte // the framed HealthCheckRequest
	transport *http.Transport
	client    *http.Client

	// idle closes the kept connection once no run has used it for grpcIdleClose (idleAfterRun), where
	// the Transport's IdleConnTimeout would: that one, with h2c (gRPC's plaintext), also dials a
	// throwaway connection every IdleConnTimeout however busy the kept one is (TestGRPCBusyConnectionKept).
	idleMu sync.Mutex
	idle   *time.Timer
	closed bool
}

// How the kept connection is watched while idle (variables for the tests): a PING after grpcPingAfter
// without a frame, and the connection closed after grpcIdleClose without a call.
var (
	grpcPingAfter = 30 * time.Second
	grpcIdleClose = 45 * time.Second
)

func buildGRPC(c config.Check, s *grpcSpec) (prober, string, config.Errors) {
	g, errs := grpcSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	var protocols http.Protocols
	scheme := "http"
	if g.tls != nil {
		protocols.SetHTTP2(true) // h2 by ALPN, never HTTP/1.1
		scheme = "https"
	} else {
		protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	g2 := &grpcCheck{}
	tr := &http.Transport{
		Protocols:          &protocols,
		TLSClientConfig:    g.tls,
		DisableCompression: true,
		MaxIdleConns:       1,
		// One connection, ever: without a cap, a run that starts while the previous run's connection is
		// not yet back in the idle pool makes net/http dial a second one "in case" (seen under load),
		// and that one is kept too. With it, the run waits for the connection being handed back.
		MaxConnsPerHost: 1,
		// A kept connection whose server vanished is found by a PING unanswered within a run's
		// worth of time, not by the next run's timeout.
		HTTP2: &http.HTTP2Config{SendPingTimeout: grpcPingAfter, PingTimeout: 15 * time.Second},
		// A connection idle for grpcIdleClose is closed (idleAfterRun), and the next run dials: grpc-go's
		// servers, by default (keepalive.EnforcementPolicy: no pings without a call in progress), count
		// every PING after the first on a connection with no call as a strike, and after the third close
		// it with GOAWAY "too_many_pings" and an error in their log. Under grpcPingAfter·2, an idle stretch
		// holds one PING at most: checks every minute or more dialed a connection a run all the same, and
		// each left an error in the server's log (measured: closed after about 2 minutes idle). Not
		// IdleConnTimeout, which over h2c dials a connection more every IdleConnTimeout.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialContext(ctx, dialer, network, addr)
			if err != nil || g.tls != nil {
				return conn, err
			}
			return &h2Sniffer{Conn: conn, notH2: &g2.notH2}, nil
		},
	}
	if g.tls != nil {
		// The handshake is made here, not by net/http, so that a plaintext server's answer to it (a
		// reset, an HTTP/1 400) is told apart from a reset of the gRPC exchange that follows.
		cfg := noticeCertRequests(g.tls, nil)
		cfg.NextProtos = []string{"h2"}
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dialContext(ctx, dialer, network, addr)
			if err != nil {
				return nil, err
			}
			c := cfg
			if c.ServerName == "" {
				c = cfg.Clone()
				c.ServerName, _, _ = net.SplitHostPort(addr)
			}
			tc := tls.Client(raw, c)
			if err := handshake(ctx, tc); err != nil {
				_ = raw.Close()
				if noALPN(err) {
					return nil, &Error{Class: BadResponse, Hint: grpcNoH2TLSHint, Err: fmt.Errorf("TLS handshake: %w", err)}
				}
				if e, ok := plainPortError(ctx, err, grpcPlainPortHint); ok {
					return nil, e
				}
				return nil, err
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
				// A server without ALPN: net/http would speak HTTP/1.1 to it.
				_ = tc.Close()
				return nil, &Error{Class: BadResponse, Hint: grpcNoH2TLSHint, Err: fmt.Errorf("the server chose no HTTP/2 by ALPN (%q)", p)}
			}
			return tc, nil
		}
	}
	target := g.address
	if g.service != "" {
		target += " " + strconv.Quote(g.service)
	}
	if g.tls != nil {
		target += " (tls)"
	}
	g2.cfg = g
	g2.url = scheme + "://" + g.address + grpcMethodCheck
	if g.tls != nil {
		g2.authority = g.tls.ServerName
	}
	g2.request = grpcwire.Frame(grpcwire.AppendString(nil, 1, g.service))
	g2.transport = tr
	g2.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return g2, target, nil
}

// noALPN reports the alert of a TLS server that offers none of our protocols (h2): an HTTPS server
// that speaks HTTP/1.1 only.
func noALPN(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error" && strings.Contains(oe.Err.Error(), "no application protocol")
}

// h2Sniffer watches the first 9 bytes a plaintext server sends: an HTTP/2 server's first frame is
// SETTINGS (type 4) on stream 0. Anything else (an HTTP/1 status line, a banner, garbage) marks the
// answer as not gRPC, which net/http would report only as a closed connection or a frame error.
type h2Sniffer struct {
	net.Conn
	notH2 *atomic.Bool
	mu    sync.Mutex // net/http reads on one goroutine and writes on another: both may look at head
	head  [9]byte
	n     int
	bad   bool // this connection's first bytes are not HTTP/2
}

// errNotH2 ends every read of a connection whose first bytes are not HTTP/2: net/http would otherwise
// wait for the length its frame reader took from them (or for a line ending that never comes).
var errNotH2 = errors.New("the server's first bytes are not an HTTP/2 frame")

func (s *h2Sniffer) Read(p []byte) (int, error) {
	if s.isBad() {
		return 0, errNotH2
	}
	n, err := s.Conn.Read(p)
	if s.saw(p[:n]) {
		return 0, errNotH2
	}
	return n, err
}

func (s *h2Sniffer) isBad() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// saw looks at the bytes read, and reports whether the connection's first bytes are not HTTP/2.
func (s *h2Sniffer) saw(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= len(s.head) || len(b) == 0 {
		return s.bad
	}
	s.n += copy(s.head[s.n:], b)
	// A frame header is 9 bytes; fewer bytes that already cannot start SETTINGS on stream 0 (a
	// server that wrote a short banner or garbage and closed) say as much as nine. A server's SETTINGS
	// are a few dozen bytes: the length's first byte is 0.
	h := s.head[:s.n]
	if h[0] != 0 || (len(h) > 3 && h[3] != 0x4) || (len(h) > 5 && h[5]&0x7f != 0) || (len(h) > 6 && h[6] != 0) ||
		(len(h) > 7 && h[7] != 0) || (len(h) > 8 && h[8] != 0) {
		s.notH2.Store(true)
		s.bad = true
	}
	return s.bad
}

// Write notices a server that wrote something and closed at once (a banner, garbage): our first
// write then fails (broken pipe, reset) before net/http has read a byte, so read what the socket
// already holds, briefly, to tell "not gRPC" from a reset.
func (s *h2Sniffer) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	if err != nil && !s.seen() {
		_ = s.Conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var buf [9]byte
		m, _ := io.ReadAtLeast(s.Conn, buf[:], len(buf))
		s.saw(buf[:m])
	}
	return n, err
}

// seen reports whether the server has sent a byte yet.
func (s *h2Sniffer) seen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n > 0
}

func (g *grpcCheck) probe(ctx context.Context) error {
	g.holdIdle()
	defer g.idleAfterRun()
	g.notH2.Store(false)
	reused := false
	var answered atomic.Bool // net/http's reader may say so as the call gives up
	var used runConns
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:              func(info httptrace.GotConnInfo) { reused = info.Reused; used.got(info) },
		GotFirstResponseByte: func() { answered.Store(true) },
	})
	err := g.call(traced)
	if err != nil && reused && ClassOf(err) == Reset && !wasStreamReset(err) && timeLeft(ctx) {
		// The kept connection died while idle (a restart, a proxy's idle timeout) before net/http
		// noticed: that says nothing of the server now. Ask again on a fresh connection. (A stream the
		// server reset is its answer to this call.)
		used.close()
		g.transport.CloseIdleConnections()
		err = g.call(traced)
	}
	if !answered.Load() {
		// When the run's handshake was asked for a client certificate, a reset is the server's
		// refusal of it, said after the handshake (TLS 1.3).
		err = certRefused(ctx, err)
	}
	var e *Error
	errors.As(err, &e)
	switch class := ClassOf(err); {
	case err != nil && !timeLeft(ctx), class == Refused, class == DNS, class == Timeout, class == Reset, class == TLS:
		// The connection may be what failed: the next run dials afresh rather than wait for
		// HTTP/2's ping to find it dead. The run's own connection is closed, not left to
		// CloseIdleConnections: a call given up at its deadline is still one of the connection's
		// streams for a moment after it returned (net/http resets it in the background), so the
		// connection was not idle yet, stayed in the pool and took every later run, each a timeout
		// when its path had died (a NAT's or firewall's entry dropped, a load balancer's backend gone)
		// while a new connection would have been answered. So is a run's that was cancelled (its check
		// dropped by a reload, serve stopping): the check's close follows at once, and found that
		// connection still busy with the call given up, so a server that answers PINGs kept it for good
		// (TestGRPCCancelledRunClosesItsConnection).
		used.close()
		g.transport.CloseIdleConnections()
	case class == BadResponse:
		if e != nil && e.Hint == grpcNotGRPCHint {
			g.transport.CloseIdleConnections() // whatever answered, it was not our gRPC server
		}
	}
	return err
}

func (g *grpcCheck) service() string {
	if g.cfg.service == "" {
		return grpcServiceWholeLabel
	}
	return strconv.Quote(g.cfg.service)
}

func (g *grpcCheck) call(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(g.request))
	if err != nil {
		return &Error{Class: Unknown, Err: err}
	}
	if g.authority != "" {
		req.Host = g.authority
	}
	req.Header.Set("Content-Type", grpcwire.ContentType)
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "grpc-"+UserAgent)
	if dl, ok := ctx.Deadline(); ok {
		// The server may give up when we do; at least 1 ms, in at most 8 digits.
		req.Header.Set("Grpc-Timeout", grpcwire.FormatTimeout(time.Until(dl)))
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return g.transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, grpcMaxResponse+5+1))
	if err != nil {
		return g.transportError(fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		return g.httpStatus(resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, grpcwire.ContentType) {
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: fmt.Errorf("answered with content type %q, not %s", truncate(ct, 64), grpcwire.ContentType)}
	}
	// The status is in the trailers, or alone in the headers ("Trailers-Only") when no message came.
	code, msg := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if code == "" {
		code, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if code == "" {
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: errors.New("the answer has no grpc-status")}
	}
	n, err := strconv.Atoi(code)
	if err != nil {
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: fmt.Errorf("grpc-status %q is not a number", truncate(code, 16))}
	}
	if n != grpcwire.OK {
		// The server's message may quote what failed behind it, a connection URL or a key=value DSN with
		// its password: redacted as the words of an echo are, before it is cut (a cut URL would hide the
		// '@' that marks its password).
		return g.statusError(n, truncate(redactWords(grpcwire.PercentDecode(msg)), 160))
	}
	// A server may compress its answer (grpc-go's grpc.RPCCompressor does, asked or not): gzip is read.
	frame, err := grpcwire.ReadMessageEncoded(bytes.NewReader(body), grpcMaxResponse, resp.Header.Get("Grpc-Encoding"))
	if errors.Is(err, grpcwire.ErrMissing) {
		// A gRPC answer (its content type, grpc-status 0) without the message: the server is gRPC,
		// its health service is what is wrong.
		return &Error{Class: BadResponse, Hint: grpcNoMessageHint, Err: fmt.Errorf("Check's answer: status OK, but %w", err)}
	}
	if err != nil {
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: fmt.Errorf("Check's answer: %w", err)}
	}
	st, err := grpcwire.Varint(frame, 1)
	if err != nil {
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: fmt.Errorf("Check's answer: %w", err)}
	}
	switch st {
	case grpcStatusServing:
		return nil
	case grpcStatusNotServing:
		return &Error{Class: NotReady, Hint: grpcNotServingHint, Err: fmt.Errorf("service %s is NOT_SERVING", g.service())}
	case grpcStatusUnknown:
		return &Error{Class: NotReady, Hint: grpcNotServingHint, Err: fmt.Errorf("service %s is in status UNKNOWN (not yet set by the server)", g.service())}
	case grpcStatusServiceUnknown:
		return &Error{Class: BadResponse, Hint: grpcUnknownSvcHint, Err: fmt.Errorf("service %s is SERVICE_UNKNOWN to the health service", g.service())}
	}
	return &Error{Class: BadResponse, Err: fmt.Errorf("service %s: unknown serving status %d", g.service(), st)}
}

// statusError classifies a call that ended with a gRPC status other than OK.
func (g *grpcCheck) statusError(code int, msg string) error {
	what := grpcwire.CodeName(code)
	if msg != "" {
		what += ": " + msg
	}
	switch code {
	case grpcwire.NotFound:
		return &Error{Class: BadResponse, Hint: grpcUnknownSvcHint, Err: fmt.Errorf("unknown service %s (%s)", g.service(), what)}
	case grpcwire.Unimplemented:
		return &Error{Class: BadResponse, Hint: grpcNoHealthHint, Err: fmt.Errorf("no health service (%s)", what)}
	case grpcwire.Unavailable, grpcwire.ResourceExhausted:
		return &Error{Class: NotReady, Hint: grpcUnavailableHint, Err: errors.New(what)}
	case grpcwire.Unauthenticated, grpcwire.PermissionDenied:
		return &Error{Class: Auth, Hint: grpcUnauthorizedHint, Err: errors.New(what)}
	case grpcwire.DeadlineExceeded:
		// The server's answer: without a hint of its own, the run's trace would say none came.
		return &Error{Class: Timeout, Hint: grpcDeadlineHint, Err: errors.New(what)}
	}
	return &Error{Class: BadResponse, Err: errors.New(what)}
}

// httpStatus classifies an HTTP status other than 200 (a proxy in front of the server, or no gRPC
// server at all) as the http check does, which maps them as gRPC does (httpStatusClass).
func (g *grpcCheck) httpStatus(status int) error {
	err := fmt.Errorf("HTTP status %d instead of a gRPC answer", status)
	switch class, _ := httpStatusClass(status); class { // the classes, with gRPC's own hints
	case Auth:
		return &Error{Class: Auth, Hint: grpcUnauthorizedHint, Err: err}
	case NotReady:
		return &Error{Class: NotReady, Hint: grpcUnavailableHint, Err: err}
	}
	return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: err}
}

// transportError classifies a failed HTTP/2 exchange: the network and TLS classes as every kind; an
// answer that is not HTTP/2 at all is bad_response.
func (g *grpcCheck) transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // "Post \"http://host/grpc.health.v1.Health/Check\": ": the target says where
	}
	if e := streamReset(err); e != nil {
		return e
	}
	c := classified(err)
	switch class := ClassOf(c); {
	case (class == Unknown || class == Reset) && g.notH2.Load():
		// What net/http made of it adds nothing ("http2: client conn could not be established",
		// "EOF", or errNotH2 itself, which read "...not HTTP/2 (the server's first bytes are not an
		// HTTP/2 frame)").
		return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: errNotH2}
	case class == Unknown && h2ConnLost(err.Error()):
		return &Error{Class: Reset, Err: err}
	case class == Unknown:
		if msg := err.Error(); strings.Contains(msg, "http2:") || strings.Contains(msg, "malformed") || strings.Contains(msg, "frame") {
			return &Error{Class: BadResponse, Hint: grpcNotGRPCHint, Err: fmt.Errorf("not an HTTP/2 answer: %w", err)}
		}
	case class == TLS:
		return withTLSHint(c)
	}
	return c
}

// h2ConnLost tells net/http's errors for an HTTP/2 connection that closed under the request, which it
// does not wrap with their cause: before the server's preface (closed or reset at once), or a kept
// connection that died between runs or while the request was sent (a server restart, an idle timeout
// in a proxy, a GOAWAY), or a server that said GOAWAY and closed the connection with the request in
// flight (a shutdown whose grace ran out, a connection past its maximum age). They are reset, retried
// once on a fresh connection like every pooled kind's, not an answer that is not HTTP/2 (the grpc check)
// nor an unknown failure (the http check).
func h2ConnLost(msg string) bool {
	for _, s := range []string{"client conn could not be established", "client conn is closed", "client conn not usable",
		"client connection lost", "client connection force closed", "graceful shutdown GOAWAY",
		"server sent GOAWAY and closed the connection", "Transport received GOAWAY from server"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// holdIdle keeps the idle timer from closing the connection under the run that starts.
func (g *grpcCheck) holdIdle() {
	g.idleMu.Lock()
	defer g.idleMu.Unlock()
	if g.idle != nil {
		g.idle.Stop()
	}
}

// idleAfterRun arms the idle timer at the end of a run: no run for grpcIdleClose, and the kept
// connection is closed.
func (g *grpcCheck) idleAfterRun() {
	g.idleMu.Lock()
	defer g.idleMu.Unlock()
	switch {
	case g.closed:
	case g.idle == nil:
		g.idle = time.AfterFunc(grpcIdleClose, g.transport.CloseIdleConnections)
	default:
		g.idle.Reset(grpcIdleClose)
	}
}

func (g *grpcCheck) close() {
	g.idleMu.Lock()
	g.closed = true
	if g.idle != nil {
		g.idle.Stop()
	}
	g.idleMu.Unlock()
	g.transport.CloseIdleConnections()
}
