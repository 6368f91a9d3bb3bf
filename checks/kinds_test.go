package checks_test

import (
	"bufio"
	"compress/gzip"
	"compress/zlib"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// timeout is every test check's timeout: short, so blackholed runs end quickly, and long enough for a
// loaded CI machine to connect to a local service.
const timeout = 700 * time.Millisecond

// generousTimeout is the timeout of test checks whose outcome is not a timeout: a TLS handshake or a
// connect on a loaded 2-core machine can take longer than timeout, and must not turn into one.
const generousTimeout = 15 * time.Second

// timeoutFor is the timeout of a test check whose run must end with want: the short one only when the
// run must time out.
func timeoutFor(want checks.Class) time.Duration {
	if want == checks.Timeout {
		return timeout
	}
	return generousTimeout
}

func newCheck(t *testing.T, c config.Check) *checks.Check {
	t.Helper()
	return newCheckTimeout(t, c, timeout)
}

// newCheckTimeout is newCheck with the run's timeout given.
func newCheckTimeout(t *testing.T, c config.Check, d time.Duration) *checks.Check {
	t.Helper()
	if c.Name == "" {
		c.Name = "dep"
	}
	base := config.NewCheck(c.Name, c.Type, "test", config.NewDefaults())
	base.Interval, base.Timeout = max(2*time.Second, 2*d), d
	c.Src, c.Interval, c.Timeout, c.Critical = base.Src, base.Interval, base.Timeout, true
	c.FailureThreshold, c.SuccessThreshold = 1, 1
	ch, err := checks.New(c)
	if err != nil {
		t.Fatalf("checks.New: %v", err)
	}
	t.Cleanup(ch.Close)
	return ch
}

// runCheck runs once and returns the error and how long the run took.
func runCheck(t *testing.T, ch *checks.Check) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	err := ch.Run(t.Context())
	return err, time.Since(start)
}

// runUntilPass runs ch until a run passes, for up to 5 s, and returns the last run's error: for a first
// run that must pass where something on a loaded machine (a first connect within a short timeout, a
// standby's moment of replay) may fail it once.
func runUntilPass(t *testing.T, ch *checks.Check) error {
	t.Helper()
	var err error
	checktest.Poll(5*time.Second, 100*time.Millisecond, func() bool { err, _ = runCheck(t, ch); return err == nil })
	return err
}

// assertClass checks a run's class and that a class error names it first; a nil want means pass.
func assertClass(t *testing.T, err error, want checks.Class) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("run failed: %v; want pass", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("run passed; want %s", want)
	}
	var ce *checks.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *checks.Error", err, err)
	}
	if got := checks.ClassOf(err); got != want {
		t.Fatalf("class = %s (%v); want %s", got, err, want)
	}
	if !strings.HasPrefix(err.Error(), string(want)+": ") {
		t.Errorf("error %q does not start with its class", err)
	}
}

// assertAnswer checks a run of ch that ended with err: its class is want (see assertClass), its hint
// mentions hint unless hint is empty, and neither its error, its hint nor the check's target shows
// secret. A failed run is logged with its hint, which -v shows beside the case.
func assertAnswer(t *testing.T, ch *checks.Check, err error, want checks.Class, hint, secret string) {
	t.Helper()
	if err != nil {
		t.Logf("%v (hint: %s)", err, ch.Hint(err))
	}
	assertClass(t, err, want)
	if hint != "" && !strings.Contains(ch.Hint(err), hint) {
		t.Errorf("hint %q does not mention %q", ch.Hint(err), hint)
	}
	for _, s := range []string{err2s(err), ch.Hint(err), ch.Target} {
		if strings.Contains(s, secret) {
			t.Errorf("output leaks a secret: %q", s)
		}
	}
}

// assertBounded checks that a run that timed out ended at its timeout, not later.
func assertBounded(t *testing.T, took time.Duration) {
	t.Helper()
	if took < timeout-50*time.Millisecond || took > timeout+500*time.Millisecond {
		t.Errorf("run took %s; want it to end at its timeout (%s)", took, timeout)
	}
}

// assertTimeoutWording checks that a timeout says so in the words docs/design.md §3 shows ("timeout: no
// answer within 2s"), and not in a driver's words for our own deadline.
func assertTimeoutWording(t *testing.T, err error) {
	t.Helper()
	if want := "timeout: no answer within " + timeout.String(); !strings.HasPrefix(err2s(err), want) {
		t.Errorf("error %q does not start %q", err2s(err), want)
	}
	if strings.Contains(err2s(err), "deadline exceeded") {
		t.Errorf("error %q quotes the deadline's own words", err2s(err))
	}
}

type faultCase struct {
	mode  checktest.Mode
	want  checks.Class
	bound bool // the run must end at its timeout
	quick bool // the run must end well before its timeout: the first answer says it is not the protocol
}

// wireFaults are the faults every network check must classify.
var wireFaults = []faultCase{
	{mode: checktest.Forward},
	{mode: checktest.Refuse, want: checks.Refused},
	{mode: checktest.Blackhole, want: checks.Timeout, bound: true},
	{mode: checktest.Reset, want: checks.Reset},
	{mode: checktest.Slow, want: checks.Timeout, bound: true},
	// Another protocol on the port (an SSH banner) that keeps the connection open: a client must notice
	// from the bytes, not wait for its timeout.
	{mode: checktest.GarbageOpen, want: checks.BadResponse, quick: true},
}

// runFaults runs build's check through each wire fault, and against an address where the connect itself
// never completes; a timeout's hint must tell the two apart (connected or not). Each case has its own
// proxy and check and mostly waits for a timeout, so the cases run in parallel.
func runFaults(t *testing.T, target string, build func(addr string) config.Check) {
	t.Run("connect never completes", func(t *testing.T) {
		t.Parallel()
		ch := newCheck(t, build(checktest.Unreachable(t)))
		err, took := runCheck(t, ch)
		assertClass(t, err, checks.Timeout)
		assertBounded(t, took)
		assertTimeoutWording(t, err)
		if h := ch.Hint(err); !strings.Contains(h, "could not connect") {
			t.Errorf("hint %q does not say the connection never completed", h)
		}
	})
	for _, tc := range wireFaults {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			p := checktest.NewProxy(t, target)
			p.SetDelay(2 * timeout)
			p.Set(tc.mode)
			ch := newCheckTimeout(t, build(p.Addr()), timeoutFor(tc.want))
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.bound {
				assertBounded(t, took)
			}
			if tc.want == checks.Timeout && strings.Contains(err2s(err), "closed network connection") {
				t.Errorf("error %q names the close our own deadline made", err2s(err))
			}
			if tc.want == checks.Timeout {
				assertTimeoutWording(t, err)
			}
			// A client that waited for its timeout would take generousTimeout.
			if tc.quick && took > 2*time.Second {
				t.Errorf("run took %s; want it to end at the first answer, not at its timeout", took)
			}
			if h := ch.Hint(err); tc.want == checks.Timeout && !strings.Contains(h, "connected, but no answer") && !strings.Contains(h, "TLS") {
				t.Errorf("hint %q does not say the dependency accepted and did not answer", h)
			}
			if tc.want == "" {
				// and again, on the pooled connection
				err, _ := runCheck(t, ch)
				assertClass(t, err, "")
			}
		})
	}
}

// configCase is a check's configuration that checks.New must refuse, with an error saying want.
type configCase struct {
	name  string
	check config.Check
	want  string
}

// assertConfigErrors builds each case's check as a check of kind named name (with a place in a file, as
// the configuration gives it) and wants checks.New to refuse it with an error saying the case's want,
// and nothing of a secret written as "s3cr3t".
func assertConfigErrors(t *testing.T, name, kind string, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Name, tc.check.Type = name, kind
			base := config.NewCheck(name, kind, "test", config.NewDefaults())
			tc.check.Src, tc.check.Timeout = base.Src, base.Timeout
			_, err := checks.New(tc.check)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// urlCheck is runFaults's build for a kind whose target is a url: a check of kind at rawURL pointed at
// addr instead.
func urlCheck(t *testing.T, kind, rawURL string) func(addr string) config.Check {
	return func(addr string) config.Check {
		return config.Check{Type: kind, Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, rawURL, addr)})}
	}
}

// runGarbage runs build's check through a proxy that answers the first bytes with nonsense and closes:
// the run is bad_response, and its hint mentions hint unless hint is empty.
func runGarbage(t *testing.T, target string, build func(addr string) config.Check, hint string) {
	t.Run("garbage", func(t *testing.T) {
		p := checktest.NewProxy(t, target)
		p.Set(checktest.Garbage)
		ch := newCheckTimeout(t, build(p.Addr()), generousTimeout)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.BadResponse)
		if h := ch.Hint(err); hint != "" && !strings.Contains(h, hint) {
			t.Errorf("hint %q does not mention %q", h, hint)
		}
	})
}

// keptCheck builds a check of kind whose url is rawURL pointed at a proxy, runs it 5 times, each a
// pass, and wants one connection for all of them: the check keeps its connection (its session) from
// run to run.
func keptCheck(t *testing.T, kind, rawURL string) (*checktest.Proxy, *checks.Check) {
	t.Helper()
	p := checktest.NewProxy(t, checktest.HostPort(t, rawURL))
	ch := newCheckTimeout(t, urlCheck(t, kind, rawURL)(p.Addr()), generousTimeout)
	for range 5 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
	if n := p.Accepted(); n != 1 {
		t.Fatalf("%d connections for 5 healthy runs; want 1", n)
	}
	return p, ch
}

