package config

import (
	"fmt"
	"strings"
)

// LookupEnv reads one environment variable; it is os.LookupEnv in main and a map in tests. Unset and
// empty differ: an unset ${VAR} without a default is an error, an empty one is an empty value.
type LookupEnv func(name string) (string, bool)

// expand replaces ${VAR} and ${VAR:-default} in s; `$$` is a literal `$`, and a `$` not followed by `{`
// stays as it is (so passwords containing `$` need no escaping unless they contain `${`). It returns the
// variables it used (names(vars) for hints, which name them; Inspect lists them as Refs).
func expand(s string, env LookupEnv) (out string, vars []varUse, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", vars, fmt.Errorf("unterminated ${ at offset %d (write $$ for a literal $)", i)
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			// Not quoted: in a secret field (a url, a header) this is more likely a password that
			// holds "${" than a variable, and no error shows a secret's text.
			return "", vars, fmt.Errorf("invalid variable name in the ${ at offset %d: a name is letters, digits and _, not starting with a digit (write $$ for a literal $)", i)
		}
		vars = append(vars, varUse{name: name, def: def, hasDef: hasDef})
		val, ok := env(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			return "", vars, fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), vars, nil
}

// varUse is one ${name} or ${name:-def} of a value.
type varUse struct {
	name, def string
	hasDef    bool
}

// names lists the variables' names, in order.
func names(vars []varUse) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.name
	}
	return out
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// wholeVariable returns VAR when s is exactly ${VAR} or ${VAR:-default}: the whole value comes from it.
func wholeVariable(s string) string {
	inner, ok := strings.CutPrefix(s, "${")
	if !ok || !strings.HasSuffix(inner, "}") || strings.Count(s, "${") != 1 {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimSuffix(inner, "}"), ":-")
	if !validVarName(name) {
		return ""
	}
	return name
}
