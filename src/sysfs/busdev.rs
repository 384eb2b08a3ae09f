//! Point reads of an SR-IOV PF that is not a PCI function: a device on another bus with an
//! `sriov_numvfs` of its own (netdevsim: `sys/bus/netdevsim/devices/netdevsimN`). Its VFs
//! are records behind its netdev (no `virtfnN`, no VF devices), so the VF count is the
//! `sriov_numvfs` value and, on the netlink side, the PF's IFLA_NUM_VF. netdevsim has no
//! `sriov_totalvfs` (its limit is debugfs `max_vfs`): a device without one has no known
//! limit, and the kernel's answer decides.

use std::path::{Path, PathBuf};

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
    /// The bound driver (the device's `driver` link), e.g. `netdevsim`.
    pub driver: Option<crate::types::DriverName>,
    /// The device's netdevs (its `net/` directory) that are not VF representors, sorted:
    /// the PF netdev(s) whose netlink VF records are the VFs.
    pub netdevs: Vec<IfName>,
}

impl SysfsRoot {
    /// Every non-PCI SR-IOV PF, by device: the bus devices behind the netdevs of
    /// `sys/class/net` that live neither under a PCI device nor under `devices/virtual`
    /// (one readlink each, so a host with thousands of VF netdevs pays little), each with an
    /// `sriov_numvfs`. A PF without a netdev is not found: its VFs would have no records.
    pub fn bus_sriov_pfs(&self) -> Vec<BusSriov> {
        self.bus_sriov_pfs_except(|_| false)
    }

    /// [`SysfsRoot::bus_sriov_pfs`], not asking about the netdevs `known_pci` says a scan
    /// already found under a PCI function (their links were read then): on a host with
    /// thousands of VF netdevs only the few others cost a readlink.
    pub fn bus_sriov_pfs_except(&self, known_pci: impl Fn(&str) -> bool) -> Vec<BusSriov> {
        let _s = tracing::debug_span!("bus_sriov_pfs").entered();
        let Ok(c) = self.confined() else {
            return Vec::new();
        };
        // The class directory is opened once and each entry's link read beside it.
        let Ok(class) = c.open_dir(Path::new("sys/class/net")) else {
            return Vec::new();
        };
        let mut devices = std::collections::BTreeSet::new();
        for name in class.list().unwrap_or_default() {
            if known_pci(&name) {
                continue;
            }
            let Ok(t) = class.readlink(&name) else {
                continue;
            };
            let t = t.to_string_lossy();
            if t.contains("/devices/virtual/") || t.contains("/devices/pci") {
                continue;
            }
            if let Some(d) = name
                .parse::<IfName>()
                .ok()
                .and_then(|n| self.netdev_bus_device(&n))
            {
                devices.insert(d);
            }
        }
        devices.iter().filter_map(|d| self.bus_sriov(d)).collect()
    }

