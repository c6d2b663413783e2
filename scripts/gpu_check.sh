#!/usr/bin/env bash
# The GPU check: builds hep-mlbench on a GPU node against the node's LibTorch and the offline
# kit, then runs every GPU check and writes one report. Needs no network and no root.
#
#   scripts/gpu_check.sh [--kit DIR] [--out DIR] [--quick] [--cpu-only] [options]
#
#   --kit DIR        the offline kit (scripts/offline_kit.sh DIR); default build/gpu-kit
#   --out DIR        reports, logs, gpu_check.json and gpu_check.txt; default results/gpu-check
#   --quick          shorter windows, coarser batch sweep, shortened HEPscore entry (< 6 min)
#   --cpu-only       the build and the CPU halves of the checks (for machines without a GPU:
#                    finds a broken kit or a compile error before a GPU window is spent)
#   --build-dir DIR  private prefix and build tree; default build/gpu-check (kept out of --out)
#   --python PY      the Python whose torch gives LibTorch; default python3, else .venv/bin/python
#   --jobs N         build jobs; default HMB_BUILD_JOBS or all cores
#   --deadline S     stop starting work S seconds after the start: a run that would pass it is
#                    cut there, later checks are recorded as not run, and the report is
#                    written all the same (for a GPU window of known length); default none
#   -h, --help       this text
# Environment: Torch_DIR (a LibTorch's share/cmake/Torch: used instead of asking Python),
# CUDAToolkit_ROOT (the CUDA toolkit, when nvcc is not on PATH or in /usr/local/cuda).
#
# Checks, in order (docs/gpu-check.md says what each proves): kit, toolchain, build, version,
# selftest, data, determinism, cpu-vs-gpu, dp-1rank, dp-all, precision-{fp32,tf32,bf16,fp16},
# counters-alone, batch-sweep, workload, activity-overhead, ncu-kernels, ncu-step. Each writes
# its log under OUT/logs and a line in OUT/gpu_check.json (rewritten after every check, so a run
# cut short still reports what it did). The exit status is 0 when every check passed, else 1
# with the first failed check named; 2 for bad usage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
T0=$SECONDS
log() { printf '[gpu_check %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
usage_error() { printf '[gpu_check] ERROR: %s\n' "$*" >&2; exit 2; }

KIT="build/gpu-kit"; OUT="results/gpu-check"; QUICK=0; CPU_ONLY=0
BUILD_DIR="build/gpu-check"; PY=""; JOBS="${HMB_BUILD_JOBS:-}"; DEADLINE=0
while (($#)); do
  case "$1" in
    --kit) KIT="${2:?--kit needs a folder}"; shift 2 ;;
    --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
    --build-dir) BUILD_DIR="${2:?--build-dir needs a folder}"; shift 2 ;;
    --python) PY="${2:?--python needs a program}"; shift 2 ;;
    --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --deadline) DEADLINE="${2:?--deadline needs seconds}"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --cpu-only) CPU_ONLY=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) usage_error "unknown option '$1' (see --help)" ;;
  esac
done
[[ -z "$JOBS" ]] && JOBS="$(nproc)"
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs '$JOBS' is not a positive number"
[[ "$DEADLINE" =~ ^[0-9]+$ ]] || usage_error "--deadline '$DEADLINE' is not a number of seconds"
cd "$ROOT"
mkdir -p "$OUT" "$BUILD_DIR" || usage_error "cannot create '$OUT' or '$BUILD_DIR'"
OUT="$(cd "$OUT" && pwd)"; BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
[[ -d "$KIT" ]] || usage_error "kit folder '$KIT' not found: make it with scripts/offline_kit.sh $KIT (on Debian 12 with network) and bring it along"
KIT="$(cd "$KIT" && pwd)"
REPORT="$ROOT/scripts/gpu_check_report.py"
command -v python3 >/dev/null || usage_error "python3 not found (the report writer needs it)"
rm -rf "$OUT/logs" "$OUT/runs" "$OUT/checks.jsonl" "$OUT/meta.json" "$OUT/gpu_check.json" "$OUT/gpu_check.txt"
mkdir -p "$OUT/logs" "$OUT/runs"
LOGS="$OUT/logs"; RUNS="$OUT/runs"

