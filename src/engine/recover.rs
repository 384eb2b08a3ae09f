//! Rebuilding records after the store was lost (`reconcile --repair` on a store whose slots
//! are gone or all damaged): every pooled VF that selection would take as free although it
//! carries configuration (a VLAN, a rate, trust, spoofchk off, a link state) gets a record
//! again, so it is never handed to a second VIF. VFs with an admin MAC or on vfio-pci need no
//! record for that (selection never takes them) and stay reported as `unrecorded`, as before. What the records cannot know (the VIF and instance
//! ids, the state before vifman) is filled in conservatively: a stable "recovered" VIF id per
//! VF, the nil instance id, and the kernel's defaults as the state to restore on release.

use super::reconcile::{Drift, DriftKind};
use super::{Engine, HostView};
use crate::host::{Knob, KnobKind};
use crate::netlink::{VfLinkState, VfState};
use crate::store::{AllocMode, Allocation, Original, Phase, StoreState};
use crate::types::{MacAddress, Uuid, VlanId};

/// The VIF id given to the rebuilt record of `vf`: the same on every run, so a repair run
/// twice names one VIF.
pub fn recovered_vif_id(vf: &crate::types::PciAddress) -> Uuid {
    Uuid::from_name(&format!("vifman-recovered:{vf}"))
}

/// A VF as the kernel leaves it: no admin MAC, no VLAN, no rate limit, link state auto,
/// spoofchk on and trust off where the driver reports them.
fn pristine(s: &VfState) -> VfState {
    VfState {
        vf: s.vf,
        mac: MacAddress::from_slice(&[0; 6]).expect("six bytes"),
        vlan: VlanId::default(),
        qos: 0,
        vlan_proto: crate::netlink::VlanProto::Dot1Q,
        spoofchk: s.spoofchk.map(|_| true),
        trust: s.trust.map(|_| false),
        link_state: VfLinkState::Auto,
        min_tx_rate: 0,
        max_tx_rate: 0,
    }
}

impl Engine<'_> {
    /// Add a record for every pooled, not excluded VF without one that selection would take
    /// although it is configured (a knob away from the kernel's default); one drift each.
    pub(super) fn adopt_configured(&self, view: &HostView, st: &mut StoreState) -> Vec<Drift> {
        let mut out = vec![];
        for v in &view.vfs {
            if st.holds(&v.addr) || view.exclusion(self.config, v).is_some() {
                continue;
            }
            let Some(physnet) = self
                .config
                .classify(&view.candidate(v))
                .0
                .and_then(|s| s.physical_network.clone())
            else {
                continue;
            };
            let (Some(state), Some(pf_netdev)) = (&v.state, &v.pf_netdev) else {
                continue;
            };
            let base = pristine(state);
            let held: Vec<Knob> = KnobKind::ORDER
                .iter()
                .filter_map(|k| Knob::current(*k, state))
                .filter(|k| !k.holds_in(&base))
                .collect();
            // Already protected from selection; adopting them would claim someone else's VF.
            let vfio = v.driver.as_ref().is_some_and(|d| d.is_vfio_pci());
            if held.is_empty() || vfio || !state.mac.is_zero() {
                continue;
            }
            let vif_id = recovered_vif_id(&v.addr);
            let what = held
                .iter()
                .map(Knob::describe)
                .collect::<Vec<_>>()
                .join(", ");
            st.allocations.push(Allocation {
                vif_id,
                instance_uuid: Uuid::from_bytes([0; 16]),
                physnet,
                mode: AllocMode::Hostdev,
                vf: v.addr,
                pf: v.pf,
                pf_netdev: pf_netdev.clone(),
                vf_index: v.vf_index,
                phase: Phase::Active,
                requested: held,
                bound_driver: None,
                original: Original {
                    vf: base,
                    driver: v.driver.clone(),
                    driver_override: v.driver_override.clone(),
                    port_fn_state: None,
                },
                vif: serde_json::Value::Null,
                created: super::now(),
                lost_reason: None,
                pf_serial: None,
                cni: None,
                reset: None,
                quarantine: None,
                rate_parent: None,
            });
            out.push(Drift {
                kind: DriftKind::Unrecorded,
                vf: v.addr.to_string(),
                vif_id: Some(vif_id.to_string()),
                detail: format!("configured ({what}) with no record after the store was lost"),
                repaired: Some(format!(
                    "recorded as recovered VIF {vif_id} so it is not handed out again"
                )),
                next: Some(super::Recovery::ReleaseVif),
            });
        }
        out
    }
}
