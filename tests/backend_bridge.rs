//! Linux bridge and generic TAP backends against the real kernel, each test in its own
//! network namespace. Assertions read the kernel back with RTM_GETLINK.

mod common;

use common::*;
use serde_json::json;
use vifman::backend::bridge::{LinuxBridge, TapSpec};
use vifman::backend::{select, Backend, BackendError, Config, Instance};
use vifman::types::{IfName, MacAddress};

const MAC: &str = "fa:16:3e:00:00:01";

fn bridge_vif(tap: &str, bridge: &str, mtu: Option<i64>, provide: bool) -> serde_json::Value {
    obj(
        "VIFBridge",
        json!({
            "id": VIF_ID,
            "address": MAC,
            "plugin": "linux_bridge",
            "vif_name": tap,
            "bridge_name": bridge,
            "network": network(bridge, mtu, provide),
            "port_profile": obj("VIFPortProfileBase", json!({})),
        }),
    )
}

fn inst() -> Instance {
    Instance {
        uuid: VM_UUID.into(),
        ..Default::default()
    }
}

fn cfg() -> Config {
    Config::default()
}

#[test]
fn bridge_plug_is_idempotent_and_unplug_cleans_up() {
    in_netns("bridge_plug", || {
        let before = link_names();
        let vif = load(&bridge_vif(
            "tap6f0f6f2c-7c",
            "qbr6f0f6f2c-7c",
            Some(1450),
            true,
        ));
        let b = select(&vif, &cfg()).unwrap();
        assert_eq!(b.name(), "linux_bridge");
        b.plug(&vif, &inst()).unwrap();

        let mut rt = rtnl();
        let br = rt.get_link("qbr6f0f6f2c-7c").unwrap().expect("bridge");
        let tap = rt.get_link("tap6f0f6f2c-7c").unwrap().expect("tap");
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert!(br.up, "bridge is up");
        assert_eq!(tap.kind.as_deref(), Some("tun"));
        assert_eq!(tap.master, Some(br.index));
        assert_eq!(tap.mtu, 1450);
        assert_eq!(tap.mac_string().as_deref(), Some(MAC));
        assert!(tap.up, "tap is up");

        // Same state after a second plug.
        b.plug(&vif, &inst()).unwrap();
        let tap2 = rt.get_link("tap6f0f6f2c-7c").unwrap().unwrap();
        let br2 = rt.get_link("qbr6f0f6f2c-7c").unwrap().unwrap();
        assert_eq!(
            (tap2.index, tap2.master, tap2.mtu),
            (tap.index, tap.master, tap.mtu)
        );
        assert_eq!(br2.index, br.index);

        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(link_names(), before, "plug+unplug leaves no interface");
        // Unplugging again is not an error.
        b.unplug(&vif, &inst()).unwrap();
    });
}

