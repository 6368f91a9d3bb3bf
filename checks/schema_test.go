package checks

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/config"
)

// The chart's check schema (charts/healthgate/values.schema.json, properties.checks) is rendered from the
// registry and the configuration structs: config.Check's common fields and each kind's own struct, their
// types and their `schema`/`desc` tags (and a tls block's `plain`: TestPlainTag). The
// test fails when the file differs; `go test ./checks -run TestChartSchema -update` rewrites that block.

var update = flag.Bool("update", false, "rewrite the chart's check schema from the registry")

const schemaFile = "../charts/healthgate/values.schema.json"

// TestChartSchema: hand-editing the check schema, or adding a kind or a field without rendering it again,
// fails here.
func TestChartSchema(t *testing.T) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	start, end, indent, err := checksBlock(data)
	if err != nil {
		t.Fatal(err)
	}
	want := renderChecksSchema(t, indent)
	got := string(data[start:end])
	if got == want {
		return
	}
	if *update {
		out := append(append(append([]byte{}, data[:start]...), want...), data[end:]...)
		if err := os.WriteFile(schemaFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the checks block of %s", schemaFile)
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s: the checks block differs from what the registry renders (run `go test ./checks -run TestChartSchema -update`); first difference at its line %d:\n  file:     %s\n  rendered: %s",
				schemaFile, i+1, strings.TrimSpace(g), strings.TrimSpace(w))
		}
	}
}

// checksBlock finds the value of the top-level "checks" property: its byte range and its key's indent.
func checksBlock(data []byte) (start, end int, indent string, err error) {
	key := []byte("\n    \"checks\": ")
	i := bytes.Index(data, key)
	if i < 0 {
		return 0, 0, "", fmt.Errorf("%s: no top-level \"checks\" property at four spaces", schemaFile)
	}
	start = i + len(key)
	depth, inString := 0, false
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return start, j + 1, "    ", nil
			}
		}
	}
	return 0, 0, "", fmt.Errorf("%s: the checks block does not end", schemaFile)
}

// obj is a JSON object that keeps its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func renderChecksSchema(t *testing.T, indent string) string {
	t.Helper()
	var blocks []any
	for _, name := range Types() {
		blocks = append(blocks, obj{
			{"if", obj{{"properties", obj{{"type", obj{{"const", name}}}}}, {"required", []string{"type"}}}},
			{"then", kindSchema(t, name)},
		})
	}
	items := obj{
		{"type", "object"},
		{"description", "One check, in healthgate.yaml's own field names (healthgate validates it strictly again at start)."},
		{"required", []string{"name", "type"}},
		{"properties", obj{{"type", obj{{"type", "string"}, {"enum", Types()}}}}},
		{"allOf", blocks},
	}
	raw, err := marshal(obj{{"type", "array"}, {"items", items}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, indent, "  "); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// kindSchema is one kind's block: the common fields, then the kind's own in the registry's order, each
// string or map field followed by its *_file form (the decoder reads any of them from a file).
func kindSchema(t *testing.T, name string) obj {
	k := kinds[name]
	fields := fieldsByKey(reflect.TypeFor[config.Check]())
	for key, f := range fieldsByKey(reflect.TypeOf(k.spec()).Elem()) {
		fields[key] = f
	}
	var props obj
	for _, key := range append(append([]string{}, commonFields...), k.fields...) {
		f, ok := fields[key]
		if !ok {
			t.Fatalf("kind %s: field %q is neither common (config.Check) nor the kind's", name, key)
		}
		switch key {
		case "name":
			// The reserved names too, which healthgate refuses (the pods would crash-loop): the built-in
			// shutdown check's, and the gRPC health services that stand for the whole of /readyz and /livez.
			reserved := []string{config.ShutdownCheck, config.ReadinessService, config.LivenessService}
			props = append(props, kv{key, obj{{"type", "string"}, {"pattern", config.NamePattern.String()}, {"maxLength", config.MaxNameLen},
				{"not", obj{{"enum", reserved}}}, {"description", fmt.Sprintf("Not %s: reserved by healthgate.", strings.Join(reserved, ", "))}}})
			continue
		case "type":
			props = append(props, kv{key, obj{{"const", name}}})
			continue
		}
		props = append(props, kv{key, fieldSchema(t, f)})
		if key == "critical" || key == "scope" || key == "interval" || key == "timeout" || key == "failure_threshold" || key == "success_threshold" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.String:
			props = append(props, kv{key + "_file", obj{{"type", "string"}, {"minLength", 1}}})
		case reflect.Map:
			file := obj{{"type", "object"}, {"additionalProperties", obj{{"type", "string"}, {"minLength", 1}}}}
			if d := f.Tag.Get("filedesc"); d != "" {
				file = append(file, kv{"description", d})
			}
			props = append(props, kv{key + "_file", file})
		}
	}
	target := k.target.field
	desc := fmt.Sprintf("A %s check: the fields healthgate's checks registry accepts for this type.", name)
	if k.schemaDesc != "" {
		desc = k.schemaDesc
	}
	o := obj{
		{"type", "object"},
		{"additionalProperties", false},
		{"properties", props},
		{"required", []string{"name", "type"}},
		{"description", desc},
		{"oneOf", []any{obj{{"required", []string{target}}}, obj{{"required", []string{target + "_file"}}}}},
	}
	// A field tagged needs:"OTHER" (memcached's username) is refused by healthgate without OTHER, written
	// as itself or as OTHER_file: the schema refuses it too, or the pods would crash-loop.
	var deps obj
	for _, key := range k.fields {
		other, ok := k.needs[key]
		if !ok {
			continue
		}
		need := obj{{"anyOf", []any{obj{{"required", []string{other}}}, obj{{"required", []string{other + "_file"}}}}},
			{"description", fmt.Sprintf("%s needs %s (or %s_file).", key, other, other)}}
		deps = append(deps, kv{key, need}, kv{key + "_file", need})
	}
	if deps != nil {
		o = append(o, kv{"dependentSchemas", deps})
	}
	var rules []any
	// A text field written both as itself and as NAME_file (password beside password_file) is refused by
	// healthgate ("set together with"): the schema refuses the _file one, as healthgate names it. (The
	// target field's oneOf says it already.)
	var both obj
	for _, key := range append(append([]string{}, commonFields...), k.fields...) {
		if f := fields[key]; key != target && f.Type.Kind() == reflect.String && props.has(key+"_file") {
			both = append(both, kv{key, obj{{"properties", obj{{key + "_file", false}}}}})
		}
	}
	if both != nil {
		rules = append(rules, obj{{"dependentSchemas", both},
			{"description", "A field is written as itself or as FIELD_file, not both: healthgate refuses the two together."}})
	}
	// A field tagged schema:"form=NAME" (an address) whose value has none of the form's shapes (valueForms)
	// is refused by healthgate. The refusal is a false schema at the field, as a plain tls block's is: the
	// value is not quoted (a URL or user:password pasted in place of host:port may hold a password).
	for _, key := range k.fields {
		name, ok := schemaTags(fields[key])["form"]
		if !ok {
			continue
		}
		form := valueForms()[name]
		var alts, refused []any
		for _, re := range form.patterns {
			alts = append(alts, obj{{"pattern", re}})
		}
		for _, re := range form.refuse {
			refused = append(refused, obj{{"pattern", re}})
		}
		bad := obj{{"type", "string"}, {"not", obj{{"anyOf", alts}}}}
		if refused != nil { // of none of its shapes, or of one its refusals
			bad = obj{{"type", "string"}, {"anyOf", []any{obj{{"not", obj{{"anyOf", alts}}}}, obj{{"anyOf", refused}}}}}
		}
		rules = append(rules, obj{
			{"if", obj{{"required", []string{key}}, {"properties", obj{{key, bad}}}}},
			{"then", obj{{"properties", obj{{key, false}}}, {"description", fmt.Sprintf("%s must be %s: healthgate refuses any other value.", key, form.words)}}}})
	}
	// A tls block tagged plain:"SCHEME|..." is refused by healthgate on a URL of those schemes, which has no
	// TLS (http://, redis://): the schema refuses it too, where it can see the scheme (not behind a
	// ${VAR}), unless the field plainunless names is true (http's follow_redirects: to an https:// one).
	var plain []any
	for _, f := range fieldsByKey(reflect.TypeOf(k.spec()).Elem()) {
		schemes := f.Tag.Get("plain")
		if schemes == "" {
			continue
		}
		cond := obj{{"required", []string{f.Tag.Get("yaml"), target}}, {"properties", obj{{target, obj{{"pattern", "^(?:" + anyCase(strings.Split(schemes, "|")...) + "):"}}}}}}
		if unless := f.Tag.Get("plainunless"); unless != "" {
			cond = append(cond, kv{"not", obj{{"required", []string{unless}}, {"properties", obj{{unless, obj{{"const", true}}}}}}})
		}
		plain = append(plain, obj{{"if", cond}, {"then", obj{{"properties", obj{{f.Tag.Get("yaml"), false}}},
			{"description", fmt.Sprintf("%s needs a %s with TLS: healthgate refuses it with one of scheme %s, which has none.", f.Tag.Get("yaml"), target, strings.ReplaceAll(schemes, "|", " or "))}}}})
	}
	// A tls block beside a url that says otherwise of TLS (tlsURLRules) is refused by healthgate.
	for _, r := range tlsURLRules()[name] {
		rules = append(rules, obj{
			{"if", obj{{"required", []string{"tls", target}}, {"properties", obj{{target, r.schema()}}}}},
			{"then", obj{{"properties", obj{{"tls", false}}}, {"description", r.words}}}})
	}
	if name == "dns" {
		// healthgate refuses an expected value that the record could never hold (dnsSettingsOf): with A
		// and AAAA, or neither given, an IP address of that family.
		for _, r := range dnsExpectRules() {
			cond := obj{{"required", []string{"expect", "record"}}, {"properties", obj{{"record", obj{{"pattern", "^" + anyCase(r.record) + "$"}}}}}}
			if r.record == "" {
				cond = obj{{"required", []string{"expect"}}, {"not", obj{{"required", []string{"record"}}}}}
			}
			var alts []any
			for _, p := range append(r.patterns, variablePattern) {
				alts = append(alts, obj{{"pattern", p}})
			}
			rules = append(rules, obj{{"if", cond}, {"then", obj{
				{"properties", obj{{"expect", obj{{"items", obj{{"if", obj{{"not", obj{{"anyOf", alts}}}}}, {"then", false}}}}}}},
				{"description", r.words}}}})
		}
	}
	if rules = append(plain, rules...); rules != nil {
		o = append(o, kv{"allOf", rules})
	}
	if name == "http" {
		// healthgate refuses body_contains (from a file too) with method HEAD, in any case: an answer to
		// HEAD has no body to search, so every run would fail.
		o = append(o,
			kv{"if", obj{{"properties", obj{{"method", obj{{"pattern", "^" + anyCase(http.MethodHead) + "$"}}}}}, {"required", []string{"method"}}}},
			kv{"then", obj{{"properties", obj{{"body_contains", false}, {"body_contains_file", false}}},
				{"description", "body_contains needs a method other than HEAD: an answer to HEAD has no body to search."}}})
	}
	return o
}

