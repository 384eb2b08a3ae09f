//! The one health model: whether a PF or VF is fit to carry traffic, with a reason for each
//! thing wrong. The device plugin (Healthy/Unhealthy), Placement sync (reserved), the
//! metrics (`vifman_device_healthy`, …) and `vifman health` are projections of one
//! [`HealthReport`], so they never disagree about a device.
//!
//! Two steps, kept apart so tests can drive each: [`conditions`] turns one [`Sample`] (what
//! the host shows now) into instantaneous reasons, and the [`Tracker`] debounces them over
//! samples and injected time, so a single flap does not churn capacity. What is *in use*
//! (someone else's) is not health: that is [`super::outside_use`].

mod debounce;
mod sample;

pub use debounce::{DeviceHealth, HealthReport, Tracker};
pub use sample::{samples, HealthInput};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::sysfs::aer::AerCounts;
use crate::types::{BusDevice, PciAddress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pf,
    Vf,
}

/// Which device a verdict is about: a PCI function by address, or a non-PCI SR-IOV PF
/// (netdevsim's bus device) by `BUS/NAME`, as the inventory's `bus_functions[].device` names
/// it. Its text (`0000:3b:00.1`, `netdevsim/netdevsim7`) is the debounce history's key and
/// the metrics' `device` label; a PCI address never contains `/`, so the two cannot collide.
/// PCI sorts first, so a report lists PCI PFs before non-PCI ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceId {
    Pci(PciAddress),
    Bus(BusDevice),
}

impl DeviceId {
    /// The PCI address (None for a non-PCI PF).
    pub fn pci(&self) -> Option<&PciAddress> {
        match self {
            DeviceId::Pci(a) => Some(a),
            DeviceId::Bus(_) => None,
        }
    }
}

impl From<PciAddress> for DeviceId {
    fn from(a: PciAddress) -> Self {
        DeviceId::Pci(a)
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceId::Pci(a) => a.fmt(f),
            DeviceId::Bus(d) => d.fmt(f),
        }
    }
}

/// Flattened into a device's JSON as two keys: `address` (the PCI address, `null` for a
/// non-PCI PF: scripts reading it as PCI never meet a bus name) and `device` (the text
/// above, present on every device).
impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("address", &self.pci())?;
        m.serialize_entry("device", &self.to_string())?;
        m.end()
    }
}

/// One devlink health reporter of the device's own devlink instance (`pci/ADDR`, or a
/// non-PCI PF's `BUS/NAME`), as
/// [`samples`] fills it from the devlink client: a driver's self-check (mlx5 `tx`,
/// `fw_fatal`, ...) that the kernel keeps in `error` until it recovers. Only `error` makes
/// the device unhealthy; the counters are shown, and a reporter that recovers by itself
/// (auto-recover) is healthy again at the next sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevlinkReporter {
    /// The reporter's name (`tx`, `rx`, `fw_fatal`, …).
    pub name: String,
    /// The devlink port of a per-port reporter (None: a device reporter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// False when devlink reports the reporter in `error` state.
    pub healthy: bool,
    pub error_count: u64,
    #[serde(default)]
    pub recover_count: u64,
}

impl DevlinkReporter {
    /// The model's view of a reporter the devlink client decoded.
    pub fn from_devlink(r: &crate::devlink::HealthReporter) -> DevlinkReporter {
        DevlinkReporter {
            name: r.name.clone(),
            port: r.port,
            healthy: r.state != crate::devlink::ReporterState::Error,
            error_count: r.error_count,
            recover_count: r.recover_count,
        }
    }

    /// The condition text of a reporter in error.
    pub fn reason(&self) -> String {
        let port = self
            .port
            .map(|p| format!(" (port {p})"))
            .unwrap_or_default();
        format!(
            "devlink health reporter {}{port} in error ({} errors)",
            self.name, self.error_count
        )
    }
}

/// What the host shows about one device at one instant: every input of the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    pub present: bool,
    pub driver: Option<crate::types::DriverName>,
    /// Bound to a driver whose name the scan refused (`driver` is then `None`): bound, not
    /// driverless.
    pub driver_unusable: bool,
    /// A vifman record put the VF on vfio-pci (so its netdev and driver are expected gone).
    pub vfio_ours: bool,
    /// The device's own netdev (a PF's uplink; a VF's netdev in this namespace, if any).
    pub netdev: Option<String>,
    pub operstate: Option<String>,
    /// The netdev's `carrier_changes` counter; flaps per minute come from its growth.
    pub carrier_changes: Option<u64>,
    pub aer: AerCounts,
    pub devlink: Vec<DevlinkReporter>,
    /// The store's quarantine reason; not debounced (it is a recorded fact, not a reading).
    pub quarantine: Option<String>,
}

