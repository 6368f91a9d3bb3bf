package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// fuzzSecret is the secret the seeds of FuzzParse write in every secret field. Its letters are not hex
// digits, so no percent-escape spells part of it.
const fuzzSecret = "Zq7Sekr3tQ"

// secretSeeds put fuzzSecret in every place a configuration holds a secret: a URL's password, a token
// as a URL's user, a secret query parameter, a DSN's password, a header, the details and fleet tokens,
// a ${VAR:-default}, an anchor merged in, and values that do not parse.
var secretSeeds = []string{
	`server:
  details: token
  details_token: Zq7Sekr3tQ
fleet:
  token: Zq7Sekr3tQ
  peers: [dns:///app-peers:8080]
checks:
  - name: db
    type: postgres
    url: postgres://app:Zq7Sekr3tQ@db:5432/app
    scope: shared
`,
	`checks:
  - {name: api, type: http, url: "https://api/h?api_key=Zq7Sekr3tQ", headers: {Authorization: Bearer Zq7Sekr3tQ}}
  - {name: hook, type: http, url: "https://Zq7Sekr3tQ@hooks/h"}
  - {name: bad, type: http, url: "htp://app:Zq7Sekr3tQ@api/h"}
  - {name: port, type: http, url: "https://app:Zq7Sekr3tQ@api:port/h"}
`,
	`checks:
  - name: orders
    type: mysql
    url: app:Zq7Sekr3tQ@tcp(db:3306)/orders?tls=true
  - name: dsn
    type: postgres
    url: host=db user=app password=Zq7Sekr3tQ dbname=app
  - name: cut
    type: postgres
    url: postgres://app:Zq7Sekr3tQ/x@db/app
  - name: escape
    type: postgres
    url: postgres://app:Zq7Sekr3tQ%zz@db/app
`,
	`checks:
  - name: cache
    type: redis
    url: redis://:Zq7Sekr3tQ@cache:6379/0
  - name: bus
    type: nats
    url: nats://Zq7Sekr3tQ@nats:4222
  - name: rabbit
    type: amqp
    url: amqps://app:Zq7Sekr3tQ@rabbit:5671/prod
  - name: mqtt
    type: mqtt
    url: mqtt://Zq7Sekr3tQ@mosquitto:1883
`,
	`checks:
  - {name: sessions, type: memcached, address: cache:11211, username: app, password: Zq7Sekr3tQ, tls: {}}
  - {name: no-user, type: memcached, address: cache, password: "Zq7Sekr3tQ"}
  - {name: nul, type: memcached, address: cache, username: app, password: "Zq7\0Sekr3tQ"}
  - {name: not-a-string, type: memcached, address: cache, username: app, password: [Zq7Sekr3tQ]}
`,
	`x-db: &db
  type: postgres
  url: ${DATABASE_URL:-postgres://app:Zq7Sekr3tQ@db/app}
checks:
  - <<: *db
    name: db
  - name: web
    type: http
    url: https://api/h?token=${TOKEN:-Zq7Sekr3tQ}
    headers:
      X-Api-Key: ${API_KEY:-Zq7Sekr3tQ}
      Bad Header: Zq7Sekr3tQ
`,
	`server:
  details_token: "Zq7Sekr3tQ\n"
checks:
  - name: web
    type: http
    url: https://api/h?password=${x-Zq7Sekr3tQ}
    headers: Zq7Sekr3tQ
`,
}

// cutSeeds are URLs of every kind whose password holds a character that ends the user information
// (/ ? #) or a bad escape, unescaped.
var cutSeeds = func() []string {
	var out []string
	for _, u := range []string{
		"postgres://app:12/Zq7Sekr3tQ@db/app", "mysql://app:pa/Zq7Sekr3tQ@db/app", "mysql://app:%Zq7Sekr3tQ@db/app",
		"mysql://app:12/Zq7Sekr3tQ@db/app", "redis://app:12/Zq7Sekr3tQ@db/0", "amqp://app:Zq7Sekr3tQ?x@rabbit/",
		"nats://app:12#Zq7Sekr3tQ@nats", "mqtt://app:12/Zq7Sekr3tQ@mosquitto", "http://app:12/Zq7Sekr3tQ@api/h",
		"app:Zq7Sekr3tQ@tcp(db:3306", "host=db password='Zq7Sekr3tQ", "mysql://app:Zq7Sekr3tQ/x@db/app",
		"postgres://app:Zq7Sekr3tQ/x@db/app", "amqp://app:Zq7Sekr3tQ/x@rabbit/", "redis://app:Zq7Sekr3tQ/x@db/0",
		"host= password=Zq7Sekr3tQ dbname=app", "host=db dbname= password=Zq7Sekr3tQ", "host=db password=two Zq7Sekr3tQ",
	} {
		kind, _, isURL := strings.Cut(u, "://")
		switch {
		case !isURL && strings.Contains(u, "tcp("):
			kind = "mysql"
		case !isURL:
			kind = "postgres"
		}
		out = append(out, "checks:\n  - name: c\n    type: "+kind+"\n    url: \""+u+"\"\n")
	}
	return out
}()

