package config_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// env is the environment the testdata files see.
func env(vars map[string]string) config.LookupEnv {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var testEnv = env(map[string]string{
	"DATABASE_URL":             "postgres://app:s3cr3t-db@db:5432/app",
	"PAYMENTS_TOKEN":           "s3cr3t-token",
	"HEALTHGATE_DETAILS_TOKEN": "s3cr3t-details",
})

// load is what `healthgate serve` does: decode and validate, then let the check kinds validate theirs.
func load(t *testing.T, path string, e config.LookupEnv) (*config.Config, error) {
	t.Helper()
	cfg, err := config.Find(path, e, config.FindOptions{Kinds: checks.Validate, Server: true})
	var errs config.Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("Find returned %T, not config.Errors: %v", err, err)
	}
	return cfg, err
}

func TestValid(t *testing.T) {
	cfg, err := load(t, "testdata/valid-full.yaml", testEnv)
	if err != nil {
		t.Fatalf("valid-full.yaml: %v", err)
	}
	if got, want := cfg.Server.Listen, "127.0.0.1:8080"; got != want {
		t.Errorf("listen = %q; want %q", got, want)
	}
	if got, want := cfg.Server.DetailsToken, "s3cr3t-details"; got != want {
		t.Errorf("details_token = %q; want the expanded variable", got)
	}
	if len(cfg.Checks) != 4 {
		t.Fatalf("got %d checks; want 4", len(cfg.Checks))
	}
	db, cache, pay, broker := cfg.Checks[0], cfg.Checks[1], cfg.Checks[2], cfg.Checks[3]
	if field[string](t, db, "url") != "postgres://app:s3cr3t-db@db:5432/app" || !field[bool](t, db, "writable") || field[time.Duration](t, db, "max_replication_lag") != 30*time.Second {
		t.Errorf("db = %+v", db)
	}
	if got := db.Src.Origin("url"); got != "DATABASE_URL" {
		t.Errorf("db url origin = %q; want DATABASE_URL", got)
	}
	if cache.Interval != 10*time.Second || cache.Timeout != 2*time.Second || cache.FailureThreshold != 2 {
		t.Errorf("cache timing = %s/%s/%d; want its own interval and inherited defaults", cache.Interval, cache.Timeout, cache.FailureThreshold)
	}
	if !db.Critical || pay.Critical {
		t.Errorf("critical: db %v payments %v; want true (default) and false", db.Critical, pay.Critical)
	}
	if got := field[map[string]string](t, pay, "headers")["Authorization"]; got != "Bearer s3cr3t-token" {
		t.Errorf("header = %q", got)
	}
	if len(field[[]int](t, pay, "expect_status")) != 2 || field[config.TLS](t, pay, "tls").ServerName != "payments.internal" {
		t.Errorf("payments = %+v", pay)
	}
	if field[string](t, broker, "address") != "127.0.0.1:5672" {
		t.Errorf("broker address = %q; want the ${VAR:-default}", field[string](t, broker, "address"))
	}
}

func TestValidFiles(t *testing.T) {
	for _, name := range []string{"valid-minimal.yaml", "valid-empty.yaml", "valid-anchors.yaml", "valid-empty-sections.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, filepath.Join("testdata", name), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server.Listen != ":8080" || cfg.Server.ShutdownDelay != 5*time.Second || cfg.Server.Details != "never" {
				t.Errorf("server defaults = %+v", cfg.Server)
			}
		})
	}
	cfg, _ := load(t, "testdata/valid-anchors.yaml", testEnv)
	if a, b := cfg.Checks[0], cfg.Checks[1]; a.Timeout != 300*time.Millisecond || b.Timeout != 500*time.Millisecond || b.Interval != time.Second {
		t.Errorf("merge keys: a %s/%s b %s/%s", a.Interval, a.Timeout, b.Interval, b.Timeout)
	}
}

// TestInvalid has one testdata file per rejected case; each error must name the file, the line and
// the field.
func TestInvalid(t *testing.T) {
	tests := []struct {
		file  string
		line  int
		field string
		msg   string
	}{
		{"invalid-unknown-key.yaml", 5, "intervall", `unknown field (did you mean "interval"?)`},
		{"invalid-unknown-top-key.yaml", 1, "sever", `did you mean "server"?`},
		{"invalid-bad-duration.yaml", 2, "interval", `invalid duration "5 seconds"`},
		{"invalid-timeout-not-shorter.yaml", 6, "timeout", "timeout (5s) must be shorter than interval (2s)"},
		{"invalid-defaults-timeout.yaml", 3, "timeout", "must be shorter than interval"},
		{"invalid-interval-too-short.yaml", 5, "interval", "must be at least 100ms (got 2ns)"},
		{"invalid-timeout-too-short.yaml", 3, "timeout", "must be at least 10ms (got 5ms)"},
		{"invalid-duplicate-name.yaml", 3, "name", `duplicate name "db" (first used on line 2)`},
		{"invalid-malformed-name.yaml", 2, "name", `"My DB" is not a valid name`},
		{"invalid-reserved-name.yaml", 2, "name", "reserved"},
		{"invalid-reserved-grpc-name.yaml", 2, "name", `"readiness" is reserved`},
		{"invalid-missing-name.yaml", 2, "name", "required"},
		{"invalid-unknown-type.yaml", 2, "type", `unknown type "no-such-kind" (known: ` + strings.Join(checks.Types(), ", ") + ")"},
		{"invalid-type-typo.yaml", 2, "type", `unknown type "postgress" (did you mean "postgres"?) (known: `},
		{"invalid-type-product.yaml", 2, "type", `unknown type "mariadb" (did you mean "mysql"?) (known: `},
		{"invalid-type-case.yaml", 2, "type", `unknown type "Redis" (did you mean "redis"?) (known: `},
		{"invalid-threshold.yaml", 2, "failure_threshold", "must be at least 1 (got 0)"},
		{"invalid-success-threshold.yaml", 2, "success_threshold", "must be at least 1 (got -1)"},
		{"invalid-unset-variable.yaml", 2, "url", "environment variable HEALTHGATE_TEST_UNSET_VARIABLE is not set"},
		{"invalid-details.yaml", 2, "details", "must be one of never, token, always"},
		{"invalid-details-token-missing.yaml", 2, "details_token", "required when details is token"},
		{"invalid-listen.yaml", 2, "listen", "must be host:port"},
		{"invalid-field-for-type.yaml", 2, "writable", "does not apply to a redis check (it applies to mysql, postgres)"},
		{"invalid-missing-url.yaml", 2, "url", "required"},
		{"invalid-bad-url.yaml", 2, "url", "must be an absolute http:// or https:// URL"},
		{"invalid-redis-role.yaml", 2, "role", `must be master (or primary) or replica (got "leader")`},
		{"invalid-bool.yaml", 2, "critical", `invalid boolean "yes"`},
		// yaml.v3 says the start of the enclosing block (line 1); the problem is on line 3.
		{"invalid-syntax.yaml", 3, "", "invalid YAML: did not find expected '-' indicator"},
		{"invalid-syntax-indent.yaml", 4, "", "invalid YAML: did not find expected '-' indicator"},
		{"invalid-syntax-tab.yaml", 5, "", "invalid YAML: found a tab character that violates indentation"},
		{"invalid-file-secret-missing.yaml", 2, "url_file", "cannot read /nonexistent/healthgate/secret: no such file"},
		{"invalid-url-and-url-file.yaml", 2, "url_file", "set together with url"},
		{"invalid-duplicate-key.yaml", 5, "address", "set twice (first on line 4)"},
		{"invalid-checks-not-list.yaml", 2, "checks", "must be a list"},
		{"invalid-check-not-a-mapping.yaml", 3, "", "must be a mapping, not empty"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			cfg, err := load(t, path, testEnv)
			if err == nil {
				t.Fatalf("loaded %+v; want an error", cfg)
			}
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not config.Errors: %v", err, err)
			}
			e := errs[0]
			if e.File != path || e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got  %s (file %q, line %d, field %q)\nwant line %d, field %q, message containing %q", e, e.File, e.Line, e.Field, tc.line, tc.field, tc.msg)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), path+":") {
					t.Errorf("message %q does not start with the file name", e.Error())
				}
			}
		})
	}
}

// TestAliasesBounded: an alias inside the value it refers to, or aliases nested so that they stand for
// millions of values, are an error at their line, at once: the decoder follows every alias, so the
// first never ended and the second took minutes for a file of 1 KiB.
func TestAliasesBounded(t *testing.T) {
	tests := []struct {
		file string
		line int
		msg  string
	}{
		{file: "invalid-alias-cycle.yaml", line: 3, msg: "the alias *tls is inside the value it refers to"},
		{file: "invalid-alias-nested.yaml", line: 7, msg: "the alias *l4 stands for more than 100000 values"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			done := make(chan error, 1)
			go func() {
				_, err := load(t, path, testEnv)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("still loading after 5 s")
			}
			var errs config.Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("err = %v; want one error", err)
			}
			if e := errs[0]; e.File != path || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s (line %d); want line %d, %q", e, e.Line, tc.line, tc.msg)
			}
		})
	}
}

// TestInvalidAllAtOnce: every problem in a file is reported in one go, top to bottom.
func TestInvalidAllAtOnce(t *testing.T) {
	_, err := load(t, "testdata/invalid-many.yaml", testEnv)
	expectErrors(t, err,
		`:2:3: server: details: must be one of`,
		`:4:13: defaults: interval: invalid duration "5x"`,
		`checks[0] "db": timeout: invalid duration "nope"`,
		`checks[1] "db": name: duplicate name "db"`,
		`checks[2] "web": url: required`,
	)
}

// TestInvalidDefaultHidesNothingElse: an invalid default hides only the comparisons that use it: a
// failure_threshold of 0 hid every check's own timeout >= interval, reported only once it was fixed.
func TestInvalidDefaultHidesNothingElse(t *testing.T) {
	yaml := `defaults: {interval: 5s, timeout: 3s, failure_threshold: 0}
checks:
  - {name: a, type: tcp, address: "db:5432", interval: 2s}
  - {name: b, type: tcp, address: "db:5432"}
  - {name: c, type: tcp, address: "db:5432", timeout: 6s}
`
	_, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	expectErrors(t, err,
		`f.yaml:1:39: defaults: failure_threshold: must be at least 1 (got 0)`,
		`f.yaml:3:46: checks[0] "a": interval: timeout (3s) must be shorter than interval (2s)`,
		`f.yaml:5:46: checks[2] "c": timeout: timeout (6s) must be shorter than interval (5s)`,
	)
	// An invalid default timeout is not compared again at each check that inherits it.
	yaml = "defaults: {interval: 5s, timeout: 5s}\nchecks:\n  - {name: a, type: tcp, address: \"db:5432\"}\n  - {name: b, type: tcp, address: \"db:5432\", interval: 10s}\n"
	_, err = config.Parse("f.yaml", []byte(yaml), env(nil))
	expectErrors(t, err, `f.yaml:1:26: defaults: timeout: timeout (5s) must be shorter than interval (5s)`)
}

