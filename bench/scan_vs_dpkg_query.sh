#!/bin/bash
# Agent scan benchmark (issue 2, "Performance"): `ksweep-agent scan` of the live root against `dpkg-query -W`,
# side by side in the same run, alternating A B A B so both see the same machine state and page cache.
#
#   bench/scan_vs_dpkg_query.sh [AGENT] [RUNS]
#
# AGENT  the ksweep-agent binary (default: build/agent/ksweep-agent under the source tree)
# RUNS   timed runs of each command (default 20, at least 10), after 3 untimed warm-up runs of each
#
# Wall time: bash's $EPOCHREALTIME around each command (microseconds, no extra process in the measurement; both
# commands pay the same fork+exec). `ksweep-agent --version` is timed alongside to separate process start-up (loading
# shared libraries, static initialisers) from the scan itself. Peak RSS: /usr/bin/time -f %M (the kernel's maxrss, KiB), in separate runs so
# the wrapper never sits inside a timed run. Per-probe cost: the durations `ksweep-agent scan --json` reports.
# Prints a Markdown block for docs/BENCHMARKS.md ("Agent scan"). Goal: median wall <= 2x dpkg-query's, peak RSS
# <= 15 MiB. Not a test: nothing here fails a build.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
agent=${1:-$here/../build/agent/ksweep-agent}
runs=${2:-20}
[ -x "$agent" ] || { echo "scan_vs_dpkg_query: no agent binary at $agent (build it, or pass its path)" >&2; exit 2; }
[ "$runs" -ge 10 ] || { echo "scan_vs_dpkg_query: RUNS must be at least 10" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "scan_vs_dpkg_query: /usr/bin/time missing (Debian package: time)" >&2; exit 2; }
command -v dpkg-query >/dev/null || { echo "scan_vs_dpkg_query: dpkg-query missing" >&2; exit 2; }

scan=("$agent" scan)
query=(dpkg-query -W)
# The same binary doing no scan at all: what loading and starting the process costs by itself.
start=("$agent" --version)


minimum() { sort -n | head -n 1; }
maximum() { sort -n | tail -n 1; }

# The scan must work before it is timed.
"${scan[@]}" >/dev/null || { echo "scan_vs_dpkg_query: '${scan[*]}' failed" >&2; exit 2; }

for _ in 1 2 3; do
  wall_us "${scan[@]}" >/dev/null
  wall_us "${query[@]}" >/dev/null
  wall_us "${start[@]}" >/dev/null
done

scan_t=() query_t=() start_t=() scan_m=() query_m=() start_m=()
for ((i = 0; i < runs; i++)); do
  scan_t+=("$(wall_us "${scan[@]}")")
  query_t+=("$(wall_us "${query[@]}")")
  start_t+=("$(wall_us "${start[@]}")")
done
for ((i = 0; i < runs; i++)); do
  scan_m+=("$(rss_kib "${scan[@]}")")
  query_m+=("$(rss_kib "${query[@]}")")
  start_m+=("$(rss_kib "${start[@]}")")
done

# Per-probe durations (us) as the agent reports them, median over the runs.
probe_lines=$(mktemp)
trap 'rm -f "$probe_lines"' EXIT
for ((i = 0; i < runs; i++)); do
  "$agent" scan --json | tr -d ' ,"' | awk -F: '
    $1 == "name" { name = $2 }
    $1 == "durationUs" { print name, $2 }
    $1 == "items" { items[name] = $2 }'
done >"$probe_lines"

scan_med=$(col "${scan_t[@]}" | median)
query_med=$(col "${query_t[@]}" | median)
scan_rss=$(col "${scan_m[@]}" | maximum)
query_rss=$(col "${query_m[@]}" | maximum)
start_med=$(col "${start_t[@]}" | median)
start_rss=$(col "${start_m[@]}" | maximum)
ratio=$(awk -v a="$scan_med" -v b="$query_med" 'BEGIN { printf "%.2f", a / b }')
wall_ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 2.0) ? "met" : "MISSED" }')
rss_ok=$(awk -v k="$scan_rss" 'BEGIN { print (k <= 15 * 1024) ? "met" : "MISSED" }')

packages=$(dpkg-query -W | wc -l)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")

cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, $os, kernel $(uname -r);
$packages packages in dpkg-query -W; agent $("$agent" --version | awk '{print $2}').

Command: \`bench/scan_vs_dpkg_query.sh $agent $runs\` ($runs timed runs of each, alternating, after 3 warm-ups).

| command | median wall | min | max | peak RSS (max of $runs) |
|---|---|---|---|---|
| \`ksweep-agent scan\` (live root) | $(ms "$scan_med") ms | $(ms "$(col "${scan_t[@]}" | minimum)") ms | $(ms "$(col "${scan_t[@]}" | maximum)") ms | $(mib "$scan_rss") MiB ($scan_rss KiB) |
| \`dpkg-query -W\` | $(ms "$query_med") ms | $(ms "$(col "${query_t[@]}" | minimum)") ms | $(ms "$(col "${query_t[@]}" | maximum)") ms | $(mib "$query_rss") MiB ($query_rss KiB) |
| \`ksweep-agent --version\` (start-up only, no scan) | $(ms "$start_med") ms | $(ms "$(col "${start_t[@]}" | minimum)") ms | $(ms "$(col "${start_t[@]}" | maximum)") ms | $(mib "$start_rss") MiB ($start_rss KiB) |

Ratio scan / dpkg-query (medians): **${ratio}x** (goal <= 2x: $wall_ok). Agent peak RSS: **$(mib "$scan_rss") MiB**
(goal <= 15 MiB: $rss_ok).

Per-probe time inside the scan (median of $runs \`ksweep-agent scan --json\` runs, probe's own \`durationUs\`):

| probe | median |
|---|---|
EOF
for p in $(awk '{print $1}' "$probe_lines" | sort -u); do
  printf '| %s | %s ms |\n' "$p" "$(ms "$(awk -v p="$p" '$1 == p { print $2 }' "$probe_lines" | median)")"
done