// assertRedials severs the connection ch keeps through p, twice: the proxy refuses, then resets. Each
// time the next run reports that fault (refused, reset), and the run after it, the proxy forwarding
// again, dials anew and passes.
func assertRedials(t *testing.T, p *checktest.Proxy, ch *checks.Check) {
	t.Helper()
	for _, tc := range []struct {
		mode checktest.Mode
		want checks.Class
	}{{checktest.Refuse, checks.Refused}, {checktest.Reset, checks.Reset}} {
		p.Set(tc.mode) // closes the kept connection, as a server restart does
		err, _ := runCheck(t, ch)
		assertClass(t, err, tc.want)
		p.Set(checktest.Forward)
		err, _ = runCheck(t, ch)
		assertClass(t, err, "")
	}
}

func TestPostgresWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	pg := checktest.PostgresURL(t)
	runFaults(t, checktest.HostPort(t, pg), urlCheck(t, "postgres", pg))
}

func TestPostgresServerAnswers(t *testing.T) {
	pg := checktest.PostgresURL(t)
	tests := []struct {
		name     string
		url      string
		query    string
		writable bool
		want     checks.Class
		hint     string
	}{
		{name: "default round trip", url: pg},
		{name: "writable primary", url: pg, writable: true},
		{name: "custom query", url: pg, query: "SELECT count(*) FROM pg_stat_activity"},
		{name: "key=value DSN", url: "host=" + hostOnly(t, pg) + " port=" + portOnly(t, pg) + " user=postgres dbname=test sslmode=disable"},
		{name: "role does not exist", url: withUser(t, pg, "healthgate_no_such_role", "s3cr3t-pw"), want: checks.Auth, hint: "credentials"},
		{name: "database does not exist", url: withDB(t, pg, "healthgate_no_such_db"), want: checks.Auth, hint: "database does not exist"},
		{name: "failing query", url: pg, query: "SELECT 1/0", want: checks.Query},
		{name: "read-only session", url: pg, query: "SET TRANSACTION READ ONLY; CREATE TEMP TABLE healthgate_t (a int)", want: checks.ReadOnly, hint: "read-only"},
		{name: "unknown URL parameter", url: withParams(t, pg, "api_key=s3cr3t-pw"), want: checks.Query, hint: "URL parameter"},
		// The server quotes the value of a setting it refuses: one named like a secret is not shown.
		{name: "secret-named setting refused", url: withParams(t, pg, "password_encryption=s3cr3t-pw"), want: checks.Query, hint: "URL parameter"},
		{name: "secret-named setting refused in options", url: withParams(t, pg, "options=-c%20session_replication_role%3Ds3cr3t-pw"), want: checks.Query, hint: "URL parameter"},
		{name: "secret-named setting refused in a DSN", url: "host=" + hostOnly(t, pg) + " port=" + portOnly(t, pg) + " user=postgres dbname=test sslmode=disable password_encryption=s3cr3t-pw", want: checks.Query, hint: "URL parameter"},
		{name: "dns", url: checktest.WithHost(t, pg, "healthgate-test.invalid:5432"), want: checks.DNS, hint: "does not resolve"},
		// A CA that signed nothing: verifying any server against it fails.
		{name: "untrusted certificate", url: withParams(t, pg, "sslmode=verify-full&sslrootcert="+newPKI(t).otherCA), want: checks.TLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": tc.url, "query": tc.query, "writable": tc.writable})}, timeoutFor(tc.want))
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if strings.Contains(err2s(err), "s3cr3t-pw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestPostgresReadOnlyPrimary: a primary whose default_transaction_read_only is on (ALTER SYSTEM, or a
// database's or role's setting: a maintenance freeze, a managed service's guard against a full disk) is
// not in recovery, but takes no write. writable: true passed there, while every write failed 25006; it is
// read_only. The setting is given as the URL's parameter here, as a role's would be: the shared server is
// not reconfigured.
func TestPostgresReadOnlyPrimary(t *testing.T) {
	pg := checktest.PostgresURL(t)
	url := withParams(t, pg, "sslmode=disable&default_transaction_read_only=on")
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url, "writable": true})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.ReadOnly, "default_transaction_read_only is on, for the server", "no secret here")
	// Without writable, a read-only primary serves reads: it passes.
	ch = newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
}

// TestPostgresServerGaveUp: the server cancels a query at its statement_timeout (57014) or lock_timeout
// (55P03), set in the URL (or on the role, or the database) as many applications' URLs do. The query is
// not wrong: the server is slow, or another session holds a lock (a migration's), and the run is a
// timeout that says which. They were query, "check the SQL and the role's permissions".
func TestPostgresServerGaveUp(t *testing.T) {
	pg := checktest.PostgresURL(t)
	const lock = 7_361_029 // an advisory lock another session holds, as a migration holds its table's
	holder := connect(t, pg)
	if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_lock($1)", lock); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, param, query, hint string }{
		{"statement_timeout", "statement_timeout=200", "SELECT pg_sleep(5)", "the server cancelled the query before it finished: its statement_timeout ran out (set in url"},
		{"lock_timeout", "lock_timeout=200", fmt.Sprintf("SELECT pg_advisory_lock(%d)", lock), "the query waited longer than lock_timeout (set in url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": withParams(t, pg, "sslmode=disable&"+tc.param), "query": tc.query})}, generousTimeout)
			err, took := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Timeout, tc.hint, "no secret here")
			if took > 5*time.Second {
				t.Errorf("the run took %s; want the server's 200 ms, not the check's timeout", took)
			}
		})
	}
}

// TestPostgresQueryWaitsOnALock: without a lock_timeout, a query that waits on another session's lock
// (a migration's) runs into the check's timeout. The hint said "connected, but no answer ... still
// starting ... or the port speaks another protocol", of a server that had taken the login; it says the
// query did not finish and names a lock. And the waiting query does not outlive the run on the server
// (pgx's cancel request ends it): one more backend stuck on the lock every run would pile up.
func TestPostgresQueryWaitsOnALock(t *testing.T) {
	pg := checktest.PostgresURL(t)
	const lock = 7_361_030
	holder := connect(t, pg)
	if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_lock($1)", lock); err != nil {
		t.Fatal(err)
	}
	app := "healthgate-lockwait-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	url := withParams(t, pg, "sslmode=disable&application_name="+app)
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": url, "query": fmt.Sprintf("SELECT pg_advisory_lock(%d)", lock)})}, time.Second)
	// Run after run, as serve runs it: every run's cancel request is sent (the one before was a cancel
	// connection the server closed, not a connection that broke before its startup, which excuses one).
	for run := range 3 {
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Timeout, "the query did not finish within the timeout: it waits on a lock another session holds", "no secret here")
		checktest.Eventually(t, 10*time.Second, fmt.Sprintf("run %d's query to stop waiting on the lock", run+1), func() bool {
			var n int
			return holder.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", app).Scan(&n) == nil && n == 0
		})
	}
}

// TestPostgresBannerAllocatesNothing: another protocol's banner on the port reads as a message header
// with a huge length ("220 s" is a '2' message of 0x3032 0x2073 bytes); pgproto3 would allocate it all
// (~800 MB per run, measured) before reading. The run must end as bad_response, allocating little.
func TestPostgresBannerAllocatesNothing(t *testing.T) {
	smtp := checktest.Serve(t, func(c net.Conn) {
		_, _ = c.Write([]byte("220 smtp.example.com ESMTP Postfix\r\n"))
		_, _ = io.Copy(io.Discard, c) // kept open
	})
	ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://u@" + smtp + "/db?sslmode=disable"})})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err, _ := runCheck(t, ch)
	runtime.ReadMemStats(&after)
	assertClass(t, err, checks.BadResponse)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("one run against an SMTP banner allocated %d MB; want a few (the body cap)", alloc>>20)
	}
}

// TestPostgresOtherProtocolMessage: MariaDB's greeting (a packet 100 bytes long, then protocol 10 and
// "5.5.5-10.11...") reads as a well-formed CopyData message, which pgx reports as an unexpected message
// with no cause ("%!w(<nil>)"). It is another protocol on the port, like any bytes that do not decode.
func TestPostgresOtherProtocolMessage(t *testing.T) {
	mariadb := garbageServer(t, "d\x00\x00\x00\n5.5.5-10.11.19-MariaDB-0+deb12u1\x00")
	ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://u@" + mariadb + "/db?sslmode=disable"})})
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.BadResponse)
	if strings.Contains(err.Error(), "%!") {
		t.Errorf("error %q carries a formatting artefact", err)
	}
	if h := ch.Hint(err); !strings.Contains(h, "PostgreSQL's (5432)") {
		t.Errorf("hint %q does not ask whether the port is PostgreSQL's", h)
	}
}

