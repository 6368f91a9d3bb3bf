package checks

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/healthgate/healthgate/config"
)

// Redaction works on structure, never by searching for the secret's text (docs/design.md §8): a password
// such as "postgres" is also an ordinary word, and replacing it everywhere would both mangle messages
// and give the secret away by its absence.

const redacted = "xxxxx"

// dsnStart recognises a libpq key=value string by its first key.
var dsnStart = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// isSecretName: a query parameter or DSN key whose value is a secret (the one list is config.SecretWords).
func isSecretName(name string) bool { return config.IsSecretName(name) }

// RedactURL returns raw with its password and secret-looking query parameters replaced. A postgres
// key=value DSN is handled too. A string that cannot be parsed is replaced whole: better an unhelpful
// message than a leaked secret.
func RedactURL(raw string) string { return redactURL(raw, maxNesting) }

// maxNesting bounds how deep values inside values are redacted (redactValues): a URL inside a
// parameter of a URL, a few levels at most in practice. Deeper, a value is replaced whole, so that a
// string of thousands of nested queries (a hostile Location header) costs no more than its length.
const maxNesting = 3

func redactURL(raw string, depth int) string {
	if raw == "" {
		return ""
	}
	if !strings.Contains(raw, "://") {
		switch {
		case dsnStart.MatchString(raw):
			return redactDSN(raw)
		case strings.HasPrefix(raw, "/") && strings.ContainsAny(raw, "?#"):
			// a relative reference, as a Location header may give: /login?next=/&session=...
		case strings.Contains(raw, "/") && strings.ContainsAny(raw, "@("):
			return redactMySQLDSN(raw, depth)
		case strings.ContainsAny(raw, "@?="):
			return redacted
		default:
			return raw // host:port or a socket path
		}
	}
	u, err := url.Parse(raw)
	if err != nil || cutUserinfo(u) {
		return redacted
	}
	return redactParsed(u, depth).String()
}

// cutUserinfo reports whether u may hold a password or a token that an unescaped '/', '?' or '#' cut
// short: an '@' after the host, where the user information could have ended. Read as net/url reads it,
// the secret's start is then the port (postgres://app:12/34@db), the host (https://TOKEN/part@api,
// https://app:@pa#ss@api) or a path (/x://app:pass@db), and its end the path, the query or the fragment
// up to the '@'. What the user meant cannot be told, so nothing of it is shown; a URL with an '@' in
// its path or query (https://api/users/@me) pays with its target shown as xxxxx. A relative reference
// has no user information to cut (/users/@me?page=2 is kept).
func cutUserinfo(u *url.URL) bool {
	rest := u.Opaque + u.Path + "?" + u.RawQuery + "#" + u.Fragment
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return false
	}
	return u.Scheme != "" || u.Host != "" || strings.Contains(rest[:at], ":")
}

// cutAtQuery reports whether u has an '@' in its query or fragment and no user information: an unescaped
// '?' or '#' in a password or a token ended the user information, and left its start as the host or
// the port and its rest, up to the '@', in the query or the fragment (redis://default:12?s3cr3t@cache,
// mqtt://TOKEN#part@broker), which the dial's errors and the drivers' messages quote.
func cutAtQuery(u *url.URL) bool {
	return u.User == nil && strings.Contains(u.RawQuery+"#"+u.Fragment, "@")
}

// cutAtQueryWords is the error of a URL cutAtQuery refuses.
const cutAtQueryWords = "an '@' after the host, in the query or the fragment: percent-encode the characters @ : / ? # in the user and password (@ is %40, ? is %3F, # is %23), and an '@' of a parameter's value"

func redactParsed(u *url.URL, depth int) *url.URL {
	c := *u
	if c.User != nil {
		pass, has := c.User.Password()
		switch {
		case config.IsTokenUserScheme(c.Scheme) && pass == "":
			// https://TOKEN@host, nats://TOKEN@host, mqtt://TOKEN@host: over HTTP, NATS and MQTT a
			// lone user name is a token, and so it is with an empty password (https://TOKEN:@api,
			// curl -u TOKEN: as Stripe's API keys are sent). A database user name (postgres://app@db)
			// helps an operator and is kept.
			c.User = url.User(redacted)
		case has:
			c.User = url.UserPassword(c.User.Username(), redacted)
		}
	}
	if strings.Contains(c.Path, ";") {
		c.Path, c.RawPath = redactPathParams(c.Path), ""
	}
	if c.Scheme == "http" || c.Scheme == "https" || c.Scheme == "" {
		if path, cut := redactTokenSegments(c.Path); cut {
			c.Path, c.RawPath = path, ""
		}
	}
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery, depth)
	}
	c.Fragment, c.RawFragment = "", ""
	return &c
}

