# passthrough: whole devices through vifman on the real kernel (issue 19): the second igb PF
# handed out whole (nova's direct-physical; its VFs refused meanwhile, back to igb with
# usable VFs on release), the NVMe controllers and the e1000e NIC by alias (vfio-pci and
# back, /dev/vfio/<group> present), --count all-or-nothing, and the chipset's shared group
# refused with the same reason from `pci`, `pools --explain` and `allocate`.
need_cmd allocate release pci pools numvfs
[ -n "$PF2" ] || skip "needs a second igb PF"
modprobe vfio-pci
e1000e=$(whole_dev 0x8086 0x10d3) || fail "no e1000e in the guest"
nvmes=$(whole_dev 0x1b36 0x0010) || fail "no QEMU NVMe in the guest"
lpc=$(whole_dev 0x8086 0x2918) || fail "no ICH9 LPC in the guest"
set_vfs_raw "$PF2" 0
cat > "$CFG" <<EOF2
exclude_default_route = false

[[device_spec]]
address = "$PF2"
physical_network = "physnet2"

[[device_spec]]
vendor_id = "1b36"
product_id = "0010"

[[device_spec]]
vendor_id = "8086"
product_id = "10d3"

[[device_spec]]
vendor_id = "8086"
product_id = "2918"

[[alias]]
name = "nvme"
vendor_id = "1b36"
product_id = "0010"
device_type = "type-PCI"

[[alias]]
name = "nic"
vendor_id = "8086"
product_id = "10d3"

[[alias]]
name = "lpc"
vendor_id = "8086"
product_id = "2918"
EOF2
H=(--config "$CFG" --state-dir "$STATE")
snapshot() { local d; for d in $PF2 $e1000e $nvmes $lpc; do echo "$d $(drv "$d")"; done; }
before=$(snapshot)

step "PF passthrough (direct-physical)"
vif=$(uuid)
run_ok vifman allocate "${H[@]}" --physnet physnet2 --device-type pf --instance "$INSTANCE" --vif-id "$vif"
expect_eq "object" "$(oname)" VIFHostDevice
expect_eq "dev_type" "$(odata dev_type)" ethernet
expect_eq "dev_address" "$(odata dev_address)" "$PF2"
expect_eq "PF driver" "$(drv "$PF2")" vfio-pci
grp=$(basename "$(readlink "$(dev "$PF2")/iommu_group")")
[ -e "/dev/vfio/$grp" ] || fail "no /dev/vfio/$grp for $PF2"

step "its VFs are refused while it is passed through"
run_fail vifman numvfs "${H[@]}" "$PF2" 2
grep -q "passed through whole" "$RUN_ERR" || fail "numvfs refusal does not say why: $(cat "$RUN_ERR")"
run_fail vifman allocate "${H[@]}" --physnet physnet2 --instance "$INSTANCE" --vif-id "$(uuid)"
expect_eq "numvfs" "$(numvfs "$PF2")" 0

step "release: back to igb, VFs usable again"
run_ok vifman release --state-dir "$STATE" --vif-id "$vif"
expect_eq "PF driver" "$(drv "$PF2")" igb
wait_until 10 has_netdev "$PF2" || fail "$PF2 has no netdev after release"
run_ok vifman numvfs "${H[@]}" "$PF2" 2
vfs_ready "$PF2" 2 || fail "$PF2 VFs not bound to igbvf with netdevs"
vif2=$(uuid)
run_ok vifman allocate "${H[@]}" --physnet physnet2 --instance "$INSTANCE" --vif-id "$vif2" --mac 02:aa:bb:cc:dd:45
vf_index "$PF2" "$(odata dev_address)" >/dev/null
step "while a VF is allocated, the PF is refused"
run_fail vifman allocate "${H[@]}" --physnet physnet2 --device-type pf --instance "$INSTANCE" --vif-id "$(uuid)"
run_ok vifman release --state-dir "$STATE" --vif-id "$vif2"
run_ok vifman numvfs "${H[@]}" "$PF2" 0

step "alias nvme: one controller to vfio-pci and back"
run_ok vifman allocate "${H[@]}" --alias nvme --instance "$INSTANCE"
expect_eq "dev_type" "$(odata dev_type)" generic
n=$(odata dev_address)
expect_eq "driver of $n" "$(drv "$n")" vfio-pci
grp=$(basename "$(readlink "$(dev "$n")/iommu_group")")
[ -e "/dev/vfio/$grp" ] || fail "no /dev/vfio/$grp for $n"
run_ok vifman release --state-dir "$STATE" --instance "$INSTANCE" --alias nvme
expect_eq "driver of $n" "$(drv "$n")" nvme

step "--count: all or nothing"
run_fail vifman allocate "${H[@]}" --alias nvme --count 3 --instance "$INSTANCE"
expect_eq "after a refused --count 3" "$(snapshot)" "$before"
run_ok vifman allocate "${H[@]}" --alias nvme --count 2 --instance "$INSTANCE"
expect_eq "objects" "$(jq length "$RUN_OUT")" 2
for n in $nvmes; do expect_eq "driver of $n" "$(drv "$n")" vfio-pci; done
run_ok vifman release --state-dir "$STATE" --instance "$INSTANCE" --alias nvme

