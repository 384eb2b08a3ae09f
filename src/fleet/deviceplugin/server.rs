//! The `DevicePlugin` gRPC service for one pool (one extended resource).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::{watch, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::engine::{AllocMode, AllocateRequest, Engine};
use crate::fleet::ids;
use crate::fleet::metrics::{reason_of, Metrics};
use crate::fleet::proto::device_plugin_server::DevicePlugin;
use crate::fleet::proto::{
    AllocateRequest as GrpcAllocateRequest, AllocateResponse, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, Device, DevicePluginOptions, DeviceSpec, Empty,
    ListAndWatchResponse, NumaNode, PreStartContainerRequest, PreStartContainerResponse,
    PreferredAllocationRequest, PreferredAllocationResponse, TopologyInfo,
};
use crate::fleet::snapshot::{Holder, Snapshot};
use crate::fleet::worker::EngineWorker;
use crate::types::{PciAddress, Uuid};

pub const HEALTHY: &str = "Healthy";
pub const UNHEALTHY: &str = "Unhealthy";

/// What every pool's service shares.
pub struct Shared {
    pub worker: EngineWorker,
    pub snap: watch::Receiver<Arc<Snapshot>>,
    /// Ask for a rescan (after an Allocate changed the store or the host).
    pub rescan: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    pub mode: AllocMode,
    /// Device-info files go here (see [`super::devinfo`]).
    pub devinfo_dir: Option<std::path::PathBuf>,
}

pub struct PoolPlugin {
    pub pool: String,
    pub resource: String,
    pub shared: Arc<Shared>,
    /// Flips to true when this server generation stops (kubelet restarted): ends the
    /// ListAndWatch streams, which would otherwise keep a graceful shutdown waiting forever.
    pub stop: watch::Receiver<bool>,
}

/// The device list kubelet sees for `pool`.
pub fn devices(snap: &Snapshot, pool: &str) -> Vec<Device> {
    if super::whole::alias_of(pool).is_some() {
        return super::whole::devices(snap, pool);
    }
    snap.pool(pool)
        .map(|v| Device {
            id: v.addr.to_string(),
            health: if v.healthy { HEALTHY } else { UNHEALTHY }.into(),
            topology: v.numa.map(|n| TopologyInfo {
                nodes: vec![NumaNode { id: n as i64 }],
            }),
        })
        .collect()
}

fn parse_ids(ids: &[String]) -> Result<Vec<PciAddress>, Status> {
    ids.iter()
        .map(|s| {
            s.parse::<PciAddress>()
                .map_err(|e| Status::invalid_argument(format!("device {s:?}: {e}")))
        })
        .collect()
}

/// The NUMA node to prefer: that of a device that must be included, else the node holding
/// most of the available devices (kubelet's topology manager then has an aligned choice).
fn preferred_numa(snap: &Snapshot, available: &[PciAddress], must: &[PciAddress]) -> Option<u32> {
    if let Some(n) = must.iter().find_map(|a| snap.vf(a).and_then(|v| v.numa)) {
        return Some(n);
    }
    let mut per: BTreeMap<u32, usize> = BTreeMap::new();
    for a in available {
        if let Some(n) = snap.vf(a).and_then(|v| v.numa) {
            *per.entry(n).or_default() += 1;
        }
    }
    per.into_iter()
        .max_by_key(|(n, c)| (*c, std::cmp::Reverse(*n)))
        .map(|(n, _)| n)
}

