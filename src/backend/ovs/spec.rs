//! From a validated [`OvsVif`] to the [`PortSpec`] of one OVS port: os-vif's naming,
//! external_ids, isolate_vif, MTU, create_port/create_tap, vhost-user port types and
//! switchdev representors (which need the host's sysfs, hence this step is separate from the
//! VIF validation in `backend::spec`).

use crate::backend::bridge::TapSpec;
use crate::backend::spec::{derived_name, OvsPort, OvsVif, VhostMode};
use crate::backend::{lookup_err, sysfs_root, BackendError, Config, Instance, Result};
use crate::sysfs::representor;
use crate::types::IfName;

/// Everything one OVS port needs, resolved from the VIF before anything is touched.
#[derive(Debug, Clone)]
pub struct PortSpec {
    pub bridge: IfName,
    pub datapath_type: String,
    /// The profile named a datapath: an existing bridge is switched to it (os-vif does so).
    pub datapath_explicit: bool,
    pub port: IfName,
    /// `Interface.type`: None for a kernel netdev, else `dpdkvhostuser`, `dpdk`, ...
    pub iface_type: Option<String>,
    pub options: Vec<(String, String)>,
    pub external_ids: Vec<(String, String)>,
    pub mtu: u32,
    /// vhost-user ports get `mtu_request`; kernel netdevs get their MTU over netlink.
    pub mtu_request: bool,
    /// Without create_port os-vif only ensures the bridge and leaves the port to libvirt.
    pub create_port: bool,
    pub create_tap: Option<TapSpec>,
    /// A TAP port whose netdev the hypervisor creates later (create_port without
    /// create_tap, nova's delegated port creation): until it appears OVS reports "could not
    /// open network device … (No such device)" on the Interface, which os-vif does not treat
    /// as a failure, and neither does vifman (it reports it as pending).
    pub tap_later: bool,
    /// Delete the kernel netdev on unplug (taps, not representors).
    pub delete_netdev: bool,
    /// A kernel representor: set up on plug, down on unplug.
    pub representor: bool,
    pub isolate: bool,
    /// The `QoS` row os-vif gives a new port (`default_qos_type`) when the profile's
    /// datapath — `system` when it names none, even for vhost-user — is `system`.
    pub qos_type: Option<String>,
    /// Write `external_ids` on the port's Interface (os-vif's `set_ids`). Off on a
    /// per-port bridge, where the integration-side patch port carries them instead.
    pub set_ids: bool,
    /// os-vif `per_port_bridge`: `bridge` is the VIF's own bridge, joined to the
    /// integration bridge by this patch pair.
    pub patch: Option<PatchPair>,
}

/// The patch-port pair between a per-port bridge (`PortSpec::bridge`) and the
/// integration bridge, written in the same transaction as the port.
#[derive(Debug, Clone)]
pub struct PatchPair {
    /// `network.bridge`.
    pub int_bridge: IfName,
    /// `ibp<id>` on the integration bridge: what Neutron/OVN sees as the VIF's port, hence
    /// it carries the `external_ids` (with `iface-id` = `vif.id`, as os-vif writes).
    pub int_port: PatchName,
    /// `pbp<id>` on the per-port bridge.
    pub port_port: PatchName,
    pub external_ids: Vec<(String, String)>,
    /// isolate_vif: a new `ibp` port gets `tag=4095` (only the tag, as in os-vif).
    pub isolate: bool,
}

/// The name of a patch port: `prefix + vif.id`, cut to 64 characters as os-vif does.
/// Patch ports have no kernel netdev, so IFNAMSIZ does not apply, but a name that OVS
/// and its tools cannot round-trip (whitespace, control characters, `/`) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchName(String);

impl PatchName {
    pub const MAX_LEN: usize = 64;

