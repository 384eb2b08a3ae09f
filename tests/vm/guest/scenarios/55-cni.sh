# cni: `vifman cni` called as a runtime calls it (CNI_* environment, configuration on stdin)
# on real igbvf netdevs, with Debian's host-local as the delegated IPAM (issue 14). ADD into a
# fresh netns puts MAC/VLAN/QoS/spoofchk/trust on the PF and the renamed netdev with its
# address, MTU and route in the pod; CHECK passes; DEL restores name, namespace and VF state
# and releases the address; DEL after the netns was deleted first (the kernel hands the igbvf
# netdev back to the host under its pod name); a failing IPAM rolls everything back; ADD of
# a vfio-bound VF configures it without a netdev; a stale DEL of a pod whose DEL was lost
# leaves the VF alone once a second pod holds it. On igb a MAC change reloads igbvf, which
# recreates the netdev: every ADD and DEL here goes through that.
need_cmd cni allocations
CNI_BIN=/usr/lib/cni
[ -x $CNI_BIN/host-local ] || skip "no $CNI_BIN/host-local in the guest image (containernetworking-plugins on the build host)"
write_config
modprobe vfio-pci
fresh_vfs "$PF" 4
before=$(vfinfo_all "$PFDEV")
export VIFMAN_CONFIG=$CFG VIFMAN_STATE_DIR=$STATE
IPAMDIR=/tmp/cni-ipam
NET=sriov-net
VF=$(vf_addr "$PF" 1); IDX=1
HN=$(netdev_of "$VF")   # the VF netdev's host name; every DEL must give it back
[ -n "$HN" ] || fail "$VF has no netdev"
echo "VF $VF (vf $IDX) netdev $HN"

# conf DEVICE [EXTRA-JSON] [IPAM-JSON|none]: a NetworkAttachmentDefinition's config.
conf() {
  local x=${2:-} ipam=${3:-}
  [ -n "$x" ] || x='{}'
  [ -n "$ipam" ] || ipam="{\"type\":\"host-local\",\"subnet\":\"10.56.0.0/24\",\"gateway\":\"10.56.0.1\",\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dataDir\":\"$IPAMDIR\"}"
  jq -cn --arg d "$1" --argjson x "$x" --arg ipam "$ipam" \
    '{cniVersion: "1.0.0", name: "'$NET'", type: "vifman-cni", deviceID: $d} + $x
     + (if $ipam == "none" then {} else {ipam: ($ipam | fromjson)} end)'
}
FULL='{"vlan":100,"vlanQoS":2,"spoofchk":"off","trust":"on","mac":"02:00:00:00:cc:01","mtu":1400}'
# cni COMMAND CONTAINER NETNS CONF: one plugin call; stdout (result or error) in $RUN_OUT.
cni() {
  echo "+ CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 vifman cni"
  local rc=0
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=net1 CNI_PATH=$CNI_BIN \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2${POD_UID:+;K8S_POD_UID=$POD_UID}" \
    vifman cni <<<"$4" >"$RUN_OUT" 2>"$RUN_ERR" || rc=$?
  return $rc
}
cni_ok() { cni "$@" || fail "CNI $1 $2 failed: $(head -c 800 "$RUN_OUT") $(head -c 400 "$RUN_ERR")"; }
cni_fail() { # must fail with a CNI error object
  local rc=0; cni "$@" || rc=$?
  [ $rc -ne 0 ] || fail "CNI $1 $2 succeeded but must fail: $(head -c 400 "$RUN_OUT")"
  jq -e '.code > 0 and (.msg | length > 0)' "$RUN_OUT" >/dev/null ||
    fail "CNI $1 $2 failed (exit $rc) without an error object: $(head -c 400 "$RUN_OUT")"
  echo "refused (exit $rc): $(jq -c '{code, msg}' "$RUN_OUT")"
}
ms_since() { echo $(( (${EPOCHREALTIME/./} - $1) / 1000 )); }
records() { vifman allocations --json --state-dir "$STATE" | jq '[.. | objects | select(has("instance_uuid"))] | length'; }
# in_host: the VF's netdev is in the host namespace under its own name, down, with its MTU.
in_host() {
  expect_eq "$1: VF netdev in the host" "$(netdev_of "$VF")" "$HN"
  expect_eq "$1: MTU" "$(cat "/sys/class/net/$HN/mtu")" 1500
}
ipam_leases() { ls "$IPAMDIR/$NET" 2>/dev/null | grep -c '^10\.' || true; }

