package checks_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// secretMarker is embedded in every password or token the fuzz targets write: no part of a redacted
// form may contain it. Its letters are not hex digits, so no percent-escape can spell part of it.
const secretMarker = "Zq7Sekr3tQ"

// redactShape is one shape a secret takes in what RedactURL is given (a check's url, a driver's error,
// a Location header): in form, %[1]s is the scheme, %[2]s the user, %[3]s the secret, %[4]s the host,
// %[5]s the rest (a path, a database, parameters).
type redactShape struct {
	form  string
	url   bool // a URL or a relative reference, not a DSN
	token bool // the secret is a URL's user: a token, over the schemes where it is one
	query bool // the secret is a query parameter's value
	mysql bool // a MySQL DSN, or like one
	libpq bool // a libpq key=value string, the secret unquoted
}

// redactShapes are the shapes the fuzzer embeds a secret in. New shapes go at the end: the corpus
// names shapes by their index.
var redactShapes = []redactShape{
	{form: "%[1]s://%[2]s:%[3]s@%[4]s/%[5]s", url: true},                              // a URL's password
	{form: "%[1]s://%[3]s@%[4]s/%[5]s", url: true, token: true},                       // a lone user name: a token over http, nats, mqtt
	{form: "%[1]s://%[2]s@%[4]s/%[5]s?api_key=%[3]s", url: true, query: true},         // a secret query parameter
	{form: "%[1]s://%[4]s/%[5]s?x=1&X-Amz-Signature=%[3]s#f", url: true, query: true}, // a signed URL
	{form: "%[1]s://%[4]s/%[5]s#access_token=%[3]s", url: true},                       // a fragment
	{form: "/%[5]s?next=/&session=%[3]s", url: true, query: true},                     // a relative reference (a Location header)
	{form: "%[2]s:%[3]s@tcp(%[4]s)/%[5]s", mysql: true},                               // a MySQL DSN
	{form: "%[2]s:%[3]s@unix(%[4]s)/%[5]s?charset=utf8", mysql: true},                 // over a socket
	{form: "%[2]s:%[3]s@/%[5]s", mysql: true},                                         // no protocol
	{form: "%[2]s@tcp(%[4]s)/%[5]s?app_token=%[3]s", mysql: true, query: true},        // a secret parameter of a DSN
	{form: "host=%[4]s user=%[2]s password=%[3]s dbname=%[5]s", libpq: true},          // libpq's key=value
	{form: "host=%[4]s password='%[3]s' dbname=%[5]s"},                                // quoted (escaped below)
	{form: "password=%[3]s host=%[4]s", libpq: true},                                  // the password first
	{form: "%[2]s:%[3]s@%[4]s", mysql: true},                                          // neither a URL nor a DSN, with credentials
	{form: "%[1]s://%[3]s:@%[4]s/%[5]s", url: true, token: true},                      // a token with an empty password (curl -u TOKEN:)
}

// quotedShape is the shape whose secret is in libpq's quotes.
const quotedShape = 11

// keyValueStart is how RedactURL tells a libpq key=value string: by its first key.
var keyValueStart = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// FuzzRedactURL embeds a secret in every shape RedactURL meets and checks the secret never survives
// redaction, whatever surrounds it; nor may it panic on anything. What every reader takes for
// something else than the secret (an '&' ends a parameter, an '@' in the host makes all before it
// the user information) is left out.
func FuzzRedactURL(f *testing.F) {
	for i := range redactShapes {
		f.Add(uint8(i), "postgres", "app", "s3cr3t", "db:5432", "app")
	}
	f.Add(uint8(0), "redis", "app", "p@ss", "db:6379", "0")
	f.Add(uint8(0), "https", "u", "a b", "api", "h?x=1")
	f.Add(uint8(1), "nats", "", "tok", "nats:4222", "")
	f.Add(uint8(6), "", "app", "s3:cr/3@t", "db:3306", "orders?parseTime=true")
	f.Add(uint8(11), "", "app", `a\'b c`, "db", "app")
	f.Add(uint8(10), "", "app", "two s3=x", "db", "app") // libpq: password=two and a key made of the rest
	f.Add(uint8(14), "https", "", "sk_live_0", "api.stripe.com", "v1/balance")
	f.Fuzz(func(t *testing.T, shape uint8, scheme, user, secret, host, rest string) {
		_ = checks.RedactURL(scheme + user + secret + host + rest) // any input: no panic
		for _, part := range []string{scheme, user, host, rest} {
			if showsSecret(part) {
				return // the marker is also outside the secret: showing it there is right
			}
		}
		idx := int(shape) % len(redactShapes)
		sh := redactShapes[idx]
		switch {
		case sh.token && strings.Contains(secret, ":"), sh.url && strings.Contains(host, "@"):
			// A ':' ends the user, and all before the host's '@' is the user information, to every
			// reader: user:password, the user shown.
			return
		case sh.query && strings.ContainsAny(secret, "&#"), sh.libpq && nextKey(secret):
			// It ends the value: what follows is another parameter, a fragment or the next
			// key=value, to every reader.
			return
		}
		if sh.token && !config.IsTokenUserScheme(scheme) {
			scheme = "https" // a lone database user name is no secret, and is shown
		}
		if idx == quotedShape {
			secret = strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(secret) // written as libpq quotes it
		}
		secret = secret[:len(secret)/2] + secretMarker + secret[len(secret)/2:]
		raw := fmt.Sprintf(sh.form, scheme, user, secret, host, rest)
		switch {
		case !sh.url && strings.Contains(raw, "://"):
			return // a DSN that holds "://" is read as a URL (app://s3cr3t@db: a lone user, kept)
		case sh.mysql && keyValueStart.MatchString(raw):
			return // a user named a=: read as libpq's key=value, where a blank ends a value
		}
		if got := checks.RedactURL(raw); showsSecret(got) {
			t.Fatalf("RedactURL(%q) = %q: the secret shows", raw, got)
		}
	})
}

// showsSecret reports whether s holds any four bytes of secretMarker in a row: a part of the secret.
func showsSecret(s string) bool {
	for i := 0; i+4 <= len(secretMarker); i++ {
		if strings.Contains(s, secretMarker[i:i+4]) {
			return true
		}
	}
	return false
}

// nextKey reports whether an unquoted libpq value holds a blank and then a connection keyword and an
// '=' (two sslmode=disable): to libpq, and to anyone reading it, the value ends at the blank and the
// next key=value follows. (Any other word there is taken for the rest of the secret, and RedactURL
// hides the string whole.)
func nextKey(v string) bool {
	i := strings.IndexAny(v, " \t\n\r\f\v")
	if i < 0 {
		return false
	}
	key, _, ok := strings.Cut(strings.TrimLeft(v[i:], " \t\n\r\f\v"), "=")
	return ok && checks.IsDSNKeyword(strings.TrimSpace(key))
}
