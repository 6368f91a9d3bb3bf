package checks

import "net"

// firstBytesConn is the transport under a client that reads a server's first answer up to a line
// ending or a length it read from it (net/http, nats.go, go-redis): another protocol on the port that
// sends neither and keeps the connection open would be read until the run's timeout. judge looks at the
// bytes of the first read that returns any and gives the verdict: nil passes them on, an error fails
// that read and every later one. These clients read a connection from one goroutine at a time, so
// there is no lock.
//
// The other kinds judge a header that may come in several reads (mysql's handshake, amqp's frame,
// grpc's HTTP/2 frame, which is also looked at when a write fails), inside a framer (mqtt), or on their
// own buffered reader (memcached): each keeps its own.
type firstBytesConn struct {
	net.Conn
	judge   func(head []byte) error
	checked bool
	err     error // the verdict, for every read after it
}

func (c *firstBytesConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if c.checked || n == 0 {
		return n, err
	}
	c.checked = true
	if c.err = c.judge(p[:n]); c.err != nil {
		return 0, c.err
	}
	return n, err
}
