package checks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgservicefile"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthgate/healthgate/config"
)

// statusQuery is the default run: one round trip through the executor that also says whether the
// server is a standby and how far behind it is. Replay lag is 0 when everything received has been
// replayed, so an idle primary does not make its replicas look late; otherwise it is the age of the
// last replayed transaction, or, when none was replayed since the standby started, its uptime (a
// lower bound: it is at least that far behind). The third column is the WAL position received, when
// replay is behind it (catchUp). The fourth says whether this session's transactions are read-only: a
// primary whose default_transaction_read_only is on (for the server, the database or the role: a
// maintenance freeze, a managed service's guard against a full disk) takes no write, as a standby does.
const statusQuery = `SELECT pg_is_in_recovery(),
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE EXTRACT(EPOCH FROM now() - COALESCE(pg_last_xact_replay_timestamp(), pg_postmaster_start_time()))
  END::float8,
  CASE WHEN pg_is_in_recovery() AND pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn()
       THEN pg_last_wal_receive_lsn()::text END,
  current_setting('transaction_read_only') = 'on'`

// caughtUpQuery: has replay reached the WAL position $1?
const caughtUpQuery = `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`

type postgresCheck struct {
	pool     *pgxpool.Pool // shared by the checks of one target (shared.go)
	watch    *dialWatch
	life     *clientLife
	release  func()
	query    string
	writable bool
	maxLag   time.Duration
	schema   *schemaCheck // migrations: nil unless configured
	tlsBlock bool         // a tls block configures TLS: its hints name its fields
	// noPassword: the check sends no password (none in the URL, PGPASSWORD or a passfile line, as pgx
	// reads them while it parses), so a server's "password authentication failed" is for want of one.
	noPassword bool
}

// postgresSpec is a postgres check's own configuration (config.Check.Spec, decoded).
type postgresSpec struct {
	URL               string        `yaml:"url" secret:"true" schema:"minLength=1,form=postgres-url"`
	Query             string        `yaml:"query" schema:"minLength=1"`
	Writable          bool          `yaml:"writable"`
	MaxReplicationLag time.Duration `yaml:"max_replication_lag"`
	// Migrations: the schema version this release needs.
	Migrations config.Migrations `yaml:"migrations" schema:"required=tool|version" desc:"Fail with reason schema until the migration tool's table records this version (README \"Migrations\"); healthgate validates the version against the tool."`
	// TLS: a written block (even tls: {}) makes TLS required and verified, instead of libpq's URL
	// parameters (postgresTLS).
	TLS config.TLS `yaml:"tls"`
}

// buildPostgres builds the pool and, with migrations, the schema read; every error of both at once.
func buildPostgres(c config.Check, s *postgresSpec) (prober, string, config.Errors) {
	schema, schemaErrs := newSchemaCheck(c, s.Migrations, postgresDialect)
	p, target, errs := buildPostgresPool(c, s)
	if errs = append(errs, schemaErrs...); len(errs) > 0 {
		if p != nil {
			p.close()
		}
		return nil, "", errs
	}
	p.schema = schema
	return p, target, nil
}

func buildPostgresPool(c config.Check, s *postgresSpec) (*postgresCheck, string, config.Errors) {
	if strings.TrimSpace(s.URL) == "" {
		// Blank, pgx reads libpq's defaults: the local socket, as the current user, which may pass against
		// a server that is not the one meant.
		return nil, "", config.Errors{c.Src.Errorf("url", "required: a postgres:// URL or a key=value DSN")}
	}
	// net/url refuses a control character in every other kind's URL; pgx's own URL parser takes it into
	// the host or the database ("test\n" does not exist), and the target shows it across two lines. A key=value
	// DSN may span lines: there they separate pairs.
	if (strings.HasPrefix(s.URL, "postgres://") || strings.HasPrefix(s.URL, "postgresql://")) && strings.ContainsFunc(s.URL, unicode.IsControl) {
		return nil, "", config.Errors{c.Src.Errorf("url", "not a valid postgres URL: it contains a line break or another control character (a trailing newline from a Secret written with echo rather than echo -n or printf?): remove it")}
	}
	if problem := pgSchemeProblem(s.URL); problem != "" {
		return nil, "", config.Errors{c.Src.Errorf("url", "%s", problem)}
	}
	// With a tls block, the TLS files of libpq's variables (PGSSLROOTCERT, PGSSLCERT, PGSSLKEY) give way to
	// it, as the URL's own parameters may not stand beside it: pgx reads them while it parses, and a file the
	// block leaves unused failed the check. Empty parameters in what pgx parses take their place.
	parse := s.URL
	if tlsWritten(c, s.TLS) {
		parse = withoutTLSFiles(s.URL)
	}
	filesKey, problem := pgFilesRead(parse)
	if problem != "" {
		return nil, "", config.Errors{c.Src.Errorf("url", "%s", problem)}
	}
	pc, err := pgxpool.ParseConfig(parse)
	if err != nil {
		// db:5432, app:pw@db:5432/app: an address without its scheme, which pgx tried as a key=value DSN.
		if fixed, ok := schemeless("postgres", s.URL); ok && !strings.Contains(s.URL, "=") {
			return nil, "", config.Errors{c.Src.Errorf("url", "not a valid postgres URL or key=value DSN: %s%s", noSchemeWords, fixed)}
		}
		cause := parseConfigCause(err)
		if pgURLSyntaxError(err) && userinfoBroke(s.URL) {
			cause += " (" + percentHint + ")"
		}
		return nil, "", config.Errors{c.Src.Errorf("url", "not a valid postgres URL or key=value DSN: %s", cause)}
	}
	// pgx, like libpq, ends the user information at the first '@', so an unescaped '@' in a password
	// leaves the rest of the password in the host, which every target and error would then show.
	if hostHasAt(pc.ConnConfig) {
		return nil, "", config.Errors{c.Src.Errorf("url", "the host contains '@': percent-encode the characters @ : / ? # in the user and password (@ is %s)", "%40")}
	}
	// A '/' in a password that starts with digits ends the user information at a valid port, and
	// leaves the rest of the password, up to its '@', in the database, which the target shows
	// (postgres://app:12/34@db/app is database "34@db/app" on host app, port 12).
	if strings.Contains(s.URL, "://") && strings.Contains(pc.ConnConfig.Database, "@") {
		return nil, "", config.Errors{c.Src.Errorf("url", "the database name contains '@': percent-encode the characters @ : / ? # in the user and password (@ is %s)", "%40")}
	}
	// In a key=value DSN, libpq and pgx skip the blanks after an '=': an empty host= or dbname= takes
	// the next key=value (host= password=s3cr3t) as its value, which the target shows.
	if hostHas(pc.ConnConfig, "=") || strings.Contains(pc.ConnConfig.Database, "=") {
		return nil, "", config.Errors{c.Src.Errorf("url", "the host or the database name contains '=': a key with an empty value (host= password=...) takes the next key=value as its own; give it a value, or leave the key out")}
	}
	withTLS := tlsWritten(c, s.TLS)
	tlsPart := ""
	if withTLS {
		if errs := postgresTLS(c, s.URL, s.TLS, pc.ConnConfig); len(errs) > 0 {
			return nil, "", errs
		}
		tlsPart = "tls: " + tlsKey(s.TLS)
	}
	// The pool is shared by every check of this URL, TLS block and timeout (the connect timeout is the
	// pool's): their own settings (query, writable, max_replication_lag, migrations) are per run. The
	// contents of the files the URL or the block names are part of the key, so a check built after a
	// certificate was renewed does not join a pool built with the old one.
	key := keyOf("postgres", s.URL, c.Timeout.String(), filesKey, tlsPart)
	sp, release, err := share(key, func() (*postgresPool, func(), error) {
		sp := &postgresPool{life: newClientLife()}
		pool, err := pgxpool.NewWithConfig(context.Background(), postgresPoolConfig(pc, c.Timeout, &sp.watch, &sp.conns))
		if err != nil {
			sp.life.end()
			return nil, nil, err
		}
		sp.pool = pool
		return sp, func() { sp.life.end(); sp.close(min(c.Timeout, 2*time.Second)) }, nil
	})
	if err != nil {
		return nil, "", config.Errors{c.Src.Errorf("url", "cannot build a connection pool: %v", err)}
	}
	p := &postgresCheck{pool: sp.pool, watch: &sp.watch, life: sp.life, release: release, query: strings.TrimSpace(s.Query), writable: s.Writable, maxLag: s.MaxReplicationLag, tlsBlock: withTLS,
		noPassword: pc.ConnConfig.Password == ""}
	return p, postgresTarget(pc.ConnConfig), nil
}

