# expect: does not run with CGO_ENABLED=0
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/healthgate . # CGO_ENABLED=0

FROM scratch
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
ENTRYPOINT ["/healthgate"]
CMD ["serve"]
