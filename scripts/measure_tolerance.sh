#!/usr/bin/env bash
# Measures the numerical spread of one workload's compared figures, the source of compare's
# tolerances (docs/tolerances.md). Trains the same workload (same binary, sample, seed and
# options) under legitimate numerical perturbations, each of which changes only the order or
# the code path of float32 arithmetic, as another vendor's CPU or a GPU does:
#
#   base            --threads 1
#   threads2        --threads 2 (reductions split across threads)
#   kernels-scalar  ATEN_CPU_CAPABILITY=default: LibTorch's scalar kernels instead of vector ones
#   kernels-avx2    ATEN_CPU_CAPABILITY=avx2: LibTorch's AVX2 kernels on a CPU whose default is
#                   its AVX-512 ones, as a CPU without AVX-512 runs them (listed by default only
#                   on a CPU with AVX-512)
#   mkl-compatible  MKL_CBWR=COMPATIBLE: MKL's matrix products on their generic code path
#   threads2-scalar both of the last two changes together with --threads 2
#   denormals-kept  --flush-denormals false: denormal floats computed with, not flushed to zero
#   cuda            --gpus all (only where a GPU is present, or with HMB_TOL_CUDA=1)
# and, as an upper bound that is not a legitimate difference (another workload), other seeds:
#   seed+1, seed+2  --seed S+1, S+2
# and the deliberately wrong runs that compare must catch (HMB_TEST_FAULT, docs/tolerances.md):
#   fault-scale     one weight matrix scaled by 1.01 at start
#   fault-add       one weight changed by 1e-3 at start
#
# Writes OUT/runs/<member>/ (each run's results), OUT/ensemble.json (the members and their
# figures), OUT/table.json (the tolerance table, compare's format) and OUT/table.md, then checks
# with the new table that every perturbation passes `compare` against base and every fault fails.
#
#   scripts/measure_tolerance.sh --out DIR (--data FILE | --events N) [--quick] [-- TRAIN OPTIONS]
#     --quick      base, threads2, kernels-scalar, mkl-compatible, one seed, fault-scale (CI)
#     --members L  comma-separated subset of the members above, base among them unless OUT holds
#                  base from an earlier run (the table's workload, what seeds and faults differ from)
#     --merge T    also take these ensembles (their OUT dirs, comma-separated) into table.json
#     --version V  the table's version (default: tol-measured)
#   HMB_BIN: the hep-mlbench binary (default build/release/src/hep-mlbench); HMB_PYTHON: python3
#   Default TRAIN OPTIONS: the tiny preset, batch 4, 2 epochs, lr 1e-3 (the issue-15 workload).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${HMB_BIN:-$ROOT/build/release/src/hep-mlbench}"
PY="${HMB_PYTHON:-python3}"
OUT="" DATA="" EVENTS="" QUICK=0 MEMBERS="" MERGE="" VERSION="tol-measured"
usage_error() { echo "measure_tolerance: $*" >&2; exit 2; }
# an option's value: refused when absent (set -u would otherwise stop on "$2: unbound variable")
# or when it is the next option (`--out --quick` would make a folder named --quick)
value() {
  if (($# < 2)) || [[ -z "$2" || "$2" == --* ]]; then usage_error "option $1 needs a value (--help)"; fi
}
while (($#)); do
  case "$1" in
    --out) value "$@"; OUT="$2"; shift 2 ;;
    --data) value "$@"; DATA="$2"; shift 2 ;;
    --events) value "$@"; EVENTS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --members) value "$@"; MEMBERS="$2"; shift 2 ;;
    --merge) value "$@"; MERGE="$2"; shift 2 ;;
    --version) value "$@"; VERSION="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1' (--help)" ;;
  esac
