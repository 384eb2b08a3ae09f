//! Alias resources: one kubelet resource per `[[alias]]` (`<prefix>/<alias>`), whose devices
//! are whole PCI devices (NVMe drives, GPUs, whole NICs). Allocate moves exactly the devices
//! kubelet chose to vfio-pci as one all-or-nothing record, the same record `vifman allocate
//! --alias` makes, and hands the container its `/dev/vfio` groups.

use std::collections::BTreeSet;

use tonic::Status;

use super::devinfo;
use super::server::{vfio_specs, HEALTHY, UNHEALTHY};
use crate::engine::whole::{WholeRequest, WholeWant};
use crate::engine::Engine;
use crate::fleet::ids;
use crate::fleet::metrics::{reason_of, Metrics};
use crate::fleet::proto::{ContainerAllocateResponse, Device, NumaNode, TopologyInfo};
use crate::fleet::snapshot::Snapshot;
use crate::types::{PciAddress, Uuid};

pub const PREFIX: &str = "alias:";

/// The alias an `alias:<name>` pool stands for.
pub fn alias_of(pool: &str) -> Option<&str> {
    pool.strip_prefix(PREFIX)
}

/// The device list kubelet sees: every device of the alias; one that nobody can take
/// (IOMMU group not viable, parent/child rule, excluded) is Unhealthy. One kubelet handed
/// out stays Healthy: kubelet does its own accounting of allocated devices.
pub fn devices(snap: &Snapshot, pool: &str) -> Vec<Device> {
    snap.whole_in(pool)
        .map(|w| Device {
            id: w.addr.to_string(),
            health: if w.unavailable.is_none() {
                HEALTHY
            } else {
                UNHEALTHY
            }
            .into(),
            topology: w.numa.map(|n| TopologyInfo {
                nodes: vec![NumaNode { id: n as i64 }],
            }),
        })
        .collect()
}

/// Must-include devices first, then those on the NUMA node of the first of them (or the
/// node holding most of the available ones), by address.
pub fn preferred(
    snap: &Snapshot,
    available: &[PciAddress],
    must: &[PciAddress],
    size: usize,
) -> Vec<PciAddress> {
    let numa = |a: &PciAddress| {
        snap.whole
            .iter()
            .find(|w| w.addr == *a)
            .and_then(|w| w.numa)
    };
    let node = must.iter().find_map(numa).or_else(|| {
        let mut per = std::collections::BTreeMap::<u32, usize>::new();
        for a in available {
            if let Some(n) = numa(a) {
                *per.entry(n).or_default() += 1;
            }
        }
        per.into_iter().max_by_key(|(_, c)| *c).map(|(n, _)| n)
    });
    let mut rest: Vec<PciAddress> = available
        .iter()
        .filter(|a| !must.contains(a))
        .copied()
        .collect();
    rest.sort_by_key(|a| (numa(a) != node, *a));
    must.iter().copied().chain(rest).take(size).collect()
}

/// One container's Allocate of alias devices, on the engine thread.
pub fn allocate_container(
    e: &Engine<'_>,
    alias: &str,
    resource: &str,
    addrs: &[PciAddress],
    metrics: &Metrics,
    devinfo_dir: Option<&std::path::Path>,
) -> Result<ContainerAllocateResponse, Status> {
    let _span =
        tracing::info_span!("deviceplugin.allocate_alias", resource, devices = ?addrs).entered();
    let fail = |reason: &str, status: Status| {
        metrics.failure(reason);
        status
    };
    let internal = |m: String| fail("internal", Status::internal(m));
    // kubelet hands out only devices it believes free: a plugin record still holding one
    // belongs to a container that is gone (the API has no Deallocate).
    let st = e.store_state().map_err(|x| internal(x.to_string()))?;
    let mut released = BTreeSet::new();
    for a in addrs {
        let Some(rec) = st.whole_holder(a) else {
            continue;
        };
        if !ids::is_plugin_vif(&rec.id.to_string()) {
            return Err(fail(
                "held_elsewhere",
                Status::failed_precondition(format!(
                    "{a} is allocated to {} outside the device plugin (vifman allocate); not handing it out twice",
                    rec.id
                )),
            ));
        }
        if released.insert(rec.id) {
            tracing::info!(device = %a, old = %rec.id, "kubelet re-assigned a device; releasing the previous container's record");
            e.release_whole(&rec.id).map_err(|x| {
                fail(
                    reason_of(&x),
                    Status::failed_precondition(format!("{a}: releasing the previous record: {x}")),
                )
            })?;
        }
    }
    let strs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let typed = |s: String| -> Result<Uuid, Status> {
        s.parse()
            .map_err(|x: crate::types::TypeError| internal(x.to_string()))
    };
    let id = typed(ids::plugin_vif_id(
        resource,
        &strs,
        "whole",
        &ids::random_uuid(),
    ))?;
    let req = WholeRequest {
        id,
        instance_uuid: typed(ids::random_uuid())?,
        want: WholeWant::Alias {
            name: alias.to_string(),
            count: addrs.len() as u32,
        },
        numa: None,
        bind_group: false,
        only: addrs.to_vec(),
    };
    e.allocate_whole(&req, false).map_err(|x| {
        fail(
            reason_of(&x),
            Status::failed_precondition(format!("{}: {x}", strs.join(","))),
        )
    })?;
    let info: Vec<devinfo::Device> = addrs
        .iter()
        .map(|a| devinfo::Device {
            vf: *a,
            pf: None,
            vfio_group: e.host.iommu_group_of(a),
        })
        .collect();
    let groups: BTreeSet<u32> = info.iter().filter_map(|d| d.vfio_group).collect();
    let mut envs = std::collections::HashMap::new();
    envs.insert(ids::pcidevice_env(resource), strs.join(","));
    envs.insert(
        format!("{}_INFO", ids::pcidevice_env(resource)),
        devinfo::info_env(&info),
    );
    if let Some(dir) = devinfo_dir {
        for d in &info {
            if let Err(err) = devinfo::write(dir, resource, d) {
                tracing::warn!(device = %d.vf, dir = %dir.display(), %err, "device-info file not written");
            }
        }
    }
    let mut annotations = std::collections::HashMap::new();
    annotations.insert("vifman.io/vif-ids".to_string(), id.to_string());
    Ok(ContainerAllocateResponse {
        envs,
        mounts: vec![],
        devices: vfio_specs(&groups),
        annotations,
        cdi_devices: vec![],
    })
}
