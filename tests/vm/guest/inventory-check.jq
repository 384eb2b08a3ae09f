# Compare one PF of `vifman inventory --json` ($invs, slurped) with what the kernel says: $k (sysfs
# facts gathered by 60-inventory.sh) and $ip (`ip -j -d link show dev PF`, slurped).
# Prints one line per mismatch, nothing when they agree.
def chk(what; got; want):
  if got == want then empty
  else "\(what): inventory \(got | tojson), kernel \(want | tojson)" end;
$invs[0] as $inv
| ($inv.physical_functions | map(select(.address == $k.address)) | first) as $p
| ($ip[0][0].vfinfo_list // []) as $vfl
| if $p == null then "PF \($k.address) missing from the inventory" else
    chk("\($k.address) vendor_id"; $p.vendor_id; $k.vendor_id),
    chk("\($k.address) device_id"; $p.device_id; $k.device_id),
    chk("\($k.address) driver"; $p.driver; $k.driver),
    chk("\($k.address) total_vfs"; $p.sriov.total_vfs; $k.total_vfs),
    chk("\($k.address) num_vfs"; $p.sriov.num_vfs; $k.num_vfs),
    chk("\($k.address) netdev"; $p.netdevs[0].name; $k.netdev),
    chk("\($k.address) netdev mac"; $p.netdevs[0].mac; $k.netdev_mac),
    chk("\($k.address) VF count"; ($p.vfs | length); ($k.vfs | length)),
    ( $k.vfs[] as $kv
      | "\($k.address) vf\($kv.index)" as $n
      | ($p.vfs | map(select(.index == $kv.index)) | first) as $v
      | ($vfl | map(select(.vf == $kv.index)) | first) as $l
      | if $v == null then "\($n) missing from the inventory"
        elif $l == null then "\($n) missing from ip -j -d link show"
        else
          chk("\($n) address"; $v.address; $kv.address),
          chk("\($n) driver"; $v.driver; $kv.driver),
          chk("\($n) netdev"; $v.netdev.name; $kv.netdev),
          chk("\($n) netdev mac"; $v.netdev.mac; $kv.netdev_mac),
          chk("\($n) iommu_group"; $v.iommu_group; $kv.iommu_group),
          chk("\($n) admin mac"; $v.admin.mac; $l.address),
          chk("\($n) vlan"; $v.admin.vlan; ($l.vlan_list[0].vlan // 0)),
          chk("\($n) qos"; $v.admin.qos; ($l.vlan_list[0].qos // 0)),
          chk("\($n) spoofchk"; $v.admin.spoofchk; $l.spoofchk),
          chk("\($n) trust"; $v.admin.trust; $l.trust),
          chk("\($n) link_state"; $v.admin.link_state; $l.link_state),
          chk("\($n) max_tx_rate"; $v.admin.max_tx_rate; $l.rate.max_tx),
          chk("\($n) min_tx_rate"; $v.admin.min_tx_rate; $l.rate.min_tx)
        end )
  end
