//! The inventory as a projection of the read model ([`HostView`]): the same scan, VF state
//! and availability verdict ([`VfStatus`]) that `pools`, `allocate` and the device plugin
//! use, so `free` here means "vifman would hand it out" everywhere.

use std::collections::HashMap;

use serde::Serialize;

use super::model::Inventory;
use crate::config::Config;
use crate::store::StoreState;
use crate::types::PciAddress;
use crate::view::{HostView, VfStatus, VfView};

/// A VF's availability as shown by the inventory: the verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusInfo {
    /// `free`, `allocated`, `in_use`, `excluded`, `quarantined` or `unknown`.
    pub state: &'static str,
    /// What makes it so (empty when free).
    pub reasons: Vec<String>,
}

impl From<&VfStatus> for StatusInfo {
    fn from(s: &VfStatus) -> Self {
        let (state, reasons) = match s {
            VfStatus::Free => ("free", vec![]),
            VfStatus::Allocated(id) => ("allocated", vec![format!("VIF {id}")]),
            VfStatus::InUse(r) => ("in_use", r.clone()),
            VfStatus::Excluded(r) => ("excluded", vec![r.clone()]),
            VfStatus::Quarantined(r) => ("quarantined", vec![r.clone()]),
            VfStatus::Unknown(r) => ("unknown", vec![r.clone()]),
        };
        StatusInfo { state, reasons }
    }
}

/// The inventory of `view`. With a `config`, each VF's pool is shown and the config's
/// exclusions apply; without one, the default exclusions do (as for an empty config file).
/// `live` adds udev properties (they describe the running system only).
pub fn project(
    view: &HostView,
    label: &str,
    config: Option<&Config>,
    st: &StoreState,
    live: bool,
) -> Inventory {
    let _span = tracing::debug_span!("inventory_project").entered();
    let none;
    let cfg = match config {
        Some(c) => c,
        None => {
            none = Config::none();
            &none
        }
    };
    let mut inv = super::build(
        &view.scan,
        label,
        &view.links,
        view.origin,
        view.warnings.clone(),
    );
    let by_addr: HashMap<PciAddress, &VfView> = view.vfs.iter().map(|v| (v.addr, v)).collect();
    for pf in &mut inv.physical_functions {
        for vf in &mut pf.vfs {
            let addr = vf.device.address;
            let status = match by_addr.get(&addr) {
                Some(v) => {
                    if config.is_some() && view.exclusion(cfg, v).is_none() {
                        vf.pool = cfg
                            .classify(&view.candidate(v))
                            .0
                            .and_then(|s| s.physical_network.clone());
                    }
                    view.status(cfg, st, v)
                }
                None => VfStatus::Unknown("its sysfs directory could not be read".into()),
            };
            vf.free = status.is_free();
            vf.status = StatusInfo::from(&status);
            if let Some(a) = st.allocations.iter().find(|a| a.vf == addr) {
                let mut j = serde_json::json!({
                    "vif_id": a.vif_id,
                    "instance_uuid": a.instance_uuid,
                    "physnet": a.physnet,
                    "mode": a.mode.as_str(),
                    "phase": a.phase,
                });
                if let Some(q) = &a.quarantine {
                    j["quarantine"] = serde_json::json!({"reason": q.reason, "since": q.since});
                }
                vf.allocation = Some(j);
            }
        }
    }
    if live && crate::udev::ENABLED {
        add_udev(&mut inv);
    }
    inv
}

/// udev only describes the live system, so this runs for root `/` only.
fn add_udev(inv: &mut Inventory) {
    for pf in &mut inv.physical_functions {
        pf.device.udev =
            crate::udev::lookup(&pf.device.address, pf.netdevs.first().map(|n| &n.name));
        for vf in &mut pf.vfs {
            vf.device.udev =
                crate::udev::lookup(&vf.device.address, vf.netdev.as_ref().map(|n| &n.name));
        }
    }
}
