//! reconcile: compare the records with the hardware; with repair, make them agree.

use serde::Serialize;

use super::actuate::{self, Target};
use super::handoff;
use super::{Engine, EngineError, VfStatus};
use crate::hwdb;
use crate::store::{AllocMode, Phase, StoreState};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// A record whose VF no longer exists (numvfs changed underneath).
    VfVanished,
    /// An allocate was interrupted (crash): the VF may be half-configured.
    InterruptedAllocate,
    /// A release was interrupted.
    InterruptedRelease,
    /// An active VF no longer carries what was set.
    ConfigDiffers,
    /// An active vfio allocation whose VF is not on vfio-pci.
    DriverDiffers,
    /// A VF with no record of ours that the read model finds in use outside vifman (any
    /// signal of [`crate::view::outside_use`]), or one a store rebuild recorded again.
    Unrecorded,
    /// Two records for one VF (must never happen; reported loudly).
    Duplicate,
    /// A record `apply --boot` could not restore: kept (its VF stays out of the pools) until
    /// `vifman release`, never repaired away.
    Lost,
    /// A CNI attachment whose pod network namespace is gone (a reboot, or a DEL that never
    /// came): repair undoes it as DEL would (netdev name back, IPAM released best effort, the
    /// CNI's knobs or its whole record released).
    StaleAttachment,
    /// A release could not prove the VF clean; --repair retries the release (reset, restore,
    /// read back) and frees the VF when it succeeds.
    Quarantined,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub kind: DriftKind,
    pub vf: String,
    pub vif_id: Option<String>,
    pub detail: String,
    /// What the repair did, if anything.
    pub repaired: Option<String>,
    /// What an operator does next, when anything (the CLI names the command).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<super::Recovery>,
}

