package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
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
	shared  *redisShared
	release func()
}

// redisShared is the client of one target, shared by its checks. go-redis's client is replaced when a
// run finds the network failing (drop): each replaced client closes once no run still uses it, so one
// check's failure never closes a connection under another check's run.
type redisShared struct {
	opts  *redis.Options
	life  *clientLife
	watch dialWatch // go-redis dials from a goroutine of its own, for whichever run needs a connection
	// handshaking counts the TLS handshakes under way: a run that times out while one is, timed out
	// on it.
	handshaking atomic.Int32

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
	handshakeErr atomic.Pointer[Error] // the last TLS handshake failure while it was under way
	ended        bool                  // its context ended while it used its client (guarded by redisShared.mu)
}

// redisSpec is a redis check's own configuration (config.Check.Spec, decoded).
type redisSpec struct {
	URL  string     `yaml:"url" secret:"true" schema:"minLength=1"`
	Role string     `yaml:"role" schema:"enum=master|primary|replica"`
	TLS  config.TLS `yaml:"tls"`
}

func buildRedis(c config.Check, s *redisSpec) (prober, string, config.Errors) {
	if s.URL == "" {
		return nil, "", config.Errors{c.Src.Errorf("url", "required: a redis:// or rediss:// URL")}
	}
	opts, err := redis.ParseURL(s.URL)
	if err != nil {
		return nil, "", config.Errors{c.Src.Errorf("url", "%s", redisURLProblem(s.URL, err))}
	}
	var errs config.Errors
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
		errs = append(errs, c.Src.Errorf("role", "must be master or replica (got %q)", s.Role))
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
	silenceRedis.Do(func() { redis.SetLogger(quietRedisLogger{}) })
	target := opts.Addr + "/" + fmt.Sprint(opts.DB)
	if opts.Network == "unix" {
		target = opts.Addr
	}
	if len(errs) > 0 {
		return nil, "", errs
	}
	// Shared by every check of this URL, TLS settings and timeout (go-redis's dial, read and write
	// timeouts are the client's); the role each asks for is its own.
	key := keyOf("redis", s.URL, c.Timeout.String(), tlsKey(s.TLS))
	sh, release, _ := share(key, func() (*redisShared, func(), error) {
		sh := &redisShared{opts: opts, life: newClientLife(), runs: map[*redisRun]struct{}{}}
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
				return newRESPConn(conn), nil
			}
		}
		return sh, sh.close, nil
	})
	return &redisCheck{role: role, shared: sh, release: release}, target, nil
}

// redisURLProblem says what is wrong with a URL go-redis refused. go-redis messages quote parts of the
// URL, which can hold the password when its syntax is broken, so they are not passed on as they are.
func redisURLProblem(raw string, err error) string {
	const form = "redis://[user:password@]host:port/db, rediss://... or unix:///path"
	if urlSyntaxError(err) {
		msg := "not a valid redis URL (" + form + ")"
		if hasUserinfo(raw) {
			msg += ": " + percentHint
		}
		return msg
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
		return "not a valid redis URL: the scheme must be redis, rediss or unix, not " + shown(u.Scheme)
	}
	msg = strings.TrimPrefix(msg, "redis: ")
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return "not a valid redis URL: " + msg
}

// tlsDialer dials and then shakes hands under the run's context, so a handshake failure is reported
// as such. A plain Redis reading a ClientHello waits for a newline that never comes, exactly like a
// hung server: that case stays a timeout, with a hint that names TLS.
const tlsSilentHint = "no answer to the TLS handshake: the server may not speak TLS (use redis:// in %s), or it is hung"

// go-redis may report only its context's error when a dial overruns, so the classified handshake
// error is also kept for probe.
func (s *redisShared) tlsDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		raw, err := s.watch.dial(ctx, &d, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, cfg)
		s.handshaking.Add(1)
		// Decremented only after the outcome is stored: probe reads handshakeErr, then handshaking,
		// so it sees one or the other whatever the interleaving.
		defer s.handshaking.Add(-1)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			herr := &Error{Class: TLS, Err: fmt.Errorf("TLS handshake: %w", err)}
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
		return conn, nil
	}
}

