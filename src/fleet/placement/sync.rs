//! What vifman's subtree should look like (pure, from a snapshot) and making Placement agree
//! (idempotent: read, compare, write only differences with the provider generation, retry on
//! `placement.concurrent_update`).
//!
//! Tree: `<hypervisor>:vifman` (under nova's compute-node provider when one has the
//! hypervisor's name) → one child per PF, `<hypervisor>:vifman:<PF address>`, holding the
//! PF's pooled VFs as `CUSTOM_VIFMAN_<POOL>` with traits `CUSTOM_PHYSNET_<POOL>`,
//! `CUSTOM_VIFMAN_NUMA_<N>` and `CUSTOM_VIFMAN_MANAGED`. Names and stable UUIDs never clash
//! with nova's `<host>_<BDF>` providers, and nova's `COMPUTE_*` / `OWNER_NOVA` traits are
//! never set, so nova neither consumes nor deletes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::client::Client;
use super::PlacementError;
use crate::fleet::ids::{name_uuid, upper_ident};
use crate::fleet::snapshot::{Holder, Snapshot};

pub const MANAGED_TRAIT: &str = "CUSTOM_VIFMAN_MANAGED";
const RETRIES: usize = 6;

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

#[derive(Debug, Clone, Serialize, Default)]
pub struct ProviderResult {
    pub uuid: String,
    pub name: String,
    pub created: bool,
    pub inventory_changed: bool,
    pub traits_changed: bool,
    pub generation: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncReport {
    pub providers: Vec<ProviderResult>,
    pub deleted: Vec<String>,
    /// Changes not made, with why (shrinking below usage, deleting an in-use provider).
    pub refused: Vec<String>,
    /// Write requests sent (0 on a no-change re-sync).
    pub writes: usize,
    pub requests: usize,
}

impl SyncReport {
    pub fn changed(&self) -> bool {
        self.writes > 0
    }
}

struct Ctx<'a> {
    c: &'a Client,
    report: SyncReport,
}

impl Ctx<'_> {
    fn req(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<client::Reply, PlacementError> {
        self.report.requests += 1;
        if method != "GET" {
            self.report.writes += 1;
        }
        self.c.request(method, path, body)
    }

    fn get_json(&mut self, path: &str) -> Result<Value, PlacementError> {
        let r = self.req("GET", path, None)?;
        expect(&r, &[200], "GET", path)?;
        r.json()
    }
}

use super::client;

fn expect(r: &client::Reply, ok: &[u16], method: &str, path: &str) -> Result<(), PlacementError> {
    if ok.contains(&r.status) {
        Ok(())
    } else {
        Err(PlacementError::Status {
            call: format!("{method} {path}"),
            status: r.status,
            body: r.text(),
        })
    }
}

fn is_conflict(r: &client::Reply) -> bool {
    r.status == 409 && r.error_code().as_deref() == Some("placement.concurrent_update")
}

