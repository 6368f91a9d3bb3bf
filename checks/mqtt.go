package checks

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/healthgate/healthgate/config"
)

// An mqtt check keeps one MQTT 3.1.1 session to a broker, made with eclipse/paho.mqtt.golang (the
// Eclipse Paho client, the field standard for Go): CONNECT with a random client id and a clean
// session, no subscription and no publish; DISCONNECT when the check closes. Paho's reconnect loop is
// off: a lost session is reconnected by the next run, inside its deadline.
//
// The round trip of a run is a PINGREQ answered by a PINGRESP on the kept connection (a CONNECT per
// run would be a new TCP connection and login every interval). A PINGREQ is the one request no broker
// filters: no ACL, topic or authorisation plugin sees it (an UNSUBSCRIBE, used before, can be refused or
// answered with a disconnect by brokers that check every action). Paho sends PINGREQ only on its own
// keepalive timer and exposes no ping, so the check sends its own on the connection it hands paho
// (mqttWire, inside TLS for mqtts://):
//   - writes: paho writes every packet with exactly one Write call (each packets.*.Write builds the whole
//     packet in a bytes.Buffer and ends in one WriteTo, which is one w.Write; PUBLISH calls w.Write once
//     with packet.Bytes()), from two goroutines (its writer and its keepalive, which already rely on a
//     Write being atomic). mqttWire takes a lock around each Write, so the run's PINGREQ (C0 00) goes
//     between whole packets, and counts every PINGREQ written, paho's included.
//   - reads: paho reads the stream with io.ReadFull (no buffering of its own); mqttWire follows it with
//     a small framer (the type byte, the variable-length remaining length, the payload skipped) and
//     counts the PINGRESPs. The broker answers PINGREQs in order, one each, so when the PINGRESPs read
//     reach the PINGREQs written up to and including the run's, the run's was answered. Paho reads that
//     PINGRESP too, and only clears its pingOutstanding flag (and notes a packet received): harmless,
//     since the broker did answer. Paho's own keepalive (60 s) is left as it is.
//   - the first packet after CONNECT must be a CONNACK (20 02): anything else (another protocol on the
//     port, a banner) fails paho's read at once as bad_response, instead of paho waiting for a length it
//     read from the banner until the run's timeout.

// mqttSettings is mqttSpec checked and resolved: what the runs of an mqtt check read.
type mqttSettings struct {
	url      *url.URL // secrets included: never shown
	addr     string   // host:port
	user     string
	password string
	tls      *tls.Config // nil for mqtt://
}

// mqttSpec is an mqtt check's own configuration (config.Check.Spec, decoded).
type mqttSpec struct {
	URL string     `yaml:"url" secret:"true" schema:"minLength=1,form=mqtt-url"`
	TLS config.TLS `yaml:"tls" plain:"mqtt|tcp"`
}

func mqttSettingsOf(c config.Check, s *mqttSpec) (mqttSettings, config.Errors) {
	var m mqttSettings
	if s.URL == "" {
		return m, config.Errors{c.Src.Errorf("url", "required: an mqtt:// or mqtts:// URL")}
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return m, config.Errors{c.Src.Errorf("url", "%s", urlParseProblem("not a valid MQTT URL (mqtt://[user:password@]host:1883 or mqtts://...:8883)", "mqtt", s.URL, err))}
	}
	if fixed, ok := schemeless("mqtt", s.URL); ok && u.Opaque != "" {
		return m, config.Errors{c.Src.Errorf("url", "not a valid MQTT URL: %s%s", noSchemeWords, fixed)}
	}
	var errs config.Errors
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl", "tls":
		port = "8883"
	default:
		errs = append(errs, c.Src.Errorf("url", "not a valid MQTT URL: the scheme must be mqtt or mqtts, not %q", u.Scheme))
	}
	if u.Hostname() == "" {
		errs = append(errs, c.Src.Errorf("url", "not a valid MQTT URL: no host (mqtt://host:1883)"))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			errs = append(errs, c.Src.Errorf("url", "the port must be a number from 1 to 65535"))
		}
		port = p
	}
	if u.Path != "" && u.Path != "/" {
		errs = append(errs, c.Src.Errorf("url", "an MQTT URL has no path (got one after host:port)"))
	} else if cutAtQuery(u) {
		errs = append(errs, c.Src.Errorf("url", "not a valid MQTT URL: %s", cutAtQueryWords))
	}
	m.url, m.addr = u, net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
		// MQTT 3.1.1 (§3.1.2.9) allows a password only with a user name, and paho sends one only then:
		// mqtt://:password@host would connect without it, a silent anonymous login.
		if m.user == "" && m.password != "" {
			errs = append(errs, c.Src.Errorf("url", "a password with no user name: MQTT 3.1.1 sends a password only with a user name, so it would not be sent (mqtt://user:password@host:1883)"))
		}
	}
	if u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" {
		cfg, tlsErrs := clientTLS(s.TLS)
		errs = append(errs, tlsErrs...)
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		m.tls = noticeCertRequests(cfg, nil)
	} else if tlsWritten(c, s.TLS) { // even an empty block, as for redis://
		errs = append(errs, c.Src.Errorf("tls", "applies to mqtts:// URLs; this one is mqtt:// (no TLS)"))
	}
	return m, errs
}

