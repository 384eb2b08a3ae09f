# netdevsim-faults: devlink health and injected kernel failures on a real kernel (issue 16
# points 5 and 6). Its own netdevsim device (id 11), so it does not depend on the netdevsim
# scenario's state. Needs /mnt/host/modules/netdevsim.ko built with
# tests/vm/netdevsim-faults.patch (one-shot debugfs knobs faults/*: the next such op fails
# with that errno, then the knob clears itself).
# netdevsim is not PCI: its devlink instance is netdevsim/netdevsim11, addressed by handle or
# by its PF netdev; its VFs are records behind the PF netdev (no VF device to allocate).
# `vifman numvfs` changes its VF count (sriov_numvfs of the bus device): a refused removal
# leaves the count, a refused new count after the removal is rolled back (faults/
# sriov_configure, faults/sriov_enable); `vifman eswitch --order no-vfs` re-creates the VFs
# around the mode change as for ice, and a failed re-creation rolls mode and count back.
KO=/mnt/host/modules/netdevsim.ko
[ -s "$KO" ] || skip "no netdevsim.ko on the share (tests/vm/netdevsim.sh did not build it)"
command -v devlink >/dev/null || skip "no devlink binary in the guest to read the kernel back"
need_cmd eswitch health
[[ "$(vifman health --help)" == *--devlink* ]] || skip "vifman health has no --devlink yet"

step "load netdevsim (own device 11, 4 VFs), debugfs"
grep -q '^psample ' /proc/modules || modprobe psample
grep -q '^netdevsim ' /proc/modules || insmod "$KO"
grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug
echo "11 1" > /sys/bus/netdevsim/new_device
NSD=/sys/bus/netdevsim/devices/netdevsim11
DL=netdevsim/netdevsim11
DBG=/sys/kernel/debug/netdevsim/netdevsim11
for _ in $(seq 50); do [ -n "$(ls "$NSD/net" 2>/dev/null)" ] && break; sleep 0.1; done
ND=$(ls "$NSD/net")
echo 4 > "$NSD/sriov_numvfs"
ip link set "$ND" up
[ -d "$DBG/faults" ] || fail "no $DBG/faults: netdevsim.ko was built without netdevsim-faults.patch"
[ -e "$DBG/faults/sriov_enable" ] || fail "no $DBG/faults/sriov_enable: netdevsim.ko was built from an older netdevsim-faults.patch"
kmode() { devlink -j dev eswitch show "$DL" | jq -r ".dev[\"$DL\"].mode"; }
NCFG=/tmp/netdevsim-faults.toml NSTATE=/run/vifman-state-netdevsim-faults
: > "$NCFG"
vfset() { vifman vf set "$@" --config "$NCFG" --state-dir "$NSTATE"; }
vfj() { ip -j link show "$ND" | jq -c ".[0].vfinfo_list[$1]"; }
# The kernel's view of one reporter (iproute2's JSON nests it under the handle).
kreporter() { devlink -j health show "$DL" reporter "$1" | jq -c "[.. | objects | select(.reporter? == \"$1\")][0]"; }
# vifman health --devlink, JSON in $HJ, exit status in $HRC (0 healthy, 1 unhealthy).
HJ=/tmp/health-devlink.json
vhealth() { HRC=0; vifman health --devlink "$1" --json --config "$NCFG" --state-dir "$NSTATE" > "$HJ" || HRC=$?; cat "$HJ"; }
vrep() { jq -c --arg n "$1" '.reporters[] | select(.name == $n) | {state, error_count, recover_count}' "$HJ"; }

step "devlink health: every reporter healthy, by handle and by PF netdev"
vhealth "$DL"
expect_eq "exit (healthy)" "$HRC" 0
expect_eq "healthy" "$(jq -r .healthy "$HJ")" true
expect_eq "reporters (vifman)" "$(jq -c '[.reporters[].name] | sort' "$HJ")" \
  "$(devlink -j health show | jq -c --arg dl "$DL" '[.health[$dl][].reporter] | sort')"
