package checks_test

import (
	"cmp"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// startZone runs a private dnsmasq serving a small zone with one record of every type the check
// resolves.
func startZone(t *testing.T) string {
	t.Helper()
	return checktest.Dnsmasq(t, "hg.test", "payments.hg.test",
		"--host-record=payments.hg.test,10.0.0.7",
		"--host-record=pool.hg.test,10.0.0.8",
		"--host-record=pool.hg.test,10.0.0.9",
		"--host-record=v6.hg.test,fd00::7",
		"--host-record=dual.hg.test,10.0.0.10,fd00::10",
		"--cname=alias.hg.test,payments.hg.test",
		"--srv-host=_grpc._tcp.inventory.hg.test,payments.hg.test,50051",
		"--txt-record=txt.hg.test,healthgate=ok",
		// one record of two strings: one value, the strings joined (as net.Resolver and SPF read it)
		"--txt-record=txt.hg.test,v=hg1; ,split=yes",
	)
}

func TestDNSRecords(t *testing.T) {
	server := startZone(t)
	tests := []struct {
		name   string
		host   string
		record string
		expect []string
		want   checks.Class
		hint   string
	}{
		{name: "A", host: "payments.hg.test", record: "A", expect: []string{"10.0.0.7"}},
		{name: "A, lower case record", host: "payments.hg.test", record: "a", expect: []string{"10.0.0.7"}},
		{name: "A, several records, all expected", host: "pool.hg.test", record: "A", expect: []string{"10.0.0.9", "10.0.0.8"}},
		{name: "A without expect", host: "pool.hg.test", record: "A"},
		{name: "A, trailing dot", host: "payments.hg.test.", record: "A", expect: []string{"10.0.0.7"}},
		{name: "AAAA", host: "v6.hg.test", record: "AAAA", expect: []string{"fd00:0::7"}},
		{name: "default A and AAAA", host: "dual.hg.test", expect: []string{"10.0.0.10", "fd00::10"}},
		{name: "CNAME", host: "alias.hg.test", record: "CNAME", expect: []string{"Payments.hg.test."}},
		{name: "SRV target:port", host: "_grpc._tcp.inventory.hg.test", record: "SRV", expect: []string{"payments.hg.test:50051"}},
		{name: "SRV target", host: "_grpc._tcp.inventory.hg.test", record: "SRV", expect: []string{"payments.hg.test"}},
		{name: "TXT", host: "txt.hg.test", record: "TXT", expect: []string{"healthgate=ok", "v=hg1; split=yes"}},

		{name: "A mismatch", host: "pool.hg.test", record: "A", expect: []string{"10.0.0.8", "10.0.0.99"}, want: checks.BadResponse, hint: "not to every value in expect"},
		{name: "CNAME mismatch", host: "alias.hg.test", record: "CNAME", expect: []string{"other.hg.test"}, want: checks.BadResponse},
		{name: "SRV port mismatch", host: "_grpc._tcp.inventory.hg.test", record: "SRV", expect: []string{"payments.hg.test:50052"}, want: checks.BadResponse},
		{name: "TXT mismatch", host: "txt.hg.test", record: "TXT", expect: []string{"healthgate=down"}, want: checks.BadResponse},
		{name: "NXDOMAIN", host: "nowhere.hg.test", record: "A", want: checks.DNS, hint: "does not exist"},
		{name: "NXDOMAIN, default record", host: "nowhere.hg.test", want: checks.DNS, hint: "does not exist"},
		{name: "no AAAA record", host: "payments.hg.test", record: "AAAA", want: checks.DNS, hint: "no record of that type"},
		{name: "no TXT record", host: "payments.hg.test", record: "TXT", want: checks.DNS},
		{name: "not an alias", host: "payments.hg.test", record: "CNAME", want: checks.DNS, hint: "no CNAME record"},
		{name: "no SRV record", host: "_http._tcp.payments.hg.test", record: "SRV", want: checks.DNS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": tc.host, "record": tc.record, "expect": tc.expect, "server": server})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if err != nil && !strings.Contains(err.Error(), server) {
				t.Errorf("error %q does not name the server asked", err)
			}
		})
	}
}

