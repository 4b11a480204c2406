#!/usr/bin/env bash
# Installs every Debian 12 package ksweep needs to build, test and run. Idempotent: quick when all are present.
# Needs root (or sudo) the first time.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config git
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libboost-program-options-dev libspdlog-dev libfmt-dev libssl-dev libsqlite3-dev
  # macOS property lists: libplist built statically from its Debian source (scripts/deps/libplist.sh)
  dpkg-dev autoconf automake libtool make
  # tests: GoogleTest, real package managers for fixtures, Python stubs for the API example
  libgtest-dev libgmock-dev rpm db5.3-util sqlite3 dpkg-dev python3 python3-grpcio python3-protobuf
  # tests: Windows hives written with hivex's own tools; driver and service images with a version resource
  libhivex-bin libwin-hivex-perl binutils-mingw-w64-x86-64 binutils-mingw-w64-i686
  # benchmarks
  libbenchmark-dev time
  # packaging (docs/PACKAGING.md): debs, rpms, lint, signed repositories, throw-away Debian roots, unit checks
  fakeroot mmdebstrap apt-utils gnupg createrepo-c lintian rpmlint systemd util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
