//! `vifman inventory`: SR-IOV PFs and their VFs, as a table or JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::inventory::{self, Filter, PfSelector};
use crate::sysfs::{self, SysfsRoot};

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

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Print JSON (schema: docs/inventory.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this PF, by PCI address or netdev name.
    #[arg(long, value_name = "ADDR|IFNAME")]
    pub pf: Option<PfSelector>,
    /// Only PFs from this PCI vendor, e.g. 8086 (Intel) or 15b3 (Mellanox).
    #[arg(long, value_name = "VENDOR", value_parser = inventory::parse_vendor)]
    pub vendor: Option<u16>,
    /// Only VFs that are not bound to vfio-pci, have no administrative MAC and hold no
    /// vifman allocation.
    #[arg(long)]
    pub free: bool,
    /// Allocation store to show allocations from (nothing is created if it is missing).
    #[arg(long, value_name = "DIR", default_value = crate::store::DEFAULT_STATE_DIR, env = "VIFMAN_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Inventory the simulated host kept in the state dir (after `--simulate` commands)
    /// instead of --sysfs-root itself.
    #[arg(long)]
    pub simulate: bool,
}

pub(crate) fn scan(root: &SysfsRoot) -> sysfs::ScanReport {
    sysfs::scan(root)
}

pub fn run(mut args: InventoryArgs) -> anyhow::Result<()> {
    if args.simulate {
        let sim = args.state_dir.join("sim-root");
        if sim.is_dir() {
            args.root.sysfs_root = sim;
        }
    }
    let root = args.root.open()?;
    let mut inv = inventory::collect(&root, &args.root.label());
    let st = crate::store::read_state(&args.state_dir)
        .with_context(|| format!("reading allocations from {}", args.state_dir.display()))?;
    inventory::apply_store(&mut inv, &st);
    let filter = Filter {
        pf: args.pf.clone(),
        vendor: args.vendor,
        free_only: args.free,
    };
    filter.apply(&mut inv)?;
    if args.json {
        let mut s = serde_json::to_string_pretty(&inv).context("serializing inventory")?;
        s.push('\n');
        print!("{s}");
        return Ok(());
    }
    if inv.physical_functions.is_empty() {
        match args.vendor {
            Some(v) => println!(
                "no SR-IOV physical function with vendor {v:04x} under {}",
                args.root.sys_label()
            ),
            None => println!(
                "no SR-IOV physical function found under {}; try --sysfs-root fixtures/sysfs/nfv-host",
                args.root.sys_label()
            ),
        }
        for w in &inv.warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    print!("{}", inventory::render_table(&inv));
    Ok(())
}
