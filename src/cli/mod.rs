//! Command-line front end. Library errors are typed; here they get context and exit codes:
//! 0 success, 1 operation failed, 2 usage error (clap's own).

pub mod vif;

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
}

pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run a parsed command; the returned error is printed by main with exit code 1.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Vif(cmd) => vif::run(cmd),
    }
}
