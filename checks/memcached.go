package checks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/healthgate/healthgate/config"
)

// A memcached check sends the text protocol's `version` command and reads its one-line answer,
// "VERSION 1.6.21": a real round trip through memcached's command loop that reads and writes no key.
// The protocol is one line each way, so no client library: a client library would add a pool, a
// server selector and retries we would have to switch off, and would still not tell us how far a
// failed run got. One connection is kept and reused between runs; it is dropped after any failure and
// the next run dials afresh.

const (
	memcachedDefaultPort = "11211"
	// memcachedMaxLine bounds the answer read: "VERSION " and a version string are a few dozen bytes.
	memcachedMaxLine = 256
)

const (
	memcachedErrorHint = "the server answered `version` with an error: is this port memcached (not, say, Redis), and is it healthy? see its log"
	memcachedProtoHint = "the port in %s answered `version` with something that is not memcached's text protocol: is it memcached (with the ASCII protocol enabled)?"
)

type memcachedCheck struct {
	address string
	dialer  net.Dialer

	mu   sync.Mutex
	conn net.Conn
	rd   *bufio.Reader
}

// memcachedSettings is memcachedSpec checked and resolved: what the runs of a memcached check read.
type memcachedSettings struct {
	address string
}

// memcachedSpec is a memcached check's own configuration (config.Check.Spec, decoded).
type memcachedSpec struct {
	Address string `yaml:"address" schema:"minLength=1" desc:"host:port (port 11211 when omitted)"`
}

func memcachedSettingsOf(c config.Check, s *memcachedSpec) (memcachedSettings, config.Errors) {
	addr, err := checkAddress(c, s.Address, "address", memcachedDefaultPort)
	if err != nil {
		return memcachedSettings{}, config.Errors{err}
	}
	return memcachedSettings{address: addr}, nil
}

func buildMemcached(c config.Check, s *memcachedSpec) (prober, string, config.Errors) {
	mc, errs := memcachedSettingsOf(c, s)
	if len(errs) > 0 {
		return nil, "", errs
	}
	// KeepAlive as net.Dialer's default: a connection kept for hours must notice a peer that vanished.
	return &memcachedCheck{address: mc.address, dialer: net.Dialer{KeepAlive: 30 * time.Second}}, mc.address, nil
}

// checkAddress validates a host:port field; a missing port is defPort when one is given.
func checkAddress(c config.Check, address, field, defPort string) (string, *config.Error) {
	v := address
	if v == "" {
		return "", c.Src.Errorf(field, "required: host:port")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil && defPort != "" {
		if h, _, err2 := net.SplitHostPort(v + ":" + defPort); err2 == nil {
			host, port, err = h, defPort, nil
			v = net.JoinHostPort(host, port)
		}
	}
	if err != nil || host == "" {
		return "", c.Src.Errorf(field, "must be host:port (got %q)", address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", c.Src.Errorf(field, "port must be a number from 1 to 65535 (got %q)", port)
	}
	return v, nil
}

func (m *memcachedCheck) probe(ctx context.Context) error {
	m.mu.Lock()
	conn, rd := m.conn, m.rd
	m.mu.Unlock()
	reused := conn != nil
	if conn == nil {
		var err error
		if conn, rd, err = m.dial(ctx); err != nil {
			return err
		}
	}
	err := m.version(ctx, conn, rd)
	if err != nil && reused && timeLeft(ctx) && ClassOf(err) == Reset {
		// The kept connection died while idle (a restart, a proxy's idle timeout): that says nothing
		// of the server now. Ask again on a fresh connection, which reports what it is doing.
		m.drop(conn)
		if conn, rd, err = m.dial(ctx); err != nil {
			return err
		}
		err = m.version(ctx, conn, rd)
	}
	if err != nil {
		m.drop(conn)
	}
	return err
}

func (m *memcachedCheck) dial(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	conn, err := dialContext(ctx, &m.dialer, "tcp", m.address)
	if err != nil {
		return nil, nil, classified(err)
	}
	rd := bufio.NewReaderSize(conn, memcachedMaxLine)
	m.mu.Lock()
	m.conn, m.rd = conn, rd
	m.mu.Unlock()
	return conn, rd, nil
}

// version sends `version` and reads its answer within the run's deadline. A cancelled run (SIGTERM)
// closes the connection at once, ending a blocked read.
func (m *memcachedCheck) version(ctx context.Context, conn net.Conn, rd *bufio.Reader) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if _, err := conn.Write([]byte("version\r\n")); err != nil {
		return classified(fmt.Errorf("sending version: %w", err))
	}
	// Every answer to version starts VERSION, ERROR, SERVER_ERROR or CLIENT_ERROR: a first byte that
	// cannot start one is another protocol, which may send no line ending and keep the connection open.
	first, err := rd.Peek(1)
	if err != nil {
		return classified(fmt.Errorf("reading the answer to version: %w", err))
	}
	if !strings.ContainsRune("VESC", rune(first[0])) {
		head, _ := rd.Peek(min(rd.Buffered(), 16))
		return &Error{Class: BadResponse, Err: fmt.Errorf("version answered %q, not VERSION <version>", head), Hint: memcachedProtoHint}
	}
	line, err := rd.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return &Error{Class: BadResponse, Err: fmt.Errorf("answer to version is not one line of at most %d bytes", memcachedMaxLine), Hint: memcachedProtoHint}
	case err != nil && len(line) > 0 && ctx.Err() == nil && ClassOf(err) != Timeout:
		return &Error{Class: BadResponse, Err: fmt.Errorf("answer to version %q cut off: %w", truncate(string(line), 64), err), Hint: memcachedProtoHint}
	case err != nil:
		return classified(fmt.Errorf("reading the answer to version: %w", err))
	}
	line = bytes.TrimRight(line, "\r\n")
	switch {
	case bytes.HasPrefix(line, []byte("VERSION ")) && len(line) > len("VERSION "):
		return nil
	case bytes.HasPrefix(line, []byte("SERVER_ERROR")), bytes.HasPrefix(line, []byte("CLIENT_ERROR")), bytes.Equal(line, []byte("ERROR")):
		return &Error{Class: BadResponse, Err: fmt.Errorf("version answered %q", truncate(string(line), 64)), Hint: memcachedErrorHint}
	}
	return &Error{Class: BadResponse, Err: fmt.Errorf("version answered %q, not VERSION <version>", truncate(string(line), 64)), Hint: memcachedProtoHint}
}

func (m *memcachedCheck) drop(conn net.Conn) {
	m.mu.Lock()
	if m.conn == conn {
		m.conn, m.rd = nil, nil
	}
	m.mu.Unlock()
	_ = conn.Close()
}

func (m *memcachedCheck) close() {
	m.mu.Lock()
	conn := m.conn
	m.conn, m.rd = nil, nil
	m.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}
