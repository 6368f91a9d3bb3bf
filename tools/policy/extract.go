package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	corev1 "k8s.io/api/core/v1"
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
// `checks` or `server` key), sorted by name. Each is read by healthgate's own loader (config.Inspect),
// which lists the variables and secret files it takes: no second reading of the file here.
func Configs(objs []Object) ([]Config, error) {
	var out []Config
	for _, o := range objs {
		cm, ok := o.Obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		for key, data := range cm.Data {
			c := Config{Name: cm.Name + "/" + key, Data: data, Env: map[string]string{}, Files: map[string]string{}}
			// Errors are expected of a reading without the pod's variables and files, and are for
			// healthgate itself to report (scripts/k8s-validate runs it on every rendered configuration).
			hc, _ := config.Inspect(c.Name, []byte(data))
			if !hc.Src.IsSet("checks") && !hc.Src.IsSet("server") {
				continue // another file, or not YAML at all
			}
			types := map[string]string{} // a check's path, as Refs name it → its type
			for i, ch := range hc.Checks {
				if ch.Src.Failed[""] {
					return nil, fmt.Errorf("%s: checks[%d] is not a mapping", c.Name, i)
				}
				types[ch.Src.Path] = ch.Type
			}
			c.Checks = len(hc.Checks)
			for _, r := range hc.Refs {
				c.add(r, types[r.Path])
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// add gives one reference of a check of type typ (empty outside checks) its placeholder: a variable
// that is a whole field's value gets one typed by its field, one inside a longer value a plain word,
// and one with a non-empty default none (the default is used); an absolute *_file path gets a file
// typed by its field.
func (c *Config) add(r config.Ref, typ string) {
	switch {
	case r.File != "":
		if strings.HasPrefix(r.File, "/") {
			c.Files[r.File] = placeholder(typ, strings.TrimSuffix(r.Field, "_file"))
		}
	case r.Default != "":
	case c.Env[r.Var] != "":
		// the first use decides
	case r.Whole:
		c.Env[r.Var] = placeholder(typ, r.Field)
	default:
		c.Env[r.Var] = "placeholder"
	}
}

// placeholder is a value for a check's field: the registry's example target for the kind's target field
// (so a new kind needs nothing here), else a plain word.
func placeholder(typ, field string) string {
	for _, k := range checks.Kinds() {
		if k.Name == typ && k.TargetField == field {
			return k.TargetExample
		}
	}
	return "placeholder"
}
