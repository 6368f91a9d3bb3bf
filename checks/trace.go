package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// A run's trace records how far its connection got, so that a timeout or a reset can point at the layer
// (a hint must point at the layer that failed). A connection that never completed is the network: the
// host is down or unreachable, or a firewall drops the packets. One that was accepted and then left
// unanswered, or closed at once, is whatever listens on that port: overloaded, hung, starting, or not
// the protocol the check speaks. Every kind dials through dialContext (or, where the driver dials with
// a context of its own, through the trace it kept for the run) so the trace sees its dials; a run that
// reused a pooled connection dials nothing, which reads as "connected".
type trace struct {
	dialing    atomic.Int32 // dials under way: drivers dial in goroutines of their own, which can outlast the run
	dialFailed atomic.Bool  // a dial of this run ended without a connection
	connected  atomic.Bool  // a dial of this run completed
	// certAsked: a TLS handshake of this run was asked for a client certificate (askForCert).
	certAsked atomic.Bool
	// certAskedTLS13: it was asked over TLS 1.3, where the server judges the certificate after the
	// client's handshake is done; over TLS 1.2 a handshake that completed had it accepted.
	certAskedTLS13 atomic.Bool
	// tlsStarted, tlsDone: a TLS handshake of this run began, and one completed (handshake, or net/http's
	// own, through httptrace).
	tlsStarted, tlsDone atomic.Bool
	// awaitGreeting, greeted: this run dialled a server that speaks first (MySQL's handshake, NATS's
	// INFO), and a byte of it arrived.
	awaitGreeting, greeted atomic.Bool
}

// dialedServerFirst records that the run of ctx dialled a server that speaks first, and returns the
// trace that greetedBy marks when its first byte arrives (nil outside a run).
func dialedServerFirst(ctx context.Context) *trace {
	t := traceOf(ctx)
	if t != nil {
		t.awaitGreeting.Store(true)
	}
	return t
}

// greetedBy records that the server's first byte arrived; a nil t records nothing.
func (t *trace) greetedBy() {
	if t != nil {
		t.greeted.Store(true)
	}
}

type traceKey struct{}

func withTrace(ctx context.Context) (context.Context, *trace) {
	t := &trace{}
	return context.WithValue(ctx, traceKey{}, t), t
}

// traceOf returns the run's trace, or nil outside a run.
func traceOf(ctx context.Context) *trace {
	t, _ := ctx.Value(traceKey{}).(*trace)
	return t
}

// dialContext dials with d and records the outcome in the run's trace, if ctx carries one.
func dialContext(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	return traceOf(ctx).dial(ctx, d, network, addr)
}

// dial dials with d and records the outcome in t; a nil t records nothing.
func (t *trace) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	if t != nil {
		t.dialing.Add(1)
		defer t.dialing.Add(-1)
	}
	conn, err := d.DialContext(ctx, network, addr)
	if t != nil {
		if err != nil {
			t.dialFailed.Store(true)
		} else {
			t.connected.Store(true)
		}
	}
	return conn, err
}

// handshake runs tc's TLS handshake, recorded in the run's trace if ctx carries one.
func handshake(ctx context.Context, tc *tls.Conn) error {
	t := traceOf(ctx)
	if t != nil {
		t.tlsStarted.Store(true)
	}
	err := tc.HandshakeContext(ctx)
	if t != nil && err == nil {
		t.tlsDone.Store(true)
	}
	return err
}

const (
	// A server that speaks first (MySQL, NATS) and said nothing: the port may be a protocol's where the
	// client speaks first, which waits for the check as the check waits for it (mysql:// to
	// PostgreSQL's port), which the generic "connected, but no answer" did not name.
	noGreetingTimeoutHint = "connected, but no answer within the timeout, not even the greeting this protocol's server sends first: the server is overloaded, hung or still starting, a proxy or pooler in front of it waits for a server it cannot reach, or the port is another protocol's, one that waits for the client (PostgreSQL's, Redis's, HTTP's: check host and port in %s)"
	// A port that does not speak TLS and waits for its own protocol's first bytes (Redis, a database,
	// many a TCP service) is silent to a ClientHello: the run timed out in the handshake, which the
	// generic "connected, but no answer" left to be guessed.
	tlsSilentTimeoutHint = "connected, but no answer to the TLS handshake within the timeout: the port may not speak TLS (check the scheme and TLS settings in %s), or the server is hung"
	connectTimeoutHint   = "could not connect within the timeout: the host is down or unreachable, or a firewall drops the packets; check host and port in %s"
	answerTimeoutHint    = "connected, but no answer within the timeout: the dependency is overloaded, hung or still starting, a proxy or pooler in front of it waits for a server it cannot reach, or the port speaks another protocol"
	earlyCloseHint       = "the connection was closed right after it opened: the dependency is restarting or at its connection limit, a load balancer in front of it has no server for it (HAProxy), or the port in %s speaks another protocol (or wants TLS)"
)

// locate gives a timeout or a reset the hint of the layer the trace saw, unless the kind set its own.
func (t *trace) locate(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Hint != "" {
		return err
	}
	switch {
	case e.Class == Timeout && (t.dialing.Load() > 0 || t.dialFailed.Load()) && !t.connected.Load():
		return &Error{Class: Timeout, Err: e.Err, Hint: connectTimeoutHint}
	case e.Class == Timeout && t.awaitGreeting.Load() && t.connected.Load() && !t.greeted.Load():
		return &Error{Class: Timeout, Err: e.Err, Hint: noGreetingTimeoutHint}
	case e.Class == Timeout && t.tlsStarted.Load() && !t.tlsDone.Load():
		return &Error{Class: Timeout, Err: e.Err, Hint: tlsSilentTimeoutHint}
	case e.Class == Timeout:
		return &Error{Class: Timeout, Err: e.Err, Hint: answerTimeoutHint}
	case e.Class == Reset && t.connected.Load():
		return &Error{Class: Reset, Err: e.Err, Hint: earlyCloseHint}
	}
	return err
}