// TestDNSServerFaults: a server where nothing listens, one that never answers, one that answers late,
// one that answers garbage, and the run bounded by its timeout however the resolver retries. Each a
// real UDP socket.
func TestDNSServerFaults(t *testing.T) {
	// A closed UDP port: the kernel answers ICMP port unreachable (UDP's reset), which the resolver
	// reads as refused. A FreePort's: a port-0 socket's, closed, could be any resolver's next local port.
	closed := checktest.ClosedAddr(t)
	// A socket that reads queries and never answers: a hung server, or a firewall dropping replies.
	silent := udpServer(t, func([]byte) [][]byte { return nil })
	// Valid answers, late: after the run's timeout, and well within a generous one.
	slow := func(delay time.Duration) string {
		return checktest.ServeDNS(t, "127.0.0.1:0", func(string) ([]netip.Addr, dnsmessage.RCode) {
			time.Sleep(delay)
			return []netip.Addr{netip.MustParseAddr("10.0.0.7")}, dnsmessage.RCodeSuccess
		})
	}
	httpAnswer := []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	for _, tc := range []struct {
		name, server string
		timeout      time.Duration // 0: timeout
		want         checks.Class
		hint         string
	}{
		{name: "closed port (ICMP port unreachable)", server: closed, want: checks.Refused, hint: "nothing answers DNS"},
		{name: "never answers", server: silent, want: checks.Timeout, hint: "did not answer within the timeout"},
		{name: "answers after the timeout", server: slow(3 * timeout), want: checks.Timeout, hint: "did not answer within the timeout"},
		{name: "answers late, within the timeout", server: slow(timeout / 2), timeout: generousTimeout},
		{name: "garbage", server: udpServer(t, func([]byte) [][]byte { return [][]byte{httpAnswer} }), want: checks.BadResponse, hint: "not with DNS replies"},
		{name: "a few bytes", server: udpServer(t, func([]byte) [][]byte { return [][]byte{{0x12, 0x34, 0x81}} }), want: checks.BadResponse, hint: "not with DNS replies"},
		{name: "the query echoed (no response flag)", server: udpServer(t, func(q []byte) [][]byte { return [][]byte{q} }), want: checks.BadResponse, hint: "not with DNS replies"},
		{name: "a reply with another ID", server: udpServer(t, func(q []byte) [][]byte { return [][]byte{dnsAnswer(t, q, 1)} }), want: checks.BadResponse, hint: "not with DNS replies"},
		{name: "garbage, then the answer", server: udpServer(t, func(q []byte) [][]byte { return [][]byte{httpAnswer, dnsAnswer(t, q, 0)} }), timeout: generousTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": "payments.hg.test.", "record": "A", "expect": []string{"10.0.0.7"}, "server": tc.server})}
			ch := newCheck(t, c)
			if tc.timeout != 0 {
				ch = newCheckTimeout(t, c, tc.timeout)
			}
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.want == "" {
				return
			}
			if tc.want == checks.Timeout || tc.want == checks.BadResponse {
				assertBounded(t, took)
			}
			if !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if !strings.Contains(err.Error(), tc.server) {
				t.Errorf("error %q does not name the server asked", err)
			}
		})
	}
	t.Run("system resolver", func(t *testing.T) {
		// /etc/hosts answers localhost on any machine; a .invalid name never resolves (RFC 6761).
		ch := newCheck(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": "localhost", "expect": []string{"127.0.0.1"}})})
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
		ch = newCheckTimeout(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": "healthgate-test.invalid"})}, generousTimeout)
		err, _ = runCheck(t, ch)
		if got := checks.ClassOf(err); got != checks.DNS && got != checks.Timeout {
			t.Errorf("a .invalid name: %v; want dns (or timeout, where the resolver is unreachable)", err)
		}
	})
}

// TestDNSHostsOtherFamily: a name /etc/hosts answers with addresses of one family only, asked for the
// other (localhost, where /etc/hosts has 127.0.0.1 and no ::1, asked for AAAA). The Go resolver reads
// /etc/hosts before DNS and reports "no suitable address found" (a *net.AddrError, not a DNS error):
// that is dns, as a server's empty answer is, not unknown. A server of our own that answers nothing
// proves no query decided it.
func TestDNSHostsOtherFamily(t *testing.T) {
	name, record := hostsNameOfOneFamily(t)
	silent := udpServer(t, func([]byte) [][]byte { return nil })
	for _, server := range []string{"", silent} {
		t.Run("server "+cmp.Or(server, "of the system"), func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": name, "record": record, "server": server})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.DNS, "/etc/hosts", "s3cr3t")
			if want := "no " + record + " record"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}

// hostsNameOfOneFamily returns a name of /etc/hosts whose addresses there are all of one family, and the
// record of the other family (AAAA for a name with IPv4 addresses only); it skips the test when every
// name has both.
func hostsNameOfOneFamily(t *testing.T) (string, string) {
	t.Helper()
	b, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skipf("no /etc/hosts: %v", err)
	}
	v4, v6 := map[string]bool{}, map[string]bool{}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, n := range f[1:] {
			n = strings.ToLower(n)
			if !v4[n] && !v6[n] {
				names = append(names, n)
			}
			if ip.Is4() {
				v4[n] = true
			} else {
				v6[n] = true
			}
		}
	}
	for _, n := range names {
		switch {
		case strings.Contains(n, "."):
			// A name with a dot may also be a search-list candidate: keep to single labels, which
			// /etc/hosts answers first under any ndots.
		case v4[n] && !v6[n]:
			return n, "AAAA"
		case v6[n] && !v4[n]:
			return n, "A"
		}
	}
	t.Skip("every name in /etc/hosts has addresses of both families")
	return "", ""
}

// TestDNSServerErrors: a real dnsmasq answering REFUSED (a name outside the zones it serves, and it has
// no upstream: --no-resolv) and SERVFAIL (a validating dnsmasq whose upstream cannot prove the zone
// unsigned: DNSSEC validation fails). Both are dns, with the hint that points at the server.
func TestDNSServerErrors(t *testing.T) {
	zone := startZone(t)
	upstream := strings.Replace(zone, ":", "#", 1) // dnsmasq's address#port
	validating := checktest.Dnsmasq(t, "v.test", "ready.v.test", "--host-record=ready.v.test,10.0.0.1",
		"--dnssec", "--trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
		"--server="+upstream)
	for _, tc := range []struct {
		name, server, host, code string
	}{
		{"REFUSED", zone, "payments.other.test.", "REFUSED"},
		{"SERVFAIL", validating, "payments.hg.test.", "SERVFAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": tc.host, "record": "A", "server": tc.server})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.DNS)
			if hint := ch.Hint(err); !strings.Contains(hint, "failed or refused the query") {
				t.Errorf("hint %q does not point at the server", hint)
			}
			if !strings.Contains(err.Error(), tc.code) || !strings.Contains(err.Error(), tc.server) {
				t.Errorf("error %q does not say %s at %s", err, tc.code, tc.server)
			}
		})
	}
}

