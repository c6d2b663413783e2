#!/usr/bin/env bash
# Builds the hep-mlbench image with podman from a locally debootstrapped Debian 12 base and a
# small sample (its checksum checked), and runs it as HEPscore and Singularity sites do:
#   - --help;
#   - HEPscore's Docker run: -W --mop all --ncores, the image's non-root user, read-only, no
#     network, /results, /tmp, /var/tmp bound; the summary is checked against the schema;
#   - Singularity's contained run: an arbitrary uid with no passwd entry and no home, and a
#     bare yes/no switch (HEPscore's `key: true`);
#   - failures that must leave log "ERROR" and a non-zero exit: a corrupt sample mounted over
#     the bundled one, an unknown option, and `--gpus all` in a container given no GPU.
#   scripts/container_test.sh            (root; installs podman, runc, debootstrap)
#   scripts/container_test.sh --no-build (the checks only, on the image an earlier run built)
# Environment: HMB_PODMAN_ROOT (image store, default /var/tmp/hmb-podman), SAMPLE_EVENTS (40),
# PIP_CERT (a CA bundle pip needs behind a TLS-re-signing proxy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE="${HMB_PODMAN_ROOT:-/var/tmp/hmb-podman}"
EVENTS="${SAMPLE_EVENTS:-40}"
# The content checksum of the 40-event sample (seed 20240601, generator version 2).
SHA256_40=eb22158d14ae1b568f0d098be1b3113236deee442c1bccbdcde290a3b4642c44
CA_COPY="$ROOT/scripts/ca/pip-ca.crt"
WORK="$(mktemp -d /var/tmp/hmb-container-XXXXXX)"
trap 'rm -rf "$WORK" "$CA_COPY"' EXIT
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
[[ -x "$ROOT/.venv/bin/python" ]] ||
  die "the summary checks need the project's Python environment: run scripts/setup.sh first"

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
    cp "$PIP_CERT" "$CA_COPY"
    CA_ARGS=(--build-arg PIP_CERT=scripts/ca/pip-ca.crt)
  fi
  SHA=any
  [[ "$EVENTS" == 40 ]] && SHA="$SHA256_40"
  podman "${FLAGS[@]}" build "${CA_ARGS[@]}" "${LIMITS[@]}" --network host -t localhost/hep-mlbench:test \
    --build-arg BASE_IMAGE=localhost/debian:bookworm --build-arg RUNTIME_IMAGE=localhost/debian:bookworm \
    --build-arg SAMPLE_EVENTS="$EVENTS" --build-arg SAMPLE_SHA256="$SHA" \
    --build-arg GIT_COMMIT="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$ROOT"
fi

# As HEPscore runs it under Docker: the image's user, /results, /tmp and /var/tmp bound.
RUN=(podman "${FLAGS[@]}" run --rm "${LIMITS[@]}" --network none --read-only --user 4242:4242)
# As `singularity run -c -e` does: the invoking user (no passwd entry, no home), a clean
# environment, the root file system read-only.
SING=(podman "${FLAGS[@]}" run --rm "${LIMITS[@]}" --network none --read-only --user 1234:1234
      --workdir / -e HOME=/nonexistent)
ARGS=(-t 1 --preset tiny --epochs 1 --max-train-events 8 --max-val-events 4 --warmup-steps 1 --batch-size 4)
# A results folder and the /tmp and /var/tmp binds of one run; HEPscore makes them world-writable.
binds() {
  mkdir -p "$WORK/$1/results" "$WORK/$1/tmp" && chmod 1777 "$WORK/$1/results" "$WORK/$1/tmp"
  echo "-v $WORK/$1/results:/results -v $WORK/$1/tmp:/tmp -v $WORK/$1/tmp:/var/tmp"
}
# check_summary FILE LOG [PYTHON-CONDITION]: the summary is valid against the schema, says LOG,
# and meets the condition (s is the summary).
check_summary() {
  "$ROOT/.venv/bin/python" - "$1" "$ROOT/docs/summary.schema.json" "$2" "${3:-True}" <<'PY'
import json, sys, jsonschema
s = json.load(open(sys.argv[1])); jsonschema.validate(s, json.load(open(sys.argv[2])))
assert s["report"]["log"] == sys.argv[3], s["report"]
assert eval(sys.argv[4]), (sys.argv[4], s["report"], s["run_info"])
print("[container_test] summary ok:", s["report"]["log"], s["report"].get("wl-scores") or s["report"].get("error", ""))
PY
}

