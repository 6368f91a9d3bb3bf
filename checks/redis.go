package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/healthgate/healthgate/config"
)

// go-redis logs through a process-wide logger that writes to stderr, around our slog and its
// redaction (docs/design.md §8). Our checks report every failure themselves, so its lines are dropped.
var silenceRedis sync.Once

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// redisCheck is one check; its client is shared by the checks of its target (shared.go).
type redisCheck struct {
	role    string // "", "master" or "replica"
	key     string // read by each run instead of PING (redisSpec.Key)
	shared  *redisShared
	release func()
}

// redisShared is the client of one target, shared by its checks. go-redis's client is replaced when a
// run finds the network failing (drop): each replaced client closes once no run still uses it, so one
// check's failure never closes a connection under another check's run.
type redisShared struct {
	opts     *redis.Options
	failover *redis.FailoverOptions // through Sentinel; nil for one server
	life     *clientLife
	watch    dialWatch // go-redis dials from a goroutine of its own, for whichever run needs a connection
	// handshaking counts the TLS handshakes under way: a run that times out while one is, timed out
	// on it.
	handshaking atomic.Int32
	// helloDropped: a connection was closed at its first command, go-redis's HELLO, with no answer
	// (respConn), as twemproxy does, and as a server does that closes every connection.
	helloDropped atomic.Bool
	// denied: a new connection's first reply was a -DENIED (protected mode), which go-redis takes as the
	// answer of a server without HELLO, and drops; the run then fails on the connection the server closed.
	denied atomic.Bool
	// full: a new connection's first reply was the server's refusal at its maxclients (redisFullWords),
	// which go-redis takes as the answer of a server without HELLO, and drops, as it does -DENIED.
	full atomic.Bool
	// pongless: the last look into a dropped HELLO got no PONG either (a server or proxy that closes
	// every connection, not twemproxy); until a run passes, later drops are not looked into, so such a
	// dependency sees one connection a run, not two.
	pongless atomic.Bool
	// noClusterInfo: the server answered CLUSTER INFO with an error (no cluster support, the command
	// renamed, an ACL without it, a proxy): runs no longer ask, until one fails (the server may have
	// been restarted as a cluster node).
	noClusterInfo atomic.Bool
	// noReplicationInfo: the same for INFO replication (role: master's look at min-replicas-to-write).
	noReplicationInfo atomic.Bool

	mu   sync.Mutex
	cur  *redisGen
	runs map[*redisRun]struct{} // the runs under way: a handshake that fails fails each of them
}

// redisGen is one go-redis client of a shared target and the runs using it.
type redisGen struct {
	client  *redis.Client
	users   int  // runs using it
	ended   int  // of which, runs whose context ended (deadline or cancellation)
	retired bool // runs no longer start on it
	closed  bool
}

// redisRun is one run under way on a shared client.
type redisRun struct {
	trace        *trace                // the run's (nil outside one)
	handshakeErr atomic.Pointer[Error] // the last TLS handshake failure while it was under way
	ended        bool                  // its context ended while it used its client (guarded by redisShared.mu)
}

// redisSpec is a redis check's own configuration (config.Check.Spec, decoded).
type redisSpec struct {
	URL  string `yaml:"url" secret:"true" schema:"minLength=1,form=redis-url"`
	Role string `yaml:"role" schema:"enum=master|primary|replica|slave"`
	// Key: through a proxy that answers PING itself (twemproxy), each run reads this key (EXISTS: no
	// value read, nothing written) so that it reaches a server behind the proxy, and go-redis's HELLO,
	// which twemproxy does not know, is kept off the wire (respConn).
	Key string     `yaml:"key" schema:"minLength=1" desc:"Through a proxy that answers PING itself (twemproxy), a key each run reads (EXISTS), so that the run reaches a server behind it."`
	TLS config.TLS `yaml:"tls" plain:"redis|unix"`
}

