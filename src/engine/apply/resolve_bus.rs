//! A `[[pf]]` entry whose `netdev` names a non-PCI SR-IOV PF (netdevsim's bus device,
//! `netdevsim/netdevsimN`). The apply engine plans and executes by PCI address (VF count
//! with its VF-driver wait, autoprobe, VF driver binding, the PCI-keyed allocation store), so
//! such a PF is recognised here and every key the entry writes is refused by name, instead
//! of the entry being reported as matching nothing (which reads as a typo) or being skipped
//! silently. Keys that need PCI by nature (VF drivers, autoprobe) say so; the others point to
//! the per-PF commands, which already take a non-PCI PF.

use super::Engine;
use crate::config::policy::{PfPolicy, Policy};

/// Why a written key does not run on a non-PCI PF.
const NEEDS_PCI: &str = "needs a PCI PF (VF drivers bind to PCI VFs)";
const NOT_YET: &str = "is not applied to a non-PCI PF yet; set it with the per-PF commands (numvfs, eswitch, rate, vf set), which take this PF";

/// The written keys of `p`, each with why it cannot run on a non-PCI PF.
fn refused_keys(p: &PfPolicy) -> Vec<(String, &'static str)> {
    let mut out = vec![];
    let mut key = |written: bool, k: String, why: &'static str| {
        if written {
            out.push((k, why));
        }
    };
    key(p.numvfs.is_some(), "numvfs".into(), NOT_YET);
    key(
        p.drivers_autoprobe.is_some(),
        "drivers_autoprobe".into(),
        NEEDS_PCI,
    );
    key(p.mtu.is_some(), "mtu".into(), NOT_YET);
    key(p.up.is_some(), "up".into(), NOT_YET);
    key(p.eswitch.is_some(), "eswitch".into(), NOT_YET);
    key(!p.rate_nodes.is_empty(), "rate_nodes[0]".into(), NOT_YET);
    for (j, v) in p.vfs.iter().enumerate() {
        key(v.driver.is_some(), format!("vf[{j}].driver"), NEEDS_PCI);
        for (written, k) in [
            (v.mac.is_some(), "mac"),
            (v.spoofchk.is_some(), "spoofchk"),
            (v.trust.is_some(), "trust"),
            (v.link_state.is_some(), "link_state"),
            (v.min_tx_rate.is_some(), "min_tx_rate"),
            (v.max_tx_rate.is_some(), "max_tx_rate"),
            (v.rate_parent.is_some(), "rate_parent"),
        ] {
            key(written, format!("vf[{j}].{k}"), NOT_YET);
        }
    }
    out
}

/// When `p` selects by netdev alone and that netdev is a non-PCI SR-IOV PF: one error per
/// written key (none when the entry writes nothing but its selector). None: not such a PF,
/// the usual "matches nothing" applies.
pub(super) fn refuse_bus_pf(engine: &Engine, policy: &Policy, p: &PfPolicy) -> Option<Vec<String>> {
    let s = &p.select;
    if s.address.is_some() || s.serial.is_some() || s.device.is_some() {
        return None;
    }
    let nd = s.netdev.as_ref()?;
    let dev = engine.host.bus_device_of(nd)?;
    engine.host.bus_sriov(&dev)?;
    Some(
        refused_keys(p)
            .into_iter()
            .map(|(k, why)| {
                format!(
                    "{}: {nd} is the PF of {dev}, not a PCI function: {k} {why}",
                    policy.locate(p, &k),
                )
            })
            .collect(),
    )
}
