#!/usr/bin/env bash
# Configures and builds hep-mlbench with a CMake preset (dev, release, ci, cpu).
#   scripts/build.sh [PRESET] [extra cmake --build args]      default preset: release
# Needs scripts/setup.sh to have run. Incremental: a second run rebuilds only what changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRESET="${1:-release}"
shift || true
cd "$ROOT"
[[ -e .venv/bin/python ]] || { echo "[build] ERROR: .venv missing: run scripts/setup.sh first" >&2; exit 1; }
JOBS="${HMB_BUILD_JOBS:-$(nproc)}"
# Configured every time (seconds): a changed preset or option takes effect in an existing tree.
cmake --preset "$PRESET"
cmake --build --preset "$PRESET" -j "$JOBS" "$@"
echo "[build] built build/$PRESET/src/hep-mlbench"