// An HTTP API may take its key as a path segment: a Slack or Discord webhook (/services/T0/B0/TOKEN),
// Telegram's /botID:TOKEN/getMe, a status page's /api/KEY/health. No name marks it, so a segment is
// taken for a credential by its shape: at least minTokenLen characters of a token's alphabet
// (letters, digits, - _ : + = ~), with at least 3 letters and 3 digits, and an unbroken run (between
// '-' and '_') of at least minTokenRun characters. Words joined by dashes (/ready-check-v2-2024),
// numbers, dates and UUIDs (runs of 12 at most) are kept; a commit hash in a path is hidden too, which
// costs a diagnosis little. Only http(s) paths are read so: a database's or a vhost's name is no secret.
const (
	minTokenLen = 20
	minTokenRun = 16
)

// redactTokenSegments returns path with each segment shaped like a credential replaced, and whether
// there was one (the path is kept as written, its escapes too, when there was none).
func redactTokenSegments(path string) (string, bool) {
	segs := strings.Split(path, "/")
	cut := false
	for i, seg := range segs {
		if isTokenSegment(seg) {
			segs[i], cut = redacted, true
		}
	}
	return strings.Join(segs, "/"), cut
}

func isTokenSegment(seg string) bool {
	if len(seg) < minTokenLen {
		return false
	}
	letters, digits, run, longest := 0, 0, 0, 0
	for i := 0; i < len(seg); i++ {
		switch b := seg[i]; {
		case b >= '0' && b <= '9':
			digits++
		case b|0x20 >= 'a' && b|0x20 <= 'z':
			letters++
		case b == '-' || b == '_':
			longest, run = max(longest, run), 0
			continue
		case b == ':' || b == '+' || b == '=' || b == '~':
		default:
			return false
		}
		run++
	}
	return letters >= 3 && digits >= 3 && max(longest, run) >= minTokenRun
}

// redactPathParams redacts the values of path parameters with a secret's name, the older way of carrying a
// session or a token in a URL: /app;jsessionid=...;token=.../status.
func redactPathParams(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		params := strings.Split(seg, ";")
		for j := 1; j < len(params); j++ {
			if name, _, ok := strings.Cut(params[j], "="); ok && isSecretName(name) {
				params[j] = name + "=" + redacted
			}
		}
		segs[i] = strings.Join(params, ";")
	}
	return strings.Join(segs, "/")
}

// redactQuery redacts a raw query: the whole value of a parameter whose name marks a secret, and each
// value that can hold its own credentials or parameters (a URL passed on, redirect_uri=https://app/cb?token=...,
// or a query written with a second '?') as RedactURL redacts it. The other parameters are kept as they
// were written, in their order (/readyz?verbose stays itself, not /readyz?verbose=), so that the target
// shown is the one configured. A query url.ParseQuery refuses (a ';' separator, a bad escape) is replaced
// whole: its parameters are not read as the server will read them.
func redactQuery(raw string, depth int) string {
	pairs := strings.Split(raw, "&")
	for i, pair := range pairs {
		if strings.Contains(pair, ";") {
			return redacted
		}
		rawKey, rawValue, hasValue := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return redacted
		}
		if !hasValue {
			continue // a name alone (?verbose, ?token): no value to hide, and none to add
		}
		v, err := url.QueryUnescape(rawValue)
		if err != nil {
			return redacted
		}
		switch {
		case isSecretName(key), strings.ContainsAny(v, "?=@") && depth == 0:
			pairs[i] = rawKey + "=" + redacted
		case strings.ContainsAny(v, "?=@"):
			pairs[i] = rawKey + "=" + url.QueryEscape(redactURL(v, depth-1))
		}
	}
	return strings.Join(pairs, "&")
}

// dsnKeywords are the keys a libpq key=value string holds in practice: libpq's connection keywords,
// pgx's and pgxpool's own, and the run-time parameters set there most. After an unquoted secret value,
// any other key is taken for the rest of a secret with a blank in it (password=two s3cr3t=x, which
// libpq and pgx read as password=two and a key s3cr3t).
var dsnKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`host hostaddr port dbname database user password passfile
		require_auth channel_binding connect_timeout client_encoding options application_name
		fallback_application_name keepalives keepalives_idle keepalives_interval keepalives_count
		tcp_user_timeout replication gssencmode sslmode sslnegotiation sslcompression sslcert sslkey
		sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni requirepeer
		ssl_min_protocol_version ssl_max_protocol_version min_protocol_version max_protocol_version
		krbsrvname krbspn gsslib gssdelegation service servicefile target_session_attrs
		load_balance_hosts statement_cache_capacity description_cache_capacity
		default_query_exec_mode min_read_buffer_size pool_max_conns pool_min_conns pool_min_idle_conns
		pool_max_conn_lifetime pool_max_conn_idle_time pool_health_check_period
		pool_max_conn_lifetime_jitter search_path timezone datestyle statement_timeout lock_timeout
		idle_in_transaction_session_timeout`) {
		dsnKeywords[k] = true
	}
}

