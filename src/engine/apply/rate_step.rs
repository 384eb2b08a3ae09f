//! The plan's rate-node steps: each `[[pf.rate_nodes]]` entry against the PF's devlink rate
//! objects, in file order (a parent before its children). A node that is missing is added,
//! one whose written keys differ is set; each step is carried out by `engine::rate` (checked,
//! read back) and undone by deleting the node it added or setting back the values it found.
//! They go after the eswitch step (nodes exist in switchdev mode only) and before the VF
//! knobs, so VF rates are set with their nodes in place.

use super::action::{step, Action};
use super::resolve::Resolved;
use super::{ApplyError, Step};
use crate::devlink::model::bytes_to_mbit;
use crate::engine::rate::{self, ParentWant, RateWant};
use crate::host::{Host, HostError, PfId, RateEntry};
use crate::types::{PciAddress, RateNodeName};

fn describe_entry(e: &RateEntry) -> String {
    format!(
        "min_tx_rate {} max_tx_rate {} parent {}",
        bytes_to_mbit(e.tx_share),
        bytes_to_mbit(e.tx_max),
        e.parent.as_deref().unwrap_or("-")
    )
}

fn describe_want(w: &RateWant) -> String {
    let mut v = vec![];
    if let Some(m) = w.min_mbps {
        v.push(format!("min_tx_rate {m}"));
    }
    if let Some(m) = w.max_mbps {
        v.push(format!("max_tx_rate {m}"));
    }
    if let ParentWant::Set(p) = &w.parent {
        v.push(format!("parent {p}"));
    }
    if v.is_empty() {
        "present".into()
    } else {
        v.join(" ")
    }
}

/// The rate-node steps of one PF. `mode_change`: the plan changes the eswitch mode first
/// (to switchdev), after which the instance has no nodes: every node is added.
pub(super) fn plan_rate_nodes(
    host: &dyn Host,
    r: &Resolved,
    mode_change: bool,
) -> Result<Vec<Step>, ApplyError> {
    let p = r.policy;
    if p.rate_nodes.is_empty() {
        return Ok(vec![]);
    }
    let pf = r.pf;
    let objs = if mode_change {
        None
    } else {
        host.rate_objects(&PfId::Pci(pf))?
    };
    let devlink = objs
        .as_ref()
        .map(|o| o.devlink.clone())
        .unwrap_or_else(|| format!("pci/{pf}"));
    let mut steps = vec![];
    for n in &p.rate_nodes {
        let want = RateWant {
            min_mbps: n.min_tx_rate,
            max_mbps: n.max_tx_rate,
            parent: n.parent.clone().map(ParentWant::Set).unwrap_or_default(),
        };
        let before = objs.as_ref().and_then(|o| o.node(n.name.as_str())).cloned();
        if before.as_ref().is_some_and(|b| want.mismatch(b).is_none()) {
            continue;
        }
        steps.push(step(
            &pf,
            format!("devlink {devlink} rate node {}", n.name),
            before
                .as_ref()
                .map(describe_entry)
                .unwrap_or_else(|| "(none)".into()),
            describe_want(&want),
            Some("policy rate_nodes, in file order: after the eswitch mode, before VF rates"),
            Action::RateNode {
                pf,
                name: n.name.clone(),
                want,
                before,
            },
        ));
    }
    Ok(steps)
}

fn host_err(pf: &PciAddress, name: &RateNodeName, e: rate::RateError) -> HostError {
    match e {
        rate::RateError::Host(e) => e,
        e => HostError::other(format!("rate node {name} of {pf}"), e.to_string()),
    }
}

/// Carry out a rate-node step; Ok(false) when the node already is as wanted.
pub(super) fn run(
    host: &dyn Host,
    pf: &PciAddress,
    name: &RateNodeName,
    want: &RateWant,
) -> Result<bool, HostError> {
    let objs = host.rate_objects(&PfId::Pci(*pf))?;
    let p = pf.to_string();
    let r = match objs.as_ref().and_then(|o| o.node(name.as_str())) {
        Some(c) if want.mismatch(c).is_none() => return Ok(false),
        Some(_) => rate::node_set(host, &p, name, want),
        None => rate::node_add(host, &p, name, want),
    };
    r.map(|_| true).map_err(|e| host_err(pf, name, e))
}

/// Undo a done rate-node step: delete the node it added, or set back what it found.
pub(super) fn undo(
    host: &dyn Host,
    pf: &PciAddress,
    name: &RateNodeName,
    before: Option<&RateEntry>,
) -> Result<(), HostError> {
    let p = pf.to_string();
    let r = match before {
        None => rate::node_del(host, &p, name),
        Some(b) => {
            let mbit = |v: u64| u32::try_from(bytes_to_mbit(v)).unwrap_or(u32::MAX);
            let parent = match &b.parent {
                None => ParentWant::Clear,
                Some(x) => ParentWant::Set(x.parse().map_err(|e: crate::types::TypeError| {
                    HostError::other(format!("rate node {name} of {pf}"), e.to_string())
                })?),
            };
            let want = RateWant {
                min_mbps: Some(mbit(b.tx_share)),
                max_mbps: Some(mbit(b.tx_max)),
                parent,
            };
            rate::node_set(host, &p, name, &want)
        }
    };
    r.map(drop).map_err(|e| host_err(pf, name, e))
}
