#!/usr/bin/env bash
# Boot the igb test guest and run guest scenarios in it (a second boot when one asks).
#
#   tests/vm/run.sh [-o RUNDIR] [-b VIFMAN] [-n NICS] [-t SECS] [-m MB] [-a KARGS]
#                   [-q 'QEMU ARGS'] [-i] [SCENARIO...]
#
#   SCENARIO...  names from tests/vm/guest/scenarios/ (default: all, in file order)
#   -o RUNDIR    where the share and logs go (default: target/vm-cache/run)
#   -b VIFMAN    the binary to test (default: target/debug/vifman)
#   -n NICS      igb NICs, each behind its own pcie-root-port (default 1)
#   -i           interactive: a shell on the serial console instead of the scenarios
#
# The share (RUNDIR/share, 9p tag vmshare, /mnt/host in the guest) carries the vifman
# binary, the guest scripts (so editing a scenario needs no initrd rebuild) and out/: the
# guest's log (out/log.txt, streamed here while it runs), exit code (out/rc) and artifacts.
# Exit code: the guest script's; 124 = timeout; 125 = the guest died without reporting
# (boot failure, panic). On 124/125 the kernel console log is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rundir=$repo/target/vm-cache/run vifman=$repo/target/debug/vifman
nics=1 timeout=900 mem=1024 kargs='' qargs='' interactive=0
while getopts o:b:n:t:m:a:q:i opt; do
  case $opt in
    o) rundir=$OPTARG;; b) vifman=$OPTARG;; n) nics=$OPTARG;; t) timeout=$OPTARG;;
    m) mem=$OPTARG;; a) kargs=$OPTARG;; q) qargs=$OPTARG;; i) interactive=1;;
    *) sed -n '2,20p' "$0" >&2; exit 2;;
  esac
done
shift $((OPTIND - 1))
[ -x "$vifman" ] || { echo "vm-run: no vifman binary at $vifman (cargo build first)" >&2; exit 2; }

# Several engineers (and their `cargo test`s) share one target/: one guest at a time, so a
# second run never rebuilds the initrd or wipes the share under a running guest.
mkdir -p "$repo/target/vm-cache"
exec 9>"$repo/target/vm-cache/.lock"
if ! flock -n 9; then
  echo "vm-run: waiting for another guest run to finish (target/vm-cache/.lock)" >&2
  flock 9
fi
guest=$("$here/build.sh" "$repo/target/vm-cache")

# --- stage the share ---------------------------------------------------------------------
share=$rundir/share
rm -rf "$rundir"; mkdir -p "$share/bin" "$share/lib" "$share/out"
# Without debug info: the guest copies it to tmpfs once (executing a 60 MB debug binary
# straight from 9p costs 1-2 s per run under TCG); symbols stay for backtraces.
objcopy --strip-debug "$vifman" "$share/bin/vifman" 2>/dev/null || cp "$vifman" "$share/bin/vifman"
# Libraries the guest does not have (e.g. libudev with --features udev): LD_LIBRARY_PATH.
# libc, libm, libgcc_s and the loader are in the initrd already.
ldd "$vifman" | grep -o '/[^ ]*' | { grep -Ev '/(libc|libm|libgcc_s|ld-linux[^/]*)\.so' || true; } |
  while read -r lib; do cp -L "$lib" "$share/lib/"; done
# Test tooling for the guest (VIFMAN_VM_EXTRA_BINS="path ...", e.g. the kubelet probe), and
# the host's strace (tests/vm/deps.sh installs it; the devlink-recorded scenario records the
# netlink requests of iproute2 and vifman with it), each with the libraries the guest lacks.
# Staged here rather than built into the initrd: the guest image stays the same.
for b in ${VIFMAN_VM_EXTRA_BINS:-} $(command -v strace || true); do
  [ -x "$b" ] || continue
  objcopy --strip-debug "$b" "$share/bin/${b##*/}" 2>/dev/null || cp "$b" "$share/bin/"
  ldd "$b" | grep -o '/[^ ]*' | { grep -Ev '/(libc|libm|libgcc_s|ld-linux[^/]*)\.so' || true; } |
    while read -r lib; do [ -e "$share/lib/${lib##*/}" ] || cp -L "$lib" "$share/lib/"; done
done
cp -r "$here/guest" "$share/guest"
# netdevsim.ko for the switchdev/devlink scenario, built for this guest's kernel. Optional:
# without it (no gcc-12, no apt) that scenario SKIPs and the igb tier runs as before.
mkdir -p "$share/modules"
if [ "${VIFMAN_VM_NETDEVSIM:-1}" = 1 ]; then
  if nds=$("$here/netdevsim.sh" "$guest" "$repo/target/vm-cache"); then
    cp "$nds" "$share/modules/netdevsim.ko"
  else
    echo "vm-run: netdevsim build failed; the netdevsim scenario will SKIP" >&2
  fi
fi
echo "${*:-}" > "$share/guest/selected"
# Debugging aid: VIFMAN_VM_GUEST_ENV="K=V ..." is exported to every scenario.
echo "${VIFMAN_VM_GUEST_ENV:-}" > "$share/guest/env"

