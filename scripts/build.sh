#!/usr/bin/env bash
# Installs the build dependencies (as root), configures build/ (or reconfigures it) and builds op-dbus.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  ./scripts/install-deps.sh
else
  echo "build.sh: not root, skipping scripts/install-deps.sh (run it as root once)" >&2
fi
if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build
fi
ninja -C build
echo "build.sh: built build/op-dbus"
