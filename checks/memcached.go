package checks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthgate/healthgate/config"
)

// A memcached check asks memcached for its version: a real round trip through memcached's command
// loop that reads and writes no key. Without credentials it speaks the text protocol: `version`,
// answered with one line, "VERSION 1.6.21". With username and password it speaks the binary protocol,
// the only one a memcached with SASL (-S, as Bitnami's image starts it when given a user) takes: each
// new connection logs in with a SASL auth (mechanism PLAIN), then every run sends a binary Version.
// A tls block (even tls: {}) puts either under TLS, as memcached's own TLS (-Z) and ElastiCache's
// in-transit encryption serve it.
//
// Both protocols are a few fixed messages, so no client library: a client library would add a pool, a
// server selector and retries we would have to switch off, and would still not tell us how far a
// failed run got. One connection is kept and reused between runs (TLS and the login are paid once);
// it is dropped after any failure and the next run dials afresh.

const (
	memcachedDefaultPort = "11211"
	// memcachedMaxLine bounds a text answer read: "VERSION " and a version string are a few dozen bytes.
	memcachedMaxLine = 256
	// memcachedMaxBody bounds a binary answer's body: a version, a list of SASL mechanisms or an error's
	// words are a few dozen bytes.
	memcachedMaxBody = 1024
)

// The binary protocol (memcached's doc/protocol-binary.xml): every request and answer is a 24-byte
// header, big-endian (magic, opcode, key length, extras length, data type, a request's vbucket or an
// answer's status, the body's length, opaque, cas), then the body: extras, key and value.
const (
	mcHeaderLen = 24
	mcRequest   = 0x80
	mcAnswer    = 0x81

	mcOpVersion  = 0x0b
	mcOpSASLList = 0x20 // the SASL mechanisms: answered before any login
	mcOpSASLAuth = 0x21
)

// Answer statuses of the binary protocol.
const (
	mcOK               = 0x00
	mcAuthError        = 0x20
	mcAuthContinue     = 0x21
	mcUnknownCommand   = 0x81
	mcOutOfMemory      = 0x82
	mcNotSupported     = 0x83
	mcBusy             = 0x85
	mcTemporaryFailure = 0x86
)

var mcStatusNames = map[uint16]string{
	mcAuthError: "auth error", mcAuthContinue: "auth continue", mcUnknownCommand: "unknown command",
	mcOutOfMemory: "out of memory", mcNotSupported: "not supported", 0x84: "internal error", mcBusy: "busy",
	mcTemporaryFailure: "temporary failure",
}

// mcOpaque is every binary request's opaque (the answer echoes it). Its last two bytes end the
// header's first 16 bytes with a line end: a server of the text protocol only (memcached -B ascii, a
// proxy) reads them as a line and answers ERROR at once, instead of waiting, silent, for a line end
// that the rest of the request may never hold.
var mcOpaque = [4]byte{'h', 'g', '\r', '\n'}

// memcachedFirstVersions is what a check of the text protocol sends on a new connection: `version`
// three times, 27 bytes, three answers. A memcached with SASL takes only the binary protocol and reads
// a new connection's first 24 bytes as a binary header before it says anything: one `version` (9 bytes)
// would leave it waiting, silent, until the run's timeout. Three fill a header whose first byte is not
// the binary protocol's, and it closes the connection at once (what the run then learns: saslRequired).
// Every server of the text protocol answers them in order; later runs send one.
var memcachedFirstVersions = []byte("version\r\nversion\r\nversion\r\n")