// has reports whether the object has the key.
func (o obj) has(key string) bool {
	return slices.ContainsFunc(o, func(f kv) bool { return f.k == key })
}

func fieldsByKey(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if key := f.Tag.Get("yaml"); key != "" && key != "-" {
			m[key] = f
		}
	}
	return m
}

// fieldSchema renders one field from its type and its tags: schema:"minLength=1,maxLength=255,enum=a|b,fold,minimum=1,
// itemMinimum=100,itemMaximum=599,itemMinLength=1,minItems=1,required=a|b,form=address" (enum=tools: the
// migration tools; fold: in any case; form: one of valueForms) and desc:"...".
func fieldSchema(t *testing.T, f reflect.StructField) obj {
	tags := schemaTags(f)
	num := func(k string) int {
		n, err := strconv.Atoi(tags[k])
		if err != nil {
			t.Fatalf("%s: schema %s=%q is not a number", f.Name, k, tags[k])
		}
		return n
	}
	var o obj
	switch {
	case f.Type == reflect.TypeFor[time.Duration]():
		// Any duration time.ParseDuration reads but a negative or a bare 0 (which healthgate's floors
		// refuse): the chart's healthgate.nanoseconds reads the same.
		const duration = `^(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`
		desc := "A Go duration: 500ms, 1.5s, 1m30s, 1h (not a ${VAR}: the chart derives the probes' timing from it)."
		if key := f.Tag.Get("yaml"); key == "interval" || key == "timeout" {
			// Not a ${VAR}: the chart derives the probes' timing from the checks' intervals and timeouts at
			// render time.
			o = obj{{"type", "string"}, {"pattern", duration}}
		} else {
			// A kind's own duration (max_replication_lag): the chart reads nothing from it, so a ${VAR},
			// which healthgate expands and then reads as a duration, is taken too.
			o = obj{{"type", "string"}, {"anyOf", []any{obj{{"pattern", duration}}, obj{{"pattern", variablePattern}}}}}
			desc = "A Go duration: 500ms, 1.5s, 1m30s, 1h; or a ${VAR} that holds one."
		}
		if _, ok := f.Tag.Lookup("desc"); !ok {
			o = append(o, kv{"description", desc})
		}
	case f.Type.Kind() == reflect.String:
		o = obj{{"type", "string"}}
	case f.Type.Kind() == reflect.Bool:
		o = obj{{"type", "boolean"}}
	case f.Type.Kind() == reflect.Int:
		o = obj{{"type", "integer"}}
	case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Int:
		item := obj{{"type", "integer"}}
		if _, ok := tags["itemMinimum"]; ok {
			item = append(item, kv{"minimum", num("itemMinimum")})
		}
		if _, ok := tags["itemMaximum"]; ok {
			item = append(item, kv{"maximum", num("itemMaximum")})
		}
		o = obj{{"type", "array"}, {"items", item}}
	case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
		item := obj{{"type", "string"}}
		if _, ok := tags["itemMinLength"]; ok {
			item = append(item, kv{"minLength", num("itemMinLength")})
		}
		o = obj{{"type", "array"}, {"items", item}}
	case f.Type.Kind() == reflect.Map:
		o = obj{{"type", "object"}, {"additionalProperties", obj{{"type", "string"}}}}
	case f.Type.Kind() == reflect.Struct:
		o = obj{{"type", "object"}, {"additionalProperties", false}}
	default:
		t.Fatalf("%s: no schema for type %s", f.Name, f.Type)
	}
	if _, ok := tags["minLength"]; ok {
		o = append(o, kv{"minLength", num("minLength")})
	}
	if e, ok := tags["enum"]; ok {
		values := strings.Split(e, "|")
		if e == "tools" {
			values = MigrationTools()
		}
		if _, fold := tags["fold"]; fold {
			// healthgate takes the values in any case (dns record: a is A): a pattern, which an enum
			// cannot say.
			o = append(o, kv{"pattern", "^(?:" + anyCase(values...) + ")$"})
		} else {
			o = append(o, kv{"enum", values})
		}
	}
	if form, ok := tags["form"]; ok {
		if _, ok := valueForms()[form]; !ok {
			t.Fatalf("%s: schema form=%q is none of valueForms'", f.Name, form)
		}
		// kindSchema refuses a value of another form (the field's own schema cannot: its refusal would
		// quote the value).
	}
	if _, ok := tags["maxLength"]; ok {
		o = append(o, kv{"maxLength", num("maxLength")})
	}
	if _, ok := tags["minimum"]; ok {
		o = append(o, kv{"minimum", num("minimum")})
	}
	if _, ok := tags["minItems"]; ok {
		o = append(o, kv{"minItems", num("minItems")})
	}
	if d := f.Tag.Get("desc"); d != "" {
		o = append(o, kv{"description", d})
	}
	if f.Type.Kind() == reflect.Struct {
		var props, deps obj
		for i := range f.Type.NumField() {
			sf := f.Type.Field(i)
			if key := sf.Tag.Get("yaml"); key != "" && key != "-" {
				if d, ok := f.Tag.Lookup("desc." + key); ok {
					// The containing field says what this field means for its kind.
					sf.Tag = reflect.StructTag(strings.Replace(string(sf.Tag), `desc:"`+sf.Tag.Get("desc")+`"`, `desc:"`+d+`"`, 1))
				}
				props = append(props, kv{key, fieldSchema(t, sf)})
				if other := sf.Tag.Get("needs"); other != "" {
					// Refused by healthgate without the other (tls: cert_file and key_file go together).
					deps = append(deps, kv{key, []string{other}})
				}
			}
		}
		o = append(o, kv{"properties", props})
		if r, ok := tags["required"]; ok {
			o = append(o, kv{"required", strings.Split(r, "|")})
		}
		if deps != nil {
			o = append(o, kv{"dependentRequired", deps})
		}
		if f.Type == reflect.TypeFor[config.Migrations]() {
			o = append(o, kv{"allOf", versionSchemas()})
		}
	}
	return o
}

