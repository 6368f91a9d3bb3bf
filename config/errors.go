package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in the configuration, positioned at the file, line and field it is about. Its
// message never contains the value of a secret field.
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // the enclosing mapping, e.g. `checks[1] "cache"`; empty at the top level
	Field  string // the YAML key, e.g. "timeout"
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, reported at once.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders errors by file position, so a user reads them top to bottom.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// Err returns nil when there are no errors, so callers can write `return errs.Err()`.
func (es Errors) Err() error {
	es = es.withoutImplied()
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// withoutImplied drops a "required" error of a field that another error of the same mapping already
// points at: `ulr: unknown field (did you mean "url"?)` says all that `url: required` would, at the
// line of the typo, so the user reads one error per mistake.
func (es Errors) withoutImplied() Errors {
	meant := map[[3]string]bool{}
	for _, e := range es {
		if f, ok := strings.CutPrefix(e.Msg, `unknown field (did you mean "`); ok {
			f, _, _ = strings.Cut(f, `"`)
			f = strings.TrimSuffix(f, fileSuffix) // url_fiel meant url_file: url is given
			meant[[3]string{e.File, e.Path, f}] = true
		}
	}
	if len(meant) == 0 {
		return es
	}
	return slices.DeleteFunc(slices.Clone(es), func(e *Error) bool {
		return strings.HasPrefix(e.Msg, "required") && meant[[3]string{e.File, e.Path, e.Field}]
	})
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