// FuzzParse decodes arbitrary bytes as healthgate.yaml, as serve does (Parse, then the check kinds'
// own validation and the server's), and as the manifest checker does (Inspect). Neither may panic;
// every problem is a config.Error that names the file and a line; and the text of no error holds any
// part of a value written under a secret field (details_token, a fleet token, a header, a URL's
// password or token, a secret parameter), wherever the fuzzer moved it within such a field.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", "../examples"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	manifest, err := os.ReadFile("../examples/kubernetes/configmap.yaml")
	if err != nil {
		f.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(manifest, &cm); err != nil || cm.Data["healthgate.yaml"] == "" {
		f.Fatalf("examples/kubernetes/configmap.yaml: no healthgate.yaml (%v)", err)
	}
	f.Add([]byte(cm.Data["healthgate.yaml"]))
	for _, s := range append(secretSeeds, cutSeeds...) {
		f.Add([]byte(s))
	}
	env := func(name string) (string, bool) {
		if name == "PORT" {
			return "8080", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		var all config.Errors
		var targets []string
		cfg, err := config.Parse(name, data, env)
		all = append(all, fuzzErrors(t, "Parse", err)...)
		if cfg != nil {
			// What serve does (checks.Validate, then checks.NewAll), keeping each check's target,
			// which every output shows.
			for _, c := range cfg.Checks {
				if c.Type == "" || c.Src.Failed[""] {
					continue // config said why
				}
				ch, err := checks.New(c)
				if err != nil {
					all = append(all, fuzzErrors(t, "checks.New", err)...)
					continue
				}
				targets = append(targets, ch.Target)
				ch.Close()
			}
			all = append(all, cfg.ValidateServer()...)
		}
		_, err = config.Inspect(name, data)
		all = append(all, fuzzErrors(t, "Inspect", err)...)
		for _, e := range all {
			if e.File != name || e.Line <= 0 {
				t.Errorf("error %q names file %q, line %d; want %s and a line", e, e.File, e.Line, name)
			}
		}
		if !secretOnlyInSecrets(data) {
			return
		}
		for _, e := range all {
			if showsFuzzSecret(e.Error()) {
				t.Errorf("error shows a secret: %s", e)
			}
		}
		for _, target := range targets {
			if showsFuzzSecret(target) {
				t.Errorf("a check's target shows a secret: %s", target)
			}
		}
	})
}

// fuzzErrors returns err's config.Errors, failing the test when err is something else.
func fuzzErrors(t *testing.T, what string, err error) config.Errors {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%s returned %T, not config.Errors: %v", what, err, err)
	}
	return errs
}

// showsFuzzSecret reports whether s holds any four bytes of fuzzSecret in a row: a part of the secret.
func showsFuzzSecret(s string) bool {
	for i := 0; i+4 <= len(fuzzSecret); i++ {
		if strings.Contains(s, fuzzSecret[i:i+4]) {
			return true
		}
	}
	return false
}

// secretOnlyInSecrets reports whether every fuzzSecret in data is in a secret: a value under
// details_token, token or another secret-looking key, a header's value, or a secret part of a url
// (secretInURL). A fuzzSecret anywhere else (a name, a key, a comment, a host) may be shown, rightly.
func secretOnlyInSecrets(data []byte) bool {
	total := strings.Count(string(data), fuzzSecret)
	if total == 0 {
		return false
	}
	for i := 0; i+4 <= len(fuzzSecret); i++ {
		if strings.Count(string(data), fuzzSecret[i:i+4]) != total {
			return false // a part of it outside the whole: it may be anything
		}
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return false
	}
	w := secretWalk{counted: map[*yaml.Node]bool{}, seen: map[walkedAs]bool{}}
	w.walk(&doc, "", "", 0)
	return w.ok && !w.shown && w.secrets >= total
}

