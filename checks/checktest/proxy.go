package checktest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is how a Proxy treats connections.
type Mode int

// The faults a Proxy injects.
const (
	Forward   Mode = iota // pass bytes both ways
	Refuse                // nothing listens: the port is closed, so dials get ECONNREFUSED
	Blackhole             // accept, then never answer (a hung server, or a firewall that drops)
	Reset                 // accept, then reset the connection (RST)
	Slow                  // forward, after a delay on every chunk from the server
	Garbage               // accept and answer the first bytes with nonsense, then close
	// GarbageOpen is a server of another protocol on the port that keeps the connection open: it
	// writes a banner as soon as it accepts (SSH's), then reads and drops whatever the client sends,
	// never closing. A client that waits for a length its parser read from the banner would wait
	// until its timeout.
	GarbageOpen
	// Stall is a dependency that hangs where it stands (a SIGSTOPped server): switching to it keeps the
	// connections held open, and from then on nothing passes on them either way (what arrives is read and
	// dropped); a new connection is accepted and never answered, as in Blackhole.
	Stall
	// StallKept is a path that died under the connections held while the dependency stays reachable (a
	// NAT's or a firewall's entry dropped silently, a load balancer's backend gone): switching to it keeps
	// the connections held open, and from then on nothing passes on them either way, as in Stall; a new
	// connection is forwarded.
	StallKept
)

// GarbageBanner is what GarbageOpen writes.
const GarbageBanner = "SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n"

func (m Mode) String() string {
	return [...]string{"forward", "refuse", "blackhole", "reset", "slow", "garbage", "garbage kept open", "stall", "stall kept"}[m]
}

// Proxy is a TCP proxy (on 127.0.0.1 unless NewProxyAt says otherwise) whose behaviour a test switches at run time. Switching closes the
// connections it holds, as a real outage would (but to Stall, a hang, or StallKept, which keep them).
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	mode  Mode
	delay time.Duration
	// keptUpTo is the number of connections accepted when the mode switched to StallKept: those up to
	// it are stalled.
	keptUpTo int64
	ln       net.Listener
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
	accepted atomic.Int64
	open     atomic.Int64
}

// NewProxy starts a proxy to target in Forward mode; it is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	return NewProxyAt(t, "127.0.0.1:0", target)
}

// NewProxyAt is NewProxy listening on listen (host:port, port 0 for a free one), e.g. the host side of a
// network namespace's veth, for clients that cannot reach the host's loopback.
//
// A free port is a FreePort, not one the kernel picks: in Refuse mode the proxy gives its port up, and a
// port from the ephemeral range could then be taken by another test's listener (a proxy to the same
// Postgres, say), so that a client of this proxy would reach a working dependency through it (a fleet
// test once saw its "refused" pod pass).
func NewProxyAt(t testing.TB, listen, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("proxy listen address %q: %v", listen, err)
	}
	var ln net.Listener
	for try := 0; ; try++ {
		addr := listen
		if port == "0" {
			addr = net.JoinHostPort(host, strconv.Itoa(FreePort(t, host)))
		}
		if ln, err = net.Listen("tcp", addr); err == nil || port != "0" || try == 4 {
			break
		}
	}
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.startListener(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Accepted counts the connections accepted so far (attempts that reached "the dependency").
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Open counts the client connections open now: accepted and not yet closed by either side. A client
// that closes a connection brings it down at once (the proxy notices the close); so does a mode switch.
func (p *Proxy) Open() int64 { return p.open.Load() }

// SetDelay sets the per-chunk delay of Slow mode.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Set switches the mode, dropping every connection held (but for Stall and StallKept, which keep them).
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == m {
		p.mode = m
		return
	}
	p.mode = m
	if m == StallKept {
		p.keptUpTo = p.accepted.Load()
	}
	if m != Stall && m != StallKept {
		for c := range p.conns {
			_ = c.Close()
		}
	}
	switch {
	case m == Refuse && p.ln != nil:
		_ = p.ln.Close()
		p.ln = nil
	case m != Refuse && p.ln == nil:
		ln, err := net.Listen("tcp", p.addr) // the same port again: clients keep their address
		if err != nil {
			p.t.Errorf("proxy re-listen on %s: %v", p.addr, err)
			return
		}
		p.startListenerLocked(ln)
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) startListener(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startListenerLocked(ln)
}

func (p *Proxy) startListenerLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seq := p.accepted.Add(1)
			p.open.Add(1)
			if !p.track(c) {
				p.open.Add(-1)
				_ = c.Close()
				return
			}
			p.wg.Go(func() { p.handle(c, seq) })
		}
	})
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) handle(c net.Conn, seq int64) {
	// A connection stops counting as open when it is closed, which forward does as soon as either side
	// ends it (before its delayed copy in the other direction returns).
	gone := sync.OnceFunc(func() { p.open.Add(-1) })
	defer gone()
	defer p.untrack(c)
	p.mu.Lock()
	mode, delay := p.mode, p.delay
	p.mu.Unlock()
	switch mode {
	case Blackhole, Stall:
		_, _ = io.Copy(io.Discard, c) // read and drop until the client or the test closes it
	case Reset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
	case Garbage:
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte("\x00\x01garbage\r\n"))
	case GarbageOpen:
		_, _ = c.Write([]byte(GarbageBanner))
		_, _ = io.Copy(io.Discard, c) // until the client or the test closes it
	case Forward, Slow, StallKept:
		p.forward(c, seq, delay*time.Duration(boolInt(mode == Slow)), gone)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (p *Proxy) forward(c net.Conn, seq int64, delay time.Duration, gone func()) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, stallable{p, c, seq})
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = copyDelayed(c, stallable{p, up, seq}, delay)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	// One direction ended: end both, as a real connection would.
	_ = c.Close()
	_ = up.Close()
	gone()
	<-done
}

// stallable reads one side of a forwarded connection: once the proxy stalls, what it reads is dropped,
// and it returns only the read's error (a close), so nothing more passes that way.
type stallable struct {
	p   *Proxy
	r   io.Reader
	seq int64 // the connection's number among those accepted
}

func (s stallable) Read(b []byte) (int, error) {
	for {
		n, err := s.r.Read(b)
		if !s.p.stalled(s.seq) {
			return n, err
		}
		if err != nil {
			return 0, err
		}
	}
}

// stalled reports whether the connection accepted seq-th passes nothing any more.
func (p *Proxy) stalled(seq int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode == Stall || p.mode == StallKept && seq <= p.keptUpTo
}

func copyDelayed(dst io.Writer, src io.Reader, delay time.Duration) (int64, error) {
	if delay == 0 {
		return io.Copy(dst, src)
	}
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			time.Sleep(delay)
			w, werr := dst.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}
