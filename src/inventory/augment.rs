//! What the inventory adds to the read model's projection from the host's other clients:
//! the eswitch mode per PF (devlink) and the debounced health per device (the health model).
//! Both are joined here, after filtering, so a narrowed inventory asks the kernel only about
//! the PFs it shows.

use serde::Serialize;

use super::health::{DeviceHealth, DevlinkReporter, HealthReport, Kind};
use super::model::Inventory;
use crate::host::EswitchInfo;
use crate::sysfs::Warning;
use crate::types::PciAddress;

/// A PF's eswitch as the inventory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EswitchEntry {
    /// `legacy` or `switchdev`.
    pub mode: String,
    /// `devlink` when the kernel (or the simulated one) answered for the PF's devlink
    /// instance; `representors` when inferred from `pfNvfM` representor netdevs because the
    /// host has no devlink answer for it (fixture trees, kernels without devlink).
    pub source: &'static str,
    /// The devlink handle, `bus/dev`, when devlink answered.
    pub devlink: Option<String>,
    /// Rate nodes on the instance: while one exists the kernel refuses every mode change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_nodes: Vec<String>,
}

/// A device's health as the inventory shows it: the same debounced verdict `vifman health`,
/// the device plugin and metrics give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthEntry {
    pub healthy: bool,
    /// Why it is unhealthy (empty when healthy).
    pub reasons: Vec<String>,
    /// Conditions seen but not yet held long enough to change the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// The device's devlink health reporters, where it has a devlink instance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devlink: Vec<DevlinkReporter>,
}

/// [`apply_eswitch`] with `host`'s answers, asked for every PF in one go
/// ([`crate::host::Host::eswitches_of`]: one set of host-wide devlink dumps per inventory,
/// not one per PF).
pub fn apply_host_eswitch(inv: &mut Inventory, host: &dyn crate::host::Host) {
    let pfs: Vec<PciAddress> = inv
        .physical_functions
        .iter()
        .map(|pf| pf.device.address)
        .collect();
    let ids: Vec<crate::host::PfId> = pfs.iter().map(|a| crate::host::PfId::Pci(*a)).collect();
    let mut answers: std::collections::HashMap<PciAddress, Result<Option<EswitchInfo>, String>> =
        pfs.into_iter()
            .zip(host.eswitches_of(&ids))
            .map(|(a, r)| (a, r.map_err(|e| e.to_string())))
            .collect();
    apply_eswitch(inv, |a| answers.remove(a).unwrap_or(Ok(None)));
}

/// Set each PF's `eswitch`: devlink's answer, else the representors' evidence (switchdev when
/// VF representors hang off the PF), else unknown (`null`). A failed devlink query becomes a
/// warning naming the PF; the fallback still applies.
pub fn apply_eswitch(
    inv: &mut Inventory,
    mut eswitch_of: impl FnMut(&PciAddress) -> Result<Option<EswitchInfo>, String>,
) {
    for pf in &mut inv.physical_functions {
        let addr = pf.device.address;
        let asked = eswitch_of(&addr).unwrap_or_else(|e| {
            inv.warnings.push(Warning::new(
                addr.to_string(),
                format!("eswitch mode unavailable: {e}"),
            ));
            None
        });
        pf.eswitch = eswitch_entry(asked, pf.switchdev);
        // One answer for both fields: a devlink-reported switchdev PF is switchdev even
        // before its representors have netdevs.
        if let Some(e) = &pf.eswitch {
            pf.switchdev = e.mode == "switchdev";
        }
    }
}

/// A PF's eswitch entry: devlink's answer, else switchdev when representors were found,
/// else unknown. PCI and non-PCI PFs alike.
pub(super) fn eswitch_entry(asked: Option<EswitchInfo>, reps: bool) -> Option<EswitchEntry> {
    match asked {
        Some(i) => Some(EswitchEntry {
            mode: i.mode.to_string(),
            source: "devlink",
            devlink: Some(i.devlink),
            rate_nodes: i.rate_nodes,
        }),
        None if reps => Some(EswitchEntry {
            mode: "switchdev".into(),
            source: "representors",
            devlink: None,
            rate_nodes: Vec::new(),
        }),
        None => None,
    }
}

/// Set each PF's and VF's `health` from the report, and each non-PCI PF's (by its
/// `BUS/NAME`); a device the report does not cover (its sysfs directory could not be read)
/// keeps `null`.
pub fn apply_health(inv: &mut Inventory, report: &HealthReport) {
    let entry = |d: &DeviceHealth| HealthEntry {
        healthy: d.healthy,
        reasons: d.reasons.clone(),
        pending: d.pending.clone(),
        devlink: d.devlink.clone(),
    };
    for pf in &mut inv.physical_functions {
        pf.health = report.get(Kind::Pf, &pf.device.address).map(entry);
        for vf in &mut pf.vfs {
            vf.health = report.get(Kind::Vf, &vf.device.address).map(entry);
        }
    }
    for pf in &mut inv.bus_functions {
        pf.health = pf
            .device
            .parse::<crate::types::BusDevice>()
            .ok()
            .and_then(|d| report.get_bus(&d))
            .map(entry);
    }
}
