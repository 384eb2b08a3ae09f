//! A VF leaf's parent as an allocation sets and puts it back (`allocate --rate-parent`):
//! checked before the allocation touches anything (switchdev mode, the node exists, the VF
//! has a leaf), set and restored through [`super::vf_leaf`] (checked, read back).

use super::{ParentWant, RateError, RateWant};
use crate::devlink::EswitchMode;
use crate::host::{Host, HostError, PfId};
use crate::types::{PciAddress, RateNodeName};

/// Why `--rate-parent` cannot be honoured on VF `vf` of `pf`, or the leaf's parent now.
pub fn check_parent(
    host: &dyn Host,
    pf: &PciAddress,
    vf: u32,
    node: &RateNodeName,
) -> Result<Option<String>, String> {
    let objs = host
        .rate_objects(&PfId::Pci(*pf))
        .map_err(|e| format!("reading the devlink rate objects of {pf}: {e}"))?
        .ok_or_else(|| {
            format!("PF {pf} has no devlink eswitch, so its VFs have no rate leaf to parent")
        })?;
    if objs.mode != EswitchMode::Switchdev {
        return Err(format!(
            "PF {pf} ({}) is in {} eswitch mode; VF rate leaves and their parents exist in switchdev mode only",
            objs.devlink, objs.mode
        ));
    }
    if objs.node(node.as_str()).is_none() {
        let known: Vec<&str> = objs.rates.iter().filter_map(|r| r.node_name()).collect();
        return Err(format!(
            "rate node {node} does not exist on {} (nodes: {}); create it with `vifman rate-node add`",
            objs.devlink,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let leaf = objs.leaf_of_vf(vf).ok_or_else(|| {
        format!(
            "VF {vf} of {pf} has no devlink rate leaf on {}",
            objs.devlink
        )
    })?;
    Ok(leaf.parent.clone())
}

fn host_err(pf: &str, vf: u32, e: RateError) -> HostError {
    match e {
        RateError::Host(e) => e,
        e => HostError::other(format!("VF {vf} of {pf}: rate parent"), e.to_string()),
    }
}

/// The parent of VF `vf`'s leaf now (None: none, or no leaf: the PF left switchdev mode,
/// which takes the leaves and their parents with it).
pub fn parent_of(host: &dyn Host, pf: &str, vf: u32) -> Result<Option<String>, HostError> {
    match super::vf_leaf(host, pf, vf, &RateWant::default()) {
        Ok(r) => Ok(r.object.and_then(|o| o.entry.parent)),
        Err(RateError::NoLeaf { .. }) => Ok(None),
        Err(e) => Err(host_err(pf, vf, e)),
    }
}

/// Parent VF `vf`'s leaf to `parent` (None: detach), read back.
pub fn set_parent(
    host: &dyn Host,
    pf: &str,
    vf: u32,
    parent: Option<&str>,
) -> Result<(), HostError> {
    let parent = match parent {
        None => ParentWant::Clear,
        Some(p) => ParentWant::Set(p.parse().map_err(|e: crate::types::TypeError| {
            HostError::other(format!("VF {vf} of {pf}: rate parent {p:?}"), e.to_string())
        })?),
    };
    let want = RateWant {
        parent,
        ..Default::default()
    };
    super::vf_leaf(host, pf, vf, &want)
        .map(drop)
        .map_err(|e| host_err(pf, vf, e))
}
