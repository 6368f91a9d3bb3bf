package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/healthgate/healthgate/config"
)

// A mysql check speaks to MySQL and MariaDB through go-sql-driver/mysql, the driver nearly every Go
// program that uses MySQL links (docs/design.md §8: the dependency's field-standard client), behind
// database/sql's pool. The default run is one SHOW GLOBAL VARIABLES round trip, which reads read_only
// (and super_read_only and innodb_read_only where the server has them: MariaDB has no super_read_only)
// without failing on a variable the server lacks; with max_replication_lag, one more statement reads
// the replica status, spelled as the server spells it. On a Galera node (wsrep_on), one more statement
// reads wsrep_ready: a node out of the cluster's primary component still answers SHOW and SET, and
// refuses everything else (1047).

// mysqlStatusQuery reads the read-only switches and the server's version (which says MariaDB or MySQL,
// and so how to ask for the replica status).
const mysqlStatusQuery = "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'super_read_only', 'innodb_read_only', 'version', 'wsrep_on', 'wsrep_reject_queries')"

// mysqlWsrepQuery reads a Galera node's state (MariaDB Galera Cluster, Percona XtraDB Cluster).
const mysqlWsrepQuery = "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state', 'wsrep_local_state_comment')"

// wsrepSynced is wsrep_local_state of a node synced with its cluster: 1 is Joining, 2 Donor/Desynced, 3
// Joined (catching up), 4 Synced.
const wsrepSynced = "4"

// mysqlWsrepSyncHint is the hint for a Galera node that takes queries but is not synced with its cluster.
const mysqlWsrepSyncHint = "the Galera node is not synced with its cluster: a donor (giving a state transfer to a joining node, or desynced with wsrep_desync, as a backup tool does) or a node still catching up (Joined); its data may lag the cluster's, and during an rsync or mysqldump state transfer it blocks writes. It is ready again when wsrep_local_state_comment reads Synced: Galera's clustercheck and ProxySQL take such a node out of rotation the same way"

// mysqlWsrepHint is the hint for a Galera node that does not take application queries.
const mysqlWsrepHint = "the Galera node is not ready for application use (not in the cluster's primary component, or still joining; or taken out of service, wsrep_reject_queries): it refuses queries (1047) until then; see wsrep_cluster_status, wsrep_local_state_comment and wsrep_reject_queries on it, and the cluster's other nodes"

type mysqlCheck struct {
	db       *sql.DB // shared by the checks of one target (shared.go)
	watch    *dialWatch
	greeting *mysqlGreeting
	life     *clientLife
	release  func()
	query    string
	writable bool
	maxLag   time.Duration
	schema   *schemaCheck
	// setParams are the url's parameters the driver does not know, sorted: it sends them as one
	// statement, SET name = value, ..., on every new connection. secretParams: one of them is named like
	// a secret, so the server's answer to that statement, which can quote it, is not shown.
	setParams    []string
	secretParams bool
	// deniedHint is the hint for an access denied (1045): MariaDB refuses a plaintext connection that
	// require_secure_transport or a user's REQUIRE SSL forbids, and a missing client certificate for
	// a user created REQUIRE X509, in the same words as a wrong password.
	deniedHint string
	// plaintextParam: the URL says tls=false, which a server that takes TLS connections only refuses.
	plaintextParam bool
	// readTimeout is the driver's read deadline when it is the URL's readTimeout, shorter than the check's
	// timeout; 0 when it is the check's timeout.
	readTimeout time.Duration
	// replicaStmt is the replica status statement that last worked on this server (0: not known yet,
	// then one of the replicaStatements); a server that refuses SHOW REPLICA STATUS (MySQL before
	// 8.0.22) is asked SHOW SLAVE STATUS from then on.
	replicaStmt atomic.Int32
}

// replicaStatements, by preference: MariaDB's lists every replication connection (multi-source);
// MySQL 8.0.22+ renamed SHOW SLAVE STATUS (Seconds_Behind_Master) to SHOW REPLICA STATUS
// (Seconds_Behind_Source), and 8.4 dropped the old name.
var replicaStatements = []string{"", "SHOW ALL SLAVES STATUS", "SHOW REPLICA STATUS", "SHOW SLAVE STATUS"}

const (
	stmtMariaDB = 1
	stmtReplica = 2
	stmtSlave   = 3
)

// buildMySQL builds the pool and, with migrations, the schema read; every error of both at once.
// mysqlSpec is a mysql check's own configuration (config.Check.Spec, decoded): postgres's fields.
type mysqlSpec struct {
	URL               string        `yaml:"url" secret:"true" schema:"minLength=1,form=mysql-url"`
	Query             string        `yaml:"query" schema:"minLength=1"`
	Writable          bool          `yaml:"writable"`
	MaxReplicationLag time.Duration `yaml:"max_replication_lag"`
	// Migrations: the schema version this release needs.
	Migrations config.Migrations `yaml:"migrations" schema:"required=tool|version" desc:"Fail with reason schema until the migration tool's table records this version (README \"Migrations\"); healthgate validates the version against the tool." desc.table:"The tool's table, optionally database.table; default: the tool's own (liquibase: DATABASECHANGELOG)."`
	// TLS: a written block (even tls: {}) makes TLS required and verified.
	TLS config.TLS `yaml:"tls"`
}

// mysqlKeyValueInDB finds KEY=VALUE words in a database name (a libpq habit in a MySQL DSN).
var mysqlKeyValueInDB = regexp.MustCompile(`\s[A-Za-z_]+\s*=`)

func buildMySQL(c config.Check, s *mysqlSpec) (prober, string, config.Errors) {
	schema, errs := newSchemaCheck(c, s.Migrations, mysqlDialect)
	cfg, err := parseMySQL(s.URL)
	if err != nil {
		errs = append(errs, c.Src.Errorf("url", "%s", err))
	}
	if cfg != nil && mysqlKeyValueInDB.MatchString(cfg.DBName) {
		// libpq's key=value words after the database name (user:pw@tcp(db)/orders password=...): the
		// driver takes them as part of the name, which every output would then show. Not quoted.
		errs = append(errs, c.Src.Errorf("url", "the database name holds KEY=VALUE words after a space: a MySQL DSN takes parameters after a ? (user:password@tcp(host:3306)/db?param=value), and the password in the user info"))
	}
	if cfg != nil {
		for _, k := range slices.Sorted(maps.Keys(cfg.Params)) {
			if strings.EqualFold(k, "password") {
				// SET PASSWORD = 'auth_string' sets the current user's password (MySQL 5.7 and later).
				errs = append(errs, c.Src.Errorf("url", "the parameter %s is not one of the driver's: the driver would send it to the server as SET %s = ... on every new connection, which changes the user's password; write the password in the URL's user info (mysql://user:password@host:3306/db, or user:password@tcp(host:3306)/db)", k, k))
			} else if problem := mysqlSetProblem(k, cfg.Params[k]); problem != "" {
				errs = append(errs, c.Src.Errorf("url", "%s", problem))
			}
		}
	}
	withTLS := tlsWritten(c, s.TLS)
	if withTLS && cfg != nil {
		errs = append(errs, mysqlTLS(c, s.TLS, cfg)...)
	}
	if len(errs) > 0 {
		return nil, "", errs
	}
	// The pool is shared by every check of this URL, TLS block and timeout (the driver's timeouts are
	// the pool's): their own settings (query, writable, max_replication_lag, migrations) are per run.
	// The block's part holds the contents of the files it names, so a check built after a certificate
	// was renewed does not join a pool built with the old one.
	tlsPart := ""
	if withTLS {
		tlsPart = "tls: " + tlsKey(s.TLS)
	}
	key := keyOf("mysql", s.URL, c.Timeout.String(), tlsPart)
	// The driver's read deadline is the check's timeout, as openMySQL sets it, unless the URL's
	// readTimeout is shorter: 0 then, since a read that ran past the check's own is the run's timeout.
	var readTimeout time.Duration
	if cfg.ReadTimeout > 0 && cfg.ReadTimeout < c.Timeout {
		readTimeout = cfg.ReadTimeout
	}
	sp, release, err := share(key, func() (*mysqlPool, func(), error) {
		sp := &mysqlPool{life: newClientLife()}
		db, err := openMySQL(cfg, c.Timeout, &net.Dialer{KeepAlive: 5 * time.Minute}, &sp.watch, &sp.greeting)
		if err != nil {
			sp.life.end()
			return nil, nil, err
		}
		sp.db = db
		return sp, func() { sp.life.end(); sp.killOrphans(c.Timeout); _ = db.Close() }, nil
	})
	if err != nil {
		return nil, "", config.Errors{c.Src.Errorf("url", "cannot build a connection pool: %s", dsnCause(err, ""))}
	}
	p := &mysqlCheck{db: sp.db, watch: &sp.watch, greeting: &sp.greeting, life: sp.life, release: release, query: strings.TrimSpace(s.Query), writable: s.Writable, maxLag: s.MaxReplicationLag, schema: schema,
		deniedHint: mysqlDeniedHint(cfg.TLS, cfg.TLSConfig), plaintextParam: cfg.TLSConfig == "false", setParams: slices.Sorted(maps.Keys(cfg.Params)), readTimeout: readTimeout}
	p.secretParams = slices.ContainsFunc(p.setParams, isSecretName)
	return p, mysqlTarget(cfg), nil
}

