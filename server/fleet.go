package server

import (
	"context"
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthgate/healthgate/monitor"
)

// Fleet-aware readiness, HTTP side (docs/design.md §10): /fleetz tells peers this process's local
// state of each check, and Peers asks the other pods' /fleetz while a shared check fails here.

// FleetOptions turn on /fleetz.
type FleetOptions struct {
	Instance string // this process's id: a pod that reaches itself through the peers name skips itself
	Token    string // when set, /fleetz requires it as a Bearer token
	// PreviousToken, when set, is accepted as well (a token rotation under way).
	PreviousToken string
}

// NewInstanceID returns a random id for this process.
func NewInstanceID() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// fleetBody is /fleetz: the instance and each check's local state after thresholds, nothing else (no
// reason, no target: a peer needs only the state, and /fleetz may be open to the whole namespace).
type fleetBody struct {
	Instance string                   `json:"instance"`
	Checks   map[string]monitor.State `json:"checks"`
}

// fleetCache holds /fleetz rendered for one snapshot: whole, and for each check asked alone
// (/fleetz?check=NAME, what a peer asks), filled on first use.
type fleetCache struct {
	snap *monitor.Snapshot
	all  atomic.Pointer[body]
	one  []atomic.Pointer[body] // by the check's index in snap.Checks
	none atomic.Pointer[body]   // asked alone, a check this process does not have
}

func newFleetCache(s *monitor.Snapshot) *fleetCache {
	return &fleetCache{snap: s, one: make([]atomic.Pointer[body], len(s.Checks))}
}

// whole returns /fleetz with every check.
func (fc *fleetCache) whole(instance string) *body {
	if b := fc.all.Load(); b != nil {
		return b
	}
	b := renderFleet(instance, fc.snap.Checks)
	fc.all.Store(b)
	return b
}

// checkFleetParam is the query parameter by which a peer names the check it asks about.
const checkFleetParam = "check"

// only returns /fleetz for the checks named, those of them this process has: a peer asks about one
// check, and the whole answer grows with the checks (1,000 checks with long names made 76 KB, more than
// the maxFleetBody a peer reads, so such a pod was never heard).
func (fc *fleetCache) only(instance string, names []string) *body {
	if len(names) == 1 {
		i, ok := fc.snap.Index(names[0])
		if !ok {
			// A check this process does not have (a peer's newer configuration, a mistyped name):
			// the answer without checks, rendered once, as any other.
			if b := fc.none.Load(); b != nil {
				return b
			}
			b := renderFleet(instance, nil)
			fc.none.Store(b)
			return b
		}
		if b := fc.one[i].Load(); b != nil {
			return b
		}
		b := renderFleet(instance, fc.snap.Checks[i:i+1])
		fc.one[i].Store(b)
		return b
	}
	var cs []monitor.CheckStatus
	for _, name := range names {
		if c, ok := fc.snap.Lookup(name); ok {
			cs = append(cs, *c)
		}
	}
	return renderFleet(instance, cs)
}

// fleetNames appends to names the values of the check parameter in query, unescaped. What a peer asks,
// check=NAME (a check's name needs no escape), takes no allocation: url.ParseQuery made a map per request.
func fleetNames(query string, names []string) []string {
	for query != "" {
		var part string
		part, query, _ = strings.Cut(query, "&")
		if strings.Contains(part, ";") {
			continue // url.ParseQuery refuses a ';' (no longer a separator) and leaves the pair out
		}
		key, value, _ := strings.Cut(part, "=")
		if key != checkFleetParam {
			if !strings.ContainsAny(key, "%+") {
				continue
			}
			if k, err := url.QueryUnescape(key); err != nil || k != checkFleetParam {
				continue
			}
		}
		if strings.ContainsAny(value, "%+") {
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue // url.ParseQuery leaves such a pair out too
			}
			value = v
		}
		names = append(names, value)
	}
	return names
}

