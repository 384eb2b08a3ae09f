//! Taps for the bridge and OVS backends: whether an existing one may be adopted. Creating
//! one is a kernel operation and lives in the host layer ([`crate::host::tun`]).

use super::rtnl::Link;
use super::{BackendError, Result};
pub use crate::host::tun::create_persistent_tap;
use crate::host::tun::TUN_TYPE_TAP;

/// Whether an existing link named like our tap may be used as it: it must be a TAP (not a
/// TUN, not another kind) and not owned by another user, whose VMM it would be.
pub fn check_adoptable(l: &Link) -> Result<()> {
    let collision = |found: String| BackendError::NameCollision {
        name: l.name.clone(),
        found,
        wanted: "tap".into(),
    };
    if l.kind.as_deref() != Some("tun") {
        return Err(collision(
            l.kind.clone().unwrap_or_else(|| "a device".into()),
        ));
    }
    // Kernels before 4.15 report no tun attributes; only refuse what we can see.
    if l.tun_type.is_some_and(|t| t != TUN_TYPE_TAP) {
        return Err(collision("a TUN (layer 3) device".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if let Some(owner) = l.tun_owner.filter(|o| *o != me) {
        return Err(collision(format!("a tap owned by uid {owner}")));
    }
    Ok(())
}
