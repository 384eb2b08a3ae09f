//! CNI attachments on VF records: ADD either adopts the record the device plugin (or the
//! CLI, for this pod) made, or allocates one itself; DEL undoes exactly what ADD did. The
//! knobs go through the same set/verify/undo steps as `allocate`, under the same store lock,
//! so a VF the plugin handed to one pod can never be configured for another.

use super::actuate::{self, Applied, Target};
use super::rate;
use super::{AllocateRequest, Engine, EngineError};
use crate::host::{Knob, KnobKind};
use crate::hwdb;
use crate::store::{AttachKey, CniAttachment, Phase, StoreState};
use crate::types::{PciAddress, Uuid};

/// The device plugin tags its VIF ids with these four bytes (see `fleet::ids`): a record
/// with such an id belongs to whichever pod kubelet gave the device to.
const PLUGIN_TAG: &str = "76666470";

/// Whether `id` is one the device plugin made.
pub fn is_plugin_vif(id: &Uuid) -> bool {
    let s = id.to_string();
    s.starts_with(PLUGIN_TAG) && s.get(14..15) == Some("8")
}

impl Engine<'_> {
    /// The pool (physnet) the config puts `vf` in: what a CNI ADD without a device plugin
    /// allocates from.
    pub fn pool_of(&self, vf: &PciAddress) -> Result<String, EngineError> {
        let view = self.host_view()?;
        let v = view
            .vf(vf)
            .ok_or_else(|| EngineError::Request(format!("{vf} is not a VF on this host")))?;
        self.config
            .classify(&view.candidate(v))
            .0
            .and_then(|s| s.physical_network.clone())
            .ok_or_else(|| {
                EngineError::Request(format!(
                    "{vf} is in no vifman pool (no [[device_spec]] with a physical_network matches it)"
                ))
            })
    }

    /// Configure `req.only_vf` for the attachment `att` and record it (phase adding). The VF
    /// must be free (then a record is made, as `allocate` makes one), or held by a device
    /// plugin record without an attachment, or by a CLI record whose instance is `pod`.
    pub fn cni_attach(
        &self,
        req: &AllocateRequest,
        mut att: CniAttachment,
        pod: Option<Uuid>,
    ) -> Result<crate::store::Allocation, EngineError> {
        let vf = req
            .only_vf
            .ok_or_else(|| EngineError::Request("a CNI attachment names its VF".into()))?;
        let _span = tracing::info_span!("cni_attach", %vf, key = %att.key).entered();
        req.validate()?;
        // Checked before anything changes: switchdev, the node exists, the VF has a leaf.
        let leaf_parent = self.cni_rate_parent(req, &vf)?;
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        let Some(i) = st.allocations.iter().position(|a| a.vf == vf) else {
            drop(store);
            let mut r = req.clone();
            r.physnet = self.pool_of(&vf)?;
            att.owns_record = true;
            r.cni = Some(att);
            self.allocate(&r, false)?;
            let st = crate::store::read_state(&self.state_dir)?;
            return st
                .allocations
                .into_iter()
                .find(|a| a.vf == vf && a.vif_id == r.vif_id)
                .ok_or_else(|| EngineError::Busy(format!("{vf}: record vanished after ADD")));
        };
        let rec = st.allocations[i].clone();
        if let Some(other) = &rec.cni {
            return Err(EngineError::Busy(format!(
                "{vf} is attached to {} (netns {}); not handing it out twice",
                other.key, other.netns
            )));
        }
        if rec.phase != Phase::Active {
            return Err(EngineError::Busy(format!(
                "{vf}: its record (VIF {}) is {:?}, not active",
                rec.vif_id, rec.phase
            )));
        }
        if !is_plugin_vif(&rec.vif_id) && pod != Some(rec.instance_uuid) {
            return Err(EngineError::Busy(format!(
                "{vf} is allocated to VIF {} of instance {}, not to this pod{}",
                rec.vif_id,
                rec.instance_uuid,
                pod.map(|p| format!(" ({p})")).unwrap_or_default()
            )));
        }
        if let (Some(want), Some(has)) = (&leaf_parent, &rec.rate_parent) {
            return Err(EngineError::Request(format!(
                "rateParent {}: {vf}'s rate leaf is already under {} by its allocation (VIF {})",
                want.node, has.node, rec.vif_id
            )));
        }
        let view = self.host_view()?;
        let v = view
            .vf(&vf)
            .ok_or_else(|| EngineError::Request(format!("{vf} is not a VF on this host")))?;
        let model = hwdb::by_pf(v.pf_ids.0, v.pf_ids.1);
        let t = Target {
            vf,
            pf_netdev: &rec.pf_netdev,
            vf_index: rec.vf_index,
        };
        let state = actuate::read_vf(self.host, &t)?;
        let knobs = req.knobs((state.min_tx_rate, state.max_tx_rate));
        actuate::refuse_unsupported(model, &knobs, req.force_unsupported)?;
        att.owns_record = false;
        att.knobs_before = knobs
            .iter()
            .filter_map(|k| Knob::current(k.kind(), &state))
            .collect();
        att.requested_before = rec.requested.clone();
        att.rate_parent_set = leaf_parent.is_some();
        let mut requested = rec.requested.clone();
        for k in &knobs {
            requested.retain(|r| r.kind() != k.kind());
            requested.push(k.clone());
        }
        // Intent first: a crash from here on leaves an attachment that DEL undoes.
        st.allocations[i].cni = Some(att.clone());
        st.allocations[i].requested = requested;
        if leaf_parent.is_some() {
            st.allocations[i].rate_parent = leaf_parent.clone();
        }
        store.save(&st)?;
        let vfio = self.host.driver_of(&vf).is_some_and(|d| d.is_vfio_pci());
        let mut applied: Vec<Applied> = vec![];
        let result = (|| -> Result<(), (String, crate::host::HostError)> {
            for k in &knobs {
                let original = Knob::current(k.kind(), &state).unwrap_or_else(|| k.clone());
                actuate::set_knob(self.host, &t, k)
                    .map_err(|e| (k.kind().name().to_string(), e))?;
                applied.push(Applied::Knob { original });
            }
            if let Some(c) = &leaf_parent {
                rate::leaf::set_parent(self.host, t.pf_netdev.as_str(), t.vf_index, Some(&c.node))
                    .map_err(|e| (format!("rate parent {}", c.node), e))?;
                applied.push(Applied::RateParent {
                    original: c.original.clone(),
                });
            }
            if knobs.iter().any(|k| k.kind() == KnobKind::Mac) && !vfio {
                actuate::reload_vf_driver(self.host, &vf, model)
                    .map_err(|e| ("VF driver reload after MAC".to_string(), e))?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(st.allocations[i].clone()),
            Err((step, cause)) => {
                let failures = actuate::undo(self.host, &t, &applied, model);
                let rollback = if failures.is_empty() {
                    st.allocations[i].cni = None;
                    st.allocations[i].requested = att.requested_before.clone();
                    if att.rate_parent_set {
                        st.allocations[i].rate_parent = None;
                    }
                    store.save(&st)?;
                    format!(
                        "rolled back {} change(s), VF {vf} is as it was",
                        applied.len()
                    )
                } else {
                    format!(
                        "ROLLBACK INCOMPLETE ({}); the attachment stays recorded for DEL to retry",
                        failures.join("; ")
                    )
                };
                Err(EngineError::Actuation {
                    step,
                    cause,
                    rollback,
                    next: None,
                })
            }
        }
    }

    /// Change the attachment `key` under the store lock; false when no record carries it.
    pub fn cni_update(
        &self,
        key: &AttachKey,
        f: impl FnOnce(&mut CniAttachment),
    ) -> Result<bool, EngineError> {
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        let Some(i) = st.by_attachment(key) else {
            return Ok(false);
        };
        if let Some(a) = st.allocations[i].cni.as_mut() {
            f(a);
        }
        store.save(&st)?;
        Ok(true)
    }

    /// Undo the VF side of attachment `key`: a record the CNI made is released (driver and
    /// every knob back to the original); on the device plugin's or the CLI's record only the
    /// knobs ADD set go back, and the record stays theirs. `None`: no record carries `key`
    /// (DEL is idempotent, and a stale DEL must not touch a VF now attached elsewhere).
    pub fn cni_detach(
        &self,
        key: &AttachKey,
    ) -> Result<Option<crate::store::Allocation>, EngineError> {
        let _span = tracing::info_span!("cni_detach", %key).entered();
        let mut store = self.open_store()?;
        let mut st: StoreState = store.load()?;
        let Some(i) = st.by_attachment(key) else {
            return Ok(None);
        };
        let rec = st.allocations[i].clone();
        let att = rec.cni.clone().expect("by_attachment found one");
        if att.owns_record {
            drop(store);
            return match self.release_record(&rec.vif_id) {
                Ok(r) => Ok(Some(r)),
                // Another DEL or a GC got there between the two locks.
                Err(EngineError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let t = Target {
            vf: rec.vf,
            pf_netdev: &rec.pf_netdev,
            vf_index: rec.vf_index,
        };
        let mut failures = vec![];
        let mut mac_changed = false;
        if self.host.device_present(&rec.vf) {
            let model = self
                .host_view()
                .ok()
                .and_then(|v| v.vf(&rec.vf).map(|v| v.pf_ids))
                .and_then(|(a, b)| hwdb::by_pf(a, b));
            match actuate::read_vf(self.host, &t) {
                Ok(now) => {
                    for k in &att.knobs_before {
                        if k.holds_in(&now) {
                            continue;
                        }
                        match actuate::set_knob(self.host, &t, k) {
                            Ok(()) => mac_changed |= k.kind() == KnobKind::Mac,
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
            let vfio = self
                .host
                .driver_of(&rec.vf)
                .is_some_and(|d| d.is_vfio_pci());
            // The leaf parent ADD set, when it is not back already.
            if let Some(c) = rec.rate_parent.as_ref().filter(|_| att.rate_parent_set) {
                let pf = rec.pf_netdev.as_str();
                let r = rate::leaf::parent_of(self.host, pf, rec.vf_index).and_then(|now| {
                    if now == c.original {
                        Ok(())
                    } else {
                        rate::leaf::set_parent(self.host, pf, rec.vf_index, c.original.as_deref())
                    }
                });
                if let Err(e) = r {
                    failures.push(e.to_string());
                }
            }
            if mac_changed && failures.is_empty() && !vfio {
                if let Err(e) = actuate::reload_vf_driver(self.host, &rec.vf, model) {
                    failures.push(e.to_string());
                }
            }
        }
        if !failures.is_empty() {
            return Err(EngineError::Actuation {
                step: format!("restoring {} after {}", rec.vf, key),
                cause: crate::host::HostError::other("restore", failures.join("; ")),
                rollback: "the attachment stays recorded; DEL again to retry".into(),
                next: None,
            });
        }
        st.allocations[i].cni = None;
        st.allocations[i].requested = att.requested_before.clone();
        if att.rate_parent_set {
            st.allocations[i].rate_parent = None;
        }
        store.save(&st)?;
        Ok(Some(rec))
    }
}

impl Engine<'_> {
    /// `rateParent` checked against the host before ADD changes anything: the leaf parent
    /// change to make (with the leaf's parent now, for DEL), or why it cannot be made.
    fn cni_rate_parent(
        &self,
        req: &AllocateRequest,
        vf: &PciAddress,
    ) -> Result<Option<crate::store::LeafParentChange>, EngineError> {
        let Some(node) = &req.rate_parent else {
            return Ok(None);
        };
        let view = self.host_view()?;
        let v = view
            .vf(vf)
            .ok_or_else(|| EngineError::Request(format!("{vf} is not a VF on this host")))?;
        let original = rate::leaf::check_parent(self.host, &v.pf, v.vf_index, node)
            .map_err(|why| EngineError::Request(format!("rateParent {node}: {why}")))?;
        Ok(Some(crate::store::LeafParentChange {
            node: node.to_string(),
            original,
        }))
    }

    /// The knobs of `rec` that no longer read back as set (CHECK).
    pub fn knob_drift(&self, rec: &crate::store::Allocation) -> Result<Vec<String>, EngineError> {
        let t = Target {
            vf: rec.vf,
            pf_netdev: &rec.pf_netdev,
            vf_index: rec.vf_index,
        };
        let now = actuate::read_vf(self.host, &t)?;
        Ok(rec
            .requested
            .iter()
            .filter(|k| !k.holds_in(&now))
            .map(|k| {
                let cur = Knob::current(k.kind(), &now)
                    .map(|c| c.describe())
                    .unwrap_or_else(|| "unreported".into());
                format!("{} wanted, kernel has {cur}", k.describe())
            })
            .collect())
    }
}
