package checks

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// lateCtx is a context whose deadline has passed but whose timer has not fired yet: what Run can see for
// an instant when a shared client's own context (same deadline) fired first.
type lateCtx struct{ context.Context }

func (lateCtx) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (lateCtx) Err() error                  { return nil }

// TestDeadlinePassedByTheClock: a run whose deadline has passed timed out, whether or not its context's
// timer has fired yet.
func TestDeadlinePassedByTheClock(t *testing.T) {
	if !deadlinePassed(lateCtx{context.Background()}) {
		t.Error("a deadline in the past, timer not fired: not seen as passed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if deadlinePassed(ctx) {
		t.Error("a deadline an hour away seen as passed")
	}
	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	if !deadlinePassed(expired) {
		t.Error("an expired context not seen as passed")
	}
	if deadlinePassed(context.Background()) {
		t.Error("no deadline seen as passed")
	}
}
