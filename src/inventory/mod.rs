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
    DeviceInfo, Inventory, NetdevInfo, PfEntry, SriovInfo, VfAdmin, VfEntry, SCHEMA_VERSION,
};
pub use names::Names;
pub use source::{collect, load_link_dump};
pub use status::{outside_use, NetdevSigns};
pub use table::render_table;

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
