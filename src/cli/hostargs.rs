//! The host arguments, one group for every command that reads or changes the host: where
//! sysfs is (`--sysfs-root`), whether to act on the simulated kernel (`--simulate`), the
//! allocation store (`--state-dir`) and the pools (`--config`). Every such command flattens
//! [`HostArgs`], so they all accept the same set; the ones that need only sysfs (`vif
//! libvirt`) take [`RootArgs`].

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Args;

use crate::config::{Config, DEFAULT_PATH};
use crate::host::{Host, RealHost, SimHost};
use crate::sysfs::SysfsRoot;

/// Where to read sysfs from; shared by every command that scans hardware.
#[derive(Debug, Clone, Args)]
pub struct RootArgs {
    /// Directory that plays the role of `/` (it must contain `sys/`); a fixture tree in tests.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "VIFMAN_SYSFS_ROOT"
    )]
    pub sysfs_root: PathBuf,
}

impl RootArgs {
    pub fn open(&self) -> anyhow::Result<SysfsRoot> {
        let root = SysfsRoot::new(&self.sysfs_root)
            .with_context(|| format!("--sysfs-root {}", self.sysfs_root.display()))?;
        // A root without sys/ is a typo or the wrong directory, not a host without devices.
        if !root
            .confined()
            .is_ok_and(|c| c.kind_of(std::path::Path::new("sys")) == Some("directory"))
        {
            anyhow::bail!(
                "--sysfs-root {}: no sys/ directory under it; not a sysfs tree",
                self.sysfs_root.display()
            );
        }
        Ok(root)
    }

    /// The root as the user typed it, so output does not embed the checkout location.
    pub fn label(&self) -> String {
        self.sysfs_root.display().to_string()
    }

    pub fn sys_label(&self) -> String {
        let l = self.label();
        if l == "/" {
            "/sys".into()
        } else {
            format!("{}/sys", l.trim_end_matches('/'))
        }
    }
}

/// Where the host, the config and the state are; shared by every command that changes things.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Act on a simulated kernel over the --sysfs-root fixture (kept in the state dir), not
    /// on hardware.
    #[arg(long)]
    pub simulate: bool,
    /// Allocation store directory.
    #[arg(long, value_name = "DIR", default_value = crate::store::DEFAULT_STATE_DIR, env = "VIFMAN_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Pools and exclusions (TOML, see docs/assignment.md).
    #[arg(long, value_name = "FILE", env = "VIFMAN_CONFIG")]
    pub config: Option<PathBuf>,
}

impl HostArgs {
    /// The sysfs tree to read: the simulated kernel's copy in the state dir after
    /// `--simulate` commands, else `--sysfs-root` (read-only commands create nothing).
    pub fn read_root(&self) -> RootArgs {
        if self.simulate {
            if let Some(sim) = crate::host::SimHost::existing_tree(&self.state_dir) {
                return RootArgs { sysfs_root: sim };
            }
        }
        self.root.clone()
    }

    /// The config only if there is one (`--config`, or the default file exists): for
    /// read-only views that show pools when pools are defined.
    pub fn config_if_any(&self) -> anyhow::Result<Option<Config>> {
        match &self.config {
            Some(p) => Ok(Some(Config::load(p)?)),
            None if std::path::Path::new(DEFAULT_PATH).exists() => {
                Ok(Some(Config::load(std::path::Path::new(DEFAULT_PATH))?))
            }
            None => Ok(None),
        }
    }

    pub fn host(&self) -> anyhow::Result<Box<dyn Host>> {
        if self.simulate {
            if self.root.sysfs_root == std::path::Path::new("/") {
                return Err(anyhow!("--simulate needs --sysfs-root pointing at a fixture tree (e.g. fixtures/sysfs/nfv-host)"));
            }
            // The simulated kernel keeps its copy in the state dir: create that 0700 first.
            crate::store::create_state_dir(&self.state_dir)?;
            Ok(Box::new(
                SimHost::open(&self.root.sysfs_root, &self.state_dir)
                    .map_err(|e| anyhow!("{e}"))?,
            ))
        } else {
            Ok(Box::new(RealHost::new(self.root.open()?)))
        }
    }

    /// The host, for a command that changes it: a fixture tree changes only through the
    /// simulated kernel, never by recording allocations against files nobody acts on.
    pub fn host_to_change(&self, changes: bool) -> anyhow::Result<Box<dyn Host>> {
        if changes && !self.simulate && self.root.sysfs_root != std::path::Path::new("/") {
            return Err(anyhow!(
                "--sysfs-root {} is a fixture tree, not the live system; add --simulate to act on it through the simulated kernel",
                self.root.sysfs_root.display()
            ));
        }
        if changes && !self.simulate {
            // sysfs writes need CAP_SYS_ADMIN, RTM_SETLINK needs CAP_NET_ADMIN.
            super::privilege::require(
                "changing SR-IOV state",
                &[
                    super::privilege::CAP_NET_ADMIN,
                    super::privilege::CAP_SYS_ADMIN,
                ],
            )?;
        }
        self.host()
    }

    /// The host for a read-only view: the simulated kernel when `--simulate` has one in the
    /// state dir, else the `--sysfs-root` tree. Creates nothing.
    pub fn read_host(&self) -> anyhow::Result<Box<dyn Host>> {
        if self.simulate && crate::host::SimHost::existing_tree(&self.state_dir).is_some() {
            return self.host();
        }
        Ok(Box::new(RealHost::new(self.read_root().open()?)))
    }

    pub fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(p) => Ok(Config::load(p)?),
            None => {
                let p = std::path::Path::new(DEFAULT_PATH);
                if p.exists() {
                    Ok(Config::load(p)?)
                } else {
                    Ok(Config::none())
                }
            }
        }
    }
}
