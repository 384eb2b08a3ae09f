//! What `engine::rate` reports: its errors (each refusal naming the reason and what was
//! put back) and the objects as read back, with the rates in Mbit/s too.

use serde::Serialize;

use crate::devlink::model::bytes_to_mbit;
use crate::devlink::EswitchMode;
use crate::engine::EngineError;
use crate::host::{HostError, RateEntry};

#[derive(Debug, thiserror::Error)]
pub enum RateError {
    #[error("{pf} has no devlink eswitch (no devlink instance, or its driver has no eswitch mode), so no rate objects")]
    NoEswitch { pf: String },
    #[error("{what}: {reason}; nothing was changed")]
    Invalid { what: String, reason: String },
    #[error("rate node {node} already exists on {devlink}; nothing was changed")]
    NodeExists { devlink: String, node: String },
    #[error("no rate node {node} on {devlink} (its nodes: {known}); nothing was changed")]
    UnknownNode {
        devlink: String,
        node: String,
        known: String,
    },
    #[error("VF {vf} of {pf} has no devlink rate leaf on {devlink} (eswitch {mode}): VF ports and their leaves exist in switchdev mode only, one per VF; nothing was changed")]
    NoLeaf {
        pf: String,
        vf: u32,
        devlink: String,
        mode: EswitchMode,
    },
    #[error("refusing to delete rate node {node} on {devlink}: {children} parented to it (the kernel answers EBUSY); unparent them first; nothing was changed")]
    HasChildren {
        devlink: String,
        node: String,
        children: String,
    },
    #[error(
        "refusing parent {parent} for rate node {node} on {devlink}: {why}; nothing was changed"
    )]
    BadParent {
        devlink: String,
        node: String,
        parent: String,
        why: &'static str,
    },
    /// The kernel refused: `cause` carries its errno and extack text.
    #[error("{what}: {cause}; {rollback}")]
    Kernel {
        what: String,
        cause: Box<HostError>,
        rollback: String,
    },
    #[error("{what}: set {field} {want}, the kernel reports {got}; {rollback}")]
    ReadBack {
        what: String,
        field: &'static str,
        want: String,
        got: String,
        rollback: String,
    },
    #[error(transparent)]
    Host(#[from] HostError),
}

impl From<RateError> for EngineError {
    fn from(e: RateError) -> Self {
        EngineError::Rate(Box::new(e))
    }
}

/// One rate object with its rates in Mbit/s too (vifman's unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLine {
    #[serde(flatten)]
    pub entry: RateEntry,
    pub min_tx_rate: u64,
    pub max_tx_rate: u64,
}

impl From<&RateEntry> for RateLine {
    fn from(e: &RateEntry) -> Self {
        RateLine {
            entry: e.clone(),
            min_tx_rate: bytes_to_mbit(e.tx_share),
            max_tx_rate: bytes_to_mbit(e.tx_max),
        }
    }
}

impl RateLine {
    /// "node grp1" / "leaf 2 (vf 1)", then the rates and parent.
    pub fn describe(&self) -> String {
        let e = &self.entry;
        let what = match (&e.object, e.vf) {
            (crate::devlink::RateObject::Node { name }, _) => format!("node {name}"),
            (crate::devlink::RateObject::Leaf { port }, Some(vf)) => {
                format!("leaf {port} (vf {vf})")
            }
            (crate::devlink::RateObject::Leaf { port }, None) => format!("leaf {port}"),
        };
        format!(
            "{what} min_tx_rate {} max_tx_rate {} Mbit/s parent {}",
            self.min_tx_rate,
            self.max_tx_rate,
            e.parent.as_deref().unwrap_or("-")
        )
    }
}

/// `vifman rate-node list PF`.
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    pub pf: String,
    pub devlink: String,
    pub mode: EswitchMode,
    pub rates: Vec<RateLine>,
}

/// What a change did: the object as read back after it (None after a delete).
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    pub pf: String,
    pub devlink: String,
    /// "added", "set", "deleted" or "unchanged".
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<RateLine>,
}
