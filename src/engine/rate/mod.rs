//! Devlink rate nodes and VF leaves as a managed capability: `vifman rate-node
//! list|add|set|del` and `vifman vf rate`. Every request is checked against the instance's
//! rate objects first (the node exists or not, its parent exists and is not below it, it has
//! no children before a delete, the VF has a leaf), so a refusal changes nothing and names
//! the reason in vifman's words instead of a bare errno; what the kernel still refuses is
//! reported with its extack text. Every change is read back; a request the kernel applied
//! half of (it sets tx_share, tx_max, then the parent) is put back to the values before.

pub mod leaf;
mod report;
mod want;

pub use report::{RateError, RateLine, RateReport, RateResult};
pub use want::{ParentWant, RateWant};

use super::{Engine, EngineError};
use crate::devlink::{DevHandle, EswitchMode, RateChange};
use crate::host::{Host, PfId, RateEntry, RateObjects, RateOp};
use crate::types::{IfName, RateNodeName};

/// The PF as the host's devlink side names it: a PCI PF by address (its netdev name and
/// `pci/ADDR` handle work too), another handle as given, else a netdev (netdevsim's PF).
fn pf_id(host: &dyn Host, pf: &str) -> Result<PfId, RateError> {
    if let Some(a) = super::eswitch::pci_pf(&host.scan(), pf) {
        return Ok(PfId::Pci(a));
    }
    if let Ok(h) = pf.parse::<DevHandle>() {
        return Ok(match h.dev.parse() {
            Ok(a) if h.bus == "pci" => PfId::Pci(a),
            _ => PfId::Handle(h),
        });
    }
    pf.parse::<IfName>()
        .map(PfId::Netdev)
        .map_err(|_| RateError::NoEswitch { pf: pf.to_string() })
}

/// The PF's id and its instance's rate objects now.
fn resolve(host: &dyn Host, pf: &str) -> Result<(PfId, RateObjects), RateError> {
    let id = pf_id(host, pf)?;
    let objs = host
        .rate_objects(&id)?
        .ok_or_else(|| RateError::NoEswitch { pf: pf.to_string() })?;
    Ok((id, objs))
}

fn unknown_node(objs: &RateObjects, node: &str) -> RateError {
    let known: Vec<&str> = objs.rates.iter().filter_map(|r| r.node_name()).collect();
    RateError::UnknownNode {
        devlink: objs.devlink.clone(),
        node: node.to_string(),
        known: if known.is_empty() {
            "none".into()
        } else {
            known.join(", ")
        },
    }
}

/// A parent the request names must be a node of the instance.
fn check_parent(objs: &RateObjects, want: &RateWant) -> Result<(), RateError> {
    match &want.parent {
        ParentWant::Set(p) if objs.node(p.as_str()).is_none() => {
            Err(unknown_node(objs, p.as_str()))
        }
        _ => Ok(()),
    }
}

/// Which object a change is about, to find it again after a request.
#[derive(Clone, Copy)]
enum Target<'a> {
    Node(&'a str),
    Vf(u32),
}

impl Target<'_> {
    fn find<'o>(&self, objs: &'o RateObjects) -> Option<&'o RateEntry> {
        match self {
            Target::Node(n) => objs.node(n),
            Target::Vf(vf) => objs.leaf_of_vf(*vf),
        }
    }
    fn op(&self, change: RateChange) -> RateOp {
        match self {
            Target::Node(n) => RateOp::SetNode {
                name: n.to_string(),
                change,
            },
            Target::Vf(vf) => RateOp::SetLeaf { vf: *vf, change },
        }
    }
}

