package grpcwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzMessage feeds arbitrary bytes, as a client or a server on the other end may send them, to
// everything that decodes them: ReadMessage (a length prefix that is not checked would allocate up to
// 4 GiB), then String and Varint on the message (a field length past the end would slice out of
// range), and the percent-decoding of grpc-message. None may panic; what decodes must be what was sent.
func FuzzMessage(f *testing.F) {
	f.Add(Frame(AppendString(nil, 1, "inventory.v1.Stock")), uint32(64), "ok")
	f.Add(Frame(AppendVarint(nil, 1, 2)), uint32(64), "100% sure")
	f.Add(Frame(AppendBytes(AppendString(nil, 1, "db"), 2, AppendVarint(nil, 1, 1))), uint32(64), "naïve\n")
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff}, uint32(1<<20), "%zz%4")
	f.Add([]byte{0, 0, 0, 0, 3, 0x0a, 0x80, 0x80}, uint32(64), "%")
	f.Add([]byte{0, 0, 0, 0, 11, 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint32(64), "")
	f.Add([]byte{1, 0, 0, 0, 0}, uint32(64), "")
	f.Add([]byte{0, 0, 0, 0, 9, 0x09, 1, 2, 3, 4, 5, 6, 7, 8}, uint32(64), "")
	f.Fuzz(func(t *testing.T, data []byte, max uint32, header string) {
		max %= 1 << 16 // the callers' bounds are a few KiB; the point is that the prefix is checked
		msg, err := ReadMessage(bytes.NewReader(data), max)
		if err == nil {
			if uint32(len(msg)) > max {
				t.Fatalf("ReadMessage returned %d bytes; max %d", len(msg), max)
			}
			if n := binary.BigEndian.Uint32(data[1:5]); int(n) != len(msg) || !bytes.Equal(msg, data[5:5+n]) {
				t.Fatalf("ReadMessage(% x) = % x; not the %d bytes its prefix announced", data, msg, n)
			}
			if !bytes.Equal(Frame(msg), data[:5+len(msg)]) {
				t.Fatalf("Frame(ReadMessage(% x)) differs", data)
			}
		} else if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrCompressed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("ReadMessage: unexpected error %v", err)
		}

		// The message decoders see the raw bytes too: a server's answer is read whole before it is
		// decoded, and anything may be in it.
		for _, b := range [][]byte{msg, data} {
			s, serr := String(b, 1)
			v, verr := Varint(b, 1)
			if (serr == nil) != (verr == nil) {
				t.Fatalf("String and Varint disagree on whether % x is well formed: %v, %v", b, serr, verr)
			}
			if serr != nil {
				if !errors.Is(serr, ErrMalformed) {
					t.Fatalf("String(% x): unexpected error %v", b, serr)
				}
				continue
			}
			if len(s) > len(b) {
				t.Fatalf("String(% x) = %d bytes, more than the message", b, len(s))
			}
			// What decoded survives being sent again, after the fields already there (proto3: the
			// last value of a field wins).
			again := AppendVarint(AppendString(bytes.Clone(b), 1, "svc"), 1, v+1)
			if s2, err := String(again, 1); err != nil || s2 != "svc" {
				t.Fatalf("String after appending to % x = %q, %v; want svc", b, s2, err)
			}
			if v2, err := Varint(again, 1); err != nil || v2 != v+1 && v+1 != 0 {
				t.Fatalf("Varint after appending to % x = %d, %v; want %d", b, v2, err, v+1)
			}
		}

		enc := PercentEncode(header)
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c < 0x20 || c > 0x7e {
				t.Fatalf("PercentEncode(%q) = %q: byte %#x cannot go in a header", header, enc, c)
			}
		}
		if got := PercentDecode(enc); got != header {
			t.Fatalf("PercentDecode(PercentEncode(%q)) = %q", header, got)
		}
		_ = PercentDecode(header) // a peer's grpc-message, malformed escapes and all
	})
}
