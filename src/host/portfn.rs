//! A VF's devlink port function, as the engine needs it: the VF's MAC (`hw_addr`) and, where
//! the driver reports one, the function's `state`. In switchdev mode (mlx5, ice, bnxt) the
//! MAC a VF driver picks up is the one programmed through `devlink port function set`, so
//! the engine sets it there when the VF's port offers it (see `engine::portfn`). The real
//! kernel answers over generic netlink ([`crate::devlink`]); the simulation keeps the state
//! in a file of its own (see `sim/portfn.rs`). netdevsim registers no port-function ops: its
//! ports report no function, so [`real_vf_port_function`] says None and the legacy
//! IFLA_VF_MAC path is used there.

use serde::Serialize;

use super::eswitch::{devlink_err, open};
use super::HostError;
use crate::devlink::{Devlink, DevlinkError, EswitchMode, FnState, PortFlavour};
use crate::types::{IfName, MacAddress};

/// The port function of one VF's devlink port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VfPortFunction {
    /// The port, `bus/dev/index` as `devlink port` names it.
    pub port: String,
    pub hw_addr: MacAddress,
    /// None where the function reports no state (VF ports of mlx5 and ice report only
    /// hw_addr; SF ports report both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<FnState>,
}

/// `devlink port function set ... hw_addr MAC state S` as a one-line description.
pub fn describe_set(
    pf: &IfName,
    vf: u32,
    hw_addr: Option<MacAddress>,
    state: Option<FnState>,
) -> String {
    let mut op = format!("devlink port function set {pf} vf {vf}");
    if let Some(m) = hw_addr {
        op.push_str(&format!(" hw_addr {m}"));
    }
    if let Some(s) = state {
        op.push_str(&format!(" state {s}"));
    }
    op
}

/// The VF ports of `pf` (instance, VF number, port index) and their functions, when `pf`'s
/// eswitch is in switchdev mode: the local `pcivf` ports that report a function with
/// hw_addr. None when `pf` has no instance or is not in switchdev mode. A devlink that cannot
/// say (a dump refused) is an error the callers log and take as "no port function": the
/// legacy path then reports the kernel's answer, as it did before vifman asked devlink.
type VfPorts = (crate::devlink::DevHandle, Vec<(u32, u32, VfPortFunction)>);

fn lookup_all(dl: &mut Devlink, pf: &IfName) -> Result<Option<VfPorts>, DevlinkError> {
    // One port dump serves both questions: which instance has `pf` as its netdev (as
    // `pf::resolve` asks it) and which of its ports are the VFs'.
    let ports = dl.ports()?;
    let Some(dev) = ports
        .iter()
        .find(|p| p.netdev.as_deref() == Some(pf.as_str()) && p.flavour != PortFlavour::PciVf)
        .map(|p| p.dev.clone())
    else {
        return Ok(None);
    };
    match dl.eswitch(&dev) {
        Ok(e) if e.mode == EswitchMode::Switchdev => {}
        Ok(_) => return Ok(None),
        Err(e) if e.unsupported() => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut vfs = vec![];
    for port in ports.into_iter().filter(|p| {
        p.dev == dev
            && p.flavour == PortFlavour::PciVf
            && !p.external
            && p.controller.unwrap_or(0) == 0
    }) {
        let Some(vf) = port.vfnum.map(u32::from) else {
            continue;
        };
        // The first port of a VF number, as a lookup by number finds it.
        if vfs.iter().any(|(v, _, _)| *v == vf) {
            continue;
        }
        let Some(f) = port.function.as_ref() else {
            vfs.push((vf, port.index, None));
            continue;
        };
        let hw_addr: Option<MacAddress> = f.hw_addr.as_deref().and_then(|m| m.parse().ok());
        vfs.push((
            vf,
            port.index,
            hw_addr.map(|hw_addr| VfPortFunction {
                port: format!("{dev}/{}", port.index),
                hw_addr,
                state: f.fn_state(),
            }),
        ));
    }
    let vfs = vfs
        .into_iter()
        .filter_map(|(v, i, f)| Some((v, i, f?)))
        .collect();
    Ok(Some((dev, vfs)))
}

/// The VF's port (instance and port index) and its function (see [`lookup_all`]).
fn lookup(
    dl: &mut Devlink,
    pf: &IfName,
    vf: u32,
) -> Result<Option<(crate::devlink::DevHandle, u32, VfPortFunction)>, DevlinkError> {
    let Some((dev, vfs)) = lookup_all(dl, pf)? else {
        return Ok(None);
    };
    Ok(vfs
        .into_iter()
        .find(|(v, _, _)| *v == vf)
        .map(|(_, index, f)| (dev, index, f)))
}

/// Every VF port function of `pf`, by VF index, from one port dump and one eswitch get.
pub(super) fn real_vf_port_functions(
    pf: &IfName,
) -> Result<std::collections::BTreeMap<u32, VfPortFunction>, HostError> {
    let _span = tracing::debug_span!("devlink_port_functions_get", pf = %pf).entered();
    let Some(mut dl) = open()? else {
        return Ok(Default::default());
    };
    match lookup_all(&mut dl, pf) {
        Ok(f) => Ok(f
            .map(|(_, vfs)| vfs.into_iter().map(|(v, _, f)| (v, f)).collect())
            .unwrap_or_default()),
        Err(e) => {
            tracing::warn!(error = %e, "devlink port functions of {pf}: lookup failed; using IFLA_VF_MAC");
            Ok(Default::default())
        }
    }
}

pub(super) fn real_vf_port_function(
    pf: &IfName,
    vf: u32,
) -> Result<Option<VfPortFunction>, HostError> {
    let _span = tracing::debug_span!("devlink_port_function_get", pf = %pf, vf).entered();
    let Some(mut dl) = open()? else {
        return Ok(None);
    };
    match lookup(&mut dl, pf, vf) {
        Ok(f) => Ok(f.map(|(_, _, f)| f)),
        Err(e) => {
            tracing::warn!(error = %e, "devlink port function of {pf} vf {vf}: lookup failed; using IFLA_VF_MAC");
            Ok(None)
        }
    }
}

/// One PORT_SET with the function nest: hw_addr first, then state, the order the kernel
/// applies them in. A VF whose port no longer reports a function answers EOPNOTSUPP, as
/// the kernel does for a port without the ops.
pub(super) fn real_set_vf_port_function(
    pf: &IfName,
    vf: u32,
    hw_addr: Option<MacAddress>,
    state: Option<FnState>,
) -> Result<(), HostError> {
    let op = describe_set(pf, vf, hw_addr, state);
    let _span = tracing::info_span!("devlink_port_function_set", pf = %pf, vf).entered();
    let mut dl = open()?.ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
    let (dev, index, _) = lookup(&mut dl, pf, vf)
        .map_err(|e| devlink_err(&op, e))?
        .ok_or_else(|| HostError::kernel(&op, libc::EOPNOTSUPP))?;
    dl.set_port_function(&dev, index, hw_addr.map(|m| m.octets()), state)
        .map_err(|e| devlink_err(&op, e))
}
