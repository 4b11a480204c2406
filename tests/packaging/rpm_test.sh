#!/usr/bin/env bash
# The .rpm packages: metadata and scriptlets inspected with rpm -qp, the agent requires nothing beyond /bin/sh and
# rpmlib features every RPM distribution has; the signed repository make-repos.sh builds; then install, upgrade and
# erase with `rpm --root` in a throw-away root.
#
# The root is the cached minimal Debian 12 root: it has /bin/sh, coreutils and useradd for the scriptlets, but its
# rpm database is empty, so nothing there *provides* /bin/sh or /usr/sbin/useradd to rpm. --nodeps skips only that
# resolution; the requirements themselves are checked above with -qpR. No systemd runs in the root, so the
# scriptlets enable the unit (systemctl is absent there: skipped) and start nothing.
#   rpm_test.sh SOURCE_DIR PACKAGES_DIR
. "$(dirname "$0")/lib.sh"
SRC=$1
PKGS=$2
need_root
need_tool rpm
need_tool mmdebstrap
AGENT1=$(ls "$PKGS"/r1/ksweep-agent-*.rpm)
AGENT2=$(ls "$PKGS"/r2/ksweep-agent-*.rpm)
COLL1=$(ls "$PKGS"/r1/ksweep-collector-*.rpm)
COLL2=$(ls "$PKGS"/r2/ksweep-collector-*.rpm)

tmp=$(mktemp -d /tmp/ksweep-rpm-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# --- inspection ----------------------------------------------------------------------------------------------------
rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE} %{URL}\n' "$AGENT1" > "$tmp/meta"
expect_grep '^ksweep-agent 0\.1\.0 1 x86_64 Apache-2\.0 https?://' "$tmp/meta"
rpm -qpl "$AGENT1" > "$tmp/agent.files"
for f in /usr/bin/ksweep-agent /usr/lib/systemd/system/ksweep-agent.service /var/lib/ksweep/agent; do
  grep -qx "$f" "$tmp/agent.files" || { cat "$tmp/agent.files" >&2; fail "agent rpm lacks $f"; }
done
if grep -q lintian "$tmp/agent.files"; then fail "agent rpm carries the lintian overrides"; fi
pass "agent rpm: metadata and files"
rpm -qpR "$AGENT1" > "$tmp/agent.requires"
if grep -vE '^(/bin/sh|rpmlib\(.*\) <= .*)$' "$tmp/agent.requires"; then
  fail "the agent rpm requires more than /bin/sh and rpmlib features (above)"
fi
pass "agent rpm requires only /bin/sh and rpmlib features: $(tr '\n' ' ' < "$tmp/agent.requires")"
rpm -qp --scripts "$AGENT1" > "$tmp/agent.scripts"
expect_grep '^postinstall scriptlet' "$tmp/agent.scripts"
expect_grep '^preuninstall scriptlet' "$tmp/agent.scripts"
expect_grep '^postuninstall scriptlet' "$tmp/agent.scripts"
expect_grep 'systemctl --no-reload enable ksweep-agent.service' "$tmp/agent.scripts"
expect_grep 'try-restart ksweep-agent.service' "$tmp/agent.scripts"
rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$COLL1" > "$tmp/coll.modes"
expect_grep '^drwxr-x--- ksweep ksweep /var/lib/ksweep/collector$' "$tmp/coll.modes"
rpm -qpc "$COLL1" > "$tmp/coll.conf"
expect_grep '^/etc/ksweep/collector.conf$' "$tmp/coll.conf"
rpm -qpR "$COLL1" > "$tmp/coll.requires"
expect_grep '^/usr/sbin/useradd$' "$tmp/coll.requires"
pass "collector rpm: conffile, data folder owner, useradd requirement"

# --- the signed dnf repository from make-repos.sh ---------------------------------------------------------------------
"$SRC/scripts/make-repos.sh" --out "$tmp/repo" --throwaway-key "$AGENT1" "$COLL1" >/dev/null
[ -s "$tmp/repo/rpm/repodata/repomd.xml" ] || fail "make-repos.sh made no repodata"
grep -q 'ksweep-agent' "$tmp/repo/rpm/repodata/"*-primary.xml.gz 2>/dev/null ||
  zgrep -q 'ksweep-agent' "$tmp/repo/rpm/repodata/"*primary.xml* || fail "ksweep-agent not in the repository metadata"