func buildRedis(c config.Check, s *redisSpec) (prober, string, config.Errors) {
	if s.URL == "" {
		return nil, "", config.Errors{c.Src.Errorf("url", "required: a redis:// or rediss:// URL")}
	}
	if u, err := url.Parse(s.URL); err == nil && cutAtQuery(u) {
		// go-redis quotes a parameter it does not know: the password's rest (unexpected option: ...).
		return nil, "", config.Errors{c.Src.Errorf("url", "not a valid redis URL: %s", cutAtQueryWords)}
	}
	opts, err := redis.ParseURL(s.URL)
	var fo *redis.FailoverOptions // Sentinel: the URL names a master (master_name=)
	if sentinelMaster(s.URL) != "" {
		if fo, err = redis.ParseFailoverURL(s.URL); err == nil {
			// The master's settings, as the rest of the build reads them; Addr is the first Sentinel's.
			opts = &redis.Options{Addr: fo.SentinelAddrs[0], DB: fo.DB, TLSConfig: fo.TLSConfig}
		}
	}
	if err != nil {
		return nil, "", config.Errors{c.Src.Errorf("url", "%s", redisURLProblem(s.URL, err))}
	}
	var errs config.Errors
	// Neither net/url nor go-redis checks a port's range: every run would fail at the dial, unclassified.
	addrs := []string{opts.Addr}
	if fo != nil {
		addrs = fo.SentinelAddrs
	}
	for _, a := range addrs {
		if _, p, err := net.SplitHostPort(a); err == nil && opts.Network != "unix" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				errs = append(errs, c.Src.Errorf("url", "the port must be a number from 1 to 65535"))
				break
			}
		}
	}
	if opts.DB < 0 {
		errs = append(errs, c.Src.Errorf("url", "the database number must be 0 or more (got %d)", opts.DB))
	}
	role := s.Role
	switch role {
	case "", "master", "replica":
	case "primary":
		role = "master"
	case "slave":
		role = "replica"
	default:
		errs = append(errs, c.Src.Errorf("role", "must be master (or primary) or replica %s", config.Got(s.Role, c.Src.Vars["role"])))
	}
	// Bounded by the check's timeout; no retries hidden inside one run: a refused dial must report
	// refused at once, not timeout after five 100 ms retries (docs/design.md §8).
	opts.DialTimeout = c.Timeout
	opts.ReadTimeout = c.Timeout
	opts.WriteTimeout = c.Timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.PoolSize = 2
	opts.MinIdleConns = 0
	opts.DisableIdentity = true // no CLIENT SETINFO on every new connection
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if tlsWritten(c, s.TLS) {
		// Even an empty block: `tls: {}` turns TLS on for grpc, mysql and postgres, and must not pass
		// here for a plaintext connection that its writer believes is encrypted.
		if opts.TLSConfig == nil {
			errs = append(errs, c.Src.Errorf("tls", "applies to rediss:// URLs; this one is redis:// (no TLS)"))
		} else if tlsGiven(s.TLS) {
			cfg, tlsErrs := clientTLS(s.TLS)
			errs = append(errs, tlsErrs...)
			if cfg.ServerName == "" {
				cfg.ServerName = opts.TLSConfig.ServerName // the URL's host, as go-redis sets it
			}
			cfg.InsecureSkipVerify = cfg.InsecureSkipVerify || opts.TLSConfig.InsecureSkipVerify // ?skip_verify=true
			opts.TLSConfig = cfg
		}
	}
	if fo != nil && opts.TLSConfig != nil && s.TLS.ServerName == "" {
		// Through Sentinel, each server is verified as the host it is dialled by (tlsDialer): the
		// Sentinels as written in the URL, the master as the Sentinels name it. go-redis would verify
		// every one as the first Sentinel's host, which a master's certificate need not hold.
		opts.TLSConfig.ServerName = ""
	}
	silenceRedis.Do(func() { redis.SetLogger(quietRedisLogger{}) })
	target := opts.Addr + "/" + fmt.Sprint(opts.DB)
	if opts.Network == "unix" {
		target = opts.Addr
	}
	if fo != nil {
		target = "sentinel " + strings.Join(fo.SentinelAddrs, ",") + " master " + fo.MasterName + "/" + fmt.Sprint(fo.DB)
		fo.DialTimeout, fo.ReadTimeout, fo.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
		fo.ContextTimeoutEnabled, fo.MaxRetries, fo.DialerRetries = true, opts.MaxRetries, opts.DialerRetries
		fo.PoolSize, fo.MinIdleConns, fo.DisableIdentity = opts.PoolSize, 0, true
	}
	if len(errs) > 0 {
		return nil, "", errs
	}
	// Shared by every check of this URL, TLS settings and timeout (go-redis's dial, read and write
	// timeouts are the client's); the role each asks for is its own.
	key := keyOf("redis", s.URL, c.Timeout.String(), tlsKey(s.TLS), strconv.FormatBool(s.Key != ""))
	sh, release, _ := share(key, func() (*redisShared, func(), error) {
		sh := &redisShared{opts: opts, failover: fo, life: newClientLife(), runs: map[*redisRun]struct{}{}}
		if opts.TLSConfig != nil {
			opts.Dialer = sh.tlsDialer(opts.TLSConfig, c.Timeout)
		} else {
			// go-redis's own dialer, traced (keep-alive as go-redis sets it).
			d := &net.Dialer{Timeout: c.Timeout, KeepAlive: 5 * time.Minute}
			opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := sh.watch.dial(ctx, d, network, addr)
				if err != nil {
					return nil, err
				}
				return newRESPConn(conn, s.Key != "", &sh.helloDropped, &sh.denied, &sh.full), nil
			}
		}
		if fo != nil {
			fo.Dialer, fo.TLSConfig = opts.Dialer, opts.TLSConfig // to the Sentinels and to the master they name
		}
		return sh, sh.close, nil
	})
	return &redisCheck{role: role, key: s.Key, shared: sh, release: release}, target, nil
}

// sentinelMaster is the master_name of a URL that names one (go-redis's Sentinel URL), or "".
func sentinelMaster(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get("master_name")
}

// sentinelError says which side of Sentinel a run's failure is on: no Sentinel answered, the Sentinels
// know no master of that name, or the master they name does not answer (down, and not failed over yet).
func sentinelError(err error, master string) error {
	inner, class := err, ClassOf(err)
	var e *Error
	if errors.As(err, &e) {
		inner = e.Err
	}
	quoted := strings.ReplaceAll(strconv.Quote(master), "%", "%%") // a hint's only verb is the origin's
	switch {
	case strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable") && errors.Is(err, redis.Nil):
		return &Error{Class: BadResponse, Err: fmt.Errorf("the Sentinels watch no master named %q", master), Hint: "the Sentinels in %s know no master named " + quoted + ": check master_name"}
	case strings.Contains(err.Error(), "all sentinels specified in configuration are unreachable"):
		return &Error{Class: class, Err: inner, Hint: "no Sentinel in %s answered: are they running, and are their addresses right (the URL's host and each addr=)?"}
	case refusesCommand(err.Error(), "sentinel"):
		// A server that is not a Sentinel at the URL's address: the Redis server's own port, most often.
		return &Error{Class: BadResponse, Err: inner, Hint: "the server in %s does not know the SENTINEL command: it is not a Sentinel (a Redis server's own port, 6379, where Sentinels listen on 26379?); with master_name=, the URL's host and each addr= are the Sentinels to ask; without it, the URL is the Redis server itself"}
	case class == Refused || class == Timeout || class == Reset:
		return &Error{Class: class, Err: inner, Hint: "the master the Sentinels in %s name (its address is in the error) does not answer: it is down and Sentinel has not failed over yet (it waits down-after-milliseconds), or it cannot be reached from here"}
	}
	return err
}

