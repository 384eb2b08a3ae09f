//! What a sysfs scan found, before names, netlink state or filtering are added.
//!
//! Every attribute is an `Option`: `None` means "absent or unreadable", and for the unreadable
//! case the scan also carries a [`Warning`](super::Warning) naming the file.

use serde::Serialize;

use crate::types::{DriverName, IfName, MacAddress, PciAddress};

#[derive(Debug, Clone, Default, Serialize)]
pub struct PciIds {
    pub vendor: Option<u16>,
    pub device: Option<u16>,
    pub subsystem_vendor: Option<u16>,
    pub subsystem_device: Option<u16>,
    /// 24-bit class code: base class, subclass, programming interface.
    pub class: Option<u32>,
    pub revision: Option<u8>,
}

impl PciIds {
    pub fn base_class(&self) -> Option<u8> {
        self.class.map(|c| (c >> 16) as u8)
    }

    /// PCI bridges (class 06 04) never block a group from being passed through.
    pub fn is_pci_bridge(&self) -> bool {
        self.class.map(|c| c >> 8) == Some(0x0604)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PciDevice {
    pub address: PciAddress,
    /// False when the device directory could not be reached (dangling or refused link); the
    /// device is still listed because the bus said it exists.
    pub present: bool,
    pub ids: PciIds,
    /// Basename of the `driver` symlink; `None` when unbound, or when the name is not one
    /// [`DriverName`] accepts (the scan then carries a warning naming the link).
    pub driver: Option<DriverName>,
    /// A driver is bound but its name was refused (`driver` is then `None`): the device is not
    /// free to hand out, nor harmless in an IOMMU group. The raw name is in the scan's warning.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub driver_unusable: bool,
    /// `None` for the kernel's "(null)" (or an unacceptable name, with a warning).
    pub driver_override: Option<DriverName>,
    /// `None` when the platform reports -1 (no NUMA affinity known).
    pub numa_node: Option<u32>,
    pub iommu_group: Option<u32>,
    /// Every device in the same IOMMU group, this one included, sorted.
    pub iommu_group_members: Vec<PciAddress>,
    /// Names of the netdevs whose `device` is this function (representors included).
    pub netdevs: Vec<IfName>,
    pub sriov: Option<Sriov>,
    /// Set on VFs: the PF from the `physfn` link (or, failing that, the PF's `virtfnN`).
    pub physfn: Option<PciAddress>,
    /// Set on VFs: N in the PF's `virtfnN`.
    pub vf_index: Option<u32>,
}

impl PciDevice {
    /// Something is bound to it, named or not.
    pub fn is_bound(&self) -> bool {
        self.driver.is_some() || self.driver_unusable
    }

    pub(crate) fn new(address: PciAddress) -> Self {
        Self {
            address,
            present: false,
            ids: PciIds::default(),
            driver: None,
            driver_unusable: false,
            driver_override: None,
            numa_node: None,
            iommu_group: None,
            iommu_group_members: Vec::new(),
            netdevs: Vec::new(),
            sriov: None,
            physfn: None,
            vf_index: None,
        }
    }
}

/// SR-IOV capability of a physical function, straight from the `sriov_*` attributes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sriov {
    pub total_vfs: Option<u32>,
    pub num_vfs: Option<u32>,
    pub offset: Option<u32>,
    pub stride: Option<u32>,
    pub vf_device: Option<u16>,
    pub drivers_autoprobe: Option<bool>,
    /// `(index, address)` from each `virtfnN` link, sorted by index.
    pub vfs: Vec<(u32, PciAddress)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetDev {
    pub name: IfName,
    /// The PCI function this netdev belongs to (its `device` link's target).
    pub device: Option<PciAddress>,
    pub ifindex: Option<u32>,
    pub mac: Option<MacAddress>,
    pub operstate: Option<String>,
    pub mtu: Option<u32>,
    /// Mb/s; `None` when the link is down or the driver does not say.
    pub speed: Option<u32>,
    pub phys_port_name: Option<String>,
    pub phys_switch_id: Option<String>,
    pub phys_port_id: Option<String>,
}

impl NetDev {
    /// A netdev of PCI function `device` whose attributes are still to be read.
    pub(crate) fn unread(name: IfName, device: PciAddress) -> Self {
        NetDev {
            name,
            device: Some(device),
            ifindex: None,
            mac: None,
            operstate: None,
            mtu: None,
            speed: None,
            phys_port_name: None,
            phys_switch_id: None,
            phys_port_id: None,
        }
    }
}

/// A switchdev VF representor, matched the way os-vif does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Representor {
    pub netdev: IfName,
    pub pf: PciAddress,
    pub vf_index: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// Sorted by address.
    pub devices: Vec<PciDevice>,
    /// Sorted by name.
    pub netdevs: Vec<NetDev>,
    pub representors: Vec<Representor>,
    pub warnings: Vec<super::warning::Warning>,
}

impl ScanReport {
    pub fn device(&self, addr: &PciAddress) -> Option<&PciDevice> {
        self.devices
            .binary_search_by(|d| d.address.cmp(addr))
            .ok()
            .map(|i| &self.devices[i])
    }

    pub fn netdev(&self, name: &str) -> Option<&NetDev> {
        self.netdevs
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.netdevs[i])
    }

    pub fn physical_functions(&self) -> impl Iterator<Item = &PciDevice> {
        self.devices.iter().filter(|d| d.sriov.is_some())
    }
}