/// The debounce and thresholds (`[health]` in vifman.toml). A device turns unhealthy only
/// after its condition held for `unhealthy_after_samples` consecutive samples spanning at
/// least `unhealthy_after_secs`, and healthy again after `healthy_after_samples` clean
/// samples spanning `healthy_after_secs`. The first sample of a device vifman has no
/// history for is taken as it is (nothing to debounce against).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthPolicy {
    pub unhealthy_after_samples: u32,
    pub unhealthy_after_secs: u64,
    pub healthy_after_samples: u32,
    pub healthy_after_secs: u64,
    /// Carrier changes (2 per flap) within `flap_window_secs` that make a link storm.
    pub max_carrier_changes: u64,
    pub flap_window_secs: u64,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            unhealthy_after_samples: 2,
            unhealthy_after_secs: 10,
            healthy_after_samples: 3,
            healthy_after_secs: 60,
            max_carrier_changes: 6,
            flap_window_secs: 60,
        }
    }
}

/// Link states of a working link; "unknown" is what drivers without carrier reporting give.
pub fn link_ok(operstate: Option<&str>) -> bool {
    matches!(operstate, Some("up") | Some("unknown"))
}

/// Instantaneous reasons from one sample. `prev_aer` is the previous sample's counters
/// (None on a first sample); `flap_changes` the carrier changes within the flap window, when
/// there is history enough to tell. Quarantine is not here (see [`Sample::quarantine`]).
pub fn conditions(
    kind: Kind,
    s: &Sample,
    prev_aer: Option<&AerCounts>,
    flap_changes: Option<u64>,
    policy: &HealthPolicy,
) -> Vec<String> {
    let mut r = Vec::new();
    if !s.present {
        r.push("device is gone from the PCI bus".to_string());
        return r;
    }
    match kind {
        Kind::Pf => match &s.netdev {
            None => r.push("PF has no netdev".to_string()),
            Some(n) if !link_ok(s.operstate.as_deref()) => r.push(format!(
                "PF {n} link is {}",
                s.operstate.as_deref().unwrap_or("unknown")
            )),
            _ => {}
        },
        Kind::Vf => match s.driver.as_deref() {
            None if s.driver_unusable => {
                r.push("VF is bound to a driver whose name vifman cannot use".to_string())
            }
            None => r.push("VF is not bound to a driver".to_string()),
            Some(d) if s.vfio_ours && d != crate::types::VFIO_PCI => {
                r.push(format!("VF should be on vfio-pci, is on {d}"))
            }
            _ => {}
        },
    }
    if let Some(n) = flap_changes.filter(|n| *n >= policy.max_carrier_changes) {
        r.push(format!(
            "link flapping: {n} carrier changes in {}s (limit {})",
            policy.flap_window_secs, policy.max_carrier_changes
        ));
    }
    let grew = |now: Option<u64>, before: Option<u64>| match (now, before) {
        (Some(n), Some(b)) => n.saturating_sub(b),
        _ => 0,
    };
    let prev = prev_aer.copied();
    match prev {
        // No baseline: fatal errors since boot count (the function may be wedged); the
        // others only count when they grow between samples.
        None => {
            if let Some(f) = s.aer.fatal.filter(|f| *f > 0) {
                r.push(format!("PCIe AER: {f} fatal errors"));
            }
        }
        Some(p) => {
            let f = grew(s.aer.fatal, p.fatal);
            if f > 0 {
                r.push(format!("PCIe AER: {f} new fatal errors"));
            }
            let nf = grew(s.aer.nonfatal, p.nonfatal);
            if nf > 0 {
                r.push(format!("PCIe AER: {nf} new non-fatal errors"));
            }
        }
    }
    r.extend(
        s.devlink
            .iter()
            .filter(|d| !d.healthy)
            .map(DevlinkReporter::reason),
    );
    r
}

#[cfg(test)]
mod tests;
