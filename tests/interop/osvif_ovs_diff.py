#!/usr/bin/env python3
"""The os-vif side of the differential test against the real os-vif 5.3.0 `ovs` plugin
(run from its venv by tests/osvif_ovs_diff.rs).

  cases        -> print [{"case", "vif", "instance", "isolate_vif", "dpdk",
                  "per_port_bridge"}]: every VIF the
                  harness compares, built with os-vif's own classes and serialised with
                  obj_to_primitive(), so vifman plugs exactly the bytes os-vif produced.
  serve CONN   -> load os-vif with its `ovs` plugin talking to OVSDB at CONN (native
                  interface), then answer one JSON request per stdin line:
                  {"op": "plug"|"unplug", "vif": primitive, "instance": primitive,
                   "isolate_vif": bool, "per_port_bridge": bool}
                  -> {"ok": bool, "error": str|null}
                  The caller (the Rust test) runs this process inside the private network
                  namespace of the OVS it compares, and dumps the state between requests.

We run as root, so os-vif's privileged functions run in this process (privsep client mode
off) instead of through a sudo'd privsep-helper: the code executed is the same.
"""
import json
import logging
import os
import sys
import tempfile
import warnings

warnings.simplefilter("ignore")

from os_vif import objects  # noqa: E402
from os_vif.objects import instance_info, network, vif  # noqa: E402

objects.register_all()

INSTANCE = "d7a730ca-3c28-49c3-8f26-4662b909fe8a"
IFACE_ID = "07bd6cea-fb37-4594-b769-90fc51854ee9"
MAC = "fa:16:3e:00:00:03"


def vif_id(n):
    # Distinct per case so generated names (tap/qbr/qvb/qvo/vhu + id) never collide.
    return "%02x0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01" % n


def net(bridge, mtu):
    kw = dict(id="b82c1929-051e-481d-8110-4669916c7916", bridge=bridge, label="private")
    if mtu is not None:
        kw["mtu"] = mtu
    return network.Network(**kw)


def profile(datapath_type=None, create_port=None, create_tap=None):
    kw = dict(interface_id=IFACE_ID, profile_id="fishfood")
    if datapath_type is not None:
        kw["datapath_type"] = datapath_type
    if create_port is not None:
        kw["create_port"] = create_port
    if create_tap is not None:
        kw["create_tap"] = create_tap
    return vif.VIFPortProfileOpenVSwitch(**kw)


