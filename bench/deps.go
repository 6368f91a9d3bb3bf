package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// counters reads the dependencies' own counts of the work done for clients: committed transactions of the
// Postgres database under test (pg_stat_database.xact_commit) and commands on Redis (INFO commandstats).
type counters struct {
	pg     *pgx.Conn // connected to another database, so that reading the stats is not counted
	db     string
	rdb    *redis.Client
	pgHost string // host:port of Postgres and Redis, for the proxies
	rdHost string
}

// sample is one reading of both counters.
type sample struct {
	at     time.Time
	xacts  int64
	rdCmds int64 // Redis commands, INFO excepted (see commandCalls)
	pgErr  error
	rdErr  error
}

func newCounters(ctx context.Context, pgURL, redisURL string) (*counters, error) {
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	c := &counters{db: strings.TrimPrefix(u.Path, "/"), pgHost: u.Host}
	if c.pgHost == "" || c.db == "" {
		return nil, fmt.Errorf("postgres url: want host and database in %q", u.Redacted())
	}
	if !strings.Contains(c.pgHost, ":") {
		c.pgHost += ":5432"
	}
	other := *u
	other.Path = "/postgres"
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c.pg, err = pgx.Connect(cctx, other.String()); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	c.rdHost = opts.Addr
	c.rdb = redis.NewClient(opts)
	if err := c.rdb.Ping(cctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return c, nil
}

func (c *counters) close() {
	c.pg.Close(context.Background())
	c.rdb.Close()
}

func (c *counters) read(ctx context.Context) sample {
	s := sample{at: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// Each query is its own transaction, so the statistics snapshot is fresh.
	s.pgErr = c.pg.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", c.db).Scan(&s.xacts)
	info, err := c.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		s.rdErr = err
		return s
	}
	s.rdCmds, s.rdErr = commandCalls(info)
	return s
}

// commandCalls adds up the calls of every command in an INFO commandstats answer but INFO, the harness's own
// (one per read): a checker's per-connection handshake (HELLO, CLIENT SETINFO, SELECT) counts as much as PING.
func commandCalls(info string) (int64, error) {
	var n int64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		k, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("commandstats %q: %w", line, err)
		}
		n += k
	}
	return n, nil
}

// diff is the work done between a and b: Postgres transactions and Redis commands.
func diff(a, b sample) (xacts, rdCmds float64, err error) {
	for _, e := range []error{a.pgErr, b.pgErr, a.rdErr, b.rdErr} {
		if e != nil {
			return 0, 0, e
		}
	}
	return float64(b.xacts - a.xacts), float64(b.rdCmds - a.rdCmds), nil
}

// proxyHop measures what the counting proxy adds to one round trip to Postgres (SELECT 1) and Redis (PING):
// the servers that query on every probe pay it once per check per probe in figure 1, the others only on
// their schedule. Direct and through a forwarding proxy, alternately, one connection each; the medians.
func (b *bench) proxyHop(ctx context.Context) {
	const n = 300
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var parts []string
	for _, m := range []struct {
		d    dependency
		what string
		dial func(ctx context.Context, url string) (roundTrip func(context.Context) error, hangUp func(), err error)
	}{
		{b.pg, "Postgres SELECT 1", dialPostgres},
		{b.rd, "Redis PING", dialRedis},
	} {
		direct, proxied, err := timeHop(ctx, m.d, n, m.dial)
		if err != nil {
			b.logf("  proxy hop, %s: %v", m.what, err)
			parts = append(parts, fmt.Sprintf("%s: not measured (%v)", m.what, err))
			continue
		}
		parts = append(parts, hopPart(m.what, direct, proxied))
	}
	b.hopNote = fmt.Sprintf("the harness's counting proxy adds %s per round trip; median of %d each, before the servers start",
		strings.Join(parts, " and "), n)
	b.logf("  %s", b.hopNote)
}

// hopPart is what the proxy adds to one kind of round trip, from the medians direct and through it. The two
// series run on the same busy cores, and a direct round trip can come out the slower (a CPU woken from idle
// for it, where the proxy's goroutines keep one awake): then the hop costs less than the method resolves.
func hopPart(what string, direct, proxied time.Duration) string {
	if proxied <= direct {
		return fmt.Sprintf("nothing measurable to a %s (%s direct, %s through it)", what, fmtDur(direct), fmtDur(proxied))
	}
	return fmt.Sprintf("%s to a %s (%s direct, %s through it)", fmtDur(proxied-direct), what, fmtDur(direct), fmtDur(proxied))
}

// timeHop times n round trips to d directly and n through a proxy, alternately, and returns the medians.
func timeHop(ctx context.Context, d dependency, n int,
	dial func(ctx context.Context, url string) (func(context.Context) error, func(), error)) (direct, proxied time.Duration, err error) {
	px, err := newProxy(d)
	if err != nil {
		return 0, 0, err
	}
	defer px.close()
	var trips [2]func(context.Context) error
	for i, url := range []string{d.url, withHost(d.url, px.addr)} {
		rt, hangUp, err := dial(ctx, url)
		if err != nil {
			return 0, 0, err
		}
		defer hangUp()
		trips[i] = rt
	}
	var times [2][]time.Duration
	for i := range n + 20 { // the first 20 warm up
		for k, rt := range trips {
			t0 := time.Now()
			if err := rt(ctx); err != nil {
				return 0, 0, err
			}
			if i >= 20 {
				times[k] = append(times[k], time.Since(t0))
			}
		}
	}
	return median(times[0]), median(times[1]), nil
}

func dialPostgres(ctx context.Context, url string) (func(context.Context) error, func(), error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	rt := func(ctx context.Context) error { _, err := c.Exec(ctx, "SELECT 1"); return err }
	return rt, func() { c.Close(context.Background()) }, nil
}

func dialRedis(ctx context.Context, url string) (func(context.Context) error, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, err
	}
	opts.PoolSize = 1
	c := redis.NewClient(opts)
	rt := func(ctx context.Context) error { return c.Ping(ctx).Err() }
	return rt, func() { c.Close() }, nil
}
