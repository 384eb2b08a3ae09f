//! Linux bridge (VIFBridge) and bare TAP (VIFGeneric) backends over rtnetlink.
//!
//! Unlike os-vif's removed linux_bridge plugin, which left the tap to libvirt, we create the
//! tap too: that is what lets a host agent pre-plug a port before the guest starts.

use super::rtnl::{BridgeSpec, LinkChange, Request, Rtnl};
use super::{
    check_ifname, get_bool, parse_mac, plugin_info, req_str, tap, vif_mtu, Backend, BackendError,
    Config, Instance, Report, Result,
};
use crate::vif::VersionedObject;

/// Everything needed to plug one tap, resolved and validated from the VIF up front so that
/// no kernel state is touched for an invalid object.
#[derive(Debug, Clone)]
pub struct TapSpec {
    pub name: String,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    pub multiqueue: bool,
}

/// What a plug created, so that a failure can undo exactly that.
#[derive(Default)]
struct Undo {
    links: Vec<String>,
}

impl Undo {
    fn run(self, rt: &mut Rtnl) {
        for name in self.links.into_iter().rev() {
            if let Ok(Some(l)) = rt.get_link(&name) {
                if let Err(e) = rt.request(Request::del_link(l.index, &name)) {
                    tracing::warn!(%name, error = %e, "rollback: could not delete link");
                }
            }
        }
    }
}

pub(crate) fn open() -> Result<Rtnl> {
    Rtnl::open().map_err(|e| BackendError::netlink("open rtnetlink socket", e))
}

/// Creates the tap unless a tap of that name exists; anything else by that name is a
/// collision. Returns whether it was created.
fn ensure_tap(rt: &mut Rtnl, spec: &TapSpec) -> Result<bool> {
    match rt
        .get_link(&spec.name)
        .map_err(|e| BackendError::netlink(format!("look up {}", spec.name), e))?
    {
        Some(l) if l.kind.as_deref() == Some("tun") => Ok(false),
        Some(l) => Err(BackendError::NameCollision {
            name: spec.name.clone(),
            found: l.kind.unwrap_or_else(|| "a device".into()),
            wanted: "tap".into(),
        }),
        None => {
            tap::create_persistent_tap(&spec.name, spec.multiqueue).map_err(|e| {
                BackendError::Tap {
                    op: format!("create tap {}", spec.name),
                    error: e,
                }
            })?;
            Ok(true)
        }
    }
}

/// Creates the bridge if missing (when allowed) and brings it up; returns its ifindex and
/// whether we created it.
pub(crate) fn ensure_bridge(rt: &mut Rtnl, name: &str, may_create: bool) -> Result<(u32, bool)> {
    ensure_bridge_with(rt, name, may_create, &BridgeSpec::default())
}

pub(crate) fn ensure_bridge_with(
    rt: &mut Rtnl,
    name: &str,
    may_create: bool,
    spec: &BridgeSpec,
) -> Result<(u32, bool)> {
    let _s = tracing::debug_span!("ensure_bridge", name).entered();
    let existing = rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up bridge {name}"), e))?;
    let (index, created) = match existing {
        Some(l) if l.kind.as_deref() == Some("bridge") && l.up => return Ok((l.index, false)),
        Some(l) if l.kind.as_deref() == Some("bridge") => (l.index, false),
        Some(l) => {
            return Err(BackendError::NameCollision {
                name: name.into(),
                found: l.kind.unwrap_or_else(|| "a device".into()),
                wanted: "bridge".into(),
            })
        }
        None if !may_create => return Err(BackendError::BridgeMissing(name.into())),
        None => {
            rt.request(Request::new_bridge(name, spec))
                .map_err(|e| BackendError::netlink(format!("create bridge {name}"), e))?;
            let l = rt
                .get_link(name)
                .map_err(|e| BackendError::netlink(format!("look up bridge {name}"), e))?
                .ok_or_else(|| BackendError::BridgeMissing(name.into()))?;
            (l.index, true)
        }
    };
    let up = LinkChange {
        up: Some(true),
        ..Default::default()
    };
    if let Err(e) = rt.request(Request::set_link(index, name, &up)) {
        if created {
            let _ = rt.request(Request::del_link(index, name));
        }
        return Err(BackendError::netlink(format!("set bridge {name} up"), e));
    }
    Ok((index, created))
}

