//! The VF settings vifman manages, as values that can be applied, read back and compared.
//! They live beside the VF-state model they are read from, below both `host` (which applies
//! them) and `rtnl` (which encodes them), so neither layer imports the other for them.

use serde::{Deserialize, Serialize};

use super::{VfLinkState, VfState, VlanProto};
use crate::types::{MacAddress, VlanId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "knob")]
pub enum Knob {
    Mac {
        mac: MacAddress,
    },
    Vlan {
        vlan: VlanId,
        qos: u32,
        proto: VlanProto,
    },
    Spoofchk {
        on: bool,
    },
    Trust {
        on: bool,
    },
    LinkState {
        state: VfLinkState,
    },
    Rate {
        min_mbps: u32,
        max_mbps: u32,
    },
}

/// Knob identity, for hwdb capability checks and failure injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnobKind {
    Mac,
    Vlan,
    Spoofchk,
    Trust,
    LinkState,
    Rate,
}

impl KnobKind {
    pub fn name(self) -> &'static str {
        match self {
            KnobKind::Mac => "mac",
            KnobKind::Vlan => "vlan",
            KnobKind::Spoofchk => "spoofchk",
            KnobKind::Trust => "trust",
            KnobKind::LinkState => "link_state",
            KnobKind::Rate => "rate",
        }
    }
    /// The order knobs are applied in: the kernel's own IFLA_VF_* order.
    pub const ORDER: [KnobKind; 6] = [
        KnobKind::Mac,
        KnobKind::Vlan,
        KnobKind::Rate,
        KnobKind::Spoofchk,
        KnobKind::LinkState,
        KnobKind::Trust,
    ];
}

impl Knob {
    pub fn kind(&self) -> KnobKind {
        match self {
            Knob::Mac { .. } => KnobKind::Mac,
            Knob::Vlan { .. } => KnobKind::Vlan,
            Knob::Spoofchk { .. } => KnobKind::Spoofchk,
            Knob::Trust { .. } => KnobKind::Trust,
            Knob::LinkState { .. } => KnobKind::LinkState,
            Knob::Rate { .. } => KnobKind::Rate,
        }
    }

    /// The current value of this knob's kind in a VF's state (for save/restore).
    pub fn current(kind: KnobKind, s: &VfState) -> Option<Knob> {
        Some(match kind {
            KnobKind::Mac => Knob::Mac { mac: s.mac },
            KnobKind::Vlan => Knob::Vlan {
                vlan: s.vlan,
                qos: s.qos,
                proto: s.vlan_proto,
            },
            KnobKind::Spoofchk => Knob::Spoofchk { on: s.spoofchk? },
            KnobKind::Trust => Knob::Trust { on: s.trust? },
            KnobKind::LinkState => Knob::LinkState {
                state: s.link_state,
            },
            KnobKind::Rate => Knob::Rate {
                min_mbps: s.min_tx_rate,
                max_mbps: s.max_tx_rate,
            },
        })
    }

    /// Does the VF's reported state show this value? (Read-back verification.)
    pub fn holds_in(&self, s: &VfState) -> bool {
        match self {
            // A VLAN of 0 reads back with whatever protocol the driver reports.
            Knob::Vlan { vlan, qos, .. } if vlan.get() == 0 => s.vlan.get() == 0 && s.qos == *qos,
            _ => Knob::current(self.kind(), s).as_ref() == Some(self),
        }
    }

    pub fn apply_to(&self, s: &mut VfState) {
        match self {
            Knob::Mac { mac } => s.mac = *mac,
            Knob::Vlan { vlan, qos, proto } => {
                s.vlan = *vlan;
                s.qos = *qos;
                s.vlan_proto = *proto;
            }
            Knob::Spoofchk { on } => s.spoofchk = Some(*on),
            Knob::Trust { on } => s.trust = Some(*on),
            Knob::LinkState { state } => s.link_state = *state,
            Knob::Rate { min_mbps, max_mbps } => {
                s.min_tx_rate = *min_mbps;
                s.max_tx_rate = *max_mbps;
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Knob::Mac { mac } => format!("mac {mac}"),
            Knob::Vlan { vlan, qos, proto } => {
                format!("vlan {vlan} qos {qos} proto {}", proto.as_str())
            }
            Knob::Spoofchk { on } => format!("spoofchk {}", if *on { "on" } else { "off" }),
            Knob::Trust { on } => format!("trust {}", if *on { "on" } else { "off" }),
            Knob::LinkState { state } => format!("state {}", state.label()),
            Knob::Rate { min_mbps, max_mbps } => {
                format!("min_tx_rate {min_mbps} max_tx_rate {max_mbps}")
            }
        }
    }
}
