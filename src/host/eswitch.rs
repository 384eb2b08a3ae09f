//! The devlink side of a PF as the engine needs it: its eswitch (instance, mode, driver,
//! rate nodes), a mode change, and a VF rate through the VF's devlink rate leaf. The real
//! kernel answers over generic netlink ([`crate::devlink`]); the simulation keeps the mode in
//! a file of its own (see `sim/eswitch.rs`). A PF without a devlink instance (igb, a fixture
//! tree) has no eswitch: `None`, and the callers keep the legacy paths.

use serde::Serialize;

use super::HostError;
use crate::devlink::{
    pf, DevHandle, Devlink, DevlinkError, EncapMode, EswitchMode, EswitchSet, InlineMode,
    RateChange, RateObject,
};
use crate::types::{IfName, PciAddress};

/// How the engine names a PF to the devlink side: PCI PFs by address (their instance is
/// `pci/ADDR`), non-PCI ones (netdevsim) by their netdev or by the devlink handle the
/// operator gave (`netdevsim/netdevsim10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfId {
    Pci(PciAddress),
    Netdev(IfName),
    Handle(DevHandle),
}

impl std::fmt::Display for PfId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PfId::Pci(a) => write!(f, "{a}"),
            PfId::Netdev(n) => write!(f, "{n}"),
            PfId::Handle(h) => write!(f, "{h}"),
        }
    }
}

/// A PF's devlink eswitch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EswitchInfo {
    /// The devlink handle, `bus/dev`.
    pub devlink: String,
    pub mode: EswitchMode,
    /// The inline and encap modes, where the driver reports them (mlx5 does; netdevsim
    /// and the simulation do not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_mode: Option<InlineMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap_mode: Option<EncapMode>,
    /// The instance's driver (devlink dev info), which keys the hwdb order rule.
    pub driver: Option<crate::types::DriverName>,
    /// Rate nodes on the instance: while one exists the kernel refuses every mode set.
    pub rate_nodes: Vec<String>,
    /// VF representor ports (local `pcivf` ports) that have a netdev; None where the host
    /// cannot tell (the simulation does not model representors).
    pub vf_representors: Option<u32>,
}

/// A devlink failure as a host error: the errno kept (callers match EOPNOTSUPP, EBUSY), the
/// kernel's extended-ack text kept in the operation's name so the reason reaches the user.
pub(super) fn devlink_err(op: &str, e: DevlinkError) -> HostError {
    match &e {
        DevlinkError::Request { err, .. } => match (err.errno(), err) {
            (Some(errno), crate::rtnl::RtnlError::Kernel { ext: Some(ext), .. }) => {
                HostError::kernel(format!("{op} [{ext}]"), errno)
            }
            (Some(errno), _) => HostError::kernel(op, errno),
            _ => HostError::other(op, e.to_string()),
        },
        _ => HostError::other(op, e.to_string()),
    }
}

/// The devlink instance of `pf`, if it has one (None also when the kernel has no devlink).
pub(super) fn instance(dl: &mut Devlink, pf: &PfId) -> Result<Option<DevHandle>, DevlinkError> {
    match pf {
        PfId::Pci(a) => {
            let h = DevHandle::new("pci", &a.to_string());
            Ok(dl.devices()?.contains(&h).then_some(h))
        }
        PfId::Netdev(n) => match pf::resolve(dl, n.as_str()) {
            Ok(h) => Ok(Some(h)),
            Err(pf::PfError::Devlink(e)) => Err(e),
            Err(_) => Ok(None),
        },
        PfId::Handle(h) => Ok(dl.devices()?.contains(h).then(|| h.clone())),
    }
}

pub(super) fn open() -> Result<Option<Devlink>, HostError> {
    match Devlink::open() {
        Ok(dl) => Ok(Some(dl)),
        Err(DevlinkError::NoFamily) => Ok(None),
        Err(e) => Err(devlink_err("devlink", e)),
    }
}