/// Plugs one tap: create if needed, then MAC, MTU, master and up in a single message.
fn plug_tap(rt: &mut Rtnl, spec: &TapSpec, master: Option<u32>, undo: &mut Undo) -> Result<()> {
    let _s = tracing::debug_span!("plug_tap", name = %spec.name).entered();
    if ensure_tap(rt, spec)? {
        undo.links.push(spec.name.clone());
    }
    let ch = LinkChange {
        master,
        mtu: Some(spec.mtu),
        address: spec.mac,
        up: Some(true),
        group: None,
    };
    rt.request(Request::set_link_by_name(&spec.name, &ch))
        .map_err(|e| BackendError::netlink(format!("configure tap {}", spec.name), e))
}

fn tap_spec(vif: &VersionedObject, cfg: &Config) -> Result<TapSpec> {
    let name = req_str(vif, "vif_name")?.to_string();
    check_ifname(&name)?;
    let mtu = vif_mtu(vif, cfg, &name)?;
    let mac = vif.get_str("address").map(parse_mac).transpose()?;
    let multiqueue = vif
        .get_obj("port_profile")
        .is_some_and(|p| p.class.field("multiqueue").is_some() && get_bool(p, "multiqueue"));
    Ok(TapSpec {
        name,
        mtu,
        mac,
        multiqueue,
    })
}

/// Deletes the tap, or with `preserve` only detaches it. Absent is fine.
fn unplug_tap(rt: &mut Rtnl, name: &str, preserve: bool, report: &mut Report) -> Result<()> {
    let _s = tracing::debug_span!("unplug_tap", name).entered();
    let Some(l) = rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?
    else {
        return Ok(());
    };
    if l.kind.as_deref() != Some("tun") {
        return Err(BackendError::NameCollision {
            name: name.into(),
            found: l.kind.unwrap_or_else(|| "a device".into()),
            wanted: "tap".into(),
        });
    }
    if preserve {
        if l.master.is_some() {
            let ch = LinkChange {
                master: Some(0),
                ..Default::default()
            };
            rt.request(Request::set_link(l.index, name, &ch))
                .map_err(|e| BackendError::netlink(format!("detach {name}"), e))?;
            report
                .actions
                .push(format!("detached {name} (preserve_on_delete)"));
        }
        return Ok(());
    }
    rt.request(Request::del_link(l.index, name))
        .map_err(|e| BackendError::netlink(format!("delete {name}"), e))?;
    report.actions.push(format!("deleted tap {name}"));
    Ok(())
}

/// The os-vif linux_bridge plugin's VIFBridge handling, plus tap creation.
pub struct LinuxBridge {
    cfg: Config,
}

impl LinuxBridge {
    pub fn new(cfg: Config) -> Self {
        LinuxBridge { cfg }
    }

    fn bridge_name(vif: &VersionedObject) -> Result<String> {
        let name = vif
            .get_str("bridge_name")
            .or_else(|| vif.get_obj("network").and_then(|n| n.get_str("bridge")))
            .ok_or_else(|| {
                BackendError::InvalidVif("neither bridge_name nor network.bridge is set".into())
            })?
            .to_string();
        check_ifname(&name)?;
        Ok(name)
    }

    /// os-vif's condition (`should_provide_bridge and not multi_host`), or our override.
    fn may_create(&self, vif: &VersionedObject) -> bool {
        self.cfg.create_bridge
            || vif
                .get_obj("network")
                .is_some_and(|n| get_bool(n, "should_provide_bridge") && !get_bool(n, "multi_host"))
    }