step "ADD into a fresh netns"
ip netns add pod1
t0=${EPOCHREALTIME/./}
cni_ok ADD c1 /run/netns/pod1 "$(conf "$VF" "$FULL")"
add_ms=$(ms_since "$t0")
cp "$RUN_OUT" "$OUT/cni-add.json"; ADD1=$(cat "$RUN_OUT")
expect_eq "result interface" "$(jq -r '.interfaces[0].name' "$RUN_OUT")" net1
expect_eq "result sandbox" "$(jq -r '.interfaces[0].sandbox' "$RUN_OUT")" /run/netns/pod1
expect_eq "result mac" "$(jq -r '.interfaces[0].mac' "$RUN_OUT")" 02:00:00:00:cc:01
ip1=$(jq -r '.ips[0].address' "$RUN_OUT")
case $ip1 in 10.56.0.*/24) ;; *) fail "host-local gave '$ip1'";; esac
step "the PF shows the VF's MAC/VLAN/QoS/spoofchk/trust"
expect_eq "mac" "$(vf_field "$PFDEV" $IDX .address)" 02:00:00:00:cc:01
expect_eq "vlan" "$(vf_field "$PFDEV" $IDX '.vlan_list[0].vlan')" 100
expect_eq "qos" "$(vf_field "$PFDEV" $IDX '.vlan_list[0].qos')" 2
expect_eq "spoofchk" "$(vf_field "$PFDEV" $IDX .spoofchk)" false
expect_eq "trust" "$(vf_field "$PFDEV" $IDX .trust)" true
step "the netns has the renamed netdev with its address, MTU and route"
[ -z "$(netdev_of "$VF")" ] || fail "the VF netdev is still in the host: $(netdev_of "$VF")"
j=$(ip -n pod1 -j -d addr show dev net1) || fail "no net1 in pod1"
expect_eq "net1 parent" "$(jq -r '.[0].parentdev // empty' <<<"$j")" "$VF"
expect_eq "net1 mac" "$(jq -r '.[0].address' <<<"$j")" 02:00:00:00:cc:01
expect_eq "net1 mtu" "$(jq -r '.[0].mtu' <<<"$j")" 1400
expect_eq "net1 up" "$(jq -r '.[0].flags | index("UP") != null' <<<"$j")" true
expect_eq "net1 address" "$(jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"' <<<"$j")" "$ip1"
expect_eq "default route" "$(ip -n pod1 -j route show default | jq -r '.[0] | "\(.gateway) \(.dev)"')" "10.56.0.1 net1"
expect_eq "host-local lease" "$(ipam_leases)" 1

step "CHECK with the ADD result"
cni_ok CHECK c1 /run/netns/pod1 "$(conf "$VF" "$FULL" | jq -c --argjson p "$ADD1" '. + {prevResult: $p}')"

step "DEL restores name, namespace, VF state and releases the address"
t0=${EPOCHREALTIME/./}
cni_ok DEL c1 /run/netns/pod1 "$(conf "$VF" "$FULL")"
del_ms=$(ms_since "$t0")
in_host "DEL"
! ip -n pod1 link show net1 >/dev/null 2>&1 || fail "net1 still in pod1"
expect_eq "VF state after DEL" "$(vfinfo_all "$PFDEV")" "$before"
expect_eq "host-local leases" "$(ipam_leases)" 0
expect_eq "records" "$(records)" 0
step "DEL again: idempotent"
cni_ok DEL c1 /run/netns/pod1 "$(conf "$VF" "$FULL")"
ip netns del pod1

