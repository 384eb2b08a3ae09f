//! The SR-IOV inventory: sysfs scan + VF runtime state + names, shaped for people and scripts.
//!
//! Nothing here touches the system; [`crate::sysfs`] and [`crate::netlink`] gather, this
//! module joins, filters and renders. The JSON shape is a public contract, documented in
//! `docs/inventory.md`; bump [`SCHEMA_VERSION`] on any incompatible change.

mod build;
mod filter;
pub mod health;
mod model;
mod names;
pub mod passthrough;
mod source;
mod status;
mod table;

pub use build::{build, VfStateOrigin};
pub use filter::{parse_vendor, Filter, FilterError, PfSelector};
pub use model::{
    DeviceInfo, Inventory, NetdevInfo, PfEntry, SriovInfo, VfAdmin, VfEntry, VfStats,
    SCHEMA_VERSION,
};
pub use names::Names;
pub use source::{collect, load_link_dump};
pub use status::{outside_use, NetdevSigns};
pub use table::{render_stats, render_table};

/// Marks each VF with the pool the config gives it (`pools`: VF address → physnet).
pub fn apply_pools(
    inv: &mut Inventory,
    pools: &std::collections::BTreeMap<crate::types::PciAddress, String>,
) {
    for pf in &mut inv.physical_functions {
        for vf in &mut pf.vfs {
            vf.pool = pools.get(&vf.device.address).cloned();
        }
    }
}

/// Attach each VF's traffic counters (`--stats`): one `vf_counters` call per PF netdev (one
/// RTM_GETLINK for all its VFs). A PF whose counters cannot be read gets a warning naming it
/// and `null` stats.
pub fn apply_stats(
    inv: &mut Inventory,
    mut vf_counters: impl FnMut(&crate::types::IfName) -> Result<Vec<crate::rtnl::VfCounters>, String>,
) {
    for pf in &mut inv.physical_functions {
        let counters = match pf.netdevs.first() {
            Some(n) => vf_counters(&n.name).unwrap_or_else(|e| {
                inv.warnings.push(crate::sysfs::Warning::new(
                    n.name.to_string(),
                    format!("VF counters unavailable: {e}"),
                ));
                Vec::new()
            }),
            None => Vec::new(),
        };
        for vf in &mut pf.vfs {
            vf.stats = Some(
                counters
                    .iter()
                    .find(|c| c.vf == vf.index)
                    .map(VfStats::from),
            );
        }
    }
}

/// Mark VFs held by vifman allocations (from the store in `state_dir`): `allocation` is set
/// and they are no longer `free`.
pub fn apply_store(inv: &mut Inventory, st: &crate::store::StoreState) {
    for pf in &mut inv.physical_functions {
        let pf_addr = pf.device.address;
        for vf in &mut pf.vfs {
            // What vifman's own policy set is not outside use (the same rule as the engine's).
            if let (Some(own), Some(admin)) = (st.policy_vf(&pf_addr, vf.index), &vf.admin) {
                vf.free = outside_use(
                    vf.device.driver.as_deref(),
                    Some(admin.mac),
                    Some(own),
                    &NetdevSigns::default(),
                )
                .is_empty();
            }
            if let Some(a) = st.allocations.iter().find(|a| a.vf == vf.device.address) {
                vf.allocation = Some(serde_json::json!({
                    "vif_id": a.vif_id,
                    "instance_uuid": a.instance_uuid,
                    "physnet": a.physnet,
                    "mode": a.mode.as_str(),
                    "phase": a.phase,
                }));
                if let (Some(q), Some(v)) = (&a.quarantine, vf.allocation.as_mut()) {
                    v["quarantine"] = serde_json::json!({"reason": q.reason, "since": q.since});
                }
                vf.free = false;
            }
        }
    }
}
