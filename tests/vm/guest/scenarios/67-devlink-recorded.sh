# The devlink requests vifman sends, byte for byte against iproute2's `devlink` sending the
# same request to the same real kernel (netdevsim), both recorded with strace. Where netdevsim
# has no handler (port function hw_addr/state: EOPNOTSUPP) vifman never sends the request, so
# iproute2's recording is compared with the project's own copy (tests/vm/guest/devlink-recorded.txt),
# which the devlink unit tests check vifman's encoder against.
KO=/mnt/host/modules/netdevsim.ko
[ -s "$KO" ] || skip "no netdevsim.ko on the share (tests/vm/netdevsim.sh did not build it)"
command -v devlink >/dev/null || skip "no devlink binary in the guest"
command -v strace >/dev/null || skip "no strace in the guest (run.sh stages the host's, tests/vm/deps.sh installs it)"
need_cmd eswitch

step "load netdevsim, one device, 2 VFs"
grep -q '^psample ' /proc/modules || modprobe psample
grep -q '^netdevsim ' /proc/modules || insmod "$KO"
echo "12 1" > /sys/bus/netdevsim/new_device
NSD=/sys/bus/netdevsim/devices/netdevsim12
DL=netdevsim/netdevsim12
for _ in $(seq 50); do [ -n "$(ls "$NSD/net" 2>/dev/null)" ] && break; sleep 0.1; done
ND=$(ls "$NSD/net")
echo 2 > "$NSD/sriov_numvfs"
ip link set "$ND" up

# rec FILE CMD...: every netlink message CMD sends, as strace decodes it.
# The raw recordings stay in out/devlink-recorded/ for reading after the run.
rec() {
  local f=$1; shift
  strace -f -qq -o "$f" -e trace=sendto,sendmsg -xx -s 65536 "$@" >/dev/null 2>&1 || true
  mkdir -p "$OUT/devlink-recorded"; cp "$f" "$OUT/devlink-recorded/"
}
# canon HEX: one genetlink request (`\xNN...`, from strace) in a canonical form that keeps
# every byte the kernel reads and blanks what it ignores: the genetlink version byte (iproute2
# 6.1 sends 0, vifman the uapi's DEVLINK_GENL_VERSION 1; shown as VV), attribute padding
# (iproute2 leaves stale bytes there; shown as 00) and the NLA_F_NESTED flag (libmnl does not
# set it, vifman does; a nest is shown as its type and `N`). Nests are walked: attribute 145
# (DEVLINK_ATTR_PORT_FUNCTION) or any with NLA_F_NESTED.
canon() {
  local -a b; read -ra b <<<"$(sed 's/\\x/ /g' <<<"$1")"
  CANON_B=("${b[@]}"); CANON=("${b[0]}" VV "${b[2]}" "${b[3]}")
  canon_walk 4 ${#b[@]}
  echo "${CANON[*]}"
}
canon_walk() {
  local i=$1 end=$2 len typ n k
  while (( i + 4 <= end )); do
    len=$(( 0x${CANON_B[i]} + 256 * 0x${CANON_B[i+1]} ))
    typ=$(( 0x${CANON_B[i+2]} + 256 * 0x${CANON_B[i+3]} ))
    (( len >= 4 && i + len <= end )) || { CANON+=(BAD); return; }
    n=$(( (len + 3) & ~3 ))
    if (( (typ & 0x8000) || (typ & 0x7fff) == 145 )); then
      CANON+=("${CANON_B[i]}" "${CANON_B[i+1]}" "$(printf '%02x %02x' $(( typ & 0xff )) $(( (typ >> 8) & 0x7f )))" N)
      canon_walk $(( i + 4 )) $(( i + len ))
    else
      for (( k = i; k < i + len; k++ )); do CANON+=("${CANON_B[k]}"); done
    fi
    for (( k = i + len; k < i + n && k < end; k++ )); do CANON+=(00); done
    i=$(( i + n ))
  done
}
# reqs FILE CMDBYTE: the devlink requests with that genetlink command (first payload byte),
# one per line, as "flags canonical-payload"; sequence numbers and port ids are left out
# (they differ per process by design), and so is NLM_F_ACK on a dump (iproute2 asks for it;
# a dump ends with NLMSG_DONE either way).
reqs() {
  grep -oE 'nlmsg_flags=[A-Za-z0-9_|]+, nlmsg_seq=[0-9]+, nlmsg_pid=[0-9]+\}, "[^"]*"' "$1" |
    sed -E 's/nlmsg_flags=([A-Za-z0-9_|]+), nlmsg_seq=[0-9]+, nlmsg_pid=[0-9]+\}, "([^"]*)"/\1 \2/' |
    sed -E '/0x300/ s/\|NLM_F_ACK//; /0x300/ s/NLM_F_ACK\|//' |
    while read -r flags hex; do
      case $hex in "\\x$2"*) echo "$flags $(canon "$hex")";; esac
    done
}
# same WHAT CMDBYTE IPROUTE2-FILE VIFMAN-FILE: iproute2 sent it, and vifman sent the same bytes.
same() {
  local a b; a=$(reqs "$3" "$2" | sort -u) b=$(reqs "$4" "$2" | sort -u)
  [ -n "$a" ] || fail "$1: iproute2 sent no request with command 0x$2 ($(head -c 300 "$3"))"
  echo "$1: iproute2: $a"
  echo "$1: vifman:   ${b:-<none>}"
  grep -qxF "$a" <<<"$b" || fail "$1: vifman's request differs from iproute2's"
  echo "$1|$a" >> "$OUT/devlink-recorded-live.txt"
  echo "ok: $1 = iproute2's bytes"
}
T=/tmp/dlrec; mkdir -p "$T"; : > "$OUT/devlink-recorded-live.txt"