const (
	memcachedErrorHint       = "the server answered `version` with an error: is this port memcached (not, say, Redis), and is it healthy? see its log"
	memcachedProtoHint       = "the port in %s answered `version` with something that is not memcached's text protocol: is it memcached (with the ASCII protocol enabled)?"
	memcachedBinaryProtoHint = "the port in %s answered with something that is not memcached's binary protocol: is it memcached?"
	memcachedAuthHint        = "memcached refused the SASL login: check username and password (or password_file) against the server's SASL users (Bitnami's image: MEMCACHED_USERNAME and MEMCACHED_PASSWORD)"
	memcachedNeedsSASLHint   = "this memcached requires SASL: set username and password (or password_file) in the check (Bitnami's image: MEMCACHED_USERNAME and MEMCACHED_PASSWORD)"
	memcachedNoSASLHint      = "the server does not require authentication (a memcached without SASL, -S, answers the SASL login \"unknown command\"): remove username and password from the check"
	memcachedTextOnlyHint    = "the server does not require authentication: it speaks only the text protocol, which has no SASL (memcached -B ascii, or a proxy such as mcrouter or twemproxy): remove username and password from the check"
	memcachedClosedHint      = "memcached closed the connection without answering: if it serves TLS (memcached -Z, ElastiCache with in-transit encryption), add a tls block to the check (tls: {}, or tls.ca_file for a private CA); else it is restarting, a proxy in front of it has no server, or the port in %s is another protocol's (a broker, a database, that closes on bytes it does not understand)"
	memcachedMaxConnsHint    = "memcached is at its connection limit (-c, default 1024; `stats` counts rejected_connections): it refuses every new connection until other clients disconnect (a client leaking connections never does)"
	memcachedTLSPortHint     = "the server answered with TLS: add a tls block to the check (tls: {}, or tls.ca_file for a private CA)"
	memcachedPlainPortHint   = "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (remove the tls block, or point %s at memcached's TLS port)"
	memcachedTLSSilentHint   = "no answer to the TLS handshake: the port may not speak TLS (remove the tls block, or point %s at memcached's TLS port), or memcached is hung"
)

// errMCClosed marks a new connection that the server closed before it answered a byte: a TLS port
// spoken to in plaintext, a memcached with SASL spoken to in the text protocol, or a server going down.
var errMCClosed = errors.New("the server closed the connection before it answered")

type memcachedCheck struct {
	cfg    memcachedSettings
	dialer net.Dialer

	mu   sync.Mutex
	conn *memcachedConn // the kept connection, nil when none
	// saslless: the last look into a connection closed at `version` found no SASL either (a server or
	// proxy that closes every connection); until a run passes, later closes are not looked into, so
	// such a dependency sees one connection a run, not two.
	saslless atomic.Bool
}

// memcachedConn is one connection to memcached.
type memcachedConn struct {
	raw net.Conn // the TCP connection: closing it ends a read or write under way at once
	rw  net.Conn // what the protocol is spoken on: raw, or TLS over it
	rd  *bufio.Reader
}

// memcachedSettings is memcachedSpec checked and resolved: what the runs of a memcached check read.
type memcachedSettings struct {
	address  string
	tls      *tls.Config // nil: plaintext
	username string      // "": no login, the text protocol
	password string
}

// memcachedSpec is a memcached check's own configuration (config.Check.Spec, decoded).
type memcachedSpec struct {
	Address  string     `yaml:"address" schema:"minLength=1,form=address-default-port" desc:"host:port (port 11211 when omitted)"`
	Username string     `yaml:"username" needs:"password" desc:"SASL user (memcached -S, as Bitnami's image sets it up): the check then logs in with SASL PLAIN over the binary protocol; needs password"`
	Password string     `yaml:"password" secret:"true" needs:"username" desc:"SASL password of username"`
	TLS      config.TLS `yaml:"tls"`
}

