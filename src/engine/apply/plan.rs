//! The plan: for each selected PF, the steps from what the host shows to what the policy
//! says, in the order the hardware needs. The order comes from rules and hwdb data, never
//! from per-vendor code branches:
//!
//! 1. PF up first where the model needs it: `numvfs_needs_pf_up` (bnxt_en refuses VF
//!    creation on a down PF) or `pf_must_be_up` (igb: VF settings travel over the mailbox);
//! 2. PF MTU before anything about VFs (VF MTUs are bounded by the PF's);
//! 3. `sriov_numvfs` to 0 before any other change of a non-zero count (EBUSY otherwise);
//! 4. `sriov_drivers_autoprobe` off before creating VFs destined for vfio-pci or no driver,
//!    so no VF is first grabbed by its netdev driver (and set to its final value at the end);
//! 5. VF knobs in the kernel's IFLA_VF order (MAC first, trust last);
//! 6. a VF driver reload where the model applies a PF-set MAC only on rebind
//!    (`vf_reload_after_mac`), and every VF driver (re)bind after the MACs;
//! 7. the eswitch mode where no VF is in its way: after `sriov_numvfs` 0 and before VFs are
//!    created when the plan re-creates them, else before the VF knobs, its step doing the
//!    driver's hwdb `eswitch_order` itself (ice: numvfs 0 and back; mlx5: unbind, rebind);
//! 8. devlink rate nodes (`[[pf.rate_nodes]]`, file order) after the eswitch mode and before
//!    the VF knobs.

use super::action::{describe_alloc, opt, predicted_vf, step, Action, Planned};
use super::resolve::Resolved;
use super::{ApplyError, Engine};
use crate::config::policy::{MacPolicy, Policy, VfDriver};
use crate::host::PfId;
use crate::host::{Knob, KnobKind};
use crate::netlink::VfState;
use crate::store::{Allocation, Phase, PolicyVf, StoreState};
use crate::sysfs::ScanReport;
use crate::types::{DriverName, PciAddress};

/// A VF as it is now, or as it will be right after the plan creates it.
struct VfNow {
    addr: Option<PciAddress>,
    state: VfState,
    driver: Option<DriverName>,
    driver_override: Option<DriverName>,
}

pub(super) fn plan(
    engine: &Engine,
    scan: &ScanReport,
    policy: &Policy,
    resolved: &[Resolved],
    st: &StoreState,
) -> Result<Planned, ApplyError> {
    let _ = policy;
    let mut out = Planned {
        steps: vec![],
        deferred: vec![],
        conflicts: vec![],
        held_whole: vec![],
        policy_vfs: vec![],
    };
    for r in resolved {
        plan_pf(engine, scan, r, st, &mut out)?;
    }
    Ok(out)
}

