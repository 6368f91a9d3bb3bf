package checks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// pastDeadline is a run's context at the moment its deadline has passed by the clock but its timer has
// not yet marked it done (a socket's deadline, set to the same instant, can fire first): Err is nil.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestNoRetryPastDeadline: the one retry on a fresh connection after a reset is for a connection that
// died while idle, within the run's time. A reset that ends a run at its deadline (the driver reports
// the read its own deadline cut as a broken connection) is not retried: the retry's dial, with no time
// left, would fail at once and its "dial tcp: i/o timeout" replace the first attempt's error, under a
// hint that says the connection was made (seen on MySQL: a server stopped with SIGSTOP).
func TestNoRetryPastDeadline(t *testing.T) {
	ctx := pastDeadline{context.Background()}
	reset := &Error{Class: Reset, Err: errors.New("connection reset by peer")}

	t.Run("kept connection", func(t *testing.T) {
		var k keptConn[int]
		k.shut = func(int) {}
		connects := 0
		connect := func(context.Context) (int, bool, error) { connects++; return 1, false, nil }
		roundTrip := func(context.Context, int) error { return reset }
		if err := k.run(ctx, connect, roundTrip, classified); ClassOf(err) != Reset {
			t.Fatalf("run: %v; want the reset", err)
		}
		if connects != 1 {
			t.Errorf("%d connects; want 1: no retry once the deadline has passed", connects)
		}
	})

	t.Run("mysql", func(t *testing.T) {
		var connects atomic.Int32
		db := sql.OpenDB(badConnector{&connects})
		t.Cleanup(func() { _ = db.Close() })
		p := &mysqlCheck{db: db, watch: &dialWatch{}, greeting: &mysqlGreeting{}}
		if err := p.run(ctx); ClassOf(err) != Reset {
			t.Fatalf("run: %v; want reset", err)
		}
		one := connects.Load()
		connects.Store(0)
		if err := p.run(context.Background()); ClassOf(err) != Reset {
			t.Fatalf("run: %v; want reset", err)
		}
		if twice := connects.Load(); one != 1 || twice != 2 {
			t.Errorf("%d connects past the deadline, %d with time left; want a retry only with time left", one, twice)
		}
	})
}

// badConnector is a MySQL server whose every connection is found broken at its first query, as one that
// died while idle in the pool is (a connect that fails is not retried: it is what the server does now).
type badConnector struct{ connects *atomic.Int32 }

func (c badConnector) Connect(context.Context) (driver.Conn, error) {
	c.connects.Add(1)
	return brokenConn{}, nil
}

// brokenConn is a driver connection whose every use finds it broken.
type brokenConn struct{}

func (brokenConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrBadConn }
func (brokenConn) Close() error                        { return nil }
func (brokenConn) Begin() (driver.Tx, error)           { return nil, driver.ErrBadConn }

func (badConnector) Driver() driver.Driver { return nil }
