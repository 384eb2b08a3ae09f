//! `vifman vif libvirt` against what nova's libvirt driver builds for the same VIF, case by
//! case, and against libvirt itself: every printed element is wrapped in a minimal domain,
//! validated with libvirt's schema (`virt-xml-validate`) and defined on the `test:///default`
//! driver (`virsh define --validate`), whose dumped XML must still carry our values.
//!
//! The expected documents are written from reading nova (nova/virt/libvirt/vif.py,
//! designer.py, config.py `format_dom`); each case names the nova function it mirrors. lxml's
//! pretty-printing indents by two spaces and keeps attribute order, as vifman's writer does,
//! so the comparison is byte for byte. Where vifman deliberately differs the case says so.
//! Without virt-xml-validate/virsh the libvirt half prints SKIP (VIFMAN_REQUIRE_LIBVIRT=1
//! makes that a failure).

mod common;

use std::path::Path;

use common::{in_netns, link_names, obj, text, vifman, which, NFV, VM_UUID};
use serde_json::{json, Value as J};

const MAC: &str = "fa:16:3e:00:00:01";
const VIF_ID: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
const IFACE_ID: &str = "07bd6cea-fb37-4594-b769-90fc51854ee9";

fn network(bridge: Option<&str>, mtu: Option<i64>, vlan: Option<i64>) -> J {
    let mut d = json!({"id": "b82c1929-051e-481d-8110-4669916c7916", "label": "private"});
    if let Some(b) = bridge {
        d["bridge"] = json!(b);
    }
    if let Some(m) = mtu {
        d["mtu"] = json!(m);
    }
    if let Some(v) = vlan {
        d["vlan"] = json!(v);
    }
    obj("Network", d)
}

fn ovs_profile(extra: J) -> J {
    let mut d = json!({"interface_id": IFACE_ID});
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    obj("VIFPortProfileOpenVSwitch", d)
}

fn ovs_vif(profile_extra: J) -> J {
    obj(
        "VIFOpenVSwitch",
        json!({"id": VIF_ID, "address": MAC, "vif_name": "tap6f0f6f2c-7c",
               "bridge_name": "br-int", "plugin": "ovs",
               "network": network(Some("br-int"), Some(1450), None),
               "port_profile": ovs_profile(profile_extra)}),
    )
}

fn direct_vif(mode: &str, vlan: Option<i64>, profile: Option<J>) -> J {
    let mut d = json!({"id": VIF_ID, "address": MAC, "vif_name": "mvt6f0f6f2c-7c",
                       "dev_address": "0000:3b:02.1", "mode": mode, "plugin": "vifman",
                       "network": network(None, Some(1500), vlan)});
    if let Some(p) = profile {
        d["port_profile"] = p;
    }
    obj("VIFDirect", d)
}

fn hostdev_vif(dev_type: &str, addr: &str, vlan: Option<i64>) -> J {
    obj(
        "VIFHostDevice",
        json!({"id": VIF_ID, "address": MAC, "dev_type": dev_type, "dev_address": addr,
               "plugin": "vifman", "network": network(None, None, vlan)}),
    )
}

/// One comparison: the VIF, extra `vif libvirt` flags, nova's element.
struct Case {
    name: &'static str,
    vif: J,
    args: &'static [&'static str],
    nova: String,
}

