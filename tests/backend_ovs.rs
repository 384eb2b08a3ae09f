//! Open vSwitch backend against a real ovsdb-server + ovs-vswitchd (userspace datapath),
//! started per test in a private network namespace. Assertions read OVSDB through
//! `ovs-vsctl` (not our client) and the kernel through RTM_GETLINK.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value as J};
use vifman::backend::ovs::jsonrpc::OvsdbError;
use vifman::backend::ovs::Ovs;
use vifman::backend::{select, BackendError, Config, Instance};

const MAC: &str = "fa:16:3e:00:00:03";

fn inst() -> Instance {
    Instance {
        uuid: VM_UUID.into(),
        name: "vm1".into(),
        project_id: "p".into(),
    }
}

fn cfg(sb: &OvsSandbox) -> Config {
    Config {
        ovsdb: sb.db.clone(),
        ovs_timeout: Duration::from_secs(20),
        default_datapath_type: "netdev".into(),
        ..Config::default()
    }
}

fn ovs_vif(tap: &str, mtu: Option<i64>, profile_extra: J) -> J {
    obj(
        "VIFOpenVSwitch",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": tap,
            "bridge_name": "br-int",
            "network": network("br-int", mtu, false),
            "port_profile": ovs_profile(profile_extra),
        }),
    )
}

/// Runs `f` with a fresh OVS in a fresh netns, or prints why it is skipped.
fn with_ovs(test: &str, dpdk: bool, f: impl FnOnce(&OvsSandbox) + Send) {
    in_netns(test, || match OvsSandbox::start(dpdk) {
        Ok(sb) => {
            f(&sb);
            drop(sb);
        }
        Err(why) => skip(test, &why),
    });
}

#[test]
fn tap_port_plug_is_idempotent_and_unplug_leaves_nothing() {
    with_ovs("ovs_tap_port", false, |sb| {
        let vif = load(&ovs_vif(
            "tap6f0f6f2c-7c",
            Some(1450),
            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
        ));
        let b = select(&vif, &cfg(sb)).unwrap();
        assert_eq!(b.name(), "ovs");
        let links_before = link_names();
        let rep = b.plug(&vif, &inst()).unwrap();
        assert!(
            rep.details["ofport"].as_i64().unwrap() > 0,
            "{:?}",
            rep.details
        );

        let br = sb.row("Bridge", "br-int").expect("bridge row");
        assert_eq!(br["datapath_type"], "netdev");
        let port = sb.row("Port", "tap6f0f6f2c-7c").expect("port row");
        assert!(br["ports"].as_array().unwrap().contains(&port["_uuid"]));
        let iface = sb.row("Interface", "tap6f0f6f2c-7c").expect("iface row");
        assert_eq!(
            iface["external_ids"],
            json!({"attached-mac": MAC, "iface-id": IFACE_ID, "iface-status": "active", "vm-uuid": VM_UUID})
        );
        assert_eq!(iface["error"], json!([]));
        assert!(iface["ofport"].as_i64().unwrap() > 0);
        assert_eq!(port["tag"], json!([]), "no isolation by default");
        // The kernel tap, created by us, configured as os-vif does.
        let tap = rtnl().get_link("tap6f0f6f2c-7c").unwrap().expect("tap");
        assert_eq!(tap.kind.as_deref(), Some("tun"));
        assert_eq!(tap.mtu, 1450);
        assert_eq!(tap.mac_string().as_deref(), Some(MAC));
        assert!(tap.up);
        if std::path::Path::new("/proc/sys/net/ipv6").exists() {
            let v = std::fs::read_to_string("/proc/sys/net/ipv6/conf/tap6f0f6f2c-7c/disable_ipv6")
                .expect("the tap's sysctl, seen from the test thread's netns");
            assert_eq!(v.trim(), "1", "IPv6 disabled on the tap, as os-vif does");
        }

        // Twice = same state (same rows, same ofport).
        b.plug(&vif, &inst()).unwrap();
        let port2 = sb.row("Port", "tap6f0f6f2c-7c").unwrap();
        let iface2 = sb.row("Interface", "tap6f0f6f2c-7c").unwrap();
        assert_eq!(port2["_uuid"], port["_uuid"]);
        assert_eq!(iface2["ofport"], iface["ofport"]);
        assert_eq!(sb.names("Port"), ["br-int", "tap6f0f6f2c-7c"]);

        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(sb.names("Port"), ["br-int"], "port row gone");
        assert_eq!(sb.names("Interface"), ["br-int"], "interface row gone");
        assert!(
            rtnl().get_link("tap6f0f6f2c-7c").unwrap().is_none(),
            "tap gone"
        );
        // The integration bridge stays, like os-vif; ovs-netdev/br-int netdevs are OVS's.
        let mut links_after = link_names();
        links_after.retain(|n| !links_before.contains(n));
        assert!(
            links_after
                .iter()
                .all(|n| n == "br-int" || n == "ovs-netdev"),
            "{links_after:?}"
        );
        b.unplug(&vif, &inst()).unwrap();
    });
}