gpg --batch --quiet --dearmor < "$tmp/repo/rpm/RPM-GPG-KEY-ksweep" > "$tmp/repo-key.gpg"
gpgv --quiet --keyring "$tmp/repo-key.gpg" "$tmp/repo/rpm/repodata/repomd.xml.asc" "$tmp/repo/rpm/repodata/repomd.xml" \
  2>/dev/null || fail "repomd.xml.asc does not verify with RPM-GPG-KEY-ksweep"
mkdir -p "$tmp/rpmdb"
if rpm --dbpath "$tmp/rpmdb" -K "$tmp/repo/rpm/$(basename "$AGENT1")" 2>&1 | grep -q 'signatures OK'; then
  fail "rpm -K accepted the signature without the key"
fi
rpm --dbpath "$tmp/rpmdb" --import "$tmp/repo/rpm/RPM-GPG-KEY-ksweep"
for p in "$tmp/repo/rpm/"*.rpm; do
  rpm --dbpath "$tmp/rpmdb" -K "$p" 2>/dev/null | grep -q 'digests signatures OK' || fail "$(basename "$p"): signature does not verify"
done
pass "make-repos.sh: repodata signed, packages signed, both verify with the exported key only"

# --- install, upgrade, erase in a throw-away root -------------------------------------------------------------------
ROOT=$tmp/root
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$(debian_root_tarball bookworm libre2-9)"
RPM=(rpm --root "$ROOT" --nodeps)
rpm --root "$ROOT" --initdb
"${RPM[@]}" -i "$AGENT1"
[ "$(rpm --root "$ROOT" -q ksweep-agent)" = "ksweep-agent-0.1.0-1.x86_64" ] || fail "agent rpm not installed"
expect_mode "$ROOT/usr/bin/ksweep-agent" 755 0:0
expect_mode "$ROOT/var/lib/ksweep/agent" 700 0:0
v=$(in_root "$ROOT" ksweep-agent --version)
[ "$v" = "ksweep-agent 0.1.0" ] || fail "installed agent printed '$v'"
pass "rpm --root installed the agent; it runs"
echo "identity-$$" > "$ROOT/var/lib/ksweep/agent/state-marker"
"${RPM[@]}" -U "$AGENT2"
[ "$(rpm --root "$ROOT" -q ksweep-agent)" = "ksweep-agent-0.1.0-2.x86_64" ] || fail "agent rpm not upgraded"
[ "$(cat "$ROOT/var/lib/ksweep/agent/state-marker")" = "identity-$$" ] || fail "upgrade lost the agent state"
pass "rpm -U keeps /var/lib/ksweep/agent"
"${RPM[@]}" -e ksweep-agent
expect_absent "$ROOT/usr/bin/ksweep-agent"
expect_absent "$ROOT/usr/lib/systemd/system/ksweep-agent.service"
[ -f "$ROOT/var/lib/ksweep/agent/state-marker" ] || fail "rpm -e deleted the agent state (kept by design)"
pass "rpm -e removes the agent and keeps its state"

"${RPM[@]}" -i "$COLL1"
in_root "$ROOT" id ksweep >/dev/null || fail "%pre did not create the ksweep user"
uid=$(in_root "$ROOT" id -u ksweep)
gid=$(in_root "$ROOT" id -g ksweep)
expect_mode "$ROOT/var/lib/ksweep/collector" 750 "$uid:$gid"
expect_mode "$ROOT/etc/ksweep/collector.conf" 644 0:0
echo "# admin edit" >> "$ROOT/etc/ksweep/collector.conf"
"${RPM[@]}" -U "$COLL2"
expect_grep '^# admin edit$' "$ROOT/etc/ksweep/collector.conf"
pass "collector rpm: user, data folder; upgrade keeps the edited conffile (noreplace)"
"${RPM[@]}" -e ksweep-collector
expect_absent "$ROOT/usr/bin/ksweep-collector"
expect_absent "$ROOT/usr/bin/ksweep"
[ -f "$ROOT/etc/ksweep/collector.conf.rpmsave" ] || fail "rpm -e did not save the edited conffile as .rpmsave"
pass "rpm -e removes the collector, saves the edited conffile"