// TestDNSTruncatedOverUDP: a server whose answer over UDP is truncated (TC: too large for a datagram) makes
// the resolver ask again over TCP; when TCP is refused or not answered (a NetworkPolicy that allows UDP/53
// alone), the hint says so. It said that nothing answers DNS at the server, or that a firewall drops
// UDP/53, when UDP had answered.
func TestDNSTruncatedOverUDP(t *testing.T) {
	truncatedReply := func(q []byte) [][]byte {
		a := dnsAnswer(t, q, 0)
		a[2] |= 0x02 // TC
		return [][]byte{a}
	}
	// refusing: nothing listens on TCP at its port, a FreePort's, which no port-0 listener can take meanwhile.
	refusing, err := udpServerOn(t, checktest.ClosedAddr(t), truncatedReply)
	if err != nil {
		t.Fatal(err)
	}
	// A TCP server (handle) and the truncating UDP server on the same port. The TCP port is taken first
	// and the UDP one tried on it, a few times: the other way round failed when the port the UDP socket
	// was given was the local end of one of the suite's TCP connections.
	truncating := func(handle func(net.Conn)) string {
		for attempt := 1; ; attempt++ {
			tcp := checktest.Serve(t, handle)
			addr, err := udpServerOn(t, tcp, truncatedReply)
			if err == nil {
				return addr
			}
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	// silent reads and never answers; resetting and closing read the query and reset or close the
	// connection without an answer (a server restarting, a proxy in front of it without a backend).
	silent := truncating(func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	readQuery := func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		n := make([]byte, 2)
		if _, err := io.ReadFull(c, n); err == nil {
			_, _ = io.ReadFull(c, make([]byte, int(n[0])<<8|int(n[1])))
		}
	}
	resetting := truncating(func(c net.Conn) { readQuery(c); _ = c.(*net.TCPConn).SetLinger(0) })
	closing := truncating(readQuery)
	for _, tc := range []struct {
		name, server string
		timeout      time.Duration
		want         checks.Class
	}{
		{"TCP refused", refusing, generousTimeout, checks.Refused},
		{"TCP not answered", silent, timeout, checks.Timeout},
		// The resolver's words for these were class dns, "the host name does not resolve".
		{"TCP reset", resetting, generousTimeout, checks.Reset},
		{"TCP closed unanswered", closing, generousTimeout, checks.Reset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "dns", Spec: config.SpecOf(map[string]any{"host": "payments.hg.test.", "record": "A", "server": tc.server})}, tc.timeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if h := ch.Hint(err); !strings.Contains(h, "truncated") || !strings.Contains(h, "TCP") {
				t.Errorf("error %q, hint %q; want the truncated answer and TCP named", err, h)
			}
		})
	}
}

// udpServer answers every datagram read on a loopback UDP socket with the datagrams reply returns for
// it, until the test ends; it returns the socket's address.
func udpServer(t *testing.T, reply func(query []byte) [][]byte) string {
	t.Helper()
	addr, err := udpServerOn(t, "127.0.0.1:0", reply)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// udpServerOn is udpServer on the UDP address addr; it returns the error of a port it cannot bind.
func udpServerOn(t *testing.T, addr string, reply func(query []byte) [][]byte) (string, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return "", err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, d := range reply(slices.Clone(buf[:n])) {
				_, _ = pc.WriteTo(d, from)
			}
		}
	})
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	return pc.LocalAddr().String(), nil
}