// mysqlVariable is the name of a system variable, as a parameter the driver does not know must be: it
// sends it as SET NAME = VALUE.
var mysqlVariable = regexp.MustCompile(`^@{0,2}[A-Za-z0-9_$]+(?:\.[A-Za-z0-9_$]+)?$`)

// mysqlSetProblem says why the driver's SET NAME = VALUE for a URL parameter it does not know would do
// more than set that variable, or "": a name that is not a variable's (password for root, ...) or a
// value with a ',' or ';' outside quotes and parentheses, where another assignment or statement starts
// (sql_mode=DEFAULT,password=PASSWORD('x'), which MariaDB runs: it changed the user's password on every
// new connection). A value is never quoted (it may be a secret), nor is a name that is not a variable's.
func mysqlSetProblem(name, value string) string {
	if !mysqlVariable.MatchString(name) {
		return "a parameter the driver does not know has a name that is not a system variable's: the driver would send it to the server as SET NAME = VALUE on every new connection; remove it, or write the variable's name alone (sql_mode=..., time_zone=...)"
	}
	var quote rune
	depth := 0
	for _, r := range value {
		switch {
		case quote != 0:
			if r == quote {
				// A doubled quote ('it''s') closes and reopens: the same. A backslash does not escape
				// it: the server reads 'a\',b' as two assignments under NO_BACKSLASH_ESCAPES, and a
				// value that needs one can double the quote instead.
				quote = 0
			}
		case r == '\'', r == '"', r == '`':
			quote = r
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ';' || r == ',' && depth <= 0:
			return fmt.Sprintf("the value of the parameter %s holds a %q outside quotes: the driver sends it as SET %s = VALUE on every new connection, where that %q starts another %s; quote a value that holds one (sql_mode='A,B')",
				name, r, name, r, map[rune]string{',': "assignment", ';': "statement"}[r])
		}
	}
	return ""
}

// mysqlTLS applies a check's tls block to its parsed URL: TLS required (no plaintext fallback) and
// verified unless insecure_skip_verify, with the block's CA, client certificate and server name (by
// default the URL's host). The *tls.Config goes into the driver's Config itself: the driver's other
// way, RegisterTLSConfig, is a process-wide registry of names, which a reload would have to keep in
// step with the checks. The URL's own tls parameter says the same as a block only as tls=true (TLS,
// verified: the block says with what, and a URL kept in a Secret may carry it); any other value says
// something else, and the two together are refused, naming both.
func mysqlTLS(c config.Check, t config.TLS, cfg *mysql.Config) config.Errors {
	var errs config.Errors
	switch cfg.TLSConfig {
	case "", "true":
	case "false", "skip-verify", "preferred":
		errs = append(errs, c.Src.Errorf("tls", "a tls block and the url's tls=%s say different things: the block makes TLS required and verified (insecure_skip_verify: true to skip the verification); remove tls=%s from the url, or remove the block", cfg.TLSConfig, cfg.TLSConfig))
	default: // a name given to the driver's RegisterTLSConfig (never by healthgate)
		errs = append(errs, c.Src.Errorf("tls", "a tls block and the url's tls parameter both configure TLS: remove the parameter from the url"))
	}
	if cfg.Net != "tcp" {
		errs = append(errs, c.Src.Errorf("tls", "applies to a server reached over TCP (mysql://host:3306 or tcp(host:3306)); this DSN connects by a unix socket"))
	}
	tc, tlsErrs := clientTLS(t)
	errs = append(errs, tlsErrs...)
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
	}
	cfg.TLS = tc
	cfg.AllowFallbackToPlaintext = false
	return errs
}

// mysqlPool is the shared part of mysql checks: the pool, and what its dials tell the runs waiting on it.
type mysqlPool struct {
	db       *sql.DB
	watch    dialWatch
	greeting mysqlGreeting
	life     *clientLife
}

// killOrphans stops, as the pool closes, the queries its runs gave up on that no next run will stop (a
// one-shot check, a wait that ended): each `healthgate check` of an incident left one more running. It
// takes at most timeout, and at most a second: the process is on its way out.
func (sp *mysqlPool) killOrphans(timeout time.Duration) {
	t := &sp.greeting.threads
	t.mu.Lock()
	n := len(t.orphans)
	t.mu.Unlock()
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, time.Second))
	defer cancel()
	conn, err := sp.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	t.kill(ctx, conn)
}

// mysqlGreeting is what new connections said first, when it was not MySQL. The server speaks first: a packet header (3 bytes of length, the sequence number 0) and then the handshake's
// protocol version, 10 (every MySQL since 3.21, MariaDB, and the proxies that speak for them), or an ERR
// packet (0xff: too many connections, host blocked). Another protocol on the port (an SSH banner, an
// HTTP answer) fails there, in the first five bytes; the driver alone would read a packet length from
// the banner and wait for that many bytes until the run's timeout. The driver reports any read error
// during its handshake as ErrInvalidConn (the cause only goes to its logger), so the connection's
// verdict is kept for the run that gets that error: in the run's own mysqlConnect when the run dialled
// (the checks of a target dial at once, as at start-up: one run's new connection must not clear the
// verdict of another's before it is read), and here, for the pool's last new connection, for a run
// handed the error of a dial the pool made for it (database/sql's opener, with a context of its own).
type mysqlGreeting struct {
	notMySQL atomic.Pointer[Error]
	// readExpired is when a read on one of the pool's connections last ran past the driver's read deadline
	// (unix nanoseconds): the URL's readTimeout, shorter than the run's. The driver reports such a read as
	// ErrInvalidConn, as it does a connection closed under it, with the cause only in its log.
	readExpired atomic.Int64
	threads     mysqlThreads
}

