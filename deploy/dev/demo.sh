#!/usr/bin/env bash
# The whole clvflow story on the bundled dataset, against a local dev stack:
# stack up → train → gate → approval (signed with the dev stack's SSH key as
# demo@clvflow.dev after printing the command a person would type) →
# promoted champion → predictions with it. The dev worker encrypts every
# workflow payload with the dev payload key (history holds ciphertext only).
# Usage: deploy/dev/demo.sh [INPUT]   (run through `make demo`)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/bin/clvflow"
INPUT="${1:-testdata/demo/cdnow_master.txt.gz}"
DEMO_ARGS=(--format cdnow --cutoff 1997-09-30 --horizon-days 273)
OUT="$ROOT/.clvflow/demo"
mkdir -p "$OUT"

echo "== 1. dev stack (Temporal + Web UI, MinIO, worker)"
"$BIN" dev up
GOV="$ROOT/.clvflow/governance"
export CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE="$GOV/payload.key"
export CLVFLOW_PROVENANCE_TRUSTED_KEYS="$GOV/trusted_keys"

echo
echo "== 2. training pipeline on $INPUT"
started="$("$BIN" train --input "$INPUT" "${DEMO_ARGS[@]}" --json)"
wid="$(printf '%s' "$started" | sed -n 's/.*"workflow_id": *"\([^"]*\)".*/\1/p')"
ui="$(printf '%s' "$started" | sed -n 's/.*"ui": *"\([^"]*\)".*/\1/p')"
[ -n "$wid" ] || { echo "demo: could not start the pipeline: $started" >&2; exit 1; }
echo "run $wid — watch it at $ui"

echo
echo "== 3. waiting for the gate and the approval request"
version="$("$BIN" status "$wid" --wait-for-approval --timeout 30m)" || {
  "$BIN" result "$wid" || true
  exit 1
}
echo "the pipeline waits for a person to approve $version. They would sign with their own SSH key:"
echo "    clvflow approve $version --approver you@example.com --key ~/.ssh/id_ed25519 --comment \"reviewed the metrics\""
echo "the demo signs with the dev stack's key (listed in $GOV/allowed_signers):"
"$BIN" approve "$version" --approver demo@clvflow.dev --key "$GOV/approver_ed25519" --comment "make demo"

echo
echo "== 4. result"
"$BIN" result "$wid"

echo
echo "== 5. predictions with the champion"
"$BIN" predict --model champion --input "$INPUT" --format cdnow --cutoff 1997-09-30 --output "$OUT/predictions.csv"
head -n 6 "$OUT/predictions.csv"
echo "(all predictions: $OUT/predictions.csv)"

echo
echo "== 6. registry"
"$BIN" models list
"$BIN" models history champion

echo
echo "== 7. the champion's signed chain (registry entry, provenance, ONNX file, approval, alias)"
"$BIN" models verify champion

echo
echo "Temporal Web UI: $ui (payloads are encrypted; to read them in the UI run"
echo "  CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE=$GOV/payload.key bin/clvflow codec-server"
echo "  and set the UI's codec endpoint to http://127.0.0.1:8081)"
echo "Use the CLI against the dev stack with: export CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE=$GOV/payload.key CLVFLOW_PROVENANCE_TRUSTED_KEYS=$GOV/trusted_keys"
echo "Stop the stack with: bin/clvflow dev down"
