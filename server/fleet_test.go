package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"golang.org/x/net/dns/dnsmessage"
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
	closed := checktest.ClosedAddr(t)

	var peers []Peer
	for _, s := range []*peerServer{failing, passing, unknown, other, self, refused, garbage, hung} {
		peers = append(peers, Peer{Addr: addrOf(s.Server)})
	}
	peers = append(peers, Peer{Addr: closed})
	var mu sync.Mutex
	results := map[string]int{}
	p := NewPeers(PeersOptions{Peers: peers, Token: "s3cr3t-fleet", Sample: 100, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) { mu.Lock(); results[r]++; mu.Unlock() }})
	defer p.Close()

	// The round's deadline is the hung peer's end: long enough that every other peer answers in time
	// on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	start := time.Now()
	answered, nFailing := p.Ask(ctx, "db")
	cancel()
	if answered != 2 || nFailing != 1 {
		t.Fatalf("Ask = %d answered, %d failing; want 2, 1 (only the peers that report db passing or failing)", answered, nFailing)
	}
	if took := time.Since(start); took > 5*time.Second {
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

// TestPeersNotFleetz: a peer that answers something other than /fleetz is bad_response and not heard,
// even when it points to a /fleetz (a redirect, which was followed, with the fleet token, and counted
// as the first peer's answer; one whose Location does not parse was counted unreachable) or when its
// first 64 KiB parse (an answer padded with blanks and followed by anything, which passed cut there),
// or when it sends headers past maxFleetHeaders (read up to Go's 10 MiB, per peer asked).
// Found while writing and running FuzzPeerAnswer.
func TestPeersNotFleetz(t *testing.T) {
	target := newPeer(t, fleetJSON("b", map[string]monitor.State{"db": monitor.Failing}))
	redirect := newPeer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/fleetz", http.StatusTemporaryRedirect)
	})
	padded := newPeer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"instance":"c","checks":{"db":"failing"}}`+strings.Repeat(" ", maxFleetBody)+"not json")
	})
	badLocation := newPeer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "%") // an http.Client failed it before any redirect policy: unreachable
		w.WriteHeader(http.StatusMovedPermanently)
	})
	bigHeaders := newPeer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pad", strings.Repeat("x", maxFleetHeaders))
		fleetJSON("d", map[string]monitor.State{"db": monitor.Failing})(w, r)
	})
	for _, peer := range []*peerServer{redirect, padded, badLocation, bigHeaders} {
		var results []string
		p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(peer.Server)}}, Token: "s3cr3t-fleet", Sample: 1, Instance: "me",
			CacheFor: time.Second, OnResult: func(r string) { results = append(results, r) }})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		answered, failing := p.Ask(ctx, "db")
		cancel()
		p.Close()
		if answered != 0 || failing != 0 || len(results) != 1 || results[0] != PeerBadAnswer {
			t.Errorf("Ask = %d answered, %d failing, results %q; want none heard, one bad_response", answered, failing, results)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the redirect was followed: its target asked %d times", n)
	}
}

// TestPeersCountPods: a pod reached through two addresses (dual-stack A and AAAA records, a static
// entry and a DNS answer) is one pod heard, or two pods would pass for min_pods: 3.
func TestPeersCountPods(t *testing.T) {
	a := newPeer(t, fleetJSON("a", map[string]monitor.State{"db": monitor.Failing}))
	b := newPeer(t, fleetJSON("b", map[string]monitor.State{"db": monitor.Passing}))
	_, port, _ := net.SplitHostPort(addrOf(a.Server))
	peers := []Peer{{Addr: addrOf(a.Server)}, {Addr: "localhost:" + port}, {Addr: addrOf(b.Server)}}
	p := NewPeers(PeersOptions{Peers: peers, Sample: 10, Instance: "me", CacheFor: time.Second})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if answered, failing := p.Ask(ctx, "db"); answered != 2 || failing != 1 {
		t.Fatalf("Ask = %d answered, %d failing; want 2, 1 (pod a counted once)", answered, failing)
	}
	if a.hits.Load() != 2 {
		t.Fatalf("pod a asked %d times; want both its addresses asked", a.hits.Load())
	}
}

// TestPeersZone: a peer written as an IPv6 address with a zone ([fe80::1%eth0]:8080, a link-local
// address) is asked: its "%" was pasted into the URL unescaped, which failed to parse, and the peer
// was counted bad_response every round without ever being asked.
func TestPeersZone(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	peer := &peerServer{}
	peer.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer.hits.Add(1)
		fleetJSON("a", map[string]monitor.State{"db": monitor.Failing})(w, r)
	}))
	_ = peer.Listener.Close()
	peer.Listener = ln
	peer.Start()
	t.Cleanup(peer.Close)
	lo, err := net.InterfaceByIndex(1)
	if err != nil || lo.Flags&net.FlagLoopback == 0 {
		t.Skipf("interface 1 is not the loopback: %v", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addr := net.JoinHostPort("::1%"+lo.Name, port)
	var results []string
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addr}}, Sample: 10, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) { results = append(results, r) }})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if a, f := p.Ask(ctx, "db"); a != 1 || f != 1 || peer.hits.Load() != 1 {
		t.Fatalf("Ask(%s) = %d, %d, results %q, peer asked %d times; want the peer asked and heard, failing", addr, a, f, results, peer.hits.Load())
	}
}

// TestPeersSelfAskedAgain: an address that answered as this process is left out for selfFor only, and
// one that later answers as another pod (a load-balanced address) is logged.
func TestPeersSelfAskedAgain(t *testing.T) {
	var n atomic.Int64
	lb := newPeer(t, func(w http.ResponseWriter, r *http.Request) {
		instance := "me"
		if n.Add(1) > 1 {
			instance = "other"
		}
		fleetJSON(instance, map[string]monitor.State{"db": monitor.Failing})(w, r)
	})
	var logs checktest.Buffer
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(lb.Server)}}, Sample: 10, Instance: "me", CacheFor: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer p.Close()
	ask := func() (int, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return p.Ask(ctx, "db")
	}
	if a, _ := ask(); a != 0 {
		t.Fatalf("first round heard %d; want 0 (the address answered as this process)", a)
	}
	ask()
	if lb.hits.Load() != 1 {
		t.Fatalf("the address was asked %d times within selfFor; want 1", lb.hits.Load())
	}
	p.mu.Lock()
	p.self[addrOf(lb.Server)] = time.Now() // selfFor has passed
	p.mu.Unlock()
	if a, f := ask(); a != 1 || f != 1 {
		t.Fatalf("after selfFor the address answered as another pod: Ask = %d, %d; want 1, 1", a, f)
	}
	if !strings.Contains(logs.String(), "answered as this pod and as another one") {
		t.Fatalf("no warning about a load-balanced peer address; log:\n%s", logs.String())
	}
}

// TestPeersSample: at most sample peers per round, chosen at random, so a pod's cost stays flat as
// the fleet grows.
func TestPeersSample(t *testing.T) {
	var peers []Peer
	var servers []*peerServer
	for i := range 50 {
		s := newPeer(t, fleetJSON(fmt.Sprint(i), map[string]monitor.State{"db": monitor.Failing}))
		servers = append(servers, s)
		peers = append(peers, Peer{Addr: addrOf(s.Server)})
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
	// A DNS "server" that is a closed UDP port: resolution fails, counted, and nobody is asked. A FreePort's
	// (below the ephemeral range): a port-0 socket's, closed, could be any resolver's next local port.
	server := checktest.ClosedAddr(t)
	var resolveErrors atomic.Int64
	var log checktest.Buffer
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.invalid:8080", DNS: true, Server: server}}, Sample: 10, Instance: "me", CacheFor: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		OnResult: func(r string) {
			if r == ResolveError {
				resolveErrors.Add(1)
			}
		}})
	defer p.Close()
	for range 3 { // each round resolves again (CacheFor 1ms), each lookup from another local port
		time.Sleep(2 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a, f := p.Ask(ctx, "db")
		cancel()
		if a != 0 || f != 0 {
			t.Fatalf("Ask = %d, %d with no resolvable peers", a, f)
		}
	}
	if resolveErrors.Load() != 3 {
		t.Fatalf("resolve errors counted %d; want 3", resolveErrors.Load())
	}
	// Logged once while it stays the same, naming the configured target and server (the error's own
	// text names the system's resolver and the query's local port, new every round).
	if n := strings.Count(log.String(), "cannot resolve peers"); n != 1 {
		t.Fatalf("%d lines for one unchanged problem; want 1:\n%s", n, log.String())
	}
	if want := "dns://" + server + "/peers.invalid:8080: "; !strings.Contains(log.String(), want) || !strings.Contains(log.String(), "(DNS server "+server+")") {
		t.Fatalf("the line does not name %q and its server:\n%s", want, log.String())
	}
}

// allPeersFailing is a fleet of 4 other pods that all see every check failing.
type allPeersFailing struct{}

func (allPeersFailing) Ask(context.Context, string) (int, int) { return 4, 4 }

// TestFailOpenAnswers: what each endpoint says while a shared check fails open; exact bodies.
func TestFailOpenAnswers(t *testing.T) {
	var db dep
	c := config.NewCheck("db", "postgres", "test", config.NewDefaults())
	c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold, c.Scope = 20*time.Millisecond, 10*time.Millisecond, 1, 1, config.ScopeShared
	shared := checks.Func(c, func(context.Context) error {
		if p := db.err.Load(); p != nil {
			return *p
		}
		return nil
	})
	metrics := NewMetrics(BuildInfo{})
	f := newFixtureWith(t, Options{Metrics: metrics, Fleet: &FleetOptions{Instance: "i-1", Token: "s3cr3t-fleet"}},
		monitor.Options{Fleet: &monitor.Fleet{Peers: allPeersFailing{}, Ratio: 0.5, MinPods: 3, Timeout: 10 * time.Millisecond}}, shared)
	f.settle(t, allRan)
	db.fail(errSecret)
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Checks[0].FailOpen })

	f.expectBodies(t, []expectedBody{
		{"/readyz", 200, "[+]shutdown ok\n[+]db failing open: failing on 5 of 5 pods heard from\nreadyz check passed\n"},
		{"/readyz/db", 503, "[-]db failed: reason withheld\nreadyz check failed\n"},
	})
	r := f.get(t, "/readyz")
	if r.header.Get("X-Envoy-Degraded") != "true" {
		t.Error("no X-Envoy-Degraded while failing open")
	}
	j := f.get(t, "/readyz", "Accept", "application/health+json")
	if !strings.Contains(j.body, `"status":"warn"`) || !strings.Contains(j.body, `"output":"failing open: failing on 5 of 5 pods heard from"`) {
		t.Errorf("health+json: %s", j.body)
	}
	h := NewHealth(f.mon)
	for svc, want := range map[string]servingStatus{"": statusServing, "readiness": statusServing, "db": statusNotServing} {
		if got, _ := h.statusOf(f.mon.Snapshot(), svc); got != want {
			t.Errorf("gRPC %q = %d; want %d (readiness follows /readyz, a check its local truth)", svc, got, want)
		}
	}
	m := f.get(t, "/metrics").body
	for _, want := range []string{`healthgate_check_fail_open{check="db"} 1`, "healthgate_ready 1", `healthgate_check_up{check="db",critical="true",type="postgres"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r := f.get(t, "/fleetz"); r.code != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("/fleetz without token: %d", r.code)
	}
	if r := f.get(t, "/fleetz", "Authorization", "bearer s3cr3t-fleet"); r.code != 200 || r.body != `{"instance":"i-1","checks":{"db":"failing"}}`+"\n" {
		t.Errorf("/fleetz: %d %q", r.code, r.body)
	}

	db.heal()
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Status == monitor.Pass })
	f.expectBodies(t, []expectedBody{{"/readyz", 200, "ok"}})
	if !strings.Contains(f.get(t, "/metrics").body, `healthgate_check_fail_open{check="db"} 0`) {
		t.Error("fail_open still 1 after recovery")
	}
	if r := f.get(t, "/fleetz", "Authorization", "Bearer s3cr3t-fleet"); r.body != `{"instance":"i-1","checks":{"db":"passing"}}`+"\n" {
		t.Errorf("/fleetz after recovery: %q", r.body)
	}
}

