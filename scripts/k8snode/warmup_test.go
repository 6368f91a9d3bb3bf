//go:build k8snode

package k8snode

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// warmProxy is a TCP proxy to the host's Postgres, on the veth's host side where pods reach it, that is slow
// to accept new clients: once armed, every source address it has not seen before (a new pod) has its
// connections reset at once for the first `warm` after its first attempt, then forwarded. It stands for a
// new pod's path to the database that comes up with the pod: a database proxy or pooler sidecar still
// starting, an egress policy not yet programmed for the pod's address. Addresses seen before arm (the pods
// already serving) are forwarded from the start.
type warmProxy struct {
	t      *testing.T
	target string
	warm   time.Duration
	ln     net.Listener

	mu      sync.Mutex
	armed   bool
	first   map[string]time.Time // source address → first attempt after arm (zero: seen before arm)
	refused map[string]int       // source address → connections reset while it warmed up
	fresh   []string             // addresses first seen since the last newClients
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newWarmProxy(t *testing.T, warm time.Duration) *warmProxy {
	t.Helper()
	return newWarmProxyAt(t, hostIP+":0", warm)
}

func newWarmProxyAt(t *testing.T, listen string, warm time.Duration) *warmProxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("warm-up proxy: %v", err)
	}
	p := &warmProxy{t: t, target: postgres, warm: warm, ln: ln, first: map[string]time.Time{},
		refused: map[string]int{}, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *warmProxy) Addr() string { return p.ln.Addr().String() }

// arm starts the warm-up for every address not seen so far.
func (p *warmProxy) arm() {
	p.mu.Lock()
	p.armed, p.fresh = true, nil
	p.mu.Unlock()
}

// newClients returns the addresses first seen since arm or the last call, each with the number of
// connections reset while it warmed up.
func (p *warmProxy) newClients() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]int{}
	for _, a := range p.fresh {
		m[a] = p.refused[a]
	}
	p.fresh = nil
	return m
}

// describeClients lists the addresses in order, each with its count of reset connections.
func describeClients(clients map[string]int) string {
	var s []string
	for a, n := range clients {
		s = append(s, fmt.Sprintf("%s %d×", a, n))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func (p *warmProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		now := time.Now()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		first, seen := p.first[host]
		if !seen {
			if p.armed {
				first = now
				p.fresh = append(p.fresh, host)
			}
			p.first[host] = first
		}
		warming := !first.IsZero() && now.Sub(first) < p.warm
		if warming {
			p.refused[host]++
		} else {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if warming {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close sends RST: the client's first read fails with "connection reset"
			}
			_ = c.Close()
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *warmProxy) forward(c net.Conn) {
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	_ = c.Close() // one direction ended: end both
	_ = up.Close()
	<-done
}

func (p *warmProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *warmProxy) close() {
	p.mu.Lock()
	p.closed = true
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