func memcachedSettingsOf(c config.Check, s *memcachedSpec) (memcachedSettings, config.Errors) {
	var errs config.Errors
	addr, err := checkAddress(c, s.Address, "address", memcachedDefaultPort)
	if err != nil {
		errs = append(errs, err)
	}
	mc := memcachedSettings{address: addr, username: s.Username, password: s.Password}
	// A field whose *_file could not be read (missing, over 64 KiB) is reported already, and is empty
	// here: "needs a password" would only echo that error.
	switch {
	case s.Username != "" && s.Password == "" && !c.Src.Failed["password"]:
		errs = append(errs, c.Src.Errorf("username", "needs a password (SASL PLAIN sends both; or password_file)"))
	case s.Password != "" && s.Username == "" && !c.Src.Failed["username"]:
		errs = append(errs, c.Src.Errorf("password", "needs a username (SASL PLAIN sends both)"))
	}
	// SASL PLAIN separates its fields with NUL bytes: one inside a field would move the server's cut.
	if strings.ContainsRune(s.Username, 0) {
		errs = append(errs, c.Src.Errorf("username", "must not hold a NUL byte (SASL PLAIN separates its fields with one)"))
	}
	if strings.ContainsRune(s.Password, 0) {
		errs = append(errs, c.Src.Errorf("password", "must not hold a NUL byte (SASL PLAIN separates its fields with one)"))
	}
	if strings.HasSuffix(s.Password, "\n") || strings.HasSuffix(s.Password, "\r") {
		// password: ${MEMCACHED_PASSWORD} from a Secret written with echo, or a YAML block (password: |):
		// every login failed auth, "check username and password", of the right password. The details
		// token and the fleet token are refused alike; password_file drops the newline.
		errs = append(errs, c.Src.Errorf("password", "ends with a line break (a Secret written with a trailing newline, or a YAML block: |?): the password is what comes before it; password_file drops it"))
	}
	// A written tls: block, even an empty one (tls: {}: the system's CAs, as ElastiCache's certificates
	// need), turns TLS on: the address has no scheme to say it.
	if tlsWritten(c, s.TLS) {
		cfg, tlsErrs := clientTLS(s.TLS)
		errs = append(errs, tlsErrs...)
		if cfg.ServerName == "" && addr != "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		mc.tls = noticeCertRequests(cfg, nil)
	}
	return mc, errs
}

func buildMemcached(c config.Check, s *memcachedSpec) (prober, string, config.Errors) {
	mc, errs := memcachedSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	target := mc.address
	if mc.tls != nil {
		target += " (tls)"
	}
	// KeepAlive as net.Dialer's default: a connection kept for hours must notice a peer that vanished.
	return &memcachedCheck{cfg: mc, dialer: net.Dialer{KeepAlive: 30 * time.Second}}, target, nil
}

func (m *memcachedCheck) probe(ctx context.Context) error {
	m.mu.Lock()
	c := m.conn
	m.mu.Unlock()
	reused := c != nil
	var err error
	if c == nil {
		if c, err = m.connect(ctx); err != nil {
			return m.failed(ctx, err)
		}
	}
	err = m.ask(ctx, c, !reused)
	if err != nil && reused && timeLeft(ctx) && ClassOf(err) == Reset && !proxied(err) {
		// The kept connection died while idle (a restart, a proxy's idle timeout): that says nothing
		// of the server now. Ask again on a fresh connection, which reports what it is doing.
		m.drop(c)
		if c, err = m.connect(ctx); err != nil {
			return m.failed(ctx, err)
		}
		err = m.ask(ctx, c, true)
	}
	if err != nil {
		if !proxied(err) {
			m.drop(c)
		}
		return m.failed(ctx, err)
	}
	m.saslless.Store(false)
	return nil
}

// failed completes a failed run's error: the hint of the TLS setting to look at, and why a server
// closed a new connection at `version` when it is a memcached with SASL.
func (m *memcachedCheck) failed(ctx context.Context, err error) error {
	if refused := certRefused(ctx, err); refused != err {
		return refused
	}
	if errors.Is(err, errMCClosed) && m.cfg.username == "" && timeLeft(ctx) && !m.saslless.Load() {
		looked := m.saslRequired(ctx, err)
		m.saslless.Store(looked == err)
		err = looked
	}
	return withTLSHint(err)
}

