package termtext

import "testing"

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, déjà vu", "plain text, déjà vu"},
		{"\x1b]0;pwned\x07title", `\x1b]0;pwned\atitle`},
		{"a\tb\rc\nd", "a b c d"},
		{"csi \u009b31m and latin-1 \x9b", `csi \u009b31m and latin-1 \x9b`},
		{"del \x7f", `del \x7f`},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
