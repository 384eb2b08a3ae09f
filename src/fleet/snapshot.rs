//! One consistent picture of every pooled VF — pool, PF, NUMA node, IOMMU group, driver, who
//! holds it, and whether it is usable — from one host scan plus the store. The device plugin
//! streams it, Placement sync reports it, the metrics count it.

use std::collections::BTreeSet;

use serde::Serialize;

use super::ids;
use crate::engine::{Engine, EngineError, HostView, StoreState, VfStatus};
use crate::inventory::health::{self, HealthReport, Kind, Tracker};
use crate::types::PciAddress;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "vif")]
pub enum Holder {
    Free,
    /// A store record made by the device plugin (kubelet owns the VF's fate).
    Plugin(String),
    /// A store record made through the CLI or another client: never re-handed.
    Vifman(String),
    /// vfio-bound or carrying an admin MAC with no record: someone else's.
    Foreign,
    /// The record (VIF id) of a release that could not prove the VF clean: nobody's to take.
    Quarantined(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VfInfo {
    pub addr: PciAddress,
    pub pf: PciAddress,
    pub pf_netdev: Option<String>,
    /// Its index on the PF (what `ip link show PF` numbers it).
    pub vf_index: u32,
    pub pool: String,
    pub numa: Option<u32>,
    pub iommu_group: Option<u32>,
    pub driver: Option<crate::types::DriverName>,
    pub holder: Holder,
    /// Usable by its holder or a new one: present, PF link up, on an expected driver.
    pub healthy: bool,
    pub reason: Option<String>,
}

/// A whole device (type-PF or type-PCI) an alias or a type-PF pool holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WholeInfo {
    pub addr: PciAddress,
    pub device_type: crate::types::DeviceType,
    pub vendor: u16,
    pub product: u16,
    pub numa: Option<u32>,
    /// Its pools: `physnet` for a type-PF pool, `alias:<name>` for each alias.
    pub pools: Vec<String>,
    /// A vifman record holds it.
    pub allocated: bool,
    /// Why nobody can take it now (parent/child rule, IOMMU group, excluded); None if free
    /// or allocated.
    pub unavailable: Option<String>,
    /// nova's `resource_class` tag of the device_spec that takes it, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_class: Option<String>,
    /// nova's `traits` tag of that device_spec, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Snapshot {
    /// Sorted by address.
    pub vfs: Vec<VfInfo>,
    /// Whole devices in a pool or an alias, sorted by address.
    pub whole: Vec<WholeInfo>,
    /// Every pool in the config, even empty ones (kubelet still gets a resource).
    pub pools: Vec<String>,
    /// Every `[[alias]]` name (one resource each, whole devices).
    pub aliases: Vec<String>,
}

impl Snapshot {
    pub fn pool(&self, pool: &str) -> impl Iterator<Item = &VfInfo> {
        let pool = pool.to_string();
        self.vfs.iter().filter(move |v| v.pool == pool)
    }
    /// Whole devices of `pool` (`alias:<name>`).
    pub fn whole_in(&self, pool: &str) -> impl Iterator<Item = &WholeInfo> {
        let pool = pool.to_string();
        self.whole.iter().filter(move |w| w.pools.contains(&pool))
    }