step "ADD+DEL timing (igbvf, under TCG)"
# Rounds: with MAC (igb reloads igbvf twice: ADD and DEL), and with VLAN only (no reload).
tm() { # CONF-EXTRA -> "add_ms del_ms"
  ip netns add podt
  local a d t
  t=${EPOCHREALTIME/./}; cni_ok ADD ct /run/netns/podt "$(conf "$VF" "$1")" >&2; a=$(ms_since "$t")
  t=${EPOCHREALTIME/./}; cni_ok DEL ct /run/netns/podt "$(conf "$VF" "$1")" >&2; d=$(ms_since "$t")
  ip netns del podt; echo "$a $d"
}
mac_rounds=("$add_ms $del_ms") vlan_rounds=()
for _ in 1 2; do mac_rounds+=("$(tm "$FULL")"); done
for _ in 1 2 3; do vlan_rounds+=("$(tm '{"vlan":100}')"); done
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
col() { local r; for r in "${@:2}"; do echo "${r%% *}" "${r##* }"; done | cut -d' ' -f"$1"; }
# shellcheck disable=SC2046
echo "TIMING-CNI add_ms=$(med $(col 1 "${mac_rounds[@]}")) del_ms=$(med $(col 2 "${mac_rounds[@]}"))" \
  "vlan_only_add_ms=$(med $(col 1 "${vlan_rounds[@]}")) vlan_only_del_ms=$(med $(col 2 "${vlan_rounds[@]}"))" \
  "(medians; full = mac+vlan+qos+spoofchk+trust+mtu+host-local: ${mac_rounds[*]};" \
  "vlan only + host-local: ${vlan_rounds[*]})"
in_host "timing rounds"
expect_eq "VF state after the timing rounds" "$(vfinfo_all "$PFDEV")" "$before"

# The kernel hands a physical netdev back to the host when its namespace goes, under its pod
# name ("net1", "devN" if taken), from a workqueue: the runtime's DEL may come first. With a
# MAC restore igb's igbvf reload recreates the netdev anyway (as ethN); without one only
# vifman's rename brings the host name back, so both are run, DEL straight after the delete.
for extra in "$FULL" '{"vlan":100,"mtu":1400}'; do
  step "DEL after the netns was deleted first ($extra)"
  ip netns add pod2
  cni_ok ADD c2 /run/netns/pod2 "$(conf "$VF" "$extra")"
  ip netns del pod2
  echo "right after the netns deletion the VF netdev in the host is '$(netdev_of "$VF")'"
  cni_ok DEL c2 /run/netns/pod2 "$(conf "$VF" "$extra")"
  echo "after DEL it is '$(netdev_of "$VF")'"
  in_host "DEL after netns deletion"
  expect_eq "VF state" "$(vfinfo_all "$PFDEV")" "$before"
  expect_eq "host-local leases" "$(ipam_leases)" 0
  expect_eq "records" "$(records)" 0
done

step "a failing IPAM rolls everything back"
ip netns add pod3
bad='{"type":"host-local","subnet":"10.57.0.0/24","rangeStart":"10.99.0.1","dataDir":"'$IPAMDIR'"}'
cni_fail ADD c3 /run/netns/pod3 "$(conf "$VF" "$FULL" "$bad")"
jq -r .msg "$RUN_OUT" | grep -q "rolled back" || fail "the error does not say it rolled back: $(jq -r .msg "$RUN_OUT")"
in_host "failed ADD"
! ip -n pod3 link show net1 >/dev/null 2>&1 || fail "net1 left in pod3"
expect_eq "VF state after the failed ADD" "$(vfinfo_all "$PFDEV")" "$before"
expect_eq "records" "$(records)" 0
ip netns del pod3

step "a stale DEL after the VF went to a second pod"
ip netns add pod4; ip netns add pod5
cni_ok ADD c4 /run/netns/pod4 "$(conf "$VF" "$FULL")"
ip netns del pod4   # pod4 dies; its DEL is lost
wait_until 10 has_netdev "$VF" || fail "the VF netdev did not come back after pod4's netns went"
echo "pod4's netdev came back to the host as $(netdev_of "$VF")"
SECOND='{"vlan":200,"spoofchk":"off","mac":"02:00:00:00:cc:05"}'
cni_ok ADD c5 /run/netns/pod5 "$(conf "$VF" "$SECOND")"
ADD5=$(cat "$RUN_OUT"); ip5=$(jq -r '.ips[0].address' "$RUN_OUT")
expect_eq "pod5 vlan" "$(vf_field "$PFDEV" $IDX '.vlan_list[0].vlan')" 200
expect_eq "host-local leases (pod4's reclaimed)" "$(ipam_leases)" 1
cni_ok DEL c4 /run/netns/pod4 "$(conf "$VF" "$FULL")"
expect_eq "pod5 vlan after the stale DEL" "$(vf_field "$PFDEV" $IDX '.vlan_list[0].vlan')" 200
expect_eq "pod5 mac after the stale DEL" "$(vf_field "$PFDEV" $IDX .address)" 02:00:00:00:cc:05
expect_eq "pod5 net1 address" "$(ip -n pod5 -j addr show dev net1 | jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"')" "$ip5"
cni_ok CHECK c5 /run/netns/pod5 "$(conf "$VF" "$SECOND" | jq -c --argjson p "$ADD5" '. + {prevResult: $p}')"
cni_ok DEL c5 /run/netns/pod5 "$(conf "$VF" "$SECOND")"
in_host "pod5 DEL"
expect_eq "VF state" "$(vfinfo_all "$PFDEV")" "$before"
expect_eq "host-local leases" "$(ipam_leases)" 0
ip netns del pod5

