//! One thread owns the host and the engine; async code sends it jobs. The `Host` trait is
//! neither `Send` nor `Sync` (netlink sockets, simulation state), and the store serialises
//! writers with a file lock anyway, so a single owner loses nothing and needs no unsafe sharing.

use std::path::PathBuf;
use std::sync::mpsc;

use super::FleetError;
use crate::config::Config;
use crate::engine::Engine;
use crate::host::Host;

type Job = Box<dyn FnOnce(&Engine<'_>) + Send>;

/// Builds the host and config inside the worker thread (they never cross threads).
pub type HostFactory = Box<dyn FnOnce() -> Result<(Box<dyn Host>, Config), String> + Send>;

#[derive(Clone)]
pub struct EngineWorker {
    tx: mpsc::Sender<Job>,
    /// The allocation store's directory.
    pub state_dir: PathBuf,
}

impl EngineWorker {
    pub fn spawn(factory: HostFactory, state_dir: PathBuf) -> Result<EngineWorker, FleetError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let dir = state_dir.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        std::thread::Builder::new()
            .name("vifman-engine".into())
            .spawn(move || {
                let (host, config) = match factory() {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let engine = Engine::new(host.as_ref(), &config, dir);
                while let Ok(job) = rx.recv() {
                    job(&engine);
                }
            })
            .map_err(|e| FleetError::io("spawning the engine thread", e))?;
        ready_rx
            .recv()
            .map_err(|_| FleetError::WorkerGone)?
            .map_err(FleetError::Host)?;
        Ok(EngineWorker { tx, state_dir })
    }

    /// Run `f` on the engine thread and await its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, FleetError>
    where
        R: Send + 'static,
        F: FnOnce(&Engine<'_>) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move |e| {
                let _ = tx.send(f(e));
            }))
            .map_err(|_| FleetError::WorkerGone)?;
        rx.await.map_err(|_| FleetError::WorkerGone)
    }

    /// The same, for synchronous callers (CLI one-shots, `placement sync`).
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R, FleetError>
    where
        R: Send + 'static,
        F: FnOnce(&Engine<'_>) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Box::new(move |e| {
                let _ = tx.send(f(e));
            }))
            .map_err(|_| FleetError::WorkerGone)?;
        rx.recv().map_err(|_| FleetError::WorkerGone)
    }
}
