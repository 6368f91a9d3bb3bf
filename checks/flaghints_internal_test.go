package checks

import (
	"strings"
	"testing"

	"github.com/healthgate/healthgate/config"
)

// A hint that names a setting of a configuration file is said, for a target given by flag (wait and check
// given flags alone have no file), with the --set that writes it; a check from a file keeps the file's words.
func TestFlagHints(t *testing.T) {
	const fromFile = "url (healthgate.yaml:3)"
	for h, flag := range flagHints {
		e := &Error{Class: TLS, Hint: h}
		got := Hint(e, "--memcached")
		for _, word := range []string{"tls block", "tls: ", "tls:)", "tls.", "in the configuration", "check's configuration", "in the config", "to the check", "in the check", "%k"} {
			if strings.Contains(got, word) {
				t.Errorf("flag hint %q says %q, a configuration file's word", got, word)
			}
		}
		if !strings.Contains(got, "--set") && !strings.Contains(got, "--config") && !strings.Contains(got, "--tcp") {
			t.Errorf("flag hint %q names no --set (nor --config, nor --tcp)", got)
		}
		if strings.Contains(flag, "%k") && !strings.Contains(got, "--set memcached.tls=") {
			t.Errorf("flag hint %q does not name the kind of the flag", got)
		}
		if got := Hint(e, fromFile); got != fillOrigin(h, fromFile) {
			t.Errorf("a check from a file: hint %q; want the file's words %q", got, fillOrigin(h, fromFile))
		}
	}
}

// TestFlagHintsOfTLSSettings: hints that name a tls setting have their --set form: an https:// url asked
// in plain HTTP (httpsPortHint), and a Sentinel master's certificate (a --redis URL with master_name=)
// said "a tls block" and "tls.server_name" to a command line that has no file.
func TestFlagHintsOfTLSSettings(t *testing.T) {
	for _, tc := range []struct{ hint, origin, want string }{
		{httpsPortHint, "--http", "--set http.tls="},
		{sentinelMasterHostnameHint, "--redis", "--set redis.tls="},
		{sentinelServerNameHint, "--redis", "--set redis.tls"},
		{postgresNoTLSBlockHint, "--postgres", "or leave out --set postgres.tls"},
	} {
		assertFlagHint(t, TLS, tc.hint, tc.origin, tc.want)
	}
}

// TestFlagHintsOfFields: hints that name a field of a check (nats' jetstream, dns' record, a tcp check in
// place of grpc) have their flag form: "drop jetstream: true" or "check record in --dns" said nothing a
// command line can act on.
func TestFlagHintsOfFields(t *testing.T) {
	for _, tc := range []struct{ hint, origin, want string }{
		{natsNoJetStreamHint, "--nats", "--set nats.jetstream=true"},
		{natsDeniedHint, "--nats", "--set nats.jetstream=true"},
		{natsTLSNotOfferedHnt, "--nats", "--set nats.tls"},
		{dnsNotFoundHint, "--dns", "--set dns.record"},
		{dnsHostsFamilyHint, "--dns", "--set dns.record"},
		{dnsNoCNAMEHint, "--dns", "--set dns.record=CNAME"},
		{grpcNoHealthHint, "--grpc", "--tcp in place of --grpc"},
		{redisReplicaWantedHint, "--redis", "--set redis.role=replica"},
	} {
		assertFlagHint(t, BadResponse, tc.hint, tc.origin, tc.want)
	}
}

// assertFlagHint: the hint of an error of this class carrying hint, for a target given by the flag
// origin, names want.
func assertFlagHint(t *testing.T, class Class, hint, origin, want string) {
	t.Helper()
	if got := Hint(&Error{Class: class, Hint: hint}, origin); !strings.Contains(got, want) {
		t.Errorf("hint for %s: %q; want it to name %q", origin, got, want)
	}
}

// TestMySQLDeniedHintOfURLTLS: with the URL's tls=false, skip-verify or preferred, an access denied's
// hint does not say to add a tls block (or its --set), which config refuses beside that parameter: it
// says to replace the parameter with one. Nor does tls=preferred, which may have fallen back to
// plaintext, name a client certificate alone as what is missing.
func TestMySQLDeniedHintOfURLTLS(t *testing.T) {
	for _, param := range []string{"false", "skip-verify", "preferred", "PREFERRED"} {
		c := config.NewCheck("db", "mysql", "test", config.NewDefaults())
		c.Spec = config.SpecOf(map[string]any{"url": "mysql://app:s3cr3t@db:3306/app?tls=" + param})
		ch, err := New(c)
		if err != nil {
			t.Fatalf("tls=%s: %v", param, err)
		}
		p := ch.prober.(*mysqlCheck)
		for _, origin := range []string{"url (healthgate.yaml:3)", "--mysql"} {
			h := Hint(&Error{Class: Auth, Hint: p.deniedHint}, origin)
			if !strings.Contains(h, "remove the tls parameter from "+origin) {
				t.Errorf("tls=%s, %s: hint %q does not say to remove the URL's tls parameter", param, origin, h)
			}
		}
		ch.Close()
	}
}
