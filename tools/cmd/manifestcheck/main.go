// Command manifestcheck decodes Kubernetes manifests strictly into k8s.io/api types and asserts healthgate's
// deployment policy on them (see package policy). All files given form one set deployed together, so
// selectors, Services and ConfigMaps are resolved across them.
//
//	manifestcheck [-v] [-extract DIR] FILE...
//
// -extract writes every healthgate.yaml found in a ConfigMap as DIR/NN/root/healthgate.yaml, with
// placeholder files for its *_file paths under DIR/NN/root and placeholder values for its ${VAR}s in
// DIR/NN/env (one VAR=value a line) and its number of checks in DIR/NN/checks, so healthgate's own loader can be run on it (scripts/k8s-validate).
//
// Exit status: 0 clean, 1 findings or decode errors, 2 bad usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
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
	extract := fs.String("extract", "", "write the healthgate configurations found to this directory")
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
	if *extract != "" {
		if err := writeConfigs(*extract, objs, stdout); err != nil {
			fmt.Fprintf(stderr, "FAIL extract: %v\n", err)
			return 1
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

func writeConfigs(dir string, objs []policy.Object, stdout io.Writer) error {
	cfgs, err := policy.Configs(objs)
	if err != nil {
		return err
	}
	for i, c := range cfgs {
		d := filepath.Join(dir, fmt.Sprintf("%02d", i+1))
		root := filepath.Join(d, "root")
		files := map[string]string{"/healthgate.yaml": c.Data}
		for p, v := range c.Files {
			files[p] = v
		}
		for p, v := range files {
			full := filepath.Join(root, filepath.Clean(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
				return err
			}
		}
		var env []string
		for k, v := range c.Env {
			env = append(env, k+"="+v)
		}
		sort.Strings(env)
		if err := os.WriteFile(filepath.Join(d, "env"), []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "name"), []byte(c.Name+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "checks"), []byte(fmt.Sprintf("%d\n", c.Checks)), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  extracted %s -> %s (%d placeholder vars, %d placeholder files)\n", c.Name, d, len(c.Env), len(c.Files))
	}
	return nil
}