type secretWalk struct {
	seen    map[walkedAs]bool // what is said of a node depends on where it is: each place once
	counted map[*yaml.Node]bool
	secrets int  // fuzzSecrets in the secret values met, each node once
	shown   bool // a fuzzSecret where it may rightly be shown
	ok      bool // the document was walked whole
}

type walkedAs struct {
	n           *yaml.Node
	key, parent string
}

// walk visits n, the value of key in a mapping that is itself the value of parent.
func (w *secretWalk) walk(n *yaml.Node, key, parent string, depth int) {
	if depth > 50 {
		w.shown = true // deeper than any configuration: give up on it
		return
	}
	if w.seen[walkedAs{n, key, parent}] {
		return // an alias met again, or one inside its own value
	}
	w.seen[walkedAs{n, key, parent}] = true
	w.ok = true
	if strings.Contains(n.Anchor+n.Tag, fuzzSecret) {
		w.shown = true
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			w.walk(c, key, parent, depth+1)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			w.walk(n.Alias, key, parent, depth+1)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if strings.Contains(k.Value+k.Anchor+k.Tag, fuzzSecret) {
				w.shown = true
			}
			switch {
			case k.Value == "<<":
				w.walk(v, key, parent, depth+1) // merged keys are this mapping's
			case strings.HasPrefix(k.Value, "x-"):
				w.walk(v, "", "x-", depth+1) // not read, but may be merged or aliased elsewhere
			default:
				w.walk(v, k.Value, key, depth+1)
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, fuzzSecret) || parent == "x-" {
			return
		}
		if !secretValue(n.Value, key, parent) {
			w.shown = true
			return
		}
		if !w.counted[n] {
			w.counted[n] = true
			w.secrets += strings.Count(n.Value, fuzzSecret)
		}
	}
}

// secretValue reports whether every fuzzSecret in v, the value of key (in parent), is a secret's.
func secretValue(v, key, parent string) bool {
	for i := 0; ; {
		j := strings.Index(v[i:], fuzzSecret)
		if j < 0 {
			return true
		}
		at := i + j
		if variableName(v, at) {
			return false // ${Zq7Sekr3tQ}: a variable's name, shown in "is not set"
		}
		whole := key == "headers" || parent == "headers" || config.IsSecretName(key) && !strings.HasSuffix(key, "_file")
		if !whole && !(key == "url" && secretInURL(v, at)) {
			return false
		}
		i = at + len(fuzzSecret)
	}
}

// variableName reports whether the secret at v[at:] is part of a ${NAME} or ${NAME:-...}'s NAME.
func variableName(v string, at int) bool {
	open := strings.LastIndex(v[:at], "${")
	if open < 0 || strings.Contains(v[open:at], "}") {
		return false
	}
	end := strings.IndexByte(v[open:], '}')
	if end < 0 {
		return false
	}
	name, _, _ := strings.Cut(v[open+2:open+end], ":-")
	return at < open+2+len(name) && validName(name)
}

func validName(name string) bool {
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return name != ""
}

// secretInURL reports whether the secret at v[at:] is, as the user who wrote v meant it, a password
// (after a ':' and before the last '@'), a token as the user of an http, nats or mqtt URL, or the
// value of a secret-looking parameter (?api_key=, password= of a DSN).
func secretInURL(v string, at int) bool {
	if lastAt := strings.LastIndexByte(v, '@'); lastAt > at {
		start := 0
		scheme, _, isURL := strings.Cut(v, "://")
		if isURL {
			start = len(scheme) + 3
		}
		if at >= start {
			if strings.Contains(v[start:at], ":") {
				return true // user:PASSWORD@
			}
			if isURL && config.IsTokenUserScheme(scheme) {
				return true // https://TOKEN@
			}
		}
	}
	// name=SECRET: the value of the last name= before it, in a query (after '?' or '&') or a DSN,
	// where a password with a blank in it is still meant as the password (password=two words).
	seg := v[:at]
	if strings.Contains(v, "://") && !strings.Contains(seg, "?") {
		return false // in a URL, not in its query: a host, a path
	}
	if i := strings.LastIndexAny(seg, "?&"); i >= 0 {
		seg = seg[i+1:]
	}
	eq := strings.LastIndexByte(seg, '=')
	if eq < 0 {
		return false
	}
	name := seg[:eq]
	if i := strings.LastIndexAny(name, " \t\n"); i >= 0 {
		name = name[i+1:]
	}
	// A name, not a path or an address that holds '=' ((db)/pass=x is a MySQL database).
	return config.IsSecretName(name) && !strings.ContainsAny(name, "/()@:")
}
