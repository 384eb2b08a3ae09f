//! `vifman vf …`: operator actions on one VF.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::assign::HostArgs;
use crate::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum VfCommand {
    /// Reset one VF (unbind its driver, write its `reset`, rebind the same driver). Refused
    /// for an allocated VF: a release resets it.
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF, by netdev name or PCI address.
    pub pf: String,
    /// The VF index on that PF.
    pub vf: u32,
}

pub fn run(cmd: VfCommand) -> anyhow::Result<()> {
    match cmd {
        VfCommand::Reset(a) => {
            let config = a.host.config()?;
            let host = a.host.host_to_change(true)?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let done = engine
                .reset_vf(&a.pf, a.vf)
                .context(format!("reset VF {} of {}", a.vf, a.pf))?;
            eprintln!(
                "{done}{}",
                if host.simulated() { " [simulated]" } else { "" }
            );
            Ok(())
        }
    }
}
