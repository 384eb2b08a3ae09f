//! `vifman apply`: the host's SR-IOV state from the policy (`[[pf]]` tables), and with
//! `--boot` every allocation restored after a reboot. Exit codes: 0 applied or in sync,
//! 1 failed (or, with --check, drift), 2 with --check when the check itself failed.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Args;

use super::assign::HostArgs;
use crate::config::policy::Policy;
use crate::engine::apply::{ApplyOptions, ApplyReport, Outcome, StepStatus};
use crate::engine::Engine;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The policy's `[[pf]]` tables in their own file (default: those in --config).
    #[arg(long, value_name = "FILE", env = "VIFMAN_POLICY")]
    pub policy: Option<PathBuf>,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Change nothing; exit 0 when the host matches the policy, 1 on drift (listed), 2 on error.
    #[arg(long, conflicts_with_all = ["dry_run", "boot", "force"])]
    pub check: bool,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Go ahead even when the plan removes or reconfigures allocated VFs (their records are
    /// marked lost, never dropped).
    #[arg(long)]
    pub force: bool,
    /// A [[pf]] selector that matches no PF is an error, not a warning.
    #[arg(long)]
    pub strict: bool,
    /// The host just booted: apply, then restore every active allocation onto the fresh VFs.
    #[arg(long)]
    pub boot: bool,
}

pub fn run(a: ApplyArgs) -> anyhow::Result<()> {
    if a.check {
        match check(&a) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(1),
            Err(e) => {
                eprintln!("{}", super::error_line(&e));
                std::process::exit(2)
            }
        }
    } else {
        apply(&a)
    }
}

fn policy(a: &HostArgs, file: Option<&PathBuf>) -> anyhow::Result<(Policy, crate::config::Config)> {
    let config = a.config()?;
    let policy = match file {
        Some(p) => Policy::load(p)?,
        None => config.policy.clone(),
    };
    if policy.pfs.is_empty() {
        return Err(anyhow!(
            "no [[pf]] tables in {}; nothing to apply (see docs/host-state.md)",
            file.cloned()
                .or_else(|| config.path.clone())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the config (none found)".into())
        ));
    }
    Ok((policy, config))
}

fn check(a: &ApplyArgs) -> anyhow::Result<bool> {
    let (policy, config) = policy(&a.host, a.policy.as_ref())?;
    let host = a.host.host()?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let opts = ApplyOptions {
        check: true,
        strict: a.strict,
        ..Default::default()
    };
    let report = engine.apply(&policy, opts).context("apply --check")?;
    print(&report, a.json, "drift")?;
    Ok(report.in_sync())
}

fn apply(a: &ApplyArgs) -> anyhow::Result<()> {
    let (policy, config) = policy(&a.host, a.policy.as_ref())?;
    let host = a.host.host_to_change(!a.dry_run)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let opts = ApplyOptions {
        dry_run: a.dry_run,
        force: a.force,
        strict: a.strict,
        boot: a.boot,
        check: false,
    };
    let report = engine.apply(&policy, opts).context("apply")?;
    print(&report, a.json, "plan")?;
    let lost = report.boot.as_ref().map_or(0, |b| b.lost.len());
    if report.outcome == Outcome::Failed {
        return Err(anyhow!(
            "apply failed: {} step(s) done, {} undone, {} undo failed, {} not attempted",
            report.count(StepStatus::Done) + report.count(StepStatus::AlreadyDone),
            report.count(StepStatus::Undone),
            report.count(StepStatus::UndoFailed),
            report.count(StepStatus::NotAttempted)
        ));
    }
    if lost > 0 {
        return Err(anyhow!(
            "{lost} allocation(s) could not be restored and are marked lost (see above; `vifman release` frees them)"
        ));
    }
    Ok(())
}

fn print(r: &ApplyReport, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(r)?;
        v["in_sync"] = serde_json::Value::Bool(r.in_sync());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    let sim = if r.simulated { " [simulated]" } else { "" };
    for p in &r.pfs {
        println!(
            "{} selects {}{}",
            p.entry,
            p.pf,
            p.netdev
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
    if r.in_sync() {
        println!("in sync: the host matches the policy{sim}");
    } else {
        println!("{what}: {} step(s){sim}", r.steps.len());
        for (i, s) in r.steps.iter().enumerate() {
            let status = serde_json::to_value(&s.status)?;
            println!(
                "{:>4}. {:<14} {}: {} -> {}{}{}",
                i + 1,
                status.as_str().unwrap_or("?"),
                s.object,
                s.old,
                s.new,
                s.rule
                    .as_ref()
                    .map(|r| format!("  [{r}]"))
                    .unwrap_or_default(),
                s.error
                    .as_ref()
                    .map(|e| format!("  ERROR: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    for d in &r.deferred {
        println!("left to its allocation: {d}");
    }
    for f in &r.forced {
        println!("forced over an allocation: {f}");
    }
    if let Some(b) = &r.boot {
        for (what, list) in [
            ("restored", &b.restored),
            ("LOST", &b.lost),
            ("skipped", &b.skipped),
        ] {
            for x in list {
                let next = x
                    .next
                    .map(|n| format!(" ({})", crate::cli::hint::recovery(n, Some(&x.vif_id))))
                    .unwrap_or_default();
                println!("{what} {} (vif {}): {}{next}", x.vf, x.vif_id, x.detail);
                for w in &x.warnings {
                    println!("  warning: {w}");
                }
            }
        }
    }
    match r.outcome {
        Outcome::Applied => println!("applied{sim}"),
        Outcome::Failed => println!("FAILED: see the step statuses above{sim}"),
        _ => {}
    }
    Ok(())
}
