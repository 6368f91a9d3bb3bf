package checks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// testPKI is a CA that signed a server certificate (localhost, 127.0.0.1) and a client certificate,
// and another CA that signed nothing, all written as PEM files.
type testPKI struct {
	ca, otherCA           string
	serverCert, serverKey string
	// expiredCert is a server certificate for localhost and 127.0.0.1 that expired a day ago.
	expiredCert           tls.Certificate
	clientCert, clientKey string
	// expiredClientCert is a client certificate (of clientKey) that expired a day ago.
	expiredClientCert string
	caPool            *x509.CertPool
	server            tls.Certificate
	// issueServer writes a server certificate (and its key) signed by the CA for these names only.
	issueServer func(dns []string, ips ...net.IP) (cert, key string)
}

// newPKI makes a fresh testPKI in a temporary directory of the test: every certificate the tests of
// this package use (redis, sql, brokers, http, grpc) comes from one.
func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, key *ecdsa.PrivateKey, signer *ecdsa.PrivateKey) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		if tmpl.NotAfter.IsZero() {
			tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, der
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	p := &testPKI{caPool: x509.NewCertPool()}
	caKey := newKey()
	ca, caDER := issue(caTmpl("healthgate test CA"), nil, caKey, caKey)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	p.caPool.AddCert(ca)
	otherKey := newKey()
	_, otherDER := issue(caTmpl("some other CA"), nil, otherKey, otherKey)
	p.otherCA = write("other-ca.pem", "CERTIFICATE", otherDER)

	servers := 0
	p.issueServer = func(dns []string, ips ...net.IP) (string, string) {
		servers++
		key := newKey()
		cn := "server"
		if len(dns) > 0 {
			cn = dns[0]
		}
		_, der := issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}, ca, key, caKey)
		name := fmt.Sprintf("server-%d", servers)
		if servers == 1 {
			name = "server"
			p.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", keyDER(key))
	}
	p.serverCert, p.serverKey = p.issueServer([]string{"localhost"}, net.IPv4(127, 0, 0, 1))

	expiredKey := newKey()
	_, expiredDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, expiredKey, caKey)
	p.expiredCert = tls.Certificate{Certificate: [][]byte{expiredDER}, PrivateKey: expiredKey}

	clientKey := newKey()
	_, clientDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "healthgate"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, clientKey, caKey)
	p.clientCert = write("client.pem", "CERTIFICATE", clientDER)
	p.clientKey = write("client-key.pem", "PRIVATE KEY", keyDER(clientKey))
	_, expiredClientDER := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "healthgate"}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, clientKey, caKey)
	p.expiredClientCert = write("client-expired.pem", "CERTIFICATE", expiredClientDER)
	return p
}

// startRedisTLS runs a private redis-server that speaks only TLS, with the PKI's server certificate,
// trusting the PKI's CA for client certificates; authClients is its tls-auth-clients (yes, no,
// optional). The shared Redis has no TLS and is never reconfigured.
func startRedisTLS(t *testing.T, p *testPKI, authClients string) string {
	t.Helper()
	return checktest.StartRedisTLS(t, p.redisTLS(authClients))
}

// redisTLS is the TLS side of a private Redis with the PKI's server certificate, trusting its CA.
func (p *testPKI) redisTLS(authClients string) checktest.RedisTLS {
	return checktest.RedisTLS{Cert: p.serverCert, Key: p.serverKey, CA: p.ca, AuthClients: authClients}
}

// assertHint checks that a failed run's hint says what.
func assertHint(t *testing.T, err error, what string) {
	t.Helper()
	if h := checks.Hint(err, "url"); !strings.Contains(h, what) {
		t.Errorf("hint %q does not contain %q (error: %v)", h, what, err)
	}
}

