package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/healthgate/healthgate/config"
)

// A nats check keeps one connection to a NATS server, made with nats-io/nats.go (the NATS maintainers'
// client: INFO/CONNECT, auth, TLS upgrade and PING/PONG are its protocol). nats.go's own reconnect
// loop is off: a lost connection is redialled by the next run, inside its deadline, so a failing
// server sees one connect per run and never a background retry storm. Each run is a PING/PONG round
// trip (FlushWithContext), and with jetstream: true the JetStream account information ($JS.API.INFO)
// must answer.

// natsSettings is natsSpec checked and resolved: what the runs of a nats check read.
type natsSettings struct {
	url       string // secrets included: never shown
	jetstream bool
	tls       *tls.Config // nil unless a tls block is given or the URL is tls://
	tlsBlock  bool        // TLS is on by the tls block alone: the URL is nats://
}

// natsSpec is a nats check's own configuration (config.Check.Spec, decoded).
type natsSpec struct {
	URL       string     `yaml:"url" secret:"true" schema:"minLength=1,form=nats-url"`
	JetStream bool       `yaml:"jetstream" desc:"JetStream's account info must answer too."`
	TLS       config.TLS `yaml:"tls"`
}

func natsSettingsOf(c config.Check, s *natsSpec) (natsSettings, config.Errors) {
	n := natsSettings{url: s.URL, jetstream: s.JetStream}
	if s.URL == "" {
		return n, config.Errors{c.Src.Errorf("url", "required: a nats:// or tls:// URL")}
	}
	if strings.Contains(s.URL, ",") {
		return n, config.Errors{c.Src.Errorf("url", "one server URL: a check asks one server (write one check per server of a cluster)")}
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return n, config.Errors{c.Src.Errorf("url", "%s", urlParseProblem("not a valid NATS URL (nats://[user:password@]host:4222, nats://token@host:4222 or tls://...)", "nats", s.URL, err))}
	}
	if fixed, ok := schemeless("nats", s.URL); ok && u.Opaque != "" {
		return n, config.Errors{c.Src.Errorf("url", "not a valid NATS URL: %s%s", noSchemeWords, fixed)}
	}
	var errs config.Errors
	switch u.Scheme {
	case "nats", "tls":
	default:
		errs = append(errs, c.Src.Errorf("url", "not a valid NATS URL: the scheme must be nats or tls, not %q", u.Scheme))
	}
	if u.Hostname() == "" {
		errs = append(errs, c.Src.Errorf("url", "not a valid NATS URL: no host (nats://host:4222)"))
	}
	if cutUserinfo(u) {
		// nats://TOKEN/x@nats:4222: an unescaped '/' ended the user information, and the token's start
		// became the host (or the password's first digits the port), which the dial's errors quote.
		errs = append(errs, c.Src.Errorf("url", "not a valid NATS URL: an '@' after the host: percent-encode the characters @ : / ? # in the user, password or token (@ is %s, / is %s)", "%40", "%2F"))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			errs = append(errs, c.Src.Errorf("url", "the port must be a number from 1 to 65535"))
		}
	}
	if u.Scheme == "tls" || tlsWritten(c, s.TLS) { // a block, even `tls: {}`, turns TLS on, as for grpc
		cfg, tlsErrs := clientTLS(s.TLS)
		errs = append(errs, tlsErrs...)
		n.tls = cfg
		n.tlsBlock = u.Scheme != "tls"
	}
	return n, errs
}

type natsCheck struct {
	cfg  natsSettings
	kept keptConn[*nats.Conn]
	// denied carries the kept connection's permissions violations: the server answers a request it
	// does not allow with an asynchronous -ERR, and the reply never comes (nats.go hands the -ERR to
	// the error handler only). A run waiting on that reply reads it here instead of waiting out its
	// timeout. Set with each new connection, read by the runs (one at a time).
	denied chan error
	// lameDuck is the kept connection when its server announced lame duck mode (an INFO with ldm: it
	// accepts no new connection and closes its clients, a rolling restart's shutdown); ldmAt (unix
	// nanoseconds, 0 for none) is when, kept until a new connection is made, so the runs after the
	// server closed ours still say why, for at most natsLameDuckWindow.
	lameDuck atomic.Pointer[nats.Conn]
	ldmAt    atomic.Int64
}

