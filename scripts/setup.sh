#!/usr/bin/env bash
# hep-mlbench set-up: system packages (apt) and the project-local Python environment
# (.venv) holding the pinned torch wheel whose LibTorch the C++ build uses.
#
# Idempotent: a second run checks what is there and installs nothing new.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-apt   skip the system packages (they are already there)
#
# Environment:
#   HEP_MLBENCH_VENV        where the environment lives (default: a cache folder keyed on
#                           scripts/requirements.txt and the Python version, linked as .venv)
#   HEP_MLBENCH_NO_CACHE=1  build the environment inside the checkout (.venv), no cache
#   HMB_TORCH_VERSION=X.Y.Z another torch wheel than requirements.txt's pin (the Dockerfile's
#                           TORCH_VERSION): 2.8.0 (CUDA 12.8) to 2.15.0 (CUDA 13.2); its own
#                           cached environment (docs/gpu-check.md: which driver each needs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/scripts/requirements.txt"
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

DO_APT=1
for a in "$@"; do
  case "$a" in
    --no-apt) DO_APT=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown option '$a' (see --help)" ;;
  esac
done

# ---------------------------------------------------------------- system packages
APT_PACKAGES=(
  build-essential cmake ninja-build git pkg-config ca-certificates
  python3 python3-venv python3-dev
  libhdf5-dev libspdlog-dev libfmt-dev libyaml-cpp-dev catch2
  nlohmann-json3-dev libcli11-dev libssl-dev libgloo-dev openmpi-bin
)
if [[ $DO_APT == 1 ]]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    if [[ $(id -u) != 0 ]]; then
      command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
      SUDO="sudo"
    fi
    log "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed: check the network or the apt sources"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || die "apt-get install failed for: ${missing[*]}"
  else
    log "system packages present"
  fi
fi

# ---------------------------------------------------------------- python environment
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || die "python3 not found; install python3 and python3-venv"
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
pinned="$(sed -n 's/^torch==//p' "$REQ")"
if [[ -n "${HMB_TORCH_VERSION:-}" && "$HMB_TORCH_VERSION" != "$pinned" ]]; then
  [[ "$HMB_TORCH_VERSION" =~ ^2\.([89]|1[0-5])\.[0-9]+$ ]] \
    || die "HMB_TORCH_VERSION=$HMB_TORCH_VERSION: hep-mlbench supports torch 2.8.0 to 2.15.x"
  mkdir -p "$ROOT/build"
  sed "s/^torch==.*/torch==$HMB_TORCH_VERSION/" "$REQ" >"$ROOT/build/requirements-torch-$HMB_TORCH_VERSION.txt"
  REQ="$ROOT/build/requirements-torch-$HMB_TORCH_VERSION.txt"
  log "torch $HMB_TORCH_VERSION instead of the pinned $pinned (HMB_TORCH_VERSION)"
fi
key="$( (cat "$REQ"; echo "$pyver") | sha256sum | cut -c1-12)"

if [[ -n "${HEP_MLBENCH_VENV:-}" ]]; then
  VENV="$HEP_MLBENCH_VENV"
elif [[ "${HEP_MLBENCH_NO_CACHE:-0}" == 1 ]]; then
  VENV="$ROOT/.venv"
else
  VENV="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/hep-mlbench/env-py$pyver-$key"
fi
STAMP="$VENV/.hep-mlbench-env-$key"

if [[ -f "$STAMP" ]]; then
  log "python environment ready: $VENV"
else
  log "creating python environment $VENV (torch wheel with CUDA libraries: a few GB, once)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV" || die "python3 -m venv failed: install python3-venv"
  "$VENV/bin/python" -m pip install -q --upgrade pip || die "pip upgrade failed (network to PyPI?)"
  "$VENV/bin/python" -m pip install -q --progress-bar off -r "$REQ" \
    || die "pip install -r $REQ failed (network to PyPI? disk space?)"
  touch "$STAMP"
fi
if [[ "$VENV" != "$ROOT/.venv" ]]; then
  ln -sfn "$VENV" "$ROOT/.venv"
fi

# ---------------------------------------------------------------- checks
"$ROOT/.venv/bin/python" - <<'EOF' || die "the python environment is broken: remove it (rm -rf \"$(readlink -f $ROOT/.venv)\") and run again"
import torch, numpy, h5py
print(f"[setup] torch {torch.__version__} (CUDA {torch.version.cuda}), numpy {numpy.__version__}, h5py {h5py.__version__}")
EOF

# LibTorch's CMake config needs a CUDA toolkit (the wheel is a CUDA build). Without a system
# toolkit, add nvcc from PyPI beside the wheel's CUDA headers and libraries.
wheel_cuda="$("$ROOT/.venv/bin/python" -c 'import torch; print(torch.version.cuda or "none")')"
if [[ "${wheel_cuda%%.*}" == 12 ]] && ! command -v nvcc >/dev/null && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  # PyPI has no CUDA 12 nvcc (nvidia-cuda-nvcc-cu12 carries ptxas only), and LibTorch's CMake
  # config of a CUDA 12 wheel (torch 2.8) refuses to configure without a CUDA 12 toolkit.
  die "torch ${HMB_TORCH_VERSION:-$pinned} is a CUDA $wheel_cuda build: building against it needs a CUDA ${wheel_cuda%%.*} toolkit (nvcc on PATH or /usr/local/cuda); install one, or build the container from a base image that has it (BASE_IMAGE, docs/gpu-check.md)"
elif ! command -v nvcc >/dev/null && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  if [[ ! -x "$ROOT/.venv/lib/python$pyver/site-packages/nvidia/cu13/bin/nvcc" ]]; then
    log "no CUDA toolkit on this machine: adding nvcc from PyPI (nvidia-cuda-nvcc) to the environment"
    # The same CUDA release as the wheel's runtime (13.2) for every compiler part.
    "$ROOT/.venv/bin/python" -m pip install -q --progress-bar off "nvidia-cuda-nvcc==13.2.86" \
      "nvidia-nvvm==13.2.86" "nvidia-cuda-crt==13.2.86" \
      || die "pip install nvidia-cuda-nvcc failed (network to PyPI?)"
  fi
  # CMake's FindCUDAToolkit looks for the unversioned library names a toolkit installs.
  for lib in "$ROOT/.venv/lib/python$pyver/site-packages/nvidia/cu13/lib/"lib*.so.[0-9]*; do
    base="${lib%.so.*}.so"
    [[ -e "$base" ]] || ln -s "$(basename "$lib")" "$base"
  done
  export PATH="$ROOT/.venv/lib/python$pyver/site-packages/nvidia/cu13/bin:$PATH"
fi
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  tk_major="$("$NVCC" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')"
  wheel_major="$("$ROOT/.venv/bin/python" -c 'import torch; print((torch.version.cuda or "none").split(".")[0])')"
  if [[ "$tk_major" != "$wheel_major" ]]; then
    die "CUDA toolkit major version $tk_major differs from the torch wheel's CUDA $wheel_major: pin a torch wheel built for CUDA $tk_major in scripts/requirements.txt"
  fi
  log "CUDA toolkit $tk_major matches the torch wheel (CUDA $wheel_major)"
else
  log "no CUDA toolkit found: the build will be CPU-only (the binary still runs everywhere on CPU)"
fi
log "done"
