package main

import (
	"encoding/pem"
	"fmt"
	"io/fs"
	"iter"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/startup"
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
// holds (not one beside it, which a checkout on the machine that wrote it may find: ../../../other/x from
// examples/kubernetes), and a link's #fragment a heading of the page it points at (the page itself for a
// bare #fragment): a heading renamed, and the links to it left behind, fails here.
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
				if dest == ".." || strings.HasPrefix(dest, "../") {
					t.Errorf("%s:%d links to %s, outside the repository", path, line, target)
					continue
				}
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

// docFiles are the pages a user reads before adopting healthgate, and the manifests they copy.
var docFiles = []string{"README.md", "docs/design.md", "charts/healthgate/README.md", "examples/kubernetes/README.md",
	"bench/README.md", "examples/kubernetes/configmap.yaml", "examples/kubernetes/deployment-wait.yaml",
	"examples/kubernetes/deployment-sidecar.yaml", "examples/kubernetes/migrations.yaml",
	"charts/healthgate/values.yaml", "charts/healthgate/templates/NOTES.txt"}

// readDocs yields each of docFiles and its text, in order.
func readDocs(t *testing.T) iter.Seq2[string, string] {
	return func(yield func(file, text string) bool) {
		for _, file := range docFiles {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !yield(file, string(data)) {
				return
			}
		}
	}
}

// TestDocsCommandFlags: every flag a healthgate command line of the docs gives (`healthgate wait --only
// db`, a code span `serve --validate`, a container's `args: ["wait", "--config", ...]`) is a flag of that
// command, as its --help lists them; and every flag of `go -C bench run .` is one of the harness's, its
// -only steps the harness's own, as are those of a code span `-only STEPS` standing alone. A flag renamed
// or dropped, and the docs left behind, fails here.
func TestDocsCommandFlags(t *testing.T) {
	flags := map[string]map[string]bool{}
	usage := map[string][]string{} // a flag's usage texts, one per command that has it
	for _, cmd := range []string{"serve", "wait", "check"} {
		code, stdout, _ := runMain(t, noEnv, cmd, "--help")
		if code != exitOK {
			t.Fatalf("healthgate %s --help: exit %d", cmd, code)
		}
		flags[cmd] = map[string]bool{"help": true}
		for _, m := range regexp.MustCompile(`(?m)^  --([a-z][a-z0-9-]*).*\n\s+(.*)$`).FindAllStringSubmatch(stdout, -1) {
			flags[cmd][m[1]] = true
			usage[m[1]] = append(usage[m[1]], m[2])
		}
	}
	// The flags of other programs the docs name in a code span of their own: MySQL's server options
	// (what its 1290 error names) and kubectl's.
	others := []string{"read-only", "super-read-only", "secure-file-priv", "skip-grant-tables", "warnings-as-errors", "api-versions"}
	spanRE := regexp.MustCompile("`--([a-z][a-z0-9-]*)[^`]*`( \\(default `?([^`;),]+))?")
	bench, err := os.ReadFile("bench/main.go")
	if err != nil {
		t.Fatal(err)
	}
	benchFlags := map[string]bool{}
	for _, m := range regexp.MustCompile(`fs\.\w+\("([a-z0-9]+)"`).FindAllSubmatch(bench, -1) {
		benchFlags[string(m[1])] = true
	}
	steps := map[string]bool{}
	if m := regexp.MustCompile(`"run only these steps, comma-separated: ([a-z0-9, ]+)"`).FindSubmatch(bench); m == nil {
		t.Error("bench/main.go: no -only usage listing the steps: is the pattern still right?")
	} else {
		for s := range strings.SplitSeq(string(m[1]), ", ") {
			steps[s] = true
		}
	}

	// A command line runs to the end of its code span, table cell, line or comment, or to what ends the
	// command's own arguments (wait's `--` before the command it runs, a shell's & ; |).
	end := func(s string) string {
		for _, stop := range []string{" -- ", " --\n", "&", ";"} {
			if i := strings.Index(s, stop); i >= 0 {
				s = s[:i]
			}
		}
		return s
	}
	lines := []*regexp.Regexp{
		regexp.MustCompile("\\bhealthgate (serve|wait|check)\\b([^`|#\\n]*)"),
		regexp.MustCompile("`(serve|wait|check)( --[^`]*)`"),
		regexp.MustCompile(`args: *\[ *"(serve|wait|check)"([^\]]*)\]`),
		regexp.MustCompile(`(?m)args:\n +- (serve|wait|check)\n((?: +- .*\n)*)`),
	}
	flagRE := regexp.MustCompile(`(?:^|[\s\["])--?([a-z][a-z0-9-]*)`)
	benchRE := regexp.MustCompile("go -C bench run \\.([^`|#\\n]*)")
	onlyRE := regexp.MustCompile(`-only ([a-z0-9,]+)`)
	onlySpanRE := regexp.MustCompile("`-only ([a-z0-9,]+)[^`]*`")
	seen := 0
	for file, text := range readDocs(t) {
		// A flag in a code span of its own (`--only NAME`), wherever it stands: some command's flag, its
		// default (`--timeout` (default `5m`)) the one its usage gives.
		for _, m := range spanRE.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[2]:m[3]]
			if strings.HasPrefix(file, "bench/") && benchFlags[name] {
				continue // the harness's own (`--quick`)
			}
			if _, ok := usage[name]; !ok && name != "help" && !slices.Contains(others, name) {
				t.Errorf("%s:%d: --%s: no healthgate command has this flag (nor is it one of %v, other programs' flags)", file, lineAt(text, m[0]), name, others)
				continue
			}
			seen++
			if m[6] >= 0 {
				def := text[m[6]:m[7]]
				if !slices.ContainsFunc(usage[name], func(u string) bool { return strings.Contains(u, "default "+def) }) {
					t.Errorf("%s:%d: --%s (default %s): its --help says %q", file, lineAt(text, m[0]), name, def, usage[name])
				}
			}
		}
		for _, re := range lines {
			for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
				cmd, rest := text[m[2]:m[3]], end(text[m[4]:m[5]])
				for _, f := range flagRE.FindAllStringSubmatch(rest, -1) {
					seen++
					if !flags[cmd][f[1]] {
						t.Errorf("%s:%d: healthgate %s --%s: %s has no such flag (%s)", file, lineAt(text, m[0]), cmd, f[1], cmd,
							strings.Join(slices.Sorted(maps.Keys(flags[cmd])), ", "))
					}
				}
			}
		}
		// -only in a code span of its own (`-only probes,rss10,...` in the harness's flags, `-only startup
		// -repo`): the harness's steps too.
		for _, m := range onlySpanRE.FindAllStringSubmatchIndex(text, -1) {
			for s := range strings.SplitSeq(text[m[2]:m[3]], ",") {
				seen++
				if !steps[s] {
					t.Errorf("%s:%d: `-only %s`: the harness has no step %s", file, lineAt(text, m[0]), text[m[2]:m[3]], s)
				}
			}
		}
		for _, m := range benchRE.FindAllStringSubmatchIndex(text, -1) {
			rest := end(text[m[2]:m[3]])
			for _, f := range flagRE.FindAllStringSubmatch(rest, -1) {
				seen++
				if !benchFlags[f[1]] {
					t.Errorf("%s:%d: go -C bench run . -%s: the harness has no such flag", file, lineAt(text, m[0]), f[1])
				}
			}
			for _, o := range onlyRE.FindAllStringSubmatch(rest, -1) {
				for s := range strings.SplitSeq(o[1], ",") {
					if !steps[s] {
						t.Errorf("%s:%d: go -C bench run . -only %s: the harness has no step %s", file, lineAt(text, m[0]), o[1], s)
					}
				}
			}
		}
	}
	if seen < 50 {
		t.Errorf("found only %d flags in the docs' command lines: are the patterns still right?", seen)
	}
}

