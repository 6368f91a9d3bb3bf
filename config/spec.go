package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is a check's kind-specific part, undecoded: the keys beyond the common fields, as the file wrote
// them (with their positions) but resolved: ${VAR}s expanded and *_file values read, with their origins
// recorded in the check's Source. The kind decodes it into its own struct with Decode, strictly, so config
// knows no kind and no kind's field (docs/design.md §2).
type Spec struct {
	node *yaml.Node // a mapping; nil when empty
	file string
	path string
	// files holds the fields written as NAME_file, and unread, of those, the ones whose file could not
	// be read, with the errors that say why. Both are reported when the kind decodes the Spec: an error
	// names the key as written (pasword_file, not pasword), and a file is blamed only for a field the
	// kind has (of a mistyped urll_file, "unknown field" is the error, not its missing file). Shared by
	// copies: never changed in place.
	files  map[string]bool
	unread map[string]Errors
}

// SpecOf returns a Spec holding Go values (a flag target, the environment, tests), taken literally: no
// ${VAR} is expanded in them. Values are strings, bools, ints, durations, []int, map[string]string or
// structs with yaml tags (config.TLS, config.Migrations); zero struct fields are left out.
func SpecOf(fields map[string]any) Spec {
	var s Spec
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		s.Set(k, fields[k])
	}
	return s
}

// Set sets the field key to the Go value v (as SpecOf takes them). The Spec's node is copied, never
// changed in place: copies of a Check share it.
func (s *Spec) Set(key string, v any) { s.setNode(key, goNode(reflect.ValueOf(v))) }

// SetYAML sets the field key to text read as one YAML value (a flag's: `true`, `5s`, `[a, b]`,
// `{server_name: db}`), taken literally, as SpecOf's values are: no ${VAR} is expanded, no *_file read.
// The error never quotes text: it may hold a secret.
func (s *Spec) SetYAML(key, text string) error {
	var doc yaml.Node
	err := yaml.Unmarshal([]byte(text), &doc)
	tagged := localTags(&doc)
	switch {
	case err == nil && (hasComment(&doc) || strings.HasPrefix(strings.TrimSpace(text), "#")):
		// A '#' at the start or after a blank starts a YAML comment, which drops the rest: a query
		// cut short (SELECT 1 # from orders), a body to expect that vanished (#ready).
		return errors.New("a '#' at its start or after a blank starts a YAML comment, which would drop the rest of the value: put the value in quotes, as in --set 'KIND.FIELD=\"...\"'")
	case err == nil && hasAnchor(&doc):
		// redis.key=&probe read as an anchor named probe on an empty value: the check ran without
		// the key, silently. A value on a command line has nothing to refer to it.
		return errors.New("a value that begins with '&' is read as a YAML anchor, not as text, and dropped from the value: put the value in quotes, as in --set 'KIND.FIELD=\"&...\"'")
	case strings.HasPrefix(strings.TrimSpace(text), "*"):
		return errors.New("a value that begins with '*' is read as a YAML alias (a reference to an anchor), not as text: put the value in quotes, as in --set 'KIND.FIELD=\"*...\"'")
	case err == nil && len(tagged) > 0:
		return errors.New(localTagWords)
	case err == nil && len(mistagged(&doc)) > 0:
		return errors.New(tagMismatch(mistagged(&doc)[0].node))
	case err != nil || len(doc.Content) != 1:
		return errors.New("not one YAML value (a scalar, [a, b] or {key: value})")
	}
	s.setNode(key, doc.Content[0])
	return nil
}

// hasAnchor reports whether n or a node under it carries an anchor (&name).
func hasAnchor(n *yaml.Node) bool {
	return n.Anchor != "" || slices.ContainsFunc(n.Content, hasAnchor)
}

// hasComment reports whether n or a node under it carries a comment.
func hasComment(n *yaml.Node) bool {
	if n.HeadComment != "" || n.LineComment != "" || n.FootComment != "" {
		return true
	}
	return slices.ContainsFunc(n.Content, hasComment)
}

// setNode sets the field key to v on a copy of the Spec's node.
func (s *Spec) setNode(key string, v *yaml.Node) {
	s.files, s.unread = withoutKey(s.files, key), withoutKey(s.unread, key)
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if s.node != nil {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			if s.node.Content[i].Value != key {
				n.Content = append(n.Content, s.node.Content[i], s.node.Content[i+1])
			}
		}
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	s.node = n
}

