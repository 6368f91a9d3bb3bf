package checks

import (
	"strings"
	"testing"
)

// FuzzFirstBytes gives the judges of a server's first bytes (http, redis, nats: firstBytesConn; mqtt's
// framer) whatever a port may send, in any chunks. None may panic; a verdict quotes a bounded part of
// what was sent; the mqtt framer's verdict does not depend on how the bytes were split into reads; and
// an echo of the http check's request (a server that sends the request line back, query and all) shows
// nothing of a secret parameter in it.
func FuzzFirstBytes(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\n", "\x16\x03\x01", "SSH-2.0-OpenSSH_9.6\r\n", "GET /health?api_key=s3cr3t HTTP/1.1\r\n",
		"+PONG\r\n", "-ERR unknown\r\n", "INFO {}\r\n", "\x20\x02\x00\x00\xd0\x00", "\x20\x02\x00\x00\x30\xff\xff\xff\xff\x01",
		"\xff\xfe\n", "\r\n", "a",
	} {
		f.Add([]byte(s), "GET /h?x=1&token=", uint8(1))
	}
	f.Add([]byte("x"), `POST "/login?next=/&session_token=`, uint8(3))
	f.Fuzz(func(t *testing.T, head []byte, echo string, chunk uint8) {
		if len(head) > 0 {
			for name, judge := range map[string]func([]byte) error{"http": httpFirstByte, "redis": respFirstByte, "nats": natsGreeting} {
				if err := judge(head); err != nil && len(err.Error()) > 512 {
					t.Fatalf("%s judge of %d bytes: a verdict of %d bytes", name, len(head), len(err.Error()))
				}
			}
		}

		// The mqtt framer, fed in chunks of any size, says what it says of the whole.
		var whole mqttFramer
		wantPongs, wantErr := whole.feed(head)
		var parts mqttFramer
		pongs, bad := 0, false
		size := int(chunk%16) + 1
		for b := head; len(b) > 0 && !bad; b = b[min(size, len(b)):] {
			n, err := parts.feed(b[:min(size, len(b))])
			pongs += n
			bad = err != nil
		}
		if pongs != wantPongs || bad != (wantErr != nil) {
			t.Fatalf("mqtt framer on % x in chunks of %d: %d PINGRESPs, bad %v; whole: %d, %v", head, size, pongs, bad, wantPongs, wantErr)
		}

		// A request line sent back: a secret parameter's value in the target's query must not show,
		// however the line is cut.
		target := echo[strings.LastIndexByte(echo, ' ')+1:]
		inQuery := strings.HasPrefix(target, "/") && strings.Contains(target, "?")
		if inQuery && !strings.Contains(echo, "\n") && strings.HasSuffix(echo, "token=") && !showsEchoSecret(echo) {
			line := echo + echoSecret + string(head)
			if err := httpFirstByte([]byte(line)); err != nil && showsEchoSecret(err.Error()) {
				t.Fatalf("first bytes %q: %v shows the secret", line, err)
			}
		}
	})
}

const echoSecret = "Zq7Sekr3tQ"

// showsEchoSecret reports whether s holds any four bytes of echoSecret in a row.
func showsEchoSecret(s string) bool {
	for i := 0; i+4 <= len(echoSecret); i++ {
		if strings.Contains(s, echoSecret[i:i+4]) {
			return true
		}
	}
	return false
}
