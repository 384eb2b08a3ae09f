# lab: the guest's own premises, through raw kernel interfaces only (no vifman). A FAIL here
# means the environment (kernel, QEMU, modules) changed, not that vifman broke.

step "PF identity"
expect_eq "PF $PF vendor:device" "$(cat "$(dev "$PF")/vendor"):$(cat "$(dev "$PF")/device")" "0x8086:0x10c9"
expect_eq "PF driver" "$(drv "$PF")" igb
expect_eq "sriov_totalvfs" "$(cat "$(dev "$PF")/sriov_totalvfs")" 7
expect_eq "PF carrier" "$(cat "/sys/class/net/$PFDEV/carrier")" 1

step "raw sysfs: 2 VFs, igbvf bound by mdev (async)"
set_vfs_raw "$PF" 2
expect_eq "VF0 driver" "$(drv "$(vf_addr "$PF" 0)")" igbvf

step "raw netlink VF config"
ip link set "$PFDEV" vf 1 mac 02:00:00:00:00:01 vlan 5 qos 1 spoofchk off trust on max_tx_rate 100
expect_eq "vf1 mac" "$(vf_field "$PFDEV" 1 .address)" 02:00:00:00:00:01
expect_eq "vf1 vlan" "$(vf_field "$PFDEV" 1 '.vlan_list[0].vlan')" 5
expect_eq "vf1 max_tx" "$(vf_field "$PFDEV" 1 .rate.max_tx)" 100
! ip link set "$PFDEV" vf 1 state disable 2>/dev/null || fail "igb accepted link-state"
ip link set "$PFDEV" vf 1 vlan 0 spoofchk on trust off max_tx_rate 0

step "vfio-pci behind the virtual IOMMU"
modprobe vfio-pci
vf=$(vf_addr "$PF" 1)
[ -e "$(dev "$vf")/iommu_group" ] || fail "VF $vf has no iommu_group (intel-iommu missing?)"
grp=$(basename "$(readlink "$(dev "$vf")/iommu_group")")
echo vfio-pci > "$(dev "$vf")/driver_override"
echo "$vf" > "$(dev "$vf")/driver/unbind"
echo "$vf" > /sys/bus/pci/drivers_probe
expect_eq "VF1 driver" "$(drv "$vf")" vfio-pci
[ -e "/dev/vfio/$grp" ] || fail "no /dev/vfio/$grp node"
echo > "$(dev "$vf")/driver_override"
echo "$vf" > "$(dev "$vf")/driver/unbind"
echo "$vf" > /sys/bus/pci/drivers_probe
wait_until 10 has_netdev "$vf" || fail "VF1 netdev not back after igbvf rebind"
expect_eq "VF1 driver" "$(drv "$vf")" igbvf

step "macvtap on a VF netdev"
modprobe macvtap
vfdev=$(netdev_of "$(vf_addr "$PF" 0)")
ip link add link "$vfdev" name mvt0 type macvtap mode vepa
expect_eq "macvtap mode" "$(ip -j -d link show dev mvt0 | jq -r '.[0].linkinfo.info_data.mode')" vepa
ip link del mvt0

set_vfs_raw "$PF" 0
pass "igb $PF totalvfs 7, VFs/igbvf, ip vf knobs, vfio-pci (vIOMMU), macvtap work"
