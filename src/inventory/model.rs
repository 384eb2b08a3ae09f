//! The serialized shape of `vifman inventory --json`. Field order here is output order.

use serde::Serialize;

use crate::netlink::{VfLinkState, VlanProto};
use crate::sysfs::Warning;
use crate::types::{IfName, MacAddress, PciAddress};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub schema_version: u32,
    pub sysfs_root: String,
    /// "kernel", "fixture" or "none".
    pub vf_state_source: super::VfStateOrigin,
    pub physical_functions: Vec<PfEntry>,
    /// SR-IOV PFs that are not PCI functions (netdevsim's bus device): their VFs are netlink
    /// records with no device of their own. Absent when the host has none, so the output of
    /// a PCI-only host is what it was before the key existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bus_functions: Vec<BusPfEntry>,
    pub warnings: Vec<Warning>,
}

/// Identity and placement of one PCI function; shared by PFs and VFs.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    pub address: PciAddress,
    /// False when the device's sysfs directory could not be read (see warnings).
    pub present: bool,
    pub vendor_id: Option<String>,
    pub device_id: Option<String>,
    pub subsystem_vendor_id: Option<String>,
    pub subsystem_device_id: Option<String>,
    pub class: Option<String>,
    pub revision: Option<String>,
    pub vendor_name: Option<String>,
    pub device_name: Option<String>,
    pub subsystem_name: Option<String>,
    pub model: Option<String>,
    pub driver: Option<crate::types::DriverName>,
    pub driver_override: Option<crate::types::DriverName>,
    pub numa_node: Option<u32>,
    pub iommu_group: Option<u32>,
    pub iommu_group_members: Vec<PciAddress>,
    /// udev properties (builds with the `udev` feature, live root only); else `null`.
    pub udev: Option<crate::udev::UdevProps>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetdevInfo {
    pub name: IfName,
    pub ifindex: Option<u32>,
    pub mac: Option<MacAddress>,
    pub operstate: Option<String>,
    pub mtu: Option<u32>,
    pub speed_mbps: Option<u32>,
    pub phys_port_name: Option<String>,
    pub phys_switch_id: Option<String>,
    pub phys_port_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SriovInfo {
    pub total_vfs: Option<u32>,
    pub num_vfs: Option<u32>,
    pub offset: Option<u32>,
    pub stride: Option<u32>,
    pub vf_device_id: Option<String>,
    pub drivers_autoprobe: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PfEntry {
    #[serde(flatten)]
    pub device: DeviceInfo,
    /// The PF's own netdevs (uplinks); VF representors are listed on their VF instead.
    pub netdevs: Vec<NetdevInfo>,
    pub sriov: SriovInfo,
    /// True when the eswitch is in switchdev mode (devlink says so, or VF representors
    /// were found).
    pub switchdev: bool,
    /// The eswitch mode and where it comes from; `null` when the host cannot tell.
    pub eswitch: Option<super::EswitchEntry>,
    /// The debounced health verdict (`null` when the device could not be sampled).
    pub health: Option<super::HealthEntry>,
    pub vfs: Vec<VfEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VfEntry {
    pub index: u32,
    #[serde(flatten)]
    pub device: DeviceInfo,
    pub netdev: Option<NetdevInfo>,
    pub representor: Option<IfName>,
    /// Administrative settings from the PF's netlink VF info; `null` when unknown.
    pub admin: Option<VfAdmin>,
    /// vifman would hand it out: `status.state` is `free` (see `status`).
    pub free: bool,
    /// The one availability verdict ([`crate::view::VfStatus`]) and its reasons.
    pub status: super::StatusInfo,
    /// The vifman allocation holding this VF (`vif_id`, `instance_uuid`, `physnet`, `mode`,
    /// `phase`), from the state directory; `null` when none.
    pub allocation: Option<serde_json::Value>,
    /// The debounced health verdict (`null` when the device could not be sampled).
    pub health: Option<super::HealthEntry>,
    /// The pool (physnet) the config's device_spec puts this VF in, unless excluded; only
    /// present when a config was read (`--config`, or the default file exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Traffic counters from the PF's `IFLA_VF_STATS` (`--stats` only: the key is absent
    /// otherwise, and `null` with `--stats` when the PF driver reports none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Option<VfStats>>,
}

/// One VF's counters as the PF driver reports them (what `ip -s -d link show PF` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VfStats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub broadcast: u64,
    pub multicast: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

impl VfStats {
    /// The counters in the one order every table and series uses (rx/tx bytes, rx/tx
    /// packets, broadcast, multicast, rx/tx dropped: the `sriov_vf_*` series' order).
    pub fn values(&self) -> [u64; 8] {
        [
            self.rx_bytes,
            self.tx_bytes,
            self.rx_packets,
            self.tx_packets,
            self.broadcast,
            self.multicast,
            self.rx_dropped,
            self.tx_dropped,
        ]
    }
}

impl From<&crate::rtnl::VfCounters> for VfStats {
    fn from(c: &crate::rtnl::VfCounters) -> Self {
        VfStats {
            rx_bytes: c.rx_bytes,
            tx_bytes: c.tx_bytes,
            rx_packets: c.rx_packets,
            tx_packets: c.tx_packets,
            broadcast: c.broadcast,
            multicast: c.multicast,
            rx_dropped: c.rx_dropped,
            tx_dropped: c.tx_dropped,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VfAdmin {
    pub mac: MacAddress,
    pub vlan: u16,
    pub qos: u32,
    pub vlan_proto: VlanProto,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: VfLinkState,
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
}

/// A non-PCI SR-IOV PF (see `docs/inventory.md`, "Non-PCI PFs").
#[derive(Debug, Clone, Serialize)]
pub struct BusPfEntry {
    /// `bus/name`, e.g. `netdevsim/netdevsim10`: its sysfs `sys/bus/<bus>/devices/<name>`
    /// and its devlink handle.
    pub device: String,
    pub bus: String,
    pub driver: Option<crate::types::DriverName>,
    /// The PF netdev(s) whose netlink VF records are the VFs (representors left out).
    pub netdevs: Vec<NetdevInfo>,
    pub sriov: BusSriovInfo,
    /// As for PCI PFs: true when the eswitch is in switchdev mode.
    pub switchdev: bool,
    /// As for PCI PFs: devlink's answer, else the representors' evidence, else `null`.
    pub eswitch: Option<super::EswitchEntry>,
    /// The debounced health verdict, as for PCI PFs (the PF netdev's link and flaps, the
    /// instance's devlink health reporters); `null` when the device could not be sampled.
    pub health: Option<super::HealthEntry>,
    pub vfs: Vec<BusVfEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BusSriovInfo {
    /// `sriov_totalvfs`; `null` where the device has none (netdevsim's limit is debugfs).
    pub total_vfs: Option<u32>,
    /// `sriov_numvfs`; `null` when unreadable (a warning names the file).
    pub num_vfs: Option<u32>,
}

/// A VF of a non-PCI PF: one netlink VF record of the PF netdev, no device.
#[derive(Debug, Clone, Serialize)]
pub struct BusVfEntry {
    pub index: u32,
    /// The PF netdev whose VF record this is.
    pub pf_netdev: IfName,
    /// From the devlink port map (`devlink::portmap::netdev_representor`); `null` in legacy
    /// mode or without a devlink instance.
    pub representor: Option<IfName>,
    /// The same administrative settings as a PCI VF's.
    pub admin: Option<VfAdmin>,
    /// Always false: vifman allocates PCI VFs only.
    pub free: bool,
    /// As `--stats` gives PCI VFs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Option<VfStats>>,
}

impl Inventory {
    pub fn vf_count(&self) -> usize {
        self.physical_functions.iter().map(|p| p.vfs.len()).sum()
    }
}
