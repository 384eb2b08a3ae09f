//! Software VIF backends: Linux bridge, generic TAP, Open vSwitch and vhost-user without OVS.
//!
//! A VIF object picks its backend by class and port profile ([`select`]), not by the
//! `plugin` string alone: the same VIFVHostUser is an OVS port with an OVS profile and a
//! bare socket with an FP* profile, and os-vif's plugin names do not say that.

pub mod bridge;
pub mod direct;
pub mod error;
pub mod ovs;
pub mod rtnl;
pub mod sysfs;
pub mod tap;
pub mod vhostuser;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value as J};

pub use error::{BackendError, Result};

use crate::vif::VersionedObject;

/// The instance a VIF is plugged for (os-vif `InstanceInfo`).
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
}

impl Instance {
    pub fn from_object(o: &VersionedObject) -> Result<Self> {
        if o.name() != "InstanceInfo" {
            return Err(BackendError::InvalidVif(format!(
                "expected an InstanceInfo object, got {}",
                o.name()
            )));
        }
        let uuid = o
            .get_str("uuid")
            .ok_or_else(|| BackendError::InvalidVif("InstanceInfo.uuid is not set".into()))?;
        Ok(Instance {
            uuid: uuid.to_string(),
            name: o.get_str("name").unwrap_or_default().to_string(),
            project_id: o.get_str("project_id").unwrap_or_default().to_string(),
        })
    }
}

/// Host-wide settings, the equivalent of os-vif's `[os_vif_ovs]` options plus ours.
#[derive(Debug, Clone)]
pub struct Config {
    /// OVSDB endpoint, `unix:PATH`.
    pub ovsdb: String,
    /// How long to wait for OVSDB replies and for ovs-vswitchd to apply a change.
    pub ovs_timeout: Duration,
    /// Put new OVS ports on VLAN 4095 until an agent wires them (os-vif `isolate_vif`).
    pub isolate_vif: bool,
    /// MTU when `network.mtu` is unset or 0 (os-vif `network_device_mtu`).
    pub network_device_mtu: u32,
    /// Create a missing Linux bridge even when the network does not ask for it.
    pub create_bridge: bool,
    /// Datapath for a new OVS bridge when the profile has none (os-vif forces `system`).
    pub default_datapath_type: String,
    /// Root of sysfs, for representor discovery (a tempdir tree in tests).
    pub sysfs_root: PathBuf,
    /// vhost-user without OVS: fail the plug unless a peer already listens on the socket.
    pub require_peer: bool,
    /// Group that owns a vhost-user socket directory we create (e.g. the QEMU group).
    pub socket_dir_gid: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ovsdb: "unix:/var/run/openvswitch/db.sock".into(),
            ovs_timeout: Duration::from_secs(120),
            isolate_vif: false,
            network_device_mtu: 1500,
            create_bridge: false,
            default_datapath_type: "system".into(),
            sysfs_root: PathBuf::from("/sys"),
            require_peer: false,
            socket_dir_gid: None,
        }
    }
}

/// What a plug/unplug did, for the CLI to print and tests to inspect.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub backend: &'static str,
    /// Human-readable steps that changed something, in order ("created tap tap0", ...).
    pub actions: Vec<String>,
    /// Backend-specific facts (port name, socket path and mode, ofport, ...).
    pub details: serde_json::Map<String, J>,
}

impl Report {
    pub fn new(backend: &'static str) -> Self {
        Report {
            backend,
            ..Default::default()
        }
    }
    pub fn to_json(&self) -> J {
        json!({"backend": self.backend, "actions": self.actions, "details": self.details})
    }
}

/// One software backend. `plug` is idempotent and `unplug` of something absent succeeds.
/// A failed `plug` undoes its own steps before returning.
pub trait Backend {
    /// The os-vif plugin name this backend answers to in `host-info`.
    fn name(&self) -> &'static str;
    /// os-vif `HostPluginInfo` for this backend.
    fn describe(&self) -> VersionedObject;
    fn plug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report>;
    fn unplug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report>;
}

/// All backends, sorted by plugin name (the order os-vif's `host_info` uses).
pub fn all(cfg: &Config) -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(bridge::LinuxBridge::new(cfg.clone())),
        Box::new(ovs::plug::Ovs::new(cfg.clone())),
        Box::new(bridge::Tap::new(cfg.clone())),
        Box::new(vhostuser::VhostUser::new(cfg.clone())),
        Box::new(direct::Direct::new(cfg.clone())),
    ]
}

/// Picks the backend for a VIF by its class and port profile.
pub fn select(vif: &VersionedObject, cfg: &Config) -> Result<Box<dyn Backend>> {
    let profile = vif.get_obj("port_profile");
    let pname = profile.map(|p| p.name());
    let ovs_profile = profile.is_some_and(|p| p.class.is_a("VIFPortProfileOpenVSwitch"));
    let fp_profile = matches!(
        pname,
        Some("VIFPortProfileFPTap" | "VIFPortProfileFPBridge" | "VIFPortProfileFPOpenVSwitch")
    );
    let b: Box<dyn Backend> = match vif.name() {
        "VIFGeneric" => Box::new(bridge::Tap::new(cfg.clone())),
        "VIFOpenVSwitch" | "VIFHostDevice" => Box::new(ovs::plug::Ovs::new(cfg.clone())),
        "VIFVHostUser" if fp_profile || profile.is_none() => {
            Box::new(vhostuser::VhostUser::new(cfg.clone()))
        }
        "VIFVHostUser" if ovs_profile => Box::new(ovs::plug::Ovs::new(cfg.clone())),
        "VIFBridge" if ovs_profile => Box::new(ovs::plug::Ovs::new(cfg.clone())),
        "VIFBridge" => Box::new(bridge::LinuxBridge::new(cfg.clone())),
        "VIFDirect" => Box::new(direct::Direct::new(cfg.clone())),
        other => {
            return Err(BackendError::Unsupported(format!(
                "no software backend for {other} with port profile {}",
                pname.unwrap_or("(none)")
            )))
        }
    };
    Ok(b)
}