done
TRAIN=("$@")
((${#TRAIN[@]})) || TRAIN=(--preset tiny --batch-size 4 --epochs 2 --lr 1e-3)
[[ -n "$OUT" ]] || usage_error "--out DIR is required"
[[ -x "$BIN" ]] || usage_error "$BIN not found: build first or set HMB_BIN"
# Everything that can be refused is checked before anything is created or trained: a bad member
# name found after hours of training, or after OUT and its sample were made, wastes both.
if [[ -z "$DATA" ]]; then
  [[ -n "$EVENTS" ]] || usage_error "--data FILE or --events N is required"
  [[ "$EVENTS" =~ ^[1-9][0-9]*$ ]] || usage_error "--events '$EVENTS' is not a number of events"
else
  [[ -f "$DATA" ]] || usage_error "--data $DATA: no such file"
fi
SEED=42
for ((i = 0; i + 1 < ${#TRAIN[@]}; ++i)); do [[ "${TRAIN[$i]}" == --seed ]] && SEED="${TRAIN[$((i + 1))]}"; done

if [[ -z "$MEMBERS" ]]; then
  if ((QUICK)); then MEMBERS="base,threads2,kernels-scalar,mkl-compatible,seed+1,fault-scale"
  else MEMBERS="base,threads2,kernels-scalar,mkl-compatible,threads2-scalar,denormals-kept,seed+1,seed+2,fault-scale,fault-add"; fi
  # LibTorch runs its AVX-512 kernels where the CPU has these four (else AVX2's, or scalar ones).
  if ((!QUICK)) && [[ -r /proc/cpuinfo ]] &&
     awk '/^flags/ { n = 0; for (i = 1; i <= NF; ++i) if ($i ~ /^avx512(f|bw|vl|dq)$/) ++n; found = n == 4; exit }
          END { exit found ? 0 : 1 }' /proc/cpuinfo; then
    MEMBERS="$MEMBERS,kernels-avx2"
  fi
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || [[ "${HMB_TOL_CUDA:-0}" == 1 ]]; then
    MEMBERS="$MEMBERS,cuda"
  fi
fi

# member -> kind, environment, options (the last --threads/--gpus/--seed given wins)
MEMBER_NAMES="base, threads2, kernels-scalar, kernels-avx2, mkl-compatible, threads2-scalar, denormals-kept, cuda, seed+N, fault-scale, fault-add"
member() {
  local name="$1"
  KIND=perturbation ENVS=() OPTS=(--threads 1 --gpus cpu)
  case "$name" in
    base) ;;
    threads2) OPTS=(--threads 2 --gpus cpu) ;;
    kernels-scalar) ENVS=(ATEN_CPU_CAPABILITY=default) ;;
    kernels-avx2) ENVS=(ATEN_CPU_CAPABILITY=avx2) ;;
    mkl-compatible) ENVS=(MKL_CBWR=COMPATIBLE) ;;
    threads2-scalar) ENVS=(ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE); OPTS=(--threads 2 --gpus cpu) ;;
    denormals-kept) OPTS+=(--flush-denormals false) ;;
    cuda) OPTS=(--threads 1 --gpus 1) ;;
    seed+*)
      [[ "${name#seed+}" =~ ^[1-9][0-9]*$ ]] || usage_error "member '$name': N of seed+N is a number from 1"
      [[ "$SEED" =~ ^-?[0-9]+$ ]] || usage_error "--seed '$SEED' is not an integer (the seed+N members add N to it)"
      KIND=seed; OPTS+=(--seed $((SEED + ${name#seed+}))) ;;
    fault-scale) KIND=fault; ENVS=(HMB_TEST_FAULT=scale:1.01) ;;
    fault-add) KIND=fault; ENVS=(HMB_TEST_FAULT=add:1e-3) ;;
    *) usage_error "unknown member '$name' (--members takes: $MEMBER_NAMES)" ;;
  esac
}

