package checktest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
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
		// A process group of its own, killed whole (kill): a daemon that forks workers (Pgpool-II) would
		// otherwise leave them running, holding the output pipe that Wait waits for.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
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
			t.Cleanup(func() { kill(cmd); <-exited })
			return addr
		}
		kill(cmd)
		<-exited
		t.Logf("%s on %s did not answer (retrying on another port): %s", d.name, addr, out.String())
	}
	t.Fatalf("%s did not start", d.name)
	return ""
}

// kill ends a daemon started by start and every process of its group.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}

// writeFile writes text to dir/name, readable by anyone (some daemons read their files as nobody), and
// returns its path: the configuration files of the daemons the tests start.
func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil { //nolint:gosec // read by daemons running as nobody
		t.Fatal(err)
	}
	return path
}

// readableTempDir is a directory for the files of a daemon that reads them after it dropped its
// privileges to nobody (memcached, PgBouncer): under the system's temporary directory, readable by
// anyone (a test's TempDir is not), removed when the test ends.
func readableTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
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
