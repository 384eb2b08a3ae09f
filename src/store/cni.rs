//! A CNI attachment on a VF record: which pod interface the VF is, and what ADD changed, so
//! DEL, CHECK and GC work from the store alone (no per-plugin cache file to go stale).
//!
//! The key is the spec's `(network name, CNI_CONTAINERID, CNI_IFNAME)`. A VF record holds at
//! most one attachment, so a DEL can only ever touch the VF its own key names: a stale DEL of
//! an old container finds no record (the VF now carries the new container's key) and changes
//! nothing.

use serde::{Deserialize, Serialize};

use crate::netlink::Knob;
use crate::types::IfName;

/// The spec's primary key of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AttachKey {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
}

impl std::fmt::Display for AttachKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "network {:?}, container {}, interface {}",
            self.network, self.container_id, self.ifname
        )
    }
}

/// Adding: recorded before the first change, so a crash or a failed ADD leaves something
/// DEL (or reconcile) can undo. Active: ADD returned its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachPhase {
    Adding,
    Active,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CniAttachment {
    pub key: AttachKey,
    /// CNI_NETNS at ADD (a path; it may be gone by DEL time).
    pub netns: String,
    pub phase: AttachPhase,
    /// The CNI made the VF record itself (no device plugin or CLI allocation existed): DEL
    /// then releases the whole record, driver included.
    pub owns_record: bool,
    /// ADD parented the VF's rate leaf (`rateParent`) on a record it does not own, saving
    /// the change in the record's `rate_parent`: DEL puts that original back and clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rate_parent_set: bool,
    /// The VF knobs as they were before ADD, for the kinds ADD set: DEL puts these back on a
    /// record it does not own (the device plugin's or the CLI's), leaving their own settings.
    #[serde(default)]
    pub knobs_before: Vec<Knob>,
    /// The record's `requested` list before ADD added its knobs.
    #[serde(default)]
    pub requested_before: Vec<Knob>,
    /// The VF netdev's name in the host namespace before it was moved (None: no netdev, a
    /// vfio-bound VF, or not moved yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ifname: Option<IfName>,
    /// The VF netdev's MTU before ADD set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mtu: Option<u32>,
    /// The VF netdev's own MAC before ADD changed it (the pod's MAC must not stay on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mac: Option<String>,
    /// Its ifindex inside the pod's namespace, to recognise it there when the kernel does
    /// not report the parent device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_ifindex: Option<u32>,
    /// The network configuration ADD received (without prevResult): GC runs the IPAM
    /// plugin's DEL with it when the runtime no longer has it.
    pub conf: serde_json::Value,
    /// `CNI_PATH` at ADD: where a teardown without a runtime (a lost DEL found by the device
    /// plugin, `release` or `reconcile --repair`) finds the IPAM plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cni_path: Vec<String>,
    /// The IPAM plugin's result was applied: DEL must release the address.
    #[serde(default)]
    pub ipam_added: bool,
    /// What ADD returned (its own part, not chained plugins').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    pub created: u64,
}