// connect opens a connection and keeps it: TCP, TLS with a tls block, the SASL login with credentials.
func (m *memcachedCheck) connect(ctx context.Context) (*memcachedConn, error) {
	c, err := m.open(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.conn = c
	m.mu.Unlock()
	if m.cfg.username != "" {
		if err := c.within(ctx, func() error { return m.login(ctx, c) }); err != nil {
			m.drop(c)
			return nil, err
		}
	}
	return c, nil
}

// open dials, and shakes TLS hands with a tls block, within the run.
func (m *memcachedCheck) open(ctx context.Context) (*memcachedConn, error) {
	raw, err := dialContext(ctx, &m.dialer, "tcp", m.cfg.address)
	if err != nil {
		return nil, classified(err)
	}
	c := &memcachedConn{raw: raw, rw: raw}
	if m.cfg.tls != nil {
		// memcached at its connection limit refuses before TLS, with a line in clear: kept to tell it
		// from a port that does not speak TLS.
		head := &headConn{Conn: raw}
		tc := tls.Client(head, m.cfg.tls)
		if err := c.within(ctx, func() error { return handshake(ctx, tc) }); err != nil {
			_ = raw.Close()
			if bytes.HasPrefix(head.head, []byte(memcachedTooMany)) {
				return nil, tooManyConnections("the TLS handshake")
			}
			return nil, memcachedHandshakeError(ctx, err)
		}
		c.rw = heard(ctx, tc)
	}
	c.rd = bufio.NewReaderSize(c.rw, memcachedMaxLine)
	return c, nil
}

// headConn keeps the first bytes read from a connection.
type headConn struct {
	net.Conn
	head []byte
}

func (h *headConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if k := min(n, len(memcachedTooMany)-len(h.head)); k > 0 {
		h.head = append(h.head, p[:k]...)
	}
	return n, err
}

// memcachedHandshakeError classifies a failed TLS handshake. A plaintext memcached reads the ClientHello
// as a text command: it answers ERROR at the first line feed among the hello's random bytes (not a TLS
// record), closes the connection after 2 KB without one, and waits for more below that.
func memcachedHandshakeError(ctx context.Context, err error) error {
	herr := fmt.Errorf("TLS handshake: %w", err)
	if ClassOf(err) == Timeout || deadlinePassed(ctx) {
		return &Error{Class: Timeout, Err: herr, Hint: memcachedTLSSilentHint}
	}
	if e, ok := plainPortError(ctx, err, memcachedPlainPortHint); ok {
		return e
	}
	return classified(herr)
}

// within runs fn on c within the run: the run's deadline bounds every read and write, and a cancelled
// run (SIGTERM) closes the connection at once, ending a blocked read.
func (c *memcachedConn) within(ctx context.Context, fn func() error) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	defer stop()
	return fn()
}

// ask is a run's round trip on c: `version` in the text protocol, or the binary Version once logged in.
// fresh says c is new: nothing answered on it yet.
func (m *memcachedCheck) ask(ctx context.Context, c *memcachedConn, fresh bool) error {
	return c.within(ctx, func() error {
		if m.cfg.username != "" {
			return m.binaryVersion(c)
		}
		return m.textVersion(ctx, c, fresh)
	})
}

// closedUnanswered is the error of a new connection that the server closed before it answered: the
// hint names TLS when the check does not speak it (with TLS, the trace's own hint for an early close).
func (m *memcachedCheck) closedUnanswered(what string, err error) error {
	e := &Error{Class: Reset, Err: fmt.Errorf("%w %s: %w", errMCClosed, what, err)}
	if m.cfg.tls == nil {
		e.Hint = memcachedClosedHint
	}
	return e
}

// saidFirst reads what a server that closed a new connection under our first write sent before it
// closed, briefly: a TLS alert (memcached refusing a missing client certificate, which TLS 1.3 sends
// after the handshake) is the reason, not the close. It returns the TLS error, or nil.
func (c *memcachedConn) saidFirst(ctx context.Context) error {
	dl := time.Now().Add(50 * time.Millisecond)
	if runs, ok := ctx.Deadline(); ok && runs.Before(dl) {
		dl = runs
	}
	_ = c.raw.SetReadDeadline(dl)
	if _, err := c.rd.Peek(1); err != nil && ClassOf(err) == TLS {
		return classified(fmt.Errorf("TLS: %w", err))
	}
	return nil
}

// serverClosed reports whether err is the server's closing of the connection (not our own close, at
// a cancelled run).
func serverClosed(err error) bool { return ClassOf(err) == Reset && !errors.Is(err, net.ErrClosed) }

// textVersion sends `version` (three on a new connection: memcachedFirstVersions) and reads the
// answers.
func (m *memcachedCheck) textVersion(ctx context.Context, c *memcachedConn, fresh bool) error {
	req, answers := []byte("version\r\n"), 1
	if fresh {
		req, answers = memcachedFirstVersions, 3
	}
	if _, err := c.rw.Write(req); err != nil {
		if fresh && serverClosed(err) {
			if said := c.saidFirst(ctx); said != nil {
				return said
			}
			return m.closedUnanswered("version", err)
		}
		return classified(fmt.Errorf("sending version: %w", err))
	}
	for i := range answers {
		if err := m.textAnswer(ctx, c, fresh && i == 0); err != nil {
			return err
		}
	}
	return nil
}

