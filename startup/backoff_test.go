package startup

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		class    checks.Class
		failures int
		u        float64
		want     time.Duration
	}{
		{name: "refused polls fast, low end", class: checks.Refused, failures: 0, u: 0, want: 25 * ms},
		{name: "refused polls fast, high end", class: checks.Refused, failures: 0, u: 0.999, want: 49975 * time.Microsecond},
		{name: "refused never slows down", class: checks.Refused, failures: 50, u: 0.5, want: 37500 * time.Microsecond},
		{name: "dns a little slower", class: checks.DNS, failures: 0, u: 0.5, want: 75 * ms},
		{name: "dns still fast after 20 misses", class: checks.DNS, failures: 20, u: 0.5, want: 75 * ms},
		{name: "dns slow after that", class: checks.DNS, failures: 21, u: 0.5, want: 750 * ms},
		{name: "not_ready first failure", class: checks.NotReady, failures: 1, u: 0.5, want: 50 * ms},
		{name: "not_ready doubles", class: checks.NotReady, failures: 3, u: 0.5, want: 200 * ms},
		{name: "not_ready capped at 3s", class: checks.NotReady, failures: 30, u: 0.5, want: 1500 * ms},
		{name: "full jitter can draw near zero: floor", class: checks.NotReady, failures: 30, u: 0, want: 50 * ms},
		{name: "huge failure count does not overflow", class: checks.Timeout, failures: 1 << 40, u: 0.999, want: 2997 * ms},
		{name: "auth first failure", class: checks.Auth, failures: 1, u: 0.5, want: 125 * ms},
		{name: "auth capped at 6s", class: checks.Auth, failures: 30, u: 0.5, want: 3 * time.Second},
		{name: "schema is transient (a migration job running)", class: checks.Schema, failures: 30, u: 0.5, want: 1500 * ms},
		{name: "bad_response is transient (HTTP 503 while starting)", class: checks.BadResponse, failures: 30, u: 0.5, want: 1500 * ms},
		{name: "tls is persistent", class: checks.TLS, failures: 30, u: 0.5, want: 3 * time.Second},
		{name: "unknown is persistent", class: checks.Unknown, failures: 2, u: 0.5, want: 250 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(tc.class, tc.failures, tc.u); got != tc.want {
				t.Errorf("Backoff(%s, %d, %v) = %v; want %v", tc.class, tc.failures, tc.u, got, tc.want)
			}
		})
	}
}

// not_ready is expected to clear by itself, auth is not: at every step the former retries no later.
func TestBackoffNotReadyFasterThanAuth(t *testing.T) {
	for n := 1; n <= 20; n++ {
		for _, u := range []float64{0, 0.25, 0.5, 0.75, 0.999} {
			if nr, au := Backoff(checks.NotReady, n, u), Backoff(checks.Auth, n, u); nr > au {
				t.Errorf("failure %d, u %v: not_ready waits %v, longer than auth's %v", n, u, nr, au)
			}
		}
	}
}

// simulate runs the policy against a dependency that fails with class for ever, each attempt taking
// attemptTook, and returns the start times of the attempts within horizon.
func simulate(rnd *rand.Rand, class checks.Class, attemptTook, horizon time.Duration) []time.Duration {
	var starts []time.Duration
	now, failures := time.Duration(0), 0
	for now < horizon {
		starts = append(starts, now)
		now += attemptTook
		if reachesDependency(class) {
			failures++
		}
		now += Backoff(class, failures, rnd.Float64())
	}
	return starts
}

// The retry policy's target (b) (README "Fast and gentle"): at most 2 attempts/s against a listening-but-failing dependency after 5 s.
// The transient curve stays at or under 1/s, so even a Postgres URL with sslmode=prefer (two
// connections per attempt) stays within 2 connections/s.
func TestBackoffGentleAfterFiveSeconds(t *testing.T) {
	tests := []struct {
		class   checks.Class
		maxRate float64
	}{
		{checks.NotReady, 1.0},
		{checks.BadResponse, 1.0},
		{checks.Auth, 0.5},
		{checks.Query, 0.5},
	}
	for _, tc := range tests {
		t.Run(string(tc.class), func(t *testing.T) {
			for seed := range uint64(20) {
				rnd := rand.New(rand.NewPCG(seed, 42))
				starts := simulate(rnd, tc.class, 5*time.Millisecond, 65*time.Second)
				after := 0
				for _, s := range starts {
					if s >= 5*time.Second {
						after++
					}
				}
				if rate := float64(after) / 60; rate > tc.maxRate {
					t.Errorf("seed %d: %.2f attempts/s after 5 s; want ≤ %.1f", seed, rate, tc.maxRate)
				}
				early := len(starts) - after
				if early < 4 {
					t.Errorf("seed %d: only %d attempts in the first 5 s: the backoff starts too slow", seed, early)
				}
			}
		})
	}
}

// The retry policy's target (a) (README "Fast and gentle"): while nothing listens, the next attempt after the port opens comes within
// 50 ms, whenever it opens.
func TestBackoffFastWhileRefused(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	starts := simulate(rnd, checks.Refused, 200*time.Microsecond, 30*time.Second)
	for i := 1; i < len(starts); i++ {
		if gap := starts[i] - starts[i-1]; gap > 51*time.Millisecond {
			t.Fatalf("gap of %v between attempts %d and %d while refused; want ≤ 50ms", gap, i-1, i)
		}
	}
	if n := len(starts); n > 30*1000/25+1 {
		t.Errorf("%d attempts in 30 s while refused: more often than every 25 ms", n)
	}
}