// TestFleetzStaleIsUnknown: a check failing because it is stale (its runner has completed no run for
// 2 × interval + timeout: wedged, a bug) answers unknown on /fleetz, so peers do not hear it: it knows
// nothing of the dependency. It answered failing, which peers counted towards their fail-open: pods
// whose runners wedged together (failing locally, with reason stale) kept one another in, status warn,
// the wedge hidden from /readyz, and kept in a pod whose dependency failed alone. Locally it stays
// failing, with reason stale.
func TestFleetzStaleIsUnknown(t *testing.T) {
	c := config.NewCheck("db", "postgres", "test", config.NewDefaults())
	c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold, c.Scope = 20*time.Millisecond, 10*time.Millisecond, 1, 1, config.ScopeShared
	failing := checks.Func(c, func(context.Context) error { return errSecret })
	wedge := make(chan struct{})
	var runs atomic.Int64
	f := newFixtureWith(t, Options{Fleet: &FleetOptions{Instance: "i-1"}}, monitor.Options{OnRun: func(monitor.Run) {
		if runs.Add(1) == 2 {
			<-wedge // the runner stops here: no run completes any more
		}
	}}, failing)
	t.Cleanup(func() { close(wedge) }) // before the fixture's own cleanup waits for the runner
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Checks[0].State == monitor.Failing })
	if r := f.get(t, "/fleetz?check=db"); r.body != `{"instance":"i-1","checks":{"db":"failing"}}`+"\n" {
		t.Fatalf("/fleetz?check=db while failing: %q", r.body)
	}
	f.settle(t, func(s *monitor.Snapshot) bool { return s.Checks[0].Stale() })
	for _, path := range []string{"/fleetz?check=db", "/fleetz"} {
		if r := f.get(t, path); r.code != 200 || r.body != `{"instance":"i-1","checks":{"db":"unknown"}}`+"\n" {
			t.Errorf("%s while stale: %d %q; want db unknown", path, r.code, r.body)
		}
	}
	f.expectBodies(t, []expectedBody{{"/readyz/db", 503, "[-]db failed: reason withheld\nreadyz check failed\n"}})
}