    /// One netdev's attributes read from its `sys/class/net/<name>/` files (a non-PCI PF's
    /// netdev, which the PCI scan does not cover); None when there is no such netdev.
    pub fn netdev_point(&self, ifname: &IfName) -> Option<super::NetDev> {
        let c = self.confined().ok()?;
        let dir = PathBuf::from(format!("sys/class/net/{ifname}"));
        if !c.exists(&dir) {
            return None;
        }
        let a = |f: &str| {
            c.read_attr(&dir.join(f))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Some(super::NetDev {
            name: ifname.clone(),
            device: None,
            ifindex: a("ifindex").and_then(|v| v.parse().ok()),
            mac: a("address").and_then(|v| v.parse().ok()),
            operstate: a("operstate"),
            mtu: a("mtu").and_then(|v| v.parse().ok()),
            speed: a("speed")
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|v| *v != u32::MAX),
            phys_port_name: a("phys_port_name"),
            phys_switch_id: a("phys_switch_id"),
            phys_port_id: a("phys_port_id"),
        })
    }
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
        let driver = c
            .link_name(&dir.join("driver"))
            .and_then(|n| n.parse().ok());
        Some(BusSriov {
            device: d.clone(),
            num_vfs,
            total_vfs,
            driver,
            netdevs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// netdevsim's layout: the PF netdev and, in switchdev mode, VF representors under the
    /// bus device; a PCI netdev beside it.
    #[test]
    fn a_netdevsim_pf_from_its_netdev_with_representors_left_out() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let dev = r.join("sys/devices/netdevsim3");
        for (nd, port) in [("eth0", "p0"), ("eth1", "pf0vf0"), ("eth2", "pf0vf1")] {
            std::fs::create_dir_all(dev.join("net").join(nd)).unwrap();
            std::fs::write(
                dev.join("net").join(nd).join("phys_port_name"),
                format!("{port}\n"),
            )
            .unwrap();
            symlink(
                "../../../netdevsim3",
                dev.join("net").join(nd).join("device"),
            )
            .unwrap();
        }
        std::fs::write(dev.join("sriov_numvfs"), "2\n").unwrap();
        symlink("../../bus/netdevsim", dev.join("subsystem")).unwrap();
        std::fs::create_dir_all(r.join("sys/bus/netdevsim/devices")).unwrap();
        symlink(
            "../../../devices/netdevsim3",
            r.join("sys/bus/netdevsim/devices/netdevsim3"),
        )
        .unwrap();
        std::fs::create_dir_all(r.join("sys/class/net")).unwrap();
        symlink(
            "../../devices/netdevsim3/net/eth0",
            r.join("sys/class/net/eth0"),
        )
        .unwrap();
        // A PCI netdev: not a bus device of this kind.
        let pci = r.join("sys/devices/pci0000:00/0000:00:03.0");
        std::fs::create_dir_all(pci.join("net/ens3")).unwrap();
        symlink("../../../0000:00:03.0", pci.join("net/ens3/device")).unwrap();
        std::fs::create_dir_all(r.join("sys/bus/pci")).unwrap();
        symlink("../../../bus/pci", pci.join("subsystem")).unwrap();
        symlink(
            "../../devices/pci0000:00/0000:00:03.0/net/ens3",
            r.join("sys/class/net/ens3"),
        )
        .unwrap();

        let root = SysfsRoot::new(r).unwrap();
        let d = root.netdev_bus_device(&"eth0".parse().unwrap()).unwrap();
        assert_eq!(d.to_string(), "netdevsim/netdevsim3");
        assert_eq!(root.netdev_bus_device(&"ens3".parse().unwrap()), None);
        assert_eq!(root.netdev_bus_device(&"nope0".parse().unwrap()), None);
        let s = root.bus_sriov(&d).unwrap();
        assert_eq!(s.num_vfs, Ok(2));
        assert_eq!(s.total_vfs, None, "netdevsim has no sriov_totalvfs");
        assert_eq!(s.driver, None, "no driver link in this tree");
        std::fs::create_dir_all(r.join("sys/bus/netdevsim/drivers/netdevsim")).unwrap();
        symlink("../../bus/netdevsim/drivers/netdevsim", dev.join("driver")).unwrap();
        assert_eq!(
            root.bus_sriov(&d).unwrap().driver.as_deref(),
            Some("netdevsim")
        );
        assert_eq!(s.netdevs, vec!["eth0".parse::<IfName>().unwrap()]);
        std::fs::write(dev.join("sriov_numvfs"), "two\n").unwrap();
        assert!(root.bus_sriov(&d).unwrap().num_vfs.is_err());
        let other: BusDevice = "netdevsim/netdevsim4".parse().unwrap();
        assert!(root.bus_sriov(&other).is_none());
        // Found from sys/class/net: the PCI netdev is not asked, the representors' device
        // is the same one.
        std::fs::write(dev.join("sriov_numvfs"), "2\n").unwrap();
        for nd in ["eth1", "eth2"] {
            symlink(
                format!("../../devices/netdevsim3/net/{nd}"),
                r.join("sys/class/net").join(nd),
            )
            .unwrap();
        }
        let all = root.bus_sriov_pfs();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].device, d);
        std::fs::write(dev.join("net/eth0/mtu"), "1500\n").unwrap();
        let n = root.netdev_point(&"eth0".parse().unwrap()).unwrap();
        assert_eq!(
            (n.mtu, n.phys_port_name.as_deref()),
            (Some(1500), Some("p0"))
        );
        assert!(root.netdev_point(&"nope0".parse().unwrap()).is_none());
    }
}
