package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/config"
)

// TestTLSErrorsBesideTargetErrors: every kind with a tls block reports the block's own errors beside a
// target that does not parse, all at once, instead of the second only once the first is fixed.
func TestTLSErrorsBesideTargetErrors(t *testing.T) {
	var yaml strings.Builder
	yaml.WriteString("checks:\n")
	var withTLS []string
	for _, k := range Kinds() {
		spec := reflect.TypeOf(kinds[k.Name].spec()).Elem()
		if !slices.ContainsFunc(reflect.VisibleFields(spec), func(f reflect.StructField) bool { return f.Type == reflect.TypeFor[config.TLS]() }) {
			continue
		}
		bad := "::not a url"
		if k.TargetField == "address" {
			bad = "host:notaport"
		}
		withTLS = append(withTLS, k.Name)
		fmt.Fprintf(&yaml, "  - {name: %s, type: %s, %s: %q, tls: {ca_file: /nonexistent/healthgate-ca.pem}}\n", k.Name, k.Name, k.TargetField, bad)
	}
	if len(withTLS) < 8 {
		t.Fatalf("kinds with a tls block: %v; want every kind that speaks TLS", withTLS)
	}
	path := filepath.Join(t.TempDir(), "healthgate.yaml")
	if err := os.WriteFile(path, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	errs := Validate(cfg.Checks)
	for _, name := range withTLS {
		var target, ca int
		for _, e := range errs {
			switch {
			case e.Path == fmt.Sprintf("checks[%d] %q", slices.Index(withTLS, name), name):
				target++
			case e.Path == fmt.Sprintf("checks[%d] %q.tls", slices.Index(withTLS, name), name) && e.Field == "ca_file":
				ca++
			}
		}
		if target == 0 || ca != 1 {
			t.Errorf("%s: %d target errors and %d ca_file errors; want both, the ca_file one once:\n%v", name, target, ca, errs)
		}
	}
}
