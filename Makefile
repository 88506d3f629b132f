# gpu-scheduler: build, test, benchmark and demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= v0.2.0-dev
# The version stamps (hack/ldflags.sh, shared with the Dockerfile): kube-scheduler's is go.mod's
# Kubernetes version, ours shows in --version through the program name.
LDFLAGS := $(shell hack/ldflags.sh $(VERSION))
PKGS := ./...
# The control-plane tests, run against each apiserver minor a 1.36 kube-scheduler supports (the same
# minor and one newer): `make integration KUBE_MINOR=1.37` runs them against one.
CONTROLPLANE_PKGS := ./test/integration/... ./test/util/...
KUBE_MINOR ?= 1.36
apiserver_1.36 := $(CURDIR)/bin/kube-apiserver
apiserver_1.37 := $(CURDIR)/bin/kube-apiserver-1.37
BENCH_PKGS := ./pkg/plugins/...

.PHONY: help build test integration race unit bench bench-full verify demo dev-cluster generate sync-manifests clean

help: ## Show the targets.
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## Build bin/gpu-scheduler and bin/gpu-sim.
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/gpu-scheduler ./cmd/gpu-scheduler
	$(GO) build -ldflags "$(LDFLAGS) -X main.version=$(VERSION)" -o bin/gpu-sim ./cmd/gpu-sim

test: build tools ## Run every test: unit, fuzz seeds, manifests, control plane on apiserver 1.36; the control-plane tests on 1.37 with the race detector; the race detector over ./pkg/...
	GPU_SCHED_REQUIRE_CONTROLPLANE=1 GPU_SCHED_EXPECT_KUBE_MINOR=1.36 $(GO) test -count=1 -timeout 45m $(PKGS)
	$(MAKE) --no-print-directory integration KUBE_MINOR=1.37 RACE=1
	$(MAKE) --no-print-directory race

# RACE=1 builds gpu-scheduler and the tests with the race detector: a race the scheduler reports in
# its log fails the test that started it.
integration: build tools ## The control-plane tests against one apiserver minor: KUBE_MINOR=1.36 (default) or 1.37; RACE=1 with the race detector.
	@[ -n "$(apiserver_$(KUBE_MINOR))" ] || { echo "KUBE_MINOR=$(KUBE_MINOR): want 1.36 or 1.37" >&2; exit 2; }
	$(if $(RACE),$(GO) build -race -ldflags "$(LDFLAGS)" -o bin/race/gpu-scheduler ./cmd/gpu-scheduler)
	GPU_SCHED_REQUIRE_CONTROLPLANE=1 GPU_SCHED_KUBE_APISERVER=$(apiserver_$(KUBE_MINOR)) GPU_SCHED_EXPECT_KUBE_MINOR=$(KUBE_MINOR) \
	$(if $(RACE),GPU_SCHED_SCHEDULER=$(CURDIR)/bin/race/gpu-scheduler) \
	$(GO) test $(if $(RACE),-race) -count=1 -timeout 30m $(CONTROLPLANE_PKGS)

race: ## The unit tests of ./pkg/... with the race detector.
	$(GO) test -race -count=1 -timeout 45m ./pkg/...

demo: build tools ## Schedule the example pods on a fake GPU cluster (KWOK) and print where each landed.
	$(GO) build -o bin/gpu-demo ./hack/demo
	bin/gpu-demo $(DEMO_FLAGS)

dev-cluster: build tools ## The demo cluster left running for kubectl (Ctrl-C stops it).
	$(GO) build -o bin/gpu-demo ./hack/demo
	bin/gpu-demo --keep $(DEMO_FLAGS)

unit: ## Run the unit tests only (no control plane).
	$(GO) test -count=1 ./pkg/... ./cmd/... ./manifests/... ./test/docs/...

bench: ## Plugin micro-benchmarks beside NodeResourcesFit, then scheduler_perf throughput (short): default vs gpu-scheduler.
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(BENCH_PKGS)
	hack/bench-throughput.sh short

bench-full: ## scheduler_perf throughput at 5,000 nodes x 8 GPUs and 10,000 GPU pods, 5 runs per profile (10-11 minutes).
	hack/bench-throughput.sh full

verify: ## gofmt, go vet and generated code up to date.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	hack/sync-manifests.sh --check

generate: ## Regenerate deepcopy, conversion and defaults for the plugin args.
	hack/update-codegen.sh

sync-manifests: ## Copy config/scheduler-config.yaml's profiles into manifests/configmap.yaml.
	hack/sync-manifests.sh

clean: ## Remove build outputs (bin/, _output/); the Go caches stay warm.
	rm -rf bin _output

-include hack/tools.mk
