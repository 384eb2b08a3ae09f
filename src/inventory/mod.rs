//! The SR-IOV inventory: sysfs scan + VF runtime state + names, shaped for people and scripts.
//!
//! Nothing here touches the system: it is a projection of the read model
//! ([`crate::view::HostView`]) that it joins, filters and renders. The JSON shape is a public contract, documented in
//! `docs/inventory.md`; bump [`SCHEMA_VERSION`] on any incompatible change.

mod augment;
mod build;
mod bus;
mod filter;
pub mod health;
mod model;
mod names;
pub mod passthrough;
mod project;
mod source;

mod table;

pub use crate::host::VfStateOrigin;
pub use crate::view::{outside_use, NetdevSigns};
pub use augment::{apply_eswitch, apply_health, apply_host_eswitch, EswitchEntry, HealthEntry};
pub use build::build;
pub use bus::{add_bus_functions, apply_bus_eswitch};
pub use filter::{parse_vendor, Filter, FilterError, PfSelector};
pub use model::{
    BusPfEntry, BusSriovInfo, BusVfEntry, DeviceInfo, Inventory, NetdevInfo, PfEntry, SriovInfo,
    VfAdmin, VfEntry, VfStats, SCHEMA_VERSION,
};
pub use names::Names;
pub use project::{project, StatusInfo};
pub use source::{collect, load_link_dump};
pub use table::{render_stats, render_table};

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
    bus::apply_bus_stats(inv, &mut vf_counters);
}