    pub fn derive(prefix: &str, id: &str) -> Result<PatchName> {
        let s: String = format!("{prefix}{id}")
            .chars()
            .take(Self::MAX_LEN)
            .collect();
        if id.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/')
        {
            return Err(BackendError::InvalidVif(format!(
                "VIF id {id:?} gives a bad patch port name {s:?}"
            )));
        }
        Ok(PatchName(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PatchName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves a VIF to its port, applying os-vif's preconditions and naming.
pub fn port_spec(vif: &OvsVif, instance: &Instance, cfg: &Config) -> Result<PortSpec> {
    let bridge = vif.bridge.clone();
    let tbr = bridge.as_str().starts_with("tbr-");
    let mut external_ids = vec![
        ("iface-id".to_string(), vif.interface_id.clone()),
        ("iface-status".into(), "active".into()),
        ("attached-mac".into(), vif.address.to_string()),
        ("vm-uuid".into(), instance.uuid.clone()),
    ];
    if tbr {
        external_ids.push(("bridge_name".into(), bridge.to_string()));
    }
    let dp = vif.datapath_type.as_deref();
    let mut spec = PortSpec {
        bridge,
        datapath_type: dp.unwrap_or(&cfg.default_datapath_type).to_string(),
        datapath_explicit: dp.is_some(),
        // Set per kind below.
        port: vif.bridge.clone(),
        iface_type: None,
        options: vec![],
        external_ids,
        mtu: 0,
        mtu_request: false,
        create_port: true,
        create_tap: None,
        tap_later: false,
        delete_netdev: false,
        representor: false,
        isolate: cfg.isolate_vif && !tbr,
        // os-vif's `supports_tc_qdisc`: the profile's datapath with its own default, not
        // the datapath the bridge gets.
        qos_type: (dp.unwrap_or("system") == "system").then(|| cfg.default_qos_type.clone()),
        set_ids: true,
        patch: None,
    };
    match &vif.port {
        OvsPort::Tap { vif_name, .. } => {
            spec.port = vif_name.clone();
            spec.create_port = vif.create_port;
            spec.delete_netdev = true;
            if cfg.per_port_bridge {
                port_bridge(&mut spec, vif, instance, cfg)?;
            }
        }
        OvsPort::VhostUser { port, mode, path } => {
            spec.port = port.clone();
            spec.mtu_request = true;
            if dp.is_none() {
                spec.datapath_type = "netdev".into();
            }
            match mode {
                VhostMode::Client => spec.iface_type = Some("dpdkvhostuser".into()),
                VhostMode::Server => {
                    spec.iface_type = Some("dpdkvhostuserclient".into());
                    spec.options = vec![("vhost-server-path".into(), path.to_string())];
                }
            }
        }
        // Hybrid plug: the OVS port is the qvo end of a veth whose qvb end sits in the
        // Linux bridge `vif.bridge_name`; see `hybrid`.
        OvsPort::Hybrid { qvo, .. } => spec.port = qvo.clone(),
        OvsPort::HostDevice {
            dev_address,
            dpdk_port,
        } => {
            let root = sysfs_root(cfg)?;
            if spec.datapath_type == "netdev" {
                let loc = representor::vf_location(&root, *dev_address).map_err(lookup_err)?;
                spec.port = dpdk_port.clone();
                spec.iface_type = Some("dpdk".into());
                spec.options = vec![(
                    "dpdk-devargs".into(),
                    format!("{},representor=[{}]", loc.pf, loc.vf_index),
                )];
            } else {
                let name =
                    representor::find_representor(&root, *dev_address).map_err(lookup_err)?;
                spec.port = name
                    .parse()
                    .map_err(|e| crate::backend::BackendError::Sysfs {
                        path: format!("/sys/class/net/{name}"),
                        msg: format!("representor name: {e}"),
                    })?;
                spec.representor = true;
            }
        }
    }
    spec.mtu = vif
        .mtu
        .resolve(cfg.network_device_mtu, spec.port.as_str())?;
    // os-vif makes the TAP inside port creation (`_create_vif_port`): `create_tap` without
    // `create_port` creates nothing, and a TAP nobody adds to OVS would only leak.
    if matches!(vif.port, OvsPort::Tap { .. }) && vif.create_tap && spec.create_port {
        spec.create_tap = Some(TapSpec {
            name: spec.port.clone(),
            mtu: spec.mtu,
            mac: Some(vif.address),
            multiqueue: vif.multiqueue,
        });
    }
    spec.tap_later =
        matches!(vif.port, OvsPort::Tap { .. }) && spec.create_port && spec.create_tap.is_none();
    Ok(spec)
}

/// os-vif `per_port_bridge` (`_plug_port_bridge`, VIFOpenVSwitch only): the port goes on
/// bridge `pb<id>` (14 characters, the datapath of the integration bridge), always created
/// whatever `create_port` says, without `external_ids`; a patch pair `pbp<id>`/`ibp<id>`
/// joins that bridge to `network.bridge`.
fn port_bridge(spec: &mut PortSpec, vif: &OvsVif, instance: &Instance, cfg: &Config) -> Result<()> {
    let pbr = derived_name("pb", &vif.id)?;
    if pbr == vif.bridge {
        return Err(BackendError::InvalidVif(format!(
            "network.bridge {pbr} is the name of the VIF's own per-port bridge"
        )));
    }
    spec.patch = Some(PatchPair {
        int_bridge: vif.bridge.clone(),
        int_port: PatchName::derive("ibp", &vif.id)?,
        port_port: PatchName::derive("pbp", &vif.id)?,
        external_ids: vec![
            ("iface-id".into(), vif.id.clone()),
            ("iface-status".into(), "active".into()),
            ("attached-mac".into(), vif.address.to_string()),
            ("vm-uuid".into(), instance.uuid.clone()),
        ],
        // os-vif does not spare trunk bridges here (its trunk check looks at `pb…`).
        isolate: cfg.isolate_vif,
    });
    spec.bridge = pbr;
    spec.create_port = true;
    spec.set_ids = false;
    spec.external_ids.clear();
    spec.isolate = cfg.isolate_vif;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::spec::VifMtu;

    const ID: &str = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01";

    fn vif(bridge: &str) -> OvsVif {
        OvsVif {
            id: ID.into(),
            address: "fa:16:3e:00:00:03".parse().unwrap(),
            interface_id: "07bd6cea-fb37-4594-b769-90fc51854ee9".into(),
            datapath_type: Some("netdev".into()),
            bridge: bridge.parse().unwrap(),
            mtu: VifMtu(None),
            create_port: false,
            create_tap: true,
            multiqueue: false,
            port: OvsPort::Tap {
                vif_name: "tap6f0f6f2c-7c".parse().unwrap(),
                hybrid_bridge: "qbr6f0f6f2c-7c".parse().unwrap(),
                hybrid_port: "qvo6f0f6f2c-7c".parse().unwrap(),
            },
        }
    }

    #[test]
    fn patch_names_follow_os_vif_and_refuse_what_ovs_cannot_round_trip() {
        assert_eq!(
            PatchName::derive("ibp", ID).unwrap().as_str(),
            format!("ibp{ID}")
        );
        let long = "x".repeat(100);
        assert_eq!(PatchName::derive("pbp", &long).unwrap().as_str().len(), 64);
        assert!(PatchName::derive("ibp", "a b").is_err());
        assert!(PatchName::derive("ibp", "a/b").is_err());
        assert!(PatchName::derive("ibp", "").is_err());
    }

    #[test]
    fn per_port_bridge_moves_the_port_and_its_ids() {
        let cfg = Config {
            per_port_bridge: true,
            isolate_vif: true,
            ..Config::default()
        };
        let inst = Instance {
            uuid: "d7a730ca-3c28-49c3-8f26-4662b909fe8a".into(),
            ..Default::default()
        };
        let s = port_spec(&vif("tbr-1"), &inst, &cfg).unwrap();
        assert_eq!(s.bridge.as_str(), "pb6f0f6f2c-7c9");
        assert!(s.create_port, "always created on a per-port bridge");
        assert!(s.create_tap.is_some());
        assert!(!s.set_ids && s.external_ids.is_empty());
        assert!(s.isolate, "pb… is no trunk bridge");
        let p = s.patch.unwrap();
        assert_eq!(p.int_bridge.as_str(), "tbr-1");
        assert_eq!(p.int_port.as_str(), format!("ibp{ID}"));
        assert_eq!(p.port_port.as_str(), format!("pbp{ID}"));
        assert_eq!(p.external_ids[0], ("iface-id".into(), ID.into()));
        assert!(p.external_ids.iter().all(|(k, _)| k != "bridge_name"));
        assert!(p.isolate);
        // Off: the plain layout.
        let s = port_spec(&vif("br-int"), &inst, &Config::default()).unwrap();
        assert!(s.patch.is_none() && s.set_ids && !s.create_port);
        // The integration bridge cannot be the per-port bridge.
        assert!(port_spec(&vif("pb6f0f6f2c-7c9"), &inst, &cfg).is_err());
    }
}