// TestPeersDNSKeepsLastAnswer: a lookup that fails after a good one keeps asking the addresses of the last
// answer (a DNS hiccup must not make every peer unheard and close a fail-open), for at most keepStale;
// also when the DNS server does not answer at all, whose lookup took the whole round and left none of it
// to ask those addresses in.
func TestPeersDNSKeepsLastAnswer(t *testing.T) {
	peer := newPeer(t, fleetJSON("other", map[string]monitor.State{"db": monitor.Failing}))
	_, port, _ := net.SplitHostPort(addrOf(peer.Server))
	var broken, silent atomic.Bool
	answer := make(chan struct{}) // while silent, queries wait for it
	dns := checktest.ServeDNS(t, "127.0.0.1:0", func(name string) ([]netip.Addr, dnsmessage.RCode) {
		if silent.Load() {
			<-answer // then the failure, late: the resolver's goroutines, which outlive the lookup, end
			return nil, dnsmessage.RCodeServerFailure
		}
		switch {
		case broken.Load():
			return nil, dnsmessage.RCodeServerFailure
		case name == "peers.test.":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dnsmessage.RCodeSuccess
		}
		return nil, dnsmessage.RCodeNameError
	})
	var resolveErrors atomic.Int64
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: dns}},
		Sample: 10, Instance: "me", CacheFor: time.Millisecond,
		OnResult: func(r string) {
			if r == ResolveError {
				resolveErrors.Add(1)
			}
		}})
	defer p.Close()
	ask := func() (int, int) {
		time.Sleep(2 * time.Millisecond) // past CacheFor: every round resolves
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return p.Ask(ctx, "db")
	}
	if a, f := ask(); a != 1 || f != 1 {
		t.Fatalf("Ask = %d, %d; want the peer DNS names heard, failing", a, f)
	}
	broken.Store(true)
	if a, f := ask(); a != 1 || f != 1 {
		t.Fatalf("Ask with DNS failing = %d, %d; want the peer of the last answer still heard", a, f)
	}
	if resolveErrors.Load() == 0 {
		t.Fatal("the failed lookup was not counted")
	}
	silent.Store(true)
	a, f := ask()
	silent.Store(false)
	close(answer)
	if a != 1 || f != 1 {
		t.Fatalf("Ask with the DNS server silent = %d, %d; want the peer of the last answer still heard", a, f)
	}
	p.mu.Lock()
	p.keepStale = 0 // the lookups have now failed for longer than keepStale
	p.mu.Unlock()
	if a, f := ask(); a != 0 || f != 0 {
		t.Fatalf("Ask with DNS failing past keepStale = %d, %d; want nobody heard", a, f)
	}
	broken.Store(false)
	if a, _ := ask(); a != 1 {
		t.Fatalf("Ask after DNS recovered = %d; want the peer heard again", a)
	}
}

