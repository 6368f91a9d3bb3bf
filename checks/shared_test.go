package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// poolMax is the most connections a shared client of each pooled kind may open.
const poolMax = 2

// sharedKind is a pooled kind for the sharing tests: how to reach the real service, and the settings
// that vary from check to check without changing the connection.
type sharedKind struct {
	kind string
	url  func(t testing.TB) string
	// own returns a check setting of the i-th check (a query, a role...): never part of the pool's key.
	own func(i int) map[string]any
	// otherDB is url pointing at another database of the same server.
	otherDB func(t *testing.T, url string) string
}

// sqlOwn varies what a SQL check runs: its own query, writable, or the default round trip.
func sqlOwn(i int) map[string]any {
	switch i % 3 {
	case 0:
		return map[string]any{"query": fmt.Sprintf("SELECT %d", i)}
	case 1:
		return map[string]any{"writable": true}
	}
	return nil
}

var sharedKinds = []sharedKind{
	{kind: "postgres", url: checktest.PostgresURL,
		own:     sqlOwn,
		otherDB: func(t *testing.T, u string) string { return withDB(t, u, "postgres") }},
	{kind: "mysql", url: checktest.MySQLURL,
		own:     sqlOwn,
		otherDB: func(t *testing.T, u string) string { return withDB(t, u, "mysql") }},
	{kind: "redis", url: checktest.RedisURL,
		own: func(i int) map[string]any {
			if i%2 == 0 {
				return map[string]any{"role": "master"}
			}
			return nil
		},
		otherDB: func(t *testing.T, u string) string { return withDB(t, u, "1") }},
}

// sharedCheck builds check i of a kind at url, with its own settings, closed when the test ends (Close
// is safe to call again).
func sharedCheck(t *testing.T, k sharedKind, i int, url string, d time.Duration) *checks.Check {
	t.Helper()
	spec := map[string]any{"url": url}
	for key, v := range k.own(i) {
		spec[key] = v
	}
	return newCheckTimeout(t, config.Check{Name: fmt.Sprintf("%s-%d", k.kind, i), Type: k.kind, Spec: config.SpecOf(spec)}, d)
}

// runAll runs every check at once and returns their errors and durations.
func runAll(t *testing.T, cs []*checks.Check) ([]error, []time.Duration) {
	t.Helper()
	errs, took := make([]error, len(cs)), make([]time.Duration, len(cs))
	var wg sync.WaitGroup
	for i, ch := range cs {
		wg.Go(func() { errs[i], took[i] = runCheck(t, ch) })
	}
	wg.Wait()
	return errs, took
}