/// Sets `want` on an existing object (`before` as it is now), read back. A refusal or a
/// read-back that does not hold puts back what the kernel did apply of the request.
fn set_existing(
    host: &dyn Host,
    id: &PfId,
    target: Target,
    before: &RateEntry,
    want: &RateWant,
    what: &str,
) -> Result<RateEntry, RateError> {
    let op = target.op(want.change());
    let restore = |now: Option<&RateEntry>| -> String {
        let Some(c) = now.and_then(|n| want::restore(before, n)) else {
            return "nothing was changed".into();
        };
        let undo = target.op(c);
        match host.change_rate(id, &undo) {
            Ok(()) => format!(
                "the kernel had applied part of it; put back: {}",
                undo.describe(id)
            ),
            Err(e) => format!("the kernel had applied part of it, NOT undone: {e}"),
        }
    };
    let reread = || host.rate_objects(id).ok().flatten();
    if let Err(cause) = host.change_rate(id, &op) {
        let now = reread();
        return Err(RateError::Kernel {
            what: what.to_string(),
            cause: Box::new(cause),
            rollback: restore(now.as_ref().and_then(|o| target.find(o))),
        });
    }
    let after = host.rate_objects(id)?;
    let got = after.as_ref().and_then(|o| target.find(o));
    let Some(got) = got else {
        return Err(RateError::ReadBack {
            what: what.to_string(),
            field: "object",
            want: "present".into(),
            got: "gone".into(),
            rollback: "nothing to put back".into(),
        });
    };
    if let Some((field, w, g)) = want.mismatch(got) {
        return Err(RateError::ReadBack {
            what: what.to_string(),
            field,
            want: w,
            got: g,
            rollback: restore(Some(got)),
        });
    }
    Ok(got.clone())
}

/// The objects `node` is the parent of, described for a refusal.
fn children_of(objs: &RateObjects, node: &str) -> Vec<String> {
    objs.children(node)
        .iter()
        .map(|c| match (&c.object, c.vf) {
            (crate::devlink::RateObject::Node { name }, _) => format!("node {name}"),
            (crate::devlink::RateObject::Leaf { port }, Some(vf)) => {
                format!("VF {vf} (leaf {port})")
            }
            (crate::devlink::RateObject::Leaf { port }, None) => format!("leaf {port}"),
        })
        .collect()
}

/// Would parenting node `node` to `parent` make a cycle? (`parent` is `node` or below it.)
fn below(objs: &RateObjects, parent: &str, node: &str) -> bool {
    let mut up = Some(parent.to_string());
    for _ in 0..=objs.rates.len() {
        match up {
            Some(n) if n == node => return true,
            Some(n) => up = objs.node(&n).and_then(|e| e.parent.clone()),
            None => return false,
        }
    }
    false
}

fn result(pf: &str, devlink: &str, action: &'static str, e: Option<&RateEntry>) -> RateResult {
    RateResult {
        pf: pf.to_string(),
        devlink: devlink.to_string(),
        action,
        object: e.map(RateLine::from),
    }
}

/// `vifman rate-node list PF`: every rate object of the PF's instance.
pub fn list(host: &dyn Host, pf: &str) -> Result<RateReport, RateError> {
    let _span = tracing::info_span!("rate_list", pf).entered();
    let (_, objs) = resolve(host, pf)?;
    Ok(RateReport {
        pf: pf.to_string(),
        devlink: objs.devlink.clone(),
        mode: objs.mode,
        rates: objs.rates.iter().map(RateLine::from).collect(),
    })
}

