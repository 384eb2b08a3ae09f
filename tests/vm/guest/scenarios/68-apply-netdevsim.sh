# vifman apply on a non-PCI SR-IOV PF (netdevsim's bus device): a [[pf]] entry naming the PF
# netdev sets its VF count (0 -> 2), puts it in switchdev mode, creates a rate node and
# parents VF 0's rate leaf to it in one apply; --check is then in sync; all read back with
# devlink -j and ip -d -j link. Then PF up/mtu and the VF knobs (MAC, rates, spoofchk,
# link_state, trust: what igb refuses too) in switchdev mode (rates through the devlink rate
# leaf) and in legacy mode (IFLA_VF_*, up = false last), each read back by ip/devlink, in
# sync, drift named, a second apply with nothing to do; with the fault patch's
# faults/vf_trust, a failing trust step puts the MTU and the earlier knobs back. A VF driver
# (needs a PCI PF) is refused by name with nothing changed. Cleanup through vifman.
KO=/mnt/host/modules/netdevsim.ko
[ -s "$KO" ] || skip "no netdevsim.ko on the share (tests/vm/netdevsim.sh did not build it)"
command -v devlink >/dev/null || skip "no devlink binary in the guest"
need_cmd apply numvfs eswitch rate-node

step "load netdevsim, one device, no VFs"
grep -q '^psample ' /proc/modules || modprobe psample
grep -q '^netdevsim ' /proc/modules || insmod "$KO"
echo "13 1" > /sys/bus/netdevsim/new_device
NSD=/sys/bus/netdevsim/devices/netdevsim13
DL=netdevsim/netdevsim13
for _ in $(seq 50); do [ -n "$(ls "$NSD/net" 2>/dev/null)" ] && break; sleep 0.1; done
ND=$(ls "$NSD/net")
ip link set "$ND" up
expect_eq "sriov_numvfs" "$(cat "$NSD/sriov_numvfs")" 0
kmode() { devlink -j dev eswitch show "$DL" | jq -r '.dev[].mode'; }
expect_eq "mode before" "$(kmode)" legacy

HS=$OUT/apply-netdevsim; rm -rf "$HS"; mkdir -p "$HS"
STATE=$HS/state
cfg() { # FILE EXTRA-PF-KEYS EXTRA-VF-KEYS
  cat > "$1" <<EOF
[[device_spec]]
address = "$PF"
physical_network = "physnet1"

[[pf]]
netdev = "$ND"
numvfs = 2
eswitch = "switchdev"
$2
[[pf.rate_nodes]]
name = "tenant"
max_tx_rate = 500

[[pf.vf]]
vfs = "0"
rate_parent = "tenant"
$3
EOF
}

step "a VF driver on the bus PF: refused by key (trust next to it is not), nothing changed"
cfg "$HS/bad.toml" "" 'driver = "vfio-pci"
trust = true'
run_fail vifman apply --config "$HS/bad.toml" --state-dir "$STATE"
grep -q "pf\[0\].vf\[0\].driver: $ND is the PF of $DL, not a PCI function: .*needs a PCI PF" "$RUN_ERR" || fail "no driver refusal: $(cat "$RUN_ERR")"
! grep -q "trust" "$RUN_ERR" || fail "trust refused on a bus PF: $(cat "$RUN_ERR")"
expect_eq "mode after the refusal" "$(kmode)" legacy
expect_eq "sriov_numvfs after the refusal" "$(cat "$NSD/sriov_numvfs")" 0

step "apply: 2 VFs, switchdev, rate node tenant, VF 0 leaf under it"
cfg "$HS/vifman.toml" "" ""
run_ok vifman apply --config "$HS/vifman.toml" --state-dir "$STATE" --json
cp "$RUN_OUT" "$HS/apply.json"
jq -c '[.steps[] | {object, new, status}]' "$RUN_OUT"
expect_eq "steps done" "$(jq -r '[.steps[] | select(.status == "done")] | length' "$RUN_OUT")" 4
expect_eq "sriov_numvfs" "$(cat "$NSD/sriov_numvfs")" 2
expect_eq "selected PF" "$(jq -r '.pfs[0].pf + " " + .pfs[0].netdev' "$RUN_OUT")" "$DL $ND"
expect_eq "mode (devlink)" "$(kmode)" switchdev
rates=$(devlink -j port function rate show)
expect_eq "node tenant tx_max (devlink, bytes/s)" \
  "$(jq -r --arg k "$DL/tenant" '.rate[$k].tx_max // 0 | tonumber' <<<"$rates")" 62500000
