#!/usr/bin/env bash
# The benchmark harness's own CI step (a separate Go module, so the root's `go vet ./...` and `go test ./...`
# do not reach it): vet, unit tests, then the quick run, which fails if any figure is missing.
# Needs Postgres (database `test`) and Redis on 127.0.0.1, as .ci/run sets up.
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...
go test -count=1 .
go run . --quick
