package policy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// monitoringAPIs renders the chart as for a cluster that serves the Prometheus Operator's kinds.
var monitoringAPIs = []string{"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"}

// TestChartCIValues: every ci/*-values.yaml (what scripts/k8s-validate lints, renders and dry-runs) renders,
// passes `helm lint --strict`, and decodes strictly into clean objects under this package's rules.
func TestChartCIValues(t *testing.T) {
	helm := helmBinary(t)
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if out, err := exec.Command(helm, "lint", "--strict", chartDir, "-f", f).CombinedOutput(); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
			out, err := exec.Command(helm, append([]string{"template", "ci", chartDir, "-f", f}, monitoringAPIs...)...).Output()
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, stderrOf(err))
			}
			objs, err := Decode(f, out)
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			for _, finding := range Check(objs) {
				t.Errorf("%s", finding)
			}
		})
	}
}

// TestChartInvalidValues: every tools/testdata/chart-invalid file is refused as its first two lines say
// (README.md there): `helm template` fails with the `# expect:` text, and so does `helm lint --strict` for a
// schema refusal; template-without-crds files are rendered without the monitoring APIs.
func TestChartInvalidValues(t *testing.T) {
	helm := helmBinary(t)
	files, err := filepath.Glob("../testdata/chart-invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no chart-invalid files (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			expect, via := headerLines(t, f)
			args := []string{"template", "x", chartDir, "-f", f}
			switch via {
			case "schema", "template":
				args = append(args, monitoringAPIs...)
			case "template-without-crds":
			default:
				t.Fatalf("line 2 is %q: want '# via: schema', 'template' or 'template-without-crds'", via)
			}
			out, err := exec.Command(helm, args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), expect) {
				t.Errorf("helm template: %v, want a failure with %q:\n%s", err, expect, lastLines(out))
			}
			if via == "schema" {
				out, err := exec.Command(helm, "lint", "--strict", chartDir, "-f", f).CombinedOutput()
				if err == nil || !strings.Contains(string(out), expect) {
					t.Errorf("helm lint --strict: %v, want a failure with %q:\n%s", err, expect, lastLines(out))
				}
			}
		})
	}
}

// headerLines: a negative values file's `# expect:` and `# via:` lines.
func headerLines(t *testing.T, path string) (expect, via string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		t.Fatalf("%s: fewer than two lines", path)
	}
	expect, ok1 := strings.CutPrefix(lines[0], "# expect: ")
	via, ok2 := strings.CutPrefix(lines[1], "# via: ")
	if !ok1 || !ok2 || expect == "" {
		t.Fatalf("%s: want '# expect: ...' and '# via: ...' as the first lines, got %q", path, lines)
	}
	return expect, via
}

func lastLines(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
