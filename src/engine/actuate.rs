//! Applying and undoing VF changes: one step at a time, each verified by reading the kernel
//! back, so a failure names its step and everything before it can be undone.

use std::time::Duration;

use crate::host::{DriverName, Host, HostError, Knob, KnobKind};
use crate::hwdb::NicModel;
use crate::netlink::VfState;
use crate::store::Allocation;
use crate::types::{IfName, PciAddress};

/// The pre-check before any knob is set: the first knob the NIC refuses per the hardware
/// database ([`crate::host::refusal`], the rule the simulated kernel answers with too) is an
/// error naming the model, unless the request forces it. Allocate and attach both call this,
/// so they refuse the same knobs in the same words.
pub fn refuse_unsupported(
    model: Option<&NicModel>,
    knobs: &[Knob],
    force: bool,
) -> Result<(), super::EngineError> {
    let Some(m) = model.filter(|_| !force) else {
        return Ok(());
    };
    match knobs.iter().find_map(|k| crate::host::refusal(m, k)) {
        Some(r) => Err(super::EngineError::Unsupported {
            model: m.name.clone(),
            knob: r.knob.to_string(),
            hint: r.hint.to_string(),
        }),
        None => Ok(()),
    }
}

/// One change that was made and how to undo it.
#[derive(Debug, Clone)]
pub enum Applied {
    Knob {
        original: Knob,
    },
    Driver {
        original: Option<DriverName>,
        original_override: Option<DriverName>,
    },
    /// The VF's devlink port-function state before a MAC set through the function
    /// activated it (see [`super::portfn`]).
    FnState {
        original: crate::devlink::FnState,
    },
    /// The VF's devlink rate leaf parent before `allocate --rate-parent` (None: none).
    RateParent {
        original: Option<String>,
    },
}

pub struct Target<'a> {
    pub vf: PciAddress,
    pub pf_netdev: &'a IfName,
    pub vf_index: u32,
}

/// A VF as the knob path addresses it: PF netdev and VF index, nothing PCI. [`Target`]
/// is one; [`VfRef`] is one for PFs with VF records but no VF functions (netdevsim), so
/// `vf set` uses this same knob path there.
pub trait VfAt {
    fn pf_netdev(&self) -> &IfName;
    fn vf_index(&self) -> u32;
}

impl VfAt for Target<'_> {
    fn pf_netdev(&self) -> &IfName {
        self.pf_netdev
    }
    fn vf_index(&self) -> u32 {
        self.vf_index
    }
}

pub struct VfRef<'a> {
    pub pf_netdev: &'a IfName,
    pub vf_index: u32,
}

impl VfAt for VfRef<'_> {
    fn pf_netdev(&self) -> &IfName {
        self.pf_netdev
    }
    fn vf_index(&self) -> u32 {
        self.vf_index
    }
}

pub fn read_vf(host: &dyn Host, t: &(impl VfAt + ?Sized)) -> Result<VfState, HostError> {
    host.vf_state_of(t.pf_netdev())?
        .and_then(|l| l.vfs.into_iter().find(|s| s.vf == t.vf_index()))
        .ok_or_else(|| {
            HostError::other(
                format!("read back {} vf {}", t.pf_netdev(), t.vf_index()),
                "the PF no longer reports this VF",
            )
        })
}

/// Set a knob and verify it. Some drivers (i40e) apply asynchronously: re-read a few times.
///
/// The rate knob goes through the VF's devlink rate leaf when the PF's eswitch is in
/// switchdev mode (IFLA_VF_RATE answers EOPNOTSUPP there), so an allocation's rates, `vf
/// set` and every restore of a saved rate work in both modes with the same request. The
/// read-back stays IFLA_VF_RATE: the drivers report the leaf's rates there (netdevsim and
/// mlx5 share the storage).
///
/// The MAC goes through the VF's devlink port function where the VF's port offers one
/// (switchdev mode), falling back to IFLA_VF_MAC where the function answers EOPNOTSUPP (see
/// [`super::portfn::set_mac`]); the read-back below then checks IFLA_VF_MAC too, which the
/// drivers report from the same vport MAC.
pub fn set_knob(host: &dyn Host, t: &(impl VfAt + ?Sized), knob: &Knob) -> Result<(), HostError> {
    set_knob_seen(host, t, knob, &mut None)
}

