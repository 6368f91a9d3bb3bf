package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// fileSuffix lets any string field take its value from a file: `url_file: /run/secrets/db-url` reads
// the file into `url`. It is how Kubernetes Secrets mounted as volumes (and Docker secrets) reach a
// check without the secret ever being written into the ConfigMap.
const fileSuffix = "_file"

// Load reads, decodes and validates a configuration file. The error, if any, is an Errors listing every
// problem found, each with its file, line and field. Even with an error, the configuration is returned
// when the file could be parsed, so callers can validate further (the checks package's kinds) and
// report everything at once; fields that failed are listed in each Source's Failed.
func Load(path string, env LookupEnv) (*Config, error) {
	data, err := ReadFile(path, ConfigFileLimit)
	if err != nil {
		return nil, fileError(path, err)
	}
	return Parse(path, data, env)
}

// fileError is the error of a configuration file that was not read: the Error names the file, so the
// message says why alone (huge.yaml: larger than 1 MiB, not huge.yaml: cannot read huge.yaml: ...).
func fileError(path string, err error) Errors {
	msg := err.Error()
	var fe *FileError
	if errors.As(err, &fe) {
		msg = fe.Why
	}
	return Errors{{File: path, Msg: msg}}
}

// LoadRefs is Load with the configuration's Refs filled: every ${VAR} it looked up and every *_file it
// read. Serve's reload poll watches them, with the file itself, and decodes the file again only when
// one of them changed.
func LoadRefs(path string, env LookupEnv) (*Config, error) {
	data, err := ReadFile(path, ConfigFileLimit)
	if err != nil {
		return nil, fileError(path, err)
	}
	var refs []Ref
	cfg, err := parse(&decoder{file: path, env: env, refs: &refs}, data)
	cfg.Refs = refs
	return cfg, err
}

// Parse decodes and validates a configuration held in memory; name is used in messages.
func Parse(name string, data []byte, env LookupEnv) (*Config, error) {
	return parse(&decoder{file: name, env: env}, data)
}

func parse(d *decoder, data []byte) (*Config, error) {
	cfg := &Config{File: d.file}
	d.document(data, cfg)
	cfg.applyDefaults()
	// Validate even when decoding found problems, so the user sees everything at once; fields that
	// failed to decode are zero and are skipped by Validate where that would only add noise.
	errs := append(d.errs, cfg.validate(d.failed)...)
	return cfg, errs.Err()
}

// Inspect decodes a configuration as a manifest checker can know it before deployment: every ${VAR}
// unset (${VAR:-default} takes its default, ${VAR} is empty) and no *_file read (the field stays empty).
// The configuration is returned with every error, as Parse does; errors that only say a value is empty
// are to be expected of such a reading.
func Inspect(name string, data []byte) (*Config, error) {
	var refs []Ref
	cfg, err := parse(&decoder{file: name, env: func(string) (string, bool) { return "", true }, noFiles: true, refs: &refs}, data)
	cfg.Refs = refs
	return cfg, err
}

type decoder struct {
	file string
	env  LookupEnv
	// noFiles: *_file fields are not read (Inspect).
	noFiles bool
	// literal: values were expanded already (Spec.Decode): no ${VAR} and no *_file.
	literal bool
	// specPath and specVars, for Spec.Decode: the check's path, and the variables each of its fields
	// was written with (Source.Vars).
	specPath string
	specVars map[string][]string
	// spec is the Spec decoded (Spec.Decode): which of its keys were written as NAME_file.
	spec *Spec
	// refs, when set (Inspect), collects every ${VAR} and *_file path met.
	refs *[]Ref
	// known are more field names for suggestions: the common fields, when a kind decodes its Spec.
	known []string
	errs  Errors
	// itemVars, while a list of single values is decoded (fleet.peers), collects the variables its items
	// were written with, for the field's Source.Vars.
	itemVars *[]string
	// failed holds the paths (mapping path + "." + key) whose values could not be decoded, so that
	// validation does not report them a second time.
	failed map[string]bool
}

func (d *decoder) errorf(n *yaml.Node, path, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Path: path, Field: field, Msg: sprintf(format, args...)})
}

func (d *decoder) fail(path, field string) {
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[path+"."+field] = true
}

func (d *decoder) document(data []byte, cfg *Config) {
	// A file holds one document. A document with nothing in it (a `---` a template or a concatenation
	// leaves at the end, or at the start before another one, perhaps with a comment) is not one: the
	// document is the one that holds something, and a second such is an error at it.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc *yaml.Node
	for {
		var next yaml.Node
		if err := dec.Decode(&next); err != nil {
			if !errors.Is(err, io.EOF) {
				d.errs = append(d.errs, yamlSyntaxError(d.file, data, err))
				return
			}
			break
		}
		switch {
		case emptyDocument(&next) && doc != nil:
		case doc == nil || emptyDocument(doc):
			doc = &next
		default:
			d.errorf(&next, "", "", "a configuration file holds one YAML document; found a second one")
		}
	}
	if doc == nil {
		cfg.Src = Source{File: d.file}
		return // an empty file is an empty configuration
	}
	if n, why := aliasProblem(doc); n != nil {
		cfg.Src = Source{File: d.file}
		d.errorf(n, "", "", "%s", why)
		return
	}
	for _, m := range localTags(doc) {
		d.errorf(m.node, m.path, m.field, "%s", localTagWords)
	}
	for _, m := range mistagged(doc) {
		d.errorf(m.node, m.path, m.field, "%s", tagMismatch(m.node))
	}
	for _, m := range emptyAnchors(doc) {
		d.errorf(m.node, m.path, m.field, "%s", emptyAnchorWords)
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		cfg.Src = Source{File: d.file}
		return
	}
	d.value(root, reflect.ValueOf(cfg).Elem(), "", "")
}

