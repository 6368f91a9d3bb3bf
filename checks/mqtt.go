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
// The round trip of a run: paho sends PINGREQ only on its own keepalive timer and exposes no ping, so
// each run sends an UNSUBSCRIBE of a topic this client never subscribed to and waits for the UNSUBACK.
// MQTT 3.1.1 §3.10.4 makes the broker answer it even when nothing matched, and nothing changes on the
// broker: a request/response proving the broker answers now, on the kept connection (a CONNECT per run
// would be a new TCP connection and login every interval).

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
	URL string     `yaml:"url" secret:"true" schema:"minLength=1"`
	TLS config.TLS `yaml:"tls"`
}

func mqttSettingsOf(c config.Check, s *mqttSpec) (mqttSettings, config.Errors) {
	var m mqttSettings
	if s.URL == "" {
		return m, config.Errors{c.Src.Errorf("url", "required: an mqtt:// or mqtts:// URL")}
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		msg := "not a valid MQTT URL (mqtt://[user:password@]host:1883 or mqtts://...:8883)"
		if hasUserinfo(s.URL) {
			msg += ": " + percentHint
		}
		return m, config.Errors{c.Src.Errorf("url", "%s", msg)}
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
	}
	m.url, m.addr = u, net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
	}
	if u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" {
		cfg, tlsErrs := clientTLS(s.TLS)
		errs = append(errs, tlsErrs...)
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		m.tls = cfg
	} else if tlsGiven(s.TLS) {
		errs = append(errs, c.Src.Errorf("tls", "applies to mqtts:// URLs; this one is mqtt:// (no TLS)"))
	}
	return m, errs
}

type mqttCheck struct {
	cfg   mqttSettings
	id    string // the client id: random, so two pods never take over each other's session
	topic string // the topic of the UNSUBSCRIBE round trip

	mu     sync.Mutex
	client mqtt.Client
	raw    net.Conn // the transport being dialled or used, closed when a run is cut short
}

func buildMQTT(c config.Check, s *mqttSpec) (prober, string, config.Errors) {
	m, errs := mqttSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "healthgate-" + hex.EncodeToString(b[:])
	return &mqttCheck{cfg: m, id: id, topic: "healthgate/ping/" + id}, RedactURL(s.URL), nil
}

// Hints of the mqtt failures whose class alone would mislead.
const (
	mqttAuthHint        = "the broker refused the CONNECT (bad user name or password, or not authorised): check the user and password in %s and the broker's password file or ACL"
	mqttUnavailableHint = "the broker answered CONNECT with \"server unavailable\": it is up but not accepting sessions yet (starting, or its backend is down)"
	mqttPlainPortHint   = "the broker closed the connection during the TLS handshake: the port may not speak TLS (use mqtt:// in %s, or the broker's TLS port, 8883)"
	mqttProtocolHint    = "the broker refused MQTT 3.1.1 (protocol version 4): it speaks another version, or the port is not an MQTT listener"
)

// mqttHandoff bounds the handing of a packet to paho's writer (its WriteTimeout).
const mqttHandoff = 2 * time.Second

func (m *mqttCheck) probe(ctx context.Context) error {
	stop := context.AfterFunc(ctx, m.abort)
	defer stop()
	client, fresh, err := m.session(ctx)
	if err != nil {
		return m.failed(err)
	}
	err = m.roundTrip(ctx, client)
	if err != nil && !fresh && ctx.Err() == nil && ClassOf(classifyMQTT(err)) == Reset {
		// The kept session died since the last run: a fresh one says what the broker does now.
		m.drop(client)
		if client, _, err = m.session(ctx); err != nil {
			return m.failed(err)
		}
		err = m.roundTrip(ctx, client)
	}
	if err != nil {
		return m.failed(err)
	}
	return nil
}

// roundTrip is UNSUBSCRIBE / UNSUBACK of a topic never subscribed to.
func (m *mqttCheck) roundTrip(ctx context.Context, client mqtt.Client) error {
	if !client.IsConnectionOpen() {
		return &Error{Class: Reset, Err: errors.New("the broker closed the connection")}
	}
	err := wait(ctx, client.Unsubscribe(m.topic), "UNSUBSCRIBE")
	if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "broken by timeout") {
		// paho could not hand the packet to its writer within the write timeout: the session's
		// connection died under it (a restart severing it) while paho still reported it open, and
		// paho's own loss handling waits on the same writer. That is a reset of the kept session.
		return &Error{Class: Reset, Err: err}
	}
	return err
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
func (m *mqttCheck) session(ctx context.Context) (mqtt.Client, bool, error) {
	m.mu.Lock()
	client := m.client
	m.mu.Unlock()
	if client != nil && client.IsConnectionOpen() {
		return client, false, nil
	}
	if client != nil {
		m.drop(client)
	}
	timeout := remaining(ctx)
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
		SetConnectTimeout(timeout).
		// Handing a packet to paho's writer is immediate on a live connection; on a dead one it never
		// happens, and the run's whole timeout would be lost before the retry on a fresh session.
		SetWriteTimeout(min(timeout, mqttHandoff)).
		SetKeepAlive(60 * time.Second).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			return m.dial(ctx)
		})
	client = mqtt.NewClient(opts)
	if err := wait(ctx, client.Connect(), "CONNECT"); err != nil {
		m.closeRaw()
		client.Disconnect(0)
		return nil, true, err
	}
	m.mu.Lock()
	m.client = client
	m.mu.Unlock()
	return client, true, nil
}

// dial opens the transport within the run (TLS included) for paho.
func (m *mqttCheck) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	raw, err := dialContext(ctx, &d, "tcp", m.cfg.addr)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.raw = raw
	m.mu.Unlock()
	if ctx.Err() != nil {
		_ = raw.Close()
	}
	if m.cfg.tls == nil {
		return raw, nil
	}
	tc := tls.Client(raw, m.cfg.tls.Clone())
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		err = fmt.Errorf("TLS handshake: %w", err)
		if c := ClassOf(err); ctx.Err() == nil && (c == Reset || c == Unknown) {
			// Mosquitto resets a connection whose first bytes are not MQTT: a ClientHello to a
			// plain listener.
			return nil, &Error{Class: TLS, Err: err, Hint: mqttPlainPortHint}
		}
		return nil, err
	}
	return tc, nil
}

func (m *mqttCheck) failed(err error) error {
	e := classifyMQTT(err)
	m.mu.Lock()
	client := m.client
	m.mu.Unlock()
	if client != nil {
		m.drop(client) // every failure of a kept session leaves it in doubt
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
		return &Error{Class: BadResponse, Err: err}
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

func (m *mqttCheck) abort() { m.closeRaw() }

func (m *mqttCheck) closeRaw() {
	m.mu.Lock()
	raw := m.raw
	m.mu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
}

// drop forgets a session and closes it without waiting for the broker.
func (m *mqttCheck) drop(client mqtt.Client) {
	m.mu.Lock()
	raw := m.raw
	if m.client == client {
		m.client, m.raw = nil, nil
	}
	m.mu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
	client.Disconnect(0)
}

// close sends DISCONNECT (paho waits up to the quiesce time for work in flight: there is none).
func (m *mqttCheck) close() {
	m.mu.Lock()
	client, raw := m.client, m.raw
	m.client, m.raw = nil, nil
	m.mu.Unlock()
	if client != nil {
		client.Disconnect(250)
	}
	if raw != nil {
		_ = raw.Close()
	}
}
