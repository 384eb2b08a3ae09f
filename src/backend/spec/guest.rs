//! The guest-side view of a VIF: what a hypervisor's device definition needs (libvirt's
//! `<interface>`/`<hostdev>`), read and validated once like the backend specs. Kept apart
//! from the plug specs because the guest view reads fields the host side ignores (the VLAN
//! a VF is tagged with, 802.1Qbg/Qbh profiles) and must not fail on what only plugging needs
//! (an OVS integration bridge, say).

use super::{flag, ifname, invalid, opt, req, req_str, VifMtu};
use crate::backend::{BackendError, Result};
use crate::types::{IfName, MacAddress, PciAddress, VlanId};
use crate::vif::VersionedObject;

/// `VIFHostDevice.dev_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDevType {
    /// A NIC function (an SR-IOV VF): the guest sees a network interface with our MAC/VLAN.
    Ethernet,
    /// Any PCI function handed over whole.
    Generic,
}

/// VIFHostDevice as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDeviceVif {
    pub dev_type: HostDevType,
    pub dev_address: PciAddress,
    pub address: Option<MacAddress>,
    /// `network.vlan` when set and non-zero: the VLAN the VF is tagged with.
    pub vlan: Option<VlanId>,
}

impl TryFrom<&VersionedObject> for HostDeviceVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        let dev_type = match req_str(vif, "dev_type")? {
            "ethernet" => HostDevType::Ethernet,
            "generic" => HostDevType::Generic,
            other => return Err(invalid(vif, "dev_type", format!("{other:?} is unknown"))),
        };
        Ok(HostDeviceVif {
            dev_type,
            dev_address: req(vif, "dev_address")?,
            address: opt(vif, "address")?,
            vlan: network_vlan(vif)?,
        })
    }
}

/// `network.vlan`, `None` when unset or 0 (0 is "untagged" to nova and to libvirt alike).
pub fn network_vlan(vif: &VersionedObject) -> Result<Option<VlanId>> {
    let Some(net) = vif.get_obj("network") else {
        return Ok(None);
    };
    match net.get("vlan").and_then(|v| v.as_int()) {
        None | Some(0) => Ok(None),
        Some(v) => u16::try_from(v)
            .ok()
            .and_then(|v| VlanId::new(v).ok())
            .map(Some)
            .ok_or_else(|| invalid(net, "vlan", format!("{v} is not a VLAN id (0-4095)"))),
    }
}

/// The MTU a VIF's network states (`None` when unset or 0), range-checked.
pub fn network_mtu(vif: &VersionedObject) -> Result<Option<u32>> {
    Ok(VifMtu::of(vif)?.0)
}

/// The port profiles a guest definition can express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestProfile {
    /// VIFPortProfileOpenVSwitch (and its subclasses): the Neutron port id OVS matches on.
    OpenVSwitch {
        interface_id: String,
        create_port: bool,
        create_tap: bool,
    },
    /// VIFPortProfile8021Qbg: VSI parameters of an 802.1Qbg (VDP) switch.
    Qbg {
        manager_id: i64,
        type_id: i64,
        type_id_version: i64,
        instance_id: String,
    },
    /// VIFPortProfile8021Qbh: a port profile name on an 802.1Qbh (Cisco VM-FEX) switch.
    Qbh { profile_id: String },
    /// Any other profile (FP*, representor-only, ...): nothing the guest definition carries.
    Other(&'static str),
}

impl GuestProfile {
    /// The VIF's `port_profile`, if it has one.
    pub fn of(vif: &VersionedObject) -> Result<Option<Self>> {
        let Some(p) = vif.get_obj("port_profile") else {
            return Ok(None);
        };
        let int = |field: &str| {
            p.get(field)
                .and_then(|v| v.as_int())
                .ok_or_else(|| invalid(p, field, "is not set"))
        };
        Ok(Some(if p.class.is_a("VIFPortProfileOpenVSwitch") {
            GuestProfile::OpenVSwitch {
                interface_id: req_str(p, "interface_id")?.to_string(),
                create_port: flag(p, "create_port"),
                create_tap: flag(p, "create_tap"),
            }
        } else if p.name() == "VIFPortProfile8021Qbg" {
            GuestProfile::Qbg {
                manager_id: int("manager_id")?,
                type_id: int("type_id")?,
                type_id_version: int("type_id_version")?,
                instance_id: req_str(p, "instance_id")?.to_string(),
            }
        } else if p.name() == "VIFPortProfile8021Qbh" {
            GuestProfile::Qbh {
                profile_id: req_str(p, "profile_id")?.to_string(),
            }
        } else {
            GuestProfile::Other(p.name())
        }))
    }
}

/// An optional interface-name field (`vif_name` of a VIFVHostUser is optional in os-vif).
pub fn opt_ifname(vif: &VersionedObject, field: &str) -> Result<Option<IfName>> {
    if vif.get_str(field).is_none() {
        return Ok(None);
    }
    ifname(vif, field).map(Some)
}

/// The Linux/OVS bridge a VIF names: `bridge_name`, else `network.bridge` (nova's
/// `nova_to_osvif_vif` copies the latter into the former, so both name the same bridge).
pub fn bridge_of(vif: &VersionedObject) -> Result<IfName> {
    if vif.get_str("bridge_name").is_some() {
        return ifname(vif, "bridge_name");
    }
    match vif.get_obj("network") {
        Some(n) if n.get_str("bridge").is_some() => ifname(n, "bridge"),
        _ => Err(BackendError::InvalidVif(format!(
            "{}: neither bridge_name nor network.bridge is set",
            vif.name()
        ))),
    }
}
