# allocate: a VIFHostDevice with MAC, VLAN+QoS, spoofchk off, trust on and max_tx_rate; the
# kernel must show every knob, and release must restore every original value (read back
# from the kernel, compared with the state before the allocation).
need_cmd allocate release allocations
write_config
fresh_vfs "$PF" 4
[ -z "$PF2" ] || fresh_vfs "$PF2" 2   # not in the config: must never be picked
before=$(vfinfo_all "$PFDEV")
[ -z "$PF2" ] || before2=$(vfinfo_all "$(netdev_of "$PF2")")

step "allocate"
vif=$(uuid)
run_ok allocate --vif-id "$vif" --mac 02:aa:bb:cc:dd:01 --vlan 100:3 --spoofchk off \
  --trust on --max-tx-rate 200
cp "$RUN_OUT" "$OUT/allocate-hostdev.json"
expect_eq "object" "$(oname)" VIFHostDevice
expect_eq "vif id" "$(odata id)" "$vif"
addr=$(odata dev_address)
idx=$(vf_index "$PF" "$addr")   # fails unless the VF belongs to the configured PF
echo "allocated $addr (vf $idx)"

step "the kernel shows every knob"
expect_eq "mac" "$(vf_field "$PFDEV" "$idx" .address)" 02:aa:bb:cc:dd:01
expect_eq "vlan" "$(vf_field "$PFDEV" "$idx" '.vlan_list[0].vlan')" 100
expect_eq "qos" "$(vf_field "$PFDEV" "$idx" '.vlan_list[0].qos')" 3
expect_eq "spoofchk" "$(vf_field "$PFDEV" "$idx" .spoofchk)" false
expect_eq "trust" "$(vf_field "$PFDEV" "$idx" .trust)" true
expect_eq "max_tx_rate" "$(vf_field "$PFDEV" "$idx" .rate.max_tx)" 200

step "allocations --json lists it"
run_ok allocations
grep -q "$vif" "$RUN_OUT" || fail "allocations does not list $vif: $(head -c 400 "$RUN_OUT")"
grep -q "$addr" "$RUN_OUT" || fail "allocations does not name $addr"

step "a second allocation gets another VF of the same PF"
vif2=$(uuid)
run_ok allocate --vif-id "$vif2" --mac 02:aa:bb:cc:dd:02
addr2=$(odata dev_address)
vf_index "$PF" "$addr2" >/dev/null
[ "$addr2" != "$addr" ] || fail "second allocation got the same VF $addr"

step "release restores the original state of every VF"
run_ok release "$vif"
run_ok release "$vif2"
expect_eq "VF state after release" "$(vfinfo_all "$PFDEV")" "$before"
[ -z "$PF2" ] || expect_eq "other PF untouched" "$(vfinfo_all "$(netdev_of "$PF2")")" "$before2"
run_ok allocations
! grep -q "$vif" "$RUN_OUT" || fail "released $vif still listed"
pass "$addr: mac/vlan 100 qos 3/spoofchk off/trust on/max_tx 200 applied and restored"