// TestPostgresStartupErrors answers the startup packet the way a Postgres in each state does: starting
// (57P03), full (53300), or refusing the password (28P01, which trust auth here never sends); and as a
// pooler does in the states its tests against the real one cannot bring about at will (poolers_test.go).
func TestPostgresStartupErrors(t *testing.T) {
	for _, tc := range []struct {
		code, msg string
		want      checks.Class
	}{
		{"57P03", "the database system is starting up", checks.NotReady},
		{"53300", "sorry, too many clients already", checks.NotReady},
		{"28P01", `password authentication failed for user "app"`, checks.Auth},
		{"08P01", "query_wait_timeout", checks.NotReady}, // PgBouncer: no server connection in time
		{"08P01", "server conn crashed?", checks.Reset},  // PgBouncer: its server connection broke
		{"XX000", "all backend nodes are down, pgpool requires at least one valid node", checks.NotReady},
		{"XX000", "unable to read data from DB node 0", checks.Reset},     // Pgpool-II: its backend connection broke
		{"XX000", "cache lookup failed for relation 16384", checks.Query}, // Postgres's own internal error
	} {
		t.Run(tc.code+" "+tc.msg, func(t *testing.T) {
			addr := checktest.Serve(t, func(c net.Conn) {
				buf := make([]byte, 1024)
				_, _ = c.Read(buf)
				_, _ = c.Write(pgError("FATAL", tc.code, tc.msg))
			})
			ch := newCheck(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://app:s3cr3t-pw@" + addr + "/app?sslmode=disable"})})
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if strings.Contains(err2s(err), "s3cr3t-pw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestRedisWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	rd := checktest.RedisURL(t)
	runFaults(t, checktest.HostPort(t, rd), urlCheck(t, "redis", rd))
}

func TestRedisServerAnswers(t *testing.T) {
	rd := checktest.RedisURL(t)
	// A private replica of the shared Redis, which is never reconfigured.
	replica := checktest.StartRedis(t, "--replicaof", hostOnly(t, rd), portOnly(t, rd), "--replica-read-only", "yes")
	answering := func(reply string) string {
		return checktest.Serve(t, func(c net.Conn) {
			buf := make([]byte, 1024)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				_, _ = c.Write([]byte(reply))
			}
		})
	}
	loading := answering("-LOADING Redis is loading the dataset in memory\r\n")
	noauth := answering("-NOAUTH Authentication required.\r\n")
	masterdown := answering("-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n")
	// AUTH renamed or disabled (rename-command AUTH ""): Redis quotes the arguments of a command it does not know.
	noAuthCommand := answering("-ERR unknown command 'auth', with args beginning with: 's3cr3t-pw' \r\n")
	// The same from Redis before 6.2 (5, 6.0), which quotes with backquotes; and its answer with PING
	// renamed (rename-command PING ""): it said bad_response "check its status, body or protocol" to
	// both, the first not auth, the second without the hint that says what to set instead.
	noAuthCommandOld := answering("-ERR unknown command `auth`, with args beginning with: `s3cr3t-pw`, \r\n")
	noPingOld := answering("-ERR unknown command `ping`, with args beginning with: \r\n")
	// A proxy that sends back, as an error reply, the request it could not forward.
	echoAsError := checktest.Serve(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("-ERR cannot forward " + strings.ReplaceAll(string(buf[:n]), "\r\n", " ") + "\r\n"))
		}
	})
	tests := []struct {
		name string
		url  string
		role string
		want checks.Class
		hint string
	}{
		{name: "ping", url: rd},
		{name: "role master on the primary", url: rd, role: "master"},
		{name: "role master on a replica", url: "redis://" + replica + "/0", role: "master", want: checks.ReadOnly},
		{name: "role replica on the primary", url: rd, role: "replica", want: checks.BadResponse, hint: "the server is the primary, not a replica"},
		{name: "wrong password", url: withUser(t, rd, "healthgate-nobody", "s3cr3t-pw"), want: checks.Auth},
		{name: "loading", url: "redis://" + loading + "/0", want: checks.NotReady},
		{name: "no password given", url: "redis://" + noauth + "/0", want: checks.Auth, hint: "the server requires a password (requirepass or an ACL user) and none was given: add it to url"},
		{name: "replica cut off from its primary", url: "redis://" + masterdown + "/0", want: checks.NotReady},
		// A plain Redis waits for a newline after a ClientHello: a timeout, with a hint naming TLS.
		{name: "tls to a plain port", url: strings.Replace(rd, "redis://", "rediss://", 1), want: checks.Timeout, hint: "TLS"},
		{name: "tls to a non-TLS answer", url: "rediss://" + loading + "/0", want: checks.TLS},
		{name: "dns", url: checktest.WithHost(t, rd, "healthgate-test.invalid:6379"), want: checks.DNS},
		{name: "database number the server lacks", url: "redis://" + checktest.HostPort(t, rd) + "/99", want: checks.BadResponse, hint: "database number in url (the url's path"},
		// HELLO 3 AUTH default PASSWORD sent back reads as an array of 5 where a map is due.
		{name: "AUTH unknown to the server", url: "redis://:s3cr3t-pw@" + noAuthCommand + "/0", want: checks.Auth},
		{name: "AUTH unknown to a Redis before 6.2", url: "redis://:s3cr3t-pw@" + noAuthCommandOld + "/0", want: checks.Auth},
		{name: "PING renamed in a Redis before 6.2", url: "redis://" + noPingOld + "/0", want: checks.BadResponse, hint: "renamed or disabled (rename-command"},
		{name: "the request sent back in an error", url: "redis://:s3cr3t-pw@" + echoAsError + "/0", want: checks.BadResponse, hint: "Redis's (6379)"},
		{name: "the request sent back", url: "redis://:s3cr3t-pw@" + echoServer(t, "") + "/0", want: checks.BadResponse, hint: "Redis's (6379)"},
		// Bytes without a line ending, the connection kept open: the first byte already says it is not RESP.
		{name: "binary answer kept open", url: "redis://" + garbageServer(t, "\x00\x01\x02\x03garbage") + "/0", want: checks.BadResponse, hint: "Redis's (6379)"},
		// A TLS port's alert to a plaintext hello, the connection kept open.
		{name: "plain to a TLS answer", url: "redis://" + garbageServer(t, "\x15\x03\x01\x00\x02\x02\x46") + "/0", want: checks.TLS, hint: "rediss://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": tc.url, "role": tc.role})}, timeoutFor(tc.want))
			err, _ := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.hint != "" && !strings.Contains(ch.Hint(err), tc.hint) {
				t.Errorf("hint %q does not mention %q", ch.Hint(err), tc.hint)
			}
			if strings.Contains(err2s(err), "s3cr3t-pw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestRedisACLRefusesTheCommand: an ACL user whose password is right but whose rules refuse what the
// check runs (PING, ROLE with role, EXISTS or the key with key, SELECT with a database other than 0) gets
// NOPERM. The hint said the credentials were rejected, to check the user and password, which are right:
// it says the ACL refuses the command, and names each the check may run (it left SELECT out).
func TestRedisACLRefusesTheCommand(t *testing.T) {
	user := func(name string, rules ...string) []string {
		return append([]string{"--user", name, "on", ">s3cr3t-pw"}, rules...)
	}
	var args []string
	args = append(args, user("noping", "~*", "+@all", "-ping")...)
	args = append(args, user("norole", "~*", "+@all", "-role")...)
	args = append(args, user("nokey", "~other:*", "+@all")...)
	args = append(args, user("noselect", "~*", "+@read", "+ping")...)
	srv := checktest.StartRedis(t, args...)
	for _, tc := range []struct{ user, db, role, key, names string }{
		{"noping", "0", "", "", "+ping"}, {"norole", "0", "master", "", "+role"}, {"nokey", "0", "", "healthgate:probe", "~KEY"}, {"noselect", "2", "", "", "+select"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + tc.user + ":s3cr3t-pw@" + srv + "/" + tc.db, "role": tc.role, "key": tc.key})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Auth, "the user and password were accepted, but the user's ACL refuses", "s3cr3t-pw")
			if !strings.Contains(ch.Hint(err), tc.names) {
				t.Errorf("hint %q does not name %s", ch.Hint(err), tc.names)
			}
		})
	}
}

