package checks_test

import (
	"net"
	"strings"
	"testing"
	"time"

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
			ch := newCheckTimeout(t, config.Check{Type: "dns", Host: tc.host, Record: tc.record, Expect: tc.expect, Server: server}, generousTimeout)
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

// TestDNSServerFaults: a server where nothing listens, one that never answers, and the run bounded by
// its timeout however the resolver retries.
func TestDNSServerFaults(t *testing.T) {
	// A closed UDP port: the kernel answers ICMP port unreachable, which the resolver reads as refused.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	_ = pc.Close()
	// A socket that reads queries and never answers: a hung server, or a firewall dropping replies.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	for _, tc := range []struct {
		name, server string
		want         checks.Class
		hint         string
	}{
		{"closed port", closed, checks.Refused, "nothing answers DNS"},
		{"never answers", silent.LocalAddr().String(), checks.Timeout, "did not answer within the timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheck(t, config.Check{Type: "dns", Host: "payments.hg.test", Record: "A", Server: tc.server})
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.want == checks.Timeout {
				assertBounded(t, took)
			}
			if !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
		})
	}
	t.Run("system resolver", func(t *testing.T) {
		// /etc/hosts answers localhost on any machine; a .invalid name never resolves (RFC 6761).
		ch := newCheck(t, config.Check{Type: "dns", Host: "localhost", Expect: []string{"127.0.0.1"}})
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
		ch = newCheckTimeout(t, config.Check{Type: "dns", Host: "healthgate-test.invalid"}, generousTimeout)
		err, _ = runCheck(t, ch)
		if got := checks.ClassOf(err); got != checks.DNS && got != checks.Timeout {
			t.Errorf("a .invalid name: %v; want dns (or timeout, where the resolver is unreachable)", err)
		}
	})
}

func TestDNSConfig(t *testing.T) {
	for _, tc := range []struct {
		c    config.Check
		want string
	}{
		{config.Check{}, "host: required"},
		{config.Check{Host: "https://payments.internal/"}, "must be a DNS name"},
		{config.Check{Host: "payments.internal", Record: "MX"}, "must be one of A, AAAA, CNAME, SRV, TXT"},
		{config.Check{Host: "payments.internal", Record: "A", Expect: []string{"fd00::1"}}, "not an IPv4 address"},
		{config.Check{Host: "payments.internal", Record: "AAAA", Expect: []string{"10.0.0.1"}}, "not an IPv6 address"},
		{config.Check{Host: "payments.internal", Expect: []string{"payments"}}, "not an IP address"},
		{config.Check{Host: "payments.internal", Server: "10.0.0.1:dns"}, "must be host or host:port"},
	} {
		c := config.NewCheck("d", "dns", "test", config.NewDefaults())
		c.Host, c.Record, c.Expect, c.Server = tc.c.Host, tc.c.Record, tc.c.Expect, tc.c.Server
		if _, err := checks.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.c, err, tc.want)
		}
	}
	c := config.NewCheck("d", "dns", "test", config.NewDefaults())
	c.Host, c.Server, c.Timeout = "payments.internal", "10.96.0.10", 2*time.Second
	ch, err := checks.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if ch.Target != "A/AAAA payments.internal @10.96.0.10:53" {
		t.Errorf("target %q; want the record, the name and the server with its default port", ch.Target)
	}
}
