//! The allocation store: what vifman has handed out, kept durably in a state directory.
//!
//! It sits below the engine: the engine writes records through [`Store`] under its lock;
//! inventory, the CLI and the fleet code only read them, through [`read_allocations`], which
//! never creates anything. Records ([`record`]) are plain data with typed ids; the slot files
//! ([`slots`]) make every write crash-safe and refuse to mistake a lost store for an empty one.

mod cni;
mod device;
mod files;
mod locate;
mod record;
mod slots;

use std::path::Path;

pub use cni::{AttachKey, AttachPhase, CniAttachment};
pub use device::{BoundDevice, DeviceAllocation, WholeRequestKind};
pub use record::{
    AllocMode, Allocation, LeafParentChange, Original, Phase, PolicyVf, Quarantine, StoreState,
};
pub use slots::{create_state_dir, Store, StoreError, DEFAULT_STATE_DIR};

/// The allocations recorded in `dir`, read under the store's lock so a half-finished cycle of
/// another process is never seen. Empty when `dir` has never held a store; creates nothing.
pub fn read_allocations(dir: &Path) -> Result<Vec<Allocation>, StoreError> {
    Ok(read_state(dir)?.allocations)
}

/// The whole store (VF records, whole-device records, the policy's VF baseline), read as [`read_allocations`] reads.
pub fn read_state(dir: &Path) -> Result<StoreState, StoreError> {
    Ok(Store::peek::<StoreState>(dir)?.unwrap_or_default())
}
