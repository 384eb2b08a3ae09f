//! `vifman vf show PF [N]`: one VF (or every VF of the PF) as vifman sees it — device,
//! PF-side state, the one status (free, allocated, quarantined, in use with the reasons)
//! and its traffic counters. A PF whose VFs are not PCI functions (netdevsim) is shown from
//! its netlink VF records alone, by netdev name, as `vf set` addresses it: the PCI-only
//! fields (address, driver, netdevs, reset methods) are then null or empty.

use serde::Serialize;

use super::{Engine, EngineError};
use crate::netlink::{PfLinkState, VfState};
use crate::rtnl::VfCounters;
use crate::store::StoreState;
use crate::types::IfName;
use crate::view::HostView;

/// The status of a VF that is not a PCI function: vifman cannot allocate it.
pub const NOT_PCI_STATUS: &str = "not a PCI function (not allocatable)";

#[derive(Debug, Clone, Serialize)]
pub struct VfReport {
    /// The VF's PCI address; null for a VF that is not a PCI function (netdevsim).
    pub address: Option<String>,
    /// The PF's PCI address, or its netdev name for a non-PCI PF.
    pub pf: String,
    pub pf_netdev: Option<String>,
    pub vf_index: u32,
    pub driver: Option<crate::types::DriverName>,
    pub netdevs: Vec<String>,
    pub admin: Option<VfState>,
    /// The VF's devlink port function (switchdev mode, where the driver offers one): the
    /// hw_addr vifman sets the MAC through there, and the function's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_function: Option<crate::host::VfPortFunction>,
    /// The VF's switchdev representor, by the rule the inventory lists it with (the devlink
    /// port map of the same read; for a PCI PF without a devlink instance, `phys_port_name`).
    /// Absent when it has none (legacy mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representor: Option<String>,
    /// The status every view uses (`free`, `allocated (VIF …)`, `quarantined (…)`, …).
    pub status: String,
    pub reset_methods: Option<Vec<String>>,
    /// IFLA_VF_STATS; None where the host reports none (fixture trees, a simulation without
    /// its counters file).
    pub counters: Option<VfCounters>,
}

