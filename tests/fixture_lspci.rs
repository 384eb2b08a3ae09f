//! The real lspci must accept generated trees (it parses the binary `config` file, not the text
//! attributes). Skipped when pciutils is not installed.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn lspci_reads_nfv_host() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host");
    let out = match Command::new("lspci")
        .args(["-A", "linux-sysfs", "-O"])
        .arg(format!("sysfs.path={}", root.join("sys/bus/pci").display()))
        .args(["-D", "-vmm", "-nn"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping: lspci not available ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let slots = text.lines().filter(|l| l.starts_with("Slot:")).count();
    let dirs = std::fs::read_dir(root.join("sys/bus/pci/devices"))
        .unwrap()
        .count();
    assert_eq!(slots, dirs);
    assert!(text.contains("Device:\tEthernet Controller X710 for 10GbE SFP+ [1572]"));
    assert!(text.contains("Device:\tEthernet Virtual Function 700 Series [154c]"));
    assert!(text.contains("Device:\tMT27800 Family [ConnectX-5 Virtual Function] [1018]"));
    assert!(text.contains("NUMANode:\t1"));
}

/// `vifman pci` names every class exactly as lspci does, including codes pci.ids has no
/// subclass for (`Unassigned class [ffff]`, `Network controller [02ee]`) or no class at all
/// (`Class 4201`): three devices of a copy of nfv-host get such codes, in the `class`
/// attribute lspci reads, in `uevent` (vifman's first source) and in config space alike.
#[test]
fn class_names_match_lspci() {
    if std::process::Command::new("lspci")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: lspci not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = common::nfv_copy(dir.path());
    let devs = root.join("sys/bus/pci/devices");
    for (addr, class) in [
        ("0000:d9:00.0", 0xffff00u32),
        ("0000:d8:00.0", 0x02ee00),
        ("0000:d8:00.1", 0x420100),
    ] {
        let d = devs.join(addr);
        // Through the device link; write to fresh files so the copy, not the shipped tree, changes.
        let class_file = std::fs::canonicalize(d.join("class")).unwrap();
        std::fs::remove_file(&class_file).unwrap();
        std::fs::write(&class_file, format!("0x{class:06x}\n")).unwrap();
        let cfg_file = std::fs::canonicalize(d.join("config")).unwrap();
        let mut cfg = std::fs::read(&cfg_file).unwrap();
        cfg[9..12].copy_from_slice(&class.to_le_bytes()[..3]);
        std::fs::remove_file(&cfg_file).unwrap();
        std::fs::write(&cfg_file, cfg).unwrap();
        // vifman reads ids from uevent first (PCI_CLASS, upper-case hex, no 0x).
        let uevent_file = std::fs::canonicalize(d.join("uevent")).unwrap();
        let uevent: String = std::fs::read_to_string(&uevent_file)
            .unwrap()
            .lines()
            .map(|l| match l.starts_with("PCI_CLASS=") {
                true => format!("PCI_CLASS={class:X}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        std::fs::remove_file(&uevent_file).unwrap();
        std::fs::write(&uevent_file, uevent).unwrap();
    }
    let out = Command::new("lspci")
        .args(["-A", "linux-sysfs", "-O"])
        .arg(format!("sysfs.path={}", root.join("sys/bus/pci").display()))
        .args(["-D", "-vmm"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let lspci: std::collections::BTreeMap<String, String> = common::text(&out.stdout)
        .split("\n\n")
        .filter_map(|rec| {
            let field = |k: &str| {
                rec.lines()
                    .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            };
            Some((field("Slot:")?, field("Class:")?))
        })
        .collect();
    let o = common::vifman(&["pci", "--json", "--sysfs-root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ours: std::collections::BTreeMap<String, String> = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["address"].as_str().unwrap().to_string(),
                d["class_name"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(ours, lspci);
    assert_eq!(ours["0000:d9:00.0"], "Unassigned class [ffff]");
    assert_eq!(ours["0000:d8:00.0"], "Network controller [02ee]");
    assert_eq!(ours["0000:d8:00.1"], "Class 4201");
    // The table shows the same name, never the raw code.
    let o = common::vifman(&["pci", "--sysfs-root", root.to_str().unwrap()]);
    let table = common::text(&o.stdout);
    assert!(table.contains("Unassigned class [ffff]"), "{table}");
    assert!(!table.contains("ffff00"), "{table}");
}
