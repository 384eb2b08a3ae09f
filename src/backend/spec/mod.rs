//! Typed VIF specs: the os-vif object is read and validated once, here, into the values each
//! backend needs (names as [`IfName`], MACs as [`MacAddress`], PCI addresses as [`PciAddress`],
//! modes as enums). Backends never look a field up by its string name, so a typo in a field
//! name is a compile error and a bad value is refused before any syscall.
//!
//! This is netavark's `DriverInfo` → driver-struct step: the wire codec (`VersionedObject`)
//! stays oslo-faithful, and this module is its one checked boundary.

mod guest;
mod values;

use std::str::FromStr;

pub use guest::{
    bridge_of, network_mtu, network_vlan, opt_ifname, GuestProfile, HostDevType, HostDeviceVif,
};
pub use values::{DirectMode, SocketPath, VhostMode, VifMtu};

use super::{BackendError, Result};
use crate::types::{IfName, MacAddress, PciAddress};
use crate::vif::VersionedObject;

// ---- the field readers: the only string-keyed lookups of the backends ------------------

fn invalid(o: &VersionedObject, field: &str, why: impl std::fmt::Display) -> BackendError {
    BackendError::InvalidVif(format!("{}.{field}: {why}", o.name()))
}

fn req_str<'a>(o: &'a VersionedObject, field: &str) -> Result<&'a str> {
    o.get_str(field)
        .ok_or_else(|| BackendError::InvalidVif(format!("{}.{field} is not set", o.name())))
}

fn parse_field<T>(o: &VersionedObject, field: &str, s: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| invalid(o, field, e))
}

fn req<T>(o: &VersionedObject, field: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_field(o, field, req_str(o, field)?)
}

fn opt<T>(o: &VersionedObject, field: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    o.get_str(field)
        .map(|s| parse_field(o, field, s))
        .transpose()
}

/// An interface-name field; an over-long one gets its own error kind (callers match on it).
fn ifname(o: &VersionedObject, field: &str) -> Result<IfName> {
    let s = req_str(o, field)?;
    if s.len() > IfName::MAX_LEN {
        return Err(BackendError::IfNameTooLong {
            name: s.to_string(),
            len: s.len(),
        });
    }
    parse_field(o, field, s)
}

/// A boolean field, with its schema default when unset (os-vif never materialises defaults).
fn flag(o: &VersionedObject, field: &str) -> bool {
    o.get_or_default(field)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// `prefix + vif.id`, cut to 14 characters (os-vif's `NIC_NAME_LEN`), as os-vif names
/// vhu/vfr/qvo/qvb/qbr devices; refused if the id makes it an invalid interface name.
pub fn derived_name(prefix: &str, id: &str) -> Result<IfName> {
    const NIC_NAME_LEN: usize = 14;
    let s: String = format!("{prefix}{id}").chars().take(NIC_NAME_LEN).collect();
    s.parse()
        .map_err(|e| BackendError::InvalidVif(format!("VIF id {id:?} gives a bad name: {e}")))
}

// ---- per-backend specs ----------------------------------------------------------------

/// A TAP the host creates for the guest (VIFGeneric, and the tap of a VIFBridge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapVif {
    pub vif_name: IfName,
    pub address: Option<MacAddress>,
    pub mtu: VifMtu,
    /// The profile asks for a multi-queue tap (must match how the VMM opens it).
    pub multiqueue: bool,
    /// On unplug only detach the tap, do not delete it.
    pub preserve_on_delete: bool,
}

impl TryFrom<&VersionedObject> for TapVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        let multiqueue = vif
            .get_obj("port_profile")
            .is_some_and(|p| p.class.field("multiqueue").is_some() && flag(p, "multiqueue"));
        Ok(TapVif {
            vif_name: ifname(vif, "vif_name")?,
            address: opt(vif, "address")?,
            mtu: VifMtu::of(vif)?,
            multiqueue,
            preserve_on_delete: flag(vif, "preserve_on_delete"),
        })
    }
}

/// VIFBridge on the Linux bridge backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeVif {
    pub tap: TapVif,
    /// `bridge_name`, else `network.bridge`.
    pub bridge: IfName,
    /// os-vif's `should_provide_bridge and not multi_host`.
    pub network_provides_bridge: bool,
    /// `network.should_provide_vlan` (refused: not implemented).
    pub provide_vlan: bool,
}

