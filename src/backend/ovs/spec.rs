//! From a validated [`OvsVif`] to the [`PortSpec`] of one OVS port: os-vif's naming,
//! external_ids, isolate_vif, MTU, create_port/create_tap, vhost-user port types and
//! switchdev representors (which need the host's sysfs, hence this step is separate from the
//! VIF validation in `backend::spec`).

use crate::backend::bridge::TapSpec;
use crate::backend::spec::{OvsPort, OvsVif, VhostMode};
use crate::backend::{lookup_err, sysfs_root, Config, Instance, Result};
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
    };
    match &vif.port {
        OvsPort::Tap { vif_name, .. } => {
            spec.port = vif_name.clone();
            spec.create_port = vif.create_port;
            spec.delete_netdev = true;
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
