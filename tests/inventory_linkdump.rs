//! Netdev attributes from the link dump must be exactly what the netdev files say: the same
//! inventory with and without `netdevs` in vf-state.json, on the shipped host and on generated
//! ones. Records that no longer describe the netdev (another parent, no speed) fall back to
//! the files, and the real kernel's RTM_GETLINK dump is parsed into the same values `ip` shows.

mod common;

use std::path::Path;

use common::*;
use vifman::inventory::collect;
use vifman::netlink::{VfStateSource, VF_STATE_FILE};
use vifman::rtnl::KernelVfState;
use vifman::sysfs::SysfsRoot;

fn edit_dump(root: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = root.join(VF_STATE_FILE);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn inventory(root: &Path) -> serde_json::Value {
    let r = SysfsRoot::new(root).unwrap();
    serde_json::to_value(collect(&r, "fixture")).unwrap()
}

fn netdevs_of(v: &serde_json::Value) -> usize {
    v["netdevs"].as_array().map_or(0, |a| a.len())
}

fn assert_same_with_and_without_dump(root: &Path) {
    let dump: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(VF_STATE_FILE)).unwrap()).unwrap();
    assert!(netdevs_of(&dump) > 0, "{}: no link records", root.display());
    let with = inventory(root);
    edit_dump(root, |v| {
        v.as_object_mut().unwrap().remove("netdevs");
    });
    let without = inventory(root);
    assert_eq!(with, without, "{}", root.display());
}

#[test]
fn nfv_host_inventory_is_the_same_from_the_dump_and_from_the_files() {
    let t = tempfile::tempdir().unwrap();
    let root = fixture_copy("nfv-host", t.path());
    assert_same_with_and_without_dump(&root);
}

#[test]
fn generated_host_inventory_is_the_same_from_the_dump_and_from_the_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("host");
    vifman_ok(&[
        "fixture",
        "generate",
        "--pfs",
        "3",
        "--vfs",
        "9",
        root.to_str().unwrap(),
    ]);
    assert_same_with_and_without_dump(&root);
}

#[test]
fn records_that_do_not_describe_the_netdev_fall_back_to_the_files() {
    let t = tempfile::tempdir().unwrap();
    let root = fixture_copy("nfv-host", t.path());
    let before = inventory(&root);
    let pfs = before["physical_functions"].as_array().unwrap();
    let vf_with_netdev = |pf: &serde_json::Value| {
        pf["vfs"]
            .as_array()
            .unwrap()
            .iter()
            .position(|v| !v["netdev"].is_null())
    };
    let pfi = pfs
        .iter()
        .position(|pf| vf_with_netdev(pf).is_some() && !pf["netdevs"][0].is_null())
        .expect("a PF with an uplink and a VF netdev");
    let pf0 = &pfs[pfi];
    let vfi = vf_with_netdev(pf0).unwrap();
    let uplink = pf0["netdevs"][0]["name"].as_str().unwrap().to_string();
    let vf_nd = pf0["vfs"][vfi]["netdev"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    edit_dump(&root, |v| {
        for r in v["netdevs"].as_array_mut().unwrap() {
            if r["ifname"] == uplink.as_str() {
                // Renamed onto another NIC since the dump: the parent gives it away.
                r["parent"] = "0000:ff:1f.7".into();
                r["mtu"] = 1234.into();
                r["ifindex"] = 999.into();
            }
            if r["ifname"] == vf_nd.as_str() {
                // No speed in the record: everything else from it, speed from the file.
                r.as_object_mut().unwrap().remove("speed_mbps");
                r["mtu"] = 4321.into();
            }
        }
    });
    let after = inventory(&root);
    let pf = &after["physical_functions"][pfi];
    assert_eq!(pf["netdevs"][0], pf0["netdevs"][0], "stale record ignored");
    let vf = &pf["vfs"][vfi]["netdev"];
    assert_eq!(vf["mtu"], 4321, "the record is used");
    assert_eq!(vf["speed_mbps"], pf0["vfs"][vfi]["netdev"]["speed_mbps"]);
    assert!(after["warnings"] == before["warnings"]);
}

#[test]
fn the_simulated_kernel_keeps_no_stale_link_records() {
    let t = tempfile::tempdir().unwrap();
    let kernel = sim_kernel(NFV, t.path());
    let text = std::fs::read_to_string(kernel.join(VF_STATE_FILE)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(netdevs_of(&v), 0);
    assert!(!v["links"].as_array().unwrap().is_empty(), "VF state kept");
}

fn ip(args: &[&str]) {
    let st = std::process::Command::new("ip")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "ip {args:?}");
}

/// The kernel's dump, parsed by us, against `ip -j link show` in the same namespace.
#[test]
fn kernel_link_records_match_what_ip_reports() {
    in_netns("kernel_link_records_match_what_ip_reports", || {
        ip(&["link", "add", "ld0", "type", "veth", "peer", "name", "ld1"]);
        ip(&[
            "link",
            "set",
            "ld0",
            "address",
            "02:aa:bb:cc:dd:01",
            "mtu",
            "1400",
        ]);
        ip(&["link", "set", "ld0", "up"]);
        ip(&["link", "set", "ld1", "up"]);
        ip(&["link", "add", "ld2", "type", "bridge"]);
        let out = std::process::Command::new("ip")
            .args(["-j", "link", "show"])
            .output()
            .unwrap();
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let dump = KernelVfState.link_dump().unwrap();
        assert!(dump.links.is_empty(), "no VFs in a private namespace");
        let shown = shown.as_array().unwrap();
        assert_eq!(dump.netdevs.len(), shown.len());
        for s in shown {
            let name = s["ifname"].as_str().unwrap();
            let r = dump
                .netdevs
                .iter()
                .find(|r| r.ifname.as_str() == name)
                .unwrap_or_else(|| panic!("{name} missing from the dump"));
            assert_eq!(
                u64::from(r.ifindex),
                s["ifindex"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                u64::from(r.mtu.unwrap()),
                s["mtu"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                r.operstate.as_deref().unwrap(),
                s["operstate"].as_str().unwrap().to_lowercase(),
                "{name}"
            );
            assert_eq!(
                r.address.map(|m| m.to_string()).as_deref(),
                s["address"].as_str(),
                "{name}"
            );
            assert_eq!(r.parent, None, "{name} is virtual");
            assert_eq!(r.speed_mbps, None, "rtnetlink has no speed; sysfs is read");
        }
        let ld0 = dump
            .netdevs
            .iter()
            .find(|r| r.ifname.as_str() == "ld0")
            .unwrap();
        assert_eq!(ld0.address.unwrap().to_string(), "02:aa:bb:cc:dd:01");
        assert_eq!(ld0.mtu, Some(1400));
    });
}