// mysqlThreads keeps the server's thread of each of the pool's connections, and the threads whose query a
// run gave up on. The driver answers a run's deadline by closing the connection, and MySQL and MariaDB go
// on executing the query until they next write to it: a slow query (a user's query: on a table scan, or
// an overloaded server) then piles up one more copy on the server at every run, each holding a thread, a
// connection slot and its locks, where the check should be the lightest client the database has. The
// next run stops them with KILL QUERY on its own connection (a user may kill its own threads without a
// privilege), as pgx cancels a Postgres query with a cancel request.
type mysqlThreads struct {
	mu       sync.Mutex
	byDriver map[any]*mysqlGreetingConn // the pool's connections a run dialled, by their driver connection
	orphans  []uint32                   // threads of connections closed under a query, not yet killed
}

// maxMySQLOrphans bounds the threads kept for a KILL: runs that all time out while their server stalls
// leave at most this many behind, the oldest dropped first.
const maxMySQLOrphans = 4

// track returns the pool's connection under conn, and notes it when the run dialled it (own): the pool
// hands a connection to the run whose context dialled it.
func (t *mysqlThreads) track(conn *sql.Conn, own *mysqlConnect) *mysqlGreetingConn {
	var c *mysqlGreetingConn
	_ = conn.Raw(func(dc any) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		if nc := own.conn; nc != nil && nc.driver == nil && !nc.closed.Load() {
			if t.byDriver == nil {
				t.byDriver = make(map[any]*mysqlGreetingConn)
			}
			nc.driver, t.byDriver[dc] = dc, nc
		}
		c = t.byDriver[dc]
		return nil
	})
	return c
}

// gaveUp notes, after a run's query timed out or was cut short (cut: a signal, serve's drain, the
// check's close), the thread of the connection it ran on, when the driver closed that connection under
// the query: the server may still be executing it.
func (t *mysqlThreads) gaveUp(c *mysqlGreetingConn, err error, cut bool) {
	if c == nil || c.thread == 0 || !c.closed.Load() || ClassOf(err) != Timeout && !cut {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.orphans) == maxMySQLOrphans {
		t.orphans = t.orphans[1:]
	}
	t.orphans = append(t.orphans, c.thread)
}

// kill stops, on conn, the queries earlier runs gave up on. What comes of it is not the run's result: a
// query that ended meanwhile is an unknown thread (1094), and a connection that fails here fails the
// run's own queries next, which classify it.
func (t *mysqlThreads) kill(ctx context.Context, conn *sql.Conn) {
	t.mu.Lock()
	orphans := t.orphans
	t.orphans = nil
	t.mu.Unlock()
	for _, id := range orphans {
		_, _ = conn.ExecContext(ctx, "KILL QUERY "+strconv.FormatUint(uint64(id), 10))
	}
}

// closed forgets a connection of the pool that closed.
func (t *mysqlThreads) closed(c *mysqlGreetingConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.driver != nil {
		delete(t.byDriver, c.driver)
	}
}

// mysqlConnect is one run's connect, carried in the context it gives the pool: whether the pool dialled
// for it, and what that connection's first bytes said, when they were not MySQL.
type mysqlConnect struct {
	dialed      atomic.Bool
	notMySQL    atomic.Pointer[Error]
	readExpired atomic.Bool // a read on that connection ran past the driver's read deadline
	// conn is the connection dialled for the run (set before the dial returns, read once the pool has
	// handed it to the run).
	conn *mysqlGreetingConn
}

type mysqlConnectKey struct{}

// mysqlDeniedHint is the hint for an access denied on connections of this TLS configuration (nil:
// plaintext) and the URL's tls parameter: "" when the generic one says it all (a client certificate is
// sent). A tls block is refused beside tls=false, skip-verify or preferred (mysqlTLS), so with one of
// those the hint says to replace the parameter with a block, not to add one; and tls=preferred may have
// fallen back to plaintext, so it does not take a client certificate to be what is missing.
func mysqlDeniedHint(tc *tls.Config, param string) string {
	switch {
	case param == "false" || param == "skip-verify" || param == "preferred":
		return mysqlDeniedURLTLSHint
	case tc == nil:
		return mysqlDeniedPlainHint
	case len(tc.Certificates) == 0:
		return mysqlDeniedNoCertHint
	}
	return ""
}

// Hints that name settings of the check: flagHints has their words for a target given by flag.
const (
	mysqlDeniedPlainHint  = "the credentials were rejected: check the user, password and database in %s; or the server wants TLS (require_secure_transport, a user created REQUIRE SSL): add a tls block (tls: {} for the system's CAs, or tls.ca_file)"
	mysqlDeniedNoCertHint = "the credentials were rejected: check the user, password and database in %s; a user created REQUIRE X509 (or SUBJECT, ISSUER) also needs a client certificate: tls.cert_file and tls.key_file"
	mysqlDeniedURLTLSHint = "the credentials were rejected: check the user, password and database in %s; or the server wants what the URL's tls parameter does not give: TLS (require_secure_transport, a user created REQUIRE SSL: tls=false sends none, nor tls=preferred where it fell back to plaintext) or a client certificate (REQUIRE X509: tls=skip-verify and tls=preferred send none); for that, remove the tls parameter from %s and add a tls block (tls: {} for the system's CAs, or tls.ca_file; tls.cert_file and tls.key_file for a certificate)"
	mysqlTLSOnlyHint      = "the server accepts only TLS connections (require_secure_transport): add a tls block to the check (tls: {} for the system's CAs, or tls.ca_file)"
	mysqlTLSOnlyURLHint   = "the server accepts only TLS connections (require_secure_transport): remove tls=false from %s and add a tls block to the check (tls: {} for the system's CAs, or tls.ca_file)"
)

// Hints for a query the server itself gave up on: not a fault of the SQL.
const (
	mysqlStatementTimeHint = "the server stopped the query before it finished: its time limit for a statement ran out (MariaDB max_statement_time, MySQL max_execution_time: set in %s, for the user, or on the server), the server being overloaded or the query waiting on a lock another session holds (SHOW PROCESSLIST shows who)"
	mysqlLockWaitHint      = "the query waited longer than lock_wait_timeout (a table's metadata lock) or innodb_lock_wait_timeout (a row lock), set in %s or on the server, for a lock another session holds (a migration's ALTER TABLE, LOCK TABLES, a long transaction): SHOW PROCESSLIST on the server shows who holds it"
)

const mysqlSettingHint = "the server refused the session settings the URL's parameters make: a URL parameter the driver does not know is sent as SET name = value on every new connection; remove or fix it in %s"

const mysqlNotMySQLHint = "the server answered with something that is not MySQL's handshake: is this port MySQL's or MariaDB's (3306, not the X protocol's 33060) in %s?"

// watch wraps a new connection, dialled with ctx, so that its first bytes are checked; it forgets the
// verdict of the previous one (the pool's, and the run's).
func (g *mysqlGreeting) watch(ctx context.Context, c net.Conn) net.Conn {
	g.notMySQL.Store(nil)
	own, _ := ctx.Value(mysqlConnectKey{}).(*mysqlConnect)
	if own != nil {
		own.notMySQL.Store(nil)
		own.dialed.Store(true)
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c // never: the dialer's connections are TCP or unix sockets
	}
	wc := &mysqlGreetingConn{Conn: c, sc: sc, greeting: g, own: own, greets: dialedServerFirst(ctx)}
	if own != nil {
		own.conn = wc
	}
	return wc
}

// explain turns the driver's ErrInvalidConn from a connect made with ctx into bad_response when the new
// connection's first bytes were not MySQL's: the run's own connection's, or, when the pool did not dial
// for it, the pool's last one's.
func (g *mysqlGreeting) explain(ctx context.Context, err error) error {
	if !errors.Is(err, mysql.ErrInvalidConn) {
		return nil
	}
	e := g.notMySQL.Load()
	if own, _ := ctx.Value(mysqlConnectKey{}).(*mysqlConnect); own != nil && own.dialed.Load() {
		e = own.notMySQL.Load()
	}
	if e == nil {
		return nil
	}
	return e
}

