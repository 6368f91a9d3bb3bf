package checks_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

func TestMySQLWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	my := checktest.MySQLURL(t)
	target, build := checktest.HostPort(t, my), urlCheck(t, "mysql", my)
	runFaults(t, target, build)
	// Nonsense where the server's handshake should be: not the MySQL protocol. The proxy answers only
	// after the client spoke or a second passed, so the run gets a generous timeout (runGarbage's).
	runGarbage(t, target, build, "not MySQL's handshake")
}

// TestMySQLNotMySQL: a server of another protocol that keeps the connection open is bad_response at
// once, naming what it sent; the same check passes when MySQL answers there again.
func TestMySQLNotMySQL(t *testing.T) {
	for _, banner := range []string{"SSH-2.0-OpenSSH_9.6p1\r\n", "HTTP/1.1 400 Bad Request\r\n\r\n", "+OK POP3 ready\r\n"} {
		addr := garbageServer(t, banner)
		ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://app:s3cr3t-pw@" + addr + "/orders"})}, generousTimeout)
		err, took := runCheck(t, ch)
		assertClass(t, err, checks.BadResponse)
		if took > 5*time.Second {
			t.Errorf("%q: run took %s; want it to end at the first bytes", banner, took)
		}
		if !strings.Contains(err.Error(), banner[:5]) {
			t.Errorf("error %q does not show the first bytes of %q", err, banner)
		}
		if h := ch.Hint(err); !strings.Contains(h, "not MySQL's handshake") {
			t.Errorf("hint %q does not say the answer is not MySQL", h)
		}
		if strings.Contains(err2s(err)+ch.Hint(err), "s3cr3t-pw") {
			t.Errorf("output leaks the password: %v", err)
		}
	}
	my := checktest.MySQLURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, my))
	p.Set(checktest.GarbageOpen)
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, my, p.Addr())})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.BadResponse)
	t.Logf("%v (hint: %s)", err, ch.Hint(err))
	p.Set(checktest.Reset) // the next connection's reset is a reset, not the last one's verdict
	err, _ = runCheck(t, ch)
	assertClass(t, err, checks.Reset)
	p.Set(checktest.Forward)
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
}

// TestMySQLNotMySQLShared: two checks of one target share a pool, and their runs, started together (as
// at start-up), dial at once. Each run's verdict on the first bytes is its own connection's: a verdict
// kept for the pool's last new connection was cleared by the other run's dial between a connection's
// failure and its run reading why, and that run said "reset: invalid connection" (about 1 run in 1,000).
func TestMySQLNotMySQLShared(t *testing.T) {
	addr := garbageServer(t, "SSH-2.0-OpenSSH_9.6p1\r\n")
	a := newCheckTimeout(t, config.Check{Type: "mysql", Name: "a", Spec: config.SpecOf(map[string]any{"url": "mysql://app@" + addr + "/orders"})}, generousTimeout)
	b := newCheckTimeout(t, config.Check{Type: "mysql", Name: "b", Spec: config.SpecOf(map[string]any{"url": "mysql://app@" + addr + "/orders", "writable": true})}, generousTimeout)
	var other atomic.Int32
	for range 3000 {
		var wg sync.WaitGroup
		for _, ch := range []*checks.Check{a, b} {
			wg.Go(func() {
				if err, _ := runCheck(t, ch); checks.ClassOf(err) != checks.BadResponse && other.Add(1) == 1 {
					t.Errorf("%s: %v; want bad_response", ch.Name, err)
				}
			})
		}
		wg.Wait()
	}
	if n := other.Load(); n > 0 {
		t.Errorf("%d runs of 6000 were not bad_response", n)
	}
}

// TestMySQLURLReadTimeout: a readTimeout in the URL, shorter than the check's timeout, that runs out is a
// timeout, the server not answering in time (its greeting, or the query's result). The driver reports such
// a read as ErrInvalidConn, which read as reset: "the connection was closed right after it opened", pointing
// at a load balancer or another protocol on the port. A server that does close at once stays reset.
func TestMySQLURLReadTimeout(t *testing.T) {
	silent := checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	})
	closing := checktest.Serve(t, func(net.Conn) {})
	for _, tc := range []struct {
		name, url, query string
		want             checks.Class
	}{
		{"no greeting", "app:s3cr3t-pw@tcp(" + silent + ")/orders?readTimeout=300ms", "", checks.Timeout},
		{"closed at once", "app:s3cr3t-pw@tcp(" + closing + ")/orders?readTimeout=300ms", "", checks.Reset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if took > 5*time.Second {
				t.Errorf("run took %s; want it to end at the URL's readTimeout", took)
			}
			if tc.want == checks.Timeout && (!strings.Contains(err.Error(), "readTimeout") || !strings.Contains(ch.Hint(err), "connected, but no answer")) {
				t.Errorf("error %q, hint %q; want the readTimeout named and a connection that was not answered", err, ch.Hint(err))
			}
		})
	}
	t.Run("slow query", func(t *testing.T) {
		my := checktest.MySQLURL(t)
		ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": my + "?readTimeout=300ms", "query": "SELECT SLEEP(1)"})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.Timeout)
	})
}