type mqttCheck struct {
	cfg mqttSettings
	id  string // the client id: random, so two pods never take over each other's session

	kept keptConn[mqttSession]
}

// mqttSession is a connected paho client and the connection it speaks on.
type mqttSession struct {
	client mqtt.Client
	wire   *mqttWire // the connection handed to paho (over the transport, or over TLS over it)
}

func buildMQTT(c config.Check, s *mqttSpec) (prober, string, config.Errors) {
	m, errs := mqttSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	// MQTT 3.1.1 (§3.1.3.1) obliges a broker to take only client ids of 1 to 23 bytes of 0-9, a-z and
	// A-Z; a stricter broker refuses any other with CONNACK 2, at every run. So: "healthgate" and 13
	// random hex digits (52 bits), 23 bytes.
	var b [7]byte
	_, _ = rand.Read(b[:])
	id := "healthgate" + hex.EncodeToString(b[:])[:13]
	shut := func(s mqttSession) { s.client.Disconnect(0) }
	return &mqttCheck{cfg: m, id: id, kept: keptConn[mqttSession]{shut: shut}}, RedactURL(s.URL), nil
}

// Hints of the mqtt failures whose class alone would mislead.
const (
	mqttAuthHint        = "the broker refused the CONNECT (bad user name or password, or not authorised): check the user and password in %s and the broker's password file or ACL"
	mqttUnavailableHint = "the broker answered CONNECT with \"server unavailable\": it is up but not accepting sessions yet (starting, or its backend is down)"
	mqttPlainPortHint   = "the broker answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (use mqtt:// in %s, or the broker's TLS port, 8883)"
	mqttProtocolHint    = "the broker refused MQTT 3.1.1 (protocol version 4): it speaks another version, or the port is not an MQTT listener"
	mqttIDRejectedHint  = "the broker refused the client id (CONNACK 2, identifier rejected): the check sends \"healthgate\" and 13 hex digits (23 bytes, letters and digits, which MQTT 3.1.1 obliges every broker to take); the broker's client id rules (a prefix or pattern it requires) refuse it"
	mqttNotMQTTHint     = "the server answered CONNECT with something that is not MQTT (no CONNACK): is this port an MQTT broker's (1883, or 8883 with mqtts://) in %s?"
	// Mosquitto at its max_connections closes a new client without a word, which the generic "closed
	// right after it opened" leaves among other causes.
	mqttEarlyCloseHint = "the connection was closed right after it opened: the broker is at its connection limit (Mosquitto's max_connections closes new clients without a word) or restarting, a load balancer in front of it has no server for it, or the port in %s is not an MQTT listener (or wants TLS: mqtts://)"
)

func (m *mqttCheck) probe(ctx context.Context) error {
	if err := m.kept.run(ctx, m.session, m.roundTrip, classifyMQTT); err != nil {
		err = certRefused(ctx, m.failed(err))
		var e *Error
		if t := traceOf(ctx); t != nil && t.connected.Load() && errors.As(err, &e) && e.Class == Reset && e.Hint == "" {
			e.Hint = mqttEarlyCloseHint
		}
		return err
	}
	return nil
}

// roundTrip is PINGREQ / PINGRESP on the session's connection.
func (m *mqttCheck) roundTrip(ctx context.Context, s mqttSession) error {
	if !s.client.IsConnectionOpen() {
		return &Error{Class: Reset, Err: errors.New("the broker closed the connection")}
	}
	return s.wire.ping(ctx)
}

