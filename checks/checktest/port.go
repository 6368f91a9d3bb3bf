package checktest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a TCP port that was free a moment ago on every one of ips (127.0.0.1 when none is
// given), for a private server the test starts, or for an address where nothing listens.
//
// The port is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range), never from
// listening on port 0: a port the kernel handed out and took back is in that range, where the next
// outgoing connection or port-0 listener of any process may get it before the test's server listens on
// it ("address already in use": a bench run failed so once). Below the range the kernel assigns nothing
// by itself, no port is handed out twice within a process, and the test binaries go test runs side by
// side pick from blocks of their own (portBlock).
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	if p, ok := pickPort(ips); ok {
		return p
	}
	t.Fatalf("no TCP port free on %s below the ephemeral range", strings.Join(ips, ", "))
	return 0
}

// ClosedAddr returns a 127.0.0.1 address where nothing listens, so that connecting is refused: a FreePort,
// where no port-0 listener of another test (the kernel picks those in the ephemeral range) can start
// listening meanwhile.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

var picked = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// pickPort tries random ports of this process's block until one listens on every ip.
func pickPort(ips []string) (int, bool) {
	low, high := portBlock()
	picked.Lock()
	defer picked.Unlock()
	for range 200 {
		p := low + rand.IntN(high-low)
		if picked.ports[p] || knownPorts[p] || !listenable(ips, p) {
			continue
		}
		picked.ports[p] = true
		return p, true
	}
	return 0, false
}

// knownPorts are default ports in the range that a test expects to find closed, or holding its own
// server: memcached's 11211 (TestMemcachedServerAnswers' "default port"). Another test binary's server
// there would change the answer.
var knownPorts = map[int]bool{11211: true}

func listenable(ips []string, port int) bool {
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		_ = ln.Close()
	}
	return true
}

// portBlock is the part of [10000, start of the ephemeral range) this process picks ports in. go test runs
// several packages' test binaries at once; each claims a block of its own (the first of portBlocks whose
// abstract Unix socket it can bind, held until it exits: no file is left behind), so that a port one gives
// up for a while (a Proxy refusing) is never picked by another. When every block is taken, the whole range.
var portBlock = sync.OnceValues(func() (int, int) {
	low, high := 10000, ephemeralStart()
	size := (high - low) / portBlocks
	for i := range portBlocks {
		ln, err := net.Listen("unix", fmt.Sprintf("@healthgate-test-ports-%d", i))
		if err == nil {
			claimedBlock = ln // kept open for the life of the process
			return low + i*size, low + (i+1)*size
		}
	}
	return low, high
})

// portBlocks is how many blocks the range is cut into: about 2,800 ports each on Linux's default range,
// where a test binary picks a few hundred.
const portBlocks = 8

var claimedBlock net.Listener

// ephemeralStart is the first port of the kernel's ephemeral range (32768 when it cannot be read, Linux's
// default).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 11000 {
		return 32768
	}
	return n
}