// TestRedisProbeCommandRenamed: a server configured with rename-command PING "" (or ROLE), as some
// hardened configurations are, answers "ERR unknown command 'ping', with args beginning with:". That was
// bad_response with the generic hint, and the error said the arguments were not shown because AUTH's and
// HELLO's hold the password, of a PING; it names the command, and the hint what to set instead.
func TestRedisProbeCommandRenamed(t *testing.T) {
	noPing := checktest.StartRedis(t, "--rename-command", "PING", "")
	noRole := checktest.StartRedis(t, "--rename-command", "ROLE", "")
	for _, tc := range []struct{ name, addr, role, key, want string }{
		{"PING", noPing, "", "", "PING"},
		{"ROLE", noRole, "master", "", "ROLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + tc.addr + "/0", "role": tc.role})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.BadResponse, "renamed or disabled (rename-command", "AUTH")
			if !strings.Contains(err.Error(), "does not know "+tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
	// With a key, the server without PING passes: EXISTS is what the hint offers.
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + noPing + "/0", "key": "healthgate:probe"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
}

// TestRedisClusterNode: a check of one node of a Redis Cluster. Such a node has database 0 only, and
// answers a key of a slot another node serves with MOVED: both were bad_response with the generic hint
// ("check its status, body or protocol"); the hints say it is a cluster node, and what to change.
func TestRedisClusterNode(t *testing.T) {
	dir := t.TempDir()
	a := checktest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/a.conf")
	b := checktest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/b.conf")
	ctx := t.Context()
	ca, cb := redis.NewClient(&redis.Options{Addr: a}), redis.NewClient(&redis.Options{Addr: b})
	t.Cleanup(func() { _ = ca.Close(); _ = cb.Close() })
	bHost, bPort, _ := net.SplitHostPort(b)
	for _, cmd := range [][]any{{"CLUSTER", "ADDSLOTSRANGE", 0, 8191}} {
		if err := ca.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cb.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 8192, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ca.Do(ctx, "CLUSTER", "MEET", bHost, bPort).Err(); err != nil {
		t.Fatal(err)
	}
	checktest.Eventually(t, 20*time.Second, "the cluster to be up", func() bool {
		info, err := ca.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	key := "healthgate:probe"
	for i := 0; ; i++ { // a key of a slot b serves
		if slot, err := ca.ClusterKeySlot(ctx, key).Result(); err == nil && slot >= 8192 {
			break
		}
		key = fmt.Sprintf("healthgate:probe:%d", i)
	}
	for _, tc := range []struct{ name, url, key, hint string }{
		{"a key of another node", "redis://" + a + "/0", key, "key is in a slot another node serves"},
		{"a database other than 0", "redis://" + a + "/1", "", "which has database 0 only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": tc.url, "key": tc.key})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.BadResponse, tc.hint, "no secret here")
		})
	}
}

// TestRedisClusterDown: a Redis Cluster node answers PING while its cluster is down (cluster_state:fail:
// slots no node serves, or the node cut off from the majority) and refuses every key with CLUSTERDOWN;
// a check without key passed it. It is not_ready, naming the state, until the cluster is up again. A
// user whose ACL refuses CLUSTER, and a server without cluster support, pass on PING as before.
func TestRedisClusterDown(t *testing.T) {
	dir := t.TempDir()
	node := checktest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf")
	ctx := t.Context()
	admin := redis.NewClient(&redis.Options{Addr: node})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Set(ctx, "x", "y", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("SET on a node with no slots = %v; want CLUSTERDOWN (the state the test needs)", err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "pingonly", "on", ">pw", "+ping", "~*").Err(); err != nil {
		t.Fatal(err)
	}
	ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://:s3cr3t-unused@" + node + "/0"})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.NotReady, "cluster is down", "s3cr3t")
	if !strings.Contains(err2s(err), "cluster_state:fail") {
		t.Errorf("error %q does not name the cluster's state", err)
	}
	aclOnly := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://pingonly:pw@" + node + "/0"})}, generousTimeout)
	err, _ = runCheck(t, aclOnly)
	assertClass(t, err, "")

	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	checktest.Eventually(t, 20*time.Second, "the one-node cluster to be up", func() bool {
		info, err := admin.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")

	// A server without cluster support is asked once, not every run.
	plain := checktest.StartRedis(t)
	standalone := newCheck(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + plain + "/0"})})
	for range 3 {
		err, _ = runCheck(t, standalone)
		assertClass(t, err, "")
	}
	pc := redis.NewClient(&redis.Options{Addr: plain})
	t.Cleanup(func() { _ = pc.Close() })
	stats, err := pc.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stats, "cmdstat_cluster|info:calls=1,"); n != 1 {
		t.Errorf("CLUSTER INFO not asked exactly once in 3 runs of a server without cluster support:\n%s", stats)
	}
}

// TestRedisMinReplicasToWrite: a primary with min-replicas-to-write answers every write NOREPLICAS while
// too few replicas are connected and within min-replicas-max-lag, and PING and ROLE as ever: role:
// master (a primary that takes writes) passed it. It is read_only until a replica catches up; a user
// whose ACL refuses CONFIG still sees a primary with no replica at all as read_only.
func TestRedisMinReplicasToWrite(t *testing.T) {
	primary := checktest.StartRedis(t, "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
	ctx := t.Context()
	admin := redis.NewClient(&redis.Options{Addr: primary})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Set(ctx, "x", "y", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOREPLICAS") {
		t.Fatalf("SET on a primary without replicas = %v; want NOREPLICAS (the state the test needs)", err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "noconfig", "on", ">s3cr3t", "+ping", "+role", "+info", "~*").Err(); err != nil {
		t.Fatal(err)
	}
	master := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + primary + "/0", "role": "master"})}, generousTimeout)
	noConfig := newCheckTimeout(t, config.Check{Type: "redis", Name: "noconfig", Spec: config.SpecOf(map[string]any{"url": "redis://noconfig:s3cr3t@" + primary + "/0", "role": "master"})}, generousTimeout)
	plain := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + primary + "/0"})}, generousTimeout)
	err, _ := runCheck(t, master)
	assertAnswer(t, master, err, checks.ReadOnly, "min-replicas-to-write", "s3cr3t")
	if !strings.Contains(err2s(err), "0 replicas connected and within min-replicas-max-lag, min-replicas-to-write asks for 1") {
		t.Errorf("error %q does not give the replicas and the setting", err)
	}
	err, _ = runCheck(t, noConfig)
	assertAnswer(t, noConfig, err, checks.ReadOnly, "min-replicas-to-write", "s3cr3t")
	// Without role, the check asks for a server that answers, not one that takes writes.
	err, _ = runCheck(t, plain)
	assertClass(t, err, "")

	checktest.StartRedis(t, "--replicaof", hostOnly(t, "redis://"+primary), portOnly(t, "redis://"+primary))
	checktest.Eventually(t, 30*time.Second, "the replica to connect and the primary to take writes", func() bool {
		return admin.Set(ctx, "x", "y", 0).Err() == nil
	})
	for _, ch := range []*checks.Check{master, noConfig} {
		err, _ := runCheck(t, ch)
		assertClass(t, err, "")
	}
}

// TestRedisProtectedMode: Redis in protected mode (the default without a password or an explicit bind)
// answers a connection from another host with -DENIED and closes it. go-redis took the DENIED as the
// answer of a server without HELLO and dropped it, and the run failed reset ("restarting, a load balancer
// with no server"); it is auth, with a hint that names protected mode. The server is played here: a
// private Redis denies only a non-loopback client, which a test machine need not have.
func TestRedisProtectedMode(t *testing.T) {
	protected := checktest.Serve(t, func(c net.Conn) {
		_, _ = c.Write([]byte("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. " +
			"In this mode connections are only accepted from the loopback interface.\r\n"))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(make([]byte, 512))
	})
	for _, key := range []string{"", "healthgate:probe"} {
		t.Run("key="+key, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://" + protected + "/0", "key": key})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Auth, "the server is in protected mode", "no secret here")
		})
	}
}

// TestRedisMaxClients: a Redis at its maxclients writes "-ERR max number of clients reached" to a new
// connection, before any command, and closes it. go-redis reads it as the answer to its HELLO and goes
// on without HELLO, and the run failed reset on the closed connection ("closed right after it opened");
// with key, whose HELLO is answered here, bad_response with that made-up answer, "ERR unknown command
// 'HELLO'", as the server's. It is not_ready, as Postgres's 53300 and MySQL's, NATS's and memcached's
// connection limits are, in the server's words and with a hint that names maxclients; and the check
// passes once a slot is free. (Over TLS, Redis resets the connection at the handshake, without a word.)
func TestRedisMaxClients(t *testing.T) {
	for _, key := range []string{"", "healthgate:probe"} {
		t.Run("key="+key, func(t *testing.T) {
			server := checktest.StartRedis(t, "--maxclients", "1", "--requirepass", "s3cr3t-pw")
			holder := redis.NewClient(&redis.Options{Addr: server, Password: "s3cr3t-pw"}) // the one slot
			if err := holder.Ping(t.Context()).Err(); err != nil {
				_ = holder.Close()
				t.Fatal(err)
			}
			ch := newCheckTimeout(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "redis://:s3cr3t-pw@" + server + "/0", "key": key})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.NotReady, "at its connection limit (maxclients", "s3cr3t-pw")
			if !strings.Contains(err.Error(), "max number of clients reached") {
				t.Errorf("error %q does not give the server's words", err)
			}
			_ = holder.Close()
			checktest.Eventually(t, 10*time.Second, "the check to pass once the slot is free", func() bool {
				err, _ := runCheck(t, ch)
				return err == nil
			})
		})
	}
}

// TestRedisRecoversAtOnce guards against go-redis's dial circuit breaker (docs/design.md §8): after
// failed dials, the next run must dial again instead of failing fast for a second.
func TestRedisRecoversAtOnce(t *testing.T) {
	rd := checktest.RedisURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, rd))
	p.Set(checktest.Refuse)
	ch := newCheck(t, config.Check{Type: "redis", Spec: config.SpecOf(map[string]any{"url": checktest.WithHost(t, rd, p.Addr())})})
	for range 5 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.Refused)
	}
	p.Set(checktest.Forward)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
}

