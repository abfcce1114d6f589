#!/usr/bin/env bash
# Builds transparentsocks_VERSION_amd64.deb with dpkg-deb: the NativeAOT daemon and CLI, the unit, the sysusers.d
# user, the shipped config as a conffile, man pages and the maintainer scripts in packaging/debian/.
#
#   packaging/build-deb.sh [OUTPUT_DIR]        (default: artifacts/deb)
#
# ARTIFACTS_PATH keeps dotnet's intermediate files apart from other builds on the same tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=${VERSION:-0.1.0-1}
DOTNET=${DOTNET:-dotnet}
OUT=$(mkdir -p "${1:-artifacts/deb}" && cd "${1:-artifacts/deb}" && pwd)
ARTIFACTS_PATH=${ARTIFACTS_PATH:-$OUT/obj}
PUBLISH=$OUT/publish
STAGE=$OUT/root
DEB=$OUT/transparentsocks_${VERSION}_amd64.deb

for tool in dpkg-deb dpkg-shlibdeps clang gzip strip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (make deps installs it)" >&2; exit 1; }
done

rm -rf "$PUBLISH" "$STAGE"
for project in Daemon Cli; do
  "$DOTNET" publish "src/TransparentSocks.$project" -c Release -r linux-x64 \
    --artifacts-path "$ARTIFACTS_PATH" -o "$PUBLISH" -p:DebugType=none -p:StripSymbols=true
done

install -d "$STAGE/DEBIAN" "$STAGE/usr/sbin" "$STAGE/usr/bin" "$STAGE/usr/lib/transparentsocks" \
  "$STAGE/lib/systemd/system" "$STAGE/usr/lib/sysusers.d" "$STAGE/usr/lib/tmpfiles.d" "$STAGE/etc/transparentsocks" \
  "$STAGE/usr/share/man/man8" "$STAGE/usr/share/man/man1" "$STAGE/usr/share/doc/transparentsocks"

# Mono.Posix loads libMonoPosixHelper.so from the executable's directory (the symlink is resolved), so the daemon
# lives beside it in a private directory and /usr/sbin holds a link.
install -m 0755 "$PUBLISH/transparentsocksd" "$STAGE/usr/lib/transparentsocks/transparentsocksd"
install -m 0644 "$PUBLISH/libMonoPosixHelper.so" "$STAGE/usr/lib/transparentsocks/libMonoPosixHelper.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/lib/transparentsocks/libMonoPosixHelper.so"
ln -s ../lib/transparentsocks/transparentsocksd "$STAGE/usr/sbin/transparentsocksd"
install -m 0755 "$PUBLISH/transparentsocks" "$STAGE/usr/bin/transparentsocks"

install -m 0644 systemd/transparentsocks.service "$STAGE/lib/systemd/system/transparentsocks.service"
install -m 0644 systemd/transparentsocks.socket "$STAGE/lib/systemd/system/transparentsocks.socket"
install -m 0644 systemd/transparentsocks.sysusers "$STAGE/usr/lib/sysusers.d/transparentsocks.conf"
install -m 0644 systemd/transparentsocks.tmpfiles "$STAGE/usr/lib/tmpfiles.d/transparentsocks.conf"
install -m 0644 packaging/transparentsocks.json "$STAGE/etc/transparentsocks/config.json"
gzip -9n < packaging/man/transparentsocksd.8 > "$STAGE/usr/share/man/man8/transparentsocksd.8.gz"
gzip -9n < packaging/man/transparentsocks.1 > "$STAGE/usr/share/man/man1/transparentsocks.1.gz"
install -m 0644 packaging/debian/copyright "$STAGE/usr/share/doc/transparentsocks/copyright"
sed "s/@VERSION@/$VERSION/" packaging/debian/changelog | gzip -9n > "$STAGE/usr/share/doc/transparentsocks/changelog.Debian.gz"
chmod 0644 "$STAGE"/usr/share/man/man*/*.gz "$STAGE/usr/share/doc/transparentsocks/changelog.Debian.gz"

for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/transparentsocks/config.json > "$STAGE/DEBIAN/conffiles"

# The libraries the binaries link against, with the versions their symbols need, as Debian computes them.
shlibs_dir=$(mktemp -d)
trap 'rm -rf "$shlibs_dir"' EXIT
mkdir "$shlibs_dir/debian"
printf 'Source: transparentsocks\n\nPackage: transparentsocks\nArchitecture: amd64\n' > "$shlibs_dir/debian/control"
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O \
  "$STAGE/usr/lib/transparentsocks/transparentsocksd" \
  "$STAGE/usr/lib/transparentsocks/libMonoPosixHelper.so" \
  "$STAGE/usr/bin/transparentsocks" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" packaging/debian/control > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$STAGE/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
