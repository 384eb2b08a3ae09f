//! The built binary, end to end: exit codes, table, JSON, filters.

mod common;

use std::path::Path;

use common::*;

const NFV: &str = "fixtures/sysfs/nfv-host";
const IGB: &str = "fixtures/sysfs/igb-real";

fn fixture(name: &str) -> Option<&str> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(name)
        .is_dir()
        .then_some(name)
}

#[test]
fn inventory_table() {
    let out = vifman_ok(&["inventory", "--sysfs-root", IGB]);
    assert!(out.contains("DEVICE"));
    assert!(out.contains("0000:01:00.0"));
    assert!(out.contains("  vf3 0000:01:10.6"));
    assert!(out.contains("4 of 7 VFs enabled"));
    assert!(out.contains("warnings ("));
}

#[test]
fn inventory_json_is_the_documented_shape() {
    let out = vifman_ok(&["inventory", "--sysfs-root", IGB, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["sysfs_root"], IGB);
    assert_eq!(v["vf_state_source"], "fixture");
    let pf = &v["physical_functions"][0];
    assert_eq!(pf["address"], "0000:01:00.0");
    assert_eq!(pf["sriov"]["total_vfs"], 7);
    assert_eq!(pf["vfs"][0]["admin"]["vlan"], 100);
    assert_eq!(pf["vfs"][0]["allocation"], serde_json::Value::Null);
    assert!(v["warnings"][0]["path"].is_string());
}

#[test]
fn pci_report() {
    let out = vifman_ok(&["pci", "--sysfs-root", IGB]);
    assert!(out.contains("0000:01:10.0"));
    assert!(out.contains("ready for passthrough"));
    let v: serde_json::Value =
        serde_json::from_str(&vifman_ok(&["pci", "--sysfs-root", IGB, "--json"])).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 5);
    assert_eq!(v["devices"][0]["ready"], false);
}

#[test]
fn filters_on_the_nfv_host() {
    let Some(nfv) = fixture(NFV) else {
        eprintln!("skipping: {NFV} not present");
        return;
    };
    let all: serde_json::Value =
        serde_json::from_str(&vifman_ok(&["inventory", "--sysfs-root", nfv, "--json"])).unwrap();
    let pfs = all["physical_functions"].as_array().unwrap();
    let first = pfs
        .iter()
        .find(|p| !p["vfs"].as_array().unwrap().is_empty())
        .unwrap();
    let addr = first["address"].as_str().unwrap();
    let one: serde_json::Value = serde_json::from_str(&vifman_ok(&[
        "inventory",
        "--sysfs-root",
        nfv,
        "--json",
        "--pf",
        addr,
    ]))
    .unwrap();
    assert_eq!(one["physical_functions"].as_array().unwrap().len(), 1);
    if let Some(nd) = first["netdevs"][0]["name"].as_str() {
        let by_name: serde_json::Value = serde_json::from_str(&vifman_ok(&[
            "inventory",
            "--sysfs-root",
            nfv,
            "--json",
            "--pf",
            nd,
        ]))
        .unwrap();
        assert_eq!(by_name["physical_functions"][0]["address"], addr);
    }
    let free: serde_json::Value = serde_json::from_str(&vifman_ok(&[
        "inventory",
        "--sysfs-root",
        nfv,
        "--json",
        "--free",
    ]))
    .unwrap();
    for pf in free["physical_functions"].as_array().unwrap() {
        for vf in pf["vfs"].as_array().unwrap() {
            assert_eq!(vf["free"], true);
            assert_ne!(vf["driver"], "vfio-pci");
            assert_eq!(vf["admin"]["mac"], "00:00:00:00:00:00");
        }
    }
    let intel: serde_json::Value = serde_json::from_str(&vifman_ok(&[
        "inventory",
        "--sysfs-root",
        nfv,
        "--json",
        "--vendor",
        "8086",
    ]))
    .unwrap();
    for pf in intel["physical_functions"].as_array().unwrap() {
        assert_eq!(pf["vendor_id"], "8086");
    }
    // Unknown PF: a clear error, exit 1.
    let o = vifman(&["inventory", "--sysfs-root", nfv, "--pf", "0000:ff:1f.7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no SR-IOV physical function matches"));
    // Bad arguments are usage errors (exit 2).
    assert_eq!(
        vifman(&["inventory", "--vendor", "intel"]).status.code(),
        Some(2)
    );
    assert_eq!(
        vifman(&["inventory", "--pf", "a/b/c"]).status.code(),
        Some(2)
    );
    // `a/b` is a well-formed non-PCI PF name (BUS/DEV, as netdevsim/netdevsim10): no such
    // PF, exit 1.
    assert_eq!(
        vifman(&["inventory", "--sysfs-root", nfv, "--pf", "a/b"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn broken_trees_exit_zero() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs");
    for e in std::fs::read_dir(base).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("broken-") {
            continue;
        }
        let root = format!("fixtures/sysfs/{name}");
        for args in [
            vec!["inventory", "--sysfs-root", &root],
            vec!["inventory", "--sysfs-root", &root, "--json"],
            vec!["pci", "--sysfs-root", &root],
        ] {
            vifman_ok(&args);
        }
    }
}

#[test]
fn no_sriov_says_so() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("sys/bus/pci/devices")).unwrap();
    let root = t.path().to_str().unwrap();
    let out = vifman_ok(&["inventory", "--sysfs-root", root]);
    assert!(
        out.starts_with("no SR-IOV physical function found under "),
        "{out}"
    );
    assert!(out.contains("try --sysfs-root fixtures/sysfs/nfv-host"));
    // A root that does not exist is an error, not an empty inventory.
    let o = vifman(&["inventory", "--sysfs-root", "/nonexistent/vifman"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn host_inventory_does_not_fail() {
    // This machine has no SR-IOV; a real scan plus a real netlink dump must still exit 0.
    vifman_ok(&["inventory"]);
    vifman_ok(&["inventory", "--json"]);
    vifman_ok(&["pci"]);
}

/// `vifman inventory | head -0`: a reader that stops early ends vifman as SIGPIPE would (141,
/// nothing on stderr), not with a panic. The pipe's read end is closed before vifman starts,
/// so its first write fails, whatever the scheduling.
#[test]
fn closed_stdout_is_not_a_panic() {
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    for args in [
        vec!["inventory", "--sysfs-root", NFV],
        vec!["pci", "--sysfs-root", NFV, "--json"],
    ] {
        let out = command()
            .args(&args)
            .stdout(w.try_clone().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
}
