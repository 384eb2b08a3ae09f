//! Eswitch mode changes in the order the vendor driver needs (hwdb `eswitch_order`, keyed
//! by the devlink instance's driver): ice changes mode only with no VFs (numvfs 0, mode,
//! numvfs back and wait for the VFs), mlx5 only with no VF bound (unbind, mode, rebind),
//! netdevsim and unknown drivers have no constraint. One function ([`change_mode`]) does it
//! for `vifman eswitch PF MODE` and for `vifman apply`'s `eswitch` step; the planning part
//! ([`plan_mode_change`]) is pure, so the order is tested without a kernel.

use std::time::Duration;

use serde::Serialize;

use crate::devlink::{EncapMode, EswitchMode, EswitchSet, InlineMode};
use crate::host::{EswitchInfo, Host, HostError, PfId};
use crate::hwdb::{self, EswitchOrder};
use crate::types::PciAddress;
#[cfg(test)]
use steps::inverse;
use steps::{pf_facts, run_step, undo, vf_facts};

/// How long re-created VFs may take to appear and bind (as `vifman numvfs`).
pub(crate) const ESWITCH_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum EswitchError {
    #[error(
        "{pf} has no devlink eswitch (no devlink instance, or its driver has no eswitch mode)"
    )]
    NoEswitch { pf: String },
    #[error("refusing eswitch mode {mode} on {pf} ({devlink}): rate node(s) {nodes} exist (the kernel refuses any mode set with EBUSY); delete them first")]
    RateNodes {
        pf: String,
        devlink: String,
        mode: EswitchMode,
        nodes: String,
    },
    #[error("refusing eswitch mode {mode} on {pf}: {held}; a mode change {effect}; release them first (or override)")]
    Allocated {
        pf: String,
        mode: EswitchMode,
        held: String,
        effect: &'static str,
    },
    /// `change`: "eswitch PF -> MODE (hwdb order O for driver D)".
    #[error("{change}: {step} failed: {cause}; {rollback}")]
    Step {
        change: String,
        step: String,
        /// Not a `#[source]`: the message carries it once.
        cause: Box<HostError>,
        rollback: String,
    },
    #[error("eswitch {pf}: set {want}, the kernel reports {now}")]
    ReadBack {
        pf: String,
        /// What was set, as `devlink` words ("mode switchdev", "inline-mode link").
        want: String,
        now: String,
    },
    #[error(transparent)]
    Host(#[from] HostError),
}

/// A VF bound to a driver, as the `vfs-unbound` rule needs it to rebind it after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundVf {
    pub index: u32,
    pub addr: PciAddress,
    pub driver: crate::types::DriverName,
    pub driver_override: Option<crate::types::DriverName>,
}

/// One step of a mode change, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum EswitchStep {
    /// `sriov_numvfs` N -> 0 (the count is restored by [`EswitchStep::RestoreVfs`]).
    RemoveVfs {
        from: u32,
    },
    Unbind {
        vf: BoundVf,
    },
    SetMode {
        from: EswitchMode,
        to: EswitchMode,
    },
    /// The inline and/or encap mode set with the eswitch mode unchanged (with a mode
    /// change they go in the [`EswitchStep::SetMode`] request).
    SetAttrs {
        #[serde(skip_serializing_if = "Option::is_none")]
        inline_mode: Option<InlineMode>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encap_mode: Option<EncapMode>,
    },
    Rebind {
        vf: BoundVf,
    },
    /// `sriov_numvfs` 0 -> N, waited for until the VFs exist (and bind, with autoprobe).
    RestoreVfs {
        to: u32,
    },
}

impl EswitchStep {
    pub fn describe(&self) -> String {
        match self {
            EswitchStep::RemoveVfs { from } => format!("sriov_numvfs {from} -> 0"),
            EswitchStep::Unbind { vf } => {
                format!("unbind VF {} ({}) from {}", vf.index, vf.addr, vf.driver)
            }
            EswitchStep::SetMode { from, to } => format!("eswitch mode {from} -> {to}"),
            EswitchStep::SetAttrs {
                inline_mode,
                encap_mode,
            } => format!(
                "eswitch {}",
                EswitchSet {
                    mode: None,
                    inline_mode: *inline_mode,
                    encap_mode: *encap_mode,
                }
            ),
            EswitchStep::Rebind { vf } => {
                format!("rebind VF {} ({}) to {}", vf.index, vf.addr, vf.driver)
            }
            EswitchStep::RestoreVfs { to } => format!("sriov_numvfs 0 -> {to}"),
        }
    }
}

