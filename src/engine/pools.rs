//! pools: what each physnet holds, and (--explain) why each device is in or out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::whole::{pool_names, WholeStatus};
use super::{Engine, EngineError, HostView};
use crate::store::{StoreState, WholeRequestKind};
use crate::types::DeviceType;
use crate::view::VfStatus;

#[derive(Debug, Clone, Serialize, Default)]
pub struct PoolReport {
    /// The physical network, or `alias:<name>` for an alias's devices.
    pub physnet: String,
    /// nova's type of the devices in this pool (type-VF, type-PF, type-PCI).
    pub device_type: Option<DeviceType>,
    pub total: usize,
    pub allocated: usize,
    pub free: usize,
    pub excluded: usize,
    /// VFs whose release could not prove them clean (held by their record, never handed out).
    pub quarantined: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The device's address (a VF, or a whole device).
    pub vf: String,
    pub device_type: DeviceType,
    pub pf: String,
    pub pool: Option<String>,
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolsReport {
    pub pools: Vec<PoolReport>,
    pub explain: Vec<Explanation>,
}

/// Every pool each device of the view is in: a VF's physnet, a whole device's physnet
/// (type-PF) and `alias:<name>` for every alias it matches, with the rules `pools` counts by.
/// A device held whole stays in the pool it was taken from (`st`), whatever passthrough
/// changed. A projection of the read model, so `vifman pci` reads the host once.
pub fn device_pools(
    view: &HostView,
    config: &crate::config::Config,
    st: &StoreState,
) -> BTreeMap<crate::types::PciAddress, Vec<String>> {
    let mut out: BTreeMap<crate::types::PciAddress, Vec<String>> = BTreeMap::new();
    // Excluded VFs included: `pools` counts them in their pool's total (as excluded).
    for v in view.vfs.iter() {
        if let Some(p) = config
            .classify(&view.candidate(v))
            .0
            .and_then(|s| s.physical_network.clone())
        {
            out.entry(v.addr).or_default().push(p);
        }
    }
    for d in view.whole_devices() {
        let held = st.whole_holder(&d.addr).and_then(|r| match &r.request {
            WholeRequestKind::Physnet(p) => Some(p.clone()),
            WholeRequestKind::Alias(_) => None,
        });
        let names = pool_names(config, &d, held);
        if !names.is_empty() {
            out.entry(d.addr).or_default().extend(names);
        }
    }
    out
}

impl Engine<'_> {
    pub fn pools(&self) -> Result<PoolsReport, EngineError> {
        let st: StoreState = self.open_store()?.load()?;
        let view = self.load_view()?;
        let mut pools: BTreeMap<(String, DeviceType), PoolReport> = self
            .config
            .physnets()
            .into_iter()
            .map(|p| {
                (
                    (p.to_string(), DeviceType::Vf),
                    PoolReport {
                        physnet: p.to_string(),
                        device_type: Some(DeviceType::Vf),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut explain = vec![];
        for v in &view.vfs {
            let (spec, why_not) = self.config.classify(&view.candidate(v));
            let pool = spec.and_then(|s| s.physical_network.clone());
            let status = view.status(self.config, &st, v);
            let verdict = match (&spec, view.exclusion(self.config, v)) {
                (None, _) => {
                    if why_not.is_empty() {
                        "no device_spec in the config".to_string()
                    } else {
                        why_not
                            .iter()
                            .map(|(i, r)| format!("device_spec[{i}]: {r}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    }
                }
                (Some(s), Some(ex)) => format!("matches device_spec[{}] but {ex}", s.index),
                (Some(s), None) => format!(
                    "device_spec[{}] → {}, {status}",
                    s.index,
                    s.physical_network.as_deref().unwrap_or("(no physnet)")
                ),
            };
            if let Some(p) = pool
                .as_ref()
                .and_then(|p| pools.get_mut(&(p.clone(), DeviceType::Vf)))
            {
                p.total += 1;
                match status {
                    VfStatus::Excluded(_) => p.excluded += 1,
                    VfStatus::Allocated(_) => p.allocated += 1,
                    VfStatus::Free => p.free += 1,
                    VfStatus::Quarantined(_) => p.quarantined += 1,
                    VfStatus::InUse(_) | VfStatus::Unknown(_) => {}
                }
            }
            explain.push(Explanation {
                vf: v.addr.to_string(),
                device_type: DeviceType::Vf,
                pf: v.pf.to_string(),
                pool,
                verdict,
            });
        }
        self.whole_pools(&view, &st, &mut pools, &mut explain);
        Ok(PoolsReport {
            pools: pools.into_values().collect(),
            explain,
        })
    }
}

impl Engine<'_> {
    /// type-PF pools (by physnet) and alias pools, counted and explained with the same rule
    /// allocation uses ([`HostView::whole_status`], no `--bind-group`).
    fn whole_pools(
        &self,
        view: &HostView,
        st: &StoreState,
        pools: &mut BTreeMap<(String, DeviceType), PoolReport>,
        explain: &mut Vec<Explanation>,
    ) {
        for d in view.whole_devices() {
            let (spec, why_not) = self.config.classify(&d.candidate());
            // A device handed out stays in the pool it was taken from, whatever passthrough
            // did to what the specs match on (a PF on vfio-pci has no netdev).
            let held = st.whole_holder(&d.addr).and_then(|r| match &r.request {
                WholeRequestKind::Physnet(p) => Some(p.clone()),
                WholeRequestKind::Alias(_) => None,
            });
            let names = pool_names(self.config, &d, held);
            let status = view.whole_status(self.config, st, &d, false);
            for n in &names {
                let p = pools
                    .entry((n.clone(), d.device_type))
                    .or_insert_with(|| PoolReport {
                        physnet: n.clone(),
                        device_type: Some(d.device_type),
                        ..Default::default()
                    });
                p.total += 1;
                match status {
                    WholeStatus::Free => p.free += 1,
                    WholeStatus::Allocated(_) => p.allocated += 1,
                    WholeStatus::Excluded(_) => p.excluded += 1,
                    WholeStatus::Unavailable(_) => {}
                }
            }
            // Devices no spec names are not vifman's business; say nothing about them unless
            // an alias would have wanted them.
            let wanted_by_alias = self
                .config
                .aliases
                .iter()
                .any(|a| a.matches(d.ids.0, d.ids.1, d.device_type));
            let verdict = match spec {
                None if !wanted_by_alias => continue,
                None => format!(
                    "matches an alias but no device_spec allows it ({})",
                    why_not
                        .iter()
                        .map(|(i, r)| format!("device_spec[{i}]: {r}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Some(s) if names.is_empty() => format!(
                    "device_spec[{}] matches, but a {} is pooled only by an alias (none matches) {}",
                    s.index,
                    d.device_type,
                    if d.device_type == DeviceType::Pf {
                        "or a physical_network"
                    } else {
                        ""
                    }
                )
                .trim_end()
                .to_string(),
                Some(s) => format!("device_spec[{}] → {}, {status}", s.index, names.join(", ")),
            };
            explain.push(Explanation {
                vf: d.addr.to_string(),
                device_type: d.device_type,
                pf: if d.device_type == DeviceType::Pf {
                    d.addr.to_string()
                } else {
                    String::new()
                },
                pool: names.first().cloned(),
                verdict,
            });
        }
    }
}
