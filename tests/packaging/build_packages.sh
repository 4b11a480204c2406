#!/usr/bin/env bash
# Fixture for the packaging tests: builds the four packages twice with CPack from the build folder, as package
# revision 1 and 2 of the same version (the second is the "newer version" the upgrade tests install over the first),
# into OUT/r1 and OUT/r2, then prints their sizes.
#   build_packages.sh BUILD_DIR OUT
. "$(dirname "$0")/lib.sh"
BUILD=$1
OUT=$2
need_tool cpack
need_tool dpkg-shlibdeps
need_tool rpmbuild
rm -rf "$OUT"
mkdir -p "$OUT"
for rel in 1 2; do
  # -D overrides CPackConfig.cmake; cpack only installs and packs (the binaries are built before ctest runs).
  cpack --config "$BUILD/CPackConfig.cmake" -B "$OUT/r$rel" \
    -D CPACK_DEBIAN_PACKAGE_RELEASE=$rel -D CPACK_RPM_PACKAGE_RELEASE=$rel >"$OUT/cpack-r$rel.log" 2>&1 ||
    { cat "$OUT/cpack-r$rel.log" >&2; fail "cpack (revision $rel) failed"; }
  rm -rf "$OUT/r$rel/_CPack_Packages"
done
for f in "$OUT"/r1/*.deb "$OUT"/r1/*.rpm; do
  printf '%s\t%s KiB\n' "$(basename "$f")" $(( $(stat -c %s "$f") / 1024 ))
done
n=$(ls "$OUT"/r1/*.deb "$OUT"/r1/*.rpm "$OUT"/r2/*.deb "$OUT"/r2/*.rpm | wc -l)
[ "$n" -eq 8 ] || fail "expected 8 packages (2 revisions x agent, collector x deb, rpm), found $n"
pass "8 packages built"
