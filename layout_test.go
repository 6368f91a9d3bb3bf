package main

import (
	"go/build"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/monitor"
	"github.com/healthgate/healthgate/server"
)

// TestLayoutImportDirection holds the layout's one-way imports (main → config, checks, monitor, server,
// startup; server → monitor; monitor → checks; startup → checks; checks → config; config → nothing of
// ours): each package imports only the healthgate packages listed here, and only checks/ imports a
// database, cache or broker driver. The server sees the health state through the monitor alone, so what it needs of the
// configuration is passed in by main as its own plain types (server.Details, server.Peer).
func TestLayoutImportDirection(t *testing.T) {
	const module = "github.com/healthgate/healthgate/"
	allowed := map[string][]string{
		"config":            nil,
		"internal/grpcwire": nil,
		"internal/termtext": nil,
		"checks":            {"config", "internal/grpcwire"},
		"monitor":           {"checks"},
		"server":            {"monitor", "internal/grpcwire", "internal/termtext"},
		// startup turns `wait`/`check` flags into configuration (config.Check) before building checks.
		"startup": {"checks", "config", "internal/termtext"},
	}
	drivers := []string{"github.com/jackc/", "github.com/redis/", "github.com/go-sql-driver/", "github.com/rabbitmq/",
		"github.com/nats-io/", "github.com/eclipse/paho", "google.golang.org/grpc"}
	for dir, want := range allowed {
		pkg, err := build.ImportDir(dir, 0) // the package's own files, not its tests
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(want, rest) {
				t.Errorf("%s imports %s; it may import only %v of healthgate's packages", dir, rest, want)
			}
			for _, d := range drivers {
				if dir != "checks" && strings.HasPrefix(imp, d) {
					t.Errorf("%s imports the driver %s; only checks/ talks to dependencies", dir, imp)
				}
			}
		}
	}
}

// TestLayoutServerNames: the names the server gives a meaning of its own (/readyz's shutdown line, the gRPC
// health services that stand for /readyz and /livez) are the ones the configuration refuses as check
// names, and the longest name the server's 404 mentions is the configuration's limit. The server
// does not import config, so it keeps its own constants; this holds them equal.
func TestLayoutServerNames(t *testing.T) {
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"shutdown line", monitor.ShutdownCheck, config.ShutdownCheck},
		{"gRPC readiness service", server.ReadinessService, config.ReadinessService},
		{"gRPC liveness service", server.LivenessService, config.LivenessService},
		{"longest check name", server.MaxNameLen, config.MaxNameLen},
	} {
		if c.got != c.want {
			t.Errorf("%s: the server's %v, the configuration's %v", c.what, c.got, c.want)
		}
	}
	for _, c := range []struct {
		config string
		want   server.Details
	}{
		{config.DetailsNever, server.DetailsNever},
		{config.DetailsToken, server.DetailsToken},
		{config.DetailsAlways, server.DetailsAlways},
		{"", server.DetailsNever},
	} {
		if got := detailsOf(c.config); got != c.want {
			t.Errorf("detailsOf(%q) = %v, want %v", c.config, got, c.want)
		}
	}
}

// TestLayoutBenchKinds: the benchmark (bench/, its own module, which runs the built binary and cannot import the
// registry) lists in bench/kinds.go's kindOrder every kind of the registry, once, and nothing else, so a new
// kind gets its row in the kinds table.
func TestLayoutBenchKinds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("bench", "kinds.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^var kindOrder = \[\]string\{([^}]*)\}`).FindSubmatch(data)
	if m == nil {
		t.Fatal("bench/kinds.go: no `var kindOrder = []string{...}`")
	}
	var listed []string
	for _, q := range regexp.MustCompile(`"([a-z0-9]+)"`).FindAllSubmatch(m[1], -1) {
		listed = append(listed, string(q[1]))
	}
	got, want := slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(checks.Types()))
	if !slices.Equal(got, want) {
		t.Errorf("bench/kinds.go kindOrder = %v; want each of the registry's kinds once: %v", listed, want)
	}
}

// TestLayoutKubeSharesHelmPackages: tools/kube/go.mod (the Kubernetes binaries of scripts/k8s-node) and
// tools/go.mod (helm, among others) select the same version of every module they both require, the
// staging modules k8s.io/kubernetes replaces included. Built with the same flags (no -trimpath, as
// scripts/k8s-node explains), the k8s.io packages both link (over half of helm's source) are then
// compiled once into the build cache: minutes of a cold CI run. A `go get` in one of them that moves
// a shared module fails here until the other follows.
func TestLayoutKubeSharesHelmPackages(t *testing.T) {
	tools, kube := goModVersions(t, filepath.Join("tools", "go.mod")), goModVersions(t, filepath.Join("tools", "kube", "go.mod"))
	shared := 0
	for _, mod := range slices.Sorted(maps.Keys(tools)) {
		kv, ok := kube[mod]
		if !ok {
			continue
		}
		shared++
		if kv != tools[mod] {
			t.Errorf("%s: tools/go.mod selects %s, tools/kube/go.mod %s; want the same (go get the higher one where it is behind)",
				mod, tools[mod], kv)
		}
	}
	if shared < 50 {
		t.Errorf("only %d modules in common: the parsing of the go.mod files has broken", shared)
	}
}

// goModVersions returns the version of each module a go.mod requires, after its replace directives
// (module => module version; a placeholder v0.0.0 requirement takes its replacement's version).
func goModVersions(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	req := regexp.MustCompile(`^\s*(?:require\s+)?([^\s(/][^\s]*)\s+(v[^\s]+)(?:\s*//.*)?$`)
	repl := regexp.MustCompile(`^\s*(?:replace\s+)?([^\s(]+)\s+=>\s+([^\s]+)\s+(v[^\s]+)\s*$`)
	var replaced [][3]string
	for _, l := range strings.Split(string(data), "\n") {
		if m := repl.FindStringSubmatch(l); m != nil {
			replaced = append(replaced, [3]string{m[1], m[2], m[3]})
		} else if m := req.FindStringSubmatch(l); m != nil && !strings.HasPrefix(strings.TrimSpace(l), "go ") {
			versions[m[1]] = m[2]
		}
	}
	for _, r := range replaced {
		if r[0] == r[1] {
			versions[r[0]] = r[2]
		}
	}
	return versions
}
