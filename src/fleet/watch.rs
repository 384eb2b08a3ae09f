//! What makes the device plugin (and `placement sync --watch`) rescan: the host's own change
//! notification ([`crate::host::Host::watch`]: kernel events on hardware, file changes in a
//! simulation) plus the allocation store, so allocations made by other vifman processes (the
//! CLI) show up at once. Both feed one `Notify`; the consumer keeps a slow periodic rescan
//! as a safety net.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Notify;

use super::worker::EngineWorker;
use super::FleetError;
use crate::host::events::watch_paths;
use crate::host::{OnChange, Watch};

fn notifier(notify: Arc<Notify>) -> OnChange {
    Arc::new(move || notify.notify_one())
}

/// Watch one directory vifman owns (the store, kubelet's socket directory).
pub fn watch_dir(dir: &Path, notify: Arc<Notify>) -> Result<Watch, FleetError> {
    let d: PathBuf = dir.to_path_buf();
    watch_paths(move || vec![d.clone()], notifier(notify))
        .map_err(|e| FleetError::io(format!("watching {}", dir.display()), e))
}

/// The host's watcher, started on the engine thread that owns the host (its sockets belong
/// to that thread's network namespace).
fn host_job(
    notify: Arc<Notify>,
) -> impl FnOnce(&crate::engine::Engine<'_>) -> Result<Watch, String> {
    move |e| e.host.watch(notifier(notify)).map_err(|e| e.to_string())
}

/// Host changes and store changes, for async callers.
pub async fn watch_host(
    worker: &EngineWorker,
    notify: Arc<Notify>,
) -> Result<Vec<Watch>, FleetError> {
    let host = worker
        .call(host_job(notify.clone()))
        .await?
        .map_err(FleetError::Host)?;
    Ok(vec![host, watch_dir(&worker.state_dir, notify)?])
}

/// The same, for synchronous callers.
pub fn watch_host_blocking(
    worker: &EngineWorker,
    notify: Arc<Notify>,
) -> Result<Vec<Watch>, FleetError> {
    let host = worker
        .call_blocking(host_job(notify.clone()))?
        .map_err(FleetError::Host)?;
    Ok(vec![host, watch_dir(&worker.state_dir, notify)?])
}