fn plan_pf(
    engine: &Engine,
    scan: &ScanReport,
    r: &Resolved,
    st: &StoreState,
    out: &mut Planned,
) -> Result<(), ApplyError> {
    let host = engine.host;
    let p = r.policy;
    let pf = r.pf;
    let dev = scan.device(&pf).expect("resolved from this scan");
    let sriov = dev.sriov.as_ref().expect("resolved PFs have sriov");
    let model = r.model;
    let cur = sriov.num_vfs.unwrap_or(0);
    let want = p.numvfs.unwrap_or(cur);
    let recreate = want != cur;
    let creating = recreate && want > 0;
    // A PF handed to a guest whole is the guest's: no step touches it (its netdev is gone
    // anyway while it sits on vfio-pci), and --force does not change that.
    if let Some(w) = st.whole_holder(&pf) {
        let msg = format!(
            "{pf}: passed through whole (allocation {}); its policy (sriov_numvfs {cur} -> {want}, ...) waits for the release",
            w.id
        );
        if recreate {
            out.held_whole.push(msg.clone());
        }
        out.deferred.push(msg);
        return Ok(());
    }
    let admin_up = r
        .netdev
        .as_ref()
        .and_then(|n| host.admin_up(n))
        .unwrap_or(false);
    let cur_ap = sriov.drivers_autoprobe.unwrap_or(true);
    let final_ap = p.drivers_autoprobe.unwrap_or(cur_ap);
    let allocs: Vec<&Allocation> = st
        .allocations
        .iter()
        .filter(|a| a.pf == pf && a.phase != Phase::Lost)
        .collect();
    if recreate && cur > 0 {
        for a in allocs.iter().filter(|a| a.vf_index < cur) {
            out.conflicts.push(format!(
                "{}: sriov_numvfs {cur} -> {want} removes it",
                describe_alloc(a)
            ));
        }
    }
    let wants_off = creating
        && (0..want).any(|i| {
            matches!(
                p.for_vf(i).and_then(|v| v.driver),
                Some(VfDriver::VfioPci | VfDriver::None)
            )
        });
    let create_ap = if creating && wants_off {
        false
    } else {
        final_ap
    };
    let vf_driver = model.map(|m| m.vf_driver.clone());

    let (eswitch, order) = match super::eswitch_step::plan_eswitch(
        host,
        r.policy,
        &PfId::Pci(pf),
        &allocs,
        recreate,
        out,
    )? {
        Some((s, o)) => (Some(s), Some(o)),
        None => (None, None),
    };
    let rate_nodes =
        super::rate_step::plan_rate_nodes(host, r.policy, &PfId::Pci(pf), eswitch.is_some())?;
    // An eswitch step under the no-vfs rule re-creates the VFs itself: the knobs after it
    // meet fresh VFs, whatever the old ones showed.
    let fresh = recreate || (cur > 0 && order == Some(crate::hwdb::EswitchOrder::NoVfs));

    // The VFs as they are, or as creation leaves them.
    let mut vfs: Vec<VfNow> = Vec::with_capacity(want as usize);
    if fresh {
        for i in 0..want {
            vfs.push(VfNow {
                addr: predicted_vf(&pf, sriov, i),
                state: crate::netlink::VfState::unconfigured(i),
                driver: if create_ap { vf_driver.clone() } else { None },
                driver_override: None,
            });
        }
    } else if want > 0 {
        let link = match &r.netdev {
            Some(n) => host.vf_state_of(n)?,
            None => None,
        };
        for i in 0..want {
            let addr = sriov.vfs.iter().find(|(n, _)| *n == i).map(|(_, a)| *a);
            let d = addr.and_then(|a| scan.device(&a));
            vfs.push(VfNow {
                addr,
                state: link
                    .as_ref()
                    .and_then(|l| l.vfs.iter().find(|s| s.vf == i).cloned())
                    .unwrap_or_else(|| crate::netlink::VfState::unconfigured(i)),
                driver: d.and_then(|d| d.driver.clone()),
                driver_override: d.and_then(|d| d.driver_override.clone()),
            });
        }
    }

    let leaf_parents = super::rate_step::plan_leaf_parents(
        host,
        r.policy,
        &PfId::Pci(pf),
        want,
        fresh || eswitch.is_some(),
        &allocs,
        out,
    )?;
    let mut knobs = vec![];
    let mut reloads = vec![];
    let mut drivers = vec![];
    let key = r.serial.clone().unwrap_or_else(|| format!("pci:{pf}"));
    for (i, now) in vfs.iter().enumerate() {
        let i = i as u32;
        let mut vp = p.for_vf(i).unwrap_or_default();
        // Autoprobe was off only for the VFs bound for vfio-pci or no driver: the others
        // get the driver autoprobe would have given them.
        if vp.driver.is_none() && create_ap != final_ap && final_ap && vf_driver.is_some() {
            vp.driver = Some(VfDriver::Kernel);
        }
        let alloc = if fresh {
            None
        } else {
            allocs.iter().find(|a| a.vf_index == i).copied()
        };
        let vf_label = now
            .addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("VF {i} of {pf}"));
        let want_knobs = super::knob_step::wanted(&vp, &now.state, &key, i);
        let own_mac = want_knobs.iter().find_map(|k| match k {
            Knob::Mac { mac } => Some(*mac),
            _ => None,
        });
        let own_mac = match vp.mac {
            // Random keeps a MAC once set: that MAC is the policy's.
            Some(MacPolicy::Random) if own_mac.is_none() => Some(now.state.mac),
            _ => own_mac,
        };
        let own_driver = (vp.driver == Some(VfDriver::VfioPci)).then(DriverName::vfio_pci);
        if own_mac.is_some() || own_driver.is_some() {
            out.policy_vfs.push(PolicyVf {
                pf,
                vf_index: i,
                mac: own_mac,
                driver: own_driver,
            });
        }
        let pf_netdev = r.netdev.clone();
        let mut mac_changes = false;
        for k in want_knobs {
            if k.holds_in(&now.state) {
                continue;
            }
            if let Some(a) = alloc {
                if a.requested.iter().any(|q| q.kind() == k.kind()) {
                    out.deferred.push(format!(
                        "{}: {} belongs to the allocation (policy: {})",
                        describe_alloc(a),
                        k.kind().name(),
                        k.describe()
                    ));
                    continue;
                }
                out.conflicts.push(format!(
                    "{}: the policy would set {}",
                    describe_alloc(a),
                    k.describe()
                ));
            }
            let Some(nd) = pf_netdev.clone() else {
                continue;
            };
            mac_changes |= k.kind() == KnobKind::Mac;
            knobs.push(super::knob_step::knob_step(
                &PfId::Pci(pf),
                &nd,
                i,
                k,
                &now.state,
            ));
        }
        let (to, override_to) = match vp.driver {
            None => (now.driver.clone(), now.driver_override.clone()),
            Some(VfDriver::VfioPci) => (Some(DriverName::vfio_pci()), Some(DriverName::vfio_pci())),
            Some(VfDriver::Kernel) => (vf_driver.clone(), None),
            Some(VfDriver::None) => (None, None),
        };
        let rebinds =
            (to.clone(), override_to.clone()) != (now.driver.clone(), now.driver_override.clone());
        if rebinds {
            if let Some(a) = alloc {
                out.deferred.push(format!(
                    "{}: its driver belongs to the allocation (policy: {})",
                    describe_alloc(a),
                    opt(&to)
                ));
            } else {
                drivers.push(step(
                    &pf,
                    format!("{vf_label} driver"),
                    format!(
                        "{} (override {})",
                        opt(&now.driver),
                        opt(&now.driver_override)
                    ),
                    format!("{} (override {})", opt(&to), opt(&override_to)),
                    Some("after the MACs: a VF driver reads its MAC when it binds"),
                    Action::Driver {
                        pf,
                        vf_index: i,
                        from: now.driver.clone(),
                        from_override: now.driver_override.clone(),
                        to,
                        override_to,
                    },
                ));
            }
        } else if let Some(drv) = now.driver.as_ref().filter(|d| {
            mac_changes
                && model.is_some_and(|m| m.quirks.vf_reload_after_mac)
                && vf_driver.as_ref() == Some(*d)
        }) {
            reloads.push(step(
                &pf,
                format!("{vf_label} driver"),
                opt(&now.driver),
                format!("{} (rebound)", opt(&now.driver)),
                Some("hwdb vf_reload_after_mac: a PF-set MAC reaches the VF only when its driver rebinds"),
                Action::Reload {
                    pf,
                    vf_index: i,
                    driver: drv.clone(),
                },
            ));
        }
    }

    let mut steps = vec![];
    if let Some(nd) = &r.netdev {
        let needs_up = if p.up == Some(true) {
            Some(super::knob_step::UP_FIRST)
        } else if creating && model.is_some_and(|m| m.quirks.numvfs_needs_pf_up) {
            Some("hwdb numvfs_needs_pf_up: this driver creates VFs only while the PF is up")
        } else if !knobs.is_empty() && model.is_some_and(|m| m.quirks.pf_must_be_up) {
            Some("hwdb pf_must_be_up: VF settings reach the VF only while the PF is up")
        } else {
            None
        };
        if let (Some(rule), false) = (needs_up, admin_up) {
            steps.push(super::knob_step::up_step(&PfId::Pci(pf), nd, rule));
        }
        if let Some(mtu) = p.mtu {
            steps.extend(super::knob_step::mtu_step(host, &PfId::Pci(pf), nd, mtu));
        }
    }
    let ap_file = format!("/sys/bus/pci/devices/{pf}/sriov_drivers_autoprobe");
    let ap_step = |from: bool, to: bool, rule: Option<&str>| {
        step(
            &pf,
            ap_file.clone(),
            (from as u8).to_string(),
            (to as u8).to_string(),
            rule,
            Action::Autoprobe { pf, from, to },
        )
    };
    let nv_file = format!("/sys/bus/pci/devices/{pf}/sriov_numvfs");
    if recreate {
        if creating && create_ap != cur_ap {
            steps.push(ap_step(
                cur_ap,
                create_ap,
                Some(if create_ap {
                    "before creating VFs: policy drivers_autoprobe"
                } else {
                    "before creating VFs destined for vfio-pci or no driver: none is first grabbed by its netdev driver"
                }),
            ));
        }
        if cur != 0 && want != 0 {
            // (the eswitch step goes right after this one, with no VFs in its way)
            steps.push(step(
                &pf,
                nv_file.clone(),
                cur.to_string(),
                "0".into(),
                Some("the kernel refuses N -> M (EBUSY): 0 first"),
                Action::NumVfs {
                    pf,
                    from: cur,
                    to: 0,
                    probed: false,
                    vf_driver: None,
                },
            ));
        }
        if want != 0 {
            steps.extend(eswitch.clone());
        }
        steps.push(step(
            &pf,
            nv_file,
            if cur != 0 && want != 0 {
                "0".into()
            } else {
                cur.to_string()
            },
            want.to_string(),
            None,
            Action::NumVfs {
                pf,
                from: if want != 0 { 0 } else { cur },
                to: want,
                probed: create_ap,
                vf_driver: vf_driver.clone(),
            },
        ));
        if want == 0 {
            steps.extend(eswitch.clone());
        }
    } else {
        if final_ap != cur_ap {
            steps.push(ap_step(cur_ap, final_ap, None));
        }
        steps.extend(eswitch.clone());
    }
    steps.extend(rate_nodes);
    steps.extend(leaf_parents);
    steps.extend(knobs);
    steps.extend(reloads);
    steps.extend(drivers);
    if creating && final_ap != create_ap {
        steps.push(ap_step(
            create_ap,
            final_ap,
            Some("after the VFs exist and are bound: the policy's final value"),
        ));
    }
    if let (Some(nd), Some(false), true) = (
        &r.netdev,
        p.up,
        admin_up || steps.iter().any(|s| matches!(s.action, Action::Up(_))),
    ) {
        steps.push(super::knob_step::down_step(&PfId::Pci(pf), nd));
    }
    out.steps.extend(steps);
    Ok(())
}