// redisURLProblem says what is wrong with a URL go-redis refused. go-redis messages quote parts of the
// URL, which can hold the password when its syntax is broken, so they are not passed on as they are.
func redisURLProblem(raw string, err error) string {
	const form = "redis://[user:password@]host:port/db, rediss://... or unix:///path"
	if urlSyntaxError(err) {
		if _, perr := url.Parse(raw); perr != nil {
			return urlParseProblem("not a valid redis URL ("+form+")", "redis", raw, perr)
		}
		return "not a valid redis URL (" + form + ")"
	}
	u, perr := url.Parse(raw) // it parsed: the problem is in what go-redis reads from it
	if perr != nil {
		return "not a valid redis URL (" + form + ")"
	}
	shown := func(s string) string {
		if pw, ok := u.User.Password(); (ok && pw != "" && strings.Contains(s, pw)) || strings.ContainsAny(s, "@") || len(s) > 64 {
			return "(not shown)"
		}
		return strconv.Quote(s)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid database number"):
		db := strings.Trim(u.Path, "/")
		if v := u.Query().Get("db"); v != "" {
			db = v
		}
		return "the database number (the path after host:port, as in redis://host:6379/0) must be a whole number, got " + shown(db)
	case strings.Contains(msg, "invalid URL path"):
		return "the path must be one database number, as in redis://host:6379/0; got " + shown(u.Path)
	case strings.Contains(msg, "invalid URL scheme"):
		// localhost:6379, cache:6379: net/url reads the host's name as a scheme.
		if fixed, ok := schemeless("redis", raw); ok && u.Opaque != "" {
			return "not a valid redis URL: " + noSchemeWords + fixed
		}
		return "not a valid redis URL: the scheme must be redis, rediss or unix, not " + shown(u.Scheme)
	}
	msg = strings.TrimPrefix(msg, "redis: ")
	// go-redis's "invalid NAME number: ...", "... duration: ...", "... boolean: ..." quote the value.
	if rest, ok := strings.CutPrefix(msg, "invalid "); ok {
		for kind, words := range map[string]string{" number: ": notWholeNumber, " duration: ": notDuration, " boolean: ": notTrueOrFalse} {
			if name, _, ok := strings.Cut(rest, kind); ok && !strings.Contains(name, " ") {
				return "not a valid redis URL: parameter " + name + ": " + words
			}
		}
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return "not a valid redis URL: " + msg
}

// tlsDialer dials and then shakes hands under the run's context, so a handshake failure is reported
// as such. A plain Redis reading a ClientHello waits for a newline that never comes, exactly like a
// hung server: that case stays a timeout, with a hint that names TLS.
const (
	tlsSilentHint      = "no answer to the TLS handshake: the server may not speak TLS (use redis:// in %s), or it is hung"
	redisPlainPortHint = "the server answered the TLS handshake with something else, or closed the connection: the port may not speak TLS (use redis:// in %s, or the server's TLS port)"
)

// go-redis may report only its context's error when a dial overruns, so the classified handshake
// error is also kept for probe. A configuration without a server name (through Sentinel) verifies each
// server as the host of the address dialled.
func (s *redisShared) tlsDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		raw, err := s.watch.dial(ctx, &d, network, addr)
		if err != nil {
			return nil, err
		}
		// go-redis may dial under a context of its own: the handshake's request for a certificate, its
		// completion and the server's answers are noted in every run under way (as its failure is), for
		// certRefused.
		hs := &trace{}
		c := noticeCertRequests(cfg, hs)
		if c.ServerName == "" && !c.InsecureSkipVerify {
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		conn := tls.Client(raw, c)
		s.handshaking.Add(1)
		// Decremented only after the outcome is stored: run reads handshaking first, while it is
		// still among s.runs, and handshakeErr after, so it sees one or the other whatever the
		// interleaving (read the other way round, both reads can fall between the store and the
		// decrement).
		defer s.handshaking.Add(-1)
		err = conn.HandshakeContext(ctx)
		hs.tlsDone.Store(err == nil)
		s.noteHandshake(hs)
		if err != nil {
			_ = raw.Close()
			herr := &Error{Class: TLS, Err: fmt.Errorf("TLS handshake: %w", err)}
			if s.failover != nil {
				herr = s.sentinelHandshakeError(addr, err, cfg.ServerName != "")
			} else if hs.certAsked.Load() {
				// The server spoke TLS, far enough to ask for a client certificate (certRefused).
			} else if e, ok := plainPortError(ctx, err, redisPlainPortHint); ok {
				herr = e
			}
			if ctx.Err() != nil || ClassOf(err) == Timeout {
				herr = &Error{Class: Timeout, Err: herr.Err, Hint: tlsSilentHint}
			}
			s.mu.Lock()
			for r := range s.runs {
				r.handshakeErr.Store(herr)
			}
			s.mu.Unlock()
			return nil, herr
		}
		return &heardConn{Conn: conn, answered: func() {
			if !hs.answered.Swap(true) {
				s.noteHandshake(hs)
			}
		}}, nil
	}
}

// noteHandshake marks what a TLS connection of the client saw (asked for a client certificate, its
// handshake completed, the server's first answer) in the trace of every run under way.
func (s *redisShared) noteHandshake(hs *trace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.runs {
		if t := r.trace; t != nil {
			t.certAsked.CompareAndSwap(false, hs.certAsked.Load())
			t.certAskedTLS13.CompareAndSwap(false, hs.certAskedTLS13.Load())
			t.tlsDone.CompareAndSwap(false, hs.tlsDone.Load())
			t.answered.CompareAndSwap(false, hs.answered.Load())
		}
	}
}