// emptyDocument reports whether a document holds nothing: no node, or a null written as nothing (a `---`
// followed by comments at most).
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

// value decodes node n into v. path is the enclosing mapping's path and key the field's YAML key; both
// only serve messages.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, key string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.mapping(n, v, path, key)
	case v.Kind() == reflect.Map:
		d.stringMap(n, v, path, key)
	case v.Kind() == reflect.Slice:
		d.sequence(n, v, path, key)
	default:
		d.scalar(n, v, path, key)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path, key string) {
	at := n                        // where the mapping stands: an alias's own place, where it repeats its anchor's
	for n.Kind == yaml.AliasNode { // a list item that is an alias (checks: [*db]): value() follows the others
		n = n.Alias
	}
	where := join(path, key)
	t := v.Type()
	fields := map[string]int{}
	srcIndex, specIndex := -1, -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == reflect.TypeFor[Source]() {
			srcIndex = i
			continue
		}
		if f.Type == reflect.TypeFor[Spec]() {
			specIndex = i
			continue
		}
		if tag := yamlKey(f); tag != "" {
			fields[tag] = i
		}
	}
	if key != "" && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // `server:` with every key commented out: nothing set, defaults apply (a list item must not be empty)
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, key, "must be a mapping, not %s", describe(n))
		d.fail(path, key)
		if srcIndex >= 0 {
			// Failed[""]: nothing of it decoded; validation says nothing more about it.
			v.Field(srcIndex).Set(reflect.ValueOf(Source{File: d.file, Path: where, Line: n.Line, Column: n.Column,
				Lines: map[string]int{}, Failed: map[string]bool{"": true}}))
		}
		return
	}
	src := Source{File: d.file, Path: where, Line: at.Line, Column: at.Column, Lines: map[string]int{}}
	seen := map[string]int{}
	var fileMaps []fileMap
	var merges []*yaml.Node // the values of << keys
	var spec *specBuilder   // the kind's keys of a check
	if specIndex >= 0 {
		spec = &specBuilder{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		if strings.HasPrefix(name, "x-") {
			continue // an extension field, as in Compose files: a place to hold anchors (&name) for merges
		}
		if name == "<<" { // merge key: fields from an anchored mapping, merged once the explicit keys are read
			merges = append(merges, val)
			continue
		}
		if line, dup := seen[name]; dup {
			if nullValue(val) {
				continue // a key with no value is not written: not a second value (url: beside url_file)
			}
			d.errorf(k, where, name, "set twice (first on line %d)", line)
			continue
		}
		if !nullValue(val) {
			// A key with no value (or ~) counts as not written (as Helm renders an unset value): not
			// seen, so that its NAME_file may give it, and a second key gives it without "set twice".
			seen[name] = k.Line
		}
		if idx, ok := fields[name]; ok {
			if errs := d.unreadSpecFile(where, name); errs != nil {
				d.errs = append(d.errs, errs...)
				continue
			}
			if unwritten(val, t.Field(idx)) {
				continue
			}
			src.place(name, k)
			d.field(val, v.Field(idx), t.Field(idx), &src, where, name)
			continue
		}
		base, isFile := strings.CutSuffix(name, fileSuffix)
		isFile = isFile && !d.literal
		if idx, ok := fields[base]; ok && isFile && t.Field(idx).Type.Kind() == reflect.String {
			if nullValue(val) {
				continue // url_file: with no value reads nothing: not written
			}
			if _, both := seen[base]; both { // one merged in before is replaced: the mapping's own keys win
				d.errorf(k, where, name, "set together with %s; use one of them", base)
				continue
			}
			seen[base] = k.Line
			src.place(base, k)
			d.fromFile(val, v.Field(idx), &src, where, name, base)
			continue
		}
		if idx, ok := fields[base]; ok && isFile && t.Field(idx).Type.Kind() == reflect.Map {
			// headers_file: {Authorization: /run/secrets/auth}: each value read from its file,
			// merged with the literal headers once the whole mapping is decoded.
			if _, set := src.Lines[base]; !set {
				src.place(base, k)
			}
			fileMaps = append(fileMaps, fileMap{idx: idx, node: val, key: name, base: base})
			continue
		}
		if _, ok := fields[base]; ok && isFile {
			// critical_file, interval_file: a common field that is not text, whose value is written here.
			d.errorf(k, where, name, "%s cannot be read from a file: write its value (a file holds a text field's value, such as url or a password)", base)
			continue
		}
		if _, ok := fields[base]; ok && base != name && !d.filesIn(where) {
			// migrations: {table_file: ...}: a mapping within a kind's fields reads nothing from a file.
			d.errorf(k, where, name, "%s cannot be read from a file here: write its value (a ${VAR} works too)", base)
			continue
		}
		if spec != nil {
			d.specField(k, val, &src, where, spec, seen)
			continue
		}
		if valueless(k, val) {
			d.errorf(k, where, "", "%s", valuelessWords)
			continue
		}
		if secret := afterSecret(n, i, t, fields); secret != "" && !d.fromSpecFile(where, secret) {
			// (A value read from a file, url_file, was not written here: nothing of it can be cut.)
			d.errorf(k, where, "", afterSecretWords, secret)
			continue
		}
		if d.fromSpecFile(where, name) {
			// pasword_file: the key as written, and the suggestion in the same form.
			d.errorf(k, where, name+fileSuffix, "unknown field%s", fileSuggestion(d.suggest(name, where, t, fields)))
			continue
		}
		d.errorf(k, where, name, "unknown field%s", d.suggest(name, where, t, fields))
	}
	// The mapping's own keys win over merged ones, wherever the << stands: merged after them, a merged
	// key is skipped when the mapping sets it, as its NAME_file (url_file beside a merged url) or the
	// other way round, and is never read (an unset ${VAR} it holds, a file it names).
	for _, m := range merges {
		d.merge(m, v, fields, &src, where, spec)
	}
	for _, fm := range fileMaps {
		d.fromFileMap(fm, v.Field(fm.idx), &src, where)
	}
	if spec != nil {
		d.specFileMaps(spec, &src, where)
		v.Field(specIndex).Set(reflect.ValueOf(spec.build(d.file, where)))
	}
	if srcIndex >= 0 {
		v.Field(srcIndex).Set(reflect.ValueOf(src))
	}
}