    pub fn vf(&self, addr: &PciAddress) -> Option<&VfInfo> {
        self.vfs.iter().find(|v| &v.addr == addr)
    }
}

/// A snapshot with every device's health taken afresh (no debounce history): for one-shot
/// callers. Long-running ones keep a [`Tracker`] and call [`take_with`].
pub fn take(engine: &Engine<'_>) -> Result<Snapshot, EngineError> {
    let mut t = Tracker::default();
    Ok(take_with(engine, &mut t, now_secs())?.0)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The snapshot and the health report it was judged by, the health debounced by `tracker`
/// at time `now` (seconds). A VF's `reason` is its health reasons (the one model, see
/// [`crate::inventory::health`]) followed by why nobody else may take it.
pub fn take_with(
    engine: &Engine<'_>,
    tracker: &mut Tracker,
    now: u64,
) -> Result<(Snapshot, HealthReport), EngineError> {
    take_with_view(engine, tracker, now).map(|(snap, report, _)| (snap, report))
}

/// [`take_with`], and the host view both were taken from: the metrics name every VF of the
/// host from it (pooled or not) without a second scan.
pub fn take_with_view(
    engine: &Engine<'_>,
    tracker: &mut Tracker,
    now: u64,
) -> Result<(Snapshot, HealthReport, HostView), EngineError> {
    let _span = tracing::debug_span!("snapshot").entered();
    let st: StoreState = crate::store::read_state(&engine.state_dir)?;
    let view = engine.load_view()?;
    let (inputs, warnings) = health::samples(engine.host, &view, &st);
    for w in &warnings {
        tracing::warn!("health: {w}");
    }
    let report = tracker.observe(&engine.config.health, now, &inputs);
    let mut out = vec![];
    let mut seen = BTreeSet::new();
    for v in &view.vfs {
        let (spec, _) = engine.config.classify(&view.candidate(v));
        let Some(pool) = spec.and_then(|s| s.physical_network.clone()) else {
            continue;
        };
        let status = view.status(engine.config, &st, v);
        if matches!(status, VfStatus::Excluded(_)) {
            continue;
        }
        seen.insert(v.addr);
        let rec = st.allocations.iter().find(|a| a.vf == v.addr);
        let holder = match &status {
            VfStatus::Allocated(id) if ids::is_plugin_vif(&id.to_string()) => {
                Holder::Plugin(id.to_string())
            }
            VfStatus::Allocated(id) => Holder::Vifman(id.to_string()),
            VfStatus::InUse(_) | VfStatus::Unknown(_) => Holder::Foreign,
            VfStatus::Quarantined(_) => {
                Holder::Quarantined(rec.map(|a| a.vif_id.to_string()).unwrap_or_default())
            }
            VfStatus::Free | VfStatus::Excluded(_) => Holder::Free,
        };
        let reason = report
            .get(Kind::Vf, &v.addr)
            .filter(|h| !h.healthy)
            .map(|h| h.reasons.join("; "));
        // A VF the CLI (or anyone else) holds must not look allocatable to kubelet.
        let reason = reason.or_else(|| match &holder {
            Holder::Vifman(id) => Some(format!("allocated outside the device plugin (VIF {id})")),
            Holder::Foreign => Some(match &status {
                VfStatus::InUse(r) => format!("in use outside vifman ({})", r.join(", ")),
                VfStatus::Unknown(r) => format!("state unknown ({r})"),
                _ => "in use outside vifman".to_string(),
            }),
            _ => None,
        });
        out.push(VfInfo {
            addr: v.addr,
            pf: v.pf,
            pf_netdev: v.pf_netdev.as_ref().map(|n| n.to_string()),
            vf_index: v.vf_index,
            pool,
            numa: v.numa,
            iommu_group: v.iommu_group,
            driver: v.driver.clone(),
            healthy: reason.is_none(),
            holder,
            reason,
        });
    }
    // A VF a container holds that vanished (numvfs changed): keep it, unhealthy, so kubelet
    // learns that the device it handed out is gone instead of silently losing capacity.
    for a in &st.allocations {
        if seen.contains(&a.vf) || !ids::is_plugin_vif(&a.vif_id.to_string()) {
            continue;
        }
        out.push(VfInfo {
            addr: a.vf,
            pf: a.pf,
            pf_netdev: Some(a.pf_netdev.to_string()),
            vf_index: a.vf_index,
            pool: a.physnet.clone(),
            numa: None,
            iommu_group: None,
            driver: None,
            holder: Holder::Plugin(a.vif_id.to_string()),
            healthy: false,
            reason: Some("VF vanished".into()),
        });
    }
    out.sort_by_key(|v| v.addr);
    let snap = Snapshot {
        vfs: out,
        whole: whole(engine, &view, &st),
        pools: engine
            .config
            .physnets()
            .into_iter()
            .map(String::from)
            .collect(),
        aliases: engine
            .config
            .alias_names()
            .into_iter()
            .map(String::from)
            .collect(),
    };
    Ok((snap, report, view))
}

/// Whole devices with the same status rule allocation uses (no `--bind-group`).
fn whole(engine: &Engine<'_>, view: &HostView, st: &StoreState) -> Vec<WholeInfo> {
    use crate::engine::whole::{pool_names, WholeStatus};
    let mut out = vec![];
    for d in view.whole_devices() {
        let pools = pool_names(engine.config, &d, None);
        let status = view.whole_status(engine.config, st, &d, false);
        if pools.is_empty() && !matches!(status, WholeStatus::Allocated(_)) {
            continue;
        }
        let spec = engine.config.classify(&d.candidate()).0;
        out.push(WholeInfo {
            resource_class: spec.and_then(|s| s.resource_class.clone()),
            traits: spec.map(|s| s.traits.clone()).unwrap_or_default(),
            addr: d.addr,
            device_type: d.device_type,
            vendor: d.ids.0,
            product: d.ids.1,
            numa: d.numa,
            pools,
            allocated: matches!(status, WholeStatus::Allocated(_)),
            unavailable: match status {
                WholeStatus::Unavailable(r) | WholeStatus::Excluded(r) => Some(r),
                _ => None,
            },
        });
    }
    out
}