// unanswered turns the driver's ErrInvalidConn, in a run that began at start, into a timeout when a read
// on the run's connection ran past the driver's read deadline, readTimeout (the URL's, shorter than the
// run's): the server did not answer in time, where the driver's word reads as a connection closed under
// it (reset: "closed right after it opened"). The connection is the run's own when the pool dialled it for
// the run; else any of the pool's that timed out since the run began. nil for any other error.
func (g *mysqlGreeting) unanswered(ctx context.Context, start time.Time, err error, readTimeout time.Duration) error {
	if !errors.Is(err, mysql.ErrInvalidConn) {
		return nil
	}
	expired := g.readExpired.Load() >= start.UnixNano()
	if own, _ := ctx.Value(mysqlConnectKey{}).(*mysqlConnect); own != nil && own.dialed.Load() {
		expired = own.readExpired.Load()
	}
	if !expired {
		return nil
	}
	if readTimeout == 0 {
		// The check's own timeout, which the run's deadline says (timedOut): the URL has no shorter one.
		return &Error{Class: Timeout, Err: os.ErrDeadlineExceeded}
	}
	return &Error{Class: Timeout, Err: fmt.Errorf("no answer within %s (readTimeout in the URL): %w", readTimeout, mysql.ErrInvalidConn)}
}

// mysqlGreetingConn checks the first bytes the server sends. The driver reads a connection from one
// goroutine at a time, and the check is over before database/sql hands the connection to anyone.
type mysqlGreetingConn struct {
	net.Conn
	sc       syscall.Conn // the driver's idle-connection check reads the socket itself (SyscallConn)
	greeting *mysqlGreeting
	own      *mysqlConnect // the run that dialled it, if the pool dialled for a run
	greets   *trace        // that run's trace: told when the server's first byte arrives
	head     [16]byte      // the first bytes, shown when they are not MySQL
	n        int
	done     bool
	err      error
	// thread is the server's id for the connection, read from its handshake (0 until then, or when it
	// cannot be): what KILL QUERY names. hello holds the handshake's first bytes until it is read.
	thread uint32
	hello  [96]byte
	nHello int
	closed atomic.Bool // Close was called: by the driver on a deadline or an error too, without COM_QUIT
	driver any         // the driver's connection over this one, once a run has it (mysqlThreads.track)
}

func (c *mysqlGreetingConn) Close() error {
	c.closed.Store(true)
	c.greeting.threads.closed(c)
	return c.Conn.Close()
}

// readThread reads the connection id from the first packet's bytes p: a 4-byte header, the protocol
// version 10, the server's version ending in a NUL, then the id, 4 bytes little-endian.
func (c *mysqlGreetingConn) readThread(p []byte) {
	c.nHello += copy(c.hello[c.nHello:], p)
	h := c.hello[:c.nHello]
	if len(h) > 4 && h[4] != 10 {
		c.nHello = len(c.hello) // an ERR packet, or not MySQL: no id
		return
	}
	if i := bytes.IndexByte(h[min(len(h), 5):], 0); i >= 0 && len(h) >= 5+i+5 {
		c.thread = binary.LittleEndian.Uint32(h[5+i+1:])
		c.nHello = len(c.hello)
	}
}

func (c *mysqlGreetingConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

func (c *mysqlGreetingConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.greeting.readExpired.Store(time.Now().UnixNano())
		if c.own != nil {
			c.own.readExpired.Store(true)
		}
	}
	if c.nHello < len(c.hello) && n > 0 {
		c.readThread(p[:n])
	}
	if c.done || n == 0 {
		return n, err
	}
	c.greets.greetedBy()
	c.n += copy(c.head[c.n:], p[:n])
	h := c.head[:c.n]
	if (len(h) > 3 && h[3] != 0) || (len(h) > 4 && h[4] != 10 && h[4] != 0xff) ||
		(len(h) > 2 && h[0]|h[1]|h[2] == 0) {
		e := &Error{Class: BadResponse, Hint: mysqlNotMySQLHint,
			Err: fmt.Errorf("the server's first bytes %q are not a MySQL handshake", h)}
		c.err = e
		c.greeting.notMySQL.Store(e)
		if c.own != nil {
			c.own.notMySQL.Store(e)
		}
		return 0, e
	}
	c.done = c.n > 4
	return n, err
}

// openMySQL makes the pool of a parsed URL, whose connections dialer dials; it does not dial.
func openMySQL(cfg *mysql.Config, timeout time.Duration, dialer *net.Dialer, watch *dialWatch, greeting *mysqlGreeting) (*sql.DB, error) {
	// The driver's own timeouts are the check's: a dial, and each read or write of a packet, can never
	// outlast a run (the run's context bounds the whole of it as well).
	if cfg.Timeout == 0 || cfg.Timeout > timeout {
		cfg.Timeout = timeout
	}
	if cfg.ReadTimeout == 0 || cfg.ReadTimeout > timeout {
		cfg.ReadTimeout = timeout
	}
	if cfg.WriteTimeout == 0 || cfg.WriteTimeout > timeout {
		cfg.WriteTimeout = timeout
	}
	// The driver logs connection troubles to stderr on its own; every one of them is also returned,
	// and classified, by the run.
	cfg.Logger = mysql.Logger(nopLogger{})
	// The migrations read of liquibase takes arguments: interpolated client-side (the driver escapes
	// them for the connection's character set) instead of a prepare round trip per run.
	cfg.InterpolateParams = true
	// TCP keepalive is the dialer's: the driver enables it only on a bare *net.TCPConn, and the
	// connection it gets is wrapped (mysqlGreeting).
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		// The run dialled, whatever comes of the dial: a server (or a proxy) that accepts and resets
		// can have its RST land before the dialler has seen the connect complete, and the dial then
		// fails with the reset itself. Marked only once it connected, such a run read as handed a
		// pooled connection's failure and retried: two connects a run at a resetting server.
		if own, _ := ctx.Value(mysqlConnectKey{}).(*mysqlConnect); own != nil {
			own.dialed.Store(true)
		}
		c, err := watch.dial(ctx, dialer, network, addr)
		if err != nil {
			return nil, err
		}
		return greeting.watch(ctx, c), nil
	}
	if cfg.ConnectionAttributes == "" {
		cfg.ConnectionAttributes = "program_name:healthgate"
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil && cfg.InterpolateParams {
		// The driver refuses to interpolate for a multi-byte collation whose bytes can hide a quote
		// (big5, gbk, sjis...): prepared statements then.
		cfg.InterpolateParams = false
		conn, err = mysql.NewConnector(cfg)
	}
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	// At most 2 connections, kept between runs (never a connection per run when healthy), none opened
	// while building (docs/design.md §8).
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	return db, nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}

