//! Whole devices (nova's type-PF and type-PCI): which ones a pool or an alias holds, and the
//! one rule that says whether each can be handed out now. Selection, `pools --explain` and the
//! VF side's parent/child checks all read [`WholeStatus`] from here.

mod alloc;
mod reconcile;
mod release;

pub use alloc::{WholeOutcome, WholeRequest, WholeWant};

use crate::config::{Alias, Candidate, Config};
use crate::store::StoreState;
use crate::sysfs::PciDevice;
use crate::types::{DeviceType, PciAddress, Uuid};

use super::HostView;

/// A function that is not a VF, as a pool sees it.
#[derive(Debug, Clone)]
pub struct WholeDevice {
    pub addr: PciAddress,
    pub device_type: DeviceType,
    pub ids: (u16, u16),
    pub driver: Option<crate::types::DriverName>,
    pub driver_override: Option<crate::types::DriverName>,
    pub numa: Option<u32>,
    pub netdev: Option<String>,
    /// VFs currently enabled (type-PF only).
    pub num_vfs: u32,
}

impl WholeDevice {
    fn of(d: &PciDevice) -> Option<WholeDevice> {
        if d.physfn.is_some() || d.ids.is_pci_bridge() || !d.present {
            return None;
        }
        let t = DeviceType::derive(false, d.sriov.as_ref().and_then(|s| s.total_vfs));
        Some(WholeDevice {
            addr: d.address,
            device_type: t,
            ids: (d.ids.vendor.unwrap_or(0), d.ids.device.unwrap_or(0)),
            driver: d.driver.clone(),
            driver_override: d.driver_override.clone(),
            numa: d.numa_node,
            netdev: d.netdevs.first().map(|n| n.to_string()),
            num_vfs: d.sriov.as_ref().and_then(|s| s.num_vfs).unwrap_or(0),
        })
    }

    pub fn candidate(&self) -> Candidate<'_> {
        Candidate {
            address: self.addr,
            vendor: self.ids.0,
            device: self.ids.1,
            netdev: self.netdev.as_deref(),
            pf: None,
            card_serial_number: None,
        }
    }
}

/// Whether a whole device can be handed out (the whole-device counterpart of
/// [`super::VfStatus`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WholeStatus {
    Free,
    /// A vifman record holds it (handed out, or bound with its group).
    Allocated(Uuid),
    /// Not now: the reason says why (parent/child rule, IOMMU group, VFs enabled).
    Unavailable(String),
    /// The config says never to touch it.
    Excluded(String),
}

impl std::fmt::Display for WholeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WholeStatus::Free => f.write_str("free"),
            WholeStatus::Allocated(id) => write!(f, "allocated ({id})"),
            WholeStatus::Unavailable(r) => write!(f, "unavailable: {r}"),
            WholeStatus::Excluded(r) => f.write_str(r),
        }
    }
}

impl HostView {
    /// Every non-VF, non-bridge function on the bus, by address.
    pub fn whole_devices(&self) -> Vec<WholeDevice> {
        self.scan
            .devices
            .iter()
            .filter_map(WholeDevice::of)
            .collect()
    }

