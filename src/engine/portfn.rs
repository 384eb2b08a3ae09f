//! A VF's MAC in switchdev mode: through the VF's devlink port function (`devlink port
//! function set PORT hw_addr MAC`), which is where mlx5, ice and bnxt take the MAC a VF
//! driver picks up once its eswitch is in switchdev mode. [`set_mac`] is what
//! `actuate::set_knob` does for a MAC, so allocations, `vf set`, `apply` and every restore
//! of a saved MAC take the same route, before the VF driver binds (knobs come before the
//! bind in every plan).
//!
//! The drivers keep one vport MAC that both `hw_addr` and IFLA_VF_MAC write and both
//! report, so the saved admin MAC (the record's `original.vf.mac`) is the saved hw_addr and
//! its restore goes back through here. A function that reports a state gets `state active`
//! with the MAC (a VF driver cannot use an inactive function); the state it had is saved in
//! the record (`original.port_fn_state`) and put back by [`restore_state`] on release and
//! rollback.

use super::actuate::VfAt;
use crate::devlink::FnState;
use crate::host::{describe_port_function_set, Host, HostError, Knob, VfPortFunction};
use crate::types::{IfName, MacAddress};

/// Set `mac` on the VF through its port function, when the VF's port offers one.
///
/// `Ok(false)`: no port function (legacy mode, no devlink, netdevsim, a fixture tree): the
/// caller sends IFLA_VF_MAC as before. `Ok(true)`: the MAC is set, through the port function
/// and read back from the port dump, or, where the function answered EOPNOTSUPP, through
/// IFLA_VF_MAC. A failure after the request puts hw_addr and state back as they were, so the
/// function is never left half-set (the kernel applies hw_addr before state, and a refused
/// state would otherwise leave the new hw_addr behind).
pub fn set_mac(
    host: &dyn Host,
    t: &(impl VfAt + ?Sized),
    mac: MacAddress,
) -> Result<bool, HostError> {
    let seen = look(host, t.pf_netdev(), t.vf_index())?;
    set_mac_seen(host, t, mac, seen)
}

/// What one devlink lookup found of a VF's port function. The callers that save the
/// function's state before a MAC knob (allocate, `vf set`, `apply`, boot restore) keep it and
/// hand it to [`set_mac_seen`], so the knob asks devlink once (a port dump and an eswitch
/// get on the real host) instead of twice for the same answer. Only valid until the next
/// change to the VF's MAC or eswitch: the MAC knob comes first in every plan.
#[derive(Debug, Clone)]
pub struct Seen(Option<VfPortFunction>);

impl Seen {
    /// The function's state, for the saved-state record (as [`state_of`] says it).
    pub fn state(&self) -> Option<FnState> {
        self.0.as_ref().and_then(|f| f.state)
    }
}

/// Look up the VF's port function once, to pass on to [`set_mac_seen`].
pub fn look(host: &dyn Host, pf: &IfName, vf: u32) -> Result<Seen, HostError> {
    host.vf_port_function(pf, vf).map(Seen)
}

