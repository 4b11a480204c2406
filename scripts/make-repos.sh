#!/usr/bin/env bash
# Builds a signed apt repository and a signed yum/dnf repository from ksweep .deb and .rpm packages.
#
#   scripts/make-repos.sh --out DIR --signing-key KEY.asc [--passphrase-file FILE] PACKAGE...
#   scripts/make-repos.sh --out DIR --throwaway-key PACKAGE...        (tests: a fresh key nobody keeps)
#
# KEY.asc is an exported OpenPGP secret key (gpg --export-secret-keys --armor ID). It is imported into a temporary
# GNUPGHOME that is deleted on exit: the caller's keyring is never read or changed.
# Adding packages to an existing --out keeps the ones already there (apt and dnf then offer the newest version).
#
# Output (publish DIR as is, over HTTPS):
#   DIR/apt/                          dists/stable/{InRelease,Release,Release.gpg}, pool/main/...
#   DIR/apt/ksweep-archive-keyring.gpg  public key for apt's Signed-By
#   DIR/rpm/                          *.rpm (signed), repodata/ (repomd.xml.asc signed)
#   DIR/rpm/RPM-GPG-KEY-ksweep          public key for dnf/yum/zypper
#   DIR/rpm/ksweep.repo                 repo file template (edit baseurl)
# Needs: apt-utils (apt-ftparchive), gnupg, createrepo-c, rpm (rpmsign), dpkg-dev.
set -euo pipefail

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

OUT=""
KEY_FILE=""
PASS_FILE=""
THROWAWAY=0
SUITE=stable
PACKAGES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --signing-key) KEY_FILE=$2; shift 2 ;;
    --passphrase-file) PASS_FILE=$2; shift 2 ;;
    --throwaway-key) THROWAWAY=1; shift ;;
    --suite) SUITE=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "make-repos: unknown option '$1'" >&2; usage ;;
    *) PACKAGES+=("$1"); shift ;;
  esac
done
[ -n "$OUT" ] || { echo "make-repos: --out DIR is required" >&2; usage; }
if [ "$THROWAWAY" -eq 1 ] && [ -n "$KEY_FILE" ]; then
  echo "make-repos: give --signing-key or --throwaway-key, not both" >&2; exit 2
fi
if [ "$THROWAWAY" -eq 0 ] && [ -z "$KEY_FILE" ]; then
  echo "make-repos: a signing key is required (--signing-key KEY.asc, or --throwaway-key for tests)" >&2; exit 2
fi
[ -z "$KEY_FILE" ] || [ -r "$KEY_FILE" ] || { echo "make-repos: cannot read signing key '$KEY_FILE'" >&2; exit 2; }
[ -z "$PASS_FILE" ] || [ -r "$PASS_FILE" ] || { echo "make-repos: cannot read passphrase file '$PASS_FILE'" >&2; exit 2; }
[ ${#PACKAGES[@]} -gt 0 ] || { echo "make-repos: no packages given" >&2; usage; }
for p in "${PACKAGES[@]}"; do
  case "$p" in
    *.deb|*.rpm) [ -r "$p" ] || { echo "make-repos: cannot read package '$p'" >&2; exit 2; } ;;
    *) echo "make-repos: '$p' is neither a .deb nor a .rpm" >&2; exit 2 ;;
  esac
done

GNUPGHOME=$(mktemp -d)
export GNUPGHOME
cleanup() {
  gpgconf --kill all >/dev/null 2>&1 || true
  rm -rf "$GNUPGHOME"
}
trap cleanup EXIT

GPG=(gpg --batch --quiet --no-tty --pinentry-mode loopback)
if [ -n "$PASS_FILE" ]; then
  GPG+=(--passphrase-file "$PASS_FILE")
else
  GPG+=(--passphrase "")
fi

if [ "$THROWAWAY" -eq 1 ]; then
  "${GPG[@]}" --quick-generate-key "ksweep test repository (throw-away) <ksweep-test@invalid>" ed25519 sign 1d
else
  "${GPG[@]}" --import "$KEY_FILE"
