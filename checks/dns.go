package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/healthgate/healthgate/config"
)

// A dns check resolves a name, as the application will, and checks the answer: record A, AAAA (both
// by default), CNAME, SRV or TXT, through the system resolver or a given server, bounded by the run's
// deadline. The Go resolver reads /etc/resolv.conf and /etc/nsswitch.conf as healthgate's static binary
// (CGO_ENABLED=0) always does. net.Resolver does all of it (LookupNetIP, LookupCNAME, LookupSRV, LookupTXT), so no DNS
// library: miekg/dns would only add the exact response code (net.Resolver reports SERVFAIL and REFUSED
// alike as "server misbehaving", only SERVFAIL marked temporary, which is enough to classify) and raw
// queries we do not need. With
// `server:` the Go resolver sends every query there (over UDP, and TCP for truncated answers); it
// still applies /etc/resolv.conf's search list and ndots, as the application's lookups do (write the
// name with a trailing dot to ask for it alone), and reads /etc/hosts for A/AAAA first.

const dnsDefaultPort = "53"

// DNS record types a dns check resolves; "" is A and AAAA together.
var dnsRecords = []string{"A", "AAAA", "CNAME", "SRV", "TXT"}

const (
	dnsNotFoundHint    = "the name does not exist, or has no record of that type (NXDOMAIN or an empty answer): check host and record in %s, and that the record was published in that zone"
	dnsServerHint      = "the DNS server failed or refused the query (SERVFAIL or REFUSED): check the server's own health and that it serves this zone"
	dnsRefusedHint     = "nothing answers DNS at the server: check server in the check's configuration (host:port), or the resolver in /etc/resolv.conf"
	dnsTimeoutHint     = "the DNS server did not answer within the timeout: it is down, overloaded, or a firewall drops UDP/53"
	dnsTCPHint         = "the DNS server's answer over UDP was truncated (too large for one datagram: many records, long TXT values), and the resolver's retry over TCP, which such an answer needs, was refused or not answered: allow TCP as well as UDP to the server's port (a NetworkPolicy or firewall that allows UDP/53 alone), and check that the server listens on TCP"
	dnsGarbageHint     = "something answers at the DNS server's address, but not with DNS replies to the query: another service on that port, or a broken server; check server in the check's configuration (host:port), or the resolver in /etc/resolv.conf"
	dnsExpectHint      = "the name resolves, but not to every value in expect: the record changed, or the check's expect is out of date"
	dnsHostsFamilyHint = "the name has addresses, but none of the family asked for: /etc/hosts, which the resolver reads before DNS, has the name with addresses of the other family only; check record in %s, or add the address to /etc/hosts (hostAliases in a pod)"
	dnsNoCNAMEHint     = "the name exists but is not an alias (no CNAME record): check record: CNAME in %s, or use A/AAAA"
	dnsSystemResolver  = "the system resolver"
)

// dnsSettings is dnsSpec checked and resolved: what the runs of a dns check read.
type dnsSettings struct {
	host   string
	record string
	expect []string
	server string // host:port, or "" for the system resolver
}

// dnsSpec is a dns check's own configuration (config.Check.Spec, decoded).
type dnsSpec struct {
	Host   string   `yaml:"host" schema:"minLength=1,form=dns-name" desc:"the name to resolve"`
	Record string   `yaml:"record" schema:"enum=A|AAAA|CNAME|SRV|TXT,fold" desc:"the record type: A, AAAA, CNAME, SRV or TXT, in any case (default: A and AAAA)"`
	Expect []string `yaml:"expect" schema:"itemMinLength=1" desc:"values the answer must contain (all of them)"`
	Server string   `yaml:"server" schema:"minLength=1,form=dns-server" desc:"a DNS server to ask, host[:port] (port 53 when omitted); default: the system resolver"`
}

