# capture: `vifman fixture capture` of this real guest; the captured tree, inventoried with
# --sysfs-root, must give the same inventory as the live system (checked here, and again on
# the host by tests/vm_igb.rs from out/capture, which exercises the tree on another kernel).
need_cmd inventory fixture
fresh_vfs "$PF" 4
mark_dirty "$PF"
ip link set "$PFDEV" vf 0 mac 02:11:22:33:44:55 vlan 100 qos 3
ip link set "$PFDEV" vf 1 spoofchk off trust on

step "live inventory"
run_ok vifman inventory --json
cp "$RUN_OUT" "$OUT/inventory-guest.json"
step "fixture capture"
run_ok vifman fixture capture "$OUT/capture"
step "inventory of the captured tree"
run_ok vifman inventory --json --sysfs-root "$OUT/capture"
cp "$RUN_OUT" "$OUT/inventory-capture-guest.json"
# Where the tree lives and where VF state came from (kernel vs fixture) differ by design.
for f in inventory-guest inventory-capture-guest; do
  jq -S 'del(.sysfs_root, .vf_state_source)' "$OUT/$f.json" > "/tmp/$f.norm"
done
if ! diff -u /tmp/inventory-guest.norm /tmp/inventory-capture-guest.norm > "$OUT/capture.diff"; then
  head -40 "$OUT/capture.diff"
  fail "captured inventory differs from the live one: $(grep -c '^[-+] ' "$OUT/capture.diff" || true) lines, see out/capture.diff"
fi
pass "captured tree ($(find "$OUT/capture" | wc -l) entries) inventories like the live guest"
