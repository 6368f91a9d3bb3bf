package main

// The programs compared. To add a peer: write bench/peers/NAME/main.go (copy the closest one), then add one
// line to servers (a health server) or waiters (a wait-for-dependencies tool). The harness builds every
// directory under peers/ and runs each as its own process.
//
// A server peer takes -listen ADDR, and if deps is true also -postgres URL -redis URL -interval D -timeout D,
// answers GET /readyz (200 when Postgres and Redis answer, 503 when not) and GET /livez.
// A waiter peer takes -postgres URL or -redis URL and -timeout D, and exits 0 once they answer.

// server is a program that answers health probes.
type server struct {
	name string // column title
	peer string // directory under bench/peers; "" for healthgate itself
	deps bool   // it checks Postgres and Redis (false for the ceiling)
}

var servers = []server{
	{name: "healthgate", deps: true},
	{name: "net/http ceiling", peer: "ceiling"},
	{name: "alexliesenfeld sync", peer: "alexliesenfeld-sync", deps: true},
	{name: "alexliesenfeld periodic", peer: "alexliesenfeld-periodic", deps: true},
	{name: "hellofresh", peer: "hellofresh", deps: true},
	{name: "alexliesenfeld sync, no cache", peer: "alexliesenfeld-nocache", deps: true},
}

// waiter is a program that waits until Postgres and Redis answer, then exits 0 (figure 6).
type waiter struct {
	name string // column title; healthgate's column is shared with its server
	peer string // directory under bench/peers; "" for `healthgate wait`
}

var waiters = []waiter{
	{name: "healthgate"},
	{name: "1 s poller", peer: "poll1s"},
}
