//! The kernel side of an OVS port: the tap os-vif's `create_tap` makes, and the up/down and
//! MTU of netdevs OVS attaches (representors, libvirt-made taps).

use crate::backend::bridge::{ensure_tap, TapSpec};
use crate::backend::rtnl::{LinkChange, Request, Rtnl, RtnlError};
use crate::backend::{tap, BackendError, Result};
use crate::types::IfName;

/// Creates (if needed) and configures the tap os-vif's create_tap makes; returns whether
/// it was created. An existing tap is only adopted if it is ours to take
/// ([`tap::check_adoptable`]).
pub(crate) fn prepare_tap(rt: &mut Rtnl, t: &TapSpec) -> Result<bool> {
    let _s = tracing::debug_span!("ovs_prepare_tap", name = %t.name).entered();
    let created = ensure_tap(rt, t)?;
    // Before it goes up, so no link-local address is ever configured.
    if created {
        if let Err(e) = crate::backend::disable_ipv6(&t.name) {
            let _ = delete_tap(rt, &t.name);
            return Err(e);
        }
    }
    let ch = LinkChange {
        master: None,
        mtu: Some(t.mtu),
        address: t.mac.map(|m| m.octets()),
        up: Some(true),
        group: None,
    };
    if let Err(e) = rt.request(Request::set_link_by_name(t.name.as_str(), &ch)) {
        if created {
            let _ = delete_tap(rt, &t.name);
        }
        return Err(BackendError::netlink(
            format!("configure tap {}", t.name),
            e,
        ));
    }
    Ok(created)
}

/// Sets a netdev up/down and its MTU. With `must_exist` false a missing netdev is skipped,
/// as os-vif does for ports whose netdev libvirt has not made yet.
pub(crate) fn set_netdev(
    rt: &mut Rtnl,
    name: &IfName,
    up: Option<bool>,
    mtu: Option<u32>,
    must_exist: bool,
) -> Result<()> {
    let name = name.as_str();
    let l = rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?;
    let Some(l) = l else {
        if must_exist {
            return Err(BackendError::netlink(
                format!("look up {name}"),
                RtnlError::Kernel {
                    errno: libc::ENODEV,
                    ext: None,
                },
            ));
        }
        return Ok(());
    };
    let ch = LinkChange {
        up,
        mtu,
        ..Default::default()
    };
    rt.request(Request::set_link(l.index, name, &ch))
        .map_err(|e| BackendError::netlink(format!("configure {name}"), e))
}

/// Deletes our tap `name`; anything else by that name (or a tap we may not adopt) is left.
pub(crate) fn delete_tap(rt: &mut Rtnl, name: &IfName) -> Result<bool> {
    let name = name.as_str();
    match rt
        .get_link(name)
        .map_err(|e| BackendError::netlink(format!("look up {name}"), e))?
    {
        Some(l) if tap::check_adoptable(&l).is_ok() => {
            match rt.request(Request::del_link(l.index, name)) {
                Ok(()) => Ok(true),
                Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
                Err(e) => Err(BackendError::netlink(format!("delete {name}"), e)),
            }
        }
        _ => Ok(false),
    }
}