// TestDocsMetrics: every healthgate_* metric the docs name is one a real serve exposes, with the labels they
// give it (`healthgate_check_up{check,type,critical}` names all of them; `{critical="true"}` some), and the
// metric lists of the README's Metrics section and of docs/design.md §3 name every healthgate_* metric it
// exposes. The serve has a fleet and a shared check, so the fleet's metrics are there too.
func TestDocsMetrics(t *testing.T) {
	p := startServe(t, "server: {listen: \"127.0.0.1:0\"}\nfleet: {peers: [\"127.0.0.1:9\"], min_pods: 2}\n"+
		"checks:\n  - {name: db, type: tcp, address: \""+listening(t)+"\", scope: shared}\n", noEnv)
	var body string
	if _, ok := checktest.Poll(10*time.Second, 10*time.Millisecond, func() bool {
		body = p.probe(t, "/metrics").body
		return strings.Contains(body, "healthgate_check_duration_seconds_bucket{") // db's first run observed
	}); !ok {
		t.Fatalf("/metrics has no duration histogram after 10s:\n%s", body)
	}
	labels := map[string]map[string]bool{} // metric → its label names
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (healthgate_\w+) `).FindAllStringSubmatch(body, -1) {
		labels[m[1]] = map[string]bool{}
	}
	for _, m := range regexp.MustCompile(`(?m)^(healthgate_\w+)\{(.*)\} `).FindAllStringSubmatch(body, -1) {
		name := m[1]
		if _, ok := labels[name]; !ok { // a histogram's series
			name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		}
		for _, l := range regexp.MustCompile(`(\w+)="`).FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" {
				labels[name][l[1]] = true
			}
		}
	}
	if len(labels) < 10 {
		t.Fatalf("/metrics: only %d healthgate metrics (%v): is the pattern still right?", len(labels), slices.Sorted(maps.Keys(labels)))
	}

	// check judges the metrics text names: each exists, with the labels named; in a list of every metric
	// (exact), a mention of bare label names ({check,type}) names all of them.
	mention := regexp.MustCompile(`healthgate_\w+(?:\{([^}\n]*)\})?`)
	check := func(file, text string, first int, exact bool) { // first: text's first line in file

		for _, m := range mention.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[0]:m[1]]
			name, _, _ = strings.Cut(name, "{")
			at := fmt.Sprintf("%s:%d", file, first-1+lineAt(text, m[0]))
			have, ok := labels[name]
			if !ok {
				t.Errorf("%s: %s: serve exposes no such metric", at, name)
				continue
			}
			if m[2] < 0 {
				continue
			}
			var named []string
			signature := true // {check,type}, not {critical="true"}
			for l := range strings.SplitSeq(text[m[2]:m[3]], ",") {
				n, _, sel := strings.Cut(l, "=")
				signature = signature && !sel
				named = append(named, strings.TrimSpace(n))
			}
			for _, n := range named {
				if !have[n] {
					t.Errorf("%s: %s{%s}: it has no label %s (it has %v)", at, name, text[m[2]:m[3]], n, slices.Sorted(maps.Keys(have)))
				}
			}
			if exact && signature && len(named) != len(have) {
				t.Errorf("%s: %s{%s}: its labels are %v", at, name, text[m[2]:m[3]], slices.Sorted(maps.Keys(have)))
			}
		}
	}
	for file, text := range readDocs(t) {
		check(file, text, 1, false)
	}

	// The two lists of every metric: the README's Metrics section, and /metrics in docs/design.md §3.
	for _, list := range []struct{ file, start, end string }{
		{"README.md", "\n## Metrics\n", "\n## "},
		{"docs/design.md", "\n## 3. ", "\n## "},
	} {
		data, err := os.ReadFile(list.file)
		if err != nil {
			t.Fatal(err)
		}
		before, section, found := strings.Cut(string(data), list.start)
		if !found {
			t.Errorf("%s: no section %q", list.file, strings.TrimSpace(list.start))
			continue
		}
		section, _, _ = strings.Cut(section, list.end)
		check(list.file, section, lineAt(before, len(before))+2, true)
		for _, name := range slices.Sorted(maps.Keys(labels)) {
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(section) {
				t.Errorf("%s, section %q, does not name %s, which serve exposes", list.file, strings.TrimSpace(list.start), name)
			}
		}
	}
}

