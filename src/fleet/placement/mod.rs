//! `vifman placement sync`: the host's pools as OpenStack Placement resource providers in
//! vifman's own subtree, next to (never inside) what nova and neutron report.

pub mod client;
pub mod desired;
pub mod sync;

pub use client::Client;
pub use sync::{desired, sync, DesiredProvider, SyncReport};

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error("placement URL {0}")]
    Url(String),
    #[error("placement: {0}")]
    Io(String),
    #[error("placement: {0}")]
    Protocol(String),
    #[error("{call}: HTTP {status}: {body}")]
    Status {
        call: String,
        status: u16,
        body: String,
    },
    #[error("{0}: still conflicting after retries (concurrent writers)")]
    Conflict(String),
}