// redactDSN redacts a libpq key=value connection string: `host=db password='a b' user=app`.
func redactDSN(dsn string) string {
	var b strings.Builder
	s := dsn
	afterSecret := false // the value before was a secret, unquoted
	for {
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return redacted // not a DSN after all
		}
		key := strings.TrimSpace(s[:eq])
		if key == "" || strings.ContainsAny(key, " \t\n\r\f\v") {
			// Not one keyword: what went before was cut at a space, as libpq cuts an unquoted value
			// (password=two words), and libpq refuses the rest, which may be the secret's own.
			return redacted
		}
		if afterSecret && !dsnKeywords[strings.ToLower(key)] {
			return redacted
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			end := 1
			for end < len(s) && s[end] != '\'' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return redacted
			}
			val, s = s[:end+1], s[end+1:]
			if s != "" && !strings.ContainsAny(s[:1], " \t\n\r\f\v") {
				// password=''s3cr3t=: libpq reads an empty quoted value and then a key s3cr3t, a
				// password that starts with a quote written unquoted.
				return redacted
			}
		} else {
			end := strings.IndexAny(s, " \t\n")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		// host= password=s3cr3t: libpq skips the blanks after an '=', so the empty host's value is
		// password=s3cr3t, which the user meant as the password. A value with user:password@ in it
		// (a MySQL DSN whose user holds an '=') is credentials too.
		inner, _, ok := strings.Cut(val, "=")
		secret := isSecretName(key) || ok && isSecretName(inner)
		if secret || credentials(val) {
			val = redacted
		}
		afterSecret = secret && !quoted
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key + "=" + val)
	}
	return b.String()
}

// credentials reports whether s holds user information with a password: a ':' before an '@'.
func credentials(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[:at], ":")
}

// misread reports whether the driver's reading of a DSN holds a user, an address or a database that
// is none, with what ends a part in it ('/', '?', '@', '(', '=' ...): the '/' or the '@' the driver
// cut at was in a password (app:pa/ss@db, with no /database after it) or in a parameter's value
// (?app_token=a/b, ?app_token=a@/), which would be shown as a user, a host or a database.
func misread(cfg *mysql.Config) bool {
	const ends = "/?@()=&"
	addr := cfg.Addr
	if cfg.Net == "unix" {
		addr = strings.ReplaceAll(addr, "/", "") // a socket's path
	}
	return strings.ContainsAny(cfg.User, ends) || strings.ContainsAny(addr, ends) || strings.ContainsAny(cfg.DBName, ends)
}

// redactMySQLDSN redacts go-sql-driver/mysql's DSN, user:password@tcp(host:3306)/db?param=value, read as
// the driver reads it (the password runs from the first ':' to the last '@' before the last '/').
func redactMySQLDSN(dsn string, depth int) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || misread(cfg) {
		return redacted
	}
	var b strings.Builder
	if cfg.User != "" || cfg.Passwd != "" {
		b.WriteString(cfg.User)
		if cfg.Passwd != "" {
			b.WriteString(":" + redacted)
		}
		b.WriteByte('@')
	}
	b.WriteString(cfg.Net + "(" + cfg.Addr + ")/" + url.PathEscape(cfg.DBName))
	slash := strings.LastIndexByte(dsn, '/')
	if _, params, ok := strings.Cut(dsn[slash+1:], "?"); ok && params != "" {
		b.WriteString("?" + redactQuery(params, depth))
	}
	return b.String()
}

// What is wrong with a URL parameter's value, in words: the parsers' messages quote the value, which
// is not shown (a value in the wrong place can be a secret).
const (
	notWholeNumber = "not a whole number"
	notTrueOrFalse = "not true or false"
	notDuration    = "not a duration (such as 5s)"
)

// valueWords says why a parser could not read a parameter's value, from its error (strconv's, time's,
// or go-sql-driver's "invalid bool value"), or "" when the error is none of those.
func valueWords(err error) string {
	var ne *strconv.NumError
	msg := err.Error()
	switch {
	case errors.As(err, &ne) && ne.Func == "ParseBool", strings.HasPrefix(msg, "invalid bool value"):
		return notTrueOrFalse
	case errors.As(err, &ne):
		return notWholeNumber
	case strings.HasPrefix(msg, "time: "): // time.ParseDuration's: invalid duration, missing unit, ...
		return notDuration
	}
	return ""
}

