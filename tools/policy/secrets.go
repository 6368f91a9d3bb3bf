package policy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// isSecretName: a query parameter, DSN field, key or variable whose name holds a secret, by healthgate's one
// list (config.SecretWords, less config.NotSecretNames). charts/healthgate/templates/_helpers.tpl applies the
// same rules at `helm template` time; config's TestChartSecretWords keeps its copy equal.
func isSecretName(name string) bool { return config.IsSecretName(name) }

// plainHeaders: standard request headers whose values are never credentials. Every other header value must
// be a ${VAR} reference: header values are secrets by default (docs/design.md §8 redacts them all), and a custom
// header (X-Auth, X-Internal, ...) is where an API key hides under a name no pattern guesses.
var plainHeaders = []string{"accept", "accept-charset", "accept-encoding", "accept-language", "cache-control",
	"connection", "content-type", "host", "origin", "pragma", "referer", "user-agent", "x-forwarded-for",
	"x-forwarded-host", "x-forwarded-proto", "x-request-id", "x-requested-with"}

var (
	// secretRef: a value that is only a reference; a non-empty default (${X:-hunter2}) would put the
	// literal back into the manifest.
	secretRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}$`)
	// urlUserinfo: a URL with a userinfo, its scheme (group 1) and userinfo (2). The chart's
	// healthgate.urlRE, healthgate.userinfoRE and healthgate.mysqlDSNRE are urlUserinfo, userinfoParts
	// and mysqlDSN, as text (TestChartSecretRules). After user: the password runs to the last '@' before
	// the host, '/', '?', '#' and '@' included, as pgx and the other drivers read it: generated passwords
	// hold them (postgres://app:Xk9#qL2@db/app), and a userinfo that stopped at the first of them let such
	// a password into the ConfigMap. A URL with a port and an '@' in its path or query reads so too, and
	// is refused with words that say what to write instead (inlinePasswordWords).
	urlUserinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://((?:[^/?#@:]*:.*)|[^/?#@]*)@[^@/?#]*(?:[/?#].*)?$`)
	// portThenPath: what urlUserinfo takes for a password when it is a port and then a path or query
	// that holds an '@' (http://h:8080?email=a@b). The chart's healthgate.portThenPathRE is this, as text.
	portThenPath = regexp.MustCompile(`^[0-9]*[/?#]`)
	dsnStart     = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*=`)
	dsnField     = regexp.MustCompile(`(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('[^']*'|[^\s']*)`)
	// mysqlDSN: go-sql-driver/mysql's DSN, user:password@net(addr)/db?params (net(addr) optional, as in
	// app:pw@/db), the password read as the driver reads it, up to the last '@' before the last '/';
	// group 1 is the password. Only for a value without "://", which is a URL. No whitespace, so that
	// prose ("Contact: ops@host/x") is not read as one.
	mysqlDSN = regexp.MustCompile(`^(?:\$\{[^}\s]*\}|[^\s:@/?#])*:(\S*)@(?:[A-Za-z][A-Za-z0-9_]*(?:\(\S*\))?)?/[^\s/@]*$`)
	// userinfoParts splits a URL's userinfo at its first ':' outside a ${VAR:-default}: group 1 is the
	// user, group 2 the password.
	userinfoParts = regexp.MustCompile(`(?s)^((?:\$\{[^}]*\}|[^:])*)(?::(.*))?$`)
	// kubeRef: a Kubernetes dependent environment variable in an env value, $(NAME), which the kubelet
	// replaces with NAME's value set earlier in the container (a valueFrom.secretKeyRef's too): the way
	// Kubernetes documents composing a URL with a Secret's password, postgres://app:$(DB_PASSWORD)@db/app.
	// envSecrets reads it as the reference it is. The chart's healthgate.kubeRefRE is this, as text.
	kubeRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

// inlinePasswordWords are secretProblem's words for a URL's password that holds a '/', '?', '#' or '@': or
// what reads as one, an '@' in the path or query of a URL with a port (https://api:8443/x?to=a@b).
const inlinePasswordWords = "an inline password (or, after host:port, an '@' in the path or query: write it %40)"

// secretProblem says which literal secret v holds ("" if none): a password in a URL's userinfo or a
// go-sql-driver/mysql DSN, a lone user name in a URL whose scheme makes it a token (config.TokenUserSchemes:
// nats://TOKEN@host, mqtt://TOKEN@host, https://TOKEN@host, which checks/redact.go redacts), a field of a
// libpq key=value DSN or a URL query parameter with a secret-looking name, whose value is not a reference;
// or any of these in the default of a ${VAR:-default}, which the manifest holds as written.
// Parsed by pattern, not net/url, since ${VAR}s in a host or userinfo make net/url give up.
func secretProblem(v string) string {
	if m := urlUserinfo.FindStringSubmatch(v); m != nil {
		p := userinfoParts.FindStringSubmatch(m[2])
		user, pw, hasPW := p[1], p[2], len(p[1]) < len(m[2])
		switch {
		case hasPW && portThenPath.MatchString(pw):
			// http://h:8080?email=a@b: a port, then a path or query that holds an '@': no userinfo.
		case hasPW && pw != "" && !secretRef.MatchString(pw) && strings.ContainsAny(pw, "/?#@"):
			return inlinePasswordWords
		case hasPW && pw != "" && !secretRef.MatchString(pw):
			return "an inline password"
		case !hasPW && user != "" && config.IsTokenUserScheme(m[1]) && !secretRef.MatchString(user):
			return fmt.Sprintf("an inline token (the user name of a %s:// URL)", strings.ToLower(m[1]))
		}
	} else if m := mysqlDSN.FindStringSubmatch(v); m != nil && !strings.Contains(v, "://") {
		if m[1] != "" && !secretRef.MatchString(m[1]) {
			return "an inline password"
		}
	}
	if dsnStart.MatchString(v) {
		for _, m := range dsnField.FindAllStringSubmatch(v, -1) {
			val := strings.TrimSuffix(strings.TrimPrefix(m[2], "'"), "'")
			if isSecretName(m[1]) && val != "" && !secretRef.MatchString(val) {
				return "an inline " + m[1] + "="
			}
		}
	}
	rest, _, _ := strings.Cut(v, "#")
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for _, p := range strings.Split(query, "&") {
			name, val, _ := strings.Cut(p, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if x, err := url.QueryUnescape(val); err == nil {
				val = x
			}
			if isSecretName(name) && val != "" && !secretRef.MatchString(val) {
				return fmt.Sprintf("a literal secret in query parameter %q", name)
			}
		}
	}
	// A default is what the value becomes when the variable is unset: ${DATABASE_URL:-postgres://app:pw@db/app}
	// puts a whole URL, its password included, into the manifest. (A default ends at the first '}', as
	// healthgate reads it, so it holds no complete ${...} of its own.)
	for _, m := range varRef.FindAllStringSubmatch(v, -1) {
		if def := strings.TrimPrefix(m[2], ":-"); def != "" {
			if p := secretProblem(def); p != "" {
				return fmt.Sprintf("%s in the default of ${%s}", p, m[1])
			}
		}
	}
	return ""
}

// configMapSecrets: no secret values inline in any ConfigMap: secret-looking keys and header values must be
// ${VAR} references or empty, URLs and DSNs carry no literal password or secret-looking parameter.
func (c *checker) configMapSecrets(o Object, cm *corev1.ConfigMap) {
	for key, data := range cm.Data {
		var doc any
		if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
			continue // not YAML: nothing structured to look at
		}
		walk(doc, "", func(path, k, v string) {
			where := fmt.Sprintf("data[%s] %s", key, path)
			if strings.HasSuffix(k, "_file") || strings.HasSuffix(strings.TrimSuffix(path, "."+k), "_file") {
				return // a path to a file (url_file, or a value of headers_file), not a secret
			}
			switch {
			case strings.HasSuffix(strings.TrimSuffix(path, "."+k), ".headers"):
				if !slices.Contains(plainHeaders, strings.ToLower(k)) && !isOnlyRefs(v) {
					c.add(o, RuleSecrets, "%s: header %s holds a literal value (only standard headers such as Accept may); use ${VAR} (or Bearer ${VAR}) from a Secret", where, k)
				}
			case k != "" && secretKey(doc, path, k) && v != "" && !isOnlyRefs(v):
				c.add(o, RuleSecrets, "%s: secret-looking key holds a literal value; use ${VAR} from a Secret or %s_file", where, k)
			}
			if p := secretProblem(v); p != "" {
				c.add(o, RuleSecrets, "%s: value has %s; use ${VAR} from a Secret", where, p)
			}
		})
	}
}

