//! `vifman eswitch PF [legacy|switchdev]` and `vifman vf rate`: devlink operations on a PF,
//! addressed by netdev name, PCI address or devlink handle (netdevsim PFs are not PCI).

use anyhow::Context;
use clap::Args;

use crate::devlink::model::{bytes_to_mbit, mbit_to_bytes};
use crate::devlink::{pf, Devlink, EswitchMode, RateChange, RateObject};

#[derive(Debug, Args)]
pub struct EswitchArgs {
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    pub pf: String,
    /// The mode to set; without it, show the mode and the representors.
    pub mode: Option<EswitchMode>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: EswitchArgs) -> anyhow::Result<()> {
    let mut dl = Devlink::open().context("devlink")?;
    if let Some(mode) = a.mode {
        let dev = pf::resolve(&mut dl, &a.pf)?;
        let before = pf::set_mode(&mut dl, &dev, mode).context(format!("eswitch {}", a.pf))?;
        // Read back: the kernel may accept and still report another mode.
        let now = dl.eswitch(&dev)?.mode;
        anyhow::ensure!(
            now == mode,
            "eswitch {dev}: set {mode}, the kernel reports {now}"
        );
        eprintln!("{dev}: eswitch {before} -> {now}");
        return Ok(());
    }
    let r = pf::report(&mut dl, &a.pf).context(format!("eswitch {}", a.pf))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{} ({}): mode {}", r.pf, r.devlink, r.eswitch.mode);
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

#[derive(Debug, Args)]
pub struct RateArgs {
    /// The PF: netdev name, PCI address, or devlink handle (BUS/DEV).
    pub pf: String,
    /// The VF index on that PF.
    pub vf: u32,
    /// Guaranteed rate in Mbit/s (devlink tx_share).
    #[arg(long)]
    pub min_tx_rate: Option<u32>,
    /// Rate limit in Mbit/s (devlink tx_max); 0 removes the limit.
    #[arg(long)]
    pub max_tx_rate: Option<u32>,
}

/// VF rates through the VF's devlink rate leaf: the path switchdev mode requires (the
/// legacy IFLA_VF_RATE answers EOPNOTSUPP there). Read back after setting.
pub fn rate(a: RateArgs) -> anyhow::Result<()> {
    let mut dl = Devlink::open().context("devlink")?;
    let dev = pf::resolve(&mut dl, &a.pf)?;
    let port = pf::vf_port(&mut dl, &dev, a.vf)?;
    let object = RateObject::Leaf { port };
    let change = RateChange {
        tx_share: a.min_tx_rate.map(mbit_to_bytes),
        tx_max: a.max_tx_rate.map(mbit_to_bytes),
        parent: None,
    };
    if change != RateChange::default() {
        dl.set_rate(&dev, &object, &change)
            .context(format!("VF {} of {}", a.vf, a.pf))?;
    }
    let r = dl
        .rates()?
        .into_iter()
        .find(|r| r.dev == dev && r.object == object)
        .with_context(|| format!("{dev}/{port}: no rate leaf after setting it"))?;
    for (want, got, what) in [
        (change.tx_share, r.tx_share, "min_tx_rate"),
        (change.tx_max, r.tx_max, "max_tx_rate"),
    ] {
        if let Some(w) = want {
            anyhow::ensure!(
                w == got,
                "{dev}/{port}: {what} set to {} Mbit/s, the kernel reports {}",
                bytes_to_mbit(w),
                bytes_to_mbit(got)
            );
        }
    }
    println!(
        "{dev}/{port}: vf {} min_tx_rate {} max_tx_rate {}",
        a.vf,
        bytes_to_mbit(r.tx_share),
        bytes_to_mbit(r.tx_max)
    );
    Ok(())
}