#[test]
fn isolate_vif_parks_new_ports_on_vlan_4095() {
    with_ovs("ovs_isolate", false, |sb| {
        let vif = load(&ovs_vif(
            "tapiso0",
            None,
            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
        ));
        let c = Config {
            isolate_vif: true,
            ..cfg(sb)
        };
        let b = select(&vif, &c).unwrap();
        b.plug(&vif, &inst()).unwrap();
        let port = sb.row("Port", "tapiso0").unwrap();
        assert_eq!(port["tag"], 4095);
        assert_eq!(port["vlan_mode"], "trunk");
        assert_eq!(port["trunks"], 4095);
        assert_eq!(rtnl().get_link("tapiso0").unwrap().unwrap().mtu, 1500);
        b.unplug(&vif, &inst()).unwrap();
        assert!(sb.row("Port", "tapiso0").is_none());
    });
}

#[test]
fn without_create_port_only_the_bridge_is_ensured() {
    with_ovs("ovs_no_create_port", false, |sb| {
        let vif = load(&ovs_vif("tapnc0", None, json!({"datapath_type": "netdev"})));
        let b = select(&vif, &cfg(sb)).unwrap();
        b.plug(&vif, &inst()).unwrap();
        assert!(sb.row("Bridge", "br-int").is_some());
        assert_eq!(sb.names("Port"), ["br-int"]);
        b.unplug(&vif, &inst()).unwrap();
    });
}

#[test]
fn unreachable_ovsdb_names_the_socket_and_creates_nothing() {
    in_netns("ovs_unreachable", || {
        let before = link_names();
        let vif = load(&ovs_vif(
            "tapun0",
            None,
            json!({"create_port": true, "create_tap": true}),
        ));
        let c = Config {
            ovsdb: "unix:/nonexistent/ovs/db.sock".into(),
            ..Config::default()
        };
        let e = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/ovs/db.sock"), "{msg}");
        assert!(msg.contains("cannot connect to OVSDB socket"), "{msg}");
        assert_eq!(link_names(), before, "no tap left behind");

        // os-vif's default remote, with nothing listening in this netns: refused.
        let c = Config {
            ovsdb: "tcp:127.0.0.1:6640".into(),
            ..Config::default()
        };
        let e = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot connect to OVSDB socket tcp:127.0.0.1:6640"),
            "{e}"
        );
        assert_eq!(link_names(), before, "no tap left behind");
        let c = Config {
            ovsdb: "ptcp:6640".into(),
            ..Config::default()
        };
        let e = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap_err();
        assert!(e.to_string().contains("expected unix:PATH, tcp:"), "{e}");
    });
}

