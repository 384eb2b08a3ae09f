//! What the store keeps per allocation: enough to undo it without asking anyone, and nothing
//! the kernel may renumber behind our back (PFs are kept by name, never by ifindex).

use serde::{Deserialize, Serialize};

use crate::netlink::Knob;
use crate::netlink::VfState;
use crate::types::{IfName, MacAddress, PciAddress, Uuid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocMode {
    /// VIFHostDevice, VF left on its netdev driver (the hypervisor detaches it, managed=yes).
    Hostdev,
    /// VIFHostDevice, VF bound to vfio-pci by vifman.
    HostdevVfio,
    DirectVepa,
    DirectBridge,
    DirectPassthrough,
}

impl AllocMode {
    pub fn parse(s: &str) -> Option<AllocMode> {
        Some(match s {
            "hostdev" => AllocMode::Hostdev,
            "hostdev-vfio" => AllocMode::HostdevVfio,
            "direct-vepa" => AllocMode::DirectVepa,
            "direct-bridge" => AllocMode::DirectBridge,
            "direct-passthrough" => AllocMode::DirectPassthrough,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AllocMode::Hostdev => "hostdev",
            AllocMode::HostdevVfio => "hostdev-vfio",
            AllocMode::DirectVepa => "direct-vepa",
            AllocMode::DirectBridge => "direct-bridge",
            AllocMode::DirectPassthrough => "direct-passthrough",
        }
    }
    pub fn direct_mode(self) -> Option<&'static str> {
        match self {
            AllocMode::DirectVepa => Some("vepa"),
            AllocMode::DirectBridge => Some("bridge"),
            AllocMode::DirectPassthrough => Some("passthrough"),
            _ => None,
        }
    }
}

/// Pending: recorded, hardware possibly half-configured (a crash here is rolled back by
/// reconcile). Active: configured and handed out. Releasing: restore under way. Lost: the
/// VF could not be put back after a reboot (`vifman apply --boot`); the record keeps the VF
/// out of every pool until it is released, so a guest's VF is never silently handed to
/// another. Quarantined: a release could not prove the VF clean (reset, restore or
/// read-back failed); the record keeps it out of every pool until an operator clears it
/// (`vifman release --clear-quarantine`) or `vifman reconcile --repair` completes the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pending,
    Active,
    Releasing,
    Lost,
    Quarantined,
}

/// Why and since when a VF is quarantined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    /// The failed step and the kernel's answer ("reset 0000:3b:02.0: EIO ...").
    pub reason: String,
    /// Seconds since the epoch.
    pub since: u64,
}

/// The VF as it was before vifman touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub vf: VfState,
    pub driver: Option<crate::types::DriverName>,
    pub driver_override: Option<crate::types::DriverName>,
    /// The state of the VF's devlink port function before vifman set its MAC there (and
    /// activated it), when the function reports one. Its hw_addr needs no field: it is the
    /// admin MAC in `vf`. Absent in older stores and for VFs without a port-function state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_fn_state: Option<crate::devlink::FnState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub vif_id: Uuid,
    pub instance_uuid: Uuid,
    pub physnet: String,
    pub mode: AllocMode,
    pub vf: PciAddress,
    pub pf: PciAddress,
    /// The PF by name: resolved to an ifindex at use time. Stores written before this carried a
    /// `pf_ifindex` too; it is ignored on load (a PF re-created by a driver reload gets a new
    /// index, and the old one may then name another link).
    pub pf_netdev: IfName,
    pub vf_index: u32,
    pub phase: Phase,
    /// Knobs set on the VF, in the order applied.
    pub requested: Vec<Knob>,
    /// Driver vifman bound the VF to, if it changed it.
    pub bound_driver: Option<crate::types::DriverName>,
    pub original: Original,
    /// The os-vif primitive handed out.
    pub vif: serde_json::Value,
    /// Seconds since the epoch.
    pub created: u64,
    /// Phase lost: why the allocation could not be restored. Absent in older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    /// The PF's serial (PCIe DSN / VPD SN) when it has one, so a card swapped between boots
    /// is noticed instead of configured. Absent in older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pf_serial: Option<String>,
    /// The pod interface this VF is, when a CNI ADD attached it. Absent in older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<super::cni::CniAttachment>,
    /// The pool's `reset` setting when the VF was allocated, so the release follows the policy
    /// the tenant was given whatever config the releasing command reads. Absent: the pool
    /// named none (or an older store), and the default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<crate::types::ResetPolicy>,
    /// Phase quarantined: the failed release step. Absent in older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    /// `allocate --rate-parent`: the node the VF's devlink rate leaf was parented to, and the
    /// parent it had before, which release and rollback put back. Absent in older stores
    /// and for allocations that did not ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_parent: Option<LeafParentChange>,
}