// goNode renders a Go value as a node, as the decoder reads it back.
func goNode(v reflect.Value) *yaml.Node {
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		return scalar("!!str", time.Duration(v.Int()).String())
	case v.Kind() == reflect.String:
		return scalar("!!str", v.String())
	case v.Kind() == reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	case v.Kind() == reflect.Int:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case v.Kind() == reflect.Float64:
		return scalar("!!float", strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case v.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			n.Content = append(n.Content, goNode(v.Index(i)))
		}
		return n
	case v.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmpString(a.String(), b.String()) })
		for _, k := range keys {
			n.Content = append(n.Content, scalar("!!str", k.String()), goNode(v.MapIndex(k)))
		}
		return n
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			key := f.Tag.Get("yaml")
			if key == "" || key == "-" || v.Field(i).IsZero() {
				continue
			}
			n.Content = append(n.Content, scalar("!!str", key), goNode(v.Field(i)))
		}
		return n
	}
	panic(fmt.Sprintf("config.SpecOf: unsupported value of type %s", v.Type()))
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Keys lists the fields set, in the order written.
func (s Spec) Keys() []string {
	var keys []string
	if s.node != nil {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			keys = append(keys, s.node.Content[i].Value)
		}
	}
	return keys
}

// Without returns the Spec less these fields (a kind leaves out, once reported, the fields of other kinds).
func (s Spec) Without(keys ...string) Spec {
	if s.node == nil || len(keys) == 0 {
		return s
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: s.node.Line, Column: s.node.Column}
	for i := 0; i+1 < len(s.node.Content); i += 2 {
		if !slices.Contains(keys, s.node.Content[i].Value) {
			n.Content = append(n.Content, s.node.Content[i], s.node.Content[i+1])
		}
	}
	s.node = n
	return s
}

// Adopt returns s with its field key as from has it (set, replaced or left out), and whether that
// changed s: a reload keeps a field that needs a restart as the running configuration has it.
func (s Spec) Adopt(from Spec, key string) (Spec, bool) {
	want, have := from.field(key), s.field(key)
	if want == nil && have == nil || want != nil && have != nil && sameNode(want, have) {
		return s, false
	}
	out := s.Without(key) // a new node when s has one: s's is never changed
	out.files, out.unread = adoptKey(s.files, from.files, key), adoptKey(s.unread, from.unread, key)
	if want != nil {
		if out.node == nil {
			out.node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		out.node.Content = append(out.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, want)
	}
	return out, true
}

// Adopt returns c with its field key as from has it (set, replaced or left out), in its Spec and in its
// Source (whether and where it was written, where its value came from), and whether that changed c: a
// reload keeps a field that needs a restart as the running configuration has it. The Source follows the
// Spec: a field left out of the Spec but still marked as written reads as written empty (a migrations
// block that the running check does not have was "migrations: empty", and the reload refused whole).
func (c Check) Adopt(from Check, key string) (Check, bool) {
	spec, changed := c.Spec.Adopt(from.Spec, key)
	if !changed {
		return c, false
	}
	c.Spec = spec
	c.Src.Lines = adoptKey(c.Src.Lines, from.Src.Lines, key)
	c.Src.Columns = adoptKey(c.Src.Columns, from.Src.Columns, key)
	c.Src.Vars = adoptKey(c.Src.Vars, from.Src.Vars, key)
	c.Src.Origins = adoptKey(c.Src.Origins, from.Src.Origins, key)
	c.Src.Failed = adoptKey(c.Src.Failed, from.Src.Failed, key)
	return c, true
}

// adoptKey returns to with key's entry as from has it (or none), changing a copy, never to itself.
func adoptKey[V any](to, from map[string]V, key string) map[string]V {
	v, ok := from[key]
	if _, had := to[key]; !had && !ok {
		return to
	}
	out := maps.Clone(to)
	if out == nil {
		out = map[string]V{}
	}
	if ok {
		out[key] = v
	} else {
		delete(out, key)
	}
	return out
}

// withoutKey returns m less key, changing a copy, never m itself.
func withoutKey[V any](m map[string]V, key string) map[string]V {
	if _, ok := m[key]; !ok {
		return m
	}
	out := maps.Clone(m)
	delete(out, key)
	return out
}

// WrittenAs is the key a field was written as: key, or key_file when its value was read from a file.
func (s Spec) WrittenAs(key string) string {
	if s.files[key] {
		return key + fileSuffix
	}
	return key
}

// Unread returns the errors of a field written as key_file whose file could not be read (nil when
// there are none): Decode reports them for a field of the kind; a caller that decodes no kind (the type
// is unknown) reports them itself.
func (s Spec) Unread(key string) Errors { return s.unread[key] }

// field returns the value node of a field, nil when it is not set.
func (s Spec) field(key string) *yaml.Node {
	if s.node != nil {
		for i := 0; i+1 < len(s.node.Content); i += 2 {
			if s.node.Content[i].Value == key {
				return s.node.Content[i+1]
			}
		}
	}
	return nil
}

// EntryAt is where one entry of a mapping field is written (a header of headers, or of headers_file):
// an error about that entry is placed at its own line, not at the field's. 0, 0 when it is not found.
func (s Spec) EntryAt(field, entry string) (line, column int) {
	if m := s.field(field); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == entry {
				return m.Content[i].Line, m.Content[i].Column
			}
		}
	}
	return 0, 0
}