#[test]
fn ovs_rejecting_a_row_shows_its_error_and_rolls_back() {
    with_ovs("ovs_reject", false, |sb| {
        let ovs = Ovs::new(cfg(sb));
        let vif = load(&ovs_vif(
            "taprj0",
            None,
            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
        ));
        let mut spec = ovs.port_spec(&vif, &inst()).unwrap();
        // mtu_request has minInteger 1 in the schema: ovsdb-server refuses the transaction.
        spec.mtu_request = true;
        spec.mtu = 0;
        let before = link_names();
        let e = ovs.plug_specs(&[spec]).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, BackendError::Ovsdb(OvsdbError::Rejected { .. })),
            "{msg}"
        );
        assert!(msg.contains("constraint violation"), "{msg}");
        assert!(
            sb.row("Bridge", "br-int").is_none(),
            "transaction was atomic"
        );
        assert_eq!(link_names(), before, "tap rolled back");
    });
}

#[test]
fn interface_error_from_vswitchd_rolls_back_port_and_bridge() {
    // Plain (non-DPDK) ovs-vswitchd cannot open a dpdkvhostuser interface: the row is
    // accepted but Interface.error is set. We must report OVS's text and undo the port.
    with_ovs("ovs_iface_error", false, |sb| {
        let vif = load(&obj(
            "VIFVHostUser",
            json!({
                "id": VIF_ID, "address": MAC, "plugin": "ovs", "mode": "client",
                "path": "/tmp/unused-vhu", "vif_name": "ignored",
                "network": network("br-int", Some(1500), false),
                "port_profile": ovs_profile(json!({})),
            }),
        ));
        let b = select(&vif, &cfg(sb)).unwrap();
        assert_eq!(b.name(), "ovs");
        let e = b.plug(&vif, &inst()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("OVS could not set up interface vhu6f0f6f2c-7c"),
            "{msg}"
        );
        assert!(
            sb.row("Port", "vhu6f0f6f2c-7c").is_none(),
            "port rolled back"
        );
        assert!(
            sb.row("Bridge", "br-int").is_none(),
            "bridge we created rolled back"
        );
        // No datapath in the profile = system for os-vif's QoS rule: the row went too.
        assert_eq!(sb.rows("QoS"), Vec::<J>::new(), "QoS row rolled back");
    });
}

#[test]
fn port_on_another_bridge_is_a_collision() {
    with_ovs("ovs_other_bridge", false, |sb| {
        sb.vsctl(&[
            "add-br",
            "br-ex",
            "--",
            "set",
            "Bridge",
            "br-ex",
            "datapath_type=netdev",
        ]);
        sb.vsctl(&[
            "add-port",
            "br-ex",
            "tapob0",
            "--",
            "set",
            "Interface",
            "tapob0",
            "type=internal",
        ]);
        let vif = load(&ovs_vif(
            "tapob0",
            None,
            json!({"datapath_type": "netdev", "create_port": true}),
        ));
        let e = select(&vif, &cfg(sb))
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("port tapob0 already exists on OVS bridge br-ex"),
            "{e}"
        );
        assert!(sb.row("Bridge", "br-int").is_none(), "nothing committed");
    });
}

/// The port's name is on another bridge and its tap already exists (ours to adopt): the
/// plug is refused, and the tap keeps the MTU, MAC and down state it had, although the
/// kernel side (MTU, MAC, up) runs before the OVSDB check finds the collision.
#[test]
fn a_refused_plug_puts_an_adopted_tap_back() {
    with_ovs("ovs_adopted_tap", false, |sb| {
        let ip = |args: &[&str]| {
            let o = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "ip {args:?}: {o:?}");
            String::from_utf8(o.stdout).unwrap()
        };
        ip(&["tuntap", "add", "dev", "tapob1", "mode", "tap"]);
        ip(&[
            "link",
            "set",
            "tapob1",
            "mtu",
            "1400",
            "address",
            "02:00:00:00:00:99",
        ]);
        let state = || {
            let j: J = serde_json::from_str(&ip(&["-j", "link", "show", "tapob1"])).unwrap();
            let l = &j[0];
            (
                l["mtu"].as_u64().unwrap(),
                l["address"].as_str().unwrap().to_string(),
                l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
            )
        };
        let before = state();
        assert_eq!(before, (1400, "02:00:00:00:00:99".into(), false));
        sb.vsctl(&[
            "add-br",
            "br-ex",
            "--",
            "set",
            "Bridge",
            "br-ex",
            "datapath_type=netdev",
        ]);
        sb.vsctl(&["add-port", "br-ex", "tapob1"]);
        let vif = load(&ovs_vif(
            "tapob1",
            Some(9000),
            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
        ));
        let e = select(&vif, &cfg(sb))
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("port tapob1 already exists on OVS bridge br-ex"),
            "{e}"
        );
        assert_eq!(state(), before, "the adopted tap is as it was");
        assert!(sb.row("Bridge", "br-int").is_none(), "nothing committed");
    });
}

