//! os-vif's `per_port_bridge` on the OVS backend, against a real ovsdb-server +
//! ovs-vswitchd (userspace datapath) in a private network namespace: the VIF's own bridge
//! `pb<id>`, its patch pair to the integration bridge, re-plug, an unplug that removes
//! exactly that, collisions and rollback. Assertions read OVSDB through `ovs-vsctl`.
//! (The comparison with os-vif itself is tests/osvif_ovs_diff.rs.)

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value as J};
use vifman::backend::ovs::Ovs;
use vifman::backend::{select, Config, Instance};

const MAC: &str = "fa:16:3e:00:00:03";
const TAP: &str = "tap6f0f6f2c-7c";
/// `pb` + the VIF id, cut to 14 characters.
const PBR: &str = "pb6f0f6f2c-7c9";

fn ibp() -> String {
    format!("ibp{VIF_ID}")
}

fn pbp() -> String {
    format!("pbp{VIF_ID}")
}

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
        per_port_bridge: true,
        ..Config::default()
    }
}

fn ovs_vif(bridge: &str, mtu: Option<i64>, profile_extra: J) -> J {
    obj(
        "VIFOpenVSwitch",
        json!({
            "id": VIF_ID, "address": MAC, "plugin": "ovs", "vif_name": TAP,
            "bridge_name": bridge,
            "network": network(bridge, mtu, false),
            "port_profile": ovs_profile(profile_extra),
        }),
    )
}

fn with_ovs(test: &str, f: impl FnOnce(&OvsSandbox) + Send) {
    in_netns(test, || match OvsSandbox::start(false) {
        Ok(sb) => {
            f(&sb);
            drop(sb);
        }
        Err(why) => skip(test, &why),
    });
}

