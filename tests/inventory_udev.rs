//! udev enrichment against a fixture, through umockdev (libudev cannot be pointed at a
//! directory; umockdev's preload library redirects its /sys accesses to `UMOCKDEV_DIR`).
//! Build/run with: `CARGO_TARGET_DIR=/work/target-udev cargo test --features udev --test inventory_udev`.
#![cfg(feature = "udev")]

mod common;

use std::path::Path;
use std::process::Command;

use common::copy_tree;

fn append(path: &Path, lines: &str) {
    let mut s = std::fs::read_to_string(path).unwrap_or_default();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(lines);
    std::fs::write(path, s).unwrap();
}

/// A copy of the igb dump whose uevent files carry what udev rules would have added.
fn testbed(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/igb-real/sys");
    std::fs::create_dir(dir.join("sys")).unwrap();
    copy_tree(&src, &dir.join("sys"));
    let pf = dir.join("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0");
    append(
        &pf.join("uevent"),
        "ID_PATH=pci-0000:01:00.0\nID_MODEL_FROM_DATABASE=82576 Gigabit Network Connection\nID_VENDOR_FROM_DATABASE=Intel Corporation\n",
    );
    append(
        &pf.join("net/eth0/uevent"),
        "ID_NET_NAME_PATH=enp1s0\nID_NET_NAME_SLOT=ens1\n",
    );
}

#[test]
fn udev_properties_via_umockdev() {
    if std::env::var_os("VIFMAN_IN_UMOCKDEV").is_none() {
        let wrapper = Command::new("umockdev-wrapper").arg("true").status();
        if !matches!(wrapper, Ok(s) if s.success()) {
            eprintln!("skipping: umockdev-wrapper cannot run here (apt-get install umockdev)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        testbed(t.path());
        let out = Command::new("umockdev-wrapper")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "udev_properties_via_umockdev", "--nocapture"])
            .env("UMOCKDEV_DIR", t.path())
            .env("VIFMAN_IN_UMOCKDEV", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "inner run failed:\n{text}");
        assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
        return;
    }
    // Inside umockdev: /sys is the testbed.
    let addr = "0000:01:00.0".parse().unwrap();
    let eth0 = "eth0".parse().unwrap();
    let p = vifman::udev::lookup(&addr, Some(&eth0)).expect("udev knows the PF");
    assert_eq!(p.id_path.as_deref(), Some("pci-0000:01:00.0"));
    assert_eq!(
        p.id_model_from_database.as_deref(),
        Some("82576 Gigabit Network Connection")
    );
    assert_eq!(p.id_net_name_path.as_deref(), Some("enp1s0"));
    assert_eq!(p.id_net_name_slot.as_deref(), Some("ens1"));
    // A VF without udev properties gets none, and an unknown device is not an error.
    let vf = "0000:01:10.0".parse().unwrap();
    assert_eq!(vifman::udev::lookup(&vf, None), None);
    let ghost = "0000:ff:1f.7".parse().unwrap();
    assert_eq!(vifman::udev::lookup(&ghost, None), None);
}
