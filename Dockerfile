# syntax=docker/dockerfile:1
# healthgate: a static Go binary in a FROM-scratch image holding only /healthgate, a CA bundle
# (/etc/ssl/certs/ca-certificates.crt) and a passwd/group entry for nonroot 65532; no shell, no libc.
# Images are named ghcr.io/healthgate/healthgate:<version>, <version> being the chart's appVersion
# (charts/healthgate/Chart.yaml) without a "v", and the same <version> is baked into the binary:
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/healthgate/healthgate:0.1.0 .
#
# (VERSION defaults to that appVersion; --build-arg VERSION=... overrides it.)
#
# Two targets make the same image:
#   (default, the last stage)  the binary is built in golang:${GO_VERSION}-bookworm, which also gives the CA
#                              bundle (Debian's ca-certificates). What users and releases build.
#   --target prebuilt          no registry pull at all: every file comes from a build context named "host",
#                              prepared by scripts/image-build (the static binary built on the host with the
#                              same go build line as the build stage, the host's CA bundle, the same
#                              passwd/group lines). What CI and scripts/k8s-node build offline, with buildah.
# scripts/image-check reads this file as instructions and holds both stages to the same rules.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so the download layer is cached across source changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION defaults to the chart's appVersion (charts/healthgate/Chart.yaml, the one file of charts/ that
# .dockerignore lets in), so a plain `docker build .` bakes in the version its tag should carry, as
# scripts/image-build does; "dev" only when that file is missing from the context.
ARG VERSION
ARG REVISION=unknown
# BuildKit's platform args, without defaults: in some setups a default wins over the builder's value and an
# amd64 binary ships in an arm64 image. Left empty by a builder, GOOS/GOARCH are empty and go builds for the
# build host, which is right for a plain `docker build`. (scripts/image-check refuses a default here.)
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    VERSION=${VERSION:-$(sed -nE 's/^appVersion: *"?([^"]+)"? *$/\1/p' charts/healthgate/Chart.yaml 2>/dev/null || true)} && \
    VERSION=${VERSION:-dev} && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/healthgate .
# The rest of the root filesystem (scripts/image-build writes the same files on the host).
RUN mkdir -p /out/rootfs/etc/ssl/certs && \
    cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ca-certificates.crt && \
    echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >/out/rootfs/etc/passwd && \
    echo 'nonroot:x:65532:' >/out/rootfs/etc/group && \
    chmod 0644 /out/rootfs/etc/passwd /out/rootfs/etc/group /out/rootfs/etc/ssl/certs/ca-certificates.crt

# The offline target: `buildah bud --target prebuilt --build-context host=DIR` (scripts/image-build makes
# DIR). Never built by a plain `docker build` (BuildKit and buildah skip stages the target does not need).
FROM scratch AS prebuilt
COPY --from=host etc/ /etc/
COPY --from=host healthgate /healthgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/healthgate"]
CMD ["serve"]

FROM scratch
COPY --from=build /out/rootfs/ /
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/healthgate"]
CMD ["serve"]
