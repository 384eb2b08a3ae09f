//! release: hand the VF back clean (reset, restore, read back; see [`super::handoff`]), then
//! forget the allocation. A VF that cannot be proven clean is quarantined, never freed.

use super::handoff;
use super::{Engine, EngineError};
use crate::hwdb;
use crate::store::StoreState;
use crate::types::Uuid;

impl Engine<'_> {
    /// Release the record of `vif_id`. A record still carrying a CNI attachment (its pod's
    /// DEL never came: the device plugin re-hands the VF, or `vifman release` is run on it)
    /// has the attachment undone first, as a DEL would: the netdev back under its host name,
    /// the IPAM address released (best effort), the knobs the CNI set put back.
    pub fn release(&self, vif_id: &Uuid) -> Result<super::Allocation, EngineError> {
        let st = crate::store::read_state(&self.state_dir)?;
        if let Some(rec) = st.allocations.iter().find(|a| &a.vif_id == vif_id) {
            if let Some(att) = &rec.cni {
                tracing::warn!(vif = %vif_id, key = %att.key, "releasing a VF still attached by CNI; undoing the attachment first");
                let owned = att.owns_record;
                crate::cni::del::teardown_orphan(self, rec).map_err(|e| {
                    EngineError::Busy(format!(
                        "{}: undoing its CNI attachment ({}) failed: {}; the record is kept",
                        rec.vf, att.key, e.msg
                    ))
                })?;
                if owned {
                    // The teardown released the CNI's own record.
                    return Ok(rec.clone());
                }
            }
        }
        self.release_record(vif_id)
    }

    /// Release without looking at CNI attachments (the CNI's own DEL, which has undone its
    /// attachment already).
    pub(crate) fn release_record(&self, vif_id: &Uuid) -> Result<super::Allocation, EngineError> {
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
            view = self.load_view()?;
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