/// The eswitch of `pf` on the live kernel; None without a devlink instance or when the
/// driver has no eswitch (EOPNOTSUPP: i40e registers devlink for info only).
pub(super) fn real_eswitch_of(pf: &PfId) -> Result<Option<EswitchInfo>, HostError> {
    let Some(mut dl) = open()? else {
        return Ok(None);
    };
    eswitch_with(&mut dl, pf, &mut Dumps::default())
}

/// The eswitch of each PF in `pfs` on the live kernel, as [`real_eswitch_of`] gives each:
/// one devlink socket and one instance, rate and port dump for all of them (they are
/// host-wide: asked per PF, an inventory of N PFs sent N of each for the same answer). The
/// eswitch get and `dev info` stay per instance.
pub(super) fn real_eswitches_of(pfs: &[PfId]) -> Vec<Result<Option<EswitchInfo>, HostError>> {
    let mut dl = match open() {
        Ok(Some(dl)) => dl,
        Ok(None) => return pfs.iter().map(|_| Ok(None)).collect(),
        Err(_) => return pfs.iter().map(real_eswitch_of).collect(),
    };
    let mut dumps = Dumps::default();
    eswitches_with(&mut dl, pfs, &mut dumps)
}

pub(super) fn eswitches_with(
    dl: &mut impl EswitchReads,
    pfs: &[PfId],
    dumps: &mut Dumps,
) -> Vec<Result<Option<EswitchInfo>, HostError>> {
    pfs.iter().map(|pf| eswitch_with(dl, pf, dumps)).collect()
}

/// What an eswitch read asks devlink: the client's requests, behind a trait so the sharing
/// of the host-wide dumps is tested against a fake that counts them.
pub(super) trait EswitchReads {
    fn devices(&mut self) -> Result<Vec<DevHandle>, DevlinkError>;
    /// A non-PCI PF's instance (see [`instance`]).
    fn instance_of(&mut self, pf: &PfId) -> Result<Option<DevHandle>, DevlinkError>;
    fn eswitch(&mut self, dev: &DevHandle) -> Result<crate::devlink::Eswitch, DevlinkError>;
    fn driver(&mut self, dev: &DevHandle) -> Option<crate::types::DriverName>;
    fn rates(&mut self) -> Result<Vec<crate::devlink::Rate>, DevlinkError>;
    fn ports(&mut self) -> Result<Vec<crate::devlink::Port>, DevlinkError>;
}

impl EswitchReads for Devlink {
    fn devices(&mut self) -> Result<Vec<DevHandle>, DevlinkError> {
        Devlink::devices(self)
    }
    fn instance_of(&mut self, pf: &PfId) -> Result<Option<DevHandle>, DevlinkError> {
        instance(self, pf)
    }
    fn eswitch(&mut self, dev: &DevHandle) -> Result<crate::devlink::Eswitch, DevlinkError> {
        Devlink::eswitch(self, dev)
    }
    fn driver(&mut self, dev: &DevHandle) -> Option<crate::types::DriverName> {
        self.info(dev).ok().and_then(|i| i.driver)
    }
    fn rates(&mut self) -> Result<Vec<crate::devlink::Rate>, DevlinkError> {
        Devlink::rates(self)
    }
    fn ports(&mut self) -> Result<Vec<crate::devlink::Port>, DevlinkError> {
        Devlink::ports(self)
    }
}

/// The host-wide dumps one or more eswitch reads share. Only an answer is kept: a dump that
/// failed is asked again for the next PF, so each PF's error is the one it had when asked
/// alone.
#[derive(Default)]
pub(super) struct Dumps {
    devices: Option<Vec<DevHandle>>,
    rates: Option<Vec<crate::devlink::Rate>>,
    ports: Option<Vec<crate::devlink::Port>>,
}

