package main

// K4, part of the kinds figure: what grpc-go would cost every healthgate process. The gRPC health server
// (server/grpc.go) and the grpc check (checks/grpc.go) speak gRPC over net/http's HTTP/2 instead of grpc-go
// (docs/design.md, "gRPC: net/http's HTTP/2, not grpc-go"); this measures the reason. The harness builds
// healthgate a second time with one more file in package main, given to `go build -overlay` so the
// repository is never touched, that references grpc-go's client, server and health service (a blank import
// would link only their init code): the binary sizes, and the resident set of an idle `serve` with one tcp
// check, median of three starts each. grpc-go is in go.mod already (the tests use its client and health
// package as the reference implementation), so the build needs no download.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	rowGrpcgoBinary = "grpcgobin"
	rowGrpcgoRSS    = "grpcgorss"
	grpcgoStarts    = 3
)

// grpcgoFile is the extra file of package main: each symbol referenced keeps its code in the binary.
const grpcgoFile = `package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var _ = []any{grpc.NewClient, grpc.NewServer, insecure.NewCredentials, health.NewServer, healthpb.NewHealthClient}
`

func (b *bench) grpcgoLayout(t *table) {
	all := []string{colKinds}
	t.add(rowGrpcgoBinary, "K4. binary size added by linking grpc-go (client, server, health service)", "— (why it is not used)", all)
	t.add(rowGrpcgoRSS, fmt.Sprintf("K4. resident set added to an idle serve (1 tcp check), median of %d starts", grpcgoStarts), "—", all)
}

// grpcgoCost takes K4.
func (b *bench) grpcgoCost(ctx context.Context) {
	t := b.kindsTab
	if b.healthgate == "" {
		return // kinds has failed every figure of the table already
	}
	dir := filepath.Join(b.tmp, "grpcgo")
	with := filepath.Join(dir, "healthgate-grpcgo")
	if err := b.buildWithGrpcgo(ctx, dir, with); err != nil {
		t.fail(rowGrpcgoBinary, colKinds, err)
		t.fail(rowGrpcgoRSS, colKinds, err)
		return
	}
	plainSize, err1 := fileSize(b.healthgate)
	withSize, err2 := fileSize(with)
	if err := errors.Join(err1, err2); err != nil {
		t.fail(rowGrpcgoBinary, colKinds, err)
	} else {
		d := float64(withSize - plainSize)
		t.set(rowGrpcgoBinary, colKinds, d, "+%.1f MB (%.1f → %.1f MB)", d/1e6, float64(plainSize)/1e6, float64(withSize)/1e6)
	}

	cfg := filepath.Join(dir, "idle.yaml")
	addr := freeAddr()
	yaml := fmt.Sprintf("server: {listen: %q, shutdown_delay: 0s, shutdown_timeout: 1s}\nchecks:\n  - {name: r, type: tcp, address: %q, interval: %v, timeout: %v}\n",
		addr, b.cnt.rdHost, interval, timeout)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.fail(rowGrpcgoRSS, colKinds, err)
		return
	}
	plainRSS, err1 := idleRSS(ctx, b.healthgate, cfg, addr)
	withRSS, err2 := idleRSS(ctx, with, cfg, addr)
	if err := errors.Join(err1, err2); err != nil {
		t.fail(rowGrpcgoRSS, colKinds, err)
		return
	}
	d := float64(withRSS - plainRSS)
	t.set(rowGrpcgoRSS, colKinds, d, "+%.1f MB (%.1f → %.1f MB)", d/1e6, float64(plainRSS)/1e6, float64(withRSS)/1e6)
}

// buildWithGrpcgo builds healthgate into out with grpcgoFile added to package main through an overlay.
func (b *bench) buildWithGrpcgo(ctx context.Context, dir, out string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	src := filepath.Join(dir, "zz_grpcgo.go")
	if err := os.WriteFile(src, []byte(grpcgoFile), 0o600); err != nil {
		return err
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(b.repo, "zz_grpcgo.go"): src},
	})
	if err != nil {
		return err
	}
	ovFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovFile, overlay, 0o600); err != nil {
		return err
	}
	return goBuild(ctx, b.repo, out, "-overlay", ovFile, ".")
}

// idleRSS starts bin serve with cfg grpcgoStarts times and returns the median resident set once it is
// ready and has run its check a few times.
func idleRSS(ctx context.Context, bin, cfg, addr string) (int64, error) {
	var got []int64
	for range grpcgoStarts {
		p, err := start(filepath.Base(bin), bin, "serve", "--config", cfg)
		if err != nil {
			return 0, err
		}
		r := &running{srv: servers[0], proc: p, addr: addr}
		err = awaitReady(ctx, r)
		if err == nil {
			sleep(ctx, 2*interval)
			var rss int64
			rss, err = currentRSS(p.cmd.Process.Pid)
			got = append(got, rss)
		}
		p.stop(3 * time.Second)
		if err != nil {
			return 0, err
		}
	}
	slices.Sort(got)
	return got[len(got)/2], nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