func dnsSettingsOf(c config.Check, s *dnsSpec) (dnsSettings, config.Errors) {
	var errs config.Errors
	d := dnsSettings{host: strings.TrimSpace(s.Host), record: strings.ToUpper(s.Record), expect: s.Expect}
	switch {
	case d.host == "":
		errs = append(errs, c.Src.Errorf("host", "required: the name to resolve"))
	case strings.Contains(d.host, "://") || strings.ContainsAny(d.host, " /@?#=&;"):
		// Quoted redacted: a URL's parameters pasted with the name (?token=...) would be a target
		// and the resolver's error at every run.
		errs = append(errs, c.Src.Errorf("host", "must be a DNS name such as payments.internal (got %s)", quoteAddress(s.Host)))
	case hasPort(d.host):
		// The resolver would ask for the name "localhost:53" and get NXDOMAIN at every run.
		errs = append(errs, c.Src.Errorf("host", "is a name alone, without a port (got %s): the DNS server to ask, and its port, belong in server: host:port (for a --dns target, --set dns.server=HOST:PORT)", quoteAddress(s.Host)))
	case isIPLiteral(d.host):
		// The Go resolver answers an address with itself, without a query: the check would pass
		// whatever the network or the DNS does.
		errs = append(errs, c.Src.Errorf("host", "is an IP address (%s), which needs no resolving: a dns check resolves a name; to check that the address is reachable, use a tcp check (type: tcp, address: %s; --tcp %[2]s)", d.host, net.JoinHostPort(strings.Trim(d.host, "[]"), "PORT")))
	case strings.Contains(d.host, ":"):
		errs = append(errs, c.Src.Errorf("host", "must be a DNS name such as payments.internal (got %s)", quoteAddress(s.Host)))
	case len(strings.TrimSuffix(d.host, ".")) > 253:
		errs = append(errs, c.Src.Errorf("host", "a DNS name is at most 253 characters"))
	default:
		// The Go resolver answers a name it could never ask for as it answers NXDOMAIN, without a query:
		// the check would fail at every run as if the name were not published.
		if why := config.BadDNSName(d.host); why != "" {
			errs = append(errs, c.Src.Errorf("host", "must be a DNS name such as payments.internal (got %s): %s", quoteAddress(s.Host), why))
		}
	}
	if d.record != "" && !slices.Contains(dnsRecords, d.record) {
		errs = append(errs, c.Src.Errorf("record", "must be one of %s (default: A and AAAA) %s", strings.Join(dnsRecords, ", "), config.Got(s.Record, c.Src.Vars["record"])))
	}
	for i, v := range d.expect {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, c.Src.Errorf("expect", "value %d is empty", i+1))
			continue
		}
		switch d.record {
		case "", "A", "AAAA":
			ip, err := netip.ParseAddr(v)
			switch {
			case err != nil:
				errs = append(errs, c.Src.Errorf("expect", "%q is not an IP address (record %s)", v, recordName(d.record)))
			case d.record == "A" && !ip.Is4():
				errs = append(errs, c.Src.Errorf("expect", "%q is not an IPv4 address (record A; AAAA holds IPv6)", v))
			case d.record == "AAAA" && ip.Is4():
				errs = append(errs, c.Src.Errorf("expect", "%q is not an IPv6 address (record AAAA; A holds IPv4)", v))
			}
		case "SRV":
			if _, port, err := net.SplitHostPort(v); err == nil {
				if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
					errs = append(errs, c.Src.Errorf("expect", "%q: an SRV value is target or target:port", v))
				}
			}
		}
	}
	if s.Server != "" {
		server := s.Server
		if _, _, err := net.SplitHostPort(server); err != nil {
			server = net.JoinHostPort(strings.Trim(server, "[]"), dnsDefaultPort)
		}
		host, port, err := net.SplitHostPort(server)
		if why := badHost(s.Server); why != "" {
			errs = append(errs, c.Src.Errorf("server", "must be host or host:port of a DNS server (got %s): %s", quoteAddress(s.Server), why))
		} else if why := badHostName(host); err == nil && why != "" {
			errs = append(errs, c.Src.Errorf("server", "must be host or host:port of a DNS server (got %s): the host is not a DNS name: %s", quoteAddress(s.Server), why))
		} else if n, perr := strconv.Atoi(port); err == nil && host != "" && (perr == nil && (n < 1 || n > 65535) || errors.Is(perr, strconv.ErrRange)) {
			// A port of digits alone holds no secret to hide, as an address field says it (checkAddress).
			errs = append(errs, c.Src.Errorf("server", "must be host or host:port of a DNS server: the port must be a number from 1 to 65535 (got %s)", port))
		} else if err != nil || host == "" || perr != nil {
			errs = append(errs, c.Src.Errorf("server", "must be host or host:port of a DNS server (got %s)", quoteAddress(s.Server)))
		}
		d.server = server
	}
	return d, errs
}

