package main

import (
	"encoding/pem"
	"io/fs"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// TestDocsCitationsStayInTheRepository: the README, docs and comments cite files the repository holds. A
// reference to planning notes that users never get, or to a section of docs/design.md that does not exist,
// fails here.
func TestDocsCitationsStayInTheRepository(t *testing.T) {
	design, err := os.ReadFile("docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	sections, anchors := map[string]bool{}, map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(#+) ((\d+)\..*)$`).FindAllStringSubmatch(string(design), -1) {
		if m[1] == "##" {
			sections[m[3]] = true
		}
		anchors[githubAnchor(m[2])] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.*)$`).FindAllStringSubmatch(string(design), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	// Spelled in pieces so that this file does not match itself.
	// The planning tracker is not in the repository either: a citation of its issues means nothing to a reader.
	forbidden := []string{"DESIGN" + ".md", "../" + "shared/", "STYLE" + ".md", "the " + "issue", "The " + "issue", "issue" + "'s"}
	link := regexp.MustCompile(`design\.md#([A-Za-z0-9_-]+)`)
	cite := regexp.MustCompile(`docs/design\.md(?:\)|\]|#[a-z0-9-]*\))?\s*§\s*(\d+)`)

	eachFile(t, ".", func(path string) bool {
		switch filepath.Ext(path) {
		case ".go", ".md", ".yaml", ".yml", ".tpl", ".txt", ".json", ".sh", "":
			return true
		}
		return false
	}, func(path, text string) {
		for _, f := range forbidden {
			if i := strings.Index(text, f); i >= 0 {
				t.Errorf("%s:%d cites %q, which is not in the repository: cite docs/design.md", path, lineAt(text, i), f)
			}
		}
		for _, m := range cite.FindAllStringSubmatchIndex(text, -1) {
			if n := text[m[2]:m[3]]; !sections[n] {
				t.Errorf("%s:%d cites docs/design.md §%s, which has no such section", path, lineAt(text, m[0]), n)
			}
		}
		for _, m := range link.FindAllStringSubmatchIndex(text, -1) {
			if a := text[m[2]:m[3]]; !anchors[a] {
				t.Errorf("%s:%d links to docs/design.md#%s, which has no such heading", path, lineAt(text, m[0]), a)
			}
		}
	})
}

// eachFile calls fn with the path and text of every file under root (a file or a directory; .git and
// node_modules skipped) that keep accepts.
func eachFile(t *testing.T, root string, keep func(path string) bool, fn func(path, text string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !keep(path) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(path, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lineAt is the line number of byte offset i of text.
func lineAt(text string, i int) int { return 1 + strings.Count(text[:i], "\n") }

// githubAnchor is the fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as
// hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsOneImageName: every healthgate image the README, docs, chart, examples and Dockerfile show is
// ghcr.io/healthgate/healthgate tagged with the chart's appVersion (the tag the chart defaults to and the
// version scripts/image-build bakes in), or that same tag under registry.internal/, the README's example of
// one's own mirror. A :latest, another registry's name or a stale version fails here.
func TestDocsOneImageName(t *testing.T) {
	chart, err := os.ReadFile("charts/healthgate/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^appVersion: *"?([^"\s]+)"?\s*$`).FindSubmatch(chart)
	if m == nil {
		t.Fatal("no appVersion in charts/healthgate/Chart.yaml")
	}
	appVersion := string(m[1])
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(appVersion) {
		t.Errorf("appVersion %q: want X.Y.Z (no v), the image tag scheme", appVersion)
	}
	values, err := os.ReadFile("charts/healthgate/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^image:\n  repository: ghcr\.io/healthgate/healthgate\n(?:  #.*\n)*  tag: ""\n`).Match(values) {
		t.Error(`charts/healthgate/values.yaml: want image.repository ghcr.io/healthgate/healthgate and tag "" (the appVersion)`)
	}

	ref := regexp.MustCompile(`((?:[a-z0-9.-]+(?::[0-9]+)?/)+)healthgate:([A-Za-z0-9_][A-Za-z0-9._-]*)`)
	seen := 0
	for _, root := range []string{"README.md", "Dockerfile", "docs", "charts", "examples"} {
		eachFile(t, root, func(string) bool { return true }, func(path, text string) {
			for _, m := range ref.FindAllStringSubmatchIndex(text, -1) {
				seen++
				repo, tag := text[m[2]:m[3]]+"healthgate", text[m[4]:m[5]]
				line := lineAt(text, m[0])
				if repo != "ghcr.io/healthgate/healthgate" && repo != "registry.internal/healthgate" {
					t.Errorf("%s:%d: image %s:%s; want ghcr.io/healthgate/healthgate:%s", path, line, repo, tag, appVersion)
				} else if tag != appVersion {
					t.Errorf("%s:%d: image %s:%s; want the tag %s (the chart's appVersion)", path, line, repo, tag, appVersion)
				}
			}
		})
	}
	if seen < 5 {
		t.Errorf("found only %d healthgate image references: is the pattern still right?", seen)
	}
}

// TestDocsReadmeKinds: the README's two lists of kinds follow the registry (checks.Kinds): the table "What
// each check executes" has one row per kind, and the `wait` targets table one `--KIND ARG` row per kind,
// with the registry's argument; the Configuration section's example has a check of every kind and loads and
// validates as a real configuration. The rows' prose is the README's own; which kinds have a row is not.
func TestDocsReadmeKinds(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	// section returns the lines of the README's section under heading, up to the next heading.
	section := func(heading string) []string {
		_, rest, found := strings.Cut(readme, "\n"+heading+"\n")
		if !found {
			t.Fatalf("README.md has no heading %q", heading)
		}
		if i := strings.Index(rest, "\n#"); i >= 0 {
			rest = rest[:i]
		}
		return strings.Split(rest, "\n")
	}
	// The Configuration section's example shows every kind, and is a valid configuration.
	example := strings.Join(section("## Configuration"), "\n")
	_, example, _ = strings.Cut(example, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	for _, name := range checks.Types() {
		if !regexp.MustCompile(`(?m)^\s+type: ` + name + `\b`).MatchString(example) {
			t.Errorf("README.md, Configuration: the example has no check of type %s", name)
		}
	}
	env := func(name string) (string, bool) {
		if name == "DATABASE_URL" {
			return "postgres://app@db:5432/app", true
		}
		return "x", true
	}
	// The example's CA bundle, which this machine does not have: httptest's certificate stands in.
	srv := httptest.NewTLSServer(nil)
	srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	example = strings.ReplaceAll(example, "/etc/ssl/ca.pem", ca)
	if cfg, err := config.Parse("README.md (Configuration)", []byte(example), env); err != nil {
		t.Errorf("README.md, Configuration: the example does not load: %v", err)
	} else if errs := checks.Validate(cfg.Checks); len(errs) > 0 {
		t.Errorf("README.md, Configuration: the example does not validate: %v", errs)
	}

	// The health+json paragraph names the kinds whose componentType is datastore: all of them, no other.
	var datastores []string
	for _, name := range checks.Types() {
		if checks.ComponentType(name) == checks.ComponentDatastore {
			datastores = append(datastores, name)
		}
	}
	if m := regexp.MustCompile("`componentType` \\(`datastore` for ([a-z, ]+) and ([a-z]+), `component` for the other kinds").
		FindStringSubmatch(strings.Join(strings.Fields(readme), " ")); m == nil {
		t.Error("README.md, Endpoints: no \"`componentType` (`datastore` for A, B and C, `component` for the other kinds\"")
	} else if got := append(strings.Split(m[1], ", "), m[2]); !slices.Equal(slices.Sorted(slices.Values(got)), datastores) {
		t.Errorf("README.md, Endpoints: componentType datastore for %v; the registry says %v", got, datastores)
	}

	want := map[string]string{} // kind → its flag row's start
	for _, k := range checks.Kinds() {
		want[k.Name] = "| `--" + k.Name + " " + k.TargetArg + "` |"
	}

	rows := map[string]int{}
	typeCell := regexp.MustCompile("^\\| `([a-z0-9]+)` \\|")
	for _, l := range section("## What each check executes") {
		if m := typeCell.FindStringSubmatch(l); m != nil {
			rows[m[1]]++
		}
	}
	for _, name := range checks.Types() {
		if rows[name] != 1 {
			t.Errorf("README.md, What each check executes: %d rows for the kind %s; want 1", rows[name], name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		if _, ok := want[name]; !ok {
			t.Errorf("README.md, What each check executes: a row for %s, which the registry does not have", name)
		}
	}

	flagRow := regexp.MustCompile("^\\| `--([a-z0-9-]+)[ `]")
	others := []string{"config", "only", "migrations", "set"} // the flags that are not a kind's target
	seen := map[string]bool{}
	for _, l := range section("### Targets") {
		m := flagRow.FindStringSubmatch(l)
		if m == nil || slices.Contains(others, m[1]) {
			continue
		}
		name := m[1]
		switch start, ok := want[name]; {
		case !ok:
			t.Errorf("README.md, Targets: a row for --%s, which is neither a kind nor one of %v", name, others)
		case !strings.HasPrefix(l, start):
			t.Errorf("README.md, Targets: the row for --%s starts %.40q; want %q (the registry's argument)", name, l, start)
		}
		seen[name] = true
	}
	for _, name := range checks.Types() {
		if start := want[name]; !seen[name] {
			t.Errorf("README.md, Targets: no row for the kind %s (want one starting %s)", name, start)
		}
	}
}

// TestDocsTestNames: every test of docs_test.go is named TestDocs… and every test of layout_test.go
// TestLayout…, so `go test -run 'TestDocs|TestLayout' .`, the quick check after a change to the docs or the
// layout, runs all of them (it once matched none and passed).
func TestDocsTestNames(t *testing.T) {
	decl := regexp.MustCompile(`(?m)^func (Test\w*)\(`)
	for file, prefix := range map[string]string{"docs_test.go": "TestDocs", "layout_test.go": "TestLayout"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		tests := decl.FindAllSubmatch(data, -1)
		if len(tests) == 0 {
			t.Errorf("%s: no test found: is the pattern still right?", file)
		}
		for _, m := range tests {
			if name := string(m[1]); !strings.HasPrefix(name, prefix) {
				t.Errorf("%s: %s; want a name starting %s, which -run 'TestDocs|TestLayout' selects", file, name, prefix)
			}
		}
	}
}

// TestDocsSecretWords: where the README, docs/design.md and the chart's README list the words that make a
// name secret (redacted, refused by the chart), they list config.SecretWords, in its order. A list is
// `pass` followed by at least three more words (pass, warn and fail, the statuses, are not one).
func TestDocsSecretWords(t *testing.T) {
	list := regexp.MustCompile("`pass`(?:,? (?:or )?`[a-z]+`){3,}")
	word := regexp.MustCompile("`([a-z]+)`")
	for _, file := range []string{"README.md", "docs/design.md", "charts/healthgate/README.md"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lists := list.FindAllString(strings.Join(strings.Fields(string(data)), " "), -1)
		if len(lists) == 0 {
			t.Errorf("%s: no list of the secret words (`pass`, `pw`, ...): is the pattern still right?", file)
		}
		for _, l := range lists {
			var got []string
			for _, m := range word.FindAllStringSubmatch(l, -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, config.SecretWords) {
				t.Errorf("%s lists the secret words %q; config.SecretWords is %q", file, got, config.SecretWords)
			}
		}
	}
}

// TestDocsChartChecksExamples: the chart's examples of checks, the commented `checks:` of values.yaml and
// the chart README's migrations example, load and validate as a real configuration, and both show a
// migrations block (the chart documents migrations too).
func TestDocsChartChecksExamples(t *testing.T) {
	values, err := os.ReadFile("charts/healthgate/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The commented example under `checks: []`, up to the first line that is not a comment.
	_, rest, found := strings.Cut(string(values), "\nchecks: []\n")
	if !found {
		t.Fatal("charts/healthgate/values.yaml: no top-level `checks: []`")
	}
	var lines []string
	for l := range strings.SplitSeq(rest, "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	readme, err := os.ReadFile("charts/healthgate/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n## Migrations: wait for the schema\n")
	if !found {
		t.Fatal(`charts/healthgate/README.md: no section "## Migrations: wait for the schema"`)
	}
	_, example, _ := strings.Cut(section, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	env := func(string) (string, bool) { return "postgres://app@db:5432/app", true }
	for _, ex := range []struct{ name, text string }{
		// scope: shared needs the fleet section the chart writes with fleet.enabled.
		{"charts/healthgate/values.yaml (checks)", "fleet:\n  peers: dns:///deps-healthgate-peers.default.svc.cluster.local.:8080\n" + strings.Join(lines, "\n")},
		{"charts/healthgate/README.md (Migrations)", example},
	} {
		cfg, err := config.Parse(ex.name, []byte(ex.text), env)
		if err != nil {
			t.Errorf("%s: the example does not load: %v\n%s", ex.name, err, ex.text)
			continue
		}
		if errs := checks.Validate(cfg.Checks); len(errs) > 0 {
			t.Errorf("%s: the example does not validate: %v", ex.name, errs)
		}
		if !slices.ContainsFunc(cfg.Checks, func(c config.Check) bool { return slices.Contains(c.Spec.Keys(), "migrations") }) {
			t.Errorf("%s: no check with a migrations block", ex.name)
		}
	}
}

// TestDocsLinksResolve: every relative link in the repository's Markdown reaches a file the repository
// holds, and a link's #fragment a heading of the page it points at (the page itself for a bare #fragment):
// a heading renamed, and the links to it left behind, fails here.
func TestDocsLinksResolve(t *testing.T) {
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE := regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	anchorsOf := map[string]map[string]bool{}
	anchors := func(t *testing.T, path string) map[string]bool {
		if a, ok := anchorsOf[path]; ok {
			return a
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := map[string]bool{}
		for _, m := range headingRE.FindAllStringSubmatch(string(data), -1) {
			a[githubAnchor(strings.ReplaceAll(m[1], "`", ""))] = true
		}
		anchorsOf[path] = a
		return a
	}
	var links int
	eachFile(t, ".", func(path string) bool { return filepath.Ext(path) == ".md" }, func(path, text string) {
		for _, m := range linkRE.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[2]:m[3]]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			line := lineAt(text, m[0])
			file, frag, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Join(filepath.Dir(path), file)
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d links to %s, which the repository does not hold", path, line, target)
					continue
				}
			}
			links++
			if frag == "" || filepath.Ext(dest) != ".md" {
				continue
			}
			if !anchors(t, dest)[frag] {
				t.Errorf("%s:%d links to %s, but %s has no heading with the anchor #%s", path, line, target, dest, frag)
			}
		}
	})
	if links < 50 {
		t.Errorf("found %d relative links; the README alone has more: is the link pattern right?", links)
	}
}