/// The steps that take an eswitch from `from` to `to` under `order`, given the PF's VF count
/// and its VFs bound to a driver. Empty when already there.
pub fn plan_mode_change(
    order: EswitchOrder,
    from: EswitchMode,
    to: EswitchMode,
    numvfs: u32,
    bound: &[BoundVf],
) -> Vec<EswitchStep> {
    if from == to {
        return vec![];
    }
    let set = EswitchStep::SetMode { from, to };
    match order {
        EswitchOrder::NoVfs if numvfs > 0 => vec![
            EswitchStep::RemoveVfs { from: numvfs },
            set,
            EswitchStep::RestoreVfs { to: numvfs },
        ],
        EswitchOrder::VfsUnbound if !bound.is_empty() => {
            let mut v: Vec<_> = bound
                .iter()
                .map(|b| EswitchStep::Unbind { vf: b.clone() })
                .collect();
            v.push(set);
            v.extend(bound.iter().map(|b| EswitchStep::Rebind { vf: b.clone() }));
            v
        }
        _ => vec![set],
    }
}

/// What a mode change did.
#[derive(Debug, Clone, Serialize)]
pub struct EswitchChange {
    pub pf: String,
    pub devlink: String,
    pub driver: Option<crate::types::DriverName>,
    pub order: EswitchOrder,
    pub from: EswitchMode,
    pub to: EswitchMode,
    pub steps: Vec<EswitchStep>,
    /// The inline and encap modes read back after the change, where the driver reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_mode: Option<InlineMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encap_mode: Option<EncapMode>,
    /// VF representors with a netdev after the change, where the host reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representors: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The order rule for an eswitch: hwdb's rule for its driver (Any when unknown).
pub fn order_of(info: &EswitchInfo) -> EswitchOrder {
    info.driver
        .as_deref()
        .map(hwdb::eswitch_order)
        .unwrap_or_default()
}

/// Change the eswitch of `pf` to `to` in the order hwdb gives for its driver, read back.
/// `addr` is the PF's PCI address where it has one (the VF steps need it). A failing step
/// undoes the steps before it in reverse; the error names the step and what was undone.
/// Refusals (rate nodes) come before any change; allocations are the caller's check.
pub(crate) fn change_mode(
    host: &dyn Host,
    pf: &PfId,
    addr: Option<&PciAddress>,
    to: EswitchMode,
    timeout: Duration,
) -> Result<EswitchChange, EswitchError> {
    change(host, pf, addr, &EswitchSet::mode(to), None, timeout)
}

/// [`change_mode`] with the inline and encap modes: with a mode change they go in the mode's
/// request (as `devlink dev eswitch set DEV mode M inline-mode I` sends them), without one
/// in a request of their own; each is read back where the driver reports it. A mode or
/// attribute that already holds is not sent. `order` overrides hwdb's rule for the driver
/// (an operator who knows a driver hwdb does not, or a test making netdevsim follow ice's
/// order); None takes hwdb's.
pub(crate) fn change(
    host: &dyn Host,
    pf: &PfId,
    addr: Option<&PciAddress>,
    want: &EswitchSet,
    order: Option<EswitchOrder>,
    timeout: Duration,
) -> Result<EswitchChange, EswitchError> {
    let info = host
        .eswitch_of(pf)?
        .ok_or_else(|| EswitchError::NoEswitch { pf: pf.to_string() })?;
    change_from(host, pf, addr, info, None, want, order, timeout)
}

/// [`change`] from the eswitch (and, for a PCI PF, the scan) the caller read already:
/// `vifman eswitch` resolves the PF and checks allocations with them, and asking the kernel
/// again for the same answer would cost a devlink round (instance, eswitch, info, rate and
/// port dumps) and a sysfs walk.
#[allow(clippy::too_many_arguments)]
fn change_from(
    host: &dyn Host,
    pf: &PfId,
    addr: Option<&PciAddress>,
    info: EswitchInfo,
    scan: Option<&crate::sysfs::ScanReport>,
    want: &EswitchSet,
    order: Option<EswitchOrder>,
    timeout: Duration,
) -> Result<EswitchChange, EswitchError> {
    let _span = tracing::info_span!("eswitch_change", pf = %pf, want = %want).entered();
    let to = want.mode.unwrap_or(info.mode);
    // Attributes the driver reports as already set are not sent; unreported ones are.
    let attrs = EswitchSet {
        mode: None,
        inline_mode: want.inline_mode.filter(|m| info.inline_mode != Some(*m)),
        encap_mode: want.encap_mode.filter(|m| info.encap_mode != Some(*m)),
    };
    let hwdb_order = order_of(&info);
    let driver = info.driver.as_deref().unwrap_or("(unknown)");
    let order_label = match order {
        Some(o) if o != hwdb_order => {
            format!("order {o} as asked, instead of hwdb's {hwdb_order} for driver {driver}")
        }
        _ => format!("hwdb order {hwdb_order} for driver {driver}"),
    };
    let order = order.unwrap_or(hwdb_order);
    let mut change = EswitchChange {
        pf: pf.to_string(),
        devlink: info.devlink.clone(),
        driver: info.driver.clone(),
        order,
        from: info.mode,
        to,
        steps: vec![],
        inline_mode: info.inline_mode,
        encap_mode: info.encap_mode,
        representors: info.vf_representors,
        warnings: vec![],
    };
    if info.mode == to {
        if attrs.is_empty() {
            return Ok(change);
        }
        let step = EswitchStep::SetAttrs {
            inline_mode: attrs.inline_mode,
            encap_mode: attrs.encap_mode,
        };
        let facts = pf_facts(host, pf, addr, scan);
        run_step(host, pf, &facts, &step, &attrs, timeout).map_err(|cause| EswitchError::Step {
            change: info.devlink.clone(),
            step: step.describe(),
            cause: Box::new(cause),
            rollback: "nothing was changed before it".into(),
        })?;
        let after = host.eswitch_of(pf)?;
        read_back_attrs(pf, &attrs, after.as_ref())?;
        change.inline_mode = after.as_ref().and_then(|e| e.inline_mode);
        change.encap_mode = after.as_ref().and_then(|e| e.encap_mode);
        change.steps = vec![step];
        return Ok(change);
    }
    if !info.rate_nodes.is_empty() {
        return Err(EswitchError::RateNodes {
            pf: pf.to_string(),
            devlink: info.devlink,
            mode: to,
            nodes: info.rate_nodes.join(", "),
        });
    }
    let facts = pf_facts(host, pf, addr, scan);
    let (numvfs, bound) = vf_facts(host, addr, &facts);
    let steps = plan_mode_change(order, info.mode, to, numvfs, &bound);
    for (k, s) in steps.iter().enumerate() {
        if let Err(cause) = run_step(host, pf, &facts, s, &attrs, timeout) {
            let rollback = undo(host, pf, &facts, &steps[..k], s, &attrs, timeout);
            return Err(EswitchError::Step {
                change: format!("eswitch {pf} -> {to} ({order_label})"),
                step: s.describe(),
                cause: Box::new(cause),
                rollback,
            });
        }
    }
    let after = host.eswitch_of(pf)?;
    let now = after.as_ref().map(|e| e.mode);
    if now != Some(to) {
        return Err(EswitchError::ReadBack {
            pf: pf.to_string(),
            want: format!("mode {to}"),
            now: now
                .map(|m| m.to_string())
                .unwrap_or_else(|| "no eswitch".into()),
        });
    }
    read_back_attrs(pf, &attrs, after.as_ref())?;
    change.inline_mode = after.as_ref().and_then(|e| e.inline_mode);
    change.encap_mode = after.as_ref().and_then(|e| e.encap_mode);
    change.representors = after.and_then(|e| e.vf_representors);
    if to == EswitchMode::Switchdev {
        change.representors = wait_representors(host, pf, addr, timeout)?;
    }
    change.steps = steps;
    Ok(change)
}

/// The inline/encap modes set, against what the driver reports after: a driver that reports
/// one must report the value set (one that reports none cannot be checked, as `devlink`
/// cannot either).
fn read_back_attrs(
    pf: &PfId,
    attrs: &EswitchSet,
    after: Option<&EswitchInfo>,
) -> Result<(), EswitchError> {
    let bad = |want: String, now: String| EswitchError::ReadBack {
        pf: pf.to_string(),
        want,
        now,
    };
    if let (Some(w), Some(now)) = (attrs.inline_mode, after.and_then(|e| e.inline_mode)) {
        if w != now {
            return Err(bad(
                format!("inline-mode {w}"),
                format!("inline-mode {now}"),
            ));
        }
    }
    if let (Some(w), Some(now)) = (attrs.encap_mode, after.and_then(|e| e.encap_mode)) {
        if w != now {
            return Err(bad(format!("encap-mode {w}"), format!("encap-mode {now}")));
        }
    }
    Ok(())
}

/// In switchdev mode every VF gets a representor netdev; wait (on kernel events) until
/// the port map shows one per VF, so what runs next (a policy's knobs, an OVS plug) finds
/// them. Skipped where the host does not report representors (the simulation).
fn wait_representors(
    host: &dyn Host,
    pf: &PfId,
    addr: Option<&PciAddress>,
    timeout: Duration,
) -> Result<Option<u32>, EswitchError> {
    let n = match (pf, addr) {
        (_, Some(a)) => host.vf_count(a) as u32,
        (PfId::Netdev(nd), None) => host.vf_state_of(nd)?.map(|l| l.num_vf).unwrap_or(0),
        (PfId::Pci(_) | PfId::Handle(_), None) => 0,
    };
    let count = || {
        host.eswitch_of(pf)
            .ok()
            .flatten()
            .and_then(|e| e.vf_representors)
    };
    if n == 0 || count().is_none() {
        return Ok(count());
    }
    host.wait_until(
        &format!("{n} VF representors of {pf} in the devlink port map"),
        timeout,
        &mut || count().is_some_and(|c| c >= n),
    )?;
    Ok(count())
}

#[path = "eswitch_cmd.rs"]
mod cmd;
pub use cmd::pci_pf;

#[path = "eswitch_steps.rs"]
mod steps;

#[cfg(test)]
#[path = "eswitch_tests.rs"]
mod tests;