#[test]
fn vswitchd_not_applying_is_a_timeout_error() {
    with_ovs("ovs_not_applied", false, |sb| {
        // Stop only ovs-vswitchd: ovsdb-server still accepts the rows.
        let ctl = sb.dir.join("ovs-vswitchd.ctl");
        std::process::Command::new("ovs-appctl")
            .args(["-t", ctl.to_str().unwrap(), "exit", "--cleanup"])
            .status()
            .unwrap();
        let c = Config {
            ovs_timeout: Duration::from_millis(600),
            ..cfg(sb)
        };
        let vif = load(&ovs_vif(
            "tapna0",
            None,
            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
        ));
        let before = link_names();
        let e = select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap_err();
        assert!(e.to_string().contains("is ovs-vswitchd running?"), "{e}");
        assert_eq!(sb.names("Port"), Vec::<String>::new(), "rows rolled back");
        assert_eq!(link_names(), before);
    });
}

#[test]
fn many_ports_in_one_transaction() {
    with_ovs("ovs_batch", false, |sb| {
        let ovs = Ovs::new(cfg(sb));
        let specs: Vec<_> = (0..20)
            .map(|i| {
                let mut s = ovs
                    .port_spec(
                        &load(&ovs_vif(
                            &format!("tapmb{i}"),
                            None,
                            json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
                        )),
                        &inst(),
                    )
                    .unwrap();
                s.port = format!("tapmb{i}").parse().unwrap();
                s
            })
            .collect();
        ovs.plug_specs(&specs).unwrap();
        assert_eq!(sb.names("Port").len(), 21);
        for i in 0..20 {
            let r = sb.row("Interface", &format!("tapmb{i}")).unwrap();
            assert!(r["ofport"].as_i64().unwrap() > 0);
        }
        let names: Vec<vifman::types::IfName> = (0..20)
            .map(|i| format!("tapmb{i}").parse().unwrap())
            .collect();
        ovs.unplug_ports(&names).unwrap();
        assert_eq!(sb.names("Port"), ["br-int"]);
    });
}

#[test]
fn cli_plug_unplug_against_sandbox() {
    with_ovs("ovs_cli", false, |sb| {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vif.json");
        let inst_f = dir.path().join("inst.json");
        std::fs::write(
            &f,
            serde_json::to_string(&ovs_vif(
                "tapcli0",
                Some(1400),
                json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
            ))
            .unwrap(),
        )
        .unwrap();
        std::fs::write(
            &inst_f,
            serde_json::to_string(&obj(
                "InstanceInfo",
                json!({"uuid": VM_UUID, "name": "vm1", "project_id": "p1"}),
            ))
            .unwrap(),
        )
        .unwrap();
        let run = |cmd: &str| {
            vifman(&[
                cmd,
                f.to_str().unwrap(),
                "--instance",
                inst_f.to_str().unwrap(),
                "--ovsdb",
                &sb.db,
                "--ovs-timeout",
                "20",
            ])
        };
        let out = run("plug");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let iface = sb.row("Interface", "tapcli0").unwrap();
        assert_eq!(iface["external_ids"]["vm-uuid"], VM_UUID);
        assert_eq!(rtnl().get_link("tapcli0").unwrap().unwrap().mtu, 1400);
        let out = run("unplug");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(sb.row("Interface", "tapcli0").is_none());

        // Unreachable socket: exit 1 with a one-line message naming it.
        let out = vifman(&[
            "plug",
            f.to_str().unwrap(),
            "--instance-uuid",
            VM_UUID,
            "--ovsdb",
            "unix:/nope.sock",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("/nope.sock"), "{err}");
    });
}

// ---- unit level: no OVS, no root ------------------------------------------------------

fn hostdev_vif(dp: &str) -> J {
    obj(
        "VIFHostDevice",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "ovs", "dev_type": "ethernet",
            "dev_address": "0000:03:00.3",
            "network": network("br-int", None, false),
            "port_profile": obj("VIFPortProfileOVSRepresentor", json!({
                "interface_id": IFACE_ID, "profile_id": "x", "datapath_type": dp,
            })),
        }),
    )
}

