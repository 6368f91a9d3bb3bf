package checks

import (
	"errors"
	"net/url"
	"regexp"
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
func RedactURL(raw string) string {
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
			return redactMySQLDSN(raw)
		case strings.ContainsAny(raw, "@?="):
			return redacted
		default:
			return raw // host:port or a socket path
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	return redactParsed(u).String()
}

func redactParsed(u *url.URL) *url.URL {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), redacted)
		} else if config.IsTokenUserScheme(c.Scheme) {
			// https://TOKEN@host, nats://TOKEN@host, mqtt://TOKEN@host: over HTTP, NATS and MQTT a
			// lone user name is a token. A database user name (postgres://app@db) helps an operator
			// and is kept.
			c.User = url.User(redacted)
		}
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = redacted
		} else {
			for k := range q {
				if isSecretName(k) {
					q[k] = []string{redacted}
				}
			}
			c.RawQuery = q.Encode()
		}
	}
	c.Fragment, c.RawFragment = "", ""
	return &c
}

// redactDSN redacts a libpq key=value connection string: `host=db password='a b' user=app`.
func redactDSN(dsn string) string {
	var b strings.Builder
	s := dsn
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
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, "'") {
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
		} else {
			end := strings.IndexAny(s, " \t\n")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if isSecretName(key) {
			val = redacted
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key + "=" + val)
	}
	return b.String()
}

// redactMySQLDSN redacts go-sql-driver/mysql's DSN, user:password@tcp(host:3306)/db?param=value, read as
// the driver reads it (the password runs from the first ':' to the last '@' before the last '/').
func redactMySQLDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
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
		q, err := url.ParseQuery(params)
		if err != nil {
			return b.String() + "?" + redacted
		}
		for k := range q {
			if isSecretName(k) {
				q[k] = []string{redacted}
			}
		}
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

// redactURLError rewrites the URL that net/http quotes in every *url.Error (query string included) to
// its redacted form, keeping the cause.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
}