// Hints that name settings of the check: flagHints has their words for a target given by flag.
const (
	postgresCertUserHint = "the server wants a client certificate for this user (pg_hba.conf: cert, or clientcert=): set tls.cert_file and tls.key_file (or sslcert and sslkey in %s) to one signed by a CA the server trusts, whose CN is the user"
	postgresHostSSLHint  = "the server takes this connection only over TLS (pg_hba.conf hostssl): add a tls block (tls: {} for the system's CAs, or tls.ca_file), or sslmode=verify-full in %s" + hbaNoLineWords
	// postgresHbaHint: pg_hba.conf refused the connection before any password was asked for, over TLS or
	// from a server that speaks none (so hostssl is not why).
	postgresHbaHint = "the server's pg_hba.conf lets this user into this database from this host by no line, or a reject line matches (the error names all three): the password is not the problem; a line for them must be added on the server (and the server reloaded), or connect as a user or to a database it lets in"
	hbaNoLineWords  = "; or, if the server has no TLS, pg_hba.conf lets this host, user and database in by no line, which takes one added on the server"
)

// libpqTLSHints: without a tls block, a postgres check's certificates come from libpq's URL parameters.
var libpqTLSHints = tlsHints{
	unknownCA:  "the server's certificate is signed by an authority this check does not trust: name that CA with sslrootcert= in %s or in a tls block's ca_file (or fix the chain the server sends)",
	hostname:   "the server's certificate does not name the host in %s: connect by a name it holds (sslmode=verify-ca checks the CA but not the name)",
	clientCert: "the server rejected this check's client certificate, or wants one: set sslcert= and sslkey= in %s, or a tls block's cert_file and key_file",
}

// A postgres check configures TLS either way: with libpq's parameters in its URL (sslmode=verify-full,
// sslrootcert, sslcert, sslkey: what psql, every libpq program and most connection strings handed out
// by a cloud's console already say), or with the tls block every other kind takes, which adds what
// libpq's parameters cannot say (server_name: verify a name other than the host dialled, as through a
// port-forward or a proxy by IP) and lets one block, one Secret of files, serve every kind. Not both:
// two places for one CA would leave the reader guessing which one is used. The one parameter that
// says what a block says is sslmode=verify-full (TLS, verified against the host): it may stay beside
// a block, so that a URL kept in a Secret need not be edited to add one.
var pgTLSParams = []string{"sslmode", "ssl", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslsni"}

// postgresTLS puts a check's tls block in place of libpq's TLS settings: TLS required (no plaintext
// attempt, as sslmode=prefer would make), verified unless insecure_skip_verify, for every host of
// the URL (server_name by default the host dialled). PGSSLMODE and the other PGSSL* variables, which
// pgx reads as libpq does, give way to the block.
func postgresTLS(c config.Check, raw string, t config.TLS, cc *pgx.ConnConfig) config.Errors {
	var errs config.Errors
	params := pgParams(raw)
	for _, k := range pgTLSParams {
		v, ok := params[k]
		if !ok || (k == "sslmode" && v == "verify-full") {
			continue
		}
		named := k
		if k == "sslmode" || k == "ssl" {
			named = k + "=" + v // an enum, checked by pgx already: never a secret
		}
		errs = append(errs, c.Src.Errorf("tls", "a tls block and the url's %s both configure TLS: the block makes TLS required and verified with its own CA, certificate and server name; remove %s from the url (sslmode=verify-full may stay), or remove the block and keep libpq's parameters", named, named))
	}
	base, tlsErrs := clientTLS(t)
	errs = append(errs, tlsErrs...)
	if cc.SSLNegotiation == "direct" {
		base.NextProtos = []string{"postgresql"} // TLS from the first byte, as pgx does
	}
	// sslmode=prefer (the default) lists each host twice, with TLS and without: once each, with TLS.
	var hosts []*pgconn.FallbackConfig
	seen := map[string]bool{}
	for _, h := range append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port}}, cc.Fallbacks...) {
		if strings.HasPrefix(h.Host, "/") {
			errs = append(errs, c.Src.Errorf("tls", "applies to a server reached over TCP; this URL connects by a unix socket (%s), which takes no TLS", h.Host))
			return errs
		}
		if hp := hostPort(h.Host, h.Port); !seen[hp] {
			seen[hp] = true
			tc := base.Clone()
			if tc.ServerName == "" {
				tc.ServerName = h.Host
			}
			hosts = append(hosts, &pgconn.FallbackConfig{Host: h.Host, Port: h.Port, TLSConfig: tc})
		}
	}
	cc.Host, cc.Port, cc.TLSConfig, cc.Fallbacks = hosts[0].Host, hosts[0].Port, hosts[0].TLSConfig, hosts[1:]
	return errs
}

// withoutTLSFiles is raw with sslrootcert, sslcert and sslkey set empty, in its own syntax (key=value
// pairs, or a URL's query, found as pgx finds it: after the user information, which ends at an '@'
// before any '/'), so that pgx reads none of them from the environment (postgresTLS refuses them in raw
// beside a tls block).
func withoutTLSFiles(raw string) string {
	const empty = "sslrootcert=&sslcert=&sslkey="
	_, rest, isURL := strings.Cut(raw, "://")
	if !isURL {
		return raw + " sslrootcert='' sslcert='' sslkey=''"
	}
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		rest = rest[i+1:]
	}
	switch {
	case !strings.Contains(rest, "?"):
		return raw + "?" + empty
	case strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&"):
		return raw + empty
	}
	return raw + "&" + empty
}

// postgresPool is the shared part of postgres checks: the pool, and what its dials tell the runs
// waiting on it.
type postgresPool struct {
	pool  *pgxpool.Pool
	watch dialWatch
	life  *clientLife
	conns openConns
}

// close closes the pool, giving its connections grace to say goodbye. pgx ends a connection whose
// query was cut short (a run's timeout on a hung server) in the background: it dials the server again
// to send a cancel request and waits for its answer, then drains the connection until the server closes
// it, for up to 15 s each; closing the pool waits for that. A server that hangs never answers, so a
// shutdown or a reload would wait those 15 s (measured: 13.6 s after a run's timeout). After grace, the
// connections still open are closed under pgx, which ends its waits at once.
func (sp *postgresPool) close(grace time.Duration) {
	closed := make(chan struct{})
	go func() { sp.pool.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(grace):
		sp.conns.closeAll()
		<-closed
	}
}

