// Command alexliesenfeld-periodic is github.com/alexliesenfeld/health with periodic checks, as its README's
// "Synchronous vs. Asynchronous Checks" section recommends: the checks run in the background every interval and
// probes read the last result. Each check gets its own timeout, since the global one does not apply to periodic
// checks; interval and timeout are healthgate's.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/alexliesenfeld/health"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	pgURL := flag.String("postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "Postgres URL")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	interval := flag.Duration("interval", time.Second, "how often each check runs")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "timeout of one check")
	flag.Parse()

	db, err := pgxpool.New(context.Background(), *pgURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()

	checker := health.NewChecker(
		health.WithTimeout(10*time.Second),
		health.WithPeriodicCheck(*interval, 0, health.Check{
			Name:    "postgres",
			Timeout: *timeout,
			Check: func(ctx context.Context) error {
				_, err := db.Exec(ctx, "SELECT 1")
				return err
			},
		}),
		health.WithPeriodicCheck(*interval, 0, health.Check{
			Name:    "redis",
			Timeout: *timeout,
			Check: func(ctx context.Context) error {
				return rdb.Ping(ctx).Err()
			},
		}),
	)

	http.Handle("/readyz", health.NewHandler(checker))
	http.Handle("/livez", health.NewHandler(health.NewChecker()))
	log.Fatalln(http.ListenAndServe(*listen, nil))
}
