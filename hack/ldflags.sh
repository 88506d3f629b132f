#!/usr/bin/env bash
# Prints the -ldflags that stamp bin/gpu-scheduler's version; the Makefile and the Dockerfile both
# use it, so a local build and the image report the same.
#
#   hack/ldflags.sh VERSION
#
# kube-scheduler derives its binary and emulation version (which feature gates are on) from
# gitVersion, so that stays the Kubernetes version in go.mod; --version names gpu-scheduler's
# VERSION through the program name: "gpu-scheduler v0.2.0 on kube-scheduler v1.36.3".
set -euo pipefail
version=${1:?usage: hack/ldflags.sh VERSION}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kube=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
printf '%s' "-X k8s.io/component-base/version.gitVersion=$kube -X 'k8s.io/component-base/version/verflag.programName=gpu-scheduler $version on kube-scheduler'"