// Through Sentinel, the master's address comes from the Sentinels, not from the URL, so the hostname hint
// of a URL's host does not fit: the master is verified as the host the Sentinels name it by, or as
// tls.server_name when it is set.
const (
	sentinelMasterHostnameHint = "the certificate of the master the Sentinels name does not hold the host they name it by (in the error): give it that name or address, have the Sentinels name masters by hostnames it holds (announce-hostnames), or set tls.server_name to a name every server's certificate holds"
	sentinelServerNameHint     = "the certificate of the master the Sentinels name does not hold tls.server_name: set it to a name that every server's certificate (the Sentinels' and the master's) holds, or leave it out to verify each server as the host it is dialled by"
)

// sentinelHandshakeError is a failed TLS handshake through Sentinel, naming the server it was with (a
// Sentinel of the URL, or the master the Sentinels name), since the target names only the Sentinels;
// named: tls.server_name is set.
func (s *redisShared) sentinelHandshakeError(addr string, err error, named bool) *Error {
	if slices.Contains(s.failover.SentinelAddrs, addr) {
		return &Error{Class: TLS, Err: fmt.Errorf("TLS handshake with Sentinel %s: %w", addr, err)}
	}
	herr := &Error{Class: TLS, Err: fmt.Errorf("TLS handshake with the master %s (as the Sentinels name it): %w", addr, err)}
	var hostname x509.HostnameError
	if errors.As(err, &hostname) {
		herr.Hint = sentinelMasterHostnameHint
		if named {
			herr.Hint = sentinelServerNameHint
		}
	}
	return herr
}

// use returns the current client, creating it lazily, and counts run as using it. go-redis opens a
// dial circuit breaker after PoolSize failed dials and then re-dials only once a second from a
// background goroutine; a run that found the network failing replaces the client instead (drop), so
// the next run dials afresh and `wait` sees the dependency the moment it listens.
func (s *redisShared) use(run *redisRun) *redisGen {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		if s.failover != nil {
			s.cur = &redisGen{client: redis.NewFailoverClient(s.failover)}
		} else {
			s.cur = &redisGen{client: redis.NewClient(s.opts)}
		}
	}
	s.cur.users++
	s.runs[run] = struct{}{}
	return s.cur
}

// done ends a run's use of g.
func (s *redisShared) done(run *redisRun, g *redisGen) {
	s.mu.Lock()
	delete(s.runs, run)
	g.users--
	if run.ended {
		g.ended--
	}
	closing := s.closableLocked(g)
	s.mu.Unlock()
	if closing {
		_ = g.client.Close()
	}
}

// ctxEnded: a run's work ended by its deadline, or by the end of the client's life (the last check
// closed: shutdown), while it used g. go-redis bounds a read by the context's deadline but does not
// watch its cancellation: closing the client is what ends a read from a hung Redis at once. So g is
// dropped, and closed at once if every run on it has ended too; a run of another check still under
// way on it keeps it until it returns, bounded by its own deadline.
func (s *redisShared) ctxEnded(run *redisRun, g *redisGen) {
	s.mu.Lock()
	_, using := s.runs[run]
	if using && !run.ended {
		run.ended = true
		g.ended++
	}
	s.mu.Unlock()
	if using {
		s.drop(g)
	}
}

// drop makes new runs use a fresh client; g closes once no run needs it.
func (s *redisShared) drop(g *redisGen) {
	s.mu.Lock()
	if s.cur == g {
		s.cur = nil
	}
	g.retired = true
	closing := s.closableLocked(g)
	s.mu.Unlock()
	if closing {
		_ = g.client.Close()
	}
}

func (s *redisShared) closableLocked(g *redisGen) bool {
	if g.retired && !g.closed && (g.users == 0 || g.ended == g.users) {
		g.closed = true
		return true
	}
	return false
}

// close closes the client when the last check of the target is closed: the work of runs still under
// way (cancelled runs') is cancelled first.
func (s *redisShared) close() {
	s.life.end()
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	if g != nil {
		s.drop(g)
	}
}

// probe runs on the shared client, not cut short by the run's cancellation (see clientLife): a
// cancelled run returns at once, and its round trip ends by itself or at the run's deadline.
func (r *redisCheck) probe(ctx context.Context) error { return r.shared.life.detached(ctx, r.run) }

func (r *redisCheck) run(ctx context.Context) error {
	run := &redisRun{trace: traceOf(ctx)}
	s := r.shared
	waited := s.watch.wait(ctx)
	g := s.use(run)
	stop := context.AfterFunc(ctx, func() { s.ctxEnded(run, g) })
	err := r.once(ctx, g.client)
	stop()
	handshaking := s.handshaking.Load() > 0 // before run leaves s.runs: see tlsDialer
	s.done(run, g)
	// go-redis does not say whether a run got a connection: a run that timed out learns how the
	// client's dials went (shared.go).
	waited(ClassOf(err) != Timeout && ctx.Err() == nil)
	if herr := run.handshakeErr.Load(); herr != nil && err != nil {
		err = herr
	} else if err != nil && (ClassOf(err) == Timeout || ctx.Err() != nil) && handshaking {
		err = &Error{Class: Timeout, Err: fmt.Errorf("TLS handshake: %w", err), Hint: tlsSilentHint}
	}
	err = certRefused(ctx, err)
	if err != nil && s.failover != nil {
		err = sentinelError(err, s.failover.MasterName)
	}
	if denied := s.denied.Swap(false); err != nil && denied {
		// Whatever go-redis made of it (a reset on the closed connection; with key, the refusal of HELLO
		// made up here), the server said why.
		err = &Error{Class: Auth, Err: errors.New("the server refused the connection: " + redisProtectedWords), Hint: redisProtectedHint}
	}
	if full := s.full.Swap(false); err != nil && full {
		// The same for a server at its maxclients: a reset, a timeout on a connection it kept open, or
		// with key the refusal of HELLO made up here, read in place of the server's.
		err = &Error{Class: NotReady, Err: errors.New("the server refused the connection: " + redisFullReply), Hint: redisFullHint}
	}
	if dropped := s.helloDropped.Swap(false); err != nil && dropped && ClassOf(err) == Reset && !s.pongless.Load() {
		if s.pongWithoutHello(ctx) {
			err = &Error{Class: BadResponse, Err: errors.New("the server closed the connection at HELLO, go-redis's first command, and answers PING without it"), Hint: redisHelloDroppedHint}
		} else {
			s.pongless.Store(true)
		}
	} else if err == nil {
		s.pongless.Store(false)
	}
	if err != nil {
		s.noClusterInfo.Store(false)
		s.noReplicationInfo.Store(false)
	}
	var mismatch *roleMismatch
	switch {
	case ClassOf(err) == Refused || ClassOf(err) == DNS || ClassOf(err) == Timeout || ClassOf(err) == Reset || ClassOf(err) == TLS:
		if !proxied(err) {
			s.drop(g)
		}
	case s.failover != nil && errors.As(err, &mismatch):
		// Through Sentinel, the server of the kept connection is no longer of the role asked: a
		// failover demoted it, or replica_only found no replica yet and fell back to the master. The next
		// run asks the Sentinels again, on a fresh client.
		s.drop(g)
	}
	return withTLSHint(err)
}

