// Package grpcwire is the little of gRPC's wire format that healthgate speaks, over net/http's own
// HTTP/2: length-prefixed messages, the two protobuf field types of grpc.health.v1 (a string, an
// enum) and grpc-message's percent-encoding. Both the gRPC health server (server/grpc.go) and the
// grpc check (checks/grpc.go) use it instead of grpc-go, whose client or server costs every healthgate
// process about 15 MB of binary and 3.5 MB of resident memory (docs/design.md, server/grpc.go).
//
// It is a leaf under internal/, importing only the standard library, so that neither of its two users
// imports the other's layer: the server sees only the monitor, and checks/ knows nothing of serving.
package grpcwire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
)

// Content types of a gRPC request or response.
const (
	ContentType      = "application/grpc"
	ContentTypeProto = "application/grpc+proto"
)

// Status codes (google.golang.org/grpc/codes) that healthgate sends or classifies.
const (
	OK                 = 0
	Canceled           = 1
	Unknown            = 2
	InvalidArgument    = 3
	DeadlineExceeded   = 4
	NotFound           = 5
	PermissionDenied   = 7
	ResourceExhausted  = 8
	FailedPrecondition = 9
	Aborted            = 10
	Unimplemented      = 12
	Internal           = 13
	Unavailable        = 14
	Unauthenticated    = 16
)

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// CodeName is a status code's canonical name, e.g. UNIMPLEMENTED, or "code N" for one outside the list.
func CodeName(code int) string {
	if code >= 0 && code < len(codeNames) {
		return codeNames[code]
	}
	return "code " + strconv.Itoa(code)
}

// Frame returns msg as one length-prefixed, uncompressed message.
func Frame(msg []byte) []byte {
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// Errors of ReadMessage.
var (
	ErrMissing = errors.New("missing message")
	// ErrCompressed is a message flagged compressed without a grpc-encoding that compresses (none, or
	// identity): a protocol error.
	ErrCompressed = errors.New("compressed message without a grpc-encoding")
	// ErrEncoding is a message compressed with an algorithm other than gzip.
	ErrEncoding  = errors.New("unsupported grpc-encoding")
	ErrTooLarge  = errors.New("message too large")
	ErrTruncated = errors.New("truncated message")
	ErrMalformed = errors.New("malformed message")
)

// ReadMessage reads one length-prefixed, uncompressed message of at most max bytes.
func ReadMessage(r io.Reader, max uint32) ([]byte, error) { return ReadMessageEncoded(r, max, "") }

// AcceptEncoding is the grpc-accept-encoding that ReadMessageEncoded reads.
const AcceptEncoding = "identity,gzip"

// ReadMessageEncoded reads one length-prefixed message of at most max bytes (uncompressed), sent with
// the grpc-encoding encoding: a message flagged compressed is gzip, the one algorithm every gRPC
// implementation has (grpc-go's client sends it with grpc.UseCompressor(gzip.Name)).
func ReadMessageEncoded(r io.Reader, max uint32, encoding string) ([]byte, error) {
	var prefix [5]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrTruncated
		}
		return nil, ErrMissing
	}
	compressed := prefix[0]&1 != 0
	if compressed {
		switch encoding {
		case "gzip":
		case "", "identity":
			return nil, ErrCompressed
		default:
			return nil, ErrEncoding
		}
	}
	n := binary.BigEndian.Uint32(prefix[1:])
	if n > max {
		return nil, ErrTooLarge
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, ErrTruncated
	}
	if !compressed {
		return msg, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(msg))
	if err != nil {
		return nil, ErrMalformed
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(max)+1))
	switch {
	case err != nil:
		return nil, ErrMalformed
	case len(out) > int(max):
		return nil, ErrTooLarge
	}
	return out, nil
}

// ParseTimeout reads a grpc-timeout header: at most 8 digits and a unit (H, M, S, m, u, n).
func ParseTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
	if err != nil {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond,
		'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	if n > math.MaxInt64/uint64(unit) {
		return math.MaxInt64, true // 8 digits of hours hold more than a Duration: the longest, not an overflow
	}
	return time.Duration(n) * unit, true
}

// FormatTimeout writes d as a grpc-timeout: in milliseconds (at least 1), or in the smallest coarser
// unit whose value fits the 8 digits the header allows (grpc-go refuses a longer one with HTTP 400),
// rounded up.
func FormatTimeout(d time.Duration) string {
	const maxValue = 99999999
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}, {time.Hour, "H"}} {
		if n := max((d+u.unit-1)/u.unit, 1); n <= maxValue {
			return strconv.FormatInt(int64(n), 10) + u.name
		}
	}
	return strconv.Itoa(maxValue) + "H"
}

// AppendString appends a length-delimited field (a string); an empty string is not sent, as proto3
// omits default values.
func AppendString(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendVarint appends a varint field (an enum); zero is not sent.
func AppendVarint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

// AppendBytes appends a length-delimited field holding an embedded message, even an empty one.
func AppendBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// String returns the last value of a string field of a message (proto3: the last one wins), "" when
// absent; every other field is skipped.
func String(b []byte, field int) (string, error) {
	var s string
	err := walk(b, func(f, wire uint64, v uint64, data []byte) {
		if f == uint64(field) && wire == 2 {
			s = string(data)
		}
	})
	return s, err
}

// Varint returns the last value of a varint field (an enum), 0 when absent.
func Varint(b []byte, field int) (uint64, error) {
	var out uint64
	err := walk(b, func(f, wire uint64, v uint64, _ []byte) {
		if f == uint64(field) && wire == 0 {
			out = v
		}
	})
	return out, err
}

// walk calls fn for each field of a message: varints with v, length-delimited fields with data.
func walk(b []byte, fn func(field, wire, v uint64, data []byte)) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return ErrMalformed
		}
		b = b[n:]
		field, wire := tag>>3, tag&7
		switch wire {
		case 0: // varint
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return ErrMalformed
			}
			b = b[n:]
			fn(field, wire, v, nil)
		case 1: // 64-bit
			if len(b) < 8 {
				return ErrMalformed
			}
			b = b[8:]
		case 5: // 32-bit
			if len(b) < 4 {
				return ErrMalformed
			}
			b = b[4:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return ErrMalformed
			}
			fn(field, wire, 0, b[n:n+int(l)])
			b = b[n+int(l):]
		default:
			return ErrMalformed
		}
	}
	return nil
}

// PercentEncode is grpc-message's encoding: printable ASCII but '%' as is, everything else %XX.
func PercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// PercentDecode undoes PercentEncode; a malformed escape is kept as it is.
func PercentDecode(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok1 := unhex(s[i+1]); ok1 {
				if l, ok2 := unhex(s[i+2]); ok2 {
					b = append(b, h<<4|l)
					i += 2
					continue
				}
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