// TestRedisTLS runs a redis check with a tls block against a real Redis that speaks TLS.
func TestRedisTLS(t *testing.T) {
	p := newPKI(t)
	optional := startRedisTLS(t, p, "optional")
	required := startRedisTLS(t, p, "yes")
	run := func(addr string, tb config.TLS) error {
		t.Helper()
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://" + addr + "/0", "tls": tb})}, generousTimeout))
		return err
	}
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

	t.Run("trusted CA", func(t *testing.T) {
		assertClass(t, run(optional, config.TLS{CAFile: p.ca}), "")
	})
	t.Run("unknown CA", func(t *testing.T) {
		err := run(optional, config.TLS{CAFile: p.otherCA})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.ca_file")
	})
	t.Run("no tls block: system roots do not know the CA", func(t *testing.T) {
		err := run(optional, config.TLS{})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.ca_file")
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		assertClass(t, run(optional, config.TLS{CAFile: p.otherCA, InsecureSkipVerify: true}), "")
	})
	t.Run("server_name mismatch", func(t *testing.T) {
		err := run(optional, config.TLS{CAFile: p.ca, ServerName: "cache.example.com"})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.server_name")
	})
	t.Run("server_name the certificate holds", func(t *testing.T) {
		// Dialled by IP, verified as localhost.
		assertClass(t, run(optional, config.TLS{CAFile: p.ca, ServerName: "localhost"}), "")
	})
	t.Run("URL host the certificate holds", func(t *testing.T) {
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://localhost:" + port(optional) + "/0", "tls": config.TLS{CAFile: p.ca}})}, generousTimeout))
		assertClass(t, err, "")
	})
	t.Run("client certificate required and given", func(t *testing.T) {
		assertClass(t, run(required, config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}), "")
	})
	t.Run("client certificate required and missing", func(t *testing.T) {
		err := run(required, config.TLS{CAFile: p.ca})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.cert_file")
	})
}

