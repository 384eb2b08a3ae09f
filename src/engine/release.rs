//! release: put the VF back exactly as it was, then forget the allocation.

use super::actuate;
use super::record::{Phase, StoreState};
use super::{Engine, EngineError};
use crate::hwdb;

impl Engine<'_> {
    pub fn release(&self, vif_id: &str) -> Result<super::Allocation, EngineError> {
        let vif_id = vif_id.to_ascii_lowercase();
        let _span = tracing::info_span!("release", vif = %vif_id).entered();
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        let i = st.by_vif(&vif_id).ok_or_else(|| EngineError::NotFound(vif_id.clone()))?;
        st.allocations[i].phase = Phase::Releasing;
        store.save(&st)?;
        let rec = st.allocations[i].clone();
        let view = super::HostView::load(self.host)?;
        if view.vf(&rec.vf).is_none() {
            // The VF is gone (numvfs changed): nothing to restore, the record is stale.
            tracing::warn!(vf = %rec.vf, "VF no longer exists; dropping its record");
        } else {
            let model = view.vf(&rec.vf).and_then(|v| hwdb::by_pf(v.pf_ids.0, v.pf_ids.1));
            let failures = actuate::restore(self.host, &rec, model);
            if !failures.is_empty() {
                return Err(EngineError::Actuation {
                    step: format!("restoring {}", rec.vf),
                    cause: crate::host::HostError::other("restore", failures.join("; ")),
                    rollback: "the record stays in phase releasing; run `vifman release` again or `vifman reconcile --repair`".into(),
                });
            }
        }
        st.allocations.remove(i);
        store.save(&st)?;
        Ok(rec)
    }
}
