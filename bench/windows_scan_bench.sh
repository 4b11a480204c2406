#!/bin/bash
# Windows scan benchmark (issue 11, "Performance"): `ksweep-agent scan --root` of a Windows system root whose SOFTWARE
# hive is real-sized (>= 60 MiB, 500 Uninstall entries in the two views, COM class filler like a real SOFTWARE's),
# against hivexsh reading the same Uninstall entries' values from the same hive, in the same run, alternating A B A B
# so both see the same page cache.
#
#   bench/windows_scan_bench.sh [AGENT] [RUNS] [WORKDIR]
#
# AGENT    the ksweep-agent binary (default: build/agent/ksweep-agent under the source tree)
# RUNS     timed runs of each command (default 15, at least 5), after 2 untimed warm-up runs of each
# WORKDIR  where the fixture root is built and kept between runs (default: $TMPDIR/ksweep-windows-bench); building it
#          takes a few minutes (hivexregedit writes every key), later runs reuse it
#
# The root is built with the tools the tests use: tests/fixtures/windows/make_hive.py writes an empty hive,
# hivexregedit --merge fills it from generated .reg text (in chunks until the file passes 60 MiB), make_pe.sh writes
# Kaspersky's service and driver images. The floor is one `hivexsh -f SCRIPT` that lists both Uninstall keys and
# prints DisplayName, DisplayVersion, Publisher and InstallLocation of every entry: what the installed_programs probe
# reads. The agent does more (it also reads SYSTEM's services, the host facts, the rules' paths): that is the point.
# Wall time: bash's $EPOCHREALTIME around each command. Peak RSS: /usr/bin/time -f %M (the kernel's maxrss, KiB;
# file pages of a mapped hive count), in separate runs. Goal (issue 11): median wall <= 2x the floor's, peak RSS
# <= 32 MiB. Prints a Markdown block for docs/BENCHMARKS.md ("Windows scan"). Not a test: nothing here fails a build.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
agent=${1:-$here/../build/agent/ksweep-agent}
runs=${2:-15}
work=${3:-${TMPDIR:-/tmp}/ksweep-windows-bench}
fixtures=$here/../tests/fixtures/windows
[ -x "$agent" ] || { echo "windows_scan_bench: no agent binary at $agent (build it, or pass its path)" >&2; exit 2; }
[ "$runs" -ge 5 ] || { echo "windows_scan_bench: RUNS must be at least 5" >&2; exit 2; }
for tool in /usr/bin/time hivexsh hivexregedit python3 x86_64-w64-mingw32-ld; do
  command -v "$tool" >/dev/null || { echo "windows_scan_bench: $tool missing (scripts/setup.sh installs it)" >&2; exit 2; }
done

root=$work/root
software=$root/Windows/System32/config/SOFTWARE
system=$root/Windows/System32/config/SYSTEM
floor_script=$work/floor.hivexsh
min_bytes=$((60 * 1024 * 1024))

# The .reg text of a chunk: `gen.py KIND ARGS` (see below) prints it.
gen=$work/gen.py

build_root() {
  rm -rf "$root" && mkdir -p "$root/Windows/System32/config" "$root/Windows/System32/drivers"
  cat >"$gen" <<'PY'
import random, sys
kind = sys.argv[1]
rng = random.Random(int(sys.argv[2]))
def guid():
    return "{%08X-%04X-%04X-%04X-%012X}" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
                                            rng.getrandbits(16), rng.getrandbits(48))
def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
out = ["Windows Registry Editor Version 5.00", ""]
def key(path, values=()):
    out.append("[\\" + path + "]")
    for name, v in values:
        out.append(("@" if name == "" else q(name)) + "=" + (("dword:%08x" % v) if isinstance(v, int) else q(v)))
    out.append("")
