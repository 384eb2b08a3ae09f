//! `vifman health`: the health model ([`crate::inventory::health`]) for people and scripts.
//! Exit status like `apply --check`: 0 all healthy, 1 something is unhealthy (listed), 2 the
//! check itself failed. One-shot runs debounce through a small state file in the state dir
//! (`health.json`), so a cron job or a monitoring probe sees the same debounced answer the
//! device plugin gives; `--instant` judges this sample alone.
//!
//! Non-PCI SR-IOV PFs (netdevsim's `netdevsim/netdevsimN`) are devices of the model like PCI
//! PFs (kind `pf`, named by `BUS/NAME`), debounced the same way and counted in the exit
//! status. `--devlink DEV` shows the health reporters of one devlink instance instead, live:
//! every reporter of it with its counters, whether or not a device of the model owns it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::hostargs::HostArgs;
use crate::inventory::health::{self, DeviceHealth, HealthReport, Kind, Tracker};
use crate::view::HostView;

/// Debounce state of one-shot `vifman health` runs, in the state dir (vifman's own file).
pub const STATE_FILE: &str = "health.json";

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// List every PF (non-PCI ones too) and VF, healthy ones too (by default only unhealthy
    /// or pending ones).
    #[arg(long)]
    pub all: bool,
    /// Judge this sample alone: no debounce, the state file is neither read nor written.
    #[arg(long)]
    pub instant: bool,
    /// The sample's time in seconds since the epoch (default: now); lets tests drive the
    /// debounce without waiting.
    #[arg(long, value_name = "SECS", hide = true)]
    pub now: Option<u64>,
    /// Show the devlink health reporters of one devlink instance (a handle BUS/DEV, a PCI
    /// address, or a PF netdev name, as `vifman eswitch` takes it) instead of the model's
    /// devices: every reporter with its state and counters; unhealthy when one is in error.
    /// Read live, not debounced.
    #[arg(long, value_name = "DEV", conflicts_with_all = ["instant", "now"])]
    pub devlink: Option<String>,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    healthy: bool,
    /// False with --instant.
    debounced: bool,
    devices: Vec<&'a DeviceHealth>,
    warnings: &'a [String],
}

pub fn run(a: HealthArgs) -> anyhow::Result<()> {
    match check(&a) {
        Ok(true) => Ok(()),
        Ok(false) => {
            let _ = std::io::stdout().flush();
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("{}", super::error_line(&e));
            std::process::exit(2)
        }
    }
}

/// How a verdict uses the debounce history in the state dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum History {
    /// Judge the sample alone (`--instant`).
    None,
    /// Read the history and keep the new one (`vifman health`: each run is a sample).
    Keep,
    /// Read it only: looking (`vifman inventory`) does not move the debounce.
    Look,
}

/// The debounced verdict at `now` for every PF and VF of `view`, and the sampling warnings.
pub(super) fn judge(
    host: &dyn crate::host::Host,
    view: &HostView,
    st: &crate::store::StoreState,
    policy: &health::HealthPolicy,
    state_dir: &Path,
    now: u64,
    history: History,
) -> (HealthReport, Vec<String>) {
    let (inputs, warnings) = health::samples(host, view, st);
    let state: PathBuf = state_dir.join(STATE_FILE);
    let mut tracker = match history {
        History::None => Tracker::default(),
        History::Keep | History::Look => load_tracker(&state),
    };
    let report = tracker.observe(policy, now, &inputs);
    if history == History::Keep {
        if let Err(e) = save_tracker(&state, &tracker) {
            eprintln!(
                "warning: {}: cannot keep the health state ({e}); the next run starts afresh",
                state.display()
            );
        }
    }
    (report, warnings)
}

fn load_tracker(path: &Path) -> Tracker {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: unreadable health state ({e}); starting afresh",
                path.display()
            );
            Tracker::default()
        }),
        Err(_) => Tracker::default(),
    }
}

