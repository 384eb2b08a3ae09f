//! The real lspci must accept generated trees (it parses the binary `config` file, not the text
//! attributes). Skipped when pciutils is not installed.

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