fi
KEY_ID=$(gpg --batch --quiet --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
[ -n "$KEY_ID" ] || { echo "make-repos: no secret key found in the signing key" >&2; exit 2; }

mkdir -p "$OUT/apt" "$OUT/rpm"
OUT=$(cd "$OUT" && pwd)

debs=()
rpms=()
for p in "${PACKAGES[@]}"; do
  case "$p" in
    *.deb) debs+=("$p") ;;
    *.rpm) rpms+=("$p") ;;
  esac
done

# --- apt -------------------------------------------------------------------------------------------------------------
if [ ${#debs[@]} -gt 0 ]; then
  for d in "${debs[@]}"; do
    name=$(dpkg-deb --field "$d" Package)
    dir="$OUT/apt/pool/main/${name:0:1}/$name"
    mkdir -p "$dir"
    cp -f "$d" "$dir/"
  done
  cd "$OUT/apt"
  archs=$(find pool -name '*.deb' -exec dpkg-deb --field {} Architecture \; | sort -u | grep -vx all | tr '\n' ' ')
  rm -rf "dists/$SUITE"
  for arch in $archs; do
    bin="dists/$SUITE/main/binary-$arch"
    mkdir -p "$bin"
    apt-ftparchive --arch "$arch" packages pool > "$bin/Packages"
    gzip -9nkf "$bin/Packages"
  done
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=ksweep \
    -o APT::FTPArchive::Release::Label=ksweep \
    -o "APT::FTPArchive::Release::Suite=$SUITE" \
    -o "APT::FTPArchive::Release::Codename=$SUITE" \
    -o "APT::FTPArchive::Release::Architectures=${archs% }" \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Description="ksweep packages" \
    release "dists/$SUITE" > "dists/$SUITE/Release.new"
  mv "dists/$SUITE/Release.new" "dists/$SUITE/Release"
  "${GPG[@]}" --local-user "$KEY_ID" --digest-algo SHA512 --clearsign \
    --output "dists/$SUITE/InRelease" "dists/$SUITE/Release"
  "${GPG[@]}" --local-user "$KEY_ID" --digest-algo SHA512 --armor --detach-sign \
    --output "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
  # apt's Signed-By takes a binary keyring (or an armored .asc): the binary form works with every apt since 1.1.
  gpg --batch --quiet --yes --export "$KEY_ID" > ksweep-archive-keyring.gpg
  cd - >/dev/null
  echo "make-repos: apt repository in $OUT/apt (suite $SUITE, ${archs% })"
fi

# --- yum/dnf ---------------------------------------------------------------------------------------------------------
if [ ${#rpms[@]} -gt 0 ]; then
  cp -f "${rpms[@]}" "$OUT/rpm/"
  gpg --batch --quiet --yes --armor --export "$KEY_ID" > "$OUT/rpm/RPM-GPG-KEY-ksweep"
  # Signs every package in the folder (re-signing one already signed by this key is harmless).
  extra="--batch --no-tty --pinentry-mode loopback"
  if [ -n "$PASS_FILE" ]; then extra+=" --passphrase-file $PASS_FILE"; else extra+=" --passphrase ''"; fi
  sign_args=(--define "__gpg $(command -v gpg)" --define "_gpg_name $KEY_ID" --define "_gpg_path $GNUPGHOME"
             --define "_gpg_digest_algo sha256" --define "_gpg_sign_cmd_extra_args $extra")
  rpmsign "${sign_args[@]}" --addsign "$OUT"/rpm/*.rpm >/dev/null
  createrepo_c --quiet --update "$OUT/rpm"
  "${GPG[@]}" --yes --local-user "$KEY_ID" --armor --detach-sign \
    --output "$OUT/rpm/repodata/repomd.xml.asc" "$OUT/rpm/repodata/repomd.xml"
  cat > "$OUT/rpm/ksweep.repo" <<EOF
[ksweep]
name=ksweep
baseurl=https://REPLACE-WITH-YOUR-HOST/ksweep/rpm
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=https://REPLACE-WITH-YOUR-HOST/ksweep/rpm/RPM-GPG-KEY-ksweep
EOF
  echo "make-repos: yum/dnf repository in $OUT/rpm"
fi
