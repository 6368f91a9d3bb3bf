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

// TestInspectRefs: Inspect lists every variable and secret file the configuration takes, where it is
// used: what a manifest checker must find in the pod (tools/policy).
func TestInspectRefs(t *testing.T) {
	cfg, _ := Inspect("cm", []byte(`
server: {details: token, details_token: "${TOKEN:-}"}
checks:
  - {name: db, type: postgres, url: "${DATABASE_URL}"}
  - {name: cache, type: redis, url: "redis://:${REDIS_PASSWORD}@redis:6379/0"}
  - {name: api, type: http, url_file: /run/secrets/api-url, headers: {Authorization: "Bearer ${API_TOKEN}"}, headers_file: {X-Api-Key: /run/secrets/api-key}}
  - {name: mq, type: tcp, address: "${MQ_ADDRESS:-rabbitmq:5672}"}
fleet: {peers: "dns:///${SVC:-hg}:9090", token_file: "${TOKEN_DIR}/token"}
# ${IN_A_COMMENT} is not a reference
`))
	want := []Ref{
		{Path: "server", Field: "details_token", Var: "TOKEN", HasDefault: true, Whole: true},
		{Path: `checks[0] "db"`, Field: "url", Var: "DATABASE_URL", Whole: true},
		{Path: `checks[1] "cache"`, Field: "url", Var: "REDIS_PASSWORD"},
		{Path: `checks[2] "api"`, Field: "url_file", File: "/run/secrets/api-url"},
		{Path: `checks[2] "api"`, Field: "headers.Authorization", Var: "API_TOKEN"},
		{Path: `checks[2] "api"`, Field: "headers_file.X-Api-Key", File: "/run/secrets/api-key"},
		{Path: `checks[3] "mq"`, Field: "address", Var: "MQ_ADDRESS", Default: "rabbitmq:5672", HasDefault: true, Whole: true},
		{Path: "fleet", Field: "peers", Var: "SVC", Default: "hg", HasDefault: true},
		{Path: "fleet", Field: "token_file", Var: "TOKEN_DIR"},
		{Path: "fleet", Field: "token_file", File: "/token"},
	}
	if len(cfg.Refs) != len(want) {
		t.Errorf("got %d refs, want %d:\n%+v", len(cfg.Refs), len(want), cfg.Refs)
	}
	for i := range min(len(cfg.Refs), len(want)) {
		if cfg.Refs[i] != want[i] {
			t.Errorf("ref %d = %+v, want %+v", i, cfg.Refs[i], want[i])
		}
	}
}
