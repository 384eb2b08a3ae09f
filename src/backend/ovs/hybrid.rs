//! os-vif's hybrid plug (VIFBridge with an OVS profile): the guest TAP goes into a Linux
//! bridge `qbr…` (where iptables firewalling used to live), joined to OVS by a veth pair
//! `qvb…` (bridge side) / `qvo…` (OVS side). libvirt creates and enslaves the TAP itself.

use super::spec::PortSpec;
use super::txn::Txn;
use crate::backend::bridge::{ensure_bridge_with, open};
use crate::backend::rtnl::{BridgeSpec, LinkChange, Request, Rtnl};
use crate::backend::{BackendError, Report, Result};
use crate::types::IfName;

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
            match rt.request(Request::del_link(l.index, name)) {
                Ok(()) => Ok(true),
                Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
                Err(e) => Err(BackendError::netlink(format!("delete {name}"), e)),
            }
        }
        _ => Ok(false),
    }
}

/// Plugs `spec.port` (the qvo end) into OVS and its peer `qvb` into Linux bridge `qbr`.
pub fn plug(txn: &Txn, qbr: &IfName, qvb: &IfName, spec: &PortSpec) -> Result<Report> {
    let _s = tracing::info_span!("ovs_hybrid_plug", port = %spec.port).entered();
    let qvb = qvb.as_str();
    let qvo = spec.port.as_str();
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
            let _ = delete_if(&mut rt, qbr.as_str(), "bridge");
            return Err(e);
        }
    }
    let mut veth_created = false;
    let kernel = (|| -> Result<()> {
        match lookup(&mut rt, qvo)? {
            Some(l) if l.kind.as_deref() == Some("veth") => {
                // Re-plug: os-vif only refreshes the MTU of both ends.
                for n in [qvb, qvo] {
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
                    name: qvo.to_string(),
                    found: l.kind.unwrap_or_else(|| "a device".into()),
                    wanted: "veth".into(),
                })
            }
            None => {
                // A qvb left over without its qvo is stale.
                delete_if(&mut rt, qvb, "veth")?;
                rt.request(Request::new_veth(qvb, qvo, Some(spec.mtu)))
                    .map_err(|e| BackendError::netlink(format!("create veth {qvb}/{qvo}"), e))?;
                veth_created = true;
                set(
                    &mut rt,
                    qvb,
                    LinkChange {
                        master: Some(br),
                        up: Some(true),
                        ..Default::default()
                    },
                )?;
                set(
                    &mut rt,
                    qvo,
                    LinkChange {
                        up: Some(true),
                        ..Default::default()
                    },
                )?;
                report
                    .actions
                    .push(format!("created veth {qvb}/{qvo} in {qbr}"));
            }
        }
        Ok(())
    })();
    let res = kernel.and_then(|()| txn.plug_specs(std::slice::from_ref(spec)));
    match res {
        Ok(r) => {
            report.actions.extend(r.actions);
            report.details = r.details;
            report
                .details
                .insert("linux_bridge".into(), qbr.as_str().into());
            Ok(report)
        }
        Err(e) => {
            if veth_created {
                let _ = delete_if(&mut rt, qvo, "veth");
            }
            if br_created {
                let _ = delete_if(&mut rt, qbr.as_str(), "bridge");
            }
            Err(e)
        }
    }
}

/// Deletes the Linux bridge (which detaches the TAP), removes `qvo` from OVS and deletes
/// the veth pair. Each step skips what is already gone.
pub fn unplug(txn: &Txn, qbr: &IfName, spec: &PortSpec) -> Result<Report> {
    let _s = tracing::info_span!("ovs_hybrid_unplug", port = %spec.port).entered();
    let mut rt = open()?;
    let mut report = Report::new("ovs");
    if delete_if(&mut rt, qbr.as_str(), "bridge")? {
        report.actions.push(format!("deleted bridge {qbr}"));
    }
    report
        .actions
        .extend(txn.unplug_ports(std::slice::from_ref(&spec.port))?);
    if delete_if(&mut rt, spec.port.as_str(), "veth")? {
        report.actions.push(format!("deleted veth {}", spec.port));
    }
    Ok(report)
}
