#!/usr/bin/env bash
# lintian on the .debs and rpmlint on the .rpms: no error and no warning. What is accepted is accepted in one place,
# each with its reason: packaging/lint/ksweep-*.lintian-overrides (shipped in the .debs) and packaging/lint/rpmlint.toml.
#   lint_test.sh SOURCE_DIR PACKAGES_DIR
. "$(dirname "$0")/lib.sh"
SRC=$1
PKGS=$2
need_tool lintian
need_tool rpmlint

for deb in "$PKGS"/r1/*.deb; do
  # lintian refuses to run as root without this; it only reads the package.
  out=$(lintian --allow-root --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1) ||
    { echo "$out" >&2; fail "lintian: $(basename "$deb")"; }
  [ -z "$out" ] || echo "$out"
  pass "lintian $(basename "$deb")"
done

for rpm in "$PKGS"/r1/*.rpm; do
  out=$(rpmlint --config "$SRC/packaging/lint/rpmlint.toml" "$rpm" 2>&1) || true
  echo "$out" | tail -1
  summary=$(grep -E '[0-9]+ errors?, [0-9]+ warnings?' <<<"$out") || { echo "$out" >&2; fail "rpmlint printed no summary"; }
  grep -qE ' 0 errors?, 0 warnings?' <<<"$summary" || { echo "$out" >&2; fail "rpmlint: $(basename "$rpm"): $summary"; }
  pass "rpmlint $(basename "$rpm")"
done
