package checks_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// tlsTerminator accepts TLS with the PKI's server certificate and forwards the plaintext to target: the
// shared RabbitMQ behind TLS, as a load balancer terminating amqps would put it (the shared broker
// is never reconfigured).
func tlsTerminator(t *testing.T, p *testPKI, target string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
	return ln.Addr().String()
}

// tlsCases runs the tls-block cases every TLS-speaking broker kind shares.
func tlsCases(t *testing.T, p *testPKI, build func(tb config.TLS) config.Check) {
	run := func(tb config.TLS) error {
		t.Helper()
		err, _ := runCheck(t, newCheckTimeout(t, build(tb), config.DefaultTimeout))
		return err
	}
	t.Run("trusted CA", func(t *testing.T) { assertClass(t, run(config.TLS{CAFile: p.ca}), "") })
	t.Run("unknown CA", func(t *testing.T) {
		err := run(config.TLS{CAFile: p.otherCA})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.ca_file")
	})
	t.Run("server_name mismatch", func(t *testing.T) {
		err := run(config.TLS{CAFile: p.ca, ServerName: "broker.example.com"})
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "tls.server_name")
	})
	t.Run("server_name the certificate holds", func(t *testing.T) {
		assertClass(t, run(config.TLS{CAFile: p.ca, ServerName: "localhost"}), "")
	})
}

func TestAMQPTLS(t *testing.T) {
	mq := checktest.AMQPURL(t)
	p := newPKI(t)
	addr := tlsTerminator(t, p, checktest.HostPort(t, mq))
	url := strings.Replace(checktest.WithHost(t, mq, addr), "amqp://", "amqps://", 1)
	tlsCases(t, p, func(tb config.TLS) config.Check {
		return config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url, "tls": tb})}
	})
	t.Run("amqp091's URL parameter for the CA", func(t *testing.T) {
		ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url + "?cacertfile=" + p.ca})}, config.DefaultTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	})
	// Without a tls block, a certificate failure's hint names amqp091's URL parameters too: it named
	// tls.ca_file and tls.server_name alone to a URL that gave its CA as cacertfile=.
	t.Run("URL parameters: unknown CA", func(t *testing.T) {
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url + "?cacertfile=" + p.otherCA})}, config.DefaultTimeout))
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "cacertfile= in url")
		if h := checks.Hint(err, "--amqp"); !strings.Contains(h, "cacertfile= in --amqp, or --set amqp.tls='{ca_file: PATH}'") {
			t.Errorf("flag hint %q", h)
		}
	})
	t.Run("URL parameters: server_name_indication mismatch", func(t *testing.T) {
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url + "?cacertfile=" + p.ca + "&server_name_indication=broker.example.com"})}, config.DefaultTimeout))
		assertClass(t, err, checks.TLS)
		assertHint(t, err, "server_name_indication=")
	})
}

func TestNATSTLS(t *testing.T) {
	p := newPKI(t)
	addr := startNATS(t, fmt.Sprintf("tls { cert_file: %q, key_file: %q }", p.serverCert, p.serverKey))
	tlsCases(t, p, func(tb config.TLS) config.Check {
		return config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": "tls://" + addr, "tls": tb})}
	})
	t.Run("nats:// to a server that requires TLS, without a tls block", func(t *testing.T) {
		err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(map[string]any{"url": "nats://" + addr})}, config.DefaultTimeout))
		if err != nil {
			t.Logf("%v (hint: %s)", err, checks.Hint(err, "url"))
		}
		assertClass(t, err, checks.TLS)
	})
}

// TestNATSTLSBlockToPlainServer: a nats:// URL with a tls block (--set nats.tls='{}' for --nats) to a
// server without TLS is tls, and the hint says to remove the block: it said "use nats://", the scheme
// the URL already has. A tls:// URL keeps that advice.
func TestNATSTLSBlockToPlainServer(t *testing.T) {
	addr := checktest.HostPort(t, checktest.NATSURL(t))
	for _, tc := range []struct {
		name, url string
		block     bool
		want      map[string]string // origin: what the hint says there
	}{
		{"nats:// with a tls block", "nats://" + addr, true, map[string]string{"url": "remove the tls block", "--nats": "remove --set nats.tls"}},
		{"tls://", "tls://" + addr, false, map[string]string{"url": "use nats:// in url", "--nats": "use nats:// in --nats"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"url": tc.url}
			if tc.block {
				spec["tls"] = map[string]any{}
			}
			err, _ := runCheck(t, newCheckTimeout(t, config.Check{Type: "nats", Spec: config.SpecOf(spec)}, config.DefaultTimeout))
			assertClass(t, err, checks.TLS)
			for origin, want := range tc.want {
				if h := checks.Hint(err, origin); !strings.Contains(h, want) || (tc.block && strings.Contains(h, "use nats://")) {
					t.Errorf("hint for %s: %q; want it to say %q", origin, h, want)
				}
			}
		})
	}
}

func TestMQTTTLS(t *testing.T) {
	p := newPKI(t)
	addr, _ := runMosquitto(t, fmt.Sprintf("allow_anonymous true\ncertfile %s\nkeyfile %s\n", p.serverCert, p.serverKey))
	tlsCases(t, p, func(tb config.TLS) config.Check {
		return config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtts://" + addr, "tls": tb})}
	})
}