IFS=, read -r -a LIST <<<"$MEMBERS"
((${#LIST[@]})) || usage_error "--members names no member"
for name in "${LIST[@]}"; do member "$name"; done
# the table's workload and the reference of seeds and faults: measured now or kept from before
if [[ ",$MEMBERS," != *",base,"* ]] &&
   ! [[ -f "$OUT/runs/base/hep-mlbench_summary.json" && -f "$OUT/runs/base/member.json" ]]; then
  usage_error "--members lacks base, and $OUT/runs has no base run: add base (the table's workload, and what seeds and faults are measured from)"
fi
MERGED=("$OUT")
if [[ -n "$MERGE" ]]; then IFS=, read -r -a EXTRA <<<"$MERGE"; MERGED+=("${EXTRA[@]}"); fi
for ens in "${MERGED[@]:1}"; do
  [[ -f "$ens/runs/base/hep-mlbench_summary.json" && -f "$ens/runs/base/member.json" ]] ||
    usage_error "--merge $ens: not a measured ensemble of measure_tolerance.sh (no $ens/runs/base with its report and member.json)"
done

mkdir -p "$OUT/runs"
if [[ -z "$DATA" ]]; then
  DATA="$OUT/events.h5"
  [[ -f "$DATA" ]] || "$BIN" -q generate --events "$EVENTS" --seed 11 --threads 1 --output "$DATA"
fi

for name in "${LIST[@]}"; do
  member "$name"
  dir="$OUT/runs/$name"
  if [[ -f "$dir/hep-mlbench_summary.json" && -f "$dir/member.json" ]]; then
    echo "[tolerance] $name: kept from an earlier run"
    continue
  fi
  start=$(date +%s)
  env "${ENVS[@]}" "$BIN" -q train --data "$DATA" "${TRAIN[@]}" "${OPTS[@]}" --results "$dir" >"$dir.log" 2>&1 || {
    echo "[tolerance] $name: training failed (see $dir.log)" >&2; tail -5 "$dir.log" >&2; exit 1; }
  "$PY" - "$dir/member.json" "$name" "$KIND" "$(date +%s)" "$start" "${ENVS[*]:-}" "${TRAIN[*]} ${OPTS[*]}" <<'PYEOF'
import json, sys
path, name, kind, end, start, env, opts = sys.argv[1:]
json.dump({"name": name, "kind": kind, "env": env, "options": opts, "seconds": int(end) - int(start)},
          open(path, "w"), indent=1)
PYEOF
  echo "[tolerance] $name ($KIND): $(( $(date +%s) - start )) s"
done

"$PY" "$ROOT/scripts/tolerance_table.py" --version "$VERSION" --ensemble-out "$OUT/ensemble.json" \
  --table "$OUT/table.json" --markdown "$OUT/table.md" "${MERGED[@]}"

# The check: with the new table, every perturbation agrees with base and every fault does not.
status=0
: >"$OUT/checks.txt"
for ens in "${MERGED[@]}"; do
  [[ -f "$ens/runs/base/hep-mlbench_summary.json" ]] || continue
  for m in "$ens"/runs/*/member.json; do
    name="$(basename "$(dirname "$m")")"
    [[ "$name" == base ]] && continue
    kind="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kind"])' "$m")"
    [[ "$kind" == seed ]] && continue
    rc=0
    "$BIN" compare --tolerances "$OUT/table.json" "$ens/runs/base/hep-mlbench_summary.json" \
      "$ens/runs/$name/hep-mlbench_summary.json" >"$ens/runs/$name.compare.txt" || rc=$?
    if [[ "$kind" == fault ]]; then
      if ((rc == 1)); then verdict="caught (DIFFERS: $(grep DIFFERS "$ens/runs/$name.compare.txt" | awk '{print $1}' | paste -sd, -))"
      else verdict="NOT CAUGHT"; status=1; fi
    else
      if ((rc == 0)); then verdict="passes"; else verdict="FAILS"; status=1; fi
    fi
    echo "[tolerance] compare base $name ($kind): $verdict" | tee -a "$OUT/checks.txt"
  done
done
echo "[tolerance] table: $OUT/table.json, $OUT/table.md"
exit $status
