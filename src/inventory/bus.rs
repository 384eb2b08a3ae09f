//! The inventory's non-PCI SR-IOV PFs (netdevsim's bus device, `netdevsim/netdevsimN`):
//! found from the host's netdevs (a PF netdev's `device` is the bus device), listed with
//! their netlink VF records as VFs, the representor of each from the devlink port map by the
//! same point lookup any command uses ([`crate::devlink::portmap::netdev_representor`]), and
//! the eswitch of their instance, asked the way PCI PFs' are. Their health is the one model's
//! debounced verdict ([`super::apply_health`]), as for PCI PFs.
//!
//! A VF here is not a device: nothing PCI (address, driver, IOMMU group) and never free.

use std::collections::BTreeMap;

use super::augment::{eswitch_entry, EswitchEntry};
use super::model::{BusPfEntry, BusSriovInfo, BusVfEntry, Inventory};
use crate::devlink::DevHandle;
use crate::host::{Host, PfId};
use crate::sysfs::Warning;
use crate::types::{BusDevice, IfName};

use crate::view::HostView;

/// Add every non-PCI SR-IOV PF of the host ([`HostView::bus_pfs`](crate::view::HostView::bus_pfs): the bus devices behind
/// netdevs that are neither a PCI function's nor virtual) to `inv.bus_functions`, by device
/// name; its netdevs' attributes by point reads ([`Host::netdev_point`]: the PCI scan does
/// not cover them). What cannot be read is a warning naming it; the PF is still listed.
/// The "link reports VFs but is no PF's netdev" warnings of the PCI join are dropped for the
/// netdevs listed here.
pub fn add_bus_functions(inv: &mut Inventory, host: &dyn Host, view: &HostView) {
    let _span = tracing::debug_span!("inventory_bus_functions").entered();
    let ports = view.devlink_ports.as_deref().unwrap_or(&[]);
    for s in view.bus_pfs(host) {
        let d = s.device.clone();
        let num_vfs = match &s.num_vfs {
            Ok(n) => Some(*n),
            Err(e) => {
                inv.warnings.push(Warning::new(
                    format!("/{}/sriov_numvfs", d.sysfs_dir()),
                    format!("VF count unknown: {e}"),
                ));
                None
            }
        };
        let mut vfs = Vec::new();
        for nd in &s.netdevs {
            let Some(link) = view.links.iter().find(|l| &l.ifname == nd) else {
                if num_vfs.unwrap_or(0) > 0 {
                    inv.warnings.push(Warning::new(
                        format!("vf-state:{nd}"),
                        format!("{d} has {} VFs but its netdev {nd} reports no VF records (no VF state read)", num_vfs.unwrap_or(0)),
                    ));
                }
                continue;
            };
            let mut records: Vec<_> = link.vfs.iter().collect();
            records.sort_by_key(|v| v.vf);
            for v in records {
                let representor =
                    crate::devlink::portmap::netdev_representor(ports, nd.as_str(), v.vf)
                        .flatten()
                        .and_then(|r| r.parse().ok());
                vfs.push(BusVfEntry {
                    index: v.vf,
                    pf_netdev: nd.clone(),
                    representor,
                    admin: Some(super::build::vf_admin(v)),
                    free: false,
                    stats: None,
                });
            }
        }
        let listed = |w: &Warning| s.netdevs.iter().any(|n| w.path == format!("vf-state:{n}"));
        inv.warnings
            .retain(|w| !(listed(w) && w.message.contains("is not the netdev of any SR-IOV PF")));
        inv.bus_functions.push(BusPfEntry {
            device: d.to_string(),
            bus: d.bus().to_string(),
            driver: s.driver.clone(),
            netdevs: s
                .netdevs
                .iter()
                .map(|n| match host.netdev_point(n) {
                    Some(nd) => super::build::netdev_info_of(&nd),
                    None => super::build::netdev_info(&view.scan, n),
                })
                .collect(),
            sriov: BusSriovInfo {
                total_vfs: s.total_vfs,
                num_vfs,
            },
            switchdev: vfs.iter().any(|v| v.representor.is_some()),
            eswitch: None,
            health: None,
            vfs,
        });
    }
    inv.warnings.sort();
    inv.warnings.dedup();
}

/// The devlink handle of a listed non-PCI PF (its `bus/name`).
fn handle(pf: &BusPfEntry) -> Option<DevHandle> {
    pf.device
        .parse::<BusDevice>()
        .ok()
        .map(|d| DevHandle::new(d.bus(), d.name()))
}

/// The eswitch of each listed non-PCI PF, asked by its devlink handle in one
/// [`Host::eswitches_of`] call, judged as for PCI PFs ([`eswitch_entry`]).
pub fn apply_bus_eswitch(inv: &mut Inventory, host: &dyn Host) {
    if inv.bus_functions.is_empty() {
        return;
    }
    let ids: Vec<Option<PfId>> = inv
        .bus_functions
        .iter()
        .map(|p| handle(p).map(PfId::Handle))
        .collect();
    let asked: Vec<PfId> = ids.iter().flatten().cloned().collect();
    let mut answers = host.eswitches_of(&asked).into_iter();
    for (pf, id) in inv.bus_functions.iter_mut().zip(&ids) {
        let answer = match id {
            Some(_) => answers.next().unwrap_or(Ok(None)),
            None => Ok(None),
        };
        let asked = answer.unwrap_or_else(|e| {
            inv.warnings.push(Warning::new(
                pf.device.clone(),
                format!("eswitch mode unavailable: {e}"),
            ));
            None
        });
        let e: Option<EswitchEntry> = eswitch_entry(asked, pf.switchdev);
        if let Some(e) = &e {
            pf.switchdev = e.mode == "switchdev";
        }
        pf.eswitch = e;
    }
}

/// `--stats` for the non-PCI PFs' VFs: one counter read per PF netdev, as for PCI PFs.
pub fn apply_bus_stats(
    inv: &mut Inventory,
    vf_counters: &mut impl FnMut(&IfName) -> Result<Vec<crate::rtnl::VfCounters>, String>,
) {
    for pf in &mut inv.bus_functions {
        let mut by_netdev: BTreeMap<IfName, Vec<crate::rtnl::VfCounters>> = BTreeMap::new();
        for n in &pf.netdevs {
            let c = vf_counters(&n.name).unwrap_or_else(|e| {
                inv.warnings.push(Warning::new(
                    n.name.to_string(),
                    format!("VF counters unavailable: {e}"),
                ));
                Vec::new()
            });
            by_netdev.insert(n.name.clone(), c);
        }
        for vf in &mut pf.vfs {
            vf.stats = Some(
                by_netdev
                    .get(&vf.pf_netdev)
                    .and_then(|c| c.iter().find(|c| c.vf == vf.index))
                    .map(super::VfStats::from),
            );
        }
    }
}
