//! `vifman inventory`: SR-IOV PFs and their VFs, as a table or JSON.

use anyhow::Context;
use clap::Args;

use super::hostargs::HostArgs;
use crate::inventory::{self, Filter, PfSelector};
use crate::view::HostView;

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// `--sysfs-root`, `--simulate` (inventory the simulated host kept in the state dir),
    /// `--state-dir` (allocations are shown from it; nothing is created if it is missing),
    /// `--config` (each VF's pool is shown when there is a config).
    #[command(flatten)]
    pub host: HostArgs,
    /// Print JSON (schema: docs/inventory.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this PF, by PCI address or netdev name (a non-PCI PF also by its BUS/DEVICE,
    /// e.g. netdevsim/netdevsim10).
    #[arg(long, value_name = "ADDR|IFNAME|BUS/DEV")]
    pub pf: Option<PfSelector>,
    /// Only PFs from this PCI vendor, e.g. 8086 (Intel) or 15b3 (Mellanox).
    #[arg(long, value_name = "VENDOR", value_parser = inventory::parse_vendor)]
    pub vendor: Option<u16>,
    /// Only VFs vifman would hand out (`status` free: no allocation, no exclusion, no sign
    /// of use outside vifman; the same verdict as `pools` and `allocate`).
    #[arg(long)]
    pub free: bool,
    /// Add each VF's traffic counters (rx/tx bytes and packets, broadcast, multicast,
    /// dropped) from the PF's IFLA_VF_STATS, one netlink request per PF.
    #[arg(long)]
    pub stats: bool,
    /// The health sample's time in seconds since the epoch (default: now), as for `health`.
    #[arg(long, value_name = "SECS", hide = true)]
    pub now: Option<u64>,
}

impl InventoryArgs {
    fn host_now(&self) -> u64 {
        self.now.unwrap_or_else(super::health::now_secs)
    }
}

pub fn run(args: InventoryArgs) -> anyhow::Result<()> {
    let root_args = args.host.read_root();
    let config = args.host.config_if_any()?;
    let state_dir = &args.host.state_dir;
    let st = crate::store::read_state(state_dir)
        .with_context(|| format!("reading allocations from {}", state_dir.display()))?;
    // One read of the host; the inventory is a projection of it (the same availability
    // verdict as `pools` and `allocate`).
    let host = args.host.read_host()?;
    let mut view = HostView::load_display(host.as_ref());
    if let Some(c) = &config {
        view.read_card_serials(host.as_ref(), c);
    }
    let live = root_args.sysfs_root == std::path::Path::new("/");
    let mut inv = inventory::project(&view, &root_args.label(), config.as_ref(), &st, live);
    inventory::add_bus_functions(&mut inv, host.as_ref(), &view);
    let filter = Filter {
        pf: args.pf.clone(),
        vendor: args.vendor,
        free_only: args.free,
    };
    filter.apply(&mut inv)?;
    // The eswitch mode (devlink) and the debounced health, for the PFs and VFs shown.
    inventory::apply_host_eswitch(&mut inv, host.as_ref());
    inventory::apply_bus_eswitch(&mut inv, host.as_ref());
    let policy = config
        .as_ref()
        .map(|c| c.health.clone())
        .unwrap_or_default();
    let (report, health_warnings) = super::health::judge(
        host.as_ref(),
        &view,
        &st,
        &policy,
        state_dir,
        args.host_now(),
        super::health::History::Look,
    );
    inventory::apply_health(&mut inv, &report);
    inv.warnings.extend(
        health_warnings
            .into_iter()
            .map(|w| crate::sysfs::Warning::new("health", w)),
    );
    if args.stats {
        // The simulated kernel for --simulate, the kernel for the live root; a plain fixture
        // tree has no counters (every VF's stats are null).
        inventory::apply_stats(&mut inv, |pf| {
            host.vf_counters(pf).map_err(|e| e.to_string())
        });
    }
    if args.json {
        let mut s = serde_json::to_string_pretty(&inv).context("serializing inventory")?;
        s.push('\n');
        print!("{s}");
        return Ok(());
    }
    if inv.physical_functions.is_empty() && inv.bus_functions.is_empty() {
        match args.vendor {
            Some(v) => println!(
                "no SR-IOV physical function with vendor {v:04x} under {}",
                root_args.sys_label()
            ),
            None => println!(
                "no SR-IOV physical function found under {}; try --sysfs-root fixtures/sysfs/nfv-host",
                root_args.sys_label()
            ),
        }
        for w in &inv.warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    print!("{}", inventory::render_table(&inv));
    if args.stats {
        print!("\n{}", inventory::render_stats(&inv));
    }
    Ok(())
}
