//! Gathering the model's inputs from one host view: the same scan the rest of the read path
//! uses, plus the AER and carrier counters read through the host's sysfs layer and the
//! devlink health reporters (one dump through the host's devlink client). Non-PCI SR-IOV PFs
//! (netdevsim's bus devices, [`HostView::bus_pfs`](crate::view::HostView::bus_pfs)) are sampled too, with what applies
//! without PCI: their netdev's link and flaps, and their devlink instance's reporters.

use super::{DeviceId, DevlinkReporter, Kind, Sample};
use crate::host::Host;
use crate::store::{AllocMode, StoreState};
use crate::types::{IfName, PciAddress};
use crate::view::HostView;

/// One device's sample, as the [`super::Tracker`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthInput {
    pub kind: Kind,
    pub device: DeviceId,
    /// A VF's PF.
    pub pf: Option<PciAddress>,
    pub sample: Sample,
}

/// Every SR-IOV PF and every VF of the view and every non-PCI SR-IOV PF of the host, sampled
/// now, plus one warning per AER file
/// that exists but could not be read or parsed (naming the file), and one when the devlink
/// health reporters cannot be read (the devices are then judged without them).
pub fn samples(
    host: &dyn Host,
    view: &HostView,
    st: &StoreState,
) -> (Vec<HealthInput>, Vec<String>) {
    let _span = tracing::debug_span!("health_samples").entered();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let reporters = host.devlink_health().unwrap_or_else(|e| {
        warnings.push(e.to_string());
        Vec::new()
    });
    // Grouped once by PCI instance (every device is sampled; most have no reporters).
    let by_dev = by_pci_instance(&reporters);
    let devlink = |a: &PciAddress| by_dev.get(a).cloned().unwrap_or_default();
    let reps: std::collections::BTreeSet<&str> = view
        .scan
        .representors
        .iter()
        .map(|r| r.netdev.as_str())
        .collect();
    let pfs: Vec<_> = view
        .scan
        .physical_functions()
        .map(|pf| {
            let netdev = view
                .vfs
                .iter()
                .find(|v| v.pf == pf.address)
                .and_then(|v| v.pf_netdev.clone())
                .or_else(|| {
                    pf.netdevs
                        .iter()
                        .find(|n| !reps.contains(n.as_str()))
                        .cloned()
                });
            (pf, netdev)
        })
        .collect();
    let vfs: Vec<_> = view
        .vfs
        .iter()
        .map(|v| {
            let netdev = v
                .netdevs
                .iter()
                .find(|n| !reps.contains(n.as_str()))
                .cloned();
            (v, netdev)
        })
        .collect();
    // Every counter in one batch (the host may read them side by side), handed out below
    // in the order they were asked for.
    let devices: Vec<PciAddress> = pfs
        .iter()
        .map(|(pf, _)| pf.address)
        .chain(vfs.iter().map(|(v, _)| v.addr))
        .collect();
    let netdevs: Vec<IfName> = pfs
        .iter()
        .filter_map(|(_, n)| n.clone())
        .chain(vfs.iter().filter_map(|(_, n)| n.clone()))
        .collect();
    let (aers, carriers) = host.health_counters(&devices, &netdevs);
    let mut aers = aers.into_iter();
    let mut carriers = carriers.into_iter();
    let mut aer = || {
        let (c, bad) = aers.next().unwrap_or_default();
        warnings.extend(bad);
        c
    };
    let mut carrier = |n: &Option<IfName>| n.as_ref().and_then(|_| carriers.next().flatten());
    for (pf, netdev) in pfs {
        let nd = netdev.as_ref().and_then(|n| view.scan.netdev(n.as_str()));
        out.push(HealthInput {
            kind: Kind::Pf,
            device: pf.address.into(),
            pf: None,
            sample: Sample {
                present: pf.present,
                driver: pf.driver.clone(),
                driver_unusable: pf.driver_unusable,
                vfio_ours: false,
                operstate: nd.and_then(|n| n.operstate.clone()),
                carrier_changes: carrier(&netdev),
                netdev: netdev.map(|n| n.to_string()),
                aer: aer(),
                devlink: devlink(&pf.address),
                quarantine: None,
            },
        });
    }
    for (v, netdev) in vfs {
        let rec = st.allocations.iter().find(|a| a.vf == v.addr);
        let nd = netdev.as_ref().and_then(|n| view.scan.netdev(n.as_str()));
        out.push(HealthInput {
            kind: Kind::Vf,
            device: v.addr.into(),
            pf: Some(v.pf),
            sample: Sample {
                present: view.scan.device(&v.addr).is_some_and(|d| d.present),
                driver: v.driver.clone(),
                driver_unusable: v.driver_unusable,
                vfio_ours: rec.is_some_and(|a| a.mode == AllocMode::HostdevVfio),
                operstate: nd.and_then(|n| n.operstate.clone()),
                carrier_changes: carrier(&netdev),
                netdev: netdev.map(|n| n.to_string()),
                aer: aer(),
                devlink: devlink(&v.addr),
                quarantine: rec.and_then(|a| a.quarantine.as_ref().map(|q| q.reason.clone())),
            },
        });
    }
    out.extend(bus_pfs(host, view, &reporters));
    (out, warnings)
}