/// The port names on bridge `br`, sorted.
fn ports_of(sb: &OvsSandbox, br: &str) -> Vec<String> {
    let b = sb
        .row("Bridge", br)
        .unwrap_or_else(|| panic!("no bridge {br}"));
    let uuids: Vec<J> = match &b["ports"] {
        J::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    let mut names: Vec<String> = sb
        .rows("Port")
        .into_iter()
        .filter(|p| uuids.contains(&p["_uuid"]))
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The non-OVS state an unplug must not touch: a port of someone else on br-int.
fn add_other_port(sb: &OvsSandbox) {
    sb.vsctl(&[
        "add-br",
        "br-int",
        "--",
        "set",
        "Bridge",
        "br-int",
        "datapath_type=netdev",
        "--",
        "add-port",
        "br-int",
        "other0",
        "--",
        "set",
        "Interface",
        "other0",
        "type=internal",
    ]);
}

#[test]
fn port_bridge_plug_patches_it_to_the_integration_bridge_and_unplug_removes_exactly_that() {
    with_ovs("ovs_ppb_plug", |sb| {
        add_other_port(sb);
        let vif = load(&ovs_vif(
            "br-int",
            Some(1450),
            // os-vif creates the port on a per-port bridge whatever create_port says.
            json!({"datapath_type": "netdev", "create_port": false, "create_tap": true}),
        ));
        let c = Config {
            isolate_vif: true,
            ..cfg(sb)
        };
        let b = select(&vif, &c).unwrap();
        let rep = b.plug(&vif, &inst()).unwrap();
        assert_eq!(rep.details["bridge"], PBR, "{:?}", rep.details);
        assert_eq!(rep.details["integration_bridge"], "br-int");
        assert_eq!(rep.details["patch_ports"], json!([pbp(), ibp()]));

        assert_eq!(sb.row("Bridge", PBR).unwrap()["datapath_type"], "netdev");
        assert_eq!(ports_of(sb, PBR), [PBR.to_string(), pbp(), TAP.into()]);
        assert_eq!(
            ports_of(sb, "br-int"),
            ["br-int".to_string(), ibp(), "other0".into()]
        );
        // The VIF's own interface has no external_ids: the integration side carries them,
        // with iface-id = vif.id as os-vif writes.
        let tap = sb.row("Interface", TAP).unwrap();
        assert_eq!(tap["external_ids"], json!({}));
        assert_eq!(tap["error"], json!([]));
        let i = sb.row("Interface", &ibp()).unwrap();
        assert_eq!(i["type"], "patch");
        assert_eq!(i["options"], json!({"peer": pbp()}));
        assert_eq!(
            i["external_ids"],
            json!({"attached-mac": MAC, "iface-id": VIF_ID, "iface-status": "active", "vm-uuid": VM_UUID})
        );
        assert_eq!(i["error"], json!([]));
        let p = sb.row("Interface", &pbp()).unwrap();
        assert_eq!(p["type"], "patch");
        assert_eq!(p["options"], json!({"peer": ibp()}));
        assert_eq!(p["external_ids"], json!({}));
        // isolate_vif: the VIF's port fully, the integration patch by its tag only.
        let tp = sb.row("Port", TAP).unwrap();
        assert_eq!(
            (&tp["tag"], &tp["vlan_mode"], &tp["trunks"]),
            (&json!(4095), &json!("trunk"), &json!(4095))
        );
        let ip = sb.row("Port", &ibp()).unwrap();
        assert_eq!((&ip["tag"], &ip["vlan_mode"]), (&json!(4095), &json!([])));
        assert_eq!(sb.row("Port", &pbp()).unwrap()["tag"], json!([]));
        let link = rtnl().get_link(TAP).unwrap().expect("tap");
        assert_eq!((link.mtu, link.up), (1450, true));

        // Re-plug: same rows (same uuids), nothing added.
        let uuids = |sb: &OvsSandbox| {
            [PBR.to_string(), TAP.into(), pbp(), ibp()]
                .map(|n| sb.row("Port", &n).unwrap()["_uuid"].clone())
        };
        let before = uuids(sb);
        b.plug(&vif, &inst()).unwrap();
        assert_eq!(uuids(sb), before);
        assert_eq!(sb.names("Bridge"), ["br-int", PBR]);

        let rep = b.unplug(&vif, &inst()).unwrap();
        assert_eq!(sb.names("Bridge"), ["br-int"], "{:?}", rep.actions);
        assert_eq!(ports_of(sb, "br-int"), ["br-int", "other0"]);
        assert_eq!(sb.names("Interface"), ["br-int", "other0"]);
        assert!(rtnl().get_link(TAP).unwrap().is_none(), "tap deleted");
        // Unplug of what is gone succeeds and changes nothing.
        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(ports_of(sb, "br-int"), ["br-int", "other0"]);
    });
}

#[test]
fn port_bridge_collisions_are_clear_errors_and_write_nothing() {
    with_ovs("ovs_ppb_collide", |sb| {
        add_other_port(sb);
        let vif = load(&ovs_vif("br-int", None, json!({"datapath_type": "netdev"})));
        let b = select(&vif, &cfg(sb)).unwrap();
        let snapshot = |sb: &OvsSandbox| {
            (
                sb.names("Bridge"),
                sb.names("Port"),
                sb.names("Interface"),
                link_names(),
            )
        };
        // The VIF's port, each patch port, and the bridge's own name, each taken elsewhere.
        for (name, on) in [
            (TAP.to_string(), "br-int"),
            (ibp(), "br-ex"),
            (pbp(), "br-int"),
            (PBR.to_string(), "br-ex"),
        ] {
            sb.vsctl(&[
                "--may-exist",
                "add-br",
                "br-ex",
                "--",
                "set",
                "Bridge",
                "br-ex",
                "datapath_type=netdev",
            ]);
            // A patch port whose peer is missing: OVS keeps the row (with an error) for
            // any name length, which an internal port (a netdev) would not.
            let _ = sb.vsctl_raw(&[
                "add-port",
                on,
                &name,
                "--",
                "set",
                "Interface",
                &name,
                "type=patch",
            ]);
            assert!(sb.row("Port", &name).is_some(), "{name} set up");
            let before = snapshot(sb);
            let e = b.plug(&vif, &inst()).unwrap_err().to_string();
            assert!(
                e.contains(&format!("port {name} already exists on OVS bridge {on}")),
                "{e}"
            );
            assert_eq!(snapshot(sb), before, "{name}: nothing written, no tap left");
            sb.vsctl(&["del-port", on, &name]);
        }

        // The integration bridge cannot be the per-port bridge.
        let bad = load(&ovs_vif(PBR, None, json!({"datapath_type": "netdev"})));
        let before = snapshot(sb);
        let e = select(&bad, &cfg(sb))
            .unwrap()
            .plug(&bad, &inst())
            .unwrap_err()
            .to_string();
        assert!(e.contains("per-port bridge"), "{e}");
        assert_eq!(snapshot(sb), before);
    });
}

#[test]
fn port_bridge_interface_error_rolls_back_both_bridges_and_the_patch_pair() {
    with_ovs("ovs_ppb_rollback", |sb| {
        let ovs = Ovs::new(cfg(sb));
        let vif = load(&ovs_vif("br-int", None, json!({"datapath_type": "netdev"})));
        let mut spec = ovs.port_spec(&vif, &inst()).unwrap();
        assert!(spec.patch.is_some());
        // Plain ovs-vswitchd cannot open a dpdkvhostuser interface: Interface.error is set
        // after the transaction committed, so everything it created must be taken back.
        spec.iface_type = Some("dpdkvhostuser".into());
        spec.mtu_request = true;
        spec.tap_later = false;
        let e = ovs.plug_specs(&[spec]).unwrap_err().to_string();
        assert!(
            e.contains(&format!("OVS could not set up interface {TAP}")),
            "{e}"
        );
        assert_eq!(
            sb.names("Bridge"),
            Vec::<String>::new(),
            "both bridges rolled back"
        );
        assert_eq!(sb.names("Port"), Vec::<String>::new());
        assert_eq!(sb.names("Interface"), Vec::<String>::new());
    });
}

#[test]
fn cli_per_port_bridge_plug_and_unplug() {
    with_ovs("ovs_ppb_cli", |sb| {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vif.json");
        // No datapath in the profile: `system` for os-vif's QoS rule, so the port gets a
        // QoS row, which unplug deletes.
        std::fs::write(
            &f,
            ovs_vif("br-int", None, json!({"create_tap": true})).to_string(),
        )
        .unwrap();
        let run = |cmd: &str| {
            let out = vifman(&[
                cmd,
                f.to_str().unwrap(),
                "--instance-uuid",
                VM_UUID,
                "--ovsdb",
                &sb.db,
                "--ovs-timeout",
                "20",
                "--datapath-type",
                "netdev",
                "--per-port-bridge",
            ]);
            assert!(out.status.success(), "{cmd}: {}", stderr(&out));
            serde_json::from_slice::<J>(&out.stdout).unwrap()
        };
        let rep = run("plug");
        assert_eq!(rep["details"]["bridge"], PBR, "{rep}");
        assert_eq!(ports_of(sb, "br-int"), ["br-int".to_string(), ibp()]);
        assert_eq!(sb.rows("QoS").len(), 1);
        run("unplug");
        assert_eq!(sb.names("Bridge"), ["br-int"]);
        assert_eq!(ports_of(sb, "br-int"), ["br-int"]);
        assert_eq!(sb.rows("QoS"), Vec::<J>::new(), "QoS row deleted");

        let help = vifman_ok(&["plug", "--help"]);
        assert!(help.contains("--per-port-bridge"), "{help}");
    });
}