// One field that does not decode must not hide the other mistakes of the same check.
func TestInvalidEveryFieldOfOneCheck(t *testing.T) {
	_, err := load(t, "testdata/invalid-many-in-one-check.yaml", testEnv)
	expectErrors(t, err,
		`:5: checks[0] "web": method: "GE T" is not an HTTP method`,
		`:6:14: checks[0] "web": timeout: invalid duration "1x"`,
		`:7:11: checks[0] "web".tls: ca_file: cannot read /nonexistent/ca.pem`,
		`:8:15: checks[0] "web": headers: header name "Bad"... holds a space`, // at the header, not at headers
	)
}

// TestInvalidHeaderValue: a header value HTTP cannot carry (a token from a Secret with a trailing
// newline) is a configuration error naming the header, never showing the value, instead of every run
// failing as unknown.
func TestInvalidHeaderValue(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	text := "checks:\n  - name: api\n    type: http\n    url: http://127.0.0.1:9/\n    headers: {Authorization: \"Bearer ${API_TOKEN}\", X-Tab: \"a\\tb\"}\n"
	mustWrite(t, path, text)
	env := func(name string) (string, bool) { return "s3cr3t-token\n", name == "API_TOKEN" }
	_, err := load(t, path, env)
	expectErrors(t, err, `:5:15: checks[0] "api": headers: header Authorization: its value holds a line break`)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("the error shows the value: %v", err)
	}
}

// TestHeaderSetTwiceInAnotherCase: header names are case-insensitive, and a check that names one
// header twice (Authorization from an anchor merged in, authorization written beside it, or one from
// headers_file) is refused, naming both spellings and never a value: it sent one of the two values, the
// map's iteration order choosing which, from one run to the next.
func TestHeaderSetTwiceInAnotherCase(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "auth")
	mustWrite(t, secret, "Bearer s3cr3t-file\n")
	path := filepath.Join(dir, "healthgate.yaml")
	text := "x-h: &h {Authorization: \"Bearer s3cr3t-one\"}\nchecks:\n" +
		"  - {name: merged, type: http, url: \"http://127.0.0.1:9/\", headers: {<<: *h, authorization: \"Bearer s3cr3t-two\"}}\n" +
		"  - {name: filed, type: http, url: \"http://127.0.0.1:9/\", headers: {X-Api-Key: s3cr3t-key}, headers_file: {x-api-key: " + secret + "}}\n"
	mustWrite(t, path, text)
	_, err := load(t, path, env(nil))
	// Each at the second spelling: the key written beside the merge, the key of headers_file.
	expectErrors(t, err,
		`:3:78: checks[0] "merged": headers: header Authorization is set twice, as Authorization and authorization (header names are case-insensitive)`,
		`:4:108: checks[1] "filed": headers: header X-Api-Key is set twice, as X-Api-Key and x-api-key`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("the error shows a value: %v", err)
	}
}

// expectErrors checks that err is exactly these errors, in order, each containing its text.
func expectErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v; want config.Errors", err)
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors; want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q; want it to contain %q", i, errs[i], w)
		}
	}
}

// TestSecretsNeverEchoed: a bad value in a secret field is reported without the value.
func TestSecretsNeverEchoed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	data := `server:
  details_token: [s3cr3t-in-a-list]
checks:
  - {name: api, type: http, url: "ftp://user:s3cr3t-pw@host/x?api_key=s3cr3t-key"}
  - {name: db, type: postgres, url: "postgres://u:s3cr3t-pw@host:notaport/db"}
  - {name: cache, type: redis, url: "redi://:s3cr3t-pw@host"}
  - {name: web, type: http, url: "https://h/x", headers: {"Bad Header": "s3cr3t-hdr"}}
  - {name: hook, type: http, url: "https://h/x", headers: {"Authorization: Bearer s3cr3t-in-a-name": x, "X-Api-Key=s3cr3t-too": y}}
`
	mustWrite(t, path, data)
	_, err := load(t, path, testEnv)
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
	if n := len(err.(config.Errors)); n != 7 {
		t.Errorf("got %d errors; want 7:\n%v", n, err)
	}
}

