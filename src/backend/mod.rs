//! Software VIF backends: Linux bridge, generic TAP, Open vSwitch and vhost-user without OVS.
//!
//! A VIF object picks its backend by class and port profile ([`select`]), not by the
//! `plugin` string alone: the same VIFVHostUser is an OVS port with an OVS profile and a
//! bare socket with an FP* profile, and os-vif's plugin names do not say that.

pub mod bridge;
pub mod direct;
pub mod error;
pub mod ovs;
pub(crate) mod prior;
pub mod rtnl;
pub mod rundir;
pub mod spec;
pub mod tap;
pub mod vhostuser;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value as J};

pub use error::{BackendError, Result};
pub use spec::Instance;

use crate::vif::VersionedObject;

/// Host-wide settings, the equivalent of os-vif's `[os_vif_ovs]` options plus ours.
#[derive(Debug, Clone)]
pub struct Config {
    /// OVSDB remote: `unix:PATH`, `tcp:IP[:PORT]` or `ssl:IP[:PORT]` (os-vif's
    /// `ovsdb_connection`).
    pub ovsdb: String,
    /// Key, certificate and CA for an `ssl:` remote.
    pub ovsdb_tls: Option<ovs::remote::TlsFiles>,
    /// How long to wait for OVSDB replies and for ovs-vswitchd to apply a change.
    pub ovs_timeout: Duration,
    /// Put new OVS ports on VLAN 4095 until an agent wires them (os-vif `isolate_vif`).
    pub isolate_vif: bool,
    /// Plug a VIFOpenVSwitch into a bridge of its own (`pb<id>`) joined to the integration
    /// bridge by a patch-port pair (os-vif `per_port_bridge`, experimental there too).
    pub per_port_bridge: bool,
    /// MTU when `network.mtu` is unset or 0 (os-vif `network_device_mtu`).
    pub network_device_mtu: u32,
    /// Create a missing Linux bridge even when the network does not ask for it.
    pub create_bridge: bool,
    /// Datapath for a new OVS bridge when the profile has none (os-vif forces `system`).
    pub default_datapath_type: String,
    /// `QoS.type` of the row os-vif attaches to a new port whose profile datapath is
    /// `system` (os-vif `default_qos_type`; `linux-noop` leaves the qdisc to the operator).
    pub default_qos_type: String,
    /// The directory that plays the role of `/` for sysfs reads (representor discovery, the
    /// netdev of a VIFDirect's dev_address): `/` on a host, a fixture tree in tests. The same
    /// convention as [`crate::sysfs::SysfsRoot`] and every other vifman command.
    pub sysfs_root: PathBuf,
    /// vhost-user without OVS: fail the plug unless a peer already listens on the socket.
    pub require_peer: bool,
    /// Group that owns a vhost-user socket directory we create (e.g. the QEMU group).
    pub socket_dir_gid: Option<u32>,
    /// vifman's run-time directory: the per-object lock files that serialise concurrent
    /// plug/unplug, and the record of socket directories vifman created.
    pub run_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ovsdb: "unix:/var/run/openvswitch/db.sock".into(),
            ovsdb_tls: None,
            ovs_timeout: Duration::from_secs(120),
            isolate_vif: false,
            per_port_bridge: false,
            network_device_mtu: 1500,
            create_bridge: false,
            default_datapath_type: "system".into(),
            default_qos_type: ovs::qos::DEFAULT_QOS_TYPE.into(),
            sysfs_root: PathBuf::from("/"),
            require_peer: false,
            socket_dir_gid: None,
            run_dir: rundir::default_dir(),
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
        Box::new(ovs::Ovs::new(cfg.clone())),
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
        "VIFOpenVSwitch" | "VIFHostDevice" => Box::new(ovs::Ovs::new(cfg.clone())),
        "VIFVHostUser" if fp_profile || profile.is_none() => {
            Box::new(vhostuser::VhostUser::new(cfg.clone()))
        }
        "VIFVHostUser" if ovs_profile => Box::new(ovs::Ovs::new(cfg.clone())),
        "VIFBridge" if ovs_profile => Box::new(ovs::Ovs::new(cfg.clone())),
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
    let plugins = all(cfg).iter().map(|b| b.describe()).collect();
    info_object("HostInfo", &[], vec![("plugin_info", plugins)])
}

