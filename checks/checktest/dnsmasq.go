package checktest

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"
)

// Dnsmasq starts a private dnsmasq on a free loopback port (UDP and TCP), serving only the records
// its options give (--host-record, --cname, --srv-host, --txt-record, ...) and answering NXDOMAIN for
// any other name under local, and returns its host:port; it is stopped when the test ends. ready is a
// name with an A record that the options define: dnsmasq is up once it resolves.
func Dnsmasq(t testing.TB, local, ready string, options ...string) string {
	t.Helper()
	bin := Binary(t, "dnsmasq")
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		_ = pc.Close()
		_, port, _ := net.SplitHostPort(addr)
		args := append([]string{"--no-daemon", "--port=" + port, "--listen-address=127.0.0.1", "--bind-interfaces",
			"--no-resolv", "--no-hosts", "--local=/" + local + "/", "--user=root", "--pid-file=", "--log-facility=-"}, options...)
		cmd := exec.Command(bin, args...)
		var out Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		up := false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !up; time.Sleep(50 * time.Millisecond) {
			select {
			case <-exited:
				deadline = time.Time{}
			default:
				r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				ips, err := r.LookupHost(ctx, ready)
				cancel()
				up = err == nil && len(ips) > 0
			}
			if deadline.IsZero() {
				break
			}
		}
		if up {
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			return addr
		}
		_ = cmd.Process.Kill()
		<-exited
		t.Logf("dnsmasq on %s did not answer (retrying on another port): %s", addr, out.String())
	}
	t.Fatal("dnsmasq did not start")
	return ""
}
