package startup

import (
	"flag"
	"strings"
	"testing"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/config"
)

// TestTargetFlagsFromRegistry: every registered kind has its flag, its usage and a flag target that
// builds, with nothing listed in the CLI.
func TestTargetFlagsFromRegistry(t *testing.T) {
	var ts Targets
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	ts.Register(fs, "check", "whose checks to run")
	if len(checks.Kinds()) == 0 {
		t.Fatal("no kinds registered")
	}
	for _, k := range checks.Kinds() {
		f := fs.Lookup(k.Name)
		if f == nil {
			t.Errorf("no --%s flag", k.Name)
			continue
		}
		if arg, _ := flag.UnquoteUsage(f); arg == "" {
			t.Errorf("--%s: usage %q names no argument", k.Name, f.Usage)
		}
		if !strings.Contains(FlagUsage(), "[--"+k.Name+" "+k.TargetArg+"]") || !strings.Contains(FlagNames(), "--"+k.Name) {
			t.Errorf("usage %q / %q does not list --%s", FlagUsage(), FlagNames(), k.Name)
		}
		// The example target (tools/policy's placeholder) builds, as a flag target.
		c := config.NewCheck(k.Name, k.Name, "test", config.NewDefaults())
		if !checks.SetTarget(&c, k.TargetExample) {
			t.Errorf("SetTarget refuses kind %s", k.Name)
		}
		if ch, err := checks.New(c); err != nil {
			t.Errorf("kind %s: example target %q does not build: %v", k.Name, k.TargetExample, err)
		} else {
			ch.Close()
		}
	}
}
