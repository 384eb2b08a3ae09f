//! A `[[pf]]` entry whose `netdev` names a non-PCI SR-IOV PF (netdevsim's bus device,
//! `netdevsim/netdevsimN`). Everything that needs no PCI runs as on a PCI PF, addressed by
//! the PF netdev, in the PCI order: PF `up` and `mtu` (same steps and rules as `plan`), the
//! VF count (`engine::vfcount`, through 0), the eswitch mode, the rate nodes, the VF leaf
//! parents, then the VF knobs (`mac`, `spoofchk`, `trust`, `link_state`, `min_tx_rate`,
//! `max_tx_rate`) through RTM_SETLINK on the PF netdev — or the devlink rate leaf and port
//! function in switchdev mode — with the same [`Action::Knob`](super::action::Action) and
//! executor as a PCI PF's, read back and undone on a later failure, and `up = false` last.
//!
//! `mac = "stable"` is keyed on the bus device name (`bus:netdevsim/netdevsim7`) and the VF
//! index: the device id is chosen by whoever creates the device (`new_device`), so it is
//! as stable as the script creating it, the way a PCI PF's address is as stable as its
//! slot. No policy-VF record is kept for such VFs: the store's records are PCI-keyed and
//! only tell the pools (which hand out PCI VFs) what is vifman's own.
//!
//! VF drivers and `drivers_autoprobe` are refused by name (they need PCI VFs) instead of
//! the entry reading as matching nothing (a typo) or being skipped silently.

use super::action::{Action, Planned};
use super::knob_step;
use super::Engine;
use super::{ApplyError, Step};
use crate::config::policy::{PfPolicy, Policy};
use crate::host::PfId;
use crate::netlink::VfState;
use crate::types::{BusDevice, IfName};

/// Why a written key does not run on a non-PCI PF.
const NEEDS_PCI: &str = "needs a PCI PF (VF drivers bind to PCI VFs)";

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
    for (j, v) in p.vfs.iter().enumerate() {
        key(v.driver.is_some(), format!("vf[{j}].driver"), NEEDS_PCI);
    }
    out
}

/// A non-PCI PF an entry selected, with what the plan needs of it.
pub(super) struct BusPf<'p> {
    pub policy: &'p PfPolicy,
    pub id: PfId,
    /// The PF netdev the entry selected (`id` names it too): VF knobs, MTU and link go here.
    pub netdev: IfName,
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
            if p.numvfs.is_some() || !p.vfs.is_empty() {
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
        netdev: nd.clone(),
        dev,
        num_vfs,
        sriov,
    }))
}

/// The steps of a non-PCI PF, in the PCI order: `up = true` and the MTU first, the VF
/// count, the eswitch mode, then the rate nodes (all added after a mode change), the VF leaf
/// parents and the VF knobs, `up = false` last. No allocation lives on such a PF (the store
/// is PCI-keyed), so there is nothing to conflict with or defer to.
pub(super) fn plan_bus(
    host: &dyn crate::host::Host,
    b: &BusPf,
    out: &mut Planned,
) -> Result<Vec<Step>, ApplyError> {
    let _span = tracing::debug_span!("plan_bus_pf", pf = %b.id, dev = %b.dev).entered();
    let (p, nd) = (b.policy, &b.netdev);
    let mut steps = vec![];
    let admin_up = host.admin_up(nd).unwrap_or(false);
    if p.up == Some(true) && !admin_up {
        steps.push(knob_step::up_step(&b.id, nd, knob_step::UP_FIRST));
    }
    if let Some(mtu) = p.mtu {
        steps.extend(knob_step::mtu_step(host, &b.id, nd, mtu));
    }
    let want = p.numvfs.unwrap_or(b.num_vfs);
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
    let eswitch = super::eswitch_step::plan_eswitch(host, p, &b.id, &[], false, out)?;
    let mode_change = eswitch.is_some();
    // A mode change in the no-VFs order re-creates the VFs itself, as a new count does.
    let fresh = recreate
        || (b.num_vfs > 0
            && eswitch
                .as_ref()
                .is_some_and(|(_, o)| *o == crate::hwdb::EswitchOrder::NoVfs));
    steps.extend(eswitch.map(|(s, _)| s));
    steps.extend(super::rate_step::plan_rate_nodes(
        host,
        p,
        &b.id,
        mode_change,
    )?);
    steps.extend(super::rate_step::plan_leaf_parents(
        host,
        p,
        &b.id,
        want,
        mode_change || recreate,
        &[],
        out,
    )?);
    steps.extend(knob_steps(host, b, want, fresh)?);
    if p.up == Some(false) && (admin_up || steps.iter().any(|s| matches!(s.action, Action::Up(_))))
    {
        steps.push(knob_step::down_step(&b.id, nd));
    }
    Ok(steps)
}

/// The VF knob steps of VFs `0..want`, against the PF's VF records now, or, when the plan
/// re-creates the VFs (`fresh`), against the kernel's defaults. netdevsim keeps its per-VF
/// settings across a count change on some kernels and not on others, so a re-created VF's
/// knob is planned unless it holds both ways; the step reads the VF again when its turn
/// comes and finds a knob already holding done.
fn knob_steps(
    host: &dyn crate::host::Host,
    b: &BusPf,
    want: u32,
    fresh: bool,
) -> Result<Vec<Step>, ApplyError> {
    let p = b.policy;
    if want == 0 || p.vfs.is_empty() {
        return Ok(vec![]);
    }
    let records = host.vf_state_of(&b.netdev)?;
    let key = format!("bus:{}", b.dev);
    let mut steps = vec![];
    for i in 0..want {
        let Some(vp) = p.for_vf(i) else { continue };
        let found = records
            .as_ref()
            .and_then(|l| l.vfs.iter().find(|s| s.vf == i).cloned());
        let now = match (&found, fresh) {
            (Some(f), false) => f.clone(),
            _ => VfState::unconfigured(i),
        };
        for k in knob_step::wanted(&vp, &now, &key, i) {
            let holds_found = !fresh || found.as_ref().is_none_or(|f| k.holds_in(f));
            if k.holds_in(&now) && holds_found {
                continue;
            }
            steps.push(knob_step::knob_step(&b.id, &b.netdev, i, k, &now));
        }
    }
    Ok(steps)
}
