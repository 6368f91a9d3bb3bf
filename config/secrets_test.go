package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestChartSecretWords fails when the chart's copy of the secret words (or of the names exempt from them)
// differs from SecretWords and NotSecretNames: the chart refuses at `helm template` what the policy and the
// redaction treat as secret, and must say the same.
func TestChartSecretWords(t *testing.T) {
	data, err := os.ReadFile("../charts/healthgate/templates/_helpers.tpl")
	if err != nil {
		t.Fatal(err)
	}
	tpl := string(data)
	re := regexp.MustCompile(`define "healthgate.secretNameRE" -}}\(\?i\)\(([^)]*)\)`).FindStringSubmatch(tpl)
	if re == nil {
		t.Fatal(`_helpers.tpl: no define "healthgate.secretNameRE" of the form (?i)(word|word...)`)
	}
	if got := strings.Split(re[1], "|"); !slices.Equal(got, SecretWords) {
		t.Errorf("_helpers.tpl healthgate.secretNameRE words = %q, want config.SecretWords %q", got, SecretWords)
	}
	prose := regexp.MustCompile(`of config/secrets.go's list [^:]*: ([a-z,\s]+)\.`).FindStringSubmatch(tpl)
	if prose == nil {
		t.Fatal("_helpers.tpl: the comment no longer lists config/secrets.go's words (\"a word of config/secrets.go's list: ...\")")
	}
	if got := strings.Fields(strings.ReplaceAll(prose[1], ",", " ")); !slices.Equal(got, SecretWords) {
		t.Errorf("_helpers.tpl comment lists %q, want config.SecretWords %q", got, SecretWords)
	}
	not := regexp.MustCompile(`has \(lower \.\) \(list ([^)]*)\)`).FindStringSubmatch(tpl)
	if not == nil {
		t.Fatal(`_helpers.tpl: healthgate.isSecretName no longer has (has (lower .) (list "..."))`)
	}
	var got []string
	for _, f := range strings.Fields(not[1]) {
		got = append(got, strings.Trim(f, `"`))
	}
	if !slices.Equal(got, NotSecretNames) {
		t.Errorf("_helpers.tpl healthgate.isSecretName exempts %q, want config.NotSecretNames %q", got, NotSecretNames)
	}
}

// TestChartTokenUserSchemes fails when the chart's copy of the schemes whose lone user name is a token
// differs from TokenUserSchemes.
func TestChartTokenUserSchemes(t *testing.T) {
	data, err := os.ReadFile("../charts/healthgate/templates/_helpers.tpl")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`define "healthgate.tokenSchemeRE" -}}\^\(([^)]*)\)\$`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal(`_helpers.tpl: no define "healthgate.tokenSchemeRE" of the form ^(scheme|scheme...)$`)
	}
	if got := strings.Split(m[1], "|"); !slices.Equal(got, TokenUserSchemes) {
		t.Errorf("_helpers.tpl healthgate.tokenSchemeRE schemes = %q, want config.TokenUserSchemes %q", got, TokenUserSchemes)
	}
}

// TestChartReadmeSecretWords: the chart README's list of the words, and of the exempt names, is the same.
func TestChartReadmeSecretWords(t *testing.T) {
	data, err := os.ReadFile("../charts/healthgate/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)containing, in any case, (.*?) \\(the words\\s+healthgate redacts by\\); libpq's (.*?) are exempt").FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("charts/healthgate/README.md: no \"containing, in any case, `word`, ... (the words healthgate redacts by); libpq's ... are exempt\"")
	}
	ticked := regexp.MustCompile("`([a-z_]+)`")
	words := func(s string) []string {
		var out []string
		for _, w := range ticked.FindAllStringSubmatch(s, -1) {
			out = append(out, w[1])
		}
		return out
	}
	if got := words(m[1]); !slices.Equal(got, SecretWords) {
		t.Errorf("chart README lists %q, want config.SecretWords %q", got, SecretWords)
	}
	if got := words(m[2]); !slices.Equal(got, NotSecretNames) {
		t.Errorf("chart README exempts %q, want config.NotSecretNames %q", got, NotSecretNames)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "PGPASSWORD": true, "api_key": true, "X-Auth": true, "sslpassword": true,
		"sslkey": false, "PassFile": false, "target_session_attrs": false, "require_auth": false,
		"sslmode": false, "host": false, "dbname": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsTokenUserScheme(t *testing.T) {
	for scheme, want := range map[string]bool{
		"https": true, "nats": true, "tls": true, "mqtt": true, "MQTTS": true, "tcp": true, "ssl": true,
		"postgres": false, "mysql": false, "amqp": false, "redis": false, "": false,
	} {
		if got := IsTokenUserScheme(scheme); got != want {
			t.Errorf("IsTokenUserScheme(%q) = %v, want %v", scheme, got, want)
		}
	}
}
