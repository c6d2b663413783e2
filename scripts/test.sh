#!/usr/bin/env bash
# The test command (README, CI): installs what is needed, builds the ci preset (warnings as
# errors in hep-mlbench's code) and runs the whole suite through CTest.
#   scripts/test.sh [--no-apt] [extra ctest args, e.g. -R data]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_ARGS=()
if [[ "${1:-}" == "--no-apt" ]]; then SETUP_ARGS+=(--no-apt); shift; fi
"$ROOT/scripts/setup.sh" "${SETUP_ARGS[@]}"
"$ROOT/scripts/build.sh" ci
cd "$ROOT"
ctest --preset ci -j "${HMB_TEST_JOBS:-2}" "$@"
