# Helpers for guest scenarios; sourced by run-one.sh under `set -Eeuo pipefail`.
# Everything here reads the real kernel: sysfs and `ip -j -d link show` (iproute2, not
# busybox). Scenarios call exactly one of pass/fail/skip.

# --- verdicts ------------------------------------------------------------------------------
STEP=setup
pass() { echo "SCENARIO $NAME PASS ${*:-ok}"; exit 0; }
fail() { echo "SCENARIO $NAME FAIL [$STEP] $*"; exit 1; }
skip() { echo "SCENARIO $NAME SKIP $*"; exit 0; }
step() { STEP=$*; echo "--- $*"; }
# Any unexpected failing command is a FAIL naming the step, line and command.
trap 'rc=$?; echo "SCENARIO $NAME FAIL [$STEP] line $LINENO: $BASH_COMMAND (exit $rc)"; exit $rc' ERR

expect_eq() { # WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  echo "ok: $1 = $3"
}

# run_ok CMD...: must succeed; stdout in $RUN_OUT (file), stderr in $RUN_ERR (file).
RUN_OUT=/tmp/run.out RUN_ERR=/tmp/run.err
run_ok() {
  echo "+ $*"
  if ! "$@" >"$RUN_OUT" 2>"$RUN_ERR"; then
    fail "'$*' failed: $(head -c 600 "$RUN_ERR")"
  fi
  head -c 2000 "$RUN_ERR"
}
# run_fail CMD...: must fail with a non-empty error message (usage errors do not count).
run_fail() {
  echo "+ $* (must fail)"
  local rc=0
  "$@" >"$RUN_OUT" 2>"$RUN_ERR" || rc=$?
  [ $rc -ne 0 ] || fail "'$*' succeeded but must be refused"
  [ $rc -ne 2 ] || fail "'$*' exited 2 (usage error): $(head -c 400 "$RUN_ERR")"
  [ -s "$RUN_ERR" ] || fail "'$*' failed (exit $rc) without an error message"
  echo "refused (exit $rc): $(head -c 400 "$RUN_ERR")"
}

# --- vifman capabilities -------------------------------------------------------------------
have_cmd() { vifman "$@" --help >/dev/null 2>&1; }
# have_flag CMD FLAG: clap accepts FLAG before --help only if it exists (also hidden flags).
have_flag() { vifman "$1" "$2" --help >/dev/null 2>&1; }
need_cmd() { # skip the scenario unless every named subcommand exists
  local c; for c in "$@"; do have_cmd "$c" || skip "vifman has no '$c' command yet"; done
}

# --- PCI / SR-IOV sysfs --------------------------------------------------------------------
pfs() { for d in /sys/bus/pci/drivers/igb/0000:*; do echo "${d##*/}"; done; }
# No `| head` on our own loops: under pipefail the writer's SIGPIPE would fail the scenario.
# shellcheck disable=SC2207
_pfs=($(pfs)); PF=${_pfs[0]:-}; PF2=${_pfs[1]:-}
[ -n "$PF" ] || fail "no igb PF in /sys/bus/pci/drivers/igb"
dev() { echo "/sys/bus/pci/devices/$1"; }
netdev_of() { local n; for n in "$(dev "$1")"/net/*; do [ -e "$n" ] && echo "${n##*/}"; return 0; done; }
has_netdev() { [ -n "$(netdev_of "$1")" ]; }
PFDEV=$(netdev_of "$PF")
drv() { local l; l=$(readlink "$(dev "$1")/driver" 2>/dev/null) && echo "${l##*/}" || echo none; }
numvfs() { cat "$(dev "$1")/sriov_numvfs"; }
vf_addr() { local l; l=$(readlink "$(dev "$1")/virtfn$2") || return 1; echo "${l##*/}"; }
vf_index() { # PF VFADDR -> index
  local l; for l in "$(dev "$1")"/virtfn*; do
    [ "$(basename "$(readlink "$l")")" = "$2" ] && { echo "${l##*virtfn}"; return; }
  done; fail "$2 is not a VF of $1"
}
wait_until() { # SECS CMD...: poll (VF driver binding and netdev creation are asynchronous)
  local n=$(( $1 * 10 )); shift
  while ! "$@" 2>/dev/null; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done
}
vfs_ready() { # PF N: N VFs, each bound to igbvf with a netdev
  local i; [ "$(numvfs "$1")" = "$2" ] || return 1
  for ((i = 0; i < $2; i++)); do
    local a; a=$(vf_addr "$1" $i) || return 1
    [ "$(drv "$a")" = igbvf ] && [ -n "$(netdev_of "$a")" ] || return 1
  done
}
# set_vfs_raw PF N: straight through sysfs (the kernel wants 0 before another non-zero N),
# for scenarios that need VFs but do not test `vifman numvfs`.
set_vfs_raw() {
  [ "$(numvfs "$1")" = "$2" ] && vfs_ready "$1" "$2" && return 0
  echo 0 > "$(dev "$1")/sriov_numvfs"
  [ "$2" = 0 ] || echo "$2" > "$(dev "$1")/sriov_numvfs"
  wait_until 30 vfs_ready "$1" "$2" || fail "$2 VFs on $1 did not get igbvf netdevs in 30 s"
}
# ensure_vfs PF N: with `vifman numvfs` when it exists (it waits for netdevs itself).
ensure_vfs() {
  if have_cmd numvfs; then
    [ "$(numvfs "$1")" = "$2" ] || run_ok vifman numvfs "$1" "$2"
    wait_until 30 vfs_ready "$1" "$2" || fail "VFs of $1 not ready after vifman numvfs $2"
  else
    set_vfs_raw "$1" "$2"
  fi
}

