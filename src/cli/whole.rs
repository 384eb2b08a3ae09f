//! `allocate`/`release` of whole devices: a PF by physnet (`--device-type pf`) or the devices
//! of an alias (`--alias`). The VF options that make no sense for a whole device are refused,
//! not ignored.

use anyhow::{anyhow, Context};

use super::assign::AllocateArgs;
use crate::engine::whole::{WholeRequest, WholeWant};
use crate::engine::{AllocMode, Engine};
use crate::types::{DeviceType, Uuid};

/// The whole-device request `a` asks for, or None for a VF allocation.
pub fn request(a: &AllocateArgs) -> anyhow::Result<Option<WholeRequest>> {
    let t: Option<DeviceType> = a
        .device_type
        .as_deref()
        .map(str::parse)
        .transpose()
        .context("--device-type")?;
    let want = match (&a.alias, t) {
        (Some(name), _) => WholeWant::Alias {
            name: name.clone(),
            count: a.count.unwrap_or(1),
        },
        (None, None | Some(DeviceType::Vf)) => return Ok(None),
        (None, Some(DeviceType::Pci)) => {
            return Err(anyhow!(
                "--device-type pci: plain PCI devices are asked for by alias (--alias NAME, see [[alias]] in the config)"
            ))
        }
        (None, Some(DeviceType::Pf)) => WholeWant::Pf {
            physnet: a
                .physnet
                .clone()
                .ok_or_else(|| anyhow!("--device-type pf needs --physnet"))?,
            network_id: a.network_id,
        },
    };
    let vf_only: [(&str, bool); 9] = [
        ("--mac", a.mac.is_some()),
        ("--vlan", a.vlan.is_some()),
        ("--vlan-proto", a.vlan_proto.is_some()),
        ("--spoofchk", a.spoofchk.is_some()),
        ("--trust", a.trust.is_some()),
        ("--link-state", a.link_state.is_some()),
        ("--min-tx-rate", a.min_tx_rate.is_some()),
        ("--max-tx-rate", a.max_tx_rate.is_some()),
        ("--mode", a.mode != AllocMode::Hostdev),
    ];
    if let Some((flag, _)) = vf_only.iter().find(|(_, set)| *set) {
        return Err(anyhow!(
            "{flag} configures a VF; a whole device is handed to the guest as it is"
        ));
    }
    if matches!(want, WholeWant::Alias { .. }) && a.network_id.is_some() {
        return Err(anyhow!(
            "--network-id applies to a VF or a PF by physnet, not to an alias's devices"
        ));
    }
    let id = match (&want, a.vif_id) {
        (_, Some(v)) => v,
        (WholeWant::Alias { name, .. }, None) => WholeRequest::alias_id(&a.instance, name),
        (WholeWant::Pf { .. }, None) => return Err(anyhow!("--device-type pf needs --vif-id")),
    };
    Ok(Some(WholeRequest {
        id,
        instance_uuid: a.instance,
        want,
        numa: a.numa,
        bind_group: a.bind_group,
        only: vec![],
    }))
}

pub fn allocate(a: &AllocateArgs, req: WholeRequest) -> anyhow::Result<()> {
    let config = a.host.config()?;
    let host = a.host.host_to_change(!a.dry_run)?;
    let engine = Engine::new(host.as_ref(), &config, &a.host.state_dir);
    let what = match &req.want {
        WholeWant::Pf { physnet, .. } => format!("a whole PF of {physnet}"),
        WholeWant::Alias { name, count } => format!("{count} device(s) of alias {name}"),
    };
    let out = engine
        .allocate_whole(&req, a.dry_run)
        .with_context(|| format!("allocate {what} ({})", req.id))?;
    match out.vif {
        None => println!("{}", serde_json::to_string_pretty(&out.record)?),
        Some(v) => {
            let devs: Vec<String> = out
                .record
                .devices
                .iter()
                .map(|d| {
                    if d.handed_out {
                        format!("{} ({})", d.address, d.device_type)
                    } else {
                        format!("{} (group member)", d.address)
                    }
                })
                .collect();
            eprintln!(
                "allocated {} as {}: {} on vfio-pci{}",
                what,
                out.record.id,
                devs.join(", "),
                if host.simulated() { " [simulated]" } else { "" }
            );
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(())
}

pub fn release(engine: &Engine<'_>, id: &Uuid) -> anyhow::Result<()> {
    let rec = engine
        .release_whole(id)
        .with_context(|| format!("release {id}"))?;
    let devs: Vec<String> = rec.devices.iter().map(|d| d.address.to_string()).collect();
    eprintln!(
        "released {} ({}), original drivers restored{}",
        devs.join(", "),
        rec.id,
        match rec.removed_vfs {
            Some((pf, n)) => format!(", {n} VFs re-created on {pf}"),
            None => String::new(),
        }
    );
    Ok(())
}

/// The whole-device records, for `vifman allocations` (after the VF table).
pub fn print_records(recs: &[crate::store::DeviceAllocation]) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["ID", "INSTANCE", "REQUEST", "DEVICES", "PHASE"]);
    for r in recs {
        t.add_row([
            r.id.to_string(),
            r.instance_uuid.to_string(),
            match &r.request {
                crate::store::WholeRequestKind::Physnet(p) => format!("{p} (type-PF)"),
                crate::store::WholeRequestKind::Alias(a) => format!("alias {a}"),
            },
            r.devices
                .iter()
                .map(|d| {
                    if d.handed_out {
                        d.address.to_string()
                    } else {
                        format!("{} (group)", d.address)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            format!("{:?}", r.phase).to_lowercase(),
        ]);
    }
    println!("{t}");
}
