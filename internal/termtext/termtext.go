// Package termtext makes text that a dependency wrote (a server's error message) safe to show on a
// terminal: wait's and check's lines and tables, and /readyz's text bodies, which operators read with
// kubectl logs and curl.
package termtext

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable shows the control characters of s instead of sending them. What a server wrote in its error
// (a Redis -ERR line, a Postgres or MySQL message) otherwise reaches the operator's terminal, where an
// escape sequence is run (a window title set, the screen cleared, a row recoloured), a carriage return
// lets the rest overwrite the line from its start, and a tab splits a table's cell. A tab, carriage
// return or line break becomes a space; any other control character, and a byte that is no UTF-8 (0x9b
// is a CSI to a terminal that reads Latin-1), its Go escape (\x1b, \u009b, \x9b), as slog's text handler
// quotes them in serve's log. JSON escapes them itself.
func Printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case r == '\t' || r == '\r' || r == '\n':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}
