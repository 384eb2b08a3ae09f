# vm-boot: 2
# boot-replay (boot 2 of the host-state pair): a fresh kernel has no VFs; `vifman apply
# --boot` with the config and state dir from boot 1 must bring back the same VFs, the same
# stable MACs, VF 3 on vfio-pci, and the allocation's MAC and VLAN; release then gives the VF
# its stable MAC back.
need_cmd apply
HS=$OUT/hoststate CFG=$OUT/hoststate/vifman.toml STATE=$OUT/hoststate/state
[ -s "$HS/allocation" ] || fail "boot 1 left no allocation record in $HS"
read -r vif addr idx < "$HS/allocation"
read -r -a stable < "$HS/stable-macs"
now() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }

step "a fresh kernel"
expect_eq "numvfs after reboot" "$(numvfs "$PF")" 0

step "apply --boot"
t0=$(now)
run_ok vifman apply --boot --config "$CFG" --state-dir "$STATE" --json
boot_ms=$(( $(now) - t0 ))
cp "$RUN_OUT" "$HS/apply-boot.json"
expect_eq "numvfs" "$(numvfs "$PF")" 4
expect_eq "VF 3 driver" "$(drv "$(vf_addr "$PF" 3)")" vfio-pci
expect_eq "allocated VF address" "$(vf_addr "$PF" "$idx")" "$addr"
for i in 0 1 2 3; do
  [ "$i" = "$idx" ] && continue
  expect_eq "VF $i stable MAC" "$(vf_field "$PFDEV" $i .address)" "${stable[$i]}"
done
expect_eq "allocated mac" "$(vf_field "$PFDEV" "$idx" .address)" 02:aa:bb:cc:dd:90
expect_eq "allocated vlan" "$(vf_field "$PFDEV" "$idx" '.vlan_list[0].vlan')" 90
run_ok allocations
expect_eq "allocation phase" "$(jq -r --arg v "$vif" '.[] | select(.vif_id == $v) | .phase' "$RUN_OUT")" active

step "in sync after boot"
run_ok vifman apply --config "$CFG" --state-dir "$STATE" --check

step "release gives the VF its stable MAC back"
run_ok release "$vif"
expect_eq "mac after release" "$(vf_field "$PFDEV" "$idx" .address)" "${stable[$idx]}"
vlan=$(vf_field "$PFDEV" "$idx" '.vlan_list[0].vlan // 0')
expect_eq "vlan after release" "$vlan" 0
echo "TIMING-APPLY boot_ms=$boot_ms"
pass "after a real reboot, apply --boot (${boot_ms} ms) rebuilt 4 VFs with the same stable MACs, VF 3 on vfio-pci, and $addr with mac+vlan 90 (active); release restored its stable MAC"