// TestValueThatMayHoldASecret: a value refused in a field that holds no secret was quoted whole, though
// it may be one: a URL written in the wrong field (interval: ${DATABASE_URL}), a token in details (in place
// of details_token) or a user:password as an address. Such a value is not shown; one that holds nothing
// of the kind still is.
func TestValueThatMayHoldASecret(t *testing.T) {
	data := `server:
  listen: ${DATABASE_URL}
  grpc_listen: app:s3cr3t-listen
  details: ${HEALTHGATE_DETAILS_TOKEN}
fleet:
  peers: ["app:s3cr3t-peer", "dns://app:s3cr3t-dns/peers:8080", "peer-0:99999"]
  fail_open_ratio: ${API_TOKEN}
  timeout: ${DATABASE_URL}
checks:
  - name: a
    type: tcp
    address: "db:5432"
    scope: ${DATABASE_URL}
    interval: postgres://app:s3cr3t-lit@db/app
    critical: ${HEALTHGATE_DETAILS_TOKEN}
    failure_threshold: ${API_TOKEN}
  - {name: b, type: tcp, address: "db:5432", scope: global, interval: 5x, critical: yes, failure_threshold: two}
`
	cfg, err := config.Parse("may.yaml", []byte(data), env(map[string]string{"DATABASE_URL": "postgres://app:s3cr3t-db@db/app",
		"HEALTHGATE_DETAILS_TOKEN": "s3cr3t-details", "API_TOKEN": "s3cr3t-token"}))
	var errs config.Errors
	errors.As(err, &errs)
	errs = append(errs, cfg.ValidateServer()...) // as serve does
	const hidden = "(the value is not shown: it may hold a secret)"
	expectErrors(t, errs.Err(),
		`may.yaml:2:3: server: listen: must be host:port or :port `+hidden,
		`may.yaml:3:3: server: grpc_listen: port must be a number from 0 to 65535 `+hidden,
		`may.yaml:4:3: server: details: must be one of never, token, always `+hidden,
		`may.yaml:6:3: fleet: peers: [0] port must be a number from 1 to 65535 `+hidden,
		`may.yaml:6:3: fleet: peers: [1] the DNS server's port must be a number from 1 to 65535 `+hidden,
		`may.yaml:6:3: fleet: peers: [2] "peer-0:99999": port must be a number from 1 to 65535`,
		`may.yaml:7:20: fleet: fail_open_ratio: invalid number (not shown: it may hold a secret)`,
		`may.yaml:8:12: fleet: timeout: invalid duration (not shown: it may hold a secret): use a number with a unit`,
		`may.yaml:13:5: checks[0] "a": scope: must be local or shared `+hidden,
		`may.yaml:14:15: checks[0] "a": interval: invalid duration (not shown: it may hold a secret)`,
		`may.yaml:15:15: checks[0] "a": critical: invalid boolean (not shown: it may hold a secret): write true or false`,
		`may.yaml:16:24: checks[0] "a": failure_threshold: invalid integer (not shown: it may hold a secret)`,
		`may.yaml:17:46: checks[1] "b": scope: must be local or shared (got "global")`,
		`may.yaml:17:71: checks[1] "b": interval: invalid duration "5x"`,
		`may.yaml:17:85: checks[1] "b": critical: invalid boolean "yes"`,
		`may.yaml:17:109: checks[1] "b": failure_threshold: invalid integer "two"`,
	)
	if strings.Contains(strings.ToLower(errs.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", errs)
	}

	// The kinds' words and files, as the kinds validate them.
	data = `checks:
  - {name: a, type: "${DATABASE_URL}"}
  - {name: b, type: http, url: "https://api/", method: "${DATABASE_URL}", tls: {ca_file: "${DATABASE_URL}"}}
  - {name: c, type: redis, url: "redis://cache:6379", role: "${API_TOKEN}"}
  - {name: d, type: dns, host: payments.internal, record: "${DATABASE_URL}"}
  - {name: e, type: postgres, url: "postgres://db/app", migrations: {tool: "${DATABASE_URL}", version: "1"}}
  - {name: f, type: http, url: "https://api/", method: "GE T", tls: {ca_file: /nonexistent/ca.pem}}
`
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, data)
	_, err = load(t, path, env(map[string]string{"DATABASE_URL": "postgres://app:s3cr3t-db@db/app", "API_TOKEN": "s3cr3t-token"}))
	expectErrors(t, err,
		`:2:15: checks[0] "a": type: unknown type (not shown: it may hold a secret) (known: `,
		`:3:48: checks[1] "b": method: not an HTTP method (not shown: it may hold a secret)`,
		`:3:81: checks[1] "b".tls: ca_file: cannot read the path (not shown: it may hold a secret): no such file`,
		`:4:55: checks[2] "c": role: must be master (or primary) or replica `+hidden,
		`:5:51: checks[3] "d": record: must be one of A, AAAA, CNAME, SRV, TXT (default: A and AAAA) `+hidden,
		`:6:70: checks[4] "e".migrations: tool: unknown migration tool (not shown: it may hold a secret) (known: `,
		`:7:48: checks[5] "f": method: "GE T" is not an HTTP method`,
		`:7:70: checks[5] "f".tls: ca_file: cannot read /nonexistent/ca.pem: no such file`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
}

// TestSecretAsAlias: a secret that begins with '*', written unquoted, is read by YAML as an alias; the
// error for the anchor it does not find says so without quoting the rest of the secret.
func TestSecretAsAlias(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	data := "checks:\n  - name: cache\n    type: memcached\n    address: cache:11211\n    username: app\n    password: *s3cr3t-pw\n"
	mustWrite(t, path, data)
	_, err := load(t, path, testEnv)
	expectErrors(t, err, ":6: invalid YAML: a value that begins with '*' is read as an alias")
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
}

// TestSecretCutAtComma: in a {...} mapping a ',' ends a value, and the rest of a secret that holds one
// is read as a key without a value, which an error quoted as an unknown field or a header's name.
func TestSecretCutAtComma(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	data := `server: {details: token, details_token: ab,s3cr3t-details}
checks:
  - {name: cache, type: memcached, address: "cache:11211", username: app, password: ab,s3cr3t-pw}
  - {name: api, type: http, url: "https://api/x", headers: {Authorization: Bearer ab,s3cr3t-token}}
  - {name: db, type: postgres, url: postgres://app:ab,s3cr3t-url@db/app}
`
	mustWrite(t, path, data)
	_, err := load(t, path, testEnv)
	const want = "a key without ':' and a value (not shown: in a {...} mapping a ',' ends a value"
	expectErrors(t, err, `:1:44: server: `+want, `:3:88: checks[0] "cache": `+want, `:4:86: checks[1] "api": headers: `+want,
		`:5:32: checks[2] "db": url: not a valid postgres URL`, `:5:55: checks[2] "db": `+want)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
}

// TestSecretCutAtCommaKey: in a {...} mapping the rest of a secret holding a ',' and then a ':'
// ({password: ab,cd: x}) is read as a key with a value, which an error quoted as an unknown field; a key
// that follows a secret field's value on its line is not quoted. One after another field's value is.
func TestSecretCutAtCommaKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	data := `server: {details: token, details_token: ab,s3cr3t-details: x}
checks:
  - {name: cache, type: memcached, address: "cache:11211", username: app, password: ab,s3cr3t-pw: x}
  - {name: api, type: http, url: https://app:ab,s3cr3t-url: x@api/healthz, method: GET}
  - {name: web, type: tcp, address: "web:80", adress: x}
`
	mustWrite(t, path, data)
	_, err := load(t, path, testEnv)
	const want = "(not shown: in a {...} mapping a ',' ends a value"
	expectErrors(t, err, `:1:44: server: an unknown field after the value of details_token on its line `+want,
		`:3:88: checks[0] "cache": an unknown field after the value of password on its line `+want,
		`:4:29: checks[1] "api": url: not a valid URL`, `:4:49: checks[1] "api": an unknown field after the value of url on its line `+want,
		`:5:47: checks[2] "web": adress: unknown field (did you mean "address"?)`)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "db-url")
	mustWrite(t, secret, "postgres://app:s3cr3t@db/app\n")
	path := filepath.Join(dir, "healthgate.yaml")
	data := "checks:\n  - {name: db, type: postgres, url_file: \"${SECRETS_DIR}/db-url\"}\n"
	mustWrite(t, path, data)
	cfg, err := load(t, path, env(map[string]string{"SECRETS_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if got := field[string](t, cfg.Checks[0], "url"); got != "postgres://app:s3cr3t@db/app" {
		t.Errorf("url = %q; want the file's content without its newline", got)
	}
	if got := cfg.Checks[0].Src.Origin("url"); got != secret {
		t.Errorf("origin = %q; want the file", got)
	}
}

// TestSecretFileWithBOM: a secret file saved by a Windows editor or PowerShell (Set-Content -Encoding UTF8)
// begins with a UTF-8 byte order mark and ends with CRLF; neither is part of the secret. The mark, kept,
// made the URL's scheme unreadable ("the scheme must be postgres or postgresql ..., not this one") and a
// password or token one invisible character off.
func TestSecretFileWithBOM(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"db-url": "postgres://app:s3cr3t@db/app", "password": "s3cr3t-pw"} {
		mustWrite(t, filepath.Join(dir, name), "\ufeff"+data+"\r\n")
	}
	path := filepath.Join(dir, "healthgate.yaml")
	data := "checks:\n  - {name: db, type: postgres, url_file: \"${SECRETS_DIR}/db-url\"}\n" +
		"  - {name: cache, type: memcached, address: \"cache:11211\", username: app, password_file: \"${SECRETS_DIR}/password\"}\n" +
		"  - {name: api, type: http, url: \"http://api/\", headers_file: {X-Api-Key: \"${SECRETS_DIR}/password\"}}\n"
	mustWrite(t, path, data)
	cfg, err := load(t, path, env(map[string]string{"SECRETS_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if got := field[string](t, cfg.Checks[0], "url"); got != "postgres://app:s3cr3t@db/app" {
		t.Errorf("url = %q; want the file's content without its byte order mark and CRLF", got)
	}
	if got := field[string](t, cfg.Checks[1], "password"); got != "s3cr3t-pw" {
		t.Errorf("password = %q; want the file's content without its byte order mark and CRLF", got)
	}
	if got := field[map[string]string](t, cfg.Checks[2], "headers")["X-Api-Key"]; got != "s3cr3t-pw" {
		t.Errorf("header = %q; want the file's content without its byte order mark and CRLF", got)
	}
}

// TestSecretFilePathNotShown: a *_file field given the secret itself instead of its file's path (the
// variable of the field it replaces: url_file: ${DATABASE_URL}, password_file: ${MEMCACHED_PASSWORD}) was
// quoted whole in "cannot read postgres://app:s3cr3t@db/app: no such file". Such a path is not shown;
// the value as written is, when it holds none; a path from a variable named as one (SECRETS_DIR) still is.
func TestSecretFilePathNotShown(t *testing.T) {
	dir := t.TempDir()
	data := `server: {details: token, details_token_file: "${HEALTHGATE_DETAILS_TOKEN}"}
checks:
  - {name: db, type: postgres, url_file: "${DATABASE_URL}"}
  - {name: cache, type: memcached, address: "cache:11211", username: app, password_file: "${MEMCACHED_PASSWORD}"}
  - {name: api, type: http, url: "http://api/", headers_file: {Authorization: "Bearer ${PAYMENTS_TOKEN}"}}
  - {name: lit, type: postgres, url_file: "postgres://app:s3cr3t-lit@db/app"}
  - {name: dir, type: postgres, url_file: "${SECRETS_DIR}/db-url"}
`
	path := filepath.Join(dir, "healthgate.yaml")
	mustWrite(t, path, data)
	_, err := load(t, path, env(map[string]string{"DATABASE_URL": "postgres://app:s3cr3t-db@db/app", "MEMCACHED_PASSWORD": "s3cr3t-pw",
		"PAYMENTS_TOKEN": "s3cr3t-token", "HEALTHGATE_DETAILS_TOKEN": "s3cr3t-details", "SECRETS_DIR": dir}))
	const hidden = "(its value not shown: it may hold a secret): no such file"
	expectErrors(t, err,
		`:1:46: server: details_token_file: cannot read ${HEALTHGATE_DETAILS_TOKEN} `+hidden,
		`:3:42: checks[0] "db": url_file: cannot read ${DATABASE_URL} `+hidden,
		`:4:90: checks[1] "cache": password_file: cannot read ${MEMCACHED_PASSWORD} `+hidden,
		`:5:79: checks[2] "api": headers_file.Authorization: cannot read the path (not shown: it may hold a secret): no such file`,
		`:6:43: checks[3] "lit": url_file: cannot read the path (not shown: it may hold a secret): no such file`,
		`:7:43: checks[4] "dir": url_file: cannot read `+filepath.Join(dir, "db-url")+`: no such file`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("a secret appears in the errors:\n%v", err)
	}
}

// headers_file: each header value from its own file (a mounted Secret), beside literal headers.
func TestHeadersFromFiles(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "auth"), "Bearer s3cr3t-file\n")
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		mustWrite(t, path, data)
		return path
	}
	secrets := env(map[string]string{"SECRETS_DIR": dir})
	_, err := load(t, write("bad.yaml", `checks:
  - name: both
    type: http
    url: https://api.internal/healthz
    headers: {Authorization: "Bearer x"}
    headers_file: {Authorization: "${SECRETS_DIR}/auth", X-Missing: /nonexistent/healthgate/token}
`), secrets)
	expectErrors(t, err,
		`:6:20: checks[0] "both": headers_file.Authorization: set in headers too`,
		`:6:69: checks[0] "both": headers_file.X-Missing: cannot read /nonexistent/healthgate/token`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the secret: %v", err)
	}

	cfg, err := load(t, write("good.yaml", `checks:
  - name: api
    type: http
    url: https://api.internal/healthz
    headers: {Accept: application/json}
    headers_file: {Authorization: "${SECRETS_DIR}/auth"}
`), secrets)
	if err != nil {
		t.Fatal(err)
	}
	h := field[map[string]string](t, cfg.Checks[0], "headers")
	if h["Authorization"] != "Bearer s3cr3t-file" || h["Accept"] != "application/json" {
		t.Errorf("headers = %q; want the literal one and the file's, without its newline", h)
	}

	// A path may be an alias, as any value: in headers_file it was refused as "must be a file path".
	cfg, err = load(t, write("alias.yaml", `x-paths:
  auth: &auth "${SECRETS_DIR}/auth"
checks:
  - name: api
    type: http
    url: https://api.internal/healthz
    headers_file: {Authorization: *auth}
`), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if h := field[map[string]string](t, cfg.Checks[0], "headers"); h["Authorization"] != "Bearer s3cr3t-file" {
		t.Errorf("headers = %q; want the file's, its path an alias", h)
	}
}

// TestMergedFieldReplacedByOwnFile: a check's own keys win over those merged in with <<, wherever the <<
// stands, a NAME_file included: url_file after <<: *pg (whose url is the default) was refused as "set
// together with url", and accepted before it; and the replaced value was read all the same (an unset
// ${DATABASE_URL} in it an error). Where the value came from (hints) is the check's own key.
// Both written in the check itself are still one value given twice.
func TestMergedFieldReplacedByOwnFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "db-url")
	mustWrite(t, secret, "postgres://app:s3cr3t@db-file/app\n")
	path := filepath.Join(dir, "healthgate.yaml")
	data := `x-pg: &pg
  type: postgres
  url: ${DATABASE_URL}
x-pg-file: &pg-file
  type: postgres
  url_file: ` + secret + `
checks:
  - name: file-after
    <<: *pg
    url_file: ` + secret + `
  - name: file-before
    url_file: ` + secret + `
    <<: *pg
  - name: url-after
    <<: *pg-file
    url: postgres://app@db-own/app
`
	mustWrite(t, path, data)
	// DATABASE_URL unset: the merged url that the check's own url_file replaces is never read.
	cfg, err := load(t, path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ url, origin string }{
		{"postgres://app:s3cr3t@db-file/app", secret},
		{"postgres://app:s3cr3t@db-file/app", secret},
		{"postgres://app@db-own/app", "url (" + path + ":16)"},
	} {
		c := cfg.Checks[i]
		if got := field[string](t, c, "url"); got != want.url {
			t.Errorf("%s: url = %q; want %q", c.Name, got, want.url)
		}
		if got := c.Src.Origin("url"); got != want.origin {
			t.Errorf("%s: origin = %q; want %q", c.Name, got, want.origin)
		}
	}

	both := filepath.Join(dir, "both.yaml")
	mustWrite(t, both, "checks:\n  - name: db\n    type: postgres\n    url: postgres://app@db/app\n    url_file: "+secret+"\n")
	_, err = load(t, both, env(nil))
	expectErrors(t, err, `:5:5: checks[0] "db": url_file: set together with url`)
}

