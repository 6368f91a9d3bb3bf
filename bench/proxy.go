package main

import (
	"bufio"
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
)

// mode is what a proxy does with connections.
type mode int

const (
	forward   mode = iota // pass bytes both ways
	refuse                // nothing listens: the port is closed, open connections are reset
	blackhole             // accept and never answer; open connections stall (a network partition)
	failing               // accept, then answer like a dependency that is up but not ready
)

func (m mode) String() string {
	return [...]string{"forward", "refuse", "blackhole", "failing"}[m]
}

// dependency is a service the proxies stand in front of.
type dependency struct {
	kind     string                        // "postgres" or "redis": the flag name of wait tools
	url      string                        // how the programs under test reach it (the host is replaced by a proxy's)
	upstream string                        // host:port of the real service
	fail     func(net.Conn, *atomic.Int64) // answers one connection like the service when up but not ready, counting tries
	counter  func() requestCounter         // counts the requests of one connection
}

// proxy sits between a program under test and Postgres or Redis, on a fixed 127.0.0.1 port, so that faults can
// be injected without touching the real services, and counts what goes through.
type proxy struct {
	dependency
	addr     string            // where the proxy listens (kept while refusing)
	accepted atomic.Int64      // connections accepted, in every mode but refuse
	tries    atomic.Int64      // attempts answered in failing mode (see failPostgres, failRedis)
	requests atomic.Int64      // requests forwarded (see requestCounter)
	mu       sync.Mutex        // guards the fields below
	mode     mode              //
	ln       net.Listener      // nil while refusing
	changed  chan struct{}     // closed (and replaced) at every change of mode
	conns    map[net.Conn]bool // open client connections; true once forwarded
	closed   bool
	wg       sync.WaitGroup
}

// newProxy starts a forwarding proxy to d on a free port: freeAddr's, below the ephemeral range, since
// refusing gives the port up and a port the kernel picked could meanwhile go to another listener.
func newProxy(d dependency) (*proxy, error) {
	ln, err := listenFree()
	if err != nil {
		return nil, err
	}
	p := &proxy{dependency: d, addr: ln.Addr().String(), ln: ln,
		changed: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go guard(func() { p.serve(ln) })()
	return p, nil
}

// set switches the proxy to m.
func (p *proxy) set(m mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || m == p.mode {
		return nil
	}
	old := p.mode
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	switch {
	case m == refuse:
		p.ln.Close()
		p.ln = nil
		p.resetAll()
	case old == refuse:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.mode = refuse
			return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
		}
		p.ln = ln
		p.wg.Add(1)
		go guard(func() { p.serve(ln) })()
	case m == failing:
		// A dependency that starts failing is a new process: old connections are gone.
		p.resetAll()
	case old == blackhole:
		// The partition heals: stalled connections go on, those accepted during it (never answered) are reset.
		p.resetWhere(false)
	}
	return nil
}

// resetAll resets every open client connection. Called with p.mu held.
func (p *proxy) resetAll() {
	p.resetWhere(true)
	p.resetWhere(false)
}

// resetWhere resets the open client connections that were (or were not) forwarded. Called with p.mu held.
func (p *proxy) resetWhere(forwarded bool) {
	for c, f := range p.conns {
		if f != forwarded {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// close stops the proxy and ends all its connections.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
	}
	p.resetAll()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		m := p.mode
		if p.closed || p.ln != ln {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = m == forward
		p.accepted.Add(1)
		p.wg.Add(1)
		p.mu.Unlock()
		go guard(func() {
			defer p.wg.Done()
			defer p.forget(c)
			switch m {
			case forward:
				p.forwardConn(c)
			case failing:
				p.fail(c, &p.tries)
			default: // blackhole: read and drop until the client gives up or the mode changes
				io.Copy(io.Discard, c)
			}
		})()
	}
}

func (p *proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) forwardConn(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, rc requestCounter) func() {
		return guard(func() {
			defer func() { done <- struct{}{} }() // even after a panic, so that forwardConn ends
			p.pipe(dst, src, rc)
		})
	}
	go pipe(up, c, p.counter())()
	go pipe(c, up, nil)()
	<-done
	c.Close()
	up.Close()
	<-done
}

// pipe copies src to dst while the proxy forwards; while it blackholes, the bytes wait (like TCP segments
// retransmitted across a partition).
// Requests are counted (when rc is not nil) once they are passed on.
func (p *proxy) pipe(dst, src net.Conn, rc requestCounter) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.passable() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if rc != nil {
				p.requests.Add(int64(rc.count(buf[:n])))
			}
		}
		if err != nil {
			return
		}
	}
}

// passable waits while the proxy blackholes; it is false once bytes must no longer pass.
func (p *proxy) passable() bool {
	for {
		p.mu.Lock()
		m, ch, closed := p.mode, p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed:
			return false
		case m == forward:
			return true
		case m == blackhole:
			<-ch
		default:
			return false
		}
	}
}

// failPostgres answers like a Postgres that is starting up: it reads the start-up message and sends the
// FATAL 57P03 error a real server sends, then closes. Each connection is one try (and one forked backend).
func failPostgres(c net.Conn, tries *atomic.Int64) {
	tries.Add(1)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		code := binary.BigEndian.Uint32(hdr[4:])
		if n < 8 || n > 10000 {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(n-8)); err != nil {
			return
		}
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest: "not supported", go on
			c.Write([]byte{'N'})
			continue
		}
		break
	}
	var body []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "57P03"}, {'M', "the database system is starting up"}} {
		body = append(body, f.k)
		body = append(body, f.v...)
		body = append(body, 0)
	}
	body = append(body, 0)
	msg := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	c.Write(append(msg, body...))
}

// failRedis answers like a Redis that is loading its data set: every command gets -LOADING. A try is a
// command other than the connection's handshake (a client may retry on one connection), or a connection that
// sent none.
func failRedis(c net.Conn, tries *atomic.Int64) {
	r := bufio.NewReader(c)
	n := 0
	defer func() {
		if n == 0 {
			tries.Add(1)
		}
	}()
	for {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		name, err := readRESPCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(name) {
		case "HELLO", "AUTH", "CLIENT", "SELECT":
		default:
			n++
			tries.Add(1)
		}
		if _, err := c.Write([]byte("-LOADING Redis is loading the dataset in memory\r\n")); err != nil {
			return
		}
	}
}

// readRESPCommand reads one command (an array of bulk strings, or an inline command line) and returns its name.
func readRESPCommand(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) == 0 || line[0] != '*' {
		name, _, _ := strings.Cut(trimCRLF(line), " ") // inline command
		return name, nil
	}
	n, err := strconv.Atoi(trimCRLF(line[1:]))
	if err != nil {
		return "", err
	}
	name := ""
	for i := range n {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if len(line) == 0 || line[0] != '$' {
			return "", errors.New("resp: want a bulk string")
		}
		size, err := strconv.Atoi(trimCRLF(line[1:]))
		if err != nil || size < 0 {
			return "", fmt.Errorf("resp: bad bulk length %q", line)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		if i == 0 {
			name = string(buf[:size])
		}
	}
	return name, nil
}

func trimCRLF(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
