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

// redactShapes are the shapes a secret takes in what RedactURL is given (a check's url, a driver's
// error, a Location header): %[1]s is the scheme, %[2]s the user, %[3]s the secret, %[4]s the host,
// %[5]s the rest (a path, a database, parameters).
var redactShapes = []string{
	"%[1]s://%[2]s:%[3]s@%[4]s/%[5]s",                 // a URL's password
	"%[1]s://%[3]s@%[4]s/%[5]s",                       // a lone user name: a token over http, nats, mqtt
	"%[1]s://%[2]s@%[4]s/%[5]s?api_key=%[3]s",         // a secret query parameter
	"%[1]s://%[4]s/%[5]s?x=1&X-Amz-Signature=%[3]s#f", // a signed URL
	"%[1]s://%[4]s/%[5]s#access_token=%[3]s",          // a fragment
	"/%[5]s?next=/&session=%[3]s",                     // a relative reference (a Location header)
	"%[2]s:%[3]s@tcp(%[4]s)/%[5]s",                    // a MySQL DSN: firstDSNShape
	"%[2]s:%[3]s@unix(%[4]s)/%[5]s?charset=utf8",      // over a socket
	"%[2]s:%[3]s@/%[5]s",                              // no protocol
	"%[2]s@tcp(%[4]s)/%[5]s?app_token=%[3]s",          // a secret parameter of a DSN
	"host=%[4]s user=%[2]s password=%[3]s dbname=%[5]s",
	"host=%[4]s password='%[3]s' dbname=%[5]s",
	"password=%[3]s host=%[4]s",
	"%[2]s:%[3]s@%[4]s", // neither a URL nor a DSN, with credentials
}

// firstDSNShape is the first of redactShapes that is not a URL.
const firstDSNShape = 6

// querySecret marks the shapes whose secret is a query parameter's value.
var querySecret = map[int]bool{2: true, 3: true, 5: true, 9: true}

// mysqlShape marks the shapes of a MySQL DSN (and the one like it that is neither URL nor DSN).
var mysqlShape = map[int]bool{6: true, 7: true, 8: true, 9: true, 13: true}

// keyValueStart is how RedactURL tells a libpq key=value string: by its first key.
var keyValueStart = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// FuzzRedactURL embeds a secret in every shape RedactURL meets and checks the secret never survives
// redaction, whatever surrounds it; nor may it panic on anything.
func FuzzRedactURL(f *testing.F) {
	for i := range redactShapes {
		f.Add(uint8(i), "postgres", "app", "s3cr3t", "db:5432", "app")
	}
	f.Add(uint8(0), "redis", "app", "p@ss", "db:6379", "0")
	f.Add(uint8(0), "https", "u", "a b", "api", "h?x=1")
	f.Add(uint8(1), "nats", "", "tok", "nats:4222", "")
	f.Add(uint8(6), "", "app", "s3:cr/3@t", "db:3306", "orders?parseTime=true")
	f.Add(uint8(11), "", "app", `a\'b c`, "db", "app")
	f.Fuzz(func(t *testing.T, shape uint8, scheme, user, secret, host, rest string) {
		_ = checks.RedactURL(scheme + user + secret + host + rest) // any input: no panic
		for _, part := range []string{scheme, user, host, rest} {
			if showsSecret(part) {
				return // the marker is also outside the secret: showing it there is right
			}
		}
		idx := int(shape) % len(redactShapes)
		if idx == 1 && !config.IsTokenUserScheme(scheme) {
			scheme = "https" // a lone database user name is no secret, and is shown
		}
		if strings.ContainsAny(secret, "'\\") && idx == 11 {
			secret = strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(secret) // written as libpq quotes it
		}
		if querySecret[idx] && strings.ContainsAny(secret, "&#") || (idx == 10 || idx == 12) && nextKey(secret) {
			// It ends the value: what follows is another parameter, a fragment or the next
			// key=value, to every reader.
			return
		}
		secret = secret[:len(secret)/2] + secretMarker + secret[len(secret)/2:]
		raw := fmt.Sprintf(redactShapes[idx], scheme, user, secret, host, rest)
		if idx < firstDSNShape && strings.Contains(host, "@") || idx == 1 && strings.Contains(secret, ":") {
			// All before the host's '@' is the user information, and a ':' in it ends the user, to
			// every reader: user:password, the user shown.
			return
		}
		if idx >= firstDSNShape && strings.Contains(raw, "://") {
			return // a DSN that holds "://" is read as a URL (app://s3cr3t@db: a lone user, kept)
		}
		if mysqlShape[idx] && keyValueStart.MatchString(raw) {
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

// nextKey reports whether an unquoted libpq value holds a blank and then an '=': to libpq, and to
// anyone reading it, the value ends at the blank and the next key=value follows. (A blank and no '='
// after it is no DSN at all: RedactURL hides it whole.)
func nextKey(v string) bool {
	i := strings.IndexAny(v, " \t\n\r\f\v")
	return i >= 0 && strings.Contains(v[i:], "=")
}