// checkFieldPath is a field of one check of a healthgate configuration: .checks[N].FIELD.
var checkFieldPath = regexp.MustCompile(`^\.checks\[(\d+)\]\.([^.\[]+)$`)

// secretKey: whether the value at path, under key k, is a secret by its name. A field of a healthgate
// check of a known kind is one when the kind says so (checks.Kind.Secrets, from secret:"true"; the chart
// renders the same list into templates/_kinds.tpl): a redis check's key is a key name, and the url is
// judged by its userinfo and query (secretProblem). Any other key, of any application's ConfigMap, by its
// name.
func secretKey(doc any, path, k string) bool {
	if m := checkFieldPath.FindStringSubmatch(path); m != nil {
		list, _ := doc.(map[string]any)["checks"].([]any)
		if i, err := strconv.Atoi(m[1]); err == nil && i < len(list) {
			check, _ := list[i].(map[string]any)
			typ, _ := check["type"].(string)
			for _, kind := range checks.Kinds() {
				if kind.Name == typ {
					return k != "url" && slices.Contains(kind.Secrets, k)
				}
			}
		}
	}
	return isSecretName(k)
}

// notSecretEnv: the variables of libpq's (and pgx's, which the postgres check reads: checks/postgres.go
// pgFileParams) parameters that config.NotSecretNames exempts: PGSSLKEY and PGPASSFILE are file paths,
// PGTARGETSESSIONATTRS and PGREQUIREAUTH keywords. Their names hold a secret word, their values none. The
// chart's healthgate.notSecretEnv is this list, as text (TestChartNotSecretEnv).
var notSecretEnv = []string{"PGPASSFILE", "PGSSLKEY", "PGTARGETSESSIONATTRS", "PGREQUIREAUTH"}