// TestPeersDNSSameNameTwoServers: one name listed through two DNS servers (dns://A/name:port and
// dns://B/name:port, for redundancy) keeps each server's answer apart. Both were kept under the name
// alone, so while B failed, the last answer it kept replaced A's fresh one: the pods that had left were
// asked, and those that had come were not.
func TestPeersDNSSameNameTwoServers(t *testing.T) {
	peer := newPeer(t, fleetJSON("other", map[string]monitor.State{"db": monitor.Failing}))
	_, port, _ := net.SplitHostPort(addrOf(peer.Server))
	gone := netip.MustParseAddr("127.0.0.2") // a pod that has left: nothing listens there
	var moved, broken atomic.Bool
	answer := func(failing *atomic.Bool) func(string) ([]netip.Addr, dnsmessage.RCode) {
		return func(name string) ([]netip.Addr, dnsmessage.RCode) {
			switch {
			case failing != nil && failing.Load():
				return nil, dnsmessage.RCodeServerFailure
			case name != "peers.test.":
				return nil, dnsmessage.RCodeNameError
			case moved.Load():
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dnsmessage.RCodeSuccess
			}
			return []netip.Addr{gone}, dnsmessage.RCodeSuccess
		}
	}
	a := checktest.ServeDNS(t, "127.0.0.1:0", answer(nil))
	b := checktest.ServeDNS(t, "127.0.0.1:0", answer(&broken))
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: a}, {Addr: "peers.test:" + port, DNS: true, Server: b}},
		Sample: 10, Instance: "me", CacheFor: time.Millisecond})
	defer p.Close()
	ask := func() int {
		time.Sleep(2 * time.Millisecond) // past CacheFor: every round resolves
		// Bounds the round only: the answers come at once (a refused pod, the peer), however slow the machine.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		answered, _ := p.Ask(ctx, "db")
		return answered
	}
	if n := ask(); n != 0 {
		t.Fatalf("Ask = %d heard; want none (the only pod named has left)", n)
	}
	moved.Store(true) // the pods changed: A says so, B no longer answers
	broken.Store(true)
	if n := ask(); n != 1 {
		t.Fatalf("Ask = %d heard; want the pod server A names now (B's failure keeps B's last answer, not in place of A's)", n)
	}
}