func TestMySQLServerAnswers(t *testing.T) {
	my := checktest.MySQLURL(t)
	hp := checktest.HostPort(t, my)
	tests := []struct {
		name     string
		url      string
		query    string
		writable bool
		maxLag   time.Duration
		want     checks.Class
		hint     string
	}{
		{name: "default round trip", url: my},
		{name: "writable primary", url: my, writable: true},
		{name: "not a replica: no lag", url: my, maxLag: time.Second},
		{name: "custom query", url: my, query: "SELECT COUNT(*) FROM information_schema.PROCESSLIST"},
		{name: "driver DSN", url: "root@tcp(" + hp + ")/test"},
		{name: "mariadb scheme", url: strings.Replace(my, "mysql://", "mariadb://", 1)},
		{name: "user does not exist (1045)", url: withUser(t, my, "healthgate_no_such_user", "s3cr3t-pw"), want: checks.Auth, hint: "credentials"},
		{name: "user does not exist, DSN (1045)", url: "healthgate_no_such_user:s3cr3t-pw@tcp(" + hp + ")/test", want: checks.Auth, hint: "credentials"},
		{name: "database does not exist (1049)", url: withDB(t, my, "healthgate_no_such_db"), want: checks.Auth, hint: "database does not exist"},
		{name: "failing query", url: my, query: "SELECT * FROM healthgate_no_such_table", want: checks.Query},
		// The URL's database exists: the one the query names does not. Not auth "check the database
		// name in the URL" (1049 at login).
		{name: "query names an unknown database (1049)", url: my, query: "SHOW TABLES FROM healthgate_no_such_db", want: checks.Query, hint: "the query names a database"},
		// 1290 "running with the --OPTION option" is read_only only for --read-only (TestMySQLReadOnly).
		{name: "secure_file_priv (1290)", url: my, query: "SELECT 1 INTO OUTFILE '/healthgate-no-such-dir/x'", want: checks.Query},
		{name: "unknown URL parameter", url: withParams(t, my, "api_key=s3cr3t-pw"), want: checks.Query, hint: "URL parameter"},
		// SET NAMES for the driver's own charset parameter: not "check the SQL" (no query was given),
		// nor "a URL parameter the driver does not know" beside another one.
		{name: "unknown charset (1115)", url: withParams(t, my, "charset=healthgate_no_such_charset"), want: checks.Query, hint: "URL's charset"},
		{name: "unknown charset, with a SET parameter (1115)", url: withParams(t, my, "charset=healthgate_no_such_charset&time_zone=%27%2B00%3A00%27"), want: checks.Query, hint: "URL's charset"},
		// A collation the driver has no id for, beside charset: the driver refuses it itself, on every
		// connection, before the server could answer 1273.
		{name: "collation unknown to the driver", url: withParams(t, my, "charset=utf8mb4&collation=healthgate_no_such_collation"), want: checks.Query, hint: "URL's collation"},
		{name: "TLS required, server has none", url: withParams(t, my, "tls=true"), want: checks.TLS},
		{name: "dns", url: checktest.WithHost(t, my, "healthgate-test.invalid:3306"), want: checks.DNS, hint: "does not resolve"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": tc.url, "query": tc.query, "writable": tc.writable, "max_replication_lag": tc.maxLag})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.want, tc.hint, "s3cr3t-pw")
		})
	}
}

// TestMySQLSettingParameters: the driver sends the URL's parameters it does not know as one statement,
// SET name = value, ..., on every new connection; a server that refuses it quotes the statement (1064
// "near '=s3cr3t' at line 1", 1231 "can't be set to the value of 's3cr3t'", 1054 "Unknown column
// 's3cr3t'"). Those are query failures whose hint names the URL's parameters; and when one of the
// parameters is named like a secret (api_key, token, a session_ or *_key variable), the server's words are
// not shown, whichever parameter the server quotes (the map's order decides which comes first).
func TestMySQLSettingParameters(t *testing.T) {
	my := checktest.MySQLURL(t)
	for _, tc := range []struct {
		params string
		shown  string // what the error must still say
	}{
		{params: "api_key=%3Ds3cr3t", shown: "api_key"},                                // 1064, near '=s3cr3t'
		{params: "api_key=%60s3cr3t", shown: "api_key"},                                // 1064, an unclosed quote
		{params: "session_track_schema=s3cr3t", shown: "session_track_schema"},         // 1231
		{params: "foreign_key_checks=s3cr3t-x", shown: "foreign_key_checks"},           // 1054
		{params: "auth_token=s3cr3t&time_zone=%3Dx", shown: "auth_token, time_zone"},   // 1064, near '=x, auth_token = s3cr3t' when time_zone comes first
		{params: "time_zone=%3Dnot-a-secret", shown: "near '=not-a-secret' at line 1"}, // no secret: the server's own words
		{params: "sql_mode=not-a-secret", shown: "Unknown column"},                     // no secret: the server's own words
	} {
		t.Run(tc.params, func(t *testing.T) {
			for range 4 { // the driver writes the parameters in the order of a map's iteration
				ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": withParams(t, my, tc.params)})}, generousTimeout)
				err, _ := runCheck(t, ch)
				assertClass(t, err, checks.Query)
				if h := ch.Hint(err); !strings.Contains(h, "URL parameter") {
					t.Errorf("hint %q does not name the URL's parameters", h)
				}
				if !strings.Contains(err.Error(), tc.shown) {
					t.Errorf("error %q does not say %q", err, tc.shown)
				}
				if strings.Contains(err2s(err)+ch.Hint(err)+ch.Target, "s3cr3t") {
					t.Fatalf("output leaks the secret parameter's value: %v", err)
				}
			}
		})
	}
}

