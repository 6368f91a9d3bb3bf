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

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/healthgate/healthgate/config"
)

// An amqp check logs in to a RabbitMQ (or any AMQP 0-9-1 broker) with rabbitmq/amqp091-go, the
// client RabbitMQ maintains for Go. The connection is kept between runs (reopened when it fails);
// each run opens a channel on it (channel.open / open-ok, a round trip the broker's channel process
// answers), passively declares the queue when one is configured (queue.declare passive: it reports
// whether the queue exists and never creates it), and closes the channel. A channel per run keeps a
// failed passive declare, which closes its channel, from leaking into the next run; it is one cheap
// round trip on the kept connection, never a new TCP or AMQP login.
//
// A RabbitMQ under a resource alarm (memory or disk) is not visible to this check. RabbitMQ sends
// connection.blocked only to a connection that publishes: its reader blocks a connection when a
// content-bearing method (basic.publish) arrives during an alarm, and not before
// (https://www.rabbitmq.com/docs/connection-blocked). Everything this check sends is answered as usual
// under an alarm, so the check passes. Measured on RabbitMQ 3.10.8 (a private node under a memory
// alarm, then a disk alarm): with the alarm on, login, channel.open, queue.declare passive (found and
// 404), exchange.declare passive, basic.qos, confirm.select, tx.select and heartbeats were all
// answered, no connection.blocked came in 8 s, and `healthgate check --amqp` passed; the first
// basic.publish drew connection.blocked at once. No method without side effects draws it, and the
// check never publishes. The connection.blocked handling below is for a broker that does send it to
// a connection that does not publish (TestAMQPBlocked scripts one); with RabbitMQ it never fires.

// amqpSettings is amqpSpec checked and resolved: what the runs of an amqp check read.
type amqpSettings struct {
	url   string // secrets included: never shown; always amqp:// (this check does TLS itself)
	addr  string // host:port
	queue string
	tls   *tls.Config // nil for amqp://
	// tlsHints name the settings a certificate failure's hint points at: the tls block's, or, where
	// no block is written, amqp091's URL parameters as well.
	tlsHints tlsHints
	timeout  time.Duration
	// external: the URL's auth_mechanism is EXTERNAL alone, a login by the client certificate, which
	// a refusal's hint speaks of instead of the user and password.
	external bool
}

// amqpSpec is an amqp check's own configuration (config.Check.Spec, decoded).
type amqpSpec struct {
	URL   string     `yaml:"url" secret:"true" schema:"minLength=1,form=amqp-url"`
	Queue string     `yaml:"queue" schema:"minLength=1,maxLength=255,form=amqp-queue" desc:"A queue that must exist in the URL's vhost (a passive declare: never created)."`
	TLS   config.TLS `yaml:"tls" plain:"amqp"`
}

// amqpURLProblem says what is wrong with a URL amqp091 refused, in words: its messages can quote the URL
// or a value, so they are not passed on.
func amqpURLProblem(raw string, err error) string {
	const form = "not a valid AMQP URL (amqp://user:password@host:5672/vhost or amqps://...)"
	u, perr := url.Parse(raw)
	msg := err.Error()
	if fixed, ok := schemeless("amqp", raw); ok && perr == nil && u.Opaque != "" {
		return "not a valid AMQP URL: " + noSchemeWords + fixed
	}
	switch {
	case strings.Contains(raw, " "):
		return form + ": it contains a blank (percent-encode it, %20)"
	case perr != nil:
		return urlParseProblem(form, "amqp", raw, perr)
	case u.Scheme != "amqp" && u.Scheme != "amqps":
		return "not a valid AMQP URL: the scheme must be amqp or amqps, not " + strconv.Quote(u.Scheme)
	}
	for _, p := range amqpNumberParams {
		if strings.HasPrefix(msg, p.name+" is not") {
			return form + ": parameter " + p.name + ": " + notWholeNumber + " (" + p.unit + ")"
		}
	}
	return form + ": invalid port after the host"
}

// amqpNumberParams are the parameters of RabbitMQ's URI spec that amqp091 reads as numbers.
var amqpNumberParams = []struct{ name, unit string }{
	{"heartbeat", "seconds, 0 to 65535"}, {"connection_timeout", "milliseconds"}, {"channel_max", "0 to 65535"},
}

