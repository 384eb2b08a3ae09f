//! Carrying out a plan: step by step through the [`Host`], each waited for on kernel events
//! and read back. A failure stops everything: the failing PF's earlier steps are undone in
//! reverse, later steps are not attempted, and every step's status says which is which.

use std::time::Duration;

use super::action::Action;
use super::{Step, StepStatus};
use crate::engine::actuate::{self, Target, VfAt, VfRef};
use crate::host::{Host, HostError, SysWrite};
use crate::types::{DriverName, IfName, PciAddress};

/// How long VF creation (devices, driver binds, netdevs) may take. Big E810/mlx5 PFs create
/// 128+ VFs in several seconds on real hardware.
const NUMVFS_TIMEOUT: Duration = Duration::from_secs(120);

/// Run `steps` in order; false when one failed (statuses tell the rest).
pub(super) fn execute(host: &dyn Host, steps: &mut [Step]) -> bool {
    let mut start = 0;
    while start < steps.len() {
        let end = steps[start..]
            .iter()
            .position(|s| s.pf != steps[start].pf)
            .map_or(steps.len(), |n| start + n);
        for k in start..end {
            let _span =
                tracing::info_span!("apply_step", object = %steps[k].object, new = %steps[k].new)
                    .entered();
            match run(host, &mut steps[k].action) {
                Ok(true) => steps[k].status = StepStatus::Done,
                Ok(false) => steps[k].status = StepStatus::AlreadyDone,
                Err(e) => {
                    tracing::warn!(error = %e, "step failed; undoing this PF's earlier steps");
                    steps[k].status = StepStatus::Failed;
                    steps[k].error = Some(e.to_string());
                    for j in (start..k).rev() {
                        if steps[j].status != StepStatus::Done {
                            continue;
                        }
                        match undo(host, &steps[j].action) {
                            Ok(()) => steps[j].status = StepStatus::Undone,
                            Err(e) => {
                                steps[j].status = StepStatus::UndoFailed;
                                steps[j].error = Some(format!("undo: {e}"));
                            }
                        }
                    }
                    for s in &mut steps[k + 1..] {
                        s.status = StepStatus::NotAttempted;
                    }
                    return false;
                }
            }
        }
        start = end;
    }
    true
}

fn vf_addr(host: &dyn Host, pf: &PciAddress, index: u32) -> Result<PciAddress, HostError> {
    host.vfs_of(pf)
        .into_iter()
        .find(|(i, _)| *i == index)
        .map(|(_, a)| a)
        .ok_or_else(|| HostError::other(format!("VF {index} of {pf}"), "does not exist"))
}

/// Where a knob step's VF is: a PCI PF's VF must exist as a function (as for every knob
/// path of an allocation); a non-PCI PF's VF is a record behind its netdev, which the
/// knob's own read-back checks.
fn knob_target<'a>(
    host: &dyn Host,
    pf: &crate::host::PfId,
    pf_netdev: &'a IfName,
    vf_index: u32,
) -> Result<Box<dyn VfAt + 'a>, HostError> {
    Ok(match pf {
        crate::host::PfId::Pci(a) => Box::new(Target {
            vf: vf_addr(host, a, vf_index)?,
            pf_netdev,
            vf_index,
        }),
        _ => Box::new(VfRef {
            pf_netdev,
            vf_index,
        }),
    })
}

fn set_link(host: &dyn Host, nd: &IfName, up: bool) -> Result<bool, HostError> {
    if host.admin_up(nd) == Some(up) {
        return Ok(false);
    }
    if up {
        host.link_up(nd)?
    } else {
        host.link_down(nd)?
    }
    Ok(true)
}

fn set_mtu(host: &dyn Host, nd: &IfName, mtu: u32) -> Result<bool, HostError> {
    if host.mtu_of(nd) == Some(mtu) {
        return Ok(false);
    }
    host.set_mtu(nd, mtu)?;
    match host.mtu_of(nd) {
        Some(m) if m == mtu => Ok(true),
        other => Err(HostError::other(
            format!("{nd} mtu {mtu}"),
            format!("accepted by the kernel but reads back as {other:?}"),
        )),
    }
}

