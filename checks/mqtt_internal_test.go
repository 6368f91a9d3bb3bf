package checks

import (
	"bytes"
	"testing"
)

// TestMQTTFramer feeds a broker's byte stream in every split paho's reads could produce (one byte at a
// time, as io.ReadFull of the fixed header does, up to all at once): the PINGRESPs counted and the
// verdict on the first packet must not depend on the chunks.
func TestMQTTFramer(t *testing.T) {
	big := append([]byte{0x30, 0x82, 0x01}, make([]byte, 130)...) // a PUBLISH with a two-byte remaining length
	big[3], big[4], big[5] = 0x00, 0x01, 'a'
	for _, tc := range []struct {
		name   string
		stream []byte
		pongs  int
		bad    bool
	}{
		{name: "connack", stream: []byte{0x20, 0x02, 0x00, 0x00}},
		{name: "connack and pingresps", stream: []byte{0x20, 0x02, 0x00, 0x00, 0xd0, 0x00, 0xd0, 0x00}, pongs: 2},
		{name: "a pingresp after a long publish", stream: bytes.Join([][]byte{{0x20, 0x02, 0x00, 0x00}, big, {0xd0, 0x00}}, nil), pongs: 1},
		{name: "a pingresp split from its length", stream: []byte{0x20, 0x02, 0x00, 0x00, 0xd0}},
		{name: "not a connack", stream: []byte("SSH-2.0-OpenSSH_9.6\r\n"), bad: true},
		{name: "an MQTT 5 connack", stream: []byte{0x20, 0x03, 0x00, 0x84, 0x00}, bad: true},
		{name: "a connack with flags", stream: []byte{0x21, 0x02, 0x00, 0x00}, bad: true},
		{name: "a length of five bytes", stream: []byte{0x20, 0x02, 0x00, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, bad: true},
	} {
		for size := 1; size <= len(tc.stream); size++ {
			var f mqttFramer
			pongs, bad := 0, false
			for b := tc.stream; len(b) > 0 && !bad; {
				k := min(size, len(b))
				n, err := f.feed(b[:k])
				pongs += n
				bad = err != nil
				if bad && ClassOf(err) != BadResponse {
					t.Errorf("%s: class %s (%v); want bad_response", tc.name, ClassOf(err), err)
				}
				b = b[k:]
			}
			if pongs != tc.pongs || bad != tc.bad {
				t.Errorf("%s in chunks of %d: %d PINGRESPs, bad %v; want %d, %v", tc.name, size, pongs, bad, tc.pongs, tc.bad)
			}
		}
	}
}
