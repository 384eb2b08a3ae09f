//! VF assignment: pick a free VF from a pool, configure it transactionally, hand back an os-vif
//! object; put it back exactly as it was on release. Same code on real and simulated kernels.

mod actuate;
mod allocate;
pub mod apply;
mod attach;
mod emit;
pub mod eswitch;
mod handoff;
mod numvfs;
mod pools;
mod portfn;
pub mod rate;
mod reconcile;
mod recover;
mod release;
mod request;
mod vfcount;
mod vfreset;
pub mod vfset;
mod vfshow;
pub mod whole;

/// The records live in [`crate::store`]; re-exported for the engine's callers.
pub use crate::store::{AllocMode, Allocation, Original, Phase, StoreState};
pub use crate::view::{HostView, VfStatus, VfView};
pub use allocate::{AllocateOutcome, Plan};
pub use attach::is_plugin_vif;
pub use pools::{device_pools, PoolReport, PoolsReport};
pub use reconcile::{Drift, DriftKind};
pub use recover::recovered_vif_id;
pub use request::AllocateRequest;
pub use vfshow::VfReport;

use std::path::PathBuf;

use crate::config::Config;
use crate::host::{Host, HostError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Request(String),
    #[error("no free VF in pool {physnet}: {reason}")]
    NoFreeVf { physnet: String, reason: String },
    /// Whole devices (by physnet or alias): not enough free ones; nothing was changed.
    #[error("not enough free devices in {pool}: {reason}; nothing was changed")]
    NoFreeDevice { pool: String, reason: String },
    #[error("{model} cannot set {knob} (per hwdb; {hint}); nothing was changed")]
    Unsupported {
        model: String,
        knob: String,
        hint: String,
    },
    #[error("{step} failed: {cause}; {rollback}")]
    Actuation {
        step: String,
        /// Not a `#[source]`: the message already carries it, once.
        cause: HostError,
        /// What happened to the changes made before the failure.
        rollback: String,
        /// What an operator has to do next, when the rollback left something for them.
        next: Option<Recovery>,
    },
    /// A release could not prove the VF clean; its record stays, phase quarantined.
    #[error("release of {vf} could not prove it clean: {reason}; the VF is quarantined (out of every pool) until an operator clears the quarantine or a repair completes the release")]
    Quarantined {
        vf: crate::types::PciAddress,
        reason: String,
    },
    /// A VF setting change refused because an allocation holds the VF (the caller may
    /// override: the change is then not recorded).
    #[error("{vf} (VF {index} of {pf}) is allocated (VIF {vif_id}, instance {instance}); a change is not recorded (release restores the allocation's recorded original, not the change)")]
    VfAllocated {
        vf: crate::types::PciAddress,
        index: u32,
        pf: String,
        vif_id: crate::types::Uuid,
        instance: crate::types::Uuid,
    },
    /// A VF reset refused because an allocation holds the VF (its release resets it).
    #[error("{vf} is allocated (VIF {vif_id}); its release resets it")]
    ResetAllocated {
        vf: crate::types::PciAddress,
        vif_id: crate::types::Uuid,
    },
    /// Clearing a quarantine asked for a record that is not quarantined.
    #[error("{vf} (VIF {vif_id}) is not quarantined; an ordinary release frees it")]
    NotQuarantined {
        vf: crate::types::PciAddress,
        vif_id: crate::types::Uuid,
    },
    /// A whole-device request for no devices (`what`: "alias NAME").
    #[error("{what}: a request for 0 devices; at least 1 is needed")]
    ZeroCount { what: String },
    #[error("no allocation with VIF id {0}")]
    NotFound(crate::types::Uuid),
    #[error(transparent)]
    NoSuchVf(#[from] crate::view::NoSuchVf),
    #[error("{0}")]
    Busy(String),
    /// An eswitch mode change refused or failed (names the rule, the step, the rollback).
    #[error(transparent)]
    Eswitch(Box<eswitch::EswitchError>),
    /// A devlink rate node or leaf change refused or failed (names the node, the reason,
    /// what was put back).
    #[error(transparent)]
    Rate(Box<rate::RateError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
}

/// What an operator does next after an [`EngineError::Actuation`], a boot replay that left a
/// record alone, or a reconcile finding; the engine states it, the CLI names the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// The record stays pending: a repair finishes or undoes it.
    Repair,
    /// A release stopped half way: release again, or repair.
    RetryRelease,
    /// A VF was left without its driver: reconcile shows and mends it.
    Reconcile,
    /// A record vifman made for hardware it found configured: releasing that VIF puts the
    /// VF back to the kernel defaults.
    ReleaseVif,
    /// A whole-device record whose device left the bus: releasing it drops the record.
    Release,
}

/// How an [`EngineError::Actuation`]'s rollback ends when its record is kept for a repair.
pub const PENDING_FOR_REPAIR: &str = "the record stays pending for a repair";
/// How it ends when a release stopped half way and may be retried (or repaired).
pub const RELEASING_FOR_RETRY: &str =
    "the record stays in phase releasing for another release or a repair";
/// How it ends when a VF reset failed and the VF could not go back to its driver.
pub const LEFT_UNBOUND: &str = "the VF is left without its driver, not reset";

impl From<eswitch::EswitchError> for EngineError {
    fn from(e: eswitch::EswitchError) -> Self {
        EngineError::Eswitch(Box::new(e))
    }
}

pub struct Engine<'a> {
    pub host: &'a dyn Host,
    pub config: &'a Config,
    pub state_dir: PathBuf,
    /// The last host view and when it was taken. A long-lived engine (benchmarks, a daemon)
    /// reuses it for selection and re-validates the chosen VF against the kernel; a
    /// one-shot CLI process always starts cold.
    cache: std::sync::Mutex<Option<(std::time::Instant, HostView)>>,
}

