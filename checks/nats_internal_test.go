package checks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/healthgate/healthgate/checks/checktest"
	"github.com/healthgate/healthgate/config"
)

// TestNATSLameDuckWindow: a dial that fails after a lame duck notice is put down to it only within
// natsLameDuckWindow; a server not back long after its notice is not restarting, and its failure is
// reported as it is (here nothing listens: refused).
func TestNATSLameDuckWindow(t *testing.T) {
	c := config.NewCheck("events", "nats", "test", config.NewDefaults())
	p, _, errs := buildNATS(c, &natsSpec{URL: fmt.Sprintf("nats://127.0.0.1:%d", checktest.FreePort(t))})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	n := p.(*natsCheck)
	defer n.close()
	for _, tc := range []struct {
		ago  time.Duration
		want Class
	}{{time.Minute, NotReady}, {natsLameDuckWindow + time.Minute, Refused}} {
		n.ldmAt.Store(time.Now().Add(-tc.ago).UnixNano())
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := n.probe(ctx)
		cancel()
		if got := ClassOf(err); got != tc.want {
			t.Errorf("a failed dial %s after the notice: %s (%v); want %s", tc.ago, got, err, tc.want)
		}
	}
}
