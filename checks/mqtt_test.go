package checks_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// startMosquitto runs a private Mosquitto on a free port that refuses anonymous clients and knows one
// user from a password file made with mosquitto_passwd (the shared broker is never reconfigured).
func startMosquitto(t *testing.T, user, password string) (string, *checktest.Buffer) {
	t.Helper()
	passwd := checktest.Binary(t, "mosquitto_passwd")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, user, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	_ = os.Chmod(pwFile, 0o600)
	return runMosquitto(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\n", pwFile))
}

// runMosquitto runs a private mosquitto on a free port of 127.0.0.1 with these configuration lines, and
// returns its address and its log.
func runMosquitto(t *testing.T, conf string) (string, *checktest.Buffer) {
	t.Helper()
	bin := checktest.Binary(t, "mosquitto")
	port := checktest.FreePort(t)
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\npersistence false\n%s", port, conf)
	if os.Geteuid() == 0 {
		// Run as root, mosquitto drops to the mosquitto user, which cannot read the test's 0700 directory.
		body += "user root\n"
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	out := &checktest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	checktest.Eventually(t, 15*time.Second, "the private mosquitto to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("the private mosquitto exited:\n%s", out.String())
		default:
		}
		return checktest.Listens(addr)
	})
	return addr, out
}

// connackServer answers every CONNECT with a CONNACK carrying code.
func connackServer(t *testing.T, code byte) string {
	return mqttServer(t, []byte{0x20, 0x02, 0x00, code}, nil)
}

// mqttServer is a fake broker: it answers a CONNECT with connack, then hands every later packet's first
// byte to then (nil: read and drop until the client closes).
func mqttServer(t *testing.T, connack []byte, then func(c net.Conn, typ byte)) string {
	return checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		if _, err := readMQTTPacket(r); err != nil { // CONNECT
			return
		}
		_, _ = c.Write(connack)
		for {
			typ, err := readMQTTPacket(r)
			if err != nil {
				return
			}
			if then != nil {
				then(c, typ)
			}
		}
	})
}

// readMQTTPacket reads one MQTT packet and returns its first byte.
func readMQTTPacket(r *bufio.Reader) (byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n, mul := 0, 1
	for { // remaining length, variable-length encoded
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	_, err = io.ReadFull(r, make([]byte, n))
	return typ, err
}

func TestMQTTServerAnswers(t *testing.T) {
	shared := checktest.MQTTURL(t)
	private, _ := startMosquitto(t, "app", "s3cr3t-pw")
	// An empty ACL file denies every topic: the PINGREQ round trip involves none.
	aclFile := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(aclFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	denyAll, _ := runMosquitto(t, "allow_anonymous true\nacl_file "+aclFile+"\n")
	tests := []struct {
		name string
		url  string
		want checks.Class
		hint string
	}{
		{name: "connect and ping round trip", url: shared},
		{name: "user and password", url: "mqtt://app:s3cr3t-pw@" + private},
		{name: "an ACL that denies every topic", url: "mqtt://" + denyAll},
		{name: "wrong password", url: "mqtt://app:wrong-s3cr3t-pw@" + private, want: checks.Auth, hint: "refused the CONNECT"},
		{name: "anonymous refused", url: "mqtt://" + private, want: checks.Auth, hint: "refused the CONNECT"},
		{name: "server unavailable", url: "mqtt://" + connackServer(t, 3), want: checks.NotReady, hint: "server unavailable"},
		{name: "bad user name or password (CONNACK 4)", url: "mqtt://app:s3cr3t-pw@" + connackServer(t, 4), want: checks.Auth},
		{name: "not authorised (CONNACK 5)", url: "mqtt://app:s3cr3t-pw@" + connackServer(t, 5), want: checks.Auth},
		{name: "identifier rejected (CONNACK 2)", url: "mqtt://" + connackServer(t, 2), want: checks.BadResponse, hint: "client id"},
		{name: "protocol version refused (CONNACK 1)", url: "mqtt://" + connackServer(t, 1), want: checks.BadResponse, hint: "3.1.1"},
		// An MQTT 5 broker's CONNACK: flags, reason code 0x84 (unsupported protocol version), no properties.
		{name: "an MQTT 5 CONNACK", url: "mqtt://" + mqttServer(t, []byte{0x20, 0x03, 0x00, 0x84, 0x00}, nil), want: checks.BadResponse, hint: "3.1.1"},
		{name: "not MQTT, connection kept open", url: "mqtt://" + garbageServer(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), want: checks.BadResponse, hint: "not MQTT"},
		{name: "mqtts to a plain port", url: strings.Replace(shared, "mqtt://", "mqtts://", 1), want: checks.TLS},
		{name: "dns", url: checktest.WithHost(t, shared, "healthgate-test.invalid:1883"), want: checks.DNS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": tc.url})}, config.DefaultTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t")
		})
	}
}

