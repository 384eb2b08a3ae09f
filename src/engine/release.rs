//! release: hand the VF back clean (reset, restore, read back; see [`super::handoff`]), then
//! forget the allocation. A VF that cannot be proven clean is quarantined, never freed.

use super::handoff;
use super::{Engine, EngineError};
use crate::hwdb;
use crate::store::StoreState;
use crate::types::Uuid;

impl Engine<'_> {
    pub fn release(&self, vif_id: &Uuid) -> Result<super::Allocation, EngineError> {
        let _span = tracing::info_span!("release", vif = %vif_id).entered();
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        let i = st.by_vif(vif_id).ok_or(EngineError::NotFound(*vif_id))?;
        // No durable "releasing" mark before the restore: if we die half-way, the record is
        // still active and reconcile re-applies it, so the VIF stays allocated until a release
        // completes. One durable write per release instead of two.
        let rec = st.allocations[i].clone();
        let (mut view, since) = self.take_view()?;
        let taken = since.unwrap_or_else(std::time::Instant::now);
        let mut pos = view.vfs.iter().position(|v| v.addr == rec.vf);
        if since.is_some() && pos.is_none_or(|p| view.refresh_vf(self.host, p).is_err()) {
            view = super::HostView::load(self.host)?;
            pos = view.vfs.iter().position(|v| v.addr == rec.vf);
        }
        match pos {
            None => {
                // The VF is gone (numvfs changed): nothing to restore, the record is stale.
                tracing::warn!(vf = %rec.vf, "VF no longer exists; dropping its record");
            }
            Some(p) => {
                let v = &view.vfs[p];
                let model = hwdb::by_pf(v.pf_ids.0, v.pf_ids.1);
                let configured = rec.reset.or_else(|| self.reset_policy_of(&view, v));
                let done = handoff::hand_back(self.host, &rec, configured, model);
                let _ = view.refresh_vf(self.host, p);
                match done {
                    Ok(policy) => tracing::info!(vf = %rec.vf, reset = %policy, "released clean"),
                    Err(reason) => {
                        handoff::quarantine(&mut st.allocations[i], reason.clone());
                        store.save(&st)?;
                        self.keep_view(view, taken);
                        return Err(EngineError::Quarantined { vf: rec.vf, reason });
                    }
                }
            }
        }
        self.keep_view(view, taken);
        st.allocations.remove(i);
        store.save(&st)?;
        Ok(rec)
    }
}