expect_eq "dummy" "$(vrep dummy)" '{"state":"healthy","error_count":0,"recover_count":0}'
vhealth "$ND"
expect_eq "handle from the PF netdev" "$(jq -r .devlink "$HJ")" "$DL"
# The model's dump of every reporter works on this kernel: no devlink warning.
run_ok vifman health --instant --json --all --config "$NCFG" --state-dir "$NSTATE"
expect_eq "health warnings about devlink" "$(jq '[.warnings[] | select(test("devlink"))] | length' "$RUN_OUT")" 0
# The model judges the netdevsim PF itself (kind pf, named by its handle as the inventory's
# bus_functions[].device, no PCI address), debounced through the state dir like a PCI PF:
# `--now` (hidden) drives the debounce's clock (defaults: unhealthy after 2 samples over
# 10 s, healthy after 3 over 60 s). MJ: the JSON, MRC: the exit status, MPF: the PF's entry.
MJ=/tmp/health-model.json
mkdir -p "$NSTATE"   # the debounce history (health.json) lives there; health creates no dir
mhealth() {
  MRC=0; vifman health --json --all "$@" --config "$NCFG" --state-dir "$NSTATE" > "$MJ" || MRC=$?
  MPF=$(jq -c --arg dl "$DL" '.devices[] | select(.device == $dl) | {kind, address, netdev, healthy, reasons, pending}' "$MJ")
  echo "health model: exit $MRC, $DL: $MPF"
}
mhealth --now 1000
expect_eq "model: exit (all healthy)" "$MRC" 0
expect_eq "model: the netdevsim PF" "$MPF" \
  "{\"kind\":\"pf\",\"address\":null,\"netdev\":\"$ND\",\"healthy\":true,\"reasons\":[],\"pending\":[]}"

step "break the dummy reporter (recovery set to fail): error, counts as the kernel's"
echo Y > "$DBG/health/fail_recover"
# With auto-recover on, the report runs the recovery, which fails: the write returns EINVAL.
echo "vifman test break 1" > "$DBG/health/break_health" 2>/dev/null || true
k=$(kreporter dummy); echo "kernel: $k"
expect_eq "kernel state" "$(jq -r .state <<<"$k")" error
vhealth "$DL"
expect_eq "exit (unhealthy)" "$HRC" 1
expect_eq "healthy" "$(jq -r .healthy "$HJ")" false
expect_eq "dummy (vifman vs devlink)" "$(vrep dummy)" \
  "$(jq -c '{state, error_count: .error, recover_count: .recover}' <<<"$k")"
expect_eq "reason" "$(jq -r '.reasons[0]' "$HJ")" \
  "devlink health reporter dummy in error ($(jq -r .error <<<"$k") errors)"
expect_eq "empty reporter" "$(vrep empty | jq -r .state)" healthy
why1="devlink health reporter dummy in error ($(jq -r .error <<<"$k") errors)"
mhealth --instant
expect_eq "model --instant: exit (unhealthy)" "$MRC" 1
expect_eq "model --instant: the netdevsim PF" "$(jq -c '[.healthy, .reasons]' <<<"$MPF")" "[false,[\"$why1\"]]"
mhealth --now 1005
expect_eq "model: one sample in error is pending (exit 0)" "$MRC" 0
expect_eq "model: pending" "$(jq -c '[.healthy, .pending]' <<<"$MPF")" "[true,[\"$why1\"]]"
mhealth --now 1015
expect_eq "model: two samples over 10 s (exit 1)" "$MRC" 1
expect_eq "model: unhealthy" "$(jq -c '[.healthy, .reasons]' <<<"$MPF")" "[false,[\"$why1\"]]"
expect_eq "model: unhealthy devices" "$(jq -c '[.devices[] | select(.healthy == false) | .device]' "$MJ")" "[\"$DL\"]"
# A second error while in error: counted, not recovered.
echo "vifman test break 2" > "$DBG/health/break_health" 2>/dev/null || true
k=$(kreporter dummy); echo "kernel: $k"
vhealth "$DL"
expect_eq "dummy after a 2nd error (vifman vs devlink)" "$(vrep dummy)" \
  "$(jq -c '{state, error_count: .error, recover_count: .recover}' <<<"$k")"
