//! Open vSwitch: an RFC 7047 client of our own ([`jsonrpc`], [`client`]) and the os-vif
//! `ovs` plugin semantics (vif_plug_ovs 5.3.0) on top of it. No ovs-vsctl: each of its
//! invocations costs ~10 ms of process start and DB download, ours costs one round trip.
//!
//! The layers: [`spec`] resolves a validated VIF to a [`PortSpec`]; [`txn`] writes ports in
//! one OVSDB transaction (with [`netdev`] preparing the kernel side); [`hybrid`] adds the
//! Linux bridge + veth of a hybrid plug around a [`Txn`]; this file is the [`Backend`] that
//! dispatches between plain and hybrid and takes the per-object locks.

pub mod client;
pub mod hybrid;
pub mod jsonrpc;
pub mod netdev;
pub mod qos;
pub mod remote;
mod remove;
pub mod spec;
pub mod txn;
mod write;

pub use spec::{port_spec, PortSpec};
pub use txn::Txn;

use crate::backend::rtnl::Rtnl;
use crate::backend::rundir::{LockKey, Locks};
use crate::backend::spec::{OvsPort, OvsVif};
use crate::backend::{plugin_info, Backend, BackendError, Config, Instance, Report, Result};
use crate::types::IfName;
use crate::vif::VersionedObject;

pub struct Ovs {
    cfg: Config,
}

impl Ovs {
    pub fn new(cfg: Config) -> Self {
        Ovs { cfg }
    }

    fn txn(&self) -> Txn {
        Txn::new(&self.cfg)
    }

    /// Resolves a VIF to its port (validation, then os-vif's naming and preconditions).
    pub fn port_spec(&self, vif: &VersionedObject, instance: &Instance) -> Result<PortSpec> {
        port_spec(&OvsVif::try_from(vif)?, instance, &self.cfg)
    }

    /// Every netdev/port name a plug or unplug of `vif` may touch: the port, for the
    /// hybrid layout the Linux bridge and the veth (named after its OVS end), and a
    /// per-port bridge (its patch ports are named after the same VIF id).
    fn lock(&self, vif: &OvsVif, spec: &PortSpec) -> Result<Locks> {
        let mut keys = vec![LockKey::Link(spec.port.clone())];
        if spec.patch.is_some() {
            keys.push(LockKey::Link(spec.bridge.clone()));
        }
        match &vif.port {
            OvsPort::Tap {
                hybrid_bridge,
                hybrid_port,
                ..
            } => {
                keys.push(LockKey::Link(hybrid_bridge.clone()));
                keys.push(LockKey::Link(hybrid_port.clone()));
            }
            OvsPort::Hybrid { bridge_name, .. } => keys.push(LockKey::Link(bridge_name.clone())),
            _ => {}
        }
        crate::backend::lock(&self.cfg, &keys)
    }

    /// Plugs many ports in one transaction (see [`Txn::plug_specs`]), holding their locks.
    pub fn plug_specs(&self, specs: &[PortSpec]) -> Result<Report> {
        let keys: Vec<LockKey> = specs
            .iter()
            .map(|s| LockKey::Link(s.port.clone()))
            .collect();
        let _locks = crate::backend::lock(&self.cfg, &keys)?;
        self.txn().plug_specs(specs)
    }

    /// Removes ports by name in one transaction, holding their locks.
    pub fn unplug_ports(&self, ports: &[IfName]) -> Result<Vec<String>> {
        let keys: Vec<LockKey> = ports.iter().map(|p| LockKey::Link(p.clone())).collect();
        let _locks = crate::backend::lock(&self.cfg, &keys)?;
        self.txn().unplug_ports(ports)
    }

    pub fn plug_vif(&self, vif: &OvsVif, instance: &Instance) -> Result<Report> {
        let spec = port_spec(vif, instance, &self.cfg)?;
        let _s = tracing::info_span!("ovs_plug_vif", port = %spec.port).entered();
        let _locks = self.lock(vif, &spec)?;
        match &vif.port {
            OvsPort::Hybrid {
                bridge_name, qvb, ..
            } => hybrid::plug(&self.txn(), bridge_name, qvb, &spec),
            _ => self.txn().plug_specs(std::slice::from_ref(&spec)),
        }
    }

