package policy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// secretProblemCases: what secretProblem says of each value. TestChartSecretProblem asks the chart's
// healthgate.secretProblem the same.
var secretProblemCases = []struct{ in, want string }{
	{"${DATABASE_URL}", ""},
	{"postgres://app@db:5432/app?sslmode=disable", ""},
	{"postgres://app:${PW}@db/app", ""},
	{"redis://:${REDIS_PASSWORD:-}@redis:6379/0", ""},
	{"postgres://app:hunter2@db/app", "an inline password"},
	{"postgres://app:${PW:-hunter2}@db/app", "an inline password"},
	{"postgres://app@db/app?password=hunter2", `a literal secret in query parameter "password"`},
	{"postgres://app@db/app?password=${PW}", ""},
	{"postgres://app@db/app?sslmode=verify-full&sslkey=/etc/tls/key.pem&target_session_attrs=read-write", ""},
	{"https://x/healthz?api_key=abc", `a literal secret in query parameter "api_key"`},
	{"https://x/healthz?SIG=abc#frag", `a literal secret in query parameter "SIG"`},
	{"https://x/healthz?token=", ""},
	{"https://x/healthz?verbose#token=abc", ""},
	{"http://h:8080?email=a@b", ""},
	{"https://api:8443/v1/users/@me", ""},
	// A password holding '#', '?', '/' or '@': the drivers read it to the last '@' before the host.
	{"postgres://app:Xk9#qL2@db:5432/app", "an inline password (or, after host:port, an '@' in the path or query: write it %40)"},
	{"postgresql://app:Xk9?qL2@pg-0:5432,pg-1:5432/app", "an inline password (or, after host:port, an '@' in the path or query: write it %40)"},
	{"postgres://app:pa/ss@db/app", "an inline password (or, after host:port, an '@' in the path or query: write it %40)"},
	{"redis://:Xk9#qL2@redis:6379/0", "an inline password (or, after host:port, an '@' in the path or query: write it %40)"},
	{"amqp://app:p@ss@rabbit:5672/", "an inline password (or, after host:port, an '@' in the path or query: write it %40)"},
	{"${BASE_URL}?session=abc", `a literal secret in query parameter "session"`},
	{"host=db user=app password=hunter2", "an inline password="},
	{"host=db user=app password='a b'", "an inline password="},
	{"host=db user=app password=${PW}", ""},
	{"host=db passfile=/etc/pgpass sslkey=/etc/key.pem", ""},
	{"SELECT 1 WHERE key=1", ""},
	{"acme", ""},

	// go-sql-driver/mysql's DSN: the password up to the last '@' before the last '/', with or without a
	// protocol and address.
	{"app:hunter2@tcp(db:3306)/orders", "an inline password"},
	{"app:hunter2@unix(/run/mysqld/mysqld.sock)/orders", "an inline password"},
	{"app:hunter2@/orders", "an inline password"},
	{"app:hunter2@tcp/orders", "an inline password"},
	{"app:s3:cr/3@t@tcp(db:3306)/orders?parseTime=true", "an inline password"},
	{"app:${MYSQL_PW:-hunter2}@tcp(db:3306)/orders", "an inline password"},
	{"app:${MYSQL_PW}@tcp(db:3306)/orders", ""},
	{"app:${MYSQL_PW:-}@tcp(db:3306)/orders?tls=true", ""},
	{"${MYSQL_USER}:${MYSQL_PW}@tcp(${DB_HOST}:3306)/orders", ""},
	{"app@tcp(db:3306)/orders", ""},
	{"app:@tcp(db:3306)/orders", ""},
	{"tcp(db:3306)/orders", ""},
	{"app@unix(/run/mysqld/mysqld.sock)/orders?app_token=abc", `a literal secret in query parameter "app_token"`},
	{"Contact: ops@example/x", ""}, // prose, not a DSN
	{"db.internal:3306", ""},
	{"${MYSQL_USER:-app}:${MYSQL_PW}@tcp(db:3306)/orders", ""},
	{"${MYSQL_USER:-app}:hunter2@tcp(db:3306)/orders", "an inline password"},
	{"postgres://${PGUSER:-app}:${PW}@db/app", ""},
	{"postgres://${PGUSER:-app}:hunter2@db/app", "an inline password"},
	{"postgres://${PGUSER:-app}@db/app", ""},

	// A lone user name is a token where checks/redact.go redacts it (config.TokenUserSchemes).
	{"nats://s3cr3t@nats:4222", "an inline token (the user name of a nats:// URL)"},
	{"tls://s3cr3t@nats:4222", "an inline token (the user name of a tls:// URL)"},
	{"mqtt://A1_TEST_TOKEN@mosquitto:1883", "an inline token (the user name of a mqtt:// URL)"},
	{"MQTTS://A1_TEST_TOKEN@mosquitto:8883", "an inline token (the user name of a mqtts:// URL)"},
	{"tcp://A1_TEST_TOKEN@mosquitto:1883", "an inline token (the user name of a tcp:// URL)"},
	{"https://ghp_s3cr3t@git.internal/org/repo", "an inline token (the user name of a https:// URL)"},
	{"nats://${NATS_TOKEN}@nats:4222", ""},
	{"mqtt://${MQTT_TOKEN:-}@mosquitto:1883", ""},
	{"mqtt://${MQTT_TOKEN:-A1_TEST_TOKEN}@mosquitto:1883", "an inline token (the user name of a mqtt:// URL)"},
	{"mqtt://sensor:${MQTT_PASSWORD}@mosquitto:1883", ""},
	{"nats://@nats:4222", ""},
	{"postgres://app@db:5432/app", ""}, // a database user name is no secret
	{"amqp://app@rabbit:5672/prod", ""},
	{"mysql://app@db:3306/orders", ""},

	// A default is written into the manifest as it is: a whole URL or DSN as the default of its variable
	// holds its password there.
	{"${DATABASE_URL:-postgres://app:hunter2@db/app}", "an inline password in the default of ${DATABASE_URL}"},
	{"${DSN:-host=db user=app password=hunter2}", "an inline password= in the default of ${DSN}"},
	{"${NATS_URL:-nats://s3cr3t@nats:4222}", "an inline token (the user name of a nats:// URL) in the default of ${NATS_URL}"},
	{"${API:-https://user:pw@x/healthz}", "an inline password in the default of ${API}"},
	{"${DATABASE_URL:-postgres://app@db/app}", ""},
	{"${DATABASE_URL:-postgres://app:${PW}@db/app}", ""}, // the default ends at the first '}': "postgres://app:${PW"
	{"${REDIS_URL:-redis://redis:6379/0}", ""},
	{"${BROKER_ADDRESS:-rabbitmq:5672}", ""},
	{"${PW:-hunter2}", ""}, // a bare word: nothing says it is a secret (a secret field refuses any default)
}

