//! `vifman pci`: every PCI function with its VFIO passthrough readiness.

use anyhow::Context;
use clap::Args;

use super::hostargs::HostArgs;
use crate::inventory::passthrough;
use crate::view::HostView;

#[derive(Debug, Args)]
pub struct PciArgs {
    /// The same host arguments as every command: `--sysfs-root`/`--simulate` pick the tree;
    /// with `--config` each device's pools are shown (a POOL column, `pools` in JSON), whole
    /// devices held by an allocation in `--state-dir` in the pool they were taken from.
    #[command(flatten)]
    pub host: HostArgs,
    /// Print JSON (schema: docs/inventory.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PciArgs) -> anyhow::Result<()> {
    let config = args.host.config_if_any()?;
    let root_args = args.host.read_root();
    // One read of the host: the report and the pools are both projections of it.
    let host = args.host.read_host()?;
    let mut view = HostView::load_display(host.as_ref());
    // The pools include VFs: a remote_managed spec takes only VFs with a card serial, read
    // (as by `inventory` and `pools`) only when the config has such a spec.
    if let Some(c) = &config {
        view.read_card_serials(host.as_ref(), c);
    }
    let mut report = passthrough::build(&view.scan, &root_args.label(), view.noiommu);
    if let Some(config) = config {
        let state_dir = &args.host.state_dir;
        let st = crate::store::read_state(state_dir)
            .with_context(|| format!("reading allocations from {}", state_dir.display()))?;
        let pools = crate::engine::device_pools(&view, &config, &st);
        passthrough::apply_pools(&mut report, &pools);
    }
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
