#!/usr/bin/env bash
# Builds op-dbus_VERSION_ARCH.deb: the binary (stripped), the schemas under /usr/share/op-dbus/schemas/, the
# man page op-dbus(1), bash completion, the boot units and the docs, with Depends worked out by dpkg-shlibdeps
# from the libraries the binary links.
#
# usage: scripts/package.sh [--build-dir DIR] [--output DIR] [--no-build]
#   --build-dir DIR  use (and build) this meson build directory; default build-release, set up as a release
#                    build on first use. Whatever its prefix, files are packaged under /usr.
#   --output DIR     where the .deb goes (default dist/); the path of the package is printed on stdout.
#   --no-build       package what the build directory already holds (it must have been built).
# DEBFULLNAME and DEBEMAIL, when set, fill the Maintainer field and the changelog entry.
# Needs: meson, ninja, dpkg-dev (dpkg-shlibdeps, dpkg-deb), help2man, binutils (all in scripts/install-deps.sh).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$SRC/build-release
OUT=$SRC/dist
NO_BUILD=0
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) BUILD=$(realpath -m "$2"); shift 2 ;;
    --output) OUT=$(realpath -m "$2"); shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument: $1 (see --help)" >&2; exit 1 ;;
  esac
done
for tool in meson ninja dpkg-shlibdeps dpkg-deb help2man strip; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

say() { echo "package.sh: $*" >&2; }

if [ ! -f "$BUILD/build.ninja" ]; then
  say "setting up a release build in $BUILD"
  meson setup "$BUILD" "$SRC" --buildtype=release --prefix=/usr -Dtests=false >&2
fi
if [ "$NO_BUILD" = 0 ]; then
  say "building"
  ninja -C "$BUILD" op-dbus >&2
fi
[ -x "$BUILD/op-dbus" ] || { echo "package.sh: $BUILD/op-dbus has not been built" >&2; exit 1; }

version=$(meson introspect "$BUILD" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
prefix=$(meson introspect "$BUILD" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
arch=$(dpkg --print-architecture)
# Debian's usual variables name who built the package; a local build without them says so.
maintainer="${DEBFULLNAME:-op-dbus local build} <${DEBEMAIL:-root@localhost}>"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/op-dbus

# Everything meson installs (binary, schemas, boot units), moved from the build's prefix to /usr.
DESTDIR=$WORK/install meson install -C "$BUILD" --no-rebuild --quiet >&2
mkdir -p "$STAGE/usr"
cp -a "$WORK/install$prefix/." "$STAGE/usr/"
# Units go where Debian keeps packaged units (/lib is /usr/lib on merged-/usr systems, and both work).
if [ -d "$STAGE/usr/lib/systemd/system" ]; then
  mkdir -p "$STAGE/lib/systemd"
  mv "$STAGE/usr/lib/systemd/system" "$STAGE/lib/systemd/system"
  rmdir --ignore-fail-on-non-empty "$STAGE/usr/lib/systemd" "$STAGE/usr/lib"
fi
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/op-dbus"

# The man page: op-dbus --help and every command's --help, plus the sections in data/op-dbus.1.extra.
mkdir -p "$STAGE/usr/share/man/man1"
python3 "$SRC/scripts/manpage_commands.py" "$STAGE/usr/bin/op-dbus" "$SRC/data/op-dbus.1.extra" >"$WORK/man.include"
help2man --no-info --section=1 --name="declarative reconciliation engine for Linux servers" \
  --include="$WORK/man.include" --version-string="$version" --source="op-dbus $version" \
  "$STAGE/usr/bin/op-dbus" >"$WORK/op-dbus.1"
gzip -9n <"$WORK/op-dbus.1" >"$STAGE/usr/share/man/man1/op-dbus.1.gz"


doc=$STAGE/usr/share/doc/op-dbus
mkdir -p "$doc/plugins"
install -m 0644 "$SRC/README.md" "$SRC"/docs/*.md "$doc/"
install -m 0644 "$SRC"/docs/plugins/*.md "$doc/plugins/"
install -m 0644 "$SRC/data/copyright" "$doc/copyright"
printf 'op-dbus (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
  "$version" "$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo 'a source tree')" "$maintainer" \
  "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n >"$doc/changelog.gz"
mkdir -p "$STAGE/usr/share/op-dbus/examples"
install -m 0644 "$SRC"/examples/*.json "$STAGE/usr/share/op-dbus/examples/"

# Depends: dpkg-shlibdeps reads the binary's DT_NEEDED entries and the shlibs/symbols files of the packages
# that own those libraries. It wants a debian/control to read; a minimal one in a scratch tree is enough.
mkdir -p "$WORK/src/debian"
printf 'Source: op-dbus\n\nPackage: op-dbus\nArchitecture: any\n' >"$WORK/src/debian/control"
depends=$(cd "$WORK/src" && dpkg-shlibdeps -O "$STAGE/usr/bin/op-dbus" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: op-dbus
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Recommends: debootstrap, systemd
Suggests: nftables, openvswitch-switch, lxc, libvirt-daemon-system, packagekit
Section: admin
Priority: optional
Description: declarative reconciliation engine for Linux servers
 One versioned state.json describes a whole server: disks, partitions,
 filesystems and btrfs subvolumes, packages, network, systemd units and
 timers, users and SSH keys, the nftables firewall, LXC containers and KVM
 guests. op-dbus validates the document against JSON Schema, asks the live
 system what it is now through native interfaces (D-Bus, netlink, libmount,
 libblkid, libbtrfsutil), shows the plan as a readable diff, applies it and
 verifies the result.
EOF
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$STAGE/DEBIAN/md5sums"
find "$STAGE" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
deb=$OUT/op-dbus_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$deb" >&2
say "built $deb"
echo "$deb"