/// Builds a `HostPluginInfo`. We advertise 1.0 up to the version we implement, unlike
/// os-vif's plugins whose 1.0–1.0 ranges fail their own `get_common_version`.
pub(crate) fn plugin_info(name: &str, vifs: &[(&str, &[&str])]) -> VersionedObject {
    let cur = |c: &str| {
        crate::vif::registry::class_by_name(c)
            .map(|d| d.version)
            .unwrap_or("1.0")
    };
    let vif_infos = vifs
        .iter()
        .map(|(vif, profiles)| {
            let pps = profiles
                .iter()
                .map(|p| {
                    info_object(
                        "HostPortProfileInfo",
                        &[
                            ("profile_object_name", p),
                            ("min_version", "1.0"),
                            ("max_version", cur(p)),
                        ],
                        vec![],
                    )
                })
                .collect();
            info_object(
                "HostVIFInfo",
                &[
                    ("vif_object_name", vif),
                    ("min_version", "1.0"),
                    ("max_version", cur(vif)),
                ],
                vec![("supported_port_profiles", pps)],
            )
        })
        .collect();
    info_object(
        "HostPluginInfo",
        &[("plugin_name", name)],
        vec![("vif_info", vif_infos)],
    )
}

/// Builds one of the `Host*Info` objects from this module's constant class and field names.
/// Only a programming error (a misspelt class or field) can make it fail, which is why it
/// is the one place that panics; `host_info_objects_build` builds every one of them.
fn info_object(
    class: &str,
    strs: &[(&str, &str)],
    lists: Vec<(&str, Vec<VersionedObject>)>,
) -> VersionedObject {
    let build = || -> std::result::Result<VersionedObject, crate::vif::OsVifError> {
        let mut o = VersionedObject::new(class)?;
        for (f, v) in strs {
            o.set(f, *v)?;
        }
        for (f, l) in lists {
            o.set_obj_list(f, l)?;
        }
        Ok(o)
    };
    build().unwrap_or_else(|e| panic!("building os-vif {class}: {e}"))
}

// ---- small shared helpers ------------------------------------------------------------

pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;

/// The sysfs root of the configuration, as the sysfs module wants it.
pub(crate) fn sysfs_root(cfg: &Config) -> Result<crate::sysfs::SysfsRoot> {
    crate::sysfs::SysfsRoot::new(&cfg.sysfs_root).map_err(|e| BackendError::Sysfs {
        path: cfg.sysfs_root.display().to_string(),
        msg: e.to_string(),
    })
}

pub(crate) fn lookup_err(e: crate::sysfs::representor::LookupError) -> BackendError {
    BackendError::Sysfs {
        path: e.path,
        msg: e.msg,
    }
}

/// Takes the per-object locks of one plug/unplug (see [`rundir::lock`]). The wait is bounded
/// by the OVS timeout, since the holder may itself be waiting for ovs-vswitchd.
pub(crate) fn lock(cfg: &Config, keys: &[rundir::LockKey]) -> Result<rundir::Locks> {
    rundir::lock(
        &cfg.run_dir,
        keys,
        cfg.ovs_timeout.max(Duration::from_secs(30)),
    )
}

/// Turns IPv6 off on a host-side netdev, as os-vif does for the taps and bridges it makes:
/// the host must not autoconfigure addresses on (or answer ND from) a guest's port. A kernel
/// without IPv6 has nothing to disable.
pub fn disable_ipv6(name: &crate::types::IfName) -> Result<()> {
    crate::host::sysctl::disable_ipv6(name)
        .map(drop)
        .map_err(|error| BackendError::Tap {
            op: format!("disable IPv6 on {name}"),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_info_objects_build() {
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