/// Write `sriov_numvfs` and wait, on uevents, until the VFs exist and (when probed) are
/// bound, with netdevs where their driver is the NIC's VF driver.
fn set_numvfs(
    host: &dyn Host,
    pf: &PciAddress,
    n: u32,
    probed: bool,
    vf_driver: Option<&DriverName>,
) -> Result<(), HostError> {
    host.write(&SysWrite::NumVfs(*pf, n))?;
    let what = if probed && n > 0 {
        format!("{n} VFs of {pf} with drivers and netdevs")
    } else {
        format!("{n} VFs of {pf}")
    };
    host.wait_until(&what, NUMVFS_TIMEOUT, &mut || {
        let vfs = host.vfs_of(pf);
        if vfs.len() != n as usize {
            return false;
        }
        !probed
            || vfs.iter().all(|(_, a)| match host.driver_of(a) {
                None => false,
                Some(d) => Some(&d) != vf_driver || !host.netdevs_of(a).is_empty(),
            })
    })
}

/// A non-PCI PF's VF count through the same engine function as `vifman numvfs` (through 0,
/// read back, a failed write rolled back to the count found); Ok(false) when it already is.
fn set_bus_count(
    host: &dyn Host,
    pf: &crate::engine::vfcount::VfCountPf,
    to: u32,
) -> Result<bool, HostError> {
    use crate::engine::{vfcount, EngineError};
    let Some(now) = pf.count(host) else {
        return Err(HostError::other(
            format!("sriov_numvfs of {pf}"),
            "unreadable",
        ));
    };
    if now == to {
        return Ok(false);
    }
    match vfcount::change_count(host, pf, now, to, NUMVFS_TIMEOUT) {
        Ok(()) => Ok(true),
        Err(EngineError::Actuation {
            step,
            cause,
            rollback,
            ..
        }) => Err(HostError::other(step, format!("{cause}; {rollback}"))),
        Err(e) => Err(HostError::other(
            format!("sriov_numvfs {now} -> {to} on {pf}"),
            e.to_string(),
        )),
    }
}

/// The eswitch mode through the same engine function as `vifman eswitch PF MODE`, in the
/// hwdb order of the PF's driver (with VFs present it unbinds or re-creates them itself).
fn set_eswitch(
    host: &dyn Host,
    pf: &crate::host::PfId,
    to: crate::devlink::EswitchMode,
) -> Result<bool, HostError> {
    use crate::engine::eswitch::{change_mode, EswitchError};
    let addr = match pf {
        crate::host::PfId::Pci(a) => Some(a),
        _ => None,
    };
    match change_mode(host, pf, addr, to, NUMVFS_TIMEOUT) {
        Ok(c) => Ok(!c.steps.is_empty()),
        Err(EswitchError::Host(e)) => Err(e),
        Err(e) => Err(HostError::other(
            format!("eswitch {pf} {to}"),
            e.to_string(),
        )),
    }
}

