//! The human-readable `vifman inventory` table.

use std::fmt::Write;

use comfy_table::{presets, ContentArrangement, Table};

use super::model::{Inventory, NetdevInfo, VfAdmin, VfEntry};
use crate::netlink::VlanProto;

const DASH: &str = "-";

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| DASH.to_string())
}

fn onoff(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    }
}

/// A borderless table whose layout never depends on the terminal (stable for snapshot tests
/// and pipes): every inventory table is one.
pub(crate) fn plain_table<T: Into<comfy_table::Row>>(header: T) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    t
}

/// A table with one row per PF and its VFs indented beneath it, a one-line SR-IOV summary
/// per PF, then all warnings. Layout never depends on the terminal, so output is stable for
/// snapshot tests and pipes.
pub fn render_table(inv: &Inventory) -> String {
    let mut t = plain_table(vec![
        "DEVICE",
        "MODEL",
        "DRIVER",
        "NETDEV",
        "MAC",
        "VLAN",
        "TRUST/SPOOF",
        "LINK",
        "NUMA",
        "IOMMU",
        "STATUS",
        "HEALTH",
    ]);
    for pf in &inv.physical_functions {
        let d = &pf.device;
        let up: Option<&NetdevInfo> = pf.netdevs.first();
        t.add_row(vec![
            d.address.to_string(),
            model(
                d.model.as_deref(),
                d.vendor_id.as_deref(),
                d.device_id.as_deref(),
            ),
            opt(d.driver.as_deref()),
            netdev_names(&pf.netdevs),
            opt(up.and_then(|n| n.mac)),
            DASH.into(),
            DASH.into(),
            opt(up.and_then(|n| n.operstate.as_deref())),
            opt(d.numa_node),
            opt(d.iommu_group),
            DASH.into(),
            health(pf.health.as_ref()),
        ]);
        for vf in &pf.vfs {
            t.add_row(vf_row(vf));
        }
    }
    // A host whose only SR-IOV PFs are non-PCI ones shows their table alone.
    let mut out = if inv.physical_functions.is_empty() && !inv.bus_functions.is_empty() {
        String::new()
    } else {
        t.trim_fmt() + "\n"
    };
    if !inv.physical_functions.is_empty() {
        out.push('\n');
    }
    for pf in &inv.physical_functions {
        let s = &pf.sriov;
        let _ = writeln!(
            out,
            "{}: {} of {} VFs enabled, {} listed{}{}",
            pf.device.address,
            opt(s.num_vfs),
            opt(s.total_vfs),
            pf.vfs.len(),
            eswitch_note(pf.eswitch.as_ref()),
            match s.drivers_autoprobe {
                Some(false) => ", VF driver autoprobe off",
                _ => "",
            }
        );
    }
    if !inv.bus_functions.is_empty() {
        render_bus(inv, &mut out);
    }
    if !inv.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings ({}):", inv.warnings.len());
        for w in &inv.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

fn model(model: Option<&str>, v: Option<&str>, d: Option<&str>) -> String {
    match (model, v, d) {
        (Some(m), _, _) => m.to_string(),
        (None, Some(v), Some(d)) => format!("{v}:{d}"),
        _ => DASH.to_string(),
    }
}

fn netdev_names(n: &[NetdevInfo]) -> String {
    if n.is_empty() {
        return DASH.into();
    }
    n.iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn vf_row(vf: &VfEntry) -> Vec<String> {
    let d = &vf.device;
    let mut netdev = opt(vf.netdev.as_ref().map(|n| n.name.as_str()));
    if let Some(r) = &vf.representor {
        let _ = write!(netdev, " (rep {r})");
    }
    let (mac, vlan, ts, link) = admin_cells(vf.admin.as_ref());
    vec![
        format!("  vf{} {}", vf.index, d.address),
        model(
            d.model.as_deref(),
            d.vendor_id.as_deref(),
            d.device_id.as_deref(),
        ),
        opt(d.driver.as_deref()),
        netdev,
        mac,
        vlan,
        ts,
        link,
        opt(d.numa_node),
        opt(d.iommu_group),
        status(vf),
        health(vf.health.as_ref()),
    ]
}

/// MAC, VLAN, TRUST/SPOOF and LINK cells of a VF's admin state (`-` when unknown).
fn admin_cells(admin: Option<&VfAdmin>) -> (String, String, String, String) {
    match admin {
        Some(a) => {
            let mut vlan = if a.vlan == 0 && a.qos == 0 {
                DASH.to_string()
            } else if a.qos == 0 {
                a.vlan.to_string()
            } else {
                format!("{}/{}", a.vlan, a.qos)
            };
            if a.vlan_proto == VlanProto::Dot1Ad {
                vlan.push_str(" (802.1ad)");
            }
            let mac = if a.mac.is_zero() {
                DASH.to_string()
            } else {
                a.mac.to_string()
            };
            (
                mac,
                vlan,
                format!("{}/{}", onoff(a.trust), onoff(a.spoofchk)),
                a.link_state.label(),
            )
        }
        None => (DASH.into(), DASH.into(), DASH.into(), DASH.into()),
    }
}

/// The eswitch part of a PF's summary line.
fn eswitch_note(e: Option<&super::EswitchEntry>) -> String {
    match e {
        Some(e) if e.source == "devlink" => format!(
            ", eswitch {} (devlink {})",
            e.mode,
            e.devlink.as_deref().unwrap_or("?")
        ),
        Some(e) => format!(", eswitch {} (from representors)", e.mode),
        None => String::new(),
    }
}

/// The non-PCI PFs (netdevsim): one row per PF and per VF record (its rates and
/// representor instead of PCI columns), then a summary line per PF.
fn render_bus(inv: &Inventory, out: &mut String) {
    let mut t = plain_table(vec![
        "NON-PCI PF",
        "DRIVER",
        "NETDEV",
        "MAC",
        "VLAN",
        "TRUST/SPOOF",
        "LINK",
        "RATE MIN/MAX",
        "REPRESENTOR",
        "HEALTH",
    ]);
    for pf in &inv.bus_functions {
        let up = pf.netdevs.first();
        t.add_row(vec![
            pf.device.clone(),
            opt(pf.driver.as_deref()),
            netdev_names(&pf.netdevs),
            opt(up.and_then(|n| n.mac)),
            DASH.into(),
            DASH.into(),
            opt(up.and_then(|n| n.operstate.as_deref())),
            DASH.into(),
            DASH.into(),
            health(pf.health.as_ref()),
        ]);
        for vf in &pf.vfs {
            let (mac, vlan, ts, link) = admin_cells(vf.admin.as_ref());
            t.add_row(vec![
                format!("  vf{}", vf.index),
                DASH.into(),
                vf.pf_netdev.to_string(),
                mac,
                vlan,
                ts,
                link,
                vf.admin
                    .as_ref()
                    .map(|a| format!("{}/{}", a.min_tx_rate, a.max_tx_rate))
                    .unwrap_or_else(|| DASH.into()),
                opt(vf.representor.as_ref()),
                DASH.into(),
            ]);
        }
    }
    if !inv.physical_functions.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", t.trim_fmt());
    out.push('\n');
    for pf in &inv.bus_functions {
        let _ = writeln!(
            out,
            "{}: {} of {} VFs enabled, {} listed (not PCI functions: not allocatable){}",
            pf.device,
            opt(pf.sriov.num_vfs),
            opt(pf.sriov.total_vfs),
            pf.vfs.len(),
            eswitch_note(pf.eswitch.as_ref()),
        );
    }
}

/// `ok`, `bad` (reasons in `vifman health` and the JSON) or `-` when not sampled.
fn health(h: Option<&super::HealthEntry>) -> String {
    match h {
        Some(h) if h.healthy => "ok".into(),
        Some(_) => "bad".into(),
        None => DASH.into(),
    }
}

/// The `--stats` table: one row per VF with counters (`-` where the PF reported none).
pub fn render_stats(inv: &Inventory) -> String {
    let mut t = plain_table(vec![
        "VF", "PF", "RX_BYTES", "TX_BYTES", "RX_PKTS", "TX_PKTS", "BCAST", "MCAST", "RX_DROP",
        "TX_DROP",
    ]);
    for pf in &inv.physical_functions {
        let pf_name = netdev_names(&pf.netdevs);
        for vf in &pf.vfs {
            let mut row = vec![
                format!("vf{} {}", vf.index, vf.device.address),
                pf_name.clone(),
            ];
            match vf.stats.flatten() {
                Some(c) => row.extend(c.values().map(|v| v.to_string())),
                None => row.extend(std::iter::repeat_n(DASH.to_string(), 8)),
            }
            t.add_row(row);
        }
    }
    format!("{t}\n")
}

/// The STATUS column: the verdict, with the first 8 characters of the VIF id when allocated.
fn status(vf: &VfEntry) -> String {
    let vif = vf
        .allocation
        .as_ref()
        .and_then(|a| a["vif_id"].as_str())
        .map(|s| s.chars().take(8).collect::<String>());
    match (vf.status.state, vif) {
        ("allocated", Some(v)) => format!("alloc {v}"),
        ("quarantined", Some(v)) => format!("quarantined {v}"),
        ("in_use", _) => "in use".into(),
        (s, _) => s.into(),
    }
}
