package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Scopes of a check (docs/design.md §10).
const (
	ScopeLocal  = "local"  // the default: a failure takes this pod out, whatever the others see
	ScopeShared = "shared" // every pod uses it: fails open when most of the fleet sees it failing
)

// Fleet defaults (docs/design.md §10).
const (
	DefaultFailOpenRatio = 0.5
	DefaultMinPods       = 3
	DefaultSample        = 10
	DefaultFleetTimeout  = time.Second
)

// Fleet configures fleet-aware readiness: the peers a pod asks, while a shared critical check fails
// locally, whether they see it failing too.
type Fleet struct {
	// Peers are host:port addresses of the other pods' health ports, and/or dns:///name:port targets
	// whose A/AAAA records are the pods (resolved each round). A single string is a list of one.
	Peers []string `yaml:"peers"`
	// FailOpenRatio: a shared check fails open when at least this share of the pods heard from (self
	// included) see it failing.
	FailOpenRatio float64 `yaml:"fail_open_ratio"`
	// MinPods: with fewer pods heard from (self included), never fail open.
	MinPods int `yaml:"min_pods"`
	// Sample: ask at most this many peers per round, chosen at random.
	Sample int `yaml:"sample"`
	// Token, when set, is required (Bearer) by /fleetz and sent to peers.
	Token string `yaml:"token" secret:"true"`
	// PreviousToken, during a rotation: /fleetz accepts it as well as Token, and a peer that refuses
	// Token is asked again with it, so pods that have the new token and pods that still have the old
	// one hear each other (docs/design.md §10).
	PreviousToken string `yaml:"previous_token" secret:"true"`
	// Timeout bounds one request to a peer; it must stay under every shared critical check's interval
	// (the default, 1 s, is lowered to half the shortest such interval): see asksPeers.
	Timeout time.Duration `yaml:"timeout"`

	Src Source `yaml:"-"`
}

// Enabled reports whether the configuration has a fleet section.
func (f *Fleet) Enabled() bool { return f.Src.Lines != nil }

func (f *Fleet) applyDefaults(checks []Check) {
	if !f.Src.IsSet("fail_open_ratio") {
		f.FailOpenRatio = DefaultFailOpenRatio
	}
	if !f.Src.IsSet("min_pods") {
		f.MinPods = DefaultMinPods
	}
	if !f.Src.IsSet("sample") {
		f.Sample = DefaultSample
	}
	if !f.Src.IsSet("timeout") {
		// The default stays under every asking check's interval: 1 s, or half the shortest such
		// interval when that is shorter, so a round ends before the next run.
		f.Timeout = DefaultFleetTimeout
		for _, ch := range checks {
			if ch.asksPeers() && ch.Interval > 0 {
				f.Timeout = min(f.Timeout, ch.Interval/2)
			}
		}
	}
}