/// [`set_knob`] for a caller that looked up the VF's port function already (to save its
/// state): a MAC knob takes `seen` and uses it instead of asking devlink again; other knobs
/// leave it for the MAC knob.
pub fn set_knob_seen(
    host: &dyn Host,
    t: &(impl VfAt + ?Sized),
    knob: &Knob,
    seen: &mut Option<super::portfn::Seen>,
) -> Result<(), HostError> {
    let via_devlink = match knob {
        Knob::Rate { min_mbps, max_mbps } => {
            host.set_vf_rate_switchdev(t.pf_netdev(), t.vf_index(), *min_mbps, *max_mbps)?
        }
        Knob::Mac { mac } => match seen.take() {
            Some(s) => super::portfn::set_mac_seen(host, t, *mac, s)?,
            None => super::portfn::set_mac(host, t, *mac)?,
        },
        _ => false,
    };
    if !via_devlink {
        host.set_vf(t.pf_netdev(), t.vf_index(), knob)?;
    }
    for attempt in 0..5 {
        let s = read_vf(host, t)?;
        if knob.holds_in(&s) {
            return Ok(());
        }
        if host.simulated() || attempt == 4 {
            let now = Knob::current(knob.kind(), &s)
                .map(|k| k.describe())
                .unwrap_or_else(|| "unreported".into());
            return Err(HostError::other(
                format!("{} vf {} {}", t.pf_netdev(), t.vf_index(), knob.describe()),
                format!("accepted by the kernel but reads back as {now}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20 << attempt));
    }
    Ok(())
}

/// Bind `vf` to `to` with `driver_override` = `override_to` (see [`Host::bind`]).
pub fn rebind(
    host: &dyn Host,
    vf: &PciAddress,
    to: Option<&DriverName>,
    override_to: Option<&DriverName>,
) -> Result<(), HostError> {
    host.bind(vf, to, override_to)
}

/// A PF-set MAC reaches some VF drivers (igb/ixgbe) only after the VF driver reloads.
pub fn reload_vf_driver(
    host: &dyn Host,
    vf: &PciAddress,
    model: Option<&NicModel>,
) -> Result<(), HostError> {
    let Some(m) = model else { return Ok(()) };
    if !m.quirks.vf_reload_after_mac {
        return Ok(());
    }
    match host.driver_of(vf) {
        Some(d) if d == m.vf_driver => host.reprobe(vf, &d),
        _ => Ok(()),
    }
}

/// Undo `applied` in reverse order; returns the failures (empty = fully undone).
pub fn undo(
    host: &dyn Host,
    t: &Target,
    applied: &[Applied],
    model: Option<&NicModel>,
) -> Vec<String> {
    let mut failures = vec![];
    // A MAC put back from the PF reaches igb/ixgbe VFs only after a VF driver reload (seen
    // on a real igb: the cleared admin MAC stayed zero until igbvf re-registered one).
    let mac_undone = applied.iter().any(|a| {
        matches!(
            a,
            Applied::Knob {
                original: Knob::Mac { .. }
            }
        )
    });
    for a in applied.iter().rev() {
        let r = match a {
            Applied::Knob { original } => set_knob(host, t, original),
            Applied::FnState { original } => super::portfn::restore_state(host, t, *original),
            Applied::RateParent { original } => super::rate::leaf::set_parent(
                host,
                t.pf_netdev.as_str(),
                t.vf_index,
                original.as_deref(),
            ),
            // A bind that failed at its first write changed nothing: nothing to put back
            // (and re-writing a file the kernel just refused would only fail again).
            Applied::Driver {
                original,
                original_override,
            } if host.driver_of(&t.vf) == *original
                && host.driver_override_of(&t.vf) == *original_override =>
            {
                Ok(())
            }
            Applied::Driver {
                original,
                original_override,
            } => rebind(host, &t.vf, original.as_ref(), original_override.as_ref()),
        };
        if let Err(e) = r {
            failures.push(e.to_string());
        }
    }
    if mac_undone && failures.is_empty() {
        if let Err(e) = reload_vf_driver(host, &t.vf, model) {
            failures.push(e.to_string());
        }
    }
    failures
}

/// Put a VF back to its recorded original state: driver first, then every knob that differs,
/// in the kernel's order (MAC before trust: some drivers refuse a MAC change once untrusted).
/// The PF is addressed by name, resolved by the kernel at use time.
pub fn restore(host: &dyn Host, a: &Allocation, model: Option<&NicModel>) -> Vec<String> {
    let mut failures = vec![];
    let cur_driver = host.driver_of(&a.vf);
    let cur_override = host.driver_override_of(&a.vf);
    if cur_driver != a.original.driver || cur_override != a.original.driver_override {
        if let Err(e) = rebind(
            host,
            &a.vf,
            a.original.driver.as_ref(),
            a.original.driver_override.as_ref(),
        ) {
            failures.push(e.to_string());
        }
    }
    let (mac_changed, knob_failures) = restore_knobs(host, a);
    failures.extend(knob_failures);
    if mac_changed && failures.is_empty() {
        if let Err(e) = reload_vf_driver(host, &a.vf, model) {
            failures.push(e.to_string());
        }
    }
    failures
}

/// Set every PF-side knob that differs from the recorded original back to it, in the
/// kernel's order, then the port-function state. Whether the admin MAC changed, and the
/// failures.
pub fn restore_knobs(host: &dyn Host, a: &Allocation) -> (bool, Vec<String>) {
    let t = target(a);
    let mut failures = vec![];
    let now = match read_vf(host, &t) {
        Ok(s) => s,
        Err(e) => return (false, vec![e.to_string()]),
    };
    let mut mac_changed = false;
    for kind in KnobKind::ORDER {
        let Some(orig) = Knob::current(kind, &a.original.vf) else {
            continue;
        };
        if orig.holds_in(&now) {
            continue;
        }
        match set_knob(host, &t, &orig) {
            Ok(()) => mac_changed |= kind == KnobKind::Mac,
            Err(e) => failures.push(e.to_string()),
        }
    }
    // The leaf's parent `allocate --rate-parent` changed, when it is not back already.
    if let Some(c) = &a.rate_parent {
        let pf = t.pf_netdev.as_str();
        let r = super::rate::leaf::parent_of(host, pf, t.vf_index).and_then(|now| {
            if now == c.original {
                Ok(())
            } else {
                super::rate::leaf::set_parent(host, pf, t.vf_index, c.original.as_deref())
            }
        });
        if let Err(e) = r {
            failures.push(e.to_string());
        }
    }
    // After the MAC: a MAC restored through the port function leaves it active.
    if let Some(s) = a.original.port_fn_state {
        if let Err(e) = super::portfn::restore_state(host, &t, s) {
            failures.push(e.to_string());
        }
    }
    (mac_changed, failures)
}

/// The VF of record `a`, addressed as the kernel is asked about it.
pub fn target(a: &Allocation) -> Target<'_> {
    Target {
        vf: a.vf,
        pf_netdev: &a.pf_netdev,
        vf_index: a.vf_index,
    }
}