// TestSecretProblem: the rule shared with the chart's healthgate.secretProblem (_helpers.tpl).
func TestSecretProblem(t *testing.T) {
	for _, tt := range secretProblemCases {
		if got := secretProblem(tt.in); got != tt.want {
			t.Errorf("secretProblem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

const helpersTpl = "../../charts/healthgate/templates/_helpers.tpl"

// TestChartSecretRules: the chart's patterns are this package's, as text.
func TestChartSecretRules(t *testing.T) {
	data, err := os.ReadFile(helpersTpl)
	if err != nil {
		t.Fatal(err)
	}
	for name, re := range map[string]*regexp.Regexp{
		"healthgate.urlRE":          urlUserinfo,
		"healthgate.userinfoRE":     userinfoParts,
		"healthgate.mysqlDSNRE":     mysqlDSN,
		"healthgate.kubeRefRE":      kubeRef,
		"healthgate.portThenPathRE": portThenPath,
	} {
		m := regexp.MustCompile(`define "` + regexp.QuoteMeta(name) + `" -}}(.*?){{- end -}}`).FindSubmatch(data)
		if m == nil {
			t.Errorf("_helpers.tpl: no define %q", name)
			continue
		}
		if got, want := string(m[1]), re.String(); got != want {
			t.Errorf("_helpers.tpl %s = %s, want tools/policy's %s", name, got, want)
		}
	}
}

// TestChartSecretProblem renders the chart's healthgate.secretProblem (with helm, pinned in tools/go.mod)
// over every value of secretProblemCases: the chart refuses at `helm template` exactly what this package
// refuses in the rendered manifests, with the same words.
func TestChartSecretProblem(t *testing.T) {
	inputs := make([]string, len(secretProblemCases))
	for i, c := range secretProblemCases {
		inputs[i] = c.in
	}
	got := includeEach(t, "healthgate.secretProblem", inputs)
	for i, in := range inputs {
		if want := secretProblem(in); got[i] != want {
			t.Errorf("chart's healthgate.secretProblem(%q) = %q, tools/policy's secretProblem = %q", in, got[i], want)
		}
	}
}

// includeEach renders the chart's named template (from its _helpers.tpl, with helm, pinned in
// tools/go.mod) for each input, in a chart of its own, and returns the answers in order.
func includeEach(t *testing.T, name string, inputs []string) []string {
	t.Helper()
	helm := helmBinary(t)
	chart := t.TempDir()
	helpers, err := os.ReadFile(helpersTpl)
	if err != nil {
		t.Fatal(err)
	}
	values, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	for file, text := range map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: include-each\nversion: 0.1.0\n",
		"values.json":            string(values),
		"templates/_helpers.tpl": string(helpers),
		"templates/out.yaml": `{{- $out := list -}}
{{- range .Values.inputs }}{{ $out = append $out (include "` + name + `" .) }}{{ end -}}
out: {{ toJson $out | quote }}
`,
	} {
		p := filepath.Join(chart, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rendered, err := exec.Command(helm, "template", "x", chart, "-f", filepath.Join(chart, "values.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, rendered)
	}
	var doc struct{ Out string }
	_, body, _ := strings.Cut(string(rendered), "out:")
	if err := yaml.Unmarshal([]byte("out:"+body), &doc); err != nil {
		t.Fatalf("helm's output: %v\n%s", err, rendered)
	}
	var got []string
	if err := json.Unmarshal([]byte(doc.Out), &got); err != nil || len(got) != len(inputs) {
		t.Fatalf("helm's output: %d answers (%v) for %d inputs:\n%s", len(got), err, len(inputs), rendered)
	}
	return got
}

// TestSecretKey: a check's fields are secret when its kind says so, not by their names; any other key by
// its name.
func TestSecretKey(t *testing.T) {
	doc := map[string]any{"checks": []any{
		map[string]any{"name": "cache", "type": "redis", "key": "healthgate:probe"},
		map[string]any{"name": "sessions", "type": "memcached", "password": "x"},
		map[string]any{"name": "odd", "type": "no-such-kind", "api_key": "x"},
	}, "apikey": "x"}
	for _, tc := range []struct {
		path, key string
		want      bool
	}{
		{".checks[0].key", "key", false},          // a redis key name
		{".checks[0].url", "url", false},          // judged by secretProblem
		{".checks[1].password", "password", true}, // memcached's secret:"true"
		{".checks[2].api_key", "api_key", true},   // a kind the registry does not know: by the name
		{".apikey", "apikey", true},
		{".checks[9].key", "key", true}, // no such check: by the name
	} {
		if got := secretKey(doc, tc.path, tc.key); got != tc.want {
			t.Errorf("secretKey(%s) = %v; want %v", tc.path, got, tc.want)
		}
	}
}

// TestChartNotSecretEnv: libpq's variables for parameters that hold no secret (PGSSLKEY and PGPASSFILE: file
// paths, which the postgres check reads; PGTARGETSESSIONATTRS, PGREQUIREAUTH: keywords) take a literal env
// value, in the chart and in this package alike; both refused them for the secret word in their names. A
// variable that is a secret (PGSSLPASSWORD, PGPASSWORD) is still refused, and so is a literal secret in
// an exempt variable's value.
func TestChartNotSecretEnv(t *testing.T) {
	data, err := os.ReadFile(helpersTpl)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`define "healthgate.notSecretEnv" -}}(.*?){{- end -}}`).FindSubmatch(data)
	if m == nil || string(m[1]) != strings.Join(notSecretEnv, " ") {
		t.Fatalf("_helpers.tpl healthgate.notSecretEnv = %q, want tools/policy's notSecretEnv %q", m, notSecretEnv)
	}
	helm := helmBinary(t)
	set := []string{"env[0].name=PGSSLKEY", "env[0].value=/etc/healthgate/tls/tls.key", "env[1].name=PGPASSFILE",
		"env[1].value=/etc/healthgate/secrets/pgpass", "env[2].name=PGTARGETSESSIONATTRS", "env[2].value=read-write",
		"env[3].name=PGREQUIREAUTH", "env[3].value=scram-sha-256"}
	r := renderChart(t, helm, set...) // fails on any finding of this package's
	if r.deploy == nil || len(r.deploy.Spec.Template.Spec.Containers[0].Env) != 4 {
		t.Fatalf("want a Deployment with the 4 env entries")
	}
	for _, tc := range []struct{ set, want string }{
		{"env[0].name=PGSSLPASSWORD", "env[0] PGSSLPASSWORD: a secret-looking name with a literal value"},
		{"env[0].name=PGPASSWORD", "env[0] PGPASSWORD: a secret-looking name with a literal value"},
		{"env[0].value=postgres://app:hunter2@db/app", "env[0] PGSSLKEY: value has an inline password"},
	} {
		args := []string{"template", "x", chartDir}
		for _, s := range append(slices.Clone(set[:2]), tc.set) {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("helm template --set %s: %v, want a failure with %q:\n%s", tc.set, err, tc.want, lastLines(out))
		}
	}
	for _, tc := range []struct{ name, want string }{{"PGSSLKEY", ""}, {"PGPASSFILE", ""}, {"PGSSLPASSWORD", "a secret-looking name"}} {
		manifest := strings.Replace(good, "            - name: DATABASE_URL\n", "            - {name: "+tc.name+", value: /etc/x}\n            - name: DATABASE_URL\n", 1)
		if manifest == good {
			t.Fatal("test setup: DATABASE_URL not in the good manifest")
		}
		expectFinding(t, manifest, RuleSecrets, tc.want)
	}
}
