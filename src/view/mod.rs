//! The one read model: every VF with its PF, state, placement and availability, built from one
//! sysfs scan and one VF-state dump. Scan → select → actuate → emit: this is what "scan"
//! hands on. The engine selects from it, and the inventory, `pools`, `pci`, health and the
//! device plugin are projections of it, so a VF is free in all of them or in none.

mod status;

pub use status::{outside_use, NetdevSigns};

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Candidate, Config, PfOf};
use crate::host::{Host, HostError, HostRead, VfStateOrigin};
use crate::netlink::VfState;
use crate::sysfs::{PciDevice, ScanReport};
use crate::types::{DriverName, IfName, PciAddress};

#[derive(Debug, Clone)]
pub struct VfView {
    pub addr: PciAddress,
    pub pf: PciAddress,
    pub vf_index: u32,
    pub pf_netdev: Option<IfName>,
    pub pf_ifindex: Option<u32>,
    pub pf_operstate: Option<String>,
    pub pf_ids: (u16, u16),
    pub ids: (u16, u16),
    pub driver: Option<DriverName>,
    /// Bound to a driver whose name vifman refused (`driver` is `None`): never free.
    pub driver_unusable: bool,
    pub driver_override: Option<DriverName>,
    pub numa: Option<u32>,
    pub iommu_group: Option<u32>,
    pub group_members: Vec<PciAddress>,
    pub netdevs: Vec<IfName>,
    pub state: Option<VfState>,
    /// What the host shows around its netdevs (addresses, uppers, netns), for the one
    /// outside-use rule.
    pub signs: NetdevSigns,
}

/// Whether a VF can be handed out, decided once for everyone: selection, `pools`, the
/// inventory's notion of free and the device plugin's health are projections of this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfStatus {
    /// Usable: in no record, not excluded, and nothing outside vifman is using it.
    Free,
    /// A vifman record holds it.
    Allocated(crate::types::Uuid),
    /// No record, but something outside vifman uses it (the reasons say what).
    InUse(Vec<String>),
    /// The config says never to touch it.
    Excluded(String),
    /// A release could not prove it clean: held by its record, never handed out, until an
    /// operator clears it or `reconcile --repair` completes the release (the reason says why).
    Quarantined(String),
    /// Its PF has no netdev or reported no state for it: nothing proves it unused, and
    /// nothing could be saved or restored, so it is not handed out.
    Unknown(String),
}

impl VfStatus {
    pub fn is_free(&self) -> bool {
        matches!(self, VfStatus::Free)
    }
}

impl std::fmt::Display for VfStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VfStatus::Free => f.write_str("free"),
            VfStatus::Allocated(id) => write!(f, "allocated (VIF {id})"),
            VfStatus::InUse(r) => write!(f, "in use outside vifman ({})", r.join(", ")),
            VfStatus::Excluded(r) => f.write_str(r),
            VfStatus::Quarantined(r) => write!(f, "quarantined ({r})"),
            VfStatus::Unknown(r) => write!(f, "state unknown ({r})"),
        }
    }
}

/// An operator named a VF the host does not have.
#[derive(Debug, thiserror::Error)]
#[error("{pf} has no VF {index}")]
pub struct NoSuchVf {
    pub pf: String,
    pub index: u32,
}

#[derive(Clone)]
pub struct HostView {
    pub scan: ScanReport,
    pub vfs: Vec<VfView>,
    /// Netdev carrying the default route (from `<root>/proc/net/route`).
    pub default_route_dev: Option<String>,
    pub noiommu: bool,
    /// Every PF link's VF state as the kernel reports it (self-chosen MACs included), for
    /// display; [`VfView::state`] holds the normalised one.
    pub links: Vec<crate::netlink::PfLinkState>,
    pub origin: VfStateOrigin,
    /// What the read could not do, for views to show.
    pub warnings: Vec<crate::sysfs::Warning>,
    /// Card serial numbers (VPD), looked up only for a config with a `remote_managed` spec
    /// ([`HostView::read_card_serials`]): reading VPD is slow on real hardware.
    pub card_serials: std::collections::BTreeMap<PciAddress, Option<String>>,
    /// The devlink port map of the read (see [`crate::host::HostRead::devlink_ports`]).
    pub devlink_ports: Option<Vec<crate::devlink::Port>>,
    /// The non-PCI SR-IOV PFs beside this scan, found on first use ([`HostView::bus_pfs`])
    /// and kept: the inventory, the health sample and the metrics all ask, and paths that
    /// never ask (CNI, allocate) never walk the class directory.
    bus_pfs: std::sync::OnceLock<Vec<crate::sysfs::busdev::BusSriov>>,
}