#[test]
fn kernel_state_agrees_with_iproute2() {
    // A second, independent reader of the kernel state: `ip -j -d link`.
    in_netns("bridge_iproute2", || {
        let vif = load(&bridge_vif("tapip0", "brip0", Some(1400), true));
        let b = select(&vif, &cfg()).unwrap();
        b.plug(&vif, &inst()).unwrap();
        let out = std::process::Command::new("ip")
            .args(["-j", "-d", "link", "show", "tapip0"])
            .output()
            .expect("ip");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["master"], "brip0");
        assert_eq!(v[0]["mtu"], 1400);
        assert_eq!(v[0]["address"], MAC);
        assert_eq!(v[0]["linkinfo"]["info_kind"], "tun");
        assert!(v[0]["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        b.unplug(&vif, &inst()).unwrap();
    });
}

#[test]
fn existing_bridge_is_used_and_kept() {
    in_netns("bridge_existing", || {
        // The operator's bridge: we must attach to it and never delete it.
        let vif0 = load(&bridge_vif("tapx0", "brx", None, true));
        LinuxBridge::new(cfg()).plug(&vif0, &inst()).unwrap();
        let vif = load(&bridge_vif("tapx1", "brx", None, false));
        let b = select(&vif, &cfg()).unwrap();
        b.plug(&vif, &inst()).unwrap();
        let mut rt = rtnl();
        let br = rt.get_link("brx").unwrap().unwrap();
        assert_eq!(
            rt.get_link("tapx1").unwrap().unwrap().master,
            Some(br.index)
        );
        assert_eq!(rt.get_link("tapx1").unwrap().unwrap().mtu, 1500);
        b.unplug(&vif, &inst()).unwrap();
        assert!(rt.get_link("tapx1").unwrap().is_none());
        assert!(
            rt.get_link("brx").unwrap().is_some(),
            "bridge not ours to delete"
        );
    });
}

#[test]
fn missing_bridge_without_permission_fails_cleanly() {
    in_netns("bridge_missing", || {
        let before = link_names();
        let vif = load(&bridge_vif("tapm0", "brmissing", None, false));
        let e = select(&vif, &cfg())
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(matches!(e, BackendError::BridgeMissing(_)), "{e}");
        assert!(e.to_string().contains("brmissing"), "{e}");
        assert_eq!(link_names(), before, "nothing half-plugged");

        // --create-bridge overrides the network's flag.
        let c = Config {
            create_bridge: true,
            ..cfg()
        };
        select(&vif, &c).unwrap().plug(&vif, &inst()).unwrap();
        assert!(rtnl().get_link("brmissing").unwrap().is_some());
    });
}

#[test]
fn name_collision_rolls_back_the_new_bridge() {
    in_netns("bridge_collision", || {
        // A veth holds the tap's name.
        rtnl()
            .request(vifman::backend::rtnl::Request::new_veth(
                "tapc0", "tapc0p", None,
            ))
            .unwrap();
        let before = link_names();
        let vif = load(&bridge_vif("tapc0", "brc0", None, true));
        let e = select(&vif, &cfg())
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(matches!(e, BackendError::NameCollision { .. }), "{e}");
        assert!(
            e.to_string().contains("tapc0 already exists as veth"),
            "{e}"
        );
        assert_eq!(
            link_names(),
            before,
            "the bridge created for it is gone again"
        );
        // And unplug refuses to delete the foreign device.
        let e = select(&vif, &cfg())
            .unwrap()
            .unplug(&vif, &inst())
            .unwrap_err();
        assert!(matches!(e, BackendError::NameCollision { .. }), "{e}");
        assert!(rtnl().get_link("tapc0").unwrap().is_some());
    });
}

#[test]
fn bridge_name_held_by_non_bridge_is_a_collision() {
    in_netns("bridge_collision2", || {
        rtnl()
            .request(vifman::backend::rtnl::Request::new_veth(
                "brv", "brvp", None,
            ))
            .unwrap();
        let before = link_names();
        let vif = load(&bridge_vif("tapv0", "brv", None, true));
        let e = select(&vif, &cfg())
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("brv already exists as veth, expected bridge"),
            "{e}"
        );
        assert_eq!(link_names(), before);
    });
}

#[test]
fn long_names_and_bad_mtus_fail_before_touching_the_kernel() {
    // No namespace needed: these must fail before any netlink call.
    let vif = load(&bridge_vif("tap0123456789abcd", "br0", None, true));
    let e = select(&vif, &cfg())
        .unwrap()
        .plug(&vif, &inst())
        .unwrap_err();
    assert!(
        matches!(e, BackendError::IfNameTooLong { len: 17, .. }),
        "{e}"
    );

    for mtu in [67, 70000] {
        let vif = load(&bridge_vif("tapmtu", "br0", Some(mtu), true));
        let e = select(&vif, &cfg())
            .unwrap()
            .plug(&vif, &inst())
            .unwrap_err();
        assert!(matches!(e, BackendError::MtuOutOfRange { .. }), "{e}");
        assert!(e.to_string().contains(&mtu.to_string()), "{e}");
    }
}

#[test]
fn kernel_rejected_mtu_is_reported_and_rolled_back() {
    in_netns("bridge_kernel_mtu", || {
        let before = link_names();
        // 65535 passes our range check; the tun driver caps lower (ETH_MAX_MTU minus
        // headers) on some kernels. Either it works, or it fails with the kernel's reason
        // and leaves nothing behind.
        let vif = load(&bridge_vif("tapbig", "brbig", Some(65535), true));
        let b = select(&vif, &cfg()).unwrap();
        match b.plug(&vif, &inst()) {
            Ok(_) => {
                assert_eq!(rtnl().get_link("tapbig").unwrap().unwrap().mtu, 65535);
                b.unplug(&vif, &inst()).unwrap();
            }
            Err(e) => {
                assert!(e.to_string().contains("configure tap tapbig"), "{e}");
                assert_eq!(link_names(), before);
            }
        }
        assert_eq!(link_names(), before);
    });
}

#[test]
fn vlan_networks_are_refused_at_unit_level() {
    // This kernel has no 8021q; the backend refuses should_provide_vlan outright.
    let mut v = bridge_vif("tapvl", "brvl", None, true);
    v["versioned_object.data"]["network"]["versioned_object.data"]["should_provide_vlan"] =
        json!(true);
    let vif = load(&v);
    let e = select(&vif, &cfg())
        .unwrap()
        .plug(&vif, &inst())
        .unwrap_err();
    assert!(matches!(e, BackendError::Unsupported(_)), "{e}");
}