expect_eq "error count" "$(vrep dummy | jq .error_count)" 2
vifman health --devlink "$DL" --config "$NCFG" --state-dir "$NSTATE" > /tmp/health-table.txt || true
cat /tmp/health-table.txt
grep -q "dummy in error (2 errors)" /tmp/health-table.txt || fail "the table does not give the reason"
# The inventory lists the non-PCI PF with its instance's reporters: the same counts.
inv_health() {
  run_ok vifman inventory --json --pf "$ND" --config "$NCFG" --state-dir "$NSTATE"
  IH=$(jq -c --arg dl "$DL" '.bus_functions[] | select(.device == $dl) | .health' "$RUN_OUT")
  echo "inventory health: $IH"
}
inv_health
expect_eq "inventory: healthy" "$(jq -r .healthy <<<"$IH")" false
expect_eq "inventory: dummy (vifman inventory vs devlink)" \
  "$(jq -c '.devlink[] | select(.name == "dummy") | {healthy, error_count, recover_count}' <<<"$IH")" \
  "$(jq -c '{healthy: (.state != "error"), error_count: .error, recover_count: .recover}' <<<"$k")"
expect_eq "inventory: reason" "$(jq -r '.reasons[0]' <<<"$IH")" "devlink health reporter dummy in error (2 errors)"
expect_eq "inventory: reporters (vs devlink)" "$(jq -c '[.devlink[].name] | sort' <<<"$IH")" \
  "$(devlink -j health show | jq -c --arg dl "$DL" '[.health[$dl][].reporter] | sort')"

step "devlink health recover: healthy again"
echo N > "$DBG/health/fail_recover"
devlink health recover "$DL" reporter dummy
k=$(kreporter dummy); echo "kernel: $k"
vhealth "$DL"
expect_eq "exit (healthy)" "$HRC" 0
expect_eq "dummy (vifman vs devlink)" "$(vrep dummy)" \
  "$(jq -c '{state, error_count: .error, recover_count: .recover}' <<<"$k")"
expect_eq "state" "$(vrep dummy | jq -r .state)" healthy
expect_eq "reasons" "$(jq -c .reasons "$HJ")" '[]'
mhealth --instant
expect_eq "model --instant after recover (exit 0)" "$MRC" 0
for t in 1020 1050; do
  mhealth --now "$t"
  expect_eq "model at $t: still unhealthy, recovering (exit 1)" "$MRC" 1
  expect_eq "model at $t: pending" "$(jq -c '[.healthy, .pending]' <<<"$MPF")" '[false,["clean, recovering"]]'
done
mhealth --now 1080
expect_eq "model: healthy after 3 clean samples over 60 s (exit 0)" "$MRC" 0
expect_eq "model: healthy" "$(jq -c '[.healthy, .reasons]' <<<"$MPF")" '[true,[]]'
inv_health
expect_eq "inventory: healthy after recover" "$(jq -c '[.healthy, .reasons]' <<<"$IH")" '[true,[]]'

step "vf set: the VLAN op fails (EIO) after the MAC went in; vifman puts the MAC back"
before=$(vfj 1); echo "before: $before"
echo 5 > "$DBG/faults/vf_vlan"
run_fail vfset "$ND" 1 mac 02:00:00:00:11:01 vlan 101 trust on
grep -qi "EIO\|Input/output error" "$RUN_ERR" || fail "the kernel's error is not named: $(cat "$RUN_ERR")"
grep -q "rolled back mac 02:00:00:00:11:01" "$RUN_ERR" || fail "no MAC rollback reported: $(cat "$RUN_ERR")"
expect_eq "fault consumed" "$(cat "$DBG/faults/vf_vlan")" 0
expect_eq "vf 1 after the failed set (original MAC, VLAN, trust)" "$(vfj 1)" "$before"
# The kernel itself is not atomic: one RTM_SETLINK with mac+vlan keeps the MAC.
echo 5 > "$DBG/faults/vf_vlan"
! ip link set "$ND" vf 1 mac 02:00:00:00:11:02 vlan 102 2>/dev/null || fail "ip link accepted a failing VLAN"
expect_eq "ip link: the MAC stuck (why vifman sets one knob per request)" "$(vfj 1 | jq -r .address)" 02:00:00:00:11:02
ip link set "$ND" vf 1 mac "$(jq -r .address <<<"$before")"

