//! handoff: what a released VF goes through before anyone else may get it. Restoring the
//! knobs vifman set is not enough to hand a VF to the next tenant: the function keeps
//! whatever the last tenant's driver left in it (queues, filters, a vfio user's DMA state)
//! until it is reset, and a step that failed silently leaves a VLAN or MAC behind. So a
//! release resets the function (policy permitting), restores, reads everything back, and a
//! VF that cannot be proven clean is quarantined instead of freed.

use std::time::Duration;

use super::actuate;
use super::{Engine, EngineError, HostView, VfView};
use crate::host::{Host, Knob, KnobKind};
use crate::hwdb::NicModel;
use crate::store::{Allocation, Phase, Quarantine};
use crate::types::{offers_flr, ResetPolicy};

/// How long the read-back may wait for a rebound VF driver to settle (igbvf registers its
/// netdev and picks its MAC after the bind shows). Re-checked on kernel events, not slept.
const READBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Put the VF of record `a` back as it was and prove it: with [`ResetPolicy::Flr`] unbind
/// the VF driver, reset the function, restore the PF-side knobs (the admin MAC before any
/// driver binds, or igbvf registers a fresh random one), rebind the original driver; with
/// [`ResetPolicy::None`] restore driver and knobs. Then read driver, override and every
/// knob back. The policy applied, or why the VF is not clean (every failed step, in order).
pub fn hand_back(
    host: &dyn Host,
    a: &Allocation,
    configured: Option<ResetPolicy>,
    model: Option<&NicModel>,
) -> Result<ResetPolicy, String> {
    let _span = tracing::info_span!("hand_back", vf = %a.vf).entered();
    let methods = host.reset_methods_of(&a.vf);
    let policy = ResetPolicy::resolve(configured, methods.as_deref());
    let failures = match policy {
        ResetPolicy::None => actuate::restore(host, a, model),
        // Asked for but not offered: nothing is unbound for a reset that cannot happen; the
        // VF is restored as without a reset, and quarantined.
        ResetPolicy::Flr if !offers_flr(methods.as_deref()) => {
            let mut f = vec![format!(
                "reset {}: the pool asks for flr, but its reset_method offers {}",
                a.vf,
                match methods.as_deref() {
                    Some(m) if !m.is_empty() => m.join(" "),
                    Some(_) => "nothing (emptied)".into(),
                    None => "nothing (no reset_method)".into(),
                }
            )];
            f.extend(actuate::restore(host, a, model));
            f
        }
        ResetPolicy::Flr => reset_and_restore(host, a),
    };
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    let mut last = vec![];
    let settled = host.wait_until(
        &format!("{} to read back as recorded", a.vf),
        READBACK_TIMEOUT,
        &mut || {
            last = read_back(host, a);
            last.is_empty()
        },
    );
    match settled {
        Ok(()) => Ok(policy),
        Err(_) => Err(last.join("; ")),
    }
}

fn reset_and_restore(host: &dyn Host, a: &Allocation) -> Vec<String> {
    let mut failures = vec![];
    // The override stays as it is while unbound: nothing probes the VF in between.
    let cur_override = host.driver_override_of(&a.vf);
    if host.driver_of(&a.vf).is_some() {
        if let Err(e) = actuate::rebind(host, &a.vf, None, cur_override.as_ref()) {
            failures.push(format!("unbind before reset: {e}"));
        }
    }
    if failures.is_empty() {
        if let Err(e) = host.reset_function(&a.vf) {
            failures.push(e.to_string());
        }
    }
    // Knobs and driver are put back even after a failed reset: a quarantined VF is left as
    // close to its original state as the kernel allows.
    failures.extend(actuate::restore_knobs(host, a).1);
    if host.driver_of(&a.vf) != a.original.driver
        || host.driver_override_of(&a.vf) != a.original.driver_override
    {
        if let Err(e) = actuate::rebind(
            host,
            &a.vf,
            a.original.driver.as_ref(),
            a.original.driver_override.as_ref(),
        ) {
            failures.push(e.to_string());
        }
    }
    failures
}