    /// The one availability rule for whole devices. `bind_group`: the request may bind the
    /// other endpoints of the device's IOMMU group too.
    pub fn whole_status(
        &self,
        cfg: &Config,
        st: &StoreState,
        d: &WholeDevice,
        bind_group: bool,
    ) -> WholeStatus {
        for e in &cfg.exclude {
            if e == &d.addr.to_string() || Some(e.as_str()) == d.netdev.as_deref() {
                return WholeStatus::Excluded(format!("excluded by config ({e})"));
            }
        }
        if cfg.exclude_default_route {
            if let (Some(r), Some(n)) = (&self.default_route_dev, &d.netdev) {
                if r == n {
                    return WholeStatus::Excluded(format!(
                        "carries the default route ({r}); set exclude_default_route = false to allow"
                    ));
                }
            }
        }
        if let Some(a) = st.whole_holder(&d.addr) {
            return WholeStatus::Allocated(a.id);
        }
        if st.used_once.contains(&d.addr) {
            return WholeStatus::Unavailable(format!(
                "one_time_use: handed out once; back in the pool when an operator resets {}'s one-time-use mark",
                d.addr
            ));
        }
        // nova's parent/child rule: a PF is not handed out while any of its VFs is.
        let busy: Vec<String> = st
            .allocations
            .iter()
            .filter(|a| a.pf == d.addr)
            .map(|a| a.vif_id.to_string())
            .collect();
        if !busy.is_empty() {
            return WholeStatus::Unavailable(format!(
                "{} of its VFs allocated (VIFs {})",
                busy.len(),
                busy.join(", ")
            ));
        }
        if d.num_vfs > 0 && !cfg.pf_passthrough_removes_vfs {
            return WholeStatus::Unavailable(format!(
                "{} VFs enabled; set pf_passthrough_removes_vfs = true to hand it out whole (its VFs are removed first)",
                d.num_vfs
            ));
        }
        // Removing VFs that something outside vifman uses would pull them from under it.
        let used: Vec<String> = self
            .vfs
            .iter()
            .filter(|v| v.pf == d.addr)
            .filter(|v| matches!(self.status(cfg, st, v), super::VfStatus::InUse(_)))
            .map(|v| v.addr.to_string())
            .collect();
        if !used.is_empty() {
            return WholeStatus::Unavailable(format!(
                "its VF(s) {} in use outside vifman",
                used.join(", ")
            ));
        }
        if let Err(r) = self.whole_group(&d.addr, bind_group) {
            return WholeStatus::Unavailable(r);
        }
        WholeStatus::Free
    }

    /// [`crate::sysfs::vfio::whole_device_verdict`] for a device of this view.
    pub fn whole_group(
        &self,
        addr: &PciAddress,
        bind_group: bool,
    ) -> Result<Vec<PciAddress>, String> {
        let Some(d) = self.scan.device(addr) else {
            return Err(format!("{addr} is not on the PCI bus"));
        };
        crate::sysfs::vfio::whole_device_verdict(&self.scan, d, self.noiommu, bind_group)
    }
}

/// Which pool (`physnet`, type-PF) a whole device is in: the first device_spec that matches it
/// and names a physical network. Plain PCI devices are in pools through aliases only.
pub fn physnet_of(cfg: &Config, d: &WholeDevice) -> Option<String> {
    if d.device_type != DeviceType::Pf {
        return None;
    }
    cfg.classify(&d.candidate())
        .0
        .and_then(|s| s.physical_network.clone())
}

/// The pools a whole device is counted in: its physical network (the one its record was
/// allocated from, if `held`, else its device_spec's), then `alias:NAME` for each alias it
/// serves. Pools, the device plugin and `vifman pci` name them alike.
pub fn pool_names(cfg: &Config, d: &WholeDevice, held: Option<String>) -> Vec<String> {
    let mut names: Vec<String> = held.or_else(|| physnet_of(cfg, d)).into_iter().collect();
    names.extend(
        aliases_of(cfg, d)
            .iter()
            .map(|a| format!("alias:{}", a.name)),
    );
    names
}

/// The aliases a whole device serves: it must be in some device_spec (nova's allow-list) and
/// match the alias's ids and type.
pub fn aliases_of<'c>(cfg: &'c Config, d: &WholeDevice) -> Vec<&'c Alias> {
    if cfg.classify(&d.candidate()).0.is_none() {
        return vec![];
    }
    // One per name: an alias whose entries share a name (nova's multi-spec alias) is one pool.
    let mut out: Vec<&Alias> = vec![];
    for a in &cfg.aliases {
        if !out.iter().any(|o| o.name == a.name)
            && crate::config::alias_serves(&cfg.aliases, &a.name, d.ids.0, d.ids.1, d.device_type)
        {
            out.push(a);
        }
    }
    out
}