impl Engine<'_> {
    pub fn reconcile(&self, repair: bool) -> Result<Vec<Drift>, EngineError> {
        let _span = tracing::info_span!("reconcile", repair).entered();
        // Attachments first, outside the store lock: undoing one takes the lock itself.
        let mut stale = self.stale_attachments(repair);
        // Only a repair may start over from a lost store, and then it rebuilds what the
        // hardware shows before anything else.
        let (mut store, rebuilt) = if repair {
            crate::store::Store::open_for_repair(&self.state_dir)?
        } else {
            (self.open_store()?, None)
        };
        let mut st: StoreState = store.load()?;
        let view = self.load_view()?;
        let mut out = std::mem::take(&mut stale);
        if let Some(set_aside) = &rebuilt {
            tracing::warn!(
                dir = %self.state_dir.display(),
                "the store was lost; rebuilding records from the hardware{}",
                if set_aside.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", set_aside.join("; "))
                }
            );
            out.extend(self.adopt_configured(&view, &mut st));
        }
        let mut drop_idx = vec![];
        let mut changed = false;
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in st.allocations.iter_mut().enumerate() {
            let d = |kind, detail: String| Drift {
                kind,
                vf: a.vf.to_string(),
                vif_id: Some(a.vif_id.to_string()),
                detail,
                repaired: None,
                next: None,
            };
            if !seen.insert(a.vf) {
                let mut x = d(DriftKind::Duplicate, "second record for this VF".into());
                if repair {
                    drop_idx.push(i);
                    x.repaired = Some("dropped the duplicate record".into());
                }
                out.push(x);
                continue;
            }
            if a.phase == Phase::Lost {
                out.push(Drift {
                    next: Some(super::Recovery::Release),
                    ..d(
                        DriftKind::Lost,
                        format!(
                            "not restored after a reboot: {}; a release frees it",
                            a.lost_reason.as_deref().unwrap_or("no reason recorded")
                        ),
                    )
                });
                continue;
            }
            let Some(v) = view.vf(&a.vf) else {
                let mut x = d(
                    DriftKind::VfVanished,
                    format!("VF {} of {} is gone", a.vf_index, a.pf),
                );
                if repair {
                    drop_idx.push(i);
                    x.repaired = Some("dropped the record".into());
                }
                out.push(x);
                continue;
            };
            let model = hwdb::by_pf(v.pf_ids.0, v.pf_ids.1);
            let configured = a.reset.or_else(|| self.reset_policy_of(&view, v));
            match a.phase {
                Phase::Lost => {}
                Phase::Pending | Phase::Releasing | Phase::Quarantined => {
                    let (kind, detail) = match (a.phase, &a.quarantine) {
                        (Phase::Pending, _) => (
                            DriftKind::InterruptedAllocate,
                            "interrupted before it finished".to_string(),
                        ),
                        (Phase::Releasing, _) => (
                            DriftKind::InterruptedRelease,
                            "interrupted before it finished".to_string(),
                        ),
                        (_, q) => (
                            DriftKind::Quarantined,
                            format!(
                                "quarantined since {}: {}",
                                q.as_ref().map(|q| q.since).unwrap_or(0),
                                q.as_ref()
                                    .map(|q| q.reason.as_str())
                                    .unwrap_or("no reason recorded")
                            ),
                        ),
                    };
                    let mut x = d(kind, detail);
                    if repair {
                        // Finishing an interrupted cycle is a release: the same clean handoff.
                        match handoff::hand_back(self.host, a, configured, model) {
                            Ok(policy) => {
                                drop_idx.push(i);
                                x.repaired = Some(format!(
                                    "reset ({policy}), restored and read back the original state; freed the VF"
                                ));
                            }
                            Err(reason) => {
                                x.repaired = Some(format!("not clean, quarantined: {reason}"));
                                handoff::quarantine(a, reason);
                                changed = true;
                            }
                        }
                    }
                    out.push(x);
                }
                Phase::Active => {
                    let t = Target {
                        vf: a.vf,
                        pf_netdev: &a.pf_netdev,
                        vf_index: a.vf_index,
                    };
                    let now = v.state.clone();
                    for k in &a.requested {
                        if now.as_ref().is_some_and(|s| k.holds_in(s)) {
                            continue;
                        }
                        let mut x = d(
                            DriftKind::ConfigDiffers,
                            format!("expected {}", k.describe()),
                        );
                        if repair {
                            x.repaired = Some(match actuate::set_knob(self.host, &t, k) {
                                Ok(()) => format!("re-applied {}", k.describe()),
                                Err(e) => format!("re-apply failed: {e}"),
                            });
                        }
                        out.push(x);
                    }
                    if a.mode == AllocMode::HostdevVfio
                        && !v.driver.as_ref().is_some_and(|d| d.is_vfio_pci())
                    {
                        let mut x = d(
                            DriftKind::DriverDiffers,
                            format!(
                                "on {} instead of vfio-pci",
                                v.driver.as_deref().unwrap_or("no driver")
                            ),
                        );
                        if repair {
                            x.repaired = Some(
                                match actuate::rebind(
                                    self.host,
                                    &a.vf,
                                    Some(&crate::types::DriverName::vfio_pci()),
                                    Some(&crate::types::DriverName::vfio_pci()),
                                ) {
                                    Ok(()) => "rebound to vfio-pci".into(),
                                    Err(e) => format!("rebind failed: {e}"),
                                },
                            );
                        }
                        out.push(x);
                    }
                }
            }
        }
        let whole_changed = self.reconcile_whole(&view, &mut st, repair, &mut out);
        for v in &view.vfs {
            if st.holds(&v.addr) || st.whole_holder(&v.addr).is_some() {
                continue;
            }
            // The read model's one verdict (not a rule of reconcile's own), so every sign of
            // outside use is reported, worded as the inventory, `pools --explain`, `vf show`
            // and `allocate` word it: `in use outside vifman (reasons)`.
            let status = view.status(self.config, &st, v);
            if matches!(status, VfStatus::InUse(_)) {
                out.push(Drift {
                    kind: DriftKind::Unrecorded,
                    vf: v.addr.to_string(),
                    vif_id: None,
                    detail: format!("{status}, no vifman record (left alone)"),
                    repaired: None,
                    next: None,
                });
            }
        }
        if !drop_idx.is_empty() || rebuilt.is_some() || whole_changed || changed {
            for i in drop_idx.into_iter().rev() {
                st.allocations.remove(i);
            }
            store.save(&st)?;
        }
        Ok(out)
    }
}

impl Engine<'_> {
    /// CNI attachments whose network namespace path no longer exists; with `repair`, each is
    /// undone (`cni::del::teardown_orphan`). An unreadable store is left to the main pass.
    fn stale_attachments(&self, repair: bool) -> Vec<Drift> {
        let Ok(st) = crate::store::read_state(&self.state_dir) else {
            return vec![];
        };
        let mut out = vec![];
        for rec in &st.allocations {
            let Some(att) = &rec.cni else { continue };
            if std::path::Path::new(&att.netns).exists() {
                continue;
            }
            let mut x = Drift {
                kind: DriftKind::StaleAttachment,
                vf: rec.vf.to_string(),
                vif_id: Some(rec.vif_id.to_string()),
                detail: format!(
                    "CNI attachment ({}, {:?}) to netns {}, which is gone: its DEL never came",
                    att.key, att.phase, att.netns
                ),
                repaired: None,
                next: None,
            };
            if repair {
                x.repaired = Some(match crate::cni::del::teardown_orphan(self, rec) {
                    Ok(()) => format!(
                        "undid the attachment: {}{}{}",
                        att.host_ifname
                            .as_ref()
                            .map(|n| format!("netdev back as {n}, "))
                            .unwrap_or_default(),
                        if att.ipam_added {
                            "IPAM released (best effort), "
                        } else {
                            ""
                        },
                        if att.owns_record {
                            "the CNI's record released"
                        } else {
                            "the CNI's knobs put back; the record stays its holder's"
                        }
                    ),
                    Err(e) => format!("undoing it failed: {}", e.msg),
                });
            }
            out.push(x);
        }
        out
    }
}