// TestPeersDNSKeepsLastAnswerLongInterval: the last answer is kept for keepStale from the first lookup
// that failed, however old the answer: a shared check whose interval is a minute or more looks the name up
// once per interval, so its last answer was always older than keepStale (counted from the answer) and a
// single failed lookup left every peer unheard.
func TestPeersDNSKeepsLastAnswerLongInterval(t *testing.T) {
	peer := newPeer(t, fleetJSON("other", map[string]monitor.State{"db": monitor.Failing}))
	_, port, _ := net.SplitHostPort(addrOf(peer.Server))
	var broken atomic.Bool
	dns := checktest.ServeDNS(t, "127.0.0.1:0", func(name string) ([]netip.Addr, dnsmessage.RCode) {
		if broken.Load() {
			return nil, dnsmessage.RCodeServerFailure
		}
		if name == "peers.test." {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dnsmessage.RCodeSuccess
		}
		return nil, dnsmessage.RCodeNameError
	})
	const keep, interval = 200 * time.Millisecond, 300 * time.Millisecond // a round every interval, longer than keep
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: dns}},
		Sample: 10, Instance: "me", CacheFor: time.Millisecond})
	defer p.Close()
	p.mu.Lock()
	p.keepStale = keep
	p.mu.Unlock()
	ask := func() int {
		// Past CacheFor: every round resolves. (A round right after one whose lookup failed, within
		// the millisecond, used that lookup's empty answer: the round after DNS recovered heard nobody.)
		time.Sleep(2 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a, _ := p.Ask(ctx, "db")
		return a
	}
	if a := ask(); a != 1 {
		t.Fatalf("Ask = %d; want the peer the name gives heard", a)
	}
	time.Sleep(interval)
	broken.Store(true)
	if a := ask(); a != 1 {
		t.Fatalf("Ask at the first failed lookup, the last answer one interval (> keepStale) old = %d; want its peer still heard", a)
	}
	time.Sleep(interval)
	if a := ask(); a != 0 {
		t.Fatalf("Ask with lookups failing for longer than keepStale = %d; want nobody heard", a)
	}
	broken.Store(false)
	if a := ask(); a != 1 {
		t.Fatalf("Ask after DNS recovered = %d; want the peer heard again", a)
	}
	// Recovered, the count starts again at the next failure.
	time.Sleep(interval)
	broken.Store(true)
	if a := ask(); a != 1 {
		t.Fatalf("Ask at a new first failed lookup = %d; want the last answer's peer heard", a)
	}
}

