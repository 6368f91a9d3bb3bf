package policy

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Config is one healthgate.yaml found in a ConfigMap, with what it needs from the pod to load: a value
// for each ${VAR} it references and a file for each *_file path. The values are placeholders aimed at
// 127.0.0.1:9 (discard), so that healthgate's own loader can be run on the file without any secret and,
// inside an empty network namespace, without any traffic.
type Config struct {
	Name  string            // ConfigMap/key, e.g. "hg-healthgate/healthgate.yaml"
	Data  string            // the file
	Env   map[string]string // VAR -> placeholder
	Files map[string]string // absolute path -> placeholder content
	// Checks is how many checks it has: `healthgate check` refuses a configuration without any.
	Checks int
}

// Configs returns every ConfigMap entry that is a healthgate configuration (a YAML mapping with a
// `checks` or `server` key), sorted by name.
func Configs(objs []Object) ([]Config, error) {
	var out []Config
	for _, o := range objs {
		cm, ok := o.Obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for key, data := range cm.Data {
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(data), &doc); err != nil || doc == nil {
				continue
			}
			_, hasChecks := doc["checks"]
			_, hasServer := doc["server"]
			if !hasChecks && !hasServer {
				continue
			}
			c := Config{Name: cm.Name + "/" + key, Data: data, Env: map[string]string{}, Files: map[string]string{}}
			if server, ok := doc["server"].(map[string]any); ok {
				c.collect("", server)
			}
			if fleet, ok := doc["fleet"].(map[string]any); ok {
				c.collect("", fleet) // token / token_file
			}
			checks, _ := doc["checks"].([]any)
			c.Checks = len(checks)
			for i, x := range checks {
				check, ok := x.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: checks[%d] is not a mapping", c.Name, i)
				}
				typ, _ := check["type"].(string)
				c.collect(typ, check)
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// collect records placeholders for the string fields of one mapping (a check of type typ, or the server).
func (c *Config) collect(typ string, m map[string]any) {
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			if h, ok := v.(map[string]any); ok {
				for _, hv := range h {
					hs, ok := hv.(string)
					switch {
					case !ok:
					case k == "headers":
						c.vars(hs, "", "")
					case strings.HasSuffix(k, "_file") && strings.HasPrefix(hs, "/"): // headers_file: one file per value
						c.Files[hs] = "placeholder"
					}
				}
			}
			continue
		}
		if base, isFile := strings.CutSuffix(k, "_file"); isFile && strings.HasPrefix(s, "/") {
			c.Files[s] = placeholder(typ, base)
			continue
		}
		c.vars(s, typ, k)
	}
}

// vars: a value that is exactly ${VAR} gets a placeholder typed by its field; a VAR inside a longer value
// gets a plain word; a ${VAR:-default} with a non-empty default is left unset, so the default is used.
func (c *Config) vars(s, typ, field string) {
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		name, def := m[1], strings.TrimPrefix(m[2], ":-")
		if def != "" {
			continue
		}
		if _, set := c.Env[name]; set {
			continue
		}
		if m[0] == s {
			c.Env[name] = placeholder(typ, field)
		} else {
			c.Env[name] = "placeholder"
		}
	}
}

func placeholder(typ, field string) string {
	switch field {
	case "url":
		switch typ {
		case "postgres":
			return "postgres://healthgate@127.0.0.1:9/healthgate?sslmode=disable"
		case "redis":
			return "redis://127.0.0.1:9/0"
		case "http":
			return "http://127.0.0.1:9/healthz"
		case "amqp":
			return "amqp://healthgate@127.0.0.1:9/"
		case "nats":
			return "nats://127.0.0.1:9"
		case "mqtt":
			return "mqtt://127.0.0.1:9"
		}
	case "address":
		return "127.0.0.1:9"
	}
	return "placeholder"
}
