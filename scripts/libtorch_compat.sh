#!/usr/bin/env bash
# Compile check of hep-mlbench against other LibTorch versions than the pinned one: every
# source file of the hep-mlbench library and its main() that includes LibTorch, directly or
# through hep-mlbench's headers, compiled (not linked) against the headers and CMake config of
# the torch wheel VERSION from PyPI.
#
#   scripts/libtorch_compat.sh [--fetch-only] [VERSION ...]   default: 2.8.0 (the oldest supported)
#   --fetch-only   download and unpack the headers, compile nothing
#
# The wheel is downloaded once with pip (no dependencies) and only its torch/include and
# torch/share/cmake are kept, under ~/.cache/hep-mlbench/libtorch-headers/VERSION (the cache
# folder of scripts/setup.sh); the libraries LibTorch's CMake config asks for are left as
# empty placeholders, which is why nothing is linked. The CUDA headers are the toolkit's and
# NVML's come from the project's environment, as in the normal build. Each version builds in
# build/compat-VERSION; warnings in hep-mlbench's code are errors, as in CI.
# Needs scripts/setup.sh to have run (the project's Python, its pip, nvml.h) and network to
# PyPI the first time. Objects are checked with -fsyntax-only (scripts/compat_compile.sh, the
# compiler launcher): every diagnostic, no code generation. Environment: HMB_BUILD_JOBS (default: all cores),
# HMB_COMPAT_CACHE (the cache folder).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[libtorch_compat] %s\n' "$*"; }
die() { printf '[libtorch_compat] ERROR: %s\n' "$*" >&2; exit 1; }
FETCH_ONLY=0
while [[ "${1:-}" == -* ]]; do
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --fetch-only) FETCH_ONLY=1; shift ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
VERSIONS=("$@"); ((${#VERSIONS[@]})) || VERSIONS=(2.8.0)
CACHE="${HMB_COMPAT_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/hep-mlbench/libtorch-headers}"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || die ".venv missing: run scripts/setup.sh first"
JOBS="${HMB_BUILD_JOBS:-$(nproc)}"
SP="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

fetch() {  # fetch VERSION: the headers and CMake config of torch VERSION, cached
  local v="$1" dest="$CACHE/$1"
  [[ -f "$dest/.complete" ]] && return 0
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "'$v' is not a torch version like 2.8.0"
  local tmp; tmp="$(mktemp -d)"
  log "downloading the torch $v wheel from PyPI (once; only its headers are kept)"
  "$PY" -m pip download -q --no-deps --only-binary=:all: "torch==$v" -d "$tmp" \
    || { rm -rf "$tmp"; die "pip download torch==$v failed (network to PyPI? does that version exist for this Python?)"; }
  rm -rf "$dest"; mkdir -p "$dest"
  "$PY" - "$tmp"/torch-*.whl "$dest" <<'EOF' || { rm -rf "$tmp" "$dest"; die "cannot unpack the torch $v wheel"; }
import sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.startswith(("torch/include/", "torch/share/cmake/"))
             or n in ("torch/version.py",)]
    z.extractall(dest, names)
    # Placeholders for the libraries LibTorch's CMake config looks for: nothing links them.
    import os
    os.makedirs(os.path.join(dest, "torch/lib"), exist_ok=True)
    for n in z.namelist():
        if n.startswith("torch/lib/") and ".so" in n:
            open(os.path.join(dest, n), "w").close()
EOF
  rm -rf "$tmp"
  touch "$dest/.complete"
}

status=0
for v in "${VERSIONS[@]}"; do
  fetch "$v"
  ((FETCH_ONLY)) && { log "torch $v headers in $CACHE/$v"; continue; }
  T="$CACHE/$v/torch"
  torch_cuda="$(sed -n "s/^cuda[^=]*= '\(.*\)'/\1/p" "$T/version.py" 2>/dev/null || true)"
  B="$ROOT/build/compat-$v"
  t0=$SECONDS
  log "torch $v (CUDA ${torch_cuda:-?}): configure $B"
  # NCCL and nvml.h as the project's environment has them (the placeholder tree has no
  # nvidia/ folder beside it); the CUDA toolkit is found as in the normal build.
  args=(-S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHMB_BUILD_TESTS=OFF
        -DHMB_WARNINGS_AS_ERRORS=ON "-DTorch_DIR=$T/share/cmake/Torch"
        "-DCMAKE_CXX_COMPILER_LAUNCHER=$ROOT/scripts/compat_compile.sh")
  nvml_h="$(find "$SP/nvidia" -name nvml.h -print -quit 2>/dev/null || true)"
  [[ -n "$nvml_h" ]] && args+=("-DHMB_NVML_INCLUDE_DIR=$(dirname "$nvml_h")")
  if ! cmake "${args[@]}" >"$B.configure.log" 2>&1; then
    status=1; log "torch $v: configure FAILED ($(grep -m1 -A3 'CMake Error' "$B.configure.log" | tr '\n' ' ' | cut -c1-300)); log: $B.configure.log"
    continue
  fi
  grep -E '^-- +(CUDA path|CUPTI|NVML|NCCL|LibTorch)' "$B.configure.log" | sed 's/^/[libtorch_compat]   /' || true
  # Every object of the library and of main() whose source reaches a LibTorch header, as the
  # configure's scan found them (hmb_torch_sources.txt, cmake/HmbPrecompiled.cmake): compiled,
  # never linked. The other sources use no LibTorch API, so its version cannot change them.
  [[ -s "$B/hmb_torch_sources.txt" ]] || { status=1; log "torch $v: $B/hmb_torch_sources.txt missing or empty"; continue; }
  mapfile -t objs < <(ninja -C "$B" -t targets all |
                      sed -n 's#^\(src/CMakeFiles/[^/]*\.dir/\(.*\)\.o\): .*#\2 \1#p' |
                      awk 'NR == FNR { want[$0] = 1; next } ($1 in want) { print $2 }' \
                        <(sed -n 's#^src/##p' "$B/hmb_torch_sources.txt") -)
  n_src="$(grep -c '^src/' "$B/hmb_torch_sources.txt" || true)"
  if ((${#objs[@]} == 0 || ${#objs[@]} != n_src)); then
    status=1; log "torch $v: $n_src sources reach LibTorch but ${#objs[@]} of their objects were found in $B"; continue
  fi
  if ninja -C "$B" -j "$JOBS" "${objs[@]}" >"$B.build.log" 2>&1; then
    log "torch $v: OK, ${#objs[@]} files compiled in $((SECONDS - t0)) s"
  else
    status=1
    log "torch $v: compile FAILED in $((SECONDS - t0)) s; first errors:"
    grep -m5 -E 'error' "$B.build.log" | sed 's/^/[libtorch_compat]   /' || true
    log "full log: $B.build.log"
  fi
done
exit $status