// TestValueThatBeginsWithBang: an unquoted value that begins with '!' is a YAML tag, and the value what
// follows it: `password: !s3cr3t` read as an empty password ("username: needs a password"), a query
// `!x SELECT 1` as SELECT 1, silently. A local tag, which healthgate gives no meaning to, is refused at
// its position, without the text; in serve's own sections, for serve only. Standard tags (!!str) are
// taken.
func TestValueThatBeginsWithBang(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "healthgate.yaml")
	data := `server:
  details: token
  details_token: !s3cr3t-token
x-notes: !note ignored
checks:
  - name: cache
    type: memcached
    address: "cache:11211"
    username: app
    password: !s3cr3t-pw
  - name: db
    type: tcp
    address: !!str db:5432
`
	mustWrite(t, path, data)
	const words = "a value that begins with '!' is read as a YAML tag, not as text"
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`:3:3: server: details_token: required when details is token`,
		`:3:18: server: details_token: `+words,
		`:9:5: checks[0] "cache": username: needs a password`,
		`:10:15: checks[0] "cache": password: `+words,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the value: %v", err)
	}
	// check and wait ignore the server section, its errors too.
	_, err = config.Find(path, env(nil), config.FindOptions{Kinds: checks.Validate})
	expectErrors(t, err, `:9:5: checks[0] "cache": username: needs a password`, `:10:15: checks[0] "cache": password: `+words)
}

// TestValueThatBeginsWithTwoBangs: an unquoted value that begins with "!!" (password: !!s3cr3t), or a
// verbatim tag (!<s3cr3t>), is a tag YAML does not know on an empty value (or on the rest, after a
// blank), as !s3cr3t is: it was taken silently, the password empty or cut. YAML's own tags (!!str) stay.
func TestValueThatBeginsWithTwoBangs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `checks:
  - name: cache
    type: memcached
    address: "cache:11211"
    username: app
    password: !!s3cr3t-pw
  - name: db
    type: postgres
    url: !!str postgres://db/app
    query: !!s3cr3t rest
  - name: api
    type: http
    url: http://api/
    headers:
      Authorization: !<s3cr3t-verbatim>
`)
	const words = "a value that begins with '!' is read as a YAML tag, not as text"
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`:5:5: checks[0] "cache": username: needs a password`,
		`:6:15: checks[0] "cache": password: `+words,
		`:10:12: checks[1] "db": query: `+words,
		`:15:22: checks[2] "api".headers: Authorization: `+words,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the value: %v", err)
	}
	var s config.Spec
	if err := s.SetYAML("key", "!!s3cr3t"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("SetYAML(!!s3cr3t) = %v; want the tag refused, unquoted", err)
	}
}

// TestTagThatContradictsItsValue: a value with one of YAML's own tags that does not fit it (interval:
// !!int 5s, critical: !!null true, a mapping tagged !!seq) is one YAML itself refuses to read as that
// type, and healthgate read the text regardless: the tag let a value pass that the file does not hold as
// written (!!null made critical: !!null true unwritten, its default applying; !!binary left a base64
// password encoded). Refused at the tag, the value not shown; a tag that fits its value stays YAML as
// meant, and so does the same in --set.
func TestTagThatContradictsItsValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `checks:
  - name: db
    type: tcp
    address: !!str db:5432
    interval: !!int 5s
    critical: !!null true
    failure_threshold: !!bool 3
    success_threshold: !!int 2
    timeout: !!str 1s
  - name: api
    type: http
    url: !!str http://api/
    headers: !!seq {X-Api-Key: !!binary czNjcjN0LWI2NA==}
    expect_status: !!seq [!!int 200, !!bool 204]
  - !!map {name: cache, type: memcached, address: "cache:11211", username: app, password: !!timestamp s3cr3t-pw}
`)
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`:5:15: checks[0] "db": interval: the tag !!int does not fit the value`,
		`:6:15: checks[0] "db": critical: the tag !!null does not fit the value`,
		`:7:24: checks[0] "db": failure_threshold: the tag !!bool does not fit the value`,
		`:13:14: checks[1] "api": headers: the tag !!seq does not fit a mapping`,
		`:13:32: checks[1] "api".headers: X-Api-Key: the tag !!binary`,
		`:14:38: checks[1] "api": expect_status[1]: the tag !!bool does not fit the value`,
		`:15:91: checks[2] "cache": password: the tag !!timestamp does not fit the value`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") || strings.Contains(err.Error(), "czNjcjN0") {
		t.Errorf("an error shows the value: %v", err)
	}
	var s config.Spec
	if err := s.SetYAML("timeout", "!!int 5s"); err == nil || !strings.Contains(err.Error(), "the tag !!int does not fit the value") {
		t.Errorf("SetYAML(!!int 5s) = %v; want the tag refused", err)
	}
	if err := s.SetYAML("port", "!!int 5432"); err != nil {
		t.Errorf("SetYAML(!!int 5432) = %v; want it taken", err)
	}
}

// TestValueThatBeginsWithAmpersand: an unquoted value that begins with '&' (password: &s3cr3t) is a YAML
// anchor, and the value empty: it was taken silently as no password, no key. An anchor on a value, or on
// nothing under an x- key, is YAML as meant and stays allowed.
func TestValueThatBeginsWithAmpersand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `x-shared: &empty
defaults: &d {interval: 5s}
checks:
  - name: cache
    type: redis
    url: redis://cache:6379
    key: &s3cr3t-key
  - name: db
    type: postgres
    url: &u postgres://db/app
    query: &s3cr3t
`)
	const words = "a value that begins with '&' is read as a YAML anchor, not as text, and the value is left empty"
	_, err := load(t, path, env(nil))
	expectErrors(t, err, `:7:10: checks[0] "cache": key: `+words, `:11:12: checks[1] "db": query: `+words)
	if n := strings.Count(err.Error(), words); n != 2 {
		t.Errorf("%d errors about an anchor; want 2 (the anchors on a value, and under x-, are fine):\n%v", n, err)
	}
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the value: %v", err)
	}
}

// TestEmptyDocuments: a file holds one YAML document, and a `---` with nothing after it (or only a
// comment), as a template or a concatenation leaves at the end or the start, adds none: it was refused as
// "found a second one". A second document that holds something is still refused, at its line, and a
// syntax error in it is reported (it was not looked at).
func TestEmptyDocuments(t *testing.T) {
	const checks = "checks:\n  - {name: db, type: tcp, address: \"db:5432\"}\n"
	for name, data := range map[string]string{
		"trailing":         checks + "---\n",
		"trailing comment": checks + "---\n# nothing more\n",
		"leading":          "# generated\n---\n---\n" + checks,
		"both":             "---\n" + checks + "---\n---\n",
	} {
		cfg, err := config.Parse(name, []byte(data), env(nil))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(cfg.Checks) != 1 || cfg.Checks[0].Name != "db" {
			t.Errorf("%s: checks = %+v; want db", name, cfg.Checks)
		}
	}
	_, err := config.Parse("two.yaml", []byte(checks+"---\n# the other one\n"+checks), env(nil))
	expectErrors(t, err, "two.yaml:3:1: a configuration file holds one YAML document; found a second one")
	_, err = config.Parse("broken.yaml", []byte(checks+"---\nchecks: [\n"), env(nil))
	expectErrors(t, err, "broken.yaml:4: invalid YAML")
}

// TestAliasAsCheck: a check may be an alias of an anchored mapping (checks: [*db], a list item written
// - *db), as any other value of the file: it was refused as "checks[0] "db": must be a mapping, not this".
func TestAliasAsCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	data := "x-db: &db\n  name: db\n  type: tcp\n  address: \"db:5432\"\nchecks:\n  - *db\n  - {<<: *db, name: db-2}\n"
	mustWrite(t, path, data)
	cfg, err := load(t, path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Checks) != 2 || cfg.Checks[0].Name != "db" || cfg.Checks[0].Type != "tcp" || field[string](t, cfg.Checks[0], "address") != "db:5432" || cfg.Checks[1].Name != "db-2" {
		t.Errorf("checks = %+v; want db and db-2, both tcp db:5432", cfg.Checks)
	}
}

