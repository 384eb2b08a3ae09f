//! `vifman rate-node list|add|set|del` and `vifman vf rate`: devlink rate nodes and VF rate
//! leaves (switchdev mode) through the engine (`engine::rate`), on the real kernel or the
//! simulated one. The PF by netdev name, PCI address or devlink handle (BUS/DEV).

use anyhow::Context;
use clap::{Args, Subcommand};

use super::hostargs::HostArgs;
use crate::engine::rate::{ParentWant, RateReport, RateResult, RateWant};
use crate::engine::Engine;
use crate::types::RateNodeName;

#[derive(Debug, Subcommand)]
pub enum RateNodeCommand {
    /// Every rate object of the PF's devlink instance: nodes, and the VF leaves (switchdev).
    List(ListArgs),
    /// Create a node (switchdev mode), with its rates and parent, read back.
    Add(NodeArgs),
    /// Change a node's rates and/or parent, read back.
    Set(NodeArgs),
    /// Delete a node; refused while a leaf or node is parented to it.
    Del(DelArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    #[arg(long)]
    pub json: bool,
}

/// Rates (Mbit/s) and parent, shared by `rate-node add|set` and `vf rate`.
#[derive(Debug, Args)]
pub struct RateFlags {
    /// Guaranteed rate in Mbit/s (devlink tx_share).
    #[arg(long, value_name = "MBIT")]
    pub min_tx_rate: Option<u32>,
    /// Rate limit in Mbit/s (devlink tx_max); 0 removes the limit.
    #[arg(long, value_name = "MBIT")]
    pub max_tx_rate: Option<u32>,
    /// Parent to this rate node.
    #[arg(long, value_name = "NODE", conflicts_with = "no_parent")]
    pub parent: Option<String>,
    /// Detach from the parent node.
    #[arg(long)]
    pub no_parent: bool,
}

impl RateFlags {
    fn want(&self) -> anyhow::Result<RateWant> {
        Ok(RateWant {
            min_mbps: self.min_tx_rate,
            max_mbps: self.max_tx_rate,
            parent: match (&self.parent, self.no_parent) {
                (Some(p), _) => ParentWant::Set(node_name(p).context("--parent")?),
                (None, true) => ParentWant::Clear,
                (None, false) => ParentWant::Keep,
            },
        })
    }
}

/// A node name validated here, not by clap: a bad name is a refused request (exit 1, the
/// rule named), like a bad MAC, not a usage error.
fn node_name(s: &str) -> anyhow::Result<RateNodeName> {
    s.parse::<RateNodeName>().map_err(anyhow::Error::new)
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The node's name: letters, digits, '_', '-', '.', ':' (not all digits, at most 64).
    pub name: String,
    #[command(flatten)]
    pub rates: RateFlags,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DelArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RateArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The VF index on that PF.
    pub vf: u32,
    #[command(flatten)]
    pub rates: RateFlags,
    /// Change a VF an allocation holds (its release restores the recorded original).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

fn print_result(r: &RateResult, json: bool, simulated: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let sim = if simulated { " [simulated]" } else { "" };
    match &r.object {
        Some(o) => println!(
            "{} ({}): {}: {}{sim}",
            r.pf,
            r.devlink,
            r.action,
            o.describe()
        ),
        None => println!("{} ({}): {}{sim}", r.pf, r.devlink, r.action),
    }
    Ok(())
}

fn print_report(r: &RateReport, json: bool, simulated: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let sim = if simulated { " (simulated)" } else { "" };
    println!("{} ({}): eswitch {}{sim}", r.pf, r.devlink, r.mode);
    if r.rates.is_empty() {
        println!("  no rate objects");
    }
    for l in &r.rates {
        println!("  {}", l.describe());
    }
    Ok(())
}

pub fn run(cmd: RateNodeCommand) -> anyhow::Result<()> {
    match cmd {
        RateNodeCommand::List(a) => {
            let config = a.host.config()?;
            let host = a.host.read_host()?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let r = engine
                .rate_list(&a.pf)
                .context(format!("rate-node list {}", a.pf))?;
            print_report(&r, a.json, host.simulated())
        }
        RateNodeCommand::Add(ref a) | RateNodeCommand::Set(ref a) => {
            let add = matches!(cmd, RateNodeCommand::Add(_));
            let config = a.host.config()?;
            let host = a.host.host_to_change(true)?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let verb = if add { "add" } else { "set" };
            let what = format!("rate-node {verb} {} {}", a.pf, a.name);
            let (name, want) = (
                node_name(&a.name).context(what.clone())?,
                a.rates.want().context(what.clone())?,
            );
            let r = if add {
                engine.rate_node_add(&a.pf, &name, &want)
            } else {
                engine.rate_node_set(&a.pf, &name, &want)
            };
            print_result(&r.context(what)?, a.json, host.simulated())
        }
        RateNodeCommand::Del(a) => {
            let config = a.host.config()?;
            let host = a.host.host_to_change(true)?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let what = format!("rate-node del {} {}", a.pf, a.name);
            let name = node_name(&a.name).context(what.clone())?;
            let r = engine.rate_node_del(&a.pf, &name).context(what)?;
            print_result(&r, a.json, host.simulated())
        }
    }
}

/// `vifman vf rate PF N [--min-tx-rate M] [--max-tx-rate M] [--parent NODE | --no-parent]`:
/// VF rates through the VF's devlink rate leaf, the path switchdev mode requires (the legacy
/// IFLA_VF_RATE answers EOPNOTSUPP there), read back. With no flag, the leaf as it is.
pub fn vf_rate(a: RateArgs) -> anyhow::Result<()> {
    let want = a.rates.want().context(format!("VF {} of {}", a.vf, a.pf))?;
    let config = a.host.config()?;
    let host = if want.is_empty() {
        a.host.read_host()?
    } else {
        a.host.host_to_change(true)?
    };
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let what = format!("VF {} of {}", a.vf, a.pf);
    let r = engine.vf_rate(&a.pf, a.vf, &want, a.force).map_err(|e| {
        // Most of the engine's leaf errors name the VF already: say it once.
        let e = anyhow::Error::new(e);
        if e.to_string().starts_with(&what) {
            e
        } else {
            e.context(what.clone())
        }
    })?;
    print_result(&r, a.json, host.simulated())
}
