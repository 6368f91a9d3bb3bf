package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// table is the one result table: a row per figure, a column per program, and a verdict on healthgate.
type table struct {
	cols []string
	rows []*row
}

type row struct {
	key     string
	label   string
	target  string
	cells   map[string]*cell
	verdict string
}

type cell struct {
	text string
	val  float64
	has  bool // a figure was produced
	na   bool // the figure does not apply to this program
	// noise is how far from 0 the figure can be by chance, in its unit, where that is known (figure 2's
	// counts); 0 otherwise.
	noise float64
}

// newTable lays out the rows; each row applies to the columns listed (all others show "—").
func newTable(cols []string) *table {
	return &table{cols: cols}
}

func (t *table) add(key, label, target string, applies []string) {
	r := &row{key: key, label: label, target: target, cells: map[string]*cell{}}
	for _, c := range t.cols {
		r.cells[c] = &cell{na: true, text: "—"}
	}
	for _, c := range applies {
		r.cells[c] = &cell{}
	}
	t.rows = append(t.rows, r)
}

func (t *table) row(key string) *row {
	for _, r := range t.rows {
		if r.key == key {
			return r
		}
	}
	panic("no row " + key)
}

// drop removes rows.
func (t *table) drop(keys ...string) {
	t.rows = slices.DeleteFunc(t.rows, func(r *row) bool { return slices.Contains(keys, r.key) })
}

// set records a figure.
func (t *table) set(key, col string, val float64, format string, args ...any) {
	c := t.row(key).cells[col]
	*c = cell{text: fmt.Sprintf(format, args...), val: val, has: true}
}

// setNoise records the noise of a figure already set.
func (t *table) setNoise(key, col string, noise float64) {
	t.row(key).cells[col].noise = noise
}

// fail records why a figure is missing (the first reason wins).
func (t *table) fail(key, col string, err error) {
	c := t.row(key).cells[col]
	if c.na || c.has || c.text != "" {
		return
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	c.text = "error: " + msg
}

// failAll records err for every figure of a column.
func (t *table) failAll(col string, err error) {
	for _, r := range t.rows {
		t.fail(r.key, col, err)
	}
}

// has reports whether the table has the row key (-only drops the rows of the steps it leaves out).
func (t *table) has(key string) bool {
	return slices.ContainsFunc(t.rows, func(r *row) bool { return r.key == key })
}

// value returns a figure and whether it was produced.
func (t *table) value(key, col string) (float64, bool) {
	for _, r := range t.rows {
		if r.key == key {
			c := r.cells[col]
			return c.val, c != nil && c.has
		}
	}
	return 0, false // a row dropped by -only
}

// missing lists the figures that apply but were not produced.
func (t *table) missing() []string {
	var out []string
	for _, r := range t.rows {
		for _, col := range t.cols {
			c := r.cells[col]
			if !c.na && !c.has {
				why := c.text
				if why == "" {
					why = "not measured"
				}
				out = append(out, fmt.Sprintf("%s / %s: %s", r.label, col, why))
			}
		}
	}
	return out
}

// markdown prints the table.
func (t *table) markdown(w io.Writer) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(w, "| figure | target (healthgate) | %s | healthgate vs target |\n", strings.Join(t.cols, " | "))
	fmt.Fprintf(w, "|---|---|%s---|\n", strings.Repeat("---|", len(t.cols)))
	for _, r := range t.rows {
		cells := make([]string, len(t.cols))
		for i, col := range t.cols {
			text := r.cells[col].text
			if text == "" {
				text = "not measured"
			}
			cells[i] = esc(text)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", esc(r.label), esc(r.target), strings.Join(cells, " | "), esc(r.verdict))
	}
}
