package checks

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"

	"github.com/healthgate/healthgate/config"
)

// The `tls:` block (ca_file, cert_file, key_file, server_name, insecure_skip_verify) is one block for
// every kind that speaks TLS (http with https://, redis with rediss://, amqp, nats, mqtt, grpc,
// memcached, mysql, postgres), built by clientTLS.

// tlsGiven reports whether a check's configuration sets anything in its tls block.
func tlsGiven(t config.TLS) bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// tlsWritten reports whether a check's configuration has a tls block at all, even an empty one
// (tls: {}: TLS with the system's CAs): for the kinds whose target has no TLS scheme (memcached's
// address, grpc's written as host:port, mysql, postgres), the block is what turns TLS on.
func tlsWritten(c config.Check, t config.TLS) bool {
	return c.Src.IsSet("tls") || t.Src.File != "" || tlsGiven(t)
}

// Hints for the certificate failures a tls block can fix; %s is where the target came from.
const (
	unknownCAHint = "the server's certificate is signed by an authority this check does not trust: give that CA in tls.ca_file (or fix the chain the server sends)"
	hostnameHint  = "the server's certificate does not name the host in %s: connect by a name it holds, or set tls.server_name to one"
	// A date, not a setting: the same for every kind and every way of giving TLS settings.
	expiredHint    = "the server's certificate (or one of its chain) has expired or is not valid yet (the error gives the dates): renew it on the server (cert-manager, the CA); if the dates look right, this machine's clock is wrong"
	clientCertHint = "the server rejected this check's client certificate, or wants one: set tls.cert_file and tls.key_file to a certificate signed by a CA the server trusts"
)

// oldVersionHint: a server's setting, not the check's; every kind takes TLS 1.2 at least, as current
// clients do.
const oldVersionHint = "the server speaks only a TLS version older than TLS 1.2 (1.0 or 1.1), which this check refuses, as current clients do: enable TLS 1.2 or 1.3 on the server (or on the proxy that terminates its TLS)"

// tlsHints are the hints for the certificate failures a setting can fix, each naming that setting.
type tlsHints struct{ unknownCA, hostname, clientCert string }

// blockHints name the tls block's fields.
var blockHints = tlsHints{unknownCAHint, hostnameHint, clientCertHint}

// withTLSHint gives a tls-class error the hint that names the tls setting to look at, when the cause is
// one a tls block can fix; anything else is returned as it is.
func withTLSHint(err error) error { return withTLSHints(err, blockHints) }

// withTLSHints is withTLSHint with the hints of another set of settings (libpq's URL parameters).
func withTLSHints(err error, h tlsHints) error {
	var e *Error
	if !errors.As(err, &e) || e.Class != TLS || e.Hint != "" {
		return err
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch msg := err.Error(); {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		e.Hint = expiredHint
	case errors.As(err, &unknownCA):
		e.Hint = h.unknownCA
	case errors.As(err, &hostname), strings.Contains(msg, "remote error: tls: unrecognized name"):
		// The alert: the server serves no certificate for the name the check sent (SNI), or sent none
		// (an IP address), and refuses the handshake (nginx's ssl_reject_handshake).
		e.Hint = h.hostname
	case strings.Contains(msg, "tls: protocol version not supported"), strings.Contains(msg, "tls: server selected unsupported protocol version"):
		// The server's alert to a ClientHello of TLS 1.2 and 1.3 (Go's servers), or its own choice of
		// an older version (OpenSSL's).
		e.Hint = oldVersionHint
	case strings.Contains(msg, "tls: certificate required"), strings.Contains(msg, "tls: bad certificate"),
		strings.Contains(msg, "tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: expired certificate"), strings.Contains(msg, "remote error: tls: revoked certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate"), strings.Contains(msg, "remote error: tls: unsupported certificate"):
		// The server's alerts about the client's certificate (TLS 1.3 sends them after the
		// handshake, so they surface on the first read): one it does not trust, or that has expired
		// (a rotation that did not happen), was revoked, or is not for client authentication.
		e.Hint = h.clientCert
	}
	return err
}

// plainPortError is the failure of a client's TLS handshake with a port that does not speak TLS: it
// answered the ClientHello with something else (a record that is not TLS: RabbitMQ's protocol header, an
// HTTP server's status line or error page) or closed the connection on it (Mosquitto, Redis, a database),
// before the run's deadline. hint says what to use instead; ok is false for any other failure.
func plainPortError(ctx context.Context, err error, hint string) (e *Error, ok bool) {
	var rec tls.RecordHeaderError
	if ctx.Err() != nil || !(errors.As(err, &rec) || ClassOf(err) == Reset) {
		return nil, false
	}
	if t := traceOf(ctx); t != nil && t.certAsked.Load() {
		// The server spoke TLS, far enough to ask for a client certificate: a reset then is its
		// refusal of it, the alert lost (certRefused).
		return nil, false
	}
	return &Error{Class: TLS, Hint: hint, Err: fmt.Errorf("TLS handshake: %w", err)}, true
}

// tlsKey is what of a tls block shapes a client, for a shared client's key (shared.go): its settings and
// the contents of the files it names, so a check built after a certificate was renewed does not join
// a client built with the old one.
func tlsKey(t config.TLS) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name=%q insecure=%t", t.ServerName, t.InsecureSkipVerify)
	for _, f := range tlsFileFields(t) {
		if f.path == "" {
			continue
		}
		data, err := config.ReadFile(f.path, config.BundleFileLimit)
		if err != nil {
			data = []byte("unreadable: " + err.Error())
		}
		fmt.Fprintf(&b, " %s=%x", f.name, sha256.Sum256(data))
	}
	return b.String()
}