fn cases() -> Vec<Case> {
    let mac = format!("  <mac address=\"{MAC}\"/>\n");
    let virtio = "  <model type=\"virtio\"/>\n";
    vec![
        // _set_config_VIFGeneric → set_vif_host_backend_ethernet_config; MTU from
        // _get_config_os_vif (format_dom writes <mtu> for ethernet).
        Case {
            name: "generic_tap",
            vif: obj(
                "VIFGeneric",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "tap6f0f6f2c-7c",
                       "network": network(None, Some(1450), None)}),
            ),
            args: &[],
            nova: format!("<interface type=\"ethernet\">\n{mac}{virtio}  <mtu size=\"1450\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n</interface>"),
        },
        // _set_config_VIFBridge: source bridge_name, target vif_name.
        Case {
            name: "linux_bridge",
            vif: obj(
                "VIFBridge",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "tap6f0f6f2c-7c",
                       "bridge_name": "brqb82c1929-05", "plugin": "linux_bridge",
                       "network": network(Some("brqb82c1929-05"), Some(9000), None)}),
            ),
            args: &[],
            nova: format!("<interface type=\"bridge\">\n{mac}{virtio}  <source bridge=\"brqb82c1929-05\"/>\n  <mtu size=\"9000\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n</interface>"),
        },
        // _set_config_VIFBridge for the OVS hybrid plug: the qbr bridge, no virtualport
        // (the OVS side is qvo, plugged by os-vif).
        Case {
            name: "ovs_hybrid_bridge",
            vif: obj(
                "VIFBridge",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "tap6f0f6f2c-7c",
                       "bridge_name": "qbr6f0f6f2c-7c", "plugin": "ovs",
                       "network": network(Some("br-int"), None, None),
                       "port_profile": ovs_profile(json!({}))}),
            ),
            args: &[],
            nova: format!("<interface type=\"bridge\">\n{mac}{virtio}  <source bridge=\"qbr6f0f6f2c-7c\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n</interface>"),
        },
        // _set_config_VIFOpenVSwitch, neither create_port nor create_tap: libvirt plugs
        // the TAP into OVS (_set_config_VIFPortProfileOpenVSwitch).
        Case {
            name: "ovs_libvirt_plugs",
            vif: ovs_vif(json!({})),
            args: &[],
            nova: format!("<interface type=\"bridge\">\n{mac}{virtio}  <source bridge=\"br-int\"/>\n  <mtu size=\"1450\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n  <virtualport type=\"openvswitch\">\n    <parameters interfaceid=\"{IFACE_ID}\"/>\n  </virtualport>\n</interface>"),
        },
        // _set_config_VIFOpenVSwitch, create_port only: ethernet, libvirt makes the TAP.
        Case {
            name: "ovs_create_port",
            vif: ovs_vif(json!({"create_port": true})),
            args: &[],
            nova: format!("<interface type=\"ethernet\">\n{mac}{virtio}  <mtu size=\"1450\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n</interface>"),
        },
        // _set_config_VIFOpenVSwitch, create_tap: ethernet, managed="no".
        Case {
            name: "ovs_create_tap",
            vif: ovs_vif(json!({"create_port": true, "create_tap": true, "datapath_type": "netdev"})),
            args: &[],
            nova: format!("<interface type=\"ethernet\">\n{mac}{virtio}  <mtu size=\"1450\"/>\n  <target dev=\"tap6f0f6f2c-7c\" managed=\"no\"/>\n</interface>"),
        },
        // _set_config_VIFVHostUser → set_vif_host_backend_vhostuser_config: no driver
        // element without queue sizes; the network MTU is not written for vhostuser.
        Case {
            name: "vhostuser_client",
            vif: obj(
                "VIFVHostUser",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "vhu6f0f6f2c-7c",
                       "mode": "client", "path": "/var/run/openvswitch/vhu6f0f6f2c-7c",
                       "plugin": "ovs", "network": network(Some("br-int"), Some(1500), None),
                       "port_profile": ovs_profile(json!({"datapath_type": "netdev"}))}),
            ),
            args: &[],
            nova: format!("<interface type=\"vhostuser\">\n{mac}{virtio}  <source type=\"unix\" mode=\"client\" path=\"/var/run/openvswitch/vhu6f0f6f2c-7c\"/>\n  <target dev=\"vhu6f0f6f2c-7c\"/>\n</interface>"),
        },
        // Same, QEMU as the server, no vif_name (designer: target only `if tapname`).
        Case {
            name: "vhostuser_server",
            vif: obj(
                "VIFVHostUser",
                json!({"id": VIF_ID, "address": MAC, "mode": "server",
                       "path": "/run/vhu/sock0", "plugin": "noop"}),
            ),
            args: &[],
            nova: format!("<interface type=\"vhostuser\">\n{mac}{virtio}  <source type=\"unix\" mode=\"server\" path=\"/run/vhu/sock0\"/>\n</interface>"),
        },
        // _set_config_VIFHostDevice (ethernet) → set_vif_host_backend_hw_veb(conf, 'hostdev',
        // ...): managed="yes", no model (direct vnic), PCI address with 0x fields. The VLAN
        // is what nova's legacy get_config_hw_veb passes (the os-vif path passes None and
        // leaves tagging to the SR-IOV agent; vifman is that agent).
        Case {
            name: "hostdev_ethernet_vlan",
            vif: hostdev_vif("ethernet", "0000:3b:02.1", Some(100)),
            args: &[],
            nova: format!("<interface type=\"hostdev\" managed=\"yes\">\n{mac}  <source>\n    <address type=\"pci\" domain=\"0x0000\" bus=\"0x3b\" slot=\"0x02\" function=\"0x1\"/>\n  </source>\n  <vlan>\n    <tag id=\"100\"/>\n  </vlan>\n</interface>"),
        },
        // Deviation: nova always writes managed="yes"; a VF vifman bound to vfio-pci itself
        // (allocate --mode hostdev-vfio) is managed="no".
        Case {
            name: "hostdev_ethernet_unmanaged",
            vif: hostdev_vif("ethernet", "0000:5e:00.2", None),
            args: &["--unmanaged"],
            nova: format!("<interface type=\"hostdev\" managed=\"no\">\n{mac}  <source>\n    <address type=\"pci\" domain=\"0x0000\" bus=\"0x5e\" slot=\"0x00\" function=\"0x2\"/>\n  </source>\n</interface>"),
        },
        // Generic VIFHostDevice: nova's os-vif path refuses it; its legacy
        // get_config_hostdev_physical builds LibvirtConfigGuestHostdevPCI.
        Case {
            name: "hostdev_generic",
            vif: hostdev_vif("generic", "0000:af:00.0", None),
            args: &[],
            nova: "<hostdev mode=\"subsystem\" type=\"pci\" managed=\"yes\">\n  <source>\n    <address domain=\"0x0000\" bus=\"0xaf\" slot=\"0x00\" function=\"0x0\"/>\n  </source>\n</hostdev>".into(),
        },
        // VIFDirect vepa/bridge → get_config_macvtap / set_vif_host_backend_direct_config:
        // source = the netdev of dev_address (get_ifname_by_pci_address), model virtio.
        Case {
            name: "direct_vepa",
            vif: direct_vif("vepa", None, None),
            args: &["--sysfs-root", NFV],
            nova: format!("<interface type=\"direct\">\n{mac}{virtio}  <source dev=\"enp59s0f0v1\" mode=\"vepa\"/>\n</interface>"),
        },
        Case {
            name: "direct_bridge",
            vif: direct_vif("bridge", None, None),
            args: &["--sysfs-root", NFV],
            nova: format!("<interface type=\"direct\">\n{mac}{virtio}  <source dev=\"enp59s0f0v1\" mode=\"bridge\"/>\n</interface>"),
        },
        // VIFDirect passthrough on a VF → get_config_hw_veb with a macvtap vnic: driver
        // vhost, the VF's VLAN.
        Case {
            name: "direct_passthrough_vlan",
            vif: direct_vif("passthrough", Some(200), None),
            args: &["--sysfs-root", NFV],
            nova: format!("<interface type=\"direct\">\n{mac}{virtio}  <driver name=\"vhost\"/>\n  <source dev=\"enp59s0f0v1\" mode=\"passthrough\"/>\n  <vlan>\n    <tag id=\"200\"/>\n  </vlan>\n</interface>"),
        },
        // 802.1Qbg → get_config_802qbg / set_vif_host_backend_802qbg_config. Deviation: nova
        // writes four <parameters> elements, one attribute each; libvirt reads only the
        // first and refuses the port ("missing typeid"), so vifman writes one.
        Case {
            name: "direct_8021qbg",
            vif: direct_vif(
                "vepa",
                None,
                Some(obj(
                    "VIFPortProfile8021Qbg",
                    json!({"manager_id": 11, "type_id": 1193047, "type_id_version": 2,
                           "instance_id": "09b00c53-8b5c-4000-9e11-0e8a8fe54b0e"}),
                )),
            ),
            args: &["--sysfs-root", NFV],
            nova: format!("<interface type=\"direct\">\n{mac}{virtio}  <source dev=\"enp59s0f0v1\" mode=\"vepa\"/>\n  <virtualport type=\"802.1Qbg\">\n    <parameters managerid=\"11\" typeid=\"1193047\" typeidversion=\"2\" instanceid=\"09b00c53-8b5c-4000-9e11-0e8a8fe54b0e\"/>\n  </virtualport>\n</interface>"),
        },
        // 802.1Qbh → get_config_802qbh (macvtap vnic) / set_vif_host_backend_802qbh_config
        // (conf, 'direct', ...): passthrough, driver vhost.
        Case {
            name: "direct_8021qbh",
            vif: direct_vif(
                "passthrough",
                None,
                Some(obj("VIFPortProfile8021Qbh", json!({"profile_id": "pp-uplink"}))),
            ),
            args: &["--sysfs-root", NFV],
            nova: format!("<interface type=\"direct\">\n{mac}{virtio}  <driver name=\"vhost\"/>\n  <source dev=\"enp59s0f0v1\" mode=\"passthrough\"/>\n  <virtualport type=\"802.1Qbh\">\n    <parameters profileid=\"pp-uplink\"/>\n  </virtualport>\n</interface>"),
        },
        // vifman-only: after `vifman plug` the macvtap exists; libvirt must use, not create
        // it (type ethernet, managed="no"), as nova does for os-vif-created TAPs.
        Case {
            name: "direct_plugged",
            vif: direct_vif("passthrough", Some(200), None),
            args: &["--plugged"],
            nova: format!("<interface type=\"ethernet\">\n{mac}{virtio}  <mtu size=\"1500\"/>\n  <target dev=\"mvt6f0f6f2c-7c\" managed=\"no\"/>\n</interface>"),
        },
        // vifman-only: the Linux bridge backend pre-creates the TAP on the bridge.
        Case {
            name: "linux_bridge_plugged",
            vif: obj(
                "VIFBridge",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "tap6f0f6f2c-7c",
                       "bridge_name": "br100", "network": network(Some("br100"), None, None)}),
            ),
            args: &["--plugged", "--model", "e1000"],
            nova: format!("<interface type=\"ethernet\">\n{mac}  <model type=\"e1000\"/>\n  <target dev=\"tap6f0f6f2c-7c\" managed=\"no\"/>\n</interface>"),
        },
        // get_vif_model returning None (no virtio on this virt type): no <model>.
        Case {
            name: "ovs_no_model",
            vif: ovs_vif(json!({"create_port": true})),
            args: &["--model", "none"],
            nova: format!("<interface type=\"ethernet\">\n{mac}  <mtu size=\"1450\"/>\n  <target dev=\"tap6f0f6f2c-7c\"/>\n</interface>"),
        },
    ]
}

