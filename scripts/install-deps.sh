#!/usr/bin/env bash
# Installs every package op-dbus needs to build, test and run its sandbox, from Debian 12's archive.
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

build=(build-essential g++ meson ninja-build pkg-config git
       rapidjson-dev libsdbus-c++-dev libsystemd-dev libcli11-dev libspdlog-dev libfmt-dev
       libssl-dev catch2
       libnl-3-dev libnl-route-3-dev libmount-dev libblkid-dev libfdisk-dev libbtrfsutil-dev libnftables-dev
       lxc-dev libvirt-dev)
# scripts/package.sh: the .deb (dpkg-shlibdeps for Depends, help2man for op-dbus(1)) and its test.
package=(dpkg-dev binutils help2man man-db lintian bash-completion)
# clang + compiler-rt give the libFuzzer target run in the suite.
fuzz=(clang libclang-rt-14-dev)
# What the sandbox and the integration tests start: a Debian rootfs booted with systemd-nspawn (and
# /usr/bin/time, the peak-memory measure of the journal-scale test).
runtime=(debootstrap systemd-container systemd dbus iproute2 util-linux
         btrfs-progs dosfstools e2fsprogs xfsprogs nftables iputils-ping isc-dhcp-client dnsmasq-base
         qemu-system-x86 qemu-utils
         passwd openssh-client python3 time
         gpg gpg-agent debian-archive-keyring
         lxc lxc-templates wget rsync openssl distro-info
         libvirt-daemon-system libvirt-clients genisoimage ovmf busybox-static
         # installer/build-iso (the live root, the hybrid ISO) and its test (jq edits the document)
         mmdebstrap squashfs-tools xorriso mtools grub-efi-amd64-bin grub-pc-bin grub-common jq
         fdisk)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (it calls apt-get)" >&2
  exit 1
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${build[@]}" "${fuzz[@]}" "${package[@]}" "${runtime[@]}" >/dev/null
echo "install-deps.sh: all packages installed"