// fileMap is a `<map>_file:` mapping waiting to be merged into its map.
type fileMap struct {
	idx       int
	node      *yaml.Node
	key, base string
}

// fromFileMap reads each value of a `<map>_file:` mapping from its file into the map; a key given both
// ways is an error.
func (d *decoder) fromFileMap(fm fileMap, v reflect.Value, src *Source, where string) {
	n := fm.node
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, where, fm.key, "must be a mapping of names to file paths, not %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	pairs := d.mapPairs(n, where, fm.key)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, val := pairs[i], pairs[i+1]
		if nullValue(val) {
			continue // Authorization: ~ in headers_file reads nothing: not written
		}
		if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, where, fm.key+"."+k.Value, "set in %s too; use one of them", fm.base)
			continue
		}
		data, _, ok := d.readSecretFile(val, where, fm.key+"."+k.Value)
		if !ok {
			if src.Failed == nil {
				src.Failed = map[string]bool{}
			}
			src.Failed[fm.base] = true
			continue
		}
		v.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(data))
	}
}

func (d *decoder) merge(val *yaml.Node, v reflect.Value, fields map[string]int, src *Source, where string, spec *specBuilder) {
	for _, m := range d.mergeSources(val, where, "<<") {
		// A merged mapping's own merges are followed (x-db: {<<: *fast, type: postgres}, then <<: *db),
		// as Compose and every YAML 1.1 reader follow them, its own keys winning over theirs.
		pairs := d.mapPairs(m, where, "")
		for i := 0; i+1 < len(pairs); i += 2 {
			k, fv := pairs[i], pairs[i+1]
			idx, ok := fields[k.Value]
			if !ok && spec != nil {
				if !src.IsSet(k.Value) && !spec.has(strings.TrimSuffix(k.Value, fileSuffix)) {
					d.specField(k, fv, src, where, spec, nil)
				}
				continue
			}
			if !ok {
				d.errorf(k, where, k.Value, "unknown field%s", d.suggest(k.Value, where, v.Type(), fields))
				continue
			}
			if src.IsSet(k.Value) || unwritten(fv, v.Type().Field(idx)) {
				continue
			}
			src.place(k.Value, k)
			d.field(fv, v.Field(idx), v.Type().Field(idx), src, where, k.Value)
		}
	}
}

// mergeSources are the mappings the value of a merge key names, aliases followed: one (<<: *a) or each
// of a list (<<: [*a, *b]). An entry that is not a mapping is reported at it (under where, as key) and
// left out.
func (d *decoder) mergeSources(val *yaml.Node, where, key string) []*yaml.Node {
	for val.Kind == yaml.AliasNode {
		val = val.Alias
	}
	sources := []*yaml.Node{val}
	if val.Kind == yaml.SequenceNode {
		sources = val.Content
	}
	var maps []*yaml.Node
	for _, m := range sources {
		for m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		if m.Kind != yaml.MappingNode {
			d.errorf(m, where, key, "merge needs a mapping, not %s", describe(m))
			continue
		}
		maps = append(maps, m)
	}
	return maps
}

