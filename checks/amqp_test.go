package checks_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// declareQueue creates a queue on the real broker for the test (the check itself never creates one)
// and deletes it when the test ends.
func declareQueue(t *testing.T, rawURL string) string {
	t.Helper()
	conn, err := amqp.Dial(rawURL)
	if err != nil {
		t.Fatalf("fixture connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("healthgate-test-%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(name, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(name, false, false, false) })
	return name
}

// queueExists asks the broker, on a connection of the test's own, whether a queue exists.
func queueExists(t *testing.T, rawURL, name string) bool {
	t.Helper()
	conn, err := amqp.Dial(rawURL)
	if err != nil {
		t.Fatalf("fixture connection: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.QueueDeclarePassive(name, false, false, false, false, nil)
	return err == nil
}

func TestAMQPServerAnswers(t *testing.T) {
	mq := checktest.AMQPURL(t)
	queue := declareQueue(t, mq)
	tests := []struct {
		name  string
		url   string
		queue string
		want  checks.Class
		hint  string
	}{
		{name: "login and channel", url: mq},
		{name: "queue exists", url: mq, queue: queue},
		{name: "queue does not exist", url: mq, queue: "healthgate-no-such-queue", want: checks.BadResponse, hint: "queue does not exist"},
		{name: "vhost does not exist", url: withDB(t, mq, "healthgate-no-such-vhost"), want: checks.Auth, hint: "virtual host"},
		{name: "wrong password", url: withUser(t, mq, "guest", "s3cr3t-pw"), want: checks.Auth, hint: "refused the login"},
		{name: "user does not exist", url: withUser(t, mq, "healthgate-nobody", "s3cr3t-pw"), want: checks.Auth, hint: "refused the login"},
		// RabbitMQ answers a ClientHello with its AMQP protocol header.
		{name: "amqps to a plain port", url: strings.Replace(mq, "amqp://", "amqps://", 1), want: checks.TLS},
		{name: "dns", url: checktest.WithHost(t, mq, "healthgate-test.invalid:5672"), want: checks.DNS},
		// The protocol header sent back reads as a frame too large.
		{name: "the request sent back", url: checktest.WithHost(t, mq, echoServer(t, "")), want: checks.BadResponse, hint: "broker's AMQP port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The default timeout (2 s): RabbitMQ delays a silent refusal of a login by 3 s, and the
			// check must get the broker's answer well before.
			ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": tc.url, "queue": tc.queue})}, config.DefaultTimeout)
			err, _ := runCheck(t, ch)
			if err != nil {
				t.Logf("%v (hint: %s)", err, ch.Hint(err))
			}
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if tc.queue != "" && tc.want != "" && !strings.Contains(err.Error(), tc.queue) {
				t.Errorf("error %q does not name the queue", err)
			}
			for _, s := range []string{err2s(err), ch.Hint(err), ch.Target} {
				if strings.Contains(s, "s3cr3t-pw") {
					t.Errorf("output leaks the password: %q", s)
				}
			}
		})
	}
	// The check never creates what it checks.
	if queueExists(t, mq, "healthgate-no-such-queue") {
		t.Error("the passive declare created the missing queue")
	}
}

func TestAMQPWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	mq := checktest.AMQPURL(t)
	runFaults(t, checktest.HostPort(t, mq), func(addr string) config.Check {
		return config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, addr)})}
	})
	t.Run("garbage", func(t *testing.T) {
		p := checktest.NewProxy(t, checktest.HostPort(t, mq))
		p.Set(checktest.Garbage)
		ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, p.Addr())})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.BadResponse)
	})
}

