#!/usr/bin/env bash
# The run command (README): installs what is needed, builds the release preset, makes a small
# generated sample (once) and runs a short benchmark on it, as HEPscore would run the
# workload: the report lands in results/hep-mlbench_summary.json.
#   scripts/run.sh [--no-apt] [extra options for the workload, e.g. --preset small --epochs 3]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_ARGS=()
if [[ "${1:-}" == "--no-apt" ]]; then SETUP_ARGS+=(--no-apt); shift; fi
"$ROOT/scripts/setup.sh" "${SETUP_ARGS[@]}"
"$ROOT/scripts/build.sh" release
BIN="$ROOT/build/release/src/hep-mlbench"
"$BIN" --version

SAMPLE="$ROOT/build/samples/small-seed20240601-64.h5"
if [[ ! -f "$SAMPLE" ]]; then
  mkdir -p "$(dirname "$SAMPLE")"
  "$BIN" generate --events 64 --output "$SAMPLE"
fi
RESULTS="${HMB_RESULTS:-$ROOT/results}"
mkdir -p "$RESULTS"
# The small default: the tiny preset, 2 epochs over the 51 training events (48 per epoch in
# batches of 4), on every CPU core or on the GPUs when there are some. Under a minute on 2
# cores once built.
set -x
"$BIN" workload -W -w "$RESULTS" --data "$SAMPLE" --preset tiny --epochs 2 --batch-size 4 \
  --lr 1e-3 --warmup-steps 2 "$@"
{ set +x; } 2>/dev/null
echo "[run] report: $RESULTS/hep-mlbench_summary.json"