// schemaTags are a field's schema:"..." tag's settings.
func schemaTags(f reflect.StructField) map[string]string {
	tags := map[string]string{}
	if s := f.Tag.Get("schema"); s != "" {
		for part := range strings.SplitSeq(s, ",") {
			k, v, _ := strings.Cut(part, "=")
			tags[k] = v
		}
	}
	return tags
}

// anyCase is a regular expression of the words in any case, one alternative each: [Aa]|[Aa][Aa][Aa][Aa]
// for A and AAAA (JSON Schema's patterns have no (?i)).
func anyCase(words ...string) string {
	alts := make([]string, len(words))
	for i, w := range words {
		for _, c := range w {
			alts[i] += "[" + strings.ToUpper(string(c)) + strings.ToLower(string(c)) + "]"
		}
	}
	return strings.Join(alts, "|")
}

// atMost is a regular expression of the numbers from 0 to max (digits, no leading zero), written without
// leading zeros: any with fewer digits, and those with as many whose first digit that differs from max's
// is lower.
func atMost(max string) string {
	alts := []string{fmt.Sprintf("[0-9]{1,%d}", len(max)-1)}
	for i := range len(max) {
		low := byte('0')
		if i == 0 {
			low = '1'
		}
		if max[i] > low {
			alts = append(alts, fmt.Sprintf("%s[%c-%c][0-9]{%d}", max[:i], low, max[i]-1, len(max)-1-i))
		}
	}
	return strings.Join(append(alts, max), "|")
}

// bigintPattern is a number a bigint holds, 0 to 9223372036854775807, after any leading zeros.
func bigintPattern() string { return "^0*(?:" + atMost(strconv.FormatInt(math.MaxInt64, 10)) + ")$" }

// TestAtMost: atMost's expression takes exactly the numbers up to its bound.
func TestAtMost(t *testing.T) {
	max := strconv.FormatInt(math.MaxInt64, 10)
	re := regexp.MustCompile(bigintPattern())
	for _, n := range []string{"0", "00", "7", "20241120093000", "000" + max, max, "9223372036854775806", "9123372036854775807", "999999999999999999"} {
		if !re.MatchString(n) {
			t.Errorf("%s not taken", n)
		}
	}
	for _, n := range []string{"9223372036854775808", "9223372036854775810", "9300000000000000000", "10000000000000000000", "99999999999999999999", "", "1a"} {
		if re.MatchString(n) {
			t.Errorf("%s taken", n)
		}
	}
	for range 1000 {
		n := rand.Uint64()
		if got, want := re.MatchString(strconv.FormatUint(n, 10)), n <= math.MaxInt64; got != want {
			t.Errorf("%d: taken %v; want %v", n, got, want)
		}
	}
}

// versionSchemas refuses a migrations.version its tool could never store, as healthgate does
// (validVersion): golang-migrate and goose keep a whole number, dbmate and rails digits, flyway digits
// separated by dots; alembic a revision id (not head, heads or base, nor a relative or branch revision
// with @, +, - or a space); liquibase a tag, or a changeset FILENAME::ID::AUTHOR of three parts. And a
// table that is not a name or schema.table (quoteTable). The chart took them, and the pods crash-looped.
func versionSchemas() []any {
	// A ${VAR} (version: ${SCHEMA_VERSION}, set by the release's pipeline) is healthgate's to check, once
	// expanded.
	const variable = `\$\{`
	blocks := []any{obj{{"properties", obj{{"table", obj{{"anyOf", []any{
		obj{{"pattern", `^[^.]+(?:\.[^.]+)?$`}}, obj{{"pattern", variable}}}}}}}}}}
	opaque := map[string]obj{
		"alembic": {{"anyOf", []any{obj{{"pattern", variable}}, obj{{"not", obj{{"pattern", `^(?:head|heads|base)$|[ @+-]`}}}}}}},
		"liquibase": {{"anyOf", []any{obj{{"pattern", variable}}, obj{{"not", obj{{"pattern", "::"}}}},
			obj{{"pattern", `^(?:[^:]|:[^:])+::(?:[^:]|:[^:])+::(?:[^:]|:[^:])+$`}}}}},
	}
	for _, tool := range migrationTools {
		// A value that refers to a variable (version: ${SCHEMA_VERSION}, set by the release's pipeline) is
		// healthgate's to check, once expanded.
		const orVariable = `|\$\{`
		var version obj
		switch tool.kind {
		case wholeNumber:
			// A bigint (bigintPattern): a bound of its own, which only a number meets or fails, so that
			// what is no number is told so in words.
			version = obj{{"pattern", digitsPattern.String() + orVariable},
				{"anyOf", []any{obj{{"pattern", bigintPattern()}}, obj{{"not", obj{{"pattern", digitsPattern.String()}}}}}}}
			if tool.name == "goose" {
				// Version 0 is the row goose writes when it creates its table (validVersion).
				version = append(version, kv{"not", obj{{"pattern", "^0+$"}}})
			}
		case digits:
			version = obj{{"pattern", digitsPattern.String() + orVariable}}
		case dotted:
			version = obj{{"pattern", dottedPattern.String() + orVariable}}
		default:
			if version = opaque[tool.name]; version == nil {
				continue
			}
		}
		if tool.maxLen > 0 && tool.name != "liquibase" { // liquibase's bounds each part of a changeset
			version = append(version, kv{"maxLength", tool.maxLen})
		}
		version = append(version, kv{"description", fmt.Sprintf("A %s version: %s.", tool.name, tool.versions)})
		blocks = append(blocks, obj{
			{"if", obj{{"properties", obj{{"tool", obj{{"const", tool.name}}}}}, {"required", []string{"tool"}}}},
			{"then", obj{{"properties", obj{{"version", version}}}}},
		})
	}
	return blocks
}