#[test]
fn generic_tap_plug_unplug() {
    in_netns("generic_tap", || {
        let before = link_names();
        let vif = load(&obj(
            "VIFGeneric",
            json!({
                "id": VIF_ID, "address": MAC, "plugin": "noop", "vif_name": "tapg0",
                "network": network("unused", Some(9000), false),
                "port_profile": obj("VIFPortProfileBase", json!({})),
            }),
        ));
        let b = select(&vif, &cfg()).unwrap();
        assert_eq!(b.name(), "tap");
        b.plug(&vif, &inst()).unwrap();
        b.plug(&vif, &inst()).unwrap();
        let l = rtnl().get_link("tapg0").unwrap().unwrap();
        assert_eq!((l.mtu, l.master, l.up), (9000, None, true));
        assert_eq!(l.mac_string().as_deref(), Some(MAC));
        b.unplug(&vif, &inst()).unwrap();
        assert_eq!(link_names(), before);
    });
}

#[test]
fn preserve_on_delete_only_detaches() {
    in_netns("bridge_preserve", || {
        let mut v = bridge_vif("tapp0", "brp0", None, true);
        v["versioned_object.data"]["preserve_on_delete"] = json!(true);
        let vif = load(&v);
        let b = select(&vif, &cfg()).unwrap();
        b.plug(&vif, &inst()).unwrap();
        b.unplug(&vif, &inst()).unwrap();
        let l = rtnl().get_link("tapp0").unwrap().expect("tap kept");
        assert_eq!(l.master, None);
    });
}

#[test]
fn bulk_plug_pipelines_and_bulk_unplug_deletes_by_group() {
    in_netns("bridge_bulk", || {
        let before = link_names();
        let taps: Vec<TapSpec> = (0..40)
            .map(|i| TapSpec {
                name: format!("tapb{i}").parse().unwrap(),
                mtu: 1400 + i,
                mac: Some(MacAddress::new([0x02, 0, 0, 0, 0, i as u8])),
                multiqueue: i % 2 == 0,
            })
            .collect();
        let lb = LinuxBridge::new(cfg());
        lb.plug_bulk(&"brbulk".parse().unwrap(), &taps, true)
            .unwrap();
        let mut rt = rtnl();
        let br = rt.get_link("brbulk").unwrap().unwrap();
        for t in &taps {
            let l = rt.get_link(t.name.as_str()).unwrap().unwrap();
            assert_eq!(
                (l.master, l.mtu, l.up),
                (Some(br.index), t.mtu, true),
                "{}",
                t.name
            );
        }
        // Idempotent.
        lb.plug_bulk(&"brbulk".parse().unwrap(), &taps, true)
            .unwrap();
        let names: Vec<IfName> = taps.iter().map(|t| t.name.clone()).collect();
        lb.unplug_bulk(&names).unwrap();
        lb.unplug_bulk(&names).unwrap();
        let mut after = link_names();
        after.retain(|n| n != "brbulk");
        assert_eq!(after, before);
    });
}

#[test]
fn cli_plug_unplug_in_netns() {
    in_netns("cli_bridge", || {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vif.json");
        std::fs::write(
            &f,
            serde_json::to_string(&bridge_vif("tapcli", "brcli", Some(1450), true)).unwrap(),
        )
        .unwrap();
        let run = |cmd: &str| vifman(&[cmd, f.to_str().unwrap(), "--instance-uuid", VM_UUID]);
        let out = run("plug");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rep["backend"], "linux_bridge");
        let l = rtnl().get_link("tapcli").unwrap().unwrap();
        assert_eq!(l.mtu, 1450);
        // unplug reads the VIF from stdin.
        let out = Vifman::new(["unplug", "-", "--instance-uuid", VM_UUID])
            .stdin(std::fs::read(&f).unwrap())
            .output();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(rtnl().get_link("tapcli").unwrap().is_none());
    });
}

#[test]
fn cli_usage_and_failure_exit_codes() {
    // No instance given: usage error.
    let out = vifman(&["plug", "/nonexistent.json"]);
    assert_eq!(out.status.code(), Some(2));
    // Unreadable file: failure, one line.
    let out = vifman(&["plug", "/nonexistent.json", "--instance-uuid", VM_UUID]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent.json"), "{err}");

    let out = vifman(&["host-info", "--compact"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["versioned_object.name"], "HostInfo");
    let names: Vec<_> = v["versioned_object.data"]["plugin_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["versioned_object.data"]["plugin_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["linux_bridge", "ovs", "tap", "vhostuser", "vifman-direct"]
    );

    // os-vif host_info(permitted_vif_type_names): plugins left with nothing are dropped.
    let out = vifman(&["host-info", "--compact", "--permitted", "VIFVHostUser"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plugins = v["versioned_object.data"]["plugin_info"]
        .as_array()
        .unwrap();
    let names: Vec<_> = plugins
        .iter()
        .map(|p| p["versioned_object.data"]["plugin_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ovs", "vhostuser"]);
    for p in plugins {
        let vifs = p["versioned_object.data"]["vif_info"].as_array().unwrap();
        assert_eq!(vifs.len(), 1);
        assert_eq!(
            vifs[0]["versioned_object.data"]["vif_object_name"],
            "VIFVHostUser"
        );
    }
}
