// Command demo is the application the Kubernetes acceptance tests (scripts/k8snode) deploy next to healthgate:
// a typical small HTTP service that needs Postgres and Redis for every request, with a shallow /healthz of
// its own.
//
//	GET /         SELECT 1 on Postgres (DATABASE_URL) and INCR of a counter in Redis (REDIS_URL, if set),
//	              then 200 "host=<pod> version=<VERSION> hits=<n>"; 503 if either failed
//	GET /healthz  200 "ok" whatever the database does (the shallow probe many apps have)
//
// On SIGTERM it stops accepting at once and gives in-flight requests SHUTDOWN_GRACE (default 1s), as most
// servers do: what a client sees during a rollout then depends on whether the endpoint left first.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func main() {
	host, _ := os.Hostname()
	version := os.Getenv("VERSION")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	grace := time.Second
	if g, err := time.ParseDuration(os.Getenv("SHUTDOWN_GRACE")); err == nil {
		grace = g
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects lazily
	if err != nil {
		log.Fatalf("pool: %v", err)
	}
	defer pool.Close()
	var rdb *redis.Client
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			log.Fatalf("REDIS_URL: %v", err)
		}
		opt.PoolSize, opt.DialTimeout = 4, 2*time.Second
		rdb = redis.NewClient(opt) // connects lazily
		defer rdb.Close()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var one int
		if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		var hits int64
		if rdb != nil {
			var err error
			if hits, err = rdb.Incr(ctx, "healthgate-demo:hits").Result(); err != nil {
				http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintf(w, "host=%s version=%s hits=%d\n", host, version, hits)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	log.Printf("demo %s listening on :%s", version, port)
	select {
	case err := <-done:
		log.Fatalf("listen: %v", err)
	case s := <-stop:
		log.Printf("%v: shutting down (grace %v)", s, grace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("shutdown: %v", err)
	}
}
