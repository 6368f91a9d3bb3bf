package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
)

// peerServer answers /fleetz like a healthgate would, with the given instance and body.
type peerServer struct {
	*httptest.Server
	hits  atomic.Int64
	auths sync.Map // Authorization headers seen
}

func newPeer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *peerServer {
	p := &peerServer{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.auths.Store(r.Header.Get("Authorization"), true)
		handler(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func fleetJSON(instance string, checks map[string]monitor.State) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(fleetBody{Instance: instance, Checks: checks})
	}
}

func addrOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func TestPeersAsk(t *testing.T) {
	failing := newPeer(t, fleetJSON("a", map[string]monitor.State{"db": monitor.Failing}))
	passing := newPeer(t, fleetJSON("b", map[string]monitor.State{"db": monitor.Passing}))
	unknown := newPeer(t, fleetJSON("c", map[string]monitor.State{"db": monitor.Unknown}))
	other := newPeer(t, fleetJSON("d", map[string]monitor.State{"cache": monitor.Failing}))
	self := newPeer(t, fleetJSON("me", map[string]monitor.State{"db": monitor.Failing}))
	refused := newPeer(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	garbage := newPeer(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) })
	hung := newPeer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	_ = ln.Close()

	var peers []config.Peer
	for _, s := range []*peerServer{failing, passing, unknown, other, self, refused, garbage, hung} {
		peers = append(peers, config.Peer{Addr: addrOf(s.Server)})
	}
	peers = append(peers, config.Peer{Addr: closed})
	var mu sync.Mutex
	results := map[string]int{}
	p := NewPeers(PeersOptions{Peers: peers, Token: "s3cr3t-fleet", Sample: 100, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) { mu.Lock(); results[r]++; mu.Unlock() }})
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	answered, nFailing := p.Ask(ctx, "db")
	cancel()
	if answered != 2 || nFailing != 1 {
		t.Fatalf("Ask = %d answered, %d failing; want 2, 1 (only the peers that report db passing or failing)", answered, nFailing)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Ask took %s: a hung peer must not hold the round past its deadline", took)
	}
	want := map[string]int{PeerAnswered: 2, PeerNoCheck: 2, PeerSelf: 1, PeerRefused: 1, PeerBadAnswer: 1, PeerUnreachable: 2}
	mu.Lock()
	for k, v := range want {
		if results[k] != v {
			t.Errorf("result %s counted %d; want %d (all: %v)", k, results[k], v, results)
		}
	}
	mu.Unlock()
	if _, ok := failing.auths.Load("Bearer s3cr3t-fleet"); !ok {
		t.Error("the token was not sent")
	}
	// The pod that turned out to be itself is not asked again.
	before := self.hits.Load()
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	p.Ask(ctx, "db")
	cancel()
	if self.hits.Load() != before {
		t.Error("asked itself again")
	}
}

// TestPeersSample: at most sample peers per round, chosen at random, so a pod's cost stays flat as
// the fleet grows.
func TestPeersSample(t *testing.T) {
	var peers []config.Peer
	var servers []*peerServer
	for i := range 50 {
		s := newPeer(t, fleetJSON(fmt.Sprint(i), map[string]monitor.State{"db": monitor.Failing}))
		servers = append(servers, s)
		peers = append(peers, config.Peer{Addr: addrOf(s.Server)})
	}
	p := NewPeers(PeersOptions{Peers: peers, Sample: 10, Instance: "me", CacheFor: time.Second})
	defer p.Close()
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		answered, _ := p.Ask(ctx, "db")
		cancel()
		if answered != 10 {
			t.Fatalf("answered %d; want the sample of 10", answered)
		}
	}
	var total, asked int64
	for _, s := range servers {
		total += s.hits.Load()
		if s.hits.Load() > 0 {
			asked++
		}
	}
	if total != 200 {
		t.Fatalf("%d requests in 20 rounds; want 200", total)
	}
	// 20 random samples of 10 out of 50 leave a given peer out with probability 0.8^20 ≈ 1%: nearly
	// all are asked at least once. A fixed choice would ask 10.
	if asked < 35 {
		t.Errorf("only %d distinct peers asked over 20 rounds: the sample is not random", asked)
	}
}

func TestPeersDNSError(t *testing.T) {
	// A DNS "server" that is a closed UDP port: resolution fails, counted, and nobody is asked.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	server := pc.LocalAddr().String()
	_ = pc.Close()
	var resolveErrors atomic.Int64
	p := NewPeers(PeersOptions{Peers: []config.Peer{{Addr: "peers.invalid:8080", DNS: true, Server: server}}, Sample: 10, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) {
			if r == ResolveError {
				resolveErrors.Add(1)
			}
		}})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if a, f := p.Ask(ctx, "db"); a != 0 || f != 0 {
		t.Fatalf("Ask = %d, %d with no resolvable peers", a, f)
	}
	if resolveErrors.Load() != 1 {
		t.Fatalf("resolve errors counted %d; want 1", resolveErrors.Load())
	}
}
