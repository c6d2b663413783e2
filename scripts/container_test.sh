#!/usr/bin/env bash
# Builds the hep-mlbench image with podman from a locally debootstrapped Debian 12 base and a
# small sample, runs it as HEPscore does (-W, non-root user, read-only, no network, /results
# mounted) and checks the summary; then runs it with a corrupt sample mounted over the bundled
# one and expects log "ERROR" and a non-zero exit; and checks that --help works.
#   scripts/container_test.sh            (root; installs podman, runc, debootstrap)
#   scripts/container_test.sh --no-build (the checks only, on the image an earlier run built)
# Environment: HMB_PODMAN_ROOT (image store, default /var/tmp/hmb-podman), SAMPLE_EVENTS (40).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE="${HMB_PODMAN_ROOT:-/var/tmp/hmb-podman}"
EVENTS="${SAMPLE_EVENTS:-40}"
WORK="$(mktemp -d /var/tmp/hmb-container-XXXXXX)"
log() { printf '[container_test] %s\n' "$*"; }
die() { printf '[container_test] FAILED: %s\n' "$*" >&2; exit 1; }
BUILD=1
case "${1:-}" in
  "") ;;
  --no-build) BUILD=0 ;;
  *) die "unknown option '$1' (usage: scripts/container_test.sh [--no-build])" ;;
esac

for p in podman runc debootstrap; do
  command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y -qq podman runc debootstrap; break; }
done
FLAGS=(--root "$STORE" --runtime runc --cgroup-manager cgroupfs)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1000:1000)
trap 'rm -rf "$WORK"' EXIT

if ((!BUILD)); then
  podman "${FLAGS[@]}" image exists localhost/hep-mlbench:test ||
    die "--no-build: no image localhost/hep-mlbench:test under $STORE; run without --no-build first"
  log "--no-build: checking the image an earlier run built"
else
  # One build needs ~20 GB in the image store (the build stage alone is ~13 GB). Earlier builds'
  # untagged layers speed up the next one, so they are kept while there is room and pruned
  # when there is not.
  mkdir -p "$STORE"
  store_free_gb() { echo $(( $(df --output=avail -k "$STORE" | tail -1) / 1024 / 1024 )); }
  free_gb=$(store_free_gb)
  if (( free_gb < 40 )); then
    log "only ${free_gb} GB free under $STORE: pruning earlier builds' untagged images"
    podman "${FLAGS[@]}" image prune -f >/dev/null
    free_gb=$(store_free_gb)
  fi
  (( free_gb >= 25 )) || die "the image build needs about 25 GB free under $STORE, there are ${free_gb} GB: free some space or set HMB_PODMAN_ROOT"

  if ! podman "${FLAGS[@]}" image exists localhost/debian:bookworm; then
    log "making the Debian 12 base image with debootstrap"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$WORK/rootfs" -c . | podman "${FLAGS[@]}" import - localhost/debian:bookworm >/dev/null
  fi

  log "building the image (sample of $EVENTS events)"
  CA_ARGS=()
  if [[ -n "${PIP_CERT:-}" && -f "$PIP_CERT" ]]; then
    # This machine reaches PyPI through a proxy with its own CA: hand it to pip in the build.
    cp "$PIP_CERT" "$ROOT/scripts/.pip-ca.crt"
    CA_ARGS=(--build-arg PIP_CERT=scripts/.pip-ca.crt)
  fi
  podman "${FLAGS[@]}" build "${CA_ARGS[@]}" "${LIMITS[@]}" --network host -t localhost/hep-mlbench:test \
    --build-arg BASE_IMAGE=localhost/debian:bookworm --build-arg SAMPLE_EVENTS="$EVENTS" \
    --build-arg GIT_COMMIT="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$ROOT"
fi

RUN=(podman "${FLAGS[@]}" run --rm "${LIMITS[@]}" --network none --read-only --user 4242:4242 --tmpfs /tmp)
ARGS=(-W -t 1 --preset tiny --epochs 1 --max-train-events 8 --max-val-events 4 --warmup-steps 1 --batch-size 4)

log "--help"
# Read whole before searching: a pipe into grep -q can close before podman has written it all,
# and podman then fails with a broken pipe.
help_text="$("${RUN[@]}" localhost/hep-mlbench:test --help)" || die "--help exited non-zero"
grep -q -- "--copies" <<<"$help_text" || die "--help does not print usage"

log "a run as HEPscore does it"
mkdir -p "$WORK/ok" && chmod 777 "$WORK/ok"
"${RUN[@]}" -v "$WORK/ok:/results" localhost/hep-mlbench:test "${ARGS[@]}" || die "the benchmark run failed"
"$ROOT/.venv/bin/python" - "$WORK/ok/hep-mlbench_summary.json" "$ROOT/docs/summary.schema.json" <<'PY' || die "summary check"
import json, sys, jsonschema
s = json.load(open(sys.argv[1])); jsonschema.validate(s, json.load(open(sys.argv[2])))
assert s["report"]["log"] == "ok" and s["report"]["wl-scores"]["mlpf_train_events_per_s"] > 0, s["report"]
assert s["app"]["containment"] in ("podman", "docker"), s["app"]
print("[container_test] summary ok:", s["report"]["wl-scores"])
PY

log "a corrupt sample mounted over the bundled one"
head -c 100000 /dev/urandom > "$WORK/corrupt.h5"
mkdir -p "$WORK/bad" && chmod 777 "$WORK/bad"
if "${RUN[@]}" -v "$WORK/bad:/results" -v "$WORK/corrupt.h5:/opt/hep-mlbench/data/sample.h5:ro" \
     localhost/hep-mlbench:test "${ARGS[@]}"; then
  die "a corrupt sample was accepted"
fi
grep -q '"log": "ERROR"' "$WORK/bad/hep-mlbench_summary.json" || die "no ERROR summary for the corrupt sample"
log "all passed"