step "vf set: trust fails (EPERM) after MAC and VLAN went in; both rolled back"
before=$(vfj 2)
echo 1 > "$DBG/faults/vf_trust"
run_fail vfset "$ND" 2 mac 02:00:00:00:22:02 vlan 202 qos 2 trust on
grep -qi "EPERM\|not permitted" "$RUN_ERR" || fail "the kernel's error is not named: $(cat "$RUN_ERR")"
expect_eq "vf 2 after the failed set" "$(vfj 2)" "$before"
run_ok vfset "$ND" 2 mac 02:00:00:00:22:02 vlan 202 trust on     # one-shot: works now
expect_eq "vf 2 set" "$(vfj 2 | jq -c '[.address, .vlan_list[0].vlan, .trust]')" '["02:00:00:00:22:02",202,true]'
run_ok vfset "$ND" 2 mac "$(jq -r .address <<<"$before")" vlan 0 trust off

step "eswitch mode set fails (EBUSY): mode unchanged, the kernel's reason in the error"
expect_eq "kernel mode" "$(kmode)" legacy
echo 16 > "$DBG/faults/eswitch_mode_set"
run_fail vifman eswitch "$ND" switchdev
grep -q "Fault injected" "$RUN_ERR" || fail "the kernel's extack is not in the error: $(cat "$RUN_ERR")"
grep -qi "EBUSY\|busy" "$RUN_ERR" || fail "the errno is not named: $(cat "$RUN_ERR")"
expect_eq "kernel mode after the failure" "$(kmode)" legacy
expect_eq "pcivf ports" "$(devlink -j port show | jq --arg dl "$DL/" '[.port | to_entries[] | select(.key | startswith($dl)) | select(.value.flavour == "pcivf")] | length')" 0
run_ok vifman eswitch "$ND" switchdev
expect_eq "kernel mode (one-shot fault spent)" "$(kmode)" switchdev
run_ok vifman eswitch "$ND" legacy

# The VF count as the kernel itself reports it: netdevsim's sriov_numvfs and the number of
# vfinfo_list entries of the PF netdev (IFLA_VFINFO_LIST, read by iproute2, not vifman).
kstate() { echo "$(cat "$NSD/sriov_numvfs") $(ip -j link show "$ND" | jq '.[0].vfinfo_list // [] | length')"; }
nvfs() { vifman numvfs "$@" --config "$NCFG" --state-dir "$NSTATE"; }
# vifman's own error line, for the log (WARN lines, e.g. the netlink crate's about
# netdevsim's VLAN protocol 0 with -vv, would crowd run_fail's excerpt).
errline() { echo "vifman: $(grep -v 'WARN' "$RUN_ERR" | tail -n 2 || true)"; }
pcivf_ports() { devlink -j port show | jq --arg dl "$DL/" '[.port | to_entries[] | select(.key | startswith($dl)) | select(.value.flavour == "pcivf")] | length'; }

step "numvfs on netdevsim (not PCI): by PF netdev and by devlink handle, read back by the kernel"
expect_eq "kernel count before" "$(kstate)" "4 4"
run_ok nvfs "$ND" 2
grep -qF "$DL ($ND): 4 -> 2 VFs (read back 2)" "$RUN_OUT" || fail "unexpected report: $(cat "$RUN_OUT")"
expect_eq "kernel count (sriov_numvfs, vfinfo_list)" "$(kstate)" "2 2"
run_ok nvfs "$DL" 4
expect_eq "kernel count after numvfs by handle" "$(kstate)" "4 4"

