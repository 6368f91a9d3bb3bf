package startup_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks"
	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
	"github.com/healthgate/healthgate/startup"
)

// TestWaitSharesOnePool: `wait` and `check` build their checks as serve does (Build), so checks of one
// database share its pool there too: ten of them, waited for at once, open at most the pool's 2
// connections, and closing them closes it.
func TestWaitSharesOnePool(t *testing.T) {
	pgURL := checktest.PostgresURL(t)
	p := checktest.NewProxy(t, checktest.HostPort(t, pgURL))
	url := checktest.WithHost(t, pgURL, p.Addr())
	var fromConfig []config.Check
	for i := range 10 {
		c := config.NewCheck(fmt.Sprintf("db%d", i), "postgres", "test", config.NewDefaults())
		c.Spec.Set("url", url)
		if i%2 == 1 {
			c.Spec.Set("query", fmt.Sprintf("SELECT %d", i))
		}
		fromConfig = append(fromConfig, c)
	}
	cs, err := startup.Build(fromConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			checks.CloseAll(cs)
		}
	})
	rs, err := startup.Wait(t.Context(), cs, startup.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if len(rs) != len(cs) {
		t.Fatalf("%d results for %d checks", len(rs), len(cs))
	}
	if got := p.Accepted(); got == 0 || got > 2 {
		t.Fatalf("10 checks of one database opened %d connections; want 1 or 2 (one shared pool)", got)
	}
	checks.CloseAll(cs)
	closed = true
	checktest.Eventually(t, 10*time.Second, "the pool's connections to close", func() bool { return p.Open() == 0 })
}