fn run_case(dir: &Path, c: &Case) -> String {
    let f = dir.join(format!("{}.json", c.name));
    std::fs::write(&f, serde_json::to_vec(&c.vif).unwrap()).unwrap();
    let mut args = vec!["vif", "libvirt", f.to_str().unwrap()];
    args.extend_from_slice(c.args);
    let o = vifman(&args);
    assert!(o.status.success(), "{}: {}", c.name, text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn every_case_matches_nova() {
    let dir = tempfile::tempdir().unwrap();
    let mut agree = 0;
    for c in cases() {
        let out = run_case(dir.path(), &c);
        assert_eq!(out.trim_end(), c.nova, "case {}", c.name);
        assert!(out.ends_with("</interface>\n") || out.ends_with("</hostdev>\n"));
        agree += 1;
    }
    eprintln!("libvirt XML: {agree} cases compared with nova, {agree} agree");
}

/// The element inside the smallest domain libvirt's schema accepts.
fn domain(name: &str, device: &str) -> String {
    format!(
        "<domain type=\"kvm\">\n<name>{name}</name>\n<memory>131072</memory>\n<os><type arch=\"x86_64\">hvm</type></os>\n<devices>\n{device}\n</devices>\n</domain>\n"
    )
}

fn libvirt_tools() -> bool {
    let ok = which("virt-xml-validate").is_some()
        && which("virsh").is_some()
        && which("xmllint").is_some();
    if !ok {
        assert!(
            std::env::var_os("VIFMAN_REQUIRE_LIBVIRT").is_none(),
            "VIFMAN_REQUIRE_LIBVIRT is set but virt-xml-validate/virsh/xmllint are missing (scripts/deps.sh installs them)"
        );
        eprintln!("SKIP libvirt validation: virt-xml-validate, virsh or xmllint missing (libvirt-clients, libxml2-utils)");
    }
    ok
}

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new(cmd).args(args).output().unwrap();
    (
        o.status.success(),
        format!("{}{}", text(&o.stdout), text(&o.stderr)),
    )
}

/// Schema-valid, defined by libvirt's test driver, and libvirt's own dump of the domain
/// keeps every attribute value we wrote (MAC, sources, target, virtualport parameters).
fn libvirt_accepts(dir: &Path, name: &str, device: &str) {
    let f = dir.join(format!("{name}.xml"));
    let dom = format!("vifman-{}", name.replace('_', "-"));
    std::fs::write(&f, domain(&dom, device)).unwrap();
    let fs = f.to_str().unwrap();
    let (ok, out) = run("virt-xml-validate", &[fs, "domain"]);
    assert!(ok, "{name}: libvirt's schema refuses it: {out}\n{device}");
    let (ok, out) = run(
        "virsh",
        &[
            "-q",
            "-c",
            "test:///default",
            &format!("define {fs} --validate; dumpxml {dom}"),
        ],
    );
    assert!(ok, "{name}: virsh define refuses it: {out}\n{device}");
    let dumped = out.replace('\'', "\"");
    for (k, v) in attributes(device) {
        // libvirt adds its defaults and drops one: managed="no" on <interface type="hostdev">
        // is its default, and its formatter writes only managed="yes".
        if (k, v) == ("managed", "no") && device.starts_with("<interface type=\"hostdev\"") {
            continue;
        }
        assert!(
            dumped.contains(&format!("{k}=\"{v}\"")),
            "{name}: libvirt dropped {k}={v}:\n{dumped}"
        );
    }
}

/// Every `key="value"` in a document we wrote (values never contain a quote).
fn attributes(xml: &str) -> Vec<(&str, &str)> {
    let mut out = vec![];
    let mut rest = xml;
    while let Some(eq) = rest.find("=\"") {
        let key_start = rest[..eq].rfind([' ', '<']).map_or(0, |i| i + 1);
        let val = &rest[eq + 2..];
        let end = val.find('"').expect("closing quote");
        out.push((&rest[key_start..eq], &val[..end]));
        rest = &val[end + 1..];
    }
    out
}

#[test]
fn libvirt_accepts_every_case() {
    if !libvirt_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for c in cases() {
        let out = run_case(dir.path(), &c);
        libvirt_accepts(dir.path(), c.name, out.trim_end());
        n += 1;
    }
    eprintln!("libvirt accepted {n} of {n} devices (schema and test:///default)");
}

#[test]
fn nova_802qbg_form_is_refused_by_libvirt() {
    // Why vifman deviates: nova's four <parameters> elements, as its format_dom writes them.
    if !libvirt_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dev = format!("<interface type=\"direct\">\n  <mac address=\"{MAC}\"/>\n  <source dev=\"eth0\" mode=\"vepa\"/>\n  <virtualport type=\"802.1Qbg\">\n    <parameters managerid=\"11\"/>\n    <parameters typeid=\"1193047\"/>\n    <parameters typeidversion=\"2\"/>\n    <parameters instanceid=\"09b00c53-8b5c-4000-9e11-0e8a8fe54b0e\"/>\n  </virtualport>\n</interface>");
    let f = dir.path().join("qbg.xml");
    std::fs::write(&f, domain("nova-qbg", &dev)).unwrap();
    let (ok, _) = run("virt-xml-validate", &[f.to_str().unwrap(), "domain"]);
    assert!(
        !ok,
        "libvirt's schema now takes nova's 802.1Qbg form: revisit the deviation"
    );
}

#[test]
fn contradictions_and_gaps_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let qbg = obj(
        "VIFPortProfile8021Qbg",
        json!({"manager_id": 1, "type_id": 2, "type_id_version": 3,
               "instance_id": "09b00c53-8b5c-4000-9e11-0e8a8fe54b0e"}),
    );
    let bad: Vec<(&str, J, &[&str], &str)> = vec![
        (
            "qbg_bridge",
            direct_vif("bridge", None, Some(qbg)),
            &["--sysfs-root", NFV],
            "VIFDirect mode bridge with a VIFPortProfile8021Qbg port profile: libvirt needs mode vepa",
        ),
        (
            "ovs_without_profile",
            obj(
                "VIFOpenVSwitch",
                json!({"id": VIF_ID, "address": MAC, "vif_name": "tap0"}),
            ),
            &[],
            "without a VIFPortProfileOpenVSwitch",
        ),
        (
            "direct_no_netdev",
            obj(
                "VIFDirect",
                json!({"id": VIF_ID, "vif_name": "mvt0", "mode": "vepa",
                       "dev_address": "0000:d8:00.0"}),
            ),
            &["--sysfs-root", NFV],
            "0000:d8:00.0 has no netdev",
        ),
        (
            "not_a_vif",
            network(Some("br0"), None, None),
            &[],
            "Network is not a VIF",
        ),
    ];
    for (name, vif, args, want) in bad {
        let f = dir.path().join(format!("{name}.json"));
        std::fs::write(&f, serde_json::to_vec(&vif).unwrap()).unwrap();
        let mut a = vec!["vif", "libvirt", f.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = vifman(&a);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}");
    }
}