// hasPort reports whether host is host:port (a name or an IPv4 address, or an IPv6 one in brackets,
// with a port number).
func hasPort(host string) bool {
	h, port, err := net.SplitHostPort(host)
	if err != nil || h == "" {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// isIPLiteral reports whether host is an IPv4 or IPv6 address (in brackets or not, with a zone or not).
func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

func recordName(r string) string {
	if r == "" {
		return "A/AAAA"
	}
	return r
}

type dnsCheck struct {
	cfg      dnsSettings
	resolver *net.Resolver
	shown    string // the server, for messages
}

func buildDNS(c config.Check, s *dnsSpec) (prober, string, config.Errors) {
	d, errs := dnsSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	check := &dnsCheck{cfg: d, shown: dnsSystemResolver}
	target := recordName(d.record) + " " + d.host
	if d.server != "" {
		check.shown = d.server
		target += " @" + d.server
	}
	// The Go resolver, as in healthgate's static binary, with a dialer of our own: to the server
	// given, or to resolv.conf's. The resolver bounds each query by resolv.conf's timeout (5 s by
	// default), not by the caller's context; closing the connection when the lookup's context ends
	// makes an abandoned query end with the run instead of outliving it.
	// Over UDP the dialled connection is watched (dnsUDPConn): the resolver drops a datagram that is
	// not a reply to its query and waits on, so a server answering garbage would read as one that
	// never answered.
	var dialer net.Dialer
	server := d.server
	check.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if server != "" {
			addr = server
		}
		conn, err := dialContext(ctx, &dialer, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		if udp, ok := conn.(*net.UDPConn); ok {
			if r := dnsRepliesOf(ctx); r != nil {
				return &dnsUDPConn{UDPConn: udp, replies: r}, nil
			}
		}
		return conn, nil
	}}
	return check, target, nil
}

func (d *dnsCheck) probe(ctx context.Context) error {
	ctx, replies := withDNSReplies(ctx)
	got, err := d.lookup(ctx)
	if err != nil {
		return d.classify(ctx, err, replies)
	}
	if len(got) == 0 {
		return &Error{Class: DNS, Err: fmt.Errorf("%s %s: no records at %s", recordName(d.cfg.record), d.cfg.host, d.shown), Hint: dnsNotFoundHint}
	}
	var missing []string
	for _, want := range d.cfg.expect {
		if !slices.ContainsFunc(got, func(v string) bool { return d.matches(want, v) }) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		shown := got
		if len(shown) > 8 {
			shown = append(slices.Clone(shown[:8]), fmt.Sprintf("and %d more", len(got)-8))
		}
		return &Error{Class: BadResponse, Hint: dnsExpectHint,
			Err: fmt.Errorf("%s %s at %s answered %s, without %s", recordName(d.cfg.record), d.cfg.host, d.shown, quoteAll(shown), quoteAll(missing))}
	}
	return nil
}

// lookup returns the answer's values in the form expect is written in: addresses, the canonical name,
// SRV targets as target:port, TXT records (a record of several strings is one value, the strings
// joined, as net.Resolver returns it).
func (d *dnsCheck) lookup(ctx context.Context) ([]string, error) {
	r := d.resolver
	switch d.cfg.record {
	case "CNAME":
		// LookupCNAME follows the chain and returns its end; a name that is not an alias returns
		// itself (if it has A/AAAA records), as the resolver found it: a short name expanded by the
		// search list (foo as foo.ns.svc.cluster.local.). Either is "no CNAME record" for record: CNAME.
		cname, err := r.LookupCNAME(ctx, d.cfg.host)
		if err != nil {
			return nil, err
		}
		if dnsIsQueriedName(d.cfg.host, cname, dnsSearchList()) {
			return nil, &Error{Class: DNS, Hint: dnsNoCNAMEHint, Err: fmt.Errorf("CNAME %s: %s has no CNAME record at %s", d.cfg.host, d.cfg.host, d.shown)}
		}
		return []string{dnsName(cname)}, nil
	case "SRV":
		_, srvs, err := r.LookupSRV(ctx, "", "", d.cfg.host)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(srvs))
		for i, s := range srvs {
			out[i] = net.JoinHostPort(dnsName(s.Target), strconv.Itoa(int(s.Port)))
		}
		return out, nil
	case "TXT":
		return r.LookupTXT(ctx, d.cfg.host)
	}
	network := map[string]string{"": "ip", "A": "ip4", "AAAA": "ip6"}[d.cfg.record]
	ips, err := r.LookupNetIP(ctx, network, d.cfg.host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.Unmap().String()
	}
	return out, nil
}

