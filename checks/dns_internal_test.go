package checks

import (
	"slices"
	"testing"
)

// TestDNSIsQueriedName: the canonical name LookupCNAME returns for a name that is not an alias is the
// name as the resolver found it, which the search list may have expanded; that is no alias, while an
// answer that is another name is one.
func TestDNSIsQueriedName(t *testing.T) {
	search := []string{"ns.svc.cluster.local", "svc.cluster.local.", "Cluster.Local"}
	for _, tc := range []struct {
		host, name string
		search     []string
		queried    bool
	}{
		{host: "foo", name: "foo.ns.svc.cluster.local.", search: search, queried: true},
		{host: "foo", name: "foo.svc.cluster.local.", search: search, queried: true},
		{host: "foo.ns", name: "foo.ns.svc.cluster.local.", search: search, queried: true}, // fewer dots than ndots: 5
		{host: "foo.example", name: "foo.example.", search: search, queried: true},         // as many as ndots: 1
		{host: "foo", name: "foo.ns.svc.cluster.local.", queried: false},                   // no search list: an alias
		{host: "foo.example.", name: "foo.example.", search: search, queried: true},
		{host: "foo.example.", name: "foo.example.ns.svc.cluster.local.", search: search, queried: false},
		{host: "foo", name: "bar.ns.svc.cluster.local.", search: search, queried: false},
		{host: "foo", name: "payments.example.", search: search, queried: false},
		{host: "foo", name: "foo-backend.example.", search: search, queried: false},
		{host: "foo", name: "foo-backend.ns.svc.cluster.local.", search: search, queried: false},
		{host: "foo", name: "foo.example.", search: []string{"foo.example"}, queried: false},
		{host: "foo.example", name: "foo.example.ns.svc.cluster.local.", search: search, queried: true},
		{host: "Foo", name: "foo.NS.svc.cluster.local", search: search, queried: true},
		{host: "foo", name: "FOO.cluster.local.", search: search, queried: true},
		{host: "Foo.Example.", name: "foo.example", search: search, queried: true},
		{host: "foo.example", name: "FOO.EXAMPLE.", queried: true},
	} {
		if got := dnsIsQueriedName(tc.host, tc.name, tc.search); got != tc.queried {
			t.Errorf("host %q answered %q, search %q: queried name %v; want %v", tc.host, tc.name, tc.search, got, tc.queried)
		}
	}
}

// TestDNSSearchOf: the search list as the Go resolver reads /etc/resolv.conf.
func TestDNSSearchOf(t *testing.T) {
	for _, tc := range []struct {
		conf, hostname string
		want           []string
	}{
		{conf: "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n", hostname: "pod-1",
			want: []string{"ns.svc.cluster.local", "svc.cluster.local", "cluster.local"}},
		{conf: "search a.example\nsearch\tb.example . c.example\n", want: []string{"b.example", "c.example"}},
		{conf: "search a.example\ndomain d.example\n", want: []string{"d.example"}},
		{conf: "domain d.example\nsearch a.example\n", want: []string{"a.example"}},
		{conf: "# search commented.example\n; search commented.example\nnameserver 10.0.0.1\n", hostname: "web.corp.example", want: []string{"corp.example"}},
		{conf: "search .\n", hostname: "web.corp.example", want: []string{"corp.example"}},
		{conf: "", hostname: "web", want: nil},
		{conf: "", hostname: "web.", want: nil},
	} {
		if got := dnsSearchOf([]byte(tc.conf), tc.hostname); !slices.Equal(got, tc.want) {
			t.Errorf("%q, host name %q: search %q; want %q", tc.conf, tc.hostname, got, tc.want)
		}
	}
}