// TestAMQPKeepsItsConnection: healthy runs reuse one connection (one login), each run a channel on it;
// a missing queue closes only its channel; a severed connection is reopened by the next run.
func TestAMQPKeepsItsConnection(t *testing.T) {
	mq := checktest.AMQPURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, mq))
	ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, p.Addr())})}, generousTimeout)
	for range 5 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
	if n := p.Accepted(); n != 1 {
		t.Fatalf("%d connections for 5 healthy runs; want 1", n)
	}
	missing := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, p.Addr()), "queue": "healthgate-no-such-queue"})}, generousTimeout)
	for range 3 {
		err, _ := runCheck(t, missing)
		assertClass(t, err, checks.BadResponse)
	}
	if n := p.Accepted(); n != 2 {
		t.Fatalf("%d connections after 3 runs of a second check against a missing queue; want 2 (its own, kept)", n)
	}
	for _, tc := range []struct {
		mode checktest.Mode
		want checks.Class
	}{{checktest.Refuse, checks.Refused}, {checktest.Reset, checks.Reset}} {
		p.Set(tc.mode) // closes the kept connection, as a broker restart does
		err, _ := runCheck(t, ch)
		assertClass(t, err, tc.want)
		p.Set(checktest.Forward)
		err, _ = runCheck(t, ch)
		assertClass(t, err, "")
	}
}

func TestAMQPConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check config.Check
		want  string
	}{
		{"no url", config.Check{}, "required"},
		{"other scheme", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://guest:s3cr3t-pw@rabbit/"})}, "scheme must be amqp or amqps"},
		{"bad escape in the password", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://guest:s3cr3t%zz-pw@rabbit/"})}, "percent-encoded"},
		{"tls on amqp://", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://rabbit/", "tls": config.TLS{ServerName: "rabbit"}})}, "applies to amqps://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Name, tc.check.Type = "broker", "amqp"
			base := config.NewCheck("broker", "amqp", "test", config.NewDefaults())
			tc.check.Src, tc.check.Timeout = base.Src, base.Timeout
			_, err := checks.New(tc.check)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	ch := newCheck(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqps://app:s3cr3t-pw@rabbit:5671/prod", "queue": "orders"})})
	if want := `amqps://app:xxxxx@rabbit:5671/prod queue "orders"`; ch.Target != want {
		t.Errorf("target %q; want %q", ch.Target, want)
	}
}

// TestAMQPBlocked: a broker that sends connection.blocked to a connection that does not publish, and
// then stops answering: the run reports not_ready, not a timeout. A scripted broker speaks the
// handshake and then blocks. RabbitMQ is not such a broker: it sends connection.blocked only to a
// connection that publishes, so under a real alarm the check passes (checks/amqp.go says what was
// measured). The shared RabbitMQ is never put under an alarm.
func TestAMQPBlocked(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		if _, err := io.ReadFull(r, make([]byte, 8)); err != nil { // AMQP 0-9-1 protocol header
			return
		}
		write := func(class, method uint16, args []byte) {
			payload := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, class), method)
			payload = append(payload, args...)
			frame := append([]byte{1, 0, 0}, binary.BigEndian.AppendUint32(nil, uint32(len(payload)))...)
			_, _ = c.Write(append(append(frame, payload...), 0xCE))
		}
		read := func() bool { // one frame
			h := make([]byte, 7)
			if _, err := io.ReadFull(r, h); err != nil {
				return false
			}
			_, err := io.ReadFull(r, make([]byte, binary.BigEndian.Uint32(h[3:])+1))
			return err == nil
		}
		longstr := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
		start := append([]byte{0, 9}, binary.BigEndian.AppendUint32(nil, 0)...) // 0-9, no server properties
		write(10, 10, append(append(start, longstr("PLAIN")...), longstr("en_US")...))
		if !read() { // start-ok
			return
		}
		write(10, 30, []byte{0, 0, 0, 0, 0x10, 0, 0, 0}) // tune: no channel limit, 4 KiB frames, no heartbeat
		if !read() || !read() {                          // tune-ok, open
			return
		}
		write(10, 41, []byte{0})                              // open-ok
		write(10, 60, append([]byte{13}, "low on memory"...)) // connection.blocked
		for read() {                                          // channel.open is never answered
		}
	})
	ch := newCheck(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqp://app:s3cr3t-pw@" + addr + "/"})})
	err, took := runCheck(t, ch)
	assertClass(t, err, checks.NotReady)
	assertBounded(t, took)
	if !strings.Contains(err.Error(), "low on memory") || !strings.Contains(ch.Hint(err), "resource alarm") {
		t.Errorf("error %q, hint %q: want the broker's reason and the alarm hint", err, ch.Hint(err))
	}
}