step "sriov_configure fails (EIO) at the removal to 0: EIO named, the count stays 4"
echo 5 > "$DBG/faults/sriov_configure"
run_fail nvfs "$ND" 2
errline
grep -q "EIO" "$RUN_ERR" || fail "the kernel's errno is not named: $(cat "$RUN_ERR")"
grep -qF "sriov_numvfs 4 -> 0 on $DL failed" "$RUN_ERR" || fail "the failed step is not named: $(cat "$RUN_ERR")"
grep -qF "nothing to roll back: the kernel kept the count at 4" "$RUN_ERR" || fail "no rollback verdict: $(cat "$RUN_ERR")"
expect_eq "fault consumed" "$(cat "$DBG/faults/sriov_configure")" 0
expect_eq "kernel count after the refused removal" "$(kstate)" "4 4"

step "sriov_enable fails (EIO) after the removal went in: vifman rolls back to 4 VFs"
echo 5 > "$DBG/faults/sriov_enable"
run_fail nvfs "$ND" 2
errline
grep -q "EIO" "$RUN_ERR" || fail "the kernel's errno is not named: $(cat "$RUN_ERR")"
grep -qF "sriov_numvfs 0 -> 2 on $DL failed" "$RUN_ERR" || fail "the failed step is not named: $(cat "$RUN_ERR")"
grep -qF "rolled back: sriov_numvfs 0 -> 4, read back 4" "$RUN_ERR" || fail "no rollback reported: $(cat "$RUN_ERR")"
expect_eq "fault consumed" "$(cat "$DBG/faults/sriov_enable")" 0
expect_eq "kernel count after the rollback" "$(kstate)" "4 4"

step "the faults are spent: numvfs 2 works, then back to the original 4"
run_ok nvfs "$ND" 2
expect_eq "kernel count" "$(kstate)" "2 2"
run_ok nvfs "$ND" 4
expect_eq "kernel count (original)" "$(kstate)" "4 4"

step "eswitch switchdev in ice's order (--order no-vfs): the VF re-creation fails (EIO); mode and count rolled back"
expect_eq "kernel mode" "$(kmode)" legacy
echo 5 > "$DBG/faults/sriov_enable"
run_fail vifman eswitch "$ND" switchdev --order no-vfs
errline
grep -q "EIO" "$RUN_ERR" || fail "the kernel's errno is not named: $(cat "$RUN_ERR")"
grep -qF "sriov_numvfs 0 -> 4 failed" "$RUN_ERR" || fail "the failed step is not named: $(cat "$RUN_ERR")"
grep -qF "undone: eswitch mode switchdev -> legacy, sriov_numvfs 0 -> 4" "$RUN_ERR" || fail "no rollback reported: $(cat "$RUN_ERR")"
expect_eq "fault consumed" "$(cat "$DBG/faults/sriov_enable")" 0
expect_eq "kernel mode after the rollback" "$(kmode)" legacy
expect_eq "kernel count after the rollback" "$(kstate)" "4 4"
expect_eq "pcivf ports after the rollback" "$(pcivf_ports)" 0
run_ok vifman eswitch "$ND" switchdev --order no-vfs --json
expect_eq "steps" "$(jq -c '[.steps[].step]' "$RUN_OUT")" '["remove_vfs","set_mode","restore_vfs"]'
expect_eq "kernel mode" "$(kmode)" switchdev
expect_eq "kernel count in switchdev" "$(kstate)" "4 4"
expect_eq "pcivf ports (representors)" "$(pcivf_ports)" 4
run_ok vifman eswitch "$ND" legacy --order no-vfs
expect_eq "kernel mode" "$(kmode)" legacy
expect_eq "kernel count (original)" "$(kstate)" "4 4"

step "cleanup"
echo 11 > /sys/bus/netdevsim/del_device
grep -q '^netdevsim ' /proc/modules && rmmod netdevsim
pass "devlink health dummy: healthy -> error (counts = devlink) -> recovered, the model debouncing the netdevsim PF (pending, unhealthy, recovering, healthy); vf set rollback on injected VLAN/trust failures (MAC back); eswitch set failure leaves legacy; numvfs on netdevsim: EIO at the removal leaves 4, EIO after it rolled back to 4 (sriov_numvfs and vfinfo_list); eswitch no-vfs order: failed re-creation rolls mode and count back"
