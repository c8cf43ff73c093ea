#!/usr/bin/env bash
# Installs the pinned tools clvflow's dev stack and tests need into .tools/
# (git-ignored), each only when it is missing or at another version:
#   .tools/bin/temporal   Temporal CLI (dev server + Web UI)      go install, ~4.5 min cold
#   .tools/bin/minio      MinIO server (AGPLv3: run, never import) go install, ~2.5 min cold
#   .tools/lib/libonnxruntime.so.<ver>  ONNX Runtime CPU library from the npm package onnxruntime-node
#   .tools/bin/staticcheck, .tools/bin/workflowcheck  linters for `make check` (only with --lint)
# Usage: deploy/dev/install-tools.sh [--lint] [--only temporal|minio|ort]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="${CLVFLOW_TOOLS_DIR:-$ROOT/.tools}"
TEMPORAL_MOD="github.com/temporalio/cli/cmd/temporal"
TEMPORAL_VERSION="v1.5.1"
MINIO_MOD="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
ORT_VERSION="1.24.1"
STATICCHECK_VERSION="v0.8.2"
WORKFLOWCHECK_VERSION="v0.6.0"

lint=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lint) lint=1 ;;
    --only) only="$2"; shift ;;
    *) echo "install-tools: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

mkdir -p "$TOOLS/bin" "$TOOLS/lib"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# installed_version BIN prints the main module version recorded in a Go binary.
installed_version() {
  [ -x "$1" ] || return 0
  go version -m "$1" 2>/dev/null | awk '$1=="mod"{print $3; exit}'
}

go_tool() { # name module version
  local name="$1" mod="$2" ver="$3" have
  have="$(installed_version "$TOOLS/bin/$name")"
  if [ "$have" = "$ver" ]; then
    echo "install-tools: $name $ver already installed"
    return
  fi
  echo "install-tools: installing $name $ver (have: ${have:-none}); this takes a few minutes on a cold cache"
  GOBIN="$TOOLS/bin" go install "$mod@$ver"
}

want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

if want temporal; then go_tool temporal "$TEMPORAL_MOD" "$TEMPORAL_VERSION"; fi
if want minio; then go_tool minio "$MINIO_MOD" "$MINIO_VERSION"; fi
if want ort; then
  lib="$TOOLS/lib/libonnxruntime.so.$ORT_VERSION"
  if [ -s "$lib" ]; then
    echo "install-tools: ONNX Runtime $ORT_VERSION already present"
  else
    command -v npm >/dev/null || { echo "install-tools: npm is needed to fetch ONNX Runtime (apt-get install npm)" >&2; exit 1; }
    echo "install-tools: fetching ONNX Runtime $ORT_VERSION (npm package onnxruntime-node, CPU library only)"
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    # npm pack only downloads the tarball; the package's install scripts never run.
    (cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
    tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
    install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
    mv "$lib.tmp" "$lib"
  fi
fi
if [ "$lint" = 1 ]; then
  go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"
  if [ "$(installed_version "$TOOLS/bin/workflowcheck")" != "$WORKFLOWCHECK_VERSION" ]; then
    GOBIN="$TOOLS/bin" go install "go.temporal.io/sdk/contrib/tools/workflowcheck@$WORKFLOWCHECK_VERSION" \
      || echo "install-tools: workflowcheck $WORKFLOWCHECK_VERSION not installable; make check falls back to the replay tests" >&2
  fi
fi
