//! Tests of `sync`, kept beside it so the module stays one job per file.
use super::*;
use crate::fleet::snapshot::{Holder, Snapshot, VfInfo};

fn vf(addr: &str, pf: &str, pool: &str, numa: u32, holder: Holder, healthy: bool) -> VfInfo {
    VfInfo {
        addr: addr.parse().unwrap(),
        pf: pf.parse().unwrap(),
        pf_netdev: None,
        vf_index: 0,
        pool: pool.into(),
        numa: Some(numa),
        iommu_group: None,
        driver: Some("iavf".parse().unwrap()),
        holder,
        healthy,
        reason: None,
    }
}

/// nova's `resource_class` / `traits` device_spec tags name the provider's class and add
/// traits, normalised as nova's PCI-in-Placement does.
#[test]
fn spec_resource_class_and_traits_are_used_as_nova_normalises_them() {
    let w = crate::fleet::snapshot::WholeInfo {
        addr: "0000:d8:00.0".parse().unwrap(),
        device_type: crate::types::DeviceType::Pci,
        vendor: 0x10de,
        product: 0x2230,
        numa: None,
        pools: vec!["alias:a6000".into()],
        allocated: false,
        unavailable: None,
        resource_class: Some("a6000-gpu".into()),
        traits: vec![
            "HW_GPU_API_VULKAN".into(),
            "nvlink".into(),
            "CUSTOM_FAST".into(),
        ],
    };
    let snap = Snapshot {
        whole: vec![w.clone()],
        ..Default::default()
    };
    let d = desired(&snap, "cmp1", None);
    assert_eq!(
        d[1].inventories.keys().collect::<Vec<_>>(),
        ["CUSTOM_A6000_GPU"]
    );
    for t in [
        "HW_GPU_API_VULKAN",
        "CUSTOM_NVLINK",
        "CUSTOM_FAST",
        MANAGED_TRAIT,
    ] {
        assert!(d[1].traits.contains(t), "{t}: {:?}", d[1].traits);
    }
    let snap = Snapshot {
        whole: vec![crate::fleet::snapshot::WholeInfo {
            resource_class: Some("CUSTOM_A6000".into()),
            ..w
        }],
        ..Default::default()
    };
    assert!(desired(&snap, "cmp1", None)[1]
        .inventories
        .contains_key("CUSTOM_A6000"));
}

#[test]
fn alias_devices_are_providers_with_nova_classes() {
    let w = |addr: &str, unavailable: Option<&str>| crate::fleet::snapshot::WholeInfo {
        addr: addr.parse().unwrap(),
        device_type: crate::types::DeviceType::Pci,
        vendor: 0x10de,
        product: 0x2230,
        numa: Some(1),
        pools: vec!["alias:a6000".into()],
        allocated: false,
        unavailable: unavailable.map(String::from),
        resource_class: None,
        traits: vec![],
    };
    let snap = Snapshot {
        whole: vec![w("0000:d8:00.0", None), w("0000:d9:00.0", Some("group"))],
        ..Default::default()
    };
    let d = desired(&snap, "cmp1", None);
    assert_eq!(d.len(), 3);
    assert_eq!(d[1].name, "cmp1:vifman:0000:d8:00.0");
    assert_eq!(d[1].parent.as_deref(), Some(d[0].uuid.as_str()));
    assert_eq!(
        d[1].inventories["CUSTOM_PCI_10DE_2230"],
        Inventory {
            total: 1,
            reserved: 0
        }
    );
    assert_eq!(d[2].inventories["CUSTOM_PCI_10DE_2230"].reserved, 1);
    assert!(d[1].traits.contains("CUSTOM_VIFMAN_NUMA_1"));
}

#[test]
fn tree_from_snapshot() {
    let snap = Snapshot {
        vfs: vec![
            vf(
                "0000:3b:02.0",
                "0000:3b:00.0",
                "physnet1",
                0,
                Holder::Free,
                true,
            ),
            vf(
                "0000:3b:02.1",
                "0000:3b:00.0",
                "physnet1",
                0,
                Holder::Foreign,
                false,
            ),
            vf(
                "0000:3b:02.2",
                "0000:3b:00.0",
                "physnet-2",
                0,
                Holder::Vifman("x".into()),
                false,
            ),
            vf(
                "0000:86:01.0",
                "0000:86:00.0",
                "physnet1",
                1,
                Holder::Free,
                false,
            ),
        ],
        pools: vec!["physnet1".into(), "physnet-2".into()],
        aliases: vec![],
        whole: vec![],
    };
    let d = desired(&snap, "cn1", Some("p"));
    assert_eq!(d.len(), 3);
    assert_eq!(
        (d[0].name.as_str(), d[0].parent.as_deref()),
        ("cn1:vifman", Some("p"))
    );
    assert_eq!(d[1].name, "cn1:vifman:0000:3b:00.0");
    assert_eq!(d[1].parent.as_deref(), Some(d[0].uuid.as_str()));
    assert_eq!(
        d[1].inventories["CUSTOM_VIFMAN_PHYSNET1"],
        Inventory {
            total: 2,
            reserved: 1
        }
    );
    // vifman's own allocation is not reserved: the scheduler's claim covers it.
    assert_eq!(
        d[1].inventories["CUSTOM_VIFMAN_PHYSNET_2"],
        Inventory {
            total: 1,
            reserved: 0
        }
    );
    assert!(
        d[1].traits.contains("CUSTOM_PHYSNET_PHYSNET_2")
            && d[1].traits.contains("CUSTOM_VIFMAN_NUMA_0")
    );
    assert_eq!(
        d[2].inventories["CUSTOM_VIFMAN_PHYSNET1"],
        Inventory {
            total: 1,
            reserved: 1
        }
    );
    assert!(d.iter().all(|p| p.traits.contains(MANAGED_TRAIT)
        && !p
            .traits
            .iter()
            .any(|t| t.starts_with("COMPUTE_") || t == "OWNER_NOVA")));
    assert_eq!(
        desired(&snap, "cn1", None)[1].uuid,
        d[1].uuid,
        "stable UUIDs"
    );
}
