//! An allocation request, validated on construction: nothing invalid reaches the kernel.

use super::EngineError;
use crate::host::{Knob, KnobKind};
use crate::netlink::{VfLinkState, VlanProto};
use crate::store::AllocMode;
use crate::types::{MacAddress, Uuid, VlanId};

#[derive(Debug, Clone)]
pub struct AllocateRequest {
    pub physnet: String,
    pub instance_uuid: Uuid,
    pub vif_id: Uuid,
    pub network_id: Option<Uuid>,
    pub mac: Option<MacAddress>,
    pub vlan: Option<(VlanId, u32)>,
    pub vlan_proto: VlanProto,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<VfLinkState>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
    pub numa: Option<u32>,
    /// Take exactly this VF (a device plugin's Allocate names the devices kubelet chose).
    pub only_vf: Option<crate::types::PciAddress>,
    pub mode: AllocMode,
    /// Skip the hwdb capability check (lets tests prove that kernel errors roll back).
    pub force_unsupported: bool,
    /// A CNI ADD that found no record for its VF: the attachment goes into the new record
    /// from its first (pending) write, so no other process sees the VF unattached.
    pub cni: Option<crate::store::CniAttachment>,
    /// Parent the VF's devlink rate leaf to this node (switchdev mode; the node must exist).
    pub rate_parent: Option<crate::types::RateNodeName>,
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::Request(msg.into())
}

impl AllocateRequest {
    /// The ids are typed: the caller parsed them once (the CLI with clap, the device plugin
    /// from its own generated ids), so one VIF id can only ever be spelled one way here.
    pub fn new(
        physnet: &str,
        instance_uuid: Uuid,
        vif_id: Uuid,
        mode: AllocMode,
    ) -> Result<Self, EngineError> {
        if physnet.is_empty()
            || physnet.len() > 255
            || physnet.chars().any(|c| c.is_control() || c == '/')
        {
            return Err(bad(format!("{physnet:?} is not a physical network name")));
        }
        Ok(AllocateRequest {
            physnet: physnet.into(),
            instance_uuid,
            vif_id,
            network_id: None,
            mac: None,
            vlan: None,
            vlan_proto: VlanProto::Dot1Q,
            spoofchk: None,
            trust: None,
            link_state: None,
            min_tx_rate: None,
            max_tx_rate: None,
            numa: None,
            only_vf: None,
            mode,
            force_unsupported: false,
            cni: None,
            rate_parent: None,
        })
    }

    pub fn set_mac(&mut self, m: &str) -> Result<(), EngineError> {
        let mac: MacAddress = m.parse().map_err(|e| bad(format!("MAC {m:?}: {e}")))?;
        if mac.is_multicast() {
            return Err(bad(format!(
                "MAC {mac} is a multicast address; a VF needs a unicast MAC"
            )));
        }
        if mac.is_zero() {
            return Err(bad("MAC 00:00:00:00:00:00 cannot be given to a guest"));
        }
        self.mac = Some(mac);
        Ok(())
    }

    /// `V` or `V:QOS`.
    pub fn set_vlan(&mut self, s: &str) -> Result<(), EngineError> {
        let (v, q) = s.split_once(':').unwrap_or((s, "0"));
        let vlan: VlanId = v.parse().map_err(|e| bad(format!("VLAN {s:?}: {e}")))?;
        let qos: u32 = q
            .parse()
            .map_err(|_| bad(format!("VLAN {s:?}: QoS {q:?} is not a number")))?;
        if vlan.get() == VlanId::MAX {
            return Err(bad(format!(
                "VLAN {s:?}: 4095 is reserved by 802.1Q and cannot be set on a VF"
            )));
        }
        if qos > 7 {
            return Err(bad(format!(
                "VLAN {s:?}: QoS {qos} is above 7 (802.1p priorities are 0-7)"
            )));
        }
        self.vlan = Some((vlan, qos));
        Ok(())
    }

    pub fn set_vlan_proto(&mut self, s: &str) -> Result<(), EngineError> {
        self.vlan_proto = match s.to_ascii_lowercase().as_str() {
            "802.1q" => VlanProto::Dot1Q,
            "802.1ad" => VlanProto::Dot1Ad,
            _ => {
                return Err(bad(format!(
                    "VLAN protocol {s:?}: expected 802.1q or 802.1ad"
                )))
            }
        };
        Ok(())
    }

    pub fn set_link_state(&mut self, s: &str) -> Result<(), EngineError> {
        self.link_state = Some(match s {
            "auto" => VfLinkState::Auto,
            "enable" => VfLinkState::Enable,
            "disable" => VfLinkState::Disable,
            _ => {
                return Err(bad(format!(
                    "link state {s:?}: expected auto, enable or disable"
                )))
            }
        });
        Ok(())
    }

    pub fn validate(&self) -> Result<(), EngineError> {
        if self.vlan_proto == VlanProto::Dot1Ad && self.vlan.is_none() {
            return Err(bad("VLAN protocol 802.1ad needs a VLAN id"));
        }
        if let (Some(min), Some(max)) = (self.min_tx_rate, self.max_tx_rate) {
            if max != 0 && min > max {
                return Err(bad(format!(
                    "minimum TX rate {min} Mbit/s is above the maximum of {max}"
                )));
            }
        }
        Ok(())
    }

    /// The knobs to set, in the kernel's order; rates keep the VF's other bound as it was.
    pub fn knobs(&self, orig_rate: (u32, u32)) -> Vec<Knob> {
        let mut out = vec![];
        for k in KnobKind::ORDER {
            match k {
                KnobKind::Mac => out.extend(self.mac.map(|mac| Knob::Mac { mac })),
                KnobKind::Vlan => out.extend(self.vlan.map(|(vlan, qos)| Knob::Vlan {
                    vlan,
                    qos,
                    proto: self.vlan_proto,
                })),
                KnobKind::Rate => {
                    if self.min_tx_rate.is_some() || self.max_tx_rate.is_some() {
                        out.push(Knob::Rate {
                            min_mbps: self.min_tx_rate.unwrap_or(orig_rate.0),
                            max_mbps: self.max_tx_rate.unwrap_or(orig_rate.1),
                        });
                    }
                }
                KnobKind::Spoofchk => out.extend(self.spoofchk.map(|on| Knob::Spoofchk { on })),
                KnobKind::LinkState => {
                    out.extend(self.link_state.map(|state| Knob::LinkState { state }))
                }
                KnobKind::Trust => out.extend(self.trust.map(|on| Knob::Trust { on })),
            }
        }
        out
    }
}
