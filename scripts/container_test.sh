#!/usr/bin/env bash
# Builds the hep-mlbench image with podman from a locally debootstrapped Debian 12 base and a
# small sample (its checksum checked), and runs it as HEPscore and Singularity sites do:
#   - --help;
#   - HEPscore's Docker run: -W --mop all --ncores, the image's non-root user, read-only, no
#     network, /results, /tmp, /var/tmp bound; the summary is checked against the schema;
#   - Singularity's contained run: an arbitrary uid with no passwd entry and no home, and a
#     bare yes/no switch (HEPscore's `key: true`);
#   - failures that must leave log "ERROR" and a non-zero exit: a corrupt sample mounted over
#     the bundled one, an unknown option, and `--gpus all` in a container given no GPU;
#   - with --hepscore DIR: HEPscore itself (a checkout of hep-score in DIR) runs the CPU entry of
#     hepscore/hep-mlbench.yaml on the image, under Docker (podman standing in for it, with
#     HEPscore's -C and -n) and under Singularity (a stand-in that runs `singularity run -i -c
#     -e -B …` with podman), then once with an option the workload refuses; the scores it
#     computes and its status are checked against the runs' summaries.
#   scripts/container_test.sh [--no-build] [--hepscore DIR]   (root; installs podman, runc,
#     debootstrap, and python3-yaml for HEPscore when its python3 lacks PyYAML)
#   --no-build: the checks only, on the image an earlier run built
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
HS_IMAGE=""  # the image's tag under a HEPscore entry's name, removed at the end (--hepscore)
cleanup() {
  [[ -z "$HS_IMAGE" ]] || podman --root "$STORE" untag localhost/hep-mlbench:test "$HS_IMAGE" 2>/dev/null || true
  rm -rf "$WORK" "$CA_COPY"
}
trap cleanup EXIT
log() { printf '[container_test] %s\n' "$*"; }
die() { printf '[container_test] FAILED: %s\n' "$*" >&2; exit 1; }
BUILD=1 HEPSCORE_SRC=""
USAGE="usage: scripts/container_test.sh [--no-build] [--hepscore DIR]"
while (($#)); do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --hepscore)
      [[ $# -ge 2 && -n "$2" ]] || die "--hepscore needs the folder of a HEPscore checkout ($USAGE)"
      [[ -f "$2/hepscore/main.py" ]] ||
        die "--hepscore $2: no hepscore/main.py there; give a checkout of HEPscore (hep-score, from the HEPiX benchmarking group's repository)"
      HEPSCORE_SRC="$(cd "$2" && pwd)"; shift 2 ;;
    *) die "unknown option '$1' ($USAGE)" ;;
  esac
done

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
SING_UID=1234
SING=(podman "${FLAGS[@]}" run --rm "${LIMITS[@]}" --network none --read-only --user "$SING_UID:$SING_UID"
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

log "a run as Singularity does it (uid $SING_UID, no home) with a bare switch"
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
# HEPscore itself runs the CPU entry of hepscore/hep-mlbench.yaml on the image (the GPU entry
# commented out, as HEPscore's own configurations do, for there is no GPU here), the image tagged
# under the entry's name as HEPscore pulls it: <registry>/<benchmark>:<version>.
hepscore_checks() {
  local py=python3 bin="$WORK/hs-bin" version
  if ! "$py" -c 'import yaml' 2>/dev/null; then
    py=/usr/bin/python3
    "$py" -c 'import yaml' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-yaml; }
  fi
  version="$("$py" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["hepscore"]["benchmarks"]["hep-mlbench-cpu"]["version"])' "$ROOT/hepscore/hep-mlbench.yaml")"
  HS_IMAGE="localhost/hep-mlbench/hep-mlbench-cpu:$version"
  podman "${FLAGS[@]}" tag localhost/hep-mlbench:test "$HS_IMAGE"
  # HEPscore calls `docker` or `singularity` from PATH: podman stands in for both, with this
  # machine's flags. The Singularity stand-in starts the image as the Singularity-like run above
  # (SING: a user with no passwd entry and no home, a clean environment, the root file system
  # read-only), and that user owns the folders given with -B, as HEPscore run by that user would
  # have made them (HEPscore runs as root here).
  local flags limits sing
  flags="$(printf '%q ' "${FLAGS[@]}")" limits="$(printf '%q ' "${LIMITS[@]}")" sing="$(printf '%q ' "${SING[@]}")"
  mkdir -p "$bin"
  cat > "$bin/docker" <<EOF
#!/usr/bin/env bash
if [[ "\${1:-}" == run ]]; then shift; exec podman $flags run $limits "\$@"; fi
exec podman $flags "\$@"
EOF
  cat > "$bin/singularity" <<EOF
#!/usr/bin/env bash
set -euo pipefail
case "\${1:-}" in
  --version) echo "singularity-stand-in version 0.0 (podman, hep-mlbench's container test)"; exit 0 ;;
  run) shift ;;
  *) echo "singularity stand-in: only 'run' and '--version' are known, not '\${1:-}'" >&2; exit 2 ;;
esac
binds=()
while (( \$# )); do
  case "\$1" in
    -i|-c|-e|-u|--unsquash) shift ;;
    -B) chown $SING_UID:$SING_UID "\${2%%:*}"; binds+=(-v "\$2"); shift 2 ;;
    --nv) echo "singularity stand-in: --nv asks for GPUs and there are none here" >&2; exit 1 ;;
    -*) echo "singularity stand-in: unknown option '\$1'" >&2; exit 2 ;;
    *) break ;;
  esac