# --- boot ------------------------------------------------------------------------------
shellarg=; [ $interactive = 0 ] || shellarg=vm.shell
accel=tcg
# KVM on this farm is kvm_pvm, on which stock kernels do not boot (see docs/vm-tests.md).
[ -n "${VIFMAN_VM_ACCEL:-}" ] && accel=$VIFMAN_VM_ACCEL
# intel-iommu: Debian kernels lack CONFIG_VFIO_NOIOMMU, so vfio-pci needs a (virtual) IOMMU
# to give VFs IOMMU groups; it must come before the devices it translates for.
# One vCPU: with two (multi-threaded TCG) QEMU 10.0 aborted in iotlb_to_section() while VFs
# were being created (memory map change racing a vCPU); the guest is single-job anyway.
# shellcheck disable=SC2054  # the commas are QEMU's
args=(-M q35 -accel "$accel" -cpu max -smp "${VIFMAN_VM_SMP:-1}" -m "$mem" -nodefaults -no-reboot
      -device intel-iommu
      -display none -monitor none -serial "file:$rundir/console.log"
      -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img"
      -append "console=ttyS0 panic=-1 loglevel=6 intel_iommu=on iommu=pt $shellarg $kargs"
      -fsdev "local,id=fs0,path=$share,security_model=none"
      -device virtio-9p-pci,fsdev=fs0,mount_tag=vmshare)
for i in $(seq 1 "$nics"); do
  # restrict=on: the guest reaches nothing outside; romfile=: no PXE ROM needed.
  args+=(-device "pcie-root-port,id=rp$i,chassis=$i,slot=$i"
         -netdev "user,id=n$i,restrict=on" -device "igb,bus=rp$i,netdev=n$i,romfile=")
done
# Whole-device passthrough (docs/vm-tests.md): an e1000e NIC (no SR-IOV) and two NVMe
# controllers, each behind its own root port so each is alone in its IOMMU group; q35's
# chipset functions (00:1f.x) share one group, the non-viable case.
args+=(-device pcie-root-port,id=rpe,chassis=21,slot=21
       -netdev user,id=ne,restrict=on -device e1000e,bus=rpe,netdev=ne,romfile=)
for i in 0 1; do
  truncate -s 1M "$rundir/nvme$i.img"
  args+=(-device "pcie-root-port,id=rpn$i,chassis=$((22 + i)),slot=$((22 + i))"
         -drive "file=$rundir/nvme$i.img,if=none,id=nvm$i,format=raw"
         -device "nvme,serial=vifman-nvme$i,drive=nvm$i,bus=rpn$i")
done
# shellcheck disable=SC2206
args+=($qargs)

if [ $interactive = 1 ]; then
  args=("${args[@]/file:$rundir\/console.log/mon:stdio}")
  exec qemu-system-x86_64 "${args[@]}"
fi

# One boot: QEMU until the guest powers off (or reboots: -no-reboot makes that an exit).
# Sets $rc to the guest script's exit code, 124 on timeout, 125 when the guest died without
# reporting one.
boot() {
  echo "vm-run: booting $(cat "$guest/kver") with $nics igb NIC(s), accel $accel ($1)" >&2
  local start qpid tpid qrc ms wall
  start=$(date +%s%N)
  rm -f "$share/out/rc"
  timeout -k 10 "$timeout" qemu-system-x86_64 "${args[@]}" 2> "$rundir/qemu.stderr" &
  qpid=$!
  # Stream the guest log while it runs (the file appears once the guest has mounted 9p).
  touch "$share/out/log.txt"
  tail -n +1 -F --pid=$qpid "$share/out/log.txt" 2>/dev/null &
  tpid=$!
  set +e; wait $qpid; qrc=$?; set -e
  # tail may already have exited on its own (--pid): a failed kill must not trip set -e.
  sleep 0.3; kill $tpid 2>/dev/null || true; wait $tpid 2>/dev/null || true
  ms=$(( ($(date +%s%N) - start) / 1000000 )); wall=$((ms / 1000)).$(printf %03d $((ms % 1000)))
  echo "vm-run: guest wall time ${wall}s (qemu exit $qrc)" >&2
  if [ -s "$share/out/rc" ]; then
    rc=$(cat "$share/out/rc")
  elif [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
    echo "vm-run: TIMEOUT after ${timeout}s" >&2; rc=124
  else
    echo "vm-run: the guest died without reporting a result" >&2; rc=125
  fi
  if [ "$rc" = 124 ] || [ "$rc" = 125 ]; then
    echo "----- qemu stderr -----" >&2; cat "$rundir/qemu.stderr" >&2
    echo "----- console log ($rundir/console.log) -----" >&2; cat "$rundir/console.log" >&2
    echo "----- end of console log -----" >&2
  fi
}

# A boot that dies before the guest script has written a line (QEMU's TCG aborts on its own
# about once in a dozen boots) is retried once, and the log says so.
boot_retrying() {
  local lines
  lines=$( { wc -l < "$share/out/log.txt"; } 2>/dev/null || echo 0)
  boot "$1"
  if [ "$rc" = 125 ] && [ "$(wc -l < "$share/out/log.txt")" = "$lines" ]; then
    echo "vm-run: RETRY: the $1 died before the guest script ran; booting once more" >&2
    boot "$1 retry"
  fi
}

boot_retrying "boot 1"
# A scenario that needs a fresh kernel (host state across a reboot) leaves out/reboot: the
# same machine boots again with the same share (config, state dir, log) and main.sh runs the
# scenarios marked `# vm-boot: 2`.
if [ -e "$share/out/reboot" ] && [ "$rc" != 124 ] && [ "$rc" != 125 ]; then
  rc1=$rc
  mv "$share/out/reboot" "$share/out/reboot.done"
  boot_retrying "boot 2"
  [ "$rc1" = 0 ] || rc=$rc1
fi
exit "$rc"
