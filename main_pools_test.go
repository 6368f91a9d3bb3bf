package main

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
)

// TestServeReloadSharedPools: checks of one target share its pool (checks/shared.go), and a reload
// that removes one of them and adds another of the same target neither closes nor opens a connection:
// the added check joins the pool, and the removed one's close does not close it under the check kept.
func TestServeReloadSharedPools(t *testing.T) {
	pgURL, redisURL := checktest.PostgresURL(t), checktest.RedisURL(t)
	pg := checktest.NewProxy(t, checktest.HostPort(t, pgURL))
	rd := checktest.NewProxy(t, checktest.HostPort(t, redisURL))
	// Redis answers PING at once: a slow wire makes the runs of its two checks overlap, as pg_sleep does
	// for Postgres, so each pool holds its two connections before the reload.
	rd.SetDelay(150 * time.Millisecond)
	rd.Set(checktest.Slow)
	// Timeouts far above what a run takes (0.3 s, 0.3 s on the slow wire): a run that timed out on a
	// loaded runner would close its connection and open another, which is not the reload's doing.
	dbURL := checktest.WithHost(t, pgURL, pg.Addr())
	cacheURL := checktest.WithHost(t, redisURL, rd.Addr())

	v1 := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_delay: 0s
defaults: {interval: 2s, timeout: 1800ms}
checks:
  - {name: db-a, type: postgres, url: "${DATABASE_URL}", query: "SELECT pg_sleep(0.3)"}
  - {name: db-b, type: postgres, url: "${DATABASE_URL}", query: "SELECT pg_sleep(0.3)", writable: true}
  - {name: cache-a, type: redis, url: "%s"}
  - {name: cache-b, type: redis, url: "%s", role: master}
`, cacheURL, cacheURL)
	cm, path := newConfigMapDir(t, v1)
	p := startServeFile(t, path, map[string]string{"DATABASE_URL": dbURL})
	p.waitCode(t, "/readyz", 200, 20*time.Second)
	checktest.Eventually(t, 20*time.Second, "each pool to hold its 2 connections", func() bool {
		return pg.Accepted() == 2 && rd.Accepted() == 2 && pg.Open() == 2 && rd.Open() == 2
	})

	// Watch the connections through the reload: the fewest open at any moment.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	minOpen := map[string]int64{"postgres": 2, "redis": 2}
	var mu sync.Mutex
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			mu.Lock()
			minOpen["postgres"] = min(minOpen["postgres"], pg.Open())
			minOpen["redis"] = min(minOpen["redis"], rd.Open())
			mu.Unlock()
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	v2 := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_delay: 0s
defaults: {interval: 2s, timeout: 1800ms}
checks:
  - {name: db-a, type: postgres, url: "${DATABASE_URL}", query: "SELECT pg_sleep(0.3)"}
  - {name: db-c, type: postgres, url: "${DATABASE_URL}", query: "SELECT pg_sleep(0.3) /* its own */"}
  - {name: cache-a, type: redis, url: "%s"}
  - {name: cache-c, type: redis, url: "%s", role: primary}
`, cacheURL, cacheURL)
	cm.update(t, v2)
	checktest.Eventually(t, 15*time.Second, "the file change to be reloaded", func() bool {
		return logCount(p.log, "configuration reloaded") == 1
	})
	if !regexp.MustCompile(`"msg":"configuration reloaded",.*"added":"db-c,cache-c","removed":"db-b,cache-b","changed":"","unchanged":2`).MatchString(p.log.String()) {
		t.Errorf("reload line does not say what changed:\n%s", p.log.String())
	}
	for _, name := range []string{"db-a", "db-c", "cache-a", "cache-c"} {
		p.waitCode(t, "/readyz/"+name, 200, 15*time.Second)
	}
	time.Sleep(4 * time.Second) // a few more rounds of every check on the pools
	close(stop)
	wg.Wait()

	m := p.probe(t, "/metrics").body
	for name, px := range map[string]*checktest.Proxy{"postgres": pg, "redis": rd} {
		if got := px.Accepted(); got != 2 {
			t.Errorf("%s: the proxy accepted %d connections in all, 2 before the reload: the reload (or a check added for the same target) opened new ones\n%s",
				name, got, failureLines(m))
		}
		if minOpen[name] != 2 || px.Open() != 2 {
			t.Errorf("%s: %d connections open at the fewest during the reload, %d now; want the pool's 2 throughout (the removed check's close closed the shared pool)",
				name, minOpen[name], px.Open())
		}
	}
}

// failureLines picks the failure counters of /metrics, to tell a reload's reconnect from a failed run's.
func failureLines(metrics string) string {
	return strings.Join(regexp.MustCompile(`(?m)^healthgate_check_runs_total\{.*result="failure".*$`).FindAllString(metrics, -1), "\n")
}