/// `vifman rate-node add PF NAME ...`: a new node with its rates and parent, read back.
pub fn node_add(
    host: &dyn Host,
    pf: &str,
    name: &RateNodeName,
    want: &RateWant,
) -> Result<RateResult, RateError> {
    let _span = tracing::info_span!("rate_node_add", pf, node = %name).entered();
    let what = format!("rate node add {pf}/{name}");
    let (id, objs) = resolve(host, pf)?;
    if objs.node(name.as_str()).is_some() {
        return Err(RateError::NodeExists {
            devlink: objs.devlink,
            node: name.to_string(),
        });
    }
    check_parent(&objs, want)?;
    let want = RateWant {
        // A new node has no parent to detach from.
        parent: match &want.parent {
            ParentWant::Clear => ParentWant::Keep,
            p => p.clone(),
        },
        ..want.clone()
    };
    want.check(None).map_err(|reason| RateError::Invalid {
        what: what.clone(),
        reason,
    })?;
    let op = RateOp::NewNode {
        name: name.to_string(),
        change: want.change(),
    };
    if let Err(cause) = host.change_rate(&id, &op) {
        // The kernel frees a node whose first settings failed (devlink_nl_rate_new_doit).
        let mut rollback = "nothing was changed".to_string();
        if objs.mode == EswitchMode::Legacy && cause.errno() == Some(libc::EOPNOTSUPP) {
            rollback.push_str(&format!(
                " (the eswitch of {} is legacy: drivers create rate nodes in switchdev mode only)",
                objs.devlink
            ));
        }
        return Err(RateError::Kernel {
            what,
            cause: Box::new(cause),
            rollback,
        });
    }
    let after = host.rate_objects(&id)?;
    let got = after.as_ref().and_then(|o| o.node(name.as_str()));
    let bad = match got {
        None => Some(("node", "present".to_string(), "absent".to_string())),
        Some(g) => want.mismatch(g),
    };
    if let Some((field, w, g)) = bad {
        let del = RateOp::DelNode {
            name: name.to_string(),
        };
        let rollback = match got.map(|_| host.change_rate(&id, &del)) {
            None => "nothing to delete".to_string(),
            Some(Ok(())) => format!("deleted the node again ({})", del.describe(&id)),
            Some(Err(e)) => format!("the node is left in place: {e}"),
        };
        return Err(RateError::ReadBack {
            what,
            field,
            want: w,
            got: g,
            rollback,
        });
    }
    Ok(result(pf, &objs.devlink, "added", got))
}

/// `vifman rate-node set PF NAME ...`: rates and/or parent of an existing node.
pub fn node_set(
    host: &dyn Host,
    pf: &str,
    name: &RateNodeName,
    want: &RateWant,
) -> Result<RateResult, RateError> {
    let _span = tracing::info_span!("rate_node_set", pf, node = %name).entered();
    let what = format!("rate node set {pf}/{name}");
    let (id, objs) = resolve(host, pf)?;
    let before = objs
        .node(name.as_str())
        .ok_or_else(|| unknown_node(&objs, name.as_str()))?;
    if want.is_empty() {
        return Err(RateError::Invalid {
            what,
            reason: "nothing to set: give a rate, a parent or no parent".into(),
        });
    }
    check_parent(&objs, want)?;
    if let ParentWant::Set(p) = &want.parent {
        let why = if p == name {
            Some("a node cannot be its own parent")
        } else if below(&objs, p.as_str(), name.as_str()) {
            Some("that node is below it (a cycle)")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(RateError::BadParent {
                devlink: objs.devlink.clone(),
                node: name.to_string(),
                parent: p.to_string(),
                why,
            });
        }
    }
    want.check(Some(before))
        .map_err(|reason| RateError::Invalid {
            what: what.clone(),
            reason,
        })?;
    let got = set_existing(host, &id, Target::Node(name.as_str()), before, want, &what)?;
    Ok(result(pf, &objs.devlink, "set", Some(&got)))
}