port0=$(devlink -j port show | jq -r --arg dl "$DL/" '.port | to_entries[] | select(.key | startswith($dl)) | select(.value.flavour == "pcivf" and .value.vfnum == 0) | .key')
[ -n "$port0" ] || fail "no devlink port for VF 0"
expect_eq "VF 0 leaf parent (devlink)" "$(jq -r --arg k "$port0" '.rate[$k].parent // "none"' <<<"$rates")" tenant
expect_eq "VFs (ip -d -j link)" "$(ip -d -j link show "$ND" | jq -r '.[0].num_vf // (.[0].vfinfo_list // [] | length)')" 2

step "--check is in sync, a second apply changes nothing"
run_ok vifman apply --check --config "$HS/vifman.toml" --state-dir "$STATE" --json
expect_eq "steps in --check" "$(jq -r '.steps | length' "$RUN_OUT")" 0
run_ok vifman apply --config "$HS/vifman.toml" --state-dir "$STATE" --json
expect_eq "steps in the second apply" "$(jq -r '.steps | length' "$RUN_OUT")" 0

# The kernel's view of one VF (iproute2 over IFLA_VFINFO_LIST) and of the PF.
kvf() { ip -j -d link show "$ND" | jq -c --argjson i "$1" '.[0].vfinfo_list[$i] | [.address, .spoofchk, .trust, .link_state, (.rate.min_tx // 0), (.rate.max_tx // 0)]'; }
kmtu() { ip -j link show "$ND" | jq -r '.[0].mtu'; }
kup() { ip -j link show "$ND" | jq -r 'if (.[0].flags | index("UP")) then "up" else "down" end'; }
leaf0() { devlink -j port function rate show | jq -c --arg k "$port0" '.rate[$k] | [(.tx_share // 0 | tonumber), (.tx_max // 0 | tonumber), (.parent // "none")]'; }
steps_st() { jq -c '[.steps[] | .object + "=" + .status]' "$RUN_OUT"; }

step "switchdev: up, mtu and VF 0's knobs (MAC, rates via the devlink leaf, spoofchk off, link_state, trust)"
# netdevsim's VFs start with spoofchk off: on first, so the policy's off is a change.
ip link set "$ND" vf 0 spoofchk on
ip link set "$ND" down
expect_eq "PF link before" "$(kup)" down
expect_eq "VF 0 before (ip -d -j)" "$(kvf 0)" '["00:00:00:00:00:00",true,false,"auto",0,0]'
cfg "$HS/knobs.toml" 'mtu = 9000
up = true' 'mac = "02:00:00:13:00:01"
spoofchk = false
trust = true
link_state = "disable"
min_tx_rate = 100
max_tx_rate = 400'
run_ok vifman apply --config "$HS/knobs.toml" --state-dir "$STATE" --json
jq -c '[.steps[] | {object, new, status}]' "$RUN_OUT"
expect_eq "steps" "$(steps_st)" \
  "[\"$ND link=done\",\"$ND mtu=done\",\"$ND vf 0 mac=done\",\"$ND vf 0 rate=done\",\"$ND vf 0 spoofchk=done\",\"$ND vf 0 link_state=done\",\"$ND vf 0 trust=done\"]"
expect_eq "PF link (ip)" "$(kup)" up
expect_eq "PF mtu (ip)" "$(kmtu)" 9000
expect_eq "VF 0 (ip -d -j: mac spoofchk trust link_state min max)" "$(kvf 0)" '["02:00:00:13:00:01",false,true,"disable",100,400]'
expect_eq "VF 0 leaf (devlink: tx_share tx_max bytes/s, parent)" "$(leaf0)" '[12500000,50000000,"tenant"]'
run_ok vifman apply --check --config "$HS/knobs.toml" --state-dir "$STATE" --json
expect_eq "steps in --check" "$(jq -r '.steps | length' "$RUN_OUT")" 0
run_ok vifman apply --config "$HS/knobs.toml" --state-dir "$STATE" --json
expect_eq "steps in the second apply" "$(jq -r '.steps | length' "$RUN_OUT")" 0
ip link set "$ND" vf 0 trust off
drc=0; vifman apply --check --config "$HS/knobs.toml" --state-dir "$STATE" --json > "$HS/drift.json" || drc=$?
expect_eq "apply --check exit on drift" "$drc" 1
expect_eq "drift after ip link set vf 0 trust off" "$(jq -c '[.steps[] | .object + ": " + .old + " -> " + .new]' "$HS/drift.json")" "[\"$ND vf 0 trust: trust off -> trust on\"]"
run_ok vifman apply --config "$HS/knobs.toml" --state-dir "$STATE"
expect_eq "VF 0 after the repair" "$(kvf 0)" '["02:00:00:13:00:01",false,true,"disable",100,400]'