impl Engine<'_> {
    /// VF `index` of PF `pf` (netdev name or PCI address; a non-PCI PF by netdev name).
    pub fn vf_show(&self, pf: &str, index: u32) -> Result<VfReport, EngineError> {
        let st: StoreState = crate::store::read_state(&self.state_dir)?;
        let view = self.load_view()?;
        match view.vf_of(pf, index) {
            Ok(v) => {
                let pf_side = match &v.pf_netdev {
                    Some(n) => self.pf_side_of(n, Some(index))?,
                    None => PfSide::default(),
                };
                self.pci_report(&st, &view, pf, index, &pf_side)
            }
            Err(no_such) => {
                if view.vfs.iter().any(|v| names(v, pf)) {
                    return Err(no_such.into());
                }
                let link = self.non_pci_pf(pf)?.ok_or_else(|| no_vfs(pf))?;
                let vf = link.vfs.iter().find(|v| v.vf == index).ok_or_else(|| {
                    EngineError::Request(format!(
                        "{pf} has no VF {index} (its {} VF(s) are 0-{})",
                        link.vfs.len(),
                        link.vfs.len().saturating_sub(1)
                    ))
                })?;
                let pf_side = self.pf_side_of(&link.ifname, Some(index))?;
                self.netlink_report(&view, &link, vf, &pf_side)
            }
        }
    }

    /// Every VF of PF `pf`, by index.
    pub fn vf_show_all(&self, pf: &str) -> Result<Vec<VfReport>, EngineError> {
        let st: StoreState = crate::store::read_state(&self.state_dir)?;
        let view = self.load_view()?;
        let mut pci: Vec<u32> = view
            .vfs
            .iter()
            .filter(|v| names(v, pf))
            .map(|v| v.vf_index)
            .collect();
        pci.sort_unstable();
        if !pci.is_empty() {
            // One counter dump and one port dump for the PF, not one of each per VF.
            let mut sides: Vec<PfSide> = vec![];
            for n in view
                .vfs
                .iter()
                .filter(|v| names(v, pf))
                .filter_map(|v| v.pf_netdev.as_ref())
            {
                if !sides.iter().any(|s| s.netdev.as_ref() == Some(n)) {
                    sides.push(self.pf_side_of(n, None)?);
                }
            }
            return pci
                .into_iter()
                .map(|i| {
                    let v = view.vf_of(pf, i)?;
                    let side = sides
                        .iter()
                        .find(|s| s.netdev.is_some() && s.netdev == v.pf_netdev);
                    self.pci_report(&st, &view, pf, i, side.unwrap_or(&PfSide::default()))
                })
                .collect();
        }
        let link = self.non_pci_pf(pf)?.ok_or_else(|| no_vfs(pf))?;
        let pf_side = self.pf_side_of(&link.ifname, None)?;
        let mut vfs: Vec<&VfState> = link.vfs.iter().collect();
        vfs.sort_by_key(|v| v.vf);
        vfs.into_iter()
            .map(|v| self.netlink_report(&view, &link, v, &pf_side))
            .collect()
    }

    /// What the PF netdev `pf` reports of its VFs beyond their admin state: the counters
    /// (one link dump for all VFs) and the port functions (one devlink port dump for all, or
    /// one VF's lookup where `only` names it).
    fn pf_side_of(&self, pf: &IfName, only: Option<u32>) -> Result<PfSide, EngineError> {
        let port_functions = match only {
            Some(i) => self
                .host
                .vf_port_function(pf, i)?
                .map(|f| (i, f))
                .into_iter()
                .collect(),
            None => self.host.vf_port_functions(pf)?,
        };
        Ok(PfSide {
            netdev: Some(pf.clone()),
            counters: self.host.vf_counters(pf)?,
            port_functions,
        })
    }

    /// The netlink VF records of a PF named by netdev that vifman's view does not list as
    /// a PCI PF: None when `pf` is no netdev; an error when the netdev has no VFs.
    fn non_pci_pf(&self, pf: &str) -> Result<Option<PfLinkState>, EngineError> {
        let Ok(name) = pf.parse::<IfName>() else {
            return Ok(None);
        };
        let Some(link) = self.host.vf_state_of(&name)? else {
            return Ok(None);
        };
        if link.vfs.is_empty() {
            return Err(no_vfs(pf));
        }
        Ok(Some(link))
    }

    fn pci_report(
        &self,
        st: &StoreState,
        view: &HostView,
        pf: &str,
        index: u32,
        pf_side: &PfSide,
    ) -> Result<VfReport, EngineError> {
        let v = view.vf_of(pf, index)?;
        let (counters, port_function) = match &v.pf_netdev {
            Some(n) => pf_side.of(n, index),
            None => (None, None),
        };
        Ok(VfReport {
            address: Some(v.addr.to_string()),
            pf: v.pf.to_string(),
            pf_netdev: v.pf_netdev.as_ref().map(|n| n.to_string()),
            vf_index: index,
            driver: v.driver.clone(),
            netdevs: v.netdevs.iter().map(|n| n.to_string()).collect(),
            admin: v.state.clone(),
            port_function,
            representor: view
                .scan
                .representors
                .iter()
                .find(|r| r.pf == v.pf && r.vf_index == index)
                .map(|r| r.netdev.to_string()),
            status: view.status(self.config, st, v).to_string(),
            reset_methods: self.host.reset_methods_of(&v.addr),
            counters,
        })
    }

    /// A VF known only from its PF's netlink dump (no PCI function): PF-side state, port
    /// function and counters; the PCI-only fields empty.
    fn netlink_report(
        &self,
        view: &HostView,
        link: &PfLinkState,
        vf: &VfState,
        pf_side: &PfSide,
    ) -> Result<VfReport, EngineError> {
        let (counters, port_function) = pf_side.of(&link.ifname, vf.vf);
        Ok(VfReport {
            address: None,
            pf: link.ifname.to_string(),
            pf_netdev: Some(link.ifname.to_string()),
            vf_index: vf.vf,
            driver: None,
            netdevs: vec![],
            admin: Some(vf.clone()),
            port_function,
            // The point lookup the inventory's non-PCI PFs are listed with.
            representor: crate::devlink::portmap::netdev_representor(
                view.devlink_ports.as_deref().unwrap_or(&[]),
                link.ifname.as_str(),
                vf.vf,
            )
            .flatten(),
            status: NOT_PCI_STATUS.to_string(),
            reset_methods: None,
            counters,
        })
    }
}

/// One PF's VF counters and port functions, read once for every VF shown.
#[derive(Default)]
struct PfSide {
    /// The PF netdev they were read from; None: nothing read (a PF without a netdev).
    netdev: Option<IfName>,
    counters: Vec<VfCounters>,
    port_functions: std::collections::BTreeMap<u32, crate::host::VfPortFunction>,
}

impl PfSide {
    /// VF `index`'s counters and port function, when `pf` is the netdev they were read from.
    fn of(
        &self,
        pf: &IfName,
        index: u32,
    ) -> (Option<VfCounters>, Option<crate::host::VfPortFunction>) {
        if self.netdev.as_ref() != Some(pf) {
            return (None, None);
        }
        (
            self.counters.iter().find(|c| c.vf == index).cloned(),
            self.port_functions.get(&index).cloned(),
        )
    }
}

/// `pf` as an operator named it: the VF's PF by PCI address or netdev name.
fn names(v: &crate::view::VfView, pf: &str) -> bool {
    v.pf.to_string() == pf || v.pf_netdev.as_ref().is_some_and(|n| n.as_str() == pf)
}

fn no_vfs(pf: &str) -> EngineError {
    EngineError::Request(format!(
        "{pf} has no VFs: no SR-IOV PF by that PCI address, and no netdev by that name with a VF (not an SR-IOV PF, or its VF count is 0)"
    ))
}