// TestPeersDNSOneLookup: the rounds of two shared checks failing together (each right after its own
// run, often at the same instant) share one lookup: each made its own, two queries of every name per
// interval (against "resolved at most once per interval") and, while DNS failed, two resolve_errors.
func TestPeersDNSOneLookup(t *testing.T) {
	peer := newPeer(t, fleetJSON("other", map[string]monitor.State{"db": monitor.Failing, "cache": monitor.Failing}))
	_, port, _ := net.SplitHostPort(addrOf(peer.Server))
	var queries atomic.Int64
	dns := checktest.ServeDNS(t, "127.0.0.1:0", func(name string) ([]netip.Addr, dnsmessage.RCode) {
		queries.Add(1)
		time.Sleep(50 * time.Millisecond) // the lookups of rounds started together overlap
		if name == "peers.test." {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dnsmessage.RCodeSuccess
		}
		return nil, dnsmessage.RCodeNameError
	})
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: dns}},
		Sample: 10, Instance: "me", CacheFor: time.Hour})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, check := range []string{"db", "cache"} {
		wg.Go(func() {
			if a, f := p.Ask(ctx, check); a != 1 || f != 1 {
				t.Errorf("Ask(%s) = %d, %d; want the peer heard, failing", check, a, f)
			}
		})
	}
	wg.Wait()
	one := queries.Load()
	// One lookup asks A and AAAA: measure it alone on a fresh client.
	q := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: dns}},
		Sample: 10, Instance: "me", CacheFor: time.Hour})
	defer q.Close()
	q.Ask(ctx, "db")
	if perLookup := queries.Load() - one; one != perLookup {
		t.Fatalf("two rounds started together made %d DNS queries; one lookup makes %d", one, perLookup)
	}
}

// TestPeersDNSRoundCalledOff: a round called off during its lookup (a reload that replaces the check,
// shutdown) learns nothing about DNS: no resolve_error, no "cannot resolve" line, and the next round
// resolves at once instead of going without the peers for CacheFor.
func TestPeersDNSRoundCalledOff(t *testing.T) {
	peer := newPeer(t, fleetJSON("other", map[string]monitor.State{"db": monitor.Failing}))
	_, port, _ := net.SplitHostPort(addrOf(peer.Server))
	var slow atomic.Bool
	slow.Store(true)
	dns := checktest.ServeDNS(t, "127.0.0.1:0", func(name string) ([]netip.Addr, dnsmessage.RCode) {
		if slow.Swap(false) {
			time.Sleep(300 * time.Millisecond) // the first query: longer than the round lasts
		}
		if name == "peers.test." {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dnsmessage.RCodeSuccess
		}
		return nil, dnsmessage.RCodeNameError
	})
	var resolveErrors atomic.Int64
	var logs checktest.Buffer
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: "peers.test:" + port, DNS: true, Server: dns}},
		Sample: 10, Instance: "me", CacheFor: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnResult: func(r string) {
			if r == ResolveError {
				resolveErrors.Add(1)
			}
		}})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if a, _ := p.Ask(ctx, "db"); a != 0 {
		t.Fatalf("a round called off heard %d", a)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a, f := p.Ask(ctx, "db"); a != 1 || f != 1 {
		t.Fatalf("the round after one called off: Ask = %d, %d; want the peer heard, failing", a, f)
	}
	if n := resolveErrors.Load(); n != 0 || strings.Contains(logs.String(), "cannot resolve") {
		t.Errorf("a lookup cut by the round's end counted as a DNS failure (%d resolve errors); log:\n%s", n, logs.String())
	}

	// Nor is a peer whose answer the round no longer waits for counted unreachable.
	hung := newPeer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	var results sync.Map
	q := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(hung.Server)}}, Sample: 10, Instance: "me", CacheFor: time.Hour,
		OnResult: func(r string) { results.Store(r, true) }})
	defer q.Close()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	q.Ask(ctx, "db")
	results.Range(func(r, _ any) bool {
		t.Errorf("a request of a round called off counted as %v", r)
		return true
	})
}

