#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (idempotent).
# Needs root for apt-get; without root it only reports what is missing.
set -euo pipefail

PKGS=(
  pkg-config libudev-dev   # feature "udev" (libudev-sys build script)
  umockdev                 # udev tests against fixture trees
  pciutils                 # lspci: fixture config-space checks and the inventory benchmark
  python3 python3-venv     # the real os-vif for the interop tests
  iproute2                 # network-namespace tests
  openvswitch-switch       # backend tests: private ovsdb-server + ovs-vswitchd (netdev datapath)
  openvswitch-switch-dpdk  # backend tests: vhost-user ports (ovs-vswitchd-dpdk, --no-huge)
  dpdk-dev                 # backend tests: dpdk-testpmd as the virtio-user peer of a vhost-user port
  libvirt-clients          # libvirt XML tests: virt-xml-validate (libvirt's schemas) and virsh (test:///default driver, built into libvirt0)
  libxml2-utils            # xmllint, which virt-xml-validate runs
  fuse3                    # `vifman fixture mount`: fusermount3 (tests/fixture_mount.rs)
  driverctl                # fixture_mount: a third-party driver_override client
  dpdk                     # fixture_mount: dpdk-devbind.py --status / --bind
  util-linux               # fixture_mount: unshare -m (private mount namespaces)
  systemd udev             # host-state tests: systemd-analyze verify of the generated unit, udevadm verify of the rules
  containernetworking-plugins  # CNI tests: host-local/static IPAM and a chained tuning plugin (/usr/lib/cni)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3/venv may come from elsewhere (pyenv); accept a working one.
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3}")
fi
read -r -a missing <<< "${missing[*]:-}"
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
