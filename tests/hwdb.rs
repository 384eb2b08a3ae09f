//! Validates hwdb/sriov-nics.toml: it parses, IDs are well-formed and unique, names agree with
//! pci.ids where pci.ids knows the device, and the igb entry matches what the lab measured.

use std::collections::BTreeSet;
use vifman::hwdb;

#[test]
fn parses_and_has_the_seeded_models() {
    let all = hwdb::all();
    assert!(all.len() >= 45, "{} models", all.len());
}

#[test]
fn ids_are_four_hex_digits_in_the_source() {
    let db: toml::Value = toml::from_str(hwdb::SOURCE).unwrap();
    for m in db["model"].as_array().unwrap() {
        for f in ["vendor", "pf_device", "vf_device"] {
            let v = m[f].as_str().unwrap();
            assert!(hwdb::parse_id(v).is_some(), "{} {f} = {v:?}", m["key"]);
        }
    }
}

#[test]
fn no_duplicate_keys_or_pf_ids_and_no_pf_id_reused_as_a_vf_id() {
    let all = hwdb::all();
    let keys: BTreeSet<_> = all.iter().map(|m| &m.key).collect();
    assert_eq!(keys.len(), all.len());
    let pfs: BTreeSet<_> = all.iter().map(|m| (m.vendor, m.pf_device)).collect();
    assert_eq!(pfs.len(), all.len());
    for m in all {
        assert!(
            !pfs.contains(&(m.vendor, m.vf_device)),
            "{}: VF id {:04x} is another model's PF id",
            m.key,
            m.vf_device
        );
    }
}

#[test]
fn drivers_and_counts_are_filled_in() {
    for m in hwdb::all() {
        assert!(
            !m.pf_driver.is_empty() && !m.vf_driver.is_empty(),
            "{}",
            m.key
        );
        assert!(m.max_vfs > 0, "{}", m.key);
        assert!(!m.name.is_empty(), "{}", m.key);
    }
}

#[test]
fn pf_and_vf_ids_are_known_to_pci_ids_where_it_has_the_vendor() {
    let mut unknown = Vec::new();
    for m in hwdb::all() {
        for (what, id) in [("PF", m.pf_device), ("VF", m.vf_device)] {
            if pci_ids::Device::from_vid_pid(m.vendor, id).is_none() {
                unknown.push(format!("{} {what} {:04x}:{id:04x}", m.key, m.vendor));
            }
        }
        // A VF id must name a virtual function in pci.ids when pci.ids knows it.
        if let Some(d) = pci_ids::Device::from_vid_pid(m.vendor, m.vf_device) {
            let n = d.name().to_lowercase();
            assert!(
                n.contains("virtual function") || n.contains("vf"),
                "{}: VF id {:04x} is '{}' in pci.ids",
                m.key,
                m.vf_device,
                d.name()
            );
        }
    }
    // Only IDs newer than the bundled pci.ids are allowed to be missing; docs/hwdb.md lists them.
    let allowed = [
        "intel-e835-cc-qsfp PF",
        "intel-e835-cc-sfp PF",
        "marvell-octeon-",
    ];
    for u in &unknown {
        assert!(
            allowed.iter().any(|a| u.starts_with(a)),
            "not in pci.ids: {u}"
        );
    }
}

#[test]
fn lookup_by_pf_and_by_vf() {
    let x710 = hwdb::lookup(0x8086, 0x1572).unwrap();
    assert_eq!(x710.key, "intel-x710-sfp");
    // A VF id shared by a family resolves to some member of the family.
    let vf = hwdb::lookup(0x8086, 0x154c).unwrap();
    assert_eq!(vf.pf_driver, "i40e");
    assert!(hwdb::by_vf(0x8086, 0x154c).count() > 5);
    assert!(hwdb::by_vf(0x15b3, 0x101e).all(|m| m.pf_driver == "mlx5_core"));
    assert!(hwdb::lookup(0x1234, 0x5678).is_none());
}

#[test]
fn igb_matches_the_lab() {
    let igb = hwdb::lookup(0x8086, 0x10c9).unwrap();
    assert_eq!(
        (igb.pf_driver.as_str(), igb.vf_driver.as_str()),
        ("igb", "igbvf")
    );
    assert_eq!(igb.vf_device, 0x10ca);
    assert_eq!(igb.max_vfs, 7);
    assert!(!igb.caps.link_state);
    assert!(!igb.caps.vlan_8021ad);
    assert!(!igb.caps.min_tx_rate);
    assert!(igb.caps.max_tx_rate);
    assert!(igb.caps.trust && igb.caps.spoofchk);
    assert!(!igb.caps.switchdev);
    assert!(igb.quirks.pf_must_be_up);
    assert!(igb.quirks.vf_reload_after_mac);
    assert!(!igb.quirks.rejects_zero_mac);
    assert!(hwdb::by_vf(0x8086, 0x10ca).any(|m| m.key == "intel-82576"));
}

#[test]
fn bad_data_is_rejected_with_the_model_named() {
    let good = hwdb::SOURCE;
    let bad = good.replacen("pf_device = \"158a\"", "pf_device = \"158A\"", 1);
    let e = hwdb::parse(&bad).unwrap_err().to_string();
    assert!(e.contains("intel-xxv710-backplane"), "{e}");
    let dup = good.replacen("pf_device = \"158b\"", "pf_device = \"158a\"", 1);
    assert!(hwdb::parse(&dup).is_err());
    let zero = good.replacen("max_vfs = 7", "max_vfs = 0", 1);
    assert!(hwdb::parse(&zero).is_err());
}

/// The eswitch order rules are data keyed by PF driver: ice needs no VFs, mlx5 unbound VFs,
/// every other driver (and one hwdb does not know, like netdevsim) none.
#[test]
fn eswitch_order_rules_by_driver() {
    use vifman::hwdb::{eswitch_order, EswitchOrder};
    assert_eq!(eswitch_order("ice"), EswitchOrder::NoVfs);
    assert_eq!(eswitch_order("mlx5_core"), EswitchOrder::VfsUnbound);
    assert_eq!(eswitch_order("igb"), EswitchOrder::Any);
    assert_eq!(eswitch_order("netdevsim"), EswitchOrder::Any);
    let e810 = vifman::hwdb::all()
        .iter()
        .find(|m| m.pf_driver == "ice")
        .unwrap();
    assert_eq!(e810.quirks.eswitch_order, EswitchOrder::NoVfs);
    // A typo in the rule is an error, not a silently dropped constraint.
    let bad =
        vifman::hwdb::SOURCE.replace("eswitch_order = \"no-vfs\"", "eswitch_order = \"novfs\"");
    assert!(vifman::hwdb::parse(&bad).is_err());
}