// envSecrets: a literal env value lands in the workload, readable by whoever can read that: it must not
// hold a secret (take it from a Secret with valueFrom.secretKeyRef or envFrom).
func (c *checker) envSecrets(o Object, ct corev1.Container) {
	for i, e := range ct.Env {
		if e.Value == "" {
			continue
		}
		v := kubeRef.ReplaceAllString(e.Value, "$${${1}}")
		if p := secretProblem(v); p != "" {
			c.add(o, RuleSecrets, "container %q env[%d] %s: value has %s; use valueFrom.secretKeyRef", ct.Name, i, e.Name, p)
		} else if isSecretName(e.Name) && !slices.Contains(notSecretEnv, e.Name) && !isOnlyRefs(v) {
			c.add(o, RuleSecrets, "container %q env[%d] %s: a secret-looking name with a literal value; use valueFrom.secretKeyRef", ct.Name, i, e.Name)
		}
	}
}

var authScheme = regexp.MustCompile(`(?i)^(bearer|basic|token)?$`)

// varRef is one ${VAR} or ${VAR:-default} in a raw value. configMapSecrets reads any ConfigMap, of any
// application, as written (a secret is in the manifest before any expansion), so it looks at the text
// itself; healthgate's own configurations are read by config.Inspect (Configs, containerConfig).
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// isOnlyRefs: the value is ${VAR} references only (no non-empty default), optionally after an auth scheme
// ("Bearer ${TOKEN}").
func isOnlyRefs(v string) bool {
	for _, m := range varRef.FindAllStringSubmatch(v, -1) {
		if m[2] != "" && m[2] != ":-" {
			return false
		}
	}
	return varRef.MatchString(v) && authScheme.MatchString(strings.TrimSpace(varRef.ReplaceAllString(v, "")))
}

func walk(v any, at string, f func(path, key, val string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			p := at + "." + k
			if s, ok := scalarText(x); ok {
				f(p, k, s)
				continue
			}
			walk(x, p, f)
		}
	case []any:
		for i, x := range t {
			p := fmt.Sprintf("%s[%d]", at, i)
			if s, ok := scalarText(x); ok {
				f(p, "", s)
				continue
			}
			walk(x, p, f)
		}
	}
}

// scalarText: a string, or a number as text. An unquoted number is a secret as much as a quoted one
// (password: 12345678): healthgate reads it into its string field as written.
func scalarText(x any) (string, bool) {
	switch v := x.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}