/// How long a cached host view may drive selection before a full rescan.
const VIEW_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl<'a> Engine<'a> {
    pub fn new(host: &'a dyn Host, config: &'a Config, state_dir: impl Into<PathBuf>) -> Self {
        Engine {
            host,
            config,
            state_dir: state_dir.into(),
            cache: std::sync::Mutex::new(None),
        }
    }

    /// A fresh view of the host with what this engine's config needs besides the scan (card
    /// serials for `remote_managed` specs).
    pub fn load_view(&self) -> Result<HostView, EngineError> {
        let mut v = HostView::load(self.host)?;
        v.read_card_serials(self.host, self.config);
        Ok(v)
    }

    fn open_store(&self) -> Result<Store, EngineError> {
        Ok(Store::open(&self.state_dir)?)
    }

    /// A host view: the cached one while fresh, else a new scan. Returned by value; give it
    /// back with [`Engine::keep_view`].
    fn take_view(&self) -> Result<(HostView, Option<std::time::Instant>), EngineError> {
        let cached = self.cache.lock().ok().and_then(|mut c| c.take());
        match cached {
            Some((t, v)) if t.elapsed() < VIEW_TTL => Ok((v, Some(t))),
            _ => Ok((self.load_view()?, None)),
        }
    }

    /// The host view for a one-shot command (a CNI ADD or DEL): scanned once and kept in the
    /// cache, so the engine steps the command runs next (pool lookup, allocate, release) pick
    /// from it and re-read only the VF they touch instead of rescanning the host.
    pub fn host_view(&self) -> Result<HostView, EngineError> {
        let (v, since) = self.take_view()?;
        self.keep_view(v.clone(), since.unwrap_or_else(std::time::Instant::now));
        Ok(v)
    }

    fn keep_view(&self, v: HostView, taken: std::time::Instant) {
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((taken, v));
        }
    }

    /// Current allocations (takes the lock briefly, so it sees a consistent state).
    pub fn allocations(&self) -> Result<Vec<Allocation>, EngineError> {
        Ok(crate::store::read_allocations(&self.state_dir)?)
    }

    /// Allocations and the policy's VF baseline, as [`Self::allocations`] reads them.
    pub fn store_state(&self) -> Result<crate::store::StoreState, EngineError> {
        Ok(crate::store::read_state(&self.state_dir)?)
    }
}

/// Seconds since the epoch, as records store times.
pub fn now_secs() -> u64 {
    now()
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