// TestDocsReasonClasses: the class tables of the README ("Reason classes") and of docs/design.md §4 have
// one row per class of checks.Classes, in its order; and the retry policy tables of the README and of §7
// name each class once (the rest as "anything else") with the delays startup.Backoff gives it.
func TestDocsReasonClasses(t *testing.T) {
	// table returns the rows of the Markdown table of file whose header row starts with header.
	table := func(file, header string) []string {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, found := strings.Cut(string(data), "\n"+header)
		if !found {
			t.Fatalf("%s: no table with the header %q", file, header)
		}
		var rows []string
		for i, l := range strings.Split(rest, "\n")[1:] {
			if !strings.HasPrefix(l, "|") {
				break
			}
			if i > 0 { // the |---| line
				rows = append(rows, l)
			}
		}
		return rows
	}
	classCell := regexp.MustCompile("^\\| `([a-z_]+)` \\|")
	for _, tc := range []struct{ file, header string }{
		{"README.md", "| class | meaning | hint |"},
		{"docs/design.md", "| class | meaning | where it comes from |"},
	} {
		var got []checks.Class
		for _, r := range table(tc.file, tc.header) {
			if m := classCell.FindStringSubmatch(r); m != nil {
				got = append(got, checks.Class(m[1]))
			}
		}
		if !slices.Equal(got, checks.Classes) {
			t.Errorf("%s, the reason classes table: %v; checks.Classes is %v", tc.file, got, checks.Classes)
		}
	}

	word := regexp.MustCompile("`([a-z_]+)`")
	for _, file := range []string{"README.md", "docs/design.md"} {
		named := map[checks.Class]bool{}
		var rest string // the row of "anything else"
		for _, r := range table(file, "| last failure | next attempt after | why |") {
			cells := strings.Split(r, "|")
			if len(cells) < 4 {
				t.Fatalf("%s: retry policy row %q", file, r)
			}
			who, after := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
			var classes []checks.Class
			for _, m := range word.FindAllStringSubmatch(who, -1) {
				c := checks.Class(m[1])
				if !slices.Contains(checks.Classes, c) {
					t.Errorf("%s, retry policy: %s is no reason class", file, c)
				}
				if named[c] {
					t.Errorf("%s, retry policy: %s in two rows", file, c)
				}
				named[c] = true
				classes = append(classes, c)
			}
			if strings.Contains(who, "anything else") {
				rest = after
				continue
			}
			judgeRetry(t, file, classes, after)
		}
		var others []checks.Class
		for _, c := range checks.Classes {
			if !named[c] {
				others = append(others, c)
			}
		}
		if rest == "" {
			t.Errorf("%s, retry policy: no row for anything else (%v)", file, others)
			continue
		}
		judgeRetry(t, file, others, rest)
	}
}