// unwritten reports whether val, the value of the single-valued field f, is YAML's null (critical: with
// nothing after it, or ~): the field counts as not written and its default applies, as a null value
// means in Kubernetes manifests and Helm values. Read as the type's zero value instead, a blank
// critical: made a critical check non-critical and a blank shutdown_delay: dropped the drain.
// yamlKey is the key a struct field is written with, "" for one that is not (yaml:"-": Src, Spec).
func yamlKey(f reflect.StructField) string {
	if tag := f.Tag.Get("yaml"); tag != "-" {
		return tag
	}
	return ""
}

// nullValue reports whether n (through aliases) is YAML's null: a key written with no value, or ~ or null.
func nullValue(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func unwritten(val *yaml.Node, f reflect.StructField) bool {
	switch f.Type.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool, reflect.Float64, reflect.Map:
		// A map too: headers: with nothing after it (beside headers_file, as Helm renders an unset value).
		return nullValue(val)
	}
	return false
}

func (d *decoder) field(val *yaml.Node, fv reflect.Value, f reflect.StructField, src *Source, where, key string) {
	before := len(d.errs)
	if f.Type.Kind() == reflect.String || f.Type == reflect.TypeFor[time.Duration]() ||
		f.Type.Kind() == reflect.Int || f.Type.Kind() == reflect.Bool {
		d.expandedScalar(val, fv, src, where, key, f.Tag.Get("secret") == "true")
	} else if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.Struct {
		// Its items' variables are the field's, as a single value's are (peers: [${PEER_TOKEN}]).
		var vars []string
		d.itemVars = &vars
		d.value(val, fv, where, key)
		d.itemVars = nil
		if len(vars) > 0 {
			if src.Vars == nil {
				src.Vars = map[string][]string{}
			}
			src.Vars[key] = vars
		}
	} else {
		d.value(val, fv, where, key)
	}
	if len(d.errs) > before {
		d.fail(where, key)
		if src.Failed == nil {
			src.Failed = map[string]bool{}
		}
		src.Failed[key] = true
	}
}

// expandedScalar expands ${VAR} in a scalar before converting it, so that `interval: ${PROBE_INTERVAL:-5s}`
// works too. A secret field never has its value echoed in a message.
func (d *decoder) expandedScalar(n *yaml.Node, v reflect.Value, src *Source, where, key string, secret bool) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, where, key, "must be a single value, not %s", describe(n))
		return
	}
	if n.Tag == "!!null" {
		return
	}
	if d.literal {
		// A kind's field, its ${VAR}s expanded when the file was read.
		var vars []string
		if d.inSpec(where) {
			vars = d.specVars[key]
		}
		if !d.inSpec(where) || !d.emptyFromVariable(n, n.Value, v, where, key, vars) {
			d.convert(n, n.Value, v, where, key, secret, vars)
		}
		return
	}
	s, vars, err := expand(n.Value, d.env)
	d.note(where, key, n.Value, vars)
	if len(vars) > 0 {
		if src.Vars == nil {
			src.Vars = map[string][]string{}
		}
		src.Vars[key] = names(vars)
		if whole := wholeVariable(n.Value); whole != "" {
			src.SetOrigin(key, whole)
		}
	}
	if err != nil {
		d.errorf(n, where, key, "%v", err)
		return
	}
	if d.emptyFromVariable(n, s, v, where, key, names(vars)) {
		return
	}
	d.convert(n, s, v, where, key, secret, names(vars))
}

// emptyFromVariable reports, as an error, a duration, a number or a boolean that its variables (vars,
// their names) left empty (interval: ${PROBE_INTERVAL}, the variable empty): `invalid duration ""` did
// not say why.
func (d *decoder) emptyFromVariable(n *yaml.Node, s string, v reflect.Value, where, key string, vars []string) bool {
	if v.Kind() == reflect.String || strings.TrimSpace(s) != "" || len(vars) == 0 {
		return false
	}
	d.errorf(n, where, key, "empty %s: set it, or write a default (${NAME:-value})", emptyVariables(vars))
	return true
}

func (d *decoder) fromFile(n *yaml.Node, v reflect.Value, src *Source, where, key, base string) {
	data, path, ok := d.readSecretFile(n, where, key)
	if !ok {
		d.fail(where, base)
		if src.Failed == nil {
			src.Failed = map[string]bool{}
		}
		src.Failed[base] = true
		return
	}
	src.SetOrigin(base, path)
	v.SetString(data)
}

