//! Randomly damaged copies of a real tree: the scan must never panic, must keep listing every
//! device the bus lists, and must never read outside the root.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::copy_tree;
use proptest::prelude::*;
use vifman::inventory::{self, passthrough};
use vifman::sysfs::{scan, SysfsRoot};

fn entries(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            entries(&e.path(), out);
        }
        out.push(e.path());
    }
}

fn mutate(path: &Path, op: u8, bytes: &[u8]) {
    let _ = std::fs::remove_dir_all(path);
    let _ = std::fs::remove_file(path);
    let _ = match op {
        0 => Ok(()),
        1 => std::fs::write(path, bytes),
        2 => std::fs::create_dir(path),
        3 => symlink("/etc/passwd", path),
        4 => symlink(path.file_name().unwrap(), path),
        5 => std::fs::write(path, vec![b'7'; 5000]),
        6 => symlink("../../../../../../../../../../../../..", path),
        _ => symlink("/proc/self/root", path),
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn damaged_trees_never_panic(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8, proptest::collection::vec(any::<u8>(), 0..24)), 1..6)
    ) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/igb-real");
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("sys")).unwrap();
        copy_tree(&src.join("sys"), &t.path().join("sys"));
        std::fs::copy(src.join("vf-state.json"), t.path().join("vf-state.json")).unwrap();
        let mut all = Vec::new();
        entries(&t.path().join("sys"), &mut all);
        all.push(t.path().join("vf-state.json"));
        for (idx, op, bytes) in &picks {
            let p = idx.get(&all);
            if p.exists() || p.symlink_metadata().is_ok() {
                mutate(p, *op, bytes);
            }
        }
        let root = SysfsRoot::new(t.path()).unwrap();
        let report = scan(&root);
        let inv = inventory::collect(&root, "t");
        let _ = inventory::render_table(&inv);
        let _ = serde_json::to_string(&inv).unwrap();
        let pci = passthrough::build(&report, "t", false);
        let _ = passthrough::render_table(&pci);
        // Everything the bus directory lists (by valid address) is reported.
        if let Ok(rd) = std::fs::read_dir(t.path().join("sys/bus/pci/devices")) {
            for e in rd.flatten() {
                if let Ok(a) = e.file_name().to_string_lossy().parse() {
                    prop_assert!(report.device(&a).is_some(), "{a} dropped");
                }
            }
        }
        // Nothing from outside the root leaks in: /etc/passwd contains "root:".
        prop_assert!(!serde_json::to_string(&inv).unwrap().contains("root:x"));
    }
}
