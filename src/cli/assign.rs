//! VF assignment commands: allocate, release, allocations, reconcile, numvfs, pools.

use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;

pub use super::hostargs::HostArgs;
use crate::engine::{AllocMode, AllocateRequest, Engine};
use crate::host::Host;
use crate::types::Uuid;

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}

#[derive(Debug, Args)]
pub struct AllocateArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The pool's physical network (VFs, or a whole PF with --device-type pf).
    #[arg(long, value_name = "P", required_unless_present = "alias")]
    pub physnet: Option<String>,
    #[arg(long, value_name = "UUID")]
    pub instance: Uuid,
    /// Required for a VF or a PF; for --alias, optional (default: derived from the instance
    /// and the alias, the id `release --instance U --alias A` finds).
    #[arg(long, value_name = "UUID", required_unless_present = "alias")]
    pub vif_id: Option<Uuid>,
    /// vf (default) or pf: a whole PF of the physnet's pool (nova's direct-physical).
    #[arg(long, value_name = "vf|pf", conflicts_with = "alias")]
    pub device_type: Option<String>,
    /// Devices of a `[[alias]]` (nova's `[pci] alias`), handed out whole.
    #[arg(long, value_name = "NAME", conflicts_with = "physnet")]
    pub alias: Option<String>,
    /// How many devices of the alias (all or nothing).
    #[arg(long, value_name = "N", requires = "alias")]
    pub count: Option<u32>,
    /// Whole devices: also bind the other endpoints of the device's IOMMU group to vfio-pci
    /// (restored with the allocation).
    #[arg(long)]
    pub bind_group: bool,
    /// Neutron network id for the emitted Network (default: a stable id derived from the physnet).
    #[arg(long, value_name = "UUID")]
    pub network_id: Option<Uuid>,
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// VLAN id, optionally with an 802.1p priority: 100 or 100:3.
    #[arg(long, value_name = "V[:QOS]")]
    pub vlan: Option<String>,
    #[arg(long, value_name = "802.1q|802.1ad")]
    pub vlan_proto: Option<String>,
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub spoofchk: Option<bool>,
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub trust: Option<bool>,
    #[arg(long, value_name = "auto|enable|disable")]
    pub link_state: Option<String>,
    #[arg(long, value_name = "MBPS")]
    pub min_tx_rate: Option<u32>,
    #[arg(long, value_name = "MBPS")]
    pub max_tx_rate: Option<u32>,
    /// Parent the VF's devlink rate leaf to this rate node (switchdev mode; the node must
    /// exist). Release puts the leaf's old parent back.
    #[arg(long, value_name = "NODE")]
    pub rate_parent: Option<String>,
    /// Prefer VFs on this NUMA node.
    #[arg(long, value_name = "N")]
    pub numa: Option<u32>,
    #[arg(long, value_name = "MODE", value_enum, default_value = "hostdev")]
    pub mode: AllocMode,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After the os-vif JSON, print the libvirt device element for the VF (docs/libvirt.md):
    /// <interface type='hostdev'> or <interface type='direct'>.
    #[arg(long)]
    pub libvirt: bool,
    /// Skip the hwdb capability check and let the kernel refuse (for testing rollback).
    #[arg(long, hide = true)]
    pub force_unsupported: bool,
}

pub fn allocate(a: AllocateArgs) -> anyhow::Result<()> {
    if let Some(w) = super::whole::request(&a)? {
        return super::whole::allocate(&a, w);
    }
    if a.bind_group {
        return Err(anyhow!(
            "--bind-group applies to whole devices (--device-type pf or --alias), not VFs"
        ));
    }
    let mode = a.mode;
    let (Some(physnet), Some(vif_id)) = (&a.physnet, a.vif_id) else {
        return Err(anyhow!("a VF allocation needs --physnet and --vif-id"));
    };
    let mut req = AllocateRequest::new(physnet, a.instance, vif_id, mode).context("--physnet")?;
    if let Some(m) = &a.mac {
        req.set_mac(m).context("--mac")?;
    }
    if let Some(v) = &a.vlan {
        req.set_vlan(v).context("--vlan")?;
    }
    if let Some(p) = &a.vlan_proto {
        req.set_vlan_proto(p).context("--vlan-proto")?;
    }
    if let Some(l) = &a.link_state {
        req.set_link_state(l).context("--link-state")?;
    }
    req.spoofchk = a.spoofchk;
    req.trust = a.trust;
    req.min_tx_rate = a.min_tx_rate;
    req.max_tx_rate = a.max_tx_rate;
    if let Some(n) = &a.rate_parent {
        req.rate_parent = Some(
            n.parse::<crate::types::RateNodeName>()
                .map_err(anyhow::Error::new)
                .context("--rate-parent")?,
        );
    }
    req.numa = a.numa;
    req.network_id = a.network_id;
    req.force_unsupported = a.force_unsupported;
    req.validate()?;
    let config = a.host.config()?;
    let host = a.host.host_to_change(!a.dry_run)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let out = engine
        .allocate(&req, a.dry_run)
        .context(format!("allocate {} on {}", req.vif_id, req.physnet))?;
    match out.vif {
        None => println!("{}", serde_json::to_string_pretty(&out.plan)?),
        Some(v) => {
            eprintln!(
                "allocated {} (VF {} of {}, {}){}",
                out.plan.vf,
                out.plan.vf_index,
                out.plan.pf_netdev,
                out.plan.mode,
                if host.simulated() { " [simulated]" } else { "" }
            );
            println!("{}", serde_json::to_string_pretty(&v)?);
            if a.libvirt {
                println!("{}", libvirt_xml(&v, mode, host.as_ref())?);
            }
        }
    }
    Ok(())
}