# --- netlink VF state (ip -j -d) -----------------------------------------------------------
# One VF's administrative state as the kernel reports it: MAC, VLAN list (vlan/qos/proto),
# rates, spoofchk, link state, trust. Stats are dropped: they change on their own.
vfinfo() { ip -j -d link show dev "$1" | jq -c ".[0].vfinfo_list[$2] | del(.stats)"; }
# All VFs' netlink info. igb reports a VF's own random MAC (picked by igbvf, registered over
# the mailbox) as if it were an admin MAC; such a MAC is shown as "self-chosen" so that
# "no admin MAC, VF picked one" compares equal to itself after a release even though igbvf
# picks a new random address when it is rebound (see src/sysfs/selfmac.rs).
vfinfo_all() {
  local pf=$1 selfs="" dir nd
  for dir in /sys/class/net/"$pf"/device/virtfn*; do
    [ -e "$dir" ] || continue
    nd=$(ls "$dir/net" 2>/dev/null | head -n1)
    [ -n "$nd" ] || continue
    [ "$(cat /sys/class/net/"$nd"/addr_assign_type 2>/dev/null)" = 1 ] || continue
    selfs="$selfs ${dir##*virtfn}=$(cat /sys/class/net/"$nd"/address)"
  done
  ip -j -d link show dev "$pf" | jq -c --arg selfs "$selfs" '
    ($selfs | split(" ") | map(select(. != "") | split("=") | {key: .[0], value: .[1]}) | from_entries) as $s
    | [.[0].vfinfo_list[]? | del(.stats) | if $s[(.vf | tostring)] == .address then .address = "self-chosen" else . end]'
}
vf_field() { vfinfo "$1" "$2" | jq -r "$3"; }

# --- assignment helpers (CLI contract: see docs/vm-tests.md) -------------------------------
CFG=/tmp/vifman.toml STATE=/run/vifman-state-$NAME
write_config() { # physnet1 = the first PF (a PF address matches its VFs); trusted for --trust on
  cat > "$CFG" <<EOF
[[device_spec]]
address = "$PF"
physical_network = "physnet1"
trusted = true
EOF
}
uuid() { cat /proc/sys/kernel/random/uuid; }
INSTANCE=$(uuid)
allocate() { vifman allocate --physnet physnet1 --instance "$INSTANCE" --config "$CFG" \
  --state-dir "$STATE" "$@"; }
release() { vifman release --state-dir "$STATE" --vif-id "$1"; }
allocations() { vifman allocations --json --state-dir "$STATE"; }
odata() { jq -r ".[\"versioned_object.data\"].$1 // empty" "$RUN_OUT"; }
oname() { jq -r '.["versioned_object.name"]' "$RUN_OUT"; }
# fresh_vfs PF N: recreate the VFs so a scenario starts from the driver's defaults whatever
# the previous scenario left behind (igb gives new VFs random MACs, no VLAN, spoofchk on).
# VF teardown and creation cost several seconds each under TCG, so VFs are only recreated
# when the count differs or a scenario marked them dirty (it changed admin state without
# restoring it, or it failed). Scenarios that release what they allocate leave them clean.
fresh_vfs() {
  if ! { [ "$(numvfs "$1")" = "$2" ] && [ ! -e "/tmp/dirty-$1" ] && vfs_ready "$1" "$2"; }; then
    set_vfs_raw "$1" 0; rm -f "/tmp/dirty-$1"; ensure_vfs "$1" "$2"
  fi
  # Debugging aid (VIFMAN_VM_GUEST_ENV=ZERO_VF_MACS=1): clear the MAC igbvf registered, so
  # tools that take a non-zero admin MAC as "in use" see the VFs as free.
  if [ "${ZERO_VF_MACS:-0}" = 1 ]; then
    local i; for ((i = 0; i < $2; i++)); do
      ip link set "$(netdev_of "$1")" vf $i mac 00:00:00:00:00:00
    done
  fi
}
mark_dirty() { touch "/tmp/dirty-$1"; }
# dmesg line count, to prove that igb logged no VF change ("setting MAC ... on VF n").
dmesg_mark() { dmesg | wc -l; }
dmesg_since() { dmesg | tail -n +"$(( $1 + 1 ))"; }

# Whole devices (passthrough scenarios).
whole_dev() { # VENDOR DEVICE -> addresses (space-separated), fails if none
  local d out=
  for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] && out="$out ${d##*/}"
  done
  [ -n "$out" ] && echo ${out# }
}
group_members() { # ADDR -> the addresses in its IOMMU group, sorted
  local m; for m in "$(dev "$1")"/iommu_group/devices/*; do echo "${m##*/}"; done | sort | xargs
}