/// Do one step; Ok(false) when the kernel already showed the new value.
fn run(host: &dyn Host, a: &mut Action) -> Result<bool, HostError> {
    match a {
        Action::Up(nd) => set_link(host, nd, true),
        Action::Down(nd) => set_link(host, nd, false),
        Action::Mtu { netdev, to, .. } => set_mtu(host, netdev, *to),
        Action::Autoprobe { pf, to, .. } => {
            host.write(&SysWrite::Autoprobe(*pf, *to))?;
            Ok(true)
        }
        Action::NumVfs {
            pf,
            to,
            probed,
            vf_driver,
            ..
        } => {
            set_numvfs(host, pf, *to, *probed, vf_driver.as_ref())?;
            Ok(true)
        }
        Action::Knob {
            pf,
            pf_netdev,
            vf_index,
            to,
            fn_state_from,
            ..
        } => {
            let t = knob_target(host, pf, pf_netdev, *vf_index)?;
            let t = t.as_ref();
            if to.holds_in(&actuate::read_vf(host, t)?) {
                return Ok(false);
            }
            let mut seen = None;
            if to.kind() == crate::host::KnobKind::Mac {
                let s = crate::engine::portfn::look(host, pf_netdev, *vf_index)?;
                *fn_state_from = s.state();
                seen = Some(s);
            }
            actuate::set_knob_seen(host, t, to, &mut seen)?;
            Ok(true)
        }
        Action::Reload {
            pf,
            vf_index,
            driver,
        } => {
            let vf = vf_addr(host, pf, *vf_index)?;
            host.reprobe(&vf, driver)?;
            Ok(true)
        }
        Action::Eswitch { pf, to, .. } => set_eswitch(host, pf, *to),
        Action::BusNumVfs { pf, to, .. } => set_bus_count(host, pf, *to),
        Action::RateNode { pf, name, want, .. } => super::rate_step::run(host, pf, name, want),
        Action::RateParent {
            pf, vf_index, to, ..
        } => super::rate_step::run_parent(host, pf, *vf_index, to),
        Action::Driver {
            pf,
            vf_index,
            to,
            override_to,
            ..
        } => {
            let vf = vf_addr(host, pf, *vf_index)?;
            if host.driver_of(&vf) == *to && host.driver_override_of(&vf) == *override_to {
                return Ok(false);
            }
            actuate::rebind(host, &vf, to.as_ref(), override_to.as_ref())?;
            Ok(true)
        }
    }
}

/// Put back what a done step changed.
fn undo(host: &dyn Host, a: &Action) -> Result<(), HostError> {
    match a {
        Action::Up(nd) => set_link(host, nd, false).map(drop),
        Action::Down(nd) => set_link(host, nd, true).map(drop),
        Action::Mtu { netdev, from, .. } => match from {
            Some(m) => set_mtu(host, netdev, *m).map(drop),
            None => Err(HostError::other(
                format!("{netdev} mtu"),
                "the original MTU was unknown",
            )),
        },
        Action::Autoprobe { pf, from, .. } => host.write(&SysWrite::Autoprobe(*pf, *from)),
        Action::NumVfs { pf, from, to, .. } => {
            if *to != 0 {
                set_numvfs(host, pf, 0, false, None)?;
            }
            if *from != 0 {
                set_numvfs(host, pf, *from, false, None)?;
            }
            Ok(())
        }
        Action::Knob {
            pf,
            pf_netdev,
            vf_index,
            from,
            fn_state_from,
            ..
        } => {
            let t = knob_target(host, pf, pf_netdev, *vf_index)?;
            let t = t.as_ref();
            if let Some(orig) = from {
                actuate::set_knob(host, t, orig)?;
            }
            match fn_state_from {
                Some(s) => crate::engine::portfn::restore_state(host, t, *s),
                None => Ok(()),
            }
        }
        Action::Reload { .. } => Ok(()),
        Action::Eswitch { pf, from, .. } => set_eswitch(host, pf, *from).map(drop),
        Action::BusNumVfs { pf, from, .. } => set_bus_count(host, pf, *from).map(drop),
        Action::RateNode {
            pf, name, before, ..
        } => super::rate_step::undo(host, pf, name, before.as_ref()),
        Action::RateParent {
            pf, vf_index, from, ..
        } => super::rate_step::undo_parent(host, pf, *vf_index, from.as_deref()),
        Action::Driver {
            pf,
            vf_index,
            from,
            from_override,
            ..
        } => {
            let vf = vf_addr(host, pf, *vf_index)?;
            actuate::rebind(host, &vf, from.as_ref(), from_override.as_ref())
        }
    }
}
