#!/usr/bin/env bash
# The run command (README): installs what is needed, builds the release preset, makes a small
# generated sample (once) and runs a short benchmark on it, as HEPscore would run the
# workload: the report lands in results/hep-mlbench_summary.json.
#
#   scripts/run.sh [--no-apt] [WORKLOAD OPTIONS]
#     --no-apt     set up without the system packages (they are there already)
#     -h, --help   this text; nothing is set up, built or run
#   WORKLOAD OPTIONS go to `hep-mlbench workload` after run.sh's own (an option given twice
#   takes its last value), e.g. --preset small --epochs 3; their list, once built:
#   build/release/src/hep-mlbench workload --help. They are checked by the workload itself,
#   after the set-up and the build (both quick once done).
#   HMB_RESULTS: the results folder (default: results/ in the checkout)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
# The arguments are read before anything is installed: a request for help, or an argument the
# workload cannot take, must not first cost an apt run, a venv install and a build.
SETUP_ARGS=() WORKLOAD_ARGS=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --no-apt) SETUP_ARGS=(--no-apt) ;;  # run.sh's own, wherever given: the workload has no such option
    *) WORKLOAD_ARGS+=("$arg") ;;
  esac
done
if ((${#WORKLOAD_ARGS[@]})) && [[ "${WORKLOAD_ARGS[0]}" != -* ]]; then
  echo "run.sh: '${WORKLOAD_ARGS[0]}' is not an option: the workload takes options, e.g. --preset small (--help)" >&2
  exit 2
fi
set -- "${WORKLOAD_ARGS[@]}"
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
