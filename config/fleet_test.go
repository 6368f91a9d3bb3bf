package config_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/config"
)

func TestFleetValid(t *testing.T) {
	yaml := `fleet:
  peers: dns:///healthgate-peers.shop.svc.cluster.local:8080
  fail_open_ratio: 0.6
  min_pods: 4
  sample: 7
  token: ${HEALTHGATE_FLEET_TOKEN:-}
checks:
  - {name: db, type: postgres, url: "postgres://db/app", scope: shared}
  - {name: cache, type: redis, url: "redis://cache"}
`
	cfg, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Fleet
	if !f.Enabled() || len(f.Peers) != 1 || f.FailOpenRatio != 0.6 || f.MinPods != 4 || f.Sample != 7 || f.Token != "" || f.Timeout != config.DefaultFleetTimeout {
		t.Fatalf("fleet = %+v", f)
	}
	if cfg.Checks[0].Scope != config.ScopeShared || cfg.Checks[1].Scope != config.ScopeLocal {
		t.Fatalf("scopes %q, %q; want shared, local (the default)", cfg.Checks[0].Scope, cfg.Checks[1].Scope)
	}

	cfg, err = config.Parse("f.yaml", []byte(`fleet: {peers: ["10.0.0.11:8080", "[fd00::1]:8080"]}`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Fleet; len(f.Peers) != 2 || f.FailOpenRatio != config.DefaultFailOpenRatio || f.MinPods != config.DefaultMinPods || f.Sample != config.DefaultSample {
		t.Fatalf("defaults: %+v", f)
	}
	// The default timeout stays under a short shared interval.
	cfg, err = config.Parse("f.yaml", []byte("fleet: {peers: \"a:1\"}\ndefaults: {interval: 1s, timeout: 500ms}\nchecks:\n  - {name: db, type: postgres, url: \"postgres://db\", scope: shared}\n"), env(nil))
	if err != nil || cfg.Fleet.Timeout != 500*time.Millisecond {
		t.Fatalf("fleet timeout %v, %v; want half the 1s shared interval", cfg.Fleet.Timeout, err)
	}
	// A non-critical shared check asks no peers (it fails nothing open): its shorter interval bounds
	// neither the default timeout nor one written.
	cfg, err = config.Parse("f.yaml", []byte("fleet: {peers: \"a:1\"}\ndefaults: {interval: 1s, timeout: 500ms}\nchecks:\n  - {name: db, type: postgres, url: \"postgres://db\", scope: shared}\n  - {name: cache, type: redis, url: \"redis://cache\", scope: shared, critical: false, interval: 200ms, timeout: 100ms}\n"), env(nil))
	if err != nil || cfg.Fleet.Timeout != 500*time.Millisecond {
		t.Fatalf("fleet timeout %v, %v; want half the 1s interval of the critical shared check", cfg.Fleet.Timeout, err)
	}
	if _, err := config.Parse("f.yaml", []byte("fleet: {peers: \"a:1\", timeout: 700ms}\ndefaults: {interval: 1s, timeout: 500ms}\nchecks:\n  - {name: db, type: postgres, url: \"postgres://db\", scope: shared}\n  - {name: cache, type: redis, url: \"redis://cache\", scope: shared, critical: false, interval: 500ms, timeout: 100ms}\n"), env(nil)); err != nil {
		t.Fatalf("fleet.timeout 700ms refused for a non-critical shared check's 500ms interval: %v", err)
	}
	cfg, _ = config.Parse("f.yaml", []byte(`checks: []`), env(nil))
	if cfg.Fleet.Enabled() {
		t.Fatal("no fleet section, yet fleet enabled")
	}
}

// TestFleetInvalid: every mistake of the contract, all at once, each at its line.
func TestFleetInvalid(t *testing.T) {
	yaml := `fleet:
  peers: ["dns:///peers.shop.svc", "10.0.0.1", "http://10.0.0.2:8080", "dns://peers:8080"]
  fail_open_ratio: 1.5
  min_pods: 1
  sample: 0
  timeout: 2s
  token: s3cr3t-fleet
defaults: {interval: 1s, timeout: 500ms}
checks:
  - {name: db, type: postgres, url: "postgres://db/app", scope: shared}
  - {name: cache, type: redis, url: "redis://cache", scope: global}
`
	_, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`f.yaml:2:3: fleet: peers: [0] "dns:///peers.shop.svc": the name needs a port`,
		`f.yaml:2:3: fleet: peers: [1] "10.0.0.1": must be host:port`,
		`f.yaml:2:3: fleet: peers: [2] "http://10.0.0.2:8080": only dns:/// targets and host:port`,
		`f.yaml:2:3: fleet: peers: [3] "dns://peers:8080": write dns:///name:port (three slashes)`,
		`f.yaml:3:3: fleet: fail_open_ratio: must be greater than 0 and at most 1 (got 1.5)`,
		`f.yaml:4:3: fleet: min_pods: must be at least 2`,
		`f.yaml:5:3: fleet: sample: must be at least 1 (got 0)`,
		`f.yaml:6:3: fleet: timeout: 2s must be shorter than the interval (1s) of shared check "db"`,
		`f.yaml:11:54: checks[1] "cache": scope: must be local or shared (got "global")`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "s3cr3t") {
		t.Errorf("the token leaked into an error:\n%s", msg)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"shared without fleet", "checks:\n  - {name: db, type: postgres, url: \"postgres://db\", scope: shared}\n", `f.yaml:2:54: checks[0] "db": scope: shared needs a fleet section`},
		{"fleet without peers", "fleet:\n  min_pods: 3\n", "f.yaml:2:3: fleet: peers: required"},
		{"ratio zero", "fleet: {peers: \"a:1\", fail_open_ratio: 0}\n", "fail_open_ratio: must be greater than 0"},
		{"ratio not a number", "fleet: {peers: \"a:1\", fail_open_ratio: half}\n", `f.yaml:1:40: fleet: fail_open_ratio: invalid number "half"`},
		{"ratio as a percentage", "fleet: {peers: \"a:1\", fail_open_ratio: 50%}\n", `f.yaml:1:40: fleet: fail_open_ratio: invalid number "50%": a share is written as a fraction: 0.5 for 50%`},
		{"bad dns server", "fleet: {peers: \"dns://1.2.3.4:53/peers\"}\n", "the name needs a port"},
		{"dns port without a name", "fleet: {peers: \"dns:///:8080\"}\n", `"dns:///:8080": no name before the port`},
		{"port without a host", "fleet: {peers: [\":8080\"]}\n", `":8080": no host before the port`},
		{"a token as a user", "fleet: {peers: [\"s3cr3t@10.0.0.1:8080\"]}\n", "f.yaml:1:9: fleet: peers: [0] user information (user:password@) has no place in a peer"},
		{"a URL with credentials", "fleet: {peers: [\"a:1\", \"http://app:s3cr3t@10.0.0.1:8080\"]}\n", "fleet: peers: [1] user information (user:password@) has no place in a peer"},
		{"a dns target with a user", "fleet: {peers: \"dns:///s3cr3t@peers:8080\"}\n", "fleet: peers: [0] user information (user:password@) has no place in a peer"},
		{"previous token without a token", "fleet: {peers: \"a:1\", previous_token: s3cr3t-old}\n", `fleet: previous_token: needs token`},
		{"previous token a header cannot carry", "fleet: {peers: \"a:1\", token: s3cr3t-new, previous_token: \"s3cr3t-old\\n\"}\n", `fleet: previous_token: an HTTP header cannot carry it`},
		// Concatenated into a URL, these asked another host or port (10.0.0.11:80) with the fleet token.
		{"host with a slash", "fleet: {peers: [\"10.0.0.11/:8080\"]}\n", `"10.0.0.11/:8080": "10.0.0.11/" is neither an IP address nor a DNS name`},
		{"host with a fragment", "fleet: {peers: [\"peer-0#:8080\"]}\n", `fleet: peers: [0] a query or a fragment (?, #) has no place in a peer`},
		// Never quoted: the parameters of a URL pasted as a peer can hold the token.
		{"a URL with a token parameter", "fleet: {peers: [\"http://10.0.0.1:8080/fleetz?token=s3cr3t\"]}\n", `fleet: peers: [0] a query or a fragment (?, #) has no place in a peer`},
		{"an address with a token parameter", "fleet: {peers: [\"10.0.0.1:8080?token=s3cr3t\"]}\n", `fleet: peers: [0] a query or a fragment (?, #) has no place in a peer`},
		{"a dns target with a token parameter", "fleet: {peers: \"dns:///peers:8080?access_token=s3cr3t\"}\n", `fleet: peers: [0] a query or a fragment (?, #) has no place in a peer`},
		{"dns name with a slash", "fleet: {peers: [\"dns:///peers/x:8080\"]}\n", `is neither an IP address nor a DNS name`},
		{"dns server not an IPv6 address in brackets", "fleet: {peers: \"dns://[kube-dns]/peers:8080\"}\n", `the DNS server must be host or host:port`},
		// Dialled as written, these failed every round's lookup, though serve --validate passed them.
		{"dns server port out of range", "fleet: {peers: \"dns://10.96.0.10:99999/peers:8080\"}\n", `the DNS server's port must be a number from 1 to 65535`},
		{"dns server port not a number", "fleet: {peers: \"dns://10.96.0.10:dns/peers:8080\"}\n", `the DNS server's port must be a number from 1 to 65535`},
		{"dns server port empty", "fleet: {peers: \"dns://10.96.0.10:/peers:8080\"}\n", `the DNS server's port must be a number from 1 to 65535`},
		{"dns server without a host", "fleet: {peers: \"dns://:53/peers:8080\"}\n", `the DNS server must be host or host:port`},
		{"dns server not a host", "fleet: {peers: \"dns://kube dns/peers:8080\"}\n", `the DNS server must be host or host:port`},
		// The resolver answers such names NXDOMAIN without a query: no round heard a peer, and serve
		// --validate passed them (a long release name and namespace in the headless Service's name).
		{"dns name with a label over 63", "fleet: {peers: \"dns:///" + strings.Repeat("p", 64) + ".shop.svc.cluster.local:8080\"}\n", `the host is not a name the resolver can ask for: a label (a part between dots) is at most 63 characters`},
		{"dns name over 253", "fleet: {peers: \"dns:///" + strings.Repeat("p.", 127) + "svc:8080\"}\n", `the host is not a name the resolver can ask for: a DNS name is at most 253 characters; this one has 257`},
		{"peer name with an empty label", "fleet: {peers: [\"peer-0..peers:8080\"]}\n", `"peer-0..peers:8080": the host is not a name the resolver can ask for: it has an empty label`},
		{"dns server name with a label over 63", "fleet: {peers: \"dns://" + strings.Repeat("d", 64) + "/peers:8080\"}\n", `the DNS server must be host or host:port`},
		{"min_pods out of a round's reach", "fleet:\n  peers: \"a:1\"\n  min_pods: 20\n  sample: 5\n", "f.yaml:3:3: fleet: min_pods: min_pods (20) is more than a round can hear, this pod and at most sample (5) peers"},
		{"sample too small for the default min_pods", "fleet:\n  peers: \"a:1\"\n  sample: 1\n", "f.yaml:3:3: fleet: sample: min_pods (3) is more than a round can hear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("f.yaml", []byte(tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("a secret leaked into the error: %v", err)
			}
		})
	}
}