// TestNestedMerge: a merged mapping may merge another (x-db: {<<: *fast, ...}, then <<: *db), as Compose
// files chain them: each mapping's own keys win over what it merges. The inner << was read as a field of
// the kind ("interval: unknown field"); a merge of what is not a mapping, at any depth, is still an error.
func TestNestedMerge(t *testing.T) {
	data := `x-fast: &fast {interval: 2s, timeout: 1s, critical: false}
x-db: &db {<<: *fast, type: tcp, address: "db:5432", interval: 3s}
checks:
  - {<<: *db, name: db, critical: true}
  - {<<: *db, name: db-2}
`
	cfg, err := config.Parse("nested.yaml", []byte(data), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	db, db2 := cfg.Checks[0], cfg.Checks[1]
	if db.Interval != 3*time.Second || db.Timeout != time.Second || !db.Critical || field[string](t, db, "address") != "db:5432" ||
		db2.Critical || db2.Interval != 3*time.Second {
		t.Errorf("checks = %+v; want db critical and db-2 not, both every 3s, timeout 1s, tcp db:5432", cfg.Checks)
	}
	_, err = config.Parse("bad.yaml", []byte("x-db: &db {type: tcp, address: \"db:5432\", <<: 5}\nchecks:\n  - {<<: *db, name: db}\n"), env(nil))
	expectErrors(t, err, `bad.yaml:1:47: checks[0] "db": <<: merge needs a mapping, not a single value`)
}

// A map field (headers, headers_file) merges an anchored mapping with <<, as every other mapping of the
// file does: the check's own keys win, then the first mapping of a list that sets a key; a merge of
// what is not a mapping is an error at it. It was read as a header named "<<" whose value is a mapping:
// "headers.<<: must be a single value, not a mapping".
func TestMergeIntoMapFields(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	mustWrite(t, auth, "Bearer s3cr3t-file\n")
	path := filepath.Join(dir, "healthgate.yaml")
	yaml := `x-common: &common
  Authorization: Bearer ${API_TOKEN}
  X-Team: platform
x-more: &more
  X-Team: other
  X-Region: eu
x-files: &files
  X-Auth-File: ${SECRETS_DIR}/auth
checks:
  - name: own-wins
    type: http
    url: https://api.internal/healthz
    headers:
      <<: *common
      X-Team: own
  - name: first-wins
    type: http
    url: https://api.internal/healthz
    headers: {<<: [*more, *common], Accept: application/json}
  - name: from-files
    type: http
    url: https://api.internal/healthz
    headers_file:
      <<: *files
`
	mustWrite(t, path, yaml)
	cfg, err := load(t, path, env(map[string]string{"API_TOKEN": "s3cr3t-token", "SECRETS_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"Authorization": "Bearer s3cr3t-token", "X-Team": "own"},
		{"Authorization": "Bearer s3cr3t-token", "X-Team": "other", "X-Region": "eu", "Accept": "application/json"},
		{"X-Auth-File": "Bearer s3cr3t-file"},
	}
	for i, w := range want {
		if got := field[map[string]string](t, cfg.Checks[i], "headers"); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: headers = %q; want %q", cfg.Checks[i].Name, got, w)
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	mustWrite(t, bad, "checks:\n  - name: api\n    type: http\n    url: https://api.internal/healthz\n    headers:\n      <<: s3cr3t\n")
	_, err = load(t, bad, env(nil))
	expectErrors(t, err, `bad.yaml:6:11: checks[0] "api": headers.<<: merge needs a mapping, not a single value`)
}

func TestExpand(t *testing.T) {
	e := env(map[string]string{"A": "alpha", "EMPTY": ""})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${UNSET:-}", want: ""},
		{in: "pa$$word", want: "pa$word"},
		{in: "pa$word", want: "pa$word"},
		{in: "${UNSET}", err: "environment variable UNSET is not set"},
		{in: "${A", err: "unterminated"},
		{in: "${1A}", err: "invalid variable name in the ${ at offset 0"},
		{in: "pa${s-s3cr3t}", err: "invalid variable name in the ${ at offset 2"},
		// A shell's ${NAME-default} or ${NAME?message} is said how healthgate writes a default.
		{in: "${DB_URL-s3cr3t}", err: "healthgate takes ${NAME} (an unset NAME is an error) and ${NAME:-default}"},
		{in: "${DB_URL?s3cr3t}", err: "healthgate takes ${NAME} (an unset NAME is an error) and ${NAME:-default}"},
		// Compose's ${NAME:?message}, its way to require a variable, read as a bad name alone.
		{in: "${DB_URL:?DB_URL must be set}", err: "not the shell's other forms (:?, ?, -, :+, +, :=, =)"},
		{in: "${DB_URL:=s3cr3t}", err: "not the shell's other forms"},
		// A default that holds ${...}, as in a shell or Compose: it used to end at the first '}', the
		// rest of the value kept as text ("alpha}", "${A}").
		{in: "${A:-${UNSET}}", want: "alpha"},
		{in: "${UNSET:-${A}}", want: "alpha"},
		{in: "${UNSET:-x-${EMPTY:-y}-z}/${A}", want: "x-y-z/alpha"},
		{in: "${UNSET:-pa$$s}", want: "pa$s"},
		{in: "${UNSET:-{a}}", want: "{a}"},
		{in: "${UNSET:-${UNSET2}}", err: "environment variable UNSET2 is not set"},
		{in: "x${UNSET:-${1s3cr3t}}", err: "invalid variable name in the ${ at offset 10"},
		{in: "${A:-${UNSET}", err: "unterminated ${ at offset 0"},
		// Each level of defaults is read again to find its '}': ten levels are taken, more refused (a value
		// of 30,000 levels, 190 KB, took 80 s to expand).
		{in: strings.Repeat("${UNSET:-", 11) + "x" + strings.Repeat("}", 11), want: "x"},
		{in: strings.Repeat("${UNSET:-", 12) + "x" + strings.Repeat("}", 12), err: "defaults nested more than 10 deep at the ${ at offset 90"},
		{in: strings.Repeat("${A:-", 12) + "x" + strings.Repeat("}", 12), want: "alpha"},
		// A whole value written $NAME, as a shell or Compose reads it, was taken as text: a URL that failed
		// to parse with nothing to say why. A variable that is set, or written as variables are, is
		// refused with how to write it; the message names no part of the value.
		{in: "$A", err: "a value written $NAME is not expanded: write ${NAME}"},
		{in: "$S3CR3T_URL", err: "a value written $NAME is not expanded"},
		{in: "$s3cr3t", want: "$s3cr3t"},
		{in: "$$A", want: "$A"},
		{in: "x$A", want: "x$A"},
		{in: "$A-b", want: "$A-b"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			data := "server:\n  listen: \"127.0.0.1:1\"\nchecks:\n  - {name: x, type: tcp, address: \"" + tc.in + "\"}\n"
			cfg, err := config.Parse("t.yaml", []byte(data), e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want %q", err, tc.err)
				}
				if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
					t.Errorf("err = %v: it shows what may be a password holding ${", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := field[string](t, cfg.Checks[0], "address"); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestFromEnvironment(t *testing.T) {
	cfg := config.FromEnvironment(env(map[string]string{"DATABASE_URL": "postgres://a@b/c", "REDIS_URL": "redis://r:6379/0"}))
	if len(cfg.Checks) != 2 || cfg.Checks[0].Name != "postgres" || cfg.Checks[1].Name != "redis" {
		t.Fatalf("checks = %+v", cfg.Checks)
	}
	if !cfg.Checks[0].Critical || cfg.Checks[0].Interval != config.DefaultInterval {
		t.Errorf("defaults not applied: %+v", cfg.Checks[0])
	}
	if got := cfg.Checks[0].Src.Origin("url"); got != "DATABASE_URL" {
		t.Errorf("origin = %q", got)
	}
	if errs := checks.Validate(cfg.Checks); len(errs) > 0 {
		t.Errorf("environment checks do not build: %v", errs)
	}
	if cfg := config.FromEnvironment(env(nil)); len(cfg.Checks) != 0 {
		t.Errorf("no variables: %d checks; want 0", len(cfg.Checks))
	}
}

func TestOrigin(t *testing.T) {
	data := "checks:\n" +
		"  - {name: a, type: postgres, url: \"${DATABASE_URL}\"}\n" +
		"  - {name: b, type: http, url: \"http://h/?api_key=${KEY}\"}\n" +
		"  - {name: c, type: tcp, address: \"h:1\"}\n"
	cfg, err := config.Parse("hg.yaml", []byte(data), env(map[string]string{"DATABASE_URL": "postgres://a/b", "KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"DATABASE_URL", "url (hg.yaml:3, uses KEY)", "address (hg.yaml:4)"} {
		field := "url"
		if i == 2 {
			field = "address"
		}
		if got := cfg.Checks[i].Src.Origin(field); got != want {
			t.Errorf("check %d: origin %q; want %q", i, got, want)
		}
	}
}

// TestSame: what a reload compares. Position in the file does not count; every value, and where a value
// came from, does.
func TestSame(t *testing.T) {
	env := func(k string) (string, bool) {
		return map[string]string{"A": "postgres://h/db", "B": "postgres://h/db"}[k], true
	}
	load := func(yaml string) config.Check {
		t.Helper()
		cfg, err := config.Parse("healthgate.yaml", []byte(yaml), env)
		if err != nil {
			t.Fatalf("%v", err)
		}
		return cfg.Checks[len(cfg.Checks)-1]
	}
	base := load("checks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s}\n")
	for _, tc := range []struct {
		name, yaml string
		same       bool
	}{
		{"moved, reformatted, commented", "# c\nchecks:\n  - {name: x, type: tcp, address: \"h:1\"}\n  - name: db # here\n    type: postgres\n    timeout: 1s\n    url: \"${A}\"\n", true},
		{"a default written out", "checks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s, interval: 5s}\n", true},
		{"a default changed", "defaults: {interval: 6s}\nchecks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s}\n", false},
		{"a value changed", "checks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 2s}\n", false},
		{"the same value from another variable", "checks:\n  - {name: db, type: postgres, url: \"${B}\", timeout: 1s}\n", false},
		{"critical", "checks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s, critical: false}\n", false},
		{"a kind's field added", "checks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s, query: SELECT 2}\n", false},
		{"the kind's value changed", "checks:\n  - {name: db, type: postgres, url: \"postgres://h/other\", timeout: 1s}\n", false},
		{"the kind's value written out, not from the variable", "checks:\n  - {name: db, type: postgres, url: \"postgres://h/db\", timeout: 1s}\n", false},
	} {
		if got := base.Same(load(tc.yaml)); got != tc.same {
			t.Errorf("%s: Same = %v; want %v", tc.name, got, tc.same)
		}
	}
}

// TestFingerprint: the reload poll's fingerprint changes with anything a reload would apply, and not
// with an edit that changes nothing: a comment or a blank line (which moves every line below it), keys
// reformatted or reordered (docs/design.md §11).
func TestFingerprint(t *testing.T) {
	env := func(k string) (string, bool) {
		return map[string]string{"A": "postgres://h/db", "B": "postgres://h/db"}[k], true
	}
	fingerprint := func(yaml string) [32]byte {
		t.Helper()
		cfg, err := config.Parse("healthgate.yaml", []byte(yaml), env)
		if err != nil {
			t.Fatalf("%v", err)
		}
		return cfg.Fingerprint()
	}
	const base = "server: {details: always}\ndefaults: {interval: 3s}\nchecks:\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s}\n  - {name: port, type: tcp, address: \"h:1\"}\n"
	want := fingerprint(base)
	for _, tc := range []struct {
		name, yaml string
		same       bool
	}{
		{"a comment on top", "# rotated on Tuesday\n\n" + base, true},
		{"reformatted, reordered, commented", "checks:\n  - name: db # the database\n    timeout: 1s\n    url: \"${A}\"\n    type: postgres\n\n  - {type: tcp, name: port, address: \"h:1\"}\ndefaults:\n  interval: 3s\nserver:\n  details: always\n", true},
		{"a check's value changed", strings.Replace(base, "timeout: 1s", "timeout: 2s", 1), false},
		{"a kind's value changed", strings.Replace(base, "h:1", "h:2", 1), false},
		{"the same value from another variable", strings.Replace(base, "${A}", "${B}", 1), false},
		{"a default changed", strings.Replace(base, "interval: 3s", "interval: 4s", 1), false},
		{"a server setting changed", strings.Replace(base, "details: always", "details: never", 1), false},
		{"the checks in another order", "server: {details: always}\ndefaults: {interval: 3s}\nchecks:\n  - {name: port, type: tcp, address: \"h:1\"}\n  - {name: db, type: postgres, url: \"${A}\", timeout: 1s}\n", false},
	} {
		if got := fingerprint(tc.yaml) == want; got != tc.same {
			t.Errorf("%s: same fingerprint = %v; want %v", tc.name, got, tc.same)
		}
	}
}

// TestSameSpecOrder: a kind's fields in another order, or merged in from an anchor, are the same.
func TestSameSpecOrder(t *testing.T) {
	load := func(yaml string) config.Check {
		t.Helper()
		cfg, err := config.Parse("healthgate.yaml", []byte(yaml), env(nil))
		if err != nil {
			t.Fatalf("%v", err)
		}
		return cfg.Checks[len(cfg.Checks)-1]
	}
	a := load("checks:\n  - {name: api, type: http, url: \"http://a/\", headers: {X: \"1\", Y: \"2\"}, expect_status: [200, 204]}\n")
	b := load("x-h: &h {headers: {Y: \"2\", X: \"1\"}}\nchecks:\n  - {<<: *h, expect_status: [200, 204], name: api, url: \"http://a/\", type: http}\n")
	if !a.Same(b) {
		t.Error("the same kind fields in another order, one merged in: not Same")
	}
	if c := load("checks:\n  - {name: api, type: http, url: \"http://a/\", headers: {X: \"1\", Y: \"3\"}, expect_status: [200, 204]}\n"); a.Same(c) {
		t.Error("a header value changed: still Same")
	}
}

// TestSpecAdopt: a reload keeps a field as the running configuration has it (reload.go keeps a check's
// migrations): set, replaced or left out, and the check is then Same as the running one.
func TestSpecAdopt(t *testing.T) {
	load := func(fields string) config.Check {
		t.Helper()
		cfg, err := config.Parse("healthgate.yaml", []byte("checks:\n  - {name: db, type: postgres, url: \"postgres://h/db\""+fields+"}\n"), env(nil))
		if err != nil {
			t.Fatalf("%v", err)
		}
		return cfg.Checks[0]
	}
	const v1, v2 = ", migrations: {tool: rails, version: \"1\"}", ", migrations: {tool: rails, version: \"2\"}"
	for _, tc := range []struct {
		name, running, next string
		changed             bool
	}{
		{name: "the same block", running: v1, next: v1 + ", query: SELECT 1"},
		{name: "neither has one", running: "", next: ", query: SELECT 1"},
		{name: "another version", running: v1, next: v2 + ", query: SELECT 1", changed: true},
		{name: "a block added", running: "", next: v2 + ", query: SELECT 1", changed: true},
		{name: "the block removed", running: v1, next: ", query: SELECT 1", changed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			running, next := load(tc.running), load(tc.next)
			spec, changed := next.Spec.Adopt(running.Spec, "migrations")
			if changed != tc.changed {
				t.Errorf("changed = %v; want %v", changed, tc.changed)
			}
			got := next
			got.Spec = spec
			if want := load(tc.running + ", query: SELECT 1"); !got.Same(want) {
				t.Errorf("after Adopt: not the running block with the new fields")
			}
			if again := load(tc.next); !next.Same(again) {
				t.Error("Adopt changed the Spec it was called on")
			}
		})
	}
}

// TestErrorsNameTheColumn: an error about a field is placed at the field's key, line and column, whether
// the decoder found it (an unknown key, a bad duration) or validation did after decoding (a timeout not
// below the interval, a field that does not apply to the kind): one way of writing a position, so an
// editor's "go to file:line:column" lands on the key either way.
func TestErrorsNameTheColumn(t *testing.T) {
	for _, file := range []string{"invalid-many.yaml", "invalid-many-in-one-check.yaml"} {
		_, err := load(t, filepath.Join("testdata", file), testEnv)
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("%s: got %v; want errors", file, err)
		}
		for _, e := range errs {
			if e.Line > 0 && e.Field != "" && e.Column == 0 {
				t.Errorf("%s: %q names a line but not the column of %s", file, e, e.Field)
			}
		}
	}
}

// TestNullIsUnwritten: a key with no value (critical:, or ~) is a key not written: its default applies,
// as null means in Kubernetes manifests and Helm values. Read as false, a blank critical: made a
// critical check non-critical (check exited 0 on its failure); a blank shutdown_delay: dropped the drain.
func TestNullIsUnwritten(t *testing.T) {
	yaml := `server:
  shutdown_delay:
defaults:
  interval: ~
checks:
  - {name: a, type: tcp, address: "db:5432", critical: ~}
  - name: b
    type: tcp
    address: db:5432
    critical:
    timeout:
`
	cfg, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.ShutdownDelay != config.DefaultShutdownDelay {
		t.Errorf("shutdown_delay = %v; want the default %v", cfg.Server.ShutdownDelay, config.DefaultShutdownDelay)
	}
	for _, c := range cfg.Checks {
		if !c.Critical || c.Interval != config.DefaultInterval || c.Timeout == 0 {
			t.Errorf("check %s: critical %v, interval %v, timeout %v; want the defaults (true, %v, non-zero)", c.Name, c.Critical, c.Interval, c.Timeout, config.DefaultInterval)
		}
	}
}

// TestNullBesideItsFile: a key with no value beside its NAME_file (the shape a Helm template renders for
// a value left unset: `password:` and `password_file: /run/secrets/pw`) is not written, and the file
// gives it; a NAME_file with no value reads nothing; a header with no value is not sent. Both at once read
// "required" and "set together with ...; use one of them", and a null header went out as the text "null".
func TestNullBesideItsFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	mustWrite(t, pw, "s3cr3t-pw\n")
	url := filepath.Join(dir, "url")
	mustWrite(t, url, "postgres://app:s3cr3t@db/app\n")
	path := filepath.Join(dir, "healthgate.yaml")
	mustWrite(t, path, `server:
  details: token
  details_token:
  details_token_file: `+pw+`
checks:
  - {name: a, type: postgres, url: ~, url_file: `+url+`}
  - {name: b, type: postgres, url_file: `+url+`, url: }
  - {name: c, type: postgres, url: "postgres://db/app", url_file: ~}
  - name: d
    type: memcached
    address: db:11211
    username: app
    password:
    password_file: `+pw+`
  - {name: e, type: memcached, address: "db:11211", username: app, password_file: `+pw+`, password: null}
  - {name: f, type: memcached, address: "db:11211", username: app, password: s3cr3t-pw, password_file: ~}
  - name: g
    type: http
    url: http://db/healthz
    headers: {X-A: null, X-B: , X-C: ~, X-D: "", Authorization: ~}
    headers_file: {Authorization: `+pw+`, X-E: ~}
  - name: h
    type: http
    url: http://db/healthz
    headers:
    headers_file: {Authorization: `+pw+`}
`)
	cfg, err := load(t, path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.DetailsToken != "s3cr3t-pw" {
		t.Errorf("details_token = %q; want the file's", cfg.Server.DetailsToken)
	}
	for i, want := range []string{"postgres://app:s3cr3t@db/app", "postgres://app:s3cr3t@db/app", "postgres://db/app"} {
		if got := field[string](t, cfg.Checks[i], "url"); got != want {
			t.Errorf("check %s: url = %q; want %q", cfg.Checks[i].Name, got, want)
		}
	}
	for _, c := range cfg.Checks[3:6] {
		if got := field[string](t, c, "password"); got != "s3cr3t-pw" {
			t.Errorf("check %s: password = %q; want s3cr3t-pw", c.Name, got)
		}
	}
	headers := field[map[string]string](t, cfg.Checks[6], "headers")
	if want := map[string]string{"X-D": "", "Authorization": "s3cr3t-pw"}; !maps.Equal(headers, want) {
		t.Errorf("headers = %q; want %q (no value: not sent)", headers, want)
	}
	if errs := checks.Validate(cfg.Checks[7:]); len(errs) > 0 {
		t.Errorf("a blank headers: beside headers_file: %v", errs)
	}
	if headers := field[map[string]string](t, cfg.Checks[7], "headers"); !maps.Equal(headers, map[string]string{"Authorization": "s3cr3t-pw"}) {
		t.Errorf("headers = %q beside a blank headers:; want headers_file's", headers)
	}
}

// TestFileSuffixOnlyForText: x_file reads a text field's value from a file; on a field that is not text it
// says so, where it said "critical: unknown field (did you mean "critical"?)" of critical_file.
func TestFileSuffixOnlyForText(t *testing.T) {
	yaml := "checks:\n  - {name: a, type: tcp, address: \"db:5432\", critical_file: /run/x, interval_file: /run/y}\n"
	_, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	expectErrors(t, err,
		`f.yaml:2:46: checks[0] "a": critical_file: critical cannot be read from a file: write its value`,
		`f.yaml:2:69: checks[0] "a": interval_file: interval cannot be read from a file`,
	)
}

// TestFileSuffixNotInKindMappings: a mapping within a kind's fields (migrations, tls) takes no NAME_file, and
// says so of table_file, where it said "table_file: unknown field (did you mean "table_file"?)"; a mistyped
// key there is not offered a file form it cannot have.
func TestFileSuffixNotInKindMappings(t *testing.T) {
	yaml := `checks:
  - name: db
    type: postgres
    url: postgres://db/app
    migrations: {tool: goose, version: "3", table_file: /run/t, tabel_fiel: x}
    tls: {server_name_file: /run/s}
`
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, path, testEnv)
	expectErrors(t, err,
		`f.yaml:5:45: checks[0] "db".migrations: table_file: table cannot be read from a file here: write its value (a ${VAR} works too)`,
		`f.yaml:5:65: checks[0] "db".migrations: tabel_fiel: unknown field`,
		`f.yaml:6:11: checks[0] "db".tls: server_name_file: server_name cannot be read from a file here`,
	)
	if strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a file form offered where there is none:\n%v", err)
	}
}

// TestMistypedFileKey: a kind's field written as NAME_file is named as written, with a suggestion in the
// same form, and a file is blamed only for a field the check's kind has. pasword_file was reported as
// "pasword: unknown field", and a mistyped urll_file naming a missing file as "cannot read", not as the
// unknown field it is (fixing the path would only have led to that error, a round later).
func TestMistypedFileKey(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := filepath.Join(dir, "url")
	if err := os.WriteFile(url, []byte("postgres://app:s3cr3t@db/app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	path := filepath.Join(dir, "healthgate.yaml")
	data := fmt.Sprintf(`checks:
  - {name: a, type: postgres, url: "postgres://db/app", pasword_file: %[1]s}
  - {name: b, type: http, urll_file: %[2]s}
  - {name: c, type: tcp, address: "db:5432", url_file: %[2]s}
  - {name: d, type: mysq, url_file: %[2]s, pasword_file: %[1]s}
  - {name: e, type: tcp, address_file: %[2]s}
  - {name: f, type: postgres, url_file: %[3]s, pasword: x}
  - {name: g, type: mysql, url: mysql://db/app, writable: true, pasword: x}
  - {name: h, type: http, url: "http://api/", header_file: {Authorization: %[1]s}}
`, secret, missing, url)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, path, testEnv)
	expectErrors(t, err,
		`:2:57: checks[0] "a": pasword_file: unknown field`,
		`:3:27: checks[1] "b": urll_file: unknown field (did you mean "url_file"?)`,
		`:4:46: checks[2] "c": url_file: does not apply to a tcp check`,
		`:5:15: checks[3] "d": type: unknown type "mysq"`,
		`checks[3] "d": url_file: cannot read `+missing+`: no such file`,
		`checks[3] "d": pasword_file: unknown field (did you mean "password_file"?)`,
		`checks[4] "e": address_file: cannot read `+missing+`: no such file`,
		// Not "an unknown field after the value of url": a value read from a file, or one that another
		// field follows, was not cut at a ','.
		`checks[5] "f": pasword: unknown field`,
		`checks[6] "g": pasword: unknown field`,
		`checks[7] "h": header_file: unknown field (did you mean "headers_file"?)`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("the secret file's content is shown: %v", err)
	}
}

// TestMisplacedField: a field written in the wrong section says where it belongs; inside a check's tls or
// migrations mapping, a check's own field was offered as its own suggestion ("interval: unknown field (did
// you mean "interval"?)"), and server and defaults had no word for one another's fields.
func TestMisplacedField(t *testing.T) {
	yaml := `server:
  interval: 5s
defaults:
  listen: ":8080"
  critical: false
checks:
  - name: db
    type: postgres
    url: postgres://db/app
    tls: {interval: 1s}
    migrations: {tool: goose, version: "1", timeout: 1s}
    shutdown_delay: 3s
`
	cfg, err := config.Parse("f.yaml", []byte(yaml), env(nil))
	var errs config.Errors
	errors.As(err, &errs)
	if cfg != nil { // the kind's fields: tls, migrations
		errs = append(errs, checks.Validate(cfg.Checks)...)
	}
	for _, want := range []string{
		`server: interval: unknown field (interval is a field of defaults, or of each check)`,
		`defaults: listen: unknown field (listen is a field of server)`,
		`defaults: critical: unknown field (critical is a field of each check)`,
		`checks[0] "db": shutdown_delay: unknown field (shutdown_delay is a field of server)`,
		`checks[0] "db".tls: interval: unknown field (interval is a field of defaults, or of each check)`,
		`checks[0] "db".migrations: timeout: unknown field (timeout is a field of defaults, or of each check)`,
	} {
		if !strings.Contains(errs.Err().Error(), want) {
			t.Errorf("no error %q in:\n%v", want, errs.Err())
		}
	}
}

// TestSuggestionSwappedLetters: two neighbouring letters swapped, the commonest typo, count as one edit:
// ulr was as far from tls as from url, and the suggestion was tls.
func TestSuggestionSwappedLetters(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"ulr", "url"}, {"adrdess", "address"}, {"itnerval", "interval"}, {"tiemout", "timeout"}, {"urll", "url"}, {"tsl", "tls"},
	} {
		if got := config.Closest(tc.name, []string{"address", "interval", "timeout", "tls", "url", "writable"}, 3); got != tc.want {
			t.Errorf("Closest(%q) = %q; want %q", tc.name, got, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	data := "checks:\n  - {name: db, type: postgres, ulr: \"postgres://db/app\"}\n  - {name: a, type: tcp, address: \"db:5432\", itnerval: 5s}\n" +
		"  - {name: b, type: postgres, url_fiel: /run/secrets/url}\n  - {name: c, type: http, url: \"http://api/\", headers_flie: {A: /run/a}}\n" +
		"  - {name: d, type: postgres, url: \"postgres://db/app\", migrations: {tol: goose, version: \"3\"}}\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, path, testEnv)
	// A field that a suggestion names is not also "required": one error per mistake, at the typo's line
	// (url: required beside ulr was two).
	expectErrors(t, err, `checks[0] "db": ulr: unknown field (did you mean "url"?)`,
		`checks[1] "a": itnerval: unknown field (did you mean "interval"?)`,
		`checks[2] "b": url_fiel: unknown field (did you mean "url_file"?)`,
		`checks[3] "c": headers_flie: unknown field (did you mean "headers_file"?)`,
		`checks[4] "d".migrations: tol: unknown field (did you mean "tool"?)`)
}

// TestGRPCListenClash: grpc_listen must not bind the port listen binds, written the same way or not (a
// wildcard :8080 binds 127.0.0.1:8080 too); serve --validate said OK and serve then failed to listen.
func TestGRPCListenClash(t *testing.T) {
	for _, tc := range []struct {
		listen, grpc string
		clash        bool
	}{
		{"127.0.0.1:18411", ":18411", true},
		{":8080", "0.0.0.0:8080", true},
		{"[::]:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{":8080", ":9090", false},
		{":0", ":0", false},
	} {
		yaml := fmt.Sprintf("server: {listen: %q, grpc_listen: %q}\nchecks: []\n", tc.listen, tc.grpc)
		cfg, err := config.Parse("f.yaml", []byte(yaml), env(nil))
		if err == nil {
			err = cfg.ValidateServer().Err()
		}
		if got := err != nil && strings.Contains(err.Error(), "grpc_listen: must differ from listen"); got != tc.clash {
			t.Errorf("listen %s, grpc_listen %s: error %v; want a clash %v", tc.listen, tc.grpc, err, tc.clash)
		}
	}
}

// TestChartMinTiming fails when the chart's copy of the shortest interval and timeout (healthgate.timing in
// _helpers.tpl, which refuses at `helm template` what Validate refuses at start) differs from MinInterval and
// MinTimeout: a config the chart lets through below them leaves the pods crash-looping (exit 2).
func TestChartMinTiming(t *testing.T) {
	data, err := os.ReadFile("../charts/healthgate/templates/_helpers.tpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		define string
		want   time.Duration
	}{
		{"healthgate.minIntervalMS", config.MinInterval},
		{"healthgate.minTimeoutMS", config.MinTimeout},
	} {
		m := regexp.MustCompile(`define "` + regexp.QuoteMeta(tt.define) + `" -}}([0-9]+){{`).FindSubmatch(data)
		if m == nil {
			t.Errorf(`_helpers.tpl: no define %q of the form {{- define "..." -}}MILLISECONDS{{- end -}}`, tt.define)
			continue
		}
		if got, _ := strconv.Atoi(string(m[1])); time.Duration(got)*time.Millisecond != tt.want {
			t.Errorf("_helpers.tpl %s = %sms, want %s", tt.define, m[1], tt.want)
		}
	}
}

// mustWrite writes data to the file at path, or fails the test.
func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRequiredFromEmptyVariable: a field written as a variable that is set but empty (a Secret's key
// with no value) read "url: required", as if the field were missing from the file; the error names the
// variable, never a value.
func TestRequiredFromEmptyVariable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, "checks:\n  - {name: db, type: postgres, url: \"${DB_URL}\"}\n  - {name: cache, type: redis, url: \"${CACHE_URL:-}\"}\n")
	_, err := load(t, path, env(map[string]string{"DB_URL": ""}))
	expectErrors(t, err, `:2:32: checks[0] "db": url: required: a postgres:// URL or a key=value DSN (written with DB_URL, which is empty here)`,
		`:3:32: checks[1] "cache": url: required: a redis:// or rediss:// URL (written with CACHE_URL, which is empty here)`)
	// Blanks alone are no URL: pgx read libpq's defaults, the local socket, and the check passed against
	// whatever listened there.
	mustWrite(t, path, "checks:\n  - {name: db, type: postgres, url: \" \"}\n")
	_, err = load(t, path, env(nil))
	expectErrors(t, err, `:2:32: checks[0] "db": url: required: a postgres:// URL or a key=value DSN`)
}

// TestNegativeDuration: a duration below zero (-1s) is said to be negative: it was reported as
// `invalid duration "-1s": use a number with a unit, such as 500ms, 5s or 1m30s`, and it has one.
func TestNegativeDuration(t *testing.T) {
	data := "defaults:\n  interval: -1s\nchecks:\n  - {name: db, type: tcp, address: \"db:5432\", timeout: -5ms}\n"
	_, err := config.Parse("neg.yaml", []byte(data), env(nil))
	expectErrors(t, err,
		`neg.yaml:2:13: defaults: interval: must not be negative (got "-1s")`,
		`checks[0] "db": timeout: must not be negative (got "-5ms")`,
	)
	if strings.Contains(err.Error(), "use a number with a unit") {
		t.Errorf("the hint for a negative duration asks for a unit:\n%v", err)
	}
}

// TestIntegerOutOfRange: an integer past what an int holds (min_pods: 99999999999999999999) is said to
// be out of range, and what the range is: it was "invalid integer", as a word is, which said nothing of
// what was wrong with a number. In a kind's field (expect_status) too.
func TestIntegerOutOfRange(t *testing.T) {
	data := `fleet: {peers: "a:1", min_pods: 99999999999999999999}
checks:
  - {name: db, type: tcp, address: "db:5432", failure_threshold: -99999999999999999999, success_threshold: two}
  - {name: api, type: http, url: "http://api/", expect_status: [200, 99999999999999999999]}
`
	path := filepath.Join(t.TempDir(), "range.yaml")
	mustWrite(t, path, data)
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`range.yaml:1:33: fleet: min_pods: "99999999999999999999" is out of range: an integer is from -9223372036854775808 to 9223372036854775807`,
		`range.yaml:3:66: checks[0] "db": failure_threshold: "-99999999999999999999" is out of range: an integer is from -9223372036854775808 to 9223372036854775807`,
		`range.yaml:3:108: checks[0] "db": success_threshold: invalid integer "two"`,
		`range.yaml:4:70: checks[1] "api": expect_status[1]: "99999999999999999999" is out of range: an integer is from`,
	)
}

// TestDurationTooLong: a duration written with its unit but longer than a time.Duration holds
// (9999999h) is said to be too long: it was "use a number with a unit", which it has.
func TestDurationTooLong(t *testing.T) {
	data := "defaults:\n  interval: 9999999h\nchecks:\n  - {name: db, type: tcp, address: \"db:5432\", timeout: 1.5.5s}\n"
	_, err := config.Parse("long.yaml", []byte(data), env(nil))
	expectErrors(t, err,
		`long.yaml:2:13: defaults: interval: "9999999h" is longer than a duration holds (about 292 years, 2562047h)`,
		`checks[0] "db": timeout: invalid duration "1.5.5s": use a number with a unit`,
	)
	for s, want := range map[string]bool{"9999999h": true, "2562048h": true, "+99999999999999m": true, "2562047h": false, "1.5.5s": false, "h": false, "abc": false, "99999999999": false} {
		if got := config.DurationTooLong(s); got != want {
			t.Errorf("DurationTooLong(%q) = %v; want %v", s, got, want)
		}
	}
}

// TestUnknownFieldsBesideABadType: a check whose type is missing or unknown still has its keys that no
// kind has reported, in the same run: a typo in the type key itself (tipe: tcp) read only as "type:
// required", and urll beside type: postgress came up once the type was fixed.
func TestUnknownFieldsBesideABadType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `checks:
  - name: a
    tipe: tcp
    address: "a:1"
  - name: b
    type: postgress
    urll: postgres://db/app
    writable: true
`)
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`:3:5: checks[0] "a": tipe: unknown field (did you mean "type"?)`,
		`:6:5: checks[1] "b": type: unknown type "postgress" (did you mean "postgres"?)`,
		`:7:5: checks[1] "b": urll: unknown field (did you mean "url"?)`,
	)
}

// TestUnknownFieldInAnotherCase: a field written in another case (URL, Interval, TLS's CA_File) is
// suggested as the field it is: URL, three edits from url, had no did-you-mean.
func TestUnknownFieldInAnotherCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `Checks: []
checks:
  - name: api
    type: http
    URL: https://api/
    url: https://api/
    Interval: 5s
    tls: {CA_FILE: /etc/ca.pem}
  - name: b
    TYPE: tcp
`)
	_, err := load(t, path, env(nil))
	expectErrors(t, err,
		`:1:1: Checks: unknown field (did you mean "checks"?)`,
		`:5:5: checks[0] "api": URL: unknown field (did you mean "url"?)`,
		`:7:5: checks[0] "api": Interval: unknown field (did you mean "interval"?)`,
		`:8:11: checks[0] "api".tls: CA_FILE: unknown field (did you mean "ca_file"?)`,
		`:10:5: checks[1] "b": TYPE: unknown field (did you mean "type"?)`,
	)
}

// TestNameThatHoldsAURL: a URL written as a check's name (or a ${VAR} that gives one) is no valid name,
// and is not shown: its password was quoted in the name's error and in the path of every error about
// the check, as --only already refuses to quote such a name.
func TestNameThatHoldsAURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `checks:
  - name: postgres://app:s3cr3t-pw@db/app
    type: tcp
    address: "db:5432"
    timeout: 10s
  - name: ${NAME}
    type: tcp
    address: "db:5432"
  - name: My DB
    type: tcp
    address: "db:5432"
`)
	_, err := load(t, path, env(map[string]string{"NAME": "postgres://app:s3cr3t-env@db/app"}))
	expectErrors(t, err,
		`:2:5: checks[0]: name: not a valid name, and not shown: it may hold a secret`,
		`:5:5: checks[0]: timeout: timeout (10s) must be shorter than interval (5s)`,
		`:6:5: checks[1] "${NAME}": name: not a valid name, and not shown`,
		`:9:5: checks[2] "My DB": name: "My DB" is not a valid name`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the secret:\n%v", err)
	}
	// Nor does fleet.timeout's error, which names the shared check it must stay under.
	mustWrite(t, path, "fleet:\n  peers: \"10.0.0.1:8080\"\n  timeout: 5s\nchecks:\n  - {name: \"postgres://app:s3cr3t-pw@db/app\", type: tcp, address: \"db:5432\", scope: shared}\n")
	_, err = load(t, path, env(nil))
	expectErrors(t, err,
		`:3:3: fleet: timeout: 5s must be shorter than the interval (5s) of shared check checks[0]`,
		`:5:6: checks[0]: name: not a valid name, and not shown`,
	)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("an error shows the secret:\n%v", err)
	}
}

