//! The debounce: per-device state carried across samples. A long-running process (device
//! plugin, metrics server) keeps one [`Tracker`] in memory; `vifman health` keeps it in a
//! small state file, so repeated one-shot runs debounce too. Time is passed in (seconds),
//! never read here, so tests drive it sample by sample.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{conditions, DeviceId, DevlinkReporter, HealthInput, HealthPolicy, Kind};
use crate::sysfs::aer::AerCounts;
use crate::types::{BusDevice, PciAddress};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    healthy: bool,
    /// The reasons the debounced state stands for (empty when healthy).
    reasons: Vec<String>,
    /// When the debounced state began.
    since: u64,
    /// Consecutive samples disagreeing with `healthy`, and when the first of them was taken.
    streak: u32,
    streak_since: u64,
    aer: AerCounts,
    /// (time, carrier_changes) within the flap window, oldest first.
    carrier: Vec<(u64, u64)>,
}

/// Per-device debounce state, serialisable for the one-shot state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    /// Keyed `pf:<device>` / `vf:<device>` (JSON object keys are strings), the device as
    /// [`DeviceId`] spells it: `pf:0000:3b:00.1` for a PCI PF (the only form before non-PCI
    /// PFs were judged, so older files load unchanged), `pf:netdevsim/netdevsim7` for a
    /// non-PCI one.
    devices: BTreeMap<String, State>,
}

/// One device's debounced health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceHealth {
    pub kind: Kind,
    /// `address` (PCI, or `null` for a non-PCI PF) and `device` in the JSON.
    #[serde(flatten)]
    pub device: DeviceId,
    /// A VF's PF.
    pub pf: Option<PciAddress>,
    pub netdev: Option<String>,
    pub healthy: bool,
    /// Why it is unhealthy: quarantine first, then its own conditions, then (for a VF) its
    /// PF's, prefixed with the PF. Empty when healthy.
    pub reasons: Vec<String>,
    /// Conditions seen but not yet held long enough to change the state (either way).
    pub pending: Vec<String>,
    /// When the debounced state began (seconds since the epoch).
    pub since: u64,
    pub aer: AerCounts,
    /// Carrier changes within the flap window, when there was history to tell.
    pub carrier_changes_in_window: Option<u64>,
    pub quarantined: bool,
    /// The device's devlink health reporters at this sample (absent without a devlink
    /// instance), so `vifman health` shows the counters behind a devlink reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devlink: Vec<DevlinkReporter>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// PFs then VFs, each sorted by address (non-PCI PFs after the PCI ones, by name).
    pub devices: Vec<DeviceHealth>,
}

impl HealthReport {
    /// A PCI device's verdict.
    pub fn get(&self, kind: Kind, addr: &PciAddress) -> Option<&DeviceHealth> {
        self.devices
            .iter()
            .find(|d| d.kind == kind && d.device.pci() == Some(addr))
    }

    /// A non-PCI PF's verdict.
    pub fn get_bus(&self, dev: &BusDevice) -> Option<&DeviceHealth> {
        self.devices
            .iter()
            .find(|d| matches!(&d.device, DeviceId::Bus(b) if b == dev))
    }

    pub fn unhealthy(&self) -> impl Iterator<Item = &DeviceHealth> {
        self.devices.iter().filter(|d| !d.healthy)
    }
}

fn key(kind: Kind, d: &DeviceId) -> String {
    match kind {
        Kind::Pf => format!("pf:{d}"),
        Kind::Vf => format!("vf:{d}"),
    }
}

/// Carrier changes within the window: counted directly when the history spans at most the
/// window, scaled to the window when the previous sample is older (sparse one-shot runs).
fn flap_changes(hist: &[(u64, u64)], now: u64, count: u64, window: u64) -> Option<u64> {
    let &(t0, c0) = hist.first()?;
    let elapsed = now.saturating_sub(t0).max(1);
    let delta = count.saturating_sub(c0);
    Some(if elapsed <= window {
        delta
    } else {
        delta.saturating_mul(window) / elapsed
    })
}