// redisReplicaWantedHint is the hint of a check with role: replica that reached the primary (flagHints has
// its words for a target given by flag).
const redisReplicaWantedHint = "the server is the primary, not a replica: point %s at a replica (through Sentinel, add replica_only=true to the url), or remove role: replica if the primary will do"

// roleMismatch: the server is not of the role the check asks for.
type roleMismatch struct{ msg string }

func (e *roleMismatch) Error() string { return e.msg }

func (r *redisCheck) once(ctx context.Context, c *redis.Client) error {
	if r.key != "" {
		if err := c.Exists(ctx, r.key).Err(); err != nil {
			if cmd, ok := unknownProbeCommand(redisErrorText(err)); ok && cmd == "EXISTS" && r.shared.failover == nil && atSentinel(ctx, c) {
				return atSentinelError()
			}
			return classifyRedis(err)
		}
	} else {
		pong, err := c.Ping(ctx).Result()
		if err != nil {
			return classifyRedis(err)
		}
		if pong != "PONG" {
			return &Error{Class: BadResponse, Err: fmt.Errorf("PING answered %q, not PONG", truncate(pong, 64))}
		}
		// With key, EXISTS already met a cluster that is down (CLUSTERDOWN).
		if err := r.shared.clusterState(ctx, c); err != nil {
			return err
		}
	}
	if r.role == "" {
		return nil
	}
	res, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return classifyRedis(err)
	}
	if len(res) == 0 {
		return &Error{Class: BadResponse, Err: errors.New("ROLE answered an empty reply")}
	}
	got, _ := res[0].(string)
	switch {
	case got == "sentinel" && r.shared.failover == nil:
		return atSentinelError()
	case r.role == "master" && got != "master":
		return &Error{Class: ReadOnly, Err: &roleMismatch{fmt.Sprintf("server role is %q; role: master needs the primary", got)}}
	case r.role == "replica" && got != "slave":
		return &Error{Class: BadResponse, Err: &roleMismatch{fmt.Sprintf("server role is %q; role: replica expects a replica", got)}, Hint: redisReplicaWantedHint}
	case r.role == "replica" && len(res) >= 4 && res[3] != "connected":
		return &Error{Class: NotReady, Err: fmt.Errorf("replica link to its primary is %v", res[3])}
	case r.role == "master":
		return r.shared.minReplicas(ctx, c)
	}
	return nil
}

// clusterState fails a Redis Cluster node whose cluster is down: such a node answers PING, but while
// its cluster_state is fail (a slot no node serves, or the node cut off from the majority of primaries)
// it refuses every key with CLUSTERDOWN, and the service behind it cannot work. One CLUSTER INFO a run
// on a cluster node; a server that answers it with an error is not asked again (noClusterInfo).
func (s *redisShared) clusterState(ctx context.Context, c *redis.Client) error {
	if s.noClusterInfo.Load() {
		return nil
	}
	info, err := c.ClusterInfo(ctx).Result()
	var re redis.Error
	switch {
	case errors.As(err, &re):
		// A Sentinel answers PING as a server does, and knows no CLUSTER: ROLE tells it from a server
		// with CLUSTER renamed or disabled (a Redis without cluster support says so in other words).
		if strings.HasPrefix(re.Error(), "ERR unknown command") && s.failover == nil && atSentinel(ctx, c) {
			return atSentinelError()
		}
		s.noClusterInfo.Store(true) // "cluster support disabled", unknown command, NOPERM: nothing to look at
		return nil
	case err != nil:
		return classifyRedis(err)
	}
	fields := infoFields(info)
	if state := fields["cluster_state"]; state != "ok" {
		return &Error{Class: NotReady, Hint: redisClusterDownHint,
			Err: fmt.Errorf("cluster_state:%s (slots served %s of 16384, %s known nodes)", truncate(state, 16), truncate(fields["cluster_slots_ok"], 8), truncate(fields["cluster_known_nodes"], 8))}
	}
	return nil
}

