//! `vifman apply`: make the host look like the policy's `[[pf]]` tables, in the order the
//! hardware needs, touching nothing that already matches, and never disturbing an allocated
//! VF unless forced. `--boot` then puts every active allocation back on the fresh hardware.
//!
//! resolve (policy → PFs, every host-dependent check) → plan (ordered steps, old → new) →
//! execute (step by step, undo that PF's steps on failure) → boot replay.

mod action;
mod boot;
mod boot_whole;
mod eswitch_step;
mod exec;
pub mod integration;
mod knob_step;
mod mac;
mod plan;
mod rate_step;
mod resolve;
mod resolve_bus;

pub use boot::{BootOutcome, BootRecord};
pub use mac::stable_mac;

use serde::Serialize;

use super::{Engine, EngineError};
use crate::config::policy::Policy;
use crate::host::HostError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Policy errors found against the host, each `file:line:col: pf[N].key: message`.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The plan would remove or reconfigure allocated VFs.
    #[error("the plan would disturb allocated VFs (nothing was changed; a forced apply overrides):\n{}", .0.join("\n"))]
    Allocated(Vec<String>),
    /// The policy names PFs handed to guests whole; no apply (not even forced) touches them.
    #[error("the policy names PFs passed through whole (nothing was changed; release them first, no forced apply overrides this):\n{}", .0.join("\n"))]
    HeldWhole(Vec<String>),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Plan and report only.
    pub dry_run: bool,
    /// Plan only; the report says in sync or drift.
    pub check: bool,
    /// Go ahead even when allocated VFs are in the way (their records are marked lost when
    /// their VF is removed).
    pub force: bool,
    /// A selector matching no PF is an error, not a warning.
    pub strict: bool,
    /// After applying, restore every active allocation (host just booted).
    pub boot: bool,
}

/// Where a step is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Planned,
    Done,
    /// Found already in the desired state when its turn came (a kernel that did it itself).
    AlreadyDone,
    Failed,
    Undone,
    UndoFailed,
    NotAttempted,
}

/// One change to one kernel object, old → new.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub pf: String,
    /// The kernel object: a sysfs file, `<pf> vf N <knob>`, `<netdev> mtu`.
    pub object: String,
    pub old: String,
    pub new: String,
    /// The ordering rule or reason that put this step here, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub(crate) action: action::Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// --dry-run / --check: nothing was written.
    Planned,
    /// Nothing to do: the host already matches.
    InSync,
    Applied,
    /// A step failed; see the steps' statuses. Never success.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub simulated: bool,
    pub outcome: Outcome,
    pub warnings: Vec<String>,
    /// PFs the policy selected, with the entry that selected each.
    pub pfs: Vec<SelectedPf>,
    pub steps: Vec<Step>,
    /// Allocated VFs whose allocation owns settings the policy also names: left alone.
    pub deferred: Vec<String>,
    /// `--force`: allocated VFs the plan disturbs anyway.
    pub forced: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<BootOutcome>,
}

impl ApplyReport {
    pub fn in_sync(&self) -> bool {
        self.steps.is_empty()
    }
    pub fn count(&self, s: StepStatus) -> usize {
        self.steps.iter().filter(|x| x.status == s).count()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectedPf {
    pub pf: String,
    pub netdev: Option<String>,
    pub entry: String,
}

impl Engine<'_> {
    /// Plan `policy` against the host and, unless `dry_run`/`check`, carry it out.
    pub fn apply(&self, policy: &Policy, opts: ApplyOptions) -> Result<ApplyReport, ApplyError> {
        let _span = tracing::info_span!(
            "apply",
            boot = opts.boot,
            dry_run = opts.dry_run,
            check = opts.check
        )
        .entered();
        let read_only = opts.dry_run || opts.check;
        // A change holds the store's lock from plan to the last restore, so no allocate can
        // take a VF the plan is about to rebuild.
        let mut store = if read_only {
            None
        } else {
            Some(self.open_store()?)
        };
        let mut st: crate::store::StoreState = match store.as_mut() {
            Some(s) => s.load()?,
            None => crate::store::read_state(&self.state_dir)?,
        };
        let scan = self.host.scan();
        let (resolved, bus, warnings) = resolve::resolve(self, &scan, policy, opts.strict)?;
        let mut planned = plan::plan(self, &scan, policy, &resolved, &st)?;
        for b in &bus {
            let steps = resolve_bus::plan_bus(self.host, b, &mut planned)?;
            planned.steps.extend(steps);
        }
        // At boot no VF carries its allocation yet (the replay below puts them back), so
        // rebuilding VFs disturbs nothing; the replay marks what it cannot restore as lost.
        if !planned.conflicts.is_empty() && !opts.force && !opts.boot {
            return Err(ApplyError::Allocated(planned.conflicts));
        }
        if !planned.held_whole.is_empty() && !opts.force && !opts.boot && !read_only {
            return Err(ApplyError::HeldWhole(planned.held_whole));
        }
        let mut report = ApplyReport {
            simulated: self.host.simulated(),
            outcome: Outcome::Planned,
            warnings,
            pfs: resolved
                .iter()
                .map(|r| SelectedPf {
                    pf: r.pf.to_string(),
                    netdev: r.netdev.as_ref().map(|n| n.to_string()),
                    entry: policy
                        .locate(r.policy, "")
                        .trim_end_matches('.')
                        .to_string(),
                })
                .chain(bus.iter().map(|b| {
                    SelectedPf {
                        pf: b.dev.to_string(),
                        netdev: Some(b.id.to_string()),
                        entry: policy
                            .locate(b.policy, "")
                            .trim_end_matches('.')
                            .to_string(),
                    }
                }))
                .collect(),
            steps: std::mem::take(&mut planned.steps),
            deferred: planned.deferred,
            forced: if opts.force && !opts.boot {
                planned.conflicts
            } else {
                vec![]
            },
            boot: None,
        };
        if read_only {
            return Ok(report);
        }
        if report.steps.is_empty() {
            report.outcome = Outcome::InSync;
        } else {
            let ok = exec::execute(self.host, &mut report.steps);
            report.outcome = if ok {
                Outcome::Applied
            } else {
                Outcome::Failed
            };
        }
        let store = store.as_mut().expect("a change holds the store");
        if report.outcome != Outcome::Failed {
            if opts.force && !opts.boot {
                boot::mark_removed(&mut st, &report.steps);
            }
            // The pools must know what this apply set is vifman's own, not outside use.
            if st.policy_vfs != planned.policy_vfs || opts.force {
                st.policy_vfs = std::mem::take(&mut planned.policy_vfs);
                store.save(&st)?;
            }
        }
        // Allocations are restored even after a failed step: a guest whose VF sits on a PF
        // that applied cleanly should not lose it to another PF's failure.
        if opts.boot {
            let mut outcome = boot::replay(self.host, &scan, store, &mut st)?;
            boot_whole::replay(self.host, store, &mut st, &mut outcome)?;
            report.boot = Some(outcome);
        }
        Ok(report)
    }
}
