package checktest

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// Binary returns the path of an executable a test needs (memcached, dnsmasq): in CI (CI=true) its
// absence fails the test, elsewhere it skips it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		if p, err := exec.LookPath(dir + "/" + name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatalf("%s is not installed (CI=true: integration tests must not skip; .ci/run installs it)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// MemcachedAddr starts a private memcached on a free loopback port for the test (stopped when it
// ends) and returns its host:port. HEALTHGATE_TEST_MEMCACHED_ADDR points the tests at a running one
// instead.
func MemcachedAddr(t testing.TB) string {
	t.Helper()
	if addr := envOr("HEALTHGATE_TEST_MEMCACHED_ADDR", ""); addr != "" {
		require(t, "memcached", addr)
		return addr
	}
	bin := Binary(t, "memcached")
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		_ = ln.Close()
		// -U 0: no UDP; -u nobody: memcached refuses to run as root without a user.
		cmd := exec.Command(bin, "-u", "nobody", "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "8", "-c", "64")
		var out Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		up := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !up; time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited:
				deadline = time.Time{}
			default:
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					_ = c.Close()
					up = true
				}
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
		t.Logf("memcached on %s did not start (retrying on another port): %s", addr, out.String())
	}
	t.Fatal("memcached did not start")
	return ""
}