func amqpSettingsOf(c config.Check, s *amqpSpec) (amqpSettings, config.Errors) {
	a := amqpSettings{url: s.URL, queue: s.Queue, timeout: c.Timeout}
	if s.URL == "" {
		return a, config.Errors{c.Src.Errorf("url", "required: an amqp:// or amqps:// URL")}
	}
	var errs config.Errors
	uri, err := amqp.ParseURI(s.URL)
	if err != nil {
		return a, config.Errors{c.Src.Errorf("url", "%s", amqpURLProblem(s.URL, err))}
	}
	a.external = len(uri.AuthMechanism) > 0
	for _, m := range uri.AuthMechanism {
		a.external = a.external && strings.EqualFold(m, "EXTERNAL")
		if u := strings.ToUpper(m); u != "PLAIN" && u != "AMQPLAIN" && u != "EXTERNAL" {
			// amqp091 would refuse it at every run and quote it; its parameter's name (auth...) marks
			// it secret, so the value is not echoed here either.
			errs = append(errs, c.Src.Errorf("url", "auth_mechanism: must be plain, amqplain or external (the mechanisms amqp091 speaks)"))
			break
		}
	}
	if strings.TrimSpace(s.Queue) != s.Queue {
		errs = append(errs, c.Src.Errorf("queue", "has leading or trailing spaces: %q", s.Queue))
	}
	if len(s.Queue) > 255 {
		// AMQP 0-9-1 carries it as a short string: amqp091 refuses to write a longer one, at every run.
		errs = append(errs, c.Src.Errorf("queue", "is %d bytes long: a queue name is at most 255 bytes", len(s.Queue)))
	}
	if uri.Scheme == "amqps" {
		// amqp091's own URL parameters for TLS files count where the tls block is silent.
		tc := s.TLS
		fromURL := !tlsGiven(tc)
		if fromURL {
			tc.CAFile, tc.CertFile, tc.KeyFile = uri.CACertFile, uri.CertFile, uri.KeyFile
		}
		cfg, tlsErrs := clientTLS(tc)
		a.tlsHints = blockHints
		if fromURL {
			tlsErrs = amqpURLTLSErrors(c, uri, tlsErrs)
			a.tlsHints = amqpURLTLSHints
		}
		errs = append(errs, tlsErrs...)
		if cfg.ServerName == "" {
			cfg.ServerName = uri.Host
			if uri.ServerName != "" {
				cfg.ServerName = uri.ServerName
			}
		}
		a.tls = noticeCertRequests(cfg, nil)
	} else if tlsWritten(c, s.TLS) { // even an empty block, as for redis://
		errs = append(errs, c.Src.Errorf("tls", "applies to amqps:// URLs; this one is amqp:// (no TLS)"))
	}
	// The check dials and shakes hands itself (bounded by the run, and below the login rewrite), so
	// amqp091 gets the same URL as plain amqp:// with the port made explicit.
	a.addr = net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
	u, err := url.Parse(s.URL)
	if err != nil {
		return a, append(errs, c.Src.Errorf("url", "not a valid AMQP URL"))
	}
	if fixed, ok := schemeless("amqp", s.URL); ok && u.Opaque != "" {
		// amqp:5672, which amqp091 reads as localhost.
		return a, append(errs, c.Src.Errorf("url", "not a valid AMQP URL: %s%s", noSchemeWords, fixed))
	}
	if u.Hostname() == "" {
		// amqp091 takes an empty host for localhost: in a pod, the pod itself.
		errs = append(errs, c.Src.Errorf("url", "not a valid AMQP URL: no host (amqp://user:password@host:5672/vhost)"))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			errs = append(errs, c.Src.Errorf("url", "the port must be a number from 1 to 65535"))
		}
	}
	if strings.Contains(u.EscapedPath(), "@") {
		// A '/' in the user or password ends the user information early: the host is the user's
		// start, and the rest, password included, is taken for the vhost.
		return a, append(errs, c.Src.Errorf("url", "the vhost contains '@': percent-encode the characters @ : / ? # in the user and password (@ is %s, / is %s), and an '@' of the vhost", "%40", "%2F"))
	}
	if cutAtQuery(u) {
		return a, append(errs, c.Src.Errorf("url", "not a valid AMQP URL: %s", cutAtQueryWords))
	}
	u.Scheme, u.Host = "amqp", a.addr
	a.url = u.String()
	return a, errs
}

