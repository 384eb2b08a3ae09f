//! What vifman's subtree should look like, computed purely from a snapshot (no HTTP here;
//! `sync` makes Placement agree with it).
//!
//! Tree: `<hypervisor>:vifman` (under nova's compute-node provider when one has the
//! hypervisor's name) → one child per PF, `<hypervisor>:vifman:<PF address>`, holding the
//! PF's pooled VFs as `CUSTOM_VIFMAN_<POOL>` with traits `CUSTOM_PHYSNET_<POOL>`,
//! `CUSTOM_VIFMAN_NUMA_<N>` and `CUSTOM_VIFMAN_MANAGED`. Names and stable UUIDs never clash
//! with nova's `<host>_<BDF>` providers, and nova's `COMPUTE_*` / `OWNER_NOVA` traits are
//! never set, so nova neither consumes nor deletes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::fleet::ids::{name_uuid, upper_ident};
use crate::fleet::snapshot::{Holder, Snapshot};

pub const MANAGED_TRAIT: &str = "CUSTOM_VIFMAN_MANAGED";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub total: u64,
    pub reserved: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DesiredProvider {
    pub uuid: String,
    pub name: String,
    pub parent: Option<String>,
    pub inventories: BTreeMap<String, Inventory>,
    pub traits: BTreeSet<String>,
}

pub fn resource_class(pool: &str) -> String {
    format!("CUSTOM_VIFMAN_{}", upper_ident(pool))
}

pub fn physnet_trait(pool: &str) -> String {
    format!("CUSTOM_PHYSNET_{}", upper_ident(pool))
}

pub fn numa_trait(n: u32) -> String {
    format!("CUSTOM_VIFMAN_NUMA_{n}")
}

/// nova's resource class for a whole PCI device reported in Placement.
pub fn pci_resource_class(vendor: u16, product: u16) -> String {
    format!("CUSTOM_PCI_{vendor:04X}_{product:04X}")
}

/// nova's `os_resource_classes.normalize_name` / `os_traits.normalize_name`: upper case,
/// every run of other characters one `_`, under `CUSTOM_`.
fn nova_normalize(name: &str) -> String {
    let mut out = String::from("CUSTOM_");
    let mut gap = false;
    for c in name.to_ascii_uppercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            gap = false;
        } else if !gap {
            out.push('_');
            gap = true;
        }
    }
    out
}

/// A device_spec `resource_class` as nova's PCI-in-Placement names it
/// (`pci_placement_translator.get_resource_class`): a valid custom class (or nova's standard
/// `PCI_DEVICE`) is kept, anything else normalised under `CUSTOM_`.
pub fn spec_resource_class(name: &str) -> String {
    let custom = name.starts_with("CUSTOM_")
        && name[7..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if custom || name == "PCI_DEVICE" {
        name.to_string()
    } else {
        nova_normalize(name)
    }
}

/// A device_spec trait as nova's `_normalize_traits` makes it: a custom (or, recognised by
/// the os-traits namespaces, standard) trait is kept upper-cased, anything else normalised
/// under `CUSTOM_`.
pub fn spec_trait(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    const STANDARD: [&str; 8] = [
        "CUSTOM_",
        "HW_",
        "COMPUTE_",
        "STORAGE_",
        "MISC_",
        "OWNER_",
        "ACCELERATOR_",
        "HW_NIC_",
    ];
    let plain = up
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if plain && STANDARD.iter().any(|p| up.starts_with(p)) {
        up
    } else {
        nova_normalize(name)
    }
}

pub fn root_name(hypervisor: &str) -> String {
    format!("{hypervisor}:vifman")
}

pub fn provider_uuid(name: &str) -> String {
    name_uuid(&format!("vifman-placement:{name}"))
}

/// The subtree for `snap`, root first. `reserved` counts VFs nobody can take (used outside
/// vifman, PF link down, no driver); vifman's own allocations are not reserved, because in a
/// Placement-scheduled cloud the scheduler's claim is what accounts for them.
pub fn desired(snap: &Snapshot, hypervisor: &str, parent: Option<&str>) -> Vec<DesiredProvider> {
    let root = root_name(hypervisor);
    let root_uuid = provider_uuid(&root);
    let mut out = vec![DesiredProvider {
        uuid: root_uuid.clone(),
        name: root.clone(),
        parent: parent.map(String::from),
        inventories: BTreeMap::new(),
        traits: [MANAGED_TRAIT.to_string()].into(),
    }];
    let mut by_pf: BTreeMap<String, DesiredProvider> = BTreeMap::new();
    for v in &snap.vfs {
        if v.reason.as_deref() == Some("VF vanished") {
            continue;
        }
        let name = format!("{root}:{}", v.pf);
        let p = by_pf
            .entry(v.pf.to_string())
            .or_insert_with(|| DesiredProvider {
                uuid: provider_uuid(&name),
                name,
                parent: Some(root_uuid.clone()),
                inventories: BTreeMap::new(),
                traits: [MANAGED_TRAIT.to_string()].into(),
            });
        let inv = p
            .inventories
            .entry(resource_class(&v.pool))
            .or_insert(Inventory {
                total: 0,
                reserved: 0,
            });
        inv.total += 1;
        // A quarantined VF is nobody's allocation and nobody can take it: reserved.
        if matches!(v.holder, Holder::Foreign | Holder::Quarantined(_))
            || (v.holder == Holder::Free && !v.healthy)
        {
            inv.reserved += 1;
        }
        p.traits.insert(physnet_trait(&v.pool));
        if let Some(n) = v.numa {
            p.traits.insert(numa_trait(n));
        }
    }
    out.extend(by_pf.into_values());
    // Whole devices of an alias: one provider each, as nova reports PCI devices, with one
    // unit of `CUSTOM_PCI_<VENDOR>_<PRODUCT>` (reserved while nobody can take it).
    for w in &snap.whole {
        if !w.pools.iter().any(|p| p.starts_with("alias:")) {
            continue;
        }
        let name = format!("{root}:{}", w.addr);
        let mut traits: BTreeSet<String> = [MANAGED_TRAIT.to_string()].into();
        if let Some(n) = w.numa {
            traits.insert(numa_trait(n));
        }
        traits.extend(w.traits.iter().map(|t| spec_trait(t)));
        let class = w
            .resource_class
            .as_deref()
            .map(spec_resource_class)
            .unwrap_or_else(|| pci_resource_class(w.vendor, w.product));
        out.push(DesiredProvider {
            uuid: provider_uuid(&name),
            name,
            parent: Some(root_uuid.clone()),
            inventories: [(
                class,
                Inventory {
                    total: 1,
                    reserved: u64::from(w.unavailable.is_some()),
                },
            )]
            .into(),
            traits,
        });
    }
    out
}
