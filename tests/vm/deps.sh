#!/usr/bin/env bash
# Host packages for the QEMU igb tier, installed only when missing (idempotent, needs root).
#
# qemu-system-x86 must be >= 8.0: QEMU 7.2 (bookworm) has no `-device igb`. On bookworm that
# means bookworm-backports (10.0), whose apt source we add if no source lists it yet.
# Guest-side packages (kernel, busybox-static) are NOT installed: build.sh only
# `apt-get download`s them, so the host's /boot and /bin stay untouched.
set -euo pipefail

need_qemu() {
  command -v qemu-system-x86_64 >/dev/null || return 0
  qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"' && return 1
  return 0
}
HOST_PKGS=(cpio kmod xz-utils zstd iproute2 strace)
# strace: staged into the guest by run.sh (the devlink-recorded scenario records requests).
missing=()
for p in "${HOST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
qemu=0; need_qemu && qemu=1

[ ${#missing[@]} -eq 0 ] && [ $qemu -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  [ $qemu -eq 0 ] || missing+=("qemu-system-x86>=8.0 (with -device igb)")
  echo "vm-deps: missing ${missing[*]}; run as root (tests/vm/deps.sh) to install" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release; echo "${VERSION_CODENAME:-}")

# bookworm's QEMU is 7.2 -> backports. Later releases (trixie: 10.0) have igb in main.
target=()
if [ $qemu -eq 1 ] && [ "$codename" = bookworm ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "vm-deps: adding bookworm-backports apt source" >&2
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  target=(-t bookworm-backports)
fi
# Refresh the lists when backports is configured but was never fetched (or on a fresh box).
if [ $qemu -eq 1 ] || [ ${#missing[@]} -gt 0 ]; then
  echo "vm-deps: apt-get update" >&2
  apt-get update -qq >/dev/null
fi
[ ${#missing[@]} -gt 0 ] && { echo "vm-deps: installing ${missing[*]}" >&2;
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
if [ $qemu -eq 1 ]; then
  echo "vm-deps: installing qemu-system-x86 ${target[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${target[@]}" qemu-system-x86 >/dev/null
  need_qemu && { echo "vm-deps: installed QEMU has no igb device" >&2; exit 1; }
fi
exit 0