// minReplicas fails a primary that refuses writes for want of replicas, as role: master asks for one
// that takes writes: with min-replicas-to-write set, it answers every write NOREPLICAS while fewer
// replicas than that are connected and within min-replicas-max-lag (a primary cut off from its
// replicas, as the setting intends), and answers PING and ROLE all the same. INFO replication counts
// such replicas (min_slaves_good_slaves) only while the setting is on; the setting itself is read with
// CONFIG GET, which an ACL or a managed service may refuse: then none good is known to refuse writes,
// and some good cannot be judged. A server that answers INFO with an error is not asked again until a
// run fails (noReplicationInfo).
func (s *redisShared) minReplicas(ctx context.Context, c *redis.Client) error {
	if s.noReplicationInfo.Load() {
		return nil
	}
	info, err := c.Info(ctx, "replication").Result()
	var re redis.Error
	switch {
	case errors.As(err, &re):
		s.noReplicationInfo.Store(true)
		return nil
	case err != nil:
		return classifyRedis(err)
	}
	good, err := strconv.Atoi(infoFields(info)["min_slaves_good_slaves"])
	if err != nil {
		return nil // the setting is off (or the field unknown to this server)
	}
	need, known := 1, false // on, so at least 1
	conf, err := c.ConfigGet(ctx, "min-replicas-to-write").Result()
	switch {
	case err == nil:
		if n, err := strconv.Atoi(conf["min-replicas-to-write"]); err == nil && n > 0 {
			need, known = n, true
		}
	case !errors.As(err, &re):
		return classifyRedis(err)
	}
	if good >= need {
		return nil
	}
	msg := fmt.Sprintf("the primary refuses writes (NOREPLICAS): %d replicas connected and within min-replicas-max-lag, min-replicas-to-write asks for %d", good, need)
	if !known {
		msg = "the primary refuses writes (NOREPLICAS): no replica connected and within min-replicas-max-lag, and min-replicas-to-write is on"
	}
	return &Error{Class: ReadOnly, Err: errors.New(msg), Hint: redisNoReplicasHint}
}

// atSentinel asks ROLE whether the server is a Redis Sentinel: asked only when the server refused a
// command every Redis server knows (CLUSTER, EXISTS), so a Redis server costs no round trip more.
func atSentinel(ctx context.Context, c *redis.Client) bool {
	res, err := c.Do(ctx, "ROLE").Slice()
	return err == nil && len(res) > 0 && res[0] == "sentinel"
}

// atSentinelError is the failure of a check whose URL, without master_name, is a Sentinel's: a Sentinel
// answers PING (and HELLO, AUTH, ROLE) as a Redis server does, so the run passed, while an application
// given the same URL has every command on data refused.
func atSentinelError() error {
	return &Error{Class: BadResponse, Hint: redisAtSentinelHint,
		Err: errors.New("the server is a Redis Sentinel (ROLE answered sentinel), not a Redis server: it answers PING and refuses every command on data")}
}

const redisSelectUnknownHint = "the server does not know SELECT, which picks the database number in %s (its path, redis://host:6379/N): a Redis Sentinel's address (port 26379 by default) holds no data; to check the master it watches, add master_name=NAME to %s (redis://SENTINEL:26379/N?master_name=mymaster); otherwise point it at the Redis server itself (port 6379)"

const redisAtSentinelHint = "the address in %s is a Redis Sentinel's (port 26379 by default), which holds no data: to check the master it watches, add master_name=NAME to %s (redis://SENTINEL:26379/0?master_name=mymaster, more Sentinels as &addr=HOST:26379); otherwise point it at the Redis server itself (port 6379)"

// redisErrorText is the text of a Redis error reply in err, or "".
func redisErrorText(err error) string {
	var re redis.Error
	if errors.As(err, &re) {
		return re.Error()
	}
	return ""
}

// infoFields is an INFO (or CLUSTER INFO) answer's name:value lines, by name.
func infoFields(info string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		fields[k] = v
	}
	return fields
}

// close releases this check's reference to the shared client: the last one closes it.
func (r *redisCheck) close() { r.release() }

// unknownProbeCommand reports a server's "ERR unknown command 'ping'" for one of the commands a run sends
// (PING, EXISTS, ROLE), and that command. Its answer goes on to quote the arguments ("with args beginning
// with:"), which these have none of that is a secret, but it is not shown: the command is all a hint needs.
func unknownProbeCommand(reply string) (string, bool) {
	rest, ok := strings.CutPrefix(reply, "ERR unknown command ")
	if !ok || rest == "" || (rest[0] != '\'' && rest[0] != '`') {
		return "", false
	}
	name, _, _ := strings.Cut(rest[1:], rest[:1]) // quoted '...', or `...` by Redis before 6.2
	switch cmd := strings.ToUpper(name); cmd {
	case "PING", "EXISTS", "ROLE":
		return cmd, true
	}
	return "", false
}

// refusesCommand reports whether text holds a server's refusal of the command name as unknown. Redis 6.2
// and later quote the name 'name'; before, with backquotes (ERR unknown command `name`, with args
// beginning with: `arg`, ), as Redis 5 and 6.0 still do where they run (managed services among them).
func refusesCommand(text, name string) bool {
	text, name = strings.ToLower(text), strings.ToLower(name)
	return strings.Contains(text, "unknown command '"+name+"'") || strings.Contains(text, "unknown command `"+name+"`")
}

const redisUnknownCommandHint = "the server does not know a command the check runs: it was renamed or disabled (rename-command in its configuration): without PING, set key in the check (for a --redis target, --set redis.key=KEY), a key each run reads with EXISTS; without ROLE, leave role out; or have the command kept"

// Protected mode (Redis 3.2+, the default): without a password for the default user and without an
// explicit bind, Redis answers a connection from another host with -DENIED and closes it.
const (
	redisProtectedWords = "DENIED: Redis is running in protected mode (no password set, a client from another host)"
	redisProtectedHint  = "the server is in protected mode: it takes connections from other hosts only once a password is set (requirepass, or an ACL user) or protected-mode is off with an explicit bind; set a password on the server and give it in %s (redis://:PASSWORD@host:6379/0)"
)

// Redis Cluster: the check speaks to the one node of its URL, not to the cluster.
const (
	redisMovedHint       = "the server is a Redis Cluster node, and the key is in a slot another node serves (the error names it): this check reads from the node in %s alone; choose a key of a slot this node serves, or point %s at the node that serves it"
	redisClusterDownHint = "the server is a Redis Cluster node and its cluster is down: it answers PING but refuses every key (CLUSTERDOWN) until each of the 16384 slots is served by a reachable primary and the node reaches the majority of primaries; CLUSTER INFO and CLUSTER NODES on it show which slots or nodes are failing"
	redisNoReplicasHint  = "the primary takes no writes until enough replicas are connected and within min-replicas-max-lag (min-replicas-to-write): see INFO replication on it, and why its replicas are gone or behind (a network cut, replicas restarting)"
	redisClusterDBHint   = "the server is a Redis Cluster node, which has database 0 only: use /0 in %s (redis://host:6379/0)"
)