// TestMySQLConfig: both URL forms build, show host:port/database, and malformed ones are refused
// without quoting the password.
func TestMySQLConfig(t *testing.T) {
	for _, tc := range []struct{ url, target, err string }{
		{url: "mysql://app:s3cr3t-pw@db:3306/orders", target: "db:3306/orders"},
		{url: "mysql://app:s3cr3t-pw@db/orders?tls=skip-verify", target: "db:3306/orders"},
		{url: "app:s3cr3t-pw@tcp(db:3306)/orders", target: "db:3306/orders"},
		{url: "app:s3:cr/e@t-pw@tcp(db:3307)/orders", target: "db:3307/orders"},
		{url: "app:pw@tcp(db:3307)/orders?collation=sjis_japanese_ci", target: "db:3307/orders"}, // no client-side interpolation there
		{url: "app:pw@unix(/run/mysqld/mysqld.sock)/orders", target: "unix(/run/mysqld/mysqld.sock)/orders"},
		{url: "mysql://app:s3cr3t-pw@db:3306/orders?tls=s3cr3t-pw", err: "parameter tls: not true, false, skip-verify or preferred"},
		// A DSN copied from a Go program that registered its tls.Config under a name.
		{url: "app:s3cr3t-pw@tcp(db:3306)/orders?tls=custom", err: "registered with mysql.RegisterTLSConfig: give healthgate the CA and client certificate in the check's tls block"},
		{url: "app:pw@tcp(db:3306)/orders?parseTime=s3cr3t-pw", err: "not a valid mysql DSN (user:password@tcp(host:3306)/database?param=value): parameter parseTime: not true or false"},
		{url: "app:pw@tcp(db:3306)/ord%zzers", err: "invalid dbname"},
		{url: "mysql://app:s3cr3t@pw@db:3306/orders", target: "db:3306/orders"}, // Go's URL parser takes the last '@'
		{url: "mysql://app:pa/s3cr3t@db:3306/orders", err: "percent-encoded"},
		{url: "mysql://app:s3cr3t-pw@db:33o6/orders", err: "invalid port after the host"}, // the port, not the password
		{url: "app:s3cr3t-pw@tcp(db:3306/orders", err: "not a valid mysql DSN"},
		{url: "postgres://app:s3cr3t-pw@db/orders", err: "scheme \"postgres\""},
		{url: "", err: "required"},
		// Neither net/url nor the driver's DSN parser checks the port's range: every run failed at
		// the dial, unclassified.
		{url: "mysql://root:s3cr3t-pw@127.0.0.1:99999/test", err: "the port must be a number from 1 to 65535"},
		{url: "root:s3cr3t-pw@tcp(127.0.0.1:99999)/test", err: "the port must be a number from 1 to 65535"},
		{url: "root@tcp(127.0.0.1:0)/test", err: "the port must be a number from 1 to 65535"},
		// The driver would send SET password = VALUE: MySQL's statement that changes the user's password.
		{url: "mysql://app@db:3306/orders?password=s3cr3t-pw", err: "changes the user's password"},
		{url: "app@tcp(db:3306)/orders?user=app&PASSWORD=s3cr3t-pw", err: "changes the user's password"},
		// The driver sends SET NAME = VALUE as given: a ',' or ';' outside quotes starts another assignment
		// or statement (MariaDB ran sql_mode='',password=PASSWORD('x'): the user's password changed), and
		// a name with a space is more than a variable's. Quoted, or in a function's parentheses, a ',' is
		// the value's.
		{url: "mysql://app@db:3306/orders?sql_mode='',password=PASSWORD('s3cr3t-pw')", err: "the value of the parameter sql_mode holds a ',' outside quotes"},
		{url: "app@tcp(db:3306)/orders?autocommit=1;SET%20PASSWORD=PASSWORD('s3cr3t-pw')", err: "starts another statement"},
		{url: "mysql://app@db:3306/orders?password%20for%20root=PASSWORD('s3cr3t-pw')", err: "has a name that is not a system variable's"},
		{url: "mysql://app@db:3306/orders?sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE'&time_zone=CONCAT('%2B','00:00')", target: "db:3306/orders"},
		{url: "app@tcp(db:3306)/orders?@@session.wait_timeout=100&sql_mode=\"it's,fine\"&time_zone='it''s,%20fine'", target: "db:3306/orders"},
		{url: "mysql://app@db:3306/orders?sql_mode='a\\',password=PASSWORD(1)", err: "holds a ',' outside quotes"}, // NO_BACKSLASH_ESCAPES
		// The driver sends SET NAMES with nothing after it: a syntax error, read as the check's query failing.
		{url: "mysql://app:s3cr3t-pw@db:3306/orders?charset=", err: "the parameter charset names an empty character set"},
		{url: "app:s3cr3t-pw@tcp(db:3306)/orders?charset=,", err: "the parameter charset names an empty character set"},
		{url: "app:pw@tcp(db:3306)/orders?charset=utf8mb4,", target: "db:3306/orders"},
		// libpq's key=value words after the name: the driver took them as the database name, shown in
		// every output (found by FuzzParse).
		{url: "app@tcp(db:3306)/orders password=s3cr3t-pw", err: "the database name holds KEY=VALUE words after a space"},
	} {
		c := config.NewCheck("db", "mysql", "test", config.NewDefaults())
		c.Spec.Set("url", tc.url)
		ch, err := checks.New(c)
		if tc.err != "" {
			if err == nil {
				ch.Close()
				t.Errorf("%q built; want an error containing %q", tc.url, tc.err)
			} else if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v; want it to contain %q", tc.url, err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "cr/e")) {
				t.Errorf("%q: the error leaks the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.url, err)
			continue
		}
		if ch.Target != tc.target {
			t.Errorf("%q: target %q; want %q", tc.url, ch.Target, tc.target)
		}
		ch.Close()
	}
}

// TestMySQLHandshakeErrors answers the connection the way a MySQL server does when it will not take
// it: an ERR packet in place of the handshake (too many connections, shutting down, host blocked).
func TestMySQLHandshakeErrors(t *testing.T) {
	for _, tc := range []struct {
		code  uint16
		state string
		msg   string
		want  checks.Class
	}{
		{1040, "08004", "Too many connections", checks.NotReady},
		{1053, "08S01", "Server shutdown in progress", checks.NotReady},
		{1129, "HY000", "Host '127.0.0.1' is blocked because of many connection errors", checks.Auth},
		{3159, "HY000", "Connections using insecure transport are prohibited while --require_secure_transport=ON.", checks.TLS},
	} {
		t.Run(strconv.Itoa(int(tc.code)), func(t *testing.T) {
			addr := checktest.Serve(t, func(c net.Conn) {
				_, _ = c.Write(mysqlErrPacket(tc.code, tc.state, tc.msg))
			})
			ch := newCheck(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://app:s3cr3t-pw@" + addr + "/orders"})})
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if strings.Contains(err2s(err)+ch.Hint(err), "s3cr3t-pw") {
				t.Errorf("output leaks the password: %v", err)
			}
		})
	}
}

// TestMySQLTLSOnlyWithURLPlaintext: a server that takes TLS connections only, asked by a URL that says
// tls=false, gets a hint that says to remove the parameter: a tls block, which the hint asks for, is
// refused beside it.
func TestMySQLTLSOnlyWithURLPlaintext(t *testing.T) {
	addr := checktest.Serve(t, func(c net.Conn) {
		_, _ = c.Write(mysqlErrPacket(3159, "HY000", "Connections using insecure transport are prohibited while --require_secure_transport=ON."))
	})
	for _, tc := range []struct{ url, want string }{
		{"mysql://app:s3cr3t-pw@" + addr + "/orders?tls=false", "remove tls=false"},
		{"mysql://app:s3cr3t-pw@" + addr + "/orders", "add a tls block"},
	} {
		ch := newCheck(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": tc.url})})
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.TLS)
		if h := ch.Hint(err); !strings.Contains(h, tc.want) || (tc.want != "remove tls=false" && strings.Contains(h, "tls=false")) {
			t.Errorf("url %s: hint %q; want it to say %q", tc.url, h, tc.want)
		}
	}
}

// mysqlErrPacket is an ERR packet (sequence 0), as a server sends in place of its handshake.
func mysqlErrPacket(code uint16, state, msg string) []byte {
	body := []byte{0xff, 0, 0}
	binary.LittleEndian.PutUint16(body[1:], code)
	body = append(body, '#')
	body = append(body, state...)
	body = append(body, msg...)
	n := len(body)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0}, body...)
}

