//! Fleet commands: `device-plugin` (kubelet), `placement sync` (OpenStack Placement),
//! `metrics` (one-shot Prometheus dump).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};

use super::assign::HostArgs;
use crate::engine::AllocMode;
use crate::fleet::metrics::Metrics;
use crate::fleet::placement::{self, Client};
use crate::fleet::snapshot;
use crate::fleet::worker::EngineWorker;

fn worker(h: &HostArgs) -> anyhow::Result<EngineWorker> {
    let args = h.clone();
    let factory = Box::new(move || -> Result<_, String> {
        let config = args.config().map_err(|e| format!("{e:#}"))?;
        let host = args.host().map_err(|e| format!("{e:#}"))?;
        Ok((host, config))
    });
    EngineWorker::spawn(factory, h.state_dir.clone()).context("opening the host")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[derive(Debug, Args)]
pub struct DevicePluginArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// kubelet's device-plugin directory (kubelet.sock and the plugins' sockets).
    #[arg(long, value_name = "DIR", default_value = crate::fleet::deviceplugin::DEFAULT_KUBELET_DIR)]
    pub kubelet_dir: PathBuf,
    /// Extended resources are <prefix>/<pool>.
    #[arg(long, value_name = "DOMAIN", default_value = "vifman.io")]
    pub resource_prefix: String,
    /// hostdev: the VF stays on its NIC driver; hostdev-vfio: Allocate binds it to vfio-pci
    /// and hands the container /dev/vfio/<group>.
    #[arg(long, value_name = "MODE", value_enum, default_value = "hostdev")]
    pub mode: super::values::DevicePluginMode,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9477).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// Safety-net rescan period in seconds (changes normally arrive as kernel/inotify events).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub rescan_interval: u64,
    /// Where Allocate writes device-info files that multus hands to CNI plugins.
    #[arg(long, value_name = "DIR", default_value = crate::fleet::deviceplugin::devinfo::DEFAULT_DIR)]
    pub devinfo_dir: PathBuf,
}

pub fn device_plugin(a: DevicePluginArgs) -> anyhow::Result<()> {
    let worker = worker(&a.host)?;
    let opts = crate::fleet::deviceplugin::Options {
        kubelet_dir: a.kubelet_dir.clone(),
        resource_prefix: a.resource_prefix.clone(),
        mode: AllocMode::from(a.mode),
        rescan_interval: Duration::from_secs(a.rescan_interval.max(1)),
        metrics_listen: a.metrics_listen,
        devinfo_dir: Some(a.devinfo_dir.clone()),
    };
    let rt = runtime()?;
    rt.block_on(crate::fleet::deviceplugin::run(
        worker,
        opts,
        Arc::new(Metrics::new()),
        shutdown_signal(),
    ))
    .with_context(|| format!("device plugin in {}", a.kubelet_dir.display()))
}

#[derive(Debug, Subcommand)]
pub enum PlacementCommand {
    /// Report the pools as resource providers (idempotent); --watch follows host changes.
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Placement endpoint, e.g. http://127.0.0.1:8778 (plain HTTP; TLS via a local proxy).
    #[arg(long, value_name = "URL", env = "VIFMAN_PLACEMENT_URL")]
    pub url: String,
    /// X-Auth-Token (a keystone token; "admin" with noauth2).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "VIFMAN_PLACEMENT_TOKEN",
        default_value = "admin",
        hide_env_values = true
    )]
    pub token: String,
    /// Hypervisor name (nova's compute-node provider name); default: this host's name.
    #[arg(long, value_name = "NAME")]
    pub hypervisor: Option<String>,
    /// Parent of vifman's root provider: a UUID, "auto" (nova's compute node named
    /// --hypervisor, if any) or "none".
    #[arg(long, value_name = "UUID|auto|none", default_value = "auto")]
    pub parent: String,
    /// Keep running and re-sync on every host change.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: also re-sync this often (seconds), to heal edits made by others.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub interval: u64,
    #[arg(long)]
    pub json: bool,
}

fn hostname() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_string();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

fn sync_once(
    w: &EngineWorker,
    client: &Client,
    hv: &str,
    parent: Option<&str>,
    json: bool,
) -> anyhow::Result<bool> {
    let snap = w.call_blocking(snapshot::take)??;
    let desired = placement::desired(&snap, hv, parent);
    let report = placement::sync(client, &desired).context("placement sync")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.providers {
            let what = match (p.created, p.inventory_changed, p.traits_changed) {
                (true, _, _) => "created",
                (false, false, false) => "unchanged",
                _ => "updated",
            };
            println!(
                "{what:<9} {} {} (generation {})",
                p.uuid, p.name, p.generation
            );
        }
        for d in &report.deleted {
            println!("deleted   {d}");
        }
        for r in &report.refused {
            println!("REFUSED   {r}");
        }
        eprintln!("{} requests, {} writes", report.requests, report.writes);
    }
    Ok(report.refused.is_empty())
}

pub fn placement(cmd: PlacementCommand) -> anyhow::Result<()> {
    let PlacementCommand::Sync(a) = cmd;
    let client = Client::new(&a.url, &a.token)?;
    let hv = a.hypervisor.clone().unwrap_or_else(hostname);
    let parent = match a.parent.as_str() {
        "none" => None,
        "auto" => placement::sync::find_compute_node(&client, &hv)
            .context("looking up the compute node provider")?,
        u => match u.parse::<crate::types::Uuid>() {
            Ok(u) => Some(u.to_string()),
            Err(_) => return Err(anyhow!("--parent {u:?}: expected a UUID, auto or none")),
        },
    };
    let w = worker(&a.host)?;
    if !a.watch {
        return if sync_once(&w, &client, &hv, parent.as_deref(), a.json)? {
            Ok(())
        } else {
            Err(anyhow!("some changes were refused (see REFUSED above)"))
        };
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    let _watch = crate::fleet::watch::watch_host_blocking(&w, notify.clone())
        .context("watching the host")?;
    let rt = runtime()?;
    loop {
        if let Err(e) = sync_once(&w, &client, &hv, parent.as_deref(), a.json) {
            tracing::error!("{e:#}");
            eprintln!("vifman: {e:#}");
        }
        let stop = rt.block_on(async {
            tokio::select! {
                _ = notify.notified() => false,
                _ = tokio::time::sleep(Duration::from_secs(a.interval.max(1))) => false,
                _ = shutdown_signal() => true,
            }
        });
        if stop {
            return Ok(());
        }
    }
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub host: HostArgs,
}

pub fn metrics(a: MetricsArgs) -> anyhow::Result<()> {
    let w = worker(&a.host)?;
    let m = Arc::new(Metrics::new());
    let m2 = m.clone();
    w.call_blocking(move |e| m2.refresh(e))??;
    print!("{}", m.encode());
    Ok(())
}