// The delays a retry policy row gives: a range (`25–50 ms`), for dns the misses after which it slows
// (`for the first 20 misses ...; then 0.5–1 s`), or a curve (`exponential from 100 ms, ... cap 3 s`).
var (
	retrySpan  = regexp.MustCompile(`^(\d+)–(\d+) ms`)
	retrySlow  = regexp.MustCompile(`(?:first|for) (\d+) (?:consecutive )?misses.*then ([\d.]+)–([\d.]+) s`)
	retryCurve = regexp.MustCompile(`exponential from (\d+) ms.*cap(?:ped at)? (\d+) s`)
)

// judgeRetry holds startup.Backoff for classes to what a row of a retry policy table says (after).
func judgeRetry(t *testing.T, file string, classes []checks.Class, after string) {
	ms := func(s string) time.Duration {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(f * float64(time.Millisecond))
	}
	const top = 0.999999 // u just under 1: the delay just under its bound
	for _, c := range classes {
		switch m, s, k := retrySpan.FindStringSubmatch(after), retrySlow.FindStringSubmatch(after), retryCurve.FindStringSubmatch(after); {
		case m != nil:
			lo, hi := ms(m[1]), ms(m[2])
			if got := startup.Backoff(c, 1, 0); got != lo {
				t.Errorf("%s, retry policy, %s: at least %s; Backoff gives %s", file, c, lo, got)
			}
			if got := startup.Backoff(c, 1, top); got >= hi || got < hi-time.Millisecond {
				t.Errorf("%s, retry policy, %s: up to %s; Backoff gives %s", file, c, hi, got)
			}
			if s != nil {
				n, _ := strconv.Atoi(s[1])
				lo, hi := ms(s[2])*1000, ms(s[3])*1000
				if got := startup.Backoff(c, n, 0); got != ms(m[1]) {
					t.Errorf("%s, retry policy, %s: %s for %d misses; Backoff gives %s after the %dth", file, c, m[0], n, got, n)
				}
				if got, gotHi := startup.Backoff(c, n+1, 0), startup.Backoff(c, n+1, top); got != lo || gotHi >= hi || gotHi < hi-time.Millisecond {
					t.Errorf("%s, retry policy, %s: then %s–%s; Backoff gives %s–%s", file, c, lo, hi, got, gotHi)
				}
			}
		case k != nil:
			base, ceiling := ms(k[1]), ms(k[2])*1000
			if got := startup.Backoff(c, 1, top); got > base || got < base-time.Millisecond {
				t.Errorf("%s, retry policy, %s: exponential from %s; Backoff's first step is %s", file, c, base, got)
			}
			if got := startup.Backoff(c, 100, top); got > ceiling || got < ceiling-time.Millisecond {
				t.Errorf("%s, retry policy, %s: capped at %s; Backoff's last step is %s", file, c, ceiling, got)
			}
		default:
			t.Errorf("%s, retry policy, %s: %q says no delay this test reads", file, c, after)
		}
	}
}