// parseMySQL reads a mysql:// URL (mysql://user:pw@host:3306/db?param=value; mariadb:// too) or the
// driver's own DSN (user:pw@tcp(host:3306)/db?param=value). Its errors never quote the string.
func parseMySQL(raw string) (*mysql.Config, error) {
	if raw == "" {
		return nil, errors.New("required: a mysql:// URL or the driver's DSN (user:password@tcp(host:3306)/database)")
	}
	scheme, _, isURL := strings.Cut(raw, "://")
	if !isURL {
		cfg, err := mysql.ParseDSN(raw)
		if err != nil && strings.HasPrefix(err.Error(), "default addr for network") {
			// The address without tcp(...): the driver took host:port for the name of a network
			// and says so in its own terms, quoting it.
			return nil, errors.New("not a valid mysql DSN: the address is written tcp(host:port): user:password@tcp(host:3306)/database (or write a URL: mysql://user:password@host:3306/database)")
		}
		if err != nil && !strings.ContainsAny(raw, "()") {
			// db:3306, app:pw@db:3306/orders: an address without its scheme, as wait-for-it takes it,
			// which the driver read as a DSN without its database's slash, or its tcp(...).
			if fixed, ok := schemeless("mysql", raw); ok {
				return nil, errors.New("not a valid mysql URL or DSN: " + noSchemeWords + fixed)
			}
		}
		query := "" // as the driver finds it: after the last '/'
		if _, rest, ok := strings.Cut(raw[strings.LastIndex(raw, "/")+1:], "?"); ok {
			query = rest
		}
		if err != nil {
			return nil, fmt.Errorf("not a valid mysql DSN (user:password@tcp(host:3306)/database?param=value): %s", dsnCause(err, query))
		}
		if err := mysqlEmptyCharset(query); err != nil {
			return nil, err
		}
		return cfg, mysqlPortProblem(cfg)
	}
	if scheme != "mysql" && scheme != "mariadb" {
		return nil, fmt.Errorf("scheme %q: write mysql://user:password@host:3306/database, or the driver's DSN user:password@tcp(host:3306)/database", scheme)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New(urlParseProblem("not a valid mysql URL", "mysql", raw, err))
	}
	if strings.Contains(u.Host, "@") {
		return nil, fmt.Errorf("the host contains '@': percent-encode the characters @ : / ? # in the user and password (@ is %s)", "%40")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("no host: write mysql://user:password@host:3306/database")
	}
	if port == "" {
		port = "3306"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(db, "@") {
		// A '/' in a password that starts with digits ends the user information at a valid port,
		// and leaves the rest of the password, up to its '@', in the path.
		return nil, fmt.Errorf("the database name contains '@': percent-encode the characters @ : / ? # in the user and password (@ is %s)", "%40")
	}
	if strings.Contains(db, "/") {
		return nil, fmt.Errorf("the path is one database name, and %q has a '/'", db)
	}
	if cutAtQuery(u) {
		return nil, errors.New("not a valid mysql URL: " + cutAtQueryWords)
	}
	// The query string is the driver's parameters (tls=true, charset=..., timeout=...): the DSN parser
	// reads them, so a URL accepts exactly what a DSN does.
	dsn := "tcp(" + net.JoinHostPort(host, port) + ")/" + url.PathEscape(db)
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("not a valid mysql URL: %s", dsnCause(err, u.RawQuery))
	}
	if err := mysqlEmptyCharset(u.RawQuery); err != nil {
		return nil, err
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	return cfg, mysqlPortProblem(cfg)
}

// mysqlEmptyCharset refuses a charset parameter that names no character set (charset=): the driver sends
// SET NAMES with nothing after it on every new connection, and the server's syntax error read as a
// failed query of the check's own. An empty one after others (a trailing comma) is tried only when they
// fail, and the server's refusal of them is the error then.
func mysqlEmptyCharset(query string) error {
	for kv := range strings.SplitSeq(query, "&") {
		if key, value, _ := strings.Cut(kv, "="); key == "charset" && strings.Trim(value, ",") == "" {
			return errors.New("the parameter charset names an empty character set: the driver would send SET NAMES without one on every new connection, which the server refuses; name one (charset=utf8mb4) or remove it")
		}
	}
	return nil
}

// mysqlPortProblem refuses a TCP port out of range, which neither net/url nor the driver's DSN parser
// does: every run would fail at the dial ("invalid port"), unclassified.
func mysqlPortProblem(cfg *mysql.Config) error {
	if cfg.Net != "tcp" {
		return nil
	}
	if _, port, err := net.SplitHostPort(cfg.Addr); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("the port must be a number from 1 to 65535")
		}
	}
	return nil
}

// dsnCause is the driver's reason in words, without the value it quotes ("invalid bool value: VALUE"): a
// value in the wrong place can be a secret. The driver does not say which parameter of query it could not
// read: each is parsed alone to find it, and named.
func dsnCause(err error, query string) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid DSN: ") {
		return msg // the driver's fixed messages, which quote nothing
	}
	reason := valueWords(err)
	switch {
	case reason != "":
	case strings.HasPrefix(msg, "invalid value / unknown config name"):
		// A name a Go program registered with the driver's RegisterTLSConfig (tls=custom), in a DSN
		// copied from it: the name means nothing to another process.
		reason = "not true, false, skip-verify or preferred (a name such as tls=custom is one a Go program registered with mysql.RegisterTLSConfig: give healthgate the CA and client certificate in the check's tls block, --set mysql.tls='{ca_file: PATH}' for --mysql)"
	default:
		reason = "unparsable"
		if i := strings.IndexAny(msg, ":'\"%"); i > 0 {
			reason = strings.TrimSpace(msg[:i])
		}
	}
	for kv := range strings.SplitSeq(query, "&") {
		key, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, err := mysql.ParseDSN("tcp(127.0.0.1:3306)/db?" + kv); err != nil {
			if len(key) > 40 || strings.ContainsAny(key, "%@:/ ") {
				key = "(not shown)"
			}
			return "parameter " + key + ": " + reason
		}
	}
	return reason
}

// mysqlTarget shows host:port/database, the part an operator needs and no credentials.
func mysqlTarget(cfg *mysql.Config) string {
	if cfg.Net == "unix" {
		return "unix(" + cfg.Addr + ")/" + cfg.DBName
	}
	return cfg.Addr + "/" + cfg.DBName
}

// probe runs on the shared pool, not cut short by the run's cancellation (the driver closes a
// connection whose query is cancelled: see clientLife).
func (p *mysqlCheck) probe(ctx context.Context) error { return p.life.detached(ctx, p.run) }

func (p *mysqlCheck) run(ctx context.Context) error {
	dialed, err := p.once(ctx)
	// A pooled connection can have died while idle (a server restart, wait_timeout): the pool drops it
	// on the error, so one retry on a fresh connection tells that apart from an outage. Not when the
	// pool dialled for this run: that connection, or its failed connect, is what the server does now,
	// and a retry would only double the connections a resetting server or proxy sees. (A connect error
	// from a dial database/sql's opener made for another run, cut by that run's deadline, is retried.)
	if err != nil && !dialed && ClassOf(err) == Reset && timeLeft(ctx) {
		_, err = p.once(ctx)
	}
	return err
}