// errUselessCancel is the error of a cancel request not sent (openConns.uselessCancel); pgconn drops it.
var errUselessCancel = errors.New("no cancel request for a connection that never started")

// openConns are the connections a client dialled and has not closed; once closeAll has run, it closes
// them and refuses new ones.
type openConns struct {
	mu     sync.Mutex
	conns  map[*openConn]struct{}
	closed bool
	// broke holds, per address, when connections broke before their startup finished (pgconn closes
	// such a connection and asks to cancel on it): see uselessCancel.
	broke map[string][]time.Time
}

// add tracks conn, or closes it when closeAll has run. cancel says conn carries a cancel request, which
// has no startup: the server closes it once it read the request, and that end is no break (note).
func (o *openConns) add(conn net.Conn, cancel bool) (net.Conn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		_ = conn.Close()
		return nil, errClientClosed
	}
	if o.conns == nil {
		o.conns = map[*openConn]struct{}{}
	}
	c := &openConn{Conn: conn, set: o}
	c.started.Store(cancel)
	o.conns[c] = struct{}{}
	return c, nil
}

func (o *openConns) closeAll() {
	o.mu.Lock()
	o.closed = true
	conns := o.conns
	o.conns = nil
	o.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// openConn is a connection of an openConns, which forgets it when it closes.
type openConn struct {
	net.Conn
	set *openConns
	// started is set once the connection's startup finished (AfterConnect): it has a backend, whose key a
	// cancel request can name; a cancel request's own connection is started from the first. broken is
	// set when a read or write failed (not at a deadline) before then. used is set once a run has had
	// it from the pool.
	started, broken, used atomic.Bool
}

func (c *openConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

func (c *openConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.note(err)
	return n, err
}

func (c *openConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.note(err)
	return n, err
}

// note records, once, a failure before the startup finished: pgconn then closes the connection and
// asks to cancel on it (openConns.uselessCancel).
func (c *openConn) note(err error) {
	var ne net.Error
	if err == nil || c.started.Load() || (errors.As(err, &ne) && ne.Timeout()) || !c.broken.CompareAndSwap(false, true) {
		return
	}
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	if c.set.broke == nil {
		c.set.broke = map[string][]time.Time{}
	}
	// pgconn asks to cancel after some of these only (not after a failed write): the times older than
	// breakMemory go as a new one comes, so an outage of any length keeps a few seconds' worth.
	addr := c.RemoteAddr().String()
	c.set.broke[addr] = append(recentBreaks(c.set.broke[addr]), time.Now())
}

// markStarted marks the openConn under conn (pgconn's, perhaps wrapped in TLS) as started.
func markStarted(conn net.Conn) {
	if oc := openConnOf(conn); oc != nil {
		oc.started.Store(true)
	}
}

// openConnOf is the openConn under conn (pgconn's, perhaps wrapped in TLS), or nil.
func openConnOf(conn net.Conn) *openConn {
	for conn != nil {
		if oc, ok := conn.(*openConn); ok {
			return oc
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		conn = u.NetConn()
	}
	return nil
}

// uselessCancel reports whether a dial to addr is the cancel request pgconn sends as it closes a
// connection that broke before its startup finished (a server or proxy that resets or closes every new
// connection): that connection has no backend key, so the request can cancel nothing, and it would
// double the connections a failing dependency sees on every run. Each such break within breakMemory
// excuses one dial; the caller asks only for dials made outside a run (a connect carries the run's
// context, pgconn's cancel requests do not).
func (o *openConns) uselessCancel(network, addr string) bool {
	if network == "unix" {
		return false // pgconn retries a refused cancel on a socket under another name: not worth it
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	recent := recentBreaks(o.broke[addr])
	if len(recent) == 0 {
		delete(o.broke, addr)
		return false
	}
	o.broke[addr] = recent[1:]
	return true
}

// recentBreaks is breaks without the times older than breakMemory.
func recentBreaks(breaks []time.Time) []time.Time {
	return slices.DeleteFunc(breaks, func(at time.Time) bool { return time.Since(at) > breakMemory })
}

// breakMemory is how long a connection that broke before its startup excuses a cancel request: pgconn
// asks at once, in a goroutine of its own, which a loaded machine may start late.
const breakMemory = 5 * time.Second

// postgresPoolConfig sets what healthgate wants of a pool on the parsed URL: at most 2 connections,
// none kept open on purpose, no dial at build time (docs/design.md §8).
func postgresPoolConfig(pc *pgxpool.Config, timeout time.Duration, watch *dialWatch, conns *openConns) *pgxpool.Config {
	pc.MaxConns = postgresMaxConns
	pc.MinConns = 0
	pc.MinIdleConns = 0
	// Our query is the liveness test of the connection; pgxpool's ping-on-acquire would double every
	// run's round trips. A connection that died while idle is retried once in probe.
	pc.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	// pgxpool connects in a goroutine of its own, not bounded by the run that asked: the check's
	// timeout bounds it. pgx bounds the connect to each host of a multi-host URL (Patroni's nodes,
	// target_session_attrs=read-write) by ConnectTimeout, as libpq's connect_timeout: the run's time is
	// shared among them, or a first host that drops every packet (its node gone) used it all and every
	// run timed out while the next host, the primary, served.
	perHost := timeout / time.Duration(postgresHosts(pc.ConnConfig))
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > perHost {
		pc.ConnConfig.ConnectTimeout = perHost
	}
	// A name with several addresses (DNS round robin, a headless Service, a Patroni cluster's one name)
	// is resolved by pgx into one attempt per address, made as libpq makes them: the next address after
	// a refusal, a timeout, or a server's error (57P03 of a node starting, a standby that
	// target_session_attrs=read-write turns down). So the addresses are pgx's to try, one by one, not
	// dialAddrs' (the other kinds', which takes the first that connects). But each attempt has the host's
	// whole ConnectTimeout, and a first address that drops every packet took it all: its dial is cut at
	// its share of the host's time, perHost / addresses, and the next one tried.
	shares := &addrShares{byHost: map[string]*hostAddrs{}}
	pc.ConnConfig.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		ips, err := net.DefaultResolver.LookupHost(ctx, host) // pgconn's own lookup
		shares.set(host, ips)
		return ips, err
	}
	dialer := &net.Dialer{KeepAlive: 5 * time.Minute} // as pgconn's default
	// Every connection, cancel requests' included, is tracked, for the pool's close.
	pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		cancel := traceOf(ctx) == nil
		if cancel && conns.uselessCancel(network, addr) {
			return nil, errUselessCancel
		}
		var conn net.Conn
		var err error
		if ad, i := shares.of(network, addr); ad != nil {
			dialCtx, stop := context.WithTimeout(ctx, perHost/time.Duration(len(ad.addrs)))
			conn, err = watch.dialOneOf(dialCtx, dialer, network, ad, i)
			stop()
		} else {
			conn, err = watch.dial(ctx, dialer, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// A cancel request's connection ends with the server's EOF once it read the request: counted as
		// a break before a startup, it excused the next cancel request, which was not sent, and every
		// other timed-out query ran on, past the run, on the server (a query waiting on a migration's
		// lock: one more backend stuck every two runs).
		return conns.add(conn, cancel)
	}
	pc.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		markStarted(c.PgConn().Conn())
		return nil
	}
	// pgproto3 allocates a message's whole declared length before reading its body: another protocol's
	// banner on the port ("220 smtp.example ESMTP") reads as a message of ~800 MB, allocated on every
	// run. The answers to a health query are small; a cap far above them ends such a run at once, as
	// bad_response (notPostgres), with nothing allocated.
	pc.ConnConfig.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		f := pgproto3.NewFrontend(r, w)
		f.SetMaxBodyLen(pgMaxBody)
		return f
	}
	// The simple protocol works through PgBouncer in transaction mode and needs no prepare round trip.
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "healthgate"
	}
	return pc
}

// pgMaxBody bounds one protocol message from the server (a row of the check's query included).
const pgMaxBody = 16 << 20

// filesKey makes a reload rebuild the check when a file its URL or its tls block names changed
// (checks.FilesKey).
func (s *postgresSpec) filesKey() string {
	k, _ := pgFilesRead(s.URL)
	if tlsGiven(s.TLS) {
		k += "tls: " + tlsKey(s.TLS)
	}
	return k
}

// files are the files filesKey reads (checks.Files), and those the URL names that do not exist yet: the
// reload refused for want of one (sslrootcert= naming a Secret's file that is mounted after the
// ConfigMap) is tried again when it appears.
func (s *postgresSpec) files() []string {
	var paths []string
	for _, f := range pgFiles(s.URL, true) {
		paths = append(paths, f.path)
	}
	if tlsGiven(s.TLS) {
		paths = append(paths, tlsFiles(s.TLS)...)
	}
	return paths
}

// pgParams is the parameters of a postgres URL (its query) or key=value DSN, as far as they can be
// read: pgx's parser has accepted the string already.
func pgParams(raw string) map[string]string {
	params := map[string]string{}
	if strings.Contains(raw, "://") {
		if u, err := url.Parse(raw); err == nil {
			for k, v := range u.Query() {
				params[k] = v[0]
			}
		}
	} else {
		for _, f := range strings.Fields(raw) {
			if k, v, ok := strings.Cut(f, "="); ok {
				params[k] = strings.Trim(v, "'")
			}
		}
	}
	return params
}

// pgFileParams are the parameters whose values pgx reads as files while it parses a connection string
// (pgconn.ParseConfig), the variables that give them when the string does not, and their defaults under
// the home directory. The service file comes first: its service's settings can name the others.
var pgFileParams = []struct{ key, env, home string }{
	{"servicefile", "PGSERVICEFILE", ".pg_service.conf"},
	{"passfile", "PGPASSFILE", ".pgpass"},
	{"sslrootcert", "PGSSLROOTCERT", ".postgresql/root.crt"},
	{"sslcert", "PGSSLCERT", ".postgresql/postgresql.crt"},
	{"sslkey", "PGSSLKEY", ".postgresql/postgresql.key"},
}

// pgFile is a file pgx reads while it parses a connection string: its parameter and its path.
type pgFile struct{ key, path string }

// pgFiles are the files pgx would read while parsing raw, found as pgx finds them: the connection
// string's parameter, else the service's setting, else the variable, else the default under the home
// directory. A path that does not exist is left out (pgx says so, or skips it), unless missing is set and
// the path is given (not a default under the home directory, which pgx skips when absent); so is the
// system's roots (sslrootcert=system). A service file is read (bounded) for its service's settings only
// when it is a file healthgate reads.
func pgFiles(raw string, missing bool) []pgFile {
	params := pgParams(raw)
	home, _ := os.UserHomeDir()
	service := map[string]string{}
	name, named := params["service"]
	if !named {
		name, named = os.LookupEnv("PGSERVICE")
	}
	var files []pgFile
	for _, f := range pgFileParams {
		path, ok := params[f.key]
		if !ok {
			path, ok = service[f.key]
		}
		if !ok {
			path, ok = os.LookupEnv(f.env)
		}
		given := ok
		if !ok && home != "" {
			path = filepath.Join(home, f.home)
		}
		if path == "" || path == "system" {
			continue
		}
		if _, err := os.Stat(path); err != nil && !(missing && given) {
			continue
		}
		files = append(files, pgFile{f.key, path})
		if f.key == "servicefile" && named {
			data, err := config.ReadFile(path, config.BundleFileLimit)
			if err != nil {
				continue
			}
			if sf, err := pgservicefile.ParseServicefile(bytes.NewReader(data)); err == nil {
				if svc, err := sf.GetService(name); err == nil {
					service = svc.Settings
				}
			}
		}
	}
	return files
}

// pgFilesRead reads the files pgx would read while parsing raw (pgFiles), once for both of their uses:
// key digests their contents, for the shared pool's key and the reload (a check built after one of them
// changed does not join a pool built from the old ones); problem says which is not a file healthgate
// reads (a regular file of at most config.BundleFileLimit, config.ReadFile), or "". pgx reads them with
// os.ReadFile and bufio, without a bound, before the parse returns: sslrootcert=/dev/zero grows until
// the process is killed, and a named pipe (as sslrootcert, servicefile, PGPASSFILE...) blocks the parse
// for ever, and with it a reload and the shutdown that waits for the reload.
func pgFilesRead(raw string) (key, problem string) {
	var b strings.Builder
	for _, f := range pgFiles(raw, false) {
		data, err := config.ReadFile(f.path, config.BundleFileLimit)
		if err != nil {
			if problem == "" {
				problem = fmt.Sprintf("%s: %v", f.key, err)
			}
			data = []byte("unreadable: " + err.Error())
		}
		fmt.Fprintf(&b, "%s=%x;", f.key, sha256.Sum256(data))
	}
	return b.String(), problem
}

// parseConfigCause keeps pgx's reason but drops the connection string it quotes, and what its reasons
// quote of it: a token of the path (invalid percent-encoded token: "..."), a key (missing "=" after
// "..."), which hold a password's tail when a '/' or a blank in it broke the string. pgx's own words name
// the parameter (invalid connect_timeout); the cause under them is said in ours (not a whole number).
func parseConfigCause(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			return msg[i+2:]
		}
		return "unparsable"
	}
	inner := errors.Unwrap(pe)
	var ue *url.Error
	if inner != nil && errors.As(inner, &ue) {
		return urlCause(ue)
	}
	words := pe.Error() // cannot parse `CONNSTRING`: WORDS (INNER)
	if i := strings.Index(words, "`: "); i >= 0 {
		words = words[i+3:]
	}
	if inner == nil {
		if strings.HasPrefix(words, "unknown target_session_attrs value: ") {
			// The value is not shown: one in the wrong place can be a secret.
			return "target_session_attrs must be one of any, read-write, read-only, primary, standby, prefer-standby"
		}
		return words
	}
	words = strings.TrimSuffix(words, " ("+inner.Error()+")")
	msg := inner.Error()
	if strings.HasPrefix(msg, `missing "=" after`) {
		return `missing "=" after a key (a value with a blank in it must be quoted: password='two words')`
	}
	if w := valueWords(inner); w != "" {
		return words + ": " + w
	}
	if strings.HasPrefix(msg, "end of string reached when looking for matching \"]\"") {
		return words + ": " + noBracketWords // cut at its first quote, it said "looking for matching"
	}
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		msg = strings.TrimRight(msg[:i], ": ")
	}
	return words + ": " + msg
}

