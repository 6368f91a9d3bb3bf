package checks

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The replica status as MySQL 8.0.22+ spells it (SHOW REPLICA STATUS), which this machine's MariaDB
// cannot produce: the MariaDB spelling is exercised against a real replica in mysql_test.go.
func TestJudgeReplicaStatusMySQLSpelling(t *testing.T) {
	cols := []string{"Replica_IO_State", "Source_Host", "Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source", "Channel_Name"}
	s := func(v string) *string { return &v }
	row := func(io, sql string, behind *string, channel string) []*string {
		return []*string{s("Waiting for source to send event"), s("db-primary"), s(io), s(sql), behind, s(channel)}
	}
	for _, tc := range []struct {
		name string
		rows [][]*string
		want Class
		text string
	}{
		{name: "not a replica", rows: nil},
		{name: "within", rows: [][]*string{row("Yes", "Yes", s("3"), "")}},
		{name: "behind", rows: [][]*string{row("Yes", "Yes", s("45"), "")}, want: Lag, text: "replica is 45s behind (max_replication_lag 30s)"},
		{name: "one channel of two behind", rows: [][]*string{row("Yes", "Yes", s("0"), "a"), row("Yes", "Yes", s("31"), "b")}, want: Lag, text: `replication connection "b"`},
		{name: "stopped", rows: [][]*string{row("No", "Yes", nil, "")}, want: Lag, text: "IO thread no, SQL thread yes"},
		{name: "nonsense", rows: [][]*string{row("Yes", "Yes", s("soon"), "")}, want: BadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := judgeReplicaStatus("SHOW REPLICA STATUS", cols, tc.rows, 30*time.Second)
			if got := ClassOf(err); got != tc.want {
				t.Fatalf("class %q (%v); want %q", got, err, tc.want)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%q does not contain %q", err, tc.text)
			}
		})
	}
	if err := judgeReplicaStatus("SHOW REPLICA STATUS", []string{"Replica_IO_State"}, [][]*string{{nil}}, time.Second); ClassOf(err) != BadResponse {
		t.Errorf("a status without a lag column: %v; want bad_response", err)
	}
}

// TestReadOnlySwitch: MariaDB 12.0 made read_only an enum (OFF, ON, NO_LOCK, NO_LOCK_NO_ADMIN), which
// this machine's MariaDB cannot produce; NO_LOCK and NO_LOCK_NO_ADMIN, read as booleans, were writable.
func TestReadOnlySwitch(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{vars: map[string]string{"read_only": "OFF", "innodb_read_only": "OFF"}},
		{vars: map[string]string{"read_only": "0", "super_read_only": "0"}},
		{vars: map[string]string{"read_only": "ON"}, want: "read_only"},
		{vars: map[string]string{"read_only": "1", "super_read_only": "1"}, want: "super_read_only"},
		{vars: map[string]string{"read_only": "NO_LOCK"}, want: "read_only"},
		{vars: map[string]string{"read_only": "NO_LOCK_NO_ADMIN", "innodb_read_only": "OFF"}, want: "read_only"},
		{vars: map[string]string{"read_only": "OFF", "innodb_read_only": "ON"}, want: "innodb_read_only"},
	} {
		if got := readOnlySwitch(tc.vars); got != tc.want {
			t.Errorf("%v: %q; want %q", tc.vars, got, tc.want)
		}
	}
}

// TestMySQLGreetingPerRun pins the interleaving TestMySQLNotMySQLShared finds about once in a thousand
// runs: a run's new connection is not MySQL, and before that run reads why its connect failed, another
// run of the pool dials: the first run's verdict is still its own connection's. A run the pool did not
// dial for reads the pool's last new connection's.
func TestMySQLGreetingPerRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-served })
	go func() {
		defer close(served)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6p1\r\n"))
			conns = append(conns, c)
		}
	}()
	dial := func(g *mysqlGreeting, ctx context.Context) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return g.watch(ctx, c)
	}
	var g mysqlGreeting
	a := context.WithValue(context.Background(), mysqlConnectKey{}, &mysqlConnect{})
	if _, err := dial(&g, a).Read(make([]byte, 64)); ClassOf(err) != BadResponse {
		t.Fatalf("the banner read as %v; want bad_response", err)
	}
	dial(&g, context.WithValue(context.Background(), mysqlConnectKey{}, &mysqlConnect{})) // another run dials
	if e := g.explain(a, mysql.ErrInvalidConn); ClassOf(e) != BadResponse {
		t.Errorf("the run's connect failure explained as %v; want its own connection's bad_response", e)
	}
	waiting := context.WithValue(context.Background(), mysqlConnectKey{}, &mysqlConnect{})
	if e := g.explain(waiting, mysql.ErrInvalidConn); e != nil {
		t.Errorf("a run the pool did not dial for, after a new connection not yet read: %v; want no verdict", e)
	}
	if _, err := dial(&g, context.Background()).Read(make([]byte, 64)); ClassOf(err) != BadResponse { // the pool's opener
		t.Fatalf("the banner read as %v; want bad_response", err)
	}
	if e := g.explain(waiting, mysql.ErrInvalidConn); ClassOf(e) != BadResponse {
		t.Errorf("a run handed the pool's dial's failure: %v; want bad_response", e)
	}
}

// TestMySQLResetDuringDialNotRetried: a server (or a proxy) that accepts and resets each connection can
// have its RST land before the dialler sees the connect complete (now and then under load), and the
// dial itself fails with the reset. That is the run's own connect failing, what the server does now:
// one connect a run, as for a reset after the dial (TestResettingServerOneConnectPerRun), not the retry
// meant for a pooled connection that died while idle.
func TestMySQLResetDuringDialNotRetried(t *testing.T) {
	cfg, err := parseMySQL("mysql://app@127.0.0.1:9/orders")
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	dialer := &net.Dialer{Control: func(string, string, syscall.RawConn) error {
		dials.Add(1)
		return syscall.ECONNRESET
	}}
	p := &mysqlCheck{watch: &dialWatch{}, greeting: &mysqlGreeting{}}
	if p.db, err = openMySQL(cfg, time.Second, dialer, p.watch, p.greeting); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.db.Close() })
	if err := p.run(t.Context()); ClassOf(err) != Reset {
		t.Fatalf("run: %v; want reset", err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials in a run whose dial was reset; want 1", n)
	}
}
