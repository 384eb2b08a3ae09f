//! allocate for whole devices: select (pool or alias, NUMA policy, IOMMU group), record the
//! intent, move the devices to vfio-pci (removing a PF's VFs first if allowed), emit
//! `VIFHostDevice`s. All or nothing: a failure part-way puts back what was changed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{aliases_of, physnet_of, WholeDevice, WholeStatus};
use crate::engine::{emit, Engine, EngineError, HostView};
use crate::host::SysWrite;
use crate::store::{BoundDevice, DeviceAllocation, Phase, WholeRequestKind};
use crate::types::{DeviceType, DriverName, NumaPolicy, Uuid};
use crate::vif::VersionedObject;

/// How long removing a PF's VFs may take before the allocation gives up and rolls back.
const VF_REMOVAL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub enum WholeWant {
    /// A whole PF of this physnet's pool (nova's `direct-physical`), `dev_type: ethernet`.
    Pf {
        physnet: String,
        network_id: Option<Uuid>,
    },
    /// `count` devices of a `[[alias]]`, `dev_type: generic`.
    Alias { name: String, count: u32 },
}

#[derive(Debug, Clone)]
pub struct WholeRequest {
    pub id: Uuid,
    pub instance_uuid: Uuid,
    pub want: WholeWant,
    pub numa: Option<u32>,
    /// Bind the other endpoints of each device's IOMMU group to vfio-pci as well.
    pub bind_group: bool,
    /// Exactly these devices (kubelet chose them; the device plugin's Allocate), else any
    /// free ones. Each must be a free member of the request's pool or alias.
    pub only: Vec<crate::types::PciAddress>,
}

impl WholeRequest {
    /// The id an alias request gets when the caller names none: stable for one instance and
    /// alias, so `release --instance U --alias A` finds it again.
    pub fn alias_id(instance: &Uuid, alias: &str) -> Uuid {
        Uuid::from_name(&format!("vifman-alias/{instance}/{alias}"))
    }
}

pub struct WholeOutcome {
    /// The record (its devices are what a dry run would bind).
    pub record: DeviceAllocation,
    /// None for a dry run.
    pub vif: Option<serde_json::Value>,
}

fn vif_err(e: crate::vif::OsVifError) -> EngineError {
    EngineError::Request(format!("building the VIF object: {e}"))
}