// readSecretFile reads the file n names (after ${VAR} expansion), reporting any problem at n; it
// returns the contents and the path read.
func (d *decoder) readSecretFile(n *yaml.Node, where, key string) (data, path string, ok bool) {
	for n.Kind == yaml.AliasNode { // headers_file: {Authorization: *auth-path}
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, where, key, "must be a file path")
		return "", "", false
	}
	path, vars, err := expand(n.Value, d.env)
	d.note(where, key, n.Value, vars)
	if err != nil {
		d.errorf(n, where, key, "%v", err)
		return "", "", false
	}
	if d.refs != nil && path != "" {
		*d.refs = append(*d.refs, Ref{Path: where, Field: key, File: path})
	}
	if d.noFiles {
		return "", path, true
	}
	if path == "" { // it would read as "cannot read : no such file"
		msg := "must be a file path, not empty"
		if len(vars) > 0 {
			msg += " " + emptyVariables(names(vars))
		}
		d.errorf(n, where, key, "%s", msg)
		return "", "", false
	}
	shown := shownPath(n.Value, path, names(vars))
	raw, err := ReadFile(path, SecretFileLimit)
	if err != nil {
		if fe := (*FileError)(nil); errors.As(err, &fe) {
			err = fmt.Errorf("cannot read %s: %s", shown, fe.Why)
		}
		d.errorf(n, where, key, "%v", err)
		return "", "", false
	}
	// Secret files written by `kubectl create secret --from-file` or `echo` end with a newline that is not
	// part of the secret; one saved by a Windows editor or PowerShell (Set-Content -Encoding UTF8) also
	// begins with a UTF-8 byte order mark, invisible, which is not either (the configuration file's own is
	// skipped by the YAML parser).
	text := strings.TrimRight(strings.TrimPrefix(string(raw), "\ufeff"), "\r\n")
	if strings.TrimSpace(text) == "" {
		// A Secret's key with no value, mounted as an empty file: it read as the field not written
		// ("url: required", "username: needs a password (... or password_file)", of a password_file
		// given), or as an empty Authorization header sent.
		d.errorf(n, where, key, "%s is empty, or holds only blanks (a Secret's key with no value?): a value read from a file cannot be empty", shown)
		return "", "", false
	}
	return text, path, true
}

// shownPath is how an error names the path a *_file field gives (raw as written, path expanded, with the
// variables vars): the path, unless it may hold a secret, as a URL or a password written where a path
// is wanted does (url_file: ${DATABASE_URL}, password_file: ${MEMCACHED_PASSWORD}): PathMayHoldSecret,
// or it comes from a variable named as a secret is (not one named as a path: SECRETS_DIR, DB_URL_FILE).
// Then the value as written when that holds none, else nothing of it.
func shownPath(raw, path string, vars []string) string {
	secretVar := func(name string) bool {
		upper := strings.ToUpper(name)
		return IsSecretName(name) && !strings.HasSuffix(upper, "FILE") && !strings.HasSuffix(upper, "PATH") && !strings.HasSuffix(upper, "DIR")
	}
	switch {
	case !PathMayHoldSecret(path) && !slices.ContainsFunc(vars, secretVar):
		return path
	case raw != path && !PathMayHoldSecret(raw):
		return raw + " (its value not shown: it may hold a secret)"
	}
	return "the path (not shown: it may hold a secret)"
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, key, "must be a single value, not %s", describe(n))
		d.fail(path, key)
		return
	}
	if n.Tag == "!!null" {
		return
	}
	s, vars, err := d.expand(n.Value, path, key)
	if d.itemVars != nil {
		*d.itemVars = append(*d.itemVars, names(vars)...)
	}
	if err != nil {
		d.errorf(n, path, key, "%v", err)
		d.fail(path, key)
		return
	}
	if d.emptyFromVariable(n, s, v, path, key, names(vars)) {
		return
	}
	d.convert(n, s, v, path, key, false, names(vars))
}

// convert sets v to s, the value of the field key, reporting at n a value that is none of v's type. The
// value is shown in the error unless the field is a secret one, or the value may hold a secret all the
// same (MayHoldSecret, of the variables vars it was written with: interval: ${DATABASE_URL}).
func (d *decoder) convert(n *yaml.Node, s string, v reflect.Value, path, key string, secret bool, vars []string) {
	shown := Quote(s, vars)
	if secret {
		shown = "(value hidden)"
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		dur, err := parseDuration(s)
		if errors.Is(err, errNegative) {
			d.errorf(n, path, key, "must not be negative (got %s)", shown)
			return
		}
		if errors.Is(err, errTooLong) {
			d.errorf(n, path, key, "%s is longer than a duration holds (about 292 years, 2562047h)", shown)
			return
		}
		if err != nil {
			d.errorf(n, path, key, "invalid duration %s: use a number with a unit, such as 500ms, 5s or 1m30s", shown)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if errors.Is(err, strconv.ErrRange) {
			// A number all the same (99999999999999999999): "invalid integer" did not say what is wrong.
			d.errorf(n, path, key, "%s is out of range: an integer is from %d to %d", shown, math.MinInt, math.MaxInt)
			return
		}
		if err != nil {
			d.errorf(n, path, key, "invalid integer %s", shown)
			return
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			msg := "invalid number " + shown
			if pct, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok && shown != NotShown && !secret {
				if p, perr := strconv.ParseFloat(strings.TrimSpace(pct), 64); perr == nil && p >= 0 && p <= 100 {
					// fail_open_ratio: 50%: a share is written as a fraction.
					msg += fmt.Sprintf(": a share is written as a fraction: %s for %s", strconv.FormatFloat(p/100, 'f', -1, 64), strings.TrimSpace(s))
				}
			}
			d.errorf(n, path, key, "%s", msg)
			return
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.errorf(n, path, key, "invalid boolean %s: write true or false", shown)
		}
	default:
		d.errorf(n, path, key, "unsupported field type %s", v.Type())
	}
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		if DurationTooLong(s) {
			return 0, errTooLong
		}
		return 0, err
	}
	if dur < 0 {
		return 0, errNegative
	}
	return dur, nil
}

