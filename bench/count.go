package main

import (
	"encoding/binary"
	"strconv"
)

// A requestCounter reads the client's side of one connection and counts the requests in it, across reads.
// The proxy counts what each server sends to Postgres and Redis this way: exact, per server, at once, and blind
// to everyone else using the same services (pg_stat_database is none of these, see dependencyLoad).
type requestCounter interface {
	count(b []byte) int
}

// pgCounter counts the round trips a Postgres client asks for: simple Query ('Q') and Sync ('S', the end of
// an extended-protocol exchange). Each is one transaction on the server unless the client opened a block.
type pgCounter struct {
	started bool    // past the start-up message
	hdr     [5]byte // message header being read
	nhdr    int
	skip    int // bytes of the current message body left
}

func (c *pgCounter) count(b []byte) int {
	n := 0
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		// The start-up message (and SSLRequest) has no type byte: its header is the 4-byte length alone.
		want := 5
		if !c.started {
			want = 4
		}
		k := copy(c.hdr[c.nhdr:want], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr < want {
			continue
		}
		c.nhdr = 0
		if !c.started {
			size := int(binary.BigEndian.Uint32(c.hdr[:4]))
			c.skip = size - 4
			c.started = size != 8 // 8 bytes: SSLRequest or GSSENCRequest, the start-up message follows
			continue
		}
		if c.hdr[0] == 'Q' || c.hdr[0] == 'S' {
			n++
		}
		c.skip = int(binary.BigEndian.Uint32(c.hdr[1:5])) - 4
	}
	return n
}

// respCounter counts Redis commands: RESP arrays of bulk strings, or inline command lines.
type respCounter struct {
	line  []byte // the line being read
	items int    // bulk strings left in the current command
	skip  int    // bytes of the current bulk string (and its CRLF) left
}

func (c *respCounter) count(b []byte) int {
	n := 0
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i == len(b) {
			c.line = append(c.line, b...)
			return n
		}
		c.line = append(c.line, b[:i]...)
		b = b[i+1:]
		line := trimCRLF(string(c.line))
		c.line = c.line[:0]
		switch {
		case c.items > 0 && len(line) > 0 && line[0] == '$':
			size, _ := strconv.Atoi(line[1:])
			c.skip = max(size, 0) + 2
			c.items--
		case len(line) > 0 && line[0] == '*':
			c.items, _ = strconv.Atoi(line[1:])
			n++
		case line != "":
			n++ // inline command
		}
	}
	return n
}
