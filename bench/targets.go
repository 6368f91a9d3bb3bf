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
	role role   // what healthgate's verdicts compare it with, if anything
}

// role marks the servers that healthgate's targets name.
type role int

const (
	compared     role = iota // a column, no target refers to it
	ceiling                  // the trivial handler: figure 1's ratios are to it
	peer1                    // the synchronous alexliesenfeld peer: figure 1's "≥ 10 ×" target
	peer1NoCache             // peer 1 with its cache off: shown beside that target
)

var servers = []server{
	{name: "healthgate", deps: true},
	{name: "net/http ceiling", peer: "ceiling", role: ceiling},
	{name: "alexliesenfeld sync", peer: "alexliesenfeld-sync", deps: true, role: peer1},
	{name: "alexliesenfeld periodic", peer: "alexliesenfeld-periodic", deps: true},
	{name: "hellofresh", peer: "hellofresh", deps: true},
	{name: "alexliesenfeld sync, no cache", peer: "alexliesenfeld-nocache", deps: true, role: peer1NoCache},
}

// waiter is a program that waits until Postgres and Redis answer, then exits 0 (figure 6).
type waiter struct {
	name string // column title; healthgate's column is shared with its server
	peer string // directory under bench/peers; "" for `healthgate wait`
}

// withRole is the column title of the server with role r, "" if none has it.
func withRole(r role) string {
	for _, s := range servers {
		if s.role == r {
			return s.name
		}
	}
	return ""
}

var waiters = []waiter{
	{name: "healthgate"},
	{name: "1 s poller", peer: "poll1s"},
}
