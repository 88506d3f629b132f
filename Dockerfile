# syntax=docker/dockerfile:1
#
# Build:  docker build --build-arg VERSION=v0.1.0 -t ghcr.io/gpu-scheduler/gpu-scheduler:v0.1.0 .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 ...

# ---- build stage ---------------------------------------------------------------
# Runs on the build host's platform and cross-compiles (CGO is off), so multi-arch
# builds don't need emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Download modules in their own layer: it is only rebuilt when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

# VERSION is reported by `gpu-scheduler --version` and in the kube-scheduler metrics.
ARG VERSION=v0.0.0-dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${VERSION}" \
      -o /out/gpu-scheduler ./cmd/gpu-scheduler

# ---- final stage ---------------------------------------------------------------
# Static, shell-less, non-root base. The scheduler serves HTTPS with an in-memory
# self-signed certificate, so it needs no writable filesystem.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/gpu-scheduler /usr/local/bin/gpu-scheduler

USER 65532:65532

ENTRYPOINT ["/usr/local/bin/gpu-scheduler"]