/// A VF leaf's devlink rate parent as an allocation changed it (switchdev mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafParentChange {
    /// The node the allocation parented the leaf to.
    pub node: String,
    /// The leaf's parent before (None: it had none).
    pub original: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreState {
    pub allocations: Vec<Allocation>,
    /// Whole devices (PFs, plain PCI devices). Absent in older stores, and left out while
    /// empty so a store without any stays readable by older vifman.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<super::device::DeviceAllocation>,
    /// What the last `vifman apply` set on each policy VF. Absent in older stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_vfs: Vec<PolicyVf>,
    /// Whole devices of a `one_time_use` device_spec (nova's tag) that were handed out once:
    /// not offered again until an operator runs `vifman one-time-use reset ADDR`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_once: Vec<PciAddress>,
}

/// A VF's MAC and driver as the host-state policy made them: vifman's own baseline, so a VF
/// that `apply` gave a stable MAC or bound to vfio-pci for the pools is not mistaken for one
/// that something outside vifman is using (which is what a set MAC or vfio-pci means on a VF
/// nobody declared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVf {
    pub pf: PciAddress,
    pub vf_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<crate::types::DriverName>,
}

impl StoreState {
    pub fn policy_vf(&self, pf: &PciAddress, vf_index: u32) -> Option<&PolicyVf> {
        self.policy_vfs
            .iter()
            .find(|p| &p.pf == pf && p.vf_index == vf_index)
    }
    pub fn by_vif(&self, vif_id: &Uuid) -> Option<usize> {
        self.allocations.iter().position(|a| &a.vif_id == vif_id)
    }
    /// The record carrying the CNI attachment `key`, if any.
    pub fn by_attachment(&self, key: &super::cni::AttachKey) -> Option<usize> {
        self.allocations
            .iter()
            .position(|a| a.cni.as_ref().is_some_and(|c| &c.key == key))
    }
    pub fn holds(&self, vf: &PciAddress) -> bool {
        self.allocations.iter().any(|a| &a.vf == vf)
    }
    /// The whole-device allocation holding `a`, if any.
    pub fn whole_holder(&self, a: &PciAddress) -> Option<&super::device::DeviceAllocation> {
        self.devices.iter().find(|d| d.holds(a))
    }
    /// Whether `id` names any allocation, of a VF or of whole devices.
    pub fn id_taken(&self, id: &Uuid) -> bool {
        self.by_vif(id).is_some() || self.devices.iter().any(|d| &d.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as vifman wrote it before ids were typed and the ifindex was dropped: upper-case
    /// and undashed UUIDs, `pf_ifindex` present.
    const OLD: &str = r#"{"allocations":[{"vif_id":"6F0F6F2C7C9A4B9D9C9F0A3A5B1B1D01",
        "instance_uuid":"11111111-2222-3333-4444-555555555555","physnet":"physnet1",
        "mode":"hostdev","vf":"0000:3b:02.0","pf":"0000:3b:00.0","pf_netdev":"enp59s0f0",
        "pf_ifindex":7,"vf_index":0,"phase":"active","requested":[],"bound_driver":null,
        "original":{"vf":{"vf":0,"mac":"00:00:00:00:00:00","vlan":0,"qos":0,
        "vlan_proto":"802.1Q","spoofchk":true,"trust":false,"link_state":"auto",
        "min_tx_rate":0,"max_tx_rate":0},"driver":"iavf","driver_override":null},
        "vif":{},"created":1}]}"#;

    #[test]
    fn old_records_load_and_normalise() {
        let st: StoreState = match serde_json::from_str(OLD) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let a = &st.allocations[0];
        assert_eq!(a.vif_id.to_string(), "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01");
        assert_eq!(a.lost_reason, None);
        assert_eq!(a.pf_serial, None);
        assert_eq!(a.rate_parent, None);
        let again = serde_json::to_string(&st).unwrap();
        assert!(!again.contains("pf_ifindex"), "{again}");
        assert!(
            !again.contains("lost_reason")
                && !again.contains("pf_serial")
                && !again.contains("rate_parent"),
            "{again}"
        );
        assert!(again.contains("\"6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01\""));
        let lower: Uuid = "6f0f6f2c-7c9a-4b9d-9c9f-0a3a5b1b1d01".parse().unwrap();
        assert_eq!(st.by_vif(&lower), Some(0));
    }

    /// `allocate --rate-parent`'s field round-trips, `original: null` meaning "no parent".
    #[test]
    fn a_leaf_parent_change_round_trips() {
        let mut st: StoreState = serde_json::from_str(OLD).unwrap();
        st.allocations[0].rate_parent = Some(LeafParentChange {
            node: "grp1".into(),
            original: None,
        });
        let text = serde_json::to_string(&st).unwrap();
        assert!(
            text.contains(r#""rate_parent":{"node":"grp1","original":null}"#),
            "{text}"
        );
        let back: StoreState = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.allocations[0].rate_parent,
            st.allocations[0].rate_parent
        );
    }
}
