# syntax=docker/dockerfile:1
# healthgate: a static Go binary on distroless/static (no shell, no libc, CA certificates and tzdata
# included), running as the image's nonroot user 65532. scripts/image-check proves offline that the binary
# built below is static and runs from an empty root filesystem as 65532.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg REVISION=$(git rev-parse HEAD) \
#     -t healthgate .

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so the download layer is cached across source changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
# BuildKit's platform args, without defaults: in some setups a default wins over the builder's value and an
# amd64 binary ships in an arm64 image. Left empty by a builder, GOOS/GOARCH are empty and go builds for the
# build host, which is right for a plain `docker build`. (scripts/image-check refuses a default here.)
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/healthgate .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/healthgate"]
CMD ["serve"]