impl Engine<'_> {
    /// The devices the request gets (handed-out ones, in order), or why it cannot have them.
    fn select_whole(
        &self,
        view: &HostView,
        st: &crate::store::StoreState,
        req: &WholeRequest,
    ) -> Result<Vec<WholeDevice>, EngineError> {
        let (pool, count, policy) = match &req.want {
            WholeWant::Pf { physnet, .. } => (
                format!("{physnet} (type-PF)"),
                1usize,
                NumaPolicy::Preferred,
            ),
            WholeWant::Alias { name, count } => {
                let a = self.config.alias(name).ok_or_else(|| {
                    EngineError::Request(format!(
                        "unknown alias {name:?}: the config defines {}",
                        if self.config.aliases.is_empty() {
                            "no [[alias]]".to_string()
                        } else {
                            let mut names = self.config.alias_names();
                            names.sort_unstable();
                            names.join(", ")
                        }
                    ))
                })?;
                if *count == 0 {
                    return Err(EngineError::ZeroCount {
                        what: format!("alias {name}"),
                    });
                }
                (format!("alias {name}"), *count as usize, a.numa_policy)
            }
        };
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        let mut cands = vec![];
        for d in view.whole_devices() {
            let member = match &req.want {
                WholeWant::Pf { physnet, .. } => {
                    physnet_of(self.config, &d).as_deref() == Some(physnet.as_str())
                }
                WholeWant::Alias { name, .. } => {
                    aliases_of(self.config, &d).iter().any(|a| &a.name == name)
                }
            };
            if !member || (!req.only.is_empty() && !req.only.contains(&d.addr)) {
                continue;
            }
            match view.whole_status(self.config, st, &d, req.bind_group) {
                WholeStatus::Free => {}
                other => {
                    *skipped.entry(other.to_string()).or_default() += 1;
                    continue;
                }
            }
            // nova's `managed = "no"`: vifman must not bind it, so only a device already on
            // vfio-pci can be handed out.
            let unmanaged = self
                .config
                .classify(&d.candidate())
                .0
                .is_some_and(|s| s.managed == Some(false));
            if unmanaged && !d.driver.as_ref().is_some_and(DriverName::is_vfio_pci) {
                *skipped
                    .entry("managed = no and not on vfio-pci".into())
                    .or_default() += 1;
                continue;
            }
            if !policy.admits(req.numa, d.numa) {
                *skipped
                    .entry(format!(
                        "not on NUMA node {} (numa_policy {policy})",
                        req.numa.unwrap_or(0)
                    ))
                    .or_default() += 1;
                continue;
            }
            cands.push(d);
        }
        cands.sort_by_key(|d| (NumaPolicy::rank(req.numa, d.numa), d.addr));
        if cands.len() < count {
            let mut reason = format!("{} free, {count} asked for", cands.len());
            for (k, n) in &skipped {
                reason.push_str(&format!("; {n} {k}"));
            }
            return Err(EngineError::NoFreeDevice { pool, reason });
        }
        cands.truncate(count);
        Ok(cands)
    }

    pub fn allocate_whole(
        &self,
        req: &WholeRequest,
        dry_run: bool,
    ) -> Result<WholeOutcome, EngineError> {
        let _span = tracing::info_span!("allocate_whole", id = %req.id).entered();
        if let WholeWant::Pf { physnet, .. } = &req.want {
            if !self.config.physnets().contains(&physnet.as_str()) {
                return Err(EngineError::Request(format!(
                    "unknown physnet {physnet:?}: the config defines {}",
                    self.config.physnets().join(", ")
                )));
            }
        }
        let mut store = self.open_store()?;
        let mut st: crate::store::StoreState = store.load()?;
        if st.id_taken(&req.id) {
            return Err(EngineError::Busy(format!(
                "{} already has an allocation; release it first",
                req.id
            )));
        }
        let view = self.load_view()?;
        let picked = self.select_whole(&view, &st, req)?;
        let mut devices: Vec<BoundDevice> = picked
            .iter()
            .map(|d| BoundDevice {
                address: d.addr,
                device_type: d.device_type,
                handed_out: true,
                driver: d.driver.clone(),
                driver_override: d.driver_override.clone(),
            })
            .collect();
        for d in &picked {
            let members = view
                .whole_group(&d.addr, req.bind_group)
                .map_err(EngineError::Request)?;
            for m in members {
                if devices.iter().any(|x| x.address == m) {
                    continue;
                }
                // --bind-group never takes a device another allocation holds.
                if st.holds(&m) || st.whole_holder(&m).is_some() {
                    return Err(EngineError::Busy(format!(
                        "IOMMU group member {m} of {} is held by another allocation",
                        d.addr
                    )));
                }
                let md = view.scan.device(&m);
                devices.push(BoundDevice {
                    address: m,
                    device_type: md
                        .map(|x| {
                            DeviceType::derive(
                                x.physfn.is_some(),
                                x.sriov.as_ref().and_then(|s| s.total_vfs),
                            )
                        })
                        .unwrap_or(DeviceType::Pci),
                    handed_out: false,
                    driver: md.and_then(|x| x.driver.clone()),
                    driver_override: md.and_then(|x| x.driver_override.clone()),
                });
            }
        }
        let removed_vfs = picked
            .iter()
            .find(|d| d.num_vfs > 0)
            .map(|d| (d.addr, d.num_vfs));
        let vif = self.emit_whole(req, &devices)?;
        let mut rec = DeviceAllocation {
            id: req.id,
            instance_uuid: req.instance_uuid,
            request: match &req.want {
                WholeWant::Pf { physnet, .. } => WholeRequestKind::Physnet(physnet.clone()),
                WholeWant::Alias { name, .. } => WholeRequestKind::Alias(name.clone()),
            },
            phase: Phase::Pending,
            devices,
            removed_vfs,
            vif: vif.clone(),
            created: crate::engine::now(),
            lost_reason: None,
        };
        if dry_run {
            return Ok(WholeOutcome {
                record: rec,
                vif: None,
            });
        }
        // Intent first: a crash from here on leaves a pending record that reconcile undoes.
        st.devices.push(rec.clone());
        store.save(&st)?;
        match self.bind_whole(&rec) {
            Ok(()) => {
                rec.phase = Phase::Active;
                if let Some(r) = st.devices.iter_mut().find(|r| r.id == rec.id) {
                    *r = rec.clone();
                }
                // nova's one_time_use: handed out once, then kept back until an operator
                // says it has been reset (nova reserves it in Placement the same way).
                for d in &picked {
                    let once = self
                        .config
                        .classify(&d.candidate())
                        .0
                        .is_some_and(|s| s.one_time_use);
                    if once && !st.used_once.contains(&d.addr) {
                        st.used_once.push(d.addr);
                    }
                }
                store.save(&st)?;
                Ok(WholeOutcome {
                    record: rec,
                    vif: Some(vif),
                })
            }
            Err((step, cause)) => {
                let failures = self.restore_whole(&rec);
                let next = (!failures.is_empty()).then_some(crate::engine::Recovery::Repair);
                let rollback = if failures.is_empty() {
                    st.devices.retain(|r| r.id != rec.id);
                    store.save(&st)?;
                    "rolled back, every device is as it was".to_string()
                } else {
                    format!(
                        "ROLLBACK INCOMPLETE ({}); {}",
                        failures.join("; "),
                        crate::engine::PENDING_FOR_REPAIR
                    )
                };
                Err(EngineError::Actuation {
                    step,
                    cause,
                    rollback,
                    next,
                })
            }
        }
    }

    /// Remove a PF's VFs if the record says so, then move every device to vfio-pci.
    fn bind_whole(&self, rec: &DeviceAllocation) -> Result<(), (String, crate::host::HostError)> {
        if let Some((pf, n)) = rec.removed_vfs {
            let _span = tracing::info_span!("remove_vfs", pf = %pf, n).entered();
            self.host
                .write(&SysWrite::NumVfs(pf, 0))
                .map_err(|e| (format!("removing the {n} VFs of {pf}"), e))?;
            self.host
                .wait_until(
                    &format!("{pf} VFs removed"),
                    VF_REMOVAL_TIMEOUT,
                    &mut || self.host.vf_count(&pf) == 0,
                )
                .map_err(|e| (format!("removing the {n} VFs of {pf}"), e))?;
        }
        for d in &rec.devices {
            crate::engine::actuate::rebind(
                self.host,
                &d.address,
                Some(&crate::types::DriverName::vfio_pci()),
                Some(&crate::types::DriverName::vfio_pci()),
            )
            .map_err(|e| (format!("binding {} to vfio-pci", d.address), e))?;
        }
        Ok(())
    }

    /// Put every device of `rec` back on its driver (reverse order) and re-create removed VFs.
    /// Returns the failures; empty means fully restored.
    pub(super) fn restore_whole(&self, rec: &DeviceAllocation) -> Vec<String> {
        let mut failures = vec![];
        for d in rec.devices.iter().rev() {
            if !self.host.device_present(&d.address) {
                continue;
            }
            if self.host.driver_of(&d.address) == d.driver
                && self.host.driver_override_of(&d.address) == d.driver_override
            {
                continue;
            }
            // Through driver_override naming the original driver, then the original override:
            // the device goes back to exactly that driver, not to whichever claims it first.
            let rebind = |to: Option<&DriverName>, over: Option<&DriverName>| {
                crate::engine::actuate::rebind(self.host, &d.address, to, over)
            };
            let r = match d.driver.as_ref() {
                Some(drv) => rebind(Some(drv), Some(drv)).and_then(|()| {
                    match d.driver_override.as_ref() == Some(drv) {
                        true => Ok(()),
                        false => rebind(Some(drv), d.driver_override.as_ref()),
                    }
                }),
                None => rebind(None, d.driver_override.as_ref()),
            };
            if let Err(e) = r {
                failures.push(format!("{}: {e}", d.address));
            }
        }
        if let Some((pf, n)) = rec.removed_vfs {
            if failures.is_empty() && self.host.vf_count(&pf) != n as usize {
                let _span = tracing::info_span!("restore_vfs", pf = %pf, n).entered();
                if let Err(e) = self.host.write(&SysWrite::NumVfs(pf, n)) {
                    failures.push(format!("re-creating {n} VFs on {pf}: {e}"));
                }
            }
        }
        failures
    }

    /// `VIFHostDevice` per handed-out device: `ethernet` for a PF by physnet, `generic` for an
    /// alias; a list when there is more than one.
    fn emit_whole(
        &self,
        req: &WholeRequest,
        devices: &[BoundDevice],
    ) -> Result<serde_json::Value, EngineError> {
        let out: Vec<&BoundDevice> = devices.iter().filter(|d| d.handed_out).collect();
        let mut objs = vec![];
        for d in &out {
            let id = if out.len() == 1 {
                req.id
            } else {
                Uuid::from_name(&format!("{}/{}", req.id, d.address))
            };
            let mut o = VersionedObject::new("VIFHostDevice").map_err(vif_err)?;
            o.set("id", json!(id.to_string())).map_err(vif_err)?;
            o.set("plugin", json!("vifman")).map_err(vif_err)?;
            o.set("dev_address", json!(d.address.to_string()))
                .map_err(vif_err)?;
            match &req.want {
                WholeWant::Pf {
                    physnet,
                    network_id,
                } => {
                    let mut net = VersionedObject::new("Network").map_err(vif_err)?;
                    net.set(
                        "id",
                        json!(network_id
                            .map(|u| u.to_string())
                            .unwrap_or_else(|| emit::physnet_uuid(physnet))),
                    )
                    .map_err(vif_err)?;
                    net.set("label", json!(physnet)).map_err(vif_err)?;
                    o.set_obj("network", net).map_err(vif_err)?;
                    o.set("dev_type", json!("ethernet")).map_err(vif_err)?;
                }
                WholeWant::Alias { .. } => {
                    o.set("dev_type", json!("generic")).map_err(vif_err)?;
                }
            }
            objs.push(o.to_primitive(None, None).map_err(vif_err)?);
        }
        Ok(if objs.len() == 1 {
            objs.remove(0)
        } else {
            serde_json::Value::Array(objs)
        })
    }
}
