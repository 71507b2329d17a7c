#!/usr/bin/env bash
# scripts/package.sh end to end: the .deb it builds from this build directory has the binary (stripped), the
# schemas, the man page, bash completion, the boot units, Depends covering every library the binary links;
# lintian finds no error; the man page renders without warnings and lists every command; the completion
# completes commands, options and plugin names; and the package installs with apt on a Debian 12 container
# (the sandbox image), where /usr/bin/op-dbus runs, and removes cleanly.
# usage: run.sh OPDBUS SRCDIR        (prints TAP; the install step needs root and systemd-nspawn)
set -u
OPDBUS=$1
SRC=$2
BUILD=$(cd "$(dirname "$OPDBUS")" && pwd)
. "$(dirname "$0")/../../lib/tap.sh"
for tool in dpkg-deb dpkg-shlibdeps help2man man; do
  command -v "$tool" >/dev/null || tap_skip_all "$tool is not installed (scripts/install-deps.sh)"
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TAP_OUT=$T/out

expect "package.sh builds a .deb from the build directory" 0 "$SRC/scripts/package.sh" --build-dir "$BUILD" \
  --output "$T/dist" --no-build
DEB=$(tail -n 1 "$T/out")
VERSION=$(meson introspect "$BUILD" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
is "...named op-dbus_VERSION_ARCH.deb" "$T/dist/op-dbus_${VERSION}_$(dpkg --print-architecture).deb" echo "$DEB"
dpkg-deb -f "$DEB" >"$T/control"
check "...with Package, Version and a Depends line" bash -c "grep -qx 'Package: op-dbus' '$T/control' &&
  grep -qx 'Version: $VERSION' '$T/control' && grep -q '^Depends: ' '$T/control'"

dpkg-deb -c "$DEB" | awk '{print $6}' >"$T/files"
for f in ./usr/bin/op-dbus ./usr/share/op-dbus/schemas/v1/state.schema.json ./usr/share/man/man1/op-dbus.1.gz \
  ./usr/share/bash-completion/completions/op-dbus ./lib/systemd/system/op-dbus-network.service \
  ./usr/share/doc/op-dbus/copyright ./usr/share/doc/op-dbus/cli.md; do
  check "the package holds $f" grep -qxF "$f" "$T/files"
done
for s in "$SRC"/schemas/v1/*.schema.json; do
  grep -qxF "./usr/share/op-dbus/schemas/v1/$(basename "$s")" "$T/files" || echo "$(basename "$s")"
done >"$T/missing"
check "...and every schema of the source tree" test ! -s "$T/missing"

dpkg-deb -x "$DEB" "$T/x"
check "the packaged binary is stripped" bash -c "! readelf -S '$T/x/usr/bin/op-dbus' | grep -q '\.debug_info\|\.symtab'"
check "...and runs" "$T/x/usr/bin/op-dbus" --version

# Depends: each library the binary links directly comes from a package Depends names.
depends=$(sed -n 's/^Depends: //p' "$T/control")
: >"$T/uncovered"
for lib in $(readelf -d "$T/x/usr/bin/op-dbus" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
  owner=$(dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null)
  pkg=${owner%%:*}
  covered=
  # The package itself, or a name it Provides (libspdlog1.10 provides libspdlog1.10-fmt9).
  for name in "$pkg" $(dpkg-query -W -f='${Provides}' "$pkg" 2>/dev/null | tr ',' '\n' | awk '{print $1}'); do
    case ", $depends," in *", $name "* | *", $name,"*) covered=1 ;; esac
  done
  [ -n "$covered" ] || echo "$lib ($pkg)" >>"$T/uncovered"
done
check "Depends covers every library the binary links (DT_NEEDED)" bash -c "! test -s '$T/uncovered' || { cat '$T/uncovered'; false; }"

if command -v lintian >/dev/null; then
  # A local build has no real maintainer address (DEBEMAIL is not set here); that is all lintian may say.
  lintian --suppress-tags bogus-mail-host,bogus-mail-host-in-debian-changelog,root-in-contact "$DEB" \
    >"$T/lintian" 2>&1
  check "lintian reports no errors" bash -c "! grep -q '^E:' '$T/lintian' || { cat '$T/lintian'; false; }"
else
  skip "lintian reports no errors" "lintian is not installed"
fi

# The man page: renders without groff warnings, and lists every command with its own --help.
MAN=$T/x/usr/share/man/man1/op-dbus.1.gz
man --warnings -l "$MAN" >"$T/man.txt" 2>"$T/man.err"
check "man -l renders op-dbus(1) without warnings" bash -c "test -s '$T/man.txt' && ! test -s '$T/man.err' ||
  { cat '$T/man.err'; false; }"
for section in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS "EXIT STATUS" FILES "SEE ALSO"; do
  check "...has the section $section" grep -q "^$section" "$T/man.txt"
done
"$OPDBUS" --help | awk '/^Subcommands:/ {on=1; next} /^$/ {on=0} on && /^  [a-z]/ {print $1}' >"$T/commands"
check "...and a subsection for every command of --help ($(wc -l <"$T/commands") commands)" bash -c "
  test -s '$T/commands' && while read -r c; do grep -qE \"^   \$c\\\$\" '$T/man.txt' || { echo \"no \$c\"; exit 1; }; done <'$T/commands'"
check "...with each command's own options (apply --confirm-timeout)" grep -q -- '--confirm-timeout' "$T/man.txt"

# Bash completion, sourced with the packaged binary first on PATH.
complete_words() {
  PATH="$T/x/usr/bin:$PATH" bash -c '
    [ -f /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _op_dbus; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/x/usr/share/bash-completion/completions/op-dbus" "$@"
}
complete_words op-dbus ap >"$T/c1"
check "completion: 'op-dbus ap' -> apply" grep -qx apply "$T/c1"
complete_words op-dbus apply --con >"$T/c2"
check "completion: 'op-dbus apply --con' -> --confirm-timeout" grep -qx -- --confirm-timeout "$T/c2"
complete_words op-dbus --plugin ne >"$T/c3"
check "completion: 'op-dbus --plugin ne' -> network (from op-dbus plugins)" grep -qx network "$T/c3"
complete_words op-dbus log v >"$T/c4"
check "completion: 'op-dbus log v' -> verify" grep -qx verify "$T/c4"
complete_words op-dbus --color a >"$T/c5"
check "completion: 'op-dbus --color a' -> auto and always" bash -c "grep -qx auto '$T/c5' && grep -qx always '$T/c5'"

# Install with apt on a Debian 12 container (the sandbox image: systemd, no op-dbus installed).
if [ "$(id -u)" != 0 ] || ! command -v systemd-nspawn >/dev/null; then
  skip "apt installs the package in a Debian 12 container" "needs root and systemd-nspawn"
  tap_done
  exit 0
fi
cp "$DEB" "$T/op-dbus.deb"
"$OPDBUS" sandbox --bind-ro "$T/op-dbus.deb:/tmp/op-dbus.deb" --exec '
  set -e
  dpkg-query -W op-dbus 2>/dev/null && { echo "op-dbus already installed"; exit 9; }
  cd /tmp
  apt-get install -y -q --no-install-recommends ./op-dbus.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 3; }
  echo "installed: $(dpkg-query -W -f="\${Status}" op-dbus)"
  /usr/bin/op-dbus plugins >/dev/null && echo "plugins runs"
  /usr/bin/op-dbus validate /usr/share/op-dbus/examples/basic.json >/dev/null && echo "validates an example"
  test -f /lib/systemd/system/op-dbus-network.service && echo "unit in place"
  apt-get purge -y -q op-dbus >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 4; }
  test ! -e /usr/bin/op-dbus && test ! -e /usr/share/op-dbus && echo "purged cleanly"
' >"$T/sb.out" 2>"$T/sb.err"
rc=$?
check "apt installs the package in a Debian 12 container (exit $rc)" bash -c "[ $rc -eq 0 ] || { cat '$T/sb.out'; tail -20 '$T/sb.err'; false; }"
check "...dpkg says install ok installed" grep -qx 'installed: install ok installed' "$T/sb.out"
check ".../usr/bin/op-dbus plugins runs there" grep -qx 'plugins runs' "$T/sb.out"
check "...and validates an installed example" grep -qx 'validates an example' "$T/sb.out"
check "...the boot unit is in /lib/systemd/system" grep -qx 'unit in place' "$T/sb.out"
check "...and apt purge removes every file" grep -qx 'purged cleanly' "$T/sb.out"
tap_done
