// Command manifestcheck decodes Kubernetes manifests strictly into k8s.io/api types and asserts healthgate's
// deployment policy on them (see package policy). All files given form one set deployed together, so
// selectors, Services and ConfigMaps are resolved across them.
//
//	manifestcheck [-v] FILE...
//
// Exit status: 0 clean, 1 findings or decode errors, 2 bad usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/healthgate/healthgate/tools/policy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("manifestcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "list every decoded object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: manifestcheck [-v] FILE...")
		return 2
	}
	var objs []policy.Object
	failed := false
	for _, f := range fs.Args() {
		got, err := policy.DecodeFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "FAIL decode: %v\n", err)
			failed = true
		}
		objs = append(objs, got...)
	}
	if len(objs) == 0 {
		fmt.Fprintln(stderr, "FAIL no objects decoded")
		return 1
	}
	if *verbose {
		for _, o := range objs {
			fmt.Fprintf(stdout, "  decoded %s (%s)\n", o, o.Source)
		}
	}
	findings := policy.Check(objs)
	for _, f := range findings {
		fmt.Fprintf(stderr, "FAIL %s\n", f)
	}
	if failed || len(findings) > 0 {
		return 1
	}
	kinds := make([]string, 0, len(objs))
	for _, o := range objs {
		kinds = append(kinds, o.String())
	}
	fmt.Fprintf(stdout, "ok   %d objects strictly decoded, policy clean: %s\n", len(objs), strings.Join(kinds, ", "))
	return 0
}
