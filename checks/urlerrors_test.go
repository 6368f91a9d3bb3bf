package checks_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestURLErrors: a URL that cannot be used says why; the percent-encoding hint only when the user or
// password can be the cause; never the password.
func TestURLErrors(t *testing.T) {
	const hint = "percent-encode"
	tests := []struct {
		typ, url string
		want     string
		hint     bool
	}{
		{"postgres", "postgres://app:pa/s3cr3t@127.0.0.1:5432/app", "invalid port", true},
		{"postgres", "postgres://app:pa%zzs3cr3t@127.0.0.1:5432/app", "invalid percent-encoded token in password", true},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app?sslmode=bogus", "sslmode is invalid", false},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app?connect_timeout=5s", "invalid connect_timeout: not a whole number", false},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app?pool_max_conn_lifetime=1", "cannot parse pool_max_conn_lifetime: not a duration (such as 5s)", false},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app?target_session_attrs=s3cr3t", "target_session_attrs must be one of any, read-write, read-only, primary, standby, prefer-standby", false},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "/nonexistent/ca.pem", false},
		{"postgres", "postgres://127.0.0.1:notaport/app", "invalid port", false},
		// Found by FuzzParse: a '/' in a password that starts with digits ends the user information
		// at a valid port, and leaves the rest in the database, which the target or the error showed.
		{"postgres", "postgres://app:12/s3cr3t@127.0.0.1:5432/app", "the database name contains '@'", true},
		{"mysql", "mysql://app:12/s3cr3t@127.0.0.1:3306/orders", "the database name contains '@'", true},
		// net/url quotes the port, the escape: a password's start.
		{"mysql", "mysql://app:s3cr3t/x@127.0.0.1:3306/orders", "invalid port after the host", true},
		{"mysql", "mysql://app:%s3cr3t@127.0.0.1:3306/orders", "invalid percent-escape", true},
		{"http", "http://127.0.0.1:web/healthz", "not a valid URL: invalid port after the host", false},
		{"http", "https://app:s3%zzcr3t@127.0.0.1/healthz", "not a valid URL: invalid percent-escape", true},
		{"mqtt", "mqtt://app:s3cr3t@127.0.0.1:broker", "not a valid MQTT URL (mqtt://[user:password@]host:1883 or mqtts://...:8883): invalid port after the host", false},
		{"nats", "nats://127.0.0.1:nats", "not a valid NATS URL (nats://[user:password@]host:4222, nats://token@host:4222 or tls://...): invalid port after the host", false},
		// An address without its scheme: net/url's words are about a path ("first path segment in
		// URL cannot contain colon"), or it reads the host's name (or the user's) as a scheme.
		{"nats", "127.0.0.1:4222", "the scheme is missing: write nats://127.0.0.1:4222", false},
		{"nats", "nats-server:4222", "not a valid NATS URL: the scheme is missing: write nats://nats-server:4222", false},
		{"nats", "s3cr3t@127.0.0.1:4222", "the scheme is missing: write nats://xxxxx@127.0.0.1:4222", false}, // a token
		// ioredis reads a lone user part as the password; written without a scheme, it is not shown.
		{"redis", "s3cr3t@127.0.0.1:6379", "not a valid redis URL (redis://[user:password@]host:port/db, rediss://... or unix:///path): the scheme is missing: write redis://xxxxx@127.0.0.1:6379", false},
		{"amqp", "127.0.0.1:5672", "the scheme is missing: write amqp://127.0.0.1:5672", false},
		{"amqp", "app:s3cr3t@rabbit:5672/prod", "not a valid AMQP URL: the scheme is missing: write amqp://app:xxxxx@rabbit:5672/prod", false},
		{"amqp", "amqp:5672", "the scheme is missing: write amqp://amqp:5672", false}, // amqp091: localhost
		{"mqtt", "127.0.0.1:1883", "the scheme is missing: write mqtt://127.0.0.1:1883", false},
		{"mqtt", "app:s3cr3t@mosquitto:1883", "not a valid MQTT URL: the scheme is missing: write mqtt://app:xxxxx@mosquitto:1883", false},
		{"http", "127.0.0.1:8080/healthz", "not a valid URL: the scheme is missing: write http://127.0.0.1:8080/healthz", false},
		{"http", "localhost:8080/healthz", "not a valid URL: the scheme is missing: write http://localhost:8080/healthz", false},
		// Without a port, net/url reads a host and a path as a path alone: the error said "got example.com/health".
		{"http", "example.com/health", "must be an absolute http:// or https:// URL: the scheme is missing: write http://example.com/health", false},
		{"http", "localhost/healthz?token=s3cr3t", "the scheme is missing: write http://localhost/healthz?token=xxxxx", false},
		{"http", "10.0.0.7/healthz", "the scheme is missing: write http://10.0.0.7/healthz", false},
		{"http", "healthz", "must be an absolute http:// or https:// URL (got healthz)", false},
		// A port and no host name (http://${HOST:-}:8080 with HOST empty): net/http would dial localhost.
		{"http", "http://:8080/healthz", "must be an absolute http:// or https:// URL with a host (got http://:8080/healthz)", false},
		{"http", "https://:", "must be an absolute http:// or https:// URL with a host (got https://:)", false},
		// The driver's words ("default addr for network '...' unknown"), cut before the quote.
		{"mysql", "app:s3cr3t@127.0.0.1:3306/test", "not a valid mysql DSN: the address is written tcp(host:port): user:password@tcp(host:3306)/database (or write a URL: mysql://user:password@host:3306/database)", false},
		// net/url's own quotes, quoting nothing of the URL: cut there, it said "missing".
		{"mysql", "mysql://u:s3cr3t@[::1:21398/test", "not a valid mysql URL: missing ']' in the host (an IPv6 address is written in brackets: [::1]:port)", false},
		{"mysql", "mysql://u:s3cr3t@[s3cr3t]:21398/test", "not a valid mysql URL: invalid IPv6 address in brackets in the host", false},
		{"amqp", "amqp://app:12/s3cr3t@127.0.0.1:5672/", "the vhost contains '@'", true},
		// A token or a password with an unescaped '/': the token's start was the host, the password's
		// first digits the port, which the dial's errors quoted.
		{"nats", "nats://s3cr3t/x@127.0.0.1:4222", "an '@' after the host", true},
		{"nats", "tls://app:12/s3cr3t@127.0.0.1:4222", "an '@' after the host", true},
		{"nats", "nats://s3cr3t@127.0.0.1:4222/?x=a@b", "an '@' after the host", true},
		// The same with an unescaped '?' or '#': go-redis quoted the rest as an option it does not
		// know, the target or the dial the password's first digits as the port, the token as the host.
		{"redis", "redis://default:12?s3cr3t@127.0.0.1:6379", "an '@' after the host, in the query or the fragment", true},
		{"redis", "redis://default:12#s3cr3t@127.0.0.1:6379/0", "an '@' after the host, in the query or the fragment", true},
		{"mysql", "mysql://app:12#s3cr3t@127.0.0.1:3306/orders", "an '@' after the host, in the query or the fragment", true},
		{"amqp", "amqp://app:12?s3cr3t@127.0.0.1:5672/", "an '@' after the host, in the query or the fragment", true},
		{"mqtt", "mqtt://s3cr3t#rest@127.0.0.1:1883", "an '@' after the host, in the query or the fragment", true},
		{"mqtt", "mqtts://s3cr3t?rest@127.0.0.1:8883", "an '@' after the host, in the query or the fragment", true},
		// The same error with a plain user and password in their place: not theirs, no hint.
		{"amqp", "amqp://app:s3cr3t@127.0.0.1:5672/%zz", "invalid percent-escape", false},
		{"mysql", "mysql://root@127.0.0.1:3306/te%zz", "not a valid mysql URL: invalid percent-escape", false},
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:badport/app", "invalid port", false},
		{"postgres", "postgres://[::1", "missing ']' in the host (an IPv6 address is written in brackets: [::1]:port)", false},
		{"redis", "redis://127.0.0.1:badport/0", "not a valid redis URL (redis://[user:password@]host:port/db, rediss://... or unix:///path): invalid port after the host", false},
		{"redis", "redis://:s3cr3t@127.0.0.1:badport/0", "invalid port after the host", false},
		{"redis", "redis://[::1", "missing ']' in the host", false},
		{"redis", "redis://127.0.0.1:6379/%zz", "invalid percent-escape", false},
		{"redis", "redis://:s3%zzcr3t@127.0.0.1:6379/0", "invalid percent-escape", true},
		{"amqp", "amqp://app:s3cr3t@127.0.0.1:5672/?heartbeat=s3cr3t", "parameter heartbeat: not a whole number (seconds, 0 to 65535)", false},
		{"amqp", "amqp://app:s3cr3t word@127.0.0.1:5672/", "it contains a blank (percent-encode it, %20)", true},
		// The driver names neither the parameter nor the reason in words ("time", "strconv.Atoi").
		{"mysql", "mysql://app:s3cr3t@127.0.0.1:3306/orders?charset=utf8mb4&timeout=5", "parameter timeout: not a duration (such as 5s)", false},
		{"mysql", "mysql://app:s3cr3t@127.0.0.1:3306/orders?parseTime=s3cr3t", "parameter parseTime: not true or false", false},
		{"mysql", "mysql://app:s3cr3t@127.0.0.1:3306/orders?maxAllowedPacket=lots", "parameter maxAllowedPacket: not a whole number", false},
		{"mysql", "app:s3cr3t@tcp(127.0.0.1:3306)/orders?tls=bogus", "parameter tls: not true, false, skip-verify or preferred", false},
		// pgx quotes a token of the path, a key: a password's tail.
		{"postgres", "postgres://app:12/pa%zzs3cr3t@127.0.0.1:5432/app", "invalid percent-encoded token", true},
		{"postgres", "host=127.0.0.1 password=two s3cr3t words dbname=app", `missing "=" after a key`, false},
		// An empty value takes the next key=value as its own, which the target showed.
		{"postgres", "host= password=s3cr3t dbname=app", "the host or the database name contains '='", false},
		{"postgres", "host=127.0.0.1 dbname= password=s3cr3t", "the host or the database name contains '='", false},
		// Another scheme is read by pgx as a key=value DSN: with an '=' in the query, the URL up to it
		// (the password with it) became a run-time parameter's name, which the server quoted back.
		{"postgres", "postgresql+asyncpg://app:s3cr3t@127.0.0.1:5432/app?sslmode=disable", `the scheme must be postgres or postgresql (in lower case), not "postgresql+asyncpg"`, false},
		{"postgres", "Postgres://app:s3cr3t@127.0.0.1:5432/app?sslmode=disable", `not "Postgres"`, false},
		{"postgres", "jdbc:postgresql://127.0.0.1:5432/app?user=app&password=s3cr3t", `not "jdbc:postgresql"`, false},
		{"postgres", "pg://app:s3cr3t@127.0.0.1:5432/app", `not "pg"`, false},
		{"postgres", " postgres://app:s3cr3t@127.0.0.1:5432/app?sslmode=disable", "it starts with a blank or a line break", false},
		// pgx's URL parser took a trailing newline (a Secret written with echo) into the database name.
		{"postgres", "postgres://app:s3cr3t@127.0.0.1:5432/app\n", "it contains a line break or another control character", false},
		{"postgres", "postgresql://app:s3cr3t@127.0.0.1:5432/app?sslmode=disable\r\n", "it contains a line break or another control character", false},
		{"redis", "redis://:pa/s3cr3t@127.0.0.1:6379/0", "not a valid redis URL", true},
		{"redis", "redis://127.0.0.1:6379/abc", `the database number (the path after host:port, as in redis://host:6379/0) must be a whole number, got "abc"`, false},
		{"redis", "redis://:s3cr3t@127.0.0.1:6379/?db=x1", `must be a whole number, got "x1"`, false},
		{"redis", "redis://127.0.0.1:6379/-1", "the database number must be 0 or more (got -1)", false},
		{"redis", "redis://127.0.0.1:6379/0/1", `the path must be one database number, as in redis://host:6379/0; got "/0/1"`, false},
		{"redis", "redos://:s3cr3t@127.0.0.1:6379/0", `the scheme must be redis, rediss or unix, not "redos"`, false},
		// An address without its scheme, as wait-for-it takes it: net/url reads a host's name as the scheme,
		// and pgx tries a key=value DSN.
		{"redis", "localhost:6379", "not a valid redis URL: the scheme is missing: write redis://localhost:6379", false},
		{"redis", ":s3cr3t@cache:6379", "the scheme is missing: write redis://:xxxxx@cache:6379", false},
		{"postgres", "db:5432", "the scheme is missing: write postgres://db:5432", false},
		{"postgres", "app:s3cr3t@db:5432/app", "the scheme is missing: write postgres://app:xxxxx@db:5432/app", false},
		{"postgres", "127.0.0.1:5432", "the scheme is missing: write postgres://127.0.0.1:5432", false},
		{"mysql", "db:3306", "not a valid mysql URL or DSN: the scheme is missing: write mysql://db:3306", false},
		{"mysql", "127.0.0.1:3306", "the scheme is missing: write mysql://127.0.0.1:3306", false},
		{"redis", "redis://:s3cr3t@127.0.0.1:6379/0?dial_timeout=s3cr3t", "not a valid redis URL: parameter dial_timeout: not a duration (such as 5s)", false},
		{"redis", "redis://127.0.0.1:6379/0?pool_size=s3cr3t", "not a valid redis URL: parameter pool_size: not a whole number", false},
		{"redis", "redis://127.0.0.1:6379/0?pool_fifo=s3cr3t", "not a valid redis URL: parameter pool_fifo: not true or false", false},
		// net/url takes any digits for a port, and neither go-redis nor net/http checks the range:
		// every run failed at the dial, unclassified.
		{"redis", "redis://:s3cr3t@127.0.0.1:99999/0", "the port must be a number from 1 to 65535", false},
		{"redis", "redis://:s3cr3t@127.0.0.1:26379/0?master_name=m&addr=127.0.0.1:99999", "the port must be a number from 1 to 65535", false},
		{"http", "http://127.0.0.1:99999/healthz", "the port must be a number from 1 to 65535", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			c := config.NewCheck("x", tc.typ, "test", config.NewDefaults())
			c.Spec.Set("url", tc.url)
			ch, err := checks.New(c)
			if err == nil {
				ch.Close()
				t.Fatalf("built, target %q; want an error", ch.Target)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q; want it to contain %q", msg, tc.want)
			}
			if got := strings.Contains(msg, hint); got != tc.hint {
				t.Errorf("error %q: percent-encoding hint %v; want %v", msg, got, tc.hint)
			}
			if strings.Contains(msg, "s3cr3t") {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

// TestPostgresConnectErrorOneLine: pgx lists one "\n\t" line per attempt and repeats a wrapped cause
// beside its wrapper; a run's error says each cause once, on one line, and keeps its class.
func TestPostgresConnectErrorOneLine(t *testing.T) {
	a, b := checktest.NewProxy(t, "127.0.0.1:1"), checktest.NewProxy(t, "127.0.0.1:1")
	a.Set(checktest.Refuse)
	b.Set(checktest.Refuse)
	for _, tc := range []struct {
		url   string
		once  []string
		class checks.Class
	}{
		// sslmode=prefer (the default) tries TLS, then plain: two identical lines from pgx.
		{"postgres://u@" + a.Addr() + "/db", []string{a.Addr() + " (127.0.0.1): dial error", "connection refused"}, checks.Refused},
		{"postgres://u@" + a.Addr() + "," + b.Addr() + "/db?sslmode=disable", []string{a.Addr() + " (127.0.0.1)", b.Addr() + " (127.0.0.1)"}, checks.Refused},
	} {
		ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url})})
		err := ch.Run(t.Context())
		if checks.ClassOf(err) != tc.class {
			t.Errorf("%s: class %q (%v); want %q", tc.url, checks.ClassOf(err), err, tc.class)
		}
		msg := err2s(err)
		if strings.ContainsAny(msg, "\n\t") {
			t.Errorf("%s: %q is not one line", tc.url, msg)
		}
		for _, s := range tc.once {
			if n := strings.Count(msg, s); n != 1 {
				t.Errorf("%s: %q says %q %d times; want once", tc.url, msg, s, n)
			}
		}
	}
}