def cases():
    out = []
    n = 0

    def add(name, v, isolate, dpdk=False, ppb=False):
        out.append({"case": name, "vif": v.obj_to_primitive(), "isolate_vif": isolate,
                    "dpdk": dpdk, "per_port_bridge": ppb})

    # VIFOpenVSwitch: every combination the plugin branches on.
    for dp in ("netdev", "system"):
        for create_port in (False, True):
            for create_tap in (False, True):
                for isolate in (False, True):
                    for mtu in (None, 1450):
                        n += 1
                        i = vif_id(n)
                        name = "ovs dp=%s create_port=%s create_tap=%s isolate=%s mtu=%s" % (
                            dp, create_port, create_tap, isolate, mtu)
                        add(name, vif.VIFOpenVSwitch(
                            id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14],
                            bridge_name="br-int", network=net("br-int", mtu),
                            port_profile=profile(dp, create_port, create_tap)), isolate)
    # Hardware offload: a VIFOpenVSwitch whose profile names the VF representor
    # (datapath_offload). The plugin plugs it as any VIFOpenVSwitch (the representor is
    # libvirt's/nova's business), with and without create_port.
    for create_port in (False, True):
        n += 1
        i = vif_id(n)
        prof = profile("system", create_port, None)
        prof.datapath_offload = vif.DatapathOffloadRepresentor(
            representor_name="eth5_3", representor_address="0000:05:00.3")
        add("ovs offload create_port=%s" % create_port, vif.VIFOpenVSwitch(
            id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14], bridge_name="br-int",
            network=net("br-int", None), port_profile=prof), False)
    # A trunk bridge (tbr-): bridge_name in external_ids, no isolation, bridge deleted on unplug.
    n += 1
    i = vif_id(n)
    add("ovs trunk-bridge create_port=True create_tap=True isolate=True", vif.VIFOpenVSwitch(
        id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14], bridge_name="tbr-1",
        network=net("tbr-1", None), port_profile=profile("netdev", True, True)), True)
    # Hybrid plug: VIFBridge with an OVS profile (qbr/qvb/qvo).
    for dp in ("netdev", "system"):
        for isolate in (False, True):
            for mtu in (None, 1450):
                n += 1
                i = vif_id(n)
                add("hybrid dp=%s isolate=%s mtu=%s" % (dp, isolate, mtu), vif.VIFBridge(
                    id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14],
                    bridge_name=("qbr" + i)[:14], network=net("br-int", mtu),
                    port_profile=profile(dp)), isolate)
    # vhost-user through OVS (ovs-vswitchd-dpdk): QEMU as client and as server.
    for mode in ("client", "server"):
        for mtu in (None, 1450):
            for dp in (None, "netdev"):
                n += 1
                i = vif_id(n)
                add("vhostuser mode=%s dp=%s mtu=%s" % (mode, dp, mtu), vif.VIFVHostUser(
                    id=i, address=MAC, plugin="ovs", vif_name=("vhu" + i)[:14],
                    path="/tmp/vifman-vhu-%02x.sock" % n, mode=mode,
                    network=net("br-int", mtu), port_profile=profile(dp)), False, dpdk=True)
    # per_port_bridge: VIFOpenVSwitch on its own bridge pb<id>, patched (pbp<id>/ibp<id>)
    # to the integration bridge; os-vif creates the port whatever create_port says.
    for dp in ("netdev", "system"):
        for create_tap in (False, True):
            for isolate in (False, True):
                n += 1
                i = vif_id(n)
                mtu = 1450 if isolate else None
                add("ovs dp=%s create_port=True create_tap=%s isolate=%s mtu=%s per_port_bridge"
                    % (dp, create_tap, isolate, mtu), vif.VIFOpenVSwitch(
                        id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14],
                        bridge_name="br-int", network=net("br-int", mtu),
                        port_profile=profile(dp, True, create_tap)), isolate, ppb=True)
    n += 1
    i = vif_id(n)
    add("ovs dp=netdev create_port=False create_tap=True isolate=False per_port_bridge",
        vif.VIFOpenVSwitch(
            id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14], bridge_name="br-int",
            network=net("br-int", None), port_profile=profile("netdev", False, True)),
        False, ppb=True)
    n += 1
    i = vif_id(n)
    add("ovs trunk-bridge create_port=True create_tap=True isolate=True per_port_bridge",
        vif.VIFOpenVSwitch(
            id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14], bridge_name="tbr-2",
            network=net("tbr-2", None), port_profile=profile("netdev", True, True)),
        True, ppb=True)
    # ... and the kinds it does not apply to (os-vif ignores the option for them).
    n += 1
    i = vif_id(n)
    add("hybrid dp=netdev isolate=True mtu=None per_port_bridge", vif.VIFBridge(
        id=i, address=MAC, plugin="ovs", vif_name=("tap" + i)[:14],
        bridge_name=("qbr" + i)[:14], network=net("br-int", None),
        port_profile=profile("netdev")), True, ppb=True)
    n += 1
    i = vif_id(n)
    add("vhostuser mode=server dp=None mtu=None per_port_bridge", vif.VIFVHostUser(
        id=i, address=MAC, plugin="ovs", vif_name=("vhu" + i)[:14],
        path="/tmp/vifman-vhu-%02x.sock" % n, mode="server",
        network=net("br-int", None), port_profile=profile(None)), False, dpdk=True, ppb=True)
    n += 1
    i = vif_id(n)
    add("hostdev dp=netdev mtu=None per_port_bridge", vif.VIFHostDevice(
        id=i, address=MAC, plugin="ovs", dev_type="ethernet", dev_address="0000:05:00.3",
        network=net("br-int", None), port_profile=profile("netdev")), False, dpdk=True,
        ppb=True)
    # A VF behind a DPDK representor (VIFHostDevice, netdev datapath): port vfr<id>,
    # type=dpdk, dpdk-devargs from the VF's physfn/virtfnN links. The caller gives both
    # sides a fake PCI tree (see HOSTDEV_VF): vifman through --sysfs-root, os-vif through a
    # bind mount over /sys/bus/pci/devices in a private mount namespace.
    for mtu in (None, 1450):
        n += 1
        i = vif_id(n)
        add("hostdev dp=netdev mtu=%s" % mtu, vif.VIFHostDevice(
            id=i, address=MAC, plugin="ovs", dev_type="ethernet", dev_address="0000:05:00.3",
            network=net("br-int", mtu), port_profile=profile("netdev")), False, dpdk=True)
    inst = instance_info.InstanceInfo(uuid=INSTANCE, name="vm1", project_id="p1").obj_to_primitive()
    for c in out:
        c["instance"] = inst
    return out


def serve(conn):
    import os_vif
    from os_vif.objects import base
    from oslo_config import cfg
    from vif_plug_ovs import privsep

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # The plugin reads ovsdb_connection when it is loaded, so it comes from a config file
    # parsed before os_vif.initialize() registers the [os_vif_ovs] options.
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("[os_vif_ovs]\novsdb_connection = %s\novsdb_interface = native\n"
                "ovs_vsctl_timeout = 30\n" % conn)
        path = f.name
    cfg.CONF(args=[], project="osvif-ovs-diff", default_config_files=[path])
    os.unlink(path)
    privsep.vif_plug.set_client_mode(False)
    os_vif.initialize()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        cfg.CONF.set_override("isolate_vif", req["isolate_vif"], group="os_vif_ovs")
        cfg.CONF.set_override("per_port_bridge", req["per_port_bridge"], group="os_vif_ovs")
        v = base.VersionedObject.obj_from_primitive(req["vif"])
        inst = base.VersionedObject.obj_from_primitive(req["instance"])
        try:
            if req["op"] == "plug":
                os_vif.plug(v, inst)
            else:
                os_vif.unplug(v, inst)
            res = {"ok": True, "error": None}
        except Exception as e:  # noqa: BLE001
            cause = getattr(e, "__cause__", None) or e
            res = {"ok": False, "error": "%s: %s" % (type(cause).__name__, cause)}
        print(json.dumps(res), flush=True)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "cases":
        json.dump(cases(), sys.stdout)
    elif len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        raise SystemExit("usage: osvif_ovs_diff.py cases | serve OVSDB_CONNECTION")


if __name__ == "__main__":
    main()