#[test]
fn allocate_prints_the_vif_then_the_element() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let xml_of = |mode: &str, vif: &str| {
        let o = vifman(&[
            "allocate",
            "--sysfs-root",
            NFV,
            "--simulate",
            "--state-dir",
            state,
            "--config",
            common::CONFIG,
            "--physnet",
            "physnet1",
            "--instance",
            common::INST,
            "--vif-id",
            vif,
            "--mac",
            MAC,
            "--vlan",
            "300",
            "--mode",
            mode,
            "--libvirt",
        ]);
        assert!(o.status.success(), "{mode}: {}", text(&o.stderr));
        let out = text(&o.stdout);
        // The os-vif JSON first (one pretty-printed object), the element after it.
        let at = out.find("\n<").expect("an element after the JSON");
        let vif: J = serde_json::from_str(&out[..at]).expect("the VIF JSON comes first");
        (vif, out[at + 1..].trim_end().to_string())
    };
    let (vif, xml) = xml_of("hostdev-vfio", "a1b2c3d4-0000-4000-8000-000000000001");
    assert_eq!(vif["versioned_object.name"], "VIFHostDevice");
    let addr = vif["versioned_object.data"]["dev_address"]
        .as_str()
        .unwrap();
    let (dbs, f) = addr.rsplit_once('.').unwrap();
    let p: Vec<&str> = dbs.split(':').collect();
    assert_eq!(
        xml,
        format!("<interface type=\"hostdev\" managed=\"no\">\n  <mac address=\"{MAC}\"/>\n  <source>\n    <address type=\"pci\" domain=\"0x{}\" bus=\"0x{}\" slot=\"0x{}\" function=\"0x{f}\"/>\n  </source>\n  <vlan>\n    <tag id=\"300\"/>\n  </vlan>\n</interface>", p[0], p[1], p[2])
    );
    let (vif, xml) = xml_of("direct-vepa", "a1b2c3d4-0000-4000-8000-000000000002");
    assert_eq!(vif["versioned_object.name"], "VIFDirect");
    assert!(
        xml.starts_with("<interface type=\"direct\">") && xml.contains("mode=\"vepa\""),
        "{xml}"
    );
    if libvirt_tools() {
        libvirt_accepts(dir.path(), "allocate_direct", &xml);
    }
}

