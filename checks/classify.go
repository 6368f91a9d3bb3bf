package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/healthgate/healthgate/config"
)

// Class says why a run failed, in the words an operator acts on (docs/design.md §4). It is what logs,
// `healthgate check`, health+json and the failures metric report.
type Class string

// The reason classes. Every failure carries exactly one.
const (
	DNS         Class = "dns"          // the host name does not resolve
	Refused     Class = "refused"      // nothing listens there (or the host is unreachable)
	Reset       Class = "reset"        // the connection was reset or closed mid-run
	Timeout     Class = "timeout"      // no answer within the check's timeout
	TLS         Class = "tls"          // the TLS handshake or certificate failed
	Auth        Class = "auth"         // credentials, role or database rejected
	NotReady    Class = "not_ready"    // the dependency says it is starting, stopping or loading
	ReadOnly    Class = "read_only"    // writable required, but it is a replica
	Lag         Class = "lag"          // a replica too far behind
	BadResponse Class = "bad_response" // it answered, but not as expected
	Query       Class = "query"        // the SQL failed
	Schema      Class = "schema"       // the schema is not at the version this release needs (migrations)
	Stale       Class = "stale"        // no completed run for too long: the runner is wedged
	Panic       Class = "panic"        // the check panicked
	Unknown     Class = "unknown"      // none of the above
)

// Classes lists every class, in the order documentation shows them.
var Classes = []Class{DNS, Refused, Reset, Timeout, TLS, Auth, NotReady, ReadOnly, Lag, BadResponse, Query, Schema, Stale, Panic, Unknown}

// Error is a failed run: its class, the cause (already redacted: safe to log, never containing a
// password, token or secret query parameter) and, optionally, a hint more precise than the class's.
type Error struct {
	Class Class
	Err   error
	Hint  string
	// past says the class holds even when the run's deadline passed first: the dependency said why
	// it did not answer (an AMQP broker's connection.blocked, a DNS server's garbage), so Run keeps
	// it instead of "timeout".
	past bool
	// stack is where the check panicked (class panic: Run), for PanicStack.
	stack string
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Class)
	}
	return string(e.Class) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Failf returns a classified error with a formatted cause.
func Failf(class Class, format string, args ...any) *Error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...)}
}

// ClassOf returns the class of a run's error: the one it carries, or the one inferred from its chain.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return classifyNet(err)
}

// proxiedAnswer is the error for the words a proxy sends in place of a server it could not reach
// (twemproxy's "-ERR Connection refused" for Redis, "SERVER_ERROR Connection timed out" for memcached: the
// text of the errno its connection got), err with that failure's class and proxiedHint; nil for any other
// answer.
func proxiedAnswer(answer string, err error) error {
	var class Class
	switch {
	case strings.HasSuffix(answer, "Connection refused"), strings.HasSuffix(answer, "No route to host"),
		strings.HasSuffix(answer, "Network is unreachable"):
		class = Refused
	case strings.HasSuffix(answer, "Connection timed out"):
		class = Timeout
	case strings.HasSuffix(answer, "Connection reset by peer"), strings.HasSuffix(answer, "Broken pipe"):
		class = Reset
	default:
		return nil
	}
	return &Error{Class: class, Err: err, Hint: proxiedHint}
}

// proxied: err is a proxy's answer for its server (proxiedAnswer). The connection to the proxy is sound,
// a whole answer read from it, and is kept.
func proxied(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Hint == proxiedHint
}

const proxiedHint = "the proxy %s points at (twemproxy, Envoy) answered in place of the server behind it, which it could not reach: is that server up, and is its address in the proxy's list of servers right?"

// classified wraps err in an *Error, inferring its class from the chain unless it carries one.
func classified(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if path, missing, ok := unixDialFailure(err); ok {
		// The generic refused hint speaks of host and port.
		hint := "nothing listens at the unix socket " + path + ": the file exists, but no server holds it (one that stopped and left it behind); is the server running?"
		// Linux refuses a connect to a directory or a regular file as to a socket no one holds.
		switch fi, serr := os.Stat(path); {
		case missing:
			hint = "no unix socket at " + path + ": the server is not running, or it makes its socket elsewhere; is the socket path in %s right?"
		case serr == nil && fi.IsDir():
			hint = path + " is a directory, not a unix socket: the path in %s names a directory; write the path of the socket file in it (as /run/mysqld/mysqld.sock)"
		case serr == nil && fi.Mode()&fs.ModeSocket == 0:
			hint = path + " is not a unix socket (" + config.FileKind(fi.Mode()) + "): is the socket path in %s right?"
		}
		return &Error{Class: Refused, Err: err, Hint: hint}
	}
	return &Error{Class: classifyNet(err), Err: err}
}

