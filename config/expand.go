package config

import (
	"fmt"
	"strings"
)

// LookupEnv reads one environment variable; it is os.LookupEnv in main and a map in tests. Unset and
// empty differ: an unset ${VAR} without a default is an error, an empty one is an empty value.
type LookupEnv func(name string) (string, bool)

// expand replaces ${VAR} and ${VAR:-default} in s; `$$` is a literal `$`, and a `$` not followed by `{`
// stays as it is (so passwords containing `$` need no escaping unless they contain `${`). A default may
// itself hold ${...} (`${DATABASE_URL:-${FALLBACK_URL}}`, as in a shell or Compose), expanded only when
// the default is taken. It returns the variables it used (names(vars) for hints, which name them;
// Inspect lists them as Refs).
func expand(s string, env LookupEnv) (out string, vars []varUse, err error) {
	if name, ok := strings.CutPrefix(s, "$"); ok && unbracedVariable(name, env) {
		// url: $DATABASE_URL, as a shell or Compose would read it. Taken as written it is a URL that
		// fails to parse, with nothing to say why. The message names no part of the value: in a secret
		// field it could, however unlikely, be a password.
		return "", nil, fmt.Errorf("a value written $NAME is not expanded: write ${NAME} for the environment variable (or $$NAME for the text itself)")
	}
	return expandAt(s, 0, 0, env)
}

// maxDefaultDepth bounds how deep defaults may nest (${A:-${B:-${C}}} is 2 deep): each level is read
// again to find its '}', so a value of 8,000 nested ${A:-...} (48 KB) took 8 s to expand, and one of
// 32,000 (190 KB) 80 s, holding --validate, check and a reload as long.
const maxDefaultDepth = 10

// unbracedVariable reports whether a whole value written $name was meant as the variable name: one that
// is set, or one written as environment variables are (DATABASE_URL).
func unbracedVariable(name string, env LookupEnv) bool {
	if !validVarName(name) {
		return false
	}
	if _, set := env(name); set {
		return true
	}
	return strings.ToUpper(name) == name && strings.ContainsFunc(name, func(r rune) bool { return r >= 'A' && r <= 'Z' })
}

// expandAt is expand of s, a part of a value that starts at offset base in it (a default, depth deep),
// for the offsets its errors give.
func expandAt(s string, base, depth int, env LookupEnv) (out string, vars []varUse, err error) {
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
		end := closing(s, i)
		if end < 0 {
			return "", vars, fmt.Errorf("unterminated ${ at offset %d (write $$ for a literal $)", base+i)
		}
		expr := s[i+2 : end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			// Not quoted: in a secret field (a url, a header) this is more likely a password that
			// holds "${" than a variable, and no error shows a secret's text. Nor is ${NAME-default}
			// (a shell's default for an unset variable) read as one: pa${s-word} is a password.
			words := ""
			if op := strings.IndexAny(name, ":-?+="); op > 0 && validVarName(name[:op]) && !hasDef {
				// ${NAME:?message}, Compose's way to require a variable, read as a bad name.
				words = "; healthgate takes ${NAME} (an unset NAME is an error) and ${NAME:-default} (taken when NAME is unset or empty), not the shell's other forms (:?, ?, -, :+, +, :=, =)"
			}
			return "", vars, fmt.Errorf("invalid variable name in the ${ at offset %d: a name is letters, digits and _, not starting with a digit%s (write $$ for a literal $)", base+i, words)
		}
		vars = append(vars, varUse{name: name, def: def, hasDef: hasDef})
		val, ok := env(name)
		switch {
		case hasDef && val == "" && depth == maxDefaultDepth && strings.Contains(def, "${"):
			return "", vars, fmt.Errorf("defaults nested more than %d deep at the ${ at offset %d (${A:-${B:-...}}): nest fewer", maxDefaultDepth, base+i)
		case hasDef && val == "":
			var inner []varUse
			val, inner, err = expandAt(def, base+i+2+len(name)+2, depth+1, env)
			vars = append(vars, inner...)
			if err != nil {
				return "", vars, err
			}
		case !ok:
			return "", vars, fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
		}
		b.WriteString(val)
		i = end
	}
	return b.String(), vars, nil
}

// closing is the index of the '}' that closes the ${ at s[open:], -1 when none does: the first '}' not
// closing a ${ of its own (a default's), `$$` being a literal '$'.
func closing(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '$':
			i++
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
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
	if !strings.HasPrefix(s, "${") || closing(s, 0) != len(s)-1 {
		return ""
	}
	name, _, _ := strings.Cut(s[2:len(s)-1], ":-")
	if !validVarName(name) {
		return ""
	}
	return name
}
