use serde::{Deserialize, Serialize};

use crate::types::{IfName, MacAddress, VlanId};

/// The `vf-state.json` document; also what `vifman` would print for the raw netlink state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VfStateDump {
    pub links: Vec<PfLinkState>,
}

/// One PF netdev and the VF settings the kernel reports on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfLinkState {
    pub ifname: IfName,
    pub ifindex: u32,
    pub num_vf: u32,
    pub vfs: Vec<VfState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfState {
    pub vf: u32,
    /// All zeros when no administrative MAC has been set.
    pub mac: MacAddress,
    pub vlan: VlanId,
    pub qos: u32,
    pub vlan_proto: VlanProto,
    /// `None` when the driver does not report it.
    #[serde(default)]
    pub spoofchk: Option<bool>,
    #[serde(default)]
    pub trust: Option<bool>,
    pub link_state: VfLinkState,
    /// Mb/s; 0 = no limit.
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VlanProto {
    #[serde(rename = "802.1Q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

impl VlanProto {
    pub fn as_str(&self) -> &'static str {
        match self {
            VlanProto::Dot1Q => "802.1Q",
            VlanProto::Dot1Ad => "802.1ad",
        }
    }
}

/// The VF's administrative link state (`ip link set ... vf N state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VfLinkState {
    /// Follow the PF's physical link.
    Auto,
    Enable,
    Disable,
    /// A value newer than this program; kept rather than guessed.
    #[serde(untagged)]
    Other(u32),
}

impl VfLinkState {
    pub fn label(&self) -> String {
        match self {
            VfLinkState::Auto => "auto".into(),
            VfLinkState::Enable => "enable".into(),
            VfLinkState::Disable => "disable".into(),
            VfLinkState::Other(n) => format!("state-{n}"),
        }
    }
}
