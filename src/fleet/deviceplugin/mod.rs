//! `vifman device-plugin`: one kubelet extended resource per pool, served over the kubelet
//! device-plugin API v1beta1 on unix sockets in the device-plugins directory.
//!
//! Life cycle: serve every pool's socket, then Register (kubelet dials back before it
//! answers); stream devices with real health and push on every host change; when kubelet
//! restarts (it deletes plugin sockets and re-creates kubelet.sock) stop, serve again,
//! register again.

pub mod devinfo;
pub mod register;
pub mod server;
pub mod whole;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_stream::wrappers::UnixListenerStream;

use super::metrics::Metrics;
use super::proto::device_plugin_server::DevicePluginServer;
use super::snapshot::Snapshot;
use super::worker::EngineWorker;
use super::{ids, FleetError};
use crate::engine::AllocMode;

pub const DEFAULT_KUBELET_DIR: &str = "/var/lib/kubelet/device-plugins";

#[derive(Debug, Clone)]
pub struct Options {
    pub kubelet_dir: PathBuf,
    pub resource_prefix: String,
    pub mode: AllocMode,
    /// Safety-net rescan period; changes normally arrive as events.
    pub rescan_interval: Duration,
    pub metrics_listen: Option<SocketAddr>,
    /// Where Allocate writes device-info files for multus and the CNI (None: none written).
    pub devinfo_dir: Option<PathBuf>,
}

/// Socket file name for a pool (kubelet wants a name relative to its directory).
pub fn endpoint_for(pool: &str) -> String {
    let safe: String = pool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("vifman-{safe}.sock")
}

async fn rescan_loop(
    worker: EngineWorker,
    metrics: Arc<Metrics>,
    tx: watch::Sender<Arc<Snapshot>>,
    notify: Arc<Notify>,
    every: Duration,
) {
    loop {
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        let m = metrics.clone();
        match worker.call(move |e| m.snapshot(e).map(|r| r.0)).await {
            Ok(Ok(s)) => {
                tx.send_if_modified(|cur| {
                    if **cur != s {
                        *cur = Arc::new(s);
                        true
                    } else {
                        false
                    }
                });
            }
            Ok(Err(e)) => tracing::warn!(%e, "rescan failed"),
            Err(_) => return,
        }
    }
}

fn inode(p: &Path) -> Option<u64> {
    std::fs::symlink_metadata(p).ok().map(|m| m.ino())
}

/// Serve every pool's socket; returns the server tasks.
fn serve_all(
    dir: &Path,
    pools: &[(String, String)],
    shared: &Arc<server::Shared>,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, FleetError> {
    let mut tasks = vec![];
    for (pool, resource) in pools {
        let sock = dir.join(endpoint_for(pool));
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock)
            .map_err(|e| FleetError::io(format!("listening on {}", sock.display()), e))?;
        let svc = server::PoolPlugin {
            pool: pool.clone(),
            resource: resource.clone(),
            shared: shared.clone(),
            stop: stop.clone(),
        };
        let mut stop = stop.clone();
        let resource = resource.clone();
        tasks.push(tokio::spawn(async move {
            let r = tonic::transport::Server::builder()
                .add_service(DevicePluginServer::new(svc))
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(%resource, %e, "device-plugin server failed");
            }
        }));
    }
    Ok(tasks)
}

/// Run until `shutdown` resolves.
pub async fn run(
    worker: EngineWorker,
    opts: Options,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), FleetError> {
    let m = metrics.clone();
    let initial = worker.call(move |e| m.snapshot(e).map(|r| r.0)).await??;
    let mut pools = vec![];
    for p in &initial.pools {
        let resource = format!("{}/{p}", opts.resource_prefix);
        match ids::valid_resource_name(&resource) {
            Ok(()) => pools.push((p.clone(), resource)),
            Err(e) => tracing::warn!("pool {p:?} is not offered to kubelet: {e}"),
        }
    }
    for a in &initial.aliases {
        let resource = format!("{}/{a}", opts.resource_prefix);
        if pools.iter().any(|(_, r)| r == &resource) {
            tracing::warn!(
                "alias {a:?} is not offered to kubelet: a pool has the resource name {resource}"
            );
            continue;
        }
        match ids::valid_resource_name(&resource) {
            Ok(()) => pools.push((format!("{}{a}", whole::PREFIX), resource)),
            Err(e) => tracing::warn!("alias {a:?} is not offered to kubelet: {e}"),
        }
    }
    if pools.is_empty() {
        return Err(FleetError::Kubelet(
            "no pool in the config can be offered (see the warnings)".into(),
        ));
    }
    let (snap_tx, snap_rx) = watch::channel(Arc::new(initial));
    let rescan = Arc::new(Notify::new());
    let _host_watch = super::watch::watch_host(&worker, rescan.clone()).await?;
    tokio::spawn(rescan_loop(
        worker.clone(),
        metrics.clone(),
        snap_tx,
        rescan.clone(),
        opts.rescan_interval,
    ));
    if let Some(addr) = opts.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| FleetError::io(format!("metrics listener {addr}"), e))?;
        tracing::info!(%addr, "serving metrics");
        tokio::spawn(super::metrics::serve(l, metrics.clone(), worker.clone()));
    }
    let shared = Arc::new(server::Shared {
        worker,
        snap: snap_rx,
        rescan,
        metrics,
        mode: opts.mode,
        devinfo_dir: opts.devinfo_dir.clone(),
    });
    let dir = opts.kubelet_dir.clone();
    std::fs::create_dir_all(&dir)
        .map_err(|e| FleetError::io(format!("creating {}", dir.display()), e))?;
    let dir_changed = Arc::new(Notify::new());
    let _dir_watch = super::watch::watch_dir(&dir, dir_changed.clone())?;
    let kubelet_sock = dir.join(register::KUBELET_SOCKET);
    tokio::pin!(shutdown);
    let tick = Duration::from_secs(1);
    'outer: loop {
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = serve_all(&dir, &pools, &shared, &stop_rx)?;
        // Register every pool; kubelet may not be there yet, or be restarting.
        let mut registered_ino;
        loop {
            registered_ino = inode(&kubelet_sock);
            let mut ok = registered_ino.is_some();
            if ok {
                for (pool, resource) in &pools {
                    if let Err(e) = register::register(&dir, &endpoint_for(pool), resource).await {
                        tracing::warn!(%e, "registration failed; retrying");
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                break;
            }
            tokio::select! {
                _ = &mut shutdown => { let _ = stop_tx.send(true); break 'outer; }
                _ = dir_changed.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
        // Serve until kubelet restarts: kubelet.sock replaced, or our sockets removed.
        loop {
            tokio::select! {
                _ = &mut shutdown => { let _ = stop_tx.send(true); for t in tasks { let _ = t.await; } break 'outer; }
                _ = dir_changed.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
            let kubelet_restarted = inode(&kubelet_sock) != registered_ino;
            let ours_gone = pools
                .iter()
                .any(|(p, _)| !dir.join(endpoint_for(p)).exists());
            if kubelet_restarted || ours_gone {
                tracing::info!(
                    kubelet_restarted,
                    ours_gone,
                    "kubelet restarted; serving and registering again"
                );
                break;
            }
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    }
    for (p, _) in &pools {
        let _ = std::fs::remove_file(dir.join(endpoint_for(p)));
    }
    Ok(())
}