fn uplink(scan: &ScanReport, pf: &PciDevice) -> Option<IfName> {
    let reps: BTreeSet<&str> = scan
        .representors
        .iter()
        .map(|r| r.netdev.as_str())
        .collect();
    pf.netdevs
        .iter()
        .find(|n| !reps.contains(n.as_str()))
        .cloned()
}

/// Links with a configured address; a host that cannot say gives none (and a warning): the
/// other signs still hold.
fn addressed(host: &dyn Host) -> std::collections::BTreeSet<u32> {
    host.addressed_links().unwrap_or_else(|e| {
        tracing::warn!("cannot read addresses ({e}); `up with an address` is not checked");
        Default::default()
    })
}

/// The netdev signs of one VF (see [`NetdevSigns`]).
fn signs_of(
    host: &dyn Host,
    scan: &ScanReport,
    addressed: &std::collections::BTreeSet<u32>,
    pf_ids: (u16, u16),
    driver: Option<&DriverName>,
    netdevs: &[IfName],
    uppers: &dyn Fn(&IfName) -> Vec<String>,
) -> NetdevSigns {
    let mut s = NetdevSigns::default();
    for n in netdevs {
        let idx = scan.netdev(n.as_str()).and_then(|d| d.ifindex);
        // The address check first: it is a set lookup, admin_up a file read per netdev.
        if idx.is_some_and(|i| addressed.contains(&i)) && host.admin_up(n) == Some(true) {
            s.up_with_addresses.push(n.to_string());
        }
        for u in uppers(n) {
            s.uppers.push((n.to_string(), u));
        }
    }
    // Only a driver known to make a netdev for this NIC's VFs says the netdev went elsewhere.
    let netdev_driver = crate::hwdb::by_pf(pf_ids.0, pf_ids.1).map(|m| &m.vf_driver);
    if netdevs.is_empty() && driver.is_some() && driver == netdev_driver {
        s.netdev_elsewhere = driver.cloned();
    }
    s
}

impl HostView {
    /// The host's non-PCI SR-IOV PFs ([`Host::bus_sriov_pfs_beside`] this view's scan), read
    /// once per view.
    pub fn bus_pfs(&self, host: &dyn Host) -> &[crate::sysfs::busdev::BusSriov] {
        self.bus_pfs
            .get_or_init(|| host.bus_sriov_pfs_beside(&self.scan))
    }

    /// The read model for the engine: refuses without VF state (nothing can be saved,
    /// compared or restored without it).
    pub fn load(host: &dyn Host) -> Result<HostView, HostError> {
        let r = host.read();
        r.require_states("reading VF state")?;
        Ok(Self::assemble(host, r))
    }

    /// The read model for views (inventory, `pci`): what could not be read is a warning, and
    /// VFs without VF state are not free (nothing proves them unused).
    pub fn load_display(host: &dyn Host) -> HostView {
        Self::assemble(host, host.read())
    }

