//! `vifman vf reset PF N`: an operator's function reset of one VF outside any release, with
//! the same rule as a release: never with a driver bound. The VF goes back to the driver and
//! override it had.

use super::actuate;
use super::{Engine, EngineError};
use crate::store::{Phase, StoreState};

impl Engine<'_> {
    /// Reset VF `index` of PF `pf` (netdev name or PCI address). Refused for a VF a record
    /// holds (release it first); a quarantined one may be reset (that does not clear it).
    pub fn reset_vf(&self, pf: &str, index: u32) -> Result<String, EngineError> {
        let _span = tracing::info_span!("vf_reset", pf, index).entered();
        // Held for the whole cycle: no allocate can pick the VF while it is unbound.
        let mut store = self.open_store()?;
        let st: StoreState = store.load()?;
        let view = self.load_view()?;
        let v = view.vf_of(pf, index)?;
        if let Some(a) = st
            .allocations
            .iter()
            .find(|a| a.vf == v.addr && a.phase != Phase::Quarantined)
        {
            return Err(EngineError::ResetAllocated {
                vf: v.addr,
                vif_id: a.vif_id,
            });
        }
        if let Some(w) = st.whole_holder(&v.pf).or_else(|| st.whole_holder(&v.addr)) {
            return Err(EngineError::Busy(format!(
                "{} belongs to whole-device allocation {}",
                v.addr, w.id
            )));
        }
        if self
            .host
            .reset_methods_of(&v.addr)
            .is_none_or(|m| m.is_empty())
        {
            return Err(EngineError::Request(format!(
                "{} offers no reset method (its reset_method is absent or empty)",
                v.addr
            )));
        }
        let (driver, over) = (v.driver.clone(), v.driver_override.clone());
        let fail = |step: &str, cause, rollback: &str, next| EngineError::Actuation {
            step: format!("{step} {}", v.addr),
            cause,
            rollback: rollback.into(),
            next,
        };
        if driver.is_some() {
            actuate::rebind(self.host, &v.addr, None, over.as_ref())
                .map_err(|e| fail("unbinding", e, "nothing was reset", None))?;
        }
        let reset = self.host.reset_function(&v.addr);
        let back = actuate::rebind(self.host, &v.addr, driver.as_ref(), over.as_ref());
        match (reset, back) {
            (Err(e), Ok(())) => Err(fail(
                "resetting",
                e,
                "the VF is back on its driver, not reset",
                None,
            )),
            (Err(e), Err(b)) => Err(fail(
                "resetting",
                e,
                &format!("and rebinding it failed too ({b}); {}", super::LEFT_UNBOUND),
                Some(super::Recovery::Reconcile),
            )),
            (Ok(()), Err(b)) => Err(fail(
                "rebinding",
                b,
                "the VF was reset but is left without its driver",
                None,
            )),
            (Ok(()), Ok(())) => {
                drop(store);
                Ok(format!(
                    "reset {} (VF {index} of {pf}) with no driver bound; back on {}",
                    v.addr,
                    driver.as_deref().unwrap_or("no driver")
                ))
            }
        }
    }
}
