//! Making Placement agree with the desired tree (idempotent: read, compare, write only
//! differences with the provider generation, retry on `placement.concurrent_update`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::client::Client;
pub use super::desired::*;
use super::PlacementError;

const RETRIES: usize = 6;

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
#[path = "sync_tests.rs"]
mod tests;