// unixDialFailure reports a dial of a unix socket that found no socket file at path (missing), or a file
// no server listens on: both are nothing listening there, as a refused TCP connection is.
func unixDialFailure(err error) (path string, missing, ok bool) {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !strings.HasPrefix(oe.Net, "unix") {
		return "", false, false
	}
	if oe.Addr != nil {
		path = oe.Addr.String()
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return path, true, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return path, false, true
	}
	return "", false, false
}

// classifyNet infers the class of a transport-level error (dialling, reading, TLS). Order matters: a
// TLS handshake that timed out is a timeout, and a TLS record error is TLS even though the peer then
// closed the connection.
func classifyNet(err error) Class {
	var dnsErr *net.DNSError
	var recordErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var netErr net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return Timeout
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return Timeout
		}
		return DNS
	case errors.As(err, &recordErr), errors.As(err, &alertErr), errors.As(err, &certErr),
		errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalidErr),
		strings.Contains(msg, "server gave HTTP response to HTTPS client"),
		strings.Contains(msg, "tls: "):
		return TLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENOENT) && isUnixDial(err), // no socket file: nothing listens there
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return Reset
	case errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "unexpected EOF"),
		strings.Contains(msg, "broken pipe"):
		// Some drivers flatten the cause into text.
		return Reset
	}
	return Unknown
}

func isUnixDial(err error) bool { _, _, ok := unixDialFailure(err); return ok }

// hints are the generic one-line advice per class; %s is where the failing value came from (an
// environment variable such as DATABASE_URL, a secret file, or the config field).
var hints = map[Class]string{
	DNS:         "the host name does not resolve: check the host in %s and the resolver (cluster DNS, /etc/resolv.conf)",
	Refused:     "nothing listens there yet: is the dependency running, and are host and port in %s right? (or a firewall rejects it)",
	Reset:       "the connection was reset or closed mid-run: the dependency restarted, or a proxy or firewall dropped it",
	Timeout:     "no answer within the timeout: the dependency is overloaded or hung, or a firewall drops the packets",
	TLS:         "the TLS handshake failed: check the scheme and TLS settings in %s (https, rediss, amqps, mqtts, tls://, sslmode), the CA and the server name",
	Auth:        "the credentials were rejected: check the user, password and database in %s",
	NotReady:    "the dependency is up but not serving yet (starting, shutting down, loading data): it should clear by itself",
	ReadOnly:    "this is a read-only replica: point %s at the primary",
	Lag:         "the replica is further behind than max_replication_lag: check replication",
	BadResponse: "the dependency answered, but not as expected: check its status, body or protocol",
	Query:       "the query failed: check the SQL and the role's permissions",
	Schema:      "the schema is not at the version this release needs: pending migrations clear when the migration job finishes; a failed one does not",
	Stale:       "the check has not completed a run for too long: the runner is wedged (please report this)",
	Panic:       "the check panicked (please report this)",
	Unknown:     "unclassified failure: see the error",
}

// Hint returns a one-line, secret-free hint for a failed run; origin names where the target came from.
// For a target given by flag, a hint that names a setting of a configuration file is said in flagHints'
// words instead.
func Hint(err error, origin string) string {
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		h := e.Hint
		if kind, ok := FlagTarget(origin); ok && flagHints[h] != "" {
			h = strings.ReplaceAll(flagHints[h], "%k", kind)
		}
		return fillOrigin(h, origin)
	}
	h, ok := hints[ClassOf(err)]
	if !ok {
		h = hints[Unknown]
	}
	return fillOrigin(h, origin)
}

// FlagTarget reports whether origin, where a check's target came from (config.Source.Origin), is a flag
// of wait or check (--grpc, --memcached), and the kind the flag names: such a check has no
// configuration file to edit, and its hints say which --set to add or remove.
func FlagTarget(origin string) (kind string, ok bool) {
	return strings.CutPrefix(origin, "--")
}

