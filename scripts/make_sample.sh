#!/usr/bin/env bash
# Makes the bundled benchmark sample: converted from the public Delphes pickles when they are
# given, else generated with the fixed default seed. Prints and records the checksum
# (OUTPUT.sha256 holds the content checksum; `hep-mlbench info OUTPUT` verifies it).
#
#   scripts/make_sample.sh OUTPUT.h5 [EVENTS]                 generated, EVENTS default 2000 (~0.8 GB)
#   HMB_PICKLES='/data/tev14_*.pkl.bz2' scripts/make_sample.sh OUTPUT.h5 [EVENTS]   converted,
#                                        EVENTS of the files (80% from the training files)
#   HMB_GENERATOR_VERSION=1 scripts/make_sample.sh OUTPUT.h5  the sample of earlier releases
#
# Environment: HMB_BIN (the hep-mlbench binary; default build/release/src/hep-mlbench),
# HMB_PYTHON (python with h5py for the converter; default .venv/bin/python),
# HMB_GENERATOR_VERSION (the generator version, default 2; data/README.md has each checksum).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: make_sample.sh OUTPUT.h5 [EVENTS]}"
EVENTS="${2:-2000}"
SEED=20240601   # the fixed default seed of the bundled sample
GENERATOR_VERSION="${HMB_GENERATOR_VERSION:-2}"   # pinned: a new default never changes the sample silently
BIN="${HMB_BIN:-$ROOT/build/release/src/hep-mlbench}"
PY="${HMB_PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$BIN" ]] || { echo "make_sample: ERROR: $BIN not found: build first (scripts/build.sh release) or set HMB_BIN" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
if [[ -n "${HMB_PICKLES:-}" ]]; then
  # shellcheck disable=SC2086 # the pattern is expanded by the converter
  "$PY" "$ROOT/scripts/convert_pickles.py" --output "$OUT" --max-events "$EVENTS" $HMB_PICKLES
else
  "$BIN" generate --events "$EVENTS" --seed "$SEED" --generator-version "$GENERATOR_VERSION" --output "$OUT"
fi
CHECKSUM="$("$BIN" info "$OUT" | sed -n 's/^checksum sha256 *\([0-9a-f]*\).*/\1/p')"
[[ -n "$CHECKSUM" ]] || { echo "make_sample: ERROR: could not verify $OUT" >&2; exit 1; }
echo "$CHECKSUM  $(basename "$OUT") (content checksum, docs/data-format.md)" > "$OUT.sha256"
echo "make_sample: $OUT ($(du -h "$OUT" | cut -f1)), content checksum $CHECKSUM"
