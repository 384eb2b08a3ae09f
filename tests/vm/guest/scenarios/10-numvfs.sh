# numvfs: `vifman numvfs PF N` against the real sriov_numvfs (igb: totalvfs 7, EBUSY when
# changing a non-zero count, ERANGE above totalvfs). vifman must wait for the VF netdevs
# itself, so the checks right after it returns do not poll.
need_cmd numvfs
set_vfs_raw "$PF" 0

step "0 -> 4"
run_ok vifman numvfs "$PF" 4
expect_eq "sriov_numvfs" "$(numvfs "$PF")" 4
vfs_ready "$PF" 4 || fail "vifman numvfs returned before 4 VFs were bound to igbvf with netdevs"

step "4 -> 2 (the kernel needs 0 in between; vifman writes it)"
run_ok vifman numvfs "$PF" 2
expect_eq "sriov_numvfs" "$(numvfs "$PF")" 2
vfs_ready "$PF" 2 || fail "vifman numvfs returned before 2 VFs were ready"
[ ! -e "$(dev "$PF")/virtfn2" ] || fail "virtfn2 still exists"

step "same count again is fine"
run_ok vifman numvfs "$PF" 2
vfs_ready "$PF" 2 || fail "VFs not ready after a same-count numvfs"

step "over-range 99 (totalvfs 7) is refused, nothing changes"
run_fail vifman numvfs "$PF" 99
grep -qE '(^|[^0-9])7([^0-9]|$)|range|total' "$RUN_ERR" || fail "error does not say why (totalvfs 7 / out of range): $(cat "$RUN_ERR")"
expect_eq "sriov_numvfs after refusal" "$(numvfs "$PF")" 2

step "--autoprobe off: VFs appear without a driver"
run_ok vifman numvfs "$PF" 3 --autoprobe off
expect_eq "sriov_drivers_autoprobe" "$(cat "$(dev "$PF")/sriov_drivers_autoprobe")" 0
expect_eq "sriov_numvfs" "$(numvfs "$PF")" 3
sleep 1  # give mdev the chance to (wrongly) bind igbvf
expect_eq "VF0 driver with autoprobe off" "$(drv "$(vf_addr "$PF" 0)")" none
step "--autoprobe on: 3 -> 4, igbvf bound again (and 4 fresh VFs for the next scenarios)"
run_ok vifman numvfs "$PF" 4 --autoprobe on
expect_eq "sriov_drivers_autoprobe" "$(cat "$(dev "$PF")/sriov_drivers_autoprobe")" 1
vfs_ready "$PF" 4 || fail "VFs not bound to igbvf with netdevs after --autoprobe on"
pass "0->4->2 with netdevs ready on return, 99 refused, --autoprobe on/off"
