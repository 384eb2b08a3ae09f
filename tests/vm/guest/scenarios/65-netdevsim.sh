# netdevsim: switchdev and devlink on a real kernel (the igb NIC has neither). Needs
# /mnt/host/modules/netdevsim.ko, built for this kernel by tests/vm/netdevsim.sh.
# netdevsim is not PCI: its PF is addressed by netdev name (vifman resolves the devlink
# instance from the devlink port whose netdev that is), and it has VF records but no VF
# devices, so only devlink/rtnetlink paths are exercised here.
KO=/mnt/host/modules/netdevsim.ko
[ -s "$KO" ] || skip "no netdevsim.ko on the share (tests/vm/netdevsim.sh did not build it)"
command -v devlink >/dev/null || skip "no devlink binary in the guest to read the kernel back"
need_cmd eswitch

step "load netdevsim, one device, 4 VFs"
modprobe psample
insmod "$KO"
echo "10 1" > /sys/bus/netdevsim/new_device
NSD=/sys/bus/netdevsim/devices/netdevsim10
DL=netdevsim/netdevsim10
for _ in $(seq 50); do [ -n "$(ls "$NSD/net" 2>/dev/null)" ] && break; sleep 0.1; done
ND=$(ls "$NSD/net")
echo 4 > "$NSD/sriov_numvfs"
ip link set "$ND" up
kmode() { devlink -j dev eswitch show "$DL" | jq -r ".dev[\"$DL\"].mode"; }

