use serde::{Deserialize, Serialize};

use crate::types::{IfName, MacAddress, PciAddress, VlanId};

/// The `vf-state.json` document; also what `vifman` would print for the raw netlink state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VfStateDump {
    pub links: Vec<PfLinkState>,
    /// Every link of the dump with its own attributes (see [`LinkAttrs`]); optional in files
    /// written before it existed, and then the scanner reads each netdev's sysfs files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub netdevs: Vec<LinkAttrs>,
}

/// One link as the `RTM_GETLINK` dump describes it: the values `sys/class/net/<name>/` would
/// give, from one atomic per-link record instead of five to eight attribute files per netdev.
/// On a 2048-VF host that is the difference between ~15,000 file reads and none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkAttrs {
    pub ifname: IfName,
    pub ifindex: u32,
    /// `IFLA_PARENT_DEV_NAME` (Linux >= 5.16): the device the netdev hangs off, a PCI address
    /// for a NIC. Lets the scanner check that a name still means the same netdev.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `IFLA_ADDRESS` when it is a 6-byte MAC.
    pub address: Option<MacAddress>,
    pub mtu: Option<u32>,
    /// `IFLA_OPERSTATE` spelled as sysfs `operstate` spells it ("up", "down", ...).
    pub operstate: Option<String>,
    /// Mb/s from the ethtool link modes. Key absent: the dump had no speed for this link (the
    /// scanner then reads sysfs `speed`); `null`: the driver reported none (link down).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub speed_mbps: Option<Option<u32>>,
    pub phys_port_name: Option<String>,
    /// Hex without separators, as sysfs prints it.
    pub phys_switch_id: Option<String>,
    pub phys_port_id: Option<String>,
}

impl LinkAttrs {
    /// Whether this record may stand in for the sysfs attributes of netdev `name` of PCI
    /// function `device`: same name, and the same parent when the dump names one (a rename
    /// between the dump and the scan must not lend one NIC's attributes to another).
    pub fn describes(&self, name: &str, device: &PciAddress) -> bool {
        self.ifname.as_str() == name
            && self
                .parent
                .as_deref()
                .is_none_or(|p| p.parse::<PciAddress>().ok().as_ref() == Some(device))
    }
}

/// A key that is present (even as `null`) deserializes to `Some(..)`; `default` covers absence.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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

impl VfState {
    /// VF `vf` as the kernel reports it when nobody has configured it (just created by
    /// `sriov_numvfs`, or reset): zero MAC, no VLAN, spoof checking on, not trusted, link state
    /// auto, no rate limits.
    pub fn unconfigured(vf: u32) -> Self {
        VfState {
            vf,
            mac: MacAddress::from_slice(&[0; 6]).expect("six bytes"),
            vlan: VlanId::default(),
            qos: 0,
            vlan_proto: VlanProto::Dot1Q,
            spoofchk: Some(true),
            trust: Some(false),
            link_state: VfLinkState::Auto,
            min_tx_rate: 0,
            max_tx_rate: 0,
        }
    }
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