// TestHTTPPlainToHTTPSPort: an http:// url to a port that speaks HTTPS is answered 400 by the server, in
// words that say why (Go's servers, nginx, Apache); it was a bare bad_response ("check its status, body
// or protocol"). It is tls, with a hint to use https://. Any other 400 stays bad_response.
func TestHTTPPlainToHTTPSPort(t *testing.T) {
	goTLS := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	goTLS.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(goTLS.Close)
	answer := func(body string) string {
		return checktest.Serve(t, func(c net.Conn) {
			_, _ = c.Read(make([]byte, 4096))
			_, _ = fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		})
	}
	nginx := answer("<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n</body>\r\n</html>\r\n")
	other := answer("bad request: missing parameter")
	for _, tc := range []struct {
		name, addr string
		class      checks.Class
		hint       string
	}{
		{"Go's TLS server", strings.TrimPrefix(goTLS.URL, "https://"), checks.TLS, "use https://"},
		{"nginx", nginx, checks.TLS, "use https://"},
		{"another 400", other, checks.BadResponse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + tc.addr + "/healthz?token=s3cr3t"})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, tc.class, tc.hint, "s3cr3t")
			if tc.class == checks.BadResponse && strings.Contains(ch.Hint(err), "https://") {
				t.Errorf("hint %q takes any 400 for an HTTPS port", ch.Hint(err))
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "status: ok") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok?token=s3cr3t-redirect", http.StatusFound)
	})
	mux.HandleFunc("/login-first", func(w http.ResponseWriter, _ *http.Request) {
		// a relative Location whose first parameter is harmless and a later one is not
		w.Header().Set("Location", "/login?next=/health&session=s3cr3t-session")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?token=s3cr3t-loop", http.StatusFound)
	})
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "ftp://files.example/health?token=s3cr3t-ftp")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/to-no-host", func(w http.ResponseWriter, _ *http.Request) {
		// a port and no host name: net/http would dial it on localhost
		w.Header().Set("Location", "http://:1/health")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/bad-location", func(w http.ResponseWriter, _ *http.Request) {
		// not a URL (an invalid escape), with a secret parameter
		w.Header().Set("Location", "/login%zz?session=s3cr3t-session")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t-token" {
			http.Error(w, "no", http.StatusUnauthorized)
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "ok")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		// compressed though not asked to (the check sends no Accept-Encoding)
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, "status: ok")
		_ = zw.Close()
	})
	mux.HandleFunc("/deflate", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "deflate")
		zw := zlib.NewWriter(w)
		_, _ = io.WriteString(zw, "status: ok")
		_ = zw.Close()
	})
	mux.HandleFunc("/brotli", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		_, _ = io.WriteString(w, "\x1b\x09\x00status: ok")
	})
	mux.HandleFunc("/fail-stall", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "{")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, _ *http.Request) {
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")
		_ = buf.Flush()
		_ = c.Close()
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 1<<20))
		_, _ = io.WriteString(w, "needle")
	})
	plain, secure, caFile := serveHTTPAndHTTPS(t, mux)
	p := checktest.NewProxy(t, plain.Listener.Addr().String())
	p.Set(checktest.Blackhole)
	refused := checktest.NewProxy(t, plain.Listener.Addr().String())
	refused.Set(checktest.Refuse)

	tests := []struct {
		name  string
		check config.Check
		want  checks.Class
		bound bool
	}{
		{name: "2xx", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/ok"})}},
		{name: "body contains", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/ok", "body_contains": "ok"})}},
		{name: "body contains, gzip", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/gzip", "body_contains": "ok"})}},
		{name: "body contains, gzip asked for", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/gzip", "body_contains": "ok", "headers": map[string]string{"Accept-Encoding": "gzip"}})}},
		{name: "body contains, deflate", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/deflate", "body_contains": "ok"})}},
		{name: "body in an encoding not decoded", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/brotli", "body_contains": "ok"})}, want: checks.BadResponse},
		{name: "body lacks", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/ok", "body_contains": "healthy"})}, want: checks.BadResponse},
		{name: "body beyond 64 KiB is not read", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/huge", "body_contains": "needle"})}, want: checks.BadResponse},
		{name: "body stalls after the status", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/stall?token=s3cr3t-q"})}, want: checks.Timeout, bound: true},
		{name: "body cut short", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/cut?token=s3cr3t-q"})}, want: checks.Reset},
		{name: "500", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/fail?api_key=s3cr3t-key"})}, want: checks.BadResponse},
		{name: "503, its body stalls", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/fail-stall"})}, want: checks.NotReady},
		{name: "500 expected", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/fail", "expect_status": []int{500}})}},
		{name: "redirect not followed", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/moved"})}, want: checks.BadResponse},
		{name: "relative redirect with a secret parameter", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/login-first"})}, want: checks.BadResponse},
		{name: "redirect to what is not a URL", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/bad-location"})}, want: checks.BadResponse},
		{name: "redirect to what is not a URL, followed", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/bad-location", "follow_redirects": true})}, want: checks.BadResponse},
		{name: "redirect to what is not a URL, expected", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/bad-location", "expect_status": []int{302}})}},
		{name: "redirect followed to another protocol", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/to-ftp", "follow_redirects": true})}, want: checks.BadResponse},
		{name: "redirect followed to no host name", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/to-no-host", "follow_redirects": true})}, want: checks.BadResponse},
		{name: "redirects past 5", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/loop", "follow_redirects": true})}, want: checks.BadResponse},
		{name: "redirect followed", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/moved", "follow_redirects": true})}},
		{name: "header sent", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/auth", "headers": map[string]string{"Authorization": "Bearer s3cr3t-token"}})}},
		{name: "header missing", check: config.Check{Spec: config.SpecOf(map[string]any{"url": plain.URL + "/auth"})}, want: checks.Auth},
		{name: "https to a plain port", check: config.Check{Spec: config.SpecOf(map[string]any{"url": strings.Replace(plain.URL, "http://", "https://", 1) + "/ok"})}, want: checks.TLS},
		{name: "untrusted certificate", check: config.Check{Spec: config.SpecOf(map[string]any{"url": secure.URL + "/ok"})}, want: checks.TLS},
		{name: "trusted with ca_file", check: config.Check{Spec: config.SpecOf(map[string]any{"url": secure.URL + "/ok", "tls": config.TLS{CAFile: caFile}})}},
		{name: "refused", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + refused.Addr() + "/ok?token=s3cr3t-q"})}, want: checks.Refused},
		{name: "blackhole", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + p.Addr() + "/ok?token=s3cr3t-q"})}, want: checks.Timeout, bound: true},
		{name: "dns", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://healthgate-test.invalid/ok"})}, want: checks.DNS},
		{name: "not HTTP: a banner, the connection kept open", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + garbageServer(t, checktest.GarbageBanner) + "/ok"})}, want: checks.BadResponse},
		{name: "not HTTP: a status line that is not one", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + garbageServer(t, "220 smtp.example.com ESMTP\r\n") + "/ok"})}, want: checks.BadResponse},
		{name: "not HTTP: bytes without a line ending, kept open", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + garbageServer(t, "\x00\x01\x02\x03garbage") + "/ok"})}, want: checks.BadResponse},
		// A server that sends the request back (an echo service, a proxy quoting it in an error) puts the
		// request target, query and all, where net/http quotes the answer's first lines.
		{name: "not HTTP: the request sent back", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + echoServer(t, "") + "/ok?api_key=s3cr3t-key"})}, want: checks.BadResponse},
		{name: "not HTTP: a short request sent back", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + echoServer(t, "") + "/?token=s3cr3t"})}, want: checks.BadResponse},
		{name: "a status line, then the request sent back", check: config.Check{Spec: config.SpecOf(map[string]any{"url": "http://" + echoServer(t, "HTTP/1.1 200 OK\r\n") + "/ok?x=1&token=s3cr3t-q"})}, want: checks.BadResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Type = "http"
			// Only the cases that must time out use the short timeout; the others (a TLS handshake
			// above all) get a generous one, so a loaded machine cannot turn them into timeouts.
			ch := newCheckTimeout(t, tc.check, timeoutFor(tc.want))
			err, took := runCheck(t, ch)
			assertClass(t, err, tc.want)
			if tc.bound {
				assertBounded(t, took)
			}
			if s := err2s(err) + ch.Target; strings.Contains(s, "s3cr3t") {
				t.Errorf("error or target leaks a secret: %s", s)
			}
		})
	}
}

func TestHTTPWireFaults(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	runFaults(t, srv.Listener.Addr().String(), func(addr string) config.Check {
		return config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + addr + "/healthz", "body_contains": "ok"})}
	})
}

// TestHTTPDialsEndWithTheRun: a failed run leaves no connection attempt behind. net/http goes on
// dialling, and shaking TLS hands, after the request that asked for the connection has given up (to pool
// the connection for a later request), bounded only by the dialer's timeout and TLSHandshakeTimeout: at
// 30 s and 10 s, a dependency that accepts and never answers the ClientHello held each failed run's
// connection for 10 s, so an outage piled them up. Bounded by the check's timeout, they end with their
// run. A plain http:// request that gets no answer ends with its run too (its connection is closed when
// the request's context ends). Counted twice: the connections the proxy still holds, and the connects
// and handshakes net/http still has under way (an httptrace of the run's context, which the background
// dial inherits), which also sees a connect that never completes.
func TestHTTPDialsEndWithTheRun(t *testing.T) {
	t.Parallel() // its own proxies and checks; waits on timeouts
	type testCase struct {
		name      string
		blackhole string // the scheme of a URL to the proxy in blackhole mode; "" for an unreachable address
	}
	cases := []testCase{
		{name: "https, the handshake is never answered", blackhole: "https"},
		{name: "http, the request is never answered", blackhole: "http"},
		{name: "the connect never completes"},
	}
	checktest.EachParallel(t, cases, func(c testCase) string { return c.name }, func(t *testing.T, c testCase) {
		var p *checktest.Proxy
		var url string
		if c.blackhole == "" {
			url = "http://" + checktest.Unreachable(t) + "/healthz"
		} else {
			p = checktest.NewProxy(t, "127.0.0.1:1")
			p.Set(checktest.Blackhole)
			url = c.blackhole + "://" + p.Addr() + "/healthz"
		}
		open := func() int64 {
			if p == nil {
				return 0
			}
			return p.Open()
		}
		var pending atomic.Int64 // connects and TLS handshakes under way
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			ConnectStart:      func(string, string) { pending.Add(1) },
			ConnectDone:       func(string, string, error) { pending.Add(-1) },
			TLSHandshakeStart: func() { pending.Add(1) },
			TLSHandshakeDone:  func(tls.ConnectionState, error) { pending.Add(-1) },
		})
		ch := newCheck(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": url})})
		const runs = 3
		for range runs {
			start := time.Now()
			err := ch.Run(ctx)
			assertClass(t, err, checks.Timeout)
			assertBounded(t, time.Since(start))
		}
		if p != nil && p.Accepted() != runs {
			t.Fatalf("the proxy accepted %d connections for %d runs; want one each", p.Accepted(), runs)
		}
		// The last run's attempt began with it, and is bounded by the same timeout: it ends about when
		// the run does. Before, it stayed for TLSHandshakeTimeout (10 s), or the dialer's 30 s.
		took, ok := checktest.Poll(timeout, 10*time.Millisecond, func() bool { return open() == 0 && pending.Load() == 0 })
		if ok {
			t.Logf("the last connection attempt ended %s after the last run", took)
		} else {
			t.Errorf("%s after the last of %d failed runs, the proxy still holds %d connections and %d connects or TLS handshakes are under way; want none",
				timeout, runs, open(), pending.Load())
		}
	})
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	closedAddr := checktest.ClosedAddr(t)
	// A listener that accepts and resets at once (a TCP proxy with no server behind it) passes: the check
	// proves an accept, nothing more (README).
	resetting := checktest.Serve(t, func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0) })

	for _, tc := range []struct {
		name, addr string
		want       checks.Class
	}{
		{"listening", addr, ""},
		{"accepts, then resets", resetting, ""},
		{"refused", closedAddr, checks.Refused},
		{"dns", "healthgate-test.invalid:80", checks.DNS},
		{"connect never completes", checktest.Unreachable(t), checks.Timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, took := runCheck(t, newCheckTimeout(t, config.Check{Type: "tcp", Spec: config.SpecOf(map[string]any{"address": tc.addr})}, timeoutFor(tc.want)))
			assertClass(t, err, tc.want)
			if tc.want == checks.Timeout {
				assertBounded(t, took)
			}
		})
	}
}

