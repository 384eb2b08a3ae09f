//! `vifman eswitch PF [legacy|switchdev] [--inline-mode M] [--encap-mode M]`: the devlink
//! eswitch of a PF, addressed by netdev name, PCI address or devlink handle (netdevsim PFs
//! are not PCI). VF rate leaves and rate nodes are `cli::rate`'s.

use anyhow::Context;
use clap::Args;

use crate::devlink::{pf, Devlink, EncapMode, EswitchMode, EswitchSet, InlineMode};

#[derive(Debug, Args)]
pub struct EswitchArgs {
    #[command(flatten)]
    pub host: super::assign::HostArgs,
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The mode to set; without it, show the mode and the representors. Set in the order
    /// hwdb gives for the PF's driver (ice: no VFs; mlx5: VFs unbound).
    pub mode: Option<EswitchMode>,
    /// The inline mode (DEVLINK_ATTR_ESWITCH_INLINE_MODE), set in the mode's request when
    /// the mode changes too, read back where the driver reports it.
    #[arg(long, value_enum)]
    pub inline_mode: Option<InlineMode>,
    /// The encap mode (DEVLINK_ATTR_ESWITCH_ENCAP_MODE), as --inline-mode.
    #[arg(long, value_enum)]
    pub encap_mode: Option<EncapMode>,
    /// The order rule instead of hwdb's for the PF's driver (`eswitch_order`): `no-vfs`
    /// (VF count 0, the mode, the count back), `vfs-unbound` (VFs unbound, the mode,
    /// rebound) or `any`. For a driver hwdb does not know yet; a step that fails is undone.
    #[arg(long, value_enum)]
    pub order: Option<crate::hwdb::EswitchOrder>,
    /// Change the mode although an allocation holds a VF of the PF (a mode change unbinds
    /// or re-creates VFs, per the driver's order rule).
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: EswitchArgs) -> anyhow::Result<()> {
    let want = EswitchSet {
        mode: a.mode,
        inline_mode: a.inline_mode,
        encap_mode: a.encap_mode,
    };
    if !want.is_empty() {
        let config = a.host.config()?;
        let host = a.host.host_to_change(true)?;
        let engine = crate::engine::Engine::new(host.as_ref(), &config, &a.host.state_dir);
        let c = engine
            .eswitch_set(&a.pf, &want, a.order, a.force)
            .context(format!("eswitch {} {want}", a.pf))?;
        for w in &c.warnings {
            eprintln!("warning: {w}");
        }
        if a.json {
            println!("{}", serde_json::to_string_pretty(&c)?);
            return Ok(());
        }
        if c.steps.is_empty() {
            eprintln!("{}: eswitch already {want}", c.devlink);
        } else if c.from == c.to {
            let steps: Vec<String> = c.steps.iter().map(|s| s.describe()).collect();
            eprintln!("{}: {}", c.devlink, steps.join(", "));
        } else {
            let steps: Vec<String> = c.steps.iter().map(|s| s.describe()).collect();
            eprintln!(
                "{}: eswitch {} -> {} (order {}: {})",
                c.devlink,
                c.from,
                c.to,
                c.order,
                steps.join(", ")
            );
        }
        return Ok(());
    }
    if a.host.simulate {
        // The simulated kernel's eswitch: the mode, rate nodes and representor count (from
        // the tree's devlink record where it has one), not the live port dump.
        let host = a.host.host()?;
        let scan = host.scan();
        let id = match crate::engine::eswitch::pci_pf(&scan, &a.pf) {
            Some(addr) => crate::host::PfId::Pci(addr),
            None => crate::host::PfId::Netdev(a.pf.parse().map_err(anyhow::Error::msg)?),
        };
        let e = host
            .eswitch_of(&id)?
            .with_context(|| format!("{} has no devlink eswitch", a.pf))?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&e)?);
        } else {
            println!("{} ({}): mode {} (simulated)", a.pf, e.devlink, e.mode);
        }
        return Ok(());
    }
    let mut dl = Devlink::open().context("devlink")?;
    let r = pf::report(&mut dl, &a.pf).context(format!("eswitch {}", a.pf))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let named = |v: Option<u8>, f: fn(u8) -> Option<String>| {
        v.map(|b| f(b).unwrap_or_else(|| b.to_string()))
    };
    let mut line = format!("{} ({}): mode {}", r.pf, r.devlink, r.eswitch.mode);
    if let Some(m) = named(r.eswitch.inline_mode, |b| {
        InlineMode::from_kernel(b).map(|m| m.to_string())
    }) {
        line.push_str(&format!(" inline-mode {m}"));
    }
    if let Some(m) = named(r.eswitch.encap_mode, |b| {
        EncapMode::from_kernel(b).map(|m| m.to_string())
    }) {
        line.push_str(&format!(" encap-mode {m}"));
    }
    println!("{line}");
    for rep in &r.representors {
        println!(
            "  vf {} pf {} port {} representor {}",
            rep.vf,
            rep.pfnum,
            rep.port,
            rep.netdev.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
