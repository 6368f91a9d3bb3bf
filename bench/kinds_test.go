package main

import (
	"strings"
	"testing"
)

// The kinds table counts as missing every figure (K4's two included) but dns's connections (UDP) until one is set, and a kind
// left out for a missing optional service (as kinds does for memcached) is not missing.
func TestKindsLayout(t *testing.T) {
	b := &bench{}
	b.kindsLayout()
	miss := b.kindsTab.missing()
	if want := 4 + len(kindOrder) - 1; len(miss) != want {
		t.Fatalf("missing = %d figures, want %d: %v", len(miss), want, miss)
	}
	for _, m := range miss {
		if strings.Contains(m, "dns:") {
			t.Errorf("dns connections counted as missing: %s", m)
		}
	}
	c := b.kindsTab.row(rowKindConns("memcached")).cells[colKinds]
	*c = cell{na: true, text: "not measured: memcached is not installed"}
	if got := len(b.kindsTab.missing()); got != len(miss)-1 {
		t.Errorf("after leaving memcached out: %d missing, want %d", got, len(miss)-1)
	}
}