// TestMySQLConnectionReused: healthy runs share one connection (never a connection per run).
func TestMySQLConnectionReused(t *testing.T) {
	my := checktest.MySQLURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, my))
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, my, p.Addr()), "writable": true, "max_replication_lag": time.Minute})}, generousTimeout)
	for range 5 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
	if n := p.Accepted(); n != 1 {
		t.Fatalf("%d connections for 5 healthy runs; want 1", n)
	}
}

// TestMySQLReadOnly starts a private MariaDB with --read-only (the shared one is never reconfigured).
func TestMySQLReadOnly(t *testing.T) {
	addr := startMariaDB(t, false, "--read-only")
	url := "mysql://root@" + addr + "/"
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")

	ch = newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": url, "writable": true})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, checks.ReadOnly)
	if !strings.Contains(err.Error(), "read_only = ON") || !strings.Contains(ch.Hint(err), "primary") {
		t.Errorf("error %q / hint %q: want read_only named and the primary suggested", err, ch.Hint(err))
	}
}

// TestMySQLInnoDBReadOnly: a server started with --innodb-read-only is not a replica: writable names the
// switch, and the hint says what it is (it said "this is a read-only replica").
func TestMySQLInnoDBReadOnly(t *testing.T) {
	addr := startMariaDB(t, true, "--innodb-read-only")
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://root@" + addr + "/mysql", "writable": true})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.ReadOnly, "started with innodb_read_only", "s3cr3t")
	if !strings.Contains(err.Error(), "innodb_read_only = ON") || strings.Contains(ch.Hint(err), "replica:") {
		t.Errorf("error %q / hint %q: want innodb_read_only named, and no replica", err, ch.Hint(err))
	}
}

// TestMySQLTooManyConnections fills a private MariaDB started with --max-connections=1 (plus the
// connection it keeps for administrators, which everyone is under --skip-grant-tables) until the server
// refuses one with 1040; the check's own connection is then refused the same way.
func TestMySQLTooManyConnections(t *testing.T) {
	addr := startMariaDB(t, false, "--max-connections=1")
	db := openMySQL(t, addr)
	ctx := context.Background()
	var held []*sql.Conn
	for full := false; !full; {
		if len(held) > 10 {
			t.Fatalf("the server took %d connections with --max-connections=1", len(held))
		}
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
			held = append(held, c)
		}
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "1040"):
			full = true
		default:
			t.Fatal(err)
		}
	}
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://root@" + addr + "/"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.NotReady)
	if !strings.Contains(err.Error(), "1040") || !strings.Contains(ch.Hint(err), "no connection left") {
		t.Errorf("error %q / hint %q: want 1040 and the hint about connections", err, ch.Hint(err))
	}
	for _, c := range held {
		_ = c.Close()
	}
	checktest.Eventually(t, 30*time.Second, "a pass once connections are released", func() bool { return runOK(t, ch) })
}

