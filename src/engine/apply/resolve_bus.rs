//! A `[[pf]]` entry whose `netdev` names a non-PCI SR-IOV PF (netdevsim's bus device,
//! `netdevsim/netdevsimN`). Its devlink steps need no PCI: the eswitch mode, the rate nodes
//! and the VF leaf parents are planned and carried out as for a PCI PF, addressed by the PF
//! netdev. The rest of the engine works by PCI address (VF count with its VF-driver wait,
//! autoprobe, VF driver binding, knobs through the PCI-keyed allocation store), so the other
//! keys are refused by name instead of the entry reading as matching nothing (a typo) or
//! being skipped silently: VF drivers and autoprobe because they need PCI VFs, the others
//! pointing to the per-PF commands, which already take a non-PCI PF.

use super::action::Planned;
use super::Engine;
use super::{ApplyError, Step};
use crate::config::policy::{PfPolicy, Policy};
use crate::host::PfId;
use crate::types::BusDevice;

/// Why a written key does not run on a non-PCI PF.
const NEEDS_PCI: &str = "needs a PCI PF (VF drivers bind to PCI VFs)";
const NOT_YET: &str = "is not applied to a non-PCI PF yet; set it with `vifman numvfs` or `vifman vf set`, which take this PF";

/// The written keys of `p`, each with why it cannot run on a non-PCI PF.
fn refused_keys(p: &PfPolicy) -> Vec<(String, &'static str)> {
    let mut out = vec![];
    let mut key = |written: bool, k: String, why: &'static str| {
        if written {
            out.push((k, why));
        }
    };
    key(
        p.drivers_autoprobe.is_some(),
        "drivers_autoprobe".into(),
        NEEDS_PCI,
    );
    key(p.mtu.is_some(), "mtu".into(), NOT_YET);
    key(p.up.is_some(), "up".into(), NOT_YET);
    for (j, v) in p.vfs.iter().enumerate() {
        key(v.driver.is_some(), format!("vf[{j}].driver"), NEEDS_PCI);
        for (written, k) in [
            (v.mac.is_some(), "mac"),
            (v.spoofchk.is_some(), "spoofchk"),
            (v.trust.is_some(), "trust"),
            (v.link_state.is_some(), "link_state"),
            (v.min_tx_rate.is_some(), "min_tx_rate"),
            (v.max_tx_rate.is_some(), "max_tx_rate"),
        ] {
            key(written, format!("vf[{j}].{k}"), NOT_YET);
        }
    }
    out
}

/// A non-PCI PF an entry selected, with what the plan needs of it.
pub(super) struct BusPf<'p> {
    pub policy: &'p PfPolicy,
    pub id: PfId,
    pub dev: BusDevice,
    /// `sriov_numvfs` now.
    pub num_vfs: u32,
    pub sriov: crate::sysfs::busdev::BusSriov,
}

/// When `p` selects by netdev alone and that netdev is a non-PCI SR-IOV PF: the PF, or one
/// error per key that cannot run on it. None: not such a PF, the usual "matches nothing"
/// applies.
pub(super) fn resolve_bus_pf<'p>(
    engine: &Engine,
    policy: &Policy,
    p: &'p PfPolicy,
) -> Option<Result<BusPf<'p>, Vec<String>>> {
    let s = &p.select;
    if s.address.is_some() || s.serial.is_some() || s.device.is_some() {
        return None;
    }
    let nd = s.netdev.as_ref()?;
    let dev = engine.host.bus_device_of(nd)?;
    let sriov = engine.host.bus_sriov(&dev)?;
    let mut errors: Vec<String> = refused_keys(p)
        .into_iter()
        .map(|(k, why)| {
            format!(
                "{}: {nd} is the PF of {dev}, not a PCI function: {k} {why}",
                policy.locate(p, &k),
            )
        })
        .collect();
    let id = PfId::Netdev(nd.clone());
    if p.eswitch.is_some() || !p.rate_nodes.is_empty() {
        use crate::config::policy::Eswitch;
        let key = if p.eswitch.is_some() {
            "eswitch"
        } else {
            "rate_nodes[0]"
        };
        match engine.host.eswitch_of(&id) {
            Ok(Some(e))
                if p.rate_nodes.is_empty()
                    || e.mode == crate::devlink::EswitchMode::Switchdev
                    || p.eswitch == Some(Eswitch::Switchdev) => {}
            Ok(Some(e)) => errors.push(format!(
                "{}: {nd} ({}) is in {} mode and rate nodes exist in switchdev mode only; add eswitch = \"switchdev\"",
                policy.locate(p, "rate_nodes[0]"),
                e.devlink,
                e.mode
            )),
            Ok(None) if p.eswitch == Some(Eswitch::Legacy) && p.rate_nodes.is_empty() => {}
            Ok(None) => errors.push(format!(
                "{}: {nd} ({dev}) has no devlink eswitch",
                policy.locate(p, key)
            )),
            Err(e) => errors.push(format!("{}: {nd}: {e}", policy.locate(p, key))),
        }
    }
    if let (Some(n), Some(t)) = (p.numvfs, sriov.total_vfs) {
        if n > t {
            errors.push(format!(
                "{}: {n} is above sriov_totalvfs of {dev} ({t})",
                policy.locate(p, "numvfs")
            ));
        }
    }
    let num_vfs = match &sriov.num_vfs {
        Ok(n) => *n,
        Err(e) => {
            if p.numvfs.is_some() || p.vfs.iter().any(|v| v.rate_parent.is_some()) {
                errors.push(format!(
                    "{}: sriov_numvfs of {dev} is unreadable ({e})",
                    policy.locate(p, "vf")
                ));
            }
            0
        }
    };
    if !errors.is_empty() {
        return Some(Err(errors));
    }
    Some(Ok(BusPf {
        policy: p,
        id,
        dev,
        num_vfs,
        sriov,
    }))
}

/// The steps of a non-PCI PF, in the PCI order: the eswitch mode, then the rate nodes (all
/// added after a mode change), then the VF leaf parents. No allocation lives on such a PF
/// (the store is PCI-keyed), so there is nothing to conflict with.
pub(super) fn plan_bus(
    host: &dyn crate::host::Host,
    b: &BusPf,
    out: &mut Planned,
) -> Result<Vec<Step>, ApplyError> {
    let _span = tracing::debug_span!("plan_bus_pf", pf = %b.id, dev = %b.dev).entered();
    let mut steps = vec![];
    let want = b.policy.numvfs.unwrap_or(b.num_vfs);
    let recreate = want != b.num_vfs;
    if recreate {
        steps.push(super::action::step(
            &b.id,
            format!("{} sriov_numvfs", b.dev),
            b.num_vfs.to_string(),
            want.to_string(),
            Some("policy numvfs: through 0 (the kernel takes a new count only from 0), before the eswitch mode"),
            super::action::Action::BusNumVfs {
                pf: crate::engine::vfcount::VfCountPf::bus(&b.sriov),
                from: b.num_vfs,
                to: want,
            },
        ));
    }
    let eswitch = super::eswitch_step::plan_eswitch(host, b.policy, &b.id, &[], false, out)?;
    let mode_change = eswitch.is_some();
    steps.extend(eswitch.map(|(s, _)| s));
    steps.extend(super::rate_step::plan_rate_nodes(
        host,
        b.policy,
        &b.id,
        mode_change,
    )?);
    steps.extend(super::rate_step::plan_leaf_parents(
        host,
        b.policy,
        &b.id,
        want,
        mode_change || recreate,
        &[],
        out,
    )?);
    Ok(steps)
}
