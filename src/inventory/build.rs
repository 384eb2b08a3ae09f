//! Joins a sysfs scan with VF runtime state into the [`Inventory`] model.

use std::collections::HashSet;

use super::model::{
    DeviceInfo, Inventory, NetdevInfo, PfEntry, SriovInfo, VfAdmin, VfEntry, SCHEMA_VERSION,
};
use super::names::NameCache;
use super::VfStateOrigin;
use crate::netlink::{PfLinkState, VfState};
use crate::sysfs::{PciDevice, ScanReport, Sriov, Warning};
use crate::types::IfName;

pub(crate) use crate::types::VFIO_PCI as VFIO_DRIVER;

/// Builds the full (unfiltered) inventory. `sysfs_root` is echoed verbatim so output does not
/// depend on where a fixture is checked out.
pub fn build(
    scan: &ScanReport,
    sysfs_root: &str,
    vf_state: &[PfLinkState],
    origin: VfStateOrigin,
    extra_warnings: Vec<Warning>,
) -> Inventory {
    let reps: HashSet<&str> = scan
        .representors
        .iter()
        .map(|r| r.netdev.as_str())
        .collect();
    let pf_list: Vec<(&PciDevice, &Sriov)> = scan
        .physical_functions()
        .filter_map(|p| p.sriov.as_ref().map(|s| (p, s)))
        .collect();
    // Two halves on two threads for big hosts: each VF costs name lookups, hex formatting
    // and a dozen small strings, ~1 µs that adds up on 2048 VFs.
    let vf_count: usize = pf_list.iter().map(|(_, s)| s.vfs.len()).sum();
    let entries = pf_entries(&pf_list, scan, vf_state, &reps, vf_count >= PAR_VFS);
    let mut used_links = HashSet::new();
    let mut pfs = Vec::with_capacity(entries.len());
    for (e, link) in entries {
        used_links.extend(link);
        pfs.push(e);
    }
    let mut warnings = scan.warnings.clone();
    warnings.extend(extra_warnings);
    for l in vf_state {
        if !used_links.contains(l.ifname.as_str()) && !l.vfs.is_empty() {
            warnings.push(Warning::new(
                format!("vf-state:{}", l.ifname),
                format!(
                    "link {} (ifindex {}) reports {} VFs but is not the netdev of any SR-IOV PF found in sysfs",
                    l.ifname, l.ifindex, l.num_vf
                ),
            ));
        }
    }
    warnings.sort();
    warnings.dedup();
    Inventory {
        schema_version: SCHEMA_VERSION,
        sysfs_root: sysfs_root.to_string(),
        vf_state_source: origin,
        physical_functions: pfs,
        bus_functions: Vec::new(),
        warnings,
    }
}

/// Every PF's entry, in order; on two threads when `parallel`.
fn pf_entries<'a>(
    pf_list: &[(&PciDevice, &Sriov)],
    scan: &ScanReport,
    vf_state: &'a [PfLinkState],
    reps: &HashSet<&str>,
    parallel: bool,
) -> Vec<(PfEntry, Option<&'a str>)> {
    if parallel && pf_list.len() >= 2 {
        let (a, b) = pf_list.split_at(pf_list.len() / 2);
        let run = |part: &[(&PciDevice, &Sriov)]| {
            let mut names = NameCache::default();
            part.iter()
                .map(|(pf, sr)| pf_entry(pf, sr, scan, vf_state, reps, &mut names))
                .collect::<Vec<_>>()
        };
        std::thread::scope(|s| {
            let second = s.spawn(|| run(b));
            let mut first = run(a);
            match second.join() {
                Ok(rest) => first.extend(rest),
                // Not expected; the entries are still built, on this thread.
                Err(_) => first.extend(run(b)),
            }
            first
        })
    } else {
        let mut names = NameCache::default();
        pf_list
            .iter()
            .map(|(pf, sr)| pf_entry(pf, sr, scan, vf_state, reps, &mut names))
            .collect()
    }
}

/// Hosts with at least this many VFs build their entries on two threads.
const PAR_VFS: usize = 256;

/// One PF's entry, and the name of the link whose VF state it took.
fn pf_entry<'a>(
    pf: &PciDevice,
    sr: &Sriov,
    scan: &ScanReport,
    vf_state: &'a [PfLinkState],
    reps: &HashSet<&str>,
    names: &mut NameCache,
) -> (PfEntry, Option<&'a str>) {
    let netdevs: Vec<NetdevInfo> = pf
        .netdevs
        .iter()
        .filter(|n| !reps.contains(n.as_str()))
        .map(|n| netdev_info(scan, n))
        .collect();
    let link = find_link(vf_state, &netdevs);
    let vfs = sr
        .vfs
        .iter()
        .map(|(i, addr)| {
            let dev = scan.device(addr);
            let device = match dev {
                Some(d) => device_info(d, names),
                None => device_info(&stub(addr), names),
            };
            let netdev = dev
                .and_then(|d| d.netdevs.first())
                .map(|n| netdev_info(scan, n));
            let representor = scan
                .representors
                .iter()
                .find(|r| r.pf == pf.address && r.vf_index == *i)
                .map(|r| r.netdev.clone());
            let admin = link
                .and_then(|l| l.vfs.iter().find(|v| v.vf == *i))
                .map(vf_admin);
            VfEntry {
                index: *i,
                device,
                netdev,
                representor,
                admin,
                // Set by the projection from the one availability verdict.
                free: false,
                status: super::StatusInfo {
                    state: "unknown",
                    reasons: vec![],
                },
                allocation: None,
                health: None,
                pool: None,
                stats: None,
            }
        })
        .collect();
    let entry = PfEntry {
        device: device_info(pf, names),
        netdevs,
        sriov: SriovInfo {
            total_vfs: sr.total_vfs,
            num_vfs: sr.num_vfs,
            offset: sr.offset,
            stride: sr.stride,
            vf_device_id: sr.vf_device.map(hex4),
            drivers_autoprobe: sr.drivers_autoprobe,
        },
        switchdev: scan.representors.iter().any(|r| r.pf == pf.address),
        // Joined after filtering (`apply_eswitch`, `apply_health`).
        eswitch: None,
        health: None,
        vfs,
    };
    (entry, link.map(|l| l.ifname.as_str()))
}