NCFG=/tmp/netdevsim.toml NSTATE=/run/vifman-state-netdevsim
: > "$NCFG"
vfset() { vifman vf set "$@" --config "$NCFG" --state-dir "$NSTATE"; }
vfj() { ip -j link show "$ND" | jq -c ".[0].vfinfo_list[$1]"; }
# One VF's knobs in one shape: from `ip -j -d link show` vfinfo_list (ipvf) and from
# `vifman vf show --json` .admin (vsvf).
ipvf='{vf, mac: .address, vlan: (.vlan_list[0].vlan // .vlan // 0),
  qos: (.vlan_list[0].qos // .qos // 0), proto: (.vlan_list[0].protocol // "802.1Q"),
  spoofchk, trust, state: .link_state, min: (.rate.min_tx // 0), max: (.rate.max_tx // 0)}'
vsvf='{vf, mac, vlan, qos, proto: .vlan_proto, spoofchk, trust, state: .link_state,
  min: .min_tx_rate, max: .max_tx_rate}'
kvfs() { ip -j -d link show "$ND" | jq -c "[.[0].vfinfo_list[] | $ipvf]"; }
# `vifman inventory --json`: the netdevsim PF's entry in bus_functions (in $BPF; the whole
# output in $RUN_OUT), and its VFs' knobs in the vsvf shape.
inv_pf() {
  run_ok vifman inventory --json --config "$NCFG" --state-dir "$NSTATE" "$@"
  BPF=$(jq -c --arg dl "$DL" '[.bus_functions[]? | select(.device == $dl)][0] // empty' "$RUN_OUT")
  [ -n "$BPF" ] || fail "$DL not in inventory bus_functions: $(jq -c '.bus_functions, .warnings' "$RUN_OUT")"
}
inv_vfs() { jq -c "[.vfs[] | .admin + {vf: .index} | $vsvf]" <<<"$BPF"; }

step "vifman vf set: every knob (also those igb refuses), read back by ip -j link"
if have_cmd vf set; then
  run_ok vfset "$ND" 1 mac 02:11:22:33:44:55 vlan 200 qos 3 proto 802.1ad spoofchk off \
    trust on state disable min_tx_rate 10 max_tx_rate 100
  v=$(vfj 1); echo "$v"
  expect_eq "vf1 mac" "$(jq -r .address <<<"$v")" 02:11:22:33:44:55
  expect_eq "vf1 vlan/qos/proto" "$(jq -c '.vlan_list[0]' <<<"$v")" '{"vlan":200,"qos":3,"protocol":"802.1ad"}'
  expect_eq "vf1 spoofchk/trust/state" "$(jq -c '[.spoofchk, .trust, .link_state]' <<<"$v")" '[false,true,"disable"]'
  expect_eq "vf1 rates" "$(jq -c '[.rate.min_tx, .rate.max_tx]' <<<"$v")" '[10,100]'
  run_ok vfset "$ND" 2 mac 02:11:22:33:44:66 vlan 7 trust on max_tx_rate 50

  step "vifman inventory lists the netdevsim PF (legacy): every VF's knobs = ip -j -d link vfinfo_list"
  inv_pf
  cp "$RUN_OUT" "$OUT/netdevsim-inventory-legacy.json"
  expect_eq "inventory: VF count" "$(jq '.vfs | length' <<<"$BPF")" 4
  expect_eq "inventory: all VFs' knobs (vifman vs ip)" "$(inv_vfs)" "$(kvfs)"
  expect_eq "inventory: vf 1 knobs" "$(jq -c '.vfs[1].admin | [.mac, .vlan, .qos, .vlan_proto, .spoofchk, .trust, .link_state, .min_tx_rate, .max_tx_rate]' <<<"$BPF")" \
    '["02:11:22:33:44:55",200,3,"802.1ad",false,true,"disable",10,100]'

  step "vifman vf show on the non-PCI PF: every knob read back = ip -j -d link vfinfo_list"
  vfshow() { vifman vf show "$@" --config "$NCFG" --state-dir "$NSTATE"; }
  run_ok vfshow "$ND" --json
  cp "$RUN_OUT" "$OUT/netdevsim-vf-show.json"
  # netdevsim reports VLAN protocol 0 on unset VFs; the netlink crate's warning about it is
  # kept out of an operator's stderr (it shows with -vv).
  if grep -q "unknown VLAN protocol" "$RUN_ERR"; then fail "netlink crate noise on stderr: $(head -c 300 "$RUN_ERR")"; fi
  expect_eq "vf show: VF count" "$(jq length "$RUN_OUT")" 4
  expect_eq "vf show: all VFs (vifman vs ip)" "$(jq -c "[.[].admin | $vsvf]" "$RUN_OUT")" "$(kvfs)"
  expect_eq "vf show: PCI-only fields null" \
    "$(jq -c '[.[] | [.address, .driver, .reset_methods, (.netdevs | length), .pf_netdev]] | unique' "$RUN_OUT")" \
    "[[null,null,null,0,\"$ND\"]]"
  run_ok vfshow "$ND" 1 --json
  expect_eq "vf show 1 (vifman vs ip)" "$(jq -c ".admin | $vsvf" "$RUN_OUT")" "$(kvfs | jq -c '.[1]')"
  expect_eq "vf show 1 knobs" "$(jq -c '.admin | [.mac, .vlan, .qos, .vlan_proto, .spoofchk, .trust, .link_state, .min_tx_rate, .max_tx_rate]' "$RUN_OUT")" \
    '["02:11:22:33:44:55",200,3,"802.1ad",false,true,"disable",10,100]'
  expect_eq "vf show 1 index/address" "$(jq -c '[.vf_index, .address]' "$RUN_OUT")" '[1,null]'
  run_ok vfshow "$ND" 2 --json
  expect_eq "vf show 2 (vifman vs ip)" "$(jq -c ".admin | $vsvf" "$RUN_OUT")" "$(kvfs | jq -c '.[2]')"
  run_ok vfshow "$ND" 1                    # the text form works too
  run_fail vfshow "$ND" 9
  grep -q "has no VF 9" "$RUN_ERR" || fail "no clear error for VF 9: $(cat "$RUN_ERR")"
  run_ok vfset "$ND" 2 mac 00:00:00:00:00:00 vlan 0 trust off max_tx_rate 0
  run_ok vfset "$ND" 1 mac 00:00:00:00:00:00 vlan 0 qos 0 proto 802.1Q spoofchk on trust off \
    state auto min_tx_rate 0 max_tx_rate 0
  run_fail vfset "$ND" 9 trust on          # 4 VFs
else
  echo "vifman has no 'vf set' yet: knob part skipped"
fi

step "eswitch get (legacy, no representors)"
run_ok vifman eswitch "$ND" --json
expect_eq "handle" "$(jq -r '.devlink.bus + "/" + .devlink.dev' "$RUN_OUT")" "$DL"
expect_eq "mode" "$(jq -r .mode "$RUN_OUT")" legacy
expect_eq "representors" "$(jq '.representors | length' "$RUN_OUT")" 0

step "eswitch inline-mode/encap-mode: netdevsim has neither (EOPNOTSUPP), reported clearly"
esw_attrs() { devlink -j dev eswitch show "$DL" | jq -c ".dev[\"$DL\"] | [.[\"inline-mode\"], .[\"encap-mode\"]]"; }
expect_eq "devlink reports no inline/encap mode" "$(esw_attrs)" '[null,null]'
for a in "--inline-mode transport" "--encap-mode basic"; do
  # shellcheck disable=SC2086
  run_fail vifman eswitch "$ND" $a
  cat "$RUN_ERR"
  grep -q "${a#--}" "$RUN_ERR" || fail "the refused attribute is not named: $(cat "$RUN_ERR")"
  grep -Eq "EOPNOTSUPP|not supported" "$RUN_ERR" || fail "no EOPNOTSUPP in: $(cat "$RUN_ERR")"
  expect_eq "kernel mode after the refused $a" "$(kmode)" legacy
done
# With a mode change in the same request (as `devlink dev eswitch set DEV mode M
# inline-mode I` sends it) the kernel sets the mode before it refuses the inline mode:
# vifman puts the mode back and says so.
run_fail vifman eswitch "$ND" switchdev --inline-mode link
cat "$RUN_ERR"
grep -q "inline-mode link" "$RUN_ERR" || fail "the refused attribute is not named: $(cat "$RUN_ERR")"
grep -Eq "EOPNOTSUPP|not supported" "$RUN_ERR" || fail "no EOPNOTSUPP in: $(cat "$RUN_ERR")"
if grep -q "the kernel had applied the mode" "$RUN_ERR"; then
  echo "kernel applied mode switchdev before refusing inline-mode; vifman put it back"
fi
grep -q "NOT undone" "$RUN_ERR" && fail "rollback incomplete: $(cat "$RUN_ERR")"
expect_eq "kernel mode after the refused mode+inline set" "$(kmode)" legacy
expect_eq "no representors left" "$(devlink -j port show | jq '[.port[] | select(.flavour == "pcivf")] | length')" 0

step "eswitch legacy -> switchdev (engine: hwdb order rule of driver netdevsim = any)"
run_ok vifman eswitch "$ND" switchdev --json
expect_eq "kernel mode" "$(kmode)" switchdev
expect_eq "order rule" "$(jq -r '.order + " " + .driver + " " + .from + "->" + .to' "$RUN_OUT")" "any netdevsim legacy->switchdev"
expect_eq "steps" "$(jq -c '[.steps[].step]' "$RUN_OUT")" '["set_mode"]'
expect_eq "representors waited for" "$(jq .representors "$RUN_OUT")" 4
run_ok vifman eswitch "$ND" --json
cp "$RUN_OUT" "$OUT/netdevsim-eswitch.json"
expect_eq "mode" "$(jq -r .mode "$RUN_OUT")" switchdev
# vifman's map (vf -> port, netdev) against `devlink port show -j` and `ip -d link`.
mine=$(jq -c '[.representors[] | {vf, port, netdev}]' "$RUN_OUT")
theirs=$(devlink -j port show | jq -c --arg dl "$DL" '[.port | to_entries[]
  | select(.key | startswith($dl + "/")) | select(.value.flavour == "pcivf")
  | {vf: .value.vfnum, port: (.key | split("/")[2] | tonumber), netdev: .value.netdev}]
  | sort_by(.vf)')
expect_eq "representors (vifman vs devlink port show)" "$mine" "$theirs"
expect_eq "representor count" "$(jq length <<<"$mine")" 4
for i in 0 1 2 3; do
  rep=$(jq -r ".[$i].netdev" <<<"$mine")
  expect_eq "vf $i representor phys_port_name" \
    "$(ip -j -d link show "$rep" | jq -r '.[0].phys_port_name')" "pf0vf$i"
  expect_eq "vf $i representor ifindex" \
    "$(ip -j link show "$rep" | jq -r '.[0].ifindex')" \
    "$(jq -r ".representors[$i].ifindex" "$RUN_OUT")"
done

step "vifman inventory in switchdev: the PF's representors = devlink port show = vifman eswitch"
inv_pf
cp "$RUN_OUT" "$OUT/netdevsim-inventory-switchdev.json"
echo "$BPF" | jq -c '{device, driver, netdevs: [.netdevs[].name], sriov, switchdev, eswitch}'
expect_eq "inventory: identity" "$(jq -c '[.device, .bus, .driver, [.netdevs[].name], .sriov.num_vfs]' <<<"$BPF")" \
  "[\"$DL\",\"netdevsim\",\"netdevsim\",[\"$ND\"],4]"
expect_eq "inventory: eswitch" "$(jq -c '[.eswitch.mode, .eswitch.source, .eswitch.devlink, .switchdev]' <<<"$BPF")" \
  "[\"switchdev\",\"devlink\",\"$DL\",true]"
inv_reps=$(jq -c '[.vfs[] | {vf: .index, netdev: .representor}]' <<<"$BPF")
expect_eq "inventory representors = devlink port show" "$inv_reps" "$(jq -c '[.[] | {vf, netdev}]' <<<"$theirs")"
expect_eq "inventory representors = vifman eswitch" "$inv_reps" "$(jq -c '[.[] | {vf, netdev}]' <<<"$mine")"
run_ok vifman vf show "$ND" --json --config "$NCFG" --state-dir "$NSTATE"
expect_eq "vf show representors = inventory's" "$(jq -c '[.[] | {vf: .vf_index, netdev: .representor}]' "$RUN_OUT")" "$inv_reps"
inv_pf
expect_eq "inventory: representors are not PF netdevs" "$(jq '.netdevs | length' <<<"$BPF")" 1
expect_eq "inventory: all VFs' knobs (vifman vs ip)" "$(inv_vfs)" "$(kvfs)"
expect_eq "inventory: no warning about $ND" \
  "$(jq --arg nd "$ND" '[.warnings[] | select((.path + .message) | contains($nd))] | length' "$RUN_OUT")" 0
inv_pf --pf "$DL"
expect_eq "inventory --pf $DL: only it" "$(jq -c '[(.physical_functions | length), (.bus_functions | length)]' "$RUN_OUT")" '[0,1]'
inv_pf --pf "$ND"
expect_eq "inventory --pf $ND: only it" "$(jq -c '[(.physical_functions | length), (.bus_functions | length)]' "$RUN_OUT")" '[0,1]'
run_ok vifman inventory --pf "$ND" --config "$NCFG" --state-dir "$NSTATE"
cat "$RUN_OUT"
grep -q "^$DL: 4 of - VFs enabled, 4 listed .*eswitch switchdev (devlink $DL)" "$RUN_OUT" || fail "no summary line for $DL"

step "switchdev VF rates through devlink rate"
# The legacy path is refused by the kernel in switchdev mode: devlink rate is the only way.
! ip link set "$ND" vf 1 max_tx_rate 100 2>/dev/null || fail "IFLA_VF_RATE accepted in switchdev"
run_ok vifman vf rate "$ND" 1 --min-tx-rate 10 --max-tx-rate 100
port1=$(jq -r '.[1].port' <<<"$mine")
rate=$(devlink -j port function rate show "$DL/$port1")
expect_eq "tx_share (bytes/s)" "$(jq -r ".rate[\"$DL/$port1\"].tx_share" <<<"$rate")" 1250000
expect_eq "tx_max (bytes/s)" "$(jq -r ".rate[\"$DL/$port1\"].tx_max" <<<"$rate")" 12500000
expect_eq "PF-side vf 1 max_tx_rate" \
  "$(ip -j link show "$ND" | jq -r '.[0].vfinfo_list[1].rate.max_tx')" 100
run_fail vifman vf rate "$ND" 1 --max-tx-rate 6000     # above netdevsim's 5000 Mbit link
grep -q "5000" "$RUN_ERR" || fail "the kernel's reason is not in the error: $(cat "$RUN_ERR")"
run_ok vifman vf rate "$ND" 1 --min-tx-rate 0 --max-tx-rate 0

step "vf set min/max_tx_rate in switchdev: routed through the devlink rate leaf automatically"
if have_cmd vf set; then
  run_ok vfset "$ND" 1 min_tx_rate 20 max_tx_rate 100
  rate=$(devlink -j port function rate show "$DL/$port1")
  echo "$rate"
  expect_eq "vf set -> tx_share (bytes/s)" "$(jq -r ".rate[\"$DL/$port1\"].tx_share" <<<"$rate")" 2500000
  expect_eq "vf set -> tx_max (bytes/s)" "$(jq -r ".rate[\"$DL/$port1\"].tx_max" <<<"$rate")" 12500000
  run_ok vfset "$ND" 1 max_tx_rate 0 min_tx_rate 0
  rate=$(devlink -j port function rate show "$DL/$port1")
  expect_eq "vf set -> tx_max cleared" "$(jq -r ".rate[\"$DL/$port1\"].tx_max // 0" <<<"$rate")" 0
fi

step "vf set rollback on a real kernel refusal: devlink rate refuses 6000 Mbit after MAC and VLAN went in"
if have_cmd vf set; then
  before=$(vfj 0)
  run_fail vfset "$ND" 0 mac 02:00:00:00:00:aa vlan 40 max_tx_rate 6000
  grep -q "rolled back mac 02:00:00:00:00:aa, vlan 40" "$RUN_ERR" || fail "no rollback report: $(cat "$RUN_ERR")"
  grep -q "5000" "$RUN_ERR" || fail "the kernel's reason is not in the error: $(cat "$RUN_ERR")"
  expect_eq "vf 0 after the refused set" "$(vfj 0)" "$before"
fi

step "a rate node blocks a mode change: refused with the reason, nothing changed"
devlink port function rate add "$DL/grp1" tx_max 500mbit
run_fail vifman eswitch "$ND" legacy
grep -q "rate node" "$RUN_ERR" || fail "no rate-node reason: $(cat "$RUN_ERR")"
expect_eq "kernel mode" "$(kmode)" switchdev
devlink port function rate del "$DL/grp1"

step "rate nodes and VF leaf parents through vifman, read back by devlink port function rate show"
# Both views in one shape: {key: node name or port index, type, tx_share, tx_max, parent}.
# devlink omits zero rates and absent parents; vifman reports them as 0 and null.
dl_rates() { devlink -j port function rate show | jq -c --arg dl "$DL" '[.rate | to_entries[]
  | select(.key | startswith($dl + "/"))
  | {key: (.key | split("/")[2]), type: .value.type, tx_share: (.value.tx_share // 0 | tonumber),
     tx_max: (.value.tx_max // 0 | tonumber), parent: (.value.parent // null)}] | sort_by(.key)'; }
vm_rates() { vifman rate-node list "$ND" --json | jq -c '[.rates[]
  | {key: (if .type == "node" then .name else (.port | tostring) end), type, tx_share, tx_max, parent}]
  | sort_by(.key)'; }
dl_one() { dl_rates | jq -c --arg k "$1" '.[] | select(.key == $k)'; }
run_ok vifman rate-node add "$ND" tenant --min-tx-rate 100 --max-tx-rate 500 --json
expect_eq "node add read back (vifman)" "$(jq -c '.object | [.type, .name, .tx_share, .tx_max]' "$RUN_OUT")" '["node","tenant",12500000,62500000]'
expect_eq "node tenant (devlink)" "$(dl_one tenant)" '{"key":"tenant","type":"node","tx_share":12500000,"tx_max":62500000,"parent":null}'
run_ok vifman rate-node add "$ND" gold --max-tx-rate 200 --parent tenant
expect_eq "node gold (devlink)" "$(dl_one gold)" '{"key":"gold","type":"node","tx_share":0,"tx_max":25000000,"parent":"tenant"}'
run_ok vifman rate-node set "$ND" gold --max-tx-rate 300 --no-parent
expect_eq "node gold after set (devlink)" "$(dl_one gold)" '{"key":"gold","type":"node","tx_share":0,"tx_max":37500000,"parent":null}'
port2=$(jq -r '.[2].port' <<<"$mine")
run_ok vifman vf rate "$ND" 1 --parent tenant --max-tx-rate 100 --json
expect_eq "leaf vf 1 read back (vifman)" "$(jq -c '.object | [.vf, .port, .parent, .max_tx_rate]' "$RUN_OUT")" "[1,$port1,\"tenant\",100]"
run_ok vifman vf rate "$ND" 2 --parent tenant
expect_eq "leaf vf 1 (devlink)" "$(dl_one "$port1" | jq -c '[.type, .parent, .tx_max]')" '["leaf","tenant",12500000]'
expect_eq "leaf vf 2 (devlink)" "$(dl_one "$port2" | jq -c '[.type, .parent]')" '["leaf","tenant"]'
theirs_rates=$(dl_rates); echo "$theirs_rates"
expect_eq "every rate object (vifman rate-node list vs devlink)" "$(vm_rates)" "$theirs_rates"
expect_eq "objects: 2 nodes + 4 leaves" "$(jq -c '[group_by(.type)[] | length]' <<<"$theirs_rates")" '[4,2]'
vifman rate-node list "$ND" > "$OUT/netdevsim-rate-nodes.txt"
run_fail vifman rate-node del "$ND" tenant            # VF leaves are parented to it
cat "$RUN_ERR"
grep -q "VF 1 (leaf $port1), VF 2 (leaf $port2)" "$RUN_ERR" || fail "children not named: $(cat "$RUN_ERR")"
expect_eq "objects after the refused del (devlink)" "$(dl_rates)" "$theirs_rates"
run_fail vifman rate-node add "$ND" tenant            # exists
run_fail vifman rate-node add "$ND" 'a/b'             # not a node name
run_fail vifman vf rate "$ND" 3 --parent nosuch
run_ok vifman rate-node set "$ND" gold --parent tenant
run_fail vifman rate-node set "$ND" tenant --parent gold   # a cycle, refused before devlink
grep -q "that node is below it (a cycle)" "$RUN_ERR" || fail "cycle not named: $(cat "$RUN_ERR")"
run_ok vifman rate-node set "$ND" gold --no-parent
run_fail vifman rate-node set "$ND" gold --min-tx-rate 400  # above its own max 300
grep -q "above max_tx_rate 300 Mbit/s (its current value)" "$RUN_ERR" || fail "min>max not named: $(cat "$RUN_ERR")"
run_fail vfset "$ND" 1 vlan 4095                          # reserved, refused before rtnetlink
grep -q "4095 is reserved by 802.1Q" "$RUN_ERR" || fail "vlan 4095 not refused: $(cat "$RUN_ERR")"
expect_eq "objects after refused requests (devlink)" "$(dl_rates)" "$theirs_rates"
run_fail vifman eswitch "$ND" legacy                  # nodes block the mode change
grep -q "rate node(s) gold, tenant" "$RUN_ERR" || fail "no rate-node reason: $(cat "$RUN_ERR")"
run_ok vifman vf rate "$ND" 1 --no-parent --max-tx-rate 0
run_ok vifman vf rate "$ND" 2 --no-parent
expect_eq "leaves unparented (devlink)" \
  "$(dl_rates | jq -c '[.[] | select(.type == "leaf") | .parent] | unique')" '[null]'
run_ok vifman rate-node del "$ND" tenant
run_ok vifman rate-node del "$ND" gold --json
expect_eq "del read back" "$(jq -r .action "$RUN_OUT")" deleted
expect_eq "no nodes left (devlink)" "$(dl_rates | jq '[.[] | select(.type == "node")] | length')" 0
expect_eq "every rate object after cleanup (vifman vs devlink)" "$(vm_rates)" "$(dl_rates)"

step "switchdev -> legacy"
run_ok vifman eswitch "$ND" legacy --json
expect_eq "representors after legacy" "$(jq .representors "$RUN_OUT")" 0
expect_eq "kernel mode" "$(kmode)" legacy
expect_eq "pcivf ports left" "$(devlink -j port show | jq '[.port[] | select(.flavour == "pcivf")] | length')" 0
run_ok vifman eswitch "$ND" legacy      # same mode: a no-op, not an error
run_fail vifman eswitch nosuchdev0 switchdev
run_fail vifman vf rate "$ND" 1 --max-tx-rate 10   # no VF port in legacy mode

step "vifman inventory back in legacy: mode legacy, no representors, knobs = ip"
inv_pf
cp "$RUN_OUT" "$OUT/netdevsim-inventory-legacy-again.json"
expect_eq "inventory: eswitch" "$(jq -c '[.eswitch.mode, .eswitch.source, .switchdev]' <<<"$BPF")" '["legacy","devlink",false]'
expect_eq "inventory: representors" "$(jq -c '[.vfs[].representor] | unique' <<<"$BPF")" '[null]'
run_ok vifman vf show "$ND" --json --config "$NCFG" --state-dir "$NSTATE"
expect_eq "vf show: no representors" "$(jq -c '[.[].representor] | unique' "$RUN_OUT")" '[null]'
inv_pf
expect_eq "inventory: VF count" "$(jq '.vfs | length' <<<"$BPF")" 4
expect_eq "inventory: all VFs' knobs (vifman vs ip)" "$(inv_vfs)" "$(kvfs)"

step "vf show on a netdev without VFs: a clear error"
echo 0 > "$NSD/sriov_numvfs"
run_fail vifman vf show "$ND" --config "$NCFG" --state-dir "$NSTATE"
grep -q "$ND has no VFs" "$RUN_ERR" || fail "no clear no-VFs error: $(cat "$RUN_ERR")"
run_fail vifman vf show "$ND" 0 --config "$NCFG" --state-dir "$NSTATE"
grep -q "$ND has no VFs" "$RUN_ERR" || fail "no clear no-VFs error: $(cat "$RUN_ERR")"
inv_pf
expect_eq "inventory with 0 VFs: listed, no VFs" "$(jq -c '[.sriov.num_vfs, (.vfs | length)]' <<<"$BPF")" '[0,0]'

step "cleanup"
echo 10 > /sys/bus/netdevsim/del_device
rmmod netdevsim
pass "vf set every knob, vf show (all and one) = ip vfinfo_list, inline/encap refused (EOPNOTSUPP) with the mode put back + real-kernel rollback, legacy->switchdev->legacy through the engine's order rule, 4 representors from the port map = devlink = ip, devlink rate leaf read back (vf rate and vf set), rate-node refusal, rate nodes and leaf parents via vifman = devlink port function rate show, inventory lists the PF (knobs = ip, representors = devlink = eswitch in switchdev, none in legacy)"
