//! A netdev a plug changes but did not create (an adopted tap, a representor), as it was
//! before the plug: a plug refused later (OVSDB, a port on another bridge, a kernel error
//! halfway through one RTM_SETLINK) puts it back, so bad input leaves the kernel as it
//! found it, not with the VIF's MTU and MAC on a device that was someone else's state.

use crate::backend::rtnl::{Link, LinkChange, Request, Rtnl};
use crate::backend::{BackendError, Result};
use crate::types::IfName;

/// The state [`restore`] puts back.
pub(crate) struct Prior {
    index: u32,
    name: String,
    mtu: u32,
    address: Option<[u8; 6]>,
    up: bool,
    /// The bridge/OVS master's ifindex, None: not enslaved.
    master: Option<u32>,
}

impl Prior {
    pub(crate) fn of(l: &Link) -> Prior {
        Prior {
            index: l.index,
            name: l.name.clone(),
            mtu: l.mtu,
            address: l.address.as_deref().and_then(|a| a.try_into().ok()),
            up: l.up,
            master: l.master,
        }
    }
}

/// The current state of `name`, or None when it does not exist (the plug will create it).
pub(crate) fn snapshot(rt: &mut Rtnl, name: &IfName) -> Result<Option<Prior>> {
    let l = rt
        .get_link(name.as_str())
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?;
    Ok(l.as_ref().map(Prior::of))
}

/// Puts a netdev back as [`snapshot`] found it (best effort: the caller is already failing
/// with the reason that matters; a failed put-back is logged).
pub(crate) fn restore(rt: &mut Rtnl, p: &Prior) {
    let _s = tracing::debug_span!("restore_netdev", name = %p.name).entered();
    let ch = LinkChange {
        mtu: Some(p.mtu),
        address: p.address,
        up: Some(p.up),
        master: Some(p.master.unwrap_or(0)),
        group: None,
    };
    if let Err(e) = rt.request(Request::set_link(p.index, &p.name, &ch)) {
        tracing::warn!(name = %p.name, error = %e, "could not put the netdev back after a failed plug");
    }
}
