//! Boot replay: after a reboot every VF is new (default settings, autoprobed driver) while
//! the store still says which guest owns which VF. Each active allocation is put back on
//! the fresh hardware: its "original" state is re-captured from the post-boot VF (so a later
//! release restores what this boot made, not what the last one had), then its knobs and its
//! vfio-pci binding are applied again. What cannot be put back becomes `lost`, with the
//! reason, and stays recorded so the VF is never handed to another guest meanwhile.

use serde::Serialize;

use super::action::Action;
use super::{ApplyError, Step, StepStatus};
use crate::engine::actuate::{self, Applied, Target};
use crate::host::{Host, HostError, KnobKind};
use crate::hwdb;
use crate::store::{Allocation, Original, Phase, Store, StoreState};
use crate::sysfs::ScanReport;

#[derive(Debug, Clone, Default, Serialize)]
pub struct BootOutcome {
    pub restored: Vec<BootRecord>,
    pub lost: Vec<BootRecord>,
    /// Records left as they were (already lost, or interrupted before the reboot).
    pub skipped: Vec<BootRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootRecord {
    pub vif_id: String,
    pub vf: String,
    pub detail: String,
    /// What an operator does about it, when anything (the CLI names the command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<crate::engine::Recovery>,
    /// What was restored only in part (the allocation still counts as restored), e.g. a
    /// rate parent whose node this boot's policy did not recreate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn rec(a: &Allocation, detail: String) -> BootRecord {
    BootRecord {
        vif_id: a.vif_id.to_string(),
        vf: a.vf.to_string(),
        detail,
        next: None,
        warnings: vec![],
    }
}

/// A record interrupted before the reboot is left alone: a repair finishes or undoes it.
pub(super) const INTERRUPTED: &str = "interrupted before the reboot; left for a repair";

/// Restore every active allocation; each outcome is saved durably as soon as it is known.
pub(super) fn replay(
    host: &dyn Host,
    scan: &ScanReport,
    store: &mut Store,
    st: &mut StoreState,
) -> Result<BootOutcome, ApplyError> {
    let _span = tracing::info_span!("boot_replay", records = st.allocations.len()).entered();
    let mut out = BootOutcome::default();
    for i in 0..st.allocations.len() {
        let a = &mut st.allocations[i];
        match a.phase {
            Phase::Lost => {
                let why = a.lost_reason.clone().unwrap_or_default();
                out.skipped.push(rec(a, format!("already lost: {why}")));
                continue;
            }
            Phase::Pending | Phase::Releasing => {
                out.skipped.push(BootRecord {
                    next: Some(crate::engine::Recovery::Repair),
                    ..rec(a, INTERRUPTED.into())
                });
                continue;
            }
            Phase::Quarantined => {
                let why = a
                    .quarantine
                    .as_ref()
                    .map(|q| q.reason.clone())
                    .unwrap_or_default();
                out.skipped.push(rec(a, format!("quarantined: {why}")));
                continue;
            }
            Phase::Active => {}
        }
        let mut warnings = vec![];
        match restore_one(host, scan, a, &mut warnings) {
            Ok(detail) => {
                // A CNI attachment whose namespace is gone is undone by a repair.
                let gone = a
                    .cni
                    .as_ref()
                    .is_some_and(|c| !std::path::Path::new(&c.netns).exists());
                out.restored.push(BootRecord {
                    next: gone.then_some(crate::engine::Recovery::Repair),
                    warnings,
                    ..rec(a, detail)
                })
            }
            Err(reason) => {
                tracing::warn!(vif = %a.vif_id, vf = %a.vf, %reason, "allocation lost");
                a.phase = Phase::Lost;
                a.lost_reason = Some(reason.clone());
                out.lost.push(rec(a, reason));
            }
        }
        store.save(st)?;
    }
    Ok(out)
}

/// Does the VF already carry everything the allocation set (a second `--boot` without a
/// reboot in between)? Then its saved original must not be overwritten with it.
fn in_place(host: &dyn Host, a: &Allocation, t: &Target) -> bool {
    let Ok(s) = actuate::read_vf(host, t) else {
        return false;
    };
    let driver_ok = a
        .bound_driver
        .as_ref()
        .is_none_or(|d| host.driver_of(&a.vf).as_ref() == Some(d));
    let knobs_ok = a.requested.iter().all(|k| k.holds_in(&s));
    let parent_ok = a.rate_parent.as_ref().is_none_or(|c| {
        crate::engine::rate::leaf::parent_of(host, t.pf_netdev.as_str(), t.vf_index)
            .is_ok_and(|p| p.as_deref() == Some(c.node.as_str()))
    });
    driver_ok
        && knobs_ok
        && parent_ok
        && !(a.requested.is_empty() && a.bound_driver.is_none() && a.rate_parent.is_none())
}

fn restore_one(
    host: &dyn Host,
    scan: &ScanReport,
    a: &mut Allocation,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    if !host.device_present(&a.pf) {
        return Err(format!("PF {} is gone", a.pf));
    }
    let serial = host.device_serial(&a.pf);
    if let (Some(was), Some(now)) = (&a.pf_serial, &serial) {
        if !was.eq_ignore_ascii_case(now) {
            return Err(format!(
                "the device at {} has serial {now}, not {was}: another card",
                a.pf
            ));
        }
    }
    if a.pf_serial.is_some() && serial.is_none() {
        return Err(format!(
            "the device at {} no longer reports serial {}",
            a.pf,
            a.pf_serial.as_deref().unwrap_or_default()
        ));
    }
    let vfs = host.vfs_of(&a.pf);
    let Some(addr) = vfs.iter().find(|(i, _)| *i == a.vf_index).map(|(_, x)| *x) else {
        return Err(format!(
            "{} has {} VF(s) now; VF {} is gone (numvfs lowered?)",
            a.pf,
            vfs.len(),
            a.vf_index
        ));
    };
    if addr != a.vf {
        return Err(format!(
            "VF {} of {} is now {addr}, not {}: the VIF handed out names the old address",
            a.vf_index, a.pf, a.vf
        ));
    }
    let mut notes = vec![];
    let netdev = host
        .netdevs_of(&a.pf)
        .into_iter()
        .find(|n| scan.representors.iter().all(|r| &r.netdev != n) || scan.representors.is_empty());
    match netdev {
        Some(n) if n != a.pf_netdev => {
            notes.push(format!("PF netdev {} is now {n}", a.pf_netdev));
            a.pf_netdev = n;
        }
        Some(_) => {}
        None => {
            return Err(format!(
                "PF {} has no netdev to configure VFs through",
                a.pf
            ))
        }
    }
    if a.pf_serial.is_none() && serial.is_some() {
        a.pf_serial = serial;
    }
    let pf_netdev = a.pf_netdev.clone();
    let t = Target {
        vf: a.vf,
        pf_netdev: &pf_netdev,
        vf_index: a.vf_index,
    };
    if in_place(host, a, &t) {
        notes.push("already in place; nothing written, original kept".into());
        return Ok(notes.join("; "));
    }
    let state = actuate::read_vf(host, &t).map_err(|e| e.to_string())?;
    let mut seen = if a.requested.iter().any(|k| k.kind() == KnobKind::Mac) {
        Some(crate::engine::portfn::look(host, &pf_netdev, a.vf_index).map_err(|e| e.to_string())?)
    } else {
        None
    };
    // The VF's leaf is new after a reboot and has no parent; the allocation's node is the
    // policy's to recreate (its `[[pf.rate_nodes]]` steps ran before this replay). When the
    // node is not there the allocation is restored without it, said in the report, and the
    // record stops naming it so release puts no parent back.
    let leaf_parent = match a.rate_parent.take() {
        None => None,
        Some(c) => match reparent_check(host, a, &c.node) {
            // Already under the node (a second `--boot` whose other knobs did not hold):
            // this boot's original is still the recorded one.
            Ok(now) if now.as_deref() == Some(c.node.as_str()) => Some(c),
            Ok(original) => Some(crate::store::LeafParentChange {
                node: c.node,
                original,
            }),
            Err(why) => {
                tracing::warn!(vif = %a.vif_id, node = %c.node, %why, "rate parent not restored");
                warnings.push(format!(
                    "rate parent {} not restored ({why}); the allocation runs without it \
                     and its release puts no parent back",
                    c.node
                ));
                None
            }
        },
    };
    a.rate_parent = leaf_parent.clone();
    let port_fn_state = seen.as_ref().and_then(|s| s.state());
    a.original = Original {
        vf: state.clone(),
        driver: host.driver_of(&a.vf),
        driver_override: host.driver_override_of(&a.vf),
        port_fn_state,
    };
    if let Some(att) = a.cni.as_mut() {
        // A CNI attachment survives in the store only: what it saved of the VF and its netdev
        // describes the last boot. Re-captured like the original above, so the DEL (or
        // `reconcile --repair`, once its namespace is gone) puts back this boot's state.
        att.knobs_before = att
            .knobs_before
            .iter()
            .filter_map(|k| crate::host::Knob::current(k.kind(), &state))
            .collect();
        if att.host_ifname.is_some() {
            // Its netdev (not a vfio-bound VF's): under the name this boot gave it.
            att.host_ifname = host.netdevs_of(&a.vf).into_iter().next();
        }
        att.host_mtu = None;
        att.host_mac = None;
        att.sandbox_ifindex = None;
        notes.push(format!(
            "CNI attachment ({}) to netns {}{}",
            att.key,
            att.netns,
            if std::path::Path::new(&att.netns).exists() {
                String::new()
            } else {
                ", which is gone; a repair undoes it".to_string()
            }
        ));
    }
    let model = scan
        .device(&a.pf)
        .and_then(|d| hwdb::by_pf(d.ids.vendor.unwrap_or(0), d.ids.device.unwrap_or(0)));
    let mut applied: Vec<Applied> = vec![];
    let result = (|| -> Result<(), (String, HostError)> {
        if model.is_some_and(|m| m.quirks.pf_must_be_up) && host.admin_up(&pf_netdev) != Some(true)
        {
            host.link_up(&pf_netdev)
                .map_err(|e| ("bringing the PF up".to_string(), e))?;
        }
        if let Some(original) = a.original.port_fn_state {
            applied.push(Applied::FnState { original });
        }
        for k in &a.requested {
            let original =
                crate::host::Knob::current(k.kind(), &state).unwrap_or_else(|| k.clone());
            actuate::set_knob_seen(host, &t, k, &mut seen)
                .map_err(|e| (k.kind().name().to_string(), e))?;
            applied.push(Applied::Knob { original });
        }
        if let Some(c) = &leaf_parent {
            crate::engine::rate::leaf::set_parent(
                host,
                pf_netdev.as_str(),
                a.vf_index,
                Some(&c.node),
            )
            .map_err(|e| (format!("rate parent {}", c.node), e))?;
            applied.push(Applied::RateParent {
                original: c.original.clone(),
            });
        }
        let mac = a.requested.iter().any(|k| k.kind() == KnobKind::Mac);
        if mac && a.bound_driver.is_none() {
            actuate::reload_vf_driver(host, &a.vf, model)
                .map_err(|e| ("VF driver reload after MAC".to_string(), e))?;
        }
        if let Some(d) = &a.bound_driver {
            applied.push(Applied::Driver {
                original: a.original.driver.clone(),
                original_override: a.original.driver_override.clone(),
            });
            actuate::rebind(host, &a.vf, Some(d), Some(d))
                .map_err(|e| (format!("binding {} to {d}", a.vf), e))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            notes.insert(
                0,
                format!(
                    "restored {}{}",
                    a.requested
                        .iter()
                        .map(|k| k.describe())
                        .collect::<Vec<_>>()
                        .join(", "),
                    a.bound_driver
                        .as_ref()
                        .map(|d| format!(", bound to {d}"))
                        .unwrap_or_default()
                        + &leaf_parent
                            .as_ref()
                            .map(|c| format!(", rate parent {}", c.node))
                            .unwrap_or_default()
                ),
            );
            Ok(notes.join("; "))
        }
        Err((step, e)) => {
            let failures = actuate::undo(host, &t, &applied, model);
            Err(format!(
                "restoring {step} failed: {e}; {}",
                if failures.is_empty() {
                    "the VF is back to its post-boot state".to_string()
                } else {
                    format!("undo incomplete: {}", failures.join("; "))
                }
            ))
        }
    }
}

/// Why the allocation's leaf cannot be parented to `node` on this boot (the PF is not in
/// switchdev mode, the node is gone, the VF has no leaf), or the leaf's parent now.
fn reparent_check(host: &dyn Host, a: &Allocation, node: &str) -> Result<Option<String>, String> {
    let node: crate::types::RateNodeName = node.parse().map_err(|e| format!("{e}"))?;
    crate::engine::rate::leaf::check_parent(host, &a.pf, a.vf_index, &node)
}

/// `--force`: allocations whose VF an applied numvfs change removed or re-created lost
/// their hardware; they are marked lost with that reason, never dropped.
pub(super) fn mark_removed(st: &mut StoreState, steps: &[Step]) {
    for s in steps {
        let Action::NumVfs {
            pf, from, to: 0, ..
        } = &s.action
        else {
            continue;
        };
        if s.status != StepStatus::Done {
            continue;
        }
        for a in st
            .allocations
            .iter_mut()
            .filter(|a| a.pf == *pf && a.phase != Phase::Lost && a.vf_index < *from)
        {
            a.phase = Phase::Lost;
            a.lost_reason = Some(format!(
                "a forced apply set sriov_numvfs of {pf} {from} -> 0, removing this VF"
            ));
        }
    }
}
