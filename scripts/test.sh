#!/usr/bin/env bash
# The whole test suite. Installs what it needs first (idempotently; root for apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/deps.sh
scripts/setup-osvif-venv.sh
tests/placement/setup-venv.sh   # real OpenStack Placement 16.0.0 for tests/fleet_placement.rs
# A cold suite gains nothing from incremental caches (GBs of them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --check
cargo clippy --all-targets --all-features -- -D warnings
export VIFMAN_REQUIRE_INTEROP=1
export VIFMAN_REQUIRE_LIBVIRT=1   # deps.sh installed virt-xml-validate and virsh
export VIFMAN_REQUIRE_OVS=1       # deps.sh installed openvswitch-switch
export VIFMAN_REQUIRE_NETNS=1     # the suite runs as root: netns/TAP tests must run, not skip
export VIFMAN_VM_STRICT=1         # every VM scenario must PASS: a SKIP (e.g. netdevsim not built) fails
cargo test --all-features --no-fail-fast 2>&1
echo "test.sh: done in $(( $(date +%s) - start ))s" >&2