// matches compares an expected value with one of the answer's, in the record's terms: addresses as
// addresses, names without case or trailing dot, an SRV target with or without its port.
func (d *dnsCheck) matches(want, got string) bool {
	switch d.cfg.record {
	case "", "A", "AAAA":
		w, err1 := netip.ParseAddr(want)
		g, err2 := netip.ParseAddr(got)
		return err1 == nil && err2 == nil && w.Unmap() == g.Unmap()
	case "CNAME":
		return dnsName(want) == got
	case "SRV":
		gh, gp, _ := net.SplitHostPort(got)
		if wh, wp, err := net.SplitHostPort(want); err == nil {
			return dnsName(wh) == gh && wp == gp
		}
		return dnsName(want) == gh
	}
	return want == got
}

// classify sorts a resolver error: a name that does not exist (or has no such record) is dns; a server
// that fails the query too; nothing listening at the server is refused; no answer in time is timeout,
// unless what came back was not a DNS reply to the query (replies), which is bad_response, as is a
// reply the resolver could not read. net.Resolver's message names the system's server even when
// `server:` is set, so the message is rebuilt from its parts.
func (d *dnsCheck) classify(ctx context.Context, err error, replies *dnsReplies) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	what := fmt.Sprintf("%s %s at %s", recordName(d.cfg.record), d.cfg.host, d.shown)
	var de *net.DNSError
	isDNS := errors.As(err, &de)
	var ae *net.AddrError
	if !isDNS && errors.As(err, &ae) && ae.Err == "no suitable address found" {
		// The name has addresses, none of the family asked for: /etc/hosts answered (the Go resolver
		// reads it before DNS, and a DNS answer of the other family is never asked for), as a
		// server's empty answer would have.
		return &Error{Class: DNS, Hint: dnsHostsFamilyHint,
			Err: fmt.Errorf("%s: no %s record: the name resolves, but to no address of that family", what, recordName(d.cfg.record))}
	}
	if n := replies.bogus.Load(); n > 0 && (ctx.Err() != nil || isDNS && de.IsTimeout) {
		// past: the class holds although the deadline passed, as the server did answer, with garbage.
		return &Error{Class: BadResponse, Hint: dnsGarbageHint, past: true,
			Err: fmt.Errorf("%s: no valid answer within the timeout; the server sent %d datagram(s) that are not DNS replies to the query", what, n)}
	}
	if !isDNS {
		return classified(fmt.Errorf("%s: %w", what, err))
	}
	cause := errors.New(de.Err)
	switch {
	case de.IsTimeout || ctx.Err() != nil:
		return &Error{Class: Timeout, Err: fmt.Errorf("%s: %w", what, cause), Hint: replies.hint(dnsTimeoutHint)}
	case de.IsNotFound:
		return &Error{Class: DNS, Err: fmt.Errorf("%s: %w (NXDOMAIN or no %s records)", what, cause, recordName(d.cfg.record)), Hint: dnsNotFoundHint}
	case strings.Contains(de.Err, "connection refused"):
		return &Error{Class: Refused, Err: fmt.Errorf("%s: %w", what, cause), Hint: replies.hint(dnsRefusedHint)}
	case strings.Contains(de.Err, "server misbehaving"):
		// net.Resolver says "server misbehaving" for every error code but NXDOMAIN; only SERVFAIL
		// is marked temporary.
		code := "REFUSED or another error code"
		if de.IsTemporary {
			code = "SERVFAIL"
		}
		return &Error{Class: DNS, Err: fmt.Errorf("%s: %w (%s)", what, cause, code), Hint: dnsServerHint}
	case strings.Contains(de.Err, "cannot unmarshal DNS message"), strings.Contains(de.Err, "invalid DNS response"):
		// A reply over TCP that is not DNS, or one whose records do not parse.
		return &Error{Class: BadResponse, Err: fmt.Errorf("%s: %w", what, cause), Hint: dnsGarbageHint}
	case dnsConnLost(de.Err):
		// A TCP connection to the server (a truncated answer's retry, or resolv.conf's use-vc) that
		// it reset or closed without an answer: the server's failure, not the name's (it was class
		// dns, "the host name does not resolve").
		return &Error{Class: Reset, Err: fmt.Errorf("%s: %w", what, cause), Hint: replies.hint("")}
	}
	return &Error{Class: DNS, Err: fmt.Errorf("%s: %w", what, cause)}
}

