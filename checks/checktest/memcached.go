package checktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// packages names the Debian package of a binary whose package is named otherwise, for the skip line.
var packages = map[string]string{"saslpasswd2": "sasl2-bin", "dnsmasq": "dnsmasq-base"}

// Binary returns the path of an executable a test needs (memcached, dnsmasq, saslpasswd2): in CI
// (CI=true) its absence fails the test, elsewhere it skips it.
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
	if pkg, ok := packages[name]; ok {
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
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
	return StartMemcached(t, MemcachedOptions{})
}

// MemcachedOptions are the protections a private memcached is started with.
type MemcachedOptions struct {
	// CertFile and KeyFile: TLS only (-Z), with this certificate, as memcached's own TLS and ElastiCache's
	// in-transit encryption serve it. memcached reads them before it drops its privileges.
	CertFile, KeyFile string
	// ClientCA: with CertFile, client certificates are required, signed by this CA.
	ClientCA string
	// Username and Password: SASL (-S) with this one user in a sasldb of its own, as Bitnami's image
	// sets it up. With SASL on, memcached speaks only the binary protocol.
	Username, Password string
	// Args are more of memcached's flags (-B ascii: the text protocol only).
	Args []string
}

// StartMemcached starts a private memcached on a free loopback port with the protections in o, stopped
// when the test ends, and returns its host:port. SASL needs saslpasswd2 (Debian's sasl2-bin): without it
// the test fails in CI and skips elsewhere, as without memcached.
func StartMemcached(t testing.TB, o MemcachedOptions) string {
	t.Helper()
	Binary(t, "memcached") // its absence reported first, before saslpasswd2's
	var env []string
	var extra []string
	if o.CertFile != "" {
		tlsOpts := "ssl_chain_cert=" + o.CertFile + ",ssl_key=" + o.KeyFile
		if o.ClientCA != "" {
			tlsOpts += ",ssl_ca_cert=" + o.ClientCA + ",ssl_verify_mode=2" // 2: a client certificate is required
		}
		extra = append(extra, "-Z", "-o", tlsOpts)
	}
	if o.Username != "" {
		env = append(env, "SASL_CONF_PATH="+saslConf(t, o.Username, o.Password))
		extra = append(extra, "-S")
	}
	extra = append(extra, o.Args...)
	return daemon{name: "memcached", tries: 5, wait: 10 * time.Second, every: 20 * time.Millisecond, env: env,
		// -U 0: no UDP; -u nobody: memcached refuses to run as root without a user.
		args: func(port string) []string {
			return append([]string{"-u", "nobody", "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "8", "-c", "64"}, extra...)
		},
		answers: Listens,
	}.start(t)
}

// saslConf writes a Cyrus SASL configuration for memcached (mech_list: plain, a sasldb holding user)
// and returns its directory (readableTempDir: memcached reads both after it dropped its privileges to
// nobody), for SASL_CONF_PATH.
func saslConf(t testing.TB, user, password string) string {
	t.Helper()
	bin := Binary(t, "saslpasswd2")
	dir := readableTempDir(t, "healthgate-sasl-")
	db := filepath.Join(dir, "sasldb")
	// -p: the password from standard input, without a line end; -a memcached: the application name
	// memcached asks SASL for.
	cmd := exec.Command(bin, "-a", "memcached", "-c", "-p", "-f", db, user)
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2: %v: %s", err, out)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := "mech_list: plain\nsasldb_path: " + db + "\n"
	writeFile(t, dir, "memcached.conf", conf)
	return dir
}
