package checktest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// ServeDNS answers DNS queries over UDP on listen (host:port; port 0 picks one) until the test ends, and
// returns its address. answer is asked for each query's name (lower case, with the final dot): the IPv4
// addresses of its A records, and the response code (RCodeSuccess; RCodeNameError for a name that does
// not exist; RCodeServerFailure for a broken server). Other record types get the code and no records.
// For what dnsmasq (Dnsmasq) cannot do: answers that change while the test runs.
func ServeDNS(t testing.TB, listen string, answer func(name string) ([]netip.Addr, dnsmessage.RCode)) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", listen)
	if err != nil {
		t.Fatalf("DNS server on %s: %v", listen, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, ok := dnsResponse(buf[:n], answer); ok {
				_, _ = conn.WriteTo(resp, from)
			}
		}
	})
	t.Cleanup(func() {
		_ = conn.Close()
		wg.Wait()
	})
	return conn.LocalAddr().String()
}

func dnsResponse(req []byte, answer func(name string) ([]netip.Addr, dnsmessage.RCode)) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	addrs, rcode := answer(strings.ToLower(q.Name.String()))
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RCode: rcode})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if rcode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		for _, ip := range addrs {
			if ip.Is4() && b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1},
				dnsmessage.AResource{A: ip.As4()}) != nil {
				return nil, false
			}
		}
	}
	resp, err := b.Finish()
	return resp, err == nil
}

// ResolveName makes name (without the final dot) resolve to ips, in that order, for the rest of the
// test, as a DNS server would answer it: the process's default resolver (net.DefaultResolver, which
// every dialer without a resolver of its own, pgx's lookup included, asks) is the Go resolver asking a
// ServeDNS for any name; other names get NXDOMAIN, /etc/hosts still answers first. It changes the whole
// process: a test that calls it must not run in parallel with others (no t.Parallel).
func ResolveName(t testing.TB, name string, ips ...netip.Addr) {
	t.Helper()
	fqdn := strings.ToLower(name) + "."
	server := ServeDNS(t, "127.0.0.1:0", func(q string) ([]netip.Addr, dnsmessage.RCode) {
		if q == fqdn {
			return ips, dnsmessage.RCodeSuccess
		}
		return nil, dnsmessage.RCodeNameError
	})
	r := net.DefaultResolver
	preferGo, dial := r.PreferGo, r.Dial
	r.PreferGo = true
	r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}
	t.Cleanup(func() { r.PreferGo, r.Dial = preferGo, dial })
}
