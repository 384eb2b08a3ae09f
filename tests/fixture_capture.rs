//! `capture` copies exactly the subset the writer produces, so capturing a fixture must give
//! the fixture back; that is what makes captures of real hosts trustworthy.

use std::path::Path;
use vifman::fixture::{capture::capture, compare::diff_trees};

#[test]
fn capturing_nfv_host_reproduces_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let report = capture(&src, &out).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(report.vf_state.is_some());
    let diff = diff_trees(&src, &out).unwrap();
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

#[test]
fn capturing_a_broken_tree_reports_instead_of_failing() {
    for name in ["broken-links", "broken-unreadable", "broken-missing"] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        vifman::fixture::preset::write(name, &src).unwrap();
        let report = capture(&src, &tmp.path().join("cap")).unwrap();
        if name != "broken-missing" {
            assert!(!report.skipped.is_empty(), "{name}");
        }
    }
}

#[test]
fn inventory_of_a_capture_equals_inventory_of_the_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    capture(&src, &out).unwrap();
    let inv = |root: &Path| {
        let r = vifman::sysfs::SysfsRoot::new(root).unwrap();
        serde_json::to_value(vifman::inventory::collect(&r, "nfv-host")).unwrap()
    };
    let a = inv(&src);
    assert!(!a["physical_functions"].as_array().unwrap().is_empty());
    assert_eq!(a, inv(&out));
}