// TestDocsExampleConfigs: the configurations the docs give whole load as `serve --validate` loads them
// (server and fleet sections included): examples/local.yaml, the Quick start's, and the README's fleet
// example, with their variables unset or set as the text says.
func TestDocsExampleConfigs(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, fleet, _ := strings.Cut(string(readme), "\n## Shared dependencies: failing open\n")
	_, fleet, _ = strings.Cut(fleet, "```yaml\n")
	fleet, _, _ = strings.Cut(fleet, "```")
	if !strings.Contains(fleet, "fleet:") {
		t.Fatalf("README.md, Shared dependencies: no fleet example found:\n%s", fleet)
	}
	for _, tc := range []struct {
		name, path string
		env        map[string]string
	}{
		{"examples/local.yaml", "examples/local.yaml", noEnv},
		{"README.md (Shared dependencies)", writeConfig(t, fleet), map[string]string{"DATABASE_URL": "postgres://app@db:5432/app"}},
	} {
		code, stdout, stderr := runMain(t, tc.env, "serve", "--config", tc.path, "--validate")
		if code != exitOK || !strings.Contains(stdout+stderr, "configuration OK") {
			t.Errorf("%s: serve --validate: exit %d:\n%s%s", tc.name, code, stdout, stderr)
		}
	}
}

