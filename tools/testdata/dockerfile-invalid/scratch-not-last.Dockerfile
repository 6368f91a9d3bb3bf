# expect: the final stage is FROM alpine:3.20
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/healthgate .

# A scratch stage that is not the last one: not what ships.
FROM scratch AS runtime
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
ENTRYPOINT ["/healthgate"]
CMD ["serve"]

FROM alpine:3.20
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
ENTRYPOINT ["/healthgate"]
