//! The plan's rate-node steps: each `[[pf.rate_nodes]]` entry against the PF's devlink rate
//! objects, in file order (a parent before its children). A node that is missing is added,
//! one whose written keys differ is set; each step is carried out by `engine::rate` (checked,
//! read back) and undone by deleting the node it added or setting back the values it found.
//! They go after the eswitch step (nodes exist in switchdev mode only) and before the VF
//! knobs, so VF rates are set with their nodes in place. A VF's leaf parent
//! (`rate_parent` in `[[pf.vf]]`) is one step per VF after the nodes: set through
//! `engine::rate::vf_leaf`, undone by setting back the parent found (or none).

use super::action::{describe_alloc, step, Action, Planned};
use super::{ApplyError, Step};
use crate::config::policy::PfPolicy;
use crate::devlink::model::bytes_to_mbit;
use crate::engine::rate::{self, ParentWant, RateWant};
use crate::host::{Host, HostError, PfId, RateEntry};
use crate::store::Allocation;
use crate::types::RateNodeName;

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

/// The PF's rate objects as found, and its devlink instance name; none when the plan
/// (re)creates the eswitch first (`fresh`): a new switchdev instance has no nodes or parents.
fn rate_objects(
    host: &dyn Host,
    pf: &PfId,
    fresh: bool,
) -> Result<(Option<crate::host::RateObjects>, String), ApplyError> {
    let objs = if fresh { None } else { host.rate_objects(pf)? };
    let devlink = objs
        .as_ref()
        .map(|o| o.devlink.clone())
        .unwrap_or_else(|| match pf {
            PfId::Pci(a) => format!("pci/{a}"),
            other => format!("of {other}"),
        });
    Ok((objs, devlink))
}

/// The rate-node steps of one PF. `mode_change`: the plan changes the eswitch mode first
/// (to switchdev), after which the instance has no nodes: every node is added.
pub(super) fn plan_rate_nodes(
    host: &dyn Host,
    p: &PfPolicy,
    pf: &PfId,
    mode_change: bool,
) -> Result<Vec<Step>, ApplyError> {
    if p.rate_nodes.is_empty() {
        return Ok(vec![]);
    }
    let (objs, devlink) = rate_objects(host, pf, mode_change)?;
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
            pf,
            format!("devlink {devlink} rate node {}", n.name),
            before
                .as_ref()
                .map(describe_entry)
                .unwrap_or_else(|| "(none)".into()),
            describe_want(&want),
            Some("policy rate_nodes, in file order: after the eswitch mode, before VF rates"),
            Action::RateNode {
                pf: pf.clone(),
                name: n.name.clone(),
                want,
                before,
            },
        ));
    }
    Ok(steps)
}

fn host_err(pf: &PfId, name: &RateNodeName, e: rate::RateError) -> HostError {
    match e {
        rate::RateError::Host(e) => e,
        e => HostError::other(format!("rate node {name} of {pf}"), e.to_string()),
    }
}

/// Carry out a rate-node step; Ok(false) when the node already is as wanted.
pub(super) fn run(
    host: &dyn Host,
    pf: &PfId,
    name: &RateNodeName,
    want: &RateWant,
) -> Result<bool, HostError> {
    let objs = host.rate_objects(pf)?;
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
    pf: &PfId,
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

/// The leaf-parent steps of one PF, for VFs `0..count` whose policy names a `rate_parent`.
/// `fresh`: the plan switches the mode or re-creates the VFs first, so every leaf starts
/// with no parent. A VF an allocation holds is a conflict (like its knobs).
pub(super) fn plan_leaf_parents(
    host: &dyn Host,
    p: &PfPolicy,
    pf: &PfId,
    count: u32,
    fresh: bool,
    allocs: &[&Allocation],
    out: &mut Planned,
) -> Result<Vec<Step>, ApplyError> {
    let wants: Vec<(u32, RateNodeName)> = (0..count)
        .filter_map(|i| p.for_vf(i).and_then(|v| v.rate_parent).map(|n| (i, n)))
        .collect();
    if wants.is_empty() {
        return Ok(vec![]);
    }
    let (objs, devlink) = rate_objects(host, pf, fresh)?;
    let mut steps = vec![];
    for (i, to) in wants {
        let from = objs
            .as_ref()
            .and_then(|o| o.leaf_of_vf(i))
            .and_then(|l| l.parent.clone());
        if from.as_deref() == Some(to.as_str()) {
            continue;
        }
        if !fresh {
            if let Some(a) = allocs.iter().find(|a| a.vf_index == i) {
                out.conflicts.push(format!(
                    "{}: the policy would set its rate parent {to}",
                    describe_alloc(a)
                ));
            }
        }
        steps.push(step(
            pf,
            format!("devlink {devlink} vf {i} rate parent"),
            from.clone().unwrap_or_else(|| "(none)".into()),
            to.to_string(),
            Some("policy rate_parent: after the rate nodes exist"),
            Action::RateParent {
                pf: pf.clone(),
                vf_index: i,
                from,
                to,
            },
        ));
    }
    Ok(steps)
}

fn leaf_err(pf: &PfId, vf: u32, e: rate::RateError) -> HostError {
    match e {
        rate::RateError::Host(e) => e,
        e => HostError::other(format!("VF {vf} of {pf}: rate parent"), e.to_string()),
    }
}

/// Parent VF `vf`'s leaf to `to`; Ok(false) when it already is.
pub(super) fn run_parent(
    host: &dyn Host,
    pf: &PfId,
    vf: u32,
    to: &RateNodeName,
) -> Result<bool, HostError> {
    let objs = host.rate_objects(pf)?;
    if objs
        .as_ref()
        .and_then(|o| o.leaf_of_vf(vf))
        .is_some_and(|l| l.parent.as_deref() == Some(to.as_str()))
    {
        return Ok(false);
    }
    let want = RateWant {
        parent: ParentWant::Set(to.clone()),
        ..Default::default()
    };
    rate::vf_leaf(host, &pf.to_string(), vf, &want)
        .map(|_| true)
        .map_err(|e| leaf_err(pf, vf, e))
}

/// Undo a done leaf-parent step: the parent found before it, or none.
pub(super) fn undo_parent(
    host: &dyn Host,
    pf: &PfId,
    vf: u32,
    from: Option<&str>,
) -> Result<(), HostError> {
    let parent = match from {
        None => ParentWant::Clear,
        Some(x) => ParentWant::Set(x.parse().map_err(|e: crate::types::TypeError| {
            HostError::other(format!("VF {vf} of {pf}: rate parent"), e.to_string())
        })?),
    };
    let want = RateWant {
        parent,
        ..Default::default()
    };
    rate::vf_leaf(host, &pf.to_string(), vf, &want)
        .map(drop)
        .map_err(|e| leaf_err(pf, vf, e))
}
