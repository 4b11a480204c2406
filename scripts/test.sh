#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: README's test command, and all that CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
KSWEEP_BUILD_DIR=${KSWEEP_BUILD_DIR:-build} scripts/build.sh -DKSWEEP_WERROR=ON -DKSWEEP_BUILD_TESTS=ON
cd "${KSWEEP_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
