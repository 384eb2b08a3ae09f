//! The per-VF counter series (`sriov_vf_*`): the PF driver's IFLA_VF_STATS of every VF the
//! host has, pooled or not, PCI or a non-PCI PF's netlink record, each labelled as the
//! inventory names the VF, so a dashboard and `vifman inventory --stats` agree on which VF a
//! number belongs to.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;

use super::Metrics;
use crate::sysfs::busdev::BusSriov;
use crate::types::{IfName, PciAddress};
use crate::view::HostView;

/// The labels the SR-IOV network metrics exporter puts on its per-VF series, so its
/// dashboards work on vifman's unchanged. There is no pool label (the exporter has none), so
/// a VF outside every pool is named exactly like a pooled one.
#[allow(non_snake_case)]
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct VfLabels {
    pf: String,
    vf: String,
    pciAddr: String,
    numa_node: String,
}

/// `sriov_vf_<name>` series, in [`crate::inventory::VfStats::values`] order.
pub(super) const VF_COUNTERS: [(&str, &str); 8] = [
    ("rx_bytes", "Bytes received by the VF (IFLA_VF_STATS)"),
    ("tx_bytes", "Bytes sent by the VF"),
    ("rx_packets", "Packets received by the VF"),
    ("tx_packets", "Packets sent by the VF"),
    ("rx_broadcast", "Broadcast packets received by the VF"),
    ("rx_multicast", "Multicast packets received by the VF"),
    ("rx_dropped", "Received packets the VF dropped"),
    ("tx_dropped", "Packets to send the VF dropped"),
];

/// One VF as its counter series name it: the inventory's PF netdev (`pf`), VF index (`vf`),
/// PCI address (`pciAddr`; empty for a non-PCI PF's VF, which has none) and NUMA node
/// (`numa_node`; `-1` when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterVf {
    /// The PF netdev whose IFLA_VF_STATS carry the VF's counters.
    pub pf_netdev: IfName,
    pub index: u32,
    pub pci: Option<PciAddress>,
    pub numa: Option<u32>,
}

/// Every VF of the host, as the inventory lists them: each PCI VF of `view` whose PF has a
/// netdev (without one there are no counters to read), then each VF record of the netdevs of
/// the non-PCI PFs `bus` (their VFs in `bus_functions`).
pub fn every_vf(view: &HostView, bus: &[BusSriov]) -> Vec<CounterVf> {
    let mut out: Vec<CounterVf> = view
        .vfs
        .iter()
        .filter_map(|v| {
            Some(CounterVf {
                pf_netdev: v.pf_netdev.clone()?,
                index: v.vf_index,
                pci: Some(v.addr),
                numa: v.numa,
            })
        })
        .collect();
    for nd in bus.iter().flat_map(|b| &b.netdevs) {
        let Some(link) = view.links.iter().find(|l| &l.ifname == nd) else {
            continue;
        };
        let mut idx: Vec<u32> = link.vfs.iter().map(|v| v.vf).collect();
        idx.sort_unstable();
        out.extend(idx.into_iter().map(|index| CounterVf {
            pf_netdev: nd.clone(),
            index,
            pci: None,
            numa: None,
        }));
    }
    out
}

impl Metrics {
    /// Replace the per-VF counter series with `counters` (per PF netdev) for `vfs`; a VF its
    /// PF reports no counters for has no series.
    pub fn observe_counters(
        &self,
        vfs: &[CounterVf],
        counters: &BTreeMap<IfName, Vec<crate::rtnl::VfCounters>>,
    ) {
        for f in &self.vf_counters {
            f.clear();
        }
        for v in vfs {
            let Some(c) = counters
                .get(&v.pf_netdev)
                .and_then(|l| l.iter().find(|c| c.vf == v.index))
            else {
                continue;
            };
            let l = VfLabels {
                pf: v.pf_netdev.to_string(),
                vf: v.index.to_string(),
                pciAddr: v.pci.map(|a| a.to_string()).unwrap_or_default(),
                numa_node: v.numa.map(|n| n.to_string()).unwrap_or_else(|| "-1".into()),
            };
            let values = crate::inventory::VfStats::from(c).values();
            for (f, x) in self.vf_counters.iter().zip(values) {
                f.get_or_create(&l)
                    .set(i64::try_from(x).unwrap_or(i64::MAX));
            }
        }
    }
}