// TestTLSBlockConfig: the tls block is refused where no TLS is spoken, and its files are checked
// when the check is built.
func TestTLSBlockConfig(t *testing.T) {
	p := newPKI(t)
	build := func(c config.Check) error {
		base := config.NewCheck("dep", c.Type, "test", config.NewDefaults())
		c.Name, c.Src, c.Interval, c.Timeout, c.FailureThreshold, c.SuccessThreshold = "dep", base.Src, base.Interval, base.Timeout, 1, 1
		c.Src.Lines = map[string]int{"tls": 3}
		ch, err := checks.New(c)
		if err == nil {
			ch.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		c    config.Check
		want string // "" means builds
	}{
		{"redis:// with tls", config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://127.0.0.1:6379/0", "tls": config.TLS{CAFile: p.ca}})}, "applies to rediss:// URLs"},
		{"rediss:// with tls", config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://127.0.0.1:6379/0", "tls": config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}})}, ""},
		{"cert without key", config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://127.0.0.1:6379/0", "tls": config.TLS{CertFile: p.clientCert}})}, "cert_file and key_file go together"},
		{"CA file that holds no certificate", config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://127.0.0.1:6379/0", "tls": config.TLS{CAFile: p.clientKey}})}, "no PEM certificate"},
		{"postgres with tls", config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://u@127.0.0.1:5432/test", "tls": config.TLS{CAFile: p.ca}})}, ""},
		{"postgres with tls and sslrootcert", config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://u@127.0.0.1:5432/test?sslrootcert=" + p.ca, "tls": config.TLS{CAFile: p.ca}})}, "the url's sslrootcert both configure TLS"},
		{"mysql with tls", config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://u@127.0.0.1:3306/test", "tls": config.TLS{CAFile: p.ca}})}, ""},
		{"tcp with tls", config.Check{Type: "tcp", Spec: config.SpecOf(map[string]any{"address": "127.0.0.1:6379", "tls": config.TLS{CAFile: p.ca}})}, "does not apply to a tcp check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := build(tc.c)
			if tc.want == "" && err != nil {
				t.Fatalf("build: %v; want no error", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("build error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestEmptyTLSBlockOnAPlainScheme: `tls: {}` turns TLS on where the target has no TLS scheme (grpc,
// mysql, postgres), so on a plaintext URL it is refused as any other tls block is, never silently plaintext;
// beside a nats:// URL it turns TLS on, as a block with fields does.
func TestEmptyTLSBlockOnAPlainScheme(t *testing.T) {
	for _, tc := range []struct{ kind, url, want string }{
		{"redis", "redis://127.0.0.1:6379/0", `healthgate.yaml:5:5: checks[0] "dep": tls: applies to rediss:// URLs; this one is redis:// (no TLS)`},
		{"amqp", "amqp://127.0.0.1:5672/", `healthgate.yaml:5:5: checks[0] "dep": tls: applies to amqps:// URLs; this one is amqp:// (no TLS)`},
		{"mqtt", "mqtt://127.0.0.1:1883", `healthgate.yaml:5:5: checks[0] "dep": tls: applies to mqtts:// URLs; this one is mqtt:// (no TLS)`},
		{"redis", "rediss://127.0.0.1:6379/0", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c := yamlCheck(t, "checks:\n  - name: dep\n    type: "+tc.kind+"\n    url: "+tc.url+"\n    tls: {}\n")
			ch, err := checks.New(c)
			if err == nil {
				ch.Close()
			}
			if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
				t.Errorf("build error %v; want %q", err, tc.want)
			}
		})
	}
	t.Run("nats:// turns TLS on", func(t *testing.T) {
		nu := checktest.NATSURL(t) // a server without TLS
		ch := newCheckTimeout(t, yamlCheck(t, "checks:\n  - name: dep\n    type: nats\n    url: "+nu+"\n    tls: {}\n"), generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.TLS)
	})
}

// TestHTTPClientCertificate: an http check presents tls.cert_file/key_file to a server that requires a
// client certificate, over HTTP/1.1 and HTTP/2, TLS 1.2 and 1.3; without one (or with one the server does
// not trust) the run is tls, its hint naming tls.cert_file. Over TLS 1.3 the server refuses the
// certificate after the client's handshake is done: over HTTP/2 the check's first writes (the preface)
// then met a reset before its read met the server's alert, and the run was reset 7 times in 10, "the
// dependency is restarting"; over TLS 1.2 the server's alert is a bare "handshake failure", whose hint
// did not name the certificate.
func TestHTTPClientCertificate(t *testing.T) {
	p := newPKI(t)
	for _, h2 := range []bool{false, true} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "healthgate" {
					w.WriteHeader(http.StatusForbidden)
				}
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool,
				MinVersion: version, MaxVersion: version}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			run := func(tb config.TLS) error {
				t.Helper()
				err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/healthz", "tls": tb})}, generousTimeout))
				return err
			}
			t.Run(fmt.Sprintf("HTTP/2 %t, %s", h2, tls.VersionName(version)), func(t *testing.T) {
				t.Run("given", func(t *testing.T) {
					assertClass(t, run(config.TLS{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}), "")
				})
				t.Run("missing", func(t *testing.T) {
					for range 5 { // the reset was a race, lost most of the time
						err := run(config.TLS{CAFile: p.ca})
						assertClass(t, err, checks.TLS)
						assertHint(t, err, "tls.cert_file")
					}
				})
				t.Run("unknown CA", func(t *testing.T) {
					err := run(config.TLS{CAFile: p.otherCA, CertFile: p.clientCert, KeyFile: p.clientKey})
					assertClass(t, err, checks.TLS)
					assertHint(t, err, "tls.ca_file")
				})
			})
		}
	}
}

// TestHTTPServerNameOnRedirect: tls.server_name names the url's host (an IP address, an internal alias
// its certificate does not hold) and serves every hop on that host, whatever its port or scheme (http://
// to https://); a redirect to another host is verified against that host's own name, as a client without
// the setting would. It was sent and verified against the configured name on every hop: a redirect to a
// server whose certificate is valid for its own name failed as tls, and one whose certificate held the
// configured name, not its own, passed.
func TestHTTPServerNameOnRedirect(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	serve := func(t *testing.T, names []string, h http.HandlerFunc) string {
		certFile, keyFile := p.issueServer(names)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	ok := func(http.ResponseWriter, *http.Request) {}
	redirect := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
	}
	portOf := func(addr string) string { _, port, _ := net.SplitHostPort(addr); return port }
	// Hops: localhost with a certificate for it; the url's host (127.0.0.1) on another port, whose
	// certificate holds the configured name only, as the url's; localhost with that certificate.
	ownName := "https://localhost:" + portOf(serve(t, []string{"localhost"}, ok)) + "/ok"
	sameHostOtherPort := "https://127.0.0.1:" + portOf(serve(t, []string{"api.internal"}, ok)) + "/ok"
	wrongPort := portOf(serve(t, []string{"api.internal"}, ok))
	wrongName := "https://localhost:" + wrongPort + "/ok"
	plainToTLS := httptest.NewServer(redirect(sameHostOtherPort))
	t.Cleanup(plainToTLS.Close)
	for _, tc := range []struct {
		name, url string
		want      checks.Class
		hint      string
	}{
		{"to another host, valid for its own name", "https://" + serve(t, []string{"api.internal"}, redirect(ownName)), "", ""},
		// Its hint named the url's host and tls.server_name, which does not serve that hop.
		{"to another host, valid for the configured name only", "https://" + serve(t, []string{"api.internal"}, redirect(wrongName)), checks.TLS,
			"followed to https://localhost:" + wrongPort + ", whose certificate does not name localhost"},
		{"to the same host, another port", "https://" + serve(t, []string{"api.internal"}, redirect(sameHostOtherPort)), "", ""},
		{"from http:// to https:// on the same host", plainToTLS.URL, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": tc.url + "/healthz", "follow_redirects": true,
				"tls": config.TLS{CAFile: p.ca, ServerName: "api.internal"}})}, generousTimeout)
			err, _ := runCheck(t, ch)
			if err != nil {
				t.Logf("%v (hint: %s)", err, ch.Hint(err))
			}
			assertClass(t, err, tc.want)
			if tc.hint != "" {
				assertHint(t, err, tc.hint)
			}
		})
	}
}

// TestClientCertificateAskedThenFailed: a server that asks for a client certificate without requiring one
// (nginx's ssl_verify_client optional, Envoy with a validation context, Java's "want" client auth), whose
// handshake completed, and that then fails the request (a handler that panics: HTTP/2's RST_STREAM, or the
// connection closed under an HTTP/1 request) is a reset, with or without a certificate given. It was tls,
// "the server rejected this check's client certificate": a stream reset is the server's answer to a request
// it read, and under TLS 1.2 the server judges the certificate within the handshake, which completed. (Under
// TLS 1.3 it judges it after the client's handshake is done, so a connection closed under an HTTP/1 request
// stays the refusal it may be.)
func TestClientCertificateAskedThenFailed(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		kind    string
		h2      bool
		version uint16
		hint    string
	}{
		{"http", false, tls.VersionTLS12, "closed right after it opened"},
		{"http", true, tls.VersionTLS12, "reset the request's HTTP/2 stream"},
		{"http", true, tls.VersionTLS13, "reset the request's HTTP/2 stream"},
		{"grpc", true, tls.VersionTLS12, "reset the request's HTTP/2 stream"},
		{"grpc", true, tls.VersionTLS13, "reset the request's HTTP/2 stream"},
	} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: p.caPool,
			MinVersion: tc.version, MaxVersion: tc.version}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.EnableHTTP2 = tc.h2
		srv.StartTLS()
		t.Cleanup(srv.Close)
		for _, given := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s HTTP/2 %t %s certificate given %t", tc.kind, tc.h2, tls.VersionName(tc.version), given), func(t *testing.T) {
				tb := config.TLS{CAFile: p.ca}
				if given {
					tb.CertFile, tb.KeyFile = p.clientCert, p.clientKey
				}
				spec := map[string]any{"url": srv.URL + "/healthz", "tls": tb}
				if tc.kind == "grpc" {
					spec = map[string]any{"address": srv.Listener.Addr().String(), "tls": tb}
				}
				ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(spec)}, generousTimeout)
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, checks.Reset, tc.hint, "s3cr3t")
			})
		}
	}
}