// TestNameWithSeveralAddresses: a host name whose first address never answers a connect (a node gone,
// a firewall that drops the packets) and whose second one serves, as DNS round robin gives it, passes
// its first run with the common timeout of 2 s, for every kind: Go's dialer gave the first address the
// whole run (at least 2 s each, one after the other; pgx and nats.go the connect timeout each), so the
// second was never tried, while the application, with a longer connect timeout, got through; and the
// error named the untried address as the one that timed out. With no address answering, the run times
// out and its error names each address and how it did, also where the driver's error leaves the dial
// out (pgx's pool, amqp's, mqtt's clients); refused at both, it is refused, naming both. Not parallel: the names are resolved by the process's
// default resolver (checktest.ResolveName).
func TestNameWithSeveralAddresses(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		url   func(t testing.TB) string // the real service's URL, for a kind whose target is one
		serve func(t *testing.T) string // else a server of the kind, its host:port
	}{
		{kind: "tcp", serve: func(t *testing.T) string { return checktest.Serve(t, func(net.Conn) {}) }},
		{kind: "http", serve: func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			t.Cleanup(srv.Close)
			return srv.Listener.Addr().String()
		}},
		{kind: "postgres", url: checktest.PostgresURL},
		{kind: "redis", url: checktest.RedisURL},
		{kind: "mysql", url: checktest.MySQLURL},
		{kind: "amqp", url: checktest.AMQPURL},
		{kind: "nats", url: checktest.NATSURL},
		{kind: "mqtt", url: checktest.MQTTURL},
		{kind: "memcached", serve: func(t *testing.T) string { return checktest.MemcachedAddr(t) }},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			var target string
			spec := func(addr string) map[string]any { return map[string]any{"address": addr} }
			switch {
			case tc.url != nil:
				real := tc.url(t)
				target = checktest.HostPort(t, real)
				spec = func(addr string) map[string]any { return map[string]any{"url": checktest.WithHost(t, real, addr)} }
			case tc.kind == "http":
				target = tc.serve(t)
				spec = func(addr string) map[string]any { return map[string]any{"url": "http://" + addr + "/healthz"} }
			default:
				target = tc.serve(t)
			}
			port := checktest.FreePort(t, "127.0.0.1", "127.0.0.2", "127.0.0.3")
			checktest.UnreachableAt(t, [4]byte{127, 0, 0, 2}, port)
			checktest.UnreachableAt(t, [4]byte{127, 0, 0, 3}, port)
			checktest.NewProxyAt(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), target)
			lo, dead, dead2 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")

			checktest.ResolveName(t, "db.hg.test", dead, lo)
			ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(spec(net.JoinHostPort("db.hg.test", strconv.Itoa(port))))}, config.DefaultTimeout)
			err, _ := runCheck(t, ch) // one run: a pool's connect that outlived a failed run would pass the next
			assertClass(t, err, "")

			checktest.ResolveName(t, "gone.hg.test", dead, dead2)
			ch = newCheck(t, config.Check{Type: tc.kind, Spec: config.SpecOf(spec(net.JoinHostPort("gone.hg.test", strconv.Itoa(port))))})
			err, took := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Timeout, "could not connect", "s3cr3t")
			assertBounded(t, took)
			for _, ip := range []netip.Addr{dead, dead2} {
				if a := net.JoinHostPort(ip.String(), strconv.Itoa(port)); !strings.Contains(err2s(err), a) {
					t.Errorf("error %q does not name the address %s, which never connected", err2s(err), a)
				}
			}

			// Nothing listening at either: refused at once, both named.
			closed := checktest.FreePort(t, "127.0.0.2", "127.0.0.3")
			checktest.ResolveName(t, "down.hg.test", dead, dead2)
			ch = newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(spec(net.JoinHostPort("down.hg.test", strconv.Itoa(closed))))}, generousTimeout)
			err, _ = runCheck(t, ch)
			assertAnswer(t, ch, err, checks.Refused, "", "s3cr3t")
			for _, ip := range []netip.Addr{dead, dead2} {
				if a := net.JoinHostPort(ip.String(), strconv.Itoa(closed)) + ": connect: connection refused"; !strings.Contains(err2s(err), a) {
					t.Errorf("error %q does not say %q", err2s(err), a)
				}
			}
		})
	}
}

// TestPostgresNameWithSeveralServers: pgx tries a name's addresses one by one, as libpq does, the next
// after a server's error too: a name whose first address is a node still starting up (57P03) and whose
// second serves passes, as the application's own pgx connects. Dialled as the other kinds dial a name
// (the first address that connects, dialAddrs), the run failed not_ready on the starting node.
func TestPostgresNameWithSeveralServers(t *testing.T) {
	real := checktest.PostgresURL(t)
	port := checktest.FreePort(t, "127.0.0.1", "127.0.0.2")
	checktest.NewProxyAt(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), checktest.HostPort(t, real))
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	var served sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); served.Wait() })
	served.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Read(make([]byte, 1024)); err == nil { // the startup message
					_, _ = c.Write(pgError("FATAL", "57P03", "the database system is starting up"))
				}
			})
		}
	})
	checktest.ResolveName(t, "db.hg.test", netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1"))
	ch := newCheckTimeout(t, config.Check{Type: "postgres", Spec: config.SpecOf(map[string]any{
		"url": checktest.WithHost(t, real, net.JoinHostPort("db.hg.test", strconv.Itoa(port)))})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertClass(t, err, "")
}

// TestUnixSocketNothingListens: a unix socket that does not exist, and one whose file a stopped server
// left behind, are refused (nothing listens there, as a closed TCP port), with a hint naming the path,
// for every kind that dials a socket path: mysql, postgres, redis.
func TestUnixSocketNothingListens(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if err := os.Mkdir(missing, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mysqld.sock", ".s.PGSQL.5432", "redis.sock"} {
		ln, err := net.Listen("unix", filepath.Join(stale, name))
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		_ = ln.Close()
	}
	for _, tc := range []struct{ kind, url, socket string }{
		{"mysql", "app:s3cr3t-pw@unix(%s/mysqld.sock)/orders", "mysqld.sock"},
		{"postgres", "postgres://app:s3cr3t-pw@/orders?host=%s", ".s.PGSQL.5432"},
		{"redis", "unix://:s3cr3t-pw@%s/redis.sock", "redis.sock"},
	} {
		for _, c := range []struct{ dir, hint string }{{missing, "no unix socket at "}, {stale, "nothing listens at the unix socket "}} {
			t.Run(tc.kind+" "+filepath.Base(c.dir), func(t *testing.T) {
				ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(map[string]any{"url": fmt.Sprintf(tc.url, c.dir)})}, generousTimeout)
				err, _ := runCheck(t, ch)
				assertAnswer(t, ch, err, checks.Refused, c.hint+filepath.Join(c.dir, tc.socket), "s3cr3t")
			})
		}
	}
	// A directory or a regular file where the socket should be: Linux refuses the connect as it refuses
	// one to a socket no one holds, which the hint said ("one that stopped and left it behind").
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ kind, url, hint string }{
		{"mysql", "app:s3cr3t-pw@unix(" + stale + ")/orders", stale + " is a directory, not a unix socket: the path in url names a directory"},
		{"redis", "unix://:s3cr3t-pw@" + stale, stale + " is a directory, not a unix socket"},
		{"mysql", "app:s3cr3t-pw@unix(" + file + ")/orders", file + " is not a unix socket (a regular file)"},
	} {
		ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(map[string]any{"url": tc.url})}, generousTimeout)
		err, _ := runCheck(t, ch)
		assertAnswer(t, ch, err, checks.Refused, tc.hint, "s3cr3t")
	}
}

// TestBuildNeverDials: building a check of any registered kind, aimed at a proxy, and closing it while
// nothing runs makes no connection (start-up never depends on a dependency); goleak in TestMain checks
// that the close released everything.
func TestBuildNeverDials(t *testing.T) {
	p := checktest.NewProxy(t, "127.0.0.1:1")
	for _, k := range checks.Kinds() {
		target := strings.Replace(k.TargetExample, "127.0.0.1:9", p.Addr(), 1)
		newCheck(t, config.Check{Type: k.Name, Spec: config.SpecOf(map[string]any{k.TargetField: target})}).Close()
	}
	if n := p.Accepted(); n != 0 {
		t.Errorf("building and closing checks made %d connections; want 0", n)
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func withUser(t *testing.T, raw, user, pass string) string {
	t.Helper()
	i := strings.Index(raw, "://")
	rest := raw[i+3:]
	if at := strings.Index(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	return raw[:i+3] + user + ":" + pass + "@" + rest
}

func withDB(t *testing.T, raw, db string) string {
	t.Helper()
	base, query, _ := strings.Cut(raw, "?")
	base = base[:strings.LastIndex(base, "/")+1] + db
	if query != "" {
		return base + "?" + query
	}
	return base
}

func withParams(t *testing.T, raw, params string) string {
	t.Helper()
	base, _, _ := strings.Cut(raw, "?")
	return base + "?" + params
}

func hostOnly(t *testing.T, raw string) string {
	h, _, _ := net.SplitHostPort(checktest.HostPort(t, raw))
	return h
}

func portOnly(t *testing.T, raw string) string {
	_, p, _ := net.SplitHostPort(checktest.HostPort(t, raw))
	return p
}

// garbageServer is a server of another protocol: it writes banner as soon as it accepts a connection,
// then reads and drops what the client sends, keeping the connection open until the client closes it.
func garbageServer(t *testing.T, banner string) string {
	t.Helper()
	return checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = c.Write([]byte(banner))
		_, _ = io.Copy(io.Discard, c)
	})
}

// echoServer writes first, then sends back whatever the client sends, keeping the connection open until
// the client closes it.
func echoServer(t *testing.T, first string) string {
	t.Helper()
	return checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = c.Write([]byte(first))
		_, _ = io.Copy(c, c)
	})
}

