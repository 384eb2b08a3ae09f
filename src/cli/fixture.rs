//! `vifman fixture`: write preset or synthetic sysfs trees and capture real hosts into new ones.

use anyhow::{anyhow, Context};
use clap::Subcommand;
use std::path::PathBuf;

use crate::fixture::{capture, preset, synth, write_host};

#[derive(Debug, Subcommand)]
pub enum FixtureCommand {
    /// Synthetic host: N PFs of one hwdb model with M VFs each, every VF with a netdev.
    Generate {
        /// Number of PFs (spread over two NUMA nodes).
        #[arg(long, default_value_t = 2)]
        pfs: u16,
        /// VFs per PF.
        #[arg(long, default_value_t = 8)]
        vfs: u16,
        /// hwdb model key (see hwdb/sriov-nics.toml).
        #[arg(long, default_value = "intel-e810-xxv-sfp")]
        model: String,
        /// Output directory (missing or empty).
        out: PathBuf,
    },
    /// A named host: nfv-host, broken-missing, broken-garbage, broken-links, broken-unreadable,
    /// broken-virtfn-mismatch.
    Preset {
        name: String,
        /// Output directory (missing or empty).
        out: PathBuf,
    },
    /// Snapshot the PCI/SR-IOV/net sysfs subset, proc/net/route and VF state of a host.
    Capture {
        /// Root to capture from: / for this host, or another fixture tree.
        #[arg(long, default_value = "/")]
        sysfs_root: PathBuf,
        /// Output directory (missing or empty).
        out: PathBuf,
    },
    /// Serve a fixture as a live sysfs over FUSE: reads as the kernel shows them, writes
    /// (sriov_numvfs, driver_override, bind/unbind, drivers_probe, ...) applied by the simulated
    /// kernel, faults armed through MOUNTPOINT/.vifman/faults. See docs/fixtures.md.
    #[cfg(feature = "mount")]
    Mount {
        /// Fixture tree to simulate (copied into the state dir on first use).
        fixture: PathBuf,
        /// Empty directory to mount on.
        mountpoint: PathBuf,
        /// The simulation's state dir (as for --simulate --state-dir); default: a temporary
        /// one, removed when the mount ends.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Serve in this process until unmounted or signalled, instead of returning once the
        /// mount is up.
        #[arg(long)]
        foreground: bool,
    },
}

pub fn run(cmd: FixtureCommand) -> anyhow::Result<()> {
    match cmd {
        FixtureCommand::Generate {
            pfs,
            vfs,
            model,
            out,
        } => {
            let model = crate::hwdb::by_key(&model)
                .ok_or_else(|| anyhow!("unknown hwdb model {model:?}"))?;
            let spec = synth::build(&synth::SynthSpec { pfs, vfs, model })?;
            write_host(&out, &spec)
                .with_context(|| format!("writing fixture to {}", out.display()))?;
            eprintln!(
                "wrote {} PFs x {} VFs ({}) to {}",
                pfs,
                vfs,
                model.key,
                out.display()
            );
        }
        FixtureCommand::Preset { name, out } => {
            preset::write(&name, &out)
                .with_context(|| format!("writing preset {name} to {}", out.display()))?;
        }
        FixtureCommand::Capture { sysfs_root, out } => {
            let r = capture::capture(&sysfs_root, &out).with_context(|| {
                format!("capturing {} into {}", sysfs_root.display(), out.display())
            })?;
            eprintln!(
                "captured {} PCI devices, {} netdevs; {} entries skipped; vf-state: {}; devlink: {}",
                r.devices,
                r.netdevs,
                r.skipped.len(),
                r.vf_state
                    .as_deref()
                    .unwrap_or("none (no netlink reader yet)"),
                r.devlink.as_deref().unwrap_or("none")
            );
        }
        #[cfg(feature = "mount")]
        FixtureCommand::Mount {
            fixture,
            mountpoint,
            state,
            foreground,
        } => {
            crate::mount::run(&crate::mount::MountOptions {
                fixture,
                mountpoint,
                state,
                foreground,
            })?;
        }
    }
    Ok(())
}