// TestNameOrTypeThatFailedIsNotRequired: a name or a type that was written but did not decode (a list,
// an unset variable) is reported once, as it failed: it was also "required", and for an unset
// variable "required (written with UNSET, which is empty here)", which it is not.
func TestNameOrTypeThatFailedIsNotRequired(t *testing.T) {
	data := "checks:\n  - name: [db]\n    type: [tcp]\n    address: \"db:5432\"\n  - name: ${UNSET}\n    type: ${UNSET}\n    address: \"db:5432\"\n"
	_, err := config.Parse("failed.yaml", []byte(data), env(nil))
	expectErrors(t, err,
		`failed.yaml:2:11: checks[0]: name: must be a single value, not a list`,
		`failed.yaml:3:11: checks[0]: type: must be a single value, not a list`,
		`failed.yaml:5:11: checks[1] "${UNSET}": name: environment variable UNSET is not set`,
		`failed.yaml:6:11: checks[1] "${UNSET}": type: environment variable UNSET is not set`,
	)
}

// TestEmptyFilePath: a *_file field whose path is empty (written "", or a ${VAR} that is empty) says so:
// it read "cannot read : no such file".
func TestEmptyFilePath(t *testing.T) {
	data := `checks:
  - {name: a, type: http, url_file: ""}
  - {name: b, type: http, url_file: "${SECRET_PATH}"}
  - {name: c, type: http, url: "http://c/", headers_file: {Authorization: ""}}
`
	// A kind's field read from a file is reported by the kind (Spec.Unread): Parse, then the kinds.
	cfg, err := config.Parse("empty-path.yaml", []byte(data), env(map[string]string{"SECRET_PATH": ""}))
	var errs config.Errors
	errors.As(err, &errs)
	if cfg != nil {
		errs = append(errs, checks.Validate(cfg.Checks)...)
	}
	expectErrors(t, errs.Err(),
		`empty-path.yaml:2:37: checks[0] "a": url_file: must be a file path, not empty`,
		`empty-path.yaml:3:37: checks[1] "b": url_file: must be a file path, not empty (written with SECRET_PATH, which is empty here)`,
		`empty-path.yaml:4:75: checks[2] "c": headers_file.Authorization: must be a file path, not empty`,
	)
	// Inspect reads no file, and takes every ${VAR} as empty: no error about that.
	if _, err := config.Inspect("empty-path.yaml", []byte(data)); err != nil && strings.Contains(err.Error(), "file path") {
		t.Errorf("Inspect: %v", err)
	}
}

