//! `vifman config import-nova nova.conf`: nova's `[pci]` options as vifman.toml on stdout.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a vifman.toml made from nova.conf's `[pci] device_spec` (or the deprecated
    /// `passthrough_whitelist`) and `[pci] alias` values ("-" reads stdin).
    ImportNova(ImportNovaArgs),
}

#[derive(Debug, Args)]
pub struct ImportNovaArgs {
    #[arg(value_name = "NOVA_CONF")]
    pub file: PathBuf,
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::ImportNova(a) => {
            let text = if a.file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&a.file)
                    .with_context(|| format!("{}: cannot read", a.file.display()))?
            };
            let out = crate::config::nova::import_nova_conf(&text)
                .map_err(|e| anyhow::anyhow!("{}:{e}", a.file.display()))?;
            print!("{out}");
            Ok(())
        }
    }
}
