//! Devlink rate objects of a PF's instance, as the engine needs them: the leaves (one per VF
//! port, switchdev mode only) and the nodes (named groups leaves and nodes are parented to),
//! with their tx_share / tx_max (bytes/s, as devlink carries them) and parent. One
//! [`RateOp`] is one kernel request (RATE_NEW, RATE_SET or RATE_DEL), so a failure names
//! exactly one request and carries the kernel's extended-ack text where it sent one. The real
//! kernel answers over generic netlink ([`crate::devlink`]); the simulation keeps the objects
//! in the tree's `devlink.json` (see `sim/rate.rs`); a fixture tree read without the
//! simulation answers from that record, read-only.

use serde::Serialize;

use super::eswitch::{devlink_err, instance, open, PfId};
use super::HostError;
use crate::devlink::model::mbit_to_bytes;
use crate::devlink::record::DevlinkRecord;
use crate::devlink::{
    pf, DevHandle, Devlink, EswitchMode, Port, PortFlavour, Rate, RateChange, RateObject,
};
use crate::netlink::PfLinkState;
use crate::types::PciAddress;

/// One rate object of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateEntry {
    /// `"type": "leaf", "port": N` or `"type": "node", "name": S`.
    #[serde(flatten)]
    pub object: RateObject,
    /// For a leaf: the VF whose port it is (local `pcivf` ports), from the port map.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vf: Option<u32>,
    /// Guaranteed rate, bytes/s.
    pub tx_share: u64,
    /// Rate limit, bytes/s (0: none).
    pub tx_max: u64,
    /// The node this object is parented to.
    pub parent: Option<String>,
}

impl RateEntry {
    pub fn node_name(&self) -> Option<&str> {
        match &self.object {
            RateObject::Node { name } => Some(name),
            RateObject::Leaf { .. } => None,
        }
    }
}

/// The rate objects of one PF's devlink instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateObjects {
    /// The devlink handle, `bus/dev`.
    pub devlink: String,
    /// Leaves exist in switchdev mode only; nodes can be created only there.
    pub mode: EswitchMode,
    /// Nodes first (by name), then leaves (by port), as `devlink` lists them.
    pub rates: Vec<RateEntry>,
}

impl RateObjects {
    pub fn node(&self, name: &str) -> Option<&RateEntry> {
        self.rates.iter().find(|r| r.node_name() == Some(name))
    }

    pub fn leaf_of_vf(&self, vf: u32) -> Option<&RateEntry> {
        self.rates
            .iter()
            .find(|r| matches!(r.object, RateObject::Leaf { .. }) && r.vf == Some(vf))
    }

    /// The objects parented to `node`.
    pub fn children(&self, node: &str) -> Vec<&RateEntry> {
        self.rates
            .iter()
            .filter(|r| r.parent.as_deref() == Some(node))
            .collect()
    }
}

/// One rate request on a PF's instance. Rates in bytes/s; `change.parent` `Some("")`
/// detaches from the parent (devlink's `noparent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateOp {
    /// RATE_NEW: a node, with its initial rates and parent.
    NewNode { name: String, change: RateChange },
    /// RATE_SET on a node.
    SetNode { name: String, change: RateChange },
    /// RATE_DEL of a node (the kernel answers EBUSY while something is parented to it).
    DelNode { name: String },
    /// RATE_SET on VF `vf`'s leaf (its local `pcivf` port).
    SetLeaf { vf: u32, change: RateChange },
}

impl RateOp {
    /// As `devlink port function rate` words, for errors, spans and the simulation's
    /// journal: "rate add PF/grp1 tx_max 62500000".
    pub fn describe(&self, pf: &PfId) -> String {
        let (verb, target, change) = match self {
            RateOp::NewNode { name, change } => ("add", name.clone(), Some(change)),
            RateOp::SetNode { name, change } => ("set", name.clone(), Some(change)),
            RateOp::DelNode { name } => ("del", name.clone(), None),
            RateOp::SetLeaf { vf, change } => ("set", format!("vf{vf}"), Some(change)),
        };
        let mut s = format!("devlink rate {verb} {pf}/{target}");
        if let Some(c) = change {
            if let Some(v) = c.tx_share {
                s.push_str(&format!(" tx_share {v}"));
            }
            if let Some(v) = c.tx_max {
                s.push_str(&format!(" tx_max {v}"));
            }
            match c.parent.as_deref() {
                Some("") => s.push_str(" noparent"),
                Some(p) => s.push_str(&format!(" parent {p}")),
                None => {}
            }
        }
        s
    }
}

/// The rate objects of `dev` from a rate dump and a port dump (leaves get their VF).
pub(crate) fn entries(dev: &DevHandle, rates: &[Rate], ports: &[Port]) -> Vec<RateEntry> {
    let vf_of = |port: u32| {
        ports
            .iter()
            .find(|p| {
                &p.dev == dev && p.index == port && p.flavour == PortFlavour::PciVf && !p.external
            })
            .and_then(|p| p.vfnum.map(u32::from))
    };
    let mut v: Vec<RateEntry> = rates
        .iter()
        .filter(|r| &r.dev == dev)
        .map(|r| RateEntry {
            vf: match r.object {
                RateObject::Leaf { port } => vf_of(port),
                RateObject::Node { .. } => None,
            },
            object: r.object.clone(),
            tx_share: r.tx_share,
            tx_max: r.tx_max,
            parent: r.parent.clone().filter(|p| !p.is_empty()),
        })
        .collect();
    v.sort_by(|a, b| match (&a.object, &b.object) {
        (RateObject::Node { name: x }, RateObject::Node { name: y }) => x.cmp(y),
        (RateObject::Leaf { port: x }, RateObject::Leaf { port: y }) => x.cmp(y),
        (RateObject::Node { .. }, _) => std::cmp::Ordering::Less,
        _ => std::cmp::Ordering::Greater,
    });
    v
}