// amqpURLTLSErrors puts clientTLS's errors about the files that the URL's cacertfile, certfile and
// keyfile parameters name on the url, naming the parameter: as they came, they named a tls block's field
// (ca_file), at no line, for a block that was not written. The path of a parameter named like a secret
// (keyfile), which the target hides, is not shown either.
func amqpURLTLSErrors(c config.Check, uri amqp.URI, errs config.Errors) config.Errors {
	params := map[string][2]string{"ca_file": {"cacertfile", uri.CACertFile}, "cert_file": {"certfile", uri.CertFile}, "key_file": {"keyfile", uri.KeyFile}}
	out := make(config.Errors, 0, len(errs))
	for _, e := range errs {
		p, ok := params[e.Field]
		if !ok {
			out = append(out, e)
			continue
		}
		name, msg := p[0], strings.ReplaceAll(e.Msg, "cert_file and key_file", "certfile and keyfile")
		if rest, cut := strings.CutPrefix(msg, "cannot read "+p[1]+": "); cut && isSecretName(name) {
			msg = "cannot read the file it names: " + rest
		}
		out = append(out, c.Src.Errorf("url", "parameter %s: %s", name, msg))
	}
	return out
}

type amqpCheck struct {
	cfg   amqpSettings
	vhost string

	kept keptConn[*amqp.Connection]
	// blocked holds the reason of a connection.blocked the broker sent on the current connection
	// (a resource alarm: memory or disk), nil when it is not blocked. RabbitMQ never sends one to
	// this connection, which does not publish (see the top of this file).
	blocked atomic.Pointer[string]
	// notAMQP is set when the current connection's first bytes were not AMQP: amqp091 reports the
	// failed read as a frame error or, depending on which of its goroutines is first, as a closed
	// connection, so the verdict is kept for the run.
	notAMQP atomic.Pointer[Error]
	// forced is the broker's connection.close 320 (CONNECTION_FORCED: a node shutting down, put into
	// maintenance mode, or an operator closing it) on the last connection, kept until a connection is
	// made again: a node going away closes its clients between runs and suspends its listeners, and
	// the next run's refused dial is that, not a broker that is not running.
	forced atomic.Pointer[amqpForced]
}

// amqpForced is a connection.close 320 the broker sent, and when.
type amqpForced struct {
	reason string
	at     time.Time
}

// amqpForcedWindow is how long after a forced close a failed dial is still put down to it: a node's
// restart or an upgrade's drain. A broker still not back after that is reported as it is.
const amqpForcedWindow = 5 * time.Minute

func buildAMQP(c config.Check, s *amqpSpec) (prober, string, config.Errors) {
	a, errs := amqpSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	uri, _ := amqp.ParseURI(a.url)
	target := RedactURL(s.URL)
	if a.queue != "" {
		target += " queue " + strconv.Quote(a.queue)
	}
	shut := func(c *amqp.Connection) { _ = c.Close() }
	return &amqpCheck{cfg: a, vhost: uri.Vhost, kept: keptConn[*amqp.Connection]{shut: shut}}, target, nil
}

