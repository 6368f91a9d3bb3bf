package checktest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// daemon is a private server a test starts on a free loopback port (Dnsmasq's, StartMemcached's): what to run, and how to
// tell that it serves.
type daemon struct {
	name  string        // the executable, found by Binary; also what the messages call it
	udp   bool          // the free port is picked among UDP ports (the daemon serves UDP as well as TCP)
	tries int           // ports tried in turn: one picked free can be taken before the daemon binds it
	wait  time.Duration // how long the daemon has to answer on a port
	every time.Duration // how often answers is asked meanwhile
	// args is the daemon's command line, listening on port of 127.0.0.1.
	args func(port string) []string
	env  []string // added to the test's environment
	// answers reports whether the daemon serves at addr (127.0.0.1:port) yet.
	answers func(addr string) bool
}

// start runs the daemon on a free port until it answers there and returns its host:port; it is killed
// when the test ends. A daemon that exits, or does not answer within d.wait, is killed, its output
// logged, and started again on another port, d.tries times in all; then the test fails.
func (d daemon) start(t testing.TB) string {
	t.Helper()
	bin := Binary(t, d.name)
	for range d.tries {
		var port int
		if d.udp {
			port = freeUDPPort(t)
		} else {
			port = FreePort(t)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, d.args(strconv.Itoa(port))...)
		cmd.Env = append(os.Environ(), d.env...)
		var out Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		gone := false
		_, up := Poll(d.wait, d.every, func() bool {
			select {
			case <-exited:
				gone = true
				return true // no use waiting longer
			default:
				return d.answers(addr)
			}
		})
		if up && !gone {
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			return addr
		}
		_ = cmd.Process.Kill()
		<-exited
		t.Logf("%s on %s did not answer (retrying on another port): %s", d.name, addr, out.String())
	}
	t.Fatalf("%s did not start", d.name)
	return ""
}

// freeUDPPort is FreePort for UDP.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}