// renderFleet renders /fleetz with the states of cs. A stale check answers unknown, as one that has not
// run yet: failing here only because its runner completed no run for 2 × interval + timeout (a wedge, a
// bug), it knows nothing of the dependency, and peers hear only what sees it (docs/design.md §10).
// Answered failing, pods whose runners wedged together kept one another in, failing open.
func renderFleet(instance string, cs []monitor.CheckStatus) *body {
	fb := fleetBody{Instance: instance, Checks: make(map[string]monitor.State, len(cs))}
	for _, c := range cs {
		fb.Checks[c.Name] = c.State
		if c.Stale() {
			fb.Checks[c.Name] = monitor.Unknown
		}
	}
	data, _ := json.Marshal(fb) // a struct of strings: cannot fail
	data = append(data, '\n')
	return &body{data: data, length: []string{strconv.Itoa(len(data))}, ok: true, json: true}
}

var bearerChallenge = []string{`Bearer realm="healthgate-fleet"`}

func (h *Handler) fleetz(w http.ResponseWriter, r *http.Request) {
	set := h.settings.Load()
	if !set.fleet {
		h.notFound(w, r)
		return
	}
	if auth := r.Header.Get("Authorization"); len(set.fleetToken) > 0 && !bearerMatches(auth, set.fleetToken) &&
		!bearerMatches(auth, set.fleetPrev) {
		w.Header()["WWW-Authenticate"] = bearerChallenge
		replyError(w, r, http.StatusUnauthorized, "unauthorized: /fleetz needs the fleet token")
		return
	}
	snap := h.src.Snapshot()
	fc := h.fleet.Load()
	if fc == nil || fc.snap != snap {
		fc = newFleetCache(snap)
		h.fleet.Store(fc)
	}
	var b *body
	if r.URL.RawQuery != "" {
		var one [1]string // on the stack: a peer names one check
		if names := fleetNames(r.URL.RawQuery, one[:0]); len(names) > 0 {
			b = fc.only(set.instance, names)
		}
	}
	if b == nil {
		b = fc.whole(set.instance)
	}
	hdr := w.Header()
	hdr["Content-Type"] = jsonMediaType
	hdr["Cache-Control"] = noStore
	hdr["Content-Length"] = b.length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.data)
}

var jsonMediaType = []string{"application/json"}

// bearerMatches compares an Authorization header with a token in constant time; the scheme is
// case-insensitive, and one or more spaces may follow it (RFC 9110 §11.4: 1*SP).
func bearerMatches(auth string, token []byte) bool {
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "Bearer ") {
		return false
	}
	return len(token) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimLeft(auth[7:], " ")), token) == 1
}

// Results of one request to a peer, the result label of healthgate_fleet_requests_total.
const (
	PeerAnswered    = "answered"     // answered with a state for the check
	PeerNoCheck     = "no_check"     // answered, without that check (or with unknown): not heard
	PeerSelf        = "self"         // it was this process (reached through the peers name)
	PeerUnreachable = "unreachable"  // refused, reset, timed out
	PeerRefused     = "unauthorized" // 401/403: the fleet tokens differ
	PeerBadAnswer   = "bad_response" // another status, or a body that is not /fleetz
	ResolveError    = "resolve_error"
)

// maxFleetBody bounds what is read from a peer.
const maxFleetBody = 64 << 10

// maxFleetHeaders bounds the headers of a peer's answer (Go reads up to 10 MiB of them otherwise, for
// each peer a round asks): /fleetz sends a few hundred bytes.
const maxFleetHeaders = 16 << 10

// Peer is one peer to ask, as the configuration's fleet.peers gives it (main converts config.Peer).
type Peer struct {
	// Addr is host:port: the peer itself, or (DNS) the name to resolve and the port to ask on.
	Addr string
	// DNS: Addr's host is a name whose A/AAAA records are the peers.
	DNS bool
	// Server is the DNS server (host:port) to ask; empty for the system's.
	Server string
}

// PeersOptions configure Peers.
type PeersOptions struct {
	Peers []Peer
	Token string
	// PreviousToken, when set, is sent to a peer that refuses Token (a rotation under way: that peer
	// still has the old one).
	PreviousToken string
	Sample        int
	Instance      string
	// CacheFor: DNS answers are reused for at most this long (the shortest shared interval).
	CacheFor time.Duration
	// OnResult is called once per peer asked (one asked again with PreviousToken counts once, its
	// last answer) and per failed resolution, with its result; it must not block. Metrics count them.
	OnResult func(result string)
	Logger   *slog.Logger
}

