package checktest

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Unreachable returns a loopback address where a TCP connect never completes, as behind a firewall that
// drops packets: a socket listening with a backlog of 0 that never accepts, its one queue slot taken,
// so the kernel drops every further SYN. (Linux; the proxy's Blackhole, by contrast, accepts.)
func Unreachable(t testing.TB) string {
	t.Helper()
	return UnreachableAt(t, [4]byte{127, 0, 0, 1}, 0)
}

// UnreachableAt is Unreachable on the loopback address ip (127.0.0.0/8: every one is local on Linux) and
// port (0 picks one), for a name whose addresses share a port, one of them never answering a connect.
func UnreachableAt(t testing.TB, ip [4]byte, port int) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ip, Port: port}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	addr := net.JoinHostPort(net.IP(ip[:]).String(), strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the accept queue until a connect hangs; that is the state the caller gets.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatalf("connects to %s still complete after filling its queue", addr)
	return ""
}