// wait waits for a paho token within the run.
func wait(ctx context.Context, t mqtt.Token, what string) error {
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// session returns the kept session, connecting a new client (fresh) when there is none or it was lost.
func (m *mqttCheck) session(ctx context.Context) (mqttSession, bool, error) {
	s := m.kept.current()
	if s.client != nil && s.client.IsConnectionOpen() {
		return s, false, nil
	}
	if s.client != nil {
		m.kept.drop(s)
	}
	var wire *mqttWire // set inside Connect, before its token completes
	opts := mqtt.NewClientOptions().
		AddBroker((&url.URL{Scheme: "tcp", Host: m.cfg.addr}).String()).
		SetClientID(m.id).
		SetUsername(m.cfg.user).
		SetPassword(m.cfg.password).
		SetCleanSession(true).
		SetProtocolVersion(4). // explicit: no second CONNECT as MQTT 3.1 after a refusal
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(remaining(ctx)).
		SetKeepAlive(60 * time.Second).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			c, err := m.dial(ctx)
			if err != nil {
				return nil, err
			}
			wire = newMQTTWire(c)
			return wire, nil
		})
	client := mqtt.NewClient(opts)
	if err := wait(ctx, client.Connect(), "CONNECT"); err != nil {
		m.kept.closeRaw()
		client.Disconnect(0)
		return mqttSession{}, true, err
	}
	s = mqttSession{client: client, wire: wire}
	m.kept.keep(s)
	return s, true, nil
}

// dial opens the transport within the run (TLS included) for paho.
func (m *mqttCheck) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	raw, err := dialContext(ctx, &d, "tcp", m.cfg.addr)
	if err != nil {
		return nil, err
	}
	m.kept.dialed(ctx, raw)
	if m.cfg.tls == nil {
		return raw, nil
	}
	tc := tls.Client(raw, m.cfg.tls.Clone())
	if err := handshake(ctx, tc); err != nil {
		_ = raw.Close()
		// Mosquitto resets a connection whose first bytes are not MQTT: a ClientHello to a plain
		// listener.
		if e, ok := plainPortError(ctx, err, mqttPlainPortHint); ok {
			return nil, e
		}
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return heard(ctx, tc), nil
}

func (m *mqttCheck) failed(err error) error {
	e := classifyMQTT(err)
	if s := m.kept.current(); s.client != nil {
		m.kept.drop(s) // every failure of a kept session leaves it in doubt
	}
	return withTLSHint(e)
}

// classifyMQTT sorts CONNACK refusals and paho's wrapped network errors.
func classifyMQTT(err error) error {
	var own *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &own): // ours, from the dialler, under paho's wrapping
		return own
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return &Error{Class: Auth, Err: err, Hint: mqttAuthHint}
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return &Error{Class: NotReady, Err: err, Hint: mqttUnavailableHint}
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return &Error{Class: BadResponse, Err: err, Hint: mqttProtocolHint}
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return &Error{Class: BadResponse, Err: err, Hint: mqttIDRejectedHint}
	case errors.Is(err, mqtt.ErrNotConnected), strings.Contains(err.Error(), "connection lost before"):
		return &Error{Class: Reset, Err: err}
	}
	e := classified(err)
	if ClassOf(e) == Unknown && errors.Is(err, packets.ErrorNetworkError) {
		// The connection held, but what came back was not a CONNACK.
		return &Error{Class: BadResponse, Err: fmt.Errorf("not an MQTT answer: %w", err)}
	}
	return e
}

// close sends DISCONNECT (paho waits up to the quiesce time for work in flight: there is none).
func (m *mqttCheck) close() { m.kept.close(func(s mqttSession) { s.client.Disconnect(250) }, 0) }

// MQTT fixed-header first bytes (MQTT 3.1.1 §2.2): the type in the high nibble, flags in the low one.
const (
	mqttConnack  = 0x20
	mqttPingreq  = 0xc0
	mqttPingresp = 0xd0
)

// mqttWire is the connection paho speaks MQTT on, watched: the run's PINGREQ is written between paho's
// packets, PINGRESPs are counted as paho reads them, and a first answer that is not a CONNACK fails
// paho's read (the file's header says why this is sound).
type mqttWire struct {
	net.Conn

	// wlock is held by one Write at a time (paho's writer, paho's keepalive, a run's PINGREQ); a run
	// waits for it within its deadline. pingreqs counts the PINGREQs written, under wlock.
	wlock    chan struct{}
	pingreqs int64

	// Read is called by one paho goroutine at a time (the CONNECT's, then its reader): framer and rerr
	// are that reader's alone.
	framer mqttFramer
	rerr   error // once set, every Read returns it

	mu        sync.Mutex
	pingresps int64
	answered  chan struct{} // closed at the next PINGRESP (then replaced)
	dead      chan struct{} // closed when the reads have ended
	deadErr   error         // why (set before dead is closed)
}

func newMQTTWire(c net.Conn) *mqttWire {
	return &mqttWire{Conn: c, wlock: make(chan struct{}, 1), answered: make(chan struct{}), dead: make(chan struct{})}
}

