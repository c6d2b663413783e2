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
# HMB_GENERATOR_VERSION (the generator version, default 2; data/README.md has each checksum),
# HMB_SAMPLE_SHA256 (the content checksum the sample must have; default: the published one for
# the default generated sample, none otherwise; "any" accepts whatever comes out).
#
# The sample is made under OUTPUT.h5.new.<pid> and renamed over OUTPUT.h5 only once its checksum
# is right: a refused sample is removed and an earlier OUTPUT.h5 (and .sha256) stays as it was.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Options come first, before anything is made: an option taken for OUTPUT made folders named
# after it (mkdir -p "$(dirname --help)").
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "make_sample: ERROR: unknown option '$arg' (usage: make_sample.sh OUTPUT.h5 [EVENTS]; --help says more)" >&2; exit 2 ;;
  esac
done
OUT="${1:?usage: make_sample.sh OUTPUT.h5 [EVENTS]}"
EVENTS="${2:-2000}"
SEED=20240601   # the fixed default seed of the bundled sample
GENERATOR_VERSION="${HMB_GENERATOR_VERSION:-2}"   # pinned: a new default never changes the sample silently
# The published checksum of the default sample (data/README.md): the reference scores were
# measured on it, so a build that makes other bytes (another libm, another architecture) must
# say so rather than ship them silently.
DEFAULT_SHA256=da62fab66cce82615a3b812c792d88cf0551ca9d25f409bfa7d329f37ab6a050
EXPECTED="${HMB_SAMPLE_SHA256:-}"
if [[ -z "$EXPECTED" && -z "${HMB_PICKLES:-}" && "$EVENTS" == 2000 && "$GENERATOR_VERSION" == 2 ]]; then
  EXPECTED="$DEFAULT_SHA256"
fi
[[ -z "$EXPECTED" || "$EXPECTED" == any || "$EXPECTED" =~ ^[0-9a-f]{64}$ ]] ||
  { echo "make_sample: ERROR: HMB_SAMPLE_SHA256='$EXPECTED' is not a SHA-256 (64 hex digits) or 'any'" >&2; exit 1; }
BIN="${HMB_BIN:-$ROOT/build/release/src/hep-mlbench}"
PY="${HMB_PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$BIN" ]] || { echo "make_sample: ERROR: $BIN not found: build first (scripts/build.sh release) or set HMB_BIN" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
# A link at OUTPUT is followed, so that the link stays (as the writers of the format do).
TARGET="$OUT"
[[ -L "$OUT" ]] && TARGET="$(readlink -m -- "$OUT")"
# Made and checked under a temporary name, so that a refused sample (or a stop) never replaces
# an earlier one; removed however the script ends, unless it was renamed into place.
NEW="$TARGET.new.$$"
SUM_NEW="$OUT.sha256.new.$$"
trap 'rm -f "$NEW" "$SUM_NEW"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n "${HMB_PICKLES:-}" ]]; then
  # shellcheck disable=SC2086 # the pattern is expanded by the converter
  "$PY" "$ROOT/scripts/convert_pickles.py" --output "$NEW" --max-events "$EVENTS" $HMB_PICKLES
else
  "$BIN" generate --events "$EVENTS" --seed "$SEED" --generator-version "$GENERATOR_VERSION" --output "$NEW"
fi
CHECKSUM="$("$BIN" info "$NEW" | sed -n 's/^checksum sha256 *\([0-9a-f]*\).*/\1/p')"
[[ -n "$CHECKSUM" ]] || { echo "make_sample: ERROR: could not verify the new sample for $OUT" >&2; exit 1; }
if [[ -n "$EXPECTED" && "$EXPECTED" != any && "$CHECKSUM" != "$EXPECTED" ]]; then
  echo "make_sample: ERROR: the sample's content checksum is $CHECKSUM, not the expected $EXPECTED." >&2
  echo "make_sample: the new sample was removed; $( [[ -e "$OUT" ]] && echo "the earlier $OUT is left as it was" || echo "nothing was written to $OUT")." >&2
  echo "make_sample: this platform generates other bytes, so scores on it do not compare with the reference scores (data/README.md);" >&2
  echo "make_sample: set HMB_SAMPLE_SHA256=any (the image build: --build-arg SAMPLE_SHA256=any) to keep such a sample anyway" >&2
  exit 1
fi
echo "$CHECKSUM  $(basename "$OUT") (content checksum, docs/data-format.md)" > "$SUM_NEW"
mv -f -- "$NEW" "$TARGET"
mv -f -- "$SUM_NEW" "$OUT.sha256"
echo "make_sample: $OUT ($(du -h "$OUT" | cut -f1)), content checksum $CHECKSUM"
