//! Kernel driver names are typed (`DriverName`) by the scanner, once. Every driver in the
//! shipped fixture trees must come through that typing unchanged (same name, same JSON
//! string), real names that are not identifiers must be accepted, and a name the type
//! refuses must leave the device listed with a warning that names the link and the value.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::copy_tree;
use vifman::sysfs::{scan, PciDevice, ScanReport, SysfsRoot};
use vifman::types::{DriverName, PciAddress};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("sys").is_dir())
        .collect();
    v.sort();
    v
}

/// `(address, raw driver link basename, raw driver_override)` straight from the files,
/// without vifman's reader.
fn raw_drivers(root: &Path) -> Vec<(PciAddress, Option<String>, Option<String>)> {
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(root.join("sys/bus/pci/devices")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(a) = e.file_name().to_string_lossy().parse::<PciAddress>() else {
            continue;
        };
        let dir = e.path();
        let link = std::fs::read_link(dir.join("driver"))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        let over = std::fs::read_to_string(dir.join("driver_override"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "(null)");
        out.push((a, link, over));
    }
    out
}

/// The inventory entry (any depth) whose `address` is `a`.
fn find_device<'v>(v: &'v serde_json::Value, a: &str) -> Option<&'v serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("address").and_then(|x| x.as_str()) == Some(a) && m.contains_key("status") {
                return Some(v);
            }
            m.values().find_map(|x| find_device(x, a))
        }
        serde_json::Value::Array(xs) => xs.iter().find_map(|x| find_device(x, a)),
        _ => None,
    }
}

fn device<'a>(r: &'a ScanReport, a: &PciAddress) -> &'a PciDevice {
    r.device(a).unwrap_or_else(|| panic!("{a} dropped"))
}

#[test]
fn every_fixture_driver_survives_the_scan() {
    let mut drivers = 0;
    for fx in fixtures() {
        let root = SysfsRoot::new(&fx).unwrap();
        let report = scan(&root);
        for w in &report.warnings {
            assert!(
                !w.message.contains("is not a driver name"),
                "{}: {w}",
                fx.display()
            );
        }
        for (a, link, over) in raw_drivers(&fx) {
            let d = device(&report, &a);
            let json = serde_json::to_value(d).unwrap();
            if let Some(raw) = &link {
                // The typed name is the link's name, and serialises as the same string.
                let typed = d
                    .driver
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: {a}: driver {raw:?} lost", fx.display()));
                assert_eq!(typed.as_str(), raw, "{}: {a}", fx.display());
                assert_eq!(json["driver"], raw.as_str(), "{}: {a}", fx.display());
                assert_eq!(&DriverName::new(raw).unwrap(), typed);
                assert!(!d.driver_unusable);
                drivers += 1;
            }
            if let (true, Some(raw)) = (d.present, &over) {
                assert_eq!(
                    d.driver_override.as_deref(),
                    Some(raw.as_str()),
                    "{}: {a}",
                    fx.display()
                );
                assert_eq!(json["driver_override"], raw.as_str());
            }
        }
    }
    assert!(drivers > 50, "only {drivers} drivers seen");
}

/// A copy of the igb-real tree whose first VF's driver link points at `name` (a directory
/// under `bus/pci/drivers/` is created for it).
fn with_driver(name: &str, override_: Option<&str>) -> (tempfile::TempDir, PciAddress) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/igb-real");
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("sys")).unwrap();
    copy_tree(&src.join("sys"), &t.path().join("sys"));
    std::fs::copy(src.join("vf-state.json"), t.path().join("vf-state.json")).unwrap();
    let a: PciAddress = "0000:01:10.0".parse().unwrap();
    let dev = t.path().join(format!("sys/bus/pci/devices/{a}"));
    let drv = t.path().join("sys/bus/pci/drivers").join(name);
    std::fs::create_dir_all(&drv).unwrap();
    std::fs::remove_file(dev.join("driver")).unwrap();
    symlink(
        PathBuf::from("../../../../bus/pci/drivers").join(name),
        dev.join("driver"),
    )
    .unwrap();
    if let Some(o) = override_ {
        std::fs::write(dev.join("driver_override"), format!("{o}\n")).unwrap();
    }
    (t, a)
}

#[test]
fn a_real_driver_name_with_a_space_is_kept() {
    // drivers/watchdog/i6300esb.c registers its PCI driver as "i6300ESB timer"; QEMU guests
    // with the emulated watchdog have it under sys/bus/pci/drivers/.
    let (t, a) = with_driver("i6300ESB timer", Some("i6300ESB timer"));
    let root = SysfsRoot::new(t.path()).unwrap();
    let report = scan(&root);
    let d = device(&report, &a);
    assert_eq!(d.driver.as_deref(), Some("i6300ESB timer"));
    assert_eq!(d.driver_override.as_deref(), Some("i6300ESB timer"));
    // (igb-real is a partial capture: its own missing links are warned about, nothing else.)
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.path.contains(&a.to_string()) || w.message.contains("not a driver name")),
        "{:?}",
        report.warnings
    );
    assert_eq!(
        root.driver_of(&a).unwrap().as_deref(),
        Some("i6300ESB timer")
    );
}

#[test]
fn a_refused_driver_name_is_a_warning_not_a_lost_device() {
    let (t, a) = with_driver("bad\u{1b}[2Jname", Some("../../etc"));
    let root = SysfsRoot::new(t.path()).unwrap();
    let report = scan(&root);
    let d = device(&report, &a);
    assert_eq!(d.driver, None);
    assert!(d.driver_unusable, "bound, just not nameable");
    assert!(d.is_bound());
    assert_eq!(d.driver_override, None);
    let link = format!("/sys/bus/pci/devices/{a}/driver");
    let w = report
        .warnings
        .iter()
        .find(|w| w.path.ends_with(&link) || w.path.contains(&format!("{a}/driver")))
        .unwrap_or_else(|| panic!("no warning on the driver link: {:?}", report.warnings));
    assert!(
        w.message.contains("is not a driver name")
            && w.message.contains("contains a control character"),
        "{w}"
    );
    let w = report
        .warnings
        .iter()
        .find(|w| w.path.ends_with("driver_override"))
        .unwrap_or_else(|| panic!("no warning on driver_override: {:?}", report.warnings));
    assert!(
        w.message
            .contains("\"../../etc\" is not a driver name: contains '/'"),
        "{w}"
    );
    // The point read tells "bound to something unnameable" apart from "unbound".
    assert!(root.driver_of(&a).is_err());
    // The inventory still lists the device, and says why its driver is blank.
    let inv = vifman::inventory::collect(&root, "t");
    let json = serde_json::to_string(&inv).unwrap();
    assert!(
        json.contains(&a.to_string()),
        "{a} missing from the inventory"
    );
    assert!(
        json.contains("is not a driver name"),
        "no warning in {json}"
    );
    // Bound to something vifman cannot name: never free (the one availability verdict).
    let v = serde_json::to_value(&inv).unwrap();
    let vf = find_device(&v, &a.to_string()).unwrap_or_else(|| panic!("{a} not in {v}"));
    assert_eq!(vf["driver"], serde_json::Value::Null);
    assert_eq!(vf["free"], false, "{vf}");
    assert_eq!(vf["status"]["state"], "in_use", "{vf}");
    assert!(
        vf["status"]["reasons"].to_string().contains("cannot use"),
        "{vf}"
    );
    // The rendered table escapes nothing into the terminal.
    assert!(!vifman::inventory::render_table(&inv).contains('\u{1b}'));
}