func buildNATS(c config.Check, s *natsSpec) (prober, string, config.Errors) {
	n, errs := natsSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	target := RedactURL(s.URL)
	if n.jetstream {
		target += " (jetstream)"
	}
	return &natsCheck{cfg: n, kept: keptConn[*nats.Conn]{shut: (*nats.Conn).Close}}, target, nil
}

// natsLameDuckWindow is how long after a lame duck notice a failed dial is still put down to it: the
// server's lame_duck_duration (2 min by default) and a restart. A server still not back after that is
// not restarting: the failure says what it is (refused, timeout).
const natsLameDuckWindow = 5 * time.Minute

// Hints of the nats failures whose class alone would mislead.
const (
	natsAuthHint         = "the server refused this client (authorization violation): check the user and password or token in %s, and the server's authorization block"
	natsNoJetStreamHint  = "the server runs without JetStream: start it with -js (or jetstream {} in its config), or drop jetstream: true if the application does not use it"
	natsDeniedHint       = "the server does not let this user ask JetStream (a permissions violation): allow it to publish to $JS.API.INFO and to subscribe to _INBOX.> in the server's authorization block, or drop jetstream: true"
	natsJSAccountHint    = "JetStream is enabled on the server but not for this account: give the account jetstream limits in the server's config"
	natsTLSRequiredHint  = "the server requires TLS: use a tls:// URL in %s (or give a tls block)"
	natsTLSNotOfferedHnt = "this check wants TLS but the server does not offer it: use nats:// in %s, or enable TLS on the server"
	// The same when TLS is on by the check's tls block, its URL nats:// already.
	natsTLSBlockNotOfferedHint = "this check wants TLS (its tls block) but the server does not offer it: remove the tls block (the url is nats:// already), or enable TLS on the server"
	natsMaxConnHint            = "the server is at its connection limit (max_connections): it clears when other clients disconnect"
	natsLameDuckHint           = "the server is in lame duck mode (shutting down: a rolling restart, or nats-server --signal ldm): it accepts no new connection and closes its clients; it clears when it is back, or when %s reaches another server"
	natsNotNATSHint            = "the server does not speak NATS: is this port a NATS server's client port (4222, not its monitoring or cluster port) in %s?"
)

// natsDialer dials for nats.go inside a run: traced, bounded by the run, and remembered so that the
// run can close it when cut short.
type natsDialer struct {
	ctx  context.Context
	n    *natsCheck
	last error // the last dial error: nats.go reports a refused dial as "no servers available"
	// connecting is set while nats.Connect runs: the connection is the connecting goroutine's alone.
	// full is set when the server said then that it is at its connection limit (natsLimitConn).
	connecting, full atomic.Bool
}

func (d *natsDialer) Dial(network, address string) (net.Conn, error) {
	var nd net.Dialer
	raw, err := dialContext(d.ctx, &nd, network, address)
	if err != nil {
		d.last = err
		return nil, err
	}
	d.n.kept.dialed(d.ctx, raw)
	return &natsLimitConn{Conn: &firstBytesConn{Conn: raw, judge: natsGreeting, greets: dialedServerFirst(d.ctx)}, d: d}, nil
}

// natsFullLine is what nats-server writes to a new connection, after its INFO, when it is at its
// max_connections, before it closes the connection.
var natsFullLine = []byte("-err '" + nats.MAX_CONNECTIONS_ERR + "'")

// natsLimitConn notes, while the connection is being made, a server at its connection limit. nats.go
// reads the INFO and the -ERR after it together, and then fails to write its CONNECT to the closed
// connection (broken pipe): the run said reset, "closed right after it opened". When nats.go does read
// the -ERR, its error does not match nats.ErrMaxConnectionsExceeded either.
type natsLimitConn struct {
	net.Conn
	d *natsDialer
}

func (c *natsLimitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.d.connecting.Load() && bytes.Contains(bytes.ToLower(p[:n]), natsFullLine) {
		c.d.full.Store(true)
	}
	return n, err
}

// Write reads, when a write of the connect fails, what the socket still holds, briefly: the -ERR of a
// server that closed the connection may not have been read yet.
func (c *natsLimitConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && c.d.connecting.Load() && !c.d.full.Load() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var buf [256]byte
		m, _ := io.ReadAtLeast(c.Conn, buf[:], len(natsFullLine))
		if bytes.Contains(bytes.ToLower(buf[:m]), natsFullLine) {
			c.d.full.Store(true)
		}
	}
	return n, err
}