// Hints of the amqp failures whose class alone would mislead.
const (
	amqpVhostHint     = "the virtual host does not exist, or this user has no permission on it: check the vhost (the URL's path; %2F is \"/\") in %s and the user's permissions (rabbitmqctl list_permissions -p VHOST)"
	amqpLoginHint     = "the broker refused the login: check the user and password in %s (RabbitMQ's guest user may only log in from localhost)"
	amqpQueueHint     = "the queue does not exist in this vhost: check the queue name and vhost, or whether the application that declares it has started"
	amqpQueueDownHint = "the queue exists but is unavailable (its home node is down or unreachable, e.g. in a rolling restart, or its process crashed): check the cluster (rabbitmq-diagnostics cluster_status) and the queue (rabbitmqctl list_queues name state)"
	amqpForcedHint    = "the broker closed the check's connection (320 CONNECTION_FORCED): the node is shutting down (a rolling restart), was put into maintenance mode (rabbitmq-upgrade drain), or an operator closed it; it clears when the node is back, or when %s reaches another node"
	amqpBlockedHint   = "the broker is blocking connections under a resource alarm (memory or disk): it clears when the alarm does (rabbitmq-diagnostics alarms)"
	amqpLimitHint     = "the broker refused the connection at a limit (connections per vhost or user): it clears when other connections close"
	// A limit of 0 is a ban, not a load: nothing closing elsewhere clears it.
	amqpNoConnectionHint = "the broker lets this user or vhost open no connection at all (a connection limit of 0: rabbitmqctl set_user_limits or set_vhost_limits): it never clears by itself; raise the limit, or use another user or vhost in %s"
	amqpChannelLimitHint = "the broker refused the run's channel at this user's channel limit (max-channels, rabbitmqctl set_user_limits): the user's other connections hold that many channels; it clears when they close some (an application that leaks channels never does)"
	amqpNoChannelHint    = "the broker lets this user open no channel at all (max-channels 0: rabbitmqctl set_user_limits): it never clears by itself; raise the limit, or use another user in %s"
	amqpNotAMQPHint      = "the server answered with something that is not AMQP 0-9-1: is this port the broker's AMQP port (5672, or 5671 with amqps://) in %s?"
	// EXTERNAL logs in by the client certificate: no password to check.
	amqpExternalHint = "the broker refused the EXTERNAL login (auth_mechanism=external in %s: the client certificate is the credential): RabbitMQ offers EXTERNAL only with the rabbitmq_auth_mechanism_ssl plugin enabled (and EXTERNAL in auth_mechanisms), over amqps:// with a client certificate signed by a CA it trusts, whose subject (ssl_cert_login_from) names a RabbitMQ user"
	// A close without connection.close during the login or connection.open (amqpHandshakeError).
	amqpLoginClosedHint = "the broker closed the connection at the login without a word (RabbitMQ refuses a login with connection.close ACCESS_REFUSED when asked to, as this check asks): it is restarting or shutting down, or a proxy or load balancer in front of it dropped the connection; a broker that ignores authentication_failure_close closes so on a wrong user or password too: if it persists, check them in %s"
	amqpOpenClosedHint  = "the broker closed the connection at connection.open without a word (RabbitMQ refuses a vhost with connection.close 530): it is restarting or shutting down, or a proxy or load balancer in front of it dropped the connection; if it persists, check the vhost (the URL's path) in %s"
	amqpPlainPortHint   = "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (use amqp:// in %s, or the broker's TLS port, 5671)"
)

func (a *amqpCheck) probe(ctx context.Context) error {
	if err := a.kept.run(ctx, a.connection, a.roundTrip, classifyAMQP); err != nil {
		e := certRefusedHint(ctx, a.failed(ctx, err), a.cfg.tlsHints.clientCert)
		if f := a.forced.Load(); f != nil && time.Since(f.at) < amqpForcedWindow {
			switch ClassOf(e) {
			case Refused, Reset, Timeout:
				cause := e
				if own := (*Error)(nil); errors.As(e, &own) && own.Err != nil {
					cause = own.Err
				}
				return &Error{Class: NotReady, Hint: amqpForcedHint,
					Err: fmt.Errorf("the broker closed the last connection (%s, %s ago), and now: %w", f.reason, time.Since(f.at).Round(time.Second), cause)}
			}
		}
		return e
	}
	if reason := a.blocked.Load(); reason != nil {
		return &Error{Class: NotReady, Err: fmt.Errorf("connection.blocked: %s", *reason), Hint: amqpBlockedHint}
	}
	return nil
}

// roundTrip opens a channel, passively declares the queue when one is configured, and closes the
// channel: nothing is created, published or consumed. amqp091 takes no context: a run cut short closes
// the transport under it (keptConn.run).
func (a *amqpCheck) roundTrip(_ context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		err = fmt.Errorf("opening a channel: %w", err)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotAllowed && strings.Contains(ae.Reason, "limit") {
			// The broker refused channel.open at a limit (and closed the connection: NOT_ALLOWED is a
			// connection exception), not the connection at connection.open.
			if amqpLimit(ae.Reason) == 0 {
				return &Error{Class: Auth, Err: err, Hint: amqpNoChannelHint}
			}
			return &Error{Class: NotReady, Err: err, Hint: amqpChannelLimitHint}
		}
		return err
	}
	if a.cfg.queue != "" {
		if _, err := ch.QueueDeclarePassive(a.cfg.queue, false, false, false, false, nil); err != nil {
			var ae *amqp.Error
			switch {
			case errors.As(err, &ae) && ae.Code == amqp.NotFound && amqpQueueAbsent(ae.Reason):
				// The queue exists but cannot answer: RabbitMQ says 404 for it too, in other words
				// than "no queue" (its home node down, its process crashed or stopped, a timeout).
				// The broker closed the channel.
				return &Error{Class: NotReady, Err: fmt.Errorf("queue %q in vhost %q is unavailable: %s", a.cfg.queue, a.vhost, strings.TrimPrefix(ae.Reason, "NOT_FOUND - ")), Hint: amqpQueueDownHint}
			case errors.As(err, &ae) && ae.Code == amqp.NotFound:
				// The broker closed the channel with its 404.
				return &Error{Class: BadResponse, Err: fmt.Errorf("queue %q not found in vhost %q", a.cfg.queue, a.vhost), Hint: amqpQueueHint}
			case errors.As(err, &ae) && ae.Code == amqp.ResourceLocked:
				// An exclusive queue of another connection: it exists. The broker closed the channel.
				return nil
			}
			_ = ch.Close()
			return fmt.Errorf("queue %q: %w", a.cfg.queue, err)
		}
	}
	if err := ch.Close(); err != nil {
		return fmt.Errorf("closing the channel: %w", err)
	}
	return nil
}

