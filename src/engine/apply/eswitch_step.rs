//! The plan's eswitch step: the policy's `eswitch` mode against what devlink reports, as
//! one step carried out by `engine::eswitch::change_mode` (the hwdb order of the driver).
//! Where it goes among the PF's other steps is `plan.rs`'s business.

use super::action::{describe_alloc, step, Action, Planned};
use super::{ApplyError, Step};
use crate::config::policy::PfPolicy;
use crate::host::PfId;
use crate::store::Allocation;

/// The eswitch step of a PF whose policy names a mode other than the one devlink reports;
/// none when it matches, or for `legacy` on a PF without an eswitch (legacy is all it has;
/// `switchdev` there is refused by resolve). VFs an allocation holds make it a conflict
/// when the plan does not already re-create them (the step unbinds or re-creates VFs).
pub(super) fn plan_eswitch(
    host: &dyn crate::host::Host,
    policy: &PfPolicy,
    pf: &PfId,
    allocs: &[&Allocation],
    recreate: bool,
    out: &mut Planned,
) -> Result<Option<(Step, crate::hwdb::EswitchOrder)>, ApplyError> {
    let Some(want) = policy.eswitch.map(|e| e.mode()) else {
        return Ok(None);
    };
    let Some(info) = host.eswitch_of(pf)? else {
        return Ok(None);
    };
    if info.mode == want {
        return Ok(None);
    }
    let order = crate::engine::eswitch::order_of(&info);
    if !recreate {
        for a in allocs {
            out.conflicts.push(format!(
                "{}: the policy changes the eswitch mode {} -> {want} (hwdb order {order})",
                describe_alloc(a),
                info.mode
            ));
        }
    }
    let rule = format!(
        "hwdb eswitch_order {order} ({}): {}",
        info.driver.as_deref().unwrap_or("driver unknown"),
        match order {
            crate::hwdb::EswitchOrder::NoVfs =>
                "the mode changes only with no VFs (numvfs 0, mode, numvfs back)",
            crate::hwdb::EswitchOrder::VfsUnbound =>
                "the mode changes only with no VF bound (unbind, mode, rebind)",
            crate::hwdb::EswitchOrder::Any => "no constraint",
        }
    );
    Ok(Some((
        step(
            pf,
            format!("devlink {} eswitch mode", info.devlink),
            info.mode.to_string(),
            want.to_string(),
            Some(&rule),
            Action::Eswitch {
                pf: pf.clone(),
                from: info.mode,
                to: want,
            },
        ),
        order,
    )))
}
