//! pools: what each physnet holds, and (--explain) why each device is in or out.

use std::collections::BTreeMap;

use serde::Serialize;

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
                (Some(s), None) => {
                    let status = if st.holds(&v.addr) {
                        "allocated"
                    } else if v.driver.as_deref() == Some("vfio-pci")
                        || v.state.as_ref().is_some_and(|s| !s.mac.is_zero())
                    {
                        "in use outside vifman"
                    } else {
                        "free"
                    };
                    format!(
                        "device_spec[{}] → {}, {status}",
                        s.index,
                        s.physical_network.as_deref().unwrap_or("(no physnet)")
                    )
                }
            };
            if let Some(p) = pool.as_ref().and_then(|p| pools.get_mut(p)) {
                p.total += 1;
                if view.exclusion(self.config, v).is_some() {
                    p.excluded += 1;
                } else if st.holds(&v.addr) {
                    p.allocated += 1;
                } else if verdict.ends_with("free") {
                    p.free += 1;
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
