package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliased bounds how many values a document's aliases may add once followed: the decoder, the
// fingerprint and the check kinds follow every alias, so nested ones (ten aliases of a list of ten
// aliases of ..., a YAML "billion laughs") would make a few hundred bytes cost minutes and gigabytes.
// A configuration that merges a defaults mapping into a thousand checks adds some ten thousand.
const maxAliased = 100_000

// aliasProblem finds what in a document's aliases would make following them endless or too costly:
// an alias inside the value it refers to (&a [*a], which yaml.v3 accepts and a decoder would follow
// for ever), or aliases that add more than maxAliased values. It returns the node to report at and
// why, or nil.
func aliasProblem(root *yaml.Node) (*yaml.Node, string) {
	a := aliasCount{size: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	total := a.count(root)
	switch {
	case a.bad != nil:
		return a.bad, a.why
	case total-len(a.size) > maxAliased:
		// Too many in all, though no one alias's value is too large: report the document's
		// first alias.
		return a.first, fmt.Sprintf("the aliases add more than %d values to the document (nested aliases?)", maxAliased)
	}
	return nil, ""
}

type aliasCount struct {
	size  map[*yaml.Node]int  // a node's values, its aliases followed (at most maxAliased+1 beyond its own)
	open  map[*yaml.Node]bool // the nodes being counted: an alias to one of them is inside it
	first *yaml.Node          // the first alias met
	bad   *yaml.Node
	why   string
}

// count returns how many values n holds, itself included, with its aliases followed; it stops at the
// first problem.
func (a *aliasCount) count(n *yaml.Node) int {
	if a.bad != nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		if a.first == nil {
			a.first = n
		}
		switch {
		case n.Alias == nil:
			return 1
		case a.open[n.Alias]:
			a.bad, a.why = n, fmt.Sprintf("the alias *%s is inside the value it refers to: following it would never end", n.Value)
			return 0
		}
		s := a.count(n.Alias)
		if s > maxAliased && a.bad == nil {
			a.bad, a.why = n, fmt.Sprintf("the alias *%s stands for more than %d values (nested aliases?)", n.Value, maxAliased)
		}
		return s
	}
	if s, ok := a.size[n]; ok {
		return s
	}
	a.open[n] = true
	s := 1
	for _, c := range n.Content {
		s = min(s+a.count(c), 2*maxAliased+1) // no overflow, however deep the nesting
	}
	delete(a.open, n)
	a.size[n] = s
	return s
}

// localTagWords are the error of a value with a tag of its own (!name), which healthgate gives no meaning
// to: a value that begins with '!', written unquoted (password: !s3cr3t), is read by YAML as a tag and
// what follows it (nothing, or the rest after a blank) as the value, so the password was silently empty
// or cut. The tag is not shown: it is most likely the secret's start.
const localTagWords = "a value that begins with '!' is read as a YAML tag, not as text, and dropped from the value (not shown: it may be a secret's start): write such a value (a password, a token) in quotes"

// emptyAnchorWords are the error of an anchor on an empty value: a value that begins with '&', written
// unquoted (password: &s3cr3t), is read by YAML as an anchor and the value as empty (or, after a
// blank, as the rest), so the password was silently empty. The anchor is not shown, as a tag is not.
const emptyAnchorWords = "a value that begins with '&' is read as a YAML anchor, not as text, and the value is left empty (not shown: it may be a secret's start): write such a value (a password, a token) in quotes"

// localTags returns the nodes of a document that carry a tag YAML gives no meaning to: a local tag
// (!name), or a !!name or verbatim !<...> tag that is none of YAML's own (the standard !!str, !!int...
// and the non-specific ! are taken as YAML means them): a value written !!s3cr3t unquoted is a tag
// !!s3cr3t on an empty value as much as !s3cr3t is. Outside the x- keys, which hold what healthgate
// ignores, each with where it is written, as the decoder names it (checks[0] "cache", password: errors
// in serve's own sections are ignored by check and wait). An alias is not followed: its anchored node is
// met where it is written.
func localTags(n *yaml.Node) []markedNode {
	return markedNodes(n, "", "", func(n *yaml.Node) bool { return n.Kind != yaml.AliasNode && n.Tag != "" && !yamlTags[n.Tag] })
}

