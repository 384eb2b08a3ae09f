//! The steps of an eswitch mode change as the kernel sees them: what the PF's VFs are, one
//! step carried out, the undo of a done step, and the undo of a failed change.

use std::time::Duration;

use super::super::actuate;
use super::super::vfcount::VfCountPf;
use super::{BoundVf, EswitchStep};
use crate::devlink::EswitchSet;
use crate::host::{Host, HostError, PfId, SysWrite};
use crate::hwdb;
use crate::types::PciAddress;

/// The PF's VF count and bound VFs, as the plan needs them: a non-PCI PF (netdevsim) has
/// a count (its `sriov_numvfs`) but no VF devices to bind.
pub(super) fn vf_facts(
    host: &dyn Host,
    addr: Option<&PciAddress>,
    facts: &PfFacts,
) -> (u32, Vec<BoundVf>) {
    let Some(a) = addr else {
        let n = facts
            .count
            .as_ref()
            .and_then(|c| c.count(host))
            .unwrap_or(0);
        return (n, vec![]);
    };
    let vfs = host.vfs_of(a);
    let bound = vfs
        .iter()
        .filter_map(|(i, v)| {
            Some(BoundVf {
                index: *i,
                addr: *v,
                driver: host.driver_of(v)?,
                driver_override: host.driver_override_of(v),
            })
        })
        .collect();
    (vfs.len() as u32, bound)
}

/// What the VF steps need to know about the PF, read once before the first step: how its
/// VF count is changed and waited for (PCI: VF devices that bind; non-PCI: the bus device's
/// `sriov_numvfs` and the PF netdev's VF records). None: the PF has no VF count vifman can
/// change.
pub(super) struct PfFacts {
    pub(super) count: Option<VfCountPf>,
}

/// `scan`: the host's scan where the caller has one (it is read only when not).
pub(super) fn pf_facts(
    host: &dyn Host,
    pf: &PfId,
    addr: Option<&PciAddress>,
    scan: Option<&crate::sysfs::ScanReport>,
) -> PfFacts {
    let count = match (addr, pf) {
        (Some(a), _) => {
            let own;
            let scan = match scan {
                Some(s) => s,
                None => {
                    own = host.scan();
                    &own
                }
            };
            let dev = scan.device(a);
            Some(VfCountPf::Pci {
                addr: *a,
                model: dev.and_then(|d| hwdb::by_pf(d.ids.vendor?, d.ids.device?)),
                autoprobe: dev
                    .and_then(|d| d.sriov.as_ref()?.drivers_autoprobe)
                    .unwrap_or(true),
            })
        }
        (None, PfId::Netdev(n)) => host
            .bus_device_of(n)
            .and_then(|d| host.bus_sriov(&d))
            .map(|s| VfCountPf::bus(&s)),
        (None, PfId::Handle(h)) => crate::types::BusDevice::new(&h.bus, &h.dev)
            .ok()
            .and_then(|d| host.bus_sriov(&d))
            .map(|s| VfCountPf::bus(&s)),
        (None, PfId::Pci(_)) => None,
    };
    PfFacts { count }
}

/// `attrs`: the inline/encap modes that go with a [`EswitchStep::SetMode`] (none for an
/// undo).
pub(super) fn run_step(
    host: &dyn Host,
    pf: &PfId,
    facts: &PfFacts,
    s: &EswitchStep,
    attrs: &EswitchSet,
    timeout: Duration,
) -> Result<(), HostError> {
    let _span = tracing::info_span!("eswitch_step", pf = %pf, step = %s.describe()).entered();
    let count = || {
        facts
            .count
            .as_ref()
            .ok_or_else(|| HostError::other(s.describe(), "the PF has no sriov_numvfs"))
    };
    match s {
        EswitchStep::RemoveVfs { .. } => count()?.set(host, 0, timeout),
        EswitchStep::RestoreVfs { to } => count()?.set(host, *to, timeout),
        EswitchStep::Unbind { vf } => host.write(&SysWrite::Unbind(vf.addr, vf.driver.clone())),
        EswitchStep::Rebind { vf } => actuate::rebind(
            host,
            &vf.addr,
            Some(&vf.driver),
            vf.driver_override.as_ref(),
        ),
        EswitchStep::SetMode { to, .. } => host.set_eswitch(
            pf,
            &EswitchSet {
                mode: Some(*to),
                ..*attrs
            },
        ),
        EswitchStep::SetAttrs {
            inline_mode,
            encap_mode,
        } => host.set_eswitch(
            pf,
            &EswitchSet {
                mode: None,
                inline_mode: *inline_mode,
                encap_mode: *encap_mode,
            },
        ),
    }
}

