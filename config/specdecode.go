package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// specBuilder collects a check's kind-specific keys while the check is decoded, resolved: ${VAR}s
// expanded and *_file values read. The kind decodes the result strictly (Spec.Decode).
type specBuilder struct {
	keys, vals []*yaml.Node
	fileMaps   []specFileMap
	files      map[string]bool   // keys written as NAME_file (Spec.files)
	unread     map[string]Errors // of which, those whose file could not be read (Spec.unread)
}

// specFileMap is a `<map>_file:` mapping of a kind's field, merged once every key is read.
type specFileMap struct {
	key  *yaml.Node
	node *yaml.Node
	base string
}

func (b *specBuilder) has(key string) bool { return b.index(key) >= 0 }

func (b *specBuilder) index(key string) int {
	for i, k := range b.keys {
		if k.Value == key {
			return i
		}
	}
	return -1
}

// set adds a field, or replaces it (an explicit key wins over a merged one).
func (b *specBuilder) set(k, v *yaml.Node) {
	delete(b.files, k.Value)
	delete(b.unread, k.Value)
	if i := b.index(k.Value); i >= 0 {
		b.keys[i], b.vals[i] = k, v
		return
	}
	b.keys = append(b.keys, k)
	b.vals = append(b.vals, v)
}

func (b *specBuilder) build(file, path string) Spec {
	s := Spec{file: file, path: path}
	if len(b.files) > 0 {
		s.files = b.files
	}
	if len(b.unread) > 0 {
		s.unread = b.unread
	}
	if len(b.keys) > 0 {
		s.node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i := range b.keys {
			s.node.Content = append(s.node.Content, b.keys[i], b.vals[i])
		}
	}
	return s
}

// setKey sets m[key] to v, making m when it is nil.
func setKey[V any](m map[string]V, key string, v V) map[string]V {
	if m == nil {
		m = map[string]V{}
	}
	m[key] = v
	return m
}

// specField takes one key of a check that is not a common field: the kind's. NAME_file reads NAME's value
// from a file (a mapping of them for a map field, as headers_file); every other value is kept with its
// ${VAR}s expanded. seen is nil for a key merged in with <<.
func (d *decoder) specField(k, val *yaml.Node, src *Source, where string, b *specBuilder, seen map[string]int) {
	for val.Kind == yaml.AliasNode {
		val = val.Alias
	}
	name := k.Value
	fail := func(key string) {
		d.fail(where, key)
		if src.Failed == nil {
			src.Failed = map[string]bool{}
		}
		src.Failed[key] = true
	}
	if base, isFile := strings.CutSuffix(name, fileSuffix); isFile && base != "" && !d.literal {
		if val.Kind == yaml.MappingNode {
			if !src.IsSet(base) {
				src.place(base, k)
			}
			b.fileMaps = append(b.fileMaps, specFileMap{key: k, node: val, base: base})
			return
		}
		if nullValue(val) {
			return // password_file: with no value reads nothing: not written
		}
		// Written beside the field itself, it is one value given twice; merged in with << (seen nil), only
		// when the field is not set yet (merge). A field merged in before this key is replaced: the
		// mapping's own keys win over merged ones, wherever the << stands.
		if _, both := seen[base]; both || seen == nil && b.has(base) {
			d.errorf(k, where, name, "set together with %s; use one of them", base)
			return
		}
		if seen != nil {
			seen[base] = k.Line
		}
		src.place(base, k)
		reported := len(d.errs)
		data, path, ok := d.readSecretFile(val, where, name)
		var unread Errors
		if ok {
			src.SetOrigin(base, path)
		} else {
			// Kept for the kind's decode (Spec.Unread), which reports them for a field it has; of one
			// it has not, the error is "unknown field", not its file.
			fail(base)
			unread = slices.Clone(d.errs[reported:])
			d.errs = d.errs[:reported]
		}
		b.set(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: base, Line: k.Line, Column: k.Column},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: data, Line: val.Line, Column: val.Column})
		b.files = setKey(b.files, base, true)
		if unread != nil {
			b.unread = setKey(b.unread, base, unread)
		}
		return
	}
	src.place(name, k)
	// Where a value merged in before came from (its file, its variables) is not where this one comes from.
	delete(src.Origins, name)
	delete(src.Vars, name)
	if val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
		// Where a single value came from, for hints: "check the credentials in DATABASE_URL".
		s, vars, err := expand(val.Value, d.env)
		d.note(where, name, val.Value, vars)
		if len(vars) > 0 {
			if src.Vars == nil {
				src.Vars = map[string][]string{}
			}
			src.Vars[name] = names(vars)
			if whole := wholeVariable(val.Value); whole != "" {
				src.SetOrigin(name, whole)
			}
		}
		if err != nil {
			d.errorf(val, where, name, "%v", err)
			fail(name)
			return
		}
		r := *val
		r.Value = s
		b.set(k, &r)
		return
	}
	r, ok := d.resolve(val, where, name)
	if !ok {
		fail(name)
		return
	}
	b.set(k, r)
}

