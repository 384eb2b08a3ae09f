//! Typed VIF specs: the os-vif object is read and validated once, here, into the values each
//! backend needs (names as [`IfName`], MACs as [`MacAddress`], PCI addresses as [`PciAddress`],
//! modes as enums). Backends never look a field up by its string name, so a typo in a field
//! name is a compile error and a bad value is refused before any syscall.
//!
//! This is netavark's `DriverInfo` → driver-struct step: the wire codec (`VersionedObject`)
//! stays oslo-faithful, and this module is its one checked boundary.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use super::{BackendError, Result, MAX_MTU, MIN_MTU};
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

// ---- shared parts ---------------------------------------------------------------------

/// `network.mtu` as the VIF states it: `None` when unset or 0, where os-vif falls back to the
/// host default (`network_device_mtu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VifMtu(pub Option<u32>);

impl VifMtu {
    fn of(vif: &VersionedObject) -> Result<Self> {
        let Some(net) = vif.get_obj("network") else {
            return Ok(VifMtu(None));
        };
        match net.get("mtu").and_then(|v| v.as_int()) {
            None | Some(0) => Ok(VifMtu(None)),
            Some(m) if (MIN_MTU as i64..=MAX_MTU as i64).contains(&m) => Ok(VifMtu(Some(m as u32))),
            Some(m) => Err(BackendError::MtuOutOfRange {
                name: vif.get_str("vif_name").unwrap_or(vif.name()).to_string(),
                mtu: m,
                min: MIN_MTU,
                max: MAX_MTU,
            }),
        }
    }

    /// The MTU to apply: the VIF's, else the host default, which is range-checked here
    /// because it comes from the command line, not the VIF.
    pub fn resolve(self, default: u32, name: &str) -> Result<u32> {
        let mtu = self.0.unwrap_or(default);
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(BackendError::MtuOutOfRange {
                name: name.to_string(),
                mtu: mtu.into(),
                min: MIN_MTU,
                max: MAX_MTU,
            });
        }
        Ok(mtu)
    }
}

/// A vhost-user socket path: absolute, normalised (no `.`, `..`, empty or trailing
/// components), no NUL, and short enough for `sun_path`. Normalised means the path vifman
/// checks is the path QEMU and the vswitch will use; no `..` means it cannot be steered out
/// of the directory it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPath(PathBuf);

impl SocketPath {
    /// `sizeof(sun_path)` minus the NUL.
    pub const MAX_LEN: usize = 107;

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The directory holding the socket (never empty: the path is absolute with a file name).
    pub fn dir(&self) -> &Path {
        self.0.parent().unwrap_or(Path::new("/"))
    }
}

impl FromStr for SocketPath {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.contains('\0') {
            return Err("contains NUL".into());
        }
        if !s.starts_with('/') {
            return Err(format!("{s:?} is not absolute"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!(
                "{s:?} is {} bytes; a unix socket path allows at most {}",
                s.len(),
                Self::MAX_LEN
            ));
        }
        let p = Path::new(s);
        let normal = p
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)));
        // `components()` silently drops `.`, `//` and a trailing `/`: compare spellings too.
        let rebuilt: PathBuf = p.components().collect();
        if !normal || rebuilt.as_os_str() != p.as_os_str() || p.file_name().is_none() {
            return Err(format!(
                "{s:?} is not a normalised path (no '.', '..', '//' or trailing '/')"
            ));
        }
        Ok(SocketPath(p.to_path_buf()))
    }
}

impl std::fmt::Display for SocketPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// `VIFVHostUser.mode`: QEMU's role on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VhostMode {
    /// QEMU connects; the vswitch/backend listens.
    Client,
    /// QEMU listens; the vswitch/backend connects.
    Server,
}

impl VhostMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VhostMode::Client => "client",
            VhostMode::Server => "server",
        }
    }
}

impl FromStr for VhostMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "client" => Ok(VhostMode::Client),
            "server" => Ok(VhostMode::Server),
            m => Err(format!("{m:?} is neither client nor server")),
        }
    }
}

/// `VIFDirect.mode`, with the IFLA_MACVLAN_MODE value it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectMode {
    Vepa,
    Bridge,
    Passthrough,
}

impl DirectMode {
    /// `MACVLAN_MODE_*` from `linux/if_link.h`.
    pub fn macvlan_mode(self) -> u32 {
        match self {
            DirectMode::Vepa => 2,
            DirectMode::Bridge => 4,
            DirectMode::Passthrough => 8,
        }
    }
}

impl FromStr for DirectMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "vepa" => Ok(DirectMode::Vepa),
            "bridge" => Ok(DirectMode::Bridge),
            "passthrough" => Ok(DirectMode::Passthrough),
            m => Err(format!("{m:?} is not vepa, bridge or passthrough")),
        }
    }
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
    fn socket_paths() {
        for ok in [
            "/run/vhu/sock0",
            "/s",
            "/var/run/openvswitch/vhu6f0f6f2c-7c",
        ] {
            assert!(ok.parse::<SocketPath>().is_ok(), "{ok}");
        }
        for bad in [
            "rel/sock",
            "",
            "/run/../etc/x",
            "/run/./x",
            "/run//x",
            "/run/x/",
            "/",
            "/run/a\0b",
            &format!("/{}", "a".repeat(120)),
        ] {
            assert!(bad.parse::<SocketPath>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "/run/vhu/s".parse::<SocketPath>().unwrap().dir(),
            Path::new("/run/vhu")
        );
    }

    #[test]
    fn derived_names_follow_os_vif() {
        let id = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";
        assert_eq!(derived_name("vhu", id).unwrap().as_str(), "vhu6f0f6f2c-7c");
        assert_eq!(derived_name("vfr", id).unwrap().as_str(), "vfr6f0f6f2c-7c");
        assert!(derived_name("qvo", "a/b").is_err());
        assert!(derived_name("qvo", "a%d").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!("vepa".parse::<DirectMode>().unwrap().macvlan_mode(), 2);
        assert_eq!("bridge".parse::<DirectMode>().unwrap().macvlan_mode(), 4);
        assert_eq!(
            "passthrough".parse::<DirectMode>().unwrap().macvlan_mode(),
            8
        );
        assert!("private".parse::<DirectMode>().is_err());
        assert_eq!("server".parse::<VhostMode>(), Ok(VhostMode::Server));
        assert!("both".parse::<VhostMode>().is_err());
    }

    #[test]
    fn mtu_default_is_checked() {
        assert_eq!(VifMtu(None).resolve(1500, "t").unwrap(), 1500);
        assert_eq!(VifMtu(Some(9000)).resolve(1500, "t").unwrap(), 9000);
        let e = VifMtu(None).resolve(20, "tap0").unwrap_err();
        assert!(e.to_string().contains("MTU 20 for tap0"), "{e}");
    }
}