// redisNoPermHint: the credentials were accepted; the ACL user lacks what the check runs (a password
// fix would not help).
const redisNoPermHint = "the user and password were accepted, but the user's ACL refuses what the check runs (the error names the command or the key): allow PING, ROLE with role, EXISTS and the key with key, SELECT with a database other than 0 in %s (ACL SETUSER USER +ping +role +exists ~KEY +select), or use a user that has them"

// redisDBHint: SELECT of the url's database number failed.
const redisDBHint = "the database number in %s (the url's path, redis://host:6379/N) is not one this server has: it has `databases` of them (16 unless its config says otherwise), numbered from 0"

// A Redis at its maxclients writes redisFullReply (with " + cluster connections" in it on a cluster node)
// to a new connection, before any command, and closes it.
const (
	redisFullWords = "ERR max number of clients"
	redisFullReply = "ERR max number of clients reached"
	redisFullHint  = "the server is at its connection limit (maxclients: 10000 by default, lowered at its start to what its open-file limit allows): it refuses every new connection until other clients disconnect (INFO clients counts them, CLIENT LIST shows who: a client leaking connections never does), or raise maxclients"
)

const redisNotRedisHint = "the server's answer is not the Redis protocol: is this port Redis's (6379) in %s?"

// helloRefusal is Redis 5's answer to HELLO, which respConn gives in place of the server's.
const helloRefusal = "-ERR unknown command 'HELLO'\r\n"

// isHello: p is one command whose name is HELLO (*N\r\n$5\r\nhello\r\n...).
func isHello(p []byte) bool {
	s := string(p[:min(len(p), 32)])
	if !strings.HasPrefix(s, "*") {
		return false
	}
	_, rest, ok := strings.Cut(s, "\r\n")
	return ok && len(rest) >= 11 && strings.EqualFold(rest[:11], "$5\r\nhello\r\n")
}

const redisHelloDroppedHint = "the address in %s is a proxy that does not know HELLO (twemproxy), and such a proxy answers PING itself, without its servers: set key in the check (for a --redis target, --set redis.key=KEY), a key each run reads through the proxy"

// pongWithoutHello tells a proxy that closed a connection at HELLO (twemproxy) from a server that closes
// every connection (a restart, a load balancer with no server behind it): it asks PING, alone, on a
// connection of its own, within the run. Only after a connection was closed at HELLO, so once per such
// failure.
func (s *redisShared) pongWithoutHello(ctx context.Context) bool {
	if s.failover != nil {
		return false // the address is a Sentinel's
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, s.opts.Network, s.opts.Addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return false
	}
	answer := make([]byte, 7)
	_, err = io.ReadFull(conn, answer)
	return err == nil && string(answer) == "+PONG\r\n"
}

// respConn is a plaintext connection to a Redis server, or to a proxy in front of it.
//
// It checks the first byte the server sends (firstBytesConn, judged by respFirstByte): every RESP2 and
// RESP3 reply starts with one of a few type bytes. go-redis ignores the error of a peek: the verdict fails
// every read after it.
//
// It watches, or keeps off the wire, go-redis's HELLO, the first command of every new connection (go-redis
// sends it whatever the protocol asked for). twemproxy, the proxy that shards a pool of Redis servers,
// closes the connection on a command it does not know, HELLO among them (go-redis#2616), and answers PING
// itself, without its servers. So a check with a key (redisSpec.Key) answers HELLO here as a server
// without it does (Redis before 6), and go-redis goes on in RESP2, with AUTH for the URL's user and
// password, while its runs read the key, which twemproxy passes to a server; the made-up answer is never
// judged as the server's first bytes. A check without one sends HELLO, and a connection closed at it with
// no answer sets dropped, for the run to look into (redisShared.pongWithoutHello).
//
// Plaintext only: twemproxy speaks no TLS, and over TLS 1.3 a server's refusal of the client certificate
// arrives after the handshake, as the answer to the first command written, which must then be a real one
// for the refusal to be read as TLS. go-redis uses a connection from one goroutine at a time.
type respConn struct {
	firstBytesConn
	sc syscall.Conn // go-redis's check of an idle pooled connection reads the socket itself

	answerHello bool         // answer HELLO here
	dropped     *atomic.Bool // set when the server closes the connection at HELLO
	denied      *atomic.Bool // set when the server's first reply is -DENIED (protected mode)
	full        *atomic.Bool // set when the server's first reply is its refusal at maxclients
	hello       bool         // the first write was HELLO
	wrote       bool         // the first write has been seen
	read        bool         // a byte came from the server
	pending     []byte       // the made-up answer, read before anything from the server
}

func newRESPConn(c net.Conn, answerHello bool, dropped, denied, full *atomic.Bool) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c // never: the dialer's connections are TCP or unix sockets
	}
	return &respConn{firstBytesConn: firstBytesConn{Conn: c, judge: respFirstByte}, sc: sc, answerHello: answerHello, dropped: dropped, denied: denied, full: full}
}

