# inventory: `vifman inventory --json` against what sysfs and `ip -j -d link show` say, for
# every igb PF, with VFs carrying a mix of admin settings.
need_cmd inventory
fresh_vfs "$PF" 4
[ -z "$PF2" ] || fresh_vfs "$PF2" 2
ip link set "$PFDEV" vf 0 mac 02:11:22:33:44:55 vlan 100 qos 3
ip link set "$PFDEV" vf 1 spoofchk off trust on
ip link set "$PFDEV" vf 2 max_tx_rate 200

step "vifman inventory --json"
run_ok vifman inventory --json
cp "$RUN_OUT" "$OUT/inventory.json"
inv=$OUT/inventory.json
expect_eq "vf_state_source" "$(jq -r .vf_state_source "$inv")" kernel
jv() { jq -r "$1" <<<"$2"; }  # jv FILTER JSON: null stays "null"
checked=0
for pf in $(pfs); do
  step "PF $pf"
  p=$(jq -c --arg a "$pf" '.physical_functions[] | select(.address == $a)' "$inv")
  [ -n "$p" ] || fail "PF $pf missing from the inventory"
  s=$(dev "$pf")
  expect_eq "$pf vendor_id" "$(jv .vendor_id "$p")" "$(sed 's/^0x//' "$s/vendor")"
  expect_eq "$pf device_id" "$(jv .device_id "$p")" "$(sed 's/^0x//' "$s/device")"
  expect_eq "$pf driver" "$(jv .driver "$p")" "$(drv "$pf")"
  expect_eq "$pf total_vfs" "$(jv .sriov.total_vfs "$p")" "$(cat "$s/sriov_totalvfs")"
  expect_eq "$pf num_vfs" "$(jv .sriov.num_vfs "$p")" "$(numvfs "$pf")"
  pdev=$(netdev_of "$pf")
  expect_eq "$pf netdev" "$(jv '.netdevs[0].name' "$p")" "$pdev"
  expect_eq "$pf netdev mac" "$(jv '.netdevs[0].mac' "$p")" "$(cat "/sys/class/net/$pdev/address")"
  n=$(numvfs "$pf")
  expect_eq "$pf VF count" "$(jv '.vfs | length' "$p")" "$n"
  for ((i = 0; i < n; i++)); do
    v=$(jq -c ".vfs[] | select(.index == $i)" <<<"$p")
    a=$(vf_addr "$pf" $i); k=$(vfinfo "$pdev" $i); nd=$(netdev_of "$a")
    expect_eq "$pf vf$i address" "$(jv .address "$v")" "$a"
    expect_eq "$pf vf$i driver" "$(jv .driver "$v")" "$(drv "$a")"
    expect_eq "$pf vf$i netdev" "$(jv .netdev.name "$v")" "$nd"
    expect_eq "$pf vf$i netdev mac" "$(jv .netdev.mac "$v")" "$(cat "/sys/class/net/$nd/address")"
    expect_eq "$pf vf$i admin mac" "$(jv .admin.mac "$v")" "$(jv .address "$k")"
    expect_eq "$pf vf$i vlan" "$(jv .admin.vlan "$v")" "$(jv '.vlan_list[0].vlan // 0' "$k")"
    expect_eq "$pf vf$i qos" "$(jv .admin.qos "$v")" "$(jv '.vlan_list[0].qos // 0' "$k")"
    expect_eq "$pf vf$i spoofchk" "$(jv .admin.spoofchk "$v")" "$(jv .spoofchk "$k")"
    expect_eq "$pf vf$i trust" "$(jv .admin.trust "$v")" "$(jv .trust "$k")"
    expect_eq "$pf vf$i link_state" "$(jv .admin.link_state "$v")" "$(jv .link_state "$k")"
    expect_eq "$pf vf$i max_tx_rate" "$(jv .admin.max_tx_rate "$v")" "$(jv .rate.max_tx "$k")"
    if [ -e "$(dev "$a")/iommu_group" ]; then
      expect_eq "$pf vf$i iommu_group" "$(jv .iommu_group "$v")" \
        "$(basename "$(readlink "$(dev "$a")/iommu_group")")"
    fi
    checked=$((checked + 1))
  done
done
expect_eq "PF count" "$(jq '.physical_functions | length' "$inv")" "$(pfs | wc -l)"

step "table output"
run_ok vifman inventory
grep -q "$PF" "$RUN_OUT" || fail "table does not mention $PF"
pass "$(pfs | wc -l) PFs, $checked VFs match sysfs and ip -j -d link show"