// TestHTTPHostHidden: an http url with an '@' after its host (https://TOKEN/part@api, https://app:12/pw@api:
// a token or a password with an unescaped '/') is shown as xxxxx, and its run's error does not quote
// the host or the port net read from it, a token's or a password's start, as a DNS lookup's name or a
// dial's address; the class is kept.
func TestHTTPHostHidden(t *testing.T) {
	p := checktest.NewProxy(t, "127.0.0.1:1")
	p.Set(checktest.Refuse)
	_, port, _ := strings.Cut(p.Addr(), ":")
	for _, tc := range []struct {
		url    string
		secret string
		class  []checks.Class
	}{
		// the password "<port>/s3cr3t" of the user 127.0.0.1: its start is the port dialled
		{"http://127.0.0.1:" + port + "/s3cr3t@api.example/healthz", ":" + port, []checks.Class{checks.Refused}},
		// the token's start is the host looked up (a .invalid name never resolves)
		{"http://s3cr3t-token.invalid/rest@api.example/healthz", "s3cr3t", []checks.Class{checks.DNS, checks.Timeout}},
	} {
		ch := newCheck(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": tc.url})})
		if ch.Target != "xxxxx" {
			t.Errorf("%s: target %q; want xxxxx", tc.url, ch.Target)
		}
		err := ch.Run(t.Context())
		if !slices.Contains(tc.class, checks.ClassOf(err)) {
			t.Errorf("%s: class %q (%v); want one of %q", tc.url, checks.ClassOf(err), err, tc.class)
		}
		if msg := err2s(err); strings.Contains(msg, tc.secret) || strings.Contains(msg, "s3cr3t") {
			t.Errorf("%s: the error shows the secret's start: %s", tc.url, msg)
		}
	}
}

// TestHTTPTokenUserHiddenInErrors: a token written as the user name of an http url with an empty password
// (https://TOKEN:@api, as curl -u TOKEN: sends it) is hidden in the run's error as in its target. net/http
// quotes the url in its *url.Error with any password it has, empty too, replaced by "***", which read as
// user:password and kept the token in front of it ("http://s3cr3t-token:xxxxx@...").
func TestHTTPTokenUserHiddenInErrors(t *testing.T) {
	p := checktest.NewProxy(t, "127.0.0.1:1")
	p.Set(checktest.Refuse)
	for _, u := range []string{
		"http://s3cr3t-token:@" + p.Addr() + "/healthz",
		"http://s3cr3t-token@" + p.Addr() + "/healthz",
		"http://app:s3cr3t-pw@" + p.Addr() + "/healthz",
	} {
		ch := newCheck(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": u})})
		err := ch.Run(t.Context())
		if checks.ClassOf(err) != checks.Refused {
			t.Errorf("%s: class %q (%v); want refused", u, checks.ClassOf(err), err)
		}
		if msg := err2s(err); strings.Contains(msg, "s3cr3t") {
			t.Errorf("%s: the error shows the secret: %s", u, msg)
		}
	}
}
