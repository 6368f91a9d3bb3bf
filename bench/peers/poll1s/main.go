// Command poll1s waits for Postgres and Redis the way wait-for-it, dockerize and wait4x do: try every target,
// and while one fails sleep a fixed interval (1 s) and try again. Each try opens a new connection and runs a
// real round trip (SELECT 1, PING), so it is stricter than a TCP port check. Exit 0 once all answer, 124 on
// timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func main() {
	pgURL := flag.String("postgres", "", "Postgres URL to wait for")
	redisURL := flag.String("redis", "", "Redis URL to wait for")
	interval := flag.Duration("interval", time.Second, "pause between tries")
	attemptTimeout := flag.Duration("attempt-timeout", time.Second, "timeout of one try")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()

	deadline := time.Now().Add(*timeout)
	for {
		ok := true
		if *pgURL != "" && try(*attemptTimeout, func(ctx context.Context) error { return pingPostgres(ctx, *pgURL) }) != nil {
			ok = false
		}
		if ok && *redisURL != "" && try(*attemptTimeout, func(ctx context.Context) error { return pingRedis(ctx, *redisURL) }) != nil {
			ok = false
		}
		if ok {
			return
		}
		if time.Now().Add(*interval).After(deadline) {
			fmt.Fprintln(os.Stderr, "timed out")
			os.Exit(124)
		}
		time.Sleep(*interval)
	}
}

func try(timeout time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return f(ctx)
}

func pingPostgres(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

func pingRedis(ctx context.Context, url string) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	// One dial per try: go-redis would otherwise retry a refused dial 5 times, 100 ms apart, within one try.
	opts.DialerRetries = 1
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	return rdb.Ping(ctx).Err()
}