done
image="\${1#docker://}"; shift
exec $sing "\${binds[@]}" "\$image" "\$@"
EOF
  chmod +x "$bin/docker" "$bin/singularity"

  # hepscore_run NAME EXEC [KEY=VALUE ...] -- [HEPscore options]: HEPscore runs the CPU entry, made
  # short (the tiny preset, 8 training events, KEY=VALUE added to its args), 3 times under EXEC;
  # its exit status lands in HS_RC.
  hepscore_run() {
    local name="$1" exec="$2"; shift 2
    local sets=()
    while [[ $# -gt 0 && "$1" != -- ]]; do sets+=("$1"); shift; done
    shift
    mkdir -p "$WORK/hs-$name/out"
    "$py" - "$ROOT/hepscore/hep-mlbench.yaml" "$WORK/hs-$name/config.yaml" "$exec" "${sets[@]}" <<'PY'
import sys, yaml
source, target, container_exec, *sets = sys.argv[1:]
config = yaml.safe_load(open(source))
hs = config["hepscore"]
benchmarks = hs["benchmarks"]
benchmarks[".hep-mlbench-gpu"] = benchmarks.pop("hep-mlbench-gpu")
args = benchmarks["hep-mlbench-cpu"]["args"]
args.update({"preset": "tiny", "epochs": 1, "batch-size": 4, "max-train-events": 8,
             "max-val-events": 4, "warmup-steps": 1})
args.update(dict(s.split("=", 1) for s in sets))
hs["settings"].update({"registry": ["docker://localhost/hep-mlbench"], "repetitions": 3,
                       "container_exec": container_exec})
yaml.safe_dump(config, open(target, "w"), sort_keys=False)
PY
    HS_RC=0
    PATH="$bin:$PATH" PYTHONPATH="$HEPSCORE_SRC" "$py" -m hepscore.main -v -f "$WORK/hs-$name/config.yaml" "$@" \
      "$WORK/hs-$name/out" > "$WORK/hs-$name/hepscore.log" 2>&1 || HS_RC=$?
  }
  # hs_die NAME MESSAGE: the end of HEPscore's log of that check, then the failure.
  hs_die() { sed 's/^/  | /' "$WORK/hs-$1/hepscore.log" | tail -25; die "$2"; }
  # hepscore_check NAME CONDITION WHAT: HEPscore's report meets CONDITION (else fails as WHAT),
  # where h is the report, runs the summaries of its runs in order (paths: their files), and
  # score the median of the runs' scores as HEPscore defines them (events/s over the entry's
  # reference, rounded to 4 places).
  hepscore_check() {
    "$py" - "$WORK/hs-$1" "$2" <<'PY' || hs_die "$1" "$3"
import glob, json, os, statistics, sys, yaml
folder, condition = sys.argv[1:]
entry, key = "hep-mlbench-cpu", "mlpf_train_events_per_s"
ref = yaml.safe_load(open(folder + "/config.yaml"))["hepscore"]["benchmarks"][entry]["ref_scores"][key]
(report,) = glob.glob(folder + "/out/HEPscore_*/HEPscore_MLPF.json")
h = json.load(open(report))
paths = sorted(glob.glob(report.rsplit("/", 1)[0] + f"/{entry}/run*/hep-mlbench_summary.json"))
runs = [json.load(open(f)) for f in paths]
ok = [round(r["report"]["wl-scores"][key] / ref, 4) for r in runs if r["report"]["log"] == "ok"]
score = statistics.median(ok) if ok else None
assert eval("(" + condition + ")"), (condition, {k: h.get(k) for k in ("status", "score", "error", "wl-scores")},
                         [r["report"].get("error") or r["report"]["wl-scores"] for r in runs])
print("[container_test] HEPscore's report ok:", h["status"], "score", h["score"], "over", len(runs), "run(s)")
PY
  }
  # HEPscore passes --ncores N only when -n N differs from the CPUs it may run on: N is 1, or 2
  # where there is one.
  local ncores=1
  (($(nproc) == 1)) && ncores=2
  log "HEPscore ($HEPSCORE_SRC) under Docker (podman), with -C (--mop all) and -n $ncores (--ncores $ncores)"
  hepscore_run docker docker -- -C -n "$ncores"
  ((HS_RC == 0)) || hs_die docker "HEPscore under Docker exited with $HS_RC"
  hepscore_check docker 'h["status"] == "success" and len(runs) == 3 and h["score"] == round(score, 4)
    and all(r["run_info"]["threads_per_copy"] == '"$ncores"' for r in runs)
    and all(r["app"]["containment"] in ("docker", "podman") for r in runs)' "HEPscore's report (Docker)"
  # HEPscore's log (-v) gives the command it started: the options that -C and -n add came first.
  grep -q "'-W', '--mop', 'all', '--ncores', '$ncores', '--copies', '1'" "$WORK/hs-docker/hepscore.log" ||
    hs_die docker "HEPscore did not start the workload with -W --mop all --ncores $ncores"
  compgen -G "$WORK/hs-docker/out/HEPscore_*/hep-mlbench-cpu/run0/proc_0" >/dev/null ||
    hs_die docker "HEPscore's run folders hold no proc_0/ of the workload"
  extra="$(find "$WORK"/hs-docker/out/HEPscore_*/hep-mlbench-cpu/run*/proc_0 -type f ! -name '*.log' ! -name '*summary.json' | head -3)"
  [[ -z "$extra" ]] || die "HEPscore's -C (--mop all) left files behind: $extra"

  log "HEPscore under Singularity (the podman stand-in), the entry's own container_exec"
  hepscore_run sing singularity --
  ((HS_RC == 0)) || hs_die sing "HEPscore under Singularity exited with $HS_RC"
  grep -q "\['singularity', 'run', '-i', '-c', '-e', '-B'" "$WORK/hs-sing/hepscore.log" ||
    hs_die sing "HEPscore did not start the workload with singularity run -i -c -e"
  hepscore_check sing 'h["status"] == "success" and len(runs) == 3 and h["score"] == round(score, 4)
    and all(os.stat(p).st_uid == '"$SING_UID"' for p in paths)' "HEPscore's report (Singularity)"

  log "HEPscore with an option the workload refuses"
  hepscore_run refused docker no-such-option=3 --
  ((HS_RC == 2)) || hs_die refused "HEPscore exited with $HS_RC, not 2, on a run the workload refused"
  hepscore_check refused 'h["status"] == "failed" and h["score"] == -1 and h["error"] == "hep-mlbench-cpu"
    and len(runs) == 1 and runs[0]["report"]["log"] == "ERROR" and "no-such-option" in runs[0]["report"]["error"]' \
    "HEPscore's report of a failed run"
}
if [[ -n "$HEPSCORE_SRC" ]]; then
  hepscore_checks
fi
log "all passed"