// TestMySQLPrivileges runs against a private MariaDB whose grant tables are in force: a wrong password and
// a database the user may not use are auth (1045, 1044), and max_replication_lag without the privilege to
// read the replica status is a query failure naming the grant (1227), until it is granted. The check
// also reaches root through the server's unix socket, as the driver's DSN allows.
func TestMySQLPrivileges(t *testing.T) {
	addr, sock := startMariaDBWith(t, true, true)
	root := openMySQLNet(t, "unix", sock)
	mustExec(t, root, "CREATE DATABASE app", "CREATE DATABASE other", "CREATE USER 'mon'@'%' IDENTIFIED BY 's3cr3t-pw'", "GRANT SELECT ON app.* TO 'mon'@'%'")

	for _, tc := range []struct {
		name, url string
		maxLag    time.Duration
		want      checks.Class
		hint      string
	}{
		{name: "unix socket", url: "root@unix(" + sock + ")/app"},
		{name: "user with SELECT", url: "mysql://mon:s3cr3t-pw@" + addr + "/app"},
		{name: "wrong password (1045)", url: "mysql://mon:not-the-s3cr3t-pw@" + addr + "/app", want: checks.Auth, hint: "credentials"},
		{name: "database not granted (1044)", url: "mysql://mon:s3cr3t-pw@" + addr + "/other", want: checks.Auth, hint: "the user logged in, but has no privilege on this database"},
		{name: "no privilege for the replica status (1227)", url: "mysql://mon:s3cr3t-pw@" + addr + "/app", maxLag: time.Minute, want: checks.Query, hint: "REPLICA MONITOR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": tc.url, "max_replication_lag": tc.maxLag})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if strings.Contains(err2s(err)+ch.Hint(err)+ch.Target, "s3cr3t") {
				t.Errorf("output leaks the password: %v", err)
			}
		})
	}
	// BINLOG MONITOR, which REPLICATION CLIENT names since MariaDB 10.5, does not show the replica
	// status: the hint must not offer it (it did, beside REPLICA MONITOR).
	mustExec(t, root, "GRANT BINLOG MONITOR ON *.* TO 'mon'@'%'")
	lagCheck := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://mon:s3cr3t-pw@" + addr + "/app", "max_replication_lag": time.Minute})}, generousTimeout)
	err, _ := runCheck(t, lagCheck)
	assertAnswer(t, lagCheck, err, checks.Query, "GRANT REPLICA MONITOR ON *.*", "s3cr3t")
	if h := lagCheck.Hint(err); !strings.Contains(h, "BINLOG MONITOR, which REPLICATION CLIENT names since 10.5, is not enough") {
		t.Errorf("hint %q does not say that BINLOG MONITOR (REPLICATION CLIENT) is not enough", h)
	}
	// A session keeps the global privileges of its login: the pooled connection that was refused is
	// not reused (it failed every run after the GRANT, until healthgate restarted).
	mustExec(t, root, "GRANT REPLICA MONITOR ON *.* TO 'mon'@'%'")
	err, _ = runCheck(t, lagCheck)
	assertClass(t, err, "")
}

