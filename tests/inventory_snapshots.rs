//! Snapshot of the inventory table/JSON and the PCI report for every tree under
//! fixtures/sysfs/. New fixture directories are picked up automatically; review new snapshots
//! with `INSTA_UPDATE=always cargo test --test inventory_snapshots` and read the .snap files.

use std::path::{Path, PathBuf};

use vifman::inventory::{self, passthrough};
use vifman::sysfs::{scan, SysfsRoot};

fn fixture_roots() -> Vec<(String, PathBuf)> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&base)
        .expect("fixtures/sysfs exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("sys").is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    out
}

/// Generated benchmark-size trees would produce multi-megabyte snapshots; those are covered by
/// the "no panic, exit 0" checks instead.
const MAX_SNAPSHOT_DEVICES: usize = 400;

#[test]
fn every_fixture_matches_its_snapshots() {
    let roots = fixture_roots();
    assert!(!roots.is_empty(), "no fixture trees found");
    for (name, path) in roots {
        let label = format!("fixtures/sysfs/{name}");
        let root = SysfsRoot::new(&path).unwrap();
        let report = scan(&root);
        let inv = inventory::collect(&root, &label);
        let pci = passthrough::build(&report, &label, root.noiommu());
        if report.devices.len() > MAX_SNAPSHOT_DEVICES {
            eprintln!("{name}: {} devices, snapshot skipped", report.devices.len());
            continue;
        }
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("inventory_table", inventory::render_table(&inv));
            insta::assert_json_snapshot!("inventory_json", inv);
            insta::assert_snapshot!("pci_table", passthrough::render_table(&pci));
            insta::assert_json_snapshot!("pci_json", pci);
        });
    }
}

#[test]
fn broken_trees_give_partial_results_and_warnings() {
    for (name, path) in fixture_roots()
        .into_iter()
        .filter(|(n, _)| n.starts_with("broken-"))
    {
        let root = SysfsRoot::new(&path).unwrap();
        let inv = inventory::collect(&root, &name);
        assert!(
            !inv.warnings.is_empty(),
            "{name}: a broken tree should produce warnings"
        );
        assert!(
            !inv.physical_functions.is_empty(),
            "{name}: partial results expected, got no PF at all"
        );
    }
}
