package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
	// certAsked: a TLS handshake of this run was asked for a client certificate (noticeCertRequests).
	certAsked atomic.Bool
	// certAskedTLS13: it was asked over TLS 1.3, where the server judges the certificate after the
	// client's handshake is done; over TLS 1.2 a handshake that completed had it accepted.
	certAskedTLS13 atomic.Bool
	// answered: the server sent data over a TLS connection of this run after its handshake (heardConn),
	// which it does only once it has accepted the client's certificate, if it asked for one.
	answered atomic.Bool
	// tlsStarted, tlsDone: a TLS handshake of this run began, and one completed (handshake, or net/http's
	// own, through httptrace).
	tlsStarted, tlsDone atomic.Bool
	// awaitGreeting, greeted: this run dialled a server that speaks first (MySQL's handshake, NATS's
	// INFO), and a byte of it arrived.
	awaitGreeting, greeted atomic.Bool
	// addrs is the last dial of this run to a name with several addresses (dialAddrs): a run that
	// could not connect names them, and how each did.
	addrs atomic.Pointer[addrsDial]
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
	conn, err := dialAddrs(ctx, d, network, addr, func(a *addrsDial) {
		if t != nil {
			t.addrs.Store(a)
		}
	})
	if t != nil {
		if err != nil {
			t.dialFailed.Store(true)
		} else {
			t.connected.Store(true)
		}
	}
	return conn, err
}

// dialAddrs dials addr with d, as d.DialContext would, except for a host name with several addresses.
// Go's dialer tries those one after the other (within a family), each until its share of the deadline
// but at least 2 s: with the common timeout of 2 s, a first address whose connect never completes (a
// node gone, a firewall dropping the packets) took the whole run, the next was never tried, and the
// error named that untried address as the one that timed out. An application with a longer connect
// timeout got through, and DNS round robin made the check fail only while the dead address came first.
// Here address k of n is started once k/n of the run's time has passed without a connection (each has
// its share to itself), or at once when the one before failed; the attempts still under way go on
// until the first connects, and the rest are closed. A name with addresses of both families is dialled
// so too (Go's dialer starts the other family after 300 ms). began, if not nil, is given the dial of several
// addresses as it starts, for the run's trace: a run that ends before the dial does names them too.
func dialAddrs(ctx context.Context, d *net.Dialer, network, addr string, began func(*addrsDial)) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	family := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	if err != nil || host == "" || family == "" {
		return d.DialContext(ctx, network, addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, addr)
	}
	if dl := dialDeadline(ctx, d); !dl.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, family, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err} // as d.DialContext says it
	}
	if len(ips) == 1 {
		return d.DialContext(ctx, network, net.JoinHostPort(ips[0].Unmap().String(), port))
	}
	ad := &addrsDial{network: network, addr: addr, errs: make([]error, len(ips))}
	for _, ip := range ips {
		ad.addrs = append(ad.addrs, net.JoinHostPort(ip.Unmap().String(), port))
	}
	if began != nil {
		began(ad)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the attempts still under way
	type result struct {
		i    int
		conn net.Conn
		err  error
	}
	results := make(chan result, len(ips))
	started, pending := 0, 0
	start := func() {
		i := started
		started++
		pending++
		ad.tried(i)
		go func() {
			conn, err := d.DialContext(ctx, network, ad.addrs[i])
			results <- result{i, conn, err}
		}()
	}
	start()
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		// The next address starts when the ones before had its share of the time left.
		next.Stop()
		wait := next.C
		if dl, ok := ctx.Deadline(); ok && started < len(ips) {
			next.Reset(time.Until(dl) / time.Duration(len(ips)-started+1))
		} else {
			wait = nil // no deadline (as Go's dialer: one after the other), or none left to start
		}
		select {
		case <-wait:
			start()
			continue
		case r := <-results:
			pending--
			if r.err == nil {
				cancel()
				go func() {
					for range pending {
						if late := <-results; late.conn != nil {
							_ = late.conn.Close()
						}
					}
				}()
				return r.conn, nil
			}
			ad.failed(r.i, r.err)
		}
		if started < len(ips) {
			start()
		} else if pending == 0 {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: ad, Err: &addrsError{ad.failures()}}
		}
	}
}

// dialDeadline is the earliest of ctx's deadline and d's Timeout and Deadline, as d.DialContext takes it
// (zero: none).
func dialDeadline(ctx context.Context, d *net.Dialer) time.Time {
	var dl time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (dl.IsZero() || t.Before(dl)) {
			dl = t
		}
	}
	if d.Timeout != 0 {
		earliest(time.Now().Add(d.Timeout))
	}
	if t, ok := ctx.Deadline(); ok {
		earliest(t)
	}
	earliest(d.Deadline)
	return dl
}

// addrsDial is a dial of a name's several addresses (dialAddrs), as it goes. As a net.Addr it is the
// host:port asked for.
type addrsDial struct {
	network, addr string
	addrs         []string
	mu            sync.Mutex
	started       int     // addrs[:started] were tried
	errs          []error // how each failed; nil for one under way or not tried
}

func (a *addrsDial) Network() string { return a.network }

// String: the address asked for, and how each of its addresses did; one still under way had not
// connected when the run ended, which is its timeout.
func (a *addrsDial) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	parts := make([]string, len(a.addrs))
	for i, addr := range a.addrs {
		var why string
		var oe *net.OpError
		switch err := a.errs[i]; {
		case i >= a.started:
			why = "not tried"
		case err == nil, errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
			why = "no connection within the timeout"
		case errors.As(err, &oe):
			why = oe.Err.Error()
		default:
			why = err.Error()
		}
		parts[i] = addr + ": " + why
	}
	return a.prefix() + strings.Join(parts, "; ") + ")"
}

// prefix is how String begins, which an error that names the dial holds (pgx's names the host:port
// alone, "db:5432 (db)").
func (a *addrsDial) prefix() string { return fmt.Sprintf("%s (%d addresses: ", a.addr, len(a.addrs)) }

// tried records that addrs[i], and those before it, were tried.
func (a *addrsDial) tried(i int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = max(a.started, i+1)
}

// failed records how addrs[i] failed.
func (a *addrsDial) failed(i int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs[i] = err
}

// failures are the errors of the addresses that failed, in order.
func (a *addrsDial) failures() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(a.errs), func(err error) bool { return err == nil })
}

// addrsError is the failure of a dial of several addresses, every one of which failed: the dial's
// net.OpError names them (its Addr, an addrsDial). It unwraps to each one's error, so that the class is
// theirs (a timeout when one was cut by the deadline, refused when all were).
type addrsError struct {
	errs []error
}

func (e *addrsError) Error() string   { return "none connected" }
func (e *addrsError) Unwrap() []error { return e.errs }

// Timeout: every address timed out (as net.Error's Timeout of a single dial's error).
func (e *addrsError) Timeout() bool {
	for _, err := range e.errs {
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			return false
		}
	}
	return true
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
		cause := e.Err
		// The driver's error may not carry the dial's (a pool that dials in the background, a driver
		// that returns at the deadline before its dial does).
		if a := t.addrs.Load(); a != nil && cause != nil && !strings.Contains(cause.Error(), a.prefix()) {
			cause = &flatError{msg: cause.Error() + ": could not connect to " + a.String(), err: cause}
		}
		return &Error{Class: Timeout, Err: cause, Hint: connectTimeoutHint}
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
