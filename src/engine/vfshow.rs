//! `vifman vf show PF N`: one VF as vifman sees it — device, PF-side state, the one status
//! (free, allocated, quarantined, in use with the reasons) and its traffic counters.

use serde::Serialize;

use super::{Engine, EngineError};
use crate::netlink::VfState;
use crate::rtnl::VfCounters;
use crate::store::StoreState;

#[derive(Debug, Clone, Serialize)]
pub struct VfReport {
    pub address: String,
    pub pf: String,
    pub pf_netdev: Option<String>,
    pub vf_index: u32,
    pub driver: Option<String>,
    pub netdevs: Vec<String>,
    pub admin: Option<VfState>,
    /// The VF's devlink port function (switchdev mode, where the driver offers one): the
    /// hw_addr vifman sets the MAC through there, and the function's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_function: Option<crate::host::VfPortFunction>,
    /// The status every view uses (`free`, `allocated (VIF …)`, `quarantined (…)`, …).
    pub status: String,
    pub reset_methods: Option<Vec<String>>,
    /// IFLA_VF_STATS; None where the host reports none (fixture trees, a simulation without
    /// its counters file).
    pub counters: Option<VfCounters>,
}

impl Engine<'_> {
    /// VF `index` of PF `pf` (netdev name or PCI address).
    pub fn vf_show(&self, pf: &str, index: u32) -> Result<VfReport, EngineError> {
        let st: StoreState = crate::store::read_state(&self.state_dir)?;
        let view = self.load_view()?;
        let v = view.vf_of(pf, index)?;
        let counters = match &v.pf_netdev {
            Some(n) => self
                .host
                .vf_counters(n)?
                .into_iter()
                .find(|c| c.vf == index),
            None => None,
        };
        let port_function = match &v.pf_netdev {
            Some(n) => self.host.vf_port_function(n, index)?,
            None => None,
        };
        Ok(VfReport {
            address: v.addr.to_string(),
            pf: v.pf.to_string(),
            pf_netdev: v.pf_netdev.as_ref().map(|n| n.to_string()),
            vf_index: index,
            driver: v.driver.clone(),
            netdevs: v.netdevs.iter().map(|n| n.to_string()).collect(),
            admin: v.state.clone(),
            port_function,
            status: view.status(self.config, &st, v).to_string(),
            reset_methods: self.host.reset_methods_of(&v.addr),
            counters,
        })
    }
}
