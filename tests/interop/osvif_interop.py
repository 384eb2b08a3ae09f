#!/usr/bin/env python3
"""Live interop with the real os-vif 5.3.0 (run from its venv by tests/osvif_interop.rs).

  emit   -> print [{"case", "class", "primitive"}] for objects built with os-vif's own classes
  check  <- stdin [{"case", "original", "candidate"}]: load both with obj_from_primitive and
            compare every field; print [{"case", "ok", "detail"}]
  downgrade <- stdin [{"case", "primitive", "target", "manifest"}]: obj_to_primitive(target, manifest)
  reemit <- stdin [{"case", "primitive"}]: load with obj_from_primitive, print the re-emitted
            primitive (or the exception) for each
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")

import netaddr  # noqa: E402
from os_vif import objects  # noqa: E402
from os_vif.objects import base  # noqa: E402
from os_vif.objects import fixed_ip, host_info, instance_info, network, route, subnet, vif  # noqa: E402

objects.register_all()

IID = "07bd6cea-fb37-4594-b769-90fc51854ee9"


def make_network(mtu=1450):
    ips = fixed_ip.FixedIPList(objects=[
        fixed_ip.FixedIP(address=netaddr.IPAddress("192.168.1.10"),
                         floating_ips=[netaddr.IPAddress("203.0.113.5")]),
        fixed_ip.FixedIP(address=netaddr.IPAddress("2001:db8::10"), floating_ips=[]),
    ])
    routes = route.RouteList(objects=[
        route.Route(cidr=netaddr.IPNetwork("10.0.0.0/8"), gateway=netaddr.IPAddress("192.168.1.254"),
                    interface="eth0"),
    ])
    sn = subnet.Subnet(cidr=netaddr.IPNetwork("192.168.1.0/24"),
                       dns=[netaddr.IPAddress("8.8.8.8")], gateway=netaddr.IPAddress("192.168.1.1"),
                       ips=ips, routes=routes, dhcp_server=netaddr.IPAddress("192.168.1.2"))
    return network.Network(id="b82c1929-051e-481d-8110-4669916c7916", bridge="br-int", label="private",
                           subnets=subnet.SubnetList(objects=[sn]), mtu=mtu, vlan=100,
                           bridge_interface="eth1", should_provide_vlan=True)


def offload():
    return vif.DatapathOffloadRepresentor(representor_name="eth5_3", representor_address="0000:05:00.3")


def profiles():
    return {
        "VIFPortProfileOpenVSwitch": vif.VIFPortProfileOpenVSwitch(
            interface_id=IID, profile_id="fishfood", datapath_type="netdev", create_port=True,
            create_tap=True, multiqueue=True, datapath_offload=offload()),
        "VIFPortProfileFPOpenVSwitch": vif.VIFPortProfileFPOpenVSwitch(
            interface_id=IID, profile_id="fp", bridge_name="br-fp", hybrid_plug=True),
        "VIFPortProfileOVSRepresentor": vif.VIFPortProfileOVSRepresentor(
            interface_id=IID, profile_id="rep", representor_name="pf0vf3",
            representor_address="0000:3b:00.4"),
        "VIFPortProfileFPBridge": vif.VIFPortProfileFPBridge(bridge_name="fpbr0"),
        "VIFPortProfileFPTap": vif.VIFPortProfileFPTap(mac_address="fa:16:3e:12:34:56"),
        "VIFPortProfile8021Qbg": vif.VIFPortProfile8021Qbg(
            manager_id=1, type_id=2, type_id_version=3, instance_id="a9a9a9a9-1111-4222-8333-444455556666"),
        "VIFPortProfile8021Qbh": vif.VIFPortProfile8021Qbh(profile_id="qbh-prof"),
        "VIFPortProfileK8sDPDK": vif.VIFPortProfileK8sDPDK(l3_setup=False, selflink="/api/v1/x",
                                                           resourceversion="42"),
    }


def vifs():
    p = profiles()
    common = dict(address="fa:16:3e:00:00:01", network=make_network(), active=False,
                  preserve_on_delete=True, has_traffic_filtering=True)
    out = {}
    n = 0

    def vid():
        nonlocal n
        n += 1
        return "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d%02d" % n

    out["VIFGeneric"] = vif.VIFGeneric(id=vid(), plugin="noop", vif_name="tap0", port_profile=p["VIFPortProfileFPTap"], **common)
    out["VIFBridge"] = vif.VIFBridge(id=vid(), plugin="linux_bridge", vif_name="tap1", bridge_name="qbr1",
                                     port_profile=p["VIFPortProfileOpenVSwitch"], **common)
    for name in ("VIFPortProfileOpenVSwitch", "VIFPortProfileFPOpenVSwitch", "VIFPortProfileOVSRepresentor"):
        out["VIFOpenVSwitch+" + name] = vif.VIFOpenVSwitch(id=vid(), plugin="ovs", vif_name="tap2",
                                                           bridge_name="br-int", port_profile=p[name], **common)
    for mode, prof in (("vepa", "VIFPortProfile8021Qbg"), ("passthrough", "VIFPortProfile8021Qbh"),
                       ("bridge", "VIFPortProfileFPBridge")):
        out["VIFDirect-%s+%s" % (mode, prof)] = vif.VIFDirect(
            id=vid(), plugin="noop", vif_name="macvtap0", dev_address="0000:3b:02.1", mode=mode,
            vlan_name="vlan100", port_profile=p[prof], **common)
    for mode, prof in (("client", "VIFPortProfileOpenVSwitch"), ("server", "VIFPortProfileFPOpenVSwitch")):
        out["VIFVHostUser-%s+%s" % (mode, prof)] = vif.VIFVHostUser(
            id=vid(), plugin="ovs", vif_name="vhu0", path="/var/run/vhu0.sock", mode=mode,
            port_profile=p[prof], **common)
    for dt in ("ethernet", "generic"):
        out["VIFHostDevice-" + dt] = vif.VIFHostDevice(id=vid(), plugin="ovs", dev_type=dt, dev_address="0000:81:10.2",
                                                       port_profile=p["VIFPortProfileOVSRepresentor"], **common)
    out["VIFNestedDPDK"] = vif.VIFNestedDPDK(id=vid(), plugin="noop", pci_address="0000:00:05.0", dev_driver="virtio-pci",
                                             port_profile=p["VIFPortProfileK8sDPDK"], **common)
    return out


def others():
    return {
        "InstanceInfo": instance_info.InstanceInfo(uuid="d3c5e3b4-4f4e-4e4c-9a39-2fb4bb0b7a11", name="vm1",
                                                   project_id="p1"),
        "HostInfo": host_info.HostInfo(plugin_info=[host_info.HostPluginInfo(plugin_name="ovs", vif_info=[
            host_info.HostVIFInfo(vif_object_name="VIFOpenVSwitch", min_version="1.0", max_version="1.0",
                                  supported_port_profiles=[host_info.HostPortProfileInfo(
                                      profile_object_name="VIFPortProfileOpenVSwitch", min_version="1.0",
                                      max_version="1.4")])])]),
        "Network": make_network(mtu=None),
    }


def same(a, b, path="obj"):
    """Field-by-field equality, recursing into objects and lists."""
    if isinstance(a, base.VersionedObject) or isinstance(b, base.VersionedObject):
        if type(a) is not type(b):
            return "%s: class %s != %s" % (path, type(a).__name__, type(b).__name__)
        if a.VERSION != b.VERSION:
            return "%s: version %s != %s" % (path, a.VERSION, b.VERSION)
        for f in a.fields:
            sa, sb = a.obj_attr_is_set(f), b.obj_attr_is_set(f)
            if sa != sb:
                return "%s.%s: set %s != %s" % (path, f, sa, sb)
            if sa:
                r = same(getattr(a, f), getattr(b, f), "%s.%s" % (path, f))
                if r:
                    return r
        if a.obj_what_changed() != b.obj_what_changed():
            return "%s: changed %s != %s" % (path, sorted(a.obj_what_changed()), sorted(b.obj_what_changed()))
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: len %d != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            r = same(x, y, "%s[%d]" % (path, i))
            if r:
                return r
        return None
    if type(a) is not type(b) or a != b:
        return "%s: %r != %r" % (path, a, b)
    return None


def main():
    cmd = sys.argv[1]
    if cmd == "emit":
        out = []
        for case, o in list(vifs().items()) + list(others().items()):
            out.append({"case": case, "class": o.obj_name(), "primitive": o.obj_to_primitive()})
        json.dump(out, sys.stdout)
    elif cmd == "check":
        res = []
        for item in json.load(sys.stdin):
            try:
                a = base.VersionedObject.obj_from_primitive(item["original"])
                b = base.VersionedObject.obj_from_primitive(item["candidate"])
                d = same(a, b)
                res.append({"case": item["case"], "ok": d is None, "detail": d})
            except Exception as e:  # noqa: BLE001
                res.append({"case": item["case"], "ok": False, "detail": "%s: %s" % (type(e).__name__, e)})
        json.dump(res, sys.stdout)
    elif cmd == "reemit":
        res = []
        for item in json.load(sys.stdin):
            try:
                o = base.VersionedObject.obj_from_primitive(item["primitive"])
                res.append({"case": item["case"], "ok": True, "primitive": o.obj_to_primitive()})
            except Exception as e:  # noqa: BLE001
                res.append({"case": item["case"], "ok": False, "detail": "%s: %s" % (type(e).__name__, e)})
        json.dump(res, sys.stdout)
    elif cmd == "downgrade":
        res = []
        for item in json.load(sys.stdin):
            try:
                o = base.VersionedObject.obj_from_primitive(item["primitive"])
                p = o.obj_to_primitive(target_version=item["target"], version_manifest=item["manifest"])
                res.append({"case": item["case"], "ok": True, "primitive": p})
            except Exception as e:  # noqa: BLE001
                res.append({"case": item["case"], "ok": False, "type": type(e).__name__, "detail": str(e)})
        json.dump(res, sys.stdout)
    else:
        raise SystemExit("usage: osvif_interop.py emit|check|reemit|downgrade")


if __name__ == "__main__":
    main()
