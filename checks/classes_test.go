package checks

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassesListsEveryClass: checks.Classes is what the failures metric pre-creates a series for (and
// what documentation lists), so a class constant added to the package without it fails here.
func TestClassesListsEveryClass(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Class" {
					for _, n := range vs.Names {
						declared = append(declared, n.Name)
					}
				}
			}
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d Class constants (%v): the parse is wrong", len(declared), declared)
	}
	if len(Classes) != len(declared) {
		t.Errorf("checks.Classes has %d classes, the package declares %d Class constants (%v): add the new one to Classes",
			len(Classes), len(declared), declared)
	}
	seen := map[Class]bool{}
	for _, c := range Classes {
		if seen[c] {
			t.Errorf("class %q twice in Classes", c)
		}
		seen[c] = true
	}
}