// TestTLSClientCertificateExpired: a server that refuses the check's client certificate as expired (the
// rotation that did not happen, cert-manager's renewal of the client's certificate failing) says so with its
// alert, "expired certificate", which got the generic hint about the scheme, the CA and the server name
// for every kind but http and grpc; the hint names the client certificate's setting. The server is Go's,
// which sends that alert as OpenSSL and BoringSSL do. Under TLS 1.3 the server judges the certificate
// after the client's handshake is done, when the client has written its protocol's first bytes; a server
// that closes with them unread resets the connection, and the reset can cost the alert (a loaded machine
// lost it): each kind is run against both ends, the alert read (the server reads what the client sent,
// and waits for its close) and the alert lost (the server waits for the client's first bytes, then resets
// the connection without a word). A lost alert was reset, "the dependency is restarting", for every kind
// but http and grpc (under TLS 1.2, tls with the hint of a port that does not speak TLS, grpc's too).
func TestTLSClientCertificateExpired(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, lost := range []bool{false, true} {
			for _, tc := range []struct {
				kind string
				spec func(addr string) map[string]any
			}{
				{"http", func(addr string) map[string]any {
					return map[string]any{"url": "https://" + addr + "/healthz?api_key=s3cr3t"}
				}},
				{"grpc", func(addr string) map[string]any { return map[string]any{"address": addr} }},
				{"redis", func(addr string) map[string]any { return map[string]any{"url": "rediss://:s3cr3t@" + addr} }},
				{"amqp", func(addr string) map[string]any { return map[string]any{"url": "amqps://guest:s3cr3t@" + addr + "/"} }},
				{"mqtt", func(addr string) map[string]any { return map[string]any{"url": "mqtts://user:s3cr3t@" + addr} }},
				{"memcached", func(addr string) map[string]any { return map[string]any{"address": addr} }},
			} {
				addr := certRefusingServer(t, p, version, lost)
				name := tls.VersionName(version) + "/alert read/" + tc.kind
				if lost {
					name = tls.VersionName(version) + "/alert lost/" + tc.kind
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					spec := tc.spec(addr)
					spec["tls"] = config.TLS{CAFile: p.ca, CertFile: p.expiredClientCert, KeyFile: p.clientKey}
					ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(spec)}, generousTimeout)
					err, _ := runCheck(t, ch)
					assertAnswer(t, ch, err, checks.TLS, "client certificate", "s3cr3t")
				})
			}
		}
	}
}

