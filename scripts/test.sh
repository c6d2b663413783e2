#!/usr/bin/env bash
# The test command (README, CI): installs what is needed, builds the ci preset (warnings as
# errors in hep-mlbench's code) and runs the whole suite through CTest; then, when no ctest
# arguments narrow the run, compiles the sources against the oldest supported LibTorch
# (scripts/libtorch_compat.sh 2.8.0; HMB_COMPAT=0 skips it).
#   scripts/test.sh [--no-apt] [extra ctest args, e.g. -R data]
# A run in which no test matches fails (the ci test preset's noTestsAction), so a mistyped -R or
# a build without tests is not green.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_ARGS=()
if [[ "${1:-}" == "--no-apt" ]]; then SETUP_ARGS+=(--no-apt); shift; fi
"$ROOT/scripts/setup.sh" "${SETUP_ARGS[@]}"
"$ROOT/scripts/build.sh" ci
cd "$ROOT"
rc=0
ctest --preset ci -j "${HMB_TEST_JOBS:-2}" "$@" || rc=$?
if (($# == 0)) && [[ "${HMB_COMPAT:-1}" != 0 ]]; then
  "$ROOT/scripts/libtorch_compat.sh" 2.8.0 || rc=1
fi
exit $rc
