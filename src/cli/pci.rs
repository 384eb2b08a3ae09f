//! `vifman pci`: every PCI function with its VFIO passthrough readiness.

use anyhow::Context;
use clap::Args;

use super::hostargs::HostArgs;
use crate::inventory::passthrough;

#[derive(Debug, Args)]
pub struct PciArgs {
    /// The same host arguments as every command; `pci` reads only sysfs (the simulated
    /// host's with `--simulate`), so `--config` is accepted and checked but changes nothing.
    #[command(flatten)]
    pub host: HostArgs,
    /// Print JSON (schema: docs/inventory.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PciArgs) -> anyhow::Result<()> {
    args.host.config_if_any()?;
    let root_args = args.host.read_root();
    let root = root_args.open()?;
    let scan = super::inventory::scan(&root);
    let report = passthrough::build(&scan, &root_args.label(), root.noiommu());
    if args.json {
        let mut s = serde_json::to_string_pretty(&report).context("serializing PCI report")?;
        s.push('\n');
        print!("{s}");
        return Ok(());
    }
    if report.devices.is_empty() {
        println!("no PCI devices found under {}", root_args.sys_label());
        for w in &report.warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    print!("{}", passthrough::render_table(&report));
    Ok(())
}