    fn assemble(host: &dyn Host, r: HostRead) -> HostView {
        // Counted by tests (one scan per CNI command): keep the target and message.
        tracing::debug!(target: "vifman::host_scan", "scanning the host");
        let HostRead {
            scan,
            links,
            states,
            origin,
            state_error: _,
            warnings,
            devlink_ports,
        } = r;
        let addressed = addressed(host);
        let by_pf: BTreeMap<&str, &crate::netlink::PfLinkState> =
            states.iter().map(|l| (l.ifname.as_str(), l)).collect();
        // Every VF netdev's uppers in one batch (side by side on a big host).
        let vf_netdevs: Vec<&str> = scan
            .physical_functions()
            .filter_map(|pf| pf.sriov.as_ref())
            .flat_map(|s| s.vfs.iter())
            .filter_map(|(_, a)| scan.device(a))
            .flat_map(|d| d.netdevs.iter().map(|n| n.as_str()))
            .collect();
        let batch: std::collections::HashMap<&str, Vec<String>> = vf_netdevs
            .iter()
            .copied()
            .zip(host.uppers_of_many(&vf_netdevs))
            .collect();
        let uppers = |n: &IfName| {
            batch
                .get(n.as_str())
                .cloned()
                .unwrap_or_else(|| host.uppers_of(n))
        };
        let mut vfs = vec![];
        for pf in scan.physical_functions() {
            let Some(sriov) = &pf.sriov else { continue };
            let pf_netdev = uplink(&scan, pf);
            let nd = pf_netdev.as_ref().and_then(|n| scan.netdev(n.as_str()));
            for (idx, addr) in &sriov.vfs {
                let Some(vf) = scan.device(addr) else {
                    continue;
                };
                let state = pf_netdev
                    .as_ref()
                    .and_then(|n| by_pf.get(n.as_str()))
                    .and_then(|l| l.vfs.iter().find(|s| s.vf == *idx))
                    .cloned();
                vfs.push(VfView {
                    addr: *addr,
                    pf: pf.address,
                    vf_index: *idx,
                    pf_netdev: pf_netdev.clone(),
                    pf_ifindex: nd.and_then(|n| n.ifindex),
                    pf_operstate: nd.and_then(|n| n.operstate.clone()),
                    pf_ids: (pf.ids.vendor.unwrap_or(0), pf.ids.device.unwrap_or(0)),
                    ids: (vf.ids.vendor.unwrap_or(0), vf.ids.device.unwrap_or(0)),
                    driver: vf.driver.clone(),
                    driver_unusable: vf.driver_unusable,
                    driver_override: vf.driver_override.clone(),
                    numa: vf.numa_node.or(pf.numa_node),
                    iommu_group: vf.iommu_group,
                    group_members: vf.iommu_group_members.clone(),
                    netdevs: vf.netdevs.clone(),
                    state,
                    signs: signs_of(
                        host,
                        &scan,
                        &addressed,
                        (pf.ids.vendor.unwrap_or(0), pf.ids.device.unwrap_or(0)),
                        vf.driver.as_ref(),
                        &vf.netdevs,
                        &uppers,
                    ),
                });
            }
        }
        let held = host.kubelet_devices();
        // Only read /proc when some VF is on vfio-pci: the scan is per process.
        let on_vfio = |v: &VfView| v.driver.as_ref().is_some_and(DriverName::is_vfio_pci);
        let vfio_open = if vfs.iter().any(on_vfio) {
            host.vfio_group_holders()
        } else {
            Default::default()
        };
        for v in &mut vfs {
            v.signs.kubelet_resource = held.get(&v.addr).cloned();
            if on_vfio(v) {
                v.signs.vfio_open = v
                    .iommu_group
                    .and_then(|g| vfio_open.get(&g).map(|p| (g, p.clone())));
            }
        }
        HostView {
            default_route_dev: host.default_route_dev(),
            noiommu: host.noiommu(),
            scan,
            vfs,
            links,
            origin,
            warnings,
            card_serials: Default::default(),
            devlink_ports,
            bus_pfs: Default::default(),
        }
    }

    /// Re-read one VF from the kernel (driver, override, netdevs, netlink state) and update
    /// the view. True when nothing had changed, i.e. the cached entry was right.
    pub fn refresh_vf(&mut self, host: &dyn Host, i: usize) -> Result<bool, HostError> {
        let v = &mut self.vfs[i];
        if !host.device_present(&v.addr) {
            return Ok(false);
        }
        let (driver, driver_unusable) = match host.bound_driver(&v.addr) {
            Ok(d) => (d, false),
            Err(e) => {
                tracing::warn!("{e}");
                (None, true)
            }
        };
        let driver_override = host.driver_override_of(&v.addr);
        let netdevs = host.netdevs_of(&v.addr);
        let state = match &v.pf_netdev {
            Some(pf) => host
                .vf_state_of(pf)?
                .and_then(|l| l.vfs.into_iter().find(|s| s.vf == v.vf_index)),
            None => None,
        };
        let mut signs = signs_of(
            host,
            &self.scan,
            &addressed(host),
            v.pf_ids,
            driver.as_ref(),
            &netdevs,
            &|n| host.uppers_of(n),
        );
        signs.kubelet_resource = host.kubelet_devices().get(&v.addr).cloned();
        let mut old_nd = v.netdevs.clone();
        old_nd.sort();
        let same = v.driver == driver
            && v.driver_unusable == driver_unusable
            && v.driver_override == driver_override
            && old_nd == netdevs
            && v.state == state
            && v.signs == signs;
        v.signs = signs;
        v.driver = driver;
        v.driver_unusable = driver_unusable;
        v.driver_override = driver_override;
        v.netdevs = netdevs;
        v.state = state;
        Ok(same)
    }

    pub fn vf(&self, addr: &PciAddress) -> Option<&VfView> {
        self.vfs.iter().find(|v| &v.addr == addr)
    }

    pub fn candidate<'a>(&'a self, v: &'a VfView) -> Candidate<'a> {
        Candidate {
            address: v.addr,
            vendor: v.ids.0,
            device: v.ids.1,
            netdev: v.netdevs.first().map(|n| n.as_str()),
            pf: Some(PfOf {
                address: v.pf,
                netdev: v.pf_netdev.as_ref().map(|n| n.as_str()),
                vf_index: v.vf_index,
            }),
            card_serial_number: self.card_serials.get(&v.addr).map(|s| s.as_deref()),
        }
    }

