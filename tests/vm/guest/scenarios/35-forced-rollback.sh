# forced-rollback: with --force-unsupported vifman sends the knob igb refuses; the kernel's
# error must roll back the knobs already applied (MAC, VLAN, spoofchk), leaving the VF as it was.
need_cmd allocate allocations
have_flag allocate --force-unsupported || skip "vifman allocate has no --force-unsupported yet"
write_config
fresh_vfs "$PF" 4
before=$(vfinfo_all "$PFDEV")
for knob in "--link-state disable" "--vlan-proto 802.1ad" "--min-tx-rate 10"; do
  step "forced $knob"
  vif=$(uuid)
  # shellcheck disable=SC2086
  run_fail allocate --vif-id "$vif" --mac 02:aa:bb:cc:dd:10 --vlan 300 --spoofchk off \
    --trust on --max-tx-rate 100 $knob --force-unsupported
  grep -qiE 'not supported|invalid argument|EOPNOTSUPP|EINVAL|os error|kernel' "$RUN_ERR" ||
    fail "error does not carry the kernel's reason: $(cat "$RUN_ERR")"
  expect_eq "VF state after rollback ($knob)" "$(vfinfo_all "$PFDEV")" "$before"
  run_ok allocations
  ! grep -q "$vif" "$RUN_OUT" || fail "failed $vif is recorded as allocated"
done
pass "kernel refusals of link-state/802.1ad/min_tx_rate rolled back mac, vlan, spoofchk, trust, rate"
