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
    /// One VF (or, without N, every VF of the PF): device, PF-side state, status (free,
    /// allocated, quarantined, in use and why), reset methods and traffic counters
    /// (IFLA_VF_STATS). A PF whose VFs are not PCI functions (netdevsim) by netdev name.
    Show(ShowArgs),
    /// Set VF knobs the way `ip link set PF vf N ...` does (mac, vlan, qos, proto, spoofchk,
    /// trust, state, min_tx_rate, max_tx_rate), one knob at a time, each read back; on a
    /// failure the knobs already applied are put back.
    Set(SetArgs),
    /// A VF's rate leaf (switchdev mode): rates and parent node through devlink, read back;
    /// with no flag, the leaf as it is.
    Rate(super::rate::RateArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF, by netdev name or PCI address (a non-PCI PF such as netdevsim's: netdev name).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The VF index on that PF; without it, every VF of the PF (a JSON array).
    pub vf: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF, by netdev name or PCI address (a non-PCI PF such as netdevsim's: netdev name).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The VF index on that PF.
    pub vf: u32,
    /// KEY VALUE pairs, as `ip link`: mac M, vlan V, qos Q, proto 802.1Q|802.1ad,
    /// spoofchk on|off, trust on|off, state auto|enable|disable, min_tx_rate N, max_tx_rate N.
    #[arg(required = true, num_args = 1..)]
    pub settings: Vec<String>,
    /// Change a VF an allocation holds (its release restores the recorded original).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF, by netdev name or PCI address.
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The VF index on that PF.
    pub vf: u32,
}

pub fn run(cmd: VfCommand) -> anyhow::Result<()> {
    match cmd {
        VfCommand::Rate(a) => super::rate::vf_rate(a),
        VfCommand::Set(a) => {
            let want = crate::engine::vfset::VfSettings::parse(&a.settings)
                .map_err(anyhow::Error::msg)
                .context(format!("vf set {} {}", a.pf, a.vf))?;
            let config = a.host.config()?;
            let host = a.host.host_to_change(true)?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let r = engine
                .vf_set(&a.pf, a.vf, &want, a.force)
                .context(format!("VF {} of {}", a.vf, a.pf))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if r.applied.is_empty() {
                eprintln!("VF {} of {}: already as asked", a.vf, a.pf);
            } else {
                eprintln!(
                    "VF {} of {}: {}{}",
                    a.vf,
                    a.pf,
                    r.applied.join(", "),
                    if host.simulated() { " [simulated]" } else { "" }
                );
            }
            Ok(())
        }
        VfCommand::Show(a) => {
            let config = a.host.config()?;
            let host = a.host.host()?;
            let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
            let reports = match a.vf {
                Some(n) => vec![engine
                    .vf_show(&a.pf, n)
                    .context(format!("VF {n} of {}", a.pf))?],
                None => engine
                    .vf_show_all(&a.pf)
                    .context(format!("VFs of {}", a.pf))?,
            };
            if a.json {
                match a.vf {
                    Some(_) => println!("{}", serde_json::to_string_pretty(&reports[0])?),
                    None => println!("{}", serde_json::to_string_pretty(&reports)?),
                }
                return Ok(());
            }
            for (k, r) in reports.iter().enumerate() {
                if k > 0 {
                    println!();
                }
                print_report(r);
            }
            Ok(())
        }
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

fn print_report(r: &crate::engine::VfReport) {
    println!(
        "{} (VF {} of {} {}), driver {}",
        r.address.as_deref().unwrap_or("not PCI"),
        r.vf_index,
        r.pf_netdev.as_deref().unwrap_or("-"),
        r.pf,
        r.driver.as_deref().unwrap_or("none")
    );
    println!("status: {}", r.status);
    if let Some(s) = &r.admin {
        println!(
            "admin: mac {} vlan {} qos {} proto {} spoofchk {} trust {} state {} min_tx_rate {} max_tx_rate {}",
            s.mac,
            s.vlan,
            s.qos,
            s.vlan_proto.as_str(),
            onoff(s.spoofchk),
            onoff(s.trust),
            s.link_state.label(),
            s.min_tx_rate,
            s.max_tx_rate
        );
    }
    if let Some(f) = &r.port_function {
        match f.state {
            Some(st) => println!("port function: {} hw_addr {} state {st}", f.port, f.hw_addr),
            None => println!("port function: {} hw_addr {}", f.port, f.hw_addr),
        }
    }
    println!(
        "reset methods: {}",
        r.reset_methods
            .as_ref()
            .map(|m| m.join(" "))
            .unwrap_or_else(|| "none".into())
    );
    match &r.counters {
        Some(c) => println!(
            "rx: {} bytes {} packets {} broadcast {} multicast {} dropped; tx: {} bytes {} packets {} dropped",
            c.rx_bytes, c.rx_packets, c.broadcast, c.multicast, c.rx_dropped,
            c.tx_bytes, c.tx_packets, c.tx_dropped
        ),
        None => println!("counters: not reported"),
    }
}

fn onoff(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "-",
    }
}