// dnsConnLost reports whether a resolver error's text (net.DNSError keeps only the text) is a connection
// to the server reset or closed under the query.
func dnsConnLost(msg string) bool {
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") ||
		msg == io.EOF.Error() || strings.HasSuffix(msg, ": "+io.EOF.Error()) || strings.Contains(msg, io.ErrUnexpectedEOF.Error())
}

// dnsReplies counts, for one run, the datagrams its servers sent back that were not DNS replies to the
// query sent: the Go resolver ignores them (they could be forgeries) and waits on until its timeout. It
// notes too a reply marked truncated (TC), which the resolver asks again over TCP: a failure after it is
// the TCP connection's, not UDP's.
type dnsReplies struct {
	bogus     atomic.Int32
	truncated atomic.Bool
}

// hint is the hint of a server that did not answer, or refused the connection: hint, unless its answer
// over UDP was truncated, when it was the retry over TCP that failed.
func (r *dnsReplies) hint(hint string) string {
	if r.truncated.Load() {
		return dnsTCPHint
	}
	return hint
}

type dnsRepliesKey struct{}

func withDNSReplies(ctx context.Context) (context.Context, *dnsReplies) {
	r := &dnsReplies{}
	return context.WithValue(ctx, dnsRepliesKey{}, r), r
}

// dnsRepliesOf returns the run's dnsReplies, or nil outside a run.
func dnsRepliesOf(ctx context.Context) *dnsReplies {
	r, _ := ctx.Value(dnsRepliesKey{}).(*dnsReplies)
	return r
}

// dnsUDPConn is the resolver's UDP connection, watched: it notes the query written (its ID and
// question) and counts each datagram read that does not echo them as a reply. It is still a
// net.PacketConn (through *net.UDPConn), which is what makes the resolver speak UDP over it. The
// resolver writes and reads one connection from one goroutine.
type dnsUDPConn struct {
	*net.UDPConn
	replies  *dnsReplies
	id       [2]byte
	question []byte // name, type and class, as sent; nil until a query was written
}