// connection returns the kept connection, dialling one (fresh) when there is none or it closed.
func (a *amqpCheck) connection(ctx context.Context) (conn *amqp.Connection, fresh bool, err error) {
	if conn = a.kept.current(); conn != nil && !conn.IsClosed() {
		return conn, false, nil
	}
	if conn != nil {
		a.kept.drop(conn)
	}
	a.blocked.Store(nil)
	a.notAMQP.Store(nil)
	var wire *amqpConn // set by Dial, before DialConfig returns
	cfg := amqp.Config{
		Heartbeat: 10 * time.Second,
		Properties: amqp.Table{
			"product":         "healthgate",
			"connection_name": "healthgate",
		},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{KeepAlive: 30 * time.Second}
			raw, err := dialContext(ctx, &d, network, addr)
			if err != nil {
				return nil, err
			}
			// The TLS and AMQP handshakes are bounded by the run (amqp091 clears the deadline once
			// the connection is open).
			if dl, ok := ctx.Deadline(); ok {
				_ = raw.SetDeadline(dl)
			}
			a.kept.dialed(ctx, raw)
			var conn net.Conn = raw
			if a.cfg.tls != nil {
				tc := tls.Client(raw, a.cfg.tls.Clone())
				if err := handshake(ctx, tc); err != nil {
					_ = raw.Close()
					// RabbitMQ's plain listener answers a ClientHello with its protocol header.
					if e, ok := plainPortError(ctx, err, amqpPlainPortHint); ok {
						return nil, e
					}
					return nil, fmt.Errorf("TLS handshake: %w", err)
				}
				conn = heard(ctx, tc)
			}
			wire = &amqpConn{Conn: conn, blocked: &a.blocked, notAMQP: &a.notAMQP, forced: &a.forced}
			return wire, nil
		},
	}
	conn, err = amqp.DialConfig(a.cfg.url, cfg)
	if err != nil {
		a.kept.closeRaw()
		return nil, true, amqpHandshakeError(err, wire)
	}
	a.forced.Store(nil)
	a.kept.keep(conn)
	return conn, true, nil
}

// amqpHandshakeError is DialConfig's error, unless it is amqp091's word for a login or a
// connection.open the broker did not answer (ErrCredentials, ErrVhost, which amqp091 returns for any
// failure of those steps that is not the broker's own connection.close) while the transport failed
// under it: reset, closed, or cut at the run's deadline. That is the connection lost, not credentials
// or a vhost refused (a broker restarting, a proxy dropping the connection, a hung broker). The login
// asks for authentication_failure_close, so a broker refuses credentials, as a vhost, with a
// connection.close, which amqp091 returns as it came; a close without one is said as such, its hint
// naming the broker that ignores the capability as the last cause.
func amqpHandshakeError(err error, wire *amqpConn) error {
	if wire == nil || !errors.Is(err, amqp.ErrCredentials) && !errors.Is(err, amqp.ErrVhost) { // the fallbacks themselves, not the broker's replies
		return err
	}
	lost := wire.lost.Load()
	if lost == nil {
		return err
	}
	step, hint := "the login (start-ok)", amqpLoginClosedHint
	if errors.Is(err, amqp.ErrVhost) {
		step, hint = "connection.open", amqpOpenClosedHint
	}
	if errors.Is(*lost, io.EOF) {
		return &Error{Class: Reset, Hint: hint, Err: fmt.Errorf("the broker closed the connection at %s without a word (no connection.close): %w", step, *lost)}
	}
	return fmt.Errorf("%s unanswered: %w", step, *lost)
}

