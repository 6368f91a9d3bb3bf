//go:build unix

package config_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthgate/healthgate/config"
)

// within runs f and fails the test if it has not returned after a generous bound: reading a named
// pipe used to block for ever. unblock, when not nil, frees f after a failure.
func within(t *testing.T, f func(), unblock func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		if unblock != nil {
			unblock()
		}
		<-done
		t.Fatal("still reading after 30s")
	}
}

// fifo makes a named pipe in dir and returns its path and a function that frees a reader blocked on it.
func fifo(t *testing.T, dir string) (string, func()) {
	t.Helper()
	path := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
}

// TestFilesAreBounded: every path the configuration names is read only when it is a regular file of
// a bounded size; anything else is an error positioned at the field, given at once.
func TestFilesAreBounded(t *testing.T) {
	dir := t.TempDir()
	pipe, unblock := fifo(t, dir)
	big := func(name string, size int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bigSecret := big("big-secret", config.SecretFileLimit+1)
	bigBundle := big("big-bundle", config.BundleFileLimit+1)
	// A secret at the cap is fine (and so is a trailing newline past it being trimmed: not here).
	okSecret := big("ok-secret", config.SecretFileLimit)

	tests := []struct {
		name, check, want string
	}{
		{"secret fifo", "{name: db, type: postgres, url_file: " + pipe + "}",
			`checks[0] "db": url_file: cannot read ` + pipe + `: not a regular file (a named pipe)`},
		{"secret too large", "{name: db, type: postgres, url_file: " + bigSecret + "}",
			`checks[0] "db": url_file: cannot read ` + bigSecret + `: larger than 64 KiB`},
		{"secret directory", "{name: db, type: postgres, url_file: " + dir + "}",
			`checks[0] "db": url_file: cannot read ` + dir + `: not a regular file (a directory)`},
		{"header fifo", "{name: api, type: http, url: 'https://h/', headers_file: {Authorization: " + pipe + "}}",
			`checks[0] "api": headers_file.Authorization: cannot read ` + pipe + `: not a regular file (a named pipe)`},
		{"ca fifo", "{name: api, type: http, url: 'https://h/', tls: {ca_file: " + pipe + "}}",
			`checks[0] "api".tls: ca_file: cannot read ` + pipe + `: not a regular file (a named pipe)`},
		{"ca too large", "{name: api, type: http, url: 'https://h/', tls: {ca_file: " + bigBundle + "}}",
			`checks[0] "api".tls: ca_file: cannot read ` + bigBundle + `: larger than 1 MiB`},
		{"client cert fifo", "{name: api, type: http, url: 'https://h/', tls: {cert_file: " + pipe + ", key_file: " + pipe + "}}",
			`checks[0] "api".tls: cert_file: cannot read ` + pipe + `: not a regular file (a named pipe)`},
		// Last: without the cap, /dev/zero grows until memory runs out.
		{"secret device", "{name: db, type: postgres, url_file: /dev/zero}",
			`checks[0] "db": url_file: cannot read /dev/zero: not a regular file (a device)`},
		{"ca device", "{name: api, type: http, url: 'https://h/', tls: {ca_file: /dev/zero}}",
			`checks[0] "api".tls: ca_file: cannot read /dev/zero: not a regular file (a device)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "healthgate.yaml")
			if err := os.WriteFile(path, []byte("checks:\n  - "+tc.check+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var err error
			within(t, func() { _, err = load(t, path, testEnv) }, unblock)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if !strings.HasPrefix(err.Error(), path+":2:") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it at %s:2 and containing %q", err, path, tc.want)
			}
		})
	}

	t.Run("secret at the cap", func(t *testing.T) {
		cfg, err := config.Parse("t.yaml", []byte("checks:\n  - {name: db, type: tcp, address_file: "+okSecret+"}\n"), testEnv)
		if err != nil {
			t.Fatal(err)
		}
		if len(field[string](t, cfg.Checks[0], "address")) != config.SecretFileLimit {
			t.Errorf("address is %d bytes; want the whole file", len(field[string](t, cfg.Checks[0], "address")))
		}
	})

	// The configuration file's own error names it once: huge.yaml: larger than 1 MiB, not huge.yaml:
	// cannot read huge.yaml: ...
	for _, tc := range []struct{ name, path, want string }{
		{"config fifo", pipe, "not a regular file (a named pipe)"},
		{"config too large", bigBundle, "larger than 1 MiB (1048577 bytes)"},
		{"config device", "/dev/zero", "not a regular file (a device)"},
		{"config missing", filepath.Join(dir, "missing.yaml"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			within(t, func() { _, err = config.Load(tc.path, testEnv) }, unblock)
			if err == nil || err.Error() != tc.path+": "+tc.want {
				t.Errorf("Load(%s) = %v; want %q", tc.path, err, tc.path+": "+tc.want)
			}
			if _, err := config.LoadRefs(tc.path, testEnv); err == nil || err.Error() != tc.path+": "+tc.want {
				t.Errorf("LoadRefs(%s) = %v; want %q", tc.path, err, tc.path+": "+tc.want)
			}
		})
	}
}

// TestDigestFile: the digest serve's reload poll compares is of what ReadFile returns, and is refused
// as ReadFile refuses (never a read without bound, never a hang).
func TestDigestFile(t *testing.T) {
	dir := t.TempDir()
	pipe, unblock := fifo(t, dir)
	path := filepath.Join(dir, "ok")
	if err := os.WriteFile(path, []byte("some bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := config.DigestFile(path, 10)
	if err != nil || sum != sha256.Sum256([]byte("some bytes")) {
		t.Errorf("DigestFile(%s) = %x, %v; want the SHA-256 of its bytes", path, sum, err)
	}
	for _, p := range []string{path, pipe, "/dev/zero", dir, filepath.Join(dir, "missing")} {
		var derr, rerr error
		within(t, func() {
			_, derr = config.DigestFile(p, 9)
			_, rerr = config.ReadFile(p, 9)
		}, unblock)
		if derr == nil || rerr == nil || derr.Error() != rerr.Error() {
			t.Errorf("%s: DigestFile's error %v; want ReadFile's, %v", p, derr, rerr)
		}
	}
}
