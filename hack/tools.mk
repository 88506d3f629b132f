# Control-plane tools built from Go modules (no downloads other than the Go module proxy):
#   bin/etcd            go.etcd.io/etcd/server/v3        tools module hack/tools/etcd
#   bin/kube-apiserver  k8s.io/kubernetes/cmd/kube-apiserver  main module (tool line in go.mod)
#   bin/kube-apiserver-1.37  the same at k8s.io/kubernetes v1.37.x  tools module hack/tools/kube-apiserver-1.37
#                       (the newer apiserver minor a 1.36 kube-scheduler supports; `make test` runs the
#                       control-plane tests against both)
#   bin/kubectl         k8s.io/kubernetes/cmd/kubectl    main module (tool line in go.mod)
#   bin/kwok            sigs.k8s.io/kwok/cmd/kwok        tools module hack/tools/kwok (k8s v0.36)
#   bin/helm            helm.sh/helm/v4/cmd/helm         tools module hack/tools/helm (renders and
#                       lints charts/gpu-scheduler in the tests)
#   bin/kwok-stages/    KWOK stage files copied from the kwok module (node/fast,
#                       node/heartbeat-with-lease, pod/fast) plus stages.yaml, all of them in one file
#                       for `kwok --config bin/kwok-stages/stages.yaml`.
# Included by the top-level Makefile (`include hack/tools.mk`) or used alone: `make -f hack/tools.mk tools`.
# Run make from the repository root. Force a rebuild with `make -B bin/<tool>`.

TOOLS_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
GO ?= go
TOOLS_BIN ?= bin
# Version stamped into kube-apiserver/kubectl (--version); empty = read from go.mod.
TOOLS_KUBE_VERSION ?=
TOOLS_GO := GOWORK=off $(GO)
TOOLS_KWOK_STAGES := node/fast node/heartbeat-with-lease pod/fast

.PHONY: tools
tools: $(TOOLS_BIN)/etcd $(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/kube-apiserver-1.37 $(TOOLS_BIN)/kubectl $(TOOLS_BIN)/kwok $(TOOLS_BIN)/kwok-stages/stages.yaml $(TOOLS_BIN)/helm ## Build bin/etcd, bin/kube-apiserver, bin/kubectl, bin/kwok (+ bin/kwok-stages), bin/helm.

$(TOOLS_BIN)/etcd: $(TOOLS_ROOT)/hack/tools/etcd/go.mod $(TOOLS_ROOT)/hack/tools/etcd/go.sum
	@mkdir -p $(@D)
	cd $(TOOLS_ROOT)/hack/tools/etcd && $(TOOLS_GO) build -o $(abspath $@) go.etcd.io/etcd/server/v3

# The main go.mod changes often; the apiserver and kubectl only depend on the Kubernetes and etcd
# lines of it. This stamp is rewritten (and so triggers a relink) only when those lines change.
$(TOOLS_BIN)/.k8s-deps.stamp: $(TOOLS_ROOT)/go.mod
	@mkdir -p $(@D)
	@grep -E '^go |k8s\.io/|go\.etcd\.io/' $< > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# tools_kube_ldflags stamps the version of k8s.io/kubernetes in the module at $(1) (default: the main one).
define tools_kube_ldflags
v=$(TOOLS_KUBE_VERSION); [ -n "$$v" ] || v=$$(cd $(or $(1),$(TOOLS_ROOT)) && $(TOOLS_GO) list -m -f '{{.Version}}' k8s.io/kubernetes); \
maj=$${v#v}; maj=$${maj%%.*}; min=$${v#v*.}; min=$${min%%.*}; \
ldflags="-s -w"; for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do \
  ldflags="$$ldflags -X $$p.gitVersion=$$v -X $$p.gitMajor=$$maj -X $$p.gitMinor=$$min -X $$p.gitTreeState=clean"; done
endef

$(TOOLS_BIN)/kube-apiserver: $(TOOLS_BIN)/.k8s-deps.stamp
	@mkdir -p $(@D)
	@$(tools_kube_ldflags); set -x; cd $(TOOLS_ROOT) && \
	$(TOOLS_GO) build -ldflags "$$ldflags" -o $(abspath $@) k8s.io/kubernetes/cmd/kube-apiserver

TOOLS_APISERVER_137 := $(TOOLS_ROOT)/hack/tools/kube-apiserver-1.37

$(TOOLS_BIN)/kube-apiserver-1.37: $(TOOLS_APISERVER_137)/go.mod $(TOOLS_APISERVER_137)/go.sum
	@mkdir -p $(@D)
	@$(call tools_kube_ldflags,$(TOOLS_APISERVER_137)); set -x; cd $(TOOLS_APISERVER_137) && \
	$(TOOLS_GO) build -ldflags "$$ldflags" -o $(abspath $@) k8s.io/kubernetes/cmd/kube-apiserver

$(TOOLS_BIN)/kubectl: $(TOOLS_BIN)/.k8s-deps.stamp
	@mkdir -p $(@D)
	@$(tools_kube_ldflags); set -x; cd $(TOOLS_ROOT) && \
	$(TOOLS_GO) build -ldflags "$$ldflags" -o $(abspath $@) k8s.io/kubernetes/cmd/kubectl

$(TOOLS_BIN)/helm: $(TOOLS_ROOT)/hack/tools/helm/go.mod $(TOOLS_ROOT)/hack/tools/helm/go.sum
	@mkdir -p $(@D)
	cd $(TOOLS_ROOT)/hack/tools/helm && $(TOOLS_GO) build -o $(abspath $@) helm.sh/helm/v4/cmd/helm

TOOLS_KWOK_MOD := $(TOOLS_ROOT)/hack/tools/kwok/go.mod $(TOOLS_ROOT)/hack/tools/kwok/go.sum

# `make bin/kwok` also provides the stage files (order-only: they do not force a relink).
$(TOOLS_BIN)/kwok: $(TOOLS_KWOK_MOD) | $(TOOLS_BIN)/kwok-stages/stages.yaml
	@mkdir -p $(@D)
	cd $(TOOLS_ROOT)/hack/tools/kwok && $(TOOLS_GO) build -o $(abspath $@) sigs.k8s.io/kwok/cmd/kwok

$(TOOLS_BIN)/kwok-stages/stages.yaml: $(TOOLS_KWOK_MOD)
	@set -e; cd $(TOOLS_ROOT)/hack/tools/kwok; $(TOOLS_GO) mod download sigs.k8s.io/kwok; \
	src=$$($(TOOLS_GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok); \
	[ -n "$$src" ] && [ -d "$$src/kustomize/stage" ] || { echo "kwok module source not found in the module cache" >&2; exit 1; }; \
	src=$$src/kustomize/stage; \
	dst=$(abspath $(@D)); rm -rf "$$dst"; mkdir -p "$$dst"; : > "$$dst/stages.yaml.tmp"; \
	for s in $(TOOLS_KWOK_STAGES); do \
	  mkdir -p "$$dst/$$s"; \
	  for f in "$$src/$$s"/*.yaml; do \
	    case "$$f" in */kustomization.yaml) continue;; esac; \
	    install -m 0644 "$$f" "$$dst/$$s/"; \
	    { echo "---"; cat "$$f"; } >> "$$dst/stages.yaml.tmp"; \
	  done; \
	done; \
	mv -f "$$dst/stages.yaml.tmp" "$$dst/stages.yaml"; \
	echo "copied KWOK stages ($(TOOLS_KWOK_STAGES)) from $$src to $$dst"