/// A switchdev PF 0000:03:00.1 (uplink p1) with VF1 = 0000:03:00.3, representor "rep1",
/// under `<root>/sys` with relative links, as in a real sysfs.
fn sysfs_tree() -> tempfile::TempDir {
    use std::fs;
    use std::os::unix::fs::symlink;
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("sys");
    let nd = |dir: &str, name: &str, port: &str| {
        let d = r.join(dir).join("net").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("phys_switch_id"), "5566\n").unwrap();
        fs::write(d.join("phys_port_name"), format!("{port}\n")).unwrap();
        fs::create_dir_all(r.join("class/net")).unwrap();
        symlink(
            format!("../../{dir}/net/{name}"),
            r.join("class/net").join(name),
        )
        .unwrap();
    };
    nd("devices/pci0000:00/0000:03:00.1", "enp3s0f1", "p1");
    let pf = r.join("devices/pci0000:00/0000:03:00.1");
    let vf = r.join("devices/pci0000:00/0000:03:00.3");
    fs::create_dir_all(&vf).unwrap();
    symlink("../0000:03:00.1", vf.join("physfn")).unwrap();
    symlink("../0000:03:00.3", pf.join("virtfn1")).unwrap();
    fs::create_dir_all(r.join("bus/pci/devices")).unwrap();
    for a in ["0000:03:00.1", "0000:03:00.3"] {
        symlink(
            format!("../../../devices/pci0000:00/{a}"),
            r.join("bus/pci/devices").join(a),
        )
        .unwrap();
    }
    nd("devices/virtual", "rep1", "pf1vf1");
    t
}

#[test]
fn representor_port_specs_follow_os_vif() {
    let t = sysfs_tree();
    let c = Config {
        sysfs_root: t.path().to_path_buf(),
        ..Config::default()
    };
    let ovs = Ovs::new(c.clone());
    let s = ovs
        .port_spec(&load(&hostdev_vif("system")), &inst())
        .unwrap();
    assert_eq!(s.port.as_str(), "rep1");
    assert!(s.representor && !s.delete_netdev && s.iface_type.is_none());

    let s = ovs
        .port_spec(&load(&hostdev_vif("netdev")), &inst())
        .unwrap();
    assert_eq!(s.port.as_str(), "vfr6f0f6f2c-7c");
    assert_eq!(s.iface_type.as_deref(), Some("dpdk"));
    assert_eq!(
        s.options,
        vec![(
            "dpdk-devargs".to_string(),
            "0000:03:00.1,representor=[1]".to_string()
        )]
    );
    assert_eq!(
        select(&load(&hostdev_vif("netdev")), &c).unwrap().name(),
        "ovs"
    );
}