// pgSchemeProblem refuses a URL of another scheme (SQLAlchemy's postgresql+asyncpg://, JDBC's
// jdbc:postgresql://, Postgres://): pgx reads a string that does not start with postgres:// or
// postgresql:// as a key=value DSN, and with an '=' in its query it parses, the URL up to that '=' (its
// password included) becoming the name of a run-time parameter that every connection sends and the
// server quotes back in its error (invalid configuration parameter name "...", shown by check, wait and
// serve's logs), and the connection going to the local socket. A DSN's first key is a word, never a
// text with "://" in it.
func pgSchemeProblem(raw string) string {
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		return ""
	}
	if trimmed := strings.TrimLeft(raw, " \t\r\n"); strings.HasPrefix(trimmed, "postgres://") || strings.HasPrefix(trimmed, "postgresql://") {
		return "not a valid postgres URL: it starts with a blank or a line break, which makes it a key=value DSN to the driver: remove it"
	}
	first, _, _ := strings.Cut(raw, "=")
	scheme, _, isURL := strings.Cut(strings.TrimSpace(first), "://")
	if !isURL {
		return ""
	}
	shown := "this one"
	if scheme != "" && strings.Trim(scheme, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.:") == "" {
		shown = strconv.Quote(scheme)
	}
	return "not a valid postgres URL: the scheme must be postgres or postgresql (in lower case), not " + shown +
		" (a driver's URL, as postgresql+asyncpg:// or jdbc:postgresql://, is written postgres://user:password@host:5432/database)"
}