// Peers asks other healthgate processes' /fleetz. It implements monitor.Peers.
type Peers struct {
	opts      PeersOptions
	send      http.RoundTripper // the transport: one request, one answer, no redirect followed
	transport *http.Transport
	log       *slog.Logger

	// resolving is held by the round that resolves the dns:/// peers: rounds of several shared checks
	// failing together (each after its own run, often the same instant) share one lookup.
	resolving chan struct{}

	mu        sync.Mutex
	resolved  map[Peer]lookup // dns:/// peer → its last good answer (one name through two servers: two answers)
	expires   time.Time
	self      map[string]time.Time // addresses that answered as this process → not asked until then
	lbWarned  bool                 // the "address reaches several pods" warning was logged
	lastError string               // last resolution problem logged, so it is logged once
	refusedAt time.Time            // when the "peers refuse the token" warning was last logged
	keepStale time.Duration        // keepStale; tests shorten it

	closed atomic.Bool // Close was called: a round that ends afterwards closes the connections it left idle
}

// NewPeers returns the peer client.
func NewPeers(opts PeersOptions) *Peers {
	if opts.OnResult == nil {
		opts.OnResult = func(string) {}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &http.Transport{
		Proxy:               nil, // peer traffic stays inside the cluster: never through HTTP_PROXY
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		// Past it the transport fails the request: classified bad_response in ask.
		MaxResponseHeaderBytes: maxFleetHeaders,
	}
	// Requests go to the transport itself, not through an http.Client: a redirect is not /fleetz, the
	// peer answered something else (bad_response). Followed, it would send the fleet token on to
	// wherever it points and count that answer as the peer's; and a Client fails a 3xx whose Location
	// does not parse before any redirect policy is asked (unreachable, for a peer that answered).
	return &Peers{opts: opts, transport: t, send: t, log: log, self: map[string]time.Time{},
		resolved: map[Peer]lookup{}, keepStale: keepStale, resolving: make(chan struct{}, 1)}
}

// lookup is a dns:/// peer's last good answer.
type lookup struct {
	addrs []string // host:port
	// failing is when lookups of the name began to fail, the answer kept since; zero while they succeed.
	failing time.Time
}

// keepStale is how long a dns:/// peer's last good answer is still used while new lookups fail (a DNS
// server restarting, a lost UDP packet, a resolver starved of CPU for the round's short timeout), counted
// from the first lookup that failed: counted from the answer itself, it was never kept for a shared check
// whose interval is a minute or more (the name is looked up once per interval, so the last answer was
// always that old), and every peer went unheard at the first failed lookup. Without
// it one failed lookup would make every peer unheard for a whole interval, and a check failing open would
// close after two such rounds although every peer still answers. Asking a stale address costs nothing
// worse than a peer not heard: a pod that is gone does not answer, and one that answers proves its
// instance id (and the token, when set).
const keepStale = time.Minute

// selfFor is how long an address that answered as this process is left out of the rounds. Not for
// ever: an address that reaches several pods (fleet.peers naming a ClusterIP Service instead of the
// headless one) may answer as this process once and as others later; excluded for good, it would
// silently end fail-open for this pod. Asked again after selfFor, it costs one request every few
// minutes while failing, and an address seen answering as this process and as another is logged.
const selfFor = 5 * time.Minute

// Close releases idle connections, and those of rounds still under way once they end: a reload that
// replaced this client closes it while a round may still ask with it.
func (p *Peers) Close() {
	p.closed.Store(true)
	p.transport.CloseIdleConnections()
}

// Inherit takes over what old, the client p replaces (a reload that changed the fleet section), learned
// that still holds: the last answer of each dns:/// peer both have, so a reload while the name does not
// resolve keeps asking that answer's pods for what is left of keepStale (a new client knew none, and every
// peer went unheard: during an outage, a reload that lowered min_pods to keep the pods in made them all
// leave within two rounds), and the addresses that answered as this process. p resolves afresh at its
// first round all the same: its settings are new.
func (p *Peers) Inherit(old *Peers) {
	old.mu.Lock()
	resolved, self, lastError := old.resolved, maps.Clone(old.self), old.lastError
	old.mu.Unlock()
	kept := map[Peer]lookup{}
	for _, peer := range p.opts.Peers {
		if peer.DNS && slices.Contains(old.opts.Peers, peer) {
			if l, ok := resolved[peer]; ok {
				kept[peer] = l
			}
		}
	}
	p.mu.Lock()
	p.resolved, p.self, p.lastError = kept, self, lastError
	p.mu.Unlock()
}

// Ask implements monitor.Peers: a random sample of at most Sample peers, asked in parallel within ctx.
func (p *Peers) Ask(ctx context.Context, check string) (answered, failing int) {
	addrs := p.addresses(ctx)
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	spare := []string(nil)
	if len(addrs) > p.opts.Sample {
		addrs, spare = addrs[:p.opts.Sample], addrs[p.opts.Sample:]
	}
	var answers []answer
	// An address that answers as this process (reached through the peers name, or listed: left out of
	// the rounds once seen, for selfFor) took a peer's place in the sample: as many others are asked in
	// its place, so the round still asks up to sample peers. Without them such a round heard one pod
	// fewer than min_pods may need (min_pods up to sample + 1 is valid): at every first contact, and at
	// every round of a check whose interval is past selfFor, a round that could not fail open.
	for len(addrs) > 0 {
		wave := make([]answer, len(addrs))
		var wg sync.WaitGroup
		for i, addr := range addrs {
			wg.Go(func() { wave[i] = p.askOne(ctx, addr, check) })
		}
		wg.Wait()
		answers = append(answers, wave...)
		selves := 0
		for _, a := range wave {
			if a.self {
				selves++
			}
		}
		if ctx.Err() != nil {
			break // the round is over: no time left to ask others
		}
		selves = min(selves, len(spare))
		addrs, spare = spare[:selves], spare[selves:]
	}
	if p.closed.Load() {
		// Closed while this round asked: a request made after Close (the retry with the previous token,
		// or every request of a round that was still resolving its dns:/// peers) undid
		// CloseIdleConnections for the transport (net/http: "we might want one"), and its connection,
		// with its two goroutines, stayed idle for IdleConnTimeout, past the end of serve. Every request
		// of this round has returned, its connection idle or closed: close the idle ones now.
		p.transport.CloseIdleConnections()
	}
	// A pod counts once however many of its addresses were asked (A and AAAA records of a dual-stack
	// pod; a static entry and a DNS answer for the same pod): counted per address, two pods could
	// pass for min_pods: 3.
	seen, refused := map[string]bool{}, 0
	for _, a := range answers {
		if a.refused {
			refused++
		}
		if a.state == "" || seen[a.instance] {
			continue
		}
		seen[a.instance] = true
		answered++
		if a.state == monitor.Failing {
			failing++
		}
	}
	p.noteRefusals(refused)
	return answered, failing
}

// noteRefusals logs that peers refuse this pod's token, at most once a minute while they do: a token
// that differs between pods (a Secret rotated on some of them) silently turns fail-open off, every peer
// unheard. (Not once until it changes: with a sample, a round may draw only pods that accept it.)
func (p *Peers) noteRefusals(refused int) {
	if refused == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	logIt := now.Sub(p.refusedAt) >= refusedLogEvery
	if logIt {
		p.refusedAt = now
	}
	p.mu.Unlock()
	if logIt {
		p.log.Warn("fleet: peers refuse this pod's token (401/403) and are not heard: fleet.token must be the same on every pod (during a rotation, give the old one as fleet.previous_token)", "refused", refused)
	}
}

// refusedLogEvery spaces the "peers refuse the token" warnings.
const refusedLogEvery = time.Minute

// answer is one peer's reply: its instance id and its state of the check ("" when not heard), or that
// it refused the token.
type answer struct {
	instance string
	state    monitor.State
	refused  bool
	self     bool // it was this process
}

// askOne returns the peer's answer; its state is "" when the peer is not heard. A peer that refuses the
// token is asked again with the previous one, when set: a rotation under way, the peer has not got the
// new token yet. One result is counted, the last request's.
func (p *Peers) askOne(ctx context.Context, addr, check string) answer {
	a, result := p.ask(ctx, addr, check, p.opts.Token)
	if a.refused && p.opts.PreviousToken != "" && ctx.Err() == nil {
		a, result = p.ask(ctx, addr, check, p.opts.PreviousToken)
	}
	if result != "" {
		p.opts.OnResult(result)
	}
	return a
}

// ask makes one request to the peer with token; the result to count is "" when the round was called
// off (that says nothing about the peer).
func (p *Peers) ask(ctx context.Context, addr, check, token string) (answer, string) {
	// The URL is built, not concatenated: an IPv6 address with a zone ([fe80::1%eth0]:8080) needs its
	// "%" escaped in a URL, and concatenated it failed to parse, the peer never asked.
	// Asked about the one check: the answer stays small however many checks the peer has (a peer
	// before this parameter ignores it and answers them all).
	u := url.URL{Scheme: "http", Host: addr, Path: fleetzPath, RawQuery: url.Values{checkFleetParam: {check}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return answer{}, PeerBadAnswer
	}
	req.Header.Set("User-Agent", "healthgate-fleet")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.send.RoundTrip(req)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled): // a round called off says nothing about the peer
		return answer{}, ""
	case err != nil && strings.Contains(err.Error(), "server response headers exceeded"):
		return answer{}, PeerBadAnswer // it answered, not as /fleetz (net/http has no error value for it)
	case err != nil:
		return answer{}, PeerUnreachable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFleetBody+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return answer{refused: true}, PeerRefused
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return answer{}, ""
	case err != nil:
		return answer{}, PeerUnreachable
	case resp.StatusCode != http.StatusOK, len(data) > maxFleetBody:
		// Past maxFleetBody it is not /fleetz, even when what fits parses: cut there, an answer padded
		// with blanks and followed by anything would pass.
		return answer{}, PeerBadAnswer
	}
	var fb fleetBody
	if json.Unmarshal(data, &fb) != nil || fb.Instance == "" {
		return answer{}, PeerBadAnswer
	}
	if fb.Instance == p.opts.Instance {
		p.mu.Lock()
		p.self[addr] = time.Now().Add(selfFor)
		p.mu.Unlock()
		return answer{self: true}, PeerSelf
	}
	p.otherAnswered(addr)
	st := fb.Checks[check]
	if st != monitor.Passing && st != monitor.Failing {
		return answer{}, PeerNoCheck
	}
	return answer{instance: fb.Instance, state: st}, PeerAnswered
}

