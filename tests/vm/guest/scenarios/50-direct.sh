# direct: a VIFDirect (macvtap on the VF netdev) in each mode; `vifman plug` creates it with
# the right mode and lower device, `vifman unplug` removes it, release frees the VF.
need_cmd allocate release plug unplug
write_config
fresh_vfs "$PF" 4
done_modes=
for mode in vepa bridge passthrough; do
  step "direct-$mode"
  vif=$(uuid)
  run_ok allocate --vif-id "$vif" --mode "direct-$mode"
  prim=$OUT/allocate-direct-$mode.json; cp "$RUN_OUT" "$prim"
  expect_eq "object" "$(oname)" VIFDirect
  expect_eq "mode" "$(odata mode)" "$mode"
  addr=$(odata dev_address); vf_index "$PF" "$addr" >/dev/null
  tap=$(odata vif_name); [ -n "$tap" ] || fail "VIFDirect has no vif_name"
  lower=$(netdev_of "$addr")
  run_ok vifman plug "$prim" --instance-uuid "$INSTANCE"
  j=$(ip -j -d link show dev "$tap") || fail "plug did not create $tap"
  expect_eq "$tap kind" "$(jq -r '.[0].linkinfo.info_kind' <<<"$j")" macvtap
  kmode=$mode; [ "$mode" != passthrough ] || kmode=passthru   # iproute2 spelling
  expect_eq "$tap macvtap mode" "$(jq -r '.[0].linkinfo.info_data.mode' <<<"$j")" "$kmode"
  expect_eq "$tap lower device" "$(jq -r '.[0].link' <<<"$j")" "$lower"
  ifx=$(cat "/sys/class/net/$tap/ifindex")
  [ -c "/dev/tap$ifx" ] || fail "no /dev/tap$ifx character device"
  run_ok vifman unplug "$prim" --instance-uuid "$INSTANCE"
  ! ip link show dev "$tap" >/dev/null 2>&1 || fail "unplug left $tap behind"
  run_ok release "$vif"
  done_modes="$done_modes $mode"
done
pass "macvtap plugged/unplugged in modes:$done_modes"