step "alias nic: the e1000e NIC whole, its netdev back on release"
run_ok vifman allocate "${H[@]}" --alias nic --instance "$INSTANCE"
expect_eq "e1000e driver" "$(drv "$e1000e")" vfio-pci
run_ok vifman release --state-dir "$STATE" --instance "$INSTANCE" --alias nic
expect_eq "e1000e driver" "$(drv "$e1000e")" e1000e
wait_until 10 has_netdev "$e1000e" || fail "e1000e has no netdev after release"

step "device plugin: the alias resource hands a container the /dev/vfio group"
plugin="no kubelet probe in the guest (cargo test builds it with the fleet feature)"
if command -v kubelet_probe >/dev/null && have_cmd device-plugin; then
  KD=/tmp/kubelet-$NAME; rm -rf "$KD"; mkdir -p "$KD"
  n=${nvmes%% *}
  vifman device-plugin "${H[@]}" --kubelet-dir "$KD" --rescan-interval 600 \
    --devinfo-dir "/tmp/devinfo-$NAME" > "/tmp/dp-$NAME.log" 2>&1 &
  dp=$!
  rc=0; timeout 150 kubelet_probe "$KD" vifman.io/nvme "$n" > "$RUN_OUT" 2> "$RUN_ERR" || rc=$?
  kill "$dp"; wait "$dp" || true
  [ $rc = 0 ] || fail "kubelet_probe: $(cat "$RUN_ERR") / plugin: $(tail -c 600 "/tmp/dp-$NAME.log")"
  cat "$RUN_OUT"
  expect_eq "alias devices listed" "$(jq -r '[.devices[] | select(.health == "Healthy") | .id] | sort | join(" ")' "$RUN_OUT")" "$nvmes"
  expect_eq "PCIDEVICE env" "$(jq -r '.envs.PCIDEVICE_VIFMAN_IO_NVME' "$RUN_OUT")" "$n"
  grp=$(basename "$(readlink "$(dev "$n")/iommu_group")")
  expect_eq "device specs" "$(jq -r '.device_specs | join(" ")' "$RUN_OUT")" "/dev/vfio/$grp /dev/vfio/vfio"
  [ -e "/dev/vfio/$grp" ] || fail "no /dev/vfio/$grp"
  expect_eq "driver of $n" "$(drv "$n")" vfio-pci
  rec=$(jq -r '.annotations["vifman.io/vif-ids"]' "$RUN_OUT")
  run_ok vifman release --state-dir "$STATE" --vif-id "$rec"
  expect_eq "driver of $n after release" "$(drv "$n")" nvme
  plugin="device plugin Allocate of vifman.io/nvme gave /dev/vfio/$grp"
fi
echo "$plugin"

step "the chipset's shared group: one verdict everywhere"
# The group is non-viable only while a member is on a host driver: the minimal guest may not
# have loaded them, so load the chipset's SMBus driver (i2c-i801, in the guest image).
modprobe i2c_i801
bound=""
for m in $(group_members "$lpc"); do
  [ "$m" = "$lpc" ] && continue
  d=$(drv "$m"); echo "group member $m: $d"
  case $d in none|vfio-pci|pci-stub|pcieport) ;; *) bound="$bound $m";; esac
done
[ -n "$bound" ] || fail "no member of $lpc's group is on a host driver; the lab changed"
run_ok vifman pci --json
pci_viable=$(jq -r --arg a "$lpc" '.devices[] | select(.address == $a) | .group_viable' "$RUN_OUT")
expect_eq "pci group_viable of $lpc" "$pci_viable" false
reason=$(jq -r --arg a "$lpc" '[.devices[] | select(.address == $a) | .blockers[] | select(contains("member"))][0] // empty' "$RUN_OUT")
[ -n "$reason" ] || fail "pci names no group member blocking $lpc: $(jq -c --arg a "$lpc" '.devices[] | select(.address == $a)' "$RUN_OUT")"
echo "reason: $reason"
run_ok vifman pools "${H[@]}" --json --explain
jq -r --arg a "$lpc" '.explain[] | select(.vf == $a) | .verdict' "$RUN_OUT" | grep -qF "$reason" \
  || fail "pools --explain does not give '$reason' for $lpc"
run_fail vifman allocate "${H[@]}" --alias lpc --instance "$INSTANCE"
grep -qF "$reason" "$RUN_ERR" || fail "allocate refusal lacks '$reason': $(cat "$RUN_ERR")"
expect_eq "nothing changed" "$(snapshot)" "$before"
run_ok vifman allocations --json --state-dir "$STATE"
expect_eq "records left" "$(jq '[.. | objects | select(has("instance_uuid"))] | length' "$RUN_OUT")" 0
pass "PF $PF2 whole (VFs refused, back to igb with VFs), NVMe x1/x2 (count 3 refused), e1000e whole and back, $plugin, chipset group refused: $reason"
