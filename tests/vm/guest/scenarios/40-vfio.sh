# vfio: `--mode hostdev-vfio` moves the VF from igbvf to vfio-pci (its IOMMU group comes from
# QEMU's intel-iommu: Debian kernels have no VFIO no-IOMMU mode); release moves it back to
# igbvf with its netdev and original admin state.
need_cmd allocate release
write_config
modprobe vfio-pci   # hosts load vfio-pci up front; the driver is not vifman's to load
fresh_vfs "$PF" 4
before=$(vfinfo_all "$PFDEV")

step "allocate hostdev-vfio"
vif=$(uuid)
run_ok allocate --vif-id "$vif" --mode hostdev-vfio --mac 02:aa:bb:cc:dd:05
cp "$RUN_OUT" "$OUT/allocate-vfio.json"
addr=$(odata dev_address); idx=$(vf_index "$PF" "$addr")
expect_eq "driver of $addr" "$(drv "$addr")" vfio-pci
grp=$(basename "$(readlink "$(dev "$addr")/iommu_group")")
[ -e "/dev/vfio/$grp" ] || fail "/dev/vfio/$grp missing"
! has_netdev "$addr" || fail "VF still has a netdev while bound to vfio-pci"
expect_eq "admin mac" "$(vf_field "$PFDEV" "$idx" .address)" 02:aa:bb:cc:dd:05

step "inventory shows it on vfio-pci"
run_ok vifman inventory --json
expect_eq "inventory driver" "$(jq -r --arg a "$addr" \
  '.physical_functions[].vfs[] | select(.address == $a) | .driver' "$RUN_OUT")" vfio-pci

step "release: back to igbvf"
run_ok release "$vif"
expect_eq "driver of $addr" "$(drv "$addr")" igbvf
wait_until 10 has_netdev "$addr" || fail "no netdev 10 s after release rebound igbvf"
expect_eq "VF state after release" "$(vfinfo_all "$PFDEV")" "$before"
pass "$addr igbvf -> vfio-pci (group $grp) -> igbvf"