// textAnswer reads one answer to `version`; first says it is a new connection's first.
func (m *memcachedCheck) textAnswer(ctx context.Context, c *memcachedConn, first bool) error {
	rd := c.rd
	// Every answer to version starts VERSION, ERROR, SERVER_ERROR or CLIENT_ERROR: a first byte that
	// cannot start one is another protocol, which may send no line ending and keep the connection open.
	head, err := rd.Peek(1)
	switch {
	case err != nil && first && serverClosed(err):
		return m.closedUnanswered("version", err)
	case err != nil:
		return classified(fmt.Errorf("reading the answer to version: %w", err))
	case head[0] == 0x15 || head[0] == 0x16: // a TLS record: an alert, or a handshake
		head, _ = rd.Peek(min(rd.Buffered(), 16))
		return &Error{Class: TLS, Err: fmt.Errorf("version answered with TLS (%q)", head), Hint: memcachedTLSPortHint}
	case !strings.ContainsRune("VESC", rune(head[0])):
		head, _ = rd.Peek(min(rd.Buffered(), 16))
		return &Error{Class: BadResponse, Err: fmt.Errorf("version answered %q, not VERSION <version>", head), Hint: memcachedProtoHint}
	}
	line, err := rd.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return &Error{Class: BadResponse, Err: fmt.Errorf("answer to version is not one line of at most %d bytes", memcachedMaxLine), Hint: memcachedProtoHint}
	case err != nil && len(line) > 0 && ctx.Err() == nil && ClassOf(err) != Timeout:
		return &Error{Class: BadResponse, Err: fmt.Errorf("answer to version %q cut off: %w", truncate(string(line), 64), err), Hint: memcachedProtoHint}
	case err != nil:
		return classified(fmt.Errorf("reading the answer to version: %w", err))
	}
	line = bytes.TrimRight(line, "\r\n")
	switch {
	case bytes.HasPrefix(line, []byte("VERSION ")) && len(line) > len("VERSION "):
		return nil
	case first && string(line) == memcachedTooMany:
		return tooManyConnections("version")
	case bytes.HasPrefix(line, []byte("SERVER_ERROR")), bytes.HasPrefix(line, []byte("CLIENT_ERROR")), bytes.Equal(line, []byte("ERROR")):
		err := fmt.Errorf("version answered %q", truncate(string(line), 64))
		if perr := proxiedAnswer(string(line), err); perr != nil && bytes.HasPrefix(line, []byte("SERVER_ERROR ")) {
			return perr
		}
		return &Error{Class: BadResponse, Err: err, Hint: memcachedErrorHint}
	}
	return &Error{Class: BadResponse, Err: fmt.Errorf("version answered %q, not VERSION <version>", truncate(string(line), 64)), Hint: memcachedProtoHint}
}

// memcachedTooMany is the line memcached writes to a connection over its limit (-c) before it closes
// it, whatever the client sent: text protocol, binary or SASL.
const memcachedTooMany = "ERROR Too many open connections"

// tooManyConnections is the error of a new connection that memcached refused at its limit.
func tooManyConnections(what string) error {
	return &Error{Class: NotReady, Err: fmt.Errorf("%s answered %q: memcached is at its connection limit", what, memcachedTooMany), Hint: memcachedMaxConnsHint}
}

// mcRequestOf is a binary request: op with key and value (no extras), with mcOpaque.
func mcRequestOf(op byte, key, value []byte) []byte {
	b := make([]byte, mcHeaderLen, mcHeaderLen+len(key)+len(value))
	b[0], b[1] = mcRequest, op
	binary.BigEndian.PutUint16(b[2:4], uint16(len(key)))
	binary.BigEndian.PutUint32(b[8:12], uint32(len(key)+len(value)))
	copy(b[12:16], mcOpaque[:])
	return append(append(b, key...), value...)
}