const chartReadme = "../charts/healthgate/README.md"

// TestChartReadmeFields: the chart README's `checks` row lists each kind's fields as the registry has them
// (`go test ./checks -run TestChartReadmeFields -update` rewrites the row).
func TestChartReadmeFields(t *testing.T) {
	data, err := os.ReadFile(chartReadme)
	if err != nil {
		t.Fatal(err)
	}
	const start = "| `checks` | `[]` | "
	i := bytes.Index(data, []byte("\n"+start))
	if i < 0 {
		t.Fatalf("%s: no row starting %q", chartReadme, start)
	}
	i++
	j := i + bytes.IndexByte(data[i:], '\n')
	var kindsText []string
	nested := map[string]string{}
	var nestedOrder []string
	for _, name := range Types() {
		k := kinds[name]
		kindsText = append(kindsText, name+" `"+strings.Join(k.fields, " ")+"`")
		typ := reflect.TypeOf(k.spec()).Elem()
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Type.Kind() != reflect.Struct {
				continue
			}
			key := f.Tag.Get("yaml")
			if _, seen := nested[key]; !seen {
				nestedOrder = append(nestedOrder, key)
				var keys []string // in the struct's order, as written in a file
				for i := range f.Type.NumField() {
					if k := f.Type.Field(i).Tag.Get("yaml"); k != "" && k != "-" {
						keys = append(keys, k)
					}
				}
				nested[key] = strings.Join(keys, ", ")
			}
		}
	}
	var nestedText []string
	for _, key := range nestedOrder {
		nestedText = append(nestedText, "`"+key+": {"+nested[key]+"}`")
	}
	want := start + "healthgate.yaml `checks:`, in its own field names (per type, rendered from the registry: " +
		strings.Join(kindsText, ", ") + "; nested: " + strings.Join(nestedText, ", ") +
		` (README "Migrations"); string fields also as ` + "`<field>_file`) |"
	if got := string(data[i:j]); got != want {
		if *update {
			out := append(append(append([]byte{}, data[:i]...), want...), data[j:]...)
			if err := os.WriteFile(chartReadme, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the checks row differs from the registry (run `go test ./checks -run TestChartReadmeFields -update`):\n  file:     %s\n  rendered: %s", chartReadme, got, want)
	}
}

// The chart refuses a literal value in a check's secret field (healthgate.configYAML): which fields are
// secret is the registry's (secret:"true"), rendered into charts/healthgate/templates/_kinds.tpl, not
// guessed from the field's name (a redis check's key is a key name, no secret). The url field is not
// listed: what makes a URL secret is its userinfo or query, which healthgate.secretProblem judges.
const kindsTemplate = "../charts/healthgate/templates/_kinds.tpl"

// TestChartSecretFields: adding a secret field, or a kind with one, without rendering the chart's list
// again fails here; `go test ./checks -run TestChartSecretFields -update` rewrites it.
func TestChartSecretFields(t *testing.T) {
	fields := map[string][]string{}
	for _, k := range Kinds() {
		fields[k.Name] = append([]string{}, slices.DeleteFunc(k.Secrets, func(f string) bool { return f == "url" })...)
	}
	list, err := json.Marshal(fields) // map keys sorted: the same text every time
	if err != nil {
		t.Fatal(err)
	}
	want := `{{/*
healthgate.secretFields: each check kind's fields whose values are secrets, as JSON. Rendered from the
registry (secret:"true" in checks/*.go, less url) by ` + "`go test ./checks -run TestChartSecretFields -update`" + `:
do not edit; the test fails when this file differs.
*/}}
{{- define "healthgate.secretFields" -}}
` + string(list) + `
{{- end -}}
`
	got, err := os.ReadFile(kindsTemplate)
	if err == nil && string(got) == want {
		return
	}
	if !*update {
		t.Fatalf("%s differs from what the registry renders (run `go test ./checks -run TestChartSecretFields -update`): want\n%s", kindsTemplate, want)
	}
	if err := os.WriteFile(kindsTemplate, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %s", kindsTemplate)
}

// buildSpec builds (and closes) a check of kind typ with spec: what healthgate says of such a config at start.
func buildSpec(typ string, spec map[string]any) error {
	c, err := New(config.Check{Name: "x", Type: typ, Critical: true, Interval: time.Second, Timeout: 500 * time.Millisecond,
		FailureThreshold: 1, SuccessThreshold: 1, Spec: config.SpecOf(spec)})
	if err == nil {
		c.Close()
	}
	return err
}

// refusesField reports whether err, buildSpec's, refuses one of fields.
func refusesField(err error, fields ...string) bool {
	var errs config.Errors
	return errors.As(err, &errs) && slices.ContainsFunc(errs, func(e *config.Error) bool { return slices.Contains(fields, e.Field) })
}

// TestPlainTag: the schemes a tls field's plain tag names (the schema refuses the block with a URL of one
// of them) are exactly those healthgate refuses it with (naming the block, or, for grpc's address, the
// scheme), and the TLS scheme beside them takes it; http's follow_redirects, its plainunless, lets an
// http:// URL keep it.
func TestPlainTag(t *testing.T) {
	tlsScheme := map[string]string{"http": "https", "redis": "rediss", "amqp": "amqps", "mqtt": "mqtts", "grpc": "https"}
	tagged := 0
	for _, name := range Types() {
		for _, f := range fieldsByKey(reflect.TypeOf(kinds[name].spec()).Elem()) {
			schemes := f.Tag.Get("plain")
			if schemes == "" {
				continue
			}
			tagged++
			build := func(url string, extra map[string]any) error {
				spec := map[string]any{kinds[name].target.field: url, "tls": config.TLS{ServerName: "db.internal"}}
				maps.Copy(spec, extra)
				return buildSpec(name, spec)
			}
			for _, scheme := range strings.Split(schemes, "|") {
				url := scheme + "://127.0.0.1:1/"
				if scheme == "unix" {
					url = "unix:///run/x.sock"
				}
				if err := build(url, nil); !refusesField(err, f.Tag.Get("yaml"), kinds[name].target.field) {
					t.Errorf("%s with %s and a tls block: %v; want the tls block refused, as the schema's plain tag %q says", name, url, err, schemes)
				}
				if unless := f.Tag.Get("plainunless"); unless != "" {
					if err := build(url, map[string]any{unless: true}); err != nil {
						t.Errorf("%s with %s, %s and a tls block: %v; want it built, as plainunless says", name, url, unless, err)
					}
				}
			}
			url := tlsScheme[name] + "://127.0.0.1:1/"
			if err := build(url, nil); err != nil {
				t.Errorf("%s with %s and a tls block: %v; want it built", name, url, err)
			}
		}
	}
	if tagged != len(tlsScheme) {
		t.Errorf("%d kinds have a plain tag; want %d (%v)", tagged, len(tlsScheme), slices.Sorted(maps.Keys(tlsScheme)))
	}
}

// TestFileAndValueRefused: every text field the schema refuses beside its FIELD_file (the "not both" rule
// of kindSchema) is one healthgate refuses so, naming FIELD_file, and the rule covers every such field.
func TestFileAndValueRefused(t *testing.T) {
	for _, name := range Types() {
		k := kinds[name]
		fields := fieldsByKey(reflect.TypeOf(k.spec()).Elem())
		for _, key := range k.fields {
			if key == k.target.field || fields[key].Type.Kind() != reflect.String {
				continue
			}
			yaml := fmt.Sprintf("checks:\n  - name: x\n    type: %s\n    %s: %q\n    %s: v\n    %s_file: /nonexistent/%s\n",
				name, k.target.field, k.target.example, key, key, key)
			_, err := config.Parse("healthgate.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
			var errs config.Errors
			if !errors.As(err, &errs) || !slices.ContainsFunc(errs, func(e *config.Error) bool {
				return e.Field == key+"_file" && strings.Contains(e.Msg, "set together with "+key)
			}) {
				t.Errorf("%s: %s beside %s_file: %v; want %s_file refused as set together with %s", name, key, key, err, key, key)
			}
		}
		schema := kindSchema(t, name)
		rendered, err := marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range k.fields {
			want := key != k.target.field && fields[key].Type.Kind() == reflect.String
			if got := strings.Contains(string(rendered), fmt.Sprintf(`%q:{"properties":{%q:false}}`, key, key+"_file")); got != want {
				t.Errorf("%s: the schema refuses %s beside %s_file: %v; want %v", name, key, key, got, want)
			}
		}
	}
}

// A value that refers to a variable is healthgate's to judge once the variable is expanded: variablePattern
// anywhere in an address; in a URL, before its scheme's ':' (${DATABASE_URL}, ${SCHEME}://...), which a
// variable after it (redis://${HOST}:6379, cache:${PORT}) cannot make. Any '$': one not braced ($DATABASE_URL)
// is the templates' to refuse, in words the schema has not.
const (
	variablePattern    = `\$`
	urlVariablePattern = `^[^:]*\$`
)

// An IPv4 address as netip.ParseAddr reads it (no leading zeros), and an IPv6 address, loosely (not how many
// groups the '::' stands for), with a zone or not: eight groups of one to four hex digits, the last two
// possibly an IPv4 address, or fewer around one '::'. Not merely hex digits, dots and two ':' (10.96.0.10:53:1,
// db:53:1, 1::2::3 are no address: healthgate refuses them as a dns server or an AAAA value).
const (
	ipv4Octet   = `(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])`
	ipv4Pattern = ipv4Octet + `(?:\.` + ipv4Octet + `){3}`
	ipv6Group   = `[0-9A-Fa-f]{1,4}`
	ipv6Pattern = `(?:(?:` + ipv6Group + `:){7}` + ipv6Group + `|(?:` + ipv6Group + `:){6}` + ipv4Pattern +
		`|(?:` + ipv6Group + `(?::` + ipv6Group + `)*)?::(?:(?:` + ipv6Group + `:)*(?:` + ipv6Group + `|` + ipv4Pattern + `))?)` +
		`(?:%[^\]\s]+)?`
)

// valueForms are the forms of an address or URL field's value (tag schema:"form=NAME") healthgate takes, as
// regular expressions, one of which the schema asks the value to match (one says it refers to a variable),
// and none of the form's refusals (an address's label longer than 63 characters): a value of none, or of a
// refusal, is refused by healthgate (exit 2), and the pods would crash-loop. They are looser than
// healthgate where a regular expression cannot say its rule (a service name the system must know, an IPv6 address's groups, the rest of a URL after its scheme), never stricter: TestValueForms holds
// them to that.
func valueForms() map[string]valueForm {
	const (
		label = `[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?`
		// A label with something other than digits: digits and dots alone are no name (config.BadDNSName).
		nameLabel = `(?:[0-9]*[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?|[0-9]+-[A-Za-z0-9_-]*[A-Za-z0-9_])`
		name      = `(?:` + label + `\.)*` + nameLabel + `(?:\.` + label + `)*\.?`
		ipv4      = ipv4Pattern
		ipv6      = ipv6Pattern
		// A name, an IPv4 address or the root, or one of those or an IPv6 address in brackets (which
		// net.SplitHostPort takes off whatever they hold).
		bare = `(?:` + name + `|` + ipv4 + `|\.)`
		host = `(?:` + bare + `|\[(?:` + bare + `|` + ipv6 + `)\])`
		// A port number from 1 to 65535 (strconv.Atoi reads a sign and leading zeros), or a service name the
		// system may know (http, memcache): anything without a digit alone, nor what no address holds.
		number  = `\+?0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])`
		service = `[^\s:@/?#=&;\[\]]*[^\s0-9:@/?#=&;\[\]][^\s:@/?#=&;\[\]]*`
		port    = `(?:` + number + `|` + service + `)?`
	)
	// A label of a name longer than 63 characters (config.BadDNSName), in the host of an address (before a ':',
	// after a scheme's "://" at most, and not behind a variable), which no shape's pattern bounds.
	longLabel := []string{`^\s*(?:[A-Za-z]+://)?(?:[^\s$:/.\[\]@]*\.)*[A-Za-z0-9_-]{64}`}
	// A URL's port, digits alone (net/url takes no sign).
	httpPort := strings.TrimPrefix(number, `\+?`)
	// The text up to the first '=' without a "://" in it (at each ':', what follows is no "//").
	const pgKeyValue = `^(?:[^=:]|:(?::|/:)*(?:[^=:/]|/[^=:/]))*(?::(?::|/:)*/?)?=`
	// A URL of these schemes (net/url takes them in any case) with something after them.
	scheme := func(schemes ...string) string { return `^(?:` + anyCase(schemes...) + `)://` }
	return map[string]valueForm{
		"address": {"host:port (db.internal:5432, [fd00::7]:5432), a name's labels at most 63 characters", // checkAddress
			[]string{`^` + host + `:` + port + `$`, variablePattern}, longLabel},
		"address-default-port": {"host:port, or host alone for the default port (cache.internal:11211, cache.internal), a name's labels at most 63 characters",
			[]string{`^` + host + `(?::` + port + `)?$`, variablePattern}, longLabel},
		"grpc-address": {"host:port, https://host:port (TLS) or http://host:port (plaintext), a name's labels at most 63 characters", // grpcScheme
			[]string{`^` + host + `:` + port + `$`, scheme("http", "https") + host + `:` + port + `/?$`, variablePattern}, longLabel},
		"dns-server": {"host or host:port of a DNS server, the port a number (10.96.0.10, 10.96.0.10:53, [fd00::10]:53), a name's labels at most 63 characters", // dnsSettingsOf
			[]string{`^` + host + `(?::` + number + `)?$`, `^` + ipv6 + `$`, variablePattern}, longLabel},
		"dns-name": {"a DNS name (payments.internal): not an IP address, nor with a port or a scheme, its labels at most 63 characters", // dnsSettingsOf
			[]string{`^\s*(?:` + name + `|\.)\s*$`, variablePattern}, longLabel},
		"http-method": {"an HTTP method, a token (GET, HEAD, POST, in any case)", []string{`^[!#$%&'*+.^_\x60|~0-9A-Za-z-]+$`, variablePattern}, nil}, // validToken
		// amqpSettingsOf: a name with blanks around it is not the queue meant (its length: the field's maxLength).
		"amqp-queue": {"a queue name without blanks around it", []string{`^\S(?:[\s\S]*\S)?$`, variablePattern}, nil},
		// buildHTTP: a host name, and a port (when written) from 1 to 65535.
		"http-url": {"an http:// or https:// URL with a host, its port (when written) from 1 to 65535",
			[]string{scheme("http", "https") + `(?:[^/?#]*@)?(?:(?:\[[^\]/?#]*\]|[^/?#:\[\]@]+)(?::(?:` + httpPort + `)?)?)(?:[/?#][\s\S]*)?$`,
				urlVariablePattern}, nil},
		// go-redis ParseURL: a redis(s):// URL's path is a database number or none (what is written without the
		// "//" healthgate leaves to the run, and so does the schema).
		"redis-url": {"a redis://, rediss:// or unix:// URL, a redis(s) URL's path a database number (redis://cache:6379/0)",
			[]string{`^(?:` + anyCase("redis", "rediss") + `)://[^/?#]*(?:/+(?:\+?[0-9]+)?/*)?(?:[?#][\s\S]*)?$`,
				`^(?:` + anyCase("redis", "rediss") + `):(?:$|[^/]|/$|/[^/])`, `^(?:` + anyCase("unix") + `):`, urlVariablePattern}, nil},
		// amqpSettingsOf: a host (amqp091 takes none for localhost: in a pod, the pod itself), after the last
		// '@' before the path, as net/url finds it.
		"amqp-url": {"an amqp:// or amqps:// URL with a host", []string{scheme("amqp", "amqps") + `(?:[^/?#]*@)?(?:\[[^\]/?#]+\]|[^/?#:@\[\]]+)(?::[^/?#@]*)?(?:[/?#][\s\S]*)?$`,
			urlVariablePattern}, nil},
		// natsSettingsOf: one server, no list.
		"nats-url": {"one nats:// or tls:// URL (one server: not a list)", []string{scheme("nats", "tls") + `[^,]*$`, urlVariablePattern}, nil},
		// mqttSettingsOf: no path after host:port.
		"mqtt-url": {"an mqtt://, mqtts://, tcp://, ssl:// or tls:// URL with no path", []string{scheme("mqtt", "tcp", "mqtts", "ssl", "tls") + `[^/?#]*/?(?:[?#].*)?$`, urlVariablePattern}, nil},
		// pgSchemeProblem and pgx: postgres:// or postgresql:// in lower case, or a key=value DSN: an '=' with
		// no :// before it (pgx takes any key: an unknown one is a run-time parameter).
		"postgres-url": {"a postgres:// or postgresql:// URL (in lower case) or a key=value DSN",
			[]string{`^postgres(?:ql)?://`, pgKeyValue, urlVariablePattern}, nil},
		// parseMySQL: mysql:// or mariadb:// in lower case, or the driver's DSN, whose address is net(addr) or
		// none (app@/db, app@tcp/db).
		"mysql-url": {"a mysql:// or mariadb:// URL (in lower case) or the driver's DSN user:password@tcp(host:3306)/database",
			[]string{`^(?:mysql|mariadb)://`, `\(|(?:^|@)(?:tcp|unix)?/`, urlVariablePattern}, nil},
	}
}

// valueForm is what a field's value must look like: in words, and as regular expressions (one to match).
type valueForm struct {
	words    string
	patterns []string
	// refuse: a value of one of the patterns' shapes that matches one of these is refused all the same.
	refuse []string
}

// TestValueForms: a value the schema's form of an address or URL field refuses (valueForms) is one
// healthgate refuses too, over hosts and ports of every shape put together, and URLs of every scheme, and the
// usual mistakes (no port, a URL, host:port:extra, no host, a bad port, an IPv6 address without brackets; a
// URL without its scheme or with another kind's, a list of servers, a driver's scheme) are refused by both.
func TestValueForms(t *testing.T) {
	// A DNS label is at most 63 characters: healthgate refuses a longer one (config.BadDNSName) in an address.
	long63, long64 := strings.Repeat("a", 63), strings.Repeat("b", 64)
	hosts := []string{"db", "db.internal", "db.ns.svc.cluster.local.", "DB-1.example", "_sip._tcp.example.com", "1a", "9-9",
		"a_b", "a.b.c.d.e", "xn--bcher-kva.example", "a-", "-a", "a..b", ".a", "1234", "1.2.3", "0", "10.0.0.1", "010.0.0.1",
		"256.1.1.1", "[::1]", "[fe80::1%eth0]", "[::ffff:1.2.3.4]", "[1.2.3.4]", "[db]", "::1", "fd00::7", "", "db x", "bücher.example",
		"user@db", "db/x", "db?x", ".", "tcp://db", "a:b", long63 + ".internal", "db." + long64, "1" + long63[1:], long64 + ".internal"}
	ports := []string{"", "5432", "0", "00", "65535", "65536", "99999", "05432", "+80", "-1", "http", "memcache", "pg",
		"postgresql", "1e3", "5432/", "5432?x", "x y", "${PORT}"}
	var values []string
	for _, h := range hosts {
		values = append(values, h, h+":", "http://"+h, "https://"+h+"/", "grpc://"+h)
		for _, p := range ports {
			values = append(values, h+":"+p, h+":"+p+":1", "https://"+h+":"+p, "HTTP://"+h+":"+p+"/", "https://"+h+":"+p+"/x",
				"dns:///"+h+":"+p, "https://user@"+h+":"+p)
		}
	}
	// URLs of every scheme a kind takes or a user may write, with each kind of rest, and DSNs.
	schemes := []string{"http", "https", "HTTP", "redis", "rediss", "REDIS", "unix", "amqp", "amqps", "AMQP", "nats", "tls", "NATS", "mqtt",
		"mqtts", "tcp", "ssl", "MQTT", "postgres", "postgresql", "POSTGRES", "mysql", "mariadb", "MYSQL", "ws", "ftp", "grpc",
		"jdbc:postgresql", "jdbc:mysql", "postgresql+asyncpg", "mysql+pymysql", "redis-sentinel"}
	rests := []string{"host", "host:1234", "host:1234/", "host:1234/0", "host/path", "user@host:1234/db", "user:pw@host/db?x=y", "host:1234?x=/y",
		"/run/x.sock", "", "a:1,b:2", "a:1,nats://b:2", "host:1234/a/b", ":1234", "host:1234/?x=y", "host:1234#x"}
	for _, sc := range schemes {
		for _, r := range rests {
			values = append(values, sc+"://"+r, sc+":"+r, r)
		}
	}
	values = append(values, "host=db dbname=app", "  host=db", "dbname=app", "a.b=1", "foo", "host = db", "app@tcp(db:3306)/app", "/app", "app@/app",
		"app@unix(/x)/app", "app@unix/app", "app@tcp/app", "db:3306/app", " postgres://db/app", "app:pw@tcp(db:3306)/app?tls=true", "app:p/w@tcp(db)/app",
		"postgres://db/app?x=http://y", "unix:/run/redis.sock", "redis:cache")
	mistakes := map[string][]string{
		"http.url":          {"api:8080/healthz", "api.internal/healthz", "ftp://api/healthz", "localhost:8080", "http:///healthz", "http://api:0/healthz", "https://api:99999/", "http://:8080/healthz"},
		"http.method":       {"GET /", "GET ", " POST", "HEAD,GET", "GET;"},
		"amqp.queue":        {"orders ", " orders", "orders\n"},
		"redis.url":         {"cache:6379", "redis-sentinel://cache:26379", "localhost:6379/0", "redis://cache:6379/sessions", "redis://cache:6379/-1", "rediss://cache/0/1"},
		"amqp.url":          {"rabbit:5672", "http://rabbit:15672", "rabbitmq.internal", "amqp://", "amqp:///orders", "amqps://:5671/", "amqp://app:pw@/orders"},
		"nats.url":          {"nats:4222", "ws://nats:8080", "nats://a:4222,nats://b:4222"},
		"mqtt.url":          {"broker:1883", "ws://broker:8080/mqtt", "mqtt://broker:1883/topic"},
		"postgres.url":      {"db:5432/app", "jdbc:postgresql://db:5432/app", "postgresql+asyncpg://db/app", "POSTGRES://db/app", " postgres://db/app"},
		"mysql.url":         {"db:3306/app", "jdbc:mysql://db:3306/app", "mysql+pymysql://app@db/app", "MYSQL://db/app", "app@db:3306/app"},
		"tcp.address":       {long64 + ".internal:5432", "db." + long64 + ":5432", "db", "db:5432:1", ":5432", "tcp://db:5432", "db:0", "db:70000", "::1:5432", "db :5432", "db..x:5432", "postgres://db:5432/app"},
		"memcached.address": {long64, "cache." + long64 + ":11211", ":11211", "memcached://cache:11211", "cache:11211:1", "::1", "cache:0"},
		"grpc.address":      {"https://" + long64 + ":443", long64 + ":50051", "g", "grpc://g:50051", "dns:///g:50051", "https://g", "https://g:443/health", "g:50051/"},
		"dns.host":          {long64 + ".internal", "payments." + long64 + ".", "db.internal:53", "http://db.internal", "10.0.0.1", "1234", "-a.internal", "db internal"},
		"dns.server": {"ns." + long64, long64 + ":53", "udp://10.96.0.10:53", "10.96.0.10:99999", "10.96.0.10:dns", "10.96.0.10:", "user@10.96.0.10", "10.96.0.10:53:1",
			"db:53:1", "1::2::3"},
	}
	forms := valueForms()
	tested := 0
	for _, name := range Types() {
		k := kinds[name]
		for key, f := range fieldsByKey(reflect.TypeOf(k.spec()).Elem()) {
			form, ok := schemaTags(f)["form"]
			if !ok {
				continue
			}
			tested++
			var res, refuse []*regexp.Regexp
			for _, p := range forms[form].patterns {
				res = append(res, regexp.MustCompile(p))
			}
			for _, p := range forms[form].refuse {
				refuse = append(refuse, regexp.MustCompile(p))
			}
			takes := func(v string) bool {
				matches := func(re *regexp.Regexp) bool { return re.MatchString(v) }
				return slices.ContainsFunc(res, matches) && !slices.ContainsFunc(refuse, matches)
			}
			builds := func(v string) error {
				spec := map[string]any{k.target.field: k.target.example, key: v}
				err := buildSpec(name, spec)
				var errs config.Errors
				if errors.As(err, &errs) && !refusesField(err, key) {
					t.Fatalf("%s.%s %q: %v; want nothing but %s refused", name, key, v, err, key)
				}
				return err
			}
			for _, v := range values {
				if v != "" && !takes(v) && !strings.Contains(v, "${") { // "": not written (minLength says it)
					if err := builds(v); err == nil {
						t.Errorf("%s.%s: the schema's form %s refuses %q, which healthgate takes", name, key, form, v)
					}
				}
			}
			for _, v := range mistakes[name+"."+key] {
				if takes(v) {
					t.Errorf("%s.%s: the schema's form %s takes %q; want it refused", name, key, form, v)
				}
				if builds(v) == nil {
					t.Errorf("%s.%s: healthgate takes %q, listed as a mistake", name, key, v)
				}
			}
			if !takes(k.target.example) && key == k.target.field {
				t.Errorf("%s.%s: the schema's form %s refuses the example target %q", name, key, form, k.target.example)
			}
		}
	}
	if tested != len(mistakes) {
		t.Errorf("%d fields have a form; want %d (%v)", tested, len(mistakes), slices.Sorted(maps.Keys(mistakes)))
	}
}

// tlsURLRule is a url that says something of TLS a tls block beside it contradicts: the url matches every
// pattern of all and none of none.
type tlsURLRule struct {
	words     string
	all, none []string
}

// schema is the rule as the url's schema, for an if.
func (r tlsURLRule) schema() obj {
	o := obj{{"type", "string"}}
	var all, none []any
	for _, p := range r.all {
		all = append(all, obj{{"pattern", p}})
	}
	for _, p := range r.none {
		none = append(none, obj{{"pattern", p}})
	}
	if all != nil {
		o = append(o, kv{"allOf", all})
	}
	if none != nil {
		o = append(o, kv{"not", obj{{"anyOf", none}}})
	}
	return o
}

// matches applies the rule as the schema does.
func (r tlsURLRule) matches(url string) bool {
	for _, p := range r.all {
		if !regexp.MustCompile(p).MatchString(url) {
			return false
		}
	}
	for _, p := range r.none {
		if regexp.MustCompile(p).MatchString(url) {
			return false
		}
	}
	return true
}

// tlsURLRules: the urls beside which healthgate refuses a tls block, by kind, as far as the url's text shows
// it (not in the default of a ${VAR:-default}, which a set variable leaves unused): a unix socket, which
// takes no TLS (postgresTLS, mysqlTLS), and the URL's own TLS settings, libpq's parameters (but
// sslmode=verify-full, which says what a block says) or the MySQL driver's tls parameter (but tls=true).
func tlsURLRules() map[string][]tlsURLRule {
	const defaulted = `\$\{[^}]*:-`
	// pgParam: a parameter of a postgres URL's query (url.Query: percent-encoded values decoded) or of a
	// key=value DSN (pgParams: split at blanks, a value's quotes trimmed), its value starting with value.
	pgParam := func(name, value string) string {
		return `^(?:postgres|postgresql)://[^?#]*\?(?:[^#]*&)?` + name + `=` + value + `|^(?:[^:]|:[^/]|:/[^/])*(?:^|\s)` + name + `='?` + value
	}
	pgModes := `(?:disable|allow|prefer|require|verify-ca)(?:'?\s|'?$|&)`
	return map[string][]tlsURLRule{
		"postgres": {
			{"tls applies to a server reached over TCP: healthgate refuses it with a url that connects by a unix socket (a host starting with /).",
				[]string{pgParam("host", `(?:[^\s&#,']*,)*(?:/|%2[Ff])`) + `|^(?:postgres|postgresql)://(?:[^@/?#]*@)?(?:[^/?#,]*,)*%2[Ff]`},
				[]string{defaulted}},
			{"tls and the url's sslmode (other than verify-full), ssl, sslrootcert, sslcert, sslkey, sslpassword or sslsni both configure TLS: healthgate refuses the two together.",
				[]string{pgParam("sslmode", pgModes) + `|` + pgParam(`(?:ssl|sslrootcert|sslcert|sslkey|sslpassword|sslsni)`, ``)},
				[]string{defaulted}},
		},
		"mysql": {
			{"tls applies to a server reached over TCP: healthgate refuses it with a DSN that connects by a unix socket (unix(/path)).",
				[]string{`(?:^|@)unix[(/]`}, []string{defaulted, `://`}},
			{"tls and the url's tls parameter (other than tls=true) both configure TLS: healthgate refuses the two together.",
				[]string{`[?&]tls=`}, []string{defaulted, `[?&]tls=(?:1|true|TRUE|True)?(?:[&#]|$)`}},
		},
	}
}

// TestTLSURLRules: a url the schema refuses a tls block beside (tlsURLRules) is one healthgate refuses the
// block with, and the usual ones are refused by both.
func TestTLSURLRules(t *testing.T) {
	corpus := map[string][]string{
		"postgres": {"postgres://db:5432/app", "postgresql://app@db/app?application_name=x", "postgres://db/app?sslmode=verify-full",
			"postgres://db/app?sslmode=require", "postgres://db/app?application_name=x&sslmode=verify-ca", "postgres://db/app?sslmode=disable#x",
			"postgres://db/app?sslmode=prefer&application_name=x", "postgres://db/app?sslrootcert=/etc/ssl/ca.pem", "postgres://db/app?sslcert=&sslkey=",
			"postgres://db/app?sslsni=0", "postgres://db/app?ssl=true", "postgres://db/app?sslpassword=x", "postgres://db/app?application_name=sslmode=require",
			"postgres:///app?host=/var/run/postgresql", "postgres:///app?host=%2Fvar%2Frun%2Fpostgresql", "postgres://%2Fvar%2Frun%2Fpostgresql/app",
			"postgresql://app@%2ftmp:5432/app", "postgres://db/app?host=db2", "postgres://db/app?options=-c%20host%3D/x",
			"host=/tmp dbname=app", "host='/tmp' dbname=app", "dbname=app host=/var/run/postgresql", "host=db dbname=app sslmode=require",
			"host=db dbname=app sslmode='require'", "host=db dbname=app sslmode=verify-full", "host=db sslrootcert=/etc/ssl/ca.pem", "host = /tmp dbname=app",
			"host=db,/tmp dbname=app", "host=db dbname=app sslmode=required", "host=db dbname=app application_name=sslmode=require",
			"${DATABASE_URL:-postgres://db/app?sslmode=require}", "postgres://app:s3cr3t@db/app?sslmode=require", "host=${PGHOST} dbname=app"},
		"mysql": {"mysql://app@db:3306/app", "mysql://app@db:3306/app?tls=true", "mysql://app@db/app?tls=1", "mysql://app@db/app?tls=TRUE",
			"mysql://app@db/app?tls=", "mysql://app@db/app?tls=false", "mysql://app@db/app?tls=skip-verify", "mysql://app@db/app?tls=preferred",
			"mysql://app@db/app?parseTime=true&tls=Skip-Verify", "mysql://app@db/app?tls=true&parseTime=true", "app@tcp(db:3306)/app?tls=skip-verify",
			"app@tcp(db:3306)/app?tls=true", "app@unix(/run/mysqld/mysqld.sock)/app", "app@unix/app", "unix(/run/mysqld/mysqld.sock)/app",
			"app@tcp(db:3306)/app", "/app", "app@/app?tls=true", "mariadb://app@db/app?tls=0", "${MYSQL_URL:-app@unix/app}"},
	}
	mistakes := []string{"postgres://db/app?sslmode=require", "host=db dbname=app sslmode=require", "postgres://db/app?sslrootcert=/etc/ssl/ca.pem",
		"postgres:///app?host=/var/run/postgresql", "host=/tmp dbname=app", "postgres://%2Fvar%2Frun%2Fpostgresql/app", "postgres://app:s3cr3t@db/app?sslmode=require",
		"mysql://app@db/app?tls=skip-verify", "app@tcp(db:3306)/app?tls=preferred", "app@unix(/run/mysqld/mysqld.sock)/app"}
	rules := tlsURLRules()
	for name, urls := range corpus {
		for _, url := range urls {
			matched := slices.ContainsFunc(rules[name], func(r tlsURLRule) bool { return r.matches(url) })
			err := buildSpec(name, map[string]any{"url": url, "tls": config.TLS{ServerName: "db.internal"}})
			refused := refusesField(err, "tls")
			if matched && !refused {
				t.Errorf("%s %q: the schema refuses a tls block beside it, healthgate: %v", name, url, err)
			}
			if slices.Contains(mistakes, url) && !matched {
				t.Errorf("%s %q: the schema takes a tls block beside it; want it refused (healthgate: %v)", name, url, err)
			}
		}
	}
}

// dnsExpectRule: with record (in any case; "" when none is given), each expected value must match one of
// patterns (or refer to a variable).
type dnsExpectRule struct {
	record, words string
	patterns      []string
}

func dnsExpectRules() []dnsExpectRule {
	return []dnsExpectRule{
		{"", "expect, without a record (A and AAAA), lists IP addresses: healthgate refuses anything else.",
			[]string{`^(?:` + ipv4Pattern + `|` + ipv6Pattern + `)$`}},
		{"A", "expect, with record A, lists IPv4 addresses: healthgate refuses anything else.", []string{`^` + ipv4Pattern + `$`}},
		{"AAAA", "expect, with record AAAA, lists IPv6 addresses: healthgate refuses anything else.", []string{`^` + ipv6Pattern + `$`}},
	}
}

// TestDNSExpectRules: an expected value the schema refuses for a dns check's record (dnsExpectRules) is one
// healthgate refuses, and a name or the other family's address where an address is expected is refused by
// both.
func TestDNSExpectRules(t *testing.T) {
	records := []string{"", "A", "a", "AAAA", "aaaa", "CNAME", "TXT", "SRV"}
	values := []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "fd00::7", "::ffff:10.0.0.1", "fe80::1%eth0", "2001:db8::1:0:0:1",
		"010.0.0.1", "256.0.0.1", "1.2.3", "db.internal", "db.internal.", " 10.0.0.1", "10.0.0.1 ", "abc", "::", "1::2::3", "gg::1",
		"_sip._tcp.example.com:5060", "v=spf1 -all", "10.0.0.1:53:1", "db:53:1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "0001:db8::"}
	mistakes := map[string][]string{"": {"db.internal", "db.internal.", "10.0.0.1:53:1"}, "A": {"::1", "db.internal"},
		"AAAA": {"10.0.0.1", "db.internal", "10.0.0.1:53:1", "db:53:1", "1::2::3"}}
	for _, record := range records {
		var rule *dnsExpectRule
		for _, r := range dnsExpectRules() {
			if strings.EqualFold(r.record, record) {
				rule = &r
			}
		}
		for _, v := range values {
			refuses := rule != nil && !slices.ContainsFunc(rule.patterns, func(p string) bool { return regexp.MustCompile(p).MatchString(v) })
			spec := map[string]any{"host": "db.internal", "expect": []string{v}}
			if record != "" {
				spec["record"] = record
			}
			err := buildSpec("dns", spec)
			refused := refusesField(err, "expect")
			if refuses && !refused {
				t.Errorf("record %q, expect %q: the schema refuses it, healthgate: %v", record, v, err)
			}
			if slices.Contains(mistakes[strings.ToUpper(record)], v) && (!refuses || !refused) {
				t.Errorf("record %q, expect %q: refused by the schema %v, by healthgate %v; want both", record, v, refuses, err)
			}
		}
	}
}
