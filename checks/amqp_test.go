package checks_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
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
		// The shared broker has no rabbitmq_auth_mechanism_ssl: it does not offer EXTERNAL. The hint is
		// about the certificate and the plugin, not a user and password.
		{name: "EXTERNAL refused", url: withUser(t, mq, "guest", "s3cr3t-pw") + "?auth_mechanism=external", want: checks.Auth, hint: "rabbitmq_auth_mechanism_ssl"},
		// RabbitMQ answers a ClientHello with its AMQP protocol header.
		{name: "amqps to a plain port", url: strings.Replace(mq, "amqp://", "amqps://", 1), want: checks.TLS, hint: "the port may not speak TLS"},
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
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t-pw")
			if tc.queue != "" && tc.want != "" && !strings.Contains(err.Error(), tc.queue) {
				t.Errorf("error %q does not name the queue", err)
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
	target, build := checktest.HostPort(t, mq), urlCheck(t, "amqp", mq)
	runFaults(t, target, build)
	runGarbage(t, target, build, "")
}

// TestAMQPKeepsItsConnection: healthy runs reuse one connection (one login), each run a channel on it;
// a missing queue closes only its channel; a severed connection is reopened by the next run.
func TestAMQPKeepsItsConnection(t *testing.T) {
	mq := checktest.AMQPURL(t)
	p, ch := keptCheck(t, "amqp", mq)
	missing := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, p.Addr()), "queue": "healthgate-no-such-queue"})}, generousTimeout)
	for range 3 {
		err, _ := runCheck(t, missing)
		assertClass(t, err, checks.BadResponse)
	}
	if n := p.Accepted(); n != 2 {
		t.Fatalf("%d connections after 3 runs of a second check against a missing queue; want 2 (its own, kept)", n)
	}
	assertRedials(t, p, ch)
}

