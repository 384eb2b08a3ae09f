//! os-vif's hybrid plug (VIFBridge with an OVS profile): the guest TAP goes into a Linux
//! bridge `qbr…` (where iptables firewalling used to live), joined to OVS by a veth pair
//! `qvb…` (bridge side) / `qvo…` (OVS side). libvirt creates and enslaves the TAP itself.

use super::plug::{derived_name, Ovs, PortSpec};
use crate::backend::bridge::{ensure_bridge_with, open};
use crate::backend::rtnl::{BridgeSpec, LinkChange, Request, Rtnl};
use crate::backend::{check_ifname, req_str, BackendError, Report, Result};
use crate::vif::VersionedObject;

fn lookup(rt: &mut Rtnl, name: &str) -> Result<Option<crate::backend::rtnl::Link>> {
    rt.get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))
}

fn set(rt: &mut Rtnl, name: &str, ch: LinkChange) -> Result<()> {
    rt.request(Request::set_link_by_name(name, &ch))
        .map_err(|e| BackendError::netlink(format!("configure {name}"), e))
}

fn delete_if(rt: &mut Rtnl, name: &str, kind: &str) -> Result<bool> {
    match lookup(rt, name)? {
        Some(l) if l.kind.as_deref() == Some(kind) => {
            rt.request(Request::del_link(l.index, name))
                .map_err(|e| BackendError::netlink(format!("delete {name}"), e))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub fn plug(ovs: &Ovs, vif: &VersionedObject, spec: &PortSpec) -> Result<Report> {
    let _s = tracing::info_span!("ovs_hybrid_plug", port = %spec.port).entered();
    let qbr = req_str(vif, "bridge_name")?;
    check_ifname(qbr)?;
    let qvb = derived_name("qvb", req_str(vif, "id")?);
    let mut rt = open()?;
    let mut report = Report::new("ovs");
    // os-vif's hybrid bridge: no STP, no forward delay, no ageing, no snooping.
    let bspec = BridgeSpec {
        mtu: None,
        ageing_time: Some(0),
    };
    let (br, br_created) = ensure_bridge_with(&mut rt, qbr, true, &bspec)?;
    if br_created {
        report.actions.push(format!("created bridge {qbr}"));
        if let Err(e) = crate::backend::disable_ipv6(qbr) {
            let _ = delete_if(&mut rt, qbr, "bridge");
            return Err(e);
        }
    }
    let mut veth_created = false;
    let kernel = (|| -> Result<()> {
        match lookup(&mut rt, &spec.port)? {
            Some(l) if l.kind.as_deref() == Some("veth") => {
                // Re-plug: os-vif only refreshes the MTU of both ends.
                for n in [&qvb, &spec.port] {
                    set(
                        &mut rt,
                        n,
                        LinkChange {
                            mtu: Some(spec.mtu),
                            ..Default::default()
                        },
                    )?;
                }
            }
            Some(l) => {
                return Err(BackendError::NameCollision {
                    name: spec.port.clone(),
                    found: l.kind.unwrap_or_else(|| "a device".into()),
                    wanted: "veth".into(),
                })
            }
            None => {
                // A qvb left over without its qvo is stale.
                delete_if(&mut rt, &qvb, "veth")?;
                rt.request(Request::new_veth(&qvb, &spec.port, Some(spec.mtu)))
                    .map_err(|e| {
                        BackendError::netlink(format!("create veth {qvb}/{}", spec.port), e)
                    })?;
                veth_created = true;
                set(
                    &mut rt,
                    &qvb,
                    LinkChange {
                        master: Some(br),
                        up: Some(true),
                        ..Default::default()
                    },
                )?;
                set(
                    &mut rt,
                    &spec.port,
                    LinkChange {
                        up: Some(true),
                        ..Default::default()
                    },
                )?;
                report
                    .actions
                    .push(format!("created veth {qvb}/{} in {qbr}", spec.port));
            }
        }
        Ok(())
    })();
    let res = kernel.and_then(|()| ovs.plug_specs(std::slice::from_ref(spec)));
    match res {
        Ok(r) => {
            report.actions.extend(r.actions);
            report.details = r.details;
            report.details.insert("linux_bridge".into(), qbr.into());
            Ok(report)
        }
        Err(e) => {
            if veth_created {
                let _ = delete_if(&mut rt, &spec.port, "veth");
            }
            if br_created {
                let _ = delete_if(&mut rt, qbr, "bridge");
            }
            Err(e)
        }
    }
}

pub fn unplug(ovs: &Ovs, vif: &VersionedObject, spec: &PortSpec) -> Result<Report> {
    let qbr = req_str(vif, "bridge_name")?;
    check_ifname(qbr)?;
    unplug_named(ovs, qbr, spec)
}

/// Deletes the Linux bridge (which detaches the TAP), removes `qvo` from OVS and deletes
/// the veth pair. Each step skips what is already gone.
pub fn unplug_named(ovs: &Ovs, qbr: &str, spec: &PortSpec) -> Result<Report> {
    let _s = tracing::info_span!("ovs_hybrid_unplug", port = %spec.port).entered();
    let mut rt = open()?;
    let mut report = Report::new("ovs");
    if delete_if(&mut rt, qbr, "bridge")? {
        report.actions.push(format!("deleted bridge {qbr}"));
    }
    report
        .actions
        .extend(ovs.unplug_ports(std::slice::from_ref(&spec.port))?);
    if delete_if(&mut rt, &spec.port, "veth")? {
        report.actions.push(format!("deleted veth {}", spec.port));
    }
    Ok(report)
}