// TestMQTTAtConnectionLimit: a Mosquitto at its max_connections closes a new connection before any
// CONNACK; the hint names the limit, which "restarting, a load balancer, another protocol" left out.
func TestMQTTAtConnectionLimit(t *testing.T) {
	addr, log := runMosquitto(t, "allow_anonymous true\nmax_connections 1\n")
	// Mosquitto 2.0.11 counts a connection that closes without a CONNECT out twice (the readiness dial's
	// leaves the count at -1): clients are held, once that dial has ended, until the broker denies one,
	// so that it is at its limit whatever it counted.
	checktest.Eventually(t, 10*time.Second, "mosquitto to see the readiness dial end", func() bool {
		return strings.Contains(log.String(), "closed its connection")
	})
	held := 0
	for denied := false; !denied; {
		if held == 5 {
			t.Fatalf("mosquitto with max_connections 1 took %d clients:\n%s", held, log.String())
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		// CONNECT, MQTT 3.1.1, clean session, keep alive 60 s, an empty client id; a CONNACK, or the end.
		if _, err := c.Write([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}); err != nil {
			t.Fatal(err)
		}
		connack := make([]byte, 4)
		_, err = io.ReadFull(c, connack)
		switch {
		case err == nil && connack[0] == 0x20 && connack[3] == 0:
			_ = c.SetDeadline(time.Time{})
			held++
		case err != nil:
			denied = true
			checktest.Eventually(t, 10*time.Second, "mosquitto to log the denial", func() bool {
				return strings.Contains(log.String(), "max_connections exceeded")
			})
		default:
			t.Fatalf("a held client: CONNACK % x, %v\n%s", connack, err, log.String())
		}
	}
	before := strings.Count(log.String(), "max_connections exceeded")
	ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://" + addr})}, config.DefaultTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Reset, "connection limit", "s3cr3t")
	checktest.Eventually(t, 10*time.Second, "mosquitto to log that it denied the check (max_connections)", func() bool {
		return strings.Count(log.String(), "max_connections exceeded") > before
	})
}

// TestMQTTDisconnects: closing the check ends the session with DISCONNECT (Mosquitto logs "disconnected"
// for it, and "closed its connection" for a client that just drops the socket).
func TestMQTTDisconnects(t *testing.T) {
	addr, log := startMosquitto(t, "app", "s3cr3t-pw")
	ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://app:s3cr3t-pw@" + addr})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
	ch.Close()
	checktest.Eventually(t, 10*time.Second, "mosquitto to log the client's end", func() bool {
		return strings.Contains(log.String(), " disconnected.") || strings.Contains(log.String(), " as healthgate") &&
			strings.Count(log.String(), "closed its connection") > 1 // one is the readiness dial's
	})
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "Client healthgate") && !strings.Contains(l, " disconnected.") && !strings.Contains(l, "New client") {
			t.Errorf("the session did not end with DISCONNECT: %s", l)
		}
	}
	if !strings.Contains(log.String(), " disconnected.") {
		t.Errorf("no DISCONNECT logged:\n%s", log.String())
	}
}

func TestMQTTWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	mu := checktest.MQTTURL(t)
	target, build := checktest.HostPort(t, mu), urlCheck(t, "mqtt", mu)
	runFaults(t, target, build)
	runGarbage(t, target, build, "")
}

// TestMQTTPings: each run is a PINGREQ answered by a PINGRESP on the kept session, and nothing else
// (Mosquitto with log_type all logs every packet it receives and sends).
func TestMQTTPings(t *testing.T) {
	addr, log := runMosquitto(t, "allow_anonymous true\nlog_type all\n")
	ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://" + addr})}, generousTimeout)
	const runs = 3
	for range runs {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
	id := ""
	checktest.Eventually(t, 10*time.Second, "mosquitto to log the runs' PINGRESPs", func() bool {
		out := log.String()
		const connected = " as healthgate" // "New client connected from 127.0.0.1:port as <id> (p2, c1, k60)."
		if i := strings.Index(out, connected); i >= 0 && id == "" {
			id = strings.Fields(out[i+len(" as "):])[0]
		}
		return id != "" && strings.Count(out, "Sending PINGRESP to "+id) >= runs
	})
	out := log.String()
	if n := strings.Count(out, "Received PINGREQ from "+id); n != runs {
		t.Errorf("mosquitto received %d PINGREQs from %s; want %d (one per run):\n%s", n, id, runs, out)
	}
	if n := strings.Count(out, "New client connected from"); n != 1 {
		t.Errorf("%d sessions for %d runs; want 1:\n%s", n, runs, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Received ") && !strings.Contains(l, "Received CONNECT") && !strings.Contains(l, "Received PINGREQ") {
			t.Errorf("the check sent more than CONNECT and PINGREQs: %s", l)
		}
	}
}

// TestMQTTPingUnanswered: a broker that accepts the session and never answers PINGREQ makes the run a
// timeout, at its deadline, with the hint that says it connected.
func TestMQTTPingUnanswered(t *testing.T) {
	pings := make(chan byte, 16)
	addr := mqttServer(t, []byte{0x20, 0x02, 0x00, 0x00}, func(_ net.Conn, typ byte) { pings <- typ })
	ch := newCheck(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://" + addr})})
	err, took := runCheck(t, ch)
	assertClass(t, err, checks.Timeout)
	assertBounded(t, took)
	if h := ch.Hint(err); !strings.Contains(h, "connected, but no answer") {
		t.Errorf("hint %q does not say the broker accepted and did not answer", h)
	}
	select {
	case typ := <-pings:
		if typ != 0xc0 {
			t.Errorf("the run sent packet %#x; want a PINGREQ (0xc0)", typ)
		}
	case <-time.After(5 * time.Second):
		t.Error("the broker saw no packet after CONNECT")
	}
}

// TestMQTTAfterConnack: after a good CONNACK, what the broker says to the PINGREQ decides the run.
func TestMQTTAfterConnack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte
		want   checks.Class
	}{
		// A PUBLISH the check never asked for (QoS 0, topic "a"), then the PINGRESP.
		{name: "other packets first", answer: []byte{0x30, 0x04, 0x00, 0x01, 'a', 'x', 0xd0, 0x00}},
		{name: "a malformed packet", answer: []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, want: checks.BadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := mqttServer(t, []byte{0x20, 0x02, 0x00, 0x00}, func(c net.Conn, typ byte) {
				if typ == 0xc0 {
					_, _ = c.Write(tc.answer)
				}
			})
			ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://" + addr})}, generousTimeout)
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if took > 5*time.Second {
				t.Errorf("run took %s", took)
			}
		})
	}
}