// TestDocsDefaults: the defaults docs/design.md tabulates (a check's timing, §2; the server's, §3) and the
// fleet defaults the chart's README gives are the configuration's own (config.Default*).
func TestDocsDefaults(t *testing.T) {
	design, err := os.ReadFile("docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header string
		col    int // the default's column
		want   map[string]string
	}{
		{"| field | meaning | default |", 3, map[string]string{
			"interval": config.DefaultInterval.String(), "timeout": config.DefaultTimeout.String(),
			"failure_threshold": strconv.Itoa(config.DefaultFailureThreshold), "success_threshold": strconv.Itoa(config.DefaultSuccessThreshold),
			"critical": "true",
		}},
		{"| field | default | note |", 2, map[string]string{
			"listen": config.DefaultListen, "grpc_listen": "empty", "shutdown_delay": config.DefaultShutdownDelay.String(),
			"shutdown_timeout": config.DefaultShutdownTimeout.String(), "details": config.DetailsNever, "details_token": "none",
		}},
	} {
		_, rest, found := strings.Cut(string(design), "\n"+tc.header+"\n")
		if !found {
			t.Errorf("docs/design.md: no table %q", tc.header)
			continue
		}
		seen := map[string]bool{}
		for _, row := range strings.Split(rest, "\n")[1:] {
			cells := strings.Split(row, "|")
			if len(cells) <= tc.col+1 {
				break
			}
			field := strings.Trim(strings.TrimSpace(cells[1]), "`")
			got := strings.Trim(strings.TrimSpace(cells[tc.col]), "`")
			want, ok := tc.want[field]
			if !ok {
				t.Errorf("docs/design.md, table %q: a row for %s, which this test does not know", tc.header, field)
				continue
			}
			seen[field] = true
			if !strings.HasPrefix(got, want) {
				t.Errorf("docs/design.md, table %q: %s defaults to %q; the configuration's default is %s", tc.header, field, got, want)
			}
		}
		for field := range tc.want {
			if !seen[field] {
				t.Errorf("docs/design.md, table %q: no row for %s", tc.header, field)
			}
		}
	}

	chart, err := os.ReadFile("charts/healthgate/README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{strconv.FormatFloat(config.DefaultFailOpenRatio, 'g', -1, 64), strconv.Itoa(config.DefaultMinPods),
		strconv.Itoa(config.DefaultSample), config.DefaultFleetTimeout.String()}
	lists := regexp.MustCompile("healthgate's (?:defaults: )?`([^`]+)`(?:,| /) `([^`]+)`(?:,| /) `([^`]+)`(?:,| /) `([^`]+)`").
		FindAllStringSubmatch(strings.Join(strings.Fields(string(chart)), " "), -1)
	if len(lists) < 2 {
		t.Errorf("charts/healthgate/README.md: %d lists of healthgate's fleet defaults; want 2 (Fleet, Values): is the pattern still right?", len(lists))
	}
	for _, l := range lists {
		if !slices.Equal(l[1:], want) {
			t.Errorf("charts/healthgate/README.md: healthgate's fleet defaults %q; the configuration's are %q (fail_open_ratio, min_pods, sample, timeout)", l[1:], want)
		}
	}
}

// TestDocsCitedTestsExist: every test and benchmark the docs name as their evidence (TestProbeDoesNoWork,
// `-bench ConnState`) is one of the repository's (any module, any build tag): a test renamed or removed,
// and the docs still pointing at it, fails here.
func TestDocsCitedTestsExist(t *testing.T) {
	funcs := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)\w+)\(`)
	eachFile(t, ".", func(path string) bool { return strings.HasSuffix(path, "_test.go") }, func(_, text string) {
		for _, m := range decl.FindAllStringSubmatch(text, -1) {
			funcs[m[1]] = true
		}
	})
	cited := regexp.MustCompile(`\b(?:Test|Benchmark)[A-Z]\w*|-bench '?\^?([A-Z]\w*)`)
	seen := 0
	for file, text := range readDocs(t) {
		for _, m := range cited.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[0]:m[1]]
			if m[2] >= 0 {
				name = "Benchmark" + text[m[2]:m[3]]
			}
			seen++
			if !funcs[name] {
				t.Errorf("%s:%d names %s, which no _test.go of the repository declares", file, lineAt(text, m[0]), name)
			}
		}
	}
	if seen < 5 {
		t.Errorf("found only %d tests named in the docs: is the pattern still right?", seen)
	}
}
