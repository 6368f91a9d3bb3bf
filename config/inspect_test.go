package config

import (
	"testing"
	"time"
)

// TestInspect: a manifest checker reads a configuration as the pod would with no variable set and no
// secret file: ${VAR:-default} is its default, ${VAR} empty, and no *_file is read.
func TestInspect(t *testing.T) {
	cfg, err := Inspect("cm", []byte(`
server: {listen: "${PORT:-:9090}", grpc_listen: "${GRPC}", shutdown_delay: "${DELAY:-7s}"}
defaults: {timeout: 3s}
checks:
  - {name: db, type: postgres, url_file: /nonexistent/secret/url}
  - {name: api, type: http, url: "http://api/healthz", timeout: 4s, interval: 10s}
fleet: {peers: "dns:///${SVC:-hg}:9090"}
`))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if cfg.Server.Listen != ":9090" || cfg.Server.GRPCListen != "" || cfg.Server.ShutdownDelay != 7*time.Second ||
		cfg.Server.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("server = %+v, want listen :9090, no grpc_listen, shutdown_delay 7s, the default shutdown_timeout", cfg.Server)
	}
	if got := []time.Duration{cfg.Checks[0].Timeout, cfg.Checks[1].Timeout}; got[0] != 3*time.Second || got[1] != 4*time.Second {
		t.Errorf("check timeouts = %v, want [3s 4s] (the defaults' and the check's own)", got)
	}
	if url, _ := cfg.Checks[0].Spec.String("url"); url != "" || cfg.Checks[0].Src.Origin("url") != "/nonexistent/secret/url" {
		t.Errorf("url_file: url %q from %q, want it empty and unread, from /nonexistent/secret/url", url, cfg.Checks[0].Src.Origin("url"))
	}
	if len(cfg.Fleet.Peers) != 1 || cfg.Fleet.Peers[0] != "dns:///hg:9090" {
		t.Errorf("fleet.peers = %q, want [dns:///hg:9090]", cfg.Fleet.Peers)
	}
}
