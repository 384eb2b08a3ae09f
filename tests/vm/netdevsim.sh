#!/usr/bin/env bash
# Build (or reuse) netdevsim.ko for the VM guest's exact kernel, from Debian packages only.
#
#   tests/vm/netdevsim.sh GUEST_DIR [CACHE_DIR]     (CACHE_DIR default: <repo>/target/vm-cache)
#
# Prints the path of netdevsim.ko on stdout, logs on stderr. The module is cached in
# GUEST_DIR/netdevsim/KEY/ (so it goes away with its guest, and a new kernel builds a new one),
# KEY hashing the kernel package version, this script and the fault patch: branches with
# different patches sharing one guest cache keep a module each instead of rebuilding the
# other's. Downloads share CACHE_DIR/dl.
#
# Why netdevsim: the QEMU igb NIC has no switchdev, devlink ports or devlink rate; netdevsim
# has them all (SR-IOV VF records with every IFLA_VF_* knob, eswitch legacy/switchdev with
# pf0vfN representors, rate leaves and nodes). Debian does not ship it (CONFIG_NETDEVSIM is
# off), so it is built out of tree from the kernel's own source package:
#   linux-headers-KVER, linux-headers-KBASE-common, linux-kbuild-KBASE (apt-get download +
#   dpkg -x, nothing installed) and linux-source-X.Y pinned to the guest kernel's version
#   (the default candidate can be a newer security release whose netdevsim differs).
# Two hurdles of building against dpkg -x'ed headers:
#   - the headers' Makefile is one absolute `include /usr/src/...-common/Makefile`: rewritten
#     to point into the unpack dir;
#   - CONFIG_DEBUG_INFO_BTF_MODULES=y wants pahole: overridden empty on the make line (BTF
#     only matters to BPF tracing of the module).
# The compiler must be the kernel's (CONFIG_CC_VERSION_TEXT): gcc-12 on bookworm.
# Fault injection: netdevsim-faults.patch (this project's own, next to this script) is
# applied to the source before building. It adds one-shot debugfs knobs under
# /sys/kernel/debug/netdevsim/netdevsimN/faults/ that make the next VF knob op,
# sriov_configure (any, or only one creating VFs: sriov_enable) or eswitch mode set fail
# with a chosen errno (the rollback tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
guest=${1:?usage: netdevsim.sh GUEST_DIR [CACHE_DIR]}
cache=${2:-$repo/target/vm-cache}
log() { echo "vm-netdevsim: $*" >&2; }

kver=$(cat "$guest/kver")                                   # 6.12.95+deb12-amd64
kbase=${kver%-amd64}                                        # 6.12.95+deb12
# The kernel package's version (6.12.95-1~bpo12+1) pins linux-source.
kpkgver=$(awk -F= -v p="linux-image-$kver" '$1==p {print $2}' "$guest/versions")
[ -n "$kpkgver" ] || { log "no linux-image-$kver in $guest/versions"; exit 1; }
series=$(echo "$kver" | cut -d. -f1,2)                      # 6.12

patchfile=$here/netdevsim-faults.patch
key=$( { echo "$kver $kpkgver"; cat "$here/netdevsim.sh" "$patchfile"; } | sha256sum | cut -c1-16)
out=$guest/netdevsim/$key
if [ -f "$out/.complete-$key" ]; then
  log "cached $out/netdevsim.ko"; echo "$out/netdevsim.ko"; exit 0
fi
start=$(date +%s)

dl=$cache/dl; mkdir -p "$dl"
fetch() { # pkg=version -> path of the .deb
  local f; f=$(ls "$dl/${1%%=*}_${2/:/%3a}"_*.deb 2>/dev/null | sed -n 1p || true)
  if [ -z "$f" ]; then
    log "downloading $1"
    (cd "$dl" && apt-get download -o APT::Sandbox::User=root -qq "$1" >&2)
    f=$(ls "$dl/${1%%=*}_${2/:/%3a}"_*.deb | sed -n 1p)
  fi
  echo "$f"
}
debs=(
  "$(fetch "linux-headers-$kver=$kpkgver" "$kpkgver")"
  "$(fetch "linux-headers-$kbase-common=$kpkgver" "$kpkgver")"
  "$(fetch "linux-kbuild-$kbase=$kpkgver" "$kpkgver")"
  "$(fetch "linux-source-$series=$kpkgver" "$kpkgver")"
)

tmp=$cache/netdevsim-$key.tmp
rm -rf "$tmp"; mkdir -p "$tmp/root" "$tmp/src"
for d in "${debs[@]}"; do dpkg -x "$d" "$tmp/root"; done
H=$tmp/root/usr/src/linux-headers-$kver
sed -i "s|^include /usr/src/|include $tmp/root/usr/src/|" "$H/Makefile"
tar -C "$tmp/src" -xJf "$tmp/root/usr/src/linux-source-$series.tar.xz" \
  "linux-source-$series/drivers/net/netdevsim"
patch -s -p1 -d "$tmp/src/linux-source-$series" < "$patchfile" >&2
cp -r "$tmp/src/linux-source-$series/drivers/net/netdevsim" "$tmp/build"

cc=gcc-12; command -v "$cc" >/dev/null || cc=gcc
log "building netdevsim for $kver with $cc"
make -s -C "$H" -j2 CC="$cc" CONFIG_DEBUG_INFO_BTF_MODULES= M="$tmp/build" CONFIG_NETDEVSIM=m \
  modules >&2
mkdir -p "$out"
strip --strip-debug -o "$out/netdevsim.ko" "$tmp/build/netdevsim.ko"
rm -rf "$tmp"
rm -f "$out"/.complete-*; touch "$out/.complete-$key"
log "built $out/netdevsim.ko in $(( $(date +%s) - start )) s"
echo "$out/netdevsim.ko"
