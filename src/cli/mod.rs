//! Command-line front end. Library errors are typed; here they get context and exit codes:
//! 0 success, 1 operation failed, 2 usage error (clap's own).

pub mod apply;
pub mod assign;
pub mod cni;
pub mod configcmd;
pub mod eswitch;
pub mod fixture;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod generate;
pub mod health;
pub mod hint;
pub mod hostargs;
pub mod inventory;
pub mod libvirt;
pub mod onetime;
pub mod pci;
pub mod plug;
pub mod privilege;
pub mod rate;
mod values;
pub mod vf;
pub mod vif;
mod whole;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vifman",
    version,
    about = "SR-IOV and PCI passthrough manager speaking os-vif"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, check and convert os-vif VIF objects (oslo.versionedobjects primitives).
    #[command(subcommand)]
    Vif(vif::VifCommand),
    /// Write kernel-like sysfs fixture trees (presets, synthetic hosts) or capture a real host.
    #[command(subcommand)]
    Fixture(fixture::FixtureCommand),
    /// List SR-IOV physical functions and their VFs (sysfs + netlink VF state).
    Inventory(inventory::InventoryArgs),
    /// List PCI devices with their VFIO passthrough readiness (IOMMU group viability).
    Pci(pci::PciArgs),
    /// Plug a VIF (os-vif primitive) with the matching software backend: Linux bridge, TAP,
    /// Open vSwitch or vhost-user.
    Plug(plug::PlugArgs),
    /// Unplug a VIF; unplugging something already absent succeeds.
    Unplug(plug::PlugArgs),
    /// Print the os-vif HostInfo primitive describing all software backends.
    HostInfo(plug::HostInfoArgs),
    /// Pick a free VF from a pool, configure it, record it, print the os-vif VIF.
    Allocate(Box<assign::AllocateArgs>),
    /// Hand a VF back clean (reset, restore, read back) and free it; a VF that cannot be
    /// proven clean is quarantined (see docs/handoff.md).
    Release(assign::ReleaseArgs),
    /// Operator actions on one VF (`vf reset PF N`).
    #[command(subcommand)]
    Vf(vf::VfCommand),
    /// Show a PF's eswitch mode and representors (from the devlink port map), or set the
    /// mode: `vifman eswitch PF [legacy|switchdev]`.
    Eswitch(eswitch::EswitchArgs),
    /// Devlink rate nodes of a PF (switchdev): `vifman rate-node list|add|set|del PF ...`;
    /// VF leaves are parented to them with `vifman vf rate PF N --parent NODE`.
    #[command(subcommand)]
    RateNode(rate::RateNodeCommand),
    /// List allocations.
    Allocations(assign::ListArgs),
    /// Compare allocation records with the hardware; --repair fixes what it can.
    Reconcile(assign::ReconcileArgs),
    /// Set a PF's VF count (0 first when changing a non-zero count) and wait for the VFs.
    Numvfs(assign::NumvfsArgs),
    /// Show pools (physnets) and, with --explain, why each VF is in or out.
    Pools(assign::PoolsArgs),
    /// Make the host match the policy's [[pf]] tables; --boot also restores allocations.
    Apply(Box<apply::ApplyArgs>),
    /// Whole devices a `one_time_use` device_spec keeps back after one hand-out: list them,
    /// or offer one again after resetting it.
    #[command(subcommand)]
    OneTimeUse(onetime::OneTimeUseCommand),
    /// Configuration tools: `config import-nova nova.conf` prints nova's `[pci]` options
    /// as vifman.toml.
    #[command(subcommand)]
    Config(configcmd::ConfigCommand),
    /// The health of every PF and VF (link, driver, AER, flaps, quarantine), debounced;
    /// exit 1 when something is unhealthy (see docs/handoff.md).
    Health(health::HealthArgs),
    /// Boot integration files: the systemd unit, the udev rules.
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// Run as a CNI plugin: CNI_* from the environment, the network configuration on stdin
    /// (see docs/kubernetes.md). Installed as `vifman-cni` in the CNI bin dir.
    Cni(cni::CniArgs),
    /// Serve the pools to kubelet as extended resources (device-plugin API v1beta1).
    #[cfg(feature = "fleet")]
    DevicePlugin(Box<fleet::DevicePluginArgs>),
    /// Report the pools to OpenStack Placement as resource providers.
    #[cfg(feature = "fleet")]
    #[command(subcommand)]
    Placement(fleet::PlacementCommand),
    /// Print Prometheus metrics (VF counts per pool and PF, drift) once.
    #[cfg(feature = "fleet")]
    Metrics(fleet::MetricsArgs),
}

pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // netlink-packet-route logs "BUG: Got unknown VLAN protocol 0" (a warning) for every VF
    // record whose VLAN is unset on drivers that report protocol 0 there (netdevsim does);
    // the crate reads it as 802.1Q, which is what vifman shows, so below -vv it is noise.
    let quiet = if verbose < 2 {
        ",netlink_packet_route=error"
    } else {
        ""
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default}{quiet}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The one line a failed command prints (main, and the commands with their own exit codes):
/// the error, then each cause its text does not already end with (errors that quote their
/// source would otherwise say it twice), with control characters escaped so that input
/// echoed back cannot move the cursor or forge a second line.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !msg.ends_with(&cause) {
            msg.push_str(&format!(": {cause}"));
        }
    }
    escape_controls(&msg)
}

/// `s` with every control character written as its Rust escape (`\n`, `\u{1b}`).
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            c if c.is_control() => c.escape_default().collect::<Vec<_>>(),
            c => vec![c],
        })
        .collect()
}

/// Run a parsed command; the returned error is printed by main with exit code 1, with the
/// command-line hint for it (see [`hint`]); the CNI plugin's errors go to the runtime as
/// they are.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Cni(_)) {
        return run_command(cli);
    }
    run_command(cli).map_err(hint::with_hint)
}

fn run_command(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Vif(cmd) => vif::run(cmd),
        Command::Fixture(cmd) => fixture::run(cmd),
        Command::Inventory(args) => inventory::run(args),
        Command::Pci(args) => pci::run(args),
        Command::Plug(args) => plug::plug(args),
        Command::Unplug(args) => plug::unplug(args),
        Command::HostInfo(args) => plug::host_info(args),
        Command::Allocate(args) => assign::allocate(*args),
        Command::Release(args) => assign::release(args),
        Command::Vf(cmd) => vf::run(cmd),
        Command::Eswitch(args) => eswitch::run(args),
        Command::RateNode(cmd) => rate::run(cmd),
        Command::Allocations(args) => assign::allocations(args),
        Command::Reconcile(args) => assign::reconcile(args),
        Command::Numvfs(args) => assign::numvfs(args),
        Command::Pools(args) => assign::pools(args),
        Command::Apply(args) => apply::run(*args),
        Command::Health(args) => health::run(args),
        Command::Generate(cmd) => generate::run(cmd),
        Command::Cni(args) => cni::run(args),
        Command::Config(cmd) => configcmd::run(cmd),
        Command::OneTimeUse(cmd) => onetime::run(cmd),
        #[cfg(feature = "fleet")]
        Command::DevicePlugin(args) => fleet::device_plugin(*args),
        #[cfg(feature = "fleet")]
        Command::Placement(cmd) => fleet::placement(cmd),
        #[cfg(feature = "fleet")]
        Command::Metrics(args) => fleet::metrics(args),
    }
}