impl TryFrom<&VersionedObject> for BridgeVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        let net = vif.get_obj("network");
        let bridge = match (vif.get_str("bridge_name"), net) {
            (Some(_), _) => ifname(vif, "bridge_name")?,
            (None, Some(n)) if n.get_str("bridge").is_some() => ifname(n, "bridge")?,
            _ => {
                return Err(BackendError::InvalidVif(
                    "neither bridge_name nor network.bridge is set".into(),
                ))
            }
        };
        Ok(BridgeVif {
            tap: TapVif::try_from(vif)?,
            bridge,
            network_provides_bridge: net
                .is_some_and(|n| flag(n, "should_provide_bridge") && !flag(n, "multi_host")),
            provide_vlan: net.is_some_and(|n| flag(n, "should_provide_vlan")),
        })
    }
}

/// VIFVHostUser without OVS: a socket some other process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhostUserVif {
    pub path: SocketPath,
    pub mode: VhostMode,
}

impl TryFrom<&VersionedObject> for VhostUserVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        Ok(VhostUserVif {
            path: req(vif, "path")?,
            mode: req(vif, "mode")?,
        })
    }
}

/// VIFDirect: a macvtap on the netdev of `dev_address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectVif {
    pub vif_name: IfName,
    pub mode: DirectMode,
    pub dev_address: PciAddress,
    pub address: Option<MacAddress>,
}

impl TryFrom<&VersionedObject> for DirectVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        Ok(DirectVif {
            vif_name: ifname(vif, "vif_name")?,
            mode: req(vif, "mode")?,
            dev_address: req(vif, "dev_address")?,
            address: opt(vif, "address")?,
        })
    }
}

/// Which kind of OVS port a VIF becomes, with the names os-vif derives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OvsPort {
    /// VIFOpenVSwitch: the port is `vif_name`. `hybrid_*` are the names a hybrid plug of
    /// the same VIF would have used, which unplug looks for (os-vif does the same).
    Tap {
        vif_name: IfName,
        hybrid_bridge: IfName,
        hybrid_port: IfName,
    },
    /// VIFVHostUser with an OVS profile: port `vhu<id>`.
    VhostUser {
        port: IfName,
        mode: VhostMode,
        path: SocketPath,
    },
    /// VIFBridge with an OVS profile (hybrid plug): Linux bridge `bridge_name`, veth
    /// `qvb<id>` (bridge side) / `qvo<id>` (OVS port).
    Hybrid {
        bridge_name: IfName,
        qvb: IfName,
        qvo: IfName,
    },
    /// VIFHostDevice: the VF's representor (kernel datapath) or `vfr<id>` (DPDK).
    HostDevice {
        dev_address: PciAddress,
        dpdk_port: IfName,
    },
}

/// A VIF on the OVS backend, before host state (sysfs, config) resolves it to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsVif {
    /// `vif.id`: the per-port bridge and its patch ports are named after it.
    pub id: String,
    pub address: MacAddress,
    pub interface_id: String,
    /// The profile's datapath type, if it names one.
    pub datapath_type: Option<String>,
    /// `network.bridge`: the integration bridge.
    pub bridge: IfName,
    pub mtu: VifMtu,
    pub create_port: bool,
    pub create_tap: bool,
    pub multiqueue: bool,
    pub port: OvsPort,
}

impl TryFrom<&VersionedObject> for OvsVif {
    type Error = BackendError;
    fn try_from(vif: &VersionedObject) -> Result<Self> {
        let profile = vif.get_obj("port_profile").ok_or_else(|| {
            BackendError::InvalidVif(
                "A port profile is mandatory for the OpenVSwitch plugin".into(),
            )
        })?;
        if !profile.class.is_a("VIFPortProfileOpenVSwitch") {
            return Err(BackendError::InvalidVif(format!(
                "Port profile {} is not a subclass of VIFPortProfileOpenVSwitch",
                profile.name()
            )));
        }
        let network = vif
            .get_obj("network")
            .ok_or_else(|| BackendError::InvalidVif("VIF network is required".into()))?;
        let id = req_str(vif, "id")?;
        let port = match vif.name() {
            "VIFOpenVSwitch" => OvsPort::Tap {
                vif_name: ifname(vif, "vif_name")?,
                hybrid_bridge: derived_name("qbr", id)?,
                hybrid_port: derived_name("qvo", id)?,
            },
            "VIFVHostUser" => OvsPort::VhostUser {
                port: derived_name("vhu", id)?,
                mode: req(vif, "mode")?,
                path: req(vif, "path")?,
            },
            "VIFBridge" => OvsPort::Hybrid {
                bridge_name: ifname(vif, "bridge_name")?,
                qvb: derived_name("qvb", id)?,
                qvo: derived_name("qvo", id)?,
            },
            "VIFHostDevice" => OvsPort::HostDevice {
                dev_address: req(vif, "dev_address")?,
                dpdk_port: derived_name("vfr", id)?,
            },
            other => {
                return Err(BackendError::Unsupported(format!(
                    "the ovs backend does not plug {other}"
                )))
            }
        };
        Ok(OvsVif {
            id: id.to_string(),
            address: req(vif, "address")?,
            interface_id: req_str(profile, "interface_id")?.to_string(),
            datapath_type: profile
                .get_str("datapath_type")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            bridge: ifname(network, "bridge")?,
            mtu: VifMtu::of(vif)?,
            create_port: flag(profile, "create_port"),
            create_tap: flag(profile, "create_tap"),
            multiqueue: flag(profile, "multiqueue"),
            port,
        })
    }
}