// TestFleetTokenRotation: during a token rotation, pods with the new token (and the old one as
// previous_token) and pods that still have only the old one hear each other: /fleetz accepts either,
// and a peer that refuses the new token is asked again with the previous one. With one token only, every
// pod not yet rotated was refused (unauthorized) and unheard, fail-open off on both sides until the
// rotation ended (a rollout, for a token from secretKeyRef).
func TestFleetTokenRotation(t *testing.T) {
	requires := func(token string, h func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	notYet := newPeer(t, requires("s3cr3t-old", fleetJSON("a", map[string]monitor.State{"db": monitor.Failing})))
	rotated := newPeer(t, requires("s3cr3t-new", fleetJSON("b", map[string]monitor.State{"db": monitor.Failing})))
	var mu sync.Mutex
	results := map[string]int{}
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(notYet.Server)}, {Addr: addrOf(rotated.Server)}},
		Token: "s3cr3t-new", PreviousToken: "s3cr3t-old", Sample: 10, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) { mu.Lock(); results[r]++; mu.Unlock() }})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if a, f := p.Ask(ctx, "db"); a != 2 || f != 2 {
		t.Fatalf("Ask = %d, %d; want both peers heard, the one not yet rotated through the previous token", a, f)
	}
	mu.Lock()
	if results[PeerAnswered] != 2 || len(results) != 1 {
		t.Errorf("results %v; want 2 answered, one per peer", results)
	}
	mu.Unlock()
	if rotated.hits.Load() != 1 {
		t.Errorf("the rotated peer was asked %d times; want once, with the new token", rotated.hits.Load())
	}

	// /fleetz of a rotated pod accepts the old token (a peer not yet rotated) and the new one, nothing else.
	c := config.NewCheck("db", "postgres", "test", config.NewDefaults())
	c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold = time.Second, 100*time.Millisecond, 1, 1
	f := newFixtureWith(t, Options{Fleet: &FleetOptions{Instance: "i-1", Token: "s3cr3t-new", PreviousToken: "s3cr3t-old"}},
		monitor.Options{}, checks.Func(c, func(context.Context) error { return nil }))
	for token, want := range map[string]int{"s3cr3t-new": 200, "s3cr3t-old": 200, "s3cr3t-other": 401, "": 401} {
		if r := f.get(t, "/fleetz", "Authorization", "Bearer "+token); r.code != want {
			t.Errorf("/fleetz with %q = %d; want %d", token, r.code, want)
		}
	}
}

// TestPeersHearAPodOfManyChecks: a peer asks /fleetz about the one check it needs, so a pod is heard
// however many checks it has. The whole answer grows with the checks: 1,000 checks (a size the README
// measures) with names near the 63-character limit made 76 KB, over the 64 KiB a peer reads, and such a
// pod was bad_response to every peer, never heard, so a shared outage could never fail open.
func TestPeersHearAPodOfManyChecks(t *testing.T) {
	var db, others dep
	cs := []*checks.Check{db.checkEvery("db", true, time.Hour)}
	for i := range 1000 {
		cs = append(cs, others.checkEvery(fmt.Sprintf("payments-ledger-replica-connection-pool-%023d", i), true, time.Hour))
	}
	db.fail(errSecret)
	f := newFixtureWith(t, Options{Fleet: &FleetOptions{Instance: "big", Token: "s3cr3t-fleet"}}, monitor.Options{}, cs...)
	// db's first run (the others' results do not matter: a check not run yet is in /fleetz too).
	if _, ok := checktest.Poll(30*time.Second, 10*time.Millisecond, func() bool { return f.mon.Snapshot().Checks[0].State == monitor.Failing }); !ok {
		t.Fatalf("db is %s; want failing", f.mon.Snapshot().Checks[0].State)
	}
	if r := f.get(t, "/fleetz", "Authorization", "Bearer s3cr3t-fleet"); len(r.body) <= maxFleetBody {
		t.Fatalf("the whole /fleetz is %d bytes; the test needs one over %d", len(r.body), maxFleetBody)
	}
	for path, want := range map[string]string{
		"/fleetz?check=db":            `{"instance":"big","checks":{"db":"failing"}}`,
		"/fleetz?check=nope":          `{"instance":"big","checks":{}}`,
		"/fleetz?check=db&check=nope": `{"instance":"big","checks":{"db":"failing"}}`,
		"/fleetz?check=%64b":          `{"instance":"big","checks":{"db":"failing"}}`,
	} {
		if r := f.get(t, path, "Authorization", "Bearer s3cr3t-fleet"); r.code != 200 || r.body != want+"\n" {
			t.Errorf("%s: %d, %d bytes %.200q; want 200 %q", path, r.code, len(r.body), r.body, want)
		}
	}
	if r := f.get(t, "/fleetz?check=db"); r.code != 401 {
		t.Errorf("/fleetz?check=db without the token = %d; want 401", r.code)
	}

	var mu sync.Mutex
	results := map[string]int{}
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(f.srv)}}, Token: "s3cr3t-fleet", Sample: 10, Instance: "me", CacheFor: time.Second,
		OnResult: func(r string) { mu.Lock(); results[r]++; mu.Unlock() }})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a, failing := p.Ask(ctx, "db"); a != 1 || failing != 1 {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("Ask = %d, %d (results %v); want the pod of 1,001 checks heard, failing", a, failing, results)
	}
}