func (f *Fleet) validate(c *Config, failed map[string]bool) Errors {
	if !f.Enabled() || f.Src.Failed[""] {
		return nil // absent, or not a mapping (reported once, by the decoder)
	}
	var errs Errors
	src := f.Src
	src.Path = "fleet"
	ok := func(key string) bool { return src.IsSet(key) && !failed["fleet."+key] }
	switch {
	case failed["fleet.peers"]:
	case len(f.Peers) == 0:
		errs = append(errs, src.Errorf("peers", "required: a dns:///name:port target (a headless Service with publishNotReadyAddresses: true) or a list of host:port"))
	default:
		for i, p := range f.Peers {
			if _, err := parsePeer(p, peerMayHoldSecret(p, f.Src.Vars["peers"])); err != nil {
				errs = append(errs, src.Errorf("peers", "[%d] %v", i, err))
			}
		}
	}
	if ok("fail_open_ratio") && (f.FailOpenRatio <= 0 || f.FailOpenRatio > 1) {
		errs = append(errs, src.Errorf("fail_open_ratio", "must be greater than 0 and at most 1 (got %g)", f.FailOpenRatio))
	}
	if ok("min_pods") && f.MinPods < 2 {
		errs = append(errs, src.Errorf("min_pods", "must be at least 2: one pod alone cannot tell an outage from its own fault (got %d)", f.MinPods))
	}
	if ok("sample") && f.Sample < 1 {
		errs = append(errs, src.Errorf("sample", "must be at least 1 (got %d)", f.Sample))
	}
	// A round hears at most this pod and sample peers: a larger min_pods could never be reached.
	// (Defaults apply to the one not set; the error names the one that is. Compared as MinPods-1 >
	// Sample: Sample+1 overflowed for a sample of the largest int, refused as hearing too few.)
	if f.Sample >= 1 && f.MinPods-1 > f.Sample && !failed["fleet.min_pods"] && !failed["fleet.sample"] {
		field := "min_pods"
		if !src.IsSet(field) {
			field = "sample"
		}
		errs = append(errs, src.Errorf(field, "min_pods (%d) is more than a round can hear, this pod and at most sample (%d) peers: no check could ever fail open; raise sample or lower min_pods", f.MinPods, f.Sample))
	}
	if ok("token") {
		if msg := tokenProblem(f.Token); msg != "" {
			errs = append(errs, src.Errorf("token", "%s", msg))
		}
	}
	if ok("previous_token") {
		if msg := tokenProblem(f.PreviousToken); msg != "" {
			errs = append(errs, src.Errorf("previous_token", "%s", msg))
		} else if f.PreviousToken != "" && f.Token == "" && !failed["fleet.token"] {
			errs = append(errs, src.Errorf("previous_token", "needs token, the new one: previous_token is what /fleetz still accepts while a rotation goes on"))
		}
	}
	if ok("timeout") {
		if f.Timeout <= 0 {
			errs = append(errs, src.Errorf("timeout", "must be greater than 0"))
		} else {
			for _, ch := range c.Checks {
				if ch.asksPeers() && ch.Interval > 0 && f.Timeout >= ch.Interval {
					name := strconv.Quote(ch.Name)
					if NameMaySecret(ch.Name) {
						name = ch.Src.Path // a URL as the name: reported at it, never shown
					}
					errs = append(errs, src.Errorf("timeout", "%s must be shorter than the interval (%s) of shared check %s: a round of peer requests ends before the next", f.Timeout, ch.Interval, name))
					break
				}
			}
		}
	}
	return errs
}

// asksPeers reports whether the check asks the fleet while it fails locally: a shared critical check.
// A non-critical one never fails /readyz, so it has nothing to fail open and asks no one: its interval
// does not bound fleet.timeout.
func (ch *Check) asksPeers() bool { return ch.Scope == ScopeShared && ch.Critical }

// scopeErrors checks a check's scope against the fleet section.
func (c *Config) scopeErrors(ch *Check, failed map[string]bool) Errors {
	if !ch.Src.IsSet("scope") || failed[ch.Src.Path+".scope"] {
		return nil
	}
	switch ch.Scope {
	case ScopeLocal:
	case ScopeShared:
		// Refused rather than warned: a user who marks a check shared believes an outage of it will
		// not empty the Service; without peers to ask it would, silently.
		if !c.Fleet.Enabled() {
			return Errors{ch.Src.Errorf("scope", "shared needs a fleet section (fleet: {peers: ...}): without peers to ask, the check cannot fail open")}
		}
	default:
		return Errors{ch.Src.Errorf("scope", "must be local or shared %s", Got(ch.Scope, ch.Src.Vars["scope"]))}
	}
	return nil
}

// Peer is one parsed entry of fleet.peers.
type Peer struct {
	// Addr is host:port: the peer itself, or (DNS) the name to resolve and the port to ask on.
	Addr string
	// DNS: Addr's host is a name whose A/AAAA records are the peers.
	DNS bool
	// Server is the DNS server (host:port) to ask, from dns://server/name:port; empty for the system's.
	Server string
}

// ParsePeer parses one fleet.peers entry: host:port, dns:///name:port, or dns://server:53/name:port
// (gRPC's naming syntax, whose authority is the DNS server to ask).
func ParsePeer(s string) (Peer, error) { return parsePeer(s, false) }

