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
// Postgres database under test (pg_stat_database.xact_commit) and PING calls on Redis (INFO commandstats).
type counters struct {
	pg     *pgx.Conn // connected to another database, so that reading the stats is not counted
	db     string
	rdb    *redis.Client
	pgHost string // host:port of Postgres and Redis, for the proxies
	rdHost string
}

// sample is one reading of both counters.
type sample struct {
	at    time.Time
	xacts int64
	pings int64
	pgErr error
	rdErr error
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
	s.pings = 0
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_ping:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			if s.pings, err = strconv.ParseInt(n, 10, 64); err != nil {
				s.rdErr = fmt.Errorf("commandstats %q: %w", line, err)
			}
		}
	}
	return s
}

// extra is the work done between a and b beyond the background rate (per second) of each counter.
func extra(a, b sample, bgXacts, bgPings float64) (xacts, pings float64, err error) {
	for _, e := range []error{a.pgErr, b.pgErr, a.rdErr, b.rdErr} {
		if e != nil {
			return 0, 0, e
		}
	}
	sec := b.at.Sub(a.at).Seconds()
	return float64(b.xacts-a.xacts) - bgXacts*sec, float64(b.pings-a.pings) - bgPings*sec, nil
}