// login is the SASL auth of a new connection, mechanism PLAIN: "\x00user\x00password", in one step.
// The request holding the password is cleared once written; no answer of the server is quoted.
func (m *memcachedCheck) login(ctx context.Context, c *memcachedConn) error {
	u, p := m.cfg.username, m.cfg.password
	value := make([]byte, 0, 2+len(u)+len(p))
	value = append(append(append(append(value, 0), u...), 0), p...)
	req := mcRequestOf(mcOpSASLAuth, []byte("PLAIN"), value)
	_, err := c.rw.Write(req)
	clear(req)
	clear(value)
	if err != nil {
		if serverClosed(err) {
			if said := c.saidFirst(ctx); said != nil {
				return said
			}
			return m.closedUnanswered("the SASL login", err)
		}
		return classified(fmt.Errorf("sending the SASL login: %w", err))
	}
	status, _, err := m.binaryAnswer(c, mcOpSASLAuth, "the SASL login", true)
	if err != nil {
		return err
	}
	user := strconv.Quote(truncate(u, 64))
	switch status {
	case mcOK:
		return nil
	case mcAuthError:
		return &Error{Class: Auth, Hint: memcachedAuthHint, Err: fmt.Errorf("the SASL login (PLAIN) as %s was refused (auth error)", user)}
	case mcUnknownCommand, mcNotSupported:
		return &Error{Class: Auth, Hint: memcachedNoSASLHint, Err: fmt.Errorf("the SASL login answered %q: the server has no SASL", mcStatusNames[status])}
	case mcAuthContinue:
		return &Error{Class: BadResponse, Err: fmt.Errorf("the SASL login (PLAIN) as %s asked for another step; PLAIN takes one", user)}
	}
	return memcachedStatusError("the SASL login", status)
}

// binaryVersion is a logged-in run's round trip: the binary Version, which must answer a version.
// (memcached answers Version before a login too: the login of each new connection is what proves the
// credentials, and a refused login drops the connection.)
func (m *memcachedCheck) binaryVersion(c *memcachedConn) error {
	if _, err := c.rw.Write(mcRequestOf(mcOpVersion, nil, nil)); err != nil {
		return classified(fmt.Errorf("sending version: %w", err))
	}
	status, body, err := m.binaryAnswer(c, mcOpVersion, "version", false)
	switch {
	case err != nil:
		return err
	case status != mcOK:
		return memcachedStatusError("version", status)
	case len(body) == 0:
		return &Error{Class: BadResponse, Err: errors.New("version answered no version"), Hint: memcachedBinaryProtoHint}
	}
	return nil
}

// memcachedStatusError classifies a binary answer's status other than success.
func memcachedStatusError(what string, status uint16) error {
	name, ok := mcStatusNames[status]
	if !ok {
		name = fmt.Sprintf("status 0x%04x", status)
	}
	err := fmt.Errorf("%s answered %q", what, name)
	switch status {
	case mcOutOfMemory, mcBusy, mcTemporaryFailure:
		return &Error{Class: NotReady, Err: err}
	case mcAuthError:
		return &Error{Class: Auth, Err: err, Hint: memcachedAuthHint}
	}
	return &Error{Class: BadResponse, Err: err, Hint: memcachedBinaryProtoHint}
}