// resolve copies n with every scalar's ${VAR}s expanded, reporting each problem at its node.
func (d *decoder) resolve(n *yaml.Node, path, key string) (*yaml.Node, bool) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	r := *n
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return &r, true
		}
		s, vars, err := expand(n.Value, d.env)
		d.note(path, key, n.Value, vars)
		if err != nil {
			d.errorf(n, path, key, "%v", err)
			return nil, false
		}
		r.Value = s
		return &r, true
	case yaml.MappingNode:
		r.Content = nil
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, vok := d.resolve(n.Content[i+1], path, key+"."+n.Content[i].Value)
			if !vok {
				ok = false
				continue
			}
			r.Content = append(r.Content, n.Content[i], v)
		}
		return &r, ok
	case yaml.SequenceNode:
		r.Content = nil
		ok := true
		for i, item := range n.Content {
			v, vok := d.resolve(item, path, fmt.Sprintf("%s[%d]", key, i))
			if !vok {
				ok = false
				continue
			}
			r.Content = append(r.Content, v)
		}
		return &r, ok
	}
	return &r, true
}

// specFileMaps merges each `<map>_file:` mapping into its map: each value read from its file, a key
// given both ways an error.
func (d *decoder) specFileMaps(b *specBuilder, src *Source, where string) {
	for _, fm := range b.fileMaps {
		n := fm.node
		key := fm.key.Value
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: fm.key.Line, Column: fm.key.Column}
		keyNode := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fm.base, Line: fm.key.Line, Column: fm.key.Column}
		i := b.index(fm.base)
		if i >= 0 && nullValue(b.vals[i]) {
			i = -1 // headers: with no value is not written: headers_file gives them all
		}
		if i >= 0 {
			if b.vals[i].Kind != yaml.MappingNode {
				continue // not a mapping: the kind says so when it decodes it
			}
			c := *b.vals[i]
			c.Content = append([]*yaml.Node{}, c.Content...)
			m, keyNode = &c, b.keys[i]
		}
		pairs := d.mapPairs(n, where, key)
		for i := 0; i+1 < len(pairs); i += 2 {
			k, val := pairs[i], pairs[i+1]
			if nullValue(val) {
				continue // Authorization: ~ in headers_file reads nothing: not written
			}
			exists := false
			for j := 0; j+1 < len(m.Content); j += 2 {
				if m.Content[j].Value == k.Value && nullValue(m.Content[j+1]) {
					// Authorization: ~ in headers is not written: the file gives it.
					m.Content = slices.Delete(m.Content, j, j+2)
					break
				}
				exists = exists || m.Content[j].Value == k.Value
			}
			if exists {
				d.errorf(k, where, key+"."+k.Value, "set in %s too; use one of them", fm.base)
				continue
			}
			data, _, ok := d.readSecretFile(val, where, key+"."+k.Value)
			if !ok {
				if src.Failed == nil {
					src.Failed = map[string]bool{}
				}
				src.Failed[fm.base] = true
				continue
			}
			m.Content = append(m.Content, k, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: data, Line: val.Line, Column: val.Column})
		}
		b.set(keyNode, m)
		if i < 0 { // written as NAME_file alone: an error names it so (header_file: unknown field)
			b.files = setKey(b.files, fm.base, true)
		}
	}
}