func (c *respConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

func (c *respConn) Write(p []byte) (int, error) {
	if !c.wrote {
		c.wrote = true
		c.hello = isHello(p)
		if c.hello && c.answerHello {
			c.pending = []byte(helloRefusal)
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

func (c *respConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	n, err := c.firstBytesConn.Read(b)
	if n > 0 {
		if !c.read {
			switch head := string(b[:min(n, 1+len(redisFullWords))]); {
			case strings.HasPrefix(head, "-DENIED"):
				c.denied.Store(true)
			case head == "-"+redisFullWords:
				c.full.Store(true)
			}
		}
		c.read = true
	} else if err != nil && c.hello && !c.answerHello && !c.read && serverClosed(err) {
		c.dropped.Store(true)
	}
	return n, err
}

func respFirstByte(head []byte) error {
	switch h := truncate(string(head), 16); {
	case head[0] == 0x15 || head[0] == 0x16: // a TLS record: an alert, or a handshake
		return fmt.Errorf("%s (first bytes %q)", respTLS, h)
	case !strings.ContainsRune("+-:$*_,#!=(%~>|", rune(head[0])):
		return fmt.Errorf("the server's first bytes %q %s", h, respNotRedis)
	}
	return nil
}

// respConn's words: go-redis passes on the text of a dial's error, not the error, so classifyRedis
// tells them by these.
const (
	respTLS      = "the server answered with TLS"
	respNotRedis = "are not a Redis reply"
)

// redisArgsQuoted starts the part of Redis's answer to an unknown command that quotes its arguments
// (ERR unknown command 'auth', with args beginning with: 'hunter2'): the check's AUTH and HELLO carry
// the password, and a server with AUTH renamed or disabled answers that way.
const redisArgsQuoted = "with args beginning with:"

// respRequest finds a RESP request (*2 $4 AUTH ...) inside an error reply: a server or proxy that sends
// back what it got as an error.
var respRequest = regexp.MustCompile(`\*[0-9]+\s+\$[0-9]+\s`)

// classifyRedis maps Redis error replies to classes by their code (the first word).
func classifyRedis(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		// What a message may show of the reply: nothing of one that holds the check's own request, and
		// not the arguments Redis quotes back. By the reply's structure, not by looking for the password
		// (docs/design.md §8).
		code, _, _ := strings.Cut(re.Error(), " ")
		if respRequest.MatchString(re.Error()) {
			return &Error{Class: BadResponse, Hint: redisNotRedisHint,
				Err: errors.New(code + " (the server sent back the check's own command, which holds the password: not shown)")}
		}
		if i := strings.Index(re.Error(), redisArgsQuoted); i >= 0 {
			err = errors.New(re.Error()[:i] + "with arguments (not shown: AUTH's and HELLO's hold the password)")
		}
		switch code {
		case "LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN":
			return &Error{Class: NotReady, Err: err}
		case "NOAUTH": // no AUTH was sent: the URL has no password
			return &Error{Class: Auth, Err: err, Hint: "the server requires a password (requirepass or an ACL user) and none was given: add it to %s (redis://:PASSWORD@host:6379/0, or redis://USER:PASSWORD@...)"}
		case "WRONGPASS":
			return &Error{Class: Auth, Err: err}
		case "NOPERM": // logged in, but the user's ACL refuses the command or the key
			return &Error{Class: Auth, Err: err, Hint: redisNoPermHint}
		case "READONLY":
			return &Error{Class: ReadOnly, Err: err}
		case "DENIED": // protected mode, read as a reply (a check with key, whose HELLO is answered here)
			return &Error{Class: Auth, Err: errors.New("the server refused the connection: " + redisProtectedWords), Hint: redisProtectedHint}
		}
		if strings.Contains(re.Error(), "invalid password") || strings.Contains(re.Error(), "AUTH") ||
			refusesCommand(re.Error(), "auth") { // AUTH renamed or disabled
			return &Error{Class: Auth, Err: err}
		}
		if perr := proxiedAnswer(re.Error(), err); perr != nil && code == "ERR" {
			return perr
		}
		// Envoy's Redis proxy in place of a server it cannot use (its documentation's failure modes):
		// no healthy host for the key, or a server that did not answer in time or closed the connection.
		switch re.Error() {
		case "no upstream host":
			return &Error{Class: Refused, Err: err, Hint: proxiedHint}
		case "upstream failure":
			return &Error{Class: Reset, Err: err, Hint: proxiedHint}
		}
		if cmd, ok := unknownProbeCommand(re.Error()); ok {
			// rename-command PING "" (or to another name), as some hardened configurations do for ROLE too.
			return &Error{Class: BadResponse, Err: fmt.Errorf("the server does not know %s (renamed or disabled)", cmd), Hint: redisUnknownCommandHint}
		}
		if code == "MOVED" || code == "ASK" {
			// A Redis Cluster node, asked for a key of a slot another node serves (MOVED 866 10.0.0.7:6379).
			return &Error{Class: BadResponse, Err: err, Hint: redisMovedHint}
		}
		if strings.Contains(re.Error(), "SELECT is not allowed in cluster mode") {
			return &Error{Class: BadResponse, Err: err, Hint: redisClusterDBHint}
		}
		if refusesCommand(re.Error(), "select") {
			// SELECT of the url's database number, at a new connection: a Sentinel knows no SELECT.
			return &Error{Class: BadResponse, Err: err, Hint: redisSelectUnknownHint}
		}
		if strings.Contains(re.Error(), "DB index is out of range") { // the answer to SELECT n
			return &Error{Class: BadResponse, Err: err, Hint: redisDBHint}
		}
		return &Error{Class: BadResponse, Err: err}
	}
	if strings.Contains(err.Error(), respTLS) {
		return &Error{Class: TLS, Err: err, Hint: "the server speaks TLS: use rediss:// in %s"}
	}
	if msg := err.Error(); strings.Contains(msg, respNotRedis) || strings.Contains(msg, "redis: can't parse") || strings.Contains(msg, "redis: invalid reply") ||
		strings.Contains(msg, "redis: the length of the array must be") {
		// go-redis's words for bytes that are not RESP (another protocol on the port), or RESP where
		// it makes no sense (a server that sends the request back: an array where HELLO's map is due).
		return &Error{Class: BadResponse, Err: err, Hint: redisNotRedisHint}
	}
	return classified(err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