// TestMQTTClientIDAnyBroker: MQTT 3.1.1 (§3.1.3.1) guarantees only client ids of 1 to 23 bytes of
// 0-9, a-z and A-Z; a broker may refuse any other with CONNACK 2 (identifier rejected), and a check
// whose id it refuses could never pass. A strict broker, scripted, accepts only those ids.
func TestMQTTClientIDAnyBroker(t *testing.T) {
	type connect struct {
		id    string
		flags byte
	}
	ids := make(chan connect, 2)
	addr := checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		if typ, err := r.ReadByte(); err != nil || typ != 0x10 {
			return
		}
		n, mul := 0, 1
		for {
			b, err := r.ReadByte()
			if err != nil {
				return
			}
			n, mul = n+int(b&0x7f)*mul, mul*128
			if b&0x80 == 0 {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil || len(body) < 12 {
			return
		}
		// protocol name "MQTT" (2+4), level, flags, keepalive (2): then the client id
		idLen := int(body[10])<<8 | int(body[11])
		if 12+idLen > len(body) {
			return
		}
		id := string(body[12 : 12+idLen])
		select {
		case ids <- connect{id, body[7]}:
		default:
		}
		code := byte(0)
		if len(id) < 1 || len(id) > 23 || strings.IndexFunc(id, func(r rune) bool {
			return !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
		}) >= 0 {
			code = 2
		}
		_, _ = c.Write([]byte{0x20, 0x02, 0x00, code})
		for {
			typ, err := readMQTTPacket(r)
			if err != nil {
				return
			}
			if typ == 0xc0 {
				_, _ = c.Write([]byte{0xd0, 0x00})
			}
		}
	})
	// Two checks of one configuration (two pods): each its own id, or the broker would take the session
	// of one away for the other at every run; and a clean session, or the broker would keep one for
	// every id ever used.
	var seen []connect
	for range 2 {
		ch := newCheckTimeout(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": "mqtt://" + addr})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
		select {
		case c := <-ids:
			seen = append(seen, c)
		case <-time.After(5 * time.Second):
			t.Fatal("no CONNECT seen")
		}
	}
	for _, c := range seen {
		if c.flags&0x02 == 0 {
			t.Errorf("CONNECT flags %08b: clean session not set", c.flags)
		}
	}
	if seen[0].id == seen[1].id {
		t.Errorf("two checks sent the same client id %q", seen[0].id)
	}
}

// TestMQTTKeepsItsSession: healthy runs share one connection (one CONNECT); a severed one is replaced by
// the next run, which reports what the broker does now.
func TestMQTTKeepsItsSession(t *testing.T) {
	p, ch := keptCheck(t, "mqtt", checktest.MQTTURL(t))
	assertRedials(t, p, ch)
}

func TestMQTTConfiguration(t *testing.T) {
	assertConfigErrors(t, "telemetry", "mqtt", []configCase{
		{"no url", config.Check{}, "required"},
		{"other scheme", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://app:s3cr3t-pw@mosquitto:1883"})}, "scheme must be mqtt or mqtts"},
		{"a path", config.Check{Spec: config.SpecOf(map[string]any{"url": "mqtt://mosquitto:1883/topic"})}, "no path"},
		{"a password without a user name", config.Check{Spec: config.SpecOf(map[string]any{"url": "mqtt://:s3cr3t@mosquitto:1883"})}, "a password with no user name"},
		{"bad escape in the password", config.Check{Spec: config.SpecOf(map[string]any{"url": "mqtt://app:s3cr3t%zz@mosquitto:1883"})}, "percent-encoded"},
		{"tls on mqtt://", config.Check{Spec: config.SpecOf(map[string]any{"url": "mqtt://mosquitto:1883", "tls": config.TLS{ServerName: "m"}})}, "applies to mqtts://"},
	})
	for raw, want := range map[string]string{
		"mqtts://user:s3cr3t-pw@mosquitto:8883": "mqtts://user:xxxxx@mosquitto:8883",
		// a lone user name is a token (a ThingsBoard device's access token)
		"mqtt://A1_s3cr3t_TOKEN@mosquitto:1883": "mqtt://xxxxx@mosquitto:1883",
	} {
		ch := newCheck(t, config.Check{Type: "mqtt", Spec: config.SpecOf(map[string]any{"url": raw})})
		if ch.Target != want {
			t.Errorf("target %q; want %q", ch.Target, want)
		}
	}
}
