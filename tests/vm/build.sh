#!/usr/bin/env bash
# Build (or reuse) the guest for the QEMU igb tier: a Debian kernel and an initramfs.
#
#   tests/vm/build.sh [CACHE_DIR]        (default: <repo>/target/vm-cache)
#
# Prints the guest directory (holding vmlinuz, initrd.img, kver) on stdout, logs on stderr.
# Everything comes from Debian packages: the kernel and busybox-static are only
# `apt-get download`ed and `dpkg -x`ed (the host's /boot and /bin are never touched); dash,
# bash, iproute2, jq and kmod are copied from the host with their shared libraries.
# The guest dir is keyed on every package version and on this tier's guest-side files, so a
# new kernel or a changed init rebuilds it; downloads are kept in CACHE_DIR/dl.
#
# Knobs: VIFMAN_VM_KERNEL_PKG=linux-image-...-amd64 (default: newest linux-image-amd64 dep),
#        VIFMAN_VM_MODULES="extra modules".
set -euo pipefail
# Under pipefail a reader that stops early (head -1, awk exit) can SIGPIPE the writer and fail
# the build at random: every pipeline here reads its input to the end.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/target/vm-cache}
log() { echo "vm-build: $*" >&2; }

"$here/deps.sh" >&2

# Modules the scenarios load, plus what they pull in (resolved below with modprobe).
MODULES="igb igbvf 9p 9pnet_virtio virtio_pci vfio vfio-pci vfio_iommu_type1 bridge veth
  macvlan macvtap tap tun 8021q bonding dummy e1000e nvme i2c-i801 psample ${VIFMAN_VM_MODULES:-}"
# psample: the one module dependency of the out-of-tree netdevsim.ko (tests/vm/netdevsim.sh).
# Host binaries copied into the guest (with their libraries). dash is /bin/sh: busybox ash
# would run its own `ip` applet (no `vf` support) before PATH. ethtool/lspci/devlink are
# optional (devlink: the netdevsim scenario reads the kernel back with it).
HOST_BINS="dash bash ip bridge jq kmod"
OPT_BINS="ethtool lspci devlink"
# CNI plugins (Debian's containernetworking-plugins) for the `vifman cni` scenario: the IPAM
# plugins it delegates to and a plugin chained after it. Installed at /usr/lib/cni in the
# guest (the scenario's CNI_PATH), with the libraries ldd names (libc only, today).
CNI_BINS="host-local static tuning"
CNI_DIR=/usr/lib/cni