step "release of a record still attached (its DEL lost; what the device plugin does on re-hand)"
ip netns add pod7
cni_ok ADD c7 /run/netns/pod7 "$(conf "$VF" "$SECOND")"
vif7=$(vifman allocations --json --state-dir "$STATE" | jq -r --arg v "$VF" '[.. | objects | select(.vf? == $v) | .vif_id][0] // empty')
[ -n "$vif7" ] || fail "no record for $VF: $(vifman allocations --json --state-dir "$STATE")"
run_ok vifman release --state-dir "$STATE" --vif-id "$vif7"
! ip -n pod7 link show net1 >/dev/null 2>&1 || fail "net1 left in pod7 after release"
in_host "release of an attached record"
expect_eq "VF state" "$(vfinfo_all "$PFDEV")" "$before"
expect_eq "host-local leases" "$(ipam_leases)" 0
cni_ok DEL c7 /run/netns/pod7 "$(conf "$VF" "$SECOND")"   # the late DEL: nothing left to do
expect_eq "records" "$(records)" 0
ip netns del pod7

step "ADD of a vfio-bound VF (DPDK): configured, no netdev moved"
# The device plugin's side, as the CLI does it: a hostdev-vfio allocation for the pod (the
# pod UID is the instance); the CNI adopts that record, sets the VLAN and MAC on the PF and
# moves nothing. (A VF bound to vfio-pci with no record is "in use outside vifman": refused.)
PODUID=$(uuid)
run_ok vifman allocate --physnet physnet1 --config "$CFG" --state-dir "$STATE" \
  --instance "$PODUID" --vif-id "$(uuid)" --mode hostdev-vfio
VV=$(odata dev_address); VIDX=$(vf_index "$PF" "$VV")
expect_eq "driver of $VV" "$(drv "$VV")" vfio-pci
vstate=$(vfinfo "$PFDEV" "$VIDX")
ip netns add pod6
VCONF=$(conf "$VV" '{"vlan":300,"mac":"02:00:00:00:cc:06"}' none)
POD_UID=$PODUID cni_ok ADD c6 /run/netns/pod6 "$VCONF"
expect_eq "result interface" "$(jq -r '.interfaces[0].name' "$RUN_OUT")" net1
expect_eq "vlan" "$(vf_field "$PFDEV" "$VIDX" '.vlan_list[0].vlan')" 300
expect_eq "mac" "$(vf_field "$PFDEV" "$VIDX" .address)" 02:00:00:00:cc:06
expect_eq "driver of $VV" "$(drv "$VV")" vfio-pci
expect_eq "pod6 links" "$(ip -n pod6 -j link show | jq -r '[.[].ifname] | join(",")')" lo
POD_UID=$PODUID cni_ok DEL c6 /run/netns/pod6 "$VCONF"
expect_eq "VF after DEL (the allocation's own state)" "$(vfinfo "$PFDEV" "$VIDX")" "$vstate"
expect_eq "driver of $VV after DEL" "$(drv "$VV")" vfio-pci
expect_eq "records (the allocation stays its holder's)" "$(records)" 1
ip netns del pod6
run_ok vifman release --state-dir "$STATE" --vif-id "$(vifman allocations --json --state-dir "$STATE" | jq -r '[.. | objects | select(has("vif_id")) | .vif_id][0]')"
expect_eq "driver of $VV after release" "$(drv "$VV")" igbvf
wait_until 10 has_netdev "$VV" || fail "$VV has no netdev after release"
expect_eq "records" "$(records)" 0

pass "igbvf $VF: ADD ${add_ms} ms / DEL ${del_ms} ms; CHECK, netns-deleted DEL, IPAM rollback, stale DEL, release of an attached record, vfio VF ($VV) all clean"
