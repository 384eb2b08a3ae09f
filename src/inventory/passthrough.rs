//! `vifman pci`: every PCI function and whether it can be handed to a VM through VFIO.
//!
//! VFIO assigns whole IOMMU groups, so a device is only as ready as its group: every member
//! must be bound to vfio-pci or pci-stub, unbound, or be a PCI bridge (bridges are not
//! assigned and do not block). That is the kernel's own `vfio_dev_viable` rule.

use std::fmt::Write;

use serde::Serialize;

use super::build::{device_info, VFIO_DRIVER};
use super::model::{DeviceInfo, SCHEMA_VERSION};
use super::names::NameCache;
use crate::sysfs::{ScanReport, Warning};
use crate::types::PciAddress;

#[derive(Debug, Clone, Serialize)]
pub struct PciReport {
    pub schema_version: u32,
    pub sysfs_root: String,
    pub devices: Vec<PciEntry>,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PciEntry {
    #[serde(flatten)]
    pub device: DeviceInfo,
    pub class_name: Option<String>,
    /// Set on SR-IOV VFs: the parent PF.
    pub physfn: Option<PciAddress>,
    /// True when this function is an SR-IOV PF.
    pub sriov_pf: bool,
    /// nova's device type (type-VF, type-PF, type-PCI), as pools and aliases use it.
    pub device_type: crate::types::DeviceType,
    pub vfio_bound: bool,
    /// Every member of the IOMMU group is vfio-pci/pci-stub/unbound or a bridge.
    pub group_viable: bool,
    /// `group_viable && vfio_bound`: can be given to a VM as is.
    pub ready: bool,
    /// Why not ready, one reason per entry.
    pub blockers: Vec<String>,
    /// The pools the config puts this device in (a physnet, `alias:<name>`); only with
    /// `--config`, and then the same answer as `pools` gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pools: Option<Vec<String>>,
}

/// Fill in each device's pools (`vifman pci --config`).
pub fn apply_pools(r: &mut PciReport, pools: &std::collections::BTreeMap<PciAddress, Vec<String>>) {
    for e in &mut r.devices {
        e.pools = Some(pools.get(&e.device.address).cloned().unwrap_or_default());
    }
}

/// `noiommu`: vfio's no-IOMMU mode is on (devices without a group can still be assigned).
pub fn build(scan: &ScanReport, sysfs_root: &str, noiommu: bool) -> PciReport {
    let mut names = NameCache::default();
    let devices = scan
        .devices
        .iter()
        .map(|d| {
            let class_name = names
                .get((None, None, None, None, d.ids.class))
                .class
                .clone();
            let (others_ok, mut blockers) =
                match crate::sysfs::vfio::group_viability(scan, d, noiommu) {
                    Ok(()) => (true, Vec::new()),
                    Err(b) => (false, b),
                };
            // `group_viable` (public JSON) counts the device itself as a member too; its own
            // driver is reported once, by the vfio_bound check below.
            let own_ok = d.ids.is_pci_bridge()
                || (!d.driver_unusable
                    && d.driver
                        .as_deref()
                        .is_none_or(|drv| crate::sysfs::vfio::HARMLESS.contains(&drv)));
            let group_viable = others_ok && own_ok;
            let vfio_bound = d.driver.as_deref() == Some(VFIO_DRIVER);
            if !vfio_bound {
                blockers.insert(
                    0,
                    match &d.driver {
                        Some(drv) => format!("bound to {drv}, not {VFIO_DRIVER}"),
                        None if d.driver_unusable => format!(
                            "bound to a driver whose name vifman cannot use (see the warnings), not {VFIO_DRIVER}"
                        ),
                        None => format!("not bound to {VFIO_DRIVER}"),
                    },
                );
            }
            PciEntry {
                device: device_info(d, &mut names),
                class_name,
                physfn: d.physfn,
                sriov_pf: d.sriov.is_some(),
                device_type: crate::types::DeviceType::derive(
                    d.physfn.is_some(),
                    d.sriov.as_ref().and_then(|s| s.total_vfs),
                ),
                vfio_bound,
                group_viable,
                ready: group_viable && vfio_bound,
                blockers,
                pools: None,
            }
        })
        .collect();
    PciReport {
        schema_version: SCHEMA_VERSION,
        sysfs_root: sysfs_root.to_string(),
        devices,
        warnings: scan.warnings.clone(),
    }
}

pub fn render_table(r: &PciReport) -> String {
    let mut header = vec![
        "DEVICE", "IDS", "CLASS", "NAME", "DRIVER", "NUMA", "IOMMU", "GROUP", "VFIO", "READY",
        "MEMBERS",
    ];
    // The pool column only when a config was given: without one there are no pools.
    let with_pools = r.devices.iter().any(|e| e.pools.is_some());
    if with_pools {
        header.push("POOL");
    }
    let mut t = super::table::plain_table(header);
    for e in &r.devices {
        let d = &e.device;
        let ids = format!(
            "{}:{}",
            d.vendor_id.as_deref().unwrap_or("????"),
            d.device_id.as_deref().unwrap_or("????")
        );
        let others: Vec<String> = d
            .iommu_group_members
            .iter()
            .filter(|m| **m != d.address)
            .map(|m| m.to_string())
            .collect();
        let name = d
            .device_name
            .clone()
            .or_else(|| d.model.clone())
            .unwrap_or_else(|| "-".into());
        let role = if e.sriov_pf {
            " [PF]"
        } else if e.physfn.is_some() {
            " [VF]"
        } else {
            ""
        };
        let mut row = vec![
            d.address.to_string(),
            ids,
            e.class_name
                .clone()
                .unwrap_or_else(|| d.class.clone().unwrap_or_else(|| "-".into())),
            format!("{name}{role}"),
            d.driver.as_deref().unwrap_or("-").to_string(),
            d.numa_node
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            d.iommu_group
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            if d.iommu_group.is_none() {
                "-".into()
            } else if e.group_viable {
                "viable".into()
            } else {
                "blocked".into()
            },
            if e.vfio_bound { "yes" } else { "no" }.into(),
            if e.ready { "yes" } else { "no" }.into(),
            if others.is_empty() {
                "-".into()
            } else {
                others.join(",")
            },
        ];
        if with_pools {
            row.push(match e.pools.as_deref() {
                Some(p) if !p.is_empty() => p.join(","),
                _ => "-".into(),
            });
        }
        t.add_row(row);
    }
    let mut out = t.trim_fmt();
    out.push('\n');
    let ready = r.devices.iter().filter(|e| e.ready).count();
    let _ = writeln!(
        out,
        "\n{} devices, {} ready for passthrough",
        r.devices.len(),
        ready
    );
    if !r.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings ({}):", r.warnings.len());
        for w in &r.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}
