//! Point reads of an SR-IOV PF that is not a PCI function: a device on another bus with an
//! `sriov_numvfs` of its own (netdevsim: `sys/bus/netdevsim/devices/netdevsimN`). Its VFs
//! are records behind its netdev (no `virtfnN`, no VF devices), so the VF count is the
//! `sriov_numvfs` value and, on the netlink side, the PF's IFLA_NUM_VF. netdevsim has no
//! `sriov_totalvfs` (its limit is debugfs `max_vfs`): a device without one has no known
//! limit, and the kernel's answer decides.

use std::path::PathBuf;

use super::root::SysfsRoot;
use crate::types::{BusDevice, IfName};

/// What sysfs says about a non-PCI SR-IOV PF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSriov {
    pub device: BusDevice,
    /// `sriov_numvfs`; `Err` with the reason when it cannot be read or parsed (an unreadable
    /// count is not zero).
    pub num_vfs: Result<u32, String>,
    /// `sriov_totalvfs` where the device has one.
    pub total_vfs: Option<u32>,
    /// The device's netdevs (its `net/` directory) that are not VF representors, sorted:
    /// the PF netdev(s) whose netlink VF records are the VFs.
    pub netdevs: Vec<IfName>,
}

impl SysfsRoot {
    /// The non-PCI bus device behind netdev `ifname` (its `device` link, and that device's
    /// `subsystem` link for the bus); None for a PCI netdev, a virtual one, or no such netdev.
    pub fn netdev_bus_device(&self, ifname: &IfName) -> Option<BusDevice> {
        let c = self.confined().ok()?;
        let dev = PathBuf::from(format!("sys/class/net/{ifname}/device"));
        let name = c.link_name(&dev)?;
        let bus = c.link_name(&dev.join("subsystem"))?;
        if bus == "pci" {
            return None;
        }
        BusDevice::new(&bus, &name).ok()
    }

    /// The SR-IOV facts of bus device `d`; None when it does not exist or has no
    /// `sriov_numvfs` (not an SR-IOV PF).
    pub fn bus_sriov(&self, d: &BusDevice) -> Option<BusSriov> {
        let c = self.confined().ok()?;
        let dir = PathBuf::from(d.sysfs_dir());
        let numvfs = dir.join("sriov_numvfs");
        if !c.exists(&numvfs) {
            return None;
        }
        let num_vfs = match c.read_attr(&numvfs) {
            Ok(t) => t
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("/{} reads {:?}, not a count", numvfs.display(), t.trim())),
            Err(e) => Err(e.to_string()),
        };
        let total_vfs = c
            .read_attr(&dir.join("sriov_totalvfs"))
            .ok()
            .and_then(|t| t.trim().parse().ok());
        // In switchdev mode the VF representors hang off the same device: they carry no VF
        // records, so they are not the PF netdev (their phys_port_name says `pfNvfM`).
        let representor = |n: &str| {
            c.read_attr(&dir.join("net").join(n).join("phys_port_name"))
                .ok()
                .and_then(|p| super::representor::parse_port_name(p.trim()))
                .is_some()
        };
        let mut netdevs: Vec<IfName> = c
            .list(&dir.join("net"))
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !representor(n))
            .filter_map(|n| n.parse().ok())
            .collect();
        netdevs.sort();
        Some(BusSriov {
            device: d.clone(),
            num_vfs,
            total_vfs,
            netdevs,
        })
    }
}
