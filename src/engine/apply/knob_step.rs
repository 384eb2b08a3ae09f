//! The plan's PF link and VF knob steps, shared by the PCI planner (`plan`) and the non-PCI
//! one (`resolve_bus::plan_bus`), so both PF kinds get the same knobs in the same kernel
//! order, the same step texts and the same [`Action`]s (one executor, one undo). What a PF
//! kind adds around them (hwdb up rules, VF drivers, the PCI-keyed policy-VF records) stays
//! with its planner.

use super::action::{step, Action};
use super::mac::random_mac;
use super::Step;
use crate::config::policy::{MacPolicy, VfPolicy};
use crate::host::{Host, Knob, KnobKind, PfId};
use crate::netlink::VfState;
use crate::types::IfName;

/// The VF knobs `vp` asks of VF `i` as it is `now`, in the kernel's IFLA_VF order (MAC
/// first, trust last). `key` identifies the card for `mac = "stable"` (see
/// [`super::stable_mac`]); `random` picks a MAC only for a VF without one (once set, it is
/// the policy's). Knobs that already hold are included: the caller decides what a held knob
/// means (nothing to do, or a deferral to an allocation).
pub(super) fn wanted(vp: &VfPolicy, now: &VfState, key: &str, i: u32) -> Vec<Knob> {
    let mut want: Vec<Knob> = vec![];
    match vp.mac {
        Some(MacPolicy::Stable) => want.push(Knob::Mac {
            mac: super::stable_mac(key, i),
        }),
        Some(MacPolicy::Random) if now.mac.is_zero() => want.push(Knob::Mac { mac: random_mac() }),
        Some(MacPolicy::Explicit(mac)) => want.push(Knob::Mac { mac }),
        _ => {}
    }
    if vp.min_tx_rate.is_some() || vp.max_tx_rate.is_some() {
        want.push(Knob::Rate {
            min_mbps: vp.min_tx_rate.unwrap_or(now.min_tx_rate),
            max_mbps: vp.max_tx_rate.unwrap_or(now.max_tx_rate),
        });
    }
    if let Some(on) = vp.spoofchk {
        want.push(Knob::Spoofchk { on });
    }
    if let Some(state) = vp.link_state {
        want.push(Knob::LinkState { state });
    }
    if let Some(on) = vp.trust {
        want.push(Knob::Trust { on });
    }
    want.sort_by_key(|k| KnobKind::ORDER.iter().position(|o| *o == k.kind()));
    want
}

/// The step setting knob `k` of VF `i` through the PF netdev `nd` (RTM_SETLINK, or the
/// devlink rate leaf / port function where the executor finds switchdev), undone by the
/// value `now` shows.
pub(super) fn knob_step(pf: &PfId, nd: &IfName, i: u32, k: Knob, now: &VfState) -> Step {
    let from = Knob::current(k.kind(), now);
    step(
        pf,
        format!("{nd} vf {i} {}", k.kind().name()),
        from.as_ref()
            .map(|f| f.describe())
            .unwrap_or_else(|| "(unreported)".into()),
        k.describe(),
        None,
        Action::Knob {
            pf: pf.clone(),
            pf_netdev: nd.clone(),
            vf_index: i,
            from,
            to: k,
            fn_state_from: None,
        },
    )
}

/// Why a PF with `up = true` goes up before everything else.
pub(super) const UP_FIRST: &str =
    "policy: up = true; first, so VF creation and VF settings see a live PF";

/// The PF netdev brought up first, for `rule`.
pub(super) fn up_step(pf: &PfId, nd: &IfName, rule: &str) -> Step {
    step(
        pf,
        format!("{nd} link"),
        "down".into(),
        "up".into(),
        Some(rule),
        Action::Up(nd.clone()),
    )
}

/// The PF MTU, before anything about VFs; none when the netdev already has it.
pub(super) fn mtu_step(host: &dyn Host, pf: &PfId, nd: &IfName, mtu: u32) -> Option<Step> {
    let from = host.mtu_of(nd);
    (from != Some(mtu)).then(|| {
        step(
            pf,
            format!("{nd} mtu"),
            from.map(|m| m.to_string())
                .unwrap_or_else(|| "(unknown)".into()),
            mtu.to_string(),
            Some("PF MTU before VF settings: VF MTUs are bounded by the PF's"),
            Action::Mtu {
                netdev: nd.clone(),
                from,
                to: mtu,
            },
        )
    })
}

/// `up = false`: the PF netdev down, last (after every VF setting that needed it up).
pub(super) fn down_step(pf: &PfId, nd: &IfName) -> Step {
    step(
        pf,
        format!("{nd} link"),
        "up".into(),
        "down".into(),
        Some("policy: up = false; last"),
        Action::Down(nd.clone()),
    )
}