// TestPeerThatMayHoldASecret: a refused peer is not quoted when it may hold a secret by the rule every
// other field follows (MayHoldSecret): written with a variable named as a secret is (peers:
// ${HEALTHGATE_FLEET_TOKEN}, the token given where its peers belong), or holding a '=' (a DSN's
// key=value, a base64 token's padding), which no peer holds. The peers' own ':' and '/' do not hide
// one: a peer written plain, or with a variable of another name, is still shown (as any field's
// variables are the field's, the list's hide every refused entry of it).
func TestPeerThatMayHoldASecret(t *testing.T) {
	data := `fleet:
  peers:
    - ${HEALTHGATE_FLEET_TOKEN}
    - dns:///${API_TOKEN}
    - dns://${API_TOKEN}!/peers:8080
    - ${API_TOKEN}!:8080
    - host=db password=s3cr3t-dsn
    - czNjcjN0LXRva2Vu==
    - peer-0
`
	_, err := config.Parse("p.yaml", []byte(data), env(map[string]string{"HEALTHGATE_FLEET_TOKEN": "s3cr3t-fleet",
		"API_TOKEN": "s3cr3t-api", "PEERS_HOST": "peers.shop"}))
	const hidden = "(the value is not shown: it may hold a secret)"
	expectErrors(t, err,
		`p.yaml:2:3: fleet: peers: [0] must be host:port `+hidden,
		`p.yaml:2:3: fleet: peers: [1] the name needs a port, the peers' health port (dns:///name:8080) `+hidden,
		`p.yaml:2:3: fleet: peers: [2] the DNS server must be host or host:port `+hidden,
		`p.yaml:2:3: fleet: peers: [3] the host is neither an IP address nor a DNS name `+hidden,
		`p.yaml:2:3: fleet: peers: [4] must be host:port `+hidden,
		`p.yaml:2:3: fleet: peers: [5] must be host:port `+hidden,
		`p.yaml:2:3: fleet: peers: [6] must be host:port `+hidden,
	)
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "czNjcjN0") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
	_, err = config.Parse("p.yaml", []byte("fleet:\n  peers: [\"${PEERS_HOST}\", peer-0, \"dns://${PEERS_HOST}!/peers:8080\"]\n"), env(map[string]string{"PEERS_HOST": "peers.shop"}))
	expectErrors(t, err,
		`p.yaml:2:3: fleet: peers: [0] "peers.shop": must be host:port`,
		`p.yaml:2:3: fleet: peers: [1] "peer-0": must be host:port`,
		`p.yaml:2:3: fleet: peers: [2] "dns://peers.shop!/peers:8080": the DNS server must be host or host:port (got "peers.shop!")`,
	)
}