// String returns the scalar value of a field ("" and false when it is not set or not a single value).
func (s Spec) String(key string) (string, bool) {
	if v := s.field(key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value, true
	}
	return "", false
}

// Decode decodes the Spec into the kind's struct (a pointer), strictly, with the decoder of the whole
// file: every error at once, each with its file, line and field; an unknown field with a suggestion
// among the struct's fields and known (the common fields); values of fields tagged secret:"true" never
// shown. Values were expanded when the file was read, and are taken literally here.
func (s Spec) Decode(into any, known ...string) Errors { return s.decode(into, nil, known...) }

// decode is Decode, told the variables each field was written with (its check's Source.Vars), which
// an error about a value they left empty names.
func (s Spec) decode(into any, vars map[string][]string, known ...string) Errors {
	d := &decoder{file: s.file, literal: true, known: known, specPath: s.path, specVars: vars, spec: &s}
	node := s.node
	if node == nil {
		node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	d.mapping(node, reflect.ValueOf(into).Elem(), s.path, "")
	return d.errs
}

// same reports whether two Specs hold the same values, wherever they were written.
func (s Spec) same(o Spec) bool {
	a, b := s.node, o.node
	if a == nil {
		a = &yaml.Node{Kind: yaml.MappingNode}
	}
	if b == nil {
		b = &yaml.Node{Kind: yaml.MappingNode}
	}
	return sameNode(a, b)
}

func sameNode(a, b *yaml.Node) bool {
	for a.Kind == yaml.AliasNode {
		a = a.Alias
	}
	for b.Kind == yaml.AliasNode {
		b = b.Alias
	}
	if a.Kind != b.Kind || a.Value != b.Value || (a.Tag == "!!null") != (b.Tag == "!!null") || len(a.Content) != len(b.Content) {
		return false
	}
	if a.Kind == yaml.MappingNode {
		// Keys in any order: compare as maps.
		find := func(n *yaml.Node, key string) *yaml.Node {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					return n.Content[i+1]
				}
			}
			return nil
		}
		for i := 0; i+1 < len(a.Content); i += 2 {
			bv := find(b, a.Content[i].Value)
			if bv == nil || !sameNode(a.Content[i+1], bv) {
				return false
			}
		}
		return true
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// writeNode writes n canonically (mapping keys sorted, aliases followed) for a fingerprint.
func writeNode(w io.Writer, n *yaml.Node) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		idx := make([]int, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			idx = append(idx, i)
		}
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(n.Content[a].Value, n.Content[b].Value) })
		_, _ = io.WriteString(w, "{")
		for _, i := range idx {
			fmt.Fprintf(w, "%q:", n.Content[i].Value)
			writeNode(w, n.Content[i+1])
			_, _ = io.WriteString(w, ",")
		}
		_, _ = io.WriteString(w, "}")
	case yaml.SequenceNode, yaml.DocumentNode:
		_, _ = io.WriteString(w, "[")
		for _, c := range n.Content {
			writeNode(w, c)
			_, _ = io.WriteString(w, ",")
		}
		_, _ = io.WriteString(w, "]")
	default:
		fmt.Fprintf(w, "%t%q", n.Tag == "!!null", n.Value)
	}
}
