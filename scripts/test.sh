#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: README's test command, and all that CI runs.
#   1. the whole suite on the release build (build/);
#   2. the parsers of untrusted files (hives, PE images, plists, rpm headers, dpkg status, rules) and the agent's
#      damaged-input tests again under AddressSanitizer (build-asan/), so a corrupt disk image cannot hide an
#      out-of-bounds read behind a passing test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
KSWEEP_BUILD_DIR=${KSWEEP_BUILD_DIR:-build} scripts/build.sh -DKSWEEP_WERROR=ON -DKSWEEP_BUILD_TESTS=ON
(cd "${KSWEEP_BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@")

ASAN_TARGETS=(ksweep-agent hive_test regf_test pe_version_test plist_test windows_paths_test rpm_header_test
  dpkg_status_test rules_test detect_test root_test agent_windows_test agent_macos_test agent_bad_input_test)
ASAN_TESTS='^(Hive|Hives|HiveBaseBlock|Regf[A-Za-z]*|PeVersion|Plist|ParseHklmPath|ImageFileInRoot|Utf|RpmHeader|RpmHeaderCrafted|DpkgStatusParser|DpkgStatusWord|ParseRules|BuiltinRules|LoadRulesFile|Detect|Root|AgentWindows|AgentMacos|AgentBadInput)(Test)?[./]'
KSWEEP_BUILD_DIR=${KSWEEP_ASAN_BUILD_DIR:-build-asan} KSWEEP_BUILD_TARGETS="${ASAN_TARGETS[*]}" scripts/build.sh \
  -DKSWEEP_SANITIZE=address -DKSWEEP_WERROR=ON -DKSWEEP_BUILD_TESTS=ON -DKSWEEP_BUILD_BENCH=OFF
cd "${KSWEEP_ASAN_BUILD_DIR:-build-asan}"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --output-on-failure --timeout 600 -j "$(nproc)" -R "$ASAN_TESTS"
