//! `vifman vf set PF N KEY VALUE...`: `ip link set PF vf N ...` with what `ip` lacks — one
//! knob per request in the kernel's order (a multi-attribute RTM_SETLINK is not atomic: the
//! MAC sticks when a later VLAN fails), each read back, and on a failure every knob applied
//! before it put back, so the VF is either fully set or as it was. Uses the allocation
//! path's knobs (`actuate::set_knob`), not a second knob path.

use serde::Serialize;

use super::actuate::{self, VfRef};
use super::{Engine, EngineError};
use crate::host::{HostError, Knob, KnobKind};
use crate::netlink::{VfLinkState, VfState, VlanProto};
use crate::store::{Phase, StoreState};
use crate::types::{IfName, MacAddress, VlanId};

/// What the operator asked for; `None` keeps the current value. VLAN, QoS and protocol are
/// one kernel knob (IFLA_VF_VLAN_LIST), as are the two rates (IFLA_VF_RATE): a field given
/// alone is combined with the VF's current values of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfSettings {
    pub mac: Option<MacAddress>,
    pub vlan: Option<VlanId>,
    pub qos: Option<u32>,
    pub proto: Option<VlanProto>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub state: Option<VfLinkState>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
}

impl VfSettings {
    /// Parses `ip link`'s words: `mac M vlan V qos Q proto 802.1Q|802.1ad spoofchk on|off
    /// trust on|off state auto|enable|disable min_tx_rate N max_tx_rate N`.
    pub fn parse(words: &[String]) -> Result<VfSettings, String> {
        if words.is_empty() {
            return Err("nothing to set: give KEY VALUE pairs (mac, vlan, qos, proto, spoofchk, trust, state, min_tx_rate, max_tx_rate)".into());
        }
        if !words.len().is_multiple_of(2) {
            return Err(format!("{:?} has no value", words[words.len() - 1]));
        }
        let mut s = VfSettings::default();
        let onoff = |k: &str, v: &str| match v {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(format!("{k} {v:?}: expected on or off")),
        };
        let num = |k: &str, v: &str| {
            v.parse::<u32>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow => {
                    format!("{k} {v:?}: above {} (the kernel's limit)", u32::MAX)
                }
                _ => format!("{k} {v:?}: not a non-negative integer"),
            })
        };
        for kv in words.chunks(2) {
            let (k, v) = (kv[0].as_str(), kv[1].as_str());
            let dup = match k {
                "mac" => s
                    .mac
                    .replace(v.parse().map_err(|e| format!("mac {v:?}: {e}"))?)
                    .is_some(),
                "vlan" => {
                    let id: VlanId = v.parse().map_err(|e| format!("vlan {v:?}: {e}"))?;
                    // As allocate and the CNI: the kernel takes 4095, 802.1Q reserves it.
                    if id.get() == VlanId::MAX {
                        return Err(format!(
                            "vlan {id}: 4095 is reserved by 802.1Q and cannot be set on a VF"
                        ));
                    }
                    s.vlan.replace(id).is_some()
                }
                "qos" => {
                    let q = num(k, v)?;
                    if q > 7 {
                        return Err(format!("qos {q}: the 802.1p priority is 0-7"));
                    }
                    s.qos.replace(q).is_some()
                }
                "proto" => s
                    .proto
                    .replace(match v {
                        "802.1Q" | "802.1q" => VlanProto::Dot1Q,
                        "802.1ad" | "802.1AD" => VlanProto::Dot1Ad,
                        _ => return Err(format!("proto {v:?}: expected 802.1Q or 802.1ad")),
                    })
                    .is_some(),
                "spoofchk" => s.spoofchk.replace(onoff(k, v)?).is_some(),
                "trust" => s.trust.replace(onoff(k, v)?).is_some(),
                "state" => s
                    .state
                    .replace(match v {
                        "auto" => VfLinkState::Auto,
                        "enable" => VfLinkState::Enable,
                        "disable" => VfLinkState::Disable,
                        _ => return Err(format!("state {v:?}: expected auto, enable or disable")),
                    })
                    .is_some(),
                "min_tx_rate" => s.min_tx_rate.replace(num(k, v)?).is_some(),
                "max_tx_rate" => s.max_tx_rate.replace(num(k, v)?).is_some(),
                _ => return Err(format!("unknown VF setting {k:?}")),
            };
            if dup {
                return Err(format!("{k} given twice"));
            }
        }
        if let Some(m) = s.mac {
            if m.is_multicast() {
                return Err(format!("mac {m}: a multicast address cannot be a VF's MAC"));
            }
        }
        Ok(s)
    }

    /// The kernel knobs that bring `now` to these settings, in the kernel's order; knobs
    /// whose value already holds are left out (nothing to do, nothing to undo).
    pub fn knobs(&self, now: &VfState) -> Result<Vec<Knob>, String> {
        let mut out = vec![];
        for kind in KnobKind::ORDER {
            let k = match kind {
                KnobKind::Mac => self.mac.map(|mac| Knob::Mac { mac }),
                KnobKind::Vlan
                    if self.vlan.is_some() || self.qos.is_some() || self.proto.is_some() =>
                {
                    Some(Knob::Vlan {
                        vlan: self.vlan.unwrap_or(now.vlan),
                        qos: self.qos.unwrap_or(now.qos),
                        proto: self.proto.unwrap_or(now.vlan_proto),
                    })
                }
                KnobKind::Rate if self.min_tx_rate.is_some() || self.max_tx_rate.is_some() => {
                    let (min, max) = (
                        self.min_tx_rate.unwrap_or(now.min_tx_rate),
                        self.max_tx_rate.unwrap_or(now.max_tx_rate),
                    );
                    if max != 0 && min > max {
                        return Err(format!("min_tx_rate {min} is above max_tx_rate {max}"));
                    }
                    Some(Knob::Rate {
                        min_mbps: min,
                        max_mbps: max,
                    })
                }
                KnobKind::Spoofchk => self.spoofchk.map(|on| Knob::Spoofchk { on }),
                KnobKind::Trust => self.trust.map(|on| Knob::Trust { on }),
                KnobKind::LinkState => self.state.map(|state| Knob::LinkState { state }),
                _ => None,
            };
            if let Some(k) = k.filter(|k| !k.holds_in(now)) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VfSetReport {
    pub pf: String,
    pub vf_index: u32,
    /// The knobs set, as `ip link` words.
    pub applied: Vec<String>,
    /// The VF's PF-side state read back afterwards.
    pub state: VfState,
}

/// Refuses a change to VF `vf` (VF `index` of `pf`) that an allocation holds, unless
/// `force`: the allocation's release restores its recorded original, not the change.
pub(super) fn refuse_if_held(
    st: &StoreState,
    vf: crate::types::PciAddress,
    pf: &str,
    index: u32,
    force: bool,
) -> Result<(), EngineError> {
    let held = st
        .allocations
        .iter()
        .find(|a| a.vf == vf && a.phase != Phase::Quarantined);
    match held {
        Some(a) if !force => Err(EngineError::VfAllocated {
            vf,
            index,
            pf: pf.to_string(),
            vif_id: a.vif_id,
            instance: a.instance_uuid,
        }),
        _ => Ok(()),
    }
}

impl Engine<'_> {
    /// Sets VF `index` of `pf` (netdev name, or PCI address of a PCI PF). Refused for a VF
    /// an allocation holds unless `force`. On a failure, the knobs already applied are put
    /// back and the error says whether that worked.
    pub fn vf_set(
        &self,
        pf: &str,
        index: u32,
        want: &VfSettings,
        force: bool,
    ) -> Result<VfSetReport, EngineError> {
        let _span = tracing::info_span!("vf_set", pf, index).entered();
        // Held for the whole change: no allocate can pick the VF half-set.
        let mut store = self.open_store()?;
        let st: StoreState = store.load()?;
        let view = self.load_view()?;
        // A PCI PF (by address or netdev) is checked against allocations; a PF with VF
        // records but no VF functions (netdevsim) is addressed by netdev name only.
        let pci = view.vf_of(pf, index).ok();
        let pf_netdev: IfName = match pci {
            Some(v) => {
                refuse_if_held(&st, v.addr, pf, index, force)?;
                v.pf_netdev.clone().ok_or_else(|| {
                    EngineError::Request(format!("PF {} has no netdev to set VF knobs on", v.pf))
                })?
            }
            None => pf
                .parse::<IfName>()
                .map_err(|e| EngineError::Request(format!("PF {pf:?}: {e}")))?,
        };
        let t = VfRef {
            pf_netdev: &pf_netdev,
            vf_index: index,
        };
        let before = match actuate::read_vf(self.host, &t) {
            Ok(s) => s,
            Err(_) => return Err(EngineError::Request(format!("{pf} has no VF {index}"))),
        };
        let knobs = want.knobs(&before).map_err(EngineError::Request)?;
        // A MAC through the port function may activate it: the state before, to roll back.
        let mut seen = if knobs.iter().any(|k| k.kind() == KnobKind::Mac) {
            Some(super::portfn::look(self.host, &pf_netdev, index)?)
        } else {
            None
        };
        let fn_before = seen.as_ref().and_then(|s| s.state());
        let mut applied: Vec<Knob> = vec![];
        for k in &knobs {
            if let Err(cause) = actuate::set_knob_seen(self.host, &t, k, &mut seen) {
                return Err(self.roll_back(&t, (&before, fn_before), &applied, k, cause));
            }
            applied.push(k.clone());
        }
        let state = actuate::read_vf(self.host, &t)?;
        Ok(VfSetReport {
            pf: pf.to_string(),
            vf_index: index,
            applied: applied.iter().map(Knob::describe).collect(),
            state,
        })
    }

    /// Puts back, in reverse, the knobs applied before `failed`, and the failed knob's own
    /// kind too: the kernel may have applied part of it before refusing.
    fn roll_back(
        &self,
        t: &VfRef<'_>,
        (before, fn_before): (&VfState, Option<crate::devlink::FnState>),
        applied: &[Knob],
        failed: &Knob,
        cause: HostError,
    ) -> EngineError {
        let mut failures = vec![];
        let kinds = applied
            .iter()
            .map(Knob::kind)
            .chain(std::iter::once(failed.kind()));
        let kinds: Vec<KnobKind> = kinds.collect();
        let now = actuate::read_vf(self.host, t).ok();
        for kind in kinds.iter().rev() {
            let Some(orig) = Knob::current(*kind, before) else {
                continue;
            };
            if now.as_ref().is_some_and(|n| orig.holds_in(n)) {
                continue;
            }
            if let Err(e) = actuate::set_knob(self.host, t, &orig) {
                failures.push(e.to_string());
            }
        }
        if let Some(s) = fn_before {
            if let Err(e) = super::portfn::restore_state(self.host, t, s) {
                failures.push(e.to_string());
            }
        }
        let rollback = if failures.is_empty() {
            if applied.is_empty() {
                "nothing had been changed".to_string()
            } else {
                format!(
                    "rolled back {}",
                    applied
                        .iter()
                        .map(Knob::describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        } else {
            format!("rollback incomplete: {}", failures.join("; "))
        };
        EngineError::Actuation {
            step: format!("{} vf {} {}", t.pf_netdev, t.vf_index, failed.describe()),
            cause,
            rollback,
            next: None,
        }
    }
}

#[cfg(test)]
#[path = "vfset_tests.rs"]
mod tests;