impl Tracker {
    /// Feed one round of samples taken at `now`; devices not in `inputs` are forgotten.
    pub fn observe(
        &mut self,
        policy: &HealthPolicy,
        now: u64,
        inputs: &[HealthInput],
    ) -> HealthReport {
        let mut next = BTreeMap::new();
        let mut own = Vec::new();
        for i in inputs {
            let k = key(i.kind, &i.device);
            let prev = self.devices.remove(&k);
            let s = &i.sample;
            // Flap history: a counter that went backwards (netdev re-created) restarts it.
            let mut hist: Vec<(u64, u64)> =
                prev.as_ref().map(|p| p.carrier.clone()).unwrap_or_default();
            let flaps = match s.carrier_changes {
                Some(c) => {
                    if hist.last().is_some_and(|&(_, last)| last > c) {
                        hist.clear();
                    }
                    let f = flap_changes(&hist, now, c, policy.flap_window_secs);
                    hist.retain(|&(t, _)| t + policy.flap_window_secs >= now);
                    hist.push((now, c));
                    f
                }
                None => {
                    hist.clear();
                    None
                }
            };
            let raw = conditions(i.kind, s, prev.as_ref().map(|p| &p.aer), flaps, policy);
            let bad = !raw.is_empty();
            let mut st = match prev {
                None => State {
                    healthy: !bad,
                    reasons: raw.clone(),
                    since: now,
                    streak: 0,
                    streak_since: now,
                    aer: s.aer,
                    carrier: Vec::new(),
                },
                Some(p) => p,
            };
            let mut pending = Vec::new();
            if st.healthy != bad {
                st.streak = 0;
                if bad {
                    st.reasons = raw.clone();
                }
            } else {
                if st.streak == 0 {
                    st.streak_since = now;
                }
                st.streak += 1;
                let (n, secs) = if st.healthy {
                    (policy.unhealthy_after_samples, policy.unhealthy_after_secs)
                } else {
                    (policy.healthy_after_samples, policy.healthy_after_secs)
                };
                if st.streak >= n.max(1) && now.saturating_sub(st.streak_since) >= secs {
                    st.healthy = !bad;
                    st.reasons = raw.clone();
                    st.since = now;
                    st.streak = 0;
                } else if bad {
                    pending = raw.clone();
                } else {
                    pending = vec!["clean, recovering".to_string()];
                }
            }
            st.aer = s.aer;
            st.carrier = hist;
            own.push((i, st.clone(), pending, flaps));
            next.insert(k, st);
        }
        self.devices = next;

        let pf_reasons: BTreeMap<PciAddress, Vec<String>> = own
            .iter()
            .filter(|(i, ..)| i.kind == Kind::Pf)
            .filter_map(|(i, st, ..)| Some((*i.device.pci()?, st.reasons.clone())))
            .collect();
        let mut devices: Vec<DeviceHealth> = own
            .into_iter()
            .map(|(i, st, pending, flaps)| {
                let mut reasons = Vec::new();
                if let Some(q) = &i.sample.quarantine {
                    reasons.push(format!("quarantined: {q}"));
                }
                reasons.extend(st.reasons.iter().filter(|_| !st.healthy).cloned());
                if let Some(pr) = i.pf.and_then(|p| pf_reasons.get(&p).map(|r| (p, r))) {
                    for r in pr.1 {
                        reasons.push(if r.starts_with("PF ") {
                            r.clone()
                        } else {
                            format!("PF {}: {r}", pr.0)
                        });
                    }
                }
                DeviceHealth {
                    kind: i.kind,
                    device: i.device.clone(),
                    pf: i.pf,
                    netdev: i.sample.netdev.clone(),
                    healthy: reasons.is_empty(),
                    reasons,
                    pending,
                    since: st.since,
                    aer: i.sample.aer,
                    carrier_changes_in_window: flaps,
                    quarantined: i.sample.quarantine.is_some(),
                    devlink: i.sample.devlink.clone(),
                }
            })
            .collect();
        devices.sort_by(|a, b| (a.kind, &a.device).cmp(&(b.kind, &b.device)));
        HealthReport { devices }
    }
}