// TestMySQLAccountStates: the states of the check's account, on a private MariaDB with its grant
// tables: a locked account (4151) and an expired password (1820 in the session the server lets in to
// change it; 1862 at login under disconnect_on_expired_password) are auth, and the account's own
// MAX_USER_CONNECTIONS reached (1226) is not_ready; all three were query failures ("check the SQL").
func TestMySQLAccountStates(t *testing.T) {
	addr, sock := startMariaDBWith(t, true, true)
	root := openMySQLNet(t, "unix", sock)
	mustExec(t, root, "CREATE DATABASE app",
		"CREATE USER 'locked'@'%' IDENTIFIED BY 's3cr3t-pw' ACCOUNT LOCK", "GRANT SELECT ON app.* TO 'locked'@'%'",
		"CREATE USER 'expired'@'%' IDENTIFIED BY 's3cr3t-pw' PASSWORD EXPIRE", "GRANT SELECT ON app.* TO 'expired'@'%'",
		"CREATE USER 'limited'@'%' IDENTIFIED BY 's3cr3t-pw' WITH MAX_USER_CONNECTIONS 1", "GRANT SELECT ON app.* TO 'limited'@'%'")
	run := func(user string, want checks.Class, hint string) {
		t.Helper()
		ch := newCheckTimeout(t, config.Check{Type: "mysql", Name: user, Spec: config.SpecOf(map[string]any{"url": "mysql://" + user + ":s3cr3t-pw@" + addr + "/app"})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, want, hint, "s3cr3t")
		ch.Close()
	}
	run("locked", checks.Auth, "ACCOUNT UNLOCK")
	// The session the server let in with an expired password may only SET PASSWORD, after the password
	// is changed too: it is not kept (every run failed with 1820 until healthgate restarted).
	expired := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://expired:s3cr3t-pw@" + addr + "/app"})}, generousTimeout)
	err, _ := runCheck(t, expired)
	assertAnswer(t, expired, err, checks.Auth, "password has expired", "s3cr3t")
	mustExec(t, root, "ALTER USER 'expired'@'%' IDENTIFIED BY 's3cr3t-pw'")
	err, _ = runCheck(t, expired)
	assertClass(t, err, "")
	expired.Close() // its healthy connection would serve the check below, of the same URL
	mustExec(t, root, "ALTER USER 'expired'@'%' PASSWORD EXPIRE", "SET GLOBAL disconnect_on_expired_password = ON")
	run("expired", checks.Auth, "password has expired")

	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "limited", "s3cr3t-pw", "tcp", addr, "app"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	held := sql.OpenDB(conn) // the account's one connection
	t.Cleanup(func() { _ = held.Close() })
	c, err := held.Conn(context.Background())
	if err == nil {
		err = c.PingContext(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	run("limited", checks.NotReady, "MAX_USER_CONNECTIONS")
	_ = c.Close()
}

// TestMySQLReplicaLag starts a private primary and a replica of it (MariaDB: SHOW ALL SLAVES STATUS,
// Seconds_Behind_Master). A replica applying with MASTER_DELAY falls behind for real; one whose primary
// cannot be reached has no lag to report (NULL), which is lag too.
func TestMySQLReplicaLag(t *testing.T) {
	primary := startMariaDB(t, true, "--log-bin=primary-bin", "--server-id=1")
	replica := startMariaDB(t, true, "--server-id=2", "--read-only")
	rdb := openMySQL(t, replica)
	host, port, _ := net.SplitHostPort(primary)
	mustExec(t, rdb, fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%s, MASTER_USER='root', MASTER_CONNECT_RETRY=1, MASTER_DELAY=3600", host, port), "START SLAVE")
	url := "mysql://root@" + replica + "/mysql"
	within := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": url, "max_replication_lag": 2 * time.Hour})}, generousTimeout)
	late := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": url, "max_replication_lag": time.Second})}, generousTimeout)

	// Replicating and caught up (nothing to apply yet): both pass.
	checktest.Eventually(t, 30*time.Second, "the replica to connect to its primary", func() bool {
		return runOK(t, late) && runOK(t, within)
	})
	// A write on the primary waits an hour on the replica: it falls behind second by second.
	mustExec(t, openMySQL(t, primary), "CREATE DATABASE healthgate_lag")
	checktest.Eventually(t, 30*time.Second, "the replica to be more than 1s behind", func() bool {
		err, _ := runCheck(t, late)
		return checks.ClassOf(err) == checks.Lag && strings.Contains(err.Error(), "behind")
	})
	assertClass(t, func() error { err, _ := runCheck(t, within); return err }(), "")

	// The primary goes away: the lag is unknown (NULL), which fails even a generous bound.
	mustExec(t, rdb, "STOP SLAVE", fmt.Sprintf("CHANGE MASTER TO MASTER_PORT=%d, MASTER_DELAY=0", checktest.FreePort(t)), "START SLAVE")
	checktest.Eventually(t, 30*time.Second, "lag unknown once replication cannot run", func() bool {
		err, _ := runCheck(t, within)
		return checks.ClassOf(err) == checks.Lag && strings.Contains(err.Error(), "not running")
	})
	// Its IO thread's last error says why, and the hint names the primary and the replication user.
	checktest.Eventually(t, 30*time.Second, "the IO thread's error", func() bool {
		err, _ := runCheck(t, within)
		return checks.ClassOf(err) == checks.Lag && strings.Contains(err.Error(), "IO thread's last error 2003") &&
			strings.Contains(within.Hint(err), "cannot read from its primary")
	})

	// Stopped by hand, with no error: the hint says to start it (or that a promoted primary keeps a
	// replica configuration).
	mustExec(t, rdb, "STOP SLAVE", "RESET SLAVE", fmt.Sprintf("CHANGE MASTER TO MASTER_PORT=%s", port))
	err, _ := runCheck(t, within)
	assertAnswer(t, within, err, checks.Lag, "START REPLICA (START SLAVE)", "s3cr3t")

	// The SQL thread stops on an error (a row the replica has already): it never resumes by itself,
	// and the hint says so; the error's number is shown, not its text, which quotes the statement.
	pdb := openMySQL(t, primary)
	mustExec(t, rdb, "START SLAVE")
	mustExec(t, pdb, "CREATE TABLE healthgate_lag.t (k VARCHAR(20) PRIMARY KEY) ENGINE=InnoDB")
	checktest.Eventually(t, 30*time.Second, "the table on the replica", func() bool {
		var n int
		return rdb.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'healthgate_lag' AND TABLE_NAME = 't'").Scan(&n) == nil && n == 1
	})
	mustExec(t, rdb, "SET SESSION sql_log_bin = 0", "INSERT INTO healthgate_lag.t VALUES ('s3cr3t-row')")
	mustExec(t, pdb, "INSERT INTO healthgate_lag.t VALUES ('s3cr3t-row')")
	checktest.Eventually(t, 30*time.Second, "the SQL thread to stop on its error", func() bool {
		err, _ := runCheck(t, within)
		return checks.ClassOf(err) == checks.Lag && strings.Contains(err.Error(), "SQL thread stopped on error 1062")
	})
	err, _ = runCheck(t, within)
	assertAnswer(t, within, err, checks.Lag, "does not resume by itself", "s3cr3t")
	mustExec(t, rdb, "STOP SLAVE")
}

// TestMySQLGaleraNotReady starts a private one-node Galera cluster (MariaDB's wsrep provider) and takes
// the node out of its cluster: with wsrep_ready OFF it still answers SHOW (the read-only switches) and
// refuses every other statement with 1047 "WSREP has not yet prepared node for application use". The
// default run passed there, writable too, and a query's 1047 was a query failure: both are not_ready.
// So is a node desynced from its cluster (a donor), which takes queries.
func TestMySQLGaleraNotReady(t *testing.T) {
	provider := "/usr/lib/galera/libgalera_smm.so"
	if _, err := os.Stat(provider); err != nil {
		unavailable(t, "no Galera provider (galera-4, which mariadb-server depends on): %v", err)
	}
	gcomm, ist := checktest.FreePort(t), checktest.FreePort(t)
	addr := startMariaDB(t, true, "--wsrep-on=ON", "--wsrep-provider="+provider, "--wsrep-cluster-address=gcomm://",
		fmt.Sprintf("--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d", gcomm, ist),
		fmt.Sprintf("--wsrep-node-address=127.0.0.1:%d", gcomm), "--binlog-format=ROW", "--server-id=1")
	url := "mysql://root@" + addr + "/mysql"
	plain := newCheckTimeout(t, config.Check{Type: "mysql", Name: "plain", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
	writable := newCheckTimeout(t, config.Check{Type: "mysql", Name: "writable", Spec: config.SpecOf(map[string]any{"url": url, "writable": true})}, generousTimeout)
	query := newCheckTimeout(t, config.Check{Type: "mysql", Name: "query", Spec: config.SpecOf(map[string]any{"url": url, "query": "SELECT 1 FROM mysql.db LIMIT 1"})}, generousTimeout)
	for _, ch := range []*checks.Check{plain, writable, query} {
		assertClass(t, runUntilPass(t, ch), "")
	}
	// Taken out of service by its operator (as for a load balancer to drain it): it answers SHOW, and
	// refuses the rest. The default run passed.
	db := openMySQL(t, addr)
	mustExec(t, db, "SET GLOBAL wsrep_reject_queries = ALL")
	for _, ch := range []*checks.Check{plain, writable, query} {
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "wsrep_reject_queries", "s3cr3t")
	}
	mustExec(t, db, "SET GLOBAL wsrep_reject_queries = NONE")
	for _, ch := range []*checks.Check{plain, writable, query} {
		assertClass(t, runUntilPass(t, ch), "")
	}
	// Desynced, as a backup tool or a state transfer to a joining node makes a donor: it takes queries,
	// but its data may lag the cluster's. It passed; Galera's clustercheck and ProxySQL take it out. (A
	// check with query runs its query alone, which such a node answers.)
	mustExec(t, db, "SET GLOBAL wsrep_desync = ON")
	for _, ch := range []*checks.Check{plain, writable} {
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "not synced with its cluster", "s3cr3t")
		if !strings.Contains(err2s(err), "wsrep_local_state = 2 (Donor/Desynced)") {
			t.Errorf("%s: error %q does not name the node's state", ch.Name, err)
		}
	}
	mustExec(t, db, "SET GLOBAL wsrep_desync = OFF")
	for _, ch := range []*checks.Check{plain, writable, query} {
		assertClass(t, runUntilPass(t, ch), "")
	}
	// Joining a cluster that is not there: the node leaves its own, and retries (the statement does
	// not return while it does; the server is killed at the end of the test).
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, fmt.Sprintf("SET GLOBAL wsrep_cluster_address = 'gcomm://127.0.0.1:%d'", checktest.FreePort(t)))
	}()
	checktest.Eventually(t, 30*time.Second, "the default run to fail once the node is out of its cluster", func() bool {
		err, _ := runCheck(t, plain)
		return err != nil
	})
	for _, ch := range []*checks.Check{plain, writable, query} {
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.NotReady, "Galera node is not ready", "s3cr3t")
		if ch != query && !strings.Contains(err.Error(), "wsrep_ready = OFF") {
			t.Errorf("%s: error %q does not say wsrep_ready = OFF", ch.Name, err)
		}
	}
}

func runOK(t *testing.T, ch *checks.Check) bool {
	err, _ := runCheck(t, ch)
	return err == nil
}

func openMySQL(t *testing.T, addr string) *sql.DB {
	t.Helper()
	return openMySQLNet(t, "tcp", addr)
}

// openMySQLNet connects as root over tcp, or unix (a socket path).
func openMySQLNet(t *testing.T, network, addr string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", network, addr
	cfg.Logger = mysql.Logger(log.New(io.Discard, "", 0)) // a server still starting is retried, not logged
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

var (
	mariaTemplateOnce sync.Once
	mariaTemplate     string
	mariaTemplateErr  error
)

// startMariaDB starts a private MariaDB on a free port, whoever connects being root without a password
// (--skip-grant-tables), and stops it when the test ends. system: with the system tables (replication
// needs them), copied from one mariadb-install-db per test binary; else an empty data directory.
func startMariaDB(t *testing.T, system bool, args ...string) string {
	t.Helper()
	addr, _ := startMariaDBWith(t, system, false, args...)
	return addr
}

// startMariaDBWith is startMariaDB; with grants, the grant tables are in force (system tables implied):
// root connects through the returned unix socket only, as mariadb-install-db creates root@localhost.
func startMariaDBWith(t *testing.T, system, grants bool, args ...string) (addr, sock string) {
	t.Helper()
	system = system || grants
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mariadbd"); err != nil {
			unavailable(t, "no mariadbd to start a private MariaDB: %v", err)
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if system {
		mariaTemplateOnce.Do(func() {
			mariaTemplate, mariaTemplateErr = os.MkdirTemp("", "healthgate-mariadb-template-")
			if mariaTemplateErr != nil {
				return
			}
			out, err := exec.Command("mariadb-install-db", append(asUser("--no-defaults", "--datadir="+mariaTemplate),
				"--auth-root-authentication-method=normal", "--skip-test-db")...).CombinedOutput()
			if err != nil {
				mariaTemplateErr = fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
			}
		})
		if mariaTemplateErr != nil {
			unavailable(t, "%v", mariaTemplateErr)
		}
		if out, err := exec.Command("cp", "-a", mariaTemplate, data).CombinedOutput(); err != nil {
			t.Fatalf("copy the data directory: %v\n%s", err, out)
		}
	} else if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	port := checktest.FreePort(t)
	sock = filepath.Join(dir, "sock")
	cmdArgs := asUser("--no-defaults", "--datadir="+data)
	if !grants {
		cmdArgs = append(cmdArgs, "--skip-grant-tables")
	}
	cmdArgs = append(cmdArgs, "--bind-address=127.0.0.1", "--port="+strconv.Itoa(port), "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "pid"), "--innodb-buffer-pool-size=16M", "--skip-name-resolve")
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command(bin, cmdArgs...)
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		unavailable(t, "start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logFile.Close()
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	db := openMySQL(t, addr)
	if grants {
		db = openMySQLNet(t, "unix", sock)
	}
	answering := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("mariadbd exited: %s", out)
		default:
		}
		return false
	}
	if _, ok := checktest.Poll(60*time.Second, 100*time.Millisecond, answering); !ok {
		out, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("mariadbd did not answer within 60s: %v\n%s", err, out)
	}
	return addr, sock
}

// asUser adds --user=root when running as root, which mariadbd refuses to do unless told so explicitly
// (--no-defaults must stay first).
func asUser(args ...string) []string {
	if os.Geteuid() == 0 {
		return append(args, "--user=root")
	}
	return args
}

// removeMariaDBTemplate removes the data directory template, after every test of the binary.
func removeMariaDBTemplate() {
	if mariaTemplate != "" {
		_ = os.RemoveAll(mariaTemplate)
	}
}

// TestMySQLReadTimeoutNotInURL: without a readTimeout in the URL (or with one no shorter than the check's
// timeout), the driver's read deadline is the check's timeout, and a server that never answers is a
// timeout of the run, which does not name the URL's readTimeout: about one run in three said "no answer
// within 200ms: no answer within 200ms (readTimeout in the URL): invalid connection".
func TestMySQLReadTimeoutNotInURL(t *testing.T) {
	silent := checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	})
	for _, url := range []string{"app:s3cr3t-pw@tcp(" + silent + ")/orders", "app:s3cr3t-pw@tcp(" + silent + ")/orders?readTimeout=5s"} {
		ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": url})}, 200*time.Millisecond)
		for range 12 {
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.Timeout)
			if strings.Contains(err.Error(), "readTimeout") || strings.Count(err.Error(), "no answer within") > 1 {
				t.Fatalf("%s: error %q; want the run's timeout alone, not the URL's readTimeout", url, err)
			}
		}
	}
}