// once makes one attempt; dialed reports whether the pool dialled a connection for it.
func (p *mysqlCheck) once(ctx context.Context) (dialed bool, err error) {
	start := time.Now()
	done := p.watch.wait(ctx)
	own := &mysqlConnect{}
	connectCtx := context.WithValue(ctx, mysqlConnectKey{}, own)
	conn, err := p.db.Conn(connectCtx)
	done(err == nil)
	if err != nil {
		if e := p.greeting.explain(connectCtx, err); e != nil {
			return own.dialed.Load(), e
		}
		if e := p.greeting.unanswered(connectCtx, start, err, p.readTimeout); e != nil {
			return own.dialed.Load(), e
		}
		err = withTLSHint(p.connectError(err))
		if e := (*Error)(nil); p.deniedHint != "" && errors.As(err, &e) && e.Class == Auth && e.Hint == "" && mysqlCode(err) == 1045 {
			e.Hint = p.deniedHint
		}
		if e := (*Error)(nil); p.plaintextParam && errors.As(err, &e) && e.Hint == mysqlTLSOnlyHint {
			// A tls block is refused beside the URL's tls=false (mysqlTLS): the parameter goes first.
			e.Hint = mysqlTLSOnlyURLHint
		}
		return own.dialed.Load(), err
	}
	defer conn.Close()
	threads := &p.greeting.threads
	nc := threads.track(conn, own)
	threads.kill(ctx, conn)
	err = p.use(ctx, conn)
	if e := p.greeting.unanswered(connectCtx, start, err, p.readTimeout); e != nil {
		err = e
	}
	threads.gaveUp(nc, err, ctx.Err() != nil)
	if sessionBound(err) {
		// The pool keeps its connections with no idle expiry: this one would fail every later run,
		// after the fix too. Dropped, the next run logs in anew.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return own.dialed.Load(), err
}

// sessionBound tells an error that holds for the session, as the login made it, and not for the
// server: a password expired at login leaves the session able only to SET PASSWORD (1820) after the
// password is changed too; the global privileges, which the replica status needs (1227), are the
// session's from its login, so a GRANT does not reach it.
func sessionBound(err error) bool {
	switch mysqlCode(err) {
	case 1820, 1227:
		return true
	}
	return false
}

// use makes the run's queries on conn.
func (p *mysqlCheck) use(ctx context.Context, conn *sql.Conn) error {
	if p.query != "" {
		rows, err := conn.QueryContext(ctx, p.query)
		if err != nil {
			return classifyMySQLQuery(err)
		}
		for rows.Next() {
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return classifyMySQLQuery(err)
		}
	}
	if (p.query == "" && p.schema == nil) || p.writable || p.maxLag > 0 {
		if err := p.status(ctx, conn); err != nil {
			return err
		}
	}
	if p.schema != nil {
		return p.schema.run(ctx, sqlReader{conn})
	}
	return nil
}

// connectError classifies a failed connect. A server error at connect that is neither the login's nor
// the server's state (classifyMySQL's query class) is the answer to the SET statement the driver sends
// for the url's parameters it does not know, and its message can quote that statement, values included
// ("near ';s3cr3t' at line 1", "can't be set to the value of 's3cr3t'"): when one of the parameters is
// named like a secret, only its number is kept, and the parameters are named instead.
func (p *mysqlCheck) connectError(err error) error {
	e := classifyMySQL(err)
	if c := mysqlCode(err); c == 1115 || c == 1273 {
		// The driver's SET NAMES for the URL's charset (and collation), sent on every new connection.
		return &Error{Class: Query, Err: err, Hint: "the server does not know the character set or collation the URL's charset (or collation) parameter names, which the driver sets on every new connection: fix or remove it in %s"}
	}
	if mysqlUnknownCollation(err) {
		return &Error{Class: Query, Err: err, Hint: "the driver does not know the collation the URL's collation parameter names, and beside charset it refuses every connection for it before the server is asked: fix or remove it in %s"}
	}
	var me *mysql.MySQLError
	if len(p.setParams) == 0 || ClassOf(e) != Query || !errors.As(err, &me) {
		return e
	}
	cause := error(me)
	if p.secretParams {
		cause = &mysql.MySQLError{Number: me.Number, SQLState: me.SQLState,
			Message: "the server refused SET " + strings.Join(p.setParams, ", ") + " (its message is not shown: it can quote the values, and a parameter's name marks a secret)"}
	}
	return &Error{Class: Query, Err: cause, Hint: mysqlSettingHint}
}

// mysqlUnknownCollation reports the driver's own refusal of the url's collation parameter: beside
// charset, a collation it has no id for fails every connection, before the server could answer 1273
// (go-sql-driver/mysql's writeHandshakeResponsePacket, an error of its own words and no type).
func mysqlUnknownCollation(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if strings.HasPrefix(err.Error(), "unknown collation: ") {
			return true
		}
	}
	return false
}

// status reads the read-only switches and, with max_replication_lag, the replica status.
func (p *mysqlCheck) status(ctx context.Context, conn *sql.Conn) error {
	rows, err := sqlReader{conn}.readRows(ctx, mysqlStatusQuery)
	if err != nil {
		return classifyMySQL(err)
	}
	vars := nameValues(rows)
	if _, ok := vars["read_only"]; !ok {
		return &Error{Class: BadResponse, Err: errors.New("the server has no read_only variable: not MySQL or MariaDB?")}
	}
	if sqlTrue(vars["wsrep_on"]) {
		if r := vars["wsrep_reject_queries"]; r != "" && !strings.EqualFold(r, "NONE") {
			// The switch that takes a Galera node out of service (for maintenance, or out of a load
			// balancer) while it stays in its cluster: it answers SHOW, and refuses the rest (1047).
			return &Error{Class: NotReady, Err: fmt.Errorf("Galera node rejects queries: wsrep_reject_queries = %s", r),
				Hint: "the Galera node was taken out of service (SET GLOBAL wsrep_reject_queries = NONE puts it back): it refuses application queries (1047)"}
		}
		if err := wsrepReady(ctx, conn); err != nil {
			return err
		}
	}
	if p.writable {
		if v := readOnlySwitch(vars); v != "" {
			e := &Error{Class: ReadOnly, Err: fmt.Errorf("server has %s = %s; writable: true needs a writable primary", v, vars[v])}
			if v == "innodb_read_only" {
				// A server started on a read-only data directory, not a replica: no primary to point at.
				e.Hint = "the server was started with innodb_read_only (its InnoDB data directory is read-only, as on read-only media or a shared copy), which is not a replica's read_only: it takes no writes until restarted without it; or point %s at the primary"
			}
			return e
		}
	}
	if p.maxLag > 0 {
		return p.replicaLag(ctx, conn, strings.Contains(strings.ToLower(vars["version"]), "mariadb"))
	}
	return nil
}

// nameValues is the rows of a SHOW VARIABLES or SHOW STATUS: each name, in lower case, to its value.
func nameValues(rows [][]*string) map[string]string {
	m := make(map[string]string, len(rows))
	for _, row := range rows {
		if len(row) >= 2 {
			m[strings.ToLower(deref(row[0]))] = deref(row[1])
		}
	}
	return m
}

// readOnlySwitch names the first read-only switch that is on, "" when none is. Not a boolean
// everywhere: MariaDB 12.0 made read_only OFF, ON, NO_LOCK or NO_LOCK_NO_ADMIN (MDEV-36425), and only
// OFF (0 on MySQL) is writable.
func readOnlySwitch(vars map[string]string) string {
	for _, v := range []string{"super_read_only", "read_only", "innodb_read_only"} {
		if val := strings.TrimSpace(vars[v]); val != "" && val != "0" && !strings.EqualFold(val, "OFF") {
			return v
		}
	}
	return ""
}

