// Command hellofresh is github.com/hellofresh/health-go/v5 as its README's "Handler" example shows, with the
// library's own pgx5 and redis checkers (each opens a new connection per probe: that is what is measured).
// The check timeout is healthgate's.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/hellofresh/health-go/v5"
	healthPgx "github.com/hellofresh/health-go/v5/checks/pgx5"
	healthRedis "github.com/hellofresh/health-go/v5/checks/redis"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	pgURL := flag.String("postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "Postgres URL")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "timeout of one check")
	flag.Duration("interval", time.Second, "unused: checks run on probes")
	flag.Parse()

	h, err := health.New(health.WithComponent(health.Component{
		Name:    "bench-peer",
		Version: "v1.0",
	}), health.WithChecks(health.Config{
		Name:    "postgres",
		Timeout: *timeout,
		Check:   healthPgx.New(healthPgx.Config{DSN: *pgURL}),
	}, health.Config{
		Name:    "redis",
		Timeout: *timeout,
		Check:   healthRedis.New(healthRedis.Config{DSN: *redisURL}),
	}))
	if err != nil {
		log.Fatal(err)
	}
	live, err := health.New(health.WithComponent(health.Component{Name: "bench-peer", Version: "v1.0"}))
	if err != nil {
		log.Fatal(err)
	}

	http.Handle("/readyz", h.Handler())
	http.Handle("/livez", live.Handler())
	log.Fatal(http.ListenAndServe(*listen, nil))
}
