//! A PF as devlink sees it: which devlink instance a PF netdev (or PCI address, or handle)
//! belongs to, its VF representors from the port map, and the eswitch operations on it.
//!
//! The port map is authoritative for representors: a `pcivf` port names its VF number and
//! its netdev, where `phys_port_name` parsing (`sysfs::representor`) has to guess from a
//! name. PFs are addressed by netdev name too because not every devlink instance is PCI
//! (netdevsim's is `netdevsim/netdevsimN`, whose PF netdev is the `physical` port's).

use serde::Serialize;
use thiserror::Error;

use super::client::{Devlink, DevlinkError};
use super::model::*;

#[derive(Debug, Error)]
pub enum PfError {
    #[error(transparent)]
    Devlink(#[from] DevlinkError),
    #[error("{0:?} is not a netdev with a devlink port, a PCI address with a devlink instance, nor a devlink handle BUS/DEV")]
    NotFound(String),
    #[error("VF {vf} of {dev} has no devlink port (VF ports exist in switchdev mode only)")]
    NoVfPort { dev: DevHandle, vf: u32 },
    #[error("refusing eswitch mode {mode} on {dev}: rate node(s) {nodes} exist (the kernel answers EBUSY); delete them first")]
    RateNodes {
        dev: DevHandle,
        mode: EswitchMode,
        nodes: String,
    },
}

/// One VF representor from the port map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRepresentor {
    pub vf: u32,
    pub pfnum: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<u32>,
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netdev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
}

/// `vifman eswitch PF`: the mode and representors of one PF's devlink instance.
#[derive(Debug, Clone, Serialize)]
pub struct EswitchReport {
    pub pf: String,
    pub devlink: DevHandle,
    #[serde(flatten)]
    pub eswitch: Eswitch,
    pub representors: Vec<PortRepresentor>,
}

/// The devlink instance of `pf`: a handle as given, `pci/ADDR` if that instance exists, or
/// the instance owning the non-VF port whose netdev is `pf`.
pub fn resolve(dl: &mut Devlink, pf: &str) -> Result<DevHandle, PfError> {
    if let Ok(h) = pf.parse::<DevHandle>() {
        return Ok(h);
    }
    if let Ok(a) = pf.parse::<crate::types::PciAddress>() {
        let h = DevHandle::new("pci", &a.to_string());
        if dl.devices()?.contains(&h) {
            return Ok(h);
        }
    }
    dl.ports()?
        .into_iter()
        .find(|p| p.netdev.as_deref() == Some(pf) && p.flavour != PortFlavour::PciVf)
        .map(|p| p.dev)
        .ok_or_else(|| PfError::NotFound(pf.to_string()))
}

/// The VF representors of `dev` from its port map (external controllers included),
/// ordered by (controller, pf, vf).
pub fn representors(ports: &[Port], dev: &DevHandle) -> Vec<PortRepresentor> {
    let mut v: Vec<_> = ports
        .iter()
        .filter(|p| &p.dev == dev && p.flavour == PortFlavour::PciVf)
        .filter_map(|p| {
            Some(PortRepresentor {
                vf: u32::from(p.vfnum?),
                pfnum: p.pfnum.unwrap_or(0),
                controller: p.controller,
                port: p.index,
                netdev: p.netdev.clone(),
                ifindex: p.netdev_ifindex,
            })
        })
        .collect();
    v.sort_by_key(|r| (r.controller, r.pfnum, r.vf));
    v
}

pub fn report(dl: &mut Devlink, pf: &str) -> Result<EswitchReport, PfError> {
    let dev = resolve(dl, pf)?;
    let eswitch = dl.eswitch(&dev)?;
    let ports = dl.ports()?;
    Ok(EswitchReport {
        pf: pf.to_string(),
        representors: representors(&ports, &dev),
        devlink: dev,
        eswitch,
    })
}

/// Sets the eswitch mode, refusing up front what the kernel would refuse with a bare
/// EBUSY (rate nodes exist: any mode set fails, even to the current mode). A no-op when
/// the mode is already `mode`. Returns the mode before.
pub fn set_mode(
    dl: &mut Devlink,
    dev: &DevHandle,
    mode: EswitchMode,
) -> Result<EswitchMode, PfError> {
    let before = dl.eswitch(dev)?.mode;
    if before == mode {
        return Ok(before);
    }
    let nodes: Vec<String> = dl
        .rates()?
        .into_iter()
        .filter(|r| &r.dev == dev)
        .filter_map(|r| match r.object {
            RateObject::Node { name } => Some(name),
            RateObject::Leaf { .. } => None,
        })
        .collect();
    if !nodes.is_empty() {
        return Err(PfError::RateNodes {
            dev: dev.clone(),
            mode,
            nodes: nodes.join(", "),
        });
    }
    dl.set_eswitch_mode(dev, mode)?;
    Ok(before)
}

/// The devlink port of VF `vf` of `dev` (switchdev mode), for rate leaves and functions.
pub fn vf_port(dl: &mut Devlink, dev: &DevHandle, vf: u32) -> Result<u32, PfError> {
    let ports = dl.ports()?;
    representors(&ports, dev)
        .into_iter()
        .find(|r| r.vf == vf && r.controller.unwrap_or(0) == 0)
        .map(|r| r.port)
        .ok_or(PfError::NoVfPort {
            dev: dev.clone(),
            vf,
        })
}
