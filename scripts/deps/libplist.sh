#!/usr/bin/env bash
# Builds libplist (XML and binary property lists, for the macOS probes) as a static archive from its Debian source
# package and prints the install prefix: <prefix>/include/plist/plist.h and <prefix>/lib/libplist-2.0.a.
#
# Why from source: Debian's libplist-dev ships only the shared library, and ksweep-agent is one static binary.
# The source comes through apt (`apt-get source`, checked against the signed Sources index) with a private sources
# list and private state under the cache folder: the machine's apt configuration is never changed.
#
# The prefix is ~/.cache/ksweep/libplist-<key> (or $KSWEEP_DEPS_CACHE/...), key = hash of this script, the source
# version and the extra compiler flags; when it exists the script only prints it. Progress goes to stderr.
#   KSWEEP_LIBPLIST_CFLAGS   extra C flags (e.g. -fsanitize=address for a sanitizer build: a separate prefix)
# Needs: dpkg-dev (dpkg-source), autoconf, automake, libtool, make, a C compiler (scripts/setup.sh installs them).
set -euo pipefail

SCRIPT=$(readlink -f "$0")
CACHE=${KSWEEP_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ksweep}
APT_DIR=$CACHE/apt-src
EXTRA_CFLAGS=${KSWEEP_LIBPLIST_CFLAGS:-}
# The same mirror as the machine's own sources (Debian 12's default deb.debian.org), bookworm main.
MIRROR=${KSWEEP_DEBIAN_MIRROR:-}
FETCH_ATTEMPTS=4
# Source indexes older than this are refreshed, so a Debian point release is picked up within a week.
LISTS_MAX_AGE_DAYS=7

log() { echo "libplist: $*" >&2; }

mirror_of_machine() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,etc}
exec 9>"$CACHE/libplist.lock"
flock 9  # two builds at once share one fetch and one build

[ -n "$MIRROR" ] || MIRROR=$(mirror_of_machine)
SOURCE_LINE="deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main"
if [ "$(cat "$APT_DIR/etc/sources.list" 2>/dev/null)" != "$SOURCE_LINE" ]; then
  rm -f "$APT_DIR"/lists/*_Sources* "$APT_DIR"/lists/*Release*  # another mirror's index says nothing of this one
  echo "$SOURCE_LINE" >"$APT_DIR/etc/sources.list"
fi
APT_OPTS=(-q -o "Dir::Etc::SourceList=$APT_DIR/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" -o APT::Sandbox::User=root)

update_lists() { apt-get "${APT_OPTS[@]}" update >&2; }
source_version() {
  apt-cache "${APT_OPTS[@]}" showsrc libplist 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -V | tail -1
}

have_lists=$(find "$APT_DIR/lists" -maxdepth 1 -name '*_Sources*' | head -1)
fresh_lists=$(find "$APT_DIR/lists" -maxdepth 1 -name '*_Sources*' -mtime -"$LISTS_MAX_AGE_DAYS" | head -1)
updated=""
if [ -z "$fresh_lists" ]; then
  log "refreshing the Debian source index ($MIRROR bookworm main)"
  if update_lists; then
    updated=1
  elif [ -z "$have_lists" ]; then
    log "cannot read the Debian source index from $MIRROR"
    exit 1
  fi
fi
VERSION=$(source_version)
if [ -z "$VERSION" ] && [ -z "$updated" ] && update_lists; then
  VERSION=$(source_version)
fi
if [ -z "$VERSION" ]; then
  log "no libplist source package in the index of $MIRROR bookworm main"
  exit 1
fi
KEY=$( (cat "$SCRIPT"; echo "$VERSION"; echo "$EXTRA_CFLAGS") | sha256sum | cut -c1-16)
PREFIX=$CACHE/libplist-$KEY
if [ -f "$PREFIX/.complete" ]; then
  echo "$PREFIX"
  exit 0
fi

log "building libplist $VERSION into $PREFIX"
WORK=$(mktemp -d "$CACHE/libplist-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Mirrors briefly serve an index ahead of its files (404s): refresh the index and try again.
fetched=""
for attempt in $(seq "$FETCH_ATTEMPTS"); do
  if (cd "$WORK" && apt-get "${APT_OPTS[@]}" source "libplist=$VERSION" >&2); then
    fetched=1
    break
  fi
  log "fetch attempt $attempt of $FETCH_ATTEMPTS failed"
  rm -rf "${WORK:?}"/*
  sleep $((attempt * 2))
  update_lists || true
  VERSION=$(source_version)
done
[ -n "$fetched" ] || { log "could not fetch the libplist source from $MIRROR"; exit 1; }

SRC=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'libplist-*' | head -1)
[ -n "$SRC" ] || { log "apt-get source unpacked nothing under $WORK"; exit 1; }
(
  cd "$SRC"
  # Only the C library: no Python bindings, no libplist++, no tools, no docs. PIC so that the test binaries (PIE)
  # can link the archive too.
  NOCONFIGURE=1 ./autogen.sh
  ./configure --prefix="$PREFIX" --disable-shared --enable-static --with-pic --without-cython \
    CFLAGS="-O2 -g $EXTRA_CFLAGS"
  make -C libcnary -j2
  make -C src -j2 libplist-2.0.la
) >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; log "build failed (log above)"; exit 1; }

STAGE=$WORK/prefix
mkdir -p "$STAGE/lib" "$STAGE/include/plist"
cp "$SRC/src/.libs/libplist-2.0.a" "$STAGE/lib/"
cp "$SRC/include/plist/plist.h" "$STAGE/include/plist/"
cp "$SRC/COPYING.LESSER" "$STAGE/"
echo "$VERSION" >"$STAGE/VERSION"
touch "$STAGE/.complete"
rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
log "done: $PREFIX"
echo "$PREFIX"