func (w *mqttWire) Write(p []byte) (int, error) {
	w.wlock <- struct{}{}
	defer func() { <-w.wlock }()
	n, err := w.Conn.Write(p)
	if err == nil && len(p) > 0 && p[0]&0xf0 == mqttPingreq {
		w.pingreqs++ // paho's keepalive: its PINGRESP comes before the run's
	}
	return n, err
}

func (w *mqttWire) Read(p []byte) (int, error) {
	if w.rerr != nil {
		return 0, w.rerr
	}
	n, err := w.Conn.Read(p)
	if n > 0 {
		pongs, ferr := w.framer.feed(p[:n])
		if ferr != nil {
			w.rerr = ferr
			w.end(ferr)
			return 0, ferr
		}
		if pongs > 0 {
			w.mu.Lock()
			w.pingresps += int64(pongs)
			close(w.answered)
			w.answered = make(chan struct{})
			w.mu.Unlock()
		}
	}
	if err != nil {
		// paho clears its read deadline after CONNACK: any error ends the connection.
		w.end(err)
	}
	return n, err
}

func (w *mqttWire) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.dead:
	default:
		w.deadErr = err
		close(w.dead)
	}
}

// ping writes a PINGREQ and waits for its PINGRESP, within the run.
func (w *mqttWire) ping(ctx context.Context) error {
	select {
	case w.wlock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("PINGREQ (waiting for a write of paho's to finish): %w", ctx.Err())
	}
	_, err := w.Conn.Write([]byte{mqttPingreq, 0})
	if err == nil {
		w.pingreqs++
	}
	want := w.pingreqs
	<-w.wlock
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("PINGREQ: %w", ctx.Err())
		}
		return classified(fmt.Errorf("PINGREQ: %w", err))
	}
	for {
		w.mu.Lock()
		got, answered := w.pingresps, w.answered
		w.mu.Unlock()
		if got >= want {
			return nil
		}
		select {
		case <-answered:
		case <-w.dead:
			if ctx.Err() != nil {
				return fmt.Errorf("PINGRESP: %w", ctx.Err())
			}
			w.mu.Lock()
			got, cause := w.pingresps, w.deadErr
			w.mu.Unlock()
			if got >= want {
				return nil
			}
			return classified(fmt.Errorf("PINGRESP: the connection ended: %w", cause))
		case <-ctx.Done():
			return fmt.Errorf("PINGRESP: %w", ctx.Err())
		}
	}
}

// mqttFramer follows the packets of an MQTT byte stream from the broker, fed in any chunks: it counts
// PINGRESPs and checks that the first packet is a CONNACK (20 02).
type mqttFramer struct {
	packets int   // packets complete
	state   uint8 // framerType, framerLength or framerPayload: what the next byte is
	typ     byte  // the packet's first byte
	length  int   // remaining length: while framerLength, decoded so far; then, payload bytes left
	shift   uint  // framerLength: the next length byte's place
}

const (
	framerType = iota
	framerLength
	framerPayload
)

func (f *mqttFramer) feed(b []byte) (pingresps int, err error) {
	for len(b) > 0 {
		switch f.state {
		case framerType:
			f.typ, f.length, f.shift = b[0], 0, 0
			b = b[1:]
			if f.packets == 0 && f.typ != mqttConnack {
				return 0, &Error{Class: BadResponse, Hint: mqttNotMQTTHint,
					Err: fmt.Errorf("the first answer to CONNECT is not a CONNACK (first byte %#02x)", f.typ)}
			}
			f.state = framerLength
		case framerLength:
			c := b[0]
			b = b[1:]
			f.length |= int(c&0x7f) << f.shift
			f.shift += 7
			if c&0x80 != 0 {
				if f.shift >= 28 { // at most four bytes (§2.2.3)
					return 0, &Error{Class: BadResponse, Hint: mqttNotMQTTHint,
						Err: errors.New("malformed MQTT packet: a remaining length longer than four bytes")}
				}
				continue
			}
			if f.packets == 0 && f.length != 2 {
				// An MQTT 5 CONNACK (properties follow its two bytes): a broker that does not speak 3.1.1.
				return 0, &Error{Class: BadResponse, Hint: mqttProtocolHint,
					Err: fmt.Errorf("the CONNACK is %d bytes long, not MQTT 3.1.1's 2", f.length)}
			}
			f.state = framerPayload
			if f.length == 0 {
				pingresps += f.complete()
			}
		case framerPayload:
			k := min(len(b), f.length)
			b, f.length = b[k:], f.length-k
			if f.length == 0 {
				pingresps += f.complete()
			}
		}
	}
	return pingresps, nil
}

// complete ends a packet: 1 if it was a PINGRESP.
func (f *mqttFramer) complete() int {
	f.packets++
	f.state = framerType
	if f.typ&0xf0 == mqttPingresp {
		return 1
	}
	return 0
}