/// The rate objects of `pf` on the live kernel; None without a devlink instance or when
/// its driver has no eswitch.
pub(super) fn real_rate_objects(pf: &PfId) -> Result<Option<RateObjects>, HostError> {
    let _span = tracing::debug_span!("devlink_rate_get", pf = %pf).entered();
    let op = format!("devlink rate show {pf}");
    let Some(mut dl) = open()? else {
        return Ok(None);
    };
    let Some(dev) = instance(&mut dl, pf).map_err(|e| devlink_err(&op, e))? else {
        return Ok(None);
    };
    let mode = match dl.eswitch(&dev) {
        Ok(e) => e.mode,
        Err(e) if e.unsupported() => return Ok(None),
        Err(e) => return Err(devlink_err(&op, e)),
    };
    let rates = dl.rates().map_err(|e| devlink_err(&op, e))?;
    let ports = dl.ports_of(&dev).map_err(|e| devlink_err(&op, e))?;
    Ok(Some(RateObjects {
        devlink: dev.to_string(),
        mode,
        rates: entries(&dev, &rates, &ports),
    }))
}

/// One rate request on the live kernel.
pub(super) fn real_change_rate(pf: &PfId, rop: &RateOp) -> Result<(), HostError> {
    let op = rop.describe(pf);
    let _span = tracing::info_span!("devlink_rate_change", op = %op).entered();
    let mut dl = open()?.ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
    let dev = instance(&mut dl, pf)
        .map_err(|e| devlink_err(&op, e))?
        .ok_or_else(|| HostError::kernel(&op, libc::ENODEV))?;
    let r = match rop {
        RateOp::NewNode { name, change } => dl.new_rate_node(&dev, name, change),
        RateOp::SetNode { name, change } => {
            let object = RateObject::Node { name: name.clone() };
            dl.set_rate(&dev, &object, change)
        }
        RateOp::DelNode { name } => dl.del_rate_node(&dev, name),
        RateOp::SetLeaf { vf, change } => {
            let port = leaf_port(&mut dl, &dev, *vf, &op)?;
            dl.set_rate(&dev, &RateObject::Leaf { port }, change)
        }
    };
    r.map_err(|e| devlink_err(&op, e))
}

/// The port of VF `vf`'s leaf: its local `pcivf` port (switchdev mode only).
fn leaf_port(dl: &mut Devlink, dev: &DevHandle, vf: u32, op: &str) -> Result<u32, HostError> {
    pf::vf_port(dl, dev, vf).map_err(|e| match e {
        pf::PfError::Devlink(e) => devlink_err(op, e),
        e => HostError::other(op, e.to_string()),
    })
}

/// The rate objects of PCI PF `a` as a tree's devlink record has them: its nodes, and a
/// leaf per local VF port (as the drivers create one with each port) whose rates are the
/// VF's IFLA_VF_RATE state in `link` (one storage, as on netdevsim) and whose parent is the
/// record's. None when the record has no instance for `a`.
pub(crate) fn rates_from_record(
    r: &DevlinkRecord,
    a: &PciAddress,
    link: Option<&PfLinkState>,
) -> Option<RateObjects> {
    let dev = DevHandle::new("pci", &a.to_string());
    let inst = r.instance(&dev)?;
    let mut rates: Vec<Rate> = r
        .rates
        .iter()
        .filter(|x| x.dev == dev && matches!(x.object, RateObject::Node { .. }))
        .cloned()
        .collect();
    for p in r
        .ports_of(&dev)
        .filter(|p| p.flavour == PortFlavour::PciVf && !p.external)
    {
        let object = RateObject::Leaf { port: p.index };
        let recorded = r.rates.iter().find(|x| x.dev == dev && x.object == object);
        let state = link.and_then(|l| l.vfs.iter().find(|s| Some(s.vf) == p.vfnum.map(u32::from)));
        rates.push(Rate {
            dev: dev.clone(),
            tx_share: state
                .map(|s| mbit_to_bytes(s.min_tx_rate))
                .or(recorded.map(|x| x.tx_share))
                .unwrap_or(0),
            tx_max: state
                .map(|s| mbit_to_bytes(s.max_tx_rate))
                .or(recorded.map(|x| x.tx_max))
                .unwrap_or(0),
            parent: recorded.and_then(|x| x.parent.clone()),
            object,
        });
    }
    Some(RateObjects {
        devlink: dev.to_string(),
        mode: inst.mode,
        rates: entries(&dev, &rates, &r.ports),
    })
}

/// The PF's uplink netdev in the record (its `physical` port's), whose VF state holds the
/// leaves' rates.
pub(crate) fn record_uplink(r: &DevlinkRecord, a: &PciAddress) -> Option<String> {
    let dev = DevHandle::new("pci", &a.to_string());
    let uplink = r
        .ports_of(&dev)
        .find(|p| p.flavour == PortFlavour::Physical)
        .and_then(|p| p.netdev.clone());
    uplink
}
