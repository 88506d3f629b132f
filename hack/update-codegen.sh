#!/usr/bin/env bash
# Regenerates deepcopy, conversion and defaulting code for the plugin args (pkg/apis/config).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
gen=k8s.io/code-generator/cmd
ver=$(go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/code-generator 2>/dev/null || echo v0.36.3)
bindir="$root/_output/codegen"
mkdir -p "$bindir"
for tool in deepcopy-gen conversion-gen defaulter-gen; do
  [ -x "$bindir/$tool" ] || GOBIN="$bindir" GOFLAGS=-mod=mod go install "$gen/$tool@$ver"
done
pkg=./pkg/apis/config
"$bindir/deepcopy-gen" --go-header-file hack/boilerplate.go.txt --output-file zz_generated.deepcopy.go "$pkg" "$pkg/v1"
"$bindir/conversion-gen" --go-header-file hack/boilerplate.go.txt --output-file zz_generated.conversion.go "$pkg/v1"
"$bindir/defaulter-gen" --go-header-file hack/boilerplate.go.txt --output-file zz_generated.defaults.go "$pkg/v1"
