//! `vifman generate systemd|udev [--output DIR]`: the boot integration files.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::assign::HostArgs;
use crate::config::policy::Policy;
use crate::engine::apply::integration::{self, UnitPaths};
use crate::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// vifman-apply.service: `vifman apply --boot` after udev, before the network and the
    /// hypervisor/kubelet.
    Systemd(SystemdArgs),
    /// 70-vifman.rules: NetworkManager/networkd off the policy's VFs (manage_nm), and
    /// driver_override=vfio-pci at add for VFs the policy binds to vfio-pci.
    Udev(UdevArgs),
}

#[derive(Debug, Args)]
pub struct SystemdArgs {
    /// Write the file into DIR (e.g. /etc/systemd/system) instead of printing it.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// The vifman the unit runs (default: this executable).
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    #[arg(long, value_name = "FILE", env = "VIFMAN_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "FILE", env = "VIFMAN_POLICY")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_name = "DIR", default_value = crate::store::DEFAULT_STATE_DIR, env = "VIFMAN_STATE_DIR")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct UdevArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The policy's `[[pf]]` tables in their own file (default: those in --config).
    #[arg(long, value_name = "FILE", env = "VIFMAN_POLICY")]
    pub policy: Option<PathBuf>,
    /// Write the file into DIR (e.g. /etc/udev/rules.d) instead of printing it.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

fn emit(output: Option<&PathBuf>, name: &str, text: &str) -> anyhow::Result<()> {
    match output {
        None => print!("{text}"),
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

pub fn run(cmd: GenerateCommand) -> anyhow::Result<()> {
    match cmd {
        GenerateCommand::Systemd(a) => {
            let exe = match &a.exec {
                Some(p) => p.clone(),
                None => std::env::current_exe().context("locating this executable")?,
            };
            let text = integration::systemd_unit(&UnitPaths {
                exe: &exe,
                config: a.config.as_deref(),
                policy: a.policy.as_deref(),
                state_dir: &a.state_dir,
            });
            emit(a.output.as_ref(), integration::UNIT_NAME, &text)
        }
        GenerateCommand::Udev(a) => {
            let config = a.host.config()?;
            let policy = match &a.policy {
                Some(p) => Policy::load(p)?,
                None => config.policy.clone(),
            };
            let host = a.host.host()?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let text = integration::udev_rules(&engine, &policy).context("generate udev")?;
            emit(a.output.as_ref(), integration::RULES_NAME, &text)
        }
    }
}