/// The libvirt element for an allocation: a VF vifman already bound to vfio-pci is
/// `managed='no'` (libvirt must not rebind it); a macvtap's lower device is the VF's netdev
/// as the host (real or simulated) sees it.
fn libvirt_xml(
    prim: &serde_json::Value,
    mode: AllocMode,
    host: &dyn Host,
) -> anyhow::Result<String> {
    let vif = crate::vif::from_primitive(prim, crate::vif::Mode::Strict)
        .map_err(|e| anyhow!("re-reading the emitted VIF: {e}"))?;
    let opts = crate::libvirt::Options {
        hostdev_managed: mode != AllocMode::HostdevVfio,
        ..Default::default()
    };
    let netdev_of = |addr| {
        host.netdevs_of(&addr)
            .into_iter()
            .next()
            .map(|n| n.to_string())
            .ok_or(crate::libvirt::LibvirtError::Netdev {
                addr,
                msg: "no netdev (bound to vfio-pci?)".into(),
            })
    };
    let dev = crate::libvirt::device(&vif, &opts, &netdev_of)
        .map_err(|e| anyhow!("libvirt device for {}: {e}", vif.name()))?;
    Ok(dev.to_xml())
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Parsed like `allocate --vif-id`: any spelling of the same UUID names the same VIF.
    /// Releasing a quarantined VIF retries the whole clean release (reset, restore, read back).
    #[arg(
        long,
        value_name = "UUID",
        required_unless_present_any = ["alias", "clear_quarantine"]
    )]
    pub vif_id: Option<Uuid>,
    /// Drop the record of a quarantined VF (by VF address or VIF id) without touching the
    /// hardware: the operator vouches that it is clean. See docs/handoff.md.
    #[arg(
        long,
        value_name = "VF-OR-VIF",
        conflicts_with_all = ["vif_id", "alias", "instance"]
    )]
    pub clear_quarantine: Option<String>,
    /// With --alias: the allocation `allocate --alias A --instance U` made without --vif-id.
    #[arg(long, value_name = "UUID", requires = "alias")]
    pub instance: Option<Uuid>,
    #[arg(
        long,
        value_name = "NAME",
        requires = "instance",
        conflicts_with = "vif_id"
    )]
    pub alias: Option<String>,
}

