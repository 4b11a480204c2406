#!/usr/bin/env bash
# The systemd units: syntax (systemd-analyze verify, against stand-in binaries in a temp root) and hardening
# (systemd-analyze security --offline=yes): each unit's overall exposure must stay at or below its recorded figure
# (docs/PACKAGING.md), which is below 3.0, systemd's "OK".
#   units_test.sh SOURCE_DIR
. "$(dirname "$0")/lib.sh"
SRC=$1
need_tool systemd-analyze
UNITS=$SRC/packaging/systemd

# unit  recorded exposure (x10; the figure in docs/PACKAGING.md)
check_unit() {
  local unit=$1 max=$2
  local out
  out=$(systemd-analyze security --offline=yes --no-pager "$UNITS/$unit" 2>&1) || true
  local line
  line=$(grep -E "Overall exposure level for $unit: [0-9.]+" <<<"$out") ||
    { echo "$out" >&2; fail "$unit: no overall exposure in systemd-analyze's output"; }
  local score
  score=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$line")
  local tenths=${score/./}
  echo "$unit exposure $score (recorded $((max / 10)).$((max % 10)))"
  [ "$tenths" -le "$max" ] || { echo "$out" >&2; fail "$unit: exposure $score above the recorded $((max / 10)).$((max % 10))"; }
  [ "$tenths" -le 30 ] || fail "$unit: exposure $score above 3.0 (systemd's OK)"
  pass "$unit exposure $score"
}
check_unit ksweep-agent.service 23
check_unit ksweep-collector.service 11

# The recorded figures are the ones in the docs.
expect_grep 'ksweep-agent\.service.*\| 2\.3 ' "$SRC/docs/PACKAGING.md"
expect_grep 'ksweep-collector\.service.*\| 1\.1 ' "$SRC/docs/PACKAGING.md"

# verify checks that ExecStart's binary exists: copies of the units start stand-ins in a temp folder instead.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in ksweep-agent ksweep-collector; do
  printf '#!/bin/sh\n' > "$tmp/$b"
  chmod 0755 "$tmp/$b"
  sed "s|/usr/bin/$b |$tmp/$b |" "$UNITS/$b.service" > "$tmp/$b.service"
  grep -q "^ExecStart=$tmp/$b " "$tmp/$b.service" || fail "$b.service: ExecStart is not /usr/bin/$b"
  out=$(systemd-analyze verify --man=no "$tmp/$b.service" 2>&1) || { echo "$out" >&2; fail "$b.service: systemd-analyze verify"; }
  # verify exits 0 on some warnings (an unknown key is only logged): any output is a finding.
  [ -z "$out" ] || { echo "$out" >&2; fail "$b.service: systemd-analyze verify printed warnings"; }
  pass "$b.service verifies"
done