/// Only reachable if the scan and its own VF list disagree; keeps the VF visible anyway.
fn stub(addr: &crate::types::PciAddress) -> PciDevice {
    PciDevice::new(*addr)
}

/// A PF's VF state is reported on its netdev; match by name, then by ifindex (names can
/// change between the sysfs read and the netlink dump, indexes cannot).
fn find_link<'a>(links: &'a [PfLinkState], netdevs: &[NetdevInfo]) -> Option<&'a PfLinkState> {
    links
        .iter()
        .find(|l| netdevs.iter().any(|n| n.name == l.ifname))
        .or_else(|| {
            links
                .iter()
                .find(|l| netdevs.iter().any(|n| n.ifindex == Some(l.ifindex)))
        })
}

pub(super) fn vf_admin(v: &VfState) -> VfAdmin {
    VfAdmin {
        mac: v.mac,
        vlan: v.vlan.get(),
        qos: v.qos,
        vlan_proto: v.vlan_proto,
        spoofchk: v.spoofchk,
        trust: v.trust,
        link_state: v.link_state,
        min_tx_rate: v.min_tx_rate,
        max_tx_rate: v.max_tx_rate,
    }
}

pub(crate) fn hex4(v: u16) -> String {
    format!("{v:04x}")
}

pub(crate) fn device_info(d: &PciDevice, names: &mut NameCache) -> DeviceInfo {
    let ids = &d.ids;
    let n = names.get((
        ids.vendor,
        ids.device,
        ids.subsystem_vendor,
        ids.subsystem_device,
        None,
    ));
    DeviceInfo {
        address: d.address,
        present: d.present,
        vendor_id: ids.vendor.map(hex4),
        device_id: ids.device.map(hex4),
        subsystem_vendor_id: ids.subsystem_vendor.map(hex4),
        subsystem_device_id: ids.subsystem_device.map(hex4),
        class: ids.class.map(|c| format!("{c:06x}")),
        revision: ids.revision.map(|r| format!("{r:02x}")),
        vendor_name: n.vendor.clone(),
        device_name: n.device.clone(),
        subsystem_name: n.subsystem.clone(),
        model: n.model.clone(),
        driver: d.driver.clone(),
        driver_override: d.driver_override.clone(),
        numa_node: d.numa_node,
        iommu_group: d.iommu_group,
        iommu_group_members: d.iommu_group_members.clone(),
        udev: None,
    }
}

/// The inventory's view of a scanned (or point-read) netdev.
pub(super) fn netdev_info_of(n: &crate::sysfs::NetDev) -> NetdevInfo {
    NetdevInfo {
        name: n.name.clone(),
        ifindex: n.ifindex,
        mac: n.mac,
        operstate: n.operstate.clone(),
        mtu: n.mtu,
        speed_mbps: n.speed,
        phys_port_name: n.phys_port_name.clone(),
        phys_switch_id: n.phys_switch_id.clone(),
        phys_port_id: n.phys_port_id.clone(),
    }
}

pub(super) fn netdev_info(scan: &ScanReport, name: &IfName) -> NetdevInfo {
    match scan.netdev(name.as_str()) {
        Some(n) => netdev_info_of(n),
        None => NetdevInfo {
            name: name.clone(),
            ifindex: None,
            mac: None,
            operstate: None,
            mtu: None,
            speed_mbps: None,
            phys_port_name: None,
            phys_switch_id: None,
            phys_port_id: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two threads build exactly what one does, in the same order.
    #[test]
    fn parallel_entries_equal_sequential() {
        let t = tempfile::tempdir().unwrap();
        let model = crate::hwdb::by_key("intel-e810-xxv-sfp").unwrap();
        let spec = crate::fixture::synth::build(&crate::fixture::synth::SynthSpec {
            pfs: 3,
            vfs: 5,
            model,
        })
        .unwrap();
        crate::fixture::write_host(t.path(), &spec).unwrap();
        let root = crate::sysfs::SysfsRoot::new(t.path()).unwrap();
        let (dump, ..) = super::super::load_link_dump(&root);
        let scan = crate::sysfs::scan_with_links(&root, &dump.netdevs);
        let pf_list: Vec<(&PciDevice, &Sriov)> = scan
            .physical_functions()
            .filter_map(|p| p.sriov.as_ref().map(|s| (p, s)))
            .collect();
        let reps = HashSet::new();
        let json = |parallel| {
            let e = pf_entries(&pf_list, &scan, &dump.links, &reps, parallel);
            serde_json::to_value(e.iter().map(|(p, l)| (p, l)).collect::<Vec<_>>()).unwrap()
        };
        let seq = json(false);
        assert_eq!(seq.as_array().unwrap().len(), 3);
        assert_eq!(json(true), seq);
    }
}
