# Measuring helpers the benchmark scripts share (sourced, not run).

# Microseconds of one run of "$@", output discarded: bash's $EPOCHREALTIME, no extra process inside the measurement.
wall_us() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || true
  t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) ))
}

# Peak RSS in KiB of one run of "$@" (the kernel's maxrss, through /usr/bin/time).
rss_kib() {
  local out
  out=$(mktemp)
  /usr/bin/time -f %M -o "$out" "$@" >/dev/null 2>&1 || true
  tail -n 1 "$out"
  rm -f "$out"
}

# Of numbers on standard input, one a line.
median() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%d\n", (v[NR/2]+v[NR/2+1])/2}'; }
minimum() { sort -n | head -n 1; }
maximum() { sort -n | tail -n 1; }
# The arguments, one a line (to feed the above).
col() { printf '%s\n' "$@"; }
# Microseconds as milliseconds, KiB as MiB, one decimal.
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