if kind == "base":
    # Every parent first, as hivexregedit requires.
    for k in ["Classes", "Classes\\Fleet Components", "Microsoft", "Microsoft\\Windows", "Microsoft\\Windows\\CurrentVersion",
              "Microsoft\\Windows\\CurrentVersion\\Uninstall", "Microsoft\\Windows NT", "WOW6432Node",
              "WOW6432Node\\Microsoft", "WOW6432Node\\Microsoft\\Windows",
              "WOW6432Node\\Microsoft\\Windows\\CurrentVersion",
              "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"]:
        key(k)
    key("Microsoft\\Windows NT\\CurrentVersion", [("ProductName", "Windows 10 Enterprise"), ("DisplayVersion", "22H2"),
        ("CurrentBuild", "19045"), ("UBR", 3803), ("EditionID", "Enterprise"), ("CurrentMajorVersionNumber", 10),
        ("CurrentMinorVersionNumber", 0)])
    key("Microsoft\\Cryptography", [("MachineGuid", "7f3c9a51-2b8e-4d6f-9a0c-5e1b7d3f2a64")])
    key("KasperskyLab")
    key("WOW6432Node\\KasperskyLab")
    entries = []
    for view, count in (("Microsoft\\Windows\\CurrentVersion\\Uninstall", 350),
                        ("WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall", 150)):
        for i in range(count):
            name = guid()
            entries.append(view + "\\" + name)
            key(view + "\\" + name, [
                ("DisplayName", "Fleet Application %d" % i), ("DisplayVersion", "%d.%d.%d" % (i % 17, i % 7, i)),
                ("Publisher", "Vendor %d Inc." % (i % 40)),
                ("InstallLocation", "C:\\Program Files\\Vendor %d\\App %d\\" % (i % 40, i)),
                ("UninstallString", "MsiExec.exe /X" + name), ("ModifyPath", "MsiExec.exe /I" + name),
                ("InstallDate", "2023%02d%02d" % (i % 12 + 1, i % 28 + 1)), ("EstimatedSize", 1000 + i),
                ("NoModify", 1), ("NoRepair", 1), ("Language", 1033), ("URLInfoAbout", "https://example.com/%d" % i)])
    key("WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}", [
        ("DisplayName", "Kaspersky Endpoint Security for Windows"), ("DisplayVersion", "11.11.0.452"),
        ("Publisher", "AO Kaspersky Lab"),
        ("InstallLocation", "C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\")])
    entries.append("WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{9A017442-D5E1-4F8B-8F3B-4B8C3C9E2A11}")
    with open(sys.argv[3], "w") as f:
        for view in ("Microsoft\\Windows\\CurrentVersion\\Uninstall",
                     "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"):
            f.write("cd \\" + view + "\nls\n")
        for e in entries:
            f.write("cd \\" + e + "\n")
            for v in ("DisplayName", "DisplayVersion", "Publisher", "InstallLocation"):
                f.write("lsval " + v + "\n")
elif kind == "filler":
    # COM classes, as most of a real SOFTWARE hive is: a class key, its server, threading model, ProgID. 40 to a
    # group, 50 groups to a bank: hivex writes a parent's subkey list anew for each child it adds, so one flat CLSID
    # key with 100,000 children would leave gigabytes of dead lists behind.
    first = int(sys.argv[3])
    seen = set()
    for i in range(first, first + int(sys.argv[4])):
        bank = "Classes\\Fleet Components\\Bank%03d" % (i // 2000)
        group = bank + "\\Group%05d" % (i // 40)
        for k in (bank, group):
            if k not in seen:
                seen.add(k)
                key(k)
        g = group + "\\" + guid()
        key(g, [("", "Fleet Component Class %d" % i), ("AppID", guid())])
        key(g + "\\InprocServer32", [("", "C:\\Windows\\System32\\fleetcomp%d.dll" % i),
                                     ("ThreadingModel", "Both")])
        key(g + "\\ProgID", [("", "Fleet.Component.%d" % i)])
elif kind == "system":
    for k in ["ControlSet001", "ControlSet001\\Control", "ControlSet001\\Control\\ComputerName",
              "ControlSet001\\Control\\Session Manager", "ControlSet001\\Services"]:
        key(k)
    key("Select", [("Current", 1), ("Default", 1), ("LastKnownGood", 1)])
    key("ControlSet001\\Control\\ComputerName\\ComputerName", [("ComputerName", "WIN-BENCH")])
    key("ControlSet001\\Control\\Session Manager\\Environment", [("PROCESSOR_ARCHITECTURE", "AMD64")])
    for i in range(420):
        driver = i % 3 == 0
        key("ControlSet001\\Services\\FleetSvc%d" % i, [("Type", 1 if driver else 16), ("Start", i % 5),
            ("ErrorControl", 1), ("ImagePath", ("System32\\drivers\\fleet%d.sys" if driver else
                                               "%%SystemRoot%%\\System32\\fleetsvc%d.exe") % i),
            ("DisplayName", "Fleet Service %d" % i), ("Description", "Keeps fleet thing %d going" % i)])
    for name, t, start, image in (
            ("AVP21.3", 16, 2, '"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avp.exe"'),
            ("klif", 2, 0, "\\SystemRoot\\System32\\DRIVERS\\klif.sys"),
            ("klflt", 2, 1, "System32\\drivers\\klflt.sys"),
            ("klhk", 1, 0, "\\??\\C:\\Windows\\system32\\drivers\\klhk.sys")):
        key("ControlSet001\\Services\\" + name, [("Type", t), ("Start", start), ("ImagePath", image)])
print("\n".join(out))
PY
  python3 "$fixtures/make_hive.py" "$software"
  python3 "$gen" base 1 "$floor_script" >"$work/base.reg"
  hivexregedit --merge "$software" "$work/base.reg"
  local first=0
  while [ "$(stat -c %s "$software")" -lt "$min_bytes" ]; do
    python3 "$gen" filler "$first" "$first" 20000 >"$work/filler.reg"
    hivexregedit --merge "$software" "$work/filler.reg"
    first=$((first + 20000))
  done
  python3 "$fixtures/make_hive.py" "$system"
  python3 "$gen" system 1 >"$work/system.reg"
  hivexregedit --merge "$system" "$work/system.reg"
  local kes="Kaspersky Endpoint Security for Windows"
  for d in klif klflt klhk; do
    sh "$fixtures/make_pe.sh" "$root/Windows/System32/drivers/$d.sys" "AO Kaspersky Lab" 21.3.10.391 "$d" "$kes"
  done
  mkdir -p "$root/Program Files (x86)/Kaspersky Lab/$kes" "$root/ProgramData/Kaspersky Lab/AVP21.3"
  sh "$fixtures/make_pe.sh" --pe32 "$root/Program Files (x86)/Kaspersky Lab/$kes/avp.exe" "AO Kaspersky Lab" \
    21.3.10.391 "Kaspersky Endpoint Security Service" "$kes"
  rm -f "$work"/*.reg
  touch "$work/complete"
}

mkdir -p "$work"
if [ ! -f "$work/complete" ]; then
  echo "windows_scan_bench: building the fixture root in $work (once)" >&2
  build_root
fi

scan=("$agent" scan --root "$root")
floor=(hivexsh -f "$floor_script" "$software")

# Peak RssAnon and RssFile in KiB of one run of "$@", sampled from /proc/PID/status as fast as Python can (a few
# tens of microseconds apart): maxrss counts the hive's mapped file pages, which are clean page cache the kernel can
# take back, not memory the process allocated.
rss_split_kib() {
  python3 - "$@" <<'PY'
import subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
anon = file = 0
while p.poll() is None:
    try:
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = max(anon, int(line.split()[1]))
                elif line.startswith("RssFile:"):
                    file = max(file, int(line.split()[1]))
    except OSError:
        break
print(anon, file)
PY
}

# Both must work, and find what is there, before they are timed.
first=$("${scan[@]}")
grep -q '^kes  *INSTALLED' <<<"$first" || { echo "windows_scan_bench: the scan did not find KES" >&2; exit 2; }
entries=$("${floor[@]}" | grep -c '^Fleet Application\|^Kaspersky' || true)
[ "$entries" -ge 300 ] || { echo "windows_scan_bench: hivexsh read $entries DisplayNames" >&2; exit 2; }

for _ in 1 2; do
  wall_us "${scan[@]}" >/dev/null
  wall_us "${floor[@]}" >/dev/null
done
scan_t=() floor_t=() scan_m=() floor_m=()
for ((i = 0; i < runs; i++)); do
  scan_t+=("$(wall_us "${scan[@]}")")
  floor_t+=("$(wall_us "${floor[@]}")")
done
for ((i = 0; i < runs; i++)); do
  scan_m+=("$(rss_kib "${scan[@]}")")
  floor_m+=("$(rss_kib "${floor[@]}")")
done
scan_anon=() scan_file=() floor_anon=() floor_file=()
for ((i = 0; i < runs; i++)); do
  read -r a f < <(rss_split_kib "${scan[@]}")
  scan_anon+=("$a") scan_file+=("$f")
  read -r a f < <(rss_split_kib "${floor[@]}")
  floor_anon+=("$a") floor_file+=("$f")
done

probe_lines=$(mktemp)
trap 'rm -f "$probe_lines"' EXIT
for ((i = 0; i < runs; i++)); do
  "${scan[@]}" --json | tr -d ' ,"' | awk -F: '
    $1 == "name" { name = $2 }
    $1 == "durationUs" { print name, $2 }'
done >"$probe_lines"

scan_med=$(col "${scan_t[@]}" | median)
floor_med=$(col "${floor_t[@]}" | median)
scan_rss=$(col "${scan_m[@]}" | maximum)
floor_rss=$(col "${floor_m[@]}" | maximum)
ratio=$(awk -v a="$scan_med" -v b="$floor_med" 'BEGIN { printf "%.2f", a / b }')
rss_ratio=$(awk -v a="$scan_rss" -v b="$floor_rss" 'BEGIN { printf "%.2f", a / b }')
wall_ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 2.0) ? "met" : "MISSED" }')
rss_ok=$(awk -v k="$scan_rss" 'BEGIN { print (k <= 32 * 1024) ? "met" : "MISSED" }')
hive_mib=$(mib $(( $(stat -c %s "$software") / 1024 )))
keys=$(grep -c '^cd ' "$floor_script")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")

cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, $os, kernel $(uname -r);
agent $("$agent" --version | awk '{print $2}'), hivex $(dpkg-query -W -f='${Version}' libhivex0 2>/dev/null || echo '?').
SOFTWARE hive $hive_mib MiB (501 Uninstall entries in the two views, COM class filler), SYSTEM with 424 services.

Command: \`bench/windows_scan_bench.sh $agent $runs\` ($runs timed runs of each, alternating, after 2 warm-ups).

| command | median wall | min | max | peak RSS (max of $runs) |
|---|---|---|---|---|
| \`ksweep-agent scan --root\` | $(ms "$scan_med") ms | $(ms "$(col "${scan_t[@]}" | minimum)") ms | $(ms "$(col "${scan_t[@]}" | maximum)") ms | $(mib "$scan_rss") MiB ($scan_rss KiB) |
| \`hivexsh -f\` ($keys cd + ls/lsval of the Uninstall entries) | $(ms "$floor_med") ms | $(ms "$(col "${floor_t[@]}" | minimum)") ms | $(ms "$(col "${floor_t[@]}" | maximum)") ms | $(mib "$floor_rss") MiB ($floor_rss KiB) |

What the peak RSS is made of (max over $runs runs, sampled from \`/proc/PID/status\`): the agent's RssAnon (memory it
allocated) $(mib "$(col "${scan_anon[@]}" | maximum)") MiB and RssFile (mapped file pages: the binary, a hive when it is mapped)
$(mib "$(col "${scan_file[@]}" | maximum)") MiB; hivexsh's $(mib "$(col "${floor_anon[@]}" | maximum)") MiB and $(mib "$(col "${floor_file[@]}" | maximum)") MiB.

Ratio scan / floor (medians): **${ratio}x** (goal <= 2x: $wall_ok). Peak RSS: **$(mib "$scan_rss") MiB**, ${rss_ratio}x the
floor's (goal <= 32 MiB: $rss_ok).

Per-probe time inside the scan (median of $runs \`scan --json\` runs, the probe's own \`durationUs\`):

| probe | median |
|---|---|
EOF
for p in $(awk '{print $1}' "$probe_lines" | sort -u); do
  printf '| %s | %s ms |\n' "$p" "$(ms "$(awk -v p="$p" '$1 == p { print $2 }' "$probe_lines" | median)")"
done