func (c *dnsUDPConn) Write(b []byte) (int, error) {
	if q, ok := dnsQuestion(b); ok {
		c.id, c.question = [2]byte{b[0], b[1]}, slices.Clone(q)
	}
	return c.UDPConn.Write(b)
}

func (c *dnsUDPConn) Read(b []byte) (int, error) {
	n, err := c.UDPConn.Read(b)
	if err == nil && c.question != nil {
		switch {
		case !c.isReply(b[:n]):
			c.replies.bogus.Add(1)
		case b[2]&0x02 != 0: // TC
			c.replies.truncated.Store(true)
		}
	}
	return n, err
}

// isReply: msg is a response (QR set) with the query's ID and its question, the name in any case;
// what the resolver's own check (checkResponse) requires before it reads a datagram.
func (c *dnsUDPConn) isReply(msg []byte) bool {
	q, ok := dnsQuestion(msg)
	return ok && msg[2]&0x80 != 0 && msg[0] == c.id[0] && msg[1] == c.id[1] && asciiEqualFold(q, c.question)
}

// dnsQuestion returns the first question of a DNS message (RFC 1035 4.1: a 12-byte header, then the
// name as length-prefixed labels ending in a zero byte, then type and class), or false if msg has
// none. The first name of a message cannot be compressed, so a pointer there is not DNS either.
func dnsQuestion(msg []byte) ([]byte, bool) {
	const header = 12
	if len(msg) < header || msg[4] == 0 && msg[5] == 0 {
		return nil, false
	}
	i := header
	for {
		if i >= len(msg) {
			return nil, false
		}
		l := int(msg[i])
		if l == 0 {
			break
		}
		if l > 63 {
			return nil, false
		}
		i += 1 + l
	}
	end := i + 1 + 4
	if end > len(msg) {
		return nil, false
	}
	return msg[header:end], true
}

// asciiEqualFold compares two byte strings, ASCII letters in any case (DNS names, RFC 4343).
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (d *dnsCheck) close() {}

// dnsIsQueriedName reports whether name, the canonical name LookupCNAME returned for host, is one of
// the names the resolver asks for host: host alone, or (unless it ends with a dot) host followed by
// a domain of the search list, ndots deciding only the order. Such an answer is the name itself, not
// an alias. An alias whose target is host under another search domain (foo.a. to foo.b., both in
// the list) reads as no alias: the answer alone cannot tell which name was asked.
func dnsIsQueriedName(host, name string, search []string) bool {
	n := dnsName(name)
	if n == dnsName(host) {
		return true
	}
	if strings.HasSuffix(host, ".") {
		return false
	}
	return slices.ContainsFunc(search, func(domain string) bool { return n == dnsName(host+"."+domain) })
}

// dnsResolvConf is where the Go resolver reads its search list.
const dnsResolvConf = "/etc/resolv.conf"

// dnsSearchList returns the search list the Go resolver uses now, read from /etc/resolv.conf (which
// it rereads when the file changes); none if the file cannot be read and the host name has no domain.
func dnsSearchList() []string {
	conf, _ := os.ReadFile(dnsResolvConf)
	hostname, _ := os.Hostname()
	return dnsSearchOf(conf, hostname)
}

// dnsSearchOf reads a search list as the Go resolver does (net/dnsconfig_unix.go): the last search or
// domain line wins (domain gives its one domain, "." is skipped); when there is none, or it is empty,
// the domain of the host's name.
func dnsSearchOf(conf []byte, hostname string) []string {
	var search []string
	for line := range strings.Lines(string(conf)) {
		if strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "domain":
			search = []string{f[1]}
		case len(f) > 0 && f[0] == "search":
			search = slices.DeleteFunc(f[1:], func(d string) bool { return d == "." })
		}
	}
	if len(search) == 0 {
		if _, domain, ok := strings.Cut(hostname, "."); ok && domain != "" {
			search = []string{domain}
		}
	}
	return search
}

// dnsName is a name in the form answers are compared in: lower case, no trailing dot.
func dnsName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, " ") + "]"
}