// tlsFileFields are the files a tls block may name, by the name tlsKey gives them.
func tlsFileFields(t config.TLS) []struct{ name, path string } {
	return []struct{ name, path string }{{"ca", t.CAFile}, {"cert", t.CertFile}, {"key", t.KeyFile}}
}

// tlsFiles are the files tlsKey reads (checks.Files).
func tlsFiles(t config.TLS) []string {
	var paths []string
	for _, f := range tlsFileFields(t) {
		if f.path != "" {
			paths = append(paths, f.path)
		}
	}
	return paths
}

// unreportedTLSErrors: when a kind's build failed before it read its tls block (a url that does not
// parse stops most of them), the block's own errors (a missing ca_file, a key without its certificate)
// are reported beside the others, so that a configuration is fixed in one pass, not two. spec is the
// kind's decoded struct; a kind without a tls field has nothing to add.
func unreportedTLSErrors(c config.Check, spec any, errs config.Errors) config.Errors {
	v := reflect.ValueOf(spec).Elem()
	for i := range v.NumField() {
		t, ok := v.Field(i).Interface().(config.TLS)
		if !ok || !tlsWritten(c, t) {
			continue
		}
		if slices.ContainsFunc(errs, func(e *config.Error) bool { return e.Path == t.Src.Path }) {
			return nil // the kind read its block: its errors are there already
		}
		_, tlsErrs := clientTLS(t)
		return tlsErrs
	}
	return nil
}

// noticeCertRequests returns cfg (a clone) marking the run's trace (certAsked) when a server asks its
// handshake for a client certificate, then choosing the certificate as crypto/tls does without the
// callback: the first of cfg's that the request accepts, else none. The run is the one of the
// handshake's context (a handshake made under the dial's context, which carries the run's values), and
// run, when not nil: for a handshake made without the run's context (a driver's own, a shared client's
// dial), a clone per connection marks the run that asked for it, or a trace of the handshake's own.
func noticeCertRequests(cfg *tls.Config, run *trace) *tls.Config {
	cfg = cfg.Clone()
	certs := cfg.Certificates
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		for _, t := range []*trace{traceOf(cri.Context()), run} {
			if t != nil {
				t.certAsked.Store(true)
				if cri.Version >= tls.VersionTLS13 {
					t.certAskedTLS13.Store(true)
				}
			}
		}
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		return new(tls.Certificate), nil
	}
	return cfg
}

// heardConn is a TLS connection whose bytes read (the server's answer, once its handshake is done) are
// noted by answered: the server took the client's certificate, if it asked for one, and a later reset
// is not its refusal (certRefused).
type heardConn struct {
	net.Conn
	answered func()
}

// heard returns conn, whose reads mark the run of ctx answered (conn itself outside a run).
func heard(ctx context.Context, conn net.Conn) net.Conn {
	if t := traceOf(ctx); t != nil {
		return &heardConn{Conn: conn, answered: func() { t.answered.Store(true) }}
	}
	return conn
}

func (c *heardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered()
	}
	return n, err
}

// certRefused gives err, a run's failure before any answer, the class and hint of a refused client
// certificate when a handshake of the run was asked for one (noticeCertRequests) and then failed without
// saying why (TLS 1.2's "handshake failure" alert), or was followed by the connection's close or reset:
// over TLS 1.3 the server checks the client's certificate after the client's handshake is done, and its
// alert can come after our first write, which then fails with a reset (HTTP/2's preface, seen 7 times in
// 10), read as "the dependency restarting"; or a server that closes the connection with our first bytes
// unread resets it, and the reset can cost the alert itself (an AMQP check under load). A run the server
// answered after the handshake (heardConn) had its certificate taken. Anything else is returned as it is.
func certRefused(ctx context.Context, err error) error {
	return certRefusedHint(ctx, err, clientCertHint)
}

// certRefusedHint is certRefused with the hint of another set of settings (amqp091's and libpq's URL
// parameters).
func certRefusedHint(ctx context.Context, err error, hint string) error {
	t := traceOf(ctx)
	if err == nil || t == nil || !t.certAsked.Load() || t.answered.Load() || wasStreamReset(err) {
		// A stream the server reset is its answer to a request it read, on a connection it took.
		return err
	}
	if t.tlsDone.Load() && !t.certAskedTLS13.Load() {
		// TLS 1.2: the server judged the certificate within the handshake, which completed.
		return err
	}
	var e *Error
	if !errors.As(err, &e) || !(e.Class == Reset || e.Class == TLS && e.Hint == "") {
		return err
	}
	return &Error{Class: TLS, Err: fmt.Errorf("%w (the server had asked for a client certificate)", e.Err), Hint: hint}
}