// failed classifies a run's error and drops the connection unless the failure was the broker's
// answer on a connection that stays open (a missing or unavailable queue closes only its channel).
func (a *amqpCheck) failed(ctx context.Context, err error) error {
	reason := a.blocked.Load()
	e := classifyAMQP(err)
	if bad := a.notAMQP.Load(); bad != nil {
		e = bad
	}
	if own := (*Error)(nil); a.cfg.external && errors.As(e, &own) && own.Hint == amqpLoginHint {
		own.Hint = amqpExternalHint
	}
	var own *Error
	answered := ClassOf(e) == BadResponse || errors.As(e, &own) && own.Hint == amqpQueueDownHint // a channel's 404
	if conn := a.kept.current(); conn != nil && (!answered || ctx.Err() != nil || conn.IsClosed()) {
		a.kept.drop(conn)
	}
	if reason != nil && (ClassOf(e) == Timeout || ctx.Err() != nil) {
		// A blocked broker stops reading from the connection: the run waits, and that is the alarm.
		return &Error{Class: NotReady, Err: fmt.Errorf("connection.blocked (%s): no answer within the timeout", *reason), Hint: amqpBlockedHint, past: true}
	}
	return withTLSHints(e, a.cfg.tlsHints)
}

// amqpURLTLSHints: without a tls block, an amqps:// check's certificates may come from amqp091's URL
// parameters (cacertfile, certfile, keyfile, server_name_indication), as RabbitMQ's URI spec has them;
// the hints name those as well as the block, where they named the block alone.
var amqpURLTLSHints = tlsHints{
	unknownCA:  "the server's certificate is signed by an authority this check does not trust: name that CA with cacertfile= in %s or in a tls block's ca_file (or fix the chain the server sends)",
	hostname:   "the server's certificate does not name the host in %s: connect by a name it holds, or set server_name_indication= in it (or a tls block's server_name) to one",
	clientCert: "the server rejected this check's client certificate, or wants one: set certfile= and keyfile= in %s, or a tls block's cert_file and key_file, to a certificate signed by a CA the server trusts",
}

// classifyAMQP sorts amqp091's errors. It reports transport failures as an *amqp.Error whose reason
// is the read error's text (code 501), so those are recognised by their words.
func classifyAMQP(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err // classified by the round trip (a refused channel wraps the broker's own error)
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return classified(err)
	}
	switch ae.Code {
	case amqp.AccessRefused:
		if ae == amqp.ErrVhost {
			// The broker closed the socket on connection.open without a word.
			return &Error{Class: Auth, Err: err, Hint: amqpVhostHint}
		}
		return &Error{Class: Auth, Err: err, Hint: amqpLoginHint}
	case amqp.NotAllowed:
		// connection.open refused: a vhost that does not exist or that the user may not use, or a
		// connection limit.
		if strings.Contains(ae.Reason, "limit") {
			if amqpLimit(ae.Reason) == 0 {
				return &Error{Class: Auth, Err: err, Hint: amqpNoConnectionHint}
			}
			return &Error{Class: NotReady, Err: err, Hint: amqpLimitHint}
		}
		return &Error{Class: Auth, Err: err, Hint: amqpVhostHint}
	case amqp.ConnectionForced:
		return &Error{Class: NotReady, Err: err, Hint: amqpForcedHint} // the broker is shutting down, or an operator closed it
	case amqp.ResourceError:
		return &Error{Class: NotReady, Err: err}
	case amqp.NotFound:
		return &Error{Class: BadResponse, Err: err}
	case amqp.ChannelError:
		if ae == amqp.ErrClosed || strings.Contains(ae.Reason, "not open") {
			return &Error{Class: Reset, Err: fmt.Errorf("the connection closed: %w", err)}
		}
	case amqp.FrameError:
		switch r := ae.Reason; {
		case strings.Contains(r, "i/o timeout"), strings.Contains(r, "deadline exceeded"):
			return &Error{Class: Timeout, Err: err}
		case r == "EOF", strings.Contains(r, "unexpected EOF"), strings.Contains(r, "connection reset"),
			strings.Contains(r, "broken pipe"), strings.Contains(r, "use of closed network connection"):
			return &Error{Class: Reset, Err: err}
		case strings.Contains(r, "tls: "):
			return &Error{Class: TLS, Err: err}
		}
		return &Error{Class: BadResponse, Err: fmt.Errorf("not an AMQP 0-9-1 answer: %w", err), Hint: amqpNotAMQPHint}
	case amqp.SyntaxError, amqp.CommandInvalid, amqp.UnexpectedFrame:
		return &Error{Class: BadResponse, Err: fmt.Errorf("not an AMQP 0-9-1 answer: %w", err), Hint: amqpNotAMQPHint}
	}
	return &Error{Class: BadResponse, Err: err}
}

