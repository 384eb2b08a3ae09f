# wholelab: the premises of whole-device passthrough, through raw kernel interfaces only (no
# vifman): an e1000e NIC and two NVMe controllers, each alone in its IOMMU group, and q35's
# chipset functions sharing one group (the non-viable case). A FAIL here means the lab
# (QEMU devices, kernel modules, vIOMMU) changed, not that vifman broke.

step "devices and drivers"
e1000e=$(whole_dev 0x8086 0x10d3) || fail "no e1000e (8086:10d3) in the guest"
nvmes=$(whole_dev 0x1b36 0x0010) || fail "no QEMU NVMe (1b36:0010) in the guest"
expect_eq "NVMe controllers" "$(echo "$nvmes" | wc -w)" 2
wait_until 10 has_netdev "$e1000e" || fail "e1000e $e1000e has no netdev"
expect_eq "e1000e driver" "$(drv "$e1000e")" e1000e
for n in $nvmes; do expect_eq "driver of $n" "$(drv "$n")" nvme; done

step "IOMMU groups"
for d in $e1000e $nvmes; do
  expect_eq "group of $d" "$(group_members "$d")" "$d"
done
lpc=$(whole_dev 0x8086 0x2918) || fail "no ICH9 LPC (8086:2918)"
members=$(group_members "$lpc")
[ "$(echo "$members" | wc -w)" -gt 1 ] || fail "chipset group of $lpc is $members, expected several"
echo "chipset group: $members"

step "raw vfio-pci bind of an NVMe controller and back"
modprobe vfio-pci
n=${nvmes%% *}
grp=$(basename "$(readlink "$(dev "$n")/iommu_group")")
echo vfio-pci > "$(dev "$n")/driver_override"
echo "$n" > "$(dev "$n")/driver/unbind"
echo "$n" > /sys/bus/pci/drivers_probe
expect_eq "driver of $n" "$(drv "$n")" vfio-pci
[ -e "/dev/vfio/$grp" ] || fail "no /dev/vfio/$grp"
echo > "$(dev "$n")/driver_override"
echo "$n" > "$(dev "$n")/driver/unbind"
echo "$n" > /sys/bus/pci/drivers_probe
expect_eq "driver of $n" "$(drv "$n")" nvme
pass "e1000e $e1000e, NVMe $nvmes alone in their groups; chipset group $members; NVMe vfio-pci round trip"
