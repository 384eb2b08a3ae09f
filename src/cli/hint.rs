//! The command-line hints for library errors. The engine and the store state the domain fact
//! ("VF X is allocated", "the store cannot be read"); which flag or command acts on it is the
//! CLI's business, added here when the error is printed (other callers, the device plugin
//! and the CNI plugin, pass the engine's message on without it).

use std::fmt;

use crate::engine::apply::ApplyError;
use crate::engine::eswitch::EswitchError;
use crate::engine::{EngineError, Recovery};
use crate::store::StoreError;

const REPAIR: &str = "run `vifman reconcile --repair`";

/// The hint for the first error in `e`'s chain that has one.
pub fn hint(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|c| {
        if let Some(e) = c.downcast_ref::<EngineError>() {
            engine(e)
        } else if let Some(e) = c.downcast_ref::<ApplyError>() {
            apply(e)
        } else if let Some(e) = c.downcast_ref::<EswitchError>() {
            eswitch(e)
        } else if let Some(e) = c.downcast_ref::<StoreError>() {
            store(e)
        } else {
            None
        }
    })
}

/// `e` with its CLI hint (if any) after the message: one error whose text is the whole chain,
/// as main prints it, then the hint, on a line of its own when the message has several.
pub fn with_hint(e: anyhow::Error) -> anyhow::Error {
    match hint(&e) {
        Some(hint) => anyhow::Error::new(Hinted { err: e, hint }),
        None => e,
    }
}

#[derive(Debug)]
struct Hinted {
    err: anyhow::Error,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self
            .err
            .chain()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        let sep = if msg.contains('\n') { "\n" } else { "; " };
        write!(f, "{msg}{sep}{}", self.hint)
    }
}

impl std::error::Error for Hinted {}

fn engine(e: &EngineError) -> Option<String> {
    match e {
        EngineError::Quarantined { vf, .. } => Some(format!(
            "clear it with `vifman release --clear-quarantine {vf}` or {REPAIR}"
        )),
        EngineError::VfAllocated { .. } => Some("--force changes it anyway".into()),
        EngineError::ResetAllocated { vif_id, .. } => Some(format!(
            "`vifman release --vif-id {vif_id}` resets it as part of the release"
        )),
        EngineError::NotQuarantined { vif_id, .. } => Some(format!(
            "release it with `vifman release --vif-id {vif_id}`"
        )),
        EngineError::ZeroCount { .. } => Some("--count must be at least 1".into()),
        EngineError::Actuation { next: Some(n), .. } => Some(recovery(*n, None)),
        EngineError::Eswitch(e) => eswitch(e),
        EngineError::Rate(e) => rate(e),
        EngineError::Store(e) => store(e),
        _ => None,
    }
}

/// The command for a [`Recovery`]; `vif_id` names the record where the step needs it.
pub fn recovery(n: Recovery, vif_id: Option<&str>) -> String {
    let vif = vif_id.unwrap_or("ID");
    match n {
        Recovery::Repair => REPAIR.into(),
        Recovery::RetryRelease => format!("run `vifman release` again or {REPAIR}"),
        Recovery::Reconcile => "run `vifman reconcile`".into(),
        Recovery::ReleaseVif => {
            format!("`vifman release --vif-id {vif}` puts it back to the kernel defaults")
        }
        Recovery::Release => format!("`vifman release --vif-id {vif}` frees it"),
    }
}

fn apply(e: &ApplyError) -> Option<String> {
    match e {
        ApplyError::Allocated(_) => Some("--force overrides".into()),
        ApplyError::HeldWhole(_) => Some("--force does not override".into()),
        ApplyError::Engine(e) => engine(e),
        ApplyError::Store(e) => store(e),
        _ => None,
    }
}

fn eswitch(e: &EswitchError) -> Option<String> {
    match e {
        EswitchError::Allocated { .. } => Some("--force changes the mode anyway".into()),
        _ => None,
    }
}

fn rate(e: &crate::engine::rate::RateError) -> Option<String> {
    use crate::engine::rate::RateError;
    match e {
        RateError::HasChildren { .. } => {
            Some("`vifman vf rate PF N --no-parent` (or `vifman rate-node set PF NODE --no-parent`) unparents them".into())
        }
        RateError::NoLeaf { .. } => Some("`vifman eswitch PF switchdev` gives VFs their ports".into()),
        RateError::UnknownNode { .. } => Some("`vifman rate-node list PF` shows them".into()),
        _ => None,
    }
}

fn store(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Damaged { .. } | StoreError::Lost { .. } => Some(REPAIR.into()),
        StoreError::Exhausted { .. } => Some(format!("after moving the directory aside, {REPAIR}")),
        // A slot that checks out holds what vifman never writes: moved aside, the other slot
        // (older) is used, and with neither usable the repair rebuilds from the hardware.
        StoreError::Decode { .. } => Some(format!(
            "move that file aside to fall back to the other slot (older records), and if neither can be read, {REPAIR}"
        )),
        StoreError::Version { .. } => Some("use the vifman that wrote it".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_follows_the_chain_and_the_message() {
        let vf: crate::types::PciAddress = "0000:3b:02.0".parse().unwrap();
        let e = anyhow::Error::new(EngineError::Quarantined {
            vf,
            reason: "FLR failed".into(),
        })
        .context("release x");
        let text = with_hint(e).to_string();
        assert!(
            text.starts_with("release x: release of 0000:3b:02.0"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "; clear it with `vifman release --clear-quarantine 0000:3b:02.0` or run `vifman reconcile --repair`"
            ),
            "{text}"
        );
        let e = anyhow::Error::new(ApplyError::Allocated(vec!["a".into(), "b".into()]));
        assert!(with_hint(e).to_string().ends_with("\nb\n--force overrides"));
        let plain = anyhow::anyhow!("no hint");
        assert_eq!(with_hint(plain).to_string(), "no hint");
    }
}