// durationSyntax is what time.ParseDuration reads: numbers, each with its unit.
var durationSyntax = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// DurationTooLong reports whether s, which time.ParseDuration refused, is written as a duration but is
// longer than a time.Duration holds (about 292 years): its error is the one of a word that is no
// duration, "use a number with a unit", which 9999999h has.
func DurationTooLong(s string) bool {
	s = strings.TrimSpace(s)
	if _, err := time.ParseDuration(s); err == nil || !durationSyntax.MatchString(s) {
		return false
	}
	return strings.ContainsAny(s, "0123456789")
}

// errTooLong is parseDuration's error of a duration longer than a time.Duration holds.
var errTooLong = errors.New("too long")

// errNegative is parseDuration's error of a duration written with a unit, but below zero (-1s): the
// hint to write a number with a unit would not say what is wrong with it.
var errNegative = errors.New("negative")

func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, key, "must be a mapping, not %s", describe(n))
		return
	}
	pairs := d.mapPairs(n, path, key)
	m := reflect.MakeMapWithSize(v.Type(), len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, val := pairs[i], pairs[i+1]
		for val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		if valueless(k, val) {
			d.errorf(k, path, key, "%s", valuelessWords)
			continue
		}
		if nullValue(val) {
			// X-Token: ~, or with nothing after it (a Helm value left unset): not written, as a field with
			// no value is. It was sent as the text "null" or "~", a credential nobody wrote.
			continue
		}
		if val.Kind != yaml.ScalarNode {
			d.errorf(val, path, key+"."+k.Value, "must be a single value, not %s", describe(val))
			continue
		}
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, path, key+"."+k.Value, "set twice")
			continue
		}
		s, _, err := d.expand(val.Value, path, key+"."+k.Value)
		if err != nil {
			d.errorf(val, path, key+"."+k.Value, "%v", err)
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(s))
	}
	v.Set(m)
}

// mapPairs is the keys and values of the mapping n, as its Content lists them, with YAML's merge keys
// followed as mapping does for a struct: `headers: {<<: *common, X-Extra: "1"}` holds the keys of the
// anchored mapping its own keys do not set (of a list of them, `<<: [*a, *b]`, the first to set a key
// wins), so a map field (headers) merges an anchor as every other mapping of the file does. A merge of
// what is not a mapping is reported at it (as key.<<, or << for key "": a merge into a check or a section).
func (d *decoder) mapPairs(n *yaml.Node, path, key string) []*yaml.Node {
	var own, merged []*yaml.Node
	set := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "<<" {
			own = append(own, k, n.Content[i+1])
			set[k.Value] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "<<" {
			continue
		}
		mergeKey := "<<"
		if key != "" {
			mergeKey = key + ".<<"
		}
		for _, m := range d.mergeSources(n.Content[i+1], path, mergeKey) {
			pairs := d.mapPairs(m, path, key)
			for j := 0; j+1 < len(pairs); j += 2 {
				if k := pairs[j]; !set[k.Value] {
					merged = append(merged, k, pairs[j+1])
					set[k.Value] = true
				}
			}
		}
	}
	return append(own, merged...)
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		// `expect_status: 200` is a natural shorthand for `[200]`, and `peers: dns:///name:8080` for
		// a list of one.
		if n.Kind == yaml.ScalarNode && (v.Type().Elem().Kind() == reflect.Int || v.Type().Elem().Kind() == reflect.String) {
			one := reflect.New(v.Type().Elem()).Elem()
			d.scalar(n, one, path, key)
			v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), one))
			return
		}
		d.errorf(n, path, key, "must be a list, not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if s.Index(i).Kind() == reflect.Struct {
			d.mapping(item, s.Index(i), fmt.Sprintf("%s[%d]%s", join(path, key), i, itemName(item)), "")
			continue
		}
		d.value(item, s.Index(i), path, fmt.Sprintf("%s[%d]", key, i))
	}
	v.Set(s)
}

// itemName finds the `name:` of a sequence item before decoding it, so every message about the item
// can say which check it is about.
func itemName(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; n.Content[i].Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			if NameMaySecret(v.Value) {
				return "" // a URL written as the name: every message about the check would show it
			}
			return fmt.Sprintf(" %q", v.Value)
		}
	}
	return ""
}

func join(path, key string) string {
	switch {
	case key == "":
		return path
	case path == "":
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return "a single value"
	}
	return "this"
}

// expand is expand with the decoder's environment; a literal decoder takes s as it is.
func (d *decoder) expand(s, path, key string) (string, []varUse, error) {
	if d.literal {
		return s, nil, nil
	}
	out, vars, err := expand(s, d.env)
	d.note(path, key, s, vars)
	return out, vars, err
}