/// [`set_mac`] with the port function already looked up (see [`Seen`]).
pub fn set_mac_seen(
    host: &dyn Host,
    t: &(impl VfAt + ?Sized),
    mac: MacAddress,
    seen: Seen,
) -> Result<bool, HostError> {
    let (pf, vf) = (t.pf_netdev(), t.vf_index());
    let Some(before) = seen.0 else {
        return Ok(false);
    };
    let _span =
        tracing::info_span!("vf_mac_port_function", pf = %pf, vf, mac = %mac, port = %before.port)
            .entered();
    let state = (before.state == Some(FnState::Inactive)).then_some(FnState::Active);
    if before.hw_addr == mac && state.is_none() {
        return Ok(true);
    }
    let op = describe_port_function_set(pf, vf, Some(mac), state);
    match host.set_vf_port_function(pf, vf, Some(mac), state) {
        Ok(()) => {}
        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => {
            put_back(host, pf, vf, &before)?;
            tracing::info!("the port function has no hw_addr op (EOPNOTSUPP); using IFLA_VF_MAC");
            return host
                .set_vf(pf, vf, &Knob::Mac { mac })
                .map(|()| true)
                .map_err(|legacy| HostError::MacUnsupported {
                    op,
                    legacy: Box::new(legacy),
                });
        }
        Err(e) => return Err(with_put_back(host, pf, vf, &before, e)),
    }
    let now = match host.vf_port_function(pf, vf) {
        Ok(n) => n,
        Err(e) => return Err(with_put_back(host, pf, vf, &before, e)),
    };
    let holds = now
        .as_ref()
        .is_some_and(|n| n.hw_addr == mac && (state.is_none() || n.state == state));
    if holds {
        return Ok(true);
    }
    let seen = now
        .map(|n| describe(&n))
        .unwrap_or_else(|| "no port function".into());
    let e = HostError::other(
        op,
        format!("accepted by the kernel but the port dump reads {seen}"),
    );
    Err(with_put_back(host, pf, vf, &before, e))
}

/// The VF's port-function state now, for the saved-state record; None where the VF has no
/// port function or its function reports no state.
pub fn state_of(host: &dyn Host, pf: &IfName, vf: u32) -> Result<Option<FnState>, HostError> {
    Ok(host.vf_port_function(pf, vf)?.and_then(|f| f.state))
}

/// Put the VF's port-function state back to `original` when it reports another one, and
/// read it back. Nothing to do where the VF has no port function any more (the eswitch
/// left switchdev mode: the state went with it).
pub fn restore_state(
    host: &dyn Host,
    t: &(impl VfAt + ?Sized),
    original: FnState,
) -> Result<(), HostError> {
    let (pf, vf) = (t.pf_netdev(), t.vf_index());
    let Some(now) = host.vf_port_function(pf, vf)? else {
        return Ok(());
    };
    if now.state.is_none() || now.state == Some(original) {
        return Ok(());
    }
    let _span =
        tracing::info_span!("vf_port_function_state_restore", pf = %pf, vf, state = %original)
            .entered();
    let op = describe_port_function_set(pf, vf, None, Some(original));
    host.set_vf_port_function(pf, vf, None, Some(original))?;
    match host.vf_port_function(pf, vf)? {
        Some(n) if n.state == Some(original) => Ok(()),
        n => Err(HostError::other(
            op,
            format!(
                "accepted by the kernel but the port dump reads {}",
                n.map(|n| describe(&n))
                    .unwrap_or_else(|| "no port function".into())
            ),
        )),
    }
}

fn describe(f: &VfPortFunction) -> String {
    match f.state {
        Some(s) => format!("hw_addr {} state {s}", f.hw_addr),
        None => format!("hw_addr {}", f.hw_addr),
    }
}

/// Set hw_addr and state back to `before` where they now differ.
fn put_back(
    host: &dyn Host,
    pf: &IfName,
    vf: u32,
    before: &VfPortFunction,
) -> Result<(), HostError> {
    let Some(now) = host.vf_port_function(pf, vf)? else {
        return Ok(());
    };
    let hw_addr = (now.hw_addr != before.hw_addr).then_some(before.hw_addr);
    let state = before.state.filter(|s| now.state != Some(*s));
    if hw_addr.is_none() && state.is_none() {
        return Ok(());
    }
    let _span = tracing::info_span!("vf_port_function_put_back", pf = %pf, vf).entered();
    host.set_vf_port_function(pf, vf, hw_addr, state)
}

/// `e`, after putting the function back; a put-back that fails too is named in the error
/// (the errno of `e` is then lost: the message says both).
fn with_put_back(
    host: &dyn Host,
    pf: &IfName,
    vf: u32,
    before: &VfPortFunction,
    e: HostError,
) -> HostError {
    match put_back(host, pf, vf, before) {
        Ok(()) => e,
        Err(p) => HostError::other(
            e.to_string(),
            format!(
                "putting the port function back to {} failed too: {p}",
                describe(before)
            ),
        ),
    }
}