// percentHint is the fix when the user information may have broken a URL's syntax.
const percentHint = "characters @ : / ? # in the user or password must be percent-encoded"

// urlSyntaxError: err is the URL parser's (a bad port, a bad escape), the only kind of error an
// unescaped character in a user or password can cause; a missing CA file or a bad sslmode is not.
func urlSyntaxError(err error) bool {
	var ue *url.Error
	var ee url.EscapeError
	return errors.As(err, &ue) || errors.As(err, &ee)
}

// pgURLSyntaxError: pgx could not split the URL into its parts (its own parser, not net/url's), or
// found a port that is not a number: what an unescaped '/', ':' or '%' in a password leads to.
func pgURLSyntaxError(err error) bool {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return false
	}
	msg := pe.Error()
	return strings.Contains(msg, ": failed to parse as URL (") || strings.HasSuffix(msg, ": invalid port")
}

func hostHasAt(cc *pgx.ConnConfig) bool { return hostHas(cc, "@") }

// hostHas reports whether the host, or a fallback's, contains s.
func hostHas(cc *pgx.ConnConfig, s string) bool {
	if strings.Contains(cc.Host, s) {
		return true
	}
	for _, fb := range cc.Fallbacks {
		if strings.Contains(fb.Host, s) {
			return true
		}
	}
	return false
}

// postgresTarget shows host:port/database, the part an operator needs and no credentials.
func postgresTarget(cc *pgx.ConnConfig) string {
	hosts := []string{hostPort(cc.Host, cc.Port)}
	for _, fb := range cc.Fallbacks {
		if hp := hostPort(fb.Host, fb.Port); !slices.Contains(hosts, hp) {
			hosts = append(hosts, hp)
		}
	}
	return strings.Join(hosts, ",") + "/" + cc.Database
}

// postgresHosts is how many hosts (host:port, or socket directories) a connection may try in turn:
// sslmode=prefer lists each twice, with TLS and without, on one connect timeout.
// addrShares are the addresses pgx's lookup last gave each host of a check's URL that has several, for
// a dial to one of them to know its share of the host's time, and for a run that could not connect to
// name them.
type addrShares struct {
	mu     sync.Mutex
	byHost map[string]*hostAddrs
}

// hostAddrs is one lookup's addresses of a host; dial, their dial, is made at the first of them dialled
// (the port is the dial's).
type hostAddrs struct {
	host string
	ips  []string
	dial *addrsDial
}

func (s *addrShares) set(host string, ips []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) < 2 {
		delete(s.byHost, host)
		return
	}
	s.byHost[host] = &hostAddrs{host: host, ips: ips}
}

// of is the dial of the addresses of the host that addr (ip:port) is one of, and addr's index among
// them; nil when addr is no address of a host with several.
func (s *addrShares) of(network, addr string) (*addrsDial, int) {
	ip, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.byHost {
		i := slices.Index(h.ips, ip)
		if i < 0 {
			continue
		}
		if h.dial == nil || !strings.HasSuffix(h.dial.addr, ":"+port) {
			h.dial = &addrsDial{network: network, addr: net.JoinHostPort(h.host, port), errs: make([]error, len(h.ips))}
			for _, ip := range h.ips {
				h.dial.addrs = append(h.dial.addrs, net.JoinHostPort(ip, port))
			}
		}
		return h.dial, i
	}
	return nil, 0
}

func postgresHosts(cc *pgx.ConnConfig) int {
	seen := map[string]bool{hostPort(cc.Host, cc.Port): true}
	for _, fb := range cc.Fallbacks {
		seen[hostPort(fb.Host, fb.Port)] = true
	}
	return len(seen)
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host // a Unix socket directory
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

// probe runs on the shared pool, not cut short by the run's cancellation (pgx closes a connection
// whose query is cancelled: see clientLife).
func (p *postgresCheck) probe(ctx context.Context) error { return p.life.detached(ctx, p.run) }

func (p *postgresCheck) run(ctx context.Context) error {
	acquired, reused, err := p.once(ctx)
	// A pooled connection can have died while idle (server restart, idle timeout in a proxy); the pool
	// drops it on the error, so one retry on a fresh connection tells that apart from an outage. Not
	// after a failed connect: that is what the server does now, and a retry would only double the
	// connections a resetting server or proxy sees. The retry itself may be handed the pool's other idle
	// connection (it keeps up to 2, as checks of one target overlap), which the restart ended as well:
	// while the connection that failed had served an earlier run, the next attempt is made, up to the
	// pool's size, so the run reaches a fresh one.
	for retries := 0; err != nil && acquired && (ClassOf(err) == Reset || endedByServer(err)) && timeLeft(ctx) &&
		(retries == 0 || reused) && retries < postgresMaxConns; retries++ {
		acquired, reused, err = p.once(ctx)
	}
	return err
}

// postgresMaxConns is the size of a target's pool.
const postgresMaxConns = 2

// endedByServer: the server ended the connection with a FATAL error of its own, as it does to every
// idle backend on a restart (57P01 admin_shutdown on a fast shutdown, 57P02 after another backend
// crashed) or to one pg_terminate_backend names; pgx reads it, left on the socket, at the next run's
// query. Like a reset, that says what happened to a pooled connection while it was idle, not what the
// server does now: the fresh connection of the retry does (57P03 while it is still stopping or
// starting, or a pass).
func endedByServer(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "57P01" || pgErr.Code == "57P02")
}

// once makes one attempt; acquired reports whether the pool gave it a connection (pgxpool hands out an
// idle one without a dial, so a failed acquire is a failed connect), reused whether that connection had
// served an earlier attempt.
func (p *postgresCheck) once(ctx context.Context) (acquired, reused bool, err error) {
	done := p.watch.wait(ctx)
	conn, err := p.pool.Acquire(ctx)
	done(err == nil)
	if err != nil {
		err = classifyPostgres(err)
		if e := (*Error)(nil); p.noPassword && errors.As(err, &e) && e.Hint == "" && pgCode(err) == "28P01" {
			e.Hint = postgresNoPasswordHint
		}
		// The hints name the settings the check's TLS came from: the block's fields, or libpq's URL
		// parameters.
		var e *Error
		if errors.As(err, &e) && e.Class == TLS && e.Hint == "" && strings.Contains(err.Error(), "server refused TLS connection") {
			// The server answered the TLS request "no": the generic hint spoke of a CA and a server name.
			e.Hint = postgresNoTLSHint
			if p.tlsBlock {
				e.Hint = postgresNoTLSBlockHint
			}
			return false, false, err
		}
		if p.tlsBlock {
			return false, false, withTLSHint(err)
		}
		return false, false, withTLSHints(err, libpqTLSHints)
	}
	defer conn.Release()
	if oc := openConnOf(conn.Conn().PgConn().Conn()); oc != nil {
		reused = oc.used.Swap(true)
	}
	err = p.use(ctx, conn)
	var e *Error
	if errors.As(err, &e) && e.Class == Timeout && e.Hint == "" {
		// The login was done (or the connection kept from an earlier run): the generic "connected, but
		// no answer ... or another protocol" does not fit a query the server took and did not finish.
		err = &Error{Class: Timeout, Err: e.Err, Hint: postgresQueryTimeoutHint}
	}
	return true, reused, err
}