// flagHints are the hints that name a setting of a configuration file (a tls block, a field), each in
// the words for a target given by flag, where --set writes that setting (%k is the kind, %s the flag).
var flagHints = map[string]string{
	grpcUnknownSvcHint:         "the health service does not know this service name: check --set grpc.service against the names the server registers (without it, the server as a whole is asked)",
	grpcNotGRPCHint:            "the port in %s answered, but not as a gRPC server: is it the gRPC port, and does it want TLS (https:// in %s, or --set grpc.tls='{}') or plaintext?",
	grpcPlainPortHint:          "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (give %s the plaintext host:port, without https:// or --set grpc.tls, or point %s at the server's TLS port)",
	grpcUnauthorizedHint:       "the server refused the call (UNAUTHENTICATED or PERMISSION_DENIED): the health service should be open to unauthenticated callers, or give the check a client certificate: --set grpc.tls='{cert_file: PATH, key_file: PATH}'",
	memcachedNeedsSASLHint:     "this memcached requires SASL: username and password take a configuration file (no password on a command line): write the check there, with password_file, and give it with --config (Bitnami's image: MEMCACHED_USERNAME and MEMCACHED_PASSWORD)",
	memcachedClosedHint:        "memcached closed the connection without answering: if it serves TLS (memcached -Z, ElastiCache with in-transit encryption), add --set memcached.tls='{}' (or '{ca_file: PATH}' for a private CA); else it is restarting, a proxy in front of it has no server, or the port in %s is another protocol's (a broker, a database, that closes on bytes it does not understand)",
	memcachedTLSPortHint:       "the server answered with TLS: add --set memcached.tls='{}' (or '{ca_file: PATH}' for a private CA)",
	memcachedPlainPortHint:     "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (remove --set memcached.tls, or point %s at memcached's TLS port)",
	memcachedTLSSilentHint:     "no answer to the TLS handshake: the port may not speak TLS (remove --set memcached.tls, or point %s at memcached's TLS port), or memcached is hung",
	mysqlDeniedPlainHint:       "the credentials were rejected: check the user, password and database in %s; or the server wants TLS (require_secure_transport, a user created REQUIRE SSL): add --set mysql.tls='{}' (or '{ca_file: PATH}')",
	mysqlDeniedNoCertHint:      "the credentials were rejected: check the user, password and database in %s; a user created REQUIRE X509 (or SUBJECT, ISSUER) also needs a client certificate: --set mysql.tls='{cert_file: PATH, key_file: PATH}'",
	mysqlDeniedURLTLSHint:      "the credentials were rejected: check the user, password and database in %s; or the server wants what the URL's tls parameter does not give: TLS (require_secure_transport, a user created REQUIRE SSL: tls=false sends none, nor tls=preferred where it fell back to plaintext) or a client certificate (REQUIRE X509: tls=skip-verify and tls=preferred send none); for that, remove the tls parameter from %s and add --set mysql.tls='{}' (or '{ca_file: PATH}'; '{cert_file: PATH, key_file: PATH}' for a certificate)",
	mysqlTLSOnlyHint:           "the server accepts only TLS connections (require_secure_transport): add --set mysql.tls='{}' (or '{ca_file: PATH}')",
	mysqlTLSOnlyURLHint:        "the server accepts only TLS connections (require_secure_transport): remove tls=false from %s and add --set mysql.tls='{}' (or '{ca_file: PATH}')",
	postgresCertUserHint:       "the server wants a client certificate for this user (pg_hba.conf: cert, or clientcert=): set sslcert and sslkey in %s (or --set postgres.tls='{cert_file: PATH, key_file: PATH}') to one signed by a CA the server trusts, whose CN is the user",
	postgresHostSSLHint:        "the server takes this connection only over TLS (pg_hba.conf hostssl): add sslmode=verify-full to %s (or --set postgres.tls='{}')" + hbaNoLineWords,
	dnsRefusedHint:             "nothing answers DNS at the server: check --set dns.server (host:port), or the resolver in /etc/resolv.conf",
	dnsGarbageHint:             "something answers at the DNS server's address, but not with DNS replies to the query: another service on that port, or a broken server; check --set dns.server (host:port), or the resolver in /etc/resolv.conf",
	dnsExpectHint:              "the name resolves, but not to every value in expect: the record changed, or --set dns.expect is out of date",
	natsTLSRequiredHint:        "the server requires TLS: use a tls:// URL in %s (or --set nats.tls='{}')",
	natsTLSNotOfferedHnt:       "this check wants TLS but the server does not offer it: use nats:// in %s and leave out --set nats.tls, or enable TLS on the server",
	natsNoJetStreamHint:        "the server runs without JetStream: start it with -js (or jetstream {} in its config), or leave out --set nats.jetstream=true if the application does not use it",
	natsDeniedHint:             "the server does not let this user ask JetStream (a permissions violation): allow it to publish to $JS.API.INFO and to subscribe to _INBOX.> in the server's authorization block, or leave out --set nats.jetstream=true",
	dnsNotFoundHint:            "the name does not exist, or has no record of that type (NXDOMAIN or an empty answer): check the name given to %s and --set dns.record (A and AAAA without it), and that the record was published in that zone",
	dnsHostsFamilyHint:         "the name has addresses, but none of the family asked for: /etc/hosts, which the resolver reads before DNS, has the name with addresses of the other family only; check --set dns.record, or add the address to /etc/hosts (hostAliases in a pod)",
	dnsNoCNAMEHint:             "the name exists but is not an alias (no CNAME record): leave out --set dns.record=CNAME (A and AAAA without it), or check the name given to %s",
	redisReplicaWantedHint:     "the server is the primary, not a replica: point %s at a replica (through Sentinel, add replica_only=true to the URL), or leave out --set redis.role=replica if the primary will do",
	grpcNoHealthHint:           "the server does not implement grpc.health.v1.Health: register the standard health service (grpc-go: google.golang.org/grpc/health), or wait for the port alone with --tcp in place of %s",
	natsTLSBlockNotOfferedHint: "this check wants TLS (--set nats.tls) but the server does not offer it: remove --set nats.tls (%s is nats:// already), or enable TLS on the server",
	postgresNoTLSBlockHint:     postgresNoTLSWords + "--set postgres.tls requires it: enable TLS on the server, or leave out --set postgres.tls",
	libpqTLSHints.unknownCA:    "the server's certificate is signed by an authority this check does not trust: name that CA with sslrootcert= in %s, or --set postgres.tls='{ca_file: PATH}' (or fix the chain the server sends)",
	libpqTLSHints.clientCert:   "the server rejected this check's client certificate, or wants one: set sslcert= and sslkey= in %s, or --set postgres.tls='{cert_file: PATH, key_file: PATH}'",
	amqpURLTLSHints.unknownCA:  "the server's certificate is signed by an authority this check does not trust: name that CA with cacertfile= in %s, or --set amqp.tls='{ca_file: PATH}' (or fix the chain the server sends)",
	amqpURLTLSHints.hostname:   "the server's certificate does not name the host in %s: connect by a name it holds, or set server_name_indication= in it (or --set amqp.tls='{server_name: NAME}') to one",
	amqpURLTLSHints.clientCert: "the server rejected this check's client certificate, or wants one: set certfile= and keyfile= in %s, or --set amqp.tls='{cert_file: PATH, key_file: PATH}', to a certificate signed by a CA the server trusts",
	httpsPortHint:              "the port speaks HTTPS and was sent plain HTTP: use https:// in %s (with --set http.tls='{ca_file: PATH}' if its certificate needs one)",
	sentinelMasterHostnameHint: "the certificate of the master the Sentinels name does not hold the host they name it by (in the error): give it that name or address, have the Sentinels name masters by hostnames it holds (announce-hostnames), or add --set redis.tls='{server_name: NAME}' with a name every server's certificate holds",
	sentinelServerNameHint:     "the certificate of the master the Sentinels name does not hold the server_name given with --set redis.tls; set it to a name that every server's certificate (the Sentinels' and the master's) holds, or leave it out to verify each server as the host it is dialled by",
	unknownCAHint:              "the server's certificate is signed by an authority this check does not trust: give that CA with SSL_CERT_FILE=PATH or --set %k.tls='{ca_file: PATH}' (or fix the chain the server sends)",
	hostnameHint:               "the server's certificate does not name the host in %s: connect by a name it holds, or add --set %k.tls='{server_name: NAME}'",
	clientCertHint:             "the server rejected this check's client certificate, or wants one: --set %k.tls='{cert_file: PATH, key_file: PATH}' with a certificate signed by a CA the server trusts",
}

func fillOrigin(h, origin string) string {
	if origin == "" {
		origin = "the check's target"
	}
	return strings.ReplaceAll(h, "%s", origin)
}
