//! nova's card-serial rule for `remote_managed` specs on a host: a VF such a spec takes must
//! have a card serial number in its PCI VPD, or (when the VF has no VPD of its own) in its
//! PF's (nova's `_get_vpd_details` fallback); the PCIe DSN does not count. Exercised through
//! `vifman pools` on a copy of the nfv-host fixture, whose mlx5 PF 0000:5e:00.0 has four VFs.

mod common;
use common::*;

use std::path::Path;

const PF: &str = "0000:5e:00.0";
const VF: &str = "0000:5e:00.2";

const CONFIG: &str = r#"
exclude_default_route = false
[[device_spec]]
vendor_id = "15b3"
product_id = "1018"
physical_network = "offload"
remote_managed = "true"
"#;

/// A VPD image: identifier string, then a read-only section with PN and (when given) SN.
fn vpd(serial: Option<&str>) -> Vec<u8> {
    let mut v = vec![0x82, 3, 0, b'N', b'I', b'C'];
    let mut ro = vec![b'P', b'N', 2, b'x', b'y'];
    if let Some(s) = serial {
        ro.extend([b'S', b'N', s.len() as u8]);
        ro.extend(s.as_bytes());
    }
    v.extend([0x90, ro.len() as u8, 0]);
    v.extend(ro);
    v.push(0x78);
    v
}

fn dev(root: &Path, a: &str) -> std::path::PathBuf {
    root.join("sys/bus/pci/devices").join(a)
}

/// The VFs the offload pool takes and the verdict on `VF` (`pools --json --explain`).
fn offload(root: &Path, dir: &Path) -> (Vec<String>, String) {
    let cfg = dir.join("vifman.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let state = dir.join("state");
    let out = vifman_ok(&[
        "pools",
        "--json",
        "--explain",
        "--sysfs-root",
        root.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let explain = j["explain"].as_array().unwrap();
    let mut vfs: Vec<String> = explain
        .iter()
        .filter(|e| e["pool"] == "offload")
        .map(|e| e["vf"].as_str().unwrap().to_string())
        .collect();
    vfs.sort();
    let verdict = explain
        .iter()
        .find(|e| e["vf"] == VF)
        .map(|e| e["verdict"].to_string())
        .unwrap_or_default();
    (vfs, verdict)
}

#[test]
fn remote_managed_takes_only_vfs_with_a_card_serial() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());

    // No VPD anywhere: nova takes none of them.
    let (vfs, why) = offload(&root, dir.path());
    assert!(vfs.is_empty(), "no serial, yet the pool has {vfs:?}");
    assert!(
        why.contains("card serial number"),
        "explain should name the missing serial: {why}"
    );

    // The PF's VPD carries the card serial: every VF without VPD of its own inherits it.
    std::fs::write(dev(&root, PF).join("vpd"), vpd(Some("MT2113X00000"))).unwrap();
    let (vfs, _) = offload(&root, dir.path());
    assert_eq!(
        vfs,
        [
            "0000:5e:00.2",
            "0000:5e:00.3",
            "0000:5e:00.4",
            "0000:5e:00.5"
        ],
        "VFs of a PF with a card serial"
    );

    // A VF with VPD of its own but no SN in it: no fallback to the PF (as nova).
    std::fs::write(dev(&root, VF).join("vpd"), vpd(None)).unwrap();
    let (vfs, why) = offload(&root, dir.path());
    assert!(!vfs.contains(&VF.to_string()), "{VF} has no SN: {vfs:?}");
    assert_eq!(vfs.len(), 3, "{vfs:?}");
    assert!(why.contains("card serial number"), "{why}");

    // An empty SN is no serial either.
    std::fs::write(dev(&root, VF).join("vpd"), vpd(Some(""))).unwrap();
    let (vfs, _) = offload(&root, dir.path());
    assert!(!vfs.contains(&VF.to_string()), "{vfs:?}");
}

#[test]
fn without_remote_managed_the_serial_does_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    // An unreadable VPD would fail a lookup; without remote_managed none happens.
    std::fs::write(dev(&root, PF).join("vpd"), vpd(None)).unwrap();
    let cfg = dir.path().join("vifman.toml");
    std::fs::write(
        &cfg,
        CONFIG.replace("remote_managed = \"true\"", "remote_managed = \"false\""),
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = vifman_ok(&[
        "pools",
        "--json",
        "--explain",
        "--sysfs-root",
        root.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(out.contains(VF), "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["pools"][0]["total"], 4, "{out}");
}

/// `vifman pci --config` lists VFs with their pools: the same card-serial rule as `pools`.
#[test]
fn pci_pools_follow_the_card_serial_rule() {
    let dir = tempfile::tempdir().unwrap();
    let root = nfv_copy(dir.path());
    let cfg = dir.path().join("vifman.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let state = dir.path().join("state");
    let pools_of_vf = || -> serde_json::Value {
        let out = vifman_ok(&[
            "pci",
            "--json",
            "--sysfs-root",
            root.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        j["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["address"] == VF)
            .unwrap_or_else(|| panic!("{VF} not listed: {out}"))["pools"]
            .clone()
    };
    assert_eq!(pools_of_vf(), serde_json::json!([]), "no card serial yet");
    std::fs::write(dev(&root, PF).join("vpd"), vpd(Some("MT2113X00000"))).unwrap();
    assert_eq!(
        pools_of_vf(),
        serde_json::json!(["offload"]),
        "the PF's card serial lets the remote_managed spec take the VF"
    );
}