// TestSharedPool is the case that exhausted max_connections before pools were shared: many checks of one database, run at once and again, open at most
// the pool's connections (not two per check), each with its own settings; a check with other
// credentials or another database has a pool of its own.
func TestSharedPool(t *testing.T) {
	for _, k := range sharedKinds {
		t.Run(k.kind, func(t *testing.T) {
			real := k.url(t)
			p := checktest.NewProxy(t, checktest.HostPort(t, real))
			url := checktest.WithHost(t, real, p.Addr())
			const n = 50
			cs := make([]*checks.Check, n)
			for i := range cs {
				cs[i] = sharedCheck(t, k, i, url, generousTimeout)
			}
			for round := range 3 {
				errs, _ := runAll(t, cs)
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: %s failed: %v", round, cs[i].Name, err)
					}
				}
			}
			if got := p.Accepted(); got == 0 || got > poolMax {
				t.Fatalf("%d checks of one target, run at once 3 times, opened %d connections; want 1 to %d (one shared pool)", n, got, poolMax)
			}

			// A setting of a check's own fails only that check, on the shared pool.
			bad := map[string]string{"postgres": "query", "mysql": "query", "redis": "role"}[k.kind]
			badValue := map[string]string{"postgres": "SELECT 1/0", "mysql": "SELECT * FROM healthgate_no_such_table", "redis": "replica"}[k.kind]
			wantBad := map[string]checks.Class{"postgres": checks.Query, "mysql": checks.Query, "redis": checks.BadResponse}[k.kind]
			odd := newCheckTimeout(t, config.Check{Name: "odd", Type: k.kind, Spec: config.SpecOf(map[string]any{"url": url, bad: badValue})}, generousTimeout)
			err, _ := runCheck(t, odd)
			assertClass(t, err, wantBad)
			if errs, _ := runAll(t, cs[:5]); errs[0] != nil {
				t.Fatalf("the others fail beside it: %v", errs[0])
			}
			if got := p.Accepted(); got > poolMax {
				t.Fatalf("a check with its own query opened a connection of its own (%d in all)", got)
			}

			// Another database, and other credentials, are other pools: new connections, their own verdicts.
			before := p.Accepted()
			other := newCheckTimeout(t, config.Check{Name: "other-db", Type: k.kind, Spec: config.SpecOf(map[string]any{"url": k.otherDB(t, url)})}, generousTimeout)
			err, _ = runCheck(t, other)
			assertClass(t, err, "")
			if p.Accepted() == before {
				t.Fatal("a check of another database used the shared pool; want a pool of its own")
			}
			before = p.Accepted()
			stranger := newCheckTimeout(t, config.Check{Name: "stranger", Type: k.kind, Spec: config.SpecOf(map[string]any{"url": withUser(t, url, "healthgate_no_such_role", "s3cr3t-pw")})}, generousTimeout)
			err, _ = runCheck(t, stranger)
			assertClass(t, err, checks.Auth)
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("error leaks the password: %v", err)
			}
			if p.Accepted() == before {
				t.Fatal("a check with other credentials used the shared pool; want a pool of its own")
			}
			// The timeout is the pool's (a connect timeout, the driver's read timeout): another is another pool.
			before = p.Accepted()
			patient := newCheckTimeout(t, config.Check{Name: "patient", Type: k.kind, Spec: config.SpecOf(map[string]any{"url": url})}, generousTimeout+time.Second)
			assertClass(t, runErr(t, patient), "")
			if p.Accepted() == before {
				t.Fatal("a check with another timeout used the shared pool; want a pool of its own")
			}
			if errs, _ := runAll(t, cs[:5]); errs[0] != nil {
				t.Fatalf("the shared pool fails after another pool's auth failure: %v", errs[0])
			}
		})
	}
}

// TestSharedPoolRefcount: closing all but one check of a target keeps its pool open and working (no
// new connection); closing the last closes its connections.
func TestSharedPoolRefcount(t *testing.T) {
	for _, k := range sharedKinds {
		t.Run(k.kind, func(t *testing.T) {
			real := k.url(t)
			p := checktest.NewProxy(t, checktest.HostPort(t, real))
			url := checktest.WithHost(t, real, p.Addr())
			cs := make([]*checks.Check, 5)
			for i := range cs {
				cs[i] = sharedCheck(t, k, i, url, generousTimeout)
			}
			errs, _ := runAll(t, cs)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("%s: %v", cs[i].Name, err)
				}
			}
			accepted := p.Accepted()
			open := p.Open()
			if open == 0 {
				t.Fatal("no connection kept open between runs")
			}
			for _, ch := range cs[:4] {
				ch.Close()
			}
			for range 3 {
				err, _ := runCheck(t, cs[4])
				assertClass(t, err, "")
			}
			if got := p.Accepted(); got != accepted {
				t.Fatalf("the remaining check opened %d new connections after the others closed; want the pool kept", got-accepted)
			}
			if got := p.Open(); got != open {
				t.Fatalf("%d connections open after closing 4 of 5 checks, %d before; want the pool kept whole", got, open)
			}
			cs[4].Close()
			checktest.Eventually(t, 10*time.Second, "the last check's close to close the pool's connections", func() bool { return p.Open() == 0 })
		})
	}
}