/// os-vif `HostInfo` for all backends.
pub fn host_info(cfg: &Config) -> VersionedObject {
    let mut hi = VersionedObject::new("HostInfo").expect("HostInfo registered");
    let plugins = all(cfg).iter().map(|b| b.describe()).collect();
    hi.set_obj_list("plugin_info", plugins)
        .expect("HostPluginInfo list");
    hi
}

/// Builds a `HostPluginInfo`. We advertise 1.0 up to the version we implement, unlike
/// os-vif's plugins whose 1.0–1.0 ranges fail their own `get_common_version`.
pub(crate) fn plugin_info(name: &str, vifs: &[(&str, &[&str])]) -> VersionedObject {
    let cur = |c: &str| {
        crate::vif::schema::class_by_name(c)
            .map(|d| d.version)
            .unwrap_or("1.0")
    };
    let mut vif_infos = Vec::new();
    for (vif, profiles) in vifs {
        let mut vi = VersionedObject::new("HostVIFInfo").expect("HostVIFInfo");
        vi.set("vif_object_name", *vif).expect("str");
        vi.set("min_version", "1.0").expect("str");
        vi.set("max_version", cur(vif)).expect("str");
        let pps = profiles
            .iter()
            .map(|p| {
                let mut pi = VersionedObject::new("HostPortProfileInfo").expect("HPPI");
                pi.set("profile_object_name", *p).expect("str");
                pi.set("min_version", "1.0").expect("str");
                pi.set("max_version", cur(p)).expect("str");
                pi
            })
            .collect();
        vi.set_obj_list("supported_port_profiles", pps)
            .expect("profiles");
        vif_infos.push(vi);
    }
    let mut pi = VersionedObject::new("HostPluginInfo").expect("HostPluginInfo");
    pi.set("plugin_name", name).expect("str");
    pi.set_obj_list("vif_info", vif_infos).expect("vif_info");
    pi
}

// ---- small shared helpers ------------------------------------------------------------

/// Linux's IFNAMSIZ minus the NUL; checked up front so the error names the field instead
/// of an opaque EINVAL from the kernel.
pub fn check_ifname(name: &str) -> Result<()> {
    if name.len() > 15 {
        return Err(BackendError::IfNameTooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(BackendError::InvalidVif(format!(
            "{name:?} is not a valid interface name"
        )));
    }
    Ok(())
}

pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;

/// `network.mtu` if set and non-zero, else the configured default (os-vif's rule).
pub fn vif_mtu(vif: &VersionedObject, cfg: &Config, ifname: &str) -> Result<u32> {
    let mtu = vif
        .get_obj("network")
        .and_then(|n| n.get("mtu"))
        .and_then(|v| v.as_int())
        .filter(|m| *m != 0)
        .unwrap_or(cfg.network_device_mtu as i64);
    if !(MIN_MTU as i64..=MAX_MTU as i64).contains(&mtu) {
        return Err(BackendError::MtuOutOfRange {
            name: ifname.to_string(),
            mtu: mtu.clamp(0, u32::MAX as i64) as u32,
            min: MIN_MTU,
            max: MAX_MTU,
        });
    }
    Ok(mtu as u32)
}

pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut out = [0u8; 6];
    if parts.len() != 6 {
        return Err(BackendError::InvalidVif(format!("bad MAC address {s:?}")));
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16)
            .map_err(|_| BackendError::InvalidVif(format!("bad MAC address {s:?}")))?;
    }
    Ok(out)
}

/// Turns IPv6 off on a host-side netdev, as os-vif does for the taps and bridges it makes:
/// the host must not autoconfigure addresses on (or answer ND from) a guest's port.
/// There is no rtnetlink attribute for this, hence the sysctl, which resolves in the
/// calling thread's network namespace. A kernel without IPv6 has nothing to disable.
pub fn disable_ipv6(name: &str) -> Result<()> {
    let _s = tracing::debug_span!("disable_ipv6", name).entered();
    let p = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&p, "1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackendError::Tap {
            op: format!("write {p}"),
            error: e,
        }),
    }
}

pub(crate) fn req_str<'a>(o: &'a VersionedObject, field: &str) -> Result<&'a str> {
    o.get_str(field)
        .ok_or_else(|| BackendError::InvalidVif(format!("{}.{field} is not set", o.name())))
}

pub(crate) fn get_bool(o: &VersionedObject, field: &str) -> bool {
    o.get_or_default(field)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_limits() {
        assert!(check_ifname("tap0123456789ab").is_ok());
        let e = check_ifname("tap0123456789abc").unwrap_err();
        assert!(e.to_string().contains("16 bytes"), "{e}");
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("").is_err());
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("FA-16-3e:00:00:0a").unwrap(),
            [0xfa, 0x16, 0x3e, 0, 0, 0xa]
        );
        assert!(parse_mac("fa:16:3e:00:00").is_err());
    }

    #[test]
    fn host_info_lists_backends_sorted() {
        let hi = host_info(&Config::default());
        let prim = hi.to_primitive(None, None).unwrap();
        let names: Vec<_> = prim["versioned_object.data"]["plugin_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["versioned_object.data"]["plugin_name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.contains(&"ovs".to_string()));
    }
}