// wsrepReady fails a Galera node whose wsrep_ready is not ON: it answers SHOW and SET (and so the
// read-only switches) but refuses every other statement with 1047. It fails a node that takes queries
// but is not synced with its cluster too (a donor, a node catching up: wsrepSynced). A server with
// wsrep_on and no provider loaded has no wsrep_ready: not a cluster node, nothing to judge.
func wsrepReady(ctx context.Context, conn *sql.Conn) error {
	rows, err := sqlReader{conn}.readRows(ctx, mysqlWsrepQuery)
	if err != nil {
		return classifyMySQL(err)
	}
	st := nameValues(rows)
	ready, ok := st["wsrep_ready"]
	if !ok {
		return nil
	}
	if sqlTrue(ready) {
		if state := st["wsrep_local_state"]; state != "" && state != wsrepSynced {
			return &Error{Class: NotReady, Hint: mysqlWsrepSyncHint,
				Err: fmt.Errorf("Galera node not synced with its cluster: wsrep_local_state = %s (%s)", state, orDash(st["wsrep_local_state_comment"]))}
		}
		return nil
	}
	return &Error{Class: NotReady, Hint: mysqlWsrepHint,
		Err: fmt.Errorf("Galera node not ready: wsrep_ready = %s (wsrep_cluster_status %s, wsrep_local_state_comment %s)", ready, orDash(st["wsrep_cluster_status"]), orDash(st["wsrep_local_state_comment"]))}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// replicaLag reads the replica status: no row is not a replica (no lag); a replication connection
// whose lag is unknown (NULL: a thread stopped or reconnecting) or beyond max_replication_lag is lag.
func (p *mysqlCheck) replicaLag(ctx context.Context, conn *sql.Conn, mariadb bool) error {
	stmt := int(p.replicaStmt.Load())
	if stmt == 0 {
		stmt = stmtReplica
		if mariadb {
			stmt = stmtMariaDB
		}
	}
	rows, cols, err := readNamed(ctx, conn, replicaStatements[stmt])
	if err != nil && stmt == stmtReplica && mysqlCode(err) == 1064 {
		// MySQL before 8.0.22 does not know SHOW REPLICA STATUS.
		stmt = stmtSlave
		rows, cols, err = readNamed(ctx, conn, replicaStatements[stmt])
	}
	if err != nil {
		if mysqlCode(err) == 1227 {
			hint := mysqlReplicaPrivilegeHint
			if mariadb {
				hint = mariadbReplicaPrivilegeHint
			}
			return &Error{Class: Query, Err: err, Hint: hint}
		}
		return classifyMySQL(err)
	}
	p.replicaStmt.Store(int32(stmt))
	return judgeReplicaStatus(replicaStatements[stmt], cols, rows, p.maxLag)
}

// The privilege the replica status needs (1227 without it). MariaDB 10.5 renamed REPLICATION CLIENT to
// BINLOG MONITOR and moved the replica status out of it (to REPLICATION SLAVE ADMIN, then, from 10.5.9,
// to REPLICA MONITOR): on MariaDB 10.11 a user granted BINLOG MONITOR (or REPLICATION CLIENT, which
// now means it) still gets 1227 "you need (at least one of) the SUPER, SLAVE MONITOR privilege(s)".
const (
	mysqlReplicaPrivilegeHint   = "max_replication_lag reads the replica status (SHOW REPLICA STATUS), which needs a privilege: GRANT REPLICATION CLIENT ON *.* to the user in %s"
	mariadbReplicaPrivilegeHint = "max_replication_lag reads the replica status (SHOW ALL SLAVES STATUS), which needs a privilege: GRANT REPLICA MONITOR ON *.* (also spelled SLAVE MONITOR; MariaDB 10.5.9 and later) to the user in %s; before 10.5, REPLICATION CLIENT; BINLOG MONITOR, which REPLICATION CLIENT names since 10.5, is not enough"
)

// judgeReplicaStatus decides from the replica status rows (one per replication connection; none when the
// server is not a replica), whichever spelling the server uses (MySQL 8.0.22+: Seconds_Behind_Source,
// Replica_IO_Running, Channel_Name; MariaDB and older MySQL: ..._Master, Slave_..., Connection_name).
func judgeReplicaStatus(stmt string, cols []string, rows [][]*string, maxLag time.Duration) error {
	col := func(names ...string) int {
		for _, n := range names {
			for i, c := range cols {
				if strings.EqualFold(c, n) {
					return i
				}
			}
		}
		return -1
	}
	behind := col("Seconds_Behind_Source", "Seconds_Behind_Master")
	if behind < 0 {
		if len(rows) == 0 {
			return nil
		}
		return &Error{Class: BadResponse, Err: fmt.Errorf("%s has no Seconds_Behind_Source or Seconds_Behind_Master column", stmt)}
	}
	name := col("Connection_name", "Channel_Name")
	io, sqlThread := col("Replica_IO_Running", "Slave_IO_Running"), col("Replica_SQL_Running", "Slave_SQL_Running")
	for _, row := range rows {
		conn := ""
		if name >= 0 && deref(row[name]) != "" {
			conn = fmt.Sprintf(" (replication connection %q)", deref(row[name]))
		}
		if row[behind] == nil {
			state := ""
			if io >= 0 && sqlThread >= 0 {
				state = fmt.Sprintf(": IO thread %s, SQL thread %s", strings.ToLower(deref(row[io])), strings.ToLower(deref(row[sqlThread])))
			}
			// The threads' last errors tell a replica that cannot read from its primary, one whose
			// SQL thread stopped on an error (it never resumes by itself), and one stopped by hand.
			// Last_SQL_Error is not shown: it quotes the replicated statement, values included.
			hint := "the replica is not replicating (a stopped thread, or it cannot reach its primary): check SHOW REPLICA STATUS (MariaDB: SHOW ALL SLAVES STATUS) on it"
			ioErr, sqlErr := col("Last_IO_Errno"), col("Last_SQL_Errno")
			ioMsg := col("Last_IO_Error")
			switch {
			case sqlErr >= 0 && deref(row[sqlErr]) != "" && deref(row[sqlErr]) != "0":
				state += fmt.Sprintf("; the SQL thread stopped on error %s", deref(row[sqlErr]))
				hint = "the replica's SQL thread stopped on an error applying its primary's changes, and does not resume by itself: see Last_SQL_Error in SHOW REPLICA STATUS (MariaDB: SHOW ALL SLAVES STATUS) on it, fix the cause, then START REPLICA (START SLAVE)"
			case ioErr >= 0 && deref(row[ioErr]) != "" && deref(row[ioErr]) != "0":
				msg := ""
				if ioMsg >= 0 && deref(row[ioMsg]) != "" {
					msg = ": " + truncate(deref(row[ioMsg]), 300)
				}
				state += fmt.Sprintf("; the IO thread's last error %s%s", deref(row[ioErr]), msg)
				hint = "the replica cannot read from its primary (Last_IO_Error): check that the primary is up and reachable from the replica, and the replication user's password and REPLICATION SLAVE grant (CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO on it)"
			case io >= 0 && sqlThread >= 0 && !sqlTrue(deref(row[io])) && !sqlTrue(deref(row[sqlThread])) && !strings.EqualFold(deref(row[io]), "connecting"):
				hint = "replication is stopped on the replica, with no error (STOP REPLICA, STOP SLAVE, or not started): START REPLICA (START SLAVE) on it, or, if it was promoted, RESET REPLICA ALL (RESET SLAVE ALL) and drop max_replication_lag"
			}
			return &Error{Class: Lag, Err: fmt.Errorf("replication is not running%s, so its lag is unknown%s", conn, state), Hint: hint}
		}
		secs, err := strconv.ParseInt(*row[behind], 10, 64)
		if err != nil {
			return &Error{Class: BadResponse, Err: fmt.Errorf("replica lag %q is not a number of seconds", *row[behind])}
		}
		if lag := time.Duration(secs) * time.Second; lag > maxLag {
			return &Error{Class: Lag, Err: fmt.Errorf("replica is %s behind%s (max_replication_lag %s)", lag, conn, maxLag)}
		}
	}
	return nil
}

// close releases this check's reference to the shared pool: the last one closes it.
func (p *mysqlCheck) close() { p.release() }

// readNamed runs a statement and returns its rows as text and its column names.
func readNamed(ctx context.Context, conn *sql.Conn, query string) ([][]*string, []string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	out, err := scanText(rows, len(cols))
	return out, cols, err
}

func scanText(rows *sql.Rows, n int) ([][]*string, error) {
	var out [][]*string
	for rows.Next() {
		raw := make([]sql.RawBytes, n)
		dst := make([]any, n)
		for i := range raw {
			dst[i] = &raw[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		vals := make([]*string, n)
		for i, b := range raw {
			if b != nil {
				s := string(b)
				vals[i] = &s
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// sqlReader reads rows of text through a database/sql connection.
type sqlReader struct{ conn *sql.Conn }

func (r sqlReader) readRows(ctx context.Context, query string, args ...any) ([][]*string, error) {
	rows, err := r.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	return scanText(rows, len(cols))
}

func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// classifyMySQL maps server error numbers to classes; anything else is classified by its transport
// cause. The server's messages name the user and host ("Access denied for user 'app'@'10.0.0.3'
// (using password: YES)") but never the password.
func classifyMySQL(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1047: // a Galera node that is not ready (ER_UNKNOWN_COM_ERROR: "WSREP has not yet prepared node for application use")
			return &Error{Class: NotReady, Err: err, Hint: mysqlWsrepHint}
		case 1040, 1203: // too many connections; the user's max_user_connections
			return &Error{Class: NotReady, Err: err, Hint: "the server has no connection left (max_connections or max_user_connections): it should clear when connections are released"}
		case 1226: // the account's own limits (CREATE USER ... WITH MAX_USER_CONNECTIONS, MAX_QUERIES_PER_HOUR, ...)
			return &Error{Class: NotReady, Err: err, Hint: "the user has reached a resource limit of its account (MAX_USER_CONNECTIONS: clears when its connections are released; MAX_QUERIES_PER_HOUR, MAX_UPDATES_PER_HOUR, MAX_CONNECTIONS_PER_HOUR: at the end of the hour): raise it (ALTER USER ... WITH ...) for the user in %s, or give healthgate a user of its own"}
		case 1820, 1862: // password expired: the session may only SET PASSWORD (1820), or the login is refused (1862)
			return &Error{Class: Auth, Err: err, Hint: "the user's password has expired: the server takes no statement from it until the password is changed; ALTER USER ... IDENTIFIED BY ... (or PASSWORD EXPIRE NEVER for a monitoring user) for the user in %s"}
		case 3118, 4151: // the account is locked (MySQL, MariaDB)
			if strings.Contains(strings.ToLower(me.Message), "locked") {
				return &Error{Class: Auth, Err: err, Hint: "the account is locked: ALTER USER ... ACCOUNT UNLOCK for the user in %s"}
			}
		case 1053, 1077, 1078, 1079, 1080: // shutdown in progress, normal shutdown, ..., forcing close
			return &Error{Class: NotReady, Err: err, Hint: "the server is shutting down: it should clear when it is back"}
		case 1044: // access denied to the database: the password was right (it said "check the password")
			return &Error{Class: Auth, Err: err, Hint: "the user logged in, but has no privilege on this database: GRANT the user a privilege on it (SELECT ON db.*, or on one of its tables), or check the database in %s"}
		case 1045, 1130, 1251, 1698: // access denied (password), host not allowed, auth protocol, no password for a socket-only user
			return &Error{Class: Auth, Err: err}
		case 1129: // host blocked after many connection errors
			return &Error{Class: Auth, Err: err, Hint: "the server blocks this host after too many connection errors: run FLUSH HOSTS (mysqladmin flush-hosts) and check what fails to connect"}
		case 1049:
			return &Error{Class: Auth, Err: err, Hint: "database does not exist: check the database name in %s (or create it)"}
		case 1290, 1792, 1836: // --read-only (or super_read_only), a read-only transaction, a read-only server
			if me.Number == 1290 && !strings.Contains(strings.ToLower(me.Message), "read-only") && !strings.Contains(strings.ToLower(me.Message), "read_only") {
				// "running with the --OPTION option so it cannot execute this statement" for other
				// options too: --secure-file-priv, --skip-grant-tables, --max-user-connections=0...
				return &Error{Class: Query, Err: err}
			}
			return &Error{Class: ReadOnly, Err: err, Hint: "the server or the session is read-only (read_only / super_read_only, a replica): point %s at the primary"}
		case 1193, 1231, 1232: // unknown system variable; a wrong value or type for one
			// The driver sends every URL parameter it does not know as a session setting (SET name=value).
			return &Error{Class: Query, Err: err, Hint: "the server refused a setting: a URL parameter the driver does not know is sent as a session variable; remove or fix it in %s (or fix the query)"}
		case 3159: // MySQL's require_secure_transport (MariaDB refuses such a connection with 1045)
			return &Error{Class: TLS, Err: err, Hint: mysqlTLSOnlyHint}
		case 1927, 1317: // connection killed (MariaDB), query interrupted
			return &Error{Class: Reset, Err: err}
		case 1969, 3024:
			// The server's own limit on a statement's time (MariaDB max_statement_time, MySQL
			// max_execution_time: a URL parameter, the user's or the server's setting): the query is not
			// wrong, the server did not finish it in time, as Postgres's statement_timeout (57014).
			return &Error{Class: Timeout, Err: err, Hint: mysqlStatementTimeHint}
		case 1205:
			// lock_wait_timeout (a metadata lock: a migration's ALTER TABLE, LOCK TABLES) or
			// innodb_lock_wait_timeout (a row lock) ran out: as Postgres's lock_timeout (55P03).
			return &Error{Class: Timeout, Err: err, Hint: mysqlLockWaitHint}
		}
		return &Error{Class: Query, Err: err}
	}
	switch {
	case errors.Is(err, mysql.ErrNoTLS):
		return &Error{Class: TLS, Err: err, Hint: "the server does not offer TLS (have_ssl DISABLED: no ssl_cert and ssl_key configured), and the check requires it: configure the server's TLS, or check that %s points at the right server"}
	case errors.Is(err, mysql.ErrMalformPkt), errors.Is(err, mysql.ErrOldProtocol), errors.Is(err, mysql.ErrPktSync):
		return &Error{Class: BadResponse, Err: err, Hint: "the server's answer is not the MySQL protocol: is this a MySQL or MariaDB port (and not, say, its X protocol port 33060)?"}
	case errors.Is(err, mysql.ErrCleartextPassword), errors.Is(err, mysql.ErrNativePassword),
		errors.Is(err, mysql.ErrOldPassword), errors.Is(err, mysql.ErrUnknownPlugin):
		return &Error{Class: Auth, Err: err, Hint: "the user's authentication method is not one the client may use: check the user's plugin, or the DSN's allowCleartextPasswords / allowNativePasswords in %s"}
	case errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		// The driver's word for a connection that broke under it (closed, reset, cut mid-packet).
		return &Error{Class: Reset, Err: err}
	}
	return classified(err)
}

// classifyMySQLQuery classifies the failure of the check's own query, on a connection the server
// took (and so to the URL's database, when it names one): an unknown database there is one the query
// names, not the URL's.
func classifyMySQLQuery(err error) error {
	if mysqlCode(err) == 1049 {
		return &Error{Class: Query, Err: err, Hint: "the query names a database that does not exist (the URL's own was accepted at login): check the query in %s"}
	}
	return classifyMySQL(err)
}

// mysqlDialect is MySQL and MariaDB for the migrations read (migrations.go).
var mysqlDialect = sqlDialect{
	quote:      '`',
	maxIdent:   64,
	identChars: true,
	param:      func(int) string { return "?" },
	text:       func(expr string) string { return "CAST(" + expr + " AS CHAR)" },
	// 1146 no such table; 1049 unknown database (database.table whose database does not exist).
	missingTable:  func(err error) bool { c := mysqlCode(err); return c == 1146 || c == 1049 },
	missingColumn: func(err error) bool { return mysqlCode(err) == 1054 },
	classify:      classifyMySQL,
	tableScope:    "the database (the URL's, or database.table)",
	tables:        map[string]string{"liquibase": "DATABASECHANGELOG"},
}
