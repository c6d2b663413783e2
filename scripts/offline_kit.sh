#!/usr/bin/env bash
# Makes the offline kit for GPU nodes: the Debian 12 packages hep-mlbench builds and runs with
# beyond a base system (a C++ compiler, CMake, ninja, a Python with torch, glibc, libstdc++),
# as .deb files plus a MANIFEST. scripts/gpu_check.sh --kit DIR unpacks them into a private
# prefix on a node without network; nothing is installed system-wide. No torch, no CUDA.
#
#   scripts/offline_kit.sh DIR       (run on Debian 12 with its package registry reachable)
#
# DIR receives:
#   *.deb      the -dev packages (headers, CMake configs, link names; their own dependencies
#              are not followed: they would drag in Fortran, C++ and MPI variants of HDF5) and
#              the runtime libraries of the libraries we link, with everything those need
#              except the base below
#   MANIFEST   one line per package: name, version, architecture, sha256, size, file; header
#              lines (#) say where it came from and the newest glibc / libstdc++ symbol
#              versions its libraries need, which gpu_check.sh compares with the node's
# Base left out (every Linux with a C++ compiler has them): libc6, libgcc-s1, libstdc++6,
# gcc-12-base. Catch2 is left out: the GPU check builds the release binary, without tests.
# The kit must stay under 40 MB (HMB_KIT_MAX_MB to change); the script fails when it does not.
set -euo pipefail

log() { printf '[offline_kit] %s\n' "$*"; }
die() { printf '[offline_kit] ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  "") die "missing DIR: scripts/offline_kit.sh DIR (see --help)" ;;
  -*) die "unknown option '$1' (see --help)" ;;
esac
[[ $# == 1 ]] || die "one argument expected (the kit folder), got $#: $* (see --help)"
DIR="$1"
MAX_MB="${HMB_KIT_MAX_MB:-40}"

# ---------------------------------------------------------------- what goes in
# -dev packages: taken alone, without their Depends.
DEV_PACKAGES=(libhdf5-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev
              libcli11-dev libssl-dev libgloo-dev)
# Runtime libraries the binary links (directly or through the above); their dependency
# closure is followed, minus the base.
RUNTIME_ROOTS=(libhdf5-103-1 libspdlog1.10 libfmt9 libyaml-cpp0.7 libssl3 zlib1g)
BASE=(libc6 libgcc-s1 libstdc++6 gcc-12-base)

# ---------------------------------------------------------------- checks
for tool in apt-get apt-cache dpkg-deb sha256sum objdump; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run this on Debian 12 (apt, dpkg, binutils)"
done
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
[[ "$codename" == bookworm ]] || die "this machine is '${codename:-unknown}', not Debian 12 (bookworm): the kit must hold Debian 12's packages, which the project builds and tests with"
[[ "$(dpkg --print-architecture)" == amd64 ]] || die "architecture $(dpkg --print-architecture): the kit is for amd64 (x86_64) GPU nodes"
for p in "${DEV_PACKAGES[@]}" "${RUNTIME_ROOTS[@]}"; do
  apt-cache show "$p" >/dev/null 2>&1 \
    || die "package '$p' unknown to apt: run 'apt-get update' (as root) and try again"
done

# ---------------------------------------------------------------- resolve
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${RUNTIME_ROOTS[@]}" 2>/dev/null \
  | grep -v '^ ' | grep -v '^<' | sort -u)
packages=()
for p in "${DEV_PACKAGES[@]}" "${closure[@]}"; do
  skip=0
  for b in "${BASE[@]}"; do [[ "$p" == "$b" ]] && skip=1; done
  [[ $skip == 0 ]] && packages+=("$p")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
log "${#packages[@]} packages: ${packages[*]}"

# ---------------------------------------------------------------- download
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
rm -f "$DIR"/*.deb "$DIR/MANIFEST"
apt_opts=(-q=2)
# As root, apt hands downloads to its '_apt' user, which cannot write a folder of ours.
[[ "$(id -u)" == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
( cd "$DIR" && apt-get download "${apt_opts[@]}" "${packages[@]}" ) \
  || die "apt-get download failed: check the network to Debian's mirrors and 'apt-get update'"

# ---------------------------------------------------------------- glibc / libstdc++ needs
# The newest symbol versions the kit's libraries ask of the base: the node's glibc and
# libstdc++ must provide them (gpu_check.sh checks before building).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for deb in "$DIR"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
needs="$(find "$tmp/root" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null \
  | grep -oE '(GLIBC|GLIBCXX|CXXABI)_[0-9.]+' | sort -u -V)"
max_of() { printf '%s\n' "$needs" | grep "^$1_" | sed "s/^$1_//" | sort -V | tail -1; }
glibc_max="$(max_of GLIBC)"
glibcxx_max="$(max_of GLIBCXX)"

# ---------------------------------------------------------------- manifest
{
  echo "# hep-mlbench offline kit (scripts/offline_kit.sh): Debian 12 (bookworm) amd64 packages"
  echo "# made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "# needs-glibc: ${glibc_max:-none}"
  echo "# needs-glibcxx: ${glibcxx_max:-none}"
  echo "# name	version	architecture	sha256	size	file"
  for deb in "$DIR"/*.deb; do
    f="$(basename "$deb")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' \
      "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
      "$(dpkg-deb -f "$deb" Architecture)" "$(sha256sum "$deb" | cut -d' ' -f1)" \
      "$(stat -c %s "$deb")" "$f"
  done
} > "$DIR/MANIFEST"

total="$(cat "$DIR"/*.deb | wc -c)"
total_mb="$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }')"
log "$DIR: ${#packages[@]} packages, $total_mb MB; needs glibc >= ${glibc_max:-?}, libstdc++ GLIBCXX >= ${glibcxx_max:-?}"
(( total <= MAX_MB * 1048576 )) \
  || die "the kit is $total_mb MB, over the $MAX_MB MB limit: see which packages in $DIR/MANIFEST grew"
log "done: copy $DIR to the GPU node and run scripts/gpu_check.sh --kit $DIR"
