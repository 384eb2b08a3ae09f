//! `vifman one-time-use list|reset ADDR`: the whole devices a `one_time_use` device_spec
//! (nova's tag) keeps back after they were handed out once.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::assign::HostArgs;
use crate::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum OneTimeUseCommand {
    /// The devices held back.
    List(ListArgs),
    /// Offer a device again, once the operator has reset it (nova: un-reserve it).
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub host: HostArgs,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The device's PCI address (`18:00.0` means domain 0000).
    #[arg(value_parser = crate::types::PciAddress::parse_user)]
    pub address: crate::types::PciAddress,
}

pub fn run(cmd: OneTimeUseCommand) -> anyhow::Result<()> {
    match cmd {
        OneTimeUseCommand::List(a) => {
            let st = crate::store::read_state(&a.host.state_dir).context("reading the store")?;
            for d in st.used_once {
                println!("{d}");
            }
            Ok(())
        }
        OneTimeUseCommand::Reset(a) => {
            let config = a.host.config()?;
            let host = a.host.host()?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            engine
                .reset_one_time_use(&a.address)
                .with_context(|| format!("one-time-use reset {}", a.address))?;
            println!("{} is offered again", a.address);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn reset_takes_an_address_without_its_domain() {
        let cli = crate::cli::Cli::try_parse_from(["vifman", "one-time-use", "reset", "18:00.0"])
            .unwrap();
        let crate::cli::Command::OneTimeUse(super::OneTimeUseCommand::Reset(a)) = cli.command
        else {
            panic!("not one-time-use reset");
        };
        assert_eq!(a.address.to_string(), "0000:18:00.0");
    }
}
