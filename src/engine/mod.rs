//! VF assignment: pick a free VF from a pool, configure it transactionally, hand back an os-vif
//! object; put it back exactly as it was on release. Same code on real and simulated kernels.

mod actuate;
mod allocate;
mod emit;
mod numvfs;
mod pools;
mod reconcile;
pub mod record;
mod release;
mod request;
mod view;

pub use allocate::{AllocateOutcome, Plan};
pub use pools::{PoolReport, PoolsReport};
pub use reconcile::{Drift, DriftKind};
pub use record::{AllocMode, Allocation, Original, Phase, StoreState};
pub use request::AllocateRequest;
pub use view::{HostView, VfView};

use std::path::PathBuf;

use crate::alloc::store::{Store, StoreError};
use crate::config::Config;
use crate::host::{Host, HostError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Request(String),
    #[error("no free VF in pool {physnet}: {reason}")]
    NoFreeVf { physnet: String, reason: String },
    #[error("{model} cannot set {knob} (per hwdb; {hint}); nothing was changed")]
    Unsupported { model: String, knob: String, hint: String },
    #[error("{step} failed: {cause}; {rollback}")]
    Actuation {
        step: String,
        /// Not a `#[source]`: the message already carries it, once.
        cause: HostError,
        /// What happened to the changes made before the failure.
        rollback: String,
    },
    #[error("no allocation with VIF id {0}")]
    NotFound(String),
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Host(#[from] HostError),
}

pub struct Engine<'a> {
    pub host: &'a dyn Host,
    pub config: &'a Config,
    pub state_dir: PathBuf,
}

impl<'a> Engine<'a> {
    pub fn new(host: &'a dyn Host, config: &'a Config, state_dir: impl Into<PathBuf>) -> Self {
        Engine {
            host,
            config,
            state_dir: state_dir.into(),
        }
    }

    fn open_store(&self) -> Result<Store, EngineError> {
        Ok(Store::open(&self.state_dir)?)
    }

    /// Current allocations (takes the lock briefly, so it sees a consistent state).
    pub fn allocations(&self) -> Result<Vec<Allocation>, EngineError> {
        let mut s = self.open_store()?;
        Ok(s.load::<StoreState>()?.allocations)
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
