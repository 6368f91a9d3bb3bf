# expect: the final stage is FROM debian:bookworm-slim
# The promises are all here, in comments:
# FROM scratch
# USER 65532:65532
# ENTRYPOINT ["/healthgate"]
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

FROM debian:bookworm-slim
COPY --from=build /out/healthgate /healthgate
USER 65532:65532
ENTRYPOINT ["/healthgate"]