// TestMySQLTimedOutQueryKilled: a query the run gave up on at its deadline does not go on running on the
// server, one more copy each run: the driver closes the connection under it, and MariaDB (as MySQL)
// executes it to its end. The next run kills it.
func TestMySQLTimedOutQueryKilled(t *testing.T) {
	my := checktest.MySQLURL(t)
	root := openMySQL(t, checktest.HostPort(t, my))
	marker := fmt.Sprintf("hg-orphan-%d", time.Now().UnixNano())
	running := func() int {
		t.Helper()
		var n int
		err := root.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command = 'Query' AND info LIKE ?", "%"+marker+"%").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Cleanup(func() {
		// Whatever the outcome, nothing the test started goes on running on the shared server.
		rows, err := root.QueryContext(context.Background(), "SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND info LIKE ?", "%"+marker+"%")
		if err != nil {
			t.Error(err)
			return
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		_ = rows.Close()
		for _, id := range ids {
			_, _ = root.ExecContext(context.Background(), fmt.Sprintf("KILL QUERY %d", id))
		}
	})
	// Work, as a slow query does (a scan, an overloaded server): MariaDB's SLEEP looks at its client now
	// and then and ends within seconds of a close, BENCHMARK does not (about 50 s of it here, where the
	// check gives up after 1 s).
	slow := "SELECT BENCHMARK(100000000, MD5('" + marker + "'))"
	ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": my, "query": slow})}, time.Second)
	const runs = 4
	for range runs {
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.Timeout)
	}
	// The last run's query is the one left: every earlier one was killed by the run after it.
	if _, ok := checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool { return running() <= 1 }); !ok {
		t.Fatalf("%d of the %d runs' queries still run on the server; want at most the last one", running(), runs)
	}
	// A healthy check of the same target (its pool is the same) clears that one too, and passes.
	ok := newCheckTimeout(t, config.Check{Name: "ok", Type: "mysql", Spec: config.SpecOf(map[string]any{"url": my, "query": "SELECT 1"})}, time.Second)
	err, _ := runCheck(t, ok)
	assertClass(t, err, "")
	if _, done := checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool { return running() == 0 }); !done {
		t.Fatalf("%d queries still run on the server after a run of a check that shares the pool; want none", running())
	}
	// One run, then the check closed (healthgate check, a wait that ends): no next run kills its query,
	// the close does. Each `check` in an incident left one more running. (Its URL differs, so its pool is
	// its own, and closes with it.)
	once := newCheckTimeout(t, config.Check{Name: "once", Type: "mysql", Spec: config.SpecOf(map[string]any{"url": my + "?timeout=5s", "query": slow})}, time.Second)
	err, _ = runCheck(t, once)
	assertClass(t, err, checks.Timeout)
	once.Close()
	if _, done := checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool { return running() == 0 }); !done {
		t.Fatalf("%d queries still run on the server after the check that gave up on it closed; want none", running())
	}
	// A run cut short before its timeout (a signal, serve's drain), then the check closed: its query is
	// stopped too. It was noted only after a timeout, and ran on.
	cut := newCheckTimeout(t, config.Check{Name: "cut", Type: "mysql", Spec: config.SpecOf(map[string]any{"url": my + "?timeout=6s", "query": slow})}, 10*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	if err := cut.Run(ctx); err == nil {
		t.Fatal("a run cut short passed")
	}
	cut.Close()
	if _, done := checktest.Poll(5*time.Second, 50*time.Millisecond, func() bool { return running() == 0 }); !done {
		t.Fatalf("%d queries still run on the server after a run was cut short and its check closed; want none", running())
	}
}