/// `vifman rate-node del PF NAME`: refused while anything is parented to it.
pub fn node_del(host: &dyn Host, pf: &str, name: &RateNodeName) -> Result<RateResult, RateError> {
    let _span = tracing::info_span!("rate_node_del", pf, node = %name).entered();
    let what = format!("rate node del {pf}/{name}");
    let (id, objs) = resolve(host, pf)?;
    if objs.node(name.as_str()).is_none() {
        return Err(unknown_node(&objs, name.as_str()));
    }
    let children = children_of(&objs, name.as_str());
    if !children.is_empty() {
        return Err(RateError::HasChildren {
            devlink: objs.devlink,
            node: name.to_string(),
            children: children.join(", "),
        });
    }
    let op = RateOp::DelNode {
        name: name.to_string(),
    };
    host.change_rate(&id, &op)
        .map_err(|cause| RateError::Kernel {
            what: what.clone(),
            cause: Box::new(cause),
            rollback: "nothing was changed".into(),
        })?;
    let after = host.rate_objects(&id)?;
    if after.as_ref().and_then(|o| o.node(name.as_str())).is_some() {
        return Err(RateError::ReadBack {
            what,
            field: "node",
            want: "deleted".into(),
            got: "still present".into(),
            rollback: "nothing to put back".into(),
        });
    }
    Ok(result(pf, &objs.devlink, "deleted", None))
}

/// `vifman vf rate PF N ...`: VF `vf`'s leaf (rates and/or parent), read back; with
/// nothing asked, the leaf as it is.
pub fn vf_leaf(
    host: &dyn Host,
    pf: &str,
    vf: u32,
    want: &RateWant,
) -> Result<RateResult, RateError> {
    let _span = tracing::info_span!("vf_rate", pf, vf).entered();
    let what = format!("VF {vf} of {pf}: rate leaf");
    let (id, objs) = resolve(host, pf)?;
    let before = objs.leaf_of_vf(vf).ok_or_else(|| RateError::NoLeaf {
        pf: pf.to_string(),
        vf,
        devlink: objs.devlink.clone(),
        mode: objs.mode,
    })?;
    if want.is_empty() {
        return Ok(result(pf, &objs.devlink, "unchanged", Some(before)));
    }
    check_parent(&objs, want)?;
    want.check(Some(before))
        .map_err(|reason| RateError::Invalid {
            what: what.clone(),
            reason,
        })?;
    let got = set_existing(host, &id, Target::Vf(vf), before, want, &what)?;
    Ok(result(pf, &objs.devlink, "set", Some(&got)))
}

impl Engine<'_> {
    pub fn rate_list(&self, pf: &str) -> Result<RateReport, EngineError> {
        Ok(list(self.host, pf)?)
    }
    pub fn rate_node_add(
        &self,
        pf: &str,
        name: &RateNodeName,
        want: &RateWant,
    ) -> Result<RateResult, EngineError> {
        Ok(node_add(self.host, pf, name, want)?)
    }
    pub fn rate_node_set(
        &self,
        pf: &str,
        name: &RateNodeName,
        want: &RateWant,
    ) -> Result<RateResult, EngineError> {
        Ok(node_set(self.host, pf, name, want)?)
    }
    pub fn rate_node_del(&self, pf: &str, name: &RateNodeName) -> Result<RateResult, EngineError> {
        Ok(node_del(self.host, pf, name)?)
    }
    /// `vifman vf rate`: a change to a VF an allocation holds is refused unless `force`,
    /// as `vf set` (the store is held for the change: no allocate picks the VF half-set).
    /// A PF with no PCI VF functions (netdevsim) has no allocations to check.
    pub fn vf_rate(
        &self,
        pf: &str,
        vf: u32,
        want: &RateWant,
        force: bool,
    ) -> Result<RateResult, EngineError> {
        if want.is_empty() {
            return Ok(vf_leaf(self.host, pf, vf, want)?);
        }
        let mut store = self.open_store()?;
        let st: crate::store::StoreState = store.load()?;
        let view = self.load_view()?;
        // A devlink handle `pci/ADDR` is looked up by its address.
        let key = match pf_id(self.host, pf) {
            Ok(PfId::Pci(a)) => a.to_string(),
            _ => pf.to_string(),
        };
        if let Ok(v) = view.vf_of(&key, vf) {
            super::vfset::refuse_if_held(&st, v.addr, pf, vf, force)?;
        }
        let r = vf_leaf(self.host, pf, vf, want)?;
        drop(store);
        Ok(r)
    }
}