// note records raw's variables as Refs of the field key of the mapping at path, when the decoder
// lists them (Inspect, LoadRefs).
func (d *decoder) note(path, key, raw string, vars []varUse) {
	if d.refs == nil {
		return
	}
	whole := wholeVariable(raw)
	for _, v := range vars {
		*d.refs = append(*d.refs, Ref{Path: path, Field: key, Var: v.name, Default: v.def, HasDefault: v.hasDef, Whole: v.name == whole})
	}
}

// suggest is the " (did you mean ...)" of an unknown field of the mapping at where: the closest of the
// struct's fields and the decoder's known names, or of their file forms where the mapping takes them.
func (d *decoder) suggest(name, where string, t reflect.Type, fields map[string]int) string {
	if elsewhere := misplaced(name, t); elsewhere != "" {
		return elsewhere
	}
	all := maps.Clone(fields)
	if d.inSpec(where) || !d.literal {
		// The common fields, for a kind's own mapping (not for one within it, tls or migrations, where
		// a check's field is misplaced, not misspelt).
		for _, k := range d.known {
			all[k] = 0
		}
	}
	if s := suggest(name, all); s != "" || !d.filesIn(where) {
		return s
	}
	// url_fiel, pasword_flie: the file form of a text field, its suffix misspelt (and perhaps its name).
	i := strings.LastIndexByte(name, '_')
	if i <= 0 || editDistance(strings.ToLower(name[i+1:]), fileSuffix[1:]) > 1 {
		return ""
	}
	text := map[string]int{}
	for f, idx := range fields {
		if k := t.Field(idx).Type.Kind(); k == reflect.String || k == reflect.Map {
			text[f] = idx
		}
	}
	return fileSuggestion(suggest(name[:i], text))
}

// misplaced says where a field of another section belongs, for an unknown field of server, defaults, a
// check or a mapping within one (" (interval is a field of defaults, or of each check)"), "" when it is
// none of theirs. Offered as a suggestion, a check's interval inside its tls block read "interval: unknown
// field (did you mean "interval"?)".
func misplaced(name string, t reflect.Type) string {
	has := func(s reflect.Type) bool {
		for f := range s.Fields() {
			if yamlKey(f) == name {
				return true
			}
		}
		return false
	}
	server, defaults, check := reflect.TypeFor[Server](), reflect.TypeFor[Defaults](), reflect.TypeFor[Check]()
	switch {
	case t != server && has(server):
		return " (" + name + " is a field of server)"
	case t != defaults && t != check && has(defaults):
		return " (" + name + " is a field of defaults, or of each check)"
	case t != check && has(check):
		return " (" + name + " is a field of each check)"
	}
	return ""
}

// filesIn reports whether the fields of the mapping at where may be written as NAME_file: everywhere but
// in a mapping within a kind's fields (migrations, tls), whose values were read as they are written.
func (d *decoder) filesIn(where string) bool { return !d.literal || d.inSpec(where) }

// unreadSpecFile returns the errors of a kind's field written as NAME_file whose file could not be read
// (Spec.Unread), when the mapping decoded is that Spec's.
func (d *decoder) unreadSpecFile(where, name string) Errors {
	if !d.inSpec(where) {
		return nil
	}
	return d.spec.Unread(name)
}

// fromSpecFile reports whether name, a key of the mapping at where, is a kind's field written as
// NAME_file (Spec.WrittenAs), when that mapping is the Spec's decoded.
func (d *decoder) fromSpecFile(where, name string) bool {
	return d.inSpec(where) && d.spec.files[name]
}

// inSpec reports whether the mapping at where is the Spec's decoded (Spec.Decode), not one within it.
func (d *decoder) inSpec(where string) bool { return d.spec != nil && where == d.specPath }

// fileSuggestion turns a suggestion of a field, ` (did you mean "url"?)`, into one of its file form,
// ` (did you mean "url_file"?)`.
func fileSuggestion(s string) string {
	if s == "" {
		return ""
	}
	return strings.TrimSuffix(s, `"?)`) + fileSuffix + `"?)`
}

