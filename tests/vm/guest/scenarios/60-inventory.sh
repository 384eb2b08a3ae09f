# inventory: `vifman inventory --json` against what sysfs and `ip -j -d link show` say, for
# every igb PF, with VFs carrying a mix of admin settings. The comparison is one jq program
# per PF (inventory-check.jq): under TCG every extra process costs ~0.1-0.5 s.
need_cmd inventory
fresh_vfs "$PF" 4
[ -z "$PF2" ] || fresh_vfs "$PF2" 2
mark_dirty "$PF"
ip link set "$PFDEV" vf 0 mac 02:11:22:33:44:55 vlan 100 qos 3
ip link set "$PFDEV" vf 1 spoofchk off trust on
ip link set "$PFDEV" vf 2 max_tx_rate 200

step "vifman inventory --json"
run_ok vifman inventory --json
inv=$OUT/inventory.json; cp "$RUN_OUT" "$inv"
expect_eq "vf_state_source" "$(jq -r .vf_state_source "$inv")" kernel
expect_eq "PF count" "$(jq '.physical_functions | length' "$inv")" "$(pfs | wc -l)"
# jstr VALUE: a JSON string, or null when empty.
jstr() { if [ -n "$1" ]; then printf '"%s"' "$1"; else printf null; fi; }
base() { local l; l=$(readlink "$1" 2>/dev/null) && echo "${l##*/}"; }
rm -f /tmp/mism.txt; nvf=0
for pf in $(pfs); do
  step "PF $pf"
  s=$(dev "$pf"); pdev=$(netdev_of "$pf"); n=$(numvfs "$pf")
  vendor=$(<"$s/vendor") device=$(<"$s/device")
  k="{\"address\":\"$pf\",\"vendor_id\":\"${vendor#0x}\",\"device_id\":\"${device#0x}\""
  k+=",\"driver\":$(jstr "$(drv "$pf")"),\"total_vfs\":$(<"$s/sriov_totalvfs"),\"num_vfs\":$n"
  k+=",\"netdev\":$(jstr "$pdev"),\"netdev_mac\":$(jstr "$(<"/sys/class/net/$pdev/address")"),\"vfs\":["
  for ((i = 0; i < n; i++)); do
    a=$(vf_addr "$pf" $i); nd=$(netdev_of "$a"); grp=$(base "$(dev "$a")/iommu_group")
    mac=; [ -z "$nd" ] || mac=$(<"/sys/class/net/$nd/address")
    [ $i = 0 ] || k+=","
    k+="{\"index\":$i,\"address\":\"$a\",\"driver\":$(jstr "$(drv "$a")"),\"netdev\":$(jstr "$nd")"
    k+=",\"netdev_mac\":$(jstr "$mac"),\"iommu_group\":${grp:-null}}"
    nvf=$((nvf + 1))
  done
  k+="]}"
  ip -j -d link show dev "$pdev" > /tmp/ip.json
  jq -nr --slurpfile invs "$inv" --argjson k "$k" --slurpfile ip /tmp/ip.json \
    -f /mnt/host/guest/inventory-check.jq | tee -a /tmp/mism.txt
done
mism=$(cat /tmp/mism.txt 2>/dev/null | wc -l)
[ "$mism" = 0 ] || fail "$mism mismatches, first: $(head -1 /tmp/mism.txt)"

step "table output"
run_ok vifman inventory
grep -q "$PF" "$RUN_OUT" || fail "table does not mention $PF"
pass "$(pfs | wc -l) PFs, $nvf VFs: inventory matches sysfs and ip -j -d link show"
