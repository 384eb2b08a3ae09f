//! `[[pf.rate_nodes]]`: devlink rate nodes a PF's instance must have (switchdev mode).
//! `vifman apply` creates them in file order, so a node's parent must be listed before it,
//! and sets a node that exists to the rates and parent written (keys not written are left
//! as the kernel has them). Nodes the policy does not name are left alone.

use toml::Spanned;

use super::at;
use super::raw::RawRateNode;
use super::values::Bad;
use crate::types::RateNodeName;

/// One `[[pf.rate_nodes]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateNodePolicy {
    pub index: usize,
    pub name: RateNodeName,
    /// Guaranteed rate, Mbit/s (devlink tx_share).
    pub min_tx_rate: Option<u32>,
    /// Rate limit, Mbit/s (devlink tx_max); 0: none.
    pub max_tx_rate: Option<u32>,
    /// A node listed before this one.
    pub parent: Option<RateNodeName>,
}

fn name(key: &str, v: &Spanned<String>) -> Result<RateNodeName, Bad> {
    v.get_ref()
        .parse()
        .map_err(|e: crate::types::TypeError| (key.to_string(), e.to_string(), at(v)))
}

fn rate(key: &str, v: &Option<Spanned<i64>>) -> Result<Option<u32>, Bad> {
    let Some(v) = v else { return Ok(None) };
    let n = *v.get_ref();
    u32::try_from(n).map(Some).map_err(|_| {
        (
            key.to_string(),
            format!(
                "{n} is out of range: a rate in Mbit/s must be 0..={}",
                u32::MAX
            ),
            at(v),
        )
    })
}

/// The entries in file order; keys in errors are relative to the `[[pf]]` table.
pub(super) fn from_raw(raw: &[Spanned<RawRateNode>]) -> Result<Vec<RateNodePolicy>, Bad> {
    let mut out: Vec<RateNodePolicy> = Vec::with_capacity(raw.len());
    for (j, r) in raw.iter().enumerate() {
        let k = |f: &str| format!("rate_nodes[{j}].{f}");
        let r0 = r.get_ref();
        let Some(n) = &r0.name else {
            return Err((
                k("name"),
                "a [[pf.rate_nodes]] entry needs `name`".into(),
                at(r),
            ));
        };
        let node = name(&k("name"), n)?;
        if out.iter().any(|o| o.name == node) {
            return Err((
                k("name"),
                format!("rate node {node} is listed twice"),
                at(n),
            ));
        }
        let parent = match &r0.parent {
            None => None,
            Some(p) => {
                let pn = name(&k("parent"), p)?;
                if pn == node {
                    return Err((k("parent"), "a node cannot be its own parent".into(), at(p)));
                }
                if !out.iter().any(|o| o.name == pn) {
                    return Err((
                        k("parent"),
                        format!("{pn} is not a rate node listed before {node} (nodes are created in file order)"),
                        at(p),
                    ));
                }
                Some(pn)
            }
        };
        let min_tx_rate = rate(&k("min_tx_rate"), &r0.min_tx_rate)?;
        let max_tx_rate = rate(&k("max_tx_rate"), &r0.max_tx_rate)?;
        if let (Some(lo), Some(hi)) = (min_tx_rate, max_tx_rate) {
            if hi != 0 && lo > hi {
                return Err((
                    k("min_tx_rate"),
                    format!("min_tx_rate {lo} is above max_tx_rate {hi}"),
                    r0.min_tx_rate.as_ref().and_then(at),
                ));
            }
        }
        out.push(RateNodePolicy {
            index: j,
            name: node,
            min_tx_rate,
            max_tx_rate,
            parent,
        });
    }
    Ok(out)
}