step "eswitch get (0x1d) and set mode switchdev (0x1e)"
rec "$T/ip-get" devlink dev eswitch show "$DL"
rec "$T/vm-get" vifman eswitch "$ND"
same "eswitch get" 1d "$T/ip-get" "$T/vm-get"
rec "$T/ip-set" devlink dev eswitch set "$DL" mode switchdev
devlink dev eswitch set "$DL" mode legacy
rec "$T/vm-set" vifman eswitch "$ND" switchdev
same "eswitch set mode" 1e "$T/ip-set" "$T/vm-set"
expect_eq "mode" "$(devlink -j dev eswitch show "$DL" | jq -r ".dev[\"$DL\"].mode")" switchdev

step "port dump (0x05) and rate set on a VF leaf (0x4b)"
port0=$(devlink -j port show | jq -r --arg dl "$DL/" '.port | to_entries[] | select(.key | startswith($dl)) | select(.value.flavour == "pcivf" and .value.vfnum == 0) | .key | split("/")[2]')
rec "$T/ip-ports" devlink port show
same "port dump" 05 "$T/ip-ports" "$T/vm-set"
rec "$T/ip-rate" devlink port function rate set "$DL/$port0" tx_share 10mbit tx_max 100mbit
devlink port function rate set "$DL/$port0" tx_share 0 tx_max 0
rec "$T/vm-rate" vifman vf rate "$ND" 0 --min-tx-rate 10 --max-tx-rate 100
same "rate set leaf" 4b "$T/ip-rate" "$T/vm-rate"
rec "$T/ip-rates" devlink port function rate show
same "rate dump" 4a "$T/ip-rates" "$T/vm-rate"

step "health reporter dump (0x34)"
rec "$T/ip-health" devlink health show
rec "$T/vm-health" vifman health --json --instant
same "health dump" 34 "$T/ip-health" "$T/vm-health"

step "port function set hw_addr + state (0x06): netdevsim refuses, iproute2's request recorded"
rec "$T/ip-fn" devlink port function set "$DL/$port0" hw_addr 02:00:00:00:0a:01 state active
got=$(reqs "$T/ip-fn" 06 | sort -u)
[ -n "$got" ] || fail "iproute2 sent no port function set: $(cat "$T/ip-fn")"
echo "$got"
echo "port function set|$got" >> "$OUT/devlink-recorded-live.txt"
want=$(grep -F "port function set|" /mnt/host/guest/devlink-recorded.txt | cut -d'|' -f2- || true)
[ -n "$want" ] || fail "no 'port function set' line in guest/devlink-recorded.txt (copy it from out/devlink-recorded-live.txt)"
expect_eq "port function set (iproute2 now = committed recording)" "$got" "$want"

step "cleanup"
vifman eswitch "$ND" legacy >/dev/null
echo 12 > /sys/bus/netdevsim/del_device
rmmod netdevsim
pass "eswitch get/set, port dump, rate leaf set, rate dump, health dump: vifman's bytes = iproute2's on the real kernel; port function set recorded from iproute2 = the committed recording"