/// The non-PCI SR-IOV PFs: present (they were found by their netdevs), judged on their first
/// PF netdev (the one the inventory lists first; netdevsim has one per port, representors
/// left out) and the reporters of their devlink instance `BUS/NAME`. No AER (not PCIe), no
/// driver rule (as for PCI PFs), no VFs of their own in the model: their VFs are netlink
/// records, not devices.
fn bus_pfs(
    host: &dyn Host,
    view: &HostView,
    reporters: &[crate::devlink::HealthReporter],
) -> Vec<HealthInput> {
    view.bus_pfs(host)
        .iter()
        .map(|s| {
            let netdev = s.netdevs.first().cloned();
            let devlink = reporters
                .iter()
                .filter(|r| r.dev.bus == s.device.bus() && r.dev.dev == s.device.name())
                .map(DevlinkReporter::from_devlink)
                .collect();
            HealthInput {
                kind: Kind::Pf,
                pf: None,
                sample: Sample {
                    present: true,
                    driver: s.driver.clone(),
                    driver_unusable: false,
                    vfio_ours: false,
                    operstate: netdev
                        .as_ref()
                        .and_then(|n| host.netdev_point(n))
                        .and_then(|n| n.operstate),
                    carrier_changes: netdev.as_ref().and_then(|n| host.carrier_changes(n)),
                    netdev: netdev.map(|n| n.to_string()),
                    aer: Default::default(),
                    devlink,
                    quarantine: None,
                },
                device: DeviceId::Bus(s.device.clone()),
            }
        })
        .collect()
}

/// The reporters of the devlink instance `pci/ADDR` of device `a`, device and port
/// reporters alike (mlx5 keeps `tx`/`rx` on the uplink port). A VF has reporters only where
/// its driver gives it a devlink instance of its own (mlx5 VFs); a VF is judged on its
/// PF's through the model's PF-to-VF propagation anyway. Non-PCI instances (netdevsim) go to
/// their bus PF ([`bus_pfs`]).
#[cfg(test)]
pub fn devlink_of(
    reporters: &[crate::devlink::HealthReporter],
    a: &PciAddress,
) -> Vec<DevlinkReporter> {
    by_pci_instance(reporters).remove(a).unwrap_or_default()
}

/// The reporters of every `pci/ADDR` instance, in dump order within each.
fn by_pci_instance(
    reporters: &[crate::devlink::HealthReporter],
) -> std::collections::HashMap<PciAddress, Vec<DevlinkReporter>> {
    let mut m: std::collections::HashMap<PciAddress, Vec<DevlinkReporter>> = Default::default();
    for r in reporters.iter().filter(|r| r.dev.bus == "pci") {
        if let Ok(a) = r.dev.dev.parse::<PciAddress>() {
            m.entry(a)
                .or_default()
                .push(DevlinkReporter::from_devlink(r));
        }
    }
    m
}
