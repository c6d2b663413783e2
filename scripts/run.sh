#!/usr/bin/env bash
# The run command (README): installs what is needed, builds the release preset and runs the
# benchmark on the small embedded default.
#   scripts/run.sh [--no-apt] [options passed to hep-mlbench]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_ARGS=()
if [[ "${1:-}" == "--no-apt" ]]; then SETUP_ARGS+=(--no-apt); shift; fi
"$ROOT/scripts/setup.sh" "${SETUP_ARGS[@]}"
"$ROOT/scripts/build.sh" release
BIN="$ROOT/build/release/src/hep-mlbench"
"$BIN" --version
# Until the trainer lands: the start-up and the smoke step on the chosen device.
exec "$BIN" selftest "$@"