// natsGreeting judges the first byte the server sends (firstBytesConn): a NATS server speaks first,
// with INFO (or -ERR, when it refuses the connection; a TLS record, when it wants the handshake first).
// nats.go reads that line up to its line ending.
func natsGreeting(head []byte) error {
	if head[0] == 'I' || head[0] == 'i' || head[0] == '-' || head[0] == 0x16 {
		return nil
	}
	return &Error{Class: BadResponse, Hint: natsNotNATSHint,
		Err: fmt.Errorf("not a NATS server: the server's first bytes %q are not INFO", truncate(string(head), 16))}
}

func (n *natsCheck) probe(ctx context.Context) error {
	if conn := n.kept.current(); conn != nil && n.lameDuck.Load() == conn {
		// The server is going away: ask afresh (behind a Service, another server answers).
		n.kept.drop(conn)
	}
	err := n.kept.run(ctx, n.connection, n.roundTrip, classifyNATS)
	if err == nil {
		return nil
	}
	e := n.failed(ctx, err)
	if at := n.ldmAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < natsLameDuckWindow {
		switch ClassOf(e) {
		case Refused, Reset, Timeout:
			cause := e
			if own := (*Error)(nil); errors.As(e, &own) && own.Err != nil {
				cause = own.Err
			}
			return &Error{Class: NotReady, Err: fmt.Errorf("the server announced lame duck mode: %w", cause), Hint: natsLameDuckHint}
		}
	}
	return e
}

func (n *natsCheck) roundTrip(ctx context.Context, conn *nats.Conn) error {
	if err := conn.FlushWithContext(ctx); err != nil {
		return err
	}
	if !n.cfg.jetstream {
		return nil
	}
	ctx, stop := n.untilDenied(ctx)
	defer stop()
	if err := n.accountInfo(ctx, conn); err != nil {
		if denied := context.Cause(ctx); errors.Is(denied, nats.ErrPermissionViolation) {
			return fmt.Errorf("jetstream account info: %w", denied)
		}
		return err
	}
	return nil
}

// untilDenied returns ctx cut short by the first permissions violation the server reports from now on,
// and the function that ends the watch (and waits for it).
func (n *natsCheck) untilDenied(ctx context.Context) (context.Context, func()) {
	for len(n.denied) > 0 { // a violation reported between runs is not this run's
		<-n.denied
	}
	ctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case err := <-n.denied:
			cancel(err)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil); <-watched }
}

func (n *natsCheck) accountInfo(ctx context.Context, conn *nats.Conn) error {
	js, err := conn.JetStream(nats.Context(ctx))
	if err != nil {
		return err
	}
	if _, err := js.AccountInfo(nats.Context(ctx)); err != nil {
		return fmt.Errorf("jetstream account info: %w", err)
	}
	return nil
}

func (n *natsCheck) connection(ctx context.Context) (*nats.Conn, bool, error) {
	conn := n.kept.current()
	if conn != nil && conn.IsConnected() {
		return conn, false, nil
	}
	if conn != nil {
		n.kept.drop(conn)
	}
	timeout := remaining(ctx)
	d := &natsDialer{ctx: ctx, n: n}
	denied := make(chan error, 1)
	n.denied = denied
	opts := []nats.Option{
		nats.Name("healthgate"),
		nats.NoReconnect(),
		nats.Timeout(timeout), // the connect handshake (INFO, CONNECT, PING/PONG), within the run
		nats.SetCustomDialer(d),
		// nats.go resolves the name itself (without the run's context) and gives our dialer its addresses
		// one by one, shuffled, each with the run's whole time: a first address that drops every packet
		// took it all. The name goes to the dialer, which shares the time among them (dialAddrs).
		nats.SkipHostLookup(),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { // not nats.go's stderr lines
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case denied <- err:
				default: // one is enough
				}
			}
		}),
		nats.NoEcho(),
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			n.lameDuck.Store(nc)
			n.ldmAt.Store(time.Now().UnixNano())
		}),
	}
	if n.cfg.tls != nil {
		opts = append(opts, nats.Secure(n.cfg.tls.Clone()))
	}
	d.connecting.Store(true)
	conn, err := nats.Connect(n.cfg.url, opts...)
	d.connecting.Store(false)
	if err != nil {
		n.kept.closeRaw()
		if errors.Is(err, nats.ErrNoServers) && d.last != nil {
			err = d.last
		}
		if d.full.Load() {
			err = &Error{Class: NotReady, Hint: natsMaxConnHint, Err: fmt.Errorf("nats: %s (the server's answer to a new connection, which it then closed)", nats.MAX_CONNECTIONS_ERR)}
		}
		return nil, true, err
	}
	n.ldmAt.Store(0)
	n.kept.keep(conn)
	return conn, true, nil
}

