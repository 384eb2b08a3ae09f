//! What the store keeps per allocation: enough to undo it without asking anyone.

use serde::{Deserialize, Serialize};

use crate::host::Knob;
use crate::netlink::VfState;
use crate::types::{IfName, PciAddress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocMode {
    /// VIFHostDevice, VF left on its netdev driver (the hypervisor detaches it, managed=yes).
    Hostdev,
    /// VIFHostDevice, VF bound to vfio-pci by vifman.
    HostdevVfio,
    DirectVepa,
    DirectBridge,
    DirectPassthrough,
}

impl AllocMode {
    pub fn parse(s: &str) -> Option<AllocMode> {
        Some(match s {
            "hostdev" => AllocMode::Hostdev,
            "hostdev-vfio" => AllocMode::HostdevVfio,
            "direct-vepa" => AllocMode::DirectVepa,
            "direct-bridge" => AllocMode::DirectBridge,
            "direct-passthrough" => AllocMode::DirectPassthrough,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AllocMode::Hostdev => "hostdev",
            AllocMode::HostdevVfio => "hostdev-vfio",
            AllocMode::DirectVepa => "direct-vepa",
            AllocMode::DirectBridge => "direct-bridge",
            AllocMode::DirectPassthrough => "direct-passthrough",
        }
    }
    pub fn direct_mode(self) -> Option<&'static str> {
        match self {
            AllocMode::DirectVepa => Some("vepa"),
            AllocMode::DirectBridge => Some("bridge"),
            AllocMode::DirectPassthrough => Some("passthrough"),
            _ => None,
        }
    }
}

/// Pending: recorded, hardware possibly half-configured (a crash here is rolled back by
/// reconcile). Active: configured and handed out. Releasing: restore under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pending,
    Active,
    Releasing,
}

/// The VF as it was before vifman touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub vf: VfState,
    pub driver: Option<String>,
    pub driver_override: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub vif_id: String,
    pub instance_uuid: String,
    pub physnet: String,
    pub mode: AllocMode,
    pub vf: PciAddress,
    pub pf: PciAddress,
    pub pf_netdev: IfName,
    pub pf_ifindex: u32,
    pub vf_index: u32,
    pub phase: Phase,
    /// Knobs set on the VF, in the order applied.
    pub requested: Vec<Knob>,
    /// Driver vifman bound the VF to, if it changed it.
    pub bound_driver: Option<String>,
    pub original: Original,
    /// The os-vif primitive handed out.
    pub vif: serde_json::Value,
    /// Seconds since the epoch.
    pub created: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub allocations: Vec<Allocation>,
}

impl StoreState {
    pub fn by_vif(&self, vif_id: &str) -> Option<usize> {
        self.allocations.iter().position(|a| a.vif_id == vif_id)
    }
    pub fn holds(&self, vf: &PciAddress) -> bool {
        self.allocations.iter().any(|a| &a.vf == vf)
    }
}