// dnsAnswer is the answer to query: its question, with an A record 10.0.0.7; its ID changed by
// idDelta (non-zero: a reply to some other query).
func dnsAnswer(t *testing.T, query []byte, idDelta uint16) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		t.Errorf("not a query: %v", err)
		return nil
	}
	q, err := p.Question()
	if err != nil {
		t.Errorf("no question: %v", err)
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID + idDelta, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}, dnsmessage.AResource{A: [4]byte{10, 0, 0, 7}})
	msg, err := b.Finish()
	if err != nil {
		t.Errorf("building the answer: %v", err)
	}
	return msg
}

func TestDNSConfig(t *testing.T) {
	for _, tc := range []struct {
		c    config.Check
		want string
	}{
		{config.Check{}, "host: required"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "https://payments.internal/"})}, "must be a DNS name"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal", "record": "MX"})}, "must be one of A, AAAA, CNAME, SRV, TXT"},
		// An address resolves to itself without a query: such a check would check nothing.
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "10.0.0.7"})}, "is an IP address (10.0.0.7), which needs no resolving: a dns check resolves a name; to check that the address is reachable, use a tcp check (type: tcp, address: 10.0.0.7:PORT; --tcp 10.0.0.7:PORT)"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "fd00::7", "record": "AAAA"})}, "is an IP address (fd00::7)"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "[fd00::7]"})}, "use a tcp check (type: tcp, address: [fd00::7]:PORT"},
		// The resolver would ask for the name "localhost:53": NXDOMAIN at every run.
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "localhost:53"})}, "without a port (got \"localhost:53\"): the DNS server to ask, and its port, belong in server"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "10.0.0.7:53"})}, "belong in server"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "localhost:dns"})}, "must be a DNS name"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal", "record": "A", "expect": []string{"fd00::1"}})}, "not an IPv4 address"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal", "record": "AAAA", "expect": []string{"10.0.0.1"}})}, "not an IPv6 address"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal", "expect": []string{"payments"}})}, "not an IP address"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal", "server": "10.0.0.1:dns"})}, "must be host or host:port"},
		// A URL's parameters pasted with the name: refused, and not quoted.
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal?token=s3cr3t"})}, `must be a DNS name such as payments.internal (got "xxxxx")`},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments.internal#s3cr3t"})}, "must be a DNS name"},
		// Names the resolver answers as NXDOMAIN without asking anyone: refused, with the reason.
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments..internal"})}, `(got "payments..internal"): it has an empty label`},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": ".payments.internal"})}, "empty label"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "-payments.internal"})}, `a label cannot begin or end with '-' ("-payments")`},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "payments-.internal"})}, "cannot begin or end with '-'"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": strings.Repeat("p", 64) + ".internal"})}, "at most 63 characters; \"pppppppppppp...\" has 64"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "pay!ments.internal"})}, `'!' is not allowed in a DNS name`},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "zahlungen.bücher.example"})}, "IDNA, xn--"},
		{config.Check{Spec: config.SpecOf(map[string]any{"host": "1.2.3"})}, "digits and dots alone"},
	} {
		c := config.NewCheck("d", "dns", "test", config.NewDefaults())
		c.Spec = tc.c.Spec
		ch, err := checks.New(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.c, err, tc.want)
		}
		if err == nil {
			t.Errorf("%+v: built, target %q", tc.c, ch.Target)
			ch.Close()
		} else if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%+v: the error shows the secret: %v", tc.c, err)
		}
	}
	// What a name may be: an SRV owner's underscores, a final dot, a label of digits, IDNA's ASCII form.
	for _, host := range []string{"_grpc._tcp.payments.internal", "payments.internal.", "1password.example", "xn--bcher-kva.example", "localhost", "a-b.c_d.e"} {
		c := config.NewCheck("d", "dns", "test", config.NewDefaults())
		c.Spec = config.SpecOf(map[string]any{"host": host})
		ch, err := checks.New(c)
		if err != nil {
			t.Errorf("host %q: %v", host, err)
			continue
		}
		ch.Close()
	}
	c := config.NewCheck("d", "dns", "test", config.NewDefaults())
	c.Spec, c.Timeout = config.SpecOf(map[string]any{"host": "payments.internal", "server": "10.96.0.10"}), 2*time.Second
	ch, err := checks.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.Target != "A/AAAA payments.internal @10.96.0.10:53" {
		t.Errorf("target %q; want the record, the name and the server with its default port", ch.Target)
	}
}