    /// Look up every VF's card serial when `cfg` has a `remote_managed` spec (nova refuses
    /// such a VF without one); otherwise nothing is read and the check is skipped.
    pub fn read_card_serials(&mut self, host: &dyn Host, cfg: &crate::config::Config) {
        if !cfg.device_specs.iter().any(|s| s.remote_managed) {
            return;
        }
        let _span = tracing::debug_span!("card_serials").entered();
        // A VF without VPD of its own takes its PF's (nova's fallback): each PF read once.
        let mut pf_serial: BTreeMap<PciAddress, Option<String>> = BTreeMap::new();
        self.card_serials = self
            .vfs
            .iter()
            .map(|v| {
                let s = match host.vpd_serial(&v.addr) {
                    Some(own) => own,
                    None => pf_serial
                        .entry(v.pf)
                        .or_insert_with(|| host.vpd_serial(&v.pf).flatten())
                        .clone(),
                };
                (v.addr, s)
            })
            .collect();
    }

    /// The one availability policy (see [`VfStatus`]).
    /// VF `index` of the PF an operator named by PCI address or netdev (`vf show|reset`).
    /// A PCI address may omit its domain (`3b:00.0` is `0000:3b:00.0`).
    pub fn vf_of(&self, pf: &str, index: u32) -> Result<&VfView, NoSuchVf> {
        let addr = crate::types::PciAddress::parse_user(pf).ok();
        self.vfs
            .iter()
            .find(|v| {
                v.vf_index == index
                    && (addr == Some(v.pf)
                        || v.pf_netdev.as_ref().is_some_and(|n| n.as_str() == pf))
            })
            .ok_or_else(|| NoSuchVf {
                pf: pf.to_string(),
                index,
            })
    }

    pub fn status(&self, cfg: &Config, st: &crate::store::StoreState, v: &VfView) -> VfStatus {
        if let Some(ex) = self.exclusion(cfg, v) {
            return VfStatus::Excluded(ex);
        }
        if let Some(a) = st.allocations.iter().find(|a| a.vf == v.addr) {
            if a.phase == crate::store::Phase::Quarantined {
                return VfStatus::Quarantined(
                    a.quarantine
                        .as_ref()
                        .map(|q| q.reason.clone())
                        .unwrap_or_else(|| "no reason recorded".into()),
                );
            }
            return VfStatus::Allocated(a.vif_id);
        }
        // nova's parent/child rule: no VF of a PF that is handed out whole (or a VF bound
        // with some device's IOMMU group).
        if let Some(w) = st.whole_holder(&v.pf).or_else(|| st.whole_holder(&v.addr)) {
            return VfStatus::Excluded(format!(
                "its PF {} is passed through whole (allocation {})",
                v.pf, w.id
            ));
        }
        if v.pf_netdev.is_none() {
            return VfStatus::Unknown("its PF has no netdev".into());
        }
        if v.state.is_none() {
            return VfStatus::Unknown(format!(
                "no VF state for it on {}",
                v.pf_netdev.as_ref().map(|n| n.as_str()).unwrap_or("its PF")
            ));
        }
        if v.driver_unusable {
            return VfStatus::InUse(vec![
                "bound to a driver whose name vifman cannot use (see the scan warnings)".into(),
            ]);
        }
        let use_ = outside_use(
            v.driver.as_ref(),
            v.state.as_ref().map(|s| s.mac),
            st.policy_vf(&v.pf, v.vf_index),
            &v.signs,
        );
        if use_.is_empty() {
            VfStatus::Free
        } else {
            VfStatus::InUse(use_)
        }
    }

    /// Why vifman must not touch this VF at all, if it must not.
    pub fn exclusion(&self, cfg: &Config, v: &VfView) -> Option<String> {
        let pf_nd = v.pf_netdev.as_ref().map(|n| n.as_str());
        for e in &cfg.exclude {
            if e == &v.pf.to_string()
                || e == &v.addr.to_string()
                || Some(e.as_str()) == pf_nd
                || v.netdevs.iter().any(|n| n.as_str() == e)
            {
                return Some(format!("excluded by config ({e})"));
            }
        }
        if cfg.exclude_default_route {
            if let Some(d) = &self.default_route_dev {
                if Some(d.as_str()) == pf_nd || v.netdevs.iter().any(|n| n.as_str() == d) {
                    return Some(format!("its PF carries the default route ({d}); set exclude_default_route = false to allow"));
                }
            }
        }
        None
    }

    /// vfio can take the VF only if its whole IOMMU group can go (see [`crate::sysfs::vfio`]).
    pub fn vfio_viable(&self, v: &VfView) -> Result<(), String> {
        let Some(d) = self.scan.device(&v.addr) else {
            return Err(format!("{} is not on the PCI bus", v.addr));
        };
        crate::sysfs::vfio::group_viability(&self.scan, d, self.noiommu).map_err(|b| b.join("; "))
    }
}
