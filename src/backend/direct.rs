//! VIFDirect: a macvtap on the VF's (or any PCI NIC's) netdev, in the VIF's mode. The netdev is
//! found from `dev_address` through sysfs, never from a name the caller could get wrong.

use std::path::Path;

use super::rtnl::{LinkChange, Request, Rtnl};
use super::{
    check_ifname, parse_mac, plugin_info, req_str, Backend, BackendError, Config, Instance, Report,
    Result,
};
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

fn mode_value(mode: &str) -> Result<u32> {
    Ok(match mode {
        "vepa" => 2,
        "bridge" => 4,
        "passthrough" => 8,
        other => {
            return Err(BackendError::InvalidVif(format!(
                "VIFDirect.mode {other:?} is not vepa, bridge or passthrough"
            )))
        }
    })
}

/// The netdev of a PCI function: `<sysfs>/bus/pci/devices/<addr>/net/<name>`.
pub fn netdev_of(sysfs: &Path, addr: &PciAddress) -> Result<String> {
    let dir = sysfs.join(format!("bus/pci/devices/{addr}/net"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| BackendError::Sysfs {
            path: dir.display().to_string(),
            msg: format!(
                "{addr} has no netdev ({e}); is it bound to its NIC driver rather than vfio-pci?"
            ),
        })?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.into_iter().next().ok_or_else(|| BackendError::Sysfs {
        path: dir.display().to_string(),
        msg: format!("{addr} has no netdev"),
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
        let name = req_str(vif, "vif_name")?;
        check_ifname(name)?;
        let mode = mode_value(req_str(vif, "mode")?)?;
        let addr: PciAddress = req_str(vif, "dev_address")?
            .parse()
            .map_err(|e| BackendError::InvalidVif(format!("VIFDirect.dev_address: {e}")))?;
        let mac = vif.get_str("address").map(parse_mac).transpose()?;
        let lower_name = netdev_of(&self.cfg.sysfs_root, &addr)?;
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

    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let name = req_str(vif, "vif_name")?;
        check_ifname(name)?;
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