// amqpQueueAbsent reports whether a 404's reason is RabbitMQ's for a queue that exists but cannot
// answer (rabbit_amqqueue's priv_absent: "home node ... of durable queue ... is down or inaccessible",
// "... has crashed and failed to restart", "... process is stopped by supervisor", "failed to perform
// operation on ... due to timeout"), not for one that does not exist ("no queue 'x' in vhost 'v'").
func amqpQueueAbsent(reason string) bool {
	r := strings.TrimPrefix(reason, "NOT_FOUND - ")
	return !strings.HasPrefix(r, "no queue ") && (strings.Contains(r, "down or inaccessible") ||
		strings.Contains(r, "crashed") || strings.Contains(r, "stopped") || strings.Contains(r, "timeout"))
}

// amqpLimit is the limit RabbitMQ names in a refusal at one, the last number in parentheses ("user
// connection limit (0) is reached", "has reached the maximum allowed user limit of (0)"), or -1.
func amqpLimit(reason string) int {
	end := strings.LastIndex(reason, ")")
	start := strings.LastIndex(reason[:max(end, 0)], "(")
	if start < 0 || end < 0 {
		return -1
	}
	n, err := strconv.Atoi(reason[start+1 : end])
	if err != nil {
		return -1
	}
	return n
}

// close says goodbye (connection.close) and waits for the close-ok at most min(timeout, 2 s), then for
// the client's goroutines. CloseDeadline's deadline on the socket is not enough of a bound: amqp091's
// heartbeater pushes the read deadline back after each frame read (a broker's heartbeat, or the last
// run's answer read just before), and the close then waited for the client's next heartbeat to fail,
// up to 5 s. The transport is closed under it at the bound.
func (a *amqpCheck) close() {
	wait := min(a.cfg.timeout, 2*time.Second)
	a.kept.close(func(c *amqp.Connection) { _ = c.CloseDeadline(time.Now().Add(wait)) }, wait)
}

// amqpConn is the transport under amqp091, watching the frames both ways.
//
// Writing, it adds authentication_failure_close to the capabilities of the connection.start-ok frame
// (the login), which amqp091 fixes itself. With it RabbitMQ refuses a wrong user or password at once,
// with a connection.close saying ACCESS_REFUSED; without it, it closes the socket silently after 3 s
// (https://www.rabbitmq.com/docs/auth-notification), which a check whose timeout is 2 s would report
// as a timeout. A frame that is not exactly the expected start-ok is written unchanged.
//
// Reading, it notes connection.blocked and connection.unblocked. amqp091's NotifyBlocked can only be
// registered once DialConfig returned, and a broker that sends connection.blocked unprompted may do so
// right after open-ok, before that: reading the frames misses none. (RabbitMQ sends it only after a
// publish, which this check never makes.)
//
// It also checks the first bytes the broker sends: a method frame on channel 0 (connection.start:
// 01 00 00) or, refusing our protocol version, the protocol header it speaks ("AMQP"). Anything else
// (another protocol on the port, a banner) fails the read at once, recorded in notAMQP.
type amqpConn struct {
	net.Conn
	loggedIn bool // the login went out: writes pass through untouched
	writes   int
	blocked  *atomic.Pointer[string]
	forced   *atomic.Pointer[amqpForced]
	frames   amqpFrames
	notAMQP  *atomic.Pointer[Error]
	head     [8]byte // the first bytes read (amqp091 reads on one goroutine)
	n        int
	err      error
	// lost is the transport's first read error (a reset, EOF, the run's deadline): what a failed
	// handshake's error, in amqp091's words, does not say (amqpHandshakeError).
	lost atomic.Pointer[error]
}

var (
	amqpCapabilitiesKey = []byte("\x0ccapabilitiesF")
	amqpFailureClose    = append(append([]byte{28}, "authentication_failure_close"...), 't', 1)
)