// TestMySQLServerGaveUp: the server's own limit on a statement's time (MariaDB max_statement_time, MySQL
// max_execution_time) and on a wait for a lock (lock_wait_timeout: a table another session holds, as a
// migration's ALTER TABLE does) stop the check's query, as Postgres's statement_timeout and lock_timeout
// do. They were query "check the SQL and the role's permissions", of a query that is right; they are a
// timeout whose hint names the setting (the same class and hint as the Postgres check gives its own).
func TestMySQLServerGaveUp(t *testing.T) {
	t.Parallel()
	addr := startMariaDB(t, false)
	db := openMySQL(t, addr)
	mustExec(t, db, "CREATE DATABASE app", "CREATE TABLE app.orders (id INT PRIMARY KEY) ENGINE=InnoDB")
	holder, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	if _, err := holder.ExecContext(t.Context(), "LOCK TABLES app.orders WRITE"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, params, query, hint string }{
		{"max_statement_time (1969)", "max_statement_time=0.2", "SELECT SLEEP(5)", "its time limit for a statement ran out (MariaDB max_statement_time, MySQL max_execution_time: set in url"},
		{"lock_wait_timeout (1205)", "lock_wait_timeout=1", "SELECT COUNT(*) FROM app.orders", "the query waited longer than lock_wait_timeout (a table's metadata lock) or innodb_lock_wait_timeout (a row lock), set in url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://root@" + addr + "/app?" + tc.params, "query": tc.query})}, generousTimeout)
			err, took := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Timeout, tc.hint, "no secret here")
			if took > 5*time.Second {
				t.Errorf("the run took %s; want the server's limit, not the check's timeout", took)
			}
		})
	}
}
