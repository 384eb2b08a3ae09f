//! Per-VF traffic counters (IFLA_VF_STATS) from the PF's RTM_GETLINK answer: the only
//! host-side view of a VF's traffic when its driver is vfio-pci or it sits in a container.
//! One request per PF answers for all its VFs.

use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage, VfInfo, VfStats};
use serde::{Deserialize, Serialize};

use super::client::{Result, Rtnl};
use crate::types::IfName;

/// One VF's counters as the PF driver reports them (what `ip -s -d link show PF` prints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VfCounters {
    pub vf: u32,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub broadcast: u64,
    pub multicast: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// The counters in a PF's link message (empty when the driver reports none).
pub fn vf_counters(msg: &LinkMessage) -> Vec<VfCounters> {
    let mut out = vec![];
    for a in &msg.attributes {
        let LinkAttribute::VfInfoList(list) = a else {
            continue;
        };
        for info in list {
            let Some(vf) = info.0.iter().find_map(crate::netlink::vf_id) else {
                continue;
            };
            let Some(stats) = info.0.iter().find_map(|x| match x {
                VfInfo::Stats(s) => Some(s),
                _ => None,
            }) else {
                continue;
            };
            let mut c = VfCounters {
                vf,
                ..Default::default()
            };
            for s in stats {
                match s {
                    VfStats::RxPackets(v) => c.rx_packets = *v,
                    VfStats::TxPackets(v) => c.tx_packets = *v,
                    VfStats::RxBytes(v) => c.rx_bytes = *v,
                    VfStats::TxBytes(v) => c.tx_bytes = *v,
                    VfStats::Broadcast(v) => c.broadcast = *v,
                    VfStats::Multicast(v) => c.multicast = *v,
                    VfStats::RxDropped(v) => c.rx_dropped = *v,
                    VfStats::TxDropped(v) => c.tx_dropped = *v,
                    _ => {}
                }
            }
            out.push(c);
        }
    }
    out.sort_by_key(|c| c.vf);
    out
}

impl Rtnl {
    /// The counters of every VF of `pf` (by name), from one RTM_GETLINK with VF info and
    /// statistics.
    pub fn pf_vf_counters(&mut self, pf: &IfName) -> Result<Vec<VfCounters>> {
        let _s = tracing::debug_span!("rtm_getlink_vf_stats", pf = %pf).entered();
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(pf.to_string()));
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        Ok(self
            .get_link_msg(m)?
            .as_ref()
            .map(vf_counters)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::{LinkVfInfo, VfInfoMac};

    #[test]
    fn counters_per_vf_from_a_link_message() {
        let mut m = LinkMessage::default();
        let vf = |id: u32, stats: Vec<VfStats>| {
            LinkVfInfo(vec![
                VfInfo::Mac(VfInfoMac::new(id, &[0; 6])),
                VfInfo::Stats(stats),
            ])
        };
        m.attributes.push(LinkAttribute::VfInfoList(vec![
            vf(
                1,
                vec![
                    VfStats::RxBytes(500),
                    VfStats::TxBytes(42),
                    VfStats::RxPackets(5),
                    VfStats::TxPackets(1),
                    VfStats::Broadcast(3),
                    VfStats::Multicast(2),
                    VfStats::RxDropped(7),
                    VfStats::TxDropped(8),
                ],
            ),
            vf(0, vec![VfStats::TxPackets(9)]),
            // A VF without statistics (SKIP_STATS, or a driver without them): left out.
            LinkVfInfo(vec![VfInfo::Mac(VfInfoMac::new(2, &[0; 6]))]),
        ]));
        let c = vf_counters(&m);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            VfCounters {
                vf: 0,
                tx_packets: 9,
                ..Default::default()
            }
        );
        assert_eq!(
            c[1],
            VfCounters {
                vf: 1,
                rx_bytes: 500,
                tx_bytes: 42,
                rx_packets: 5,
                tx_packets: 1,
                broadcast: 3,
                multicast: 2,
                rx_dropped: 7,
                tx_dropped: 8,
            }
        );
    }
}