// TestSharedPoolFailing: when a shared target fails, every check on it fails with the fault's class,
// each within its own timeout, and a timeout's hint still says how far the connection got although most
// runs only waited for the pool's connections.
func TestSharedPoolFailing(t *testing.T) {
	for _, k := range sharedKinds {
		t.Run(k.kind, func(t *testing.T) {
			real := k.url(t)
			for _, tc := range []struct {
				name string
				addr func(t *testing.T) string
				want checks.Class
				hint string
			}{
				{"refused", func(t *testing.T) string {
					p := checktest.NewProxy(t, checktest.HostPort(t, real))
					p.Set(checktest.Refuse)
					return p.Addr()
				}, checks.Refused, ""},
				{"blackhole", func(t *testing.T) string {
					p := checktest.NewProxy(t, checktest.HostPort(t, real))
					p.Set(checktest.Blackhole)
					return p.Addr()
				}, checks.Timeout, "connected, but no answer"},
				{"connect never completes", func(t *testing.T) string { return checktest.Unreachable(t) }, checks.Timeout, "could not connect"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					url := checktest.WithHost(t, real, tc.addr(t))
					cs := make([]*checks.Check, 12)
					for i := range cs {
						cs[i] = sharedCheck(t, k, i, url, timeout)
					}
					for range 2 {
						errs, took := runAll(t, cs)
						for i, err := range errs {
							assertClass(t, err, tc.want)
							if took[i] > timeout+time.Second {
								t.Errorf("%s took %s; want it bounded by its timeout (%s)", cs[i].Name, took[i], timeout)
							}
							if tc.hint != "" && !strings.Contains(cs[i].Hint(err), tc.hint) {
								t.Errorf("%s: hint %q does not say %q (%v)", cs[i].Name, cs[i].Hint(err), tc.hint, err)
							}
						}
					}
				})
			}
		})
	}
}

// TestSharedPoolCancelledRun: a run cancelled mid-query (a reload dropping its check, a signal) returns at
// once, and its connection stays in the pool (the drivers close a cancelled query's connection, which would
// close it under the other checks of the target); the last close ends the work still under way.
func TestSharedPoolCancelledRun(t *testing.T) {
	slow := map[string]string{"postgres": "SELECT pg_sleep(1)", "mysql": "SELECT SLEEP(1)"}
	for _, k := range sharedKinds {
		t.Run(k.kind, func(t *testing.T) {
			real := k.url(t)
			p := checktest.NewProxy(t, checktest.HostPort(t, real))
			url := checktest.WithHost(t, real, p.Addr())
			spec := map[string]any{"url": url}
			if q, ok := slow[k.kind]; ok {
				spec["query"] = q
			}
			busy := newCheckTimeout(t, config.Check{Name: "busy", Type: k.kind, Spec: config.SpecOf(spec)}, generousTimeout)
			other := sharedCheck(t, k, 1, url, generousTimeout)
			assertClass(t, runErr(t, other), "")
			if k.kind == "redis" {
				// PING answers at once: a slow wire holds the round trip instead.
				p.SetDelay(time.Second)
				p.Set(checktest.Slow)
				assertClass(t, runErr(t, other), "") // dials again: the mode switch dropped the connection
			}
			opened, openBefore := p.Accepted(), p.Open()
			// The fewest connections open from the cancelled run until the others have run again.
			fewest := openBefore
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
						fewest = min(fewest, p.Open())
					}
				}
			})

			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			err := busy.Run(ctx)
			if took := time.Since(start); took > 700*time.Millisecond {
				t.Errorf("the cancelled run returned after %s; want at once (cancelled at 200ms, its query takes 1s)", took)
			}
			if err == nil {
				t.Error("the cancelled run passed")
			}
			// Its round trip is still under way: its connection must stay open meanwhile (a close would
			// come at the cancellation), and go back to the pool when it ends.
			time.Sleep(300 * time.Millisecond)
			if got := p.Open(); got < openBefore {
				t.Errorf("%d connections open 300ms after the cancelled run, %d before: its connection was closed under the pool", got, openBefore)
			}
			for range 3 {
				assertClass(t, runErr(t, other), "")
			}
			close(stop)
			wg.Wait()
			if fewest < openBefore {
				t.Errorf("%d connections open at the fewest after the cancelled run, %d before: its connection was closed under the pool", fewest, openBefore)
			}
			if got := p.Accepted(); got > opened+1 {
				t.Errorf("%d new connections after a cancelled run; want at most the pool's second one (the cancelled query's was closed?)", got-opened)
			}
			open := p.Open()
			if open == 0 {
				t.Fatal("no connection open")
			}

			// Cancelled again, then every check closed at once: the last close ends the work still under
			// way and closes the pool (goleak, in TestMain, sees nothing left).
			ctx, cancel = context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			_ = busy.Run(ctx)
			start = time.Now()
			busy.Close()
			other.Close()
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("closing took %s with a cancelled run's work under way; want it cut short", took)
			}
			checktest.Eventually(t, 10*time.Second, "the pool's connections to close", func() bool { return p.Open() == 0 })
		})
	}
}