func (c *amqpConn) Write(p []byte) (int, error) {
	if c.loggedIn {
		return c.Conn.Write(p)
	}
	c.writes++
	out, ok := withFailureClose(p)
	if !ok {
		// The login is the second write (after the protocol header): past it, nothing to rewrite.
		c.loggedIn = c.writes >= 3
		return c.Conn.Write(p)
	}
	c.loggedIn = true
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *amqpConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if err != nil {
		c.lost.CompareAndSwap(nil, &err)
	}
	if c.n < 4 && n > 0 {
		c.n += copy(c.head[c.n:], p[:n])
		h := c.head[:c.n]
		if !bytes.HasPrefix([]byte{1, 0, 0}, h[:min(len(h), 3)]) && !bytes.HasPrefix([]byte("AMQP"), h[:min(len(h), 4)]) {
			e := &Error{Class: BadResponse, Hint: amqpNotAMQPHint, Err: fmt.Errorf("not an AMQP 0-9-1 answer: the server's first bytes are %q", h)}
			c.err = e
			c.notAMQP.Store(e)
			return 0, e
		}
	}
	c.frames.feed(p[:n], c.connectionMethod)
	return n, err
}

// connectionMethod sees each method frame on channel 0.
func (c *amqpConn) connectionMethod(payload []byte) {
	switch {
	case len(payload) >= 5 && bytes.Equal(payload[:4], []byte{0, 10, 0, 60}): // connection.blocked
		reason := string(payload[5:min(len(payload), 5+int(payload[4]))])
		if reason == "" {
			reason = "no reason given"
		}
		c.blocked.Store(&reason)
	case len(payload) >= 4 && bytes.Equal(payload[:4], []byte{0, 10, 0, 61}): // connection.unblocked
		c.blocked.Store(nil)
	case len(payload) >= 7 && bytes.Equal(payload[:4], []byte{0, 10, 0, 50}) && payload[4] == 320>>8 && payload[5] == 320&0xff:
		// connection.close 320 CONNECTION_FORCED: reply-code, reply-text
		reason := string(payload[7:min(len(payload), 7+int(payload[6]))])
		if reason == "" {
			reason = "CONNECTION_FORCED"
		}
		c.forced.Store(&amqpForced{reason: reason, at: time.Now()})
	}
}

// amqpFrames splits the bytes read into AMQP frames (type, channel, size, payload, 0xCE), keeping the
// small method frames of channel 0 whole and skipping the rest.
type amqpFrames struct {
	buf  []byte
	skip int
}

func (f *amqpFrames) feed(p []byte, method func(payload []byte)) {
	const header = 7
	for len(p) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(p))
			f.skip -= n
			p = p[n:]
			continue
		}
		need := header
		if len(f.buf) >= header {
			need = header + int(be32(f.buf[3:])) + 1
		}
		take := min(need-len(f.buf), len(p))
		f.buf = append(f.buf, p[:take]...)
		p = p[take:]
		switch {
		case len(f.buf) == header:
			if size := be32(f.buf[3:]); f.buf[0] != 1 || f.buf[1] != 0 || f.buf[2] != 0 || size > 4096 {
				f.skip = int(size) + 1
				f.buf = f.buf[:0]
			}
		case len(f.buf) == need && need > header:
			method(f.buf[header : need-1])
			f.buf = f.buf[:0]
		}
	}
}

// withFailureClose rewrites one whole start-ok frame; ok is false for anything else.
func withFailureClose(p []byte) ([]byte, bool) {
	const header = 7 // type, channel, size
	if len(p) < header+4+4 || p[0] != 1 || p[1] != 0 || p[2] != 0 {
		return nil, false
	}
	size := int(be32(p[3:]))
	if len(p) != header+size+1 || p[len(p)-1] != 0xCE || !bytes.Equal(p[header:header+4], []byte{0, 10, 0, 11}) {
		return nil, false
	}
	propsLen := header + 4 // the client-properties table's length
	props := p[propsLen+4 : min(len(p), propsLen+4+int(be32(p[propsLen:])))]
	i := bytes.Index(props, amqpCapabilitiesKey)
	if i < 0 {
		return nil, false
	}
	capsLen := propsLen + 4 + i + len(amqpCapabilitiesKey) // the capabilities table's length
	if capsLen+4 > len(p) {
		return nil, false
	}
	n := uint32(len(amqpFailureClose))
	out := make([]byte, 0, len(p)+len(amqpFailureClose))
	out = append(out, p[:capsLen+4]...)
	out = append(out, amqpFailureClose...)
	out = append(out, p[capsLen+4:]...)
	putBE32(out[3:], uint32(size)+n)
	putBE32(out[propsLen:], be32(p[propsLen:])+n)
	putBE32(out[capsLen:], be32(p[capsLen:])+n)
	return out, true
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func putBE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