/// `vifman plug --libvirt` in a private netns: the JSON report, then the element for what
/// was plugged — the TAP vifman created, referenced with managed="no" — which libvirt accepts.
#[test]
fn plug_prints_the_element_for_the_plugged_tap() {
    in_netns("libvirt_plug", || {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        let vifs = [
            (
                "generic",
                "taplv0",
                obj(
                    "VIFGeneric",
                    json!({"id": VIF_ID, "address": MAC, "vif_name": "taplv0",
                           "network": network(None, Some(1400), None)}),
                ),
            ),
            (
                "bridge",
                "taplv1",
                obj(
                    "VIFBridge",
                    json!({"id": VIF_ID, "address": MAC, "vif_name": "taplv1",
                           "bridge_name": "brlv0",
                           "network": network(Some("brlv0"), Some(1400), None)}),
                ),
            ),
        ];
        for (name, tap, vif) in vifs {
            let f = dir.path().join(format!("{name}.json"));
            std::fs::write(&f, serde_json::to_vec(&vif).unwrap()).unwrap();
            let cmd = |verb: &str, extra: &[&str]| {
                let mut a = vec![
                    verb,
                    f.to_str().unwrap(),
                    "--instance-uuid",
                    VM_UUID,
                    "--create-bridge",
                    "--run-dir",
                    run_dir.to_str().unwrap(),
                ];
                a.extend_from_slice(extra);
                vifman(&a)
            };
            let o = cmd("plug", &["--libvirt"]);
            assert!(o.status.success(), "{name}: {}", text(&o.stderr));
            let out = text(&o.stdout);
            let (report, xml) = out.split_once('\n').unwrap();
            let report: J = serde_json::from_str(report).expect("the report comes first");
            assert!(report.is_object(), "{report}");
            assert_eq!(
                xml.trim_end(),
                format!("<interface type=\"ethernet\">\n  <mac address=\"{MAC}\"/>\n  <model type=\"virtio\"/>\n  <mtu size=\"1400\"/>\n  <target dev=\"{tap}\" managed=\"no\"/>\n</interface>"),
                "{name}"
            );
            assert!(
                link_names().iter().any(|l| l == tap),
                "{name}: the TAP exists"
            );
            if libvirt_tools() {
                libvirt_accepts(dir.path(), &format!("plug_{name}"), xml.trim_end());
            }
            let o = cmd("unplug", &[]);
            assert!(o.status.success(), "{name}: {}", text(&o.stderr));
        }
    });
}