# --- resolve versions (cheap, no download) ---------------------------------------------
cand() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2}'; }
newest() { # newest version of $1 in any configured source (backports is not the candidate)
  apt-cache madison "$1" 2>/dev/null | awk '{print $3}' | while read -r v; do echo "$v"; done |
    sort -u | { best=; while read -r v; do
      if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi; done
      echo "$best"; }
}
kpkg=${VIFMAN_VM_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
  meta=$(newest linux-image-amd64)
  [ -n "$meta" ] || { log "no linux-image-amd64 in apt lists (run apt-get update)"; exit 1; }
  kpkg=$(apt-cache depends "linux-image-amd64=$meta" 2>/dev/null |
    awk '/Depends: linux-image-/ && !k {k=$2} END {print k}')
fi
kver_pkg=$(newest "$kpkg")
bb_ver=$(newest busybox-static)
[ -n "$kver_pkg" ] && [ -n "$bb_ver" ] || { log "cannot resolve $kpkg / busybox-static"; exit 1; }

hostvers=$(for p in $(for b in $HOST_BINS $OPT_BINS; do command -v "$b"; done) \
    $(for b in $CNI_BINS; do [ -x "$CNI_DIR/$b" ] && echo "$CNI_DIR/$b"; done); do
  dpkg-query -S "$(readlink -f "$p")" 2>/dev/null | awk -F: 'NR==1 {print $1}'
done | sort -u | xargs dpkg-query -W -f='${Package}=${Version}\n' libc6 2>/dev/null | sort)
key=$( { echo "$kpkg=$kver_pkg busybox-static=$bb_ver $MODULES"; echo "$hostvers";
         cat "$here/build.sh" "$here/init.sh"; } | sha256sum | cut -c1-16)
guest=$cache/guest-$key
if [ -f "$guest/.complete" ]; then
  log "cached guest $guest ($kpkg $kver_pkg)"
  echo "$guest"; exit 0
fi

# --- download (cached by file name, which carries the version) ---------------------------
dl=$cache/dl; mkdir -p "$dl"
fetch() { # pkg version
  # apt-get download spells an epoch "1:" as "1%3a" in the file name.
  local f="$dl/$1_${2/:/%3a}_amd64.deb"; [ -s "$f" ] || f=''
  [ -s "$dl/$1_${2/:/%3a}_all.deb" ] && f="$dl/$1_${2/:/%3a}_all.deb"
  if [ -z "$f" ]; then
    log "downloading $1 $2"
    # Sandbox user root: the _apt user may not be able to write into the cache dir.
    (cd "$dl" && apt-get download -o APT::Sandbox::User=root -qq "$1=$2" >&2) || {
      [ "$(id -u)" -eq 0 ] || exit 1
      log "download failed; apt-get update and retry"; apt-get update -qq >/dev/null
      (cd "$dl" && apt-get download -o APT::Sandbox::User=root -qq "$1=$2" >&2); }
    f=$(ls -t "$dl/$1_"*.deb | sed -n 1p)
  fi
  echo "$f"
}
kdeb=$(fetch "$kpkg" "$kver_pkg")
bbdeb=$(fetch busybox-static "$bb_ver")

# --- assemble ---------------------------------------------------------------------------
tmp=$cache/build-$key.tmp
rm -rf "$tmp"; mkdir -p "$tmp/k" "$tmp/bb" "$tmp/root"
log "unpacking $(basename "$kdeb")"
dpkg -x "$kdeb" "$tmp/k"
dpkg -x "$bbdeb" "$tmp/bb"
kver=$(ls "$tmp/k/lib/modules" 2>/dev/null || ls "$tmp/k/usr/lib/modules")
kroot=$tmp/k; [ -d "$kroot/lib/modules/$kver" ] || kroot=$tmp/k/usr
cp "$tmp/k/boot/vmlinuz-$kver" "$tmp/vmlinuz"

r=$tmp/root
mkdir -p "$r"/usr/bin "$r"/usr/sbin "$r"/usr/lib "$r"/usr/lib64 "$r"/proc "$r"/sys "$r"/dev \
  "$r"/tmp "$r"/run "$r"/mnt/host "$r"/etc "$r"/var "$r"/root
# usrmerge layout, like the host, so ldd's paths work unchanged.
ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"; ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"

# busybox: every applet that the host tools do not provide; /usr/bin/busybox itself.
cp "$tmp/bb/bin/busybox" "$r/usr/bin/busybox"
for a in $("$r/usr/bin/busybox" --list); do
  [ -e "$r/usr/bin/$a" ] || [ -e "$r/usr/sbin/$a" ] || ln -s busybox "$r/usr/bin/$a"
done

copy_bin() { # copy a host binary and the libraries ldd names, at the same paths
  local p; p=$(readlink -f "$(command -v "$1")")
  local dst=$r/usr/${p#/usr/}; case $p in /usr/*) ;; *) dst=$r$p;; esac
  mkdir -p "$(dirname "$dst")"; rm -f "$dst"; cp "$p" "$dst"
  ldd "$p" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$r$lib" ] && continue
    mkdir -p "$(dirname "$r$lib")"; cp -L "$lib" "$r$lib"
  done
  # Also reachable under its plain name in /usr/bin or /usr/sbin.
  local base; base=$(basename "$(command -v "$1")")
  local dir; dir=$(dirname "$(command -v "$1")"); dir=/usr/${dir##*/}
  [ -e "$r$dir/$base" ] || ln -sf "$p" "$r$dir/$base"
}
for b in $HOST_BINS; do rm -f "$r/usr/bin/$b" "$r/usr/sbin/$b"; copy_bin "$b"; done
for b in $OPT_BINS; do
  command -v "$b" >/dev/null || continue; rm -f "$r/usr/bin/$b" "$r/usr/sbin/$b"; copy_bin "$b"
done
mkdir -p "$r$CNI_DIR"
for b in $CNI_BINS; do
  [ -x "$CNI_DIR/$b" ] || {
    log "no $CNI_DIR/$b on the host (containernetworking-plugins): the cni scenario skips"
    continue; }
  cp "$CNI_DIR/$b" "$r$CNI_DIR/$b"
  ldd "$CNI_DIR/$b" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$r$lib" ] || { mkdir -p "$(dirname "$r$lib")"; cp -L "$lib" "$r$lib"; }
  done
done
ln -sf dash "$r/usr/bin/sh"
for t in modprobe insmod rmmod lsmod modinfo depmod; do
  rm -f "$r/usr/bin/$t" "$r/usr/sbin/$t"; ln -s ../bin/kmod "$r/usr/sbin/$t"
done
# The dynamic loader lives at the path baked into every binary.
mkdir -p "$r/usr/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$r/usr/lib64/"
# What a glibc-linked Rust binary (vifman) needs beyond what the tools above pulled in.
for l in libgcc_s.so.1 libm.so.6 libc.so.6; do
  p=$(ldconfig -p | awk -v l="$l" '$1==l && /x86-64/ && !p {p=$NF} END {print p}')
  [ -e "$r$p" ] || { mkdir -p "$(dirname "$r$p")"; cp -L "$p" "$r$p"; }
done

# Modules: depmod the .deb's compressed tree, take each module's dependency closure, and
# install it decompressed (the .deb ships no modules.dep; plain .ko avoids needing xz/zstd
# support in the guest's kmod).
depmod -b "$kroot" "$kver"
mods=$(for m in $MODULES; do
  modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null || log "no module $m"
done | awk '$1=="insmod"{print $2}' | sort -u)
mdir=$r/usr/lib/modules/$kver
for m in $mods; do
  rel=${m#"$kroot"/lib/modules/"$kver"/}
  mkdir -p "$mdir/$(dirname "$rel")"
  case $m in
    *.xz) xz -dc "$m" > "$mdir/${rel%.xz}";;
    *.zst) zstd -qdc "$m" > "$mdir/${rel%.zst}";;
    *) cp "$m" "$mdir/$rel";;
  esac
done
cp "$kroot/lib/modules/$kver"/modules.builtin* "$kroot/lib/modules/$kver"/modules.order "$mdir/" 2>/dev/null || true
depmod -b "$r/usr" "$kver" 2>/dev/null || depmod -b "$r" "$kver"
log "$(echo "$mods" | wc -l) modules for $kver"

# mdev as the udev stand-in: load drivers for new devices (MODALIAS), so igbvf binds to VFs
# asynchronously as it does under udev.
echo '$MODALIAS=.* 0:0 660 @modprobe -qb "$MODALIAS"' > "$r/etc/mdev.conf"
echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"
install -m 0755 "$here/init.sh" "$r/init"
echo "$kver" > "$r/etc/guest-kver"

(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$tmp/initrd.img"
mkdir -p "$guest"
mv "$tmp/vmlinuz" "$tmp/initrd.img" "$guest/"
echo "$kver" > "$guest/kver"
printf '%s\n' "$kpkg=$kver_pkg" "busybox-static=$bb_ver" "$hostvers" > "$guest/versions"
rm -rf "$tmp"
touch "$guest/.complete"
log "built $guest ($(du -h "$guest/initrd.img" | cut -f1) initrd, kernel $kver)"
# Old guests from earlier keys are dead weight.
for old in "$cache"/guest-*; do [ "$old" = "$guest" ] || rm -rf "$old"; done
echo "$guest"