// TestFleetNames: the check parameter of /fleetz is read as url.ParseQuery reads it, without its map.
func TestFleetNames(t *testing.T) {
	for _, q := range []string{
		"check=db", "check=db&check=cache", "x=1&check=db", "check=a%2Fb", "check=a+b", "ch%65ck=db",
		"check=%zz&check=db", "check", "check=", "&&check=db&", "checks=db", "check=db=1", "verbose&check=db", "check=db;x=1", "check=db&a=1;b=2",
	} {
		want, _ := url.ParseQuery(q)
		if got := fleetNames(q, nil); !slices.Equal(got, want[checkFleetParam]) {
			t.Errorf("%q: %q; want %q, as url.ParseQuery reads it", q, got, want[checkFleetParam])
		}
	}
}

// TestPeersClosedDuringRound: a peer client closed while a round is under way (a reload that changed the
// fleet section replaces it, and serve closes the old one at once) keeps no connection once that round
// ends. A request made after Close (here the retry with the previous token; after a reload, the requests
// of a round still resolving its dns:/// peers) undoes CloseIdleConnections for the transport (net/http),
// and its connection stayed open, with its two goroutines, for IdleConnTimeout (90 s): past serve's end.
func TestPeersClosedDuringRound(t *testing.T) {
	var open atomic.Int64
	closing := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t-old" {
			<-closing // answered once the client is closed
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fleetJSON("a", map[string]monitor.State{"db": monitor.Failing})(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := NewPeers(PeersOptions{Peers: []Peer{{Addr: addrOf(srv)}}, Token: "s3cr3t-new", PreviousToken: "s3cr3t-old",
		Sample: 10, Instance: "me", CacheFor: time.Hour})
	asked := make(chan int)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a, _ := p.Ask(ctx, "db")
		asked <- a
	}()
	checktest.Eventually(t, 2*time.Second, "the first request", func() bool { return open.Load() > 0 })
	p.Close()
	close(closing)
	if a := <-asked; a != 1 {
		t.Fatalf("the round heard %d peers; want the peer heard through the previous token", a)
	}
	checktest.Eventually(t, 2*time.Second, "no connection left open by the closed client", func() bool { return open.Load() == 0 })
}

// TestPeersSelfTakesNoPeersPlace: an address that answers as this process (the pod reaching itself
// through the peers name) takes no peer's place in the sample: another is asked instead, so a round
// still hears this pod and sample peers, what min_pods may ask for (sample + 1 is valid). Such a round
// heard one pod fewer, could not fail open with min_pods at sample + 1, and a check whose interval is
// past selfFor asked its own address again at every round.
func TestPeersSelfTakesNoPeersPlace(t *testing.T) {
	self := newPeer(t, fleetJSON("me", map[string]monitor.State{"db": monitor.Failing}))
	a := newPeer(t, fleetJSON("a", map[string]monitor.State{"db": monitor.Failing}))
	b := newPeer(t, fleetJSON("b", map[string]monitor.State{"db": monitor.Failing}))
	c := newPeer(t, fleetJSON("c", map[string]monitor.State{"db": monitor.Failing}))
	peers := []Peer{{Addr: addrOf(self.Server)}, {Addr: addrOf(a.Server)}, {Addr: addrOf(b.Server)}, {Addr: addrOf(c.Server)}}
	for range 20 { // the sample is random: a fresh client each time, its own address not yet known
		p := NewPeers(PeersOptions{Peers: peers, Sample: 2, Instance: "me", CacheFor: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		before := a.hits.Load() + b.hits.Load() + c.hits.Load()
		answered, failing := p.Ask(ctx, "db")
		cancel()
		p.Close()
		if answered != 2 || failing != 2 {
			t.Fatalf("Ask = %d, %d; want 2 peers heard (sample 2), this pod's own address asked in place of none", answered, failing)
		}
		if n := a.hits.Load() + b.hits.Load() + c.hits.Load() - before; n != 2 {
			t.Fatalf("%d peers asked; want sample (2)", n)
		}
	}
}