// parsePeer is ParsePeer, its errors not quoting s, nor any part of it, when hidden (peerMayHoldSecret).
func parsePeer(s string, hidden bool) (Peer, error) {
	var p Peer
	// bad is the error of s: s quoted, then why; or, hidden, why and the words that say s is not shown.
	bad := func(why string) error {
		if hidden {
			return errors.New(why + " " + valueNotShown)
		}
		return fmt.Errorf("%q: %s", s, why)
	}
	if strings.Contains(s, "@") {
		// Never quoted: what comes before an @ is a user name or a password (a URL pasted with its
		// credentials, a token as the user name). host:port would take TOKEN@host as a host, log it
		// as the peer to ask.
		return p, errors.New("user information (user:password@) has no place in a peer: write host:port or dns:///name:port (peers authenticate with fleet.token)")
	}
	if strings.ContainsAny(s, "?#") {
		// Never quoted either: a URL pasted with its parameters (http://peer:8080/fleetz?token=...).
		return p, errors.New("a query or a fragment (?, #) has no place in a peer: write host:port or dns:///name:port (peers authenticate with fleet.token)")
	}
	rest, isDNS := strings.CutPrefix(s, "dns://")
	if isDNS {
		server, name, found := strings.Cut(rest, "/")
		if !found {
			return p, bad("write dns:///name:port (three slashes) or dns://server:port/name:port")
		}
		if server != "" {
			var err error
			if server, err = dnsServer(server, hidden); errors.Is(err, errServerPortWord) || err != nil && hidden {
				return p, err
			} else if err != nil {
				return p, fmt.Errorf("%q: %v", s, err)
			}
		}
		p.DNS, p.Server, rest = true, server, name
	} else if strings.Contains(s, "://") {
		return p, bad("only dns:/// targets and host:port addresses are supported")
	}
	host, port, err := net.SplitHostPort(rest)
	switch {
	case err == nil && host == "" && isDNS:
		return p, bad("no name before the port: write the headless Service's name (dns:///name:8080)")
	case err == nil && host == "":
		return p, bad("no host before the port: write host:port")
	case err != nil && isDNS:
		return p, bad("the name needs a port, the peers' health port (dns:///name:8080)")
	case err != nil:
		return p, bad("must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		if strings.Trim(port, "0123456789") != "" {
			return p, errPortWord
		}
		return p, bad("port must be a number from 1 to 65535")
	}
	if !isHost(host) {
		// A host with "/", "?", "#" or "@" in it makes another URL: 10.0.0.11/:8080 asked
		// http://10.0.0.11/:8080/fleetz, port 80 of that address, with the fleet token.
		if hidden {
			return p, bad("the host is neither an IP address nor a DNS name")
		}
		return p, fmt.Errorf("%q: %q is neither an IP address nor a DNS name", s, host)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		// The resolver answers a name it could never ask for (a label over 63 characters, a name over
		// 253: a long release name and namespace in dns:///NAME.NAMESPACE.svc.cluster.local) as it
		// answers NXDOMAIN, without a query: every round heard no peer, and the check never failed open.
		if why := BadDNSName(host); why != "" {
			if hidden {
				return p, bad("the host is not a name the resolver can ask for")
			}
			return p, fmt.Errorf("%q: the host is not a name the resolver can ask for: %s", s, why)
		}
	}
	p.Addr = rest
	return p, nil
}

// errPortWord and errServerPortWord are ParsePeer's errors of a port that is a word, not a number: the
// peer is not quoted, as that word may be the password of a user:password (app:s3cr3t, or
// dns://app:s3cr3t/peers:8080).
var (
	errPortWord       = errors.New("port must be a number from 1 to 65535 " + valueNotShown)
	errServerPortWord = errors.New("the DNS server's port must be a number from 1 to 65535 " + valueNotShown)
)

// dnsServer returns the authority of a dns://server/name:port target as host:port, port 53 when none
// is given. An IPv6 server is written in brackets, as in a URL ([fd00::10], [fd00::10]:53); bare, it
// is taken as well when it has no port (fd00::10). Its errors do not quote authority when hidden.
func dnsServer(authority string, hidden bool) (string, error) {
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		host, port = authority, "53"
		if h, ok := strings.CutPrefix(host, "["); ok {
			if h, ok = strings.CutSuffix(h, "]"); !ok || net.ParseIP(h) == nil {
				return "", errors.New("the DNS server must be host or host:port " + gotUnless(hidden, authority))
			}
			host = h
		}
	}
	// Checked here, as a peer's own host and port are: dialled as written, a server such as
	// 10.96.0.10:99999, :53 or 10.96.0.10:dns passed validation and failed every round's lookup.
	if host == "" || !isHost(host) || net.ParseIP(host) == nil && BadDNSName(host) != "" {
		return "", errors.New("the DNS server must be host or host:port " + gotUnless(hidden, authority))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		if strings.Trim(port, "0123456789") != "" {
			return "", errServerPortWord
		}
		return "", errors.New("the DNS server's port must be a number from 1 to 65535 " + gotUnless(hidden, authority))
	}
	return net.JoinHostPort(host, port), nil
}

// isHost reports whether h is an IP address (an IPv6 one may carry a zone) or a DNS name: letters,
// digits, "-", "_" and dots.
func isHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
