package checktest

import (
	"context"
	"net"
	"testing"
	"time"
)

// Dnsmasq starts a private dnsmasq on a free loopback port (UDP and TCP), serving only the records
// its options give (--host-record, --cname, --srv-host, --txt-record, ...) and answering NXDOMAIN for
// any other name under local, and returns its host:port; it is stopped when the test ends. ready is a
// name with an A record that the options define: dnsmasq is up once it resolves.
func Dnsmasq(t testing.TB, local, ready string, options ...string) string {
	t.Helper()
	return daemon{name: "dnsmasq", udp: true, tries: 10, wait: 5 * time.Second, every: 50 * time.Millisecond,
		args: func(port string) []string {
			return append([]string{"--no-daemon", "--port=" + port, "--listen-address=127.0.0.1", "--bind-interfaces",
				"--no-resolv", "--no-hosts", "--local=/" + local + "/", "--user=root", "--pid-file=", "--log-facility=-"}, options...)
		},
		answers: func(addr string) bool {
			r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			ips, err := r.LookupHost(ctx, ready)
			return err == nil && len(ips) > 0
		},
	}.start(t)
}
