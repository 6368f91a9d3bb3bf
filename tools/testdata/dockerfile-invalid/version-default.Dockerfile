# expect: ARG VERSION=0.0.9: the build stage reads its default version from charts/healthgate/Chart.yaml
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
ARG VERSION=0.0.9
ARG REVISION=unknown
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/healthgate .

FROM scratch
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
ENTRYPOINT ["/healthgate"]
CMD ["serve"]