    /// Plugs many taps into one bridge with one netlink batch: each tap is created with
    /// its ioctl, then all the "MAC, MTU, master, up" messages go out before any ack is read.
    pub fn plug_bulk(&self, bridge: &str, taps: &[TapSpec], may_create: bool) -> Result<()> {
        let _s = tracing::info_span!("plug_bulk", bridge, n = taps.len()).entered();
        check_ifname(bridge)?;
        for t in taps {
            check_ifname(&t.name)?;
        }
        let mut rt = open()?;
        let (br, created) = ensure_bridge(&mut rt, bridge, may_create || self.cfg.create_bridge)?;
        let mut undo = Undo::default();
        if created {
            undo.links.push(bridge.into());
        }
        let res = (|| {
            // One dump instead of a lookup round trip per tap.
            let existing: std::collections::HashMap<String, Option<String>> = rt
                .dump_links()
                .map_err(|e| BackendError::netlink("list links", e))?
                .into_iter()
                .map(|l| (l.name, l.kind))
                .collect();
            for t in taps {
                match existing.get(&t.name) {
                    Some(Some(k)) if k == "tun" => {}
                    Some(k) => {
                        return Err(BackendError::NameCollision {
                            name: t.name.clone(),
                            found: k.clone().unwrap_or_else(|| "a device".into()),
                            wanted: "tap".into(),
                        })
                    }
                    None => {
                        tap::create_persistent_tap(&t.name, t.multiqueue).map_err(|e| {
                            BackendError::Tap {
                                op: format!("create tap {}", t.name),
                                error: e,
                            }
                        })?;
                        undo.links.push(t.name.clone());
                    }
                }
            }
            let reqs = taps
                .iter()
                .map(|t| {
                    Request::set_link_by_name(
                        &t.name,
                        &LinkChange {
                            master: Some(br),
                            mtu: Some(t.mtu),
                            address: t.mac,
                            up: Some(true),
                            group: None,
                        },
                    )
                })
                .collect();
            for (t, r) in taps.iter().zip(rt.batch(reqs)) {
                r.map_err(|e| BackendError::netlink(format!("configure tap {}", t.name), e))?;
            }
            Ok(())
        })();
        if res.is_err() {
            undo.run(&mut rt);
        }
        res
    }

    /// Deletes many taps at once: tag them with a link group, then one RTM_DELLINK for the
    /// group, so the kernel pays one RCU grace period instead of one per device.
    pub fn unplug_bulk(&self, names: &[String]) -> Result<()> {
        let _s = tracing::info_span!("unplug_bulk", n = names.len()).entered();
        let mut rt = open()?;
        let group = 0x7600_0000 | (std::process::id() & 0xffff);
        let reqs = names
            .iter()
            .map(|n| {
                Request::set_link_by_name(
                    n,
                    &LinkChange {
                        group: Some(group),
                        ..Default::default()
                    },
                )
            })
            .collect();
        for (n, r) in names.iter().zip(rt.batch(reqs)) {
            match r {
                Ok(()) => {}
                Err(e) if e.errno() == Some(libc::ENODEV) => {}
                Err(e) => return Err(BackendError::netlink(format!("tag {n} for deletion"), e)),
            }
        }
        rt.request(Request::del_group(group))
            .or_else(|e| {
                if e.errno() == Some(libc::ENODEV) {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| BackendError::netlink("delete tap group", e))
    }
}

impl Backend for LinuxBridge {
    fn name(&self) -> &'static str {
        "linux_bridge"
    }

    fn describe(&self) -> VersionedObject {
        plugin_info(
            "linux_bridge",
            &[("VIFBridge", &["VIFPortProfileFPBridge"])],
        )
    }

    fn plug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("linux_bridge_plug", id = vif.get_str("id")).entered();
        let spec = tap_spec(vif, &self.cfg)?;
        let bridge = Self::bridge_name(vif)?;
        if vif
            .get_obj("network")
            .is_some_and(|n| get_bool(n, "should_provide_vlan"))
        {
            // os-vif would add a `vlanN` device on bridge_interface; that path is broken in
            // os-vif itself (missing argument) and needs 8021q, so we refuse it clearly.
            return Err(BackendError::Unsupported(
                "network.should_provide_vlan (a VLAN device on bridge_interface) is not implemented".into(),
            ));
        }
        let mut rt = open()?;
        let mut report = Report::new("linux_bridge");
        let (br, created) = ensure_bridge(&mut rt, &bridge, self.may_create(vif))?;
        let mut undo = Undo::default();
        if created {
            undo.links.push(bridge.clone());
            report.actions.push(format!("created bridge {bridge}"));
        }
        if let Err(e) = plug_tap(&mut rt, &spec, Some(br), &mut undo) {
            undo.run(&mut rt);
            return Err(e);
        }
        report
            .actions
            .push(format!("plugged tap {} into {bridge}", spec.name));
        report.details.insert("bridge".into(), bridge.into());
        report.details.insert("tap".into(), spec.name.into());
        report.details.insert("mtu".into(), spec.mtu.into());
        Ok(report)
    }