// urlParseProblem is what to say of a URL of scheme (its usual one) that net/url could not parse: what
// was expected, then the parser's cause in words (its message quotes the URL, which may hold a
// password), with the percent-encoding hint when a user or password may be what broke it; or, for an
// address written without its scheme, the URL to write.
func urlParseProblem(expected, scheme, raw string, err error) string {
	if fixed, ok := schemeless(scheme, raw); ok {
		return expected + ": " + noSchemeWords + fixed
	}
	cause := urlCause(err)
	if userinfoBroke(raw) {
		cause += " (" + percentHint + ")"
	}
	return expected + ": " + cause
}

// userinfoBroke reports whether the user information of raw (up to its last '@', as libpq and the
// drivers read it) is what net/url could not parse: with a plain one in its place the URL parses, or
// fails for another reason. A bad port, a bad escape in the database name or a bracket missing in the
// host fail the same either way, and the percent-encoding hint would only mislead.
func userinfoBroke(raw string) bool {
	scheme, rest, ok := strings.Cut(raw, "://")
	i := strings.LastIndex(rest, "@")
	if !ok || i < 0 {
		return false
	}
	_, before := url.Parse(raw)
	if before == nil {
		return false
	}
	_, after := url.Parse(scheme + "://user:password" + rest[i:])
	return after == nil || urlCause(after) != urlCause(before)
}

// noSchemeWords, then the URL to write, is the error of an address written without its URL's scheme.
const noSchemeWords = "the scheme is missing: write "

// schemeless reports whether raw is an address written without its URL's scheme (127.0.0.1:4222,
// nats:4222, user:password@host:5672/vhost), and returns it with scheme:// before it, redacted, to
// show. net/url refuses some of them ("first path segment in URL cannot contain colon": its words
// about a path, for an address), and reads the others as a scheme (the host's name, or the user's)
// and an opaque rest, which a kind reports as a scheme it does not know. A lone user part (TOKEN@host:6379)
// is shown as xxxxx: written without a scheme, nothing says it is a user's name and not a password or a
// token (ioredis reads redis://PASSWORD@host so; RedactURL shows the user of a redis:// URL).
func schemeless(scheme, raw string) (string, bool) {
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "/") {
		return "", false
	}
	fixed := scheme + "://" + raw
	u, err := url.Parse(fixed)
	if err != nil || u.Hostname() == "" || u.Port() == "" {
		return "", false
	}
	if _, hasPassword := u.User.Password(); u.User != nil && !hasPassword {
		u.User = url.User("xxxxx")
		fixed = u.String()
	}
	return RedactURL(fixed), true
}

// noBracketWords say that an IPv6 host's closing bracket is missing.
const noBracketWords = "missing ']' in the host (an IPv6 address is written in brackets: [::1]:port)"

// urlCause is why net/url could not parse a URL, without the part of it that net/url quotes: an
// escape, a port or a character of the host, which are a password's when an unescaped '/' or '%' in it
// broke the URL (mysql://app:pa/ss@db: invalid port ":pa" after host).
func urlCause(err error) string {
	var ee url.EscapeError
	var he url.InvalidHostError
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	switch {
	case errors.As(err, &ee):
		return "invalid percent-escape"
	case errors.As(err, &he):
		return "invalid character in the host"
	case strings.HasPrefix(msg, "invalid port"):
		return "invalid port after the host"
	case msg == "missing ']' in host":
		// Its quotes are its own, quoting nothing of the URL: cut at the first, it said "missing".
		return noBracketWords
	case strings.HasPrefix(msg, "invalid host: "):
		// netip's words quote the bracketed host.
		return "invalid IPv6 address in brackets in the host"
	}
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		return strings.TrimSpace(msg[:i])
	}
	return msg
}

// redactURLError rewrites the URL that net/http quotes in every *url.Error (query string included) to
// its redacted form, keeping the cause.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: RedactURL(unstrippedPassword(ue.URL)), Err: ue.Err}
}

// unstrippedPassword undoes net/http's stripPassword in the URL of a *url.Error: it replaced any password
// the URL had, an empty one too, with "***". An empty password leaves the user name a token
// (https://TOKEN:@api), which RedactURL hides only when it sees no password: as the two cannot be told
// apart, the user name is taken for a token, as with an empty password, and hidden.
func unstrippedPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || !config.IsTokenUserScheme(u.Scheme) {
		return raw
	}
	if pass, has := u.User.Password(); !has || pass != "***" {
		return raw
	}
	u.User = url.UserPassword(u.User.Username(), "")
	return u.String()
}