// binaryAnswer reads the answer to a binary request op: its status and value. first says it is the
// first answer on a new connection. A server of the text protocol only answers a binary request with
// a line (ERROR: mcOpaque's line end); its first byte says so, as it says TLS or another protocol,
// before the read of a header that such a server may never complete.
func (m *memcachedCheck) binaryAnswer(c *memcachedConn, op byte, what string, first bool) (uint16, []byte, error) {
	rd := c.rd
	head, err := rd.Peek(1)
	switch {
	case err != nil && first && serverClosed(err):
		return 0, nil, m.closedUnanswered(what, err)
	case err != nil:
		return 0, nil, classified(fmt.Errorf("reading the answer to %s: %w", what, err))
	case head[0] == mcAnswer:
	case head[0] == 0x15 || head[0] == 0x16:
		head, _ = rd.Peek(min(rd.Buffered(), 16))
		return 0, nil, &Error{Class: TLS, Err: fmt.Errorf("%s answered with TLS (%q)", what, head), Hint: memcachedTLSPortHint}
	case first && bytes.HasPrefix(bufferedHead(rd, len(memcachedTooMany)), []byte(memcachedTooMany)):
		// Written as one line, at the accept: buffered whole by the first read.
		return 0, nil, tooManyConnections(what)
	case op == mcOpSASLAuth && textError(rd):
		line, _ := rd.Peek(min(rd.Buffered(), 16))
		line, _, _ = bytes.Cut(line, []byte("\r"))
		return 0, nil, &Error{Class: Auth, Err: fmt.Errorf("%s answered %q, in the text protocol: the server has no SASL", what, line), Hint: memcachedTextOnlyHint}
	default:
		head, _ = rd.Peek(min(rd.Buffered(), 16))
		return 0, nil, &Error{Class: BadResponse, Err: fmt.Errorf("%s answered %q, not memcached's binary protocol", what, head), Hint: memcachedBinaryProtoHint}
	}
	readFull := func(b []byte) error {
		if _, err := io.ReadFull(rd, b); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return &Error{Class: BadResponse, Err: fmt.Errorf("the answer to %s was cut off: %w", what, err), Hint: memcachedBinaryProtoHint}
			}
			return classified(fmt.Errorf("reading the answer to %s: %w", what, err))
		}
		return nil
	}
	var h [mcHeaderLen]byte
	if err := readFull(h[:]); err != nil {
		return 0, nil, err
	}
	if h[1] != op || !bytes.Equal(h[12:16], mcOpaque[:]) {
		return 0, nil, &Error{Class: BadResponse, Err: fmt.Errorf("%s was answered by an answer to another request (opcode 0x%02x)", what, h[1]), Hint: memcachedBinaryProtoHint}
	}
	n := binary.BigEndian.Uint32(h[8:12])
	skip := int(binary.BigEndian.Uint16(h[2:4])) + int(h[4]) // key and extras, before the value
	if n > memcachedMaxBody || int(n) < skip {
		return 0, nil, &Error{Class: BadResponse, Err: fmt.Errorf("the answer to %s announces a body of %d bytes", what, n), Hint: memcachedBinaryProtoHint}
	}
	body := make([]byte, n)
	if err := readFull(body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint16(h[6:8]), body[skip:], nil
}

// bufferedHead is at most n of the bytes rd holds, without reading more.
func bufferedHead(rd *bufio.Reader, n int) []byte {
	head, _ := rd.Peek(min(rd.Buffered(), n))
	return head
}

// textError reports whether the bytes buffered in rd start an error line of the text protocol (ERROR,
// CLIENT_ERROR, SERVER_ERROR), or all of them could.
func textError(rd *bufio.Reader) bool {
	head, _ := rd.Peek(min(rd.Buffered(), 16))
	for _, w := range []string{"ERROR", "CLIENT_ERROR", "SERVER_ERROR"} {
		if n := min(len(head), len(w)); string(head[:n]) == w[:n] {
			return true
		}
	}
	return false
}

// saslRequired asks, on a connection of its own, whether a server that closed a new connection at
// `version` is a memcached with SASL: that one speaks only the binary protocol, where it lists its SASL
// mechanisms before any login. It returns the run's error err, or an auth error when it is one.
func (m *memcachedCheck) saslRequired(ctx context.Context, err error) error {
	c, oerr := m.open(ctx)
	if oerr != nil {
		return err
	}
	defer func() { _ = c.raw.Close() }()
	var mechs []byte
	lerr := c.within(ctx, func() error {
		if _, err := c.rw.Write(mcRequestOf(mcOpSASLList, nil, nil)); err != nil {
			return err
		}
		status, body, err := m.binaryAnswer(c, mcOpSASLList, "the list of SASL mechanisms", true)
		if err == nil && (status != mcOK || len(body) == 0) {
			err = errors.New("no SASL mechanism")
		}
		mechs = body
		return err
	})
	if lerr != nil {
		return err
	}
	return &Error{Class: Auth, Hint: memcachedNeedsSASLHint,
		Err: fmt.Errorf("the server closed the connection at `version` and offers SASL (%q) in the binary protocol: it requires a login", truncate(string(mechs), 64))}
}

func (m *memcachedCheck) drop(c *memcachedConn) {
	m.mu.Lock()
	if m.conn == c {
		m.conn = nil
	}
	m.mu.Unlock()
	_ = c.raw.Close()
}

func (m *memcachedCheck) close() {
	m.mu.Lock()
	c := m.conn
	m.conn = nil
	m.mu.Unlock()
	if c != nil {
		_ = c.raw.Close()
	}
}
