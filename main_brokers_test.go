package main

import (
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks/checktest"
)

// brokerTarget is a message-broker kind with a target flag, with the URL of its real server.
type brokerTarget struct{ flag, url string }

// brokerTargets are the message-broker kinds with a target flag.
func brokerTargets(t *testing.T) []brokerTarget {
	return []brokerTarget{
		{"--amqp", checktest.AMQPURL(t)},
		{"--nats", checktest.NATSURL(t)},
		{"--mqtt", checktest.MQTTURL(t)},
	}
}

// TestWaitBrokers: `wait --KIND URL` exits 0 against the real broker, and 124 with the target's class
// in the table against a port where nothing listens (the password never shown).
func TestWaitBrokers(t *testing.T) {
	t.Parallel()
	checktest.EachParallel(t, brokerTargets(t), func(b brokerTarget) string { return strings.TrimPrefix(b.flag, "--") }, func(t *testing.T, b brokerTarget) {
		code, _, stderr := runMain(t, noEnv, "wait", "--timeout", "30s", b.flag, b.url)
		if code != exitOK {
			t.Fatalf("wait %s against the real server: exit %d; want 0:\n%s", b.flag, code, stderr)
		}
		p := checktest.NewProxy(t, checktest.HostPort(t, b.url))
		p.Set(checktest.Refuse)
		refused := withPassword(t, checktest.WithHost(t, b.url, p.Addr()), "hunter2-broker-secret")
		code, _, stderr = runMain(t, noEnv, "wait", "--timeout", "1.5s", b.flag, refused)
		if code != exitTimeout {
			t.Fatalf("wait %s against a refusing port: exit %d; want 124:\n%s", b.flag, code, stderr)
		}
		kind := strings.TrimPrefix(b.flag, "--")
		for _, w := range []string{kind, "NOT READY", "refused"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, stderr)
			}
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("the password leaked:\n%s", stderr)
		}
	})
}

// TestCheckBrokerTokens: a lone user name in a NATS or MQTT URL is a token (nats://TOKEN@host, and the
// access token a ThingsBoard device logs in with, mqtt://TOKEN@host): `check` names the target with it
// redacted, in text and JSON, and never shows it, against a port where nothing listens.
func TestCheckBrokerTokens(t *testing.T) {
	t.Parallel()
	addr := checktest.ClosedAddr(t)
	for _, tc := range []struct{ flag, url string }{
		{"--nats", "nats://SECRETTOKEN@" + addr},
		{"--nats", "tls://SECRETTOKEN@" + addr},
		{"--mqtt", "mqtt://SECRETTOKEN@" + addr},
		{"--mqtt", "mqtts://SECRETTOKEN@" + addr},
	} {
		for _, output := range []string{"text", "json"} {
			code, stdout, stderr := runMain(t, noEnv, "check", "--output", output, tc.flag, tc.url)
			if code != exitFailed {
				t.Errorf("check %s %s --output %s: exit %d; want 1:\n%s%s", tc.flag, tc.url, output, code, stdout, stderr)
			}
			scheme, _, _ := strings.Cut(tc.url, "://")
			if want := scheme + "://xxxxx@" + addr; !strings.Contains(stdout, want) {
				t.Errorf("check %s %s --output %s: output lacks the redacted target %s:\n%s", tc.flag, tc.url, output, want, stdout)
			}
			if strings.Contains(stdout+stderr, "SECRETTOKEN") {
				t.Errorf("check %s %s --output %s: the token leaked:\n%s%s", tc.flag, tc.url, output, stdout, stderr)
			}
		}
	}
}