log "--help"
# Read whole before searching: a pipe into grep -q can close before podman has written it all,
# and podman then fails with a broken pipe.
help_text="$("${RUN[@]}" localhost/hep-mlbench:test --help)" || die "--help exited non-zero"
grep -q -- "--copies" <<<"$help_text" || die "--help does not print usage"

log "a run as HEPscore does it (-W --mop all --ncores 2)"
# shellcheck disable=SC2046 # binds prints whole options
"${RUN[@]}" $(binds ok) localhost/hep-mlbench:test -W --mop all --ncores 2 "${ARGS[@]}" || die "the benchmark run failed"
check_summary "$WORK/ok/results/hep-mlbench_summary.json" ok \
  's["report"]["wl-scores"]["mlpf_train_events_per_s"] > 0 and s["app"]["containment"] in ("podman", "docker")' ||
  die "summary check (HEPscore run)"
# --mop all keeps the copy's log and summary only.
extra="$(find "$WORK/ok/results/proc_0" -type f ! -name '*.log' ! -name '*summary.json' | head -3)"
[[ -z "$extra" ]] || die "--mop all left files behind: $extra"
# The results folder is not the container user's: what it wrote there stays removable by the
# folder's owner (folders writable by all).
closed="$(find "$WORK/ok/results" -mindepth 1 -type d ! -perm -0002 | head -3)"
[[ -z "$closed" ]] || die "folders the container wrote that the results folder's owner cannot empty: $closed"

log "a run as Singularity does it (uid 1234, no home) with a bare switch"
# shellcheck disable=SC2046
"${SING[@]}" $(binds sing) localhost/hep-mlbench:test -W "${ARGS[@]}" --bucket-by-size ||
  die "the run as an arbitrary user failed"
check_summary "$WORK/sing/results/hep-mlbench_summary.json" ok '"--bucket-by-size" in s["run_info"]["extra_arguments"]' ||
  die "summary check (Singularity-like run)"

# expect_failure NAME WHAT CONDITION [podman-run-options] -- [workload options]: a non-zero
# exit and an ERROR summary that meets CONDITION (the reason is s["report"]["error"]).
expect_failure() {
  local name="$1" what="$2" cond="$3"; shift 3
  local pre=()
  while [[ $# -gt 0 && "$1" != -- ]]; do pre+=("$1"); shift; done
  shift
  # shellcheck disable=SC2046
  if "${RUN[@]}" $(binds "$name") "${pre[@]}" localhost/hep-mlbench:test -W "${ARGS[@]}" "$@"; then
    die "$what was accepted"
  fi
  check_summary "$WORK/$name/results/hep-mlbench_summary.json" ERROR "$cond" || die "no ERROR summary naming the cause for $what"
}
log "a corrupt sample mounted over the bundled one"
head -c 100000 /dev/urandom > "$WORK/corrupt.h5"
expect_failure corrupt "a corrupt sample" '"sample.h5" in s["report"]["error"]' \
  -v "$WORK/corrupt.h5:/opt/hep-mlbench/data/sample.h5:ro" --
log "an unknown option"
expect_failure bogus "an unknown option" '"no-such-option" in s["report"]["error"]' -- --no-such-option 3
log "--gpus all in a container given no GPU"
expect_failure nogpu "--gpus all without a GPU" '"--gpus all" in s["report"]["error"]' -- --gpus all
log "all passed"