#[test]
fn vhostuser_port_specs_follow_os_vif() {
    let ovs = Ovs::new(Config::default());
    let mk = |mode: &str| {
        load(&obj(
            "VIFVHostUser",
            json!({
                "id": VIF_ID, "address": MAC, "plugin": "ovs", "mode": mode,
                "path": "/run/vhu/sock0", "vif_name": "ignored",
                "network": network("br-int", Some(9000), false),
                "port_profile": ovs_profile(json!({})),
            }),
        ))
    };
    let s = ovs.port_spec(&mk("client"), &inst()).unwrap();
    assert_eq!(s.port.as_str(), "vhu6f0f6f2c-7c");
    assert_eq!(s.iface_type.as_deref(), Some("dpdkvhostuser"));
    assert!(s.options.is_empty());
    assert_eq!(s.datapath_type, "netdev");
    assert!(s.mtu_request && s.mtu == 9000);
    let s = ovs.port_spec(&mk("server"), &inst()).unwrap();
    assert_eq!(s.iface_type.as_deref(), Some("dpdkvhostuserclient"));
    assert_eq!(
        s.options,
        vec![(
            "vhost-server-path".to_string(),
            "/run/vhu/sock0".to_string()
        )]
    );
}

#[test]
fn wrong_or_missing_profile_is_refused_with_os_vif_text() {
    let ovs = Ovs::new(Config::default());
    let mut v = ovs_vif("tapw0", None, json!({}));
    v["versioned_object.data"]["port_profile"] = obj("VIFPortProfileFPTap", json!({}));
    let e = ovs.port_spec(&load(&v), &inst()).unwrap_err();
    assert!(
        e.to_string().contains(
            "Port profile VIFPortProfileFPTap is not a subclass of VIFPortProfileOpenVSwitch"
        ),
        "{e}"
    );
    let mut v = ovs_vif("tapw0", None, json!({}));
    v["versioned_object.data"]
        .as_object_mut()
        .unwrap()
        .remove("network");
    let e = ovs.port_spec(&load(&v), &inst()).unwrap_err();
    assert!(e.to_string().contains("VIF network is required"), "{e}");
}

#[test]
fn hybrid_plug_builds_qbr_veth_and_qvo_port_and_unplug_removes_them() {
    with_ovs("ovs_hybrid", false, |sb| {
        let links_before = link_names();
        let vif = load(&obj(
            "VIFBridge",
            json!({
                "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": "tap6f0f6f2c-7c",
                "bridge_name": "qbr6f0f6f2c-7c",
                "network": network("br-int", Some(1450), false),
                "port_profile": ovs_profile(json!({"datapath_type": "netdev"})),
            }),
        ));
        let b = select(&vif, &cfg(sb)).unwrap();
        assert_eq!(b.name(), "ovs");
        b.plug(&vif, &inst()).unwrap();
        let mut rt = rtnl();
        let qbr = rt.get_link("qbr6f0f6f2c-7c").unwrap().expect("qbr");
        let qvb = rt.get_link("qvb6f0f6f2c-7c").unwrap().expect("qvb");
        let qvo = rt.get_link("qvo6f0f6f2c-7c").unwrap().expect("qvo");
        assert_eq!(qbr.kind.as_deref(), Some("bridge"));
        assert_eq!(qvb.master, Some(qbr.index));
        assert_eq!((qvb.mtu, qvo.mtu), (1450, 1450));
        assert!(qvb.up && qvo.up);
        let iface = sb.row("Interface", "qvo6f0f6f2c-7c").expect("qvo row");
        assert_eq!(iface["external_ids"]["iface-id"], IFACE_ID);
        assert!(iface["ofport"].as_i64().unwrap() > 0);

        // libvirt's part: a tap in qbr.
        vifman::backend::tap::create_persistent_tap(&"tap6f0f6f2c-7c".parse().unwrap(), false)
            .unwrap();
        rt.request(vifman::backend::rtnl::Request::set_link_by_name(
            "tap6f0f6f2c-7c",
            &vifman::backend::rtnl::LinkChange {
                master: Some(qbr.index),
                up: Some(true),
                ..Default::default()
            },
        ))
        .unwrap();

        b.plug(&vif, &inst()).unwrap(); // re-plug: only MTUs refreshed
        assert_eq!(
            rt.get_link("qvo6f0f6f2c-7c").unwrap().unwrap().index,
            qvo.index
        );

        b.unplug(&vif, &inst()).unwrap();
        assert!(rt.get_link("qbr6f0f6f2c-7c").unwrap().is_none());
        assert!(rt.get_link("qvb6f0f6f2c-7c").unwrap().is_none());
        assert!(rt.get_link("qvo6f0f6f2c-7c").unwrap().is_none());
        assert_eq!(rt.get_link("tap6f0f6f2c-7c").unwrap().unwrap().master, None);
        assert_eq!(sb.names("Port"), ["br-int"]);
        // libvirt would delete its tap now.
        let t = rt.get_link("tap6f0f6f2c-7c").unwrap().unwrap();
        rt.request(vifman::backend::rtnl::Request::del_link(t.index, "tap"))
            .unwrap();
        let mut after = link_names();
        after.retain(|n| !links_before.contains(n));
        assert!(
            after.iter().all(|n| n == "br-int" || n == "ovs-netdev"),
            "{after:?}"
        );
        b.unplug(&vif, &inst()).unwrap();
    });
}

