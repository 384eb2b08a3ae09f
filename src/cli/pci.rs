//! `vifman pci`: every PCI function with its VFIO passthrough readiness.

use anyhow::Context;
use clap::Args;

use super::inventory::RootArgs;
use crate::inventory::passthrough;

#[derive(Debug, Args)]
pub struct PciArgs {
    #[command(flatten)]
    pub root: RootArgs,
    /// Print JSON (schema: docs/inventory.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PciArgs) -> anyhow::Result<()> {
    let root = args.root.open()?;
    let scan = super::inventory::scan(&root);
    let report = passthrough::build(&scan, &args.root.label(), root.noiommu());
    if args.json {
        let mut s = serde_json::to_string_pretty(&report).context("serializing PCI report")?;
        s.push('\n');
        print!("{s}");
        return Ok(());
    }
    if report.devices.is_empty() {
        println!("no PCI devices found under {}", args.root.sys_label());
        for w in &report.warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    print!("{}", passthrough::render_table(&report));
    Ok(())
}