// certRefusingServer serves TLS of one version with the PKI's server certificate, requiring a client
// certificate its CA signed. A refused certificate ends the connection one of two ways: with lost false, the server reads
// whatever the client sends and waits for its close (the alert always arrives); with lost true, its alert
// is never sent, and once the client's handshake flight and then its first record after the handshake (its
// protocol's first bytes, under TLS 1.3) have arrived, the server resets the connection, as a close with
// them unread does, the alert lost.
func certRefusingServer(t *testing.T, p *testPKI, version uint16, lost bool) string {
	t.Helper()
	return checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		rc := &recordCounter{Conn: c, mute: lost}
		tc := tls.Server(rc, &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool,
			MinVersion: version, MaxVersion: version, NextProtos: []string{"h2", "http/1.1"}})
		if tc.Handshake() == nil {
			_, _ = tc.Read(make([]byte, 1))
			return
		}
		if !lost {
			_, _ = io.Copy(io.Discard, c)
			return
		}
		// The client's records, from its ClientHello: under TLS 1.3 the change_cipher_spec, Certificate,
		// CertificateVerify and Finished, then the first record after its handshake; under TLS 1.2
		// Certificate, ClientKeyExchange, CertificateVerify, change_cipher_spec and Finished, its last.
		for rc.records() < 6 {
			if _, err := rc.Read(make([]byte, 512)); err != nil {
				return
			}
		}
		_ = c.(*net.TCPConn).SetLinger(0) // the close sends RST
	})
}

// recordCounter counts the complete TLS records read through it; with mute, every write after the first
// (the server's first flight) is dropped: the alert is never sent.
type recordCounter struct {
	net.Conn
	mute     bool
	wrote    bool
	buf      []byte // the bytes of the record under way
	complete int
}

func (r *recordCounter) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.buf = append(r.buf, b[:n]...)
	for len(r.buf) >= 5 {
		size := 5 + (int(r.buf[3])<<8 | int(r.buf[4]))
		if len(r.buf) < size {
			break
		}
		r.buf = r.buf[size:]
		r.complete++
	}
	return n, err
}

func (r *recordCounter) records() int { return r.complete }

func (r *recordCounter) Write(b []byte) (int, error) {
	if r.mute && r.wrote {
		return len(b), nil
	}
	r.wrote = true
	return r.Conn.Write(b)
}

// TestTLSUnrecognizedName: a server that refuses a handshake whose name (SNI) it serves no certificate
// for, with the unrecognized_name alert (nginx's ssl_reject_handshake in its default server, what a url
// with an IP address or an internal alias meets), gets the hint that names tls.server_name: it got the
// generic one.
func TestTLSUnrecognizedName(t *testing.T) {
	t.Parallel()
	addr := checktest.Serve(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Write([]byte{0x15, 3, 3, 0, 2, 2, 112}) // fatal unrecognized_name
		_, _ = c.Read(make([]byte, 64))
	})
	for _, tc := range []struct {
		kind, hint string
		spec       map[string]any
	}{
		{"http", "tls.server_name", map[string]any{"url": "https://" + addr + "/healthz?api_key=s3cr3t"}},
		{"grpc", "tls.server_name", map[string]any{"address": "https://" + addr}},
		{"redis", "tls.server_name", map[string]any{"url": "rediss://:s3cr3t@" + addr}},
		{"memcached", "tls.server_name", map[string]any{"address": addr, "tls": config.TLS{}}},
		{"amqp", "server_name_indication=", map[string]any{"url": "amqps://guest:s3cr3t@" + addr + "/"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(tc.spec)}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.TLS, tc.hint, "s3cr3t")
		})
	}
}