#[test]
fn openvswitch_unplug_takes_the_hybrid_path_when_qbr_exists() {
    with_ovs("ovs_hybrid_unplug_quirk", false, |sb| {
        let hybrid = load(&obj(
            "VIFBridge",
            json!({
                "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": "tap6f0f6f2c-7c",
                "bridge_name": "qbr6f0f6f2c-7c",
                "network": network("br-int", None, false),
                "port_profile": ovs_profile(json!({"datapath_type": "netdev"})),
            }),
        ));
        select(&hybrid, &cfg(sb))
            .unwrap()
            .plug(&hybrid, &inst())
            .unwrap();
        let as_ovs = load(&ovs_vif(
            "tap6f0f6f2c-7c",
            None,
            json!({"datapath_type": "netdev"}),
        ));
        select(&as_ovs, &cfg(sb))
            .unwrap()
            .unplug(&as_ovs, &inst())
            .unwrap();
        assert!(rtnl().get_link("qbr6f0f6f2c-7c").unwrap().is_none());
        assert!(rtnl().get_link("qvo6f0f6f2c-7c").unwrap().is_none());
        assert_eq!(sb.names("Port"), ["br-int"]);
    });
}

#[test]
fn kernel_representor_is_set_up_added_and_set_down_on_unplug() {
    // The kernel datapath is missing here, so the bridge is a pre-made netdev bridge and
    // the profile names no datapath (we never rewrite an existing bridge's datapath). The
    // "representor" is a veth found through a sysfs tree built in a tempdir.
    with_ovs("ovs_representor", false, |sb| {
        sb.vsctl(&[
            "add-br",
            "br-int",
            "--",
            "set",
            "Bridge",
            "br-int",
            "datapath_type=netdev",
        ]);
        rtnl()
            .request(vifman::backend::rtnl::Request::new_veth(
                "rep1", "rep1peer", None,
            ))
            .unwrap();
        let t = sysfs_tree();
        let c = Config {
            sysfs_root: t.path().to_path_buf(),
            default_datapath_type: "system".into(),
            ..cfg(sb)
        };
        let mut v = hostdev_vif("system");
        v["versioned_object.data"]["port_profile"]["versioned_object.data"]
            .as_object_mut()
            .unwrap()
            .remove("datapath_type");
        v["versioned_object.data"]["port_profile"]["versioned_object.changes"] =
            json!(["interface_id", "profile_id"]);
        let vif = load(&v);
        let b = select(&vif, &c).unwrap();
        b.plug(&vif, &inst()).unwrap();
        assert_eq!(
            sb.row("Bridge", "br-int").unwrap()["datapath_type"],
            "netdev"
        );
        let iface = sb.row("Interface", "rep1").expect("representor port");
        assert_eq!(iface["external_ids"]["iface-id"], IFACE_ID);
        assert_eq!(iface["external_ids"]["attached-mac"], MAC);
        assert!(
            rtnl().get_link("rep1").unwrap().unwrap().up,
            "set up on plug"
        );

        b.unplug(&vif, &inst()).unwrap();
        assert!(sb.row("Interface", "rep1").is_none());
        let rep = rtnl()
            .get_link("rep1")
            .unwrap()
            .expect("representor is not deleted");
        assert!(!rep.up, "set down on unplug");
    });
}