// postgresQueryTimeoutHint: the run's deadline passed while its query was under way.
const postgresQueryTimeoutHint = "the server took the connection, but the query did not finish within the timeout: it waits on a lock another session holds (a migration's ALTER TABLE, a long transaction: pg_locks and pg_stat_activity show who), the server is overloaded or hung, or a proxy or pooler in front of it waits for a server it cannot reach (PgBouncer: for a server connection)"

// use makes the run's queries on conn.
func (p *postgresCheck) use(ctx context.Context, conn *pgxpool.Conn) error {

	if p.query != "" {
		rows, err := conn.Query(ctx, p.query)
		if err != nil {
			return classifyPostgres(err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classifyPostgres(err)
		}
	}
	// The default round trip is the liveness test unless a query or the migrations read already is;
	// writable and max_replication_lag always need it.
	if (p.query == "" && p.schema == nil) || p.writable || p.maxLag > 0 {
		if err := p.status(ctx, conn); err != nil {
			return err
		}
	}
	if p.schema != nil {
		return p.schema.run(ctx, pgxReader{conn})
	}
	return nil
}

func (p *postgresCheck) status(ctx context.Context, conn *pgxpool.Conn) error {
	var inRecovery bool
	var lagSeconds float64
	var received *string
	var readOnly bool
	if err := conn.QueryRow(ctx, statusQuery).Scan(&inRecovery, &lagSeconds, &received, &readOnly); err != nil {
		return classifyPostgres(err)
	}
	if p.writable && inRecovery {
		return &Error{Class: ReadOnly, Err: errors.New("server is in recovery (a standby); writable: true needs the primary")}
	}
	if p.writable && readOnly {
		return &Error{Class: ReadOnly, Err: errors.New("the server is the primary, but its transactions are read-only (default_transaction_read_only is on); writable: true needs one that takes writes"), Hint: postgresReadOnlyPrimaryHint}
	}
	lag := time.Duration(lagSeconds * float64(time.Second))
	if p.maxLag <= 0 || lag <= p.maxLag {
		return nil
	}
	if received != nil {
		caught, err := p.catchUp(ctx, conn, *received)
		if err != nil {
			return err
		}
		if caught {
			return nil
		}
	}
	return &Error{Class: Lag, Err: fmt.Errorf("replica is %s behind (max_replication_lag %s)", lag.Round(time.Millisecond), p.maxLag)}
}

// catchUp tells a standby that is behind from one that only looks behind. The age of the last
// replayed transaction overstates the lag when the primary has written nothing but background WAL
// (a checkpoint, a snapshot of running transactions) since its last commit: for the moment the
// standby replays such a record, an idle database's replica reads as hours behind. Whether replay
// reaches the position received at the first look within max_replication_lag is the lag measured
// directly: if it does, the standby is at most that far behind. catchUp polls for at most that long and
// half the run's time left (the rest is for the answer); when that is not enough, the measured lag stands.
func (p *postgresCheck) catchUp(ctx context.Context, conn *pgxpool.Conn, received string) (bool, error) {
	wait := p.maxLag
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline)/2)
	}
	end := time.Now().Add(wait)
	for {
		var caught bool
		if err := conn.QueryRow(ctx, caughtUpQuery, received).Scan(&caught); err != nil {
			return false, classifyPostgres(err)
		}
		if caught {
			return true, nil
		}
		left := time.Until(end)
		if left <= 0 {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, classifyPostgres(ctx.Err())
		case <-time.After(min(left, 20*time.Millisecond)):
		}
	}
}

// close releases this check's reference to the shared pool: the last one closes it.
func (p *postgresCheck) close() { p.release() }

// flatError is an error with a message of its own and the original chain underneath.
type flatError struct {
	msg string
	err error
}

func (e *flatError) Error() string { return e.msg }
func (e *flatError) Unwrap() error { return e.err }