DBG=/sys/kernel/debug/netdevsim/netdevsim13
grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug || true
if [ -e "$DBG/faults/vf_trust" ]; then
  step "a failing trust step (faults/vf_trust EIO): the MTU and VF 0's earlier knobs (rates on the leaf too) put back"
  before=$(kvf 0)
  cfg "$HS/fail.toml" 'mtu = 1400' 'mac = "02:00:00:13:00:02"
spoofchk = true
trust = false
link_state = "enable"
min_tx_rate = 200
max_tx_rate = 450'
  echo 5 > "$DBG/faults/vf_trust"
  run_fail vifman apply --config "$HS/fail.toml" --state-dir "$STATE" --json
  jq -c '[.steps[] | {object, status, error}]' "$RUN_OUT"
  expect_eq "statuses" "$(steps_st)" \
    "[\"$ND mtu=undone\",\"$ND vf 0 mac=undone\",\"$ND vf 0 rate=undone\",\"$ND vf 0 spoofchk=undone\",\"$ND vf 0 link_state=undone\",\"$ND vf 0 trust=failed\"]"
  jq -r '.steps[-1].error' "$RUN_OUT" | grep -qi "EIO\|Input/output" || fail "the kernel's errno is not named: $(jq -r '.steps[-1].error' "$RUN_OUT")"
  expect_eq "fault consumed" "$(cat "$DBG/faults/vf_trust")" 0
  expect_eq "PF mtu after the rollback (ip)" "$(kmtu)" 9000
  expect_eq "VF 0 after the rollback (ip)" "$(kvf 0)" "$before"
  expect_eq "VF 0 leaf after the rollback (devlink)" "$(leaf0)" '[12500000,50000000,"tenant"]'
  run_ok vifman apply --check --config "$HS/knobs.toml" --state-dir "$STATE" --json
  expect_eq "the first policy is still in sync" "$(jq -r '.steps | length' "$RUN_OUT")" 0
else
  echo "no $DBG/faults/vf_trust (netdevsim.ko without netdevsim-faults.patch): rollback step left out"
fi

step "back to legacy through vifman: leaf, node, mode"
run_ok vifman vf rate "$ND" 0 --no-parent
run_ok vifman rate-node del "$ND" tenant
run_ok vifman eswitch "$ND" legacy
expect_eq "mode after cleanup" "$(kmode)" legacy
step "legacy: VF 1's knobs through IFLA_VF_* (rates too), mtu back, up = false last"
cat > "$HS/legacy.toml" <<EOF
[[device_spec]]
address = "$PF"
physical_network = "physnet1"

[[pf]]
netdev = "$ND"
numvfs = 2
eswitch = "legacy"
mtu = 1500
up = false

[[pf.vf]]
vfs = "1"
mac = "02:00:00:13:00:11"
spoofchk = false
trust = true
link_state = "enable"
min_tx_rate = 50
max_tx_rate = 300
EOF
ip link set "$ND" vf 1 spoofchk on
run_ok vifman apply --config "$HS/legacy.toml" --state-dir "$STATE" --json
jq -c '[.steps[] | {object, new, status}]' "$RUN_OUT"
expect_eq "steps" "$(steps_st)" \
  "[\"$ND mtu=done\",\"$ND vf 1 mac=done\",\"$ND vf 1 rate=done\",\"$ND vf 1 spoofchk=done\",\"$ND vf 1 link_state=done\",\"$ND vf 1 trust=done\",\"$ND link=done\"]"
expect_eq "PF mtu (ip)" "$(kmtu)" 1500
expect_eq "PF link (ip)" "$(kup)" down
expect_eq "VF 1 (ip -d -j)" "$(kvf 1)" '["02:00:00:13:00:11",false,true,"enable",50,300]'
run_ok vifman apply --check --config "$HS/legacy.toml" --state-dir "$STATE" --json
expect_eq "steps in --check" "$(jq -r '.steps | length' "$RUN_OUT")" 0
run_ok vifman apply --config "$HS/legacy.toml" --state-dir "$STATE" --json
expect_eq "steps in the second apply" "$(jq -r '.steps | length' "$RUN_OUT")" 0
step "cleanup through vifman: 0 VFs"
run_ok vifman numvfs "$ND" 0
echo 13 > /sys/bus/netdevsim/del_device
rmmod netdevsim
pass "apply on netdevsim's bus PF: VF count, eswitch, rate node, VF leaf parent, PF up/mtu and VF knobs (switchdev: rates via the devlink leaf; legacy: IFLA_VF_*) applied and read back by devlink and ip, --check in sync and drift, second apply 0 steps, a failing trust step rolled back (MTU, knobs), VF driver refused by key"