/// One container's Allocate, on the engine thread: record every VF in the store (all or
/// nothing), then describe what the container needs to use them.
fn allocate_container(
    e: &Engine<'_>,
    pool: &str,
    resource: &str,
    mode: AllocMode,
    ids_in: &[String],
    metrics: &Metrics,
    devinfo_dir: Option<&std::path::Path>,
) -> Result<ContainerAllocateResponse, Status> {
    let _span = tracing::info_span!("deviceplugin.allocate", resource, devices = ?ids_in).entered();
    let fail = |reason: &str, status: Status| {
        metrics.failure(reason);
        status
    };
    let addrs = parse_ids(ids_in).map_err(|s| fail("unknown_device", s))?;
    let records = e
        .allocations()
        .map_err(|err| fail("internal", Status::internal(err.to_string())))?;
    let nonce = ids::random_uuid();
    let typed = |s: String| -> Result<Uuid, Status> {
        s.parse()
            .map_err(|e: crate::types::TypeError| fail("internal", Status::internal(e.to_string())))
    };
    let instance = typed(ids::random_uuid())?;
    let mut done: Vec<Uuid> = vec![];
    let undo = |done: &[Uuid]| {
        for v in done {
            if let Err(err) = e.release(v) {
                tracing::error!(vif = %v, %err, "rolling back a partial Allocate");
            }
        }
    };
    for a in &addrs {
        if let Some(rec) = records.iter().find(|r| r.vf == *a) {
            if ids::is_plugin_vif(&rec.vif_id.to_string()) {
                // kubelet only hands out a device it believes free: the container that had
                // it is gone (the device-plugin API has no Deallocate), so drop its record.
                tracing::info!(vf = %a, old = %rec.vif_id, "kubelet re-assigned a VF; releasing the previous container's record");
                if let Err(err) = e.release(&rec.vif_id) {
                    undo(&done);
                    return Err(fail(
                        reason_of(&err),
                        Status::failed_precondition(format!(
                            "{a}: releasing the previous record: {err}"
                        )),
                    ));
                }
            } else {
                undo(&done);
                return Err(fail(
                    "held_elsewhere",
                    Status::failed_precondition(format!("{a} is allocated to VIF {} outside the device plugin (vifman allocate); not handing it out twice", rec.vif_id)),
                ));
            }
        }
        let vif = typed(ids::plugin_vif_id(resource, ids_in, &a.to_string(), &nonce))?;
        let mut req = AllocateRequest::new(pool, instance, vif, mode)
            .map_err(|err| fail("request", Status::internal(err.to_string())))?;
        req.only_vf = Some(*a);
        if let Err(err) = e.allocate(&req, false) {
            undo(&done);
            return Err(fail(
                reason_of(&err),
                Status::failed_precondition(format!("{a}: {err}")),
            ));
        }
        done.push(vif);
    }
    let mut groups = BTreeSet::new();
    for a in &addrs {
        if e.host.driver_of(a).is_some_and(|d| d.is_vfio_pci()) {
            if let Some(g) = e.host.iommu_group_of(a) {
                groups.insert(g);
            }
        }
    }
    let devices = vfio_specs(&groups);
    let mut envs = std::collections::HashMap::new();
    envs.insert(
        ids::pcidevice_env(resource),
        addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    let info: Vec<super::devinfo::Device> = addrs
        .iter()
        .map(|a| super::devinfo::Device {
            vf: *a,
            pf: records_pf(e, a),
            vfio_group: (e.host.driver_of(a).is_some_and(|d| d.is_vfio_pci()))
                .then(|| e.host.iommu_group_of(a))
                .flatten(),
        })
        .collect();
    envs.insert(
        format!("{}_INFO", ids::pcidevice_env(resource)),
        super::devinfo::info_env(&info),
    );
    if let Some(dir) = devinfo_dir {
        for d in &info {
            if let Err(err) = super::devinfo::write(dir, resource, d) {
                // multus treats the file as best effort; so does the plugin.
                tracing::warn!(vf = %d.vf, dir = %dir.display(), %err, "device-info file not written");
            }
        }
    }
    let mut annotations = std::collections::HashMap::new();
    annotations.insert(
        "vifman.io/vif-ids".to_string(),
        done.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    Ok(ContainerAllocateResponse {
        envs,
        mounts: vec![],
        devices,
        annotations,
        cdi_devices: vec![],
    })
}

/// The container's view of VFIO: each group's node plus the container node (none when no
/// group).
pub(super) fn vfio_specs(groups: &BTreeSet<u32>) -> Vec<DeviceSpec> {
    if groups.is_empty() {
        return vec![];
    }
    let spec = |p: String| DeviceSpec {
        container_path: p.clone(),
        host_path: p,
        permissions: "rw".into(),
    };
    groups
        .iter()
        .map(|g| spec(format!("/dev/vfio/{g}")))
        .chain(std::iter::once(spec("/dev/vfio/vfio".into())))
        .collect()
}

/// Release a record this Allocate made (a VF record or an alias record).
fn undo_record(e: &Engine<'_>, id: &Uuid) {
    let r = match e.is_whole(id) {
        Ok(true) => e.release_whole(id).map(drop),
        _ => e.release(id).map(drop),
    };
    if let Err(err) = r {
        tracing::error!(vif = %id, %err, "rolling back a partial Allocate");
    }
}

/// The PF of an allocated VF, from its store record.
fn records_pf(e: &Engine<'_>, vf: &PciAddress) -> Option<PciAddress> {
    e.allocations()
        .ok()?
        .into_iter()
        .find(|r| r.vf == *vf)
        .map(|r| r.pf)
}

#[tonic::async_trait]
impl DevicePlugin for PoolPlugin {
    async fn get_device_plugin_options(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(DevicePluginOptions {
            pre_start_required: false,
            get_preferred_allocation_available: true,
        }))
    }

    type ListAndWatchStream = ReceiverStream<Result<ListAndWatchResponse, Status>>;

    async fn list_and_watch(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        let mut rx = self.shared.snap.clone();
        let mut stop = self.stop.clone();
        let pool = self.pool.clone();
        let (tx, out) = tokio::sync::mpsc::channel(8);
        tracing::info!(resource = %self.resource, "ListAndWatch opened");
        tokio::spawn(async move {
            let mut last: Option<Vec<Device>> = None;
            loop {
                let devs = devices(&rx.borrow_and_update(), &pool);
                if last.as_ref() != Some(&devs) {
                    tracing::debug!(pool = %pool, n = devs.len(), "ListAndWatch update");
                    if tx
                        .send(Ok(ListAndWatchResponse {
                            devices: devs.clone(),
                        }))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    last = Some(devs);
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { break },
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tx.closed() => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(out)))
    }

    async fn get_preferred_allocation(
        &self,
        req: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let mut container_responses = vec![];
        for c in req.into_inner().container_requests {
            let available = parse_ids(&c.available_device_i_ds)?;
            let must = parse_ids(&c.must_include_device_i_ds)?;
            let size = usize::try_from(c.allocation_size)
                .map_err(|_| Status::invalid_argument("negative allocation_size"))?;
            if super::whole::alias_of(&self.pool).is_some() {
                let picked =
                    super::whole::preferred(&self.shared.snap.borrow(), &available, &must, size);
                container_responses.push(ContainerPreferredAllocationResponse {
                    device_i_ds: picked.iter().map(|a| a.to_string()).collect(),
                });
                continue;
            }
            let numa = preferred_numa(&self.shared.snap.borrow(), &available, &must);
            let pool = self.pool.clone();
            let ranked = self
                .shared
                .worker
                .call(move |e| e.rank(&pool, numa, &available, &must, size))
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?
                .map_err(|e| Status::internal(e.to_string()))?;
            container_responses.push(ContainerPreferredAllocationResponse {
                device_i_ds: ranked.iter().map(|a| a.to_string()).collect(),
            });
        }
        Ok(Response::new(PreferredAllocationResponse {
            container_responses,
        }))
    }

    async fn allocate(
        &self,
        req: Request<GrpcAllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let reqs = req.into_inner().container_requests;
        {
            let snap = self.shared.snap.borrow();
            for c in &reqs {
                for id in &c.devices_ids {
                    let addr = id.parse::<PciAddress>().ok();
                    let in_pool = match super::whole::alias_of(&self.pool) {
                        Some(_) => {
                            addr.is_some_and(|a| snap.whole_in(&self.pool).any(|w| w.addr == a))
                        }
                        None => addr
                            .and_then(|a| snap.vf(&a))
                            .is_some_and(|v| v.pool == self.pool),
                    };
                    if !in_pool {
                        self.shared.metrics.failure("unknown_device");
                        return Err(Status::invalid_argument(format!(
                            "{id} is not a device of {}",
                            self.resource
                        )));
                    }
                    if let Some(v) = id.parse::<PciAddress>().ok().and_then(|a| snap.vf(&a)) {
                        if let Holder::Vifman(vif) = &v.holder {
                            self.shared.metrics.failure("held_elsewhere");
                            return Err(Status::failed_precondition(format!(
                                "{id} is allocated to VIF {vif} outside the device plugin"
                            )));
                        }
                    }
                }
            }
        }
        let (pool, resource, mode, metrics, devinfo_dir) = (
            self.pool.clone(),
            self.resource.clone(),
            self.shared.mode,
            self.shared.metrics.clone(),
            self.shared.devinfo_dir.clone(),
        );
        let result = self
            .shared
            .worker
            .call(move |e| {
                let mut out = vec![];
                let mut made: Vec<String> = vec![];
                for c in &reqs {
                    let r = match super::whole::alias_of(&pool) {
                        Some(alias) => parse_ids(&c.devices_ids).and_then(|addrs| {
                            super::whole::allocate_container(
                                e,
                                alias,
                                &resource,
                                &addrs,
                                &metrics,
                                devinfo_dir.as_deref(),
                            )
                        }),
                        None => allocate_container(
                            e,
                            &pool,
                            &resource,
                            mode,
                            &c.devices_ids,
                            &metrics,
                            devinfo_dir.as_deref(),
                        ),
                    };
                    match r {
                        Ok(r) => {
                            made.extend(
                                r.annotations
                                    .get("vifman.io/vif-ids")
                                    .into_iter()
                                    .flat_map(|s| s.split(',').map(String::from)),
                            );
                            out.push(r);
                        }
                        Err(s) => {
                            // The whole call fails: undo the containers already done.
                            for v in made.iter().filter_map(|v| v.parse::<Uuid>().ok()) {
                                undo_record(e, &v);
                            }
                            return Err(s);
                        }
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        // Success or failure, the store changed or a device proved bad: tell kubelet.
        self.shared.rescan.notify_one();
        Ok(Response::new(AllocateResponse {
            container_responses: result?,
        }))
    }

    async fn pre_start_container(
        &self,
        _: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse {}))
    }
}
