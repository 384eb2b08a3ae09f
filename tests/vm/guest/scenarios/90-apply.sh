# apply (boot 1 of the host-state pair; boot-replay is boot 2): a [[pf]] policy brings the
# first PF from no VFs to 4 with stable MACs and VF 3 on vfio-pci, in one `vifman apply`;
# --check is then in sync and a second apply writes nothing. A VF is allocated with
# MAC + VLAN, and the run asks for a reboot: config and state dir live on the 9p share,
# the only thing that survives it.
need_cmd apply allocate
HS=$OUT/hoststate; rm -rf "$HS"; mkdir -p "$HS"
CFG=$HS/vifman.toml STATE=$HS/state
cat > "$CFG" <<EOF
[[device_spec]]
address = "$PF"
physical_network = "physnet1"

[[pf]]
address = "$PF"
numvfs = 4
up = true

[[pf.vf]]
vfs = "0-3"
mac = "stable"
spoofchk = true

[[pf.vf]]
vfs = "3"
driver = "vfio-pci"
EOF
now() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }

step "the kernel's own VF creation time (0 -> 4, igbvf netdevs up)"
set_vfs_raw "$PF" 0
t0=$(now); set_vfs_raw "$PF" 4; raw_ms=$(( $(now) - t0 ))
set_vfs_raw "$PF" 0
echo "raw: ${raw_ms} ms"

step "apply from no VFs"
t0=$(now)
run_ok vifman apply --config "$CFG" --state-dir "$STATE" --json
apply_ms=$(( $(now) - t0 ))
cp "$RUN_OUT" "$HS/apply1.json"
expect_eq "numvfs" "$(numvfs "$PF")" 4
vf3=$(vf_addr "$PF" 3)
expect_eq "VF 3 driver" "$(drv "$vf3")" vfio-pci
for i in 0 1 2; do expect_eq "VF $i driver" "$(drv "$(vf_addr "$PF" $i)")" igbvf; done
macs=""
for i in 0 1 2 3; do
  m=$(vf_field "$PFDEV" $i .address)
  case $m in 00:00:00:00:00:00|"") fail "VF $i has no admin MAC after apply";; esac
  # Locally administered unicast: second-lowest bit of the first octet set, lowest clear.
  (( (0x${m%%:*} & 3) == 2 )) || fail "VF $i MAC $m is not locally administered unicast"
  macs="$macs $m"
done
macs=${macs# }
echo "$macs" > "$HS/stable-macs"
[ "$(echo "$macs" | tr ' ' '\n' | sort -u | wc -l)" = 4 ] || fail "stable MACs not distinct: $macs"

step "in sync: --check exits 0, a second apply writes nothing"
run_ok vifman apply --config "$CFG" --state-dir "$STATE" --check
run_ok vifman apply --config "$CFG" --state-dir "$STATE" --json
steps=$(jq '[.. | objects | select(has("status")) ] | length' "$RUN_OUT")
expect_eq "steps of a second apply" "$steps" 0

step "allocate a VF with MAC and VLAN"
vif=$(uuid)
run_ok allocate --vif-id "$vif" --mac 02:aa:bb:cc:dd:90 --vlan 90
addr=$(odata dev_address)
idx=$(vf_index "$PF" "$addr")
expect_eq "allocated mac" "$(vf_field "$PFDEV" "$idx" .address)" 02:aa:bb:cc:dd:90
expect_eq "allocated vlan" "$(vf_field "$PFDEV" "$idx" '.vlan_list[0].vlan')" 90
echo "$vif $addr $idx" > "$HS/allocation"
# The next scenarios must not find this PF's VFs in an unknown state.
mark_dirty "$PF"

step "request the reboot"
echo "boot-replay" > "$OUT/reboot"
echo "TIMING-APPLY raw_vf_creation_ms=$raw_ms apply_ms=$apply_ms"
pass "policy applied in ${apply_ms} ms (kernel VF creation alone ${raw_ms} ms): 4 VFs, stable MACs, VF 3 on vfio-pci; $addr allocated (mac, vlan 90); reboot requested"