// TestTLSExpiredCertificate: a server whose certificate has expired (the renewal that did not happen)
// was tls with no hint, or one about the CA and the server name, which are right; the hint says what is
// wrong: the dates.
func TestTLSExpiredCertificate(t *testing.T) {
	p := newPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.expiredCert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/healthz?token=s3cr3t", "tls": config.TLS{CAFile: p.ca}})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.TLS, "has expired or is not valid yet", "s3cr3t")
}

// TestTLSHandshakeUnanswered: a TLS check pointed at a port that does not speak TLS and waits, silent,
// for its own protocol's first bytes (Redis, a database, many a TCP service) times out in the handshake.
// The hint says so: it read "connected, but no answer within the timeout ... or the port speaks another
// protocol", the TLS left to be guessed (redis and memcached said it already). The same port asked in
// plaintext keeps that hint.
func TestTLSHandshakeUnanswered(t *testing.T) {
	t.Parallel() // each run waits for its timeout
	silent := checktest.Serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	for _, tc := range []struct {
		kind string
		spec map[string]any
		want string
	}{
		{"http", map[string]any{"url": "https://" + silent + "/healthz"}, "no answer to the TLS handshake"},
		{"grpc", map[string]any{"address": "https://" + silent}, "no answer to the TLS handshake"},
		{"amqp", map[string]any{"url": "amqps://guest:s3cr3t@" + silent + "/"}, "no answer to the TLS handshake"},
		{"mqtt", map[string]any{"url": "mqtts://" + silent}, "no answer to the TLS handshake"},
		{"redis", map[string]any{"url": "rediss://" + silent}, "no answer to the TLS handshake"},
		{"memcached", map[string]any{"address": silent, "tls": config.TLS{}}, "no answer to the TLS handshake"},
		{"http", map[string]any{"url": "http://" + silent + "/healthz"}, "connected, but no answer within the timeout"},
	} {
		t.Run(tc.kind+" "+tc.want, func(t *testing.T) {
			t.Parallel()
			ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(tc.spec)}, 300*time.Millisecond)
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.Timeout)
			if h := ch.Hint(err); !strings.Contains(h, tc.want) {
				t.Errorf("hint %q; want it to say %q", h, tc.want)
			}
		})
	}
}

// TestTLSToAPlainPort: a TLS check pointed at a port that does not speak TLS and answers the ClientHello
// (a database's port, that closes the connection on bytes it cannot read; a plain HTTP server, with its
// status line or, for what it takes as HTTP/0.9, its error page alone) fails tls, with a hint that says
// the port may not speak TLS, for every kind. An https:// url read "reset: ... restarting or at its
// connection limit ... (or wants TLS)", or "bad_response: the answer is not HTTP".
func TestTLSToAPlainPort(t *testing.T) {
	t.Parallel()
	pg, err := url.Parse(checktest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	answering := func(answer string) string {
		return checktest.Serve(t, func(c net.Conn) {
			_, _ = c.Read(make([]byte, 512))
			_, _ = io.WriteString(c, answer)
		})
	}
	for _, port := range []struct{ name, addr string }{
		{"the real Postgres", pg.Host},
		{"a port that closes", answering("")},
		{"an HTTP status line", answering("HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>bad request</html>")},
		{"an error page", answering("<!DOCTYPE HTML>\n<html><body>Bad request version</body></html>\n")},
	} {
		for _, tc := range []struct {
			kind string
			spec map[string]any
		}{
			{"http", map[string]any{"url": "https://" + port.addr + "/healthz?api_key=s3cr3t"}},
			{"grpc", map[string]any{"address": "https://" + port.addr}},
			{"amqp", map[string]any{"url": "amqps://guest:s3cr3t@" + port.addr + "/"}},
			{"mqtt", map[string]any{"url": "mqtts://user:s3cr3t@" + port.addr}},
			{"redis", map[string]any{"url": "rediss://:s3cr3t@" + port.addr}},
			{"memcached", map[string]any{"address": port.addr, "tls": config.TLS{}}},
		} {
			t.Run(port.name+"/"+tc.kind, func(t *testing.T) {
				t.Parallel()
				ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(tc.spec)}, generousTimeout)
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, checks.TLS, "not speak TLS", "s3cr3t")
			})
		}
	}
}

