//! The vocabulary of a plan: each step's [`Action`] (what the executor does and what its
//! undo puts back), the [`Planned`] result, and the helpers every planner (per-PF knobs and
//! drivers in `plan`, eswitch and rate steps in their own files) uses to build a [`Step`].
//! Apart from `plan` so the executor, the boot replay and the step builders depend on the
//! step types without depending on the planning rules.

use super::{Step, StepStatus};
use crate::devlink::EswitchMode;
use crate::host::Knob;
use crate::store::{Allocation, PolicyVf};
use crate::sysfs::Sriov;
use crate::types::{DriverName, IfName, PciAddress};

/// What a step does, for the executor and its undo.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Up(IfName),
    Down(IfName),
    Mtu {
        netdev: IfName,
        from: Option<u32>,
        to: u32,
    },
    Autoprobe {
        pf: PciAddress,
        from: bool,
        to: bool,
    },
    NumVfs {
        pf: PciAddress,
        from: u32,
        to: u32,
        /// After this write: are VFs probed, and by which NIC driver (for the wait).
        probed: bool,
        vf_driver: Option<DriverName>,
    },
    /// The VF count of a non-PCI PF (`engine::vfcount`, through 0, rolled back in place
    /// on failure); `pf` is a [`crate::engine::vfcount::VfCountPf::Bus`].
    BusNumVfs {
        pf: crate::engine::vfcount::VfCountPf,
        from: u32,
        to: u32,
    },
    /// A VF knob through the PF netdev; `pf` is the PCI PF (the VF must exist as a
    /// function) or, for a non-PCI PF, its netdev (the VF is a record behind it).
    Knob {
        pf: crate::host::PfId,
        pf_netdev: IfName,
        vf_index: u32,
        from: Option<Knob>,
        to: Knob,
        /// The VF's devlink port-function state before a MAC step, captured when the step
        /// runs (a MAC through the function may activate it), so its undo puts it back.
        fn_state_from: Option<crate::devlink::FnState>,
    },
    Reload {
        pf: PciAddress,
        vf_index: u32,
        driver: DriverName,
    },
    /// A devlink rate node added or set (`engine::rate`); `before`: the node as found
    /// (None: absent, the undo deletes it).
    RateNode {
        pf: crate::host::PfId,
        name: crate::types::RateNodeName,
        want: crate::engine::rate::RateWant,
        before: Option<crate::host::RateEntry>,
    },
    /// A VF's devlink rate leaf parented to a node (`from`: its parent before, None: none).
    RateParent {
        pf: crate::host::PfId,
        vf_index: u32,
        from: Option<String>,
        to: crate::types::RateNodeName,
    },
    /// The devlink eswitch mode (`engine::eswitch::change_mode`, hwdb order).
    Eswitch {
        pf: crate::host::PfId,
        from: EswitchMode,
        to: EswitchMode,
    },
    Driver {
        pf: PciAddress,
        vf_index: u32,
        from: Option<DriverName>,
        from_override: Option<DriverName>,
        to: Option<DriverName>,
        override_to: Option<DriverName>,
    },
}

pub(super) struct Planned {
    pub steps: Vec<Step>,
    pub deferred: Vec<String>,
    pub conflicts: Vec<String>,
    /// PFs passed through whole: the plan leaves them alone (never forced, also at boot,
    /// where the replay puts them back on vfio-pci); a plain apply names them as an error.
    pub held_whole: Vec<String>,
    /// Each policy VF's MAC and driver once the plan is carried out (see [`PolicyVf`]).
    pub policy_vfs: Vec<PolicyVf>,
}

/// `pf`: a PCI address, or the netdev of a non-PCI PF.
pub(super) fn step(
    pf: &dyn std::fmt::Display,
    object: String,
    old: String,
    new: String,
    rule: Option<&str>,
    action: Action,
) -> Step {
    Step {
        pf: pf.to_string(),
        object,
        old,
        new,
        rule: rule.map(String::from),
        status: StepStatus::Planned,
        error: None,
        action,
    }
}

pub(super) fn opt(s: &Option<DriverName>) -> String {
    s.as_deref().unwrap_or("(none)").to_string()
}

/// Where VF `i` will appear (the SR-IOV routing-ID rule, [`PciAddress::vf_address`]).
pub(super) fn predicted_vf(pf: &PciAddress, s: &Sriov, i: u32) -> Option<PciAddress> {
    pf.vf_address(s.offset?, s.stride?, i)
}

pub(super) fn describe_alloc(a: &Allocation) -> String {
    format!(
        "{} ({} vf {}) is allocated to VIF {} (instance {})",
        a.vf, a.pf_netdev, a.vf_index, a.vif_id, a.instance_uuid
    )
}