    /// Deletes the tap, then the bridge if it is one we would have created and no port is
    /// left on it (os-vif's linux_bridge unplug did nothing and leaked both).
    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("linux_bridge_unplug", id = vif.get_str("id")).entered();
        let name = req_str(vif, "vif_name")?;
        check_ifname(name)?;
        let bridge = Self::bridge_name(vif)?;
        let mut rt = open()?;
        let mut report = Report::new("linux_bridge");
        unplug_tap(
            &mut rt,
            name,
            get_bool(vif, "preserve_on_delete"),
            &mut report,
        )?;
        if self.may_create(vif) {
            if let Some(br) = rt
                .get_link(&bridge)
                .map_err(|e| BackendError::netlink(format!("look up {bridge}"), e))?
                .filter(|l| l.kind.as_deref() == Some("bridge"))
            {
                let links = rt
                    .dump_links()
                    .map_err(|e| BackendError::netlink("list links", e))?;
                if !links.iter().any(|l| l.master == Some(br.index)) {
                    rt.request(Request::del_link(br.index, &bridge))
                        .map_err(|e| BackendError::netlink(format!("delete {bridge}"), e))?;
                    report
                        .actions
                        .push(format!("deleted empty bridge {bridge}"));
                }
            }
        }
        Ok(report)
    }
}

/// VIFGeneric: a bare tap (libvirt `type=ethernet`), no bridge.
pub struct Tap {
    cfg: Config,
}

impl Tap {
    pub fn new(cfg: Config) -> Self {
        Tap { cfg }
    }
}

impl Backend for Tap {
    fn name(&self) -> &'static str {
        "tap"
    }

    fn describe(&self) -> VersionedObject {
        plugin_info("tap", &[("VIFGeneric", &["VIFPortProfileFPTap"])])
    }

    fn plug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("tap_plug", id = vif.get_str("id")).entered();
        let spec = tap_spec(vif, &self.cfg)?;
        let mut rt = open()?;
        let mut undo = Undo::default();
        if let Err(e) = plug_tap(&mut rt, &spec, None, &mut undo) {
            undo.run(&mut rt);
            return Err(e);
        }
        let mut report = Report::new("tap");
        report.actions.push(format!("plugged tap {}", spec.name));
        report.details.insert("tap".into(), spec.name.into());
        report.details.insert("mtu".into(), spec.mtu.into());
        Ok(report)
    }

    fn unplug(&self, vif: &VersionedObject, _instance: &Instance) -> Result<Report> {
        let _s = tracing::info_span!("tap_unplug", id = vif.get_str("id")).entered();
        let name = req_str(vif, "vif_name")?;
        check_ifname(name)?;
        let mut rt = open()?;
        let mut report = Report::new("tap");
        unplug_tap(
            &mut rt,
            name,
            get_bool(vif, "preserve_on_delete"),
            &mut report,
        )?;
        Ok(report)
    }
}