func suggest(name string, fields map[string]int) string {
	// Fields are lower case: URL or Interval is the field in another case, however short.
	best := Closest(strings.ToLower(name), slices.Sorted(maps.Keys(fields)), 3)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the first of candidates nearest to name by edit distance, if that distance is below
// within; else "". It is the did-you-mean of every configuration message.
func Closest(name string, candidates []string, within int) string {
	best, bestDist := "", within
	for _, c := range candidates {
		if dist := editDistance(name, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the number of edits that turn a into b: a character inserted, deleted or replaced, or
// two neighbours swapped (the commonest typo: ulr for url, which plain Levenshtein counts as two, as far
// as tls, so the suggestion was the wrong field).
func editDistance(a, b string) int {
	// Three rows: the one before the previous is where a swap of two neighbours is counted from.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev = prev, cur
	}
	return prev[len(b)]
}

// valuelessWords are the error of a key written without a ':' in a {...} mapping ({a: b, c}), not
// quoted: it is most often the rest of a value that held a ',', which ends a value there
// ({password: ab,cd}: a password ab and a key cd), and a secret's tail is no field name to show.
const valuelessWords = "a key without ':' and a value (not shown: in a {...} mapping a ',' ends a value, and what follows it is read as a key; write a value that holds a ',' in quotes: {password: \"ab,cd\"})"

// afterSecretWords are the error of an unknown key that follows a secret field's value on its line
// (afterSecret), not quoted: in a {...} mapping a ',' ends a value, and the rest of a secret holding one,
// up to a ':', is read as a key ({password: ab,cd: x}: a password ab and a key cd).
const afterSecretWords = "an unknown field after the value of %s on its line (not shown: in a {...} mapping a ',' ends a value, and what follows it is read as a key; write a value that holds a ',' in quotes: {password: \"ab,cd\"})"

// afterSecret is the secret field (tagged secret:"true") whose value the key n.Content[i] follows on
// the same line, in a {...} mapping: that key may be the rest of the secret, cut at a ','. "" for none.
// Only a value written plain can be cut so ({password: "ab,cd"} cannot), and the rest is the next key.
func afterSecret(n *yaml.Node, i int, t reflect.Type, fields map[string]int) string {
	if i < 2 {
		return ""
	}
	k, pk, pv := n.Content[i], n.Content[i-2], n.Content[i-1]
	if idx, ok := fields[pk.Value]; ok && pv.Kind == yaml.ScalarNode && pv.Style == 0 && pv.Line == k.Line && t.Field(idx).Tag.Get("secret") == "true" {
		return pk.Value
	}
	return ""
}

// valueless reports whether the key k of a mapping was written without a ':' (in a flow mapping: {a: b, c}):
// its value is an empty null that starts where the key ends, not after a ':'.
func valueless(k, v *yaml.Node) bool {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!null" || v.Value != "" || k.Kind != yaml.ScalarNode || v.Line != k.Line {
		return false
	}
	width := utf8.RuneCountInString(k.Value)
	if k.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		width += 2
	}
	return v.Column == k.Column+width
}

func yamlSyntaxError(file string, data []byte, err error) *Error {
	line, msg := splitYAMLError(err)
	e := &Error{File: file, Line: line, Msg: "invalid YAML: " + yamlWords(msg)}
	if problem := problemLine(data, line, msg); problem > 0 {
		e.Line = problem
	}
	if indentedWithTab(data, e.Line) && !strings.Contains(msg, "tab") {
		// yaml.v3 says "found character that cannot start any token" of a tab that indents a key.
		e.Msg += " (the line is indented with a tab: YAML indents with spaces only)"
	}
	return e
}

// indentedWithTab reports whether line (1-based) of data has a tab in its indentation.
func indentedWithTab(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}

// unknownAnchorWords replace yaml.v3's "unknown anchor 'NAME' referenced", which quotes what follows a
// value's '*': a password or a token that begins with '*', written unquoted (password: *s3cr3t), is
// read as an alias, and its text would be shown.
const unknownAnchorWords = "a value that begins with '*' is read as an alias of an anchor (&name) that is not defined: write such a value (a password, a token) in quotes"

// yamlWords is yaml.v3's message, without the part of a value it quotes.
func yamlWords(msg string) string {
	if strings.HasPrefix(msg, "unknown anchor ") {
		return unknownAnchorWords
	}
	return msg
}

// place records that the field key was written at the key node k (line and column).
func (s *Source) place(key string, k *yaml.Node) {
	s.Lines[key] = k.Line
	if s.Columns == nil {
		s.Columns = map[string]int{}
	}
	s.Columns[key] = k.Column
}

// splitYAMLError separates yaml.v3's "yaml: line N: message" into N (0 when absent) and the message.
func splitYAMLError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return line, tail
			}
		}
	}
	return 0, msg
}

// problemLine finds the line a YAML syntax error is really about. yaml.v3 reports the line where the
// enclosing block starts (a mis-indented key on line 4 of a list that starts on line 2 is "line 1"),
// not the line of the problem; the problem's line is the first one whose addition makes the document
// fail the same way. Found by bisection over prefixes from the reported line on (a prefix that ends
// inside a quoted or flow value fails differently and is not taken): about log2(lines) parses. 0 when
// it cannot say, or when the file is over maxBisect (yaml.v3's line is kept then).
func problemLine(data []byte, from int, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // after the final newline: not a line
	}
	failsAt := func(k int) bool {
		prefix := data[:prefixLen(lines, k)]
		var doc yaml.Node
		err := yaml.NewDecoder(bytes.NewReader(prefix)).Decode(&doc)
		if err == nil || errors.Is(err, io.EOF) {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	lo, hi := max(from, 1), len(lines) // the whole document fails that way: it is where msg came from
	if lo > hi || len(data) > maxBisect {
		return 0
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if failsAt(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// maxBisect bounds the files whose syntax errors are placed by bisection: 128 KiB is thousands of
// checks, and costs well under a second.
const maxBisect = 128 << 10

func prefixLen(lines [][]byte, k int) int {
	n := 0
	for _, l := range lines[:k] {
		n += len(l)
	}
	return n
}
