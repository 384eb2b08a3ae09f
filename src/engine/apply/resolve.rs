//! Which PF each `[[pf]]` entry selects, and every check that needs the host, all before
//! anything is touched: a selector matching nothing, a PF chosen twice, numvfs above
//! sriov_totalvfs, the PF carrying the default route, a knob the model refuses.

use super::resolve_bus::BusPf;
use super::{ApplyError, Engine};
use crate::config::policy::{PfPolicy, Policy, VfDriver};
use crate::host::Knob;
use crate::hwdb::{self, NicModel};
use crate::sysfs::{PciDevice, ScanReport};
use crate::types::{IfName, PciAddress};

/// A PF and the entry that selected it.
pub(super) struct Resolved<'p> {
    pub policy: &'p PfPolicy,
    pub pf: PciAddress,
    /// The PF's own netdev (not a representor).
    pub netdev: Option<IfName>,
    pub serial: Option<String>,
    pub model: Option<&'static NicModel>,
}

fn uplink(scan: &ScanReport, d: &PciDevice) -> Option<IfName> {
    d.netdevs
        .iter()
        .find(|n| !scan.representors.iter().any(|r| &r.netdev == *n))
        .cloned()
}

/// The PCI PFs selected, the non-PCI PFs selected (devlink steps only), and warnings.
pub(super) type Selection<'p> = (Vec<Resolved<'p>>, Vec<BusPf<'p>>, Vec<String>);

