#!/usr/bin/env bash
# Configures and builds ksweep into build/ (or $KSWEEP_BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${KSWEEP_BUILD_DIR:-build}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$PWD
# Share cached objects between checkouts in different folders (CI builds a fresh clone elsewhere each time).
export CCACHE_NOHASHDIR=1
# libplist has no static archive in Debian: built once from its Debian source into ~/.cache/ksweep (scripts/deps/).
LIBPLIST_PREFIX=$(scripts/deps/libplist.sh)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSWEEP_LIBPLIST_PREFIX="$LIBPLIST_PREFIX" "$@"
# KSWEEP_BUILD_TARGETS: only these targets (the sanitizer pass of scripts/test.sh), else everything.
# shellcheck disable=SC2086
ninja -C "$BUILD_DIR" ${KSWEEP_BUILD_TARGETS:-}
