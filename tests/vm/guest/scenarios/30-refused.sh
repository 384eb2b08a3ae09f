# refused: knobs igb cannot do (link state, 802.1ad, min_tx_rate) are refused by vifman
# before it touches the VF: same kernel VF state, no allocation, and no igb "VF" log lines.
need_cmd allocate allocations
write_config
fresh_vfs "$PF" 4
before=$(vfinfo_all "$PFDEV")
n=0
# knob | what the error must name
while IFS='|' read -r knob why <&3; do
  step "refuse $knob"
  vif=$(uuid); mark=$(dmesg_mark)
  # shellcheck disable=SC2086
  run_fail allocate --vif-id "$vif" --mac 02:aa:bb:cc:dd:0$n $knob
  grep -qiE "$why" "$RUN_ERR" || fail "refusal does not name the knob ($why): $(cat "$RUN_ERR")"
  expect_eq "VF state after refusing $knob" "$(vfinfo_all "$PFDEV")" "$before"
  if dmesg_since "$mark" | grep -E 'on VF [0-9]'; then fail "igb logged a VF change: the VF was touched"; fi
  run_ok allocations
  ! grep -q "$vif" "$RUN_OUT" || fail "refused $vif is recorded as allocated"
  n=$((n + 1))
done 3<<'EOF'
--vlan 7 --link-state disable|link.?state
--vlan 200 --vlan-proto 802.1ad|802\.1ad|vlan.?proto
--vlan 7 --min-tx-rate 10|min.?tx
EOF
pass "link-state, 802.1ad, min_tx_rate refused with the VF untouched"
