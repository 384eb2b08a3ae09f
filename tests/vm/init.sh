#!/bin/sh
# PID 1 of the test guest (runs under dash, see build.sh for why not busybox ash).
#
# Mounts the basics and the host share (9p tag "vmshare" at /mnt/host), starts busybox mdev
# as a udev stand-in (it module-loads drivers for new devices, so igbvf binds to fresh VFs
# asynchronously, as on a real host), loads igb, runs /mnt/host/guest/main.sh and powers off.
# The script's output and exit code go to files on the share (out/log.txt, out/rc): written
# through 9p before power-off, so nothing is lost the way a serial console can lose its tail.
#
# Kernel command line knobs: vm.shell (a shell on ttyS0 instead of the script),
# vm.noigb (do not load igb).
export PATH=/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
# devtmpfs lacks these; bash process substitution needs /dev/fd.
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up
say() { echo "vm-init: $*" > /dev/console; }
cmdline=$(cat /proc/cmdline)
has() { case " $cmdline " in *" $1 "*) return 0;; esac; return 1; }

if ! { modprobe 9pnet_virtio && modprobe 9p &&
       mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmshare /mnt/host; }; then
  say "FATAL: cannot mount the 9p share"; poweroff -f
fi

# udev stand-in: busybox uevent listens on the kernel's netlink socket (Debian kernels have
# no CONFIG_UEVENT_HELPER) and runs mdev per event; mdev.conf modprobes $MODALIAS.
uevent mdev >/dev/null 2>&1 &
has vm.noigb || modprobe igb
# Whole-device passthrough candidates (no udev coldplug here to load them).
modprobe -q e1000e; modprobe -q nvme

if has vm.shell; then
  say "shell on ttyS0; 'poweroff -f' to quit"
  # bash by path: busybox applets (setsid here) start their own ash for a plain `sh`.
  setsid /usr/bin/bash -c 'exec /usr/bin/bash -i </dev/ttyS0 >/dev/ttyS0 2>&1'
else
  say "running /mnt/host/guest/main.sh"
  mkdir -p /mnt/host/out
  # Appended: a second boot (see run.sh) continues the first boot's log.
  bash /mnt/host/guest/main.sh >> /mnt/host/out/log.txt 2>&1
  rc=$?
  echo "$rc" > /mnt/host/out/rc
  grep '^SCENARIO ' /mnt/host/out/log.txt > /dev/console 2>/dev/null
  say "main.sh exited $rc"
fi
sync
umount /mnt/host 2>/dev/null
poweroff -f
