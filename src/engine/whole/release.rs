//! release for whole devices: back to their original drivers (and a PF's VFs re-created),
//! then the record is dropped. A failure keeps the record in phase releasing.

use crate::engine::{Engine, EngineError};
use crate::store::{DeviceAllocation, Phase};
use crate::types::Uuid;

impl Engine<'_> {
    /// Whether `id` names a whole-device allocation (so `release` knows which path to take).
    pub fn is_whole(&self, id: &Uuid) -> Result<bool, EngineError> {
        Ok(crate::store::read_state(&self.state_dir)?
            .devices
            .iter()
            .any(|d| &d.id == id))
    }

    pub fn release_whole(&self, id: &Uuid) -> Result<DeviceAllocation, EngineError> {
        let _span = tracing::info_span!("release_whole", id = %id).entered();
        let mut store = self.open_store()?;
        let mut st: crate::store::StoreState = store.load()?;
        let i = st
            .devices
            .iter()
            .position(|d| &d.id == id)
            .ok_or(EngineError::NotFound(*id))?;
        let rec = st.devices[i].clone();
        let failures = self.restore_whole(&rec);
        if !failures.is_empty() {
            st.devices[i].phase = Phase::Releasing;
            store.save(&st)?;
            return Err(EngineError::Actuation {
                step: format!("restoring allocation {id}"),
                cause: crate::host::HostError::other("restore", failures.join("; ")),
                rollback: crate::engine::RELEASING_FOR_RETRY.into(),
                next: Some(crate::engine::Recovery::RetryRelease),
            });
        }
        st.devices.remove(i);
        store.save(&st)?;
        Ok(rec)
    }

    /// The operator's word that a `one_time_use` device has been reset (nova: un-reserving
    /// it in Placement): it is offered again. Returns the devices still held back.
    pub fn reset_one_time_use(
        &self,
        addr: &crate::types::PciAddress,
    ) -> Result<Vec<crate::types::PciAddress>, EngineError> {
        let mut store = self.open_store()?;
        let mut st: crate::store::StoreState = store.load()?;
        let Some(i) = st.used_once.iter().position(|a| a == addr) else {
            return Err(EngineError::Request(format!(
                "{addr} is not held back as one_time_use (held: {})",
                if st.used_once.is_empty() {
                    "none".to_string()
                } else {
                    st.used_once
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        };
        if st.whole_holder(addr).is_some() {
            return Err(EngineError::Busy(format!(
                "{addr} is still allocated; release it first"
            )));
        }
        st.used_once.remove(i);
        store.save(&st)?;
        Ok(st.used_once)
    }
}