fn shared<T: Clone>(
    slot: &mut Option<Vec<T>>,
    dump: impl FnOnce() -> Result<Vec<T>, DevlinkError>,
) -> Result<Vec<T>, DevlinkError> {
    if let Some(v) = slot {
        return Ok(v.clone());
    }
    let v = dump()?;
    *slot = Some(v.clone());
    Ok(v)
}

pub(super) fn eswitch_with(
    dl: &mut impl EswitchReads,
    pf: &PfId,
    dumps: &mut Dumps,
) -> Result<Option<EswitchInfo>, HostError> {
    let _span = tracing::debug_span!("devlink_eswitch_get", pf = %pf).entered();
    let op = format!("devlink eswitch of {pf}");
    let dev = match pf {
        PfId::Pci(a) => {
            let h = DevHandle::new("pci", &a.to_string());
            let devices =
                shared(&mut dumps.devices, || dl.devices()).map_err(|e| devlink_err(&op, e))?;
            devices.contains(&h).then_some(h)
        }
        _ => dl.instance_of(pf).map_err(|e| devlink_err(&op, e))?,
    };
    let Some(dev) = dev else {
        return Ok(None);
    };
    let esw = match dl.eswitch(&dev) {
        Ok(e) => e,
        Err(e) if e.unsupported() => return Ok(None),
        Err(e) => return Err(devlink_err(&op, e)),
    };
    let driver = dl.driver(&dev);
    let rate_nodes = shared(&mut dumps.rates, || dl.rates())
        .map_err(|e| devlink_err(&op, e))?
        .into_iter()
        .filter(|r| r.dev == dev)
        .filter_map(|r| match r.object {
            RateObject::Node { name } => Some(name),
            RateObject::Leaf { .. } => None,
        })
        .collect();
    let vf_representors = shared(&mut dumps.ports, || dl.ports())
        .map_err(|e| devlink_err(&op, e))?
        .iter()
        .filter(|p| {
            p.dev == dev
                && p.flavour == crate::devlink::PortFlavour::PciVf
                && !p.external
                && p.netdev.is_some()
        })
        .count() as u32;
    Ok(Some(EswitchInfo {
        devlink: dev.to_string(),
        mode: esw.mode,
        inline_mode: esw.inline_mode.and_then(InlineMode::from_kernel),
        encap_mode: esw.encap_mode.and_then(EncapMode::from_kernel),
        driver,
        rate_nodes,
        vf_representors: Some(vf_representors),
    }))
}

pub(super) fn real_set_eswitch(pf: &PfId, set: &EswitchSet) -> Result<(), HostError> {
    let _span = tracing::info_span!("devlink_eswitch_set", pf = %pf, set = %set).entered();
    let op = format!("devlink eswitch set {pf} {set}");
    let mut dl = open()?.ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
    let dev = instance(&mut dl, pf)
        .map_err(|e| devlink_err(&op, e))?
        .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
    dl.set_eswitch(&dev, set).map_err(|e| devlink_err(&op, e))
}

/// The devlink rate leaf of VF `vf` of the PF whose netdev is `pf`, when that PF's
/// eswitch is in switchdev mode; None otherwise (no devlink, legacy mode): the rate then
/// goes through IFLA_VF_RATE as before. A devlink that cannot say (a dump refused) is
/// logged and taken as "not switchdev": the legacy path then reports the kernel's answer,
/// as it did before vifman asked devlink at all.
pub(super) fn real_switchdev_rate_leaf(
    pf: &IfName,
    vf: u32,
) -> Result<Option<(DevHandle, u32)>, HostError> {
    let op = format!("devlink rate leaf of {pf} vf {vf}");
    let _span = tracing::debug_span!("devlink_rate_leaf", pf = %pf, vf).entered();
    let unknown = |e: DevlinkError| {
        tracing::warn!(error = %e, "{op}: devlink lookup failed; using IFLA_VF_RATE");
        Ok(None)
    };
    let mut dl = match Devlink::open() {
        Ok(dl) => dl,
        Err(DevlinkError::NoFamily) => return Ok(None),
        Err(e) => return unknown(e),
    };
    let dev = match instance(&mut dl, &PfId::Netdev(pf.clone())) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None),
        Err(e) => return unknown(e),
    };
    match dl.eswitch(&dev) {
        Ok(e) if e.mode == EswitchMode::Switchdev => {}
        Ok(_) => return Ok(None),
        Err(e) if e.unsupported() => return Ok(None),
        Err(e) => return unknown(e),
    }
    let port = pf::vf_port(&mut dl, &dev, vf).map_err(|e| HostError::other(&op, e.to_string()))?;
    Ok(Some((dev, port)))
}

