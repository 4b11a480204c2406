#!/usr/bin/env bash
# The .deb packages in a throw-away Debian 12 root, installed by apt from a signed repository made by
# scripts/make-repos.sh: install (files, modes, unit enabled, not started unconfigured), the static agent scans that
# root, `configure`, upgrade to a newer revision (state and config kept), remove (state kept), purge (nothing left:
# the root's file list equals the one before the install), debconf preseeding of the collector address. Then the
# collector package the same way. Last, the same agent binary runs in a Debian 11 root (an older glibc; the binary
# uses none of the root's libraries).
#   deb_test.sh SOURCE_DIR PACKAGES_DIR     (PACKAGES_DIR from build_packages.sh)
. "$(dirname "$0")/lib.sh"
SRC=$1
PKGS=$2
need_root
need_tool mmdebstrap
need_tool apt-ftparchive
need_tool gpg
need_tool unshare
need_tool systemctl

tmp=$(mktemp -d /tmp/ksweep-deb-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ROOT=$tmp/root
mkdir -p "$ROOT"
# libre2-9: the one library the collector links dynamically that minbase lacks (the root has no Debian mirror).
tar -C "$ROOT" -xf "$(debian_root_tarball bookworm libre2-9)"
pass "Debian 12 root ready"

# The root sees only our repository: the test needs no network once the root is cached, and apt must verify the
# signature made with the repository's own (throw-away) key.
publish() {  # publish REVISION...: a repository holding the agent and collector .debs of these revisions
  local repo=$tmp/repo
  rm -rf "$repo"
  local debs=()
  for rel in "$@"; do debs+=("$PKGS"/r$rel/*.deb); done
  "$SRC/scripts/make-repos.sh" --out "$repo" --throwaway-key "${debs[@]}" >/dev/null
  rm -rf "$ROOT/srv/ksweep"
  mkdir -p "$ROOT/srv/ksweep"
  cp -a "$repo/apt/." "$ROOT/srv/ksweep/"
  install -m 0644 "$repo/apt/ksweep-archive-keyring.gpg" "$ROOT/usr/share/keyrings/ksweep-archive-keyring.gpg"
}
rm -f "$ROOT/etc/apt/sources.list"
cat > "$ROOT/etc/apt/sources.list.d/ksweep.sources" <<'EOF'
Types: deb
URIs: file:/srv/ksweep
Suites: stable
Components: main
Signed-By: /usr/share/keyrings/ksweep-archive-keyring.gpg
EOF
apt_in_root() {
  DEBIAN_FRONTEND=noninteractive in_root "$ROOT" apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log" >&2; fail "apt-get $*"; }
}
# Everything but the package manager's own bookkeeping and shadow's backups (/etc/passwd- and the like, which every
# useradd/userdel rewrites), to compare before the install and after the purge; the user databases by content.
root_listing() {
  (cd "$ROOT" && find . -xdev \( -path ./var/lib/apt -o -path ./var/cache -o -path ./var/lib/dpkg -o -path ./var/log \
    -o -path ./srv -o -path ./proc -o -path ./tmp -o -path './etc/*-' \) -prune -o -printf '%p %M %u %g\n' | sort)
  cat "$ROOT/etc/passwd" "$ROOT/etc/group" "$ROOT/etc/shadow" "$ROOT/etc/gshadow"
}

publish 1
apt_in_root update
# A repository signed by another key is refused: the signature is really checked.
cp "$ROOT/usr/share/keyrings/ksweep-archive-keyring.gpg" "$tmp/good-key.gpg"
mkdir -m 0700 "$tmp/otherkey"
GNUPGHOME=$tmp/otherkey gpg --batch --quiet --passphrase '' --quick-generate-key "other <o@invalid>" ed25519 sign 1d
GNUPGHOME=$tmp/otherkey gpg --batch --export > "$ROOT/usr/share/keyrings/ksweep-archive-keyring.gpg"
gpgconf --homedir "$tmp/otherkey" --kill all >/dev/null 2>&1 || true
if in_root "$ROOT" apt-get -q update -o Dpkg::Use-Pty=0 >"$tmp/apt-bad.log" 2>&1 &&
   ! grep -qE "NO_PUBKEY|not signed|EXPKEYSIG|BADSIG" "$tmp/apt-bad.log"; then
  cat "$tmp/apt-bad.log" >&2; fail "apt accepted the repository with the wrong key"
fi
pass "apt refuses the repository under another key"
cp "$tmp/good-key.gpg" "$ROOT/usr/share/keyrings/ksweep-archive-keyring.gpg"
apt_in_root update
before=$(root_listing)

# --- install -----------------------------------------------------------------------------------------------------
apt_in_root install ksweep-agent
expect_grep "not configured yet|Setting up ksweep-agent" "$tmp/apt.log"
[ "$(in_root "$ROOT" dpkg-query -W -f='${Version}' ksweep-agent)" = "0.1.0-1" ] || fail "ksweep-agent 0.1.0-1 not installed"
pass "apt installed ksweep-agent 0.1.0-1 from the signed repository"
expect_mode "$ROOT/usr/bin/ksweep-agent" 755 0:0
expect_mode "$ROOT/usr/lib/systemd/system/ksweep-agent.service" 644 0:0
expect_mode "$ROOT/var/lib/ksweep/agent" 700 0:0
expect_mode "$ROOT/etc/ksweep" 755 0:0
expect_absent "$ROOT/etc/ksweep/agent.conf"
wants=$ROOT/etc/systemd/system/multi-user.target.wants/ksweep-agent.service
# deb-systemd-helper links to /lib/systemd/system/..., the same file on a merged-/usr system.
case "$(readlink "$wants")" in
  /lib/systemd/system/ksweep-agent.service|/usr/lib/systemd/system/ksweep-agent.service) ;;
  *) fail "$wants: '$(readlink "$wants")' is not a link to the unit" ;;
esac
[ -f "$ROOT$(readlink "$wants")" ] || fail "$wants: dangling"
state=$(systemctl --root="$ROOT" is-enabled ksweep-agent.service || true)
[ "$state" = "enabled" ] || fail "systemctl --root is-enabled: '$state', expected enabled"
pass "unit enabled"

# The binary runs inside the root (no library of the root involved) and scans it.
v=$(in_root "$ROOT" ksweep-agent --version)
[ "$v" = "ksweep-agent 0.1.0" ] || fail "ksweep-agent --version printed '$v'"
in_root "$ROOT" ksweep-agent scan --json >"$tmp/scan.json" 2>"$tmp/scan.err" || { cat "$tmp/scan.err" >&2; fail "scan in the root"; }
expect_grep '"verdict": "VERDICT_CLEAN"' "$tmp/scan.json"
expect_grep 'bookworm|Debian GNU/Linux 12' "$tmp/scan.json"
pass "the installed agent scans the Debian 12 root: clean"

# --- configure, then state the daemon would have written -------------------------------------------------------
in_root "$ROOT" ksweep-agent configure --server collector.example.org:7443 >/dev/null
expect_mode "$ROOT/etc/ksweep/agent.conf" 644 0:0
expect_grep '^server = collector.example.org:7443$' "$ROOT/etc/ksweep/agent.conf"
echo "identity-and-sequence-$$" > "$ROOT/var/lib/ksweep/agent/state-marker"

# --- upgrade -----------------------------------------------------------------------------------------------------
publish 1 2
apt_in_root update
apt_in_root install ksweep-agent
[ "$(in_root "$ROOT" dpkg-query -W -f='${Version}' ksweep-agent)" = "0.1.0-2" ] || fail "not upgraded to 0.1.0-2"
pass "upgraded to 0.1.0-2"
[ "$(cat "$ROOT/var/lib/ksweep/agent/state-marker")" = "identity-and-sequence-$$" ] || fail "state lost on upgrade"
expect_mode "$ROOT/var/lib/ksweep/agent" 700 0:0
expect_grep '^server = collector.example.org:7443$' "$ROOT/etc/ksweep/agent.conf"
[ "$(systemctl --root="$ROOT" is-enabled ksweep-agent.service)" = "enabled" ] || fail "unit not enabled after upgrade"
pass "upgrade keeps /var/lib/ksweep/agent, agent.conf and the enabled unit"

# --- remove, purge -----------------------------------------------------------------------------------------------
apt_in_root remove ksweep-agent
expect_absent "$ROOT/usr/bin/ksweep-agent"
# As debhelper does: the unit is masked and its enablement kept until purge (a reinstall keeps the admin's choice).
[ "$(readlink "$ROOT/etc/systemd/system/ksweep-agent.service")" = "/dev/null" ] || fail "remove did not mask the unit"
[ -f "$ROOT/var/lib/ksweep/agent/state-marker" ] || fail "remove deleted the state (only purge may)"
[ -f "$ROOT/etc/ksweep/agent.conf" ] || fail "remove deleted agent.conf (only purge may)"
status=$(in_root "$ROOT" dpkg-query -W -f='${db:Status-Abbrev}' ksweep-agent)
[ "${status% }" = "rc" ] || fail "after remove: dpkg status '$status', expected rc"
pass "remove keeps state and configuration"
apt_in_root purge ksweep-agent
expect_absent "$ROOT/var/lib/ksweep"
expect_absent "$ROOT/etc/ksweep"
expect_absent "$ROOT/etc/systemd/system/ksweep-agent.service"
expect_absent "$wants"
after=$(root_listing)
if [ "$before" != "$after" ]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "purge left files behind (diff above: < before install, > after purge)"
fi
pass "purge leaves the root as it was before the install"

# --- debconf preseeding: an unattended install that comes up configured ------------------------------------------
echo "ksweep-agent ksweep-agent/server string preseeded.example.org:7443" | in_root "$ROOT" debconf-set-selections
apt_in_root install ksweep-agent
expect_grep '^server = preseeded.example.org:7443$' "$ROOT/etc/ksweep/agent.conf"
expect_grep '^state-dir = /var/lib/ksweep/agent$' "$ROOT/etc/ksweep/agent.conf"
pass "a preseeded collector address configures the agent at install"
apt_in_root purge ksweep-agent
in_root "$ROOT" debconf-show ksweep-agent > "$tmp/debconf.txt" 2>&1 || true
if grep -q "ksweep-agent/server" "$tmp/debconf.txt"; then fail "purge left the debconf answer"; fi
[ "$before" = "$(root_listing)" ] || { diff <(echo "$before") <(root_listing) >&2 || true; fail "purge after preseeding left files"; }
pass "purge forgets the debconf answer and leaves nothing"

# --- collector ---------------------------------------------------------------------------------------------------
apt_in_root install ksweep-collector
uid=$(in_root "$ROOT" id -u ksweep) || fail "no ksweep user"
gid=$(in_root "$ROOT" id -g ksweep)
[ "$uid" -lt 1000 ] || fail "ksweep user uid $uid is not a system uid"
expect_mode "$ROOT/usr/bin/ksweep-collector" 755 0:0
expect_mode "$ROOT/usr/bin/ksweep" 755 0:0
expect_mode "$ROOT/var/lib/ksweep/collector" 750 "$uid:$gid"
expect_mode "$ROOT/etc/ksweep/collector.conf" 644 0:0
in_root "$ROOT" dpkg-query -W -f='${Conffiles}\n' ksweep-collector | grep -q '/etc/ksweep/collector.conf' ||
  fail "collector.conf is not a conffile"
[ "$(systemctl --root="$ROOT" is-enabled ksweep-collector.service)" = "enabled" ] || fail "collector unit not enabled"
pass "ksweep-collector installed: user, data folder, conffile, unit enabled"
# The packaged config starts a working collector as the service user; the CLI reaches its API.
in_root "$ROOT" sh -c '
  setpriv --reuid=ksweep --regid=ksweep --clear-groups ksweep-collector serve --config /etc/ksweep/collector.conf \
    --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 --insecure 2>/tmp/collector.log &
  pid=$!
  for i in $(seq 1 100); do
    [ -s /var/lib/ksweep/collector/collector.ports ] && break
    sleep 0.1
  done
  api=$(sed -n "s/^api_listen=//p" /var/lib/ksweep/collector/collector.ports)
  [ -n "$api" ] || { cat /tmp/collector.log; exit 1; }
  ksweep --server "$api" --insecure summary
  rc=$?
  kill $pid; wait $pid
  exit $rc' >"$tmp/collector-run.log" 2>&1 || { cat "$tmp/collector-run.log" >&2; fail "collector from the package did not serve"; }
pass "the packaged collector serves (as user ksweep) and the CLI reads its summary"
# Upgrade keeps the database, purge removes database, user and config.
db_marker=$ROOT/var/lib/ksweep/collector/ksweep.db
[ -s "$db_marker" ] || fail "$db_marker: the collector wrote no database"
sum=$(sha256sum < "$db_marker")
apt_in_root install ksweep-collector
[ "$(in_root "$ROOT" dpkg-query -W -f='${Version}' ksweep-collector)" = "0.1.0-2" ] || fail "collector not upgraded"
[ "$(sha256sum < "$db_marker")" = "$sum" ] || fail "upgrade changed the collector database"
pass "collector upgrade keeps the database"
apt_in_root purge ksweep-collector
if in_root "$ROOT" id ksweep >/dev/null 2>&1; then fail "purge left the ksweep user"; fi
after=$(root_listing)
if [ "$before" != "$after" ]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "collector purge left files behind (diff above)"
fi
pass "collector purge leaves the root as it was"

# --- an older distribution ---------------------------------------------------------------------------------------
OLD=$tmp/bullseye
mkdir -p "$OLD"
tar -C "$OLD" -xf "$(debian_root_tarball bullseye)"
dpkg-deb -x "$PKGS"/r1/ksweep-agent_*.deb "$tmp/agent-files"
cp "$tmp/agent-files/usr/bin/ksweep-agent" "$OLD/usr/local/bin/"
in_root "$OLD" ldd --version > "$tmp/ldd-old.txt" && head -1 "$tmp/ldd-old.txt"
in_root "$OLD" ksweep-agent scan --json >"$tmp/scan-old.json" 2>"$tmp/scan-old.err" ||
  { cat "$tmp/scan-old.err" >&2; fail "the agent does not run in Debian 11"; }
expect_grep 'bullseye|Debian GNU/Linux 11' "$tmp/scan-old.json"
pass "the same agent binary scans a Debian 11 root (glibc 2.31)"