// yamlTags are the tags yaml.v3 resolves and knows: every node without an explicit tag carries one of them.
var yamlTags = map[string]bool{
	"!!null": true, "!!bool": true, "!!str": true, "!!int": true, "!!float": true, "!!timestamp": true,
	"!!binary": true, "!!seq": true, "!!map": true, "!!merge": true,
}

// mistagged returns the nodes of a document whose tag, one of YAML's own written before the value
// (!!int 5s), does not fit it (tagMismatch), as localTags does.
func mistagged(n *yaml.Node) []markedNode {
	return markedNodes(n, "", "", func(n *yaml.Node) bool { return tagMismatch(n) != "" })
}

// tagMismatch says why the tag written on n, one of YAML's own, does not fit its value, "" when it does
// or none is written: a value YAML itself refuses to read as that type (interval: !!int 5s, critical:
// !!null true), a mapping or a list tagged as another kind, or !!binary, which asks for the value to be
// decoded from base64. healthgate reads each value as its field wants it, the tag unread, so such a tag
// let a value pass that the file does not hold as written: !!null made a value unwritten (its default
// applied), !!binary left a password encoded. The value is not shown: it may be a secret.
func tagMismatch(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode || n.Style&yaml.TaggedStyle == 0 || !yamlTags[n.Tag] {
		return "" // no tag written (the one YAML resolves fits), or one localTags refuses
	}
	kind := map[yaml.Kind]string{yaml.MappingNode: "!!map", yaml.SequenceNode: "!!seq", yaml.ScalarNode: "scalar"}[n.Kind]
	var v any
	switch {
	case n.Tag == "!!binary":
		return "the tag !!binary asks for the value to be decoded from base64, which healthgate does not do (the value is not shown: it may hold a secret): write the value itself, without the tag"
	case n.Kind != yaml.ScalarNode && n.Tag != kind:
		return "the tag " + n.Tag + " does not fit " + map[string]string{"!!map": "a mapping", "!!seq": "a list"}[kind] + ": write it without the tag"
	case n.Kind == yaml.ScalarNode && (n.Tag == "!!map" || n.Tag == "!!seq" || n.Tag == "!!merge" && n.Value != "<<"),
		n.Kind == yaml.ScalarNode && n.Decode(&v) != nil:
		return "the tag " + n.Tag + " does not fit the value, which YAML cannot read as that type (the value is not shown: it may hold a secret): write the value without the tag"
	}
	return ""
}

// emptyAnchors returns the nodes of a document that are an anchor on nothing (key: &name), as
// localTags does: nothing can mean that, and a value written &... unquoted reads so.
func emptyAnchors(n *yaml.Node) []markedNode {
	return markedNodes(n, "", "", func(n *yaml.Node) bool {
		return n.Anchor != "" && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
	})
}

// markedNode is a node markedNodes found, with the path and field the decoder gives an error there.
type markedNode struct {
	node        *yaml.Node
	path, field string
}

// markedNodes returns the nodes under n (n too, which is field of the mapping at path) that marked
// reports, outside the x- keys, each with the path and field the decoder names them by: a check's
// `password: !s3cr3t` is checks[0] "cache", password (it was "checks" alone).
func markedNodes(n *yaml.Node, path, field string, marked func(*yaml.Node) bool) []markedNode {
	var found []markedNode
	if marked(n) {
		found = append(found, markedNode{n, path, field})
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			found = append(found, markedNodes(c, path, field, marked)...)
		}
	case yaml.MappingNode:
		inner := join(path, field)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if strings.HasPrefix(key, "x-") {
				continue
			}
			found = append(found, markedNodes(n.Content[i], inner, "", marked)...)
			found = append(found, markedNodes(n.Content[i+1], inner, key, marked)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if c.Kind == yaml.MappingNode {
				found = append(found, markedNodes(c, fmt.Sprintf("%s[%d]%s", join(path, field), i, itemName(c)), "", marked)...)
				continue
			}
			found = append(found, markedNodes(c, path, fmt.Sprintf("%s[%d]", field, i), marked)...)
		}
	}
	return found
}
