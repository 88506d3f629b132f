# syntax=docker/dockerfile:1
#
# Build:  docker build --build-arg VERSION=v0.2.0 -t ghcr.io/gpu-scheduler/gpu-scheduler:v0.2.0 .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.2.0 ...

# ---- build stage ---------------------------------------------------------------
# Runs on the build host's platform and cross-compiles (CGO is off), so multi-arch
# builds don't need emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Download modules in their own layer: it is only rebuilt when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

# VERSION is reported by `gpu-scheduler --version`.
ARG VERSION=v0.0.0-dev
ARG TARGETOS=linux
ARG TARGETARCH
# hack/ldflags.sh keeps kube-scheduler's own version (go.mod's Kubernetes), which decides its
# feature gates, and names ours in --version, as `make build` does.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w $(hack/ldflags.sh ${VERSION})" \
      -o /out/gpu-scheduler ./cmd/gpu-scheduler

# ---- final stage ---------------------------------------------------------------
# Static, shell-less, non-root base. The scheduler serves HTTPS with an in-memory
# self-signed certificate, so it needs no writable filesystem.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/gpu-scheduler /usr/local/bin/gpu-scheduler

USER 65532:65532

ENTRYPOINT ["/usr/local/bin/gpu-scheduler"]