// use returns the current client, creating it lazily, and counts run as using it. go-redis opens a
// dial circuit breaker after PoolSize failed dials and then re-dials only once a second from a
// background goroutine; a run that found the network failing replaces the client instead (drop), so
// the next run dials afresh and `wait` sees the dependency the moment it listens.
func (s *redisShared) use(run *redisRun) *redisGen {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		s.cur = &redisGen{client: redis.NewClient(s.opts)}
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
	run := &redisRun{}
	s := r.shared
	waited := s.watch.wait(ctx)
	g := s.use(run)
	stop := context.AfterFunc(ctx, func() { s.ctxEnded(run, g) })
	err := r.once(ctx, g.client)
	stop()
	s.done(run, g)
	// go-redis does not say whether a run got a connection: a run that timed out learns how the
	// client's dials went (shared.go).
	waited(ClassOf(err) != Timeout && ctx.Err() == nil)
	if herr := run.handshakeErr.Load(); herr != nil && err != nil {
		err = herr
	} else if err != nil && (ClassOf(err) == Timeout || ctx.Err() != nil) && s.handshaking.Load() > 0 {
		err = &Error{Class: Timeout, Err: fmt.Errorf("TLS handshake: %w", err), Hint: tlsSilentHint}
	}
	switch ClassOf(err) {
	case Refused, DNS, Timeout, Reset, TLS:
		s.drop(g)
	}
	return withTLSHint(err)
}

func (r *redisCheck) once(ctx context.Context, c *redis.Client) error {
	pong, err := c.Ping(ctx).Result()
	if err != nil {
		return classifyRedis(err)
	}
	if pong != "PONG" {
		return &Error{Class: BadResponse, Err: fmt.Errorf("PING answered %q, not PONG", truncate(pong, 64))}
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
	case r.role == "master" && got != "master":
		return &Error{Class: ReadOnly, Err: fmt.Errorf("server role is %q; role: master needs the primary", got)}
	case r.role == "replica" && got != "slave":
		return &Error{Class: BadResponse, Err: fmt.Errorf("server role is %q; role: replica expects a replica", got)}
	case r.role == "replica" && len(res) >= 4 && res[3] != "connected":
		return &Error{Class: NotReady, Err: fmt.Errorf("replica link to its primary is %v", res[3])}
	}
	return nil
}

// close releases this check's reference to the shared client: the last one closes it.
func (r *redisCheck) close() { r.release() }

// redisDBHint: SELECT of the url's database number failed.
const redisDBHint = "the database number in url (its path, redis://host:6379/N) is not one this server has: it has `databases` of them (16 unless its config says otherwise), numbered from 0"

const redisNotRedisHint = "the server's answer is not the Redis protocol: is this port Redis's (6379) in %s?"

// respConn checks the first byte a server sends on a plaintext connection (firstBytesConn, judged by
// respFirstByte): every RESP2 and RESP3 reply starts with one of a few type bytes. go-redis ignores the
// error of a peek: the verdict fails every read after it.
type respConn struct {
	firstBytesConn
	sc syscall.Conn // go-redis's check of an idle pooled connection reads the socket itself
}

func newRESPConn(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c // never: the dialer's connections are TCP or unix sockets
	}
	return &respConn{firstBytesConn: firstBytesConn{Conn: c, judge: respFirstByte}, sc: sc}
}

func (c *respConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

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

// classifyRedis maps Redis error replies to classes by their code (the first word).
func classifyRedis(err error) error {
	var re redis.Error
	if errors.As(err, &re) {
		code, _, _ := strings.Cut(re.Error(), " ")
		switch code {
		case "LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN":
			return &Error{Class: NotReady, Err: err}
		case "NOAUTH", "WRONGPASS", "NOPERM":
			return &Error{Class: Auth, Err: err}
		case "READONLY":
			return &Error{Class: ReadOnly, Err: err}
		}
		if strings.Contains(re.Error(), "invalid password") || strings.Contains(re.Error(), "AUTH") {
			return &Error{Class: Auth, Err: err}
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
