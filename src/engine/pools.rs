//! pools: what each physnet holds, and (--explain) why each device is in or out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::view::VfStatus;
use super::{Engine, EngineError, HostView};
use crate::store::StoreState;

#[derive(Debug, Clone, Serialize, Default)]
pub struct PoolReport {
    pub physnet: String,
    pub total: usize,
    pub allocated: usize,
    pub free: usize,
    pub excluded: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub vf: String,
    pub pf: String,
    pub pool: Option<String>,
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolsReport {
    pub pools: Vec<PoolReport>,
    pub explain: Vec<Explanation>,
}

/// The pool (physnet) `config` puts each VF of `host` in, excluded VFs left out. Reads the
/// host only, never the store, so a read-only command (`inventory`) creates nothing.
pub fn pool_of_vfs(
    host: &dyn crate::host::Host,
    config: &crate::config::Config,
) -> Result<BTreeMap<crate::types::PciAddress, String>, EngineError> {
    let view = HostView::load(host)?;
    Ok(view
        .vfs
        .iter()
        .filter(|v| view.exclusion(config, v).is_none())
        .filter_map(|v| {
            let (spec, _) = config.classify(&view.candidate(v));
            Some((v.addr, spec?.physical_network.clone()?))
        })
        .collect())
}

impl Engine<'_> {
    pub fn pools(&self) -> Result<PoolsReport, EngineError> {
        let st: StoreState = self.open_store()?.load()?;
        let view = HostView::load(self.host)?;
        let mut pools: BTreeMap<String, PoolReport> = self
            .config
            .physnets()
            .into_iter()
            .map(|p| {
                (
                    p.to_string(),
                    PoolReport {
                        physnet: p.to_string(),
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
            if let Some(p) = pool.as_ref().and_then(|p| pools.get_mut(p)) {
                p.total += 1;
                match status {
                    VfStatus::Excluded(_) => p.excluded += 1,
                    VfStatus::Allocated(_) => p.allocated += 1,
                    VfStatus::Free => p.free += 1,
                    VfStatus::InUse(_) => {}
                }
            }
            explain.push(Explanation {
                vf: v.addr.to_string(),
                pf: v.pf.to_string(),
                pool,
                verdict,
            });
        }
        Ok(PoolsReport {
            pools: pools.into_values().collect(),
            explain,
        })
    }
}
