//! VIFDirect: a macvtap on the VF's (or any PCI NIC's) netdev, in the VIF's mode. The netdev is
//! found from `dev_address` through sysfs, never from a name the caller could get wrong.

use super::rtnl::{LinkChange, Request, Rtnl};
use super::rundir::LockKey;
use super::spec::DirectVif;
use super::{
    lookup_err, plugin_info, sysfs_root, Backend, BackendError, Config, Instance, Report, Result,
};
use crate::sysfs::{representor, SysfsRoot};
use crate::types::PciAddress;
use crate::vif::VersionedObject;

pub struct Direct {
    cfg: Config,
}

impl Direct {
    pub fn new(cfg: Config) -> Self {
        Direct { cfg }
    }
}

/// The netdev of a PCI function (the first of `<device>/net/`), read through the sysfs
/// module's fd-safe point reads.
pub fn netdev_of(root: &SysfsRoot, addr: PciAddress) -> Result<String> {
    let names = representor::device_netdevs(root, addr).map_err(lookup_err)?;
    names.into_iter().next().ok_or_else(|| BackendError::Sysfs {
        path: format!("/sys/bus/pci/devices/{addr}/net"),
        msg: format!("{addr} has no netdev; is it bound to its NIC driver rather than vfio-pci?"),
    })
}

fn open() -> Result<Rtnl> {
    Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink socket", e))
}

impl Backend for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn describe(&self) -> VersionedObject {
        plugin_info(
            "vifman-direct",
            &[(
                "VIFDirect",
                &["VIFPortProfile8021Qbg", "VIFPortProfile8021Qbh"],
            )],
        )
    }

    fn plug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        self.plug_vif(&DirectVif::try_from(vif)?)
    }

    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        self.unplug_vif(&DirectVif::try_from(vif)?)
    }
}

impl Direct {
    pub fn plug_vif(&self, vif: &DirectVif) -> Result<Report> {
        let name = vif.vif_name.as_str();
        let mode = vif.mode.macvlan_mode();
        let mac = vif.address.map(|m| m.octets());
        let lower_name = netdev_of(&sysfs_root(&self.cfg)?, vif.dev_address)?;
        let _locks = super::lock(&self.cfg, &[LockKey::Link(vif.vif_name.clone())])?;
        let _span = tracing::info_span!("plug_direct", name, lower = %lower_name, mode).entered();
        let mut rt = open()?;
        let lower = rt
            .get_link(&lower_name)
            .map_err(|e| BackendError::netlink(format!("look up {lower_name}"), e))?
            .ok_or_else(|| BackendError::Sysfs {
                path: lower_name.clone(),
                msg: "netdev listed in sysfs but unknown to rtnetlink (another network namespace?)"
                    .into(),
            })?;
        let mut report = Report::new("direct");
        match rt
            .get_link(name)
            .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?
        {
            Some(l)
                if l.kind.as_deref() == Some("macvtap")
                    && l.lower == Some(lower.index)
                    && l.macvlan_mode == Some(mode) =>
            {
                report
                    .actions
                    .push(format!("{name} already a macvtap on {lower_name}"));
            }
            Some(l) => {
                return Err(BackendError::NameCollision {
                    name: name.into(),
                    found: format!(
                        "{} (lower {:?}, mode {:?})",
                        l.kind.unwrap_or_else(|| "device".into()),
                        l.lower,
                        l.macvlan_mode
                    ),
                    wanted: format!("macvtap on {lower_name} mode {mode}"),
                })
            }
            None => {
                // The lower device must be up for the macvtap to pass traffic.
                if !lower.up {
                    rt.request(Request::set_link(
                        lower.index,
                        &lower_name,
                        &LinkChange {
                            up: Some(true),
                            ..Default::default()
                        },
                    ))
                    .map_err(|e| BackendError::netlink(format!("bring {lower_name} up"), e))?;
                    report.actions.push(format!("set {lower_name} up"));
                }
                rt.request(Request::new_macvtap(name, lower.index, mode, mac, None))
                    .map_err(|e| {
                        BackendError::netlink(format!("create macvtap {name} on {lower_name}"), e)
                    })?;
                report
                    .actions
                    .push(format!("created macvtap {name} on {lower_name}"));
            }
        }
        let l = rt
            .get_link(name)
            .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?;
        let Some(l) = l else {
            return Err(BackendError::InvalidVif(format!(
                "{name} vanished after creation"
            )));
        };
        if !l.up {
            if let Err(e) = rt.request(Request::set_link(
                l.index,
                name,
                &LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            )) {
                let _ = rt.request(Request::del_link(l.index, name));
                return Err(BackendError::netlink(format!("bring {name} up"), e));
            }
        }
        report.details.insert("lower".into(), lower_name.into());
        report.details.insert("macvtap".into(), name.into());
        Ok(report)
    }

    pub fn unplug_vif(&self, vif: &DirectVif) -> Result<Report> {
        let name = vif.vif_name.as_str();
        let _s = tracing::info_span!("unplug_direct", name).entered();
        let _locks = super::lock(&self.cfg, &[LockKey::Link(vif.vif_name.clone())])?;
        let mut rt = open()?;
        let mut report = Report::new("direct");
        match rt
            .get_link(name)
            .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?
        {
            Some(l) if l.kind.as_deref() == Some("macvtap") => {
                rt.request(Request::del_link(l.index, name))
                    .map_err(|e| BackendError::netlink(format!("delete {name}"), e))?;
                report.actions.push(format!("deleted macvtap {name}"));
            }
            Some(l) => {
                return Err(BackendError::NameCollision {
                    name: name.into(),
                    found: l.kind.unwrap_or_else(|| "device".into()),
                    wanted: "macvtap".into(),
                })
            }
            None => report.actions.push(format!("{name} already absent")),
        }
        Ok(report)
    }
}