// TestTLSGenericHintNamesTheKind: a handshake that fails for no reason a hint of its own names (here the
// server has no certificate to give: an internal_error alert) gets the generic tls hint, in the words of
// the check's kind: it listed every kind's ("https, rediss, amqps, mqtts, tls://, sslmode"), one of
// which applied.
func TestTLSGenericHintNamesTheKind(t *testing.T) {
	t.Parallel()
	noCert := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate")
	}}
	addr := checktest.Serve(t, func(c net.Conn) { _ = tls.Server(c, noCert).Handshake() })
	for _, tc := range []struct {
		kind, words string
		spec        map[string]any
	}{
		{"http", "(https://, the tls settings)", map[string]any{"url": "https://" + addr + "/healthz"}},
		{"redis", "(rediss://, the tls settings)", map[string]any{"url": "rediss://" + addr}},
		{"amqp", "(amqps://, the tls settings)", map[string]any{"url": "amqps://guest:s3cr3t@" + addr + "/"}},
		{"mqtt", "(mqtts://, the tls settings)", map[string]any{"url": "mqtts://" + addr}},
		{"grpc", "(https://, the tls settings)", map[string]any{"address": "https://" + addr}},
		{"memcached", "(the tls settings)", map[string]any{"address": addr, "tls": config.TLS{}}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(tc.spec)}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.TLS, tc.words+", the CA and the server name", "s3cr3t")
		})
	}
}

// TestTLSOldVersionServer: a server that speaks only TLS 1.0 or 1.1 (an old appliance, a JVM or OpenSSL
// configured long ago), which every kind refuses (TLS 1.2 at least), fails tls with a hint that names
// the version: it got the generic one, about the scheme, the CA and the server name, none of which is
// wrong. Go's servers refuse the ClientHello ("protocol version not supported"); older ones answer with
// their own version, which the client refuses ("server selected unsupported protocol version").
func TestTLSOldVersionServer(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	refusing := checktest.Serve(t, func(c net.Conn) {
		_ = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}).Handshake()
	})
	// A ServerHello of TLS 1.0 (0x0301), whatever the ClientHello offered.
	hello := []byte{2, 0, 0, 38, 3, 1}
	hello = append(hello, make([]byte, 32)...) // random
	hello = append(hello, 0, 0x00, 0x2f, 0)    // no session id, TLS_RSA_WITH_AES_128_CBC_SHA, no compression
	record := append([]byte{0x16, 3, 1, 0, byte(len(hello))}, hello...)
	choosing := checktest.Serve(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 4096))
		_, _ = c.Write(record)
		_, _ = c.Read(make([]byte, 64)) // the client's alert
	})
	for _, server := range []struct{ name, addr string }{{"refuses the ClientHello", refusing}, {"chooses TLS 1.0", choosing}} {
		for _, tc := range []struct {
			kind string
			spec map[string]any
		}{
			{"http", map[string]any{"url": "https://" + server.addr + "/healthz?api_key=s3cr3t", "tls": config.TLS{CAFile: p.ca}}},
			{"grpc", map[string]any{"address": server.addr, "tls": config.TLS{CAFile: p.ca}}},
			{"redis", map[string]any{"url": "rediss://:s3cr3t@" + server.addr, "tls": config.TLS{CAFile: p.ca}}},
			{"amqp", map[string]any{"url": "amqps://guest:s3cr3t@" + server.addr + "/", "tls": config.TLS{CAFile: p.ca}}},
			{"mqtt", map[string]any{"url": "mqtts://user:s3cr3t@" + server.addr, "tls": config.TLS{CAFile: p.ca}}},
			{"memcached", map[string]any{"address": server.addr, "tls": config.TLS{CAFile: p.ca}}},
		} {
			t.Run(server.name+"/"+tc.kind, func(t *testing.T) {
				t.Parallel()
				ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(tc.spec)}, generousTimeout)
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, checks.TLS, "older than TLS 1.2", "s3cr3t")
			})
		}
	}
}
