package startup

import (
	"time"

	"github.com/healthgate/healthgate/checks"
)

// The retry policy of docs/design.md §7: fast while nothing listens, gentle once the dependency accepts.
const (
	// A refused dial costs the dependency nothing (the kernel answers it): poll every 25–50 ms, so
	// wait exits within a few tens of milliseconds of the port opening.
	pollMin = 25 * time.Millisecond
	pollMax = 50 * time.Millisecond
	// A failed lookup costs the cluster's resolver a query per search domain and address family (with
	// Kubernetes' ndots:5, up to ten): a little slower at first, and after dnsFast misses (about 1.5 s,
	// long enough for a Service created with the pod) slow, since a name that still does not resolve is
	// usually a typo, and CoreDNS caches the negative answer for seconds anyway.
	dnsMin     = 50 * time.Millisecond
	dnsMax     = 100 * time.Millisecond
	dnsFast    = 20
	dnsSlowMin = 500 * time.Millisecond
	dnsSlowMax = time.Second

	// floor is the shortest delay after an attempt that reached the dependency: full jitter can
	// draw a delay near zero, and a burst of back-to-back attempts is what the backoff avoids.
	floor = 50 * time.Millisecond
)

// curve is an exponential backoff: the n-th consecutive failure waits a uniformly random time in
// [0, min(cap, base·2ⁿ⁻¹)) ("full jitter"), so waiters that failed together spread out.
type curve struct{ base, cap time.Duration }

var (
	// transient failures are expected to clear by themselves (a server starting up, a replica
	// catching up, an HTTP dependency answering 503 until it is ready): come back sooner. With full
	// jitter the mean delay at the cap is 1.5 s, about 0.7 attempts/s (a Postgres URL with
	// sslmode=prefer opens two connections per attempt against a server without TLS: 1.3/s).
	transient = curve{base: 100 * time.Millisecond, cap: 3 * time.Second}
	// persistent failures need someone to fix something (credentials, TLS, SQL): every attempt
	// costs the dependency a backend or a handshake, so back off further (mean 3 s at the cap).
	persistent = curve{base: 250 * time.Millisecond, cap: 6 * time.Second}
)

// Backoff returns how long to wait before the next attempt after a failure of class c. failures
// counts the consecutive failed attempts that reached the dependency (refused and dns do not: they
// never got that far), including this one; for dns it counts the consecutive failed lookups instead.
// u is a uniform random number in [0, 1).
//
// It is a pure function so that the policy is tested without clocks; Wait draws u.
func Backoff(c checks.Class, failures int, u float64) time.Duration {
	switch c {
	case checks.Refused:
		return between(pollMin, pollMax, u)
	case checks.DNS:
		if failures > dnsFast {
			return between(dnsSlowMin, dnsSlowMax, u)
		}
		return between(dnsMin, dnsMax, u)
	}
	k := persistent
	switch c {
	case checks.NotReady, checks.Schema, checks.Timeout, checks.Reset, checks.ReadOnly, checks.Lag, checks.BadResponse:
		k = transient
	}
	ceiling := k.base
	for i := 1; i < failures && ceiling < k.cap; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, k.cap)
	return max(floor, time.Duration(u*float64(ceiling)))
}

func between(lo, hi time.Duration, u float64) time.Duration {
	return lo + time.Duration(u*float64(hi-lo))
}

// reachesDependency says whether a failure of this class got as far as the dependency's process,
// and so counts towards the backoff.
func reachesDependency(c checks.Class) bool {
	return c != checks.Refused && c != checks.DNS
}