    pub fn unplug_vif(&self, vif: &OvsVif, instance: &Instance) -> Result<Report> {
        let spec = port_spec(vif, instance, &self.cfg)?;
        let _s = tracing::info_span!("ovs_unplug_vif", port = %spec.port).entered();
        let _locks = self.lock(vif, &spec)?;
        let txn = self.txn();
        let (mut report, port) = self.unplug_port(vif, &spec, &txn)?;
        if let Some(t) = &spec.qos_type {
            report.actions.extend(txn.delete_qos(&port, t)?);
        }
        // os-vif (`_delete_bridge_if_trunk`, every unplug path): a Neutron trunk bridge
        // (`tbr-…`) exists for this one VIF, so it goes with it, patch ports and all.
        let int_bridge = spec.patch.as_ref().map_or(&spec.bridge, |p| &p.int_bridge);
        if int_bridge.as_str().starts_with("tbr-") {
            report.actions.extend(txn.delete_bridge(int_bridge)?);
        }
        Ok(report)
    }

    /// The unplug of the VIF's own port: hybrid or plain, then its kernel netdev. Returns
    /// the name of the OVS port it removed (`qvo…` for a hybrid plug).
    fn unplug_port(&self, vif: &OvsVif, spec: &PortSpec, txn: &Txn) -> Result<(Report, IfName)> {
        match &vif.port {
            OvsPort::Hybrid { bridge_name, .. } => {
                return Ok((hybrid::unplug(txn, bridge_name, spec)?, spec.port.clone()));
            }
            // With per_port_bridge, os-vif does not look for a hybrid plug.
            OvsPort::Tap {
                hybrid_bridge,
                hybrid_port,
                ..
            } if spec.patch.is_none() => {
                // os-vif: if a hybrid bridge qbr<id> exists, the VIF was hybrid-plugged.
                let mut rt = crate::backend::bridge::open()?;
                if rt
                    .get_link(hybrid_bridge.as_str())
                    .map_err(|e| BackendError::netlink(format!("look up {hybrid_bridge}"), e))?
                    .is_some()
                {
                    let mut hs = spec.clone();
                    hs.port = hybrid_port.clone();
                    return Ok((hybrid::unplug(txn, hybrid_bridge, &hs)?, hs.port));
                }
            }
            _ => {}
        }
        let mut report = Report::new("ovs");
        report.actions = match spec.patch {
            Some(_) => txn.unplug_port_bridge(spec)?,
            None => txn.unplug_ports(std::slice::from_ref(&spec.port))?,
        };
        if spec.delete_netdev || spec.representor {
            let mut rt = Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink", e))?;
            if spec.representor {
                netdev::set_netdev(&mut rt, &spec.port, Some(false), None, false)?;
                report
                    .actions
                    .push(format!("set representor {} down", spec.port));
            } else if netdev::delete_tap(&mut rt, &spec.port)? {
                report.actions.push(format!("deleted tap {}", spec.port));
            }
        }
        Ok((report, spec.port.clone()))
    }
}

impl Backend for Ovs {
    fn name(&self) -> &'static str {
        "ovs"
    }

    fn describe(&self) -> VersionedObject {
        const OVS: &str = "VIFPortProfileOpenVSwitch";
        const REP: &str = "VIFPortProfileOVSRepresentor";
        plugin_info(
            "ovs",
            &[
                ("VIFBridge", &[OVS]),
                ("VIFOpenVSwitch", &[OVS]),
                ("VIFVHostUser", &[OVS, REP]),
                ("VIFHostDevice", &[OVS, REP]),
            ],
        )
    }

    fn plug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report> {
        self.plug_vif(&OvsVif::try_from(vif)?, instance)
    }

    fn unplug(&self, vif: &VersionedObject, instance: &Instance) -> Result<Report> {
        self.unplug_vif(&OvsVif::try_from(vif)?, instance)
    }
}
