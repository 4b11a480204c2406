# Shared by the packaging tests (sourced). Every check prints what it expected and what it found, and the test stops
# at the first failure. The tests change nothing outside their temp folder and ~/.cache/ksweep.
set -euo pipefail

SKIP=77  # ctest SKIP_RETURN_CODE

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
need_root() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (chroot, package managers in a throw-away root)"; exit "$SKIP"; fi
}
need_tool() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' not found: scripts/setup.sh installs it"
}

# expect_mode PATH MODE [OWNER:GROUP]   (owner names as seen from the host; numeric ids are compared)
expect_mode() {
  local path=$1 mode=$2 owner=${3:-}
  [ -e "$path" ] || [ -L "$path" ] || fail "$path: missing"
  local got
  got=$(stat -c %a "$path")
  [ "$got" = "$mode" ] || fail "$path: mode $got, expected $mode"
  if [ -n "$owner" ]; then
    got=$(stat -c %u:%g "$path")
    [ "$got" = "$owner" ] || fail "$path: owner $got, expected $owner"
  fi
  pass "$path mode $mode${owner:+ owner $owner}"
}
expect_absent() {
  [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1: still present"
  pass "$1 absent"
}
expect_grep() {  # expect_grep PATTERN FILE
  grep -qE -- "$1" "$2" || { echo "--- $2:" >&2; cat "$2" >&2; fail "$2: no line matching '$1'"; }
  pass "$2 has '$1'"
}

# A minimal Debian root for SUITE (plus the packages INCLUDE, comma-separated) as a tarball, bootstrapped once with
# mmdebstrap from the Debian mirror and cached under ~/.cache/ksweep (a rerun takes seconds). Prints the tarball's
# path. Concurrent tests wait on a lock.
debian_root_tarball() {
  local suite=$1 include=${2:-} mirror=http://deb.debian.org/debian
  local cache=${KSWEEP_CACHE_DIR:-$HOME/.cache/ksweep}
  local tarball=$cache/debian-$suite-minbase${include:+-${include//,/-}}.tar
  mkdir -p "$cache"
  (
    flock 9
    if [ ! -s "$tarball" ]; then
      echo "bootstrapping a minimal Debian $suite root (cached in $tarball)" >&2
      # mmdebstrap picks the output format from the name: the temp file must end in .tar too.
      local tmp=${tarball%.tar}.partial.tar
      mmdebstrap --quiet --variant=minbase --mode=root --format=tar ${include:+--include="$include"} "$suite" \
        "$tmp" "$mirror" >&2 || { rm -rf "$tmp"; exit 1; }
      mv "$tmp" "$tarball"
    fi
  ) 9>"$tarball.lock" || fail "mmdebstrap of Debian $suite failed (needs the Debian mirror once)"
  echo "$tarball"
}

# in_root ROOT CMD...: runs CMD chrooted in ROOT with its own /proc, in a private mount and pid namespace so nothing
# stays mounted and no process outlives the command.
in_root() {
  local root=$1; shift
  unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root" "$@"
}