pub fn release(a: ReleaseArgs) -> anyhow::Result<()> {
    let config = a.host.config()?;
    let host = a.host.host_to_change(true)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    if let Some(what) = &a.clear_quarantine {
        let rec = engine
            .clear_quarantine(what)
            .context(format!("clear quarantine of {what}"))?;
        eprintln!(
            "cleared the quarantine of {} (VIF {}; was: {}); the VF is free again",
            rec.vf,
            rec.vif_id,
            rec.quarantine
                .as_ref()
                .map(|q| q.reason.as_str())
                .unwrap_or("no reason recorded")
        );
        return Ok(());
    }
    let id = match (a.vif_id, a.instance, &a.alias) {
        (Some(v), _, _) => v,
        (None, Some(i), Some(al)) => crate::engine::whole::WholeRequest::alias_id(&i, al),
        _ => {
            return Err(anyhow!(
                "release needs --vif-id, or --instance with --alias"
            ))
        }
    };
    if engine.is_whole(&id)? {
        return super::whole::release(&engine, &id);
    }
    let rec = engine.release(&id).context(format!("release {id}"))?;
    eprintln!(
        "released {} ({}), original state restored",
        rec.vf, rec.vif_id
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Accepted for symmetry with the other commands; listing reads only the store.
    #[command(flatten)]
    pub host: HostArgs,
    #[arg(long)]
    pub json: bool,
}

pub fn allocations(a: ListArgs) -> anyhow::Result<()> {
    // Listing reads only the store: no host, no config, nothing created.
    let list = crate::store::read_allocations(&a.host.state_dir)
        .with_context(|| format!("reading allocations from {}", a.host.state_dir.display()))?;
    let whole = crate::store::read_state(&a.host.state_dir)?.devices;
    if a.json {
        // One list: VF records as they always were, then whole-device records marked with
        // `"kind": "whole-device"` (they have no `vif_id`/`vf`, so VF filters skip them).
        let mut out: Vec<serde_json::Value> = list
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        for w in &whole {
            let mut v = serde_json::to_value(w)?;
            v["kind"] = "whole-device".into();
            out.push(v);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if list.is_empty() && whole.is_empty() {
        println!("no allocations in {}", a.host.state_dir.display());
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header([
        "VIF", "INSTANCE", "PHYSNET", "MODE", "VF", "PF", "VF#", "PHASE", "SET",
    ]);
    for r in &list {
        t.add_row([
            r.vif_id.to_string(),
            r.instance_uuid.to_string(),
            r.physnet.clone(),
            r.mode.as_str().into(),
            r.vf.to_string(),
            r.pf_netdev.to_string(),
            r.vf_index.to_string(),
            format!("{:?}", r.phase).to_lowercase(),
            r.requested
                .iter()
                .map(|k| k.describe())
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    if !list.is_empty() {
        println!("{t}");
    }
    for r in &list {
        if let Some(q) = &r.quarantine {
            println!(
                "quarantined: {} (VIF {}) since {}: {}",
                r.vf, r.vif_id, q.since, q.reason
            );
        }
    }
    if !whole.is_empty() {
        super::whole::print_records(&whole);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Fix what can be fixed: undo interrupted operations, drop stale records, re-apply drift.
    #[arg(long)]
    pub repair: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn reconcile(a: ReconcileArgs) -> anyhow::Result<()> {
    let config = a.host.config()?;
    let host = a.host.host_to_change(a.repair)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let drift = engine.reconcile(a.repair)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&drift)?);
    } else if drift.is_empty() {
        println!("no drift: records and hardware agree");
    } else {
        for d in &drift {
            println!(
                "{:<22} {} {}{}{}{}",
                serde_json::to_value(&d.kind)?.as_str().unwrap_or("?"),
                d.vf,
                d.vif_id
                    .as_deref()
                    .map(|v| format!("(vif {v}) "))
                    .unwrap_or_default(),
                d.detail,
                d.repaired
                    .as_deref()
                    .map(|r| format!(" -> {r}"))
                    .unwrap_or_default(),
                d.next
                    .map(|n| format!(" ({})", crate::cli::hint::recovery(n, d.vif_id.as_deref())))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct NumvfsArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// The PF, by PCI address or netdev name; a PF that is not a PCI function (netdevsim)
    /// by netdev name or BUS/DEVICE (its devlink handle, e.g. netdevsim/netdevsim1).
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub pf: String,
    /// The VF count. A refused count leaves the old one in place (rolled back if the
    /// removal to 0 before it went in).
    pub count: u32,
    /// sriov_drivers_autoprobe for the new VFs (PCI PFs only).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub autoprobe: Option<bool>,
    /// Seconds to wait for the VFs and their netdevs (for a non-PCI PF: its VF records).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

pub fn numvfs(a: NumvfsArgs) -> anyhow::Result<()> {
    let config = a.host.config()?;
    let host = a.host.host_to_change(true)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let msg = engine
        .numvfs(&a.pf, a.count, a.autoprobe, Duration::from_secs(a.timeout))
        .context(format!("numvfs {} {}", a.pf, a.count))?;
    println!("{msg}");
    Ok(())
}

#[derive(Debug, Args)]
pub struct PoolsArgs {
    #[command(flatten)]
    pub host: HostArgs,
    /// Say, for every VF, which device_spec took it or why none did.
    #[arg(long)]
    pub explain: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn pools(a: PoolsArgs) -> anyhow::Result<()> {
    let config = a.host.config()?;
    let host = a.host.host()?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let r = engine.pools()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header([
        "POOL",
        "TYPE",
        "TOTAL",
        "ALLOCATED",
        "FREE",
        "EXCLUDED",
        "QUARANTINED",
    ]);
    for p in &r.pools {
        t.add_row([
            p.physnet.clone(),
            p.device_type.map(|t| t.to_string()).unwrap_or_default(),
            p.total.to_string(),
            p.allocated.to_string(),
            p.free.to_string(),
            p.excluded.to_string(),
            p.quarantined.to_string(),
        ]);
    }
    println!("{t}");
    if a.explain {
        println!();
        for e in &r.explain {
            if e.device_type == crate::types::DeviceType::Vf {
                println!("{} [{}] (PF {}): {}", e.vf, e.device_type, e.pf, e.verdict);
            } else {
                println!("{} [{}]: {}", e.vf, e.device_type, e.verdict);
            }
        }
    }
    Ok(())
}