// TestEmptySecretFile: a file that holds nothing (an empty Secret key, or only a newline) is refused at its
// NAME_file, saying so: it read as the field not written ("url: required", "username: needs a password
// (... or password_file)" of a password_file given), or went out as an empty Authorization header.
func TestEmptySecretFile(t *testing.T) {
	dir := t.TempDir()
	empty, newline := filepath.Join(dir, "empty"), filepath.Join(dir, "newline")
	mustWrite(t, empty, "")
	mustWrite(t, newline, " \r\n") // blanks only: a blank postgres URL is libpq's defaults, the local socket
	data := `server:
  details: token
  details_token_file: ` + empty + `
checks:
  - {name: a, type: postgres, url_file: ` + newline + `}
  - {name: b, type: memcached, address: "db:11211", username: app, password_file: ` + empty + `}
  - {name: c, type: http, url: "http://c/", headers_file: {Authorization: ` + empty + `}}
`
	path := filepath.Join(dir, "healthgate.yaml")
	mustWrite(t, path, data)
	_, err := load(t, path, env(nil))
	for _, want := range []string{
		`server: details_token_file: ` + empty + ` is empty, or holds only blanks (a Secret's key with no value?)`,
		`checks[0] "a": url_file: ` + newline + ` is empty`,
		`checks[1] "b": password_file: ` + empty + ` is empty`,
		`checks[2] "c": headers_file.Authorization: ` + empty + ` is empty`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no error %q in:\n%v", want, err)
		}
	}
	for _, not := range []string{"required", "needs a password"} {
		if err != nil && strings.Contains(err.Error(), not) {
			t.Errorf("an empty file read as a field not written (%q):\n%v", not, err)
		}
	}
}