/// Both rates of a VF through its devlink rate leaf (tx_share = min, tx_max = max, Mbit/s
/// carried as bytes/s).
pub(super) fn real_set_rate_leaf(
    dev: &DevHandle,
    port: u32,
    min_mbps: u32,
    max_mbps: u32,
) -> Result<(), HostError> {
    let _span =
        tracing::info_span!("devlink_rate_set", dev = %dev, port, min_mbps, max_mbps).entered();
    let op = format!("devlink rate set {dev}/{port} tx_share {min_mbps} tx_max {max_mbps} Mbit/s");
    let mut dl = open()?.ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
    let change = RateChange {
        tx_share: Some(crate::devlink::model::mbit_to_bytes(min_mbps)),
        tx_max: Some(crate::devlink::model::mbit_to_bytes(max_mbps)),
        parent: None,
    };
    dl.set_rate(dev, &RateObject::Leaf { port }, &change)
        .map_err(|e| devlink_err(&op, e))
}

/// The eswitch of PF `a` as a tree's devlink record (`devlink.json`) has it: the answer a
/// fixture tree gives where the live kernel's devlink would answer. None when the record has
/// no instance for the PF.
pub(crate) fn eswitch_from_record(
    r: &crate::devlink::record::DevlinkRecord,
    a: &PciAddress,
) -> Option<EswitchInfo> {
    instance_from_record(r, &crate::devlink::DevHandle::new("pci", &a.to_string()))
}

/// The record's non-PCI instance (netdevsim's) that `pf` names: by its handle, or by the
/// netdev of one of its non-VF ports (the PF netdev, as `vifman eswitch ND` names it).
pub(crate) fn record_bus_instance(
    r: &crate::devlink::record::DevlinkRecord,
    pf: &PfId,
) -> Option<DevHandle> {
    let dev = match pf {
        PfId::Pci(_) => return None,
        PfId::Handle(h) => h.clone(),
        PfId::Netdev(n) => crate::devlink::portmap::key_of_netdev(&r.ports, n.as_str())?.dev,
    };
    (dev.bus != "pci" && r.instance(&dev).is_some()).then_some(dev)
}

/// The eswitch of instance `dev` as the record has it (mode, driver, rate nodes, VF
/// representors with a netdev); None when the record has no such instance.
pub(crate) fn instance_from_record(
    r: &crate::devlink::record::DevlinkRecord,
    dev: &DevHandle,
) -> Option<EswitchInfo> {
    let dev = dev.clone();
    let inst = r.instance(&dev)?;
    let reps = r
        .ports_of(&dev)
        .filter(|p| {
            p.flavour == crate::devlink::PortFlavour::PciVf && !p.external && p.netdev.is_some()
        })
        .count() as u32;
    Some(EswitchInfo {
        devlink: dev.to_string(),
        mode: inst.mode,
        inline_mode: None,
        encap_mode: None,
        driver: inst.driver.clone(),
        rate_nodes: r.rate_nodes_of(&dev),
        vf_representors: Some(reps),
    })
}

#[cfg(test)]
#[path = "eswitch_tests.rs"]
mod tests;