// TestFleetLargestSample: a sample as large as an int holds ("ask every peer") is valid; sample + 1
// overflowed and the check against min_pods refused it as a round that hears too few pods.
func TestFleetLargestSample(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte("fleet: {peers: \"a:1\", sample: 9223372036854775807, min_pods: 5}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Fleet.Sample != math.MaxInt64 {
		t.Errorf("sample = %d", c.Fleet.Sample)
	}
}

func TestParsePeer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.Peer
	}{
		{"10.0.0.1:8080", config.Peer{Addr: "10.0.0.1:8080"}},
		{"dns:///peers.shop.svc.cluster.local:8080", config.Peer{Addr: "peers.shop.svc.cluster.local:8080", DNS: true}},
		{"dns://10.96.0.10/peers:8080", config.Peer{Addr: "peers:8080", DNS: true, Server: "10.96.0.10:53"}},
		{"dns://127.0.0.1:5353/peers:8080", config.Peer{Addr: "peers:8080", DNS: true, Server: "127.0.0.1:5353"}},
		// An IPv6 DNS server (an IPv6-only cluster's kube-dns) in brackets, as URLs write it: it was
		// bracketed again ("[[fd00::10]]:53"), an address no lookup could dial.
		{"dns://[fd00::10]/peers:8080", config.Peer{Addr: "peers:8080", DNS: true, Server: "[fd00::10]:53"}},
		{"dns://[fd00::10]:5353/peers:8080", config.Peer{Addr: "peers:8080", DNS: true, Server: "[fd00::10]:5353"}},
		{"dns://fd00::10/peers:8080", config.Peer{Addr: "peers:8080", DNS: true, Server: "[fd00::10]:53"}},
		{"[fd00::11]:8080", config.Peer{Addr: "[fd00::11]:8080"}},
		{"[fe80::1%eth0]:8080", config.Peer{Addr: "[fe80::1%eth0]:8080"}},
		{"peer-0.peers.shop.svc.cluster.local.:8080", config.Peer{Addr: "peer-0.peers.shop.svc.cluster.local.:8080"}},
	} {
		got, err := config.ParsePeer(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePeer(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestTokensAHeaderCanCarry: a fleet or details token with a line break or another control character,
// or a space at either end, can never match a request's Authorization header (no client can send
// it, and servers trim the ends), so fail-open (or the details) would silently never work: the
// configuration is refused, naming the field, never showing the value. A Secret written with a trailing
// newline, exposed with secretKeyRef, is the usual cause.
func TestTokensAHeaderCanCarry(t *testing.T) {
	tests := []struct {
		name, token string
		bad         bool
	}{
		{name: "plain", token: "s3cr3t-Token_1.2~+/="},
		{name: "punctuation and a space inside", token: "s3cr3t !#$%&'*,;<>?@[]^`{|}"},
		{name: "trailing newline", token: "s3cr3t\n", bad: true},
		{name: "trailing CRLF", token: "s3cr3t\r\n", bad: true},
		{name: "a tab inside", token: "s3\tcr3t", bad: true},
		{name: "NUL", token: "s3cr3t\x00", bad: true},
		{name: "DEL", token: "s3cr3t\x7f", bad: true},
		{name: "leading space", token: " s3cr3t", bad: true},
		{name: "trailing space", token: "s3cr3t ", bad: true},
	}
	yaml := "server: {details: token, details_token: \"${T}\"}\nfleet: {peers: \"a:1\", token: \"${T}\"}\n"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("f.yaml", []byte(yaml), env(map[string]string{"T": tc.token}))
			if err == nil {
				err = cfg.ValidateServer().Err()
			} else {
				err = append(err.(config.Errors), cfg.ValidateServer()...)
			}
			if !tc.bad {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			msg := fmt.Sprint(err)
			for _, want := range []string{"f.yaml:1:26: server: details_token: ", "f.yaml:2:23: fleet: token: "} {
				if !strings.Contains(msg, want+"an HTTP header cannot carry it") {
					t.Errorf("no error at %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "s3cr3t") {
				t.Errorf("an error shows the token:\n%s", msg)
			}
		})
	}
}