/// What differs between the kernel now and the record's original state (empty: clean).
pub fn read_back(host: &dyn Host, a: &Allocation) -> Vec<String> {
    let mut f = vec![];
    let show = |d: &Option<crate::types::DriverName>| d.as_deref().unwrap_or("none").to_string();
    let driver = host.driver_of(&a.vf);
    if driver != a.original.driver {
        f.push(format!(
            "read back {}: driver {}, was {}",
            a.vf,
            show(&driver),
            show(&a.original.driver)
        ));
    }
    let over = host.driver_override_of(&a.vf);
    if over != a.original.driver_override {
        f.push(format!(
            "read back {}: driver_override {}, was {}",
            a.vf,
            show(&over),
            show(&a.original.driver_override)
        ));
    }
    match actuate::read_vf(host, &actuate::target(a)) {
        Err(e) => f.push(e.to_string()),
        Ok(now) => {
            for kind in KnobKind::ORDER {
                let Some(orig) = Knob::current(kind, &a.original.vf) else {
                    continue;
                };
                if !orig.holds_in(&now) {
                    let is = Knob::current(kind, &now)
                        .map(|k| k.describe())
                        .unwrap_or_else(|| "unreported".into());
                    f.push(format!(
                        "read back {} vf {}: {is}, was {}",
                        a.pf_netdev,
                        a.vf_index,
                        orig.describe()
                    ));
                }
            }
        }
    }
    if let Some(orig) = a.original.port_fn_state {
        match super::portfn::state_of(host, &a.pf_netdev, a.vf_index) {
            Err(e) => f.push(e.to_string()),
            Ok(Some(now)) if now != orig => f.push(format!(
                "read back {} vf {}: port function state {now}, was {orig}",
                a.pf_netdev, a.vf_index
            )),
            Ok(_) => {}
        }
    }
    f
}

/// Mark record `a` quarantined for `reason` (keeping the first quarantine's time).
pub fn quarantine(a: &mut Allocation, reason: String) {
    tracing::warn!(vf = %a.vf, vif = %a.vif_id, %reason, "VF quarantined");
    let since = a
        .quarantine
        .as_ref()
        .filter(|_| a.phase == Phase::Quarantined)
        .map(|q| q.since)
        .unwrap_or_else(super::now);
    a.phase = Phase::Quarantined;
    a.quarantine = Some(Quarantine { reason, since });
}

impl Engine<'_> {
    /// The pool's `reset` setting for `v` (None: the default, see [`ResetPolicy::resolve`]).
    pub(super) fn reset_policy_of(&self, view: &HostView, v: &VfView) -> Option<ResetPolicy> {
        self.config
            .classify(&view.candidate(v))
            .0
            .and_then(|s| s.reset)
    }

    /// `vifman release --clear-quarantine`: the operator vouches for a quarantined VF (named
    /// by VF address, with or without its domain, or VIF id). The record is dropped without
    /// touching the hardware.
    pub fn clear_quarantine(&self, what: &str) -> Result<Allocation, EngineError> {
        let _span = tracing::info_span!("clear_quarantine", what).entered();
        let addr = crate::types::PciAddress::parse_user(what).ok();
        if addr.is_none() && what.parse::<crate::types::Uuid>().is_err() {
            return Err(EngineError::Request(format!(
                "{what:?} is neither a VF's PCI address (DDDD:BB:SS.F) nor a VIF id (UUID)"
            )));
        }
        let mut store = self.open_store()?;
        let mut st: crate::store::StoreState = store.load()?;
        let i = st
            .allocations
            .iter()
            .position(|a| addr == Some(a.vf) || a.vif_id.to_string() == what)
            .or_else(|| {
                let id: crate::types::Uuid = what.parse().ok()?;
                st.by_vif(&id)
            })
            .ok_or_else(|| EngineError::Request(format!("no allocation record for {what}")))?;
        if st.allocations[i].phase != Phase::Quarantined {
            return Err(EngineError::NotQuarantined {
                vf: st.allocations[i].vf,
                vif_id: st.allocations[i].vif_id,
            });
        }
        let rec = st.allocations.remove(i);
        store.save(&st)?;
        Ok(rec)
    }
}
