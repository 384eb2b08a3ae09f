use std::io::Read;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use serde_json::Value as J;

use crate::vif::{from_primitive, Manifest, Mode, VersionedObject};

#[derive(Debug, Subcommand)]
pub enum VifCommand {
    /// Print a readable summary of a VIF and its network.
    Show(Input),
    /// Check a primitive: exit 0, or exit 1 with one line saying what is wrong.
    Validate(Input),
    /// Re-emit the primitive, optionally downgraded for an older os-vif peer.
    Convert {
        #[command(flatten)]
        input: Input,
        /// Target version of the top-level object (oslo `target_version`).
        #[arg(long = "to-version", value_name = "V")]
        to_version: Option<String>,
        /// oslo `version_manifest` as JSON, e.g. '{"Network":"1.0","VIFPortProfileBase":"1.1"}'.
        #[arg(long, value_name = "JSON")]
        manifest: Option<String>,
        /// Compact output instead of pretty-printed JSON.
        #[arg(long)]
        compact: bool,
    },
    /// Print the libvirt device element (<interface> or <hostdev>) nova's libvirt driver
    /// would build for this VIF (docs/libvirt.md).
    Libvirt(super::libvirt::LibvirtArgs),
}

#[derive(Debug, Args)]
pub struct Input {
    /// File with the primitive JSON, or '-' for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// Accept everything os-vif accepts (truthy strings as booleans, non-UUID ids, ...).
    #[arg(long)]
    pub lenient: bool,
}

pub(super) fn read_input(input: &Input) -> anyhow::Result<VersionedObject> {
    let text = if input.file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        s
    } else {
        std::fs::read_to_string(&input.file).with_context(|| format!("reading {}", input.file))?
    };
    let json: J =
        serde_json::from_str(&text).map_err(|e| anyhow!("{}: not valid JSON: {e}", input.file))?;
    let mode = if input.lenient {
        Mode::Lenient
    } else {
        Mode::Strict
    };
    tracing::debug!(file = %input.file, ?mode, bytes = text.len(), "loading os-vif primitive");
    let obj = from_primitive(&json, mode).map_err(|e| anyhow!("{e}"))?;
    tracing::debug!(class = obj.name(), version = %obj.version, "loaded");
    Ok(obj)
}

pub fn run(cmd: VifCommand) -> anyhow::Result<()> {
    match cmd {
        VifCommand::Libvirt(args) => return super::libvirt::run(args),
        VifCommand::Show(input) => {
            let obj = read_input(&input)?;
            print!("{}", crate::vif::summary::render(&obj));
        }
        VifCommand::Validate(input) => {
            let obj = read_input(&input)?;
            println!("ok: {} {}", obj.name(), obj.version);
        }
        VifCommand::Convert {
            input,
            to_version,
            manifest,
            compact,
        } => {
            let obj = read_input(&input)?;
            let manifest: Option<Manifest> = manifest
                .map(|m| serde_json::from_str(&m).map_err(|e| anyhow!("--manifest: expected a JSON object of class name to version strings: {e}")))
                .transpose()?;
            let out = obj
                .to_primitive(to_version.as_deref(), manifest.as_ref())
                .map_err(|e| anyhow!("{e}"))?;
            if compact {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
        }
    }
    Ok(())
}
