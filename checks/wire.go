package checks

import (
	"context"
	"net"
	"sync"
	"time"
)

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
	greets  *trace // the run that dialled a server that speaks first: told when its first byte arrives
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
	c.greets.greetedBy()
	if c.err = c.judge(p[:n]); c.err != nil {
		return 0, c.err
	}
	return n, err
}

// keptConn is the one connection an amqp, nats or mqtt check keeps between runs (shared.go says why
// it is not shared), and the transport under it, remembered when dialled: closing the transport ends
// every call waiting on the client at once.
type keptConn[C comparable] struct {
	// shut closes a connection without waiting for the server (drop closes its transport first, so
	// that shut cannot wait on a server that does not answer).
	shut func(C)

	mu   sync.Mutex
	conn C        // the zero value when none is kept
	raw  net.Conn // the transport being dialled or used
}

// run makes a run's round trip on the kept connection, or on a fresh one that connect makes when none
// is kept (fresh). A run that overruns its deadline (or is cancelled at shutdown) closes the transport:
// every call waiting on the connection then returns, and the next run dials afresh. A kept connection
// that turns out reset died since the last run (a restart, a proxy's idle timeout): that is not what
// the server is doing now, so it is dropped and the round trip made once more on a fresh connection.
func (k *keptConn[C]) run(ctx context.Context, connect func(context.Context) (C, bool, error),
	roundTrip func(context.Context, C) error, classify func(error) error) error {
	stop := context.AfterFunc(ctx, k.closeRaw)
	defer stop()
	conn, fresh, err := connect(ctx)
	if err != nil {
		return err
	}
	err = roundTrip(ctx, conn)
	if err != nil && !fresh && timeLeft(ctx) && ClassOf(classify(err)) == Reset {
		k.drop(conn)
		if conn, _, err = connect(ctx); err != nil {
			return err
		}
		err = roundTrip(ctx, conn)
	}
	return err
}

// current returns the kept connection, the zero value when there is none.
func (k *keptConn[C]) current() C {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.conn
}

// keep keeps conn, made over the transport dialled last.
func (k *keptConn[C]) keep(conn C) {
	k.mu.Lock()
	k.conn = conn
	k.mu.Unlock()
}

// dialed remembers raw, just dialled for the run of ctx, as the transport. A run that ended while it
// dialled found no transport to close: raw is closed now.
func (k *keptConn[C]) dialed(ctx context.Context, raw net.Conn) {
	k.mu.Lock()
	k.raw = raw
	k.mu.Unlock()
	if ctx.Err() != nil {
		_ = raw.Close()
	}
}

// closeRaw closes the transport being dialled or used.
func (k *keptConn[C]) closeRaw() {
	k.mu.Lock()
	raw := k.raw
	k.mu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
}

// drop forgets conn (and the transport, when conn is the kept one) and closes the transport, then
// conn, without waiting for the server.
func (k *keptConn[C]) drop(conn C) {
	k.mu.Lock()
	raw := k.raw
	if k.conn == conn {
		var none C
		k.conn, k.raw = none, nil
	}
	k.mu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
	k.shut(conn)
}

// close forgets the kept connection and its transport, and closes them: bye says goodbye to the server
// first, for at most within (0: as long as bye takes), after which the transport is closed under it.
func (k *keptConn[C]) close(bye func(C), within time.Duration) {
	var none C
	k.mu.Lock()
	conn, raw := k.conn, k.raw
	k.conn, k.raw = none, nil
	k.mu.Unlock()
	if conn != none {
		if raw != nil && within > 0 {
			cut := time.AfterFunc(within, func() { _ = raw.Close() })
			defer cut.Stop()
		}
		bye(conn)
	}
	if raw != nil {
		_ = raw.Close()
	}
}