// TestFindValidatesTheEnvironment: without a file, the checks DATABASE_URL and REDIS_URL make are
// validated by their kinds as a file's are: `serve --validate` said "configuration OK" of a DATABASE_URL
// that `serve` then refused (exit 2), and never showed the password while doing so.
func TestFindValidatesTheEnvironment(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./healthgate.yaml
	e := env(map[string]string{"DATABASE_URL": "postgres://app:s3cr3t@db:notaport/app", "REDIS_URL": "redis://cache:6379/0"})
	_, err := config.Find("", e, config.FindOptions{Kinds: checks.Validate, Server: true})
	expectErrors(t, err, `DATABASE_URL: "postgres": url: not a valid postgres URL`)
	if strings.Contains(strings.ToLower(err.Error()), "s3cr3t") {
		t.Errorf("the error shows the password: %v", err)
	}
	cfg, err := config.Find("", env(map[string]string{"REDIS_URL": "redis://cache:6379/0"}), config.FindOptions{Kinds: checks.Validate, Server: true})
	if err != nil || len(cfg.Checks) != 1 {
		t.Errorf("a valid REDIS_URL: %v, %+v", err, cfg)
	}
}

// TestDuplicateNameByAlias: a check repeated by an alias (- *db) has the name of the one it repeats;
// the error was at the first check's name, "duplicate name "db" (first used on line 3)" on line 3
// itself, and never pointed at the alias that made it.
func TestDuplicateNameByAlias(t *testing.T) {
	data := "checks:\n  - &db\n    name: db\n    type: tcp\n    address: \"db:5432\"\n  - name: cache\n    type: tcp\n    address: \"cache:6379\"\n  - *db\n"
	_, err := config.Parse("alias.yaml", []byte(data), env(nil))
	expectErrors(t, err, `alias.yaml:9:5: checks[2] "db": name: duplicate name "db": an alias repeats the check on line 2 whole`)
}

// TestTabIndentationSaysSo: a key indented with a tab is, for yaml.v3, "found character that cannot
// start any token", which does not say what to change; the error now says the line is indented with a
// tab.
func TestTabIndentationSaysSo(t *testing.T) {
	_, err := config.Parse("tab.yaml", []byte("server:\n\tlisten: \":8080\"\nchecks: []\n"), env(nil))
	expectErrors(t, err, "tab.yaml:2: invalid YAML: found character that cannot start any token (the line is indented with a tab: YAML indents with spaces only)")
	_, err = config.Parse("quote.yaml", []byte("checks:\n  - name: db\n    type: tcp\n    address:\t\"db:5432\n"), env(nil))
	if err == nil || strings.Contains(err.Error(), "tab") {
		t.Errorf("a tab after a key is no indentation: %v", err)
	}
}

// TestEmptyVariableInANumber: a duration, a number or a boolean written with a variable that is empty
// says which variable, in the common fields and in a kind's: it read `invalid duration ""`,
// `invalid boolean ""`.
func TestEmptyVariableInANumber(t *testing.T) {
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	mustWrite(t, path, `defaults:
  interval: ${PROBE_INTERVAL}
  failure_threshold: ${FAILS}
checks:
  - name: db
    type: postgres
    url: postgres://db/app
    writable: "${RW}"
    max_replication_lag: ${LAG:-}
    timeout: 1s
`)
	_, err := load(t, path, env(map[string]string{"PROBE_INTERVAL": "", "FAILS": " ", "RW": ""}))
	expectErrors(t, err,
		`:2:13: defaults: interval: empty (written with PROBE_INTERVAL, which is empty here)`,
		`:3:22: defaults: failure_threshold: empty (written with FAILS, which is empty here)`,
		`:8:15: checks[0] "db": writable: empty (written with RW, which is empty here)`,
		`:9:26: checks[0] "db": max_replication_lag: empty (written with LAG, which is empty here)`,
	)
}