// TestFilesKey: what serve's reload compares besides the configuration: the contents of the TLS files a
// check names, in a tls: block or in a postgres URL, so that a renewed certificate rebuilds the check;
// Files lists them, for the reload poll to watch.
func TestFilesKey(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	write := func(s string) {
		if err := os.WriteFile(ca, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []config.Check{
		{Type: "redis", Spec: config.SpecOf(map[string]any{"url": "rediss://cache:6380", "tls": config.TLS{CAFile: ca}})},
		{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://db/app?sslmode=verify-full&sslrootcert=" + ca})},
		{Type: "mysql", Spec: config.SpecOf(map[string]any{"url": "mysql://app@db:3306/app", "tls": config.TLS{CAFile: ca}})},
		{Type: "postgres", Spec: config.SpecOf(map[string]any{"url": "postgres://db/app", "tls": config.TLS{CAFile: ca}})},
	} {
		write("one")
		before := checks.FilesKey(c)
		write("two")
		if after := checks.FilesKey(c); after == before || after == "" {
			t.Errorf("%s: FilesKey did not change with the CA file's contents", c.Type)
		}
		if files := checks.Files(c); !slices.Equal(files, []string{ca}) {
			t.Errorf("%s: Files = %q; want the CA file", c.Type, files)
		}
	}
	tcp := config.Check{Type: "tcp", Spec: config.SpecOf(map[string]any{"address": "db:5432"})}
	if k, files := checks.FilesKey(tcp), checks.Files(tcp); k != "" || files != nil {
		t.Errorf("a check naming no file: FilesKey = %q, Files = %q; want none", k, files)
	}
}

// TestRetimes: a check rebuilt with only its timing changed carries its state over on reload; any other
// change makes it a new check.
func TestRetimes(t *testing.T) {
	build := func(address string, interval time.Duration, threshold int) *checks.Check {
		c, err := checks.New(config.Check{Name: "port", Type: "tcp", Critical: true, Interval: interval, Timeout: 100 * time.Millisecond,
			FailureThreshold: threshold, SuccessThreshold: 1, Spec: config.SpecOf(map[string]any{"address": address})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	was := build("db:5432", time.Second, 1)
	if !build("db:5432", 2*time.Second, 3).Retimes(was) {
		t.Error("interval and threshold changed: not a retime")
	}
	if build("db:6432", time.Second, 1).Retimes(was) {
		t.Error("address changed: counted as a retime")
	}
	fn := checks.Func(config.Check{Name: "port", Interval: time.Second, Timeout: time.Second}, func(context.Context) error { return nil })
	if fn.Retimes(was) || was.Retimes(fn) {
		t.Error("a Func check (no configuration) counted as a retime")
	}
}
