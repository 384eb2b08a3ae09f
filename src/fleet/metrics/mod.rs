//! Prometheus metrics (OpenMetrics text): VF counts per pool and PF, allocation failures by
//! reason, reconcile drift by kind. Counts are recomputed from the engine at each scrape, so
//! they always agree with `vifman pools` and the store; only failures are cumulative, and only
//! the daemon sees them.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

mod vf_counters;

pub use vf_counters::{every_vf, CounterVf};
use vf_counters::{VfLabels, VF_COUNTERS};

use super::snapshot::{Holder, Snapshot};
use crate::engine::{Drift, DriftKind, Engine, EngineError};
use crate::inventory::health::{HealthReport, Kind as HealthKind, Tracker};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolPf {
    pool: String,
    pf: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

/// One device of the health model (`kind` is `pf` or `vf`; `device` its PCI address, or a
/// non-PCI PF's `BUS/NAME` as the inventory's `bus_functions[].device`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DevLabels {
    kind: String,
    device: String,
    netdev: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AerLabels {
    kind: String,
    device: String,
    severity: String,
}

pub struct Metrics {
    registry: Registry,
    total: Family<PoolPf, Gauge>,
    allocated: Family<PoolPf, Gauge>,
    free: Family<PoolPf, Gauge>,
    unhealthy: Family<PoolPf, Gauge>,
    quarantined: Family<PoolPf, Gauge>,
    failures: Family<Reason, Counter>,
    drift: Family<Kind, Gauge>,
    /// One family per [`vf_counters::VF_COUNTERS`] entry.
    vf_counters: Vec<Family<VfLabels, Gauge>>,
    healthy: Family<DevLabels, Gauge>,
    aer: Family<AerLabels, Gauge>,
    carrier_changes: Family<DevLabels, Gauge>,
    /// The health debounce of this process (the device plugin and the metrics share it).
    pub health: std::sync::Mutex<Tracker>,
}

/// Every drift kind, so a scrape shows explicit zeros rather than absent series.
const DRIFT_KINDS: [DriftKind; 9] = [
    DriftKind::VfVanished,
    DriftKind::InterruptedAllocate,
    DriftKind::InterruptedRelease,
    DriftKind::ConfigDiffers,
    DriftKind::DriverDiffers,
    DriftKind::Unrecorded,
    DriftKind::Duplicate,
    DriftKind::Lost,
    DriftKind::Quarantined,
];

/// Failure reasons are a closed set, so their series exist (at 0) from the start.
pub const FAILURE_REASONS: [&str; 8] = [
    "no_free_vf",
    "unsupported",
    "actuation",
    "busy",
    "held_elsewhere",
    "unknown_device",
    "request",
    "internal",
];

fn kind_name(k: &DriftKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{k:?}"))
}

/// A failure's metric label.
pub fn reason_of(e: &EngineError) -> &'static str {
    match e {
        EngineError::NoFreeVf { .. } => "no_free_vf",
        EngineError::NoFreeDevice { .. } => "no_free_device",
        EngineError::Unsupported { .. } => "unsupported",
        EngineError::Actuation { .. }
        | EngineError::Quarantined { .. }
        | EngineError::Eswitch(_)
        | EngineError::Rate(_) => "actuation",
        EngineError::Busy(_)
        | EngineError::VfAllocated { .. }
        | EngineError::ResetAllocated { .. } => "busy",
        EngineError::Request(_)
        | EngineError::NotFound(_)
        | EngineError::NoSuchVf(_)
        | EngineError::NotQuarantined { .. }
        | EngineError::ZeroCount { .. } => "request",
        EngineError::Store(_) | EngineError::Host(_) => "internal",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // Unprefixed at the top for the exporter's `sriov_vf_*` names; vifman's own under
        // `vifman_`.
        let mut top = Registry::default();
        let vf_counters: Vec<Family<VfLabels, Gauge>> =
            VF_COUNTERS.iter().map(|_| Family::default()).collect();
        for ((name, help), f) in VF_COUNTERS.iter().zip(&vf_counters) {
            top.register(format!("sriov_vf_{name}"), *help, f.clone());
        }
        let registry = top.sub_registry_with_prefix("vifman");
        let m = Metrics {
            vf_counters,
            total: Family::default(),
            allocated: Family::default(),
            free: Family::default(),
            unhealthy: Family::default(),
            quarantined: Family::default(),
            failures: Family::default(),
            drift: Family::default(),
            healthy: Family::default(),
            aer: Family::default(),
            carrier_changes: Family::default(),
            health: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "device_healthy",
            "1 when the health model (debounced) finds the PF or VF healthy, else 0",
            m.healthy.clone(),
        );
        registry.register(
            "device_aer_errors",
            "PCIe AER error totals since boot, by severity (correctable, nonfatal, fatal)",
            m.aer.clone(),
        );
        registry.register(
            "device_carrier_changes_window",
            "Carrier changes of the device's netdev within the health flap window",
            m.carrier_changes.clone(),
        );
        registry.register(
            "vfs",
            "VFs in a pool on a PF (excluded VFs are not counted)",
            m.total.clone(),
        );
        registry.register(
            "vfs_allocated",
            "VFs with a vifman allocation record",
            m.allocated.clone(),
        );
        registry.register("vfs_free", "VFs vifman can hand out now", m.free.clone());
        registry.register(
            "vfs_unhealthy",
            "VFs the device plugin reports Unhealthy",
            m.unhealthy.clone(),
        );
        registry.register(
            "vfs_quarantined",
            "VFs whose release could not prove them clean (never handed out until cleared)",
            m.quarantined.clone(),
        );
        registry.register(
            "allocation_failures",
            "Allocation requests that failed, by reason",
            m.failures.clone(),
        );
        registry.register(
            "reconcile_drift",
            "Drift between records and hardware found by the last check, by kind",
            m.drift.clone(),
        );
        for r in FAILURE_REASONS {
            let _ = m.failures.get_or_create(&Reason { reason: r.into() });
        }
        Metrics { registry: top, ..m }
    }

    pub fn failure(&self, reason: &str) {
        self.failures
            .get_or_create(&Reason {
                reason: reason.into(),
            })
            .inc();
    }

    /// Replace the gauges with what `snap` and `drift` say.
    pub fn observe(&self, snap: &Snapshot, drift: &[Drift]) {
        for f in [
            &self.total,
            &self.allocated,
            &self.free,
            &self.unhealthy,
            &self.quarantined,
        ] {
            f.clear();
        }
        let mut counts: BTreeMap<(String, String), [i64; 5]> = BTreeMap::new();
        for v in &snap.vfs {
            if v.reason.as_deref() == Some("VF vanished") {
                continue;
            }
            let c = counts
                .entry((v.pool.clone(), v.pf.to_string()))
                .or_default();
            c[0] += 1;
            if matches!(v.holder, Holder::Plugin(_) | Holder::Vifman(_)) {
                c[1] += 1;
            }
            if v.holder == Holder::Free && v.healthy {
                c[2] += 1;
            }
            if !v.healthy {
                c[3] += 1;
            }
            if matches!(v.holder, Holder::Quarantined(_)) {
                c[4] += 1;
            }
        }
        for ((pool, pf), c) in counts {
            let l = PoolPf { pool, pf };
            self.total.get_or_create(&l).set(c[0]);
            self.allocated.get_or_create(&l).set(c[1]);
            self.free.get_or_create(&l).set(c[2]);
            self.unhealthy.get_or_create(&l).set(c[3]);
            self.quarantined.get_or_create(&l).set(c[4]);
        }
        self.drift.clear();
        for k in &DRIFT_KINDS {
            self.drift
                .get_or_create(&Kind { kind: kind_name(k) })
                .set(0);
        }
        for d in drift {
            self.drift
                .get_or_create(&Kind {
                    kind: kind_name(&d.kind),
                })
                .inc();
        }
    }

    /// Replace the health series with `report`.
    pub fn observe_health(&self, report: &HealthReport) {
        for f in [&self.healthy, &self.carrier_changes] {
            f.clear();
        }
        self.aer.clear();
        for d in &report.devices {
            let kind = match d.kind {
                HealthKind::Pf => "pf",
                HealthKind::Vf => "vf",
            };
            let l = DevLabels {
                kind: kind.into(),
                device: d.device.to_string(),
                netdev: d.netdev.clone().unwrap_or_default(),
            };
            self.healthy.get_or_create(&l).set(i64::from(d.healthy));
            if let Some(c) = d.carrier_changes_in_window {
                self.carrier_changes
                    .get_or_create(&l)
                    .set(i64::try_from(c).unwrap_or(i64::MAX));
            }
            for (sev, v) in [
                ("correctable", d.aer.correctable),
                ("nonfatal", d.aer.nonfatal),
                ("fatal", d.aer.fatal),
            ] {
                let Some(v) = v else { continue };
                self.aer
                    .get_or_create(&AerLabels {
                        kind: kind.into(),
                        device: d.device.to_string(),
                        severity: sev.into(),
                    })
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }

    /// A snapshot with this process's health debounce (see [`Metrics::health`]).
    pub fn snapshot(&self, engine: &Engine<'_>) -> Result<(Snapshot, HealthReport), EngineError> {
        let mut t = self.health.lock().unwrap_or_else(|p| p.into_inner());
        super::snapshot::take_with(engine, &mut t, super::snapshot::now_secs())
    }

    /// Refresh from the engine (read-only: reconcile without repair changes nothing).
    pub fn refresh(&self, engine: &Engine<'_>) -> Result<(), EngineError> {
        let (snap, report, view) = {
            let mut t = self.health.lock().unwrap_or_else(|p| p.into_inner());
            super::snapshot::take_with_view(engine, &mut t, super::snapshot::now_secs())?
        };
        let drift = engine.reconcile(false)?;
        self.observe(&snap, &drift);
        self.observe_health(&report);
        let vfs = every_vf(&view, view.bus_pfs(engine.host));
        let mut counters = BTreeMap::new();
        for pf in vfs.iter().map(|v| &v.pf_netdev) {
            if counters.contains_key(pf) {
                continue;
            }
            match engine.host.vf_counters(pf) {
                Ok(c) => {
                    counters.insert(pf.clone(), c);
                }
                Err(e) => tracing::warn!(pf = %pf, "VF counters: {e}"),
            }
        }
        self.observe_counters(&vfs, &counters);
        Ok(())
    }

    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serve `/metrics` (any path, in fact) on `addr`: refresh through the engine worker, encode.
/// A minimal HTTP/1.1 responder: Prometheus needs nothing more, and it keeps axum/hyper
/// servers out of the dependency tree.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    worker: super::worker::EngineWorker,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let worker = worker.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            while got < buf.len() {
                match sock.read(&mut buf[got..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got += n,
                }
                if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let m = metrics.clone();
            let (status, body) = match worker.call(move |e| m.refresh(e)).await {
                Ok(Ok(())) => ("200 OK", metrics.encode()),
                Ok(Err(e)) => ("500 Internal Server Error", format!("{e}\n")),
                Err(e) => ("500 Internal Server Error", format!("{e}\n")),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