/// Nova's compute-node provider for `hypervisor`, if this host has one (vifman's subtree then
/// hangs under it, as neutron's agent providers do).
pub fn find_compute_node(c: &Client, hypervisor: &str) -> Result<Option<String>, PlacementError> {
    let v = c.get_json(&format!(
        "/resource_providers?name={}",
        urlencode(hypervisor)
    ))?;
    Ok(v["resource_providers"]
        .get(0)
        .and_then(|p| p["uuid"].as_str())
        .map(String::from))
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn inv_body(d: &BTreeMap<String, Inventory>) -> Value {
    let m: serde_json::Map<String, Value> = d
        .iter()
        .map(|(rc, i)| {
            (
                rc.clone(),
                json!({"total": i.total, "reserved": i.reserved, "min_unit": 1, "max_unit": i.total, "step_size": 1, "allocation_ratio": 1.0}),
            )
        })
        .collect();
    Value::Object(m)
}

fn same_inventory(cur: &Value, d: &BTreeMap<String, Inventory>) -> bool {
    let Some(cur) = cur.as_object() else {
        return d.is_empty();
    };
    cur.len() == d.len()
        && d.iter().all(|(rc, i)| {
            let c = &cur[rc];
            c["total"].as_u64() == Some(i.total)
                && c["reserved"].as_u64() == Some(i.reserved)
                && c["max_unit"].as_u64() == Some(i.total)
                && c["min_unit"].as_u64() == Some(1)
                && c["step_size"].as_u64() == Some(1)
                && c["allocation_ratio"].as_f64() == Some(1.0)
        })
}

/// Make Placement hold exactly `desired` (and nothing stale under its root).
pub fn sync(c: &Client, desired: &[DesiredProvider]) -> Result<SyncReport, PlacementError> {
    let _span = tracing::info_span!("placement.sync", providers = desired.len()).entered();
    let mut cx = Ctx {
        c,
        report: SyncReport::default(),
    };
    // Custom classes and traits first: an inventory or trait naming an unknown one is a 400.
    let have_rc: BTreeSet<String> = cx.get_json("/resource_classes")?["resource_classes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    let have_tr: BTreeSet<String> = cx.get_json("/traits?name=startswith:CUSTOM_")?["traits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    for rc in desired
        .iter()
        .flat_map(|d| d.inventories.keys())
        .collect::<BTreeSet<_>>()
    {
        if !have_rc.contains(rc) {
            let p = format!("/resource_classes/{rc}");
            let r = cx.req("PUT", &p, None)?;
            expect(&r, &[201, 204], "PUT", &p)?;
        }
    }
    for t in desired
        .iter()
        .flat_map(|d| d.traits.iter())
        .collect::<BTreeSet<_>>()
    {
        if !have_tr.contains(t) {
            let p = format!("/traits/{t}");
            let r = cx.req("PUT", &p, None)?;
            expect(&r, &[201, 204], "PUT", &p)?;
        }
    }
    for d in desired {
        let res = sync_provider(&mut cx, d)?;
        cx.report.providers.push(res);
    }
    if let Some(root) = desired.first() {
        delete_stale(&mut cx, root, desired)?;
    }
    Ok(cx.report)
}

fn sync_provider(cx: &mut Ctx<'_>, d: &DesiredProvider) -> Result<ProviderResult, PlacementError> {
    let _span = tracing::debug_span!("placement.provider", name = %d.name).entered();
    let mut res = ProviderResult {
        uuid: d.uuid.clone(),
        name: d.name.clone(),
        ..Default::default()
    };
    let path = format!("/resource_providers/{}", d.uuid);
    let r = cx.req("GET", &path, None)?;
    if r.status == 404 {
        let mut body = json!({"uuid": d.uuid, "name": d.name});
        if let Some(p) = &d.parent {
            body["parent_provider_uuid"] = json!(p);
        }
        let r = cx.req("POST", "/resource_providers", Some(&body))?;
        expect(&r, &[200, 201], "POST", "/resource_providers")?;
        res.created = true;
    } else {
        expect(&r, &[200], "GET", &path)?;
    }
    // Inventory.
    let inv_path = format!("{path}/inventories");
    for attempt in 0..=RETRIES {
        if attempt == RETRIES {
            return Err(PlacementError::Conflict(format!("inventory of {}", d.name)));
        }
        let cur = cx.get_json(&inv_path)?;
        let generation = cur["resource_provider_generation"].as_u64().unwrap_or(0);
        res.generation = generation;
        if same_inventory(&cur["inventories"], &d.inventories) {
            break;
        }
        // Placement accepts a total below usage (the provider just drops out of candidates);
        // a VF count that shrank under live claims must be fixed by a human, not hidden.
        let usages = cx.get_json(&format!("{path}/usages"))?;
        let mut refused = vec![];
        if let Some(u) = usages["usages"].as_object() {
            for (rc, used) in u {
                let used = used.as_u64().unwrap_or(0);
                let want = d.inventories.get(rc).map(|i| i.total).unwrap_or(0);
                if used > 0 && want < used {
                    refused.push(format!("{}: {rc} would shrink to {want} below its usage {used}; left at the current inventory", d.name));
                }
            }
        }
        if !refused.is_empty() {
            for r in &refused {
                tracing::warn!("{r}");
            }
            cx.report.refused.extend(refused);
            break;
        }
        let body = json!({"resource_provider_generation": generation, "inventories": inv_body(&d.inventories)});
        let r = cx.req("PUT", &inv_path, Some(&body))?;
        if is_conflict(&r) {
            continue;
        }
        expect(&r, &[200], "PUT", &inv_path)?;
        res.inventory_changed = true;
        res.generation = r.json()?["resource_provider_generation"]
            .as_u64()
            .unwrap_or(generation);
        break;
    }
    // Traits.
    let tr_path = format!("{path}/traits");
    for attempt in 0..=RETRIES {
        if attempt == RETRIES {
            return Err(PlacementError::Conflict(format!("traits of {}", d.name)));
        }
        let cur = cx.get_json(&tr_path)?;
        let generation = cur["resource_provider_generation"].as_u64().unwrap_or(0);
        res.generation = generation;
        let have: BTreeSet<String> = cur["traits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        if have == d.traits {
            break;
        }
        let body = json!({"resource_provider_generation": generation, "traits": d.traits});
        let r = cx.req("PUT", &tr_path, Some(&body))?;
        if is_conflict(&r) {
            continue;
        }
        expect(&r, &[200], "PUT", &tr_path)?;
        res.traits_changed = true;
        res.generation = r.json()?["resource_provider_generation"]
            .as_u64()
            .unwrap_or(generation);
        break;
    }
    Ok(res)
}

/// PF providers of ours that left the host (PF removed or no longer pooled): deleted when
/// nothing is allocated from them, otherwise kept and reported.
fn delete_stale(
    cx: &mut Ctx<'_>,
    root: &DesiredProvider,
    desired: &[DesiredProvider],
) -> Result<(), PlacementError> {
    let keep: BTreeSet<&str> = desired.iter().map(|d| d.uuid.as_str()).collect();
    let prefix = format!("{}:", root.name);
    let list = cx.get_json(&format!("/resource_providers?in_tree={}", root.uuid))?;
    for p in list["resource_providers"].as_array().into_iter().flatten() {
        let (Some(uuid), Some(name)) = (p["uuid"].as_str(), p["name"].as_str()) else {
            continue;
        };
        if keep.contains(uuid) || !name.starts_with(&prefix) {
            continue;
        }
        let path = format!("/resource_providers/{uuid}");
        let r = cx.req("DELETE", &path, None)?;
        if r.status == 409 {
            cx.report.refused.push(format!(
                "{name}: no longer on this host but still in use ({}); not deleted",
                r.error_code().unwrap_or_default()
            ));
            continue;
        }
        expect(&r, &[204, 404], "DELETE", &path)?;
        cx.report.deleted.push(name.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::snapshot::VfInfo;

    fn vf(addr: &str, pf: &str, pool: &str, numa: u32, holder: Holder, healthy: bool) -> VfInfo {
        VfInfo {
            addr: addr.parse().unwrap(),
            pf: pf.parse().unwrap(),
            pf_netdev: None,
            vf_index: 0,
            pool: pool.into(),
            numa: Some(numa),
            iommu_group: None,
            driver: Some("iavf".into()),
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
}
