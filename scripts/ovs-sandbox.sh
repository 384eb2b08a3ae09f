#!/usr/bin/env bash
# A private OVS (ovsdb-server + ovs-vswitchd, userspace datapath) for trying `vifman plug`
# by hand. Nothing touches /etc/openvswitch or /var/run/openvswitch.
#
#   D=$(scripts/ovs-sandbox.sh start)      # prints the sandbox dir; socket is $D/db.sock
#   vifman plug vif.json --instance-uuid U --ovsdb unix:$D/db.sock
#   eval "$(scripts/ovs-sandbox.sh env $D)"; ovs-vsctl show
#   scripts/ovs-sandbox.sh stop $D
#
# OVS_SANDBOX_DPDK=1 runs ovs-vswitchd-dpdk (vhost-user ports) without hugepages.
# Run it inside `unshare -n` (or `ip netns exec`) to keep its taps off the host.
set -euo pipefail

cmd=${1:-}
case "$cmd" in
start)
  D=$(mktemp -d /tmp/ovs-sbx.XXXXXX)   # short: unix socket paths must stay < 108 bytes
  export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D
  trap '"$0" stop "$D" >/dev/null 2>&1 || true' ERR
  ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" \
    --pidfile="$D/ovsdb-server.pid" --unixctl="$D/ovsdb-server.ctl" \
    --log-file="$D/ovsdb-server.log" --detach --no-chdir
  ovs-vsctl --db="unix:$D/db.sock" --no-wait init
  vswitchd=ovs-vswitchd
  if [ -n "${OVS_SANDBOX_DPDK:-}" ]; then
    ovs-vsctl --db="unix:$D/db.sock" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
      other_config:dpdk-extra="\"--no-huge -m 1024 --legacy-mem --no-shconf --no-telemetry --iova-mode=va --no-pci --file-prefix=$(basename "$D")\"" \
      other_config:vhost-sock-dir=. other_config:pmd-maxsleep=10000
    vswitchd=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
  fi
  "$vswitchd" "unix:$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" --unixctl="$D/ovs-vswitchd.ctl" \
    --log-file="$D/ovs-vswitchd.log" --detach --no-chdir
  ovs-vsctl --db="unix:$D/db.sock" --timeout=30 set Open_vSwitch . external_ids:sandbox=ready
  echo "$D"
  ;;
env)
  D=${2:?usage: $0 env DIR}
  echo "export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D"
  ;;
stop)
  D=${2:?usage: $0 stop DIR}
  [ -d "$D" ] || exit 0
  alive() { # zombies count as gone: detached daemons are reaped late by PID 1
    local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$s" != Z ] && [ "$s" != X ]
  }
  for d in ovs-vswitchd ovsdb-server; do
    pid=$(cat "$D/$d.pid" 2>/dev/null || true)
    if [ "$d" = ovs-vswitchd ]; then
      ovs-appctl -t "$D/$d.ctl" exit --cleanup 2>/dev/null || true   # --cleanup: remove its taps
    else
      ovs-appctl -t "$D/$d.ctl" exit 2>/dev/null || true
    fi
    [ -n "$pid" ] || continue
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid" && grep -qa ovs "/proc/$pid/cmdline"; then kill -9 "$pid"; fi
  done
  rm -rf "/var/run/dpdk/$(basename "$D")" "$D"
  ;;
*)
  echo "usage: $0 start | env DIR | stop DIR" >&2
  exit 2
  ;;
esac