/// The undo of a done step (None: nothing to undo).
pub(super) fn inverse(s: &EswitchStep) -> Option<EswitchStep> {
    match s {
        EswitchStep::RemoveVfs { from } => Some(EswitchStep::RestoreVfs { to: *from }),
        EswitchStep::Unbind { vf } => Some(EswitchStep::Rebind { vf: vf.clone() }),
        EswitchStep::SetMode { from, to } => Some(EswitchStep::SetMode {
            from: *to,
            to: *from,
        }),
        EswitchStep::Rebind { .. }
        | EswitchStep::RestoreVfs { .. }
        | EswitchStep::SetAttrs { .. } => None,
    }
}

/// Undo a failed change: the failed step `s` itself where the kernel left part of it in
/// place, then the `done` steps in reverse. Says what was undone and what was not.
pub(super) fn undo(
    host: &dyn Host,
    pf: &PfId,
    facts: &PfFacts,
    done: &[EswitchStep],
    s: &EswitchStep,
    attrs: &EswitchSet,
    timeout: Duration,
) -> String {
    let mut undone = vec![];
    let mut failed = vec![];
    // One eswitch set is not atomic in the kernel: it sets the mode, then refuses
    // an inline/encap mode the driver lacks (netdevsim: EOPNOTSUPP) with the new
    // mode in place. Put the mode back first.
    if let EswitchStep::SetMode { from, to } = s {
        let now = host.eswitch_of(pf).ok().flatten().map(|e| e.mode);
        if !attrs.is_empty() && now == Some(*to) {
            let inv = EswitchStep::SetMode {
                from: *to,
                to: *from,
            };
            let what = format!(
                "{} (the kernel had applied the mode before refusing {attrs})",
                inv.describe()
            );
            match run_step(host, pf, facts, &inv, &EswitchSet::default(), timeout) {
                Ok(()) => undone.push(what),
                Err(e) => failed.push(format!("{what}: {e}")),
            }
        }
    }
    // A re-creation that failed half way (a timeout with some VFs made) leaves VFs
    // the mode cannot change with (no-vfs order): clear them before undoing the mode.
    if let (EswitchStep::RestoreVfs { .. }, Some(c)) = (s, facts.count.as_ref()) {
        if c.count(host).is_some_and(|n| n > 0) {
            let what = "sriov_numvfs back to 0 (the failed re-creation left VFs)";
            match c.set(host, 0, timeout) {
                Ok(()) => undone.push(what.to_string()),
                Err(e) => failed.push(format!("{what}: {e}")),
            }
        }
    }
    for d in done.iter().rev() {
        let Some(inv) = inverse(d) else { continue };
        match run_step(host, pf, facts, &inv, &EswitchSet::default(), timeout) {
            Ok(()) => undone.push(inv.describe()),
            Err(e) => failed.push(format!("{}: {e}", inv.describe())),
        }
    }
    // A half-done no-vfs change must not leave the PF without its VFs.
    match (undone.is_empty(), failed.is_empty()) {
        (true, true) => "nothing was changed before it".to_string(),
        (_, true) => format!("undone: {}", undone.join(", ")),
        _ => format!(
            "undone: {}; NOT undone: {}",
            if undone.is_empty() {
                "-".into()
            } else {
                undone.join(", ")
            },
            failed.join("; ")
        ),
    }
}