// pgError is a Postgres ErrorResponse message.
func pgError(severity, code, msg string) []byte {
	var body []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', severity}, {'V', severity}, {'C', code}, {'M', msg}} {
		body = append(body, f.k)
		body = append(body, f.v...)
		body = append(body, 0)
	}
	body = append(body, 0)
	n := len(body) + 4
	return append([]byte{'E', byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// TestHTTPRedirectTargetDown: a redirect followed to a server that refuses is refused, with a hint that
// names where the redirect went; the class's own hint asked whether host and port in the url were right,
// of the url that had answered. A failure at the url itself keeps the class's hint.
func TestHTTPRedirectTargetDown(t *testing.T) {
	closed := checktest.ClosedAddr(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+closed+"/health?token=s3cr3t", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/healthz", "follow_redirects": true})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Refused, "the URL in url answered with a redirect, followed to http://"+closed+", which failed", "s3cr3t")
	ch = newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + closed + "/healthz", "follow_redirects": true})}, generousTimeout)
	err, _ = runCheck(t, ch)
	assertAnswer(t, ch, err, checks.Refused, "nothing listens there yet: is the dependency running, and are host and port in", "s3cr3t")
}

// TestHTTPRedirectKeepsHeadersHome: with follow_redirects, the configured headers (secrets: a token in
// X-Api-Key or Authorization) go only to the scheme, host and port of the url. net/http copied every
// header to each hop and dropped Authorization only for another host name: X-Api-Key went to any host a
// redirect named, and Authorization too to another port or scheme of the same host (https to http: in
// clear). A redirect within the url's origin still carries them.
func TestHTTPRedirectKeepsHeadersHome(t *testing.T) {
	var leaked atomic.Value
	leaked.Store("")
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Api-Key") + r.Header.Get("Authorization"); v != "" {
			leaked.Store(r.Host + ": " + v)
		}
		if r.URL.Query().Has("deny") {
			http.Error(w, "no", http.StatusUnauthorized)
		}
	})
	otherPort := httptest.NewServer(record)
	t.Cleanup(otherPort.Close)
	otherHost := httptest.NewUnstartedServer(record)
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		otherHost.Listener = ln
	}
	otherHost.Start()
	t.Cleanup(otherHost.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "s3cr3t-key" || r.Header.Get("Authorization") != "Bearer s3cr3t-token" {
			http.Error(w, "no", http.StatusUnauthorized)
		}
	})
	origin, secure, caFile := serveHTTPAndHTTPS(t, mux)
	headers := map[string]string{"X-Api-Key": "s3cr3t-key", "Authorization": "Bearer s3cr3t-token"}
	check := func(from *httptest.Server, to string) *checks.Check {
		spec := map[string]any{"url": from.URL + "/to?u=" + url.QueryEscape(to), "follow_redirects": true, "headers": headers}
		if from == secure {
			spec["tls"] = config.TLS{CAFile: caFile}
		}
		return newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(spec)}, generousTimeout)
	}

	err, _ := runCheck(t, check(origin, "/home"))
	assertClass(t, err, "") // the url's own origin: the headers follow
	for _, tc := range []struct {
		name string
		from *httptest.Server
		to   string
	}{
		{"another port", origin, otherPort.URL + "/"},
		{"another host", origin, otherHost.URL + "/"},
		{"https to http", secure, otherPort.URL + "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaked.Store("")
			err, _ := runCheck(t, check(tc.from, tc.to))
			assertClass(t, err, "")
			if v := leaked.Load().(string); v != "" {
				t.Errorf("a configured header went to the redirect's target %s", v)
			}
			err, _ = runCheck(t, check(tc.from, tc.to+"?deny&token=s3cr3t-q"))
			assertClass(t, err, checks.Auth) // the target's 401: it was not sent the headers
			if s := err.Error(); !strings.Contains(s, "not sent") || strings.Contains(s, "s3cr3t") {
				t.Errorf("error %q: want the headers said not sent, and no secret", s)
			}
		})
	}
}

// TestHTTPRedirectSendsNoReferer: a followed redirect does not tell its target the url it came from.
// net/http sets Referer to the previous hop's URL, query included: a secret parameter of the url
// (api_key=) went to whatever host the redirect named.
func TestHTTPRedirectSendsNoReferer(t *testing.T) {
	var referer atomic.Value
	referer.Store("")
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { referer.Store(r.Header.Get("Referer")) }))
	t.Cleanup(target.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/healthz", http.StatusFound)
	}))
	t.Cleanup(origin.Close)
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": origin.URL + "/healthz?api_key=s3cr3t-key", "follow_redirects": true})}, generousTimeout)
	err, _ := runCheck(t, ch)
	assertClass(t, err, "")
	if v := referer.Load().(string); v != "" {
		t.Errorf("the redirect's target got Referer %q; want none", v)
	}
}

// TestHTTPFollowsFiveRedirects: follow_redirects follows at most 5 redirects, as the README says: a chain
// of exactly 5 reaches its target and passes, and only a sixth is bad_response. The 5th was refused, so a
// chain of 5 failed "stopped after 5 redirects" with 4 followed.
func TestHTTPFollowsFiveRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if err != nil {
			return // the target: 200
		}
		next := "/ok"
		if n > 1 {
			next = "/r/" + strconv.Itoa(n-1)
		}
		http.Redirect(w, r, next, http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		redirects int
		want      checks.Class
	}{{5, ""}, {6, checks.BadResponse}} {
		ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/r/" + strconv.Itoa(c.redirects), "follow_redirects": true})}, generousTimeout)
		err, _ := runCheck(t, ch)
		if checks.ClassOf(err) != c.want {
			t.Errorf("a chain of %d redirects: %v; want class %q", c.redirects, err, c.want)
		}
	}
}

// TestHTTPUnexpectedStatusKeepsConnection: a run that fails on its status keeps its connection for the
// next run when the server gave the body's length (read, not waited for past it), and a body of
// declared length that stalls still ends the run with its status, not a timeout.
func TestHTTPUnexpectedStatusKeepsConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "{")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/healthz"})}, generousTimeout)
	for range 3 {
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.NotReady)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 runs answered 503; want 1, kept", n)
	}
	ch = newCheck(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/stall"})})
	err, _ := runCheck(t, ch)
	assertClass(t, err, checks.NotReady)
}

// TestHTTPLargeBodyKeepsConnection: an answer longer than what the check reads (64 KiB) is read to its
// end, up to 1 MiB, so its connection is kept: each run of a check of a 200 KB page opened a new one.
// A longer answer still passes, on a connection of its own.
func TestHTTPLargeBodyKeepsConnection(t *testing.T) {
	var conns atomic.Int32
	page := strings.Repeat("x", 200<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := 0; i < len(page); i += 10 << 10 {
				_, _ = io.WriteString(w, page[i:i+10<<10])
				w.(http.Flusher).Flush()
			}
		case "/huge":
			w.Header().Set("Content-Length", strconv.Itoa(2<<20))
			_, _ = io.WriteString(w, strings.Repeat("x", 2<<20))
		default:
			_, _ = io.WriteString(w, page) // with a Content-Length
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	for _, path := range []string{"/page", "/chunked"} {
		conns.Store(0)
		ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + path, "body_contains": "xxx"})}, generousTimeout)
		for range 3 {
			if err, _ := runCheck(t, ch); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("%s: %d connections for 3 runs of a 200 KB answer; want 1, kept", path, n)
		}
	}
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/huge"})}, generousTimeout)
	if err, _ := runCheck(t, ch); err != nil {
		t.Errorf("/huge: %v", err)
	}
}

// TestHTTPKeptConnectionClosedUnanswered: a server that closes a kept connection when the next run's
// request arrives (its keep-alive timeout running out as the request goes) fails no run: the request is
// sent once more on a fresh connection. net/http does that itself for a GET only: a POST check failed
// reset. A server that closes every connection unanswered, fresh ones too, still fails reset.
func TestHTTPKeptConnectionClosedUnanswered(t *testing.T) {
	serve := func(answered int) string { // answers the first answered requests of each connection
		return checktest.Serve(t, func(conn net.Conn) {
			br := bufio.NewReader(conn)
			for i := 0; ; i++ {
				req, err := http.ReadRequest(br)
				if err != nil || i >= answered {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
					return
				}
			}
		})
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + serve(1) + "/healthz", "method": method})}, generousTimeout)
			for i := range 3 {
				if err, _ := runCheck(t, ch); err != nil {
					t.Fatalf("run %d: %v; want pass (the kept connection closed unanswered: sent again on a fresh one)", i+1, err)
				}
			}
			ch = newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + serve(0) + "/healthz", "method": method})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.Reset)
		})
	}
}