func TestAMQPConfiguration(t *testing.T) {
	assertConfigErrors(t, "broker", "amqp", []configCase{
		{"no url", config.Check{}, "required"},
		{"other scheme", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://guest:s3cr3t-pw@rabbit/"})}, "scheme must be amqp or amqps"},
		{"bad escape in the password", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://guest:s3cr3t%zz-pw@rabbit/"})}, "percent-encoded"},
		{"tls on amqp://", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://rabbit/", "tls": config.TLS{ServerName: "rabbit"}})}, "applies to amqps://"},
		// amqp091 takes these, and every run failed: at the dial (unknown), or while writing the
		// passive declare; an empty host was localhost.
		{"port out of range", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://u:s3cr3t-pw@127.0.0.1:99999/"})}, "the port must be a number from 1 to 65535"},
		{"queue name too long", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://rabbit/", "queue": strings.Repeat("q", 300)})}, "queue: is 300 bytes long: a queue name is at most 255 bytes"},
		{"no host", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://guest:s3cr3t-pw@:5672/"})}, "no host"},
		{"no host nor port", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://"})}, "no host"},
		// amqp091 refused it at every run, quoting a value whose parameter's name marks it secret.
		{"unknown auth_mechanism", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqp://rabbit/?auth_mechanism=s3cr3t-mech"})}, "auth_mechanism: must be plain, amqplain or external"},
		// amqp091's URL parameters for TLS files: their errors name the parameter, on url, not a tls
		// block's field that was not written; keyfile's path is hidden, as in the target.
		{"cacertfile missing", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqps://guest:s3cr3t-pw@rabbit/?cacertfile=/nonexistent/ca.pem"})}, "url: parameter cacertfile: cannot read /nonexistent/ca.pem: no such file"},
		{"keyfile missing", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqps://rabbit/?certfile=/nonexistent/c.pem&keyfile=/nonexistent/s3cr3t.pem"})}, "url: parameter keyfile: cannot read the file it names: no such file"},
		{"certfile without keyfile", config.Check{Spec: config.SpecOf(map[string]any{"url": "amqps://rabbit/?certfile=/nonexistent/c.pem"})}, "url: parameter certfile: certfile and keyfile go together"},
	})
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
// fakeBroker speaks just enough AMQP 0-9-1 for a scripted broker: a frame at a time, each written and
// read whole.
type fakeBroker struct {
	c net.Conn
	r *bufio.Reader
}

// openFakeBroker is the broker of one client connection, which it gives 30 s, after the handshake
// (heartbeat as handshake takes it); ok is false when the client did not get as far as open-ok.
func openFakeBroker(c net.Conn, heartbeat uint16) (b fakeBroker, ok bool) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	b = fakeBroker{c: c, r: bufio.NewReader(c)}
	return b, b.handshake(heartbeat)
}

// write writes a method frame on channel ch.
func (b fakeBroker) write(ch, class, method uint16, args []byte) error {
	payload := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, class), method)
	payload = append(payload, args...)
	frame := append(binary.BigEndian.AppendUint16([]byte{1}, ch), binary.BigEndian.AppendUint32(nil, uint32(len(payload)))...)
	_, err := b.c.Write(append(append(frame, payload...), 0xCE))
	return err
}

// read reads one frame: its type, channel and, for a method frame, the method's class and id.
func (b fakeBroker) read() (typ byte, ch, class, method uint16, ok bool) {
	h := make([]byte, 7)
	if _, err := io.ReadFull(b.r, h); err != nil {
		return 0, 0, 0, 0, false
	}
	body := make([]byte, binary.BigEndian.Uint32(h[3:])+1)
	if _, err := io.ReadFull(b.r, body); err != nil {
		return 0, 0, 0, 0, false
	}
	if h[0] == 1 && len(body) >= 5 {
		class, method = binary.BigEndian.Uint16(body), binary.BigEndian.Uint16(body[2:])
	}
	return h[0], binary.BigEndian.Uint16(h[1:]), class, method, true
}

// handshake answers the client's protocol header, start-ok, tune-ok and open, tuning heartbeat (in
// seconds, 0 for none) and 4 KiB frames, and reports whether the client got as far as open-ok.
func (b fakeBroker) handshake(heartbeat uint16) bool {
	if _, err := io.ReadFull(b.r, make([]byte, 8)); err != nil { // AMQP 0-9-1 protocol header
		return false
	}
	longstr := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	start := append([]byte{0, 9}, binary.BigEndian.AppendUint32(nil, 0)...) // 0-9, no server properties
	if b.write(0, 10, 10, append(append(start, longstr("PLAIN")...), longstr("en_US")...)) != nil {
		return false
	}
	if _, _, _, _, ok := b.read(); !ok { // start-ok
		return false
	}
	// tune: no channel limit, 4 KiB frames, the heartbeat
	if b.write(0, 10, 30, binary.BigEndian.AppendUint16([]byte{0, 0, 0, 0, 0x10, 0}, heartbeat)) != nil {
		return false
	}
	for range 2 { // tune-ok, open
		if _, _, _, _, ok := b.read(); !ok {
			return false
		}
	}
	return b.write(0, 10, 41, []byte{0}) == nil // open-ok
}

// serve answers the client's method frames until its connection ends: answer first (it reports whether
// it answered the frame; nil answers none), then channel.open with open-ok, channel.close with
// close-ok, and connection.close with close-ok, which ends it.
func (b fakeBroker) serve(answer func(ch, class, method uint16) bool) {
	for {
		typ, ch, class, method, ok := b.read()
		switch {
		case !ok:
			return
		case typ != 1: // the client's heartbeats
		case answer != nil && answer(ch, class, method):
		case class == 20 && method == 10: // channel.open: open-ok
			_ = b.write(ch, 20, 11, []byte{0, 0, 0, 0})
		case class == 20 && method == 40: // channel.close: close-ok
			_ = b.write(ch, 20, 41, nil)
		case class == 10 && method == 50: // connection.close: close-ok
			_ = b.write(0, 10, 51, nil)
			return
		}
	}
}

func TestAMQPBlocked(t *testing.T) {
	addr := checktest.Serve(t, func(c net.Conn) {
		b, ok := openFakeBroker(c, 0)
		if !ok {
			return
		}
		_ = b.write(0, 10, 60, append([]byte{13}, "low on memory"...)) // connection.blocked
		// channel.open is never answered
		for {
			if _, _, _, _, ok := b.read(); !ok {
				return
			}
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

// TestAMQPQueueUnavailable: a queue that exists but cannot answer (its home node down during a rolling
// restart, a queue process crashed) draws a 404 as a missing queue does, in RabbitMQ's words for it
// (rabbit_amqqueue's priv_absent). The queue is there: the check reports not_ready with the broker's
// reason, not "does not exist", and keeps the connection (only the channel was closed); a queue that
// does not exist ("no queue ...") stays bad_response. A scripted broker answers queue.declare so.
func TestAMQPQueueUnavailable(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   checks.Class
		hint   string
	}{
		{"NOT_FOUND - home node 'rabbit@node-2' of durable queue 'orders' in vhost '/' is down or inaccessible", checks.NotReady, "unavailable"},
		{"NOT_FOUND - queue 'orders' in vhost '/' has crashed and failed to restart", checks.NotReady, "unavailable"},
		{"NOT_FOUND - no queue 'orders' in vhost '/'", checks.BadResponse, "does not exist"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			var accepted atomic.Int32
			addr := checktest.Serve(t, func(c net.Conn) {
				accepted.Add(1)
				b, ok := openFakeBroker(c, 0)
				if !ok {
					return
				}
				b.serve(func(ch, class, method uint16) bool {
					if class != 50 || method != 10 {
						return false
					}
					// queue.declare: channel.close 404
					args := binary.BigEndian.AppendUint16(nil, 404)
					args = append(append(args, byte(len(tc.reason))), tc.reason...)
					args = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(args, 50), 10)
					_ = b.write(ch, 20, 40, args)
					return true
				})
			})
			ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqp://app:s3cr3t-pw@" + addr + "/", "queue": "orders"})}, generousTimeout)
			for range 2 {
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t-pw")
				if tc.want == checks.NotReady && !strings.Contains(err.Error(), strings.TrimPrefix(tc.reason, "NOT_FOUND - ")) {
					t.Errorf("error %q does not give the broker's reason", err)
				}
			}
			if n := accepted.Load(); n != 1 {
				t.Errorf("%d connections for 2 runs; want 1, kept (only the channel was closed)", n)
			}
		})
	}
}

// TestAMQPForcedClose: a node put into maintenance mode (rabbitmq-upgrade drain), or shutting down in a
// rolling restart, closes its client connections with 320 CONNECTION_FORCED and suspends its listeners.
// The broker's words come between runs, on the kept connection; the next run finds it closed and its
// dial refused: that is the node going away (not_ready, in the broker's words), not a broker that is not
// running.
func TestAMQPForcedClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	brokers := make(chan fakeBroker, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, ok := openFakeBroker(c, 0)
		if !ok {
			return
		}
		brokers <- b
		b.serve(nil)
	}()
	ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqp://app:s3cr3t-pw@" + ln.Addr().String() + "/"})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
	const reason = "CONNECTION_FORCED - Node was put into maintenance mode"
	b := <-brokers
	_ = ln.Close() // the listeners suspended
	args := append(binary.BigEndian.AppendUint16(nil, 320), byte(len(reason)))
	_ = b.write(0, 10, 50, append(append(args, reason...), 0, 0, 0, 0)) // connection.close
	// Once amqp091 has read it (at once), the runs find the connection closed.
	checktest.Poll(5*time.Second, 20*time.Millisecond, func() bool { err, _ = runCheck(t, ch); return err != nil })
	for range 2 {
		assertAnswer(t, ch, err, checks.NotReady, "maintenance mode", "s3cr3t-pw")
		if !strings.Contains(err2s(err), reason) {
			t.Errorf("error %q does not give the broker's words", err2s(err))
		}
		err, _ = runCheck(t, ch)
	}
}

// TestAMQPLimits: a throwaway user of the real broker, under per-user limits (rabbitmqctl
// set_user_limits). A channel limit refuses channel.open, not the connection, and says so: reached by
// the user's other channels it is not_ready, clearing when they close; a limit of 0 never clears, which
// is the user's configuration (auth), as a connection limit of 0 is.
func TestAMQPLimits(t *testing.T) {
	mq := checktest.AMQPURL(t)
	ctl := rabbitmqctl(t)
	user := fmt.Sprintf("healthgate-test-limits-%d", time.Now().UnixNano())
	ctl("add_user", user, "s3cr3t-pw")
	t.Cleanup(func() { ctl("delete_user", user) }) // its limits and permissions with it
	ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
	url := withUser(t, mq, user, "s3cr3t-pw")
	// hold opens a connection of the user with a channel on it, as an application's, until the
	// case ends.
	hold := func(t *testing.T) {
		conn, err := amqp.Dial(url)
		if err != nil {
			t.Fatalf("fixture connection: %v", err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if _, err := conn.Channel(); err != nil {
			t.Fatalf("fixture channel: %v", err)
		}
	}
	for _, tc := range []struct {
		name, limits string
		held         bool
		want         checks.Class
		hint, says   string
	}{
		{name: "no channel allowed", limits: `{"max-channels":0}`, want: checks.Auth, hint: "open no channel at all", says: "opening a channel"},
		{name: "channel limit reached", limits: `{"max-channels":1}`, held: true, want: checks.NotReady, hint: "channel limit", says: "opening a channel"},
		{name: "under the channel limit", limits: `{"max-channels":2}`, held: true},
		{name: "no connection allowed", limits: `{"max-connections":0}`, want: checks.Auth, hint: "open no connection at all"},
		{name: "connection limit reached", limits: `{"max-connections":1}`, held: true, want: checks.NotReady, hint: "when other connections close"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl("clear_user_limits", user, "all")
			if tc.held {
				hold(t)
			}
			ctl("set_user_limits", user, tc.limits)
			ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t-pw")
			if tc.says != "" && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
	// Each run closes its channel: under a limit of three channels, run after run on the kept connection
	// passes (a channel left open per run fails the fourth). A channel left open per run would reach the
	// broker's channel_max within hours. RabbitMQ counts a user's channels asynchronously: a channel just
	// closed may still count for some milliseconds, hence three and not one, and the runs spaced.
	t.Run("runs hold no channel", func(t *testing.T) {
		ctl("clear_user_limits", user, "all")
		ctl("set_user_limits", user, `{"max-channels":3}`)
		ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
		for i := range 8 {
			if err, _ := runCheck(t, ch); err != nil {
				t.Fatalf("run %d under a three-channel limit: %v", i+1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// rabbitmqctl returns a function that runs rabbitmqctl against the local node, failing the test when a
// command fails; without a rabbitmqctl that reaches the node, the test fails in CI and skips elsewhere.
func rabbitmqctl(t *testing.T) func(args ...string) {
	t.Helper()
	bin := checktest.Binary(t, "rabbitmqctl")
	if out, err := exec.Command(bin, "-q", "status").CombinedOutput(); err != nil {
		if checktest.InCI() {
			t.Fatalf("rabbitmqctl status: %v: %s", err, out)
		}
		t.Skipf("rabbitmqctl cannot reach the node: %v: %s", err, out)
	}
	return func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, append([]string{"-q"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAMQPCloseWaitIsBounded: a close waits for the broker's close-ok at most min(timeout, 2 s). amqp091
// bounds that wait only by a deadline on the socket, which its heartbeater pushes back after each frame
// it reads: a broker whose connection hangs while its heartbeats still come (RabbitMQ sends them from a
// process of their own), or a last frame read just before the close, held the close until the client's
// next heartbeat, written past the deadline, failed: up to 5 s later with the 10 s heartbeat the check
// asks for (amqp091 beats every half of it).
func TestAMQPCloseWaitIsBounded(t *testing.T) {
	addr := checktest.Serve(t, func(c net.Conn) {
		b, ok := openFakeBroker(c, 10)
		if !ok {
			return
		}
		b.serve(func(_, class, method uint16) bool {
			if class != 10 || method != 50 {
				return false
			}
			// connection.close: never answered, heartbeats go on
			for {
				if _, err := c.Write([]byte{8, 0, 0, 0, 0, 0, 0, 0xCE}); err != nil {
					return true
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	})
	ch := newCheck(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqp://app:s3cr3t-pw@" + addr + "/"})})
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
	start := time.Now()
	ch.Close()
	took := time.Since(start)
	if took < timeout-50*time.Millisecond || took > timeout+500*time.Millisecond {
		t.Errorf("close took %s; want it to wait for the close-ok until its bound, min(timeout, 2 s) = %s, and no longer", took, timeout)
	}
}

// TestCloseAllAtOnce: CloseAll closes its checks at once, not one after the other. An amqp check's close
// says goodbye (connection.close) and waits up to min(timeout, 2 s) for a hung broker's close-ok, so a
// reload or a shutdown that dropped n such checks in turn took n times that.
func TestCloseAllAtOnce(t *testing.T) {
	t.Parallel() // its own proxy and checks; waits on the closes
	mq := checktest.AMQPURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, mq))
	const n = 3
	var cs []*checks.Check
	for i := range n {
		ch := newCheckTimeout(t, config.Check{Name: fmt.Sprintf("broker-%d", i), Type: "amqp",
			Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, mq, p.Addr())})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, "") // each keeps its connection open, to say goodbye on
		cs = append(cs, ch)
	}
	if got := p.Open(); got != n {
		t.Fatalf("%d connections open after the first runs; want %d, one per check", got, n)
	}
	// The broker hangs, its connections open: no close-ok will come, and each close waits its
	// min(generousTimeout, 2 s).
	p.Set(checktest.Stall)
	const wait = 2 * time.Second
	start := time.Now()
	checks.CloseAll(cs)
	took := time.Since(start)
	if took < wait-50*time.Millisecond {
		t.Fatalf("closing took %s; want each close to wait for the hung broker's close-ok (%s)", took, wait)
	}
	if took > wait+wait/2 {
		t.Errorf("closing %d checks took %s; want about one close's wait (%s), not %d of them", n, took, wait, n)
	}
	// The proxy notices each close as it reads it.
	checktest.Eventually(t, time.Second, "the closed checks' connections to close", func() bool { return p.Open() == 0 })
}

// TestAMQPConnectionLostAtLogin: a connection reset or closed while the broker has the login
// (start-ok) or the vhost's connection.open unanswered is a reset, and a broker silent there until the
// run's deadline a timeout, in its own words. amqp091 reports any failure of those two steps that is
// not the broker's own connection.close as "username or password not allowed" or "no access to this
// vhost": a broker restarting, or a proxy cutting the connection mid-login, read as auth (the
// credentials or the vhost blamed), and a hung broker's timeout quoted the password refusal. The login
// asks for authentication_failure_close, so a broker refuses with connection.close (TestAMQPServerAnswers):
// a close without one is said as such, its hint naming credentials only as the last cause.
func TestAMQPConnectionLostAtLogin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reads int  // frames read after the protocol header before the broker fails: start-ok; start-ok, tune-ok, open
		how   byte // 'r' reset, 'c' close, 'h' hang
		want  checks.Class
		hint  string
	}{
		{"reset at the login", 1, 'r', checks.Reset, "closed right after it opened"},
		{"reset at connection.open", 3, 'r', checks.Reset, "closed right after it opened"},
		{"closed at the login", 1, 'c', checks.Reset, "closed the connection at the login without a word"},
		{"closed at connection.open", 3, 'c', checks.Reset, "closed the connection at connection.open without a word"},
		{"silent at the login", 1, 'h', checks.Timeout, "connected, but no answer"},
		{"silent at connection.open", 3, 'h', checks.Timeout, "connected, but no answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := checktest.Serve(t, func(c net.Conn) {
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				b := fakeBroker{c: c, r: bufio.NewReader(c)}
				if _, err := io.ReadFull(b.r, make([]byte, 8)); err != nil {
					return
				}
				longstr := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
				start := append([]byte{0, 9}, binary.BigEndian.AppendUint32(nil, 0)...)
				_ = b.write(0, 10, 10, append(append(start, longstr("PLAIN")...), longstr("en_US")...))
				for i := range tc.reads {
					if _, _, _, _, ok := b.read(); !ok {
						return
					}
					if i == 0 && tc.reads > 1 { // tune
						_ = b.write(0, 10, 30, []byte{0, 0, 0, 0, 0x10, 0, 0, 0})
					}
				}
				switch tc.how {
				case 'h':
					_, _ = io.Copy(io.Discard, c) // until the client gives up
				case 'r':
					_ = c.(*net.TCPConn).SetLinger(0) // the close sends RST
				}
			})
			ch := newCheckTimeout(t, config.Check{Type: "amqp", Spec: config.SpecOf(map[string]any{"url": "amqp://app:s3cr3t-pw@" + addr + "/"})}, timeoutFor(tc.want))
			err, took := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t-pw")
			if tc.want == checks.Timeout {
				assertBounded(t, took)
			}
			for _, words := range []string{"username or password", "no access to this vhost"} {
				if strings.Contains(err2s(err), words) {
					t.Errorf("error %q blames the %s", err, words)
				}
			}
			if tc.how != 'c' && strings.Contains(ch.Hint(err), "password") {
				t.Errorf("hint %q blames the password", ch.Hint(err))
			}
		})
	}
}