/// The instance a VIF is plugged for (os-vif `InstanceInfo`).
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
}

impl TryFrom<&VersionedObject> for Instance {
    type Error = BackendError;
    fn try_from(o: &VersionedObject) -> Result<Self> {
        if o.name() != "InstanceInfo" {
            return Err(BackendError::InvalidVif(format!(
                "expected an InstanceInfo object, got {}",
                o.name()
            )));
        }
        Ok(Instance {
            uuid: req_str(o, "uuid")?.to_string(),
            name: o.get_str("name").unwrap_or_default().to_string(),
            project_id: o.get_str("project_id").unwrap_or_default().to_string(),
        })
    }
}

impl Instance {
    /// Kept for callers of the former constructor; same as `Instance::try_from(o)`.
    pub fn from_object(o: &VersionedObject) -> Result<Self> {
        Self::try_from(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_follow_os_vif() {
        let id = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
        assert_eq!(derived_name("vhu", id).unwrap().as_str(), "vhu6f0f6f2c-7c");
        assert_eq!(derived_name("vfr", id).unwrap().as_str(), "vfr6f0f6f2c-7c");
        assert!(derived_name("qvo", "a/b").is_err());
        assert!(derived_name("qvo", "a%d").is_err());
    }

    fn vif(class: &str, data: serde_json::Value) -> VersionedObject {
        let changes: Vec<String> = data.as_object().unwrap().keys().cloned().collect();
        let prim = serde_json::json!({
            "versioned_object.name": class,
            "versioned_object.namespace": "os_vif",
            "versioned_object.version": crate::vif::registry::class_by_name(class).unwrap().version,
            "versioned_object.data": data,
            "versioned_object.changes": changes,
        });
        crate::vif::from_primitive(&prim, crate::vif::Mode::Strict).unwrap()
    }

    #[test]
    fn direct_spec_is_typed_once() {
        let v = vif(
            "VIFDirect",
            serde_json::json!({"id": "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01", "vif_name": "mvt0",
                "mode": "passthrough", "dev_address": "0000:3b:02.1",
                "address": "FA:16:3E:00:00:01"}),
        );
        let d = DirectVif::try_from(&v).unwrap();
        assert_eq!(d.vif_name.as_str(), "mvt0");
        assert_eq!(d.mode, DirectMode::Passthrough);
        assert_eq!(d.dev_address.to_string(), "0000:3b:02.1");
        assert_eq!(d.address.unwrap().to_string(), "fa:16:3e:00:00:01");

        let v = vif(
            "VIFDirect",
            serde_json::json!({"vif_name": "mvt%d", "mode": "vepa", "dev_address": "0000:3b:02.1"}),
        );
        let e = DirectVif::try_from(&v).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid VIF: VIFDirect.vif_name: invalid interface name"),
            "{e}"
        );
    }

    #[test]
    fn bridge_name_falls_back_to_the_network() {
        let net = serde_json::json!({
            "versioned_object.name": "Network",
            "versioned_object.namespace": "os_vif",
            "versioned_object.version": "1.1",
            "versioned_object.data": {"id": "b82c1929-051e-481d-8110-4669916c7916",
                "bridge": "br100", "should_provide_bridge": true, "mtu": 9000},
            "versioned_object.changes": ["id", "bridge", "should_provide_bridge", "mtu"],
        });
        let v = vif(
            "VIFBridge",
            serde_json::json!({"vif_name": "tap0", "network": net}),
        );
        let b = BridgeVif::try_from(&v).unwrap();
        assert_eq!(b.bridge.as_str(), "br100");
        assert!(b.network_provides_bridge && !b.provide_vlan && !b.tap.preserve_on_delete);
        assert_eq!(b.tap.mtu, VifMtu(Some(9000)));
        let v = vif("VIFBridge", serde_json::json!({"vif_name": "tap0"}));
        let e = BridgeVif::try_from(&v).unwrap_err().to_string();
        assert!(e.contains("neither bridge_name nor network.bridge"), "{e}");
    }
}
