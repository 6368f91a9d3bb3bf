package config

import (
	"slices"
	"strconv"
	"strings"
)

// SecretWords is the one list of words that mark a name whose value is a secret (docs/design.md §8): a
// URL query parameter, a libpq key=value field, an environment variable or a configuration key whose name
// contains one of them, in any case. checks/redact.go redacts such values in everything healthgate shows,
// tools/policy refuses them as literals in manifests, and charts/healthgate/templates/_helpers.tpl refuses
// them at `helm template` time; a test keeps the chart's copy equal to this one.
var SecretWords = []string{"pass", "pw", "secret", "token", "key", "auth", "bearer", "sig", "credential", "session", "jwt", "cookie"}

// NotSecretNames are libpq parameters whose names contain a secret word but whose values are no secret:
// sslkey and passfile are file paths, target_session_attrs and require_auth keywords.
var NotSecretNames = []string{"sslkey", "passfile", "target_session_attrs", "require_auth"}

// IsSecretName reports whether a value named name is a secret: the name contains one of SecretWords
// (in any case) and is not one of NotSecretNames.
func IsSecretName(name string) bool {
	n := strings.ToLower(name)
	if slices.Contains(NotSecretNames, n) {
		return false
	}
	for _, w := range SecretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// TokenUserSchemes are the URL schemes whose lone user name (scheme://NAME@host, no password) is a token,
// not a user: over HTTP (https://TOKEN@host), NATS (nats://, tls://: a token login) and MQTT (mqtt://,
// mqtts://, and paho's tcp:// and ssl://: an access token as the user name, as ThingsBoard devices log in).
// checks/redact.go redacts it, tools/policy and the chart refuse it as a literal (TestChartTokenUserSchemes
// keeps the chart's copy equal). A database or AMQP user name (postgres://app@db) is no secret and is kept.
var TokenUserSchemes = []string{"http", "https", "nats", "tls", "mqtt", "mqtts", "tcp", "ssl"}

// IsTokenUserScheme reports whether a lone user name in a URL of scheme (any case) is a token.
func IsTokenUserScheme(scheme string) bool {
	return slices.Contains(TokenUserSchemes, strings.ToLower(scheme))
}

// tokenProblem says why a bearer token (server.details_token, fleet.token) could never match a request's
// Authorization header, or "" when it can: a client cannot send a control character (a line break, a
// tab) in a header, and servers drop the spaces at either end of its value. Such a token would fail
// every request without a word (fail-open never happening, details never shown); the usual cause is a
// Secret written with a trailing newline and exposed with secretKeyRef. The message never shows the
// value.
func tokenProblem(token string) string {
	bad := strings.HasPrefix(token, " ") || strings.HasSuffix(token, " ")
	for i := 0; i < len(token) && !bad; i++ {
		bad = token[i] < 0x20 || token[i] == 0x7f
	}
	if !bad {
		return ""
	}
	return "an HTTP header cannot carry it: it holds a line break or another control character, or begins or ends with a space (a Secret written with a trailing newline?)"
}

// NotShown stands in an error for a value that may hold a secret (MayHoldSecret).
const NotShown = "(not shown: it may hold a secret)"

// MayHoldSecret reports whether v, refused as the value of a field that holds no secret (a duration, a
// number, one of a few words), may hold one all the same, so that its error must not quote it: a URL
// or a DSN written in the wrong field, with its password (interval: ${DATABASE_URL}: it holds ':', '/',
// '@', '=' or '?', as NameMaySecret reads a name), or the value of a variable named as a secret is
// (details: ${HEALTHGATE_DETAILS_TOKEN}); vars are the variables v was written with.
func MayHoldSecret(v string, vars []string) bool {
	return strings.ContainsAny(v, ":/@=?") || slices.ContainsFunc(vars, IsSecretName)
}

// peerMayHoldSecret is MayHoldSecret for a refused fleet peer, whose own syntax holds ':' and '/'
// (host:port, dns://server/name:port): a '=', which no peer holds (a DSN's key=value, a base64 token's
// padding), or a variable named as a secret is (peers: ${HEALTHGATE_FLEET_TOKEN}); vars are the
// variables fleet.peers was written with. ParsePeer quotes no peer that holds '@', '?' or '#', nor one
// whose port is a word (app:s3cr3t).
func peerMayHoldSecret(v string, vars []string) bool {
	return strings.Contains(v, "=") || slices.ContainsFunc(vars, IsSecretName)
}

// Quote quotes v, refused as the value of a field that holds no secret, for an error: NotShown when it
// may hold one (MayHoldSecret).
func Quote(v string, vars []string) string {
	if MayHoldSecret(v, vars) {
		return NotShown
	}
	return strconv.Quote(v)
}

// Got is the "(got ...)" of an error about v, a value refused in a field that holds no secret: the value
// quoted, or words that say it is not shown when it may hold a secret (MayHoldSecret).
func Got(v string, vars []string) string { return gotUnless(MayHoldSecret(v, vars), v) }

// valueNotShown stands for a refused value that may hold a secret, in place of its "(got ...)".
const valueNotShown = "(the value is not shown: it may hold a secret)"

// gotUnless is the "(got ...)" of v, or the words that say it is not shown when hidden.
func gotUnless(hidden bool, v string) string {
	if hidden {
		return valueNotShown
	}
	return "(got " + strconv.Quote(v) + ")"
}
