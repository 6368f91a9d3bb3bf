# expect: stage 2 (FROM scratch) differs from the final stage in USER/ENTRYPOINT/CMD/EXPOSE
# The offline `prebuilt` target must run as the final stage does: here it lacks USER 65532:65532.
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
# Forgot USER: the image CI runs would run as root while the one users build runs as 65532.
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