// TestHTTPConfigErrors: a configuration no run could pass is refused at once: body_contains with method
// HEAD, whose answer has no body (every run failed bad_response, "does not contain"); an expect_status
// of 1xx, which net/http reads past (100, 103) or after which the connection is another protocol (101); a
// Host header net/http would replace with none.
func TestHTTPConfigErrors(t *testing.T) {
	assertConfigErrors(t, "api", "http", []configCase{
		{"expect_status 100", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://api.internal/healthz", "expect_status": []int{200, 100}})}, "100 is an informational (1xx) status"},
		{"expect_status 101", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://api.internal/healthz", "expect_status": []int{101}})}, "101 is an informational (1xx) status"},
		{"body_contains with HEAD", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://api.internal/healthz", "method": "head", "body_contains": "ok"})}, "method HEAD has no body"},
		// net/http sends no Host at all for one it cannot send (RFC 9112 allows an empty one): each run asked
		// whatever the server's default virtual host is, without a word.
		{"a Host header that is no host", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://10.0.0.7/healthz", "headers": map[string]string{"Host": "api.internal/s3cr3t"}})}, "header Host: not a host name or host:port"},
		{"a Host header with a space", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://10.0.0.7/healthz", "headers": map[string]string{"host": "api internal"}})}, "header host: not a host name or host:port"},
		// A plaintext check its writer believes verified: accepted without a word, as redis:// and
		// amqp:// with a block are not.
		{"a tls block on http://", config.Check{Spec: config.SpecOf(map[string]any{"url": "http://api.internal/healthz", "tls": config.TLS{}})}, "tls: applies to https:// URLs (and, with follow_redirects, to a redirect to one); this one is http:// (no TLS): write https://, or remove the block"},
	})
	// With follow_redirects the block serves a redirect to https://.
	c := config.NewCheck("api", "http", "test", config.NewDefaults())
	c.Spec = config.SpecOf(map[string]any{"url": "http://api.internal/healthz", "follow_redirects": true, "tls": config.TLS{ServerName: "api"}})
	ch, err := checks.New(c)
	if err != nil {
		t.Fatalf("http:// with follow_redirects and a tls block: %v", err)
	}
	ch.Close()
}

// TestHTTPStatusClasses: an unexpected status is classed as gRPC maps HTTP statuses: credentials refused
// (401, 403) auth, a dependency or the gateway in front of it that cannot serve now (429, 502, 503, 504)
// not_ready, any other bad_response; each with its hint. They were all bad_response, which `check` and
// wait's progress lines could not tell from a wrong URL.
func TestHTTPStatusClasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	for code, want := range map[int]checks.Class{401: checks.Auth, 403: checks.Auth, 429: checks.NotReady, 502: checks.NotReady,
		503: checks.NotReady, 504: checks.NotReady, 500: checks.BadResponse, 404: checks.BadResponse, 400: checks.BadResponse} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			err, _ := runCheck(t, newCheck(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + "/" + strconv.Itoa(code)})}))
			assertClass(t, err, want)
			switch want {
			case checks.Auth:
				assertHint(t, err, "check the credentials the check sends")
			case checks.NotReady:
				assertHint(t, err, "it should clear by itself")
			}
		})
	}
}

// serveHTTPAndHTTPS serves h over plain HTTP and over TLS, and writes the TLS server's certificate as a
// CA file for tls.ca_file.
func serveHTTPAndHTTPS(t *testing.T, h http.Handler) (plain, secure *httptest.Server, caFile string) {
	t.Helper()
	plain = httptest.NewServer(h)
	t.Cleanup(plain.Close)
	secure = httptest.NewTLSServer(h)
	t.Cleanup(secure.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return plain, secure, caFile
}

// TestHTTPStreamReset: over HTTP/2 a server whose handler fails, or a proxy whose backend went away,
// resets the request's stream (RST_STREAM INTERNAL_ERROR), before the status or in the body, where over
// HTTP/1 it closes the connection: a reset, with a hint that says so, as over HTTP/1. It was class
// unknown ("stream error: stream ID 3; INTERNAL_ERROR; received from peer"). It is the server's answer
// on a sound connection, not a kept connection it closed: the request is not sent again.
func TestHTTPStreamReset(t *testing.T) {
	pki := newPKI(t)
	var requests, answered atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= answered.Load() {
			_, _ = io.WriteString(w, "ok")
			return
		}
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "ok")
			w.(http.Flusher).Flush()
		}
		panic(http.ErrAbortHandler) // net/http's server resets the stream
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, path := range []string{"/status", "/body"} {
		t.Run(path, func(t *testing.T) {
			requests.Store(0)
			answered.Store(1) // the first run passes and keeps its connection; the second's stream is reset on it
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": srv.URL + path + "?token=s3cr3t",
				"tls": config.TLS{CAFile: pki.ca, ServerName: "localhost"}})}, generousTimeout)
			assertClass(t, runErr(t, ch), "")
			err := runErr(t, ch)
			assertAnswer(t, ch, err, checks.Reset, "reset the request's HTTP/2 stream", "s3cr3t")
			if n := requests.Load(); n != 2 {
				t.Errorf("%d requests for 2 runs; want 2: a stream the server reset is not sent again", n)
			}
		})
	}
}

// serveHTTPAnswer answers each connection's first HTTP request with answer, written as it is, and keeps
// the connection until the client closes it; it returns the server's address.
func serveHTTPAnswer(t *testing.T, answer string) string {
	return checktest.Serve(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, answer)
		_, _ = io.Copy(io.Discard, c) // until the client closes
	})
}

// TestHTTPMalformedAnswer: an answer whose status line and headers read as HTTP but whose body cannot be
// (a Content-Length that is not a number, two that differ, a Transfer-Encoding net/http does not read, a
// broken chunked body) is bad_response with a hint that says so, not unknown ("unclassified failure"): a
// broken server, or a proxy in front of it. An unexpected status still says it first.
func TestHTTPMalformedAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		want         checks.Class
	}{
		{"Content-Length not a number", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok", checks.BadResponse},
		{"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", checks.BadResponse},
		{"a Transfer-Encoding not chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok", checks.BadResponse},
		{"a chunk length not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", checks.BadResponse},
		{"a chunk without its line ending", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", checks.BadResponse},
		{"503, then a broken chunk", "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", checks.NotReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + serveHTTPAnswer(t, tc.answer) + "/healthz?token=s3cr3t",
				"body_contains": "ok"})}, generousTimeout)
			err, took := runCheck(t, ch)
			hint := ""
			if tc.want == checks.BadResponse {
				hint = "its body cannot be read"
			}
			assertAnswer(t, ch, err, tc.want, hint, "s3cr3t")
			if took > generousTimeout/2 {
				t.Errorf("run took %s; want it to end at the answer", took)
			}
		})
	}
}

// TestHTTPMalformedHeaderLineNotQuoted: a header line net/http cannot read is quoted in its error, whole:
// a server that sends a request's header back without its colon ("X-Api-Key VALUE"), in its headers or
// its trailers, had the check's secret shown. The line's name is kept, what follows it is not.
func TestHTTPMalformedHeaderLineNotQuoted(t *testing.T) {
	for _, tc := range []struct{ name, answer string }{
		{"missing colon", "HTTP/1.1 200 OK\r\nX-Api-Key s3cr3t\r\n\r\n"},
		{"a value with a control byte", "HTTP/1.1 200 OK\r\nX-Echo: Basic s3cr3t\x01\r\n\r\n"},
		{"a first line that begins with a space", "HTTP/1.1 200 OK\r\n s3cr3t\r\n\r\n"},
		{"a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Api-Key s3cr3t\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + serveHTTPAnswer(t, tc.answer) + "/healthz",
				"headers": map[string]string{"X-Api-Key": "s3cr3t"}})}, generousTimeout)
			err, _ := runCheck(t, ch)
			assertAnswer(t, ch, err, checks.BadResponse, "", "s3cr3t")
			if !strings.Contains(err.Error(), "malformed MIME header") {
				t.Errorf("%v; want net/http's words for the line", err)
			}
		})
	}
}

// TestHTTPUnaskedSwitchingProtocols: a server that answers the check's request (which asks for no
// upgrade) with 101 and keeps the connection, as a WebSocket endpoint behind a proxy that upgrades
// regardless, fails bad_response at the answer. The 101's body is the connection itself, which no
// deadline of the run bounds: the run read it until the server closed, past its timeout.
func TestHTTPUnaskedSwitchingProtocols(t *testing.T) {
	addr := serveHTTPAnswer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	ch := newCheckTimeout(t, config.Check{Type: "http", Spec: config.SpecOf(map[string]any{"url": "http://" + addr + "/healthz?token=s3cr3t"})}, generousTimeout)
	err, took := runCheck(t, ch)
	assertAnswer(t, ch, err, checks.BadResponse, "101", "s3cr3t")
	if took > generousTimeout/2 { // the server keeps the connection for 30 s
		t.Errorf("run took %s; want it to end at the answer (timeout %s)", took, generousTimeout)
	}
}

// TestServerFirstNoGreeting: a check of a protocol whose server speaks first (MySQL's handshake, NATS's
// INFO) pointed at a port whose server waits for the client (PostgreSQL's: mysql:// to 5432) times out,
// each waiting for the other. The hint says the greeting never came and what that may mean; it read
// "connected, but no answer", as for a server that hangs after its greeting. A client-first kind at the
// same port keeps that hint, and so does a run on a kept connection (no greeting to wait for).
func TestServerFirstNoGreeting(t *testing.T) {
	t.Parallel() // each run waits for its timeout
	silent := checktest.Serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	for _, tc := range []struct {
		kind, url string
		greeting  bool
	}{
		{"mysql", "mysql://app@" + silent + "/orders", true},
		{"nats", "nats://" + silent, true},
		{"postgres", "postgres://app@" + silent + "/app?sslmode=disable", false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			ch := newCheckTimeout(t, config.Check{Type: tc.kind, Spec: config.SpecOf(map[string]any{"url": tc.url})}, 300*time.Millisecond)
			err, _ := runCheck(t, ch)
			assertClass(t, err, checks.Timeout)
			h := ch.Hint(err)
			if got := strings.Contains(h, "not even the greeting"); got != tc.greeting || !strings.Contains(h, "connected, but no answer") {
				t.Errorf("hint %q; want it to say the greeting never came: %v", h, tc.greeting)
			}
		})
	}
	t.Run("kept connection", func(t *testing.T) {
		t.Parallel()
		p := checktest.NewProxy(t, checktest.HostPort(t, checktest.MySQLURL(t)))
		ch := newCheckTimeout(t, urlCheck(t, "mysql", checktest.MySQLURL(t))(p.Addr()), 300*time.Millisecond)
		assertClass(t, runUntilPass(t, ch), "")
		p.Set(checktest.StallKept)
		err, _ := runCheck(t, ch)
		assertClass(t, err, checks.Timeout)
		if h := ch.Hint(err); strings.Contains(h, "greeting") {
			t.Errorf("hint %q for a kept connection that stalled; want no word of a greeting", h)
		}
	})
}
