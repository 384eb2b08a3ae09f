#!/bin/bash
# Guest-side driver: runs each selected scenario in its own bash process, in file order.
#
# A scenario prints exactly one verdict line, `SCENARIO <name> PASS|FAIL|SKIP <detail>`;
# lib.sh's ERR trap turns any failing command into a FAIL line with the line number, and a
# scenario that exits without a verdict gets one here. SKIP means "vifman lacks the command
# this scenario drives" (the scenario is written against the CLI contract, not yet built).
# Exit code: 0 when no scenario failed, 1 otherwise.
set -u
G=/mnt/host/guest
# vifman runs from tmpfs: page faults on a 9p-backed executable are very slow under TCG.
mkdir -p /tmp/bin && cp /mnt/host/bin/* /tmp/bin/
export PATH=/tmp/bin:/usr/sbin:/usr/bin LD_LIBRARY_PATH=/mnt/host/lib
export OUT=/mnt/host/out RUST_BACKTRACE=1
# shellcheck disable=SC2046
[ ! -s "$G/env" ] || export $(cat "$G/env")
cd /tmp || exit 1
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }  # busybox date has no %N

echo "guest: up $(now_ms) ms, kernel $(uname -r), $(ip -V), $(vifman --version 2>&1)"
# Every igb PF up: VFs only get PF-set config through the mailbox with the PF up, and igb
# rate limits need PF link. Wait for carrier (the emulated link comes up within ~1-2 s).
for d in /sys/bus/pci/drivers/igb/0000:*; do
  for n in "$d"/net/*; do ip link set "${n##*/}" up; done
done
for _ in $(seq 50); do
  down=0
  for c in /sys/bus/pci/drivers/igb/0000:*/net/*/carrier; do
    [ "$(cat "$c" 2>/dev/null)" = 1 ] || down=1
  done
  [ $down = 0 ] && break; sleep 0.1
done
for d in /sys/bus/pci/drivers/igb/0000:*; do
  echo "guest: PF ${d##*/} $(cat "$d"/vendor):$(cat "$d"/device) net $(ls "$d"/net)" \
    "carrier $(cat "$d"/net/*/carrier 2>/dev/null) totalvfs $(cat "$d"/sriov_totalvfs)"
done

selected=$(cat "$G/selected" 2>/dev/null || true)
# Second boot (run.sh boots again when a scenario left out/reboot naming the scenarios that
# continue after it): only those run. Scenarios marked `# vm-boot: 2` never run in boot 1.
export VM_BOOT=1
if [ -e "$OUT/reboot.done" ]; then
  VM_BOOT=2 selected=$(cat "$OUT/reboot.done")
  echo "guest: boot 2 (after a reboot requested by the first boot): $selected"
fi
failed=0
for f in "$G"/scenarios/*.sh; do
  name=$(basename "$f" .sh); name=${name#[0-9][0-9]-}
  if [ -n "$selected" ] && ! [[ " $selected " == *" $name "* ]]; then continue; fi
  if grep -q '^# vm-boot: 2' "$f"; then boot=2; else boot=1; fi
  [ "$boot" = "$VM_BOOT" ] || continue
  t0=$(now_ms)
  echo "=== $name (guest uptime ${t0} ms)"
  # Own process: errexit, traps and `exit` stay inside the scenario. A time limit, so a
  # scenario stuck in the kernel (a function reset written with a driver bound hangs this
  # guest for minutes) fails fast instead of eating the whole run's timeout.
  timeout "${SCENARIO_TIMEOUT:-600}" bash "$G/run-one.sh" "$name" "$f" 2>&1 |
    tee "$OUT/scenario-$name.log"
  verdict=$(grep -m1 "^SCENARIO $name " "$OUT/scenario-$name.log" || true)
  ms=$(( $(now_ms) - t0 ))
  if [ -z "$verdict" ]; then
    echo "SCENARIO $name FAIL exited without a verdict or timed out after ${SCENARIO_TIMEOUT:-600} s (see scenario-$name.log)"; failed=1
  fi
  case $verdict in *" FAIL"*) failed=1;; esac
  echo "TIMING $name $ms"
done
# Kernel messages of the whole run, for post-mortems.
dmesg > "$OUT/dmesg.txt" 2>/dev/null || true
exit $failed
