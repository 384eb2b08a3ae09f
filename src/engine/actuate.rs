//! Applying and undoing VF changes: one step at a time, each verified by reading the kernel
//! back, so a failure names its step and everything before it can be undone.

use std::time::Duration;

use super::record::Allocation;
use crate::host::{DriverName, Host, HostError, Knob, KnobKind, SysWrite};
use crate::hwdb::NicModel;
use crate::netlink::VfState;
use crate::types::{IfName, PciAddress};

/// One change that was made and how to undo it.
#[derive(Debug, Clone)]
pub enum Applied {
    Knob {
        original: Knob,
    },
    Driver {
        original: Option<String>,
        original_override: Option<String>,
    },
}

pub struct Target<'a> {
    pub vf: PciAddress,
    pub pf_netdev: &'a IfName,
    pub vf_index: u32,
}

pub fn read_vf(host: &dyn Host, t: &Target) -> Result<VfState, HostError> {
    host.vf_state_of(t.pf_netdev)?
        .and_then(|l| l.vfs.into_iter().find(|s| s.vf == t.vf_index))
        .ok_or_else(|| {
            HostError::other(
                format!("read back {} vf {}", t.pf_netdev, t.vf_index),
                "the PF no longer reports this VF",
            )
        })
}

/// Set a knob and verify it. Some drivers (i40e) apply asynchronously: re-read a few times.
pub fn set_knob(host: &dyn Host, t: &Target, knob: &Knob) -> Result<(), HostError> {
    host.set_vf(t.pf_netdev, t.vf_index, knob)?;
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
                format!("{} vf {} {}", t.pf_netdev, t.vf_index, knob.describe()),
                format!("accepted by the kernel but reads back as {now}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20 << attempt));
    }
    Ok(())
}

pub fn current_driver(host: &dyn Host, vf: &PciAddress) -> Option<String> {
    std::fs::read_link(
        host.root()
            .path()
            .join(format!("sys/bus/pci/devices/{vf}/driver")),
    )
    .ok()?
    .file_name()?
    .to_str()
    .map(String::from)
}

fn driver_name(s: &str) -> Result<DriverName, HostError> {
    DriverName::new(s).map_err(|m| HostError::other("driver", m))
}

/// driver_override + unbind + drivers_probe, then wait for the bind to show in sysfs.
pub fn rebind(
    host: &dyn Host,
    vf: &PciAddress,
    to: Option<&str>,
    override_to: Option<&str>,
) -> Result<(), HostError> {
    let _span = tracing::info_span!("rebind", vf = %vf, to = to.unwrap_or("-")).entered();
    host.write(&SysWrite::DriverOverride(
        *vf,
        override_to.map(driver_name).transpose()?,
    ))?;
    if let Some(cur) = current_driver(host, vf) {
        if Some(cur.as_str()) == to {
            return Ok(());
        }
        host.write(&SysWrite::Unbind(*vf, driver_name(&cur)?))?;
    }
    if to.is_some() {
        host.write(&SysWrite::Probe(*vf))?;
        let want = to.map(String::from);
        host.wait_until(
            &format!("{vf} bound to {}", to.unwrap_or("-")),
            Duration::from_secs(10),
            &mut || current_driver(host, vf) == want,
        )?;
    }
    Ok(())
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
    match current_driver(host, vf) {
        Some(d) if d == m.vf_driver => {
            host.write(&SysWrite::Unbind(*vf, driver_name(&d)?))?;
            host.write(&SysWrite::Probe(*vf))?;
            host.wait_until(
                &format!("{vf} rebound to {d}"),
                Duration::from_secs(10),
                &mut || current_driver(host, vf).as_deref() == Some(d.as_str()),
            )
        }
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
            Applied::Driver {
                original,
                original_override,
            } => rebind(
                host,
                &t.vf,
                original.as_deref(),
                original_override.as_deref(),
            ),
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
pub fn restore(host: &dyn Host, a: &Allocation, model: Option<&NicModel>) -> Vec<String> {
    let t = Target {
        vf: a.vf,
        pf_netdev: &a.pf_netdev,
        vf_index: a.vf_index,
    };
    let mut failures = vec![];
    let cur_driver = current_driver(host, &a.vf);
    let cur_override = std::fs::read_to_string(
        host.root()
            .path()
            .join(format!("sys/bus/pci/devices/{}/driver_override", a.vf)),
    )
    .ok()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty() && s != "(null)");
    if cur_driver != a.original.driver || cur_override != a.original.driver_override {
        if let Err(e) = rebind(
            host,
            &a.vf,
            a.original.driver.as_deref(),
            a.original.driver_override.as_deref(),
        ) {
            failures.push(e.to_string());
        }
    }
    let now = match read_vf(host, &t) {
        Ok(s) => s,
        Err(e) => {
            failures.push(e.to_string());
            return failures;
        }
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
    if mac_changed && failures.is_empty() {
        if let Err(e) = reload_vf_driver(host, &a.vf, model) {
            failures.push(e.to_string());
        }
    }
    failures
}