// otherAnswered notes that addr answered as another process: if it once answered as this one, it
// reaches several pods, which is logged once.
func (p *Peers) otherAnswered(addr string) {
	p.mu.Lock()
	_, wasSelf := p.self[addr]
	warn := wasSelf && !p.lbWarned
	if warn {
		p.lbWarned = true
	}
	p.mu.Unlock()
	if warn {
		p.log.Warn("a fleet peer address answered as this pod and as another one: fleet.peers should name each pod (a headless Service with publishNotReadyAddresses: true), not a load-balanced address",
			"peer", addr)
	}
}

// addresses returns the peers to choose from this round: the static ones and the DNS ones (resolved
// at most once per CacheFor, by one round at a time: one that finds another resolving waits for its
// answer), without the addresses that answered as this process within selfFor. The slice is the
// caller's.
func (p *Peers) addresses(ctx context.Context) []string {
	lctx, cancel := lookupBudget(ctx)
	defer cancel()
	select {
	case p.resolving <- struct{}{}:
		p.mu.Lock()
		stale := time.Now().After(p.expires)
		p.mu.Unlock()
		if stale {
			p.resolve(lctx)
		}
		<-p.resolving
	case <-lctx.Done(): // waited for another round's lookup as long as this one's could take
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	now := time.Now()
	add := func(a string) {
		if !seen[a] && !now.Before(p.self[a]) {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, peer := range p.opts.Peers {
		if !peer.DNS {
			add(peer.Addr)
		}
	}
	for _, peer := range p.opts.Peers {
		for _, a := range p.resolved[peer].addrs {
			add(a)
		}
	}
	return out
}

// lookupBudget bounds a round's DNS lookup to half the time the round has left: a DNS server that does
// not answer (its packets dropped, a resolver starved of CPU) took all of it, and the addresses of the
// last answer, kept for just that case (keepStale), were asked with the round already over: every peer
// unheard, and a check failing open closed, round after round, although every peer answered.
func lookupBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
	}
	return context.WithCancel(ctx)
}

// resolve looks up every dns:/// peer, in parallel. A failed lookup keeps the peer's last good answer
// for up to keepStale after the first that failed (none before: its pods are not heard); the problem is logged once until it
// changes. A round called off meanwhile (ctx cancelled) leaves everything as it was.
func (p *Peers) resolve(ctx context.Context) {
	var problems []string
	now := time.Now()
	p.mu.Lock()
	last, keep := p.resolved, p.keepStale // the map is replaced below, never changed in place
	p.mu.Unlock()
	type found struct {
		ips []net.IPAddr
		err error
	}
	answers := make([]found, len(p.opts.Peers))
	var wg sync.WaitGroup
	for i, peer := range p.opts.Peers {
		if peer.DNS {
			host, _, _ := net.SplitHostPort(peer.Addr) // validated by config
			wg.Go(func() {
				ips, err := resolver(peer.Server).LookupIPAddr(ctx, host)
				answers[i] = found{ips, err}
			})
		}
	}
	wg.Wait()
	fresh := map[Peer]lookup{}
	for i, peer := range p.opts.Peers {
		if !peer.DNS {
			continue
		}
		_, port, _ := net.SplitHostPort(peer.Addr)
		ips, err := answers[i].ips, answers[i].err
		if err != nil && errors.Is(ctx.Err(), context.Canceled) {
			// The round was called off (a reload replaced its check, or shutdown): that says nothing
			// about DNS. Nothing is recorded, so the next round resolves at once.
			return
		}
		if err != nil {
			p.opts.OnResult(ResolveError)
			problem := "dns://" + peer.Server + "/" + peer.Addr + ": " + lookupProblem(err, peer.Server)
			if l, ok := last[peer]; ok {
				if l.failing.IsZero() {
					l.failing = now
				}
				if now.Sub(l.failing) < keep {
					fresh[peer] = l
					problem += fmt.Sprintf(" (asking the %d addresses of the last answer, for at most %v)", len(l.addrs), keep)
				}
			}
			problems = append(problems, problem)
			continue
		}
		var l lookup
		for _, ip := range ips {
			l.addrs = append(l.addrs, net.JoinHostPort(ip.IP.String(), port))
		}
		fresh[peer] = l
	}
	problem := strings.Join(problems, "; ")
	p.mu.Lock()
	p.resolved = fresh
	p.expires = now.Add(p.opts.CacheFor)
	logIt := problem != p.lastError
	p.lastError = problem
	n := 0
	for _, l := range fresh {
		n += len(l.addrs)
	}
	p.mu.Unlock()
	if logIt {
		if problem != "" {
			p.log.Warn("fleet: cannot resolve peers", "error", problem)
		} else {
			p.log.Info("fleet: peers resolve again", "peers", n)
		}
	}
}

// lookupProblem says why a peers lookup failed, at the server the configuration names (the error's own
// Server is the system's, even when another was asked), in words that stay the same from round to
// round: the problem is logged once until it changes, and a DNS error's text holds the local port of
// each query.
func lookupProblem(err error, server string) string {
	at := " (the system resolver)"
	if server != "" {
		at = " (DNS server " + server + ")"
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		return err.Error() + at
	}
	switch {
	case dnsErr.IsNotFound:
		return "no such name" + at
	case dnsErr.IsTimeout:
		return "DNS timeout" + at
	}
	cause := dnsErr.Err // "read udp 127.0.0.1:37942->127.0.0.1:53: read: connection refused"
	if i := strings.LastIndex(cause, ": "); i >= 0 {
		cause = cause[i+2:]
	}
	return cause + at
}

// resolver returns the system resolver, or one that asks server (host:port) only.
func resolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}