fn save_tracker(path: &Path, t: &Tracker) -> std::io::Result<()> {
    // The first `vifman health` on a host may come before anything else made the state dir:
    // make it as the store does (0700), or the debounce would never see a second sample.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(t)?)?;
    std::fs::rename(&tmp, path)
}

/// True when everything is healthy.
fn check(a: &HealthArgs) -> anyhow::Result<bool> {
    if let Some(dev) = &a.devlink {
        return check_devlink(a, dev);
    }
    let config = a.host.config()?;
    let host = a.host.host()?;
    let st = crate::store::read_state(&a.host.state_dir).context("reading the store")?;
    let view = HostView::load(host.as_ref()).context("reading the host")?;
    let history = if a.instant {
        History::None
    } else {
        History::Keep
    };
    let now = a.now.unwrap_or_else(now_secs);
    let (report, warnings) = judge(
        host.as_ref(),
        &view,
        &st,
        &config.health,
        &a.host.state_dir,
        now,
        history,
    );
    print(a, &report, &warnings)?;
    let healthy = report.unhealthy().next().is_none();
    Ok(healthy)
}

#[derive(serde::Serialize)]
struct DevlinkOutput {
    devlink: String,
    healthy: bool,
    reasons: Vec<String>,
    reporters: Vec<crate::devlink::HealthReporter>,
}

/// `--devlink DEV`: the reporters of one instance, live. True when none is in error.
fn check_devlink(a: &HealthArgs, dev: &str) -> anyhow::Result<bool> {
    anyhow::ensure!(
        !a.host.simulate,
        "--devlink reads the live kernel's devlink; the simulated host has none"
    );
    let mut dl = crate::devlink::Devlink::open().context("devlink")?;
    let handle = crate::devlink::pf::resolve(&mut dl, dev)?;
    let reporters = dl
        .health_reporters_of(&handle)
        .context(format!("devlink health of {handle}"))?;
    let reasons: Vec<String> = reporters
        .iter()
        .map(health::DevlinkReporter::from_devlink)
        .filter(|r| !r.healthy)
        .map(|r| r.reason())
        .collect();
    let out = DevlinkOutput {
        devlink: handle.to_string(),
        healthy: reasons.is_empty(),
        reasons,
        reporters,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(out.healthy);
    }
    let state = if out.healthy { "healthy" } else { "unhealthy" };
    println!("{}: {state}", out.devlink);
    for r in &out.reasons {
        println!("  {r}");
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["REPORTER", "PORT", "STATE", "ERRORS", "RECOVERS"]);
    for r in &out.reporters {
        t.add_row([
            r.name.clone(),
            r.port.map_or_else(|| "-".into(), |p| p.to_string()),
            r.state.to_string(),
            r.error_count.to_string(),
            r.recover_count.to_string(),
        ]);
    }
    println!("{t}");
    Ok(out.healthy)
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn print(a: &HealthArgs, r: &HealthReport, warnings: &[String]) -> anyhow::Result<()> {
    let shown: Vec<&DeviceHealth> = r
        .devices
        .iter()
        .filter(|d| a.all || !d.healthy || !d.pending.is_empty())
        .collect();
    if a.json {
        let out = Output {
            healthy: r.unhealthy().next().is_none(),
            debounced: !a.instant,
            devices: shown,
            warnings,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if shown.is_empty() {
        println!("all {} devices healthy", r.devices.len());
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["KIND", "DEVICE", "NETDEV", "STATE", "REASONS"]);
    for d in shown {
        let state = match (d.healthy, d.pending.is_empty()) {
            (false, _) => "unhealthy",
            (true, true) => "healthy",
            (true, false) => "healthy (pending)",
        };
        let why = if d.healthy {
            d.pending.join("; ")
        } else {
            d.reasons.join("; ")
        };
        t.add_row([
            match d.kind {
                Kind::Pf => "pf",
                Kind::Vf => "vf",
            }
            .to_string(),
            d.device.to_string(),
            d.netdev.clone().unwrap_or_else(|| "-".into()),
            state.to_string(),
            why,
        ]);
    }
    println!("{t}");
    Ok(())
}
