package checktest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartTwemproxy starts a private twemproxy (Debian's nutcracker) on a free loopback port in front of one
// server, server (host:port; a Proxy's address, to cut the server behind it), stopped when the test ends,
// and returns its host:port. redis says the server speaks Redis; otherwise memcached's text protocol.
// The server is never ejected (auto_eject_hosts: false): a request while it is down is answered with an
// error, as a pool of one server is run. Its statistics listen on another free loopback port (22222 on
// every interface by default, which two instances would share).
func StartTwemproxy(t testing.TB, server string, redis bool) string {
	t.Helper()
	Binary(t, "nutcracker")
	dir := t.TempDir()
	return daemon{name: "nutcracker", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond,
		args: func(port string) []string {
			yml := fmt.Sprintf(`pool:
  listen: 127.0.0.1:%s
  hash: fnv1a_64
  distribution: ketama
  redis: %t
  auto_eject_hosts: false
  timeout: 2000
  servers:
    - %s:1
`, port, redis, server)
			return []string{"-c", writeFile(t, dir, "nutcracker-"+port+".yml", yml), "-o", filepath.Join(dir, "nutcracker-"+port+".log"),
				"-a", "127.0.0.1", "-s", strconv.Itoa(FreePort(t)), "-p", filepath.Join(dir, "nutcracker-"+port+".pid")}
		},
		answers: Listens,
	}.start(t)
}
