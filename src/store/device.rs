//! Records of whole devices handed out (type-PF by physnet, type-PF/type-PCI by alias): kept
//! beside the VF records in the same store, so one lock and one crash-safe write cover both.

use serde::{Deserialize, Serialize};

use super::record::Phase;
use crate::types::{DeviceType, PciAddress, Uuid};

/// How the devices were asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "name")]
pub enum WholeRequestKind {
    /// `allocate --physnet P --device-type pf` (nova's `direct-physical`).
    Physnet(String),
    /// `allocate --alias NAME` (nova's `[pci] alias`).
    Alias(String),
}

/// One function vifman moved to vfio-pci, with what it was on before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundDevice {
    pub address: PciAddress,
    pub device_type: DeviceType,
    /// False for a group member bound only so that the group is viable (`--bind-group`): it
    /// is restored with the allocation but not handed to the guest.
    pub handed_out: bool,
    pub driver: Option<crate::types::DriverName>,
    pub driver_override: Option<crate::types::DriverName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceAllocation {
    /// The VIF id for a PF; for an alias request, the id the caller gave or one derived from
    /// the instance and the alias (see `vifman allocate --alias`).
    pub id: Uuid,
    pub instance_uuid: Uuid,
    pub request: WholeRequestKind,
    pub phase: Phase,
    /// Handed-out devices first, then group members bound with them; restored in reverse.
    pub devices: Vec<BoundDevice>,
    /// A PF whose VFs vifman removed first (`pf_passthrough_removes_vfs`): the VF count to
    /// put back on release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_vfs: Option<(PciAddress, u32)>,
    /// The os-vif primitive(s) handed out: one object, or a list when more than one device.
    pub vif: serde_json::Value,
    pub created: u64,
    /// Why a record is `lost` (boot replay could not put its devices back on vfio-pci).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
}

impl DeviceAllocation {
    /// Whether this allocation holds `a` (handed out or bound with its group).
    pub fn holds(&self, a: &PciAddress) -> bool {
        self.devices.iter().any(|d| &d.address == a)
    }
}