// flattenPgx makes pgx's connect errors one line, each cause once. pgx lists one "\n\t" line per
// attempt (sslmode=prefer tries TLS, then plain, and both fail the same way) and repeats a wrapped
// cause beside its wrapper: "hostname resolving error: lookup h: no such host\n\tlookup h: no such host".
// A server's refusal of TLS before a plaintext attempt (sslmode=prefer, allow) is left out: it is what
// prefer expects of a server without TLS (PgBouncer's default), and the plaintext attempt says why it failed.
func flattenPgx(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\n\t") {
		return err
	}
	lines := strings.Split(msg, "\n")
	var kept []string
	for i, part := range lines {
		part = strings.Join(strings.Fields(part), " ")
		if part == "" || slices.ContainsFunc(kept, func(k string) bool { return strings.Contains(k, part) }) ||
			strings.HasSuffix(part, "tls error: server refused TLS connection") && i < len(lines)-1 {
			continue
		}
		kept = append(kept, part)
	}
	var b strings.Builder
	for i, part := range kept {
		if i > 0 {
			if strings.HasSuffix(kept[i-1], ":") {
				b.WriteByte(' ')
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(part)
	}
	return &flatError{msg: b.String(), err: err}
}

// Hints for a server that answered the TLS request "no" (ssl = off; PgBouncer without client_tls_*).
const (
	postgresNoTLSWords     = "the server takes no TLS (it answered the TLS request with no: ssl = off in postgresql.conf, or a pooler such as PgBouncer without TLS set up), and "
	postgresNoTLSHint      = postgresNoTLSWords + "sslmode in %s requires it: enable TLS on the server, or lower sslmode (prefer falls back to plaintext, disable never tries TLS)"
	postgresNoTLSBlockHint = postgresNoTLSWords + "the tls block requires it: enable TLS on the server, or remove the tls block"
)

// postgresReadOnlyPrimaryHint: a primary that takes no writes, by default_transaction_read_only.
const postgresReadOnlyPrimaryHint = "the primary takes no writes: default_transaction_read_only is on, for the server (ALTER SYSTEM, postgresql.conf), the database or the role (ALTER DATABASE/ROLE ... SET); a maintenance freeze, or a managed service's guard against a full disk (free space, then turn it off); or in %s"

// postgresFullHint: 53300. It clears only when other sessions end, unlike a server starting or stopping.
const postgresFullHint = "the server is up but has no connection left for this user: other sessions hold every slot of max_connections (less those reserved for superusers), or the role's or the database's CONNECTION LIMIT (the error says which); it clears when they end: find who holds them (pg_stat_activity: an application leaking connections, a pool sized too large), or put a pooler (PgBouncer) in front"

// Hints for a query the server itself gave up on: not a fault of the SQL.
const (
	postgresCanceledHint = "the server cancelled the query before it finished: its statement_timeout ran out (set in %s, or on the role or the database), the server being overloaded or the query waiting on a lock another session holds (pg_stat_activity shows who), or an administrator cancelled it"
	postgresLockHint     = "the query waited longer than lock_timeout (set in %s, or on the role or the database) for a lock another session holds (a migration, a long transaction, VACUUM FULL): pg_locks and pg_stat_activity on the server show who holds it"
)

// Hints for a URL whose target_session_attrs no host met.
const (
	targetPrimaryHint = "no host in %s is the primary that target_session_attrs asks for (read-write, primary): those that answered are standbys or read-only. A failover under way clears once a standby is promoted; otherwise list the primary's host"
	targetStandbyHint = "no host in %s is the standby that target_session_attrs asks for (standby, read-only): those that answered are primaries or take writes. List a standby's host, or ask for prefer-standby to fall back to the primary"
)

// postgresNoPasswordHint: 28P01 to a check that sent no password.
const postgresNoPasswordHint = "the server asks this user for a password (pg_hba.conf: scram-sha-256, md5 or password) and this check gives none: %s has no password, nor do PGPASSWORD or a passfile line for this host; add it (postgres://USER:PASSWORD@host:5432/db, or password= in a key=value DSN)"

// postgresNoLoginHint: a role that exists but may not log in.
const postgresNoLoginHint = "the role exists but may not log in (NOLOGIN: a group role, or one made with CREATE ROLE, which makes roles NOLOGIN, where CREATE USER does not): the password is not the problem; ALTER ROLE ... LOGIN on the server, or give a login role (a member of this one inherits its privileges) as the user in %s"

// postgresNotAcceptingHint: a database that takes no login at all, whoever asks.
const postgresNotAcceptingHint = "the database takes no connection from anyone: its ALLOW_CONNECTIONS is false (set by an administrator or a tool for maintenance, a restore, or a DROP to come; template0's always is): it clears when they are allowed again (ALTER DATABASE ... WITH ALLOW_CONNECTIONS true), not by itself; or check the database name in %s"

const postgresNoConnectHint = "the credentials were accepted, but the role has no CONNECT privilege on this database (revoked from PUBLIC): GRANT CONNECT ON DATABASE ... TO the role, or check the user and database in %s"

// settingNamed finds the setting a server's refusal names: invalid value for parameter "name": "value".
var settingNamed = regexp.MustCompile(`parameter "([^"]*)"`)

// hideSecretSetting replaces the server's message about a setting it refused, which quotes the value
// ("invalid value for parameter \"password_encryption\": \"s3cr3t\"", or "-5 is outside the valid range
// for parameter ..."), when the setting's name marks a secret (password_encryption=, session_...: the
// README's rule for URL parameters), as the url itself is redacted. The chain keeps a copy of the
// server's error without it, and the text says which setting.
func hideSecretSetting(err error, pgErr *pgconn.PgError) error {
	m := settingNamed.FindStringSubmatch(pgErr.Message)
	if m == nil || !isSecretName(m[1]) {
		return err
	}
	shown := *pgErr
	shown.Message = "the server refused the value of parameter \"" + m[1] + "\" (not shown: the setting's name marks a secret)"
	shown.Detail, shown.Where, shown.Hint = "", "", ""
	msg := err.Error()
	if !strings.Contains(msg, pgErr.Message) {
		// Not the server's text as it is (flattened otherwise): nothing of it is shown.
		return &flatError{msg: shown.Error(), err: &shown}
	}
	return &flatError{msg: strings.Replace(msg, pgErr.Message, shown.Message, 1), err: &shown}
}

// classifyPostgres maps SQLSTATEs to classes; anything else is classified by its transport cause.
// pgx's messages name user, host and database but never the password.
func classifyPostgres(err error) error {
	// Whether this connect tried TLS (an attempt the server refused, under sslmode=prefer, or one that
	// pg_hba.conf refused): flattenPgx leaves the refusal of TLS out of the message.
	msg := err.Error()
	triedTLS := strings.Contains(msg, "server refused TLS connection") || strings.Contains(msg, "SSL encryption")
	err = flattenPgx(err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if r := refusalOf(pgErr); r != nil {
			return &Error{Class: r.class, Err: err, Hint: r.hint}
		}
		switch {
		case pgErr.Code == "57P03" && strings.Contains(pgErr.Detail, "Hot standby mode is disabled"):
			// A standby with hot_standby = off: it says "not accepting connections" as one starting
			// up does, but it never will.
			return &Error{Class: NotReady, Err: err, Hint: "this server is a standby with hot_standby = off: it replays but takes no connection, and will not by itself; point %s at the primary or at a hot standby (or turn hot_standby on)"}
		case pgErr.Code == "53300":
			// too_many_connections: the server's slots (max_connections, less those reserved for
			// superusers) or the role's or the database's CONNECTION LIMIT are taken by other sessions.
			return &Error{Class: NotReady, Err: err, Hint: postgresFullHint}
		case pgErr.Code == "57P03" || pgErr.Code == "57P01" || pgErr.Code == "57P02":
			// cannot_connect_now (starting, stopping, recovering), admin/crash shutdown
			return &Error{Class: NotReady, Err: err}
		case pgErr.Code == "28000" && strings.Contains(pgErr.Message, "certificate"):
			// pg_hba.conf's cert method or clientcert=verify-ca/verify-full, without a certificate it takes.
			return &Error{Class: Auth, Err: err, Hint: postgresCertUserHint}
		case pgErr.Code == "28000" && strings.Contains(pgErr.Message, "no encryption") && !triedTLS:
			// "no pg_hba.conf entry for host ..., no encryption", TLS never tried: the server may take
			// this client over TLS only (hostssl).
			return &Error{Class: Auth, Err: err, Hint: postgresHostSSLHint}
		case pgErr.Code == "28000" && strings.Contains(pgErr.Message, "pg_hba.conf"):
			// Refused over TLS too, or by a server that refused TLS (sslmode=prefer): not for want of TLS.
			return &Error{Class: Auth, Err: err, Hint: postgresHbaHint}
		case pgErr.Code == "28000" && strings.Contains(pgErr.Message, "not permitted to log in"):
			// The role has no LOGIN attribute: refused after its password (if any was asked) was taken.
			return &Error{Class: Auth, Err: err, Hint: postgresNoLoginHint}
		case pgErr.Code == "28P01" || pgErr.Code == "28000":
			return &Error{Class: Auth, Err: err}
		case pgErr.Code == "3D000":
			return &Error{Class: Auth, Err: err, Hint: "database does not exist: check the database name in %s (or create it)"}
		case pgErr.Code == "25006":
			return &Error{Class: ReadOnly, Err: err, Hint: "the server or the role is read-only (a standby, or default_transaction_read_only): point %s at the primary, or check the role's settings"}
		case pgErr.Code == "42501" && pgErr.Severity == "FATAL":
			// insufficient_privilege at the login ("permission denied for database"): the role lacks
			// CONNECT on the database (revoked from PUBLIC). No SQL ran: the generic query hint said
			// "check the SQL".
			return &Error{Class: Auth, Err: err, Hint: postgresNoConnectHint}
		case pgErr.Code == "55000" && pgErr.Severity == "FATAL":
			// object_not_in_prerequisite_state at the login: "database ... is not currently accepting
			// connections" (ALLOW_CONNECTIONS false). No SQL ran; a query's own 55000 is an ERROR.
			return &Error{Class: NotReady, Err: err, Hint: postgresNotAcceptingHint}
		case (pgErr.Code == "42704" || pgErr.Code == "22023") && strings.Contains(pgErr.Message, "parameter"):
			// pgx sends unknown URL parameters (?api_key=...) as session settings, and the server
			// refuses them when connecting: not the query's fault.
			return &Error{Class: Query, Err: hideSecretSetting(err, pgErr), Hint: "the server refused a setting given as a URL parameter: remove or fix it in %s"}
		case pgErr.Code == "57014":
			// query_canceled: the server's own statement_timeout (a URL parameter, or the role's or the
			// database's setting), or a cancel by an administrator; not pgx's at the run's deadline, which
			// is a timeout already. The query is not wrong: the server did not finish it in time.
			return &Error{Class: Timeout, Err: err, Hint: postgresCanceledHint}
		case pgErr.Code == "55P03":
			// lock_not_available: lock_timeout ran out while the query waited on another session's lock.
			return &Error{Class: Timeout, Err: err, Hint: postgresLockHint}
		case strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P05":
			// 57P05: idle_session_timeout ended a pooled connection while it was idle (the retry's fresh
			// connection says how the server is).
			return &Error{Class: Reset, Err: err}
		}
		return &Error{Class: Query, Err: err}
	}
	// target_session_attrs (libpq's, which pgx follows): a URL that lists the hosts of a cluster (Patroni's,
	// CloudNativePG's) and asks for the primary or for a standby; pgx tries each and refuses those of the
	// other kind.
	switch {
	case errors.Is(err, pgconn.ErrReadOnlyConnection) || errors.Is(err, pgconn.ErrStandbyConnection):
		return &Error{Class: ReadOnly, Err: err, Hint: targetPrimaryHint}
	case errors.Is(err, pgconn.ErrReadWriteConnection) || errors.Is(err, pgconn.ErrPrimaryConnection):
		return &Error{Class: BadResponse, Err: err, Hint: targetStandbyHint}
	}
	if strings.Contains(err.Error(), "refused TLS") {
		return &Error{Class: TLS, Err: err}
	}
	if notPostgres(err) {
		if msg := err.Error(); strings.Contains(msg, nilCause) {
			err = &flatError{msg: strings.ReplaceAll(msg, nilCause, ""), err: err}
		}
		return &Error{Class: BadResponse, Err: err, Hint: "the server's answer is not the PostgreSQL protocol: is this port PostgreSQL's (5432) in %s?"}
	}
	if errors.Is(err, pgconn.ErrConnClosed) {
		// pgx noticed the peer closed a pooled connection (a server restart) before using it: the
		// connection was reset, and probe retries on a fresh one.
		return &Error{Class: Reset, Err: err}
	}
	return classified(err)
}

// poolerRefusals are the answers of a pooler in front of Postgres that are its own, not the server's, each
// with the class and hint it is given, told by the pooler's SQLSTATE and words (tried against PgBouncer 1.18
// and Pgpool-II 4.3: checks/poolers_test.go). PgBouncer sends 08P01
// (protocol_violation, which Postgres itself sends only for a malformed message) for every refusal, and
// Pgpool-II XX000 (internal_error): without them a pooler that lost its server read as a connection reset
// "right after it opened: restarting, or another protocol", or as a failed query to fix in the SQL.
var poolerRefusals = []poolerRefusal{
	// PgBouncer: auth_type trust or a user missing from its auth_file (a bad password is 28P01 already).
	{"08P01", []string{"authentication failed", "no such user"}, Auth, ""},
	{"08P01", []string{"no such database", "does not exist"}, Auth,
		"database does not exist in the pooler (PgBouncer) in front of the server: check the database name in %s, or the pooler's [databases]"},
	{"08P01", []string{"no more connections allowed"}, NotReady,
		"the pooler (PgBouncer) in front of the database takes no more clients (max_client_conn or max_db_connections): raise its limit, or lower the clients' pool sizes"},
	// PgBouncer: the server behind it refuses, hangs or rejects the pooler's own login (its [databases]
	// entry and credentials), or a client waited longer than query_wait_timeout for a server connection.
	{"08P01", []string{"server login has been failing", "cannot connect to server", "query_wait_timeout", "client_login_timeout", "is disabled"}, NotReady, poolerServerHint},
	// Pgpool-II: it could not open its connection to a backend, or has none left.
	{"XX000", []string{"failed to create a backend", "all backend nodes are down", "not accepting any new connections"}, NotReady, poolerServerHint},
	// Pgpool-II: its connection to the backend broke under a kept client connection (a server restart).
	{"XX000", []string{"unable to read data from DB node", "unable to forward message"}, Reset,
		"the pooler (Pgpool-II) that %s points at lost its connection to the database server behind it: that server restarted or went away"},
}

const poolerServerHint = "the pooler that %s points at (PgBouncer, Pgpool-II) answered, but cannot reach or log in to the database server behind it: is that server up, and is the pooler's entry for it right (PgBouncer's [databases] and its own login, Pgpool-II's backend_hostname)?"

// poolerRefusal is a kind of answer of a pooler: its SQLSTATE and words, and the class and hint it is given.
type poolerRefusal struct {
	code  string
	words []string
	class Class
	hint  string
}

// refusalOf is the entry of poolerRefusals that e is, or nil.
func refusalOf(e *pgconn.PgError) *poolerRefusal {
	for i, r := range poolerRefusals {
		if r.code != e.Code {
			continue
		}
		for _, w := range r.words {
			if strings.Contains(e.Message, w) {
				return &poolerRefusals[i]
			}
		}
	}
	return nil
}

// nilCause is what pgx's "received unexpected message" carries: it wraps a nil error with %w.
const nilCause = ": %!w(<nil>)"

// notPostgres reports pgproto3's errors for bytes that do not decode as the protocol (another protocol on
// the port: an SSH banner reads as a ParameterStatus 1.4 GB long), and pgconn's for messages that decode
// but make no sense in a startup (MariaDB's greeting reads as a CopyData). They are fmt errors, but for
// the length check, so they are told by their words.
func notPostgres(err error) bool {
	var tooLong *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooLong) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"unknown message type", "invalid message length", "body must have length", "body is invalid", "unknown authentication type",
		"received unexpected message", "server protocol version too low", "ReadyForQuery before AuthenticationOk"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// postgresDialect is Postgres for the migrations read (migrations.go).
var postgresDialect = sqlDialect{
	quote:    '"',
	maxIdent: 63,
	param:    func(n int) string { return "$" + strconv.Itoa(n) },
	text:     func(expr string) string { return "CAST(" + expr + " AS text)" },
	// 42P01 undefined_table; 3F000 invalid_schema_name (schema.table whose schema does not exist).
	missingTable:  func(err error) bool { return pgCode(err) == "42P01" || pgCode(err) == "3F000" },
	missingColumn: func(err error) bool { return pgCode(err) == "42703" },
	classify:      classifyPostgres,
	tableScope:    "the schema and search_path",
	pgNames:       true,
	unusableSchemas: func(ctx context.Context, r rowsReader, table string) []string {
		// Read only on the failure path (the table not found); pg_class and pg_namespace are readable
		// by every login. A failure of this read leaves the hint as it was.
		rows, err := r.readRows(ctx, `SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE') ORDER BY 1 LIMIT 3`, table)
		if err != nil {
			return nil
		}
		var names []string
		for _, row := range rows {
			if len(row) == 1 && row[0] != nil {
				names = append(names, strconv.Quote(*row[0]))
			}
		}
		return names
	},
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// pgxReader reads rows of text from a pooled connection (the simple protocol interpolates arguments
// client-side, quoted as literals).
type pgxReader struct{ conn *pgxpool.Conn }

func (r pgxReader) readRows(ctx context.Context, query string, args ...any) ([][]*string, error) {
	rows, err := r.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		vals := make([]*string, len(rows.FieldDescriptions()))
		dst := make([]any, len(vals))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}
