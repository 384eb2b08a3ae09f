//! Fleet integration: vifman's pools offered to the schedulers that already run fleets —
//! kubelet (device-plugin API v1beta1), OpenStack Placement (resource providers) — and to
//! Prometheus. Everything here sits on the same engine and allocation store as the CLI, so a
//! VF handed out through one path is never handed out through another.

pub mod deviceplugin;
pub mod ids;
pub mod metrics;
pub mod placement;
pub mod proto;
pub mod snapshot;
pub mod watch;
pub mod worker;

/// Errors of the fleet layer; the CLI adds context.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("{0}")]
    Host(String),
    #[error("engine worker stopped")]
    WorkerGone,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("kubelet: {0}")]
    Kubelet(String),
    #[error(transparent)]
    Placement(#[from] placement::PlacementError),
}

impl FleetError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        FleetError::Io {
            what: what.into(),
            source,
        }
    }
}