pub(super) fn resolve<'p>(
    engine: &Engine,
    scan: &ScanReport,
    policy: &'p Policy,
    strict: bool,
) -> Result<Selection<'p>, ApplyError> {
    let host = engine.host;
    let mut bus: Vec<BusPf<'p>> = vec![];
    let mut errors = vec![];
    let mut warnings = vec![];
    let mut out: Vec<Resolved> = vec![];
    let serials: Vec<(PciAddress, Option<String>)> = scan
        .physical_functions()
        .map(|d| (d.address, host.device_serial(&d.address)))
        .collect();
    let default_dev = host.default_route_dev();
    for p in &policy.pfs {
        let here = |key: &str| policy.locate(p, key);
        let s = &p.select;
        let mut hits = vec![];
        for d in scan.physical_functions() {
            let serial = serials
                .iter()
                .find(|(a, _)| *a == d.address)
                .and_then(|(_, s)| s.clone());
            let ok = s.address.is_none_or(|a| a == d.address)
                && s.netdev.as_ref().is_none_or(|n| d.netdevs.contains(n))
                && s.device
                    .is_none_or(|(v, dv)| d.ids.vendor == Some(v) && d.ids.device == Some(dv))
                && s.serial.as_ref().is_none_or(|want| {
                    serial
                        .as_ref()
                        .is_some_and(|have| have.eq_ignore_ascii_case(want))
                });
            if ok {
                hits.push((d, serial));
            }
        }
        if hits.is_empty() {
            match super::resolve_bus::resolve_bus_pf(engine, policy, p) {
                Some(Ok(b)) => {
                    bus.push(b);
                    continue;
                }
                Some(Err(refused)) => {
                    errors.extend(refused);
                    continue;
                }
                None => {}
            }
            let mut msg = format!(
                "{}: {} matches no SR-IOV physical function on this host",
                here("").trim_end_matches('.'),
                s.describe()
            );
            if s.serial.is_some() && serials.iter().all(|(_, s)| s.is_none()) {
                msg.push_str(" (no PF here exposes a serial: no PCIe DSN capability and no VPD SN, or config space is unreadable without root)");
            }
            if strict {
                errors.push(msg);
            } else {
                warnings.push(msg);
            }
            continue;
        }
        let explicit_mac = p
            .vfs
            .iter()
            .any(|v| matches!(v.mac, Some(crate::config::policy::MacPolicy::Explicit(_))));
        if explicit_mac && hits.len() > 1 {
            errors.push(format!(
                "{}: an explicit MAC, but the selector matches {} PFs ({}); select one PF",
                here("vf"),
                hits.len(),
                hits.iter()
                    .map(|(d, _)| d.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (d, serial) in hits {
            if let Some(prev) = out.iter().find(|r| r.pf == d.address) {
                errors.push(format!(
                    "{}: {} is already selected by {}; one PF, one entry",
                    here("").trim_end_matches('.'),
                    d.address,
                    policy.locate(prev.policy, "").trim_end_matches('.')
                ));
                continue;
            }
            let netdev = uplink(scan, d);
            let model = hwdb::by_pf(d.ids.vendor.unwrap_or(0), d.ids.device.unwrap_or(0));
            check_pf(
                engine,
                policy,
                p,
                d,
                netdev.as_ref(),
                model,
                default_dev.as_deref(),
                &mut errors,
            );
            out.push(Resolved {
                policy: p,
                pf: d.address,
                netdev,
                serial,
                model,
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApplyError::Invalid(errors));
    }
    Ok((out, bus, warnings))
}

#[allow(clippy::too_many_arguments)]
fn check_pf(
    engine: &Engine,
    policy: &Policy,
    p: &PfPolicy,
    d: &PciDevice,
    netdev: Option<&IfName>,
    model: Option<&NicModel>,
    default_dev: Option<&str>,
    errors: &mut Vec<String>,
) {
    let here = |key: &str| policy.locate(p, key);
    let a = d.address;
    if let (Some(nd), Some(dr)) = (netdev, default_dev) {
        if nd.as_str() == dr {
            errors.push(format!(
                "{}: {a} ({nd}) carries the default route; vifman will not reconfigure the host's uplink",
                here("").trim_end_matches('.')
            ));
        }
    }
    let excluded = engine
        .config
        .exclude
        .iter()
        .any(|x| x == &a.to_string() || netdev.is_some_and(|n| n.as_str() == x));
    if excluded {
        errors.push(format!(
            "{}: {a} is in the config's `exclude` list",
            here("").trim_end_matches('.')
        ));
    }
    let sriov = d.sriov.as_ref().expect("physical functions have sriov");
    if let Some(n) = p.numvfs {
        match sriov.total_vfs {
            Some(t) if n > t => errors.push(format!(
                "{}: {n} is above sriov_totalvfs of {a} ({t})",
                here("numvfs")
            )),
            None => errors.push(format!(
                "{}: sriov_totalvfs of {a} is unreadable; refusing to change its VF count",
                here("numvfs")
            )),
            _ => {}
        }
        if sriov.num_vfs.is_none() {
            errors.push(format!(
                "{}: sriov_numvfs of {a} is unreadable; refusing to change its VF count",
                here("numvfs")
            ));
        }
        if n > 0 && p.up == Some(false) && model.is_some_and(|m| m.quirks.numvfs_needs_pf_up) {
            errors.push(format!(
                "{}: {} creates VFs only while the PF is up (hwdb numvfs_needs_pf_up); up = false contradicts numvfs = {n}",
                here("up"),
                model.map(|m| m.name.as_str()).unwrap_or("this model")
            ));
        }
    }
    if (p.mtu.is_some() || p.up.is_some()) && netdev.is_none() {
        errors.push(format!(
            "{}: {a} has no netdev to set mtu/up on",
            here(if p.mtu.is_some() { "mtu" } else { "up" })
        ));
    }
    if p.eswitch == Some(crate::config::policy::Eswitch::Switchdev) {
        match engine.host.eswitch_of(&crate::host::PfId::Pci(a)) {
            Ok(Some(_)) => {}
            Ok(None) => errors.push(format!(
                "{}: {a} has no devlink eswitch ({}); it cannot be put in switchdev mode",
                here("eswitch"),
                match model {
                    Some(m) if !m.caps.switchdev => format!("hwdb: {} has no switchdev", m.name),
                    _ => "no devlink instance with an eswitch".to_string(),
                }
            )),
            Err(e) => errors.push(format!("{}: {a}: {e}", here("eswitch"))),
        }
    }
    if !p.rate_nodes.is_empty() {
        // Nodes are created in switchdev mode only (netdevsim and mlx5 refuse them in
        // legacy): the PF must be there already or be put there by this policy.
        match engine.host.eswitch_of(&crate::host::PfId::Pci(a)) {
            Ok(Some(e))
                if e.mode == crate::devlink::EswitchMode::Switchdev
                    || p.eswitch == Some(crate::config::policy::Eswitch::Switchdev) => {}
            Ok(Some(e)) => errors.push(format!(
                "{}: {a} ({}) is in {} mode and rate nodes exist in switchdev mode only; add eswitch = \"switchdev\"",
                here("rate_nodes[0]"),
                e.devlink,
                e.mode
            )),
            Ok(None) => errors.push(format!(
                "{}: {a} has no devlink eswitch, so no rate nodes",
                here("rate_nodes[0]")
            )),
            Err(e) => errors.push(format!("{}: {a}: {e}", here("rate_nodes[0]"))),
        }
    }
    let knob_vfs = p.vfs.iter().any(|v| {
        v.mac.is_some()
            || v.spoofchk.is_some()
            || v.trust.is_some()
            || v.link_state.is_some()
            || v.min_tx_rate.is_some()
            || v.max_tx_rate.is_some()
    });
    if knob_vfs && netdev.is_none() {
        errors.push(format!(
            "{}: {a} has no netdev, so its VFs cannot be configured (RTM_SETLINK goes to the PF netdev)",
            here("vf")
        ));
    }
    // Without `numvfs` (checked against its ranges when parsed) the entries apply to the VFs
    // the PF has: one naming a VF beyond them (`vfs = 10` on an 8-VF PF, a typo) would
    // otherwise do nothing and report the host in sync. A PF without VFs yet is left to
    // whatever creates them.
    let count = sriov.num_vfs.unwrap_or(0);
    for (j, v) in p.vfs.iter().enumerate() {
        let last = v.ranges.iter().map(|(_, hi)| *hi).max();
        if let Some(hi) = last.filter(|hi| p.numvfs.is_none() && count > 0 && *hi >= count) {
            errors.push(format!(
                "{}: VF {hi} does not exist: {a} has {count} VFs and the policy sets no numvfs",
                here(&format!("vf[{j}].vfs")),
            ));
        }
        if v.driver == Some(VfDriver::Kernel) && model.is_none() {
            errors.push(format!(
                "{}: {a} ({:04x}:{:04x}) is not in vifman's hwdb, so its VF kernel driver is unknown; use \"vfio-pci\" or \"none\"",
                here(&format!("vf[{j}].driver")),
                d.ids.vendor.unwrap_or(0),
                d.ids.device.unwrap_or(0)
            ));
        }
        let Some(m) = model else { continue };
        let mut knobs = vec![];
        if let Some(on) = v.spoofchk {
            knobs.push(("spoofchk", Knob::Spoofchk { on }));
        }
        if let Some(on) = v.trust {
            knobs.push(("trust", Knob::Trust { on }));
        }
        if let Some(state) = v.link_state {
            knobs.push(("link_state", Knob::LinkState { state }));
        }
        if v.min_tx_rate.is_some() || v.max_tx_rate.is_some() {
            knobs.push((
                if v.min_tx_rate.unwrap_or(0) > 0 {
                    "min_tx_rate"
                } else {
                    "max_tx_rate"
                },
                Knob::Rate {
                    min_mbps: v.min_tx_rate.unwrap_or(0),
                    max_mbps: v.max_tx_rate.unwrap_or(0),
                },
            ));
        }
        for (key, k) in knobs {
            if let Some(r) = crate::host::refusal(m, &k) {
                errors.push(format!(
                    "{}: {} cannot set {} (per hwdb; {})",
                    here(&format!("vf[{j}].{key}")),
                    m.name,
                    r.knob,
                    r.hint
                ));
            }
        }
    }
}