# ------------------------------------------------------------------ bookkeeping
FAILED=""
meta() { python3 "$REPORT" meta "$OUT" "$@"; }
# record NAME STATUS SECONDS DETAIL [FIGURES_JSON]: one check into the report, rewritten now.
NOT_RUN=0     # set by run_to when the deadline left no time to start a command
NOT_RUN_N=0   # checks recorded as not run because of the deadline
record() {
  # A check whose command the deadline kept from starting neither failed nor warned.
  if [[ "$2" == fail || "$2" == warn ]] && ((NOT_RUN)); then
    set -- "$1" skip "$3" "not run: the --deadline of $DEADLINE s was reached" "${@:5}"
    NOT_RUN_N=$((NOT_RUN_N + 1))
  fi
  NOT_RUN=0
  python3 "$REPORT" record "$OUT" "$@"
  [[ "$2" == fail && -z "$FAILED" ]] && FAILED="$1"
  log "$1: ${2^^} ($3 s) $4"
  meta "total_seconds=$((SECONDS - T0))"
  python3 "$REPORT" render "$OUT" >/dev/null || true
}
# finish: the table, the verdict, the exit status.
finish() {
  meta "total_seconds=$((SECONDS - T0))"
  echo
  python3 "$REPORT" render "$OUT" || true
  if [[ -n "$FAILED" ]]; then
    log "FAILED: first failed check: $FAILED (logs: $LOGS/$FAILED*.log)"
    exit 1
  fi
  if ((NOT_RUN_N)); then
    log "every check that ran passed, but $NOT_RUN_N were not run (--deadline $DEADLINE); report: $OUT/gpu_check.json"
  else
    log "all checks passed in $((SECONDS - T0)) s; report: $OUT/gpu_check.json"
  fi
  exit 0
}
# fatal NAME SECONDS DETAIL: a check without which nothing else can run.
fatal() { record "$1" fail "$2" "$3"; finish; }
# A command of this script itself that fails unexpectedly (set -e) still leaves the report,
# with the line named, rather than ending the window without one.
on_internal_error() {
  local line="$1"
  trap - ERR
  record internal fail 0 "gpu_check.sh stopped at its line $line (a bug of the script, not of hep-mlbench); the checks above ran"
  finish
}
trap 'on_internal_error $LINENO' ERR
# run_to LOG TIMEOUT CMD...: run with output to LOG, bounded in time (and by --deadline); the
# command's status, 124 when it was cut or, past the deadline, not started.
run_to() {
  local logf="$1" limit="$2" clamped=0 rc=0; shift 2
  if ((DEADLINE > 0)); then
    local left=$((DEADLINE - (SECONDS - T0)))
    if ((left < 10)); then
      echo "not started: the --deadline of $DEADLINE s was reached" >"$logf"
      NOT_RUN=1
      return 124
    fi
    ((limit > left)) && { limit=$left; clamped=1; }
  fi
  timeout --kill-after=15 "$limit" "$@" >"$logf" 2>&1 || rc=$?
  ((rc == 124 && clamped)) && echo "cut after $limit s: the --deadline of $DEADLINE s was reached" >>"$logf"
  return $rc
}
# lim QUICK FULL: a time limit in seconds for --quick or a full run.
lim() { if ((QUICK)); then echo "$1"; else echo "$2"; fi; }
tail_of() { tail -n "${2:-5}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-400; }

MODE=gpu; ((CPU_ONLY)) && MODE=cpu-only
meta "mode=$MODE" "quick=$( ((QUICK)) && echo yes || echo no)" "host=$(hostname)" \
     "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "kit=$KIT" "cores=$(nproc)"
log "mode $MODE$( ((QUICK)) && echo ', quick'), out $OUT, build $BUILD_DIR"

# ------------------------------------------------------------------ 1a. kit
# Verify the MANIFEST's checksums, unpack every .deb into a private prefix (dpkg-deb, else
# ar + tar, else Python), make absolute symbolic links point inside it, and check the node's
# glibc and libstdc++ against what the kit's libraries need.
t=$SECONDS
PREFIX="$BUILD_DIR/kit"
MANIFEST="$KIT/MANIFEST"
[[ -f "$MANIFEST" ]] || fatal kit 0 "$MANIFEST missing: remake the kit with scripts/offline_kit.sh"
kit_sum="$(sha256sum "$MANIFEST" | cut -c1-16)"
if [[ -f "$PREFIX/.unpacked-$kit_sum" ]]; then
  kit_detail="already unpacked in $PREFIX"
else
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  n=0
  while IFS=$'\t' read -r name version arch sha size file; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    deb="$KIT/$file"
    [[ -f "$deb" ]] || fatal kit $((SECONDS - t)) "$file (package $name) listed in the MANIFEST is missing from $KIT"
    [[ "$(sha256sum "$deb" | cut -d' ' -f1)" == "$sha" ]] \
      || fatal kit $((SECONDS - t)) "$file: sha256 differs from the MANIFEST (corrupt copy): copy the kit again"
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$PREFIX" 2>>"$LOGS/kit.log" || fatal kit $((SECONDS - t)) "dpkg-deb -x $file failed (see logs/kit.log)"
    else
      python3 - "$deb" "$PREFIX" <<'EOF' 2>>"$LOGS/kit.log" || fatal kit $((SECONDS - t)) "cannot unpack $file without dpkg-deb (see logs/kit.log)"
# A .deb is an ar archive holding data.tar.{xz,gz,zst}: unpack the data member.
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
blob = open(deb, "rb").read()
assert blob[:8] == b"!<arch>\n", f"{deb}: not an ar archive"
pos = 8
while pos < len(blob):
    name = blob[pos:pos + 16].decode().strip().rstrip("/")
    size = int(blob[pos + 48:pos + 58].decode().strip())
    data = blob[pos + 60:pos + 60 + size]
    pos += 60 + size + (size & 1)
    if name.startswith("data.tar"):
        if name.endswith(".zst"):
            sys.exit(f"{deb}: data.tar.zst needs zstd, which this Python lacks")
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            # The kit's own archives, links included (newer Pythons refuse absolute links
            # unless told to trust the archive).
            if hasattr(tarfile, "fully_trusted_filter"):
                tf.extractall(dest, filter="fully_trusted")
            else:
                tf.extractall(dest)
        break
else:
    sys.exit(f"{deb}: no data.tar member")
EOF
    fi
    n=$((n + 1))
  done <"$MANIFEST"
  ((n > 0)) || fatal kit $((SECONDS - t)) "the MANIFEST lists no packages"
  # Links such as usr/lib/x86_64-linux-gnu/libfoo.so -> /usr/lib/... must stay in the prefix.
  while IFS= read -r l; do
    target="$(readlink "$l")"
    [[ "$target" == /* ]] && ln -sfn "$PREFIX$target" "$l"
  done < <(find "$PREFIX" -type l)
  touch "$PREFIX/.unpacked-$kit_sum"
  kit_detail="$n packages unpacked into $PREFIX"
fi
LIBDIR="$PREFIX/usr/lib/x86_64-linux-gnu"
HDF5_LIBDIR="$LIBDIR/hdf5/serial"
need_glibc="$(sed -n 's/^# needs-glibc: //p' "$MANIFEST")"
need_glibcxx="$(sed -n 's/^# needs-glibcxx: //p' "$MANIFEST")"
have_glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
if [[ -n "$need_glibc" && -n "$have_glibc" ]] \
   && [[ "$(printf '%s\n%s\n' "$need_glibc" "$have_glibc" | sort -V | head -1)" != "$need_glibc" ]]; then
  fatal kit $((SECONDS - t)) "the kit's libraries need glibc >= $need_glibc, this node has $have_glibc: the kit holds Debian 12 packages; build on a node with a newer system, or make a kit from an older Debian"
fi
CXX_BIN="${CXX:-$(command -v c++ || command -v g++ || true)}"
[[ -n "$CXX_BIN" ]] || fatal kit $((SECONDS - t)) "no C++ compiler (c++ or g++) on PATH; set CXX"
libstdcxx="$("$CXX_BIN" -print-file-name=libstdc++.so.6 2>/dev/null || true)"
if [[ -n "$need_glibcxx" && -f "$libstdcxx" ]] && ! grep -qa "GLIBCXX_$need_glibcxx" "$libstdcxx"; then
  fatal kit $((SECONDS - t)) "the kit's libraries need libstdc++ with GLIBCXX_$need_glibcxx (GCC 12 or newer), $libstdcxx lacks it: use a newer compiler (CXX=g++-12 or later)"
fi
meta "glibc=${have_glibc:-?}" "kit_needs_glibc=$need_glibc" "kit_needs_glibcxx=$need_glibcxx"
record kit pass $((SECONDS - t)) "$kit_detail; node glibc ${have_glibc:-?} (kit needs $need_glibc), libstdc++ has GLIBCXX_$need_glibcxx"

# ------------------------------------------------------------------ 1b. toolchain
# LibTorch from Torch_DIR or the node's Python; the CUDA toolkit; CMake and ninja.
t=$SECONDS
TORCH_PY=""
if [[ -z "${Torch_DIR:-}" ]]; then
  torch_info=""
  for cand in ${PY:+"$PY"} python3 "$ROOT/.venv/bin/python"; do
    [[ -z "$PY" || "$cand" == "$PY" ]] || continue
    command -v "$cand" >/dev/null 2>&1 || continue
    if torch_info="$("$cand" -c 'import torch, torch.utils
print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or "none")' 2>>"$LOGS/toolchain.log")"; then
      TORCH_PY="$cand"; break
    fi
  done
  [[ -n "$TORCH_PY" ]] || fatal toolchain $((SECONDS - t)) "no Python with torch found (tried ${PY:-python3 and .venv/bin/python}; logs/toolchain.log): give --python PY or Torch_DIR=<libtorch>/share/cmake/Torch"
  Torch_DIR="$(sed -n 1p <<<"$torch_info")/Torch"
  TORCH_VERSION="$(sed -n 2p <<<"$torch_info")"; TORCH_CUDA="$(sed -n 3p <<<"$torch_info")"
else
  TORCH_VERSION="$(sed -n 's/.*PACKAGE_VERSION "\([0-9.]*\).*/\1/p' "$Torch_DIR/TorchConfigVersion.cmake" 2>/dev/null | head -1)"
  TORCH_CUDA="unknown"   # given by Torch_DIR: CMake's configure finds out
fi
[[ -f "$Torch_DIR/TorchConfig.cmake" ]] || fatal toolchain $((SECONDS - t)) "no TorchConfig.cmake in '$Torch_DIR': set Torch_DIR to <libtorch>/share/cmake/Torch"
NVCC="$(command -v nvcc || true)"
[[ -z "$NVCC" && -n "${CUDAToolkit_ROOT:-}" && -x "$CUDAToolkit_ROOT/bin/nvcc" ]] && NVCC="$CUDAToolkit_ROOT/bin/nvcc"
[[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
nvcc_version="none"
if [[ -n "$NVCC" ]]; then
  nvcc_version="$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  export CUDAToolkit_ROOT="${CUDAToolkit_ROOT:-$(cd "$(dirname "$NVCC")/.." && pwd)}"
fi
if ((!CPU_ONLY)); then
  [[ -n "$NVCC" ]] || fatal toolchain $((SECONDS - t)) "no CUDA toolkit (nvcc not on PATH, not in /usr/local/cuda): set CUDAToolkit_ROOT"
  [[ "$TORCH_CUDA" != none ]] || fatal toolchain $((SECONDS - t)) "torch $TORCH_VERSION from ${TORCH_PY:-Torch_DIR} is a CPU-only build: the GPU check needs a CUDA build of torch"
fi
if [[ -n "$NVCC" && "$TORCH_CUDA" =~ ^[0-9] && "${nvcc_version%%.*}" != "${TORCH_CUDA%%.*}" ]]; then
  fatal toolchain $((SECONDS - t)) "CUDA toolkit $nvcc_version ($NVCC) and torch's CUDA $TORCH_CUDA differ in major version: LibTorch's CMake config needs a toolkit of the same major; set CUDAToolkit_ROOT to one"
fi
command -v cmake >/dev/null || fatal toolchain $((SECONDS - t)) "cmake not found on PATH"
GENERATOR="Unix Makefiles"; command -v ninja >/dev/null && GENERATOR=Ninja
meta "torch=$TORCH_VERSION" "torch_cuda=$TORCH_CUDA" "torch_dir=$Torch_DIR" "nvcc=$nvcc_version" \
     "compiler=$("$CXX_BIN" --version | head -1)" "cmake=$(cmake --version | head -1 | awk '{print $3}')"
record toolchain pass $((SECONDS - t)) "LibTorch $TORCH_VERSION (CUDA $TORCH_CUDA) from ${TORCH_PY:-Torch_DIR}; nvcc $nvcc_version; $GENERATOR; $("$CXX_BIN" --version | head -1)"

# ------------------------------------------------------------------ 1c. build
# The release binary with the CUDA path, NCCL, CUPTI and NVML, every dependency but LibTorch
# and CUDA from the kit's prefix. The run path names the prefix (DT_RPATH, which also serves
# the kit libraries' own dependencies), so the binary runs without LD_LIBRARY_PATH.
t=$SECONDS
B="$BUILD_DIR/build"
export LD_LIBRARY_PATH="$LIBDIR:$HDF5_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cmake_args=(
  -S "$ROOT" -B "$B" -G "$GENERATOR"
  -DCMAKE_BUILD_TYPE=Release -DHMB_BUILD_TESTS=OFF
  -DHMB_WITH_CUDA=ON -DHMB_WITH_CUPTI=ON -DHMB_WITH_NVML=ON
  "-DTorch_DIR=$Torch_DIR"
  "-DCMAKE_PREFIX_PATH=$PREFIX/usr"
  "-DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=BOTH"
  "-Dspdlog_DIR=$LIBDIR/cmake/spdlog" "-Dfmt_DIR=$LIBDIR/cmake/fmt"
  "-Dyaml-cpp_DIR=$LIBDIR/cmake/yaml-cpp"
  "-Dnlohmann_json_DIR=$PREFIX/usr/share/cmake/nlohmann_json"
  "-DCLI11_DIR=$PREFIX/usr/share/cmake/CLI11"
  "-DHDF5_C_INCLUDE_DIR=$PREFIX/usr/include/hdf5/serial"
  "-DHMB_GLOO_INCLUDE_DIR=$PREFIX/usr/include"
  "-DHDF5_hdf5_LIBRARY_RELEASE=$HDF5_LIBDIR/libhdf5.so"
  "-DHDF5_ROOT=$PREFIX/usr" "-DHDF5_USE_STATIC_LIBRARIES=OFF" "-DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON"
  "-DOPENSSL_ROOT_DIR=$PREFIX/usr" "-DOPENSSL_INCLUDE_DIR=$PREFIX/usr/include"
  "-DOPENSSL_CRYPTO_LIBRARY=$LIBDIR/libcrypto.so" "-DOPENSSL_SSL_LIBRARY=$LIBDIR/libssl.so"
  "-DHMB_FMT_INCLUDE_DIR=$PREFIX/usr/include"
  # Debian keeps some headers (OpenSSL's configuration.h) in the multiarch folder, which only
  # Debian's own compiler searches by default.
  "-DCMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES=$PREFIX/usr/include/x86_64-linux-gnu"
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath,$LIBDIR:$HDF5_LIBDIR -Wl,-rpath-link,$LIBDIR:$HDF5_LIBDIR"
  "-DHMB_VENV=${TORCH_PY:+$(dirname "$(dirname "$TORCH_PY")")}"
)
[[ -n "$NVCC" ]] && cmake_args+=("-DCMAKE_CUDA_COMPILER=$NVCC")
if ! run_to "$LOGS/configure.log" 600 cmake "${cmake_args[@]}"; then
  fatal build $((SECONDS - t)) "configure failed: $(grep -m1 -A2 'CMake Error' "$LOGS/configure.log" | tr '\n' ' ' | cut -c1-300) (logs/configure.log)"
fi
tb=$SECONDS
if ! run_to "$LOGS/build.log" 3600 cmake --build "$B" -j "$JOBS" --target hep-mlbench; then
  fatal build $((SECONDS - t)) "compile failed: $(grep -m1 -E 'error|Error' "$LOGS/build.log" | cut -c1-300) (logs/build.log)"
fi
build_s=$((SECONDS - tb))
BIN="$B/src/hep-mlbench"
meta "build_seconds=$build_s" "build_jobs=$JOBS"
log "build: $build_s s with $JOBS jobs"
# Which optional parts are on, and did the kit (not the system) provide every dependency?
cache() { sed -n "s/^$1:[A-Z]*=//p" "$B/CMakeCache.txt" | head -1; }
off=()
for opt in HMB_WITH_CUDA HMB_WITH_CUPTI HMB_WITH_NVML; do [[ "$(cache "$opt")" == ON ]] || off+=("$opt"); done
outside=()
for var in spdlog_DIR fmt_DIR yaml-cpp_DIR nlohmann_json_DIR CLI11_DIR HDF5_C_INCLUDE_DIR OPENSSL_INCLUDE_DIR HMB_FMT_INCLUDE_DIR; do
  v="$(cache "$var")"; [[ "$v" == "$PREFIX"* ]] || outside+=("$var=$v")
done
ldd "$BIN" >"$LOGS/ldd.log" 2>&1 || true
for lib in libhdf5_serial.so libspdlog.so libyaml-cpp.so libfmt.so libcurl.so; do
  line="$(grep -m1 "$lib" "$LOGS/ldd.log" || true)"
  [[ "$line" == *"$PREFIX"* ]] || outside+=("$lib: ${line:-not loaded}")
done
if grep -q 'not found' "$LOGS/ldd.log"; then
  outside+=("unresolved: $(grep 'not found' "$LOGS/ldd.log" | awk '{print $1}' | tr '\n' ' ')")
fi
if ((${#outside[@]})); then
  record build fail $((SECONDS - t)) "built in $build_s s, but not from the kit: ${outside[*]} (logs/configure.log, logs/ldd.log)"
elif ((${#off[@]})); then
  record build fail $((SECONDS - t)) "built in $build_s s, but ${off[*]} turned OFF (see the warnings in logs/configure.log)"
else
  record build pass $((SECONDS - t)) "release binary in $build_s s ($JOBS jobs), CUDA/NCCL/CUPTI/NVML on, every dependency from the kit"
fi

# ------------------------------------------------------------------ 2. version and selftest
t=$SECONDS
if timeout 120 "$BIN" --version >"$OUT/version.txt" 2>"$LOGS/version.log"; then
  field() { awk -v k="$1" 'index($0, "  " k " ") == 1 { sub("^  " k " +", ""); print; exit }' "$OUT/version.txt"; }
  GPU_NAME="$(sed -n 's/^  GPU 0 *- *\(.*\) (sm_.*/\1/p' "$OUT/version.txt" | head -1)"
  driver_line="$(field 'CUDA driver')"; runtime_line="$(field 'CUDA runtime')"
  nccl_line="$(field NCCL)"; cudnn_line="$(field cuDNN)"; gpu_line="$(grep -m1 '^  GPU' "$OUT/version.txt" | sed 's/^  //')"
  nvml_line="$(field NVML)"
  # NVML's version string carries the driver's release (13.580.65.06: driver 580.65.06).
  meta "gpu=${GPU_NAME:-none}" \
       "driver=CUDA $(tr -s ' ' <<<"$driver_line" | sed 's/^- //'); NVML $(tr -s ' ' <<<"$nvml_line" | sed 's/^API [0-9]* //')"
  detail="$(tr -s ' ' <<<"runtime [$runtime_line], driver [$driver_line], NVML [$nvml_line], NCCL [$nccl_line], cuDNN [$cudnn_line], $gpu_line")"
  if ((CPU_ONLY)); then
    record version pass $((SECONDS - t)) "$detail"
  elif [[ -z "$GPU_NAME" ]]; then
    # Every later check would run on the CPU or fail: stop and say so.
    fatal version $((SECONDS - t)) "no usable GPU: $gpu_line; driver [$driver_line] (version.txt). On a machine without a GPU use --cpu-only"
  else
    record version pass $((SECONDS - t)) "$detail"
  fi
else
  record version fail $((SECONDS - t)) "hep-mlbench --version failed: $(tail_of "$LOGS/version.log")"
  GPU_NAME=""
fi

t=$SECONDS
DEV_GPUS=1; ((CPU_ONLY)) && DEV_GPUS=cpu
if run_to "$LOGS/selftest.log" "$(lim 120 300)" "$BIN" selftest --gpus "$DEV_GPUS" && grep -q 'selftest: ok' "$LOGS/selftest.log"; then
  record selftest pass $((SECONDS - t)) "$(grep -m1 -o 'selftest: [0-9]* steps on .*' "$LOGS/selftest.log")"
else
  record selftest fail $((SECONDS - t)) "$(tail_of "$LOGS/selftest.log" 3)"
fi

# ------------------------------------------------------------------ data
# Two generated files: a small one for the checks, the sample size the HEPscore entry trains
# on for the workload (skipped when --quick or --cpu-only shorten the workload).
t=$SECONDS
DATA_DIR="$BUILD_DIR/data"; mkdir -p "$DATA_DIR"
SMALL="$DATA_DIR/check-400.h5"; SAMPLE="$DATA_DIR/sample-2000.h5"
gen() {  # gen FILE EVENTS
  [[ -f "$1" ]] && "$BIN" info "$1" >>"$LOGS/data.log" 2>&1 && return 0
  rm -f "$1"
  run_to "$LOGS/data-$2.log" 600 "$BIN" generate --events "$2" --seed 20240601 --output "$1"
}
WORKLOAD_FULL=0; ((!QUICK && !CPU_ONLY)) && WORKLOAD_FULL=1
if gen "$SMALL" 400 && { ((!WORKLOAD_FULL)) || gen "$SAMPLE" 2000; }; then
  record data pass $((SECONDS - t)) "generated $(basename "$SMALL")$( ((WORKLOAD_FULL)) && echo " and $(basename "$SAMPLE")") (seed 20240601) in $DATA_DIR"
else
  fatal data $((SECONDS - t)) "generate failed: $(cat "$LOGS"/data-*.log 2>/dev/null | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
fi

# train NAME TIMEOUT ARGS...: one training run into RUNS/NAME; its status. Weights files are
# dropped afterwards so that OUT stays small. A run killed at its time limit leaves the report it
# wrote at its start ("the run did not finish"): it is renamed, so that a report there means the
# run ended by itself, as the checks below read it.
train() {
  local name="$1" limit="$2"; shift 2
  local rc=0
  run_to "$LOGS/$name.log" "$limit" "$BIN" train --data "$SMALL" --results "$RUNS/$name" "$@" || rc=$?
  rm -f "$RUNS/$name"/*.pt "$RUNS/$name"/previous/*.pt
  local s="$RUNS/$name/hep-mlbench_summary.json"
  if [[ -f "$s" ]] && grep -q '"error": "the run did not finish' "$s"; then
    mv -f "$s" "$RUNS/$name/hep-mlbench_summary.unfinished.json"
  fi
  return $rc
}
summary_of() { echo "$RUNS/$1/hep-mlbench_summary.json"; }

# ------------------------------------------------------------------ 3. determinism
# The tiny preset twice with the same seed on the device: bit-identical losses, accuracy and
# weights (--deterministic true). The second run picks its GPU with --gpu-devices 0 (through
# CUDA_VISIBLE_DEVICES), so that path is checked on the same device at no extra cost. Then the same run on the CPU, compared with the GPU run by
# `hep-mlbench compare` within the documented tolerances (docs/report.md).
t=$SECONDS
TINY=(--preset tiny --epochs 2 --max-train-events 32 --max-val-events 16 --batch-size 4
      --seed 7 --deterministic true --precision fp32 --warmup-steps 1 --threads 0)
ok=1
train determinism-a "$(lim 180 600)" "${TINY[@]}" --gpus "$DEV_GPUS" || ok=0
PICK=(--gpu-devices 0); ((CPU_ONLY)) && PICK=()
train determinism-b "$(lim 180 600)" "${TINY[@]}" --gpus "$DEV_GPUS" "${PICK[@]}" || ok=0
# On a GPU node the runs must have trained on the GPU: a silent fall-back to the CPU fails here.
want_device=cuda; ((CPU_ONLY)) && want_device=cpu
ran_on="$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1]))["report"].get("wl-stats") or {}).get("device", "-"))' "$(summary_of determinism-a)" 2>/dev/null || echo -)"
if ((ok)) && [[ "$ran_on" != "$want_device" ]]; then
  record determinism fail $((SECONDS - t)) "the runs trained on '$ran_on', not on '$want_device' (logs/determinism-a.log)"
elif ((ok)) && diffs="$(python3 "$REPORT" same "$(summary_of determinism-a)" "$(summary_of determinism-b)")"; then
  ck="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["report"]["wl-stats"]["final_weights_checksum"][:16])' "$(summary_of determinism-a)")"
  record determinism pass $((SECONDS - t)) "tiny preset twice on $( ((CPU_ONLY)) && echo CPU || echo GPU), seed 7$( ((CPU_ONLY)) || echo ', the second with --gpu-devices 0'): identical losses, accuracy and weights (checksum $ck...)"
elif ((ok)); then
  record determinism fail $((SECONDS - t)) "two runs with seed 7 differ: $(tr '\n' ';' <<<"$diffs" | cut -c1-300)"
else
  record determinism fail $((SECONDS - t)) "a run failed: $(tail_of "$LOGS/determinism-a.log" 2) $(tail_of "$LOGS/determinism-b.log" 2)"
fi

t=$SECONDS
if ((CPU_ONLY)); then
  # No GPU: exercise `compare` on the two CPU runs (it must pass), the GPU half is skipped.
  if [[ ! -f "$(summary_of determinism-a)" || ! -f "$(summary_of determinism-b)" ]]; then
    record cpu-vs-gpu skip 0 "no two determinism reports to compare (see determinism)"
  elif "$BIN" compare "$(summary_of determinism-a)" "$(summary_of determinism-b)" >"$LOGS/cpu-vs-gpu.log" 2>&1; then
    record cpu-vs-gpu skip $((SECONDS - t)) "GPU half skipped (--cpu-only); compare of the two CPU runs passes"
  else
    record cpu-vs-gpu fail $((SECONDS - t)) "compare of two identical CPU runs failed: $(tail_of "$LOGS/cpu-vs-gpu.log" 3)"
  fi
else
  # The measured differences (for the tolerance table's GPU member, docs/tolerances.md) go into
  # the detail either way; the comparison's JSON is kept beside the runs.
  gaps() {
    "$BIN" compare --json "$(summary_of cpu-reference)" "$(summary_of determinism-a)" >"$RUNS/cpu-vs-gpu.json" 2>/dev/null || true
    python3 "$REPORT" gaps "$RUNS/cpu-vs-gpu.json" 2>/dev/null | cut -c1-500 || echo "differences unreadable"
  }
  if train cpu-reference "$(lim 300 900)" "${TINY[@]}" --gpus cpu \
     && "$BIN" compare "$(summary_of cpu-reference)" "$(summary_of determinism-a)" >"$LOGS/cpu-vs-gpu.log" 2>&1; then
    record cpu-vs-gpu pass $((SECONDS - t)) "CPU and GPU runs (seed 7) agree within the tolerances of docs/report.md: $(gaps)"
  elif [[ -f "$(summary_of cpu-reference)" && -f "$(summary_of determinism-a)" ]]; then
    record cpu-vs-gpu fail $((SECONDS - t)) "$(gaps); $(tail_of "$LOGS/cpu-vs-gpu.log" 2)"
  else
    record cpu-vs-gpu fail $((SECONDS - t)) "$(tail_of "$LOGS/cpu-vs-gpu.log" 8) $(tail_of "$LOGS/cpu-reference.log" 2)"
  fi
fi

# ------------------------------------------------------------------ 3b. communicator
# The data-parallel path on the device: the tiny run of step 3 once more, through NCCL with a
# world of one (the reducer, the all-reduced loss statistics): the same weights, bit for bit,
# as the run without a communicator. With several GPUs, one job over all of them too.
t=$SECONDS
DP_BACKEND=nccl; ((CPU_ONLY)) && DP_BACKEND=gloo
# Gloo talks over the loopback even with one rank; a rehearsal under `unshare -n` has it down.
lo_up="$(python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), 0x8913, struct.pack("256s", b"lo"))[:18])[1]
print(flags & 1)' 2>/dev/null || echo 1)"
if ((CPU_ONLY)) && [[ "$lo_up" == 0 ]]; then
  record dp-1rank skip 0 "the loopback interface is down here (a fresh network namespace, e.g. unshare -n): Gloo needs it; CI's e2e.data_parallel runs this check"
elif train "dp-1rank" "$(lim 180 600)" "${TINY[@]}" --gpus "$DEV_GPUS" --dist-backend "$DP_BACKEND"; then
  read -r dp_same dp_line < <(python3 -c '
import json, sys
a, b = (json.load(open(p))["report"].get("wl-stats") or {} for p in sys.argv[1:3])
d = b.get("data_parallel") or {}
same = bool(a.get("final_weights_checksum")) and a.get("final_weights_checksum") == b.get("final_weights_checksum")
t = (d.get("allreduce_time_per_step") or {}).get("value")
c = (b.get("gpu_communication_time") or {}).get("value")
steps = (b.get("step_time") or {}).get("count")
print(int(same), "backend", d.get("backend"), "world", d.get("world_size"), "all-reduce per step",
      f"{t * 1e3:.2f} ms (host)" if t is not None else
      f"{c / steps * 1e3:.3f} ms (NCCL kernels, CUPTI)" if c is not None and steps else "-")' "$(summary_of determinism-a)" "$(summary_of dp-1rank)" 2>>"$LOGS/dp-1rank.log") || true
  # read empties both names when the snippet printed nothing
  dp_same="${dp_same:-0}"
  dp_line="${dp_line:-the reports of determinism-a and dp-1rank cannot be compared (logs/dp-1rank.log)}"
  if ((dp_same)); then
    record dp-1rank pass $((SECONDS - t)) "$dp_line; weights identical to the run without a communicator"
  else
    record dp-1rank fail $((SECONDS - t)) "$dp_line; weights differ from the run without a communicator"
  fi
else
  record dp-1rank fail $((SECONDS - t)) "$(tail_of "$LOGS/dp-1rank.log" 3)"
fi
t=$SECONDS
# The GPUs this process may use, as hep-mlbench lists them (CUDA_VISIBLE_DEVICES applies;
# nvidia-smi would count every GPU of the node).
NGPU="$( ((CPU_ONLY)) && echo 0 || { grep -c '^  GPU [0-9]' "$OUT/version.txt" 2>/dev/null || true; })"
NGPU="${NGPU:-0}"
if ((NGPU >= 2)); then
  if train "dp-all" "$(lim 180 600)" "${TINY[@]}" --gpus all && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["report"]["wl-stats"]["data_parallel"]
assert d["world_size"] == int(sys.argv[2]) and d["weights_agree"] is True, d' "$(summary_of dp-all)" "$NGPU"; then
    record dp-all pass $((SECONDS - t)) "$NGPU GPUs over NCCL: one report, the ranks' final weights agree"
  else
    record dp-all fail $((SECONDS - t)) "$(tail_of "$LOGS/dp-all.log" 3)"
  fi
else
  record dp-all skip 0 "needs 2 or more GPUs ($NGPU here)"
fi

# ------------------------------------------------------------------ 4. precisions
# The delphes preset (the GPU benchmark's model) for a short timed window in each precision.
if ((CPU_ONLY)); then
  PRECISIONS=(fp32)
  WINDOW=(--preset small --batch-size 2 --epochs 1 --steps 6 --warmup-steps 2 --max-train-events 12 --max-val-events 4 --threads 0)
elif ((QUICK)); then
  PRECISIONS=(fp32 tf32 bf16 fp16)
  WINDOW=(--preset delphes --batch-size 10 --epochs 2 --steps 13 --warmup-steps 3 --max-train-events 160 --max-val-events 10 --threads 4)
else
  PRECISIONS=(fp32 tf32 bf16 fp16)
  WINDOW=(--preset delphes --batch-size 10 --epochs 3 --steps 35 --warmup-steps 5 --max-train-events 160 --max-val-events 20 --threads 4)
fi
# The fp32 and bf16 windows also read the GPU's hardware counters (achieved FLOP/s; bf16: the
# tensor-core counts, with Hopper's warp-group MMA share) on timed steps 2 onwards, one step per
# pass: inside the first epoch for up to 9 passes in every mode (H100: 6 passes, A100: 5; the
# CUPTI host-API tests check each known chip's count on the CPU).
COUNTERS=(--gpu-counters true --counter-start-step 2 --counter-steps 1)
for p in "${PRECISIONS[@]}"; do
  t=$SECONDS
  name="precision-$p"
  extra=()
  [[ "$p" == fp32 || "$p" == bf16 ]] && extra=("${COUNTERS[@]}")
  train "$name" "$(lim 150 600)" "${WINDOW[@]}" --precision "$p" --seed 11 --gpus "$DEV_GPUS" "${extra[@]}" || true
  s="$(summary_of "$name")"
  if [[ ! -f "$s" ]]; then
    record "$name" fail $((SECONDS - t)) "no report: $(tail_of "$LOGS/$name.log" 3)"
    continue
  fi
  python3 "$REPORT" figures "$s" ${GPU_NAME:+--gpu "$GPU_NAME"} >"$RUNS/$name/figures.json"
  read -r logv finite eps step mem frac < <(python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))
g = lambda v, spec: "-" if v is None else (v if isinstance(v, str) else spec.format(v))
print(f["log"], f["loss_finite"], g(f["events_per_s"], "{:.3g}"), g(f["step_time_s"], "{:.3g}"),
      g(f["peak_device_memory_mib"], "{:.0f}"), g(f["fraction_of_peak"], "{:.1%}"))' "$RUNS/$name/figures.json")
  detail="$eps events/s, step $step s, peak device memory $mem MiB, fraction of peak $frac"
  if ((${#extra[@]})); then
    detail+=" (with the counter passes inside the window: compare events/s with the other precisions only roughly)"
    detail+="; hardware counters: $(python3 "$REPORT" counters "$s" 2>>"$LOGS/$name.log" | cut -c1-400 || echo "unreadable (logs/$name.log)")"
  fi
  err="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$RUNS/$name/figures.json" | cut -c1-300)"
  if [[ "$logv" != ok && "$p" == fp16 && "$err" == *"overflowed fp16's range"* ]]; then
    # The delphes model's graph layers outgrow fp16 (docs/performance.md): the run must stop
    # with that error, not train on NaN; bf16 is its reduced-precision mode.
    record "$name" warn $((SECONDS - t)) "the delphes model overflows fp16 in its forward pass (a known limit) and the run stopped as it should: $err" "$RUNS/$name/figures.json"
  elif [[ "$logv" != ok ]]; then
    record "$name" fail $((SECONDS - t)) "run failed: $err" "$RUNS/$name/figures.json"
  elif [[ "$finite" != True ]]; then
    record "$name" fail $((SECONDS - t)) "a loss is not finite: $detail" "$RUNS/$name/figures.json"
  elif ((!CPU_ONLY)) && [[ "$mem" == - ]]; then
    record "$name" fail $((SECONDS - t)) "no peak device memory in the report: $detail" "$RUNS/$name/figures.json"
  else
    record "$name" pass $((SECONDS - t)) "$detail" "$RUNS/$name/figures.json"
  fi
done
if ((CPU_ONLY)); then
  for p in tf32 bf16 fp16; do record "precision-$p" skip 0 "GPU only (--cpu-only)"; done
fi

# ------------------------------------------------------------------ 4a. counters alone
# When the fp32 window's counters were refused, the fp32 window once more with the activity
# records off: tells whether CUPTI refused the range profiler beside the activity API (then
# this one reads them) or for another reason (permission, an unsupported GPU: then a warning,
# since hep-mlbench never fails a run for a measurement).
t=$SECONDS
counter_reason() {  # counter_reason SUMMARY: empty when the achieved FLOP/s was measured
  python3 "$REPORT" counter-reason "$1" 2>/dev/null || echo "no readable report"
}
if ((CPU_ONLY)); then
  record counters-alone skip 0 "GPU only (--cpu-only)"
elif [[ ! -f "$(summary_of precision-fp32)" ]]; then
  record counters-alone skip 0 "no fp32 window to follow"
elif [[ -z "$(counter_reason "$(summary_of precision-fp32)")" ]]; then
  record counters-alone skip 0 "not needed: the counters were read beside the activity records"
else
  beside="$(counter_reason "$(summary_of precision-fp32)" | cut -c1-200)"
  alone_rc=0
  train counters-alone "$(lim 150 600)" "${WINDOW[@]}" --precision fp32 --seed 11 --gpus "$DEV_GPUS" "${COUNTERS[@]}" --gpu-activity false || alone_rc=$?
  alone="$(counter_reason "$(summary_of counters-alone)" | cut -c1-200)"
  if ((alone_rc != 0)); then
    record counters-alone fail $((SECONDS - t)) "the run failed (exit $alone_rc): $(tail_of "$LOGS/counters-alone.log" 3)"
  elif [[ -z "$alone" ]]; then
    record counters-alone pass $((SECONDS - t)) "read with the activity records off ($(python3 "$REPORT" counters "$(summary_of counters-alone)" 2>/dev/null | cut -c1-200 || true)); beside them: $beside"
  else
    record counters-alone warn $((SECONDS - t)) "not read even with the activity records off: $alone"
  fi
fi

# ------------------------------------------------------------------ 4b. batch sweep
# The largest batch of the delphes preset (fp32) that fits in device memory: doubling from 8
# until a run dies of memory, then (not --quick) bisection between the last fit and the first
# miss. Each try is its own process, so a failed allocation never poisons the next.
t=$SECONDS
if ((CPU_ONLY)); then
  record batch-sweep skip 0 "GPU only (--cpu-only)"
else
  tried_json="[]"
  try_batch() {  # try_batch B: 0 fits, 1 out of memory, 2 other failure
    local b="$1" name="sweep-b$1" rc=0
    train "$name" "$(lim 120 300)" --preset delphes --precision fp32 --batch-size "$b" --epochs 1 --steps 2 --warmup-steps 1 \
      --max-train-events $((2 * b)) --max-val-events 2 --threads 4 --seed 11 --gpus 1 || rc=$?
    local result
    if ((rc == 0)); then result=fits
    elif python3 "$REPORT" oom "$(summary_of "$name")" "$LOGS/$name.log"; then result=oom
    else result=error
    fi
    tried_json="$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); t.append({"batch": int(sys.argv[2]), "result": sys.argv[3]}); print(json.dumps(t))' "$tried_json" "$b" "$result")"
    log "  batch $b: $result"
    [[ $result == fits ]] && return 0
    [[ $result == oom ]] && return 1
    return 2
  }
  lo=0; hi=0; err=""; b=$(lim 16 8); MAXB=128
  while ((b <= MAXB)); do
    rc=0; try_batch "$b" || rc=$?
    if ((rc == 0)); then lo=$b; b=$((b * 2))
    elif ((rc == 1)); then hi=$b; break
    else err="batch $b failed for a reason other than memory: $(tail_of "$LOGS/sweep-b$b.log" 2)"; break
    fi
  done
  if [[ -z "$err" ]] && ((lo == 0 && hi > 0)); then   # even the first does not fit: go down
    b=$((hi / 2))
    while ((b >= 1)); do
      rc=0; try_batch "$b" || rc=$?
      if ((rc == 0)); then lo=$b; break; elif ((rc == 1)); then hi=$b; b=$((b / 2)); else err="batch $b failed: $(tail_of "$LOGS/sweep-b$b.log" 2)"; break; fi
    done
  fi
  if [[ -z "$err" ]] && ((!QUICK && lo > 0 && hi > lo)); then   # bisect to within an eighth
    while ((hi - lo > (lo / 8 > 1 ? lo / 8 : 1))); do
      m=$(((lo + hi) / 2)); rc=0; try_batch "$m" || rc=$?
      if ((rc == 0)); then lo=$m; elif ((rc == 1)); then hi=$m; else err="batch $m failed: $(tail_of "$LOGS/sweep-b$m.log" 2)"; break; fi
    done
  fi
  largest="$lo"; capped=false
  ((hi == 0 && lo > 0)) && { largest="$lo or more (every try up to $MAXB fit)"; capped=true; }
  printf '{"precision": "fp32", "preset": "delphes", "largest_fitting": %s, "capped": %s, "first_not_fitting": %s, "tried": %s}\n' \
    "$lo" "$capped" "$( ((hi > 0)) && echo "$hi" || echo null)" "$tried_json" >"$RUNS/batch-sweep.json"
  if [[ -n "$err" ]]; then
    record batch-sweep fail $((SECONDS - t)) "$err" "$RUNS/batch-sweep.json"
  elif ((lo == 0)); then
    record batch-sweep fail $((SECONDS - t)) "not even batch 1 fits" "$RUNS/batch-sweep.json"
  else
    record batch-sweep pass $((SECONDS - t)) "largest delphes batch that fits (fp32): $largest$( ((hi > 0)) && echo "; $hi does not")" "$RUNS/batch-sweep.json"
  fi
fi

# ------------------------------------------------------------------ 5. workload
# The HEPscore entry through `hep-mlbench workload -W`, with the entry's own args
# (hepscore/hep-mlbench.yaml); --quick and --cpu-only shorten it.
t=$SECONDS
ENTRY=hep-mlbench-gpu; ((CPU_ONLY)) && ENTRY=hep-mlbench-cpu
W_DATA="$SAMPLE"; short=()
if ((CPU_ONLY)); then
  W_DATA="$SMALL"; short=(epochs=1 max-train-events=8 max-val-events=4 batch-size=2)
elif ((QUICK)); then
  W_DATA="$SMALL"; short=(epochs=1 max-train-events=200 max-val-events=40)
fi
entry=()
mapfile -t entry < <(python3 "$REPORT" entry-args "$ROOT/hepscore/hep-mlbench.yaml" "$ENTRY" "${short[@]}" 2>"$LOGS/entry.log")
rm -rf "$RUNS/workload"; mkdir -p "$RUNS/workload"
rc=0
if ((${#entry[@]})); then
  HMB_DATA="$W_DATA" run_to "$LOGS/workload.log" "$(lim 240 900)" "$BIN" workload -W -w "$RUNS/workload" "${entry[@]}" || rc=$?
else
  echo "cannot read the args of $ENTRY from hepscore/hep-mlbench.yaml: $(cat "$LOGS/entry.log")" >"$LOGS/workload.log"
fi
find "$RUNS/workload" -name '*.pt' -delete 2>/dev/null || true
ws="$RUNS/workload/hep-mlbench_summary.json"
if [[ -f "$ws" ]]; then
  python3 - "$ws" "$ENTRY" "${entry[*]}" >"$RUNS/workload-figures.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
rep = s["report"]
print(json.dumps({"entry": sys.argv[2], "args": sys.argv[3], "log": rep.get("log"),
                  "score": rep.get("wl-scores", {}).get("mlpf_train_events_per_s"),
                  "error": rep.get("error"),
                  "validation_accuracy": rep.get("wl-stats", {}).get("validation_accuracy", {}).get("value")
                  if isinstance(rep.get("wl-stats", {}).get("validation_accuracy"), dict) else None}))
EOF
  score="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["score"])' "$RUNS/workload-figures.json")"
  logv="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["log"])' "$RUNS/workload-figures.json")"
  if ((rc == 0)) && [[ "$logv" == ok ]]; then
    record workload pass $((SECONDS - t)) "$ENTRY$( ((QUICK || CPU_ONLY)) && echo ' (shortened)'): score $score events/s" "$RUNS/workload-figures.json"
  else
    record workload fail $((SECONDS - t)) "exit $rc, log $logv: $(tail_of "$LOGS/workload.log" 3)" "$RUNS/workload-figures.json"
  fi
else
  record workload fail $((SECONDS - t)) "exit $rc and no summary: $(tail_of "$LOGS/workload.log" 3)"
fi

# ------------------------------------------------------------------ 6. activity-record overhead
# The tf32 window once more without CUPTI's activity records (--gpu-activity false): events/s
# with ÷ without, one run each (docs/performance.md). Last, so that it uses only time left over.
t=$SECONDS
if ((CPU_ONLY)); then
  record activity-overhead skip 0 "GPU only (--cpu-only)"
elif [[ ! -f "$(summary_of precision-tf32)" ]]; then
  record activity-overhead skip 0 "no tf32 window to compare with"
elif train activity-off "$(lim 150 600)" "${WINDOW[@]}" --precision tf32 --seed 11 --gpus "$DEV_GPUS" --gpu-activity false; then
  read -r ov_status ov_line < <(python3 "$REPORT" overhead "$(summary_of precision-tf32)" "$(summary_of activity-off)" 2>>"$LOGS/activity-off.log") || true
  record activity-overhead "${ov_status:-fail}" $((SECONDS - t)) "${ov_line:-the two reports could not be compared (logs/activity-off.log)}"
else
  record activity-overhead fail $((SECONDS - t)) "$(tail_of "$LOGS/activity-off.log" 3)"
fi

# ------------------------------------------------------------------ 7. kernel times against Nsight Compute
# GPU busy time is the union of the kernel intervals that CUPTI's activity records give. Their
# durations against Nsight Compute's own (gpu__time_duration; kernel replay with that one
# metric: one pass, no cache flush, clocks as the GPU sets them) for timed step 3 of the fp32
# window: a normal run with the activity records (counters off), then the same run under ncu
# with the records off (one CUPTI subscriber). A warning at worst, never a failure.
t=$SECONDS
if ((CPU_ONLY)); then
  record ncu-kernels skip 0 "GPU only (--cpu-only)"
elif ! command -v ncu >/dev/null 2>&1; then
  record ncu-kernels skip 0 "no ncu (Nsight Compute) on PATH"
elif ! train ncu-reference "$(lim 150 600)" "${WINDOW[@]}" --precision fp32 --seed 11 --gpus "$DEV_GPUS" --gpu-counters false; then
  record ncu-kernels warn $((SECONDS - t)) "the reference run failed: $(tail_of "$LOGS/ncu-reference.log" 3)"
else
  rm -rf "$RUNS/ncu/kernels".* "$RUNS/ncu/kernels-run"; mkdir -p "$RUNS/ncu"
  krc=0
  run_to "$LOGS/ncu-kernels.log" "$(lim 180 300)" ncu --profile-from-start off --replay-mode kernel --cache-control none \
    --clock-control none --metrics "$(python3 "$REPORT" ncu-metrics kernels)" -f -o "$RUNS/ncu/kernels" \
    "$BIN" train --data "$SMALL" --results "$RUNS/ncu/kernels-run" "${WINDOW[@]}" --precision fp32 --seed 11 --gpus "$DEV_GPUS" \
    --gpu-activity false --profile-start-step 3 --profile-steps 1 || krc=$?
  # Full demangled names, as the activity records have them; an ncu without the option prints its default.
  if ((krc == 0)) && [[ -f "$RUNS/ncu/kernels.ncu-rep" ]] &&
     { ncu --import "$RUNS/ncu/kernels.ncu-rep" --csv --page raw --print-units base --print-kernel-base demangled \
         >"$RUNS/ncu/kernels.csv" 2>>"$LOGS/ncu-kernels.log" ||
       ncu --import "$RUNS/ncu/kernels.ncu-rep" --csv --page raw --print-units base \
         >"$RUNS/ncu/kernels.csv" 2>>"$LOGS/ncu-kernels.log"; }; then
    read -r k_status k_line < <(python3 "$REPORT" ncu-kernels "$RUNS/ncu/kernels.csv" "$(summary_of ncu-reference)" 2>>"$LOGS/ncu-kernels.log") || true
    record ncu-kernels "${k_status:-warn}" $((SECONDS - t)) "timed step 3 (fp32): ${k_line:-unreadable (logs/ncu-kernels.log)}"
  else
    record ncu-kernels warn $((SECONDS - t)) "ncu exit $krc: $(grep -m2 -E 'ERROR|error' "$LOGS/ncu-kernels.log" | tr '\n' ' ' | cut -c1-300)"
  fi
fi

# ------------------------------------------------------------------ 8. Nsight Compute on one step
# Where the node has `ncu`: timed step 3 of the fp32 window, bracketed by cudaProfilerStart/Stop
# (--profile-start-step 3 --profile-steps 1), counted with ncu's SASS instruction counts (which
# hep-mlbench's range profiler cannot read) and the FMA-pipe count it does read: how tight the
# FP32 bound is, and the cost model against the true FP32 FLOP. Application-range replay reruns
# the (deterministic) run once per pass and measures the range as a whole. Last: a warning at
# worst, never a failure, since it measures the measurement.
t=$SECONDS
if ((CPU_ONLY)); then
  record ncu-step skip 0 "GPU only (--cpu-only)"
elif ! command -v ncu >/dev/null 2>&1; then
  record ncu-step skip 0 "no ncu (Nsight Compute) on PATH"
else
  rm -rf "$RUNS/ncu/step".* "$RUNS/ncu/run"; mkdir -p "$RUNS/ncu"
  nrc=0
  run_to "$LOGS/ncu.log" "$(lim 180 300)" ncu --profile-from-start off --replay-mode app-range --clock-control none \
    --metrics "$(python3 "$REPORT" ncu-metrics)" -f -o "$RUNS/ncu/step" \
    "$BIN" train --data "$SMALL" --results "$RUNS/ncu/run" "${WINDOW[@]}" --precision fp32 --seed 11 --gpus "$DEV_GPUS" \
    --gpu-activity false --profile-start-step 3 --profile-steps 1 || nrc=$?
  if ((nrc == 0)) && [[ -f "$RUNS/ncu/step.ncu-rep" ]] &&
     ncu --import "$RUNS/ncu/step.ncu-rep" --csv --page raw --print-units base >"$RUNS/ncu/step.csv" 2>>"$LOGS/ncu.log"; then
    read -r n_status n_line < <(python3 "$REPORT" ncu-step "$RUNS/ncu/step.csv" "$RUNS/ncu/run/hep-mlbench_summary.json" 2>>"$LOGS/ncu.log") || true
    record ncu-step "${n_status:-warn}" $((SECONDS - t)) "timed step 3 (fp32): ${n_line:-unreadable (logs/ncu.log)}"
  else
    record ncu-step warn $((SECONDS - t)) "ncu exit $nrc: $(grep -m2 -E 'ERROR|error' "$LOGS/ncu.log" | tr '\n' ' ' | cut -c1-300)"
  fi
fi

finish