#[test]
fn concurrent_plugs_race_for_the_bridge_and_all_succeed() {
    // Eight agents plug at once into a bridge none of them sees yet: the guarded
    // transactions make exactly one create it, the others retry; cur_cfg jumps past some
    // plugs' next_cfg, which must still count as applied.
    with_ovs("ovs_concurrent", false, |sb| {
        let c = cfg(sb);
        std::thread::scope(|s| {
            for i in 0..8 {
                let c = c.clone();
                s.spawn(move || {
                    let vif = load(&ovs_vif(
                        &format!("tapcc{i}"),
                        None,
                        json!({"datapath_type": "netdev", "create_port": true, "create_tap": true}),
                    ));
                    select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap();
                });
            }
        });
        assert_eq!(sb.names("Bridge"), ["br-int"]);
        let mut want: Vec<String> = (0..8).map(|i| format!("tapcc{i}")).collect();
        want.push("br-int".into());
        want.sort();
        assert_eq!(sb.names("Port"), want);
        for i in 0..8 {
            let r = sb.row("Interface", &format!("tapcc{i}")).unwrap();
            assert!(r["ofport"].as_i64().unwrap() > 0);
        }
    });
}

/// nova's delegated port creation: `create_port` without `create_tap`. The hypervisor makes
/// the TAP later, so OVS reports "could not open network device … (No such device)" on the
/// Interface until then. os-vif plugs it anyway (port, interface, external_ids); so does
/// vifman, reporting the interface as pending instead of rolling back.
#[test]
fn create_port_without_create_tap_plugs_and_reports_the_tap_as_pending() {
    with_ovs("ovs_create_port_tap_later", false, |sb| {
        let vif = load(&ovs_vif(
            "tapcp0",
            None,
            json!({"datapath_type": "netdev", "create_port": true}),
        ));
        let b = select(&vif, &cfg(sb)).unwrap();
        let rep = b
            .plug(&vif, &inst())
            .expect("plugged although the TAP is not there yet");
        let pending = rep.details["interface_pending"]
            .as_str()
            .unwrap_or_default();
        assert!(pending.contains("No such device"), "{:?}", rep.details);
        assert!(
            rep.actions
                .iter()
                .any(|a| a.contains("interface tapcp0 pending")),
            "{:?}",
            rep.actions
        );
        assert!(
            rtnl().get_link("tapcp0").unwrap().is_none(),
            "vifman made no TAP"
        );
        let port = sb.row("Port", "tapcp0").expect("port row");
        let br = sb.row("Bridge", "br-int").expect("bridge row");
        assert!(br["ports"].as_array().unwrap().contains(&port["_uuid"]));
        let iface = sb.row("Interface", "tapcp0").expect("iface row");
        assert_eq!(
            iface["external_ids"],
            json!({"attached-mac": MAC, "iface-id": IFACE_ID, "iface-status": "active", "vm-uuid": VM_UUID})
        );
        assert!(
            iface["error"]
                .as_str()
                .unwrap_or_default()
                .contains("No such device"),
            "{iface}"
        );
        // Plugging again is the same state, still pending.
        b.plug(&vif, &inst()).unwrap();
        assert_eq!(sb.names("Port"), ["br-int", "tapcp0"]);
        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(sb.names("Port"), ["br-int"]);
        assert_eq!(sb.names("Interface"), ["br-int"]);
    });
}
