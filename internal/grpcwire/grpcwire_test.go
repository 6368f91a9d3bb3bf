package grpcwire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestMessageRoundTrip(t *testing.T) {
	msg := AppendString(nil, 1, "inventory.v1.Stock")
	got, err := ReadMessage(bytes.NewReader(Frame(msg)), 64)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadMessage(Frame(m)) = % x, %v; want % x", got, err, msg)
	}
	if s, err := String(got, 1); err != nil || s != "inventory.v1.Stock" {
		t.Errorf("String = %q, %v", s, err)
	}
	if v, err := Varint(AppendVarint([]byte{0x12, 0x01, 'x'}, 1, 2), 1); err != nil || v != 2 {
		t.Errorf("Varint = %d, %v; want 2 (other fields skipped)", v, err)
	}
	if len(AppendString(nil, 1, "")) != 0 || len(AppendVarint(nil, 1, 0)) != 0 {
		t.Error("proto3 default values must not be sent")
	}
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrMissing},
		{[]byte{1, 0, 0, 0, 0}, ErrCompressed},
		{[]byte{0, 0, 0, 1, 0}, ErrTooLarge},
		{[]byte{0, 0, 0, 0, 4, 1}, ErrTruncated},
		{[]byte{0, 0}, ErrTruncated},
	} {
		if _, err := ReadMessage(bytes.NewReader(tc.in), 64); !errors.Is(err, tc.want) {
			t.Errorf("ReadMessage(% x) = %v; want %v", tc.in, err, tc.want)
		}
	}
	if _, err := Varint([]byte{0x08}, 1); err == nil {
		t.Error("a varint field without its value decoded")
	}
	if _, err := String([]byte{0x0a, 0x05, 'a'}, 1); err == nil {
		t.Error("a string longer than the message decoded")
	}
}

func TestPercent(t *testing.T) {
	for _, s := range []string{"", "plain", "100% sure", "naïve\n"} {
		if got := PercentDecode(PercentEncode(s)); got != s {
			t.Errorf("round trip of %q = %q", s, got)
		}
	}
	if got := PercentDecode("bad %zz and %4"); got != "bad %zz and %4" {
		t.Errorf("malformed escapes: %q", got)
	}
	if CodeName(12) != "UNIMPLEMENTED" || CodeName(99) != "code 99" {
		t.Errorf("CodeName: %s %s", CodeName(12), CodeName(99))
	}
}

func TestParseTimeout(t *testing.T) {
	for v, want := range map[string]time.Duration{"1H": time.Hour, "2M": 2 * time.Minute, "3S": 3 * time.Second,
		"99999999m": 99999999 * time.Millisecond, "5u": 5 * time.Microsecond, "7n": 7} {
		if got, ok := ParseTimeout(v); !ok || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	// Beyond what a time.Duration holds (about 2562047H; grpc-go writes a deadline that far as 2562048H):
	// the longest one, not an overflow into the past that ended a Watch at once with DEADLINE_EXCEEDED.
	for _, v := range []string{"2562048H", "99999999H"} {
		if got, ok := ParseTimeout(v); !ok || got < 2562047*time.Hour {
			t.Errorf("ParseTimeout(%q) = %v, %v; want the longest duration", v, got, ok)
		}
	}
	for _, v := range []string{"", "m", "1", "100x", "-1S", "123456789m", "1.5S"} {
		if got, ok := ParseTimeout(v); ok {
			t.Errorf("ParseTimeout(%q) = %v; want refused", v, got)
		}
	}
}

func TestFormatTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "1m", 0: "1m", 1500 * time.Microsecond: "2m", 5 * time.Second: "5000m",
		99999999 * time.Millisecond: "99999999m", 30 * time.Hour: "108000S", 200000 * time.Hour: "12000000M"} {
		got := FormatTimeout(d)
		if got != want {
			t.Errorf("FormatTimeout(%v) = %q; want %q", d, got, want)
		}
		if back, ok := ParseTimeout(got); !ok || back < d {
			t.Errorf("FormatTimeout(%v) = %q, read back as %v, %v", d, got, back, ok)
		}
	}
}