// failed classifies a run's error and drops the connection unless the server answered on a connection
// that stays usable: JetStream missing is an answer, and so is a publish the user may not make (the
// next run publishes again and hears the same). A subscription refused is refused once: the
// connection's reply subscription is dead, and only a new connection asks the server again.
func (n *natsCheck) failed(ctx context.Context, err error) error {
	e := classifyNATS(err)
	if ce := (*Error)(nil); n.cfg.tlsBlock && errors.As(e, &ce) && ce.Hint == natsTLSNotOfferedHnt {
		ce.Hint = natsTLSBlockNotOfferedHint // "use nats://" to a check whose URL is nats:// already
	}
	answered := ClassOf(e) == BadResponse ||
		errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "for Subscription")
	if conn := n.kept.current(); conn != nil && (!answered || ctx.Err() != nil || !conn.IsConnected()) {
		n.kept.drop(conn)
	}
	return withTLSHint(e)
}

// natsConnectLine starts the client's CONNECT (nats.go writes it so).
const natsConnectLine = "CONNECT {"

func classifyNATS(err error) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); strings.Contains(msg, natsConnectLine) {
		// A server that sends back what it gets returns the client's CONNECT, whose JSON holds the
		// password or the token; nats.go quotes it ("expected 'PONG', got 'CONNECT {...}'"). Only the
		// verb is kept, and none of the chain.
		i := strings.Index(msg, natsConnectLine)
		return &Error{Class: BadResponse, Hint: natsNotNATSHint,
			Err: errors.New(msg[:i] + "CONNECT ...' (the check's own CONNECT, sent back)")}
	}
	var api *nats.APIError
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return &Error{Class: Auth, Err: err, Hint: natsAuthHint}
	case errors.Is(err, nats.ErrPermissionViolation):
		return &Error{Class: Auth, Err: err, Hint: natsDeniedHint}
	case errors.Is(err, nats.ErrJetStreamNotEnabledForAccount):
		return &Error{Class: BadResponse, Err: err, Hint: natsJSAccountHint}
	case errors.Is(err, nats.ErrJetStreamNotEnabled):
		return &Error{Class: BadResponse, Err: err, Hint: natsNoJetStreamHint}
	case errors.As(err, &api) && api.Code == 503:
		return &Error{Class: NotReady, Err: err} // JetStream temporarily unavailable (no meta leader yet)
	case errors.Is(err, nats.ErrMaxConnectionsExceeded), errors.Is(err, nats.ErrMaxAccountConnectionsExceeded):
		return &Error{Class: NotReady, Err: err, Hint: natsMaxConnHint}
	case errors.Is(err, nats.ErrSecureConnRequired):
		return &Error{Class: TLS, Err: err, Hint: natsTLSRequiredHint}
	case errors.Is(err, nats.ErrSecureConnWanted):
		return &Error{Class: TLS, Err: err, Hint: natsTLSNotOfferedHnt}
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &Error{Class: Timeout, Err: err}
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrStaleConnection),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrConnectionDraining):
		return &Error{Class: Reset, Err: err}
	case errors.Is(err, nats.ErrNoInfoReceived), errors.Is(err, nats.ErrJsonParse):
		return &Error{Class: BadResponse, Err: fmt.Errorf("not a NATS server: %w", err), Hint: natsNotNATSHint}
	}
	e := classified(err)
	if ClassOf(e) == Unknown {
		if strings.HasPrefix(err.Error(), "nats: ") {
			return &Error{Class: BadResponse, Err: err} // the server's -ERR, or a protocol line nats.go refused
		}
	}
	return e
}

func (n *natsCheck) close() { n.kept.close((*nats.Conn).Close, 0) }
