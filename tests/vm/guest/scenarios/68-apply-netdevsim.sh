# vifman apply on a non-PCI SR-IOV PF (netdevsim's bus device): a [[pf]] entry naming the PF
# netdev sets its VF count (0 -> 2), puts it in switchdev mode, creates a rate node and
# parents VF 0's rate leaf to it in one apply; --check is then in sync; all read back with
# devlink -j and ip -d -j link. Keys that need a PCI PF (VF drivers) and VF knobs (not
# applied on such a PF yet) are refused by name with nothing changed. Cleanup through vifman.
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

step "a VF driver and a VF knob on the bus PF: refused by key, nothing changed"
cfg "$HS/bad.toml" "" 'driver = "vfio-pci"
trust = true'
run_fail vifman apply --config "$HS/bad.toml" --state-dir "$STATE"
grep -q "pf\[0\].vf\[0\].trust: $ND is the PF of $DL, not a PCI function" "$RUN_ERR" || fail "no trust refusal: $(cat "$RUN_ERR")"
grep -q "pf\[0\].vf\[0\].driver: .*needs a PCI PF" "$RUN_ERR" || fail "no driver refusal: $(cat "$RUN_ERR")"
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

step "cleanup through vifman: leaf, node, legacy, 0 VFs"
run_ok vifman vf rate "$ND" 0 --no-parent
run_ok vifman rate-node del "$ND" tenant
run_ok vifman eswitch "$ND" legacy
expect_eq "mode after cleanup" "$(kmode)" legacy
run_ok vifman numvfs "$ND" 0
echo 13 > /sys/bus/netdevsim/del_device
rmmod netdevsim
pass "apply on netdevsim's bus PF: VF count, eswitch, rate node and VF leaf parent applied and read back by devlink and ip, --check in sync, VF driver/knob refused by key"
