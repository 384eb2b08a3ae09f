//! `LinkMessage` → [`PfLinkState`]: flattening the kernel's per-attribute VF records.

use std::collections::BTreeMap;

use netlink_packet_route::link::{self, LinkAttribute, VfInfo, VfVlan};

use super::{LinkAttrs, PfLinkState, VfLinkState, VfState, VlanProto};
use crate::types::{IfName, MacAddress, VlanId};

/// Extracts VF state from one RTM_NEWLINK message; `None` for links without VFs.
///
/// The kernel emits one `IFLA_VF_INFO` per VF, each a bag of per-feature attributes that older
/// drivers omit piecemeal, so every field starts from the kernel's own default and is
/// overwritten by what is present. `IFLA_VF_VLAN_LIST` wins over the legacy `IFLA_VF_VLAN`
/// because only it carries the 802.1ad protocol.
pub fn pf_link_state(msg: &link::LinkMessage) -> Option<PfLinkState> {
    let mut ifname = None;
    let mut num_vf = None;
    let mut infos = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => ifname = Some(n.as_str()),
            LinkAttribute::NumVf(n) => num_vf = Some(*n),
            LinkAttribute::VfInfoList(l) => infos = Some(l),
            _ => {}
        }
    }
    let infos = infos.filter(|l| !l.is_empty());
    if infos.is_none() && num_vf.unwrap_or(0) == 0 {
        return None;
    }
    let ifname: IfName = ifname?.parse().ok()?;
    let mut vfs: BTreeMap<u32, VfState> = BTreeMap::new();
    for info in infos.into_iter().flatten() {
        let Some(id) = info.0.iter().find_map(vf_id) else {
            continue;
        };
        let vf = vfs.entry(id).or_insert_with(|| VfState {
            vf: id,
            mac: MacAddress::ZERO,
            vlan: VlanId::default(),
            qos: 0,
            vlan_proto: VlanProto::Dot1Q,
            spoofchk: None,
            trust: None,
            link_state: VfLinkState::Auto,
            min_tx_rate: 0,
            max_tx_rate: 0,
        });
        let mut have_list = false;
        for attr in &info.0 {
            match attr {
                VfInfo::Mac(m) => vf.mac = MacAddress::from_slice(&m.mac).unwrap_or_default(),
                VfInfo::Vlan(v) if !have_list => {
                    vf.vlan = VlanId::try_from(v.vlan_id).unwrap_or_default();
                    vf.qos = v.qos;
                }
                VfInfo::VlanList(list) => {
                    if let Some(VfVlan::Info(v)) = list.first() {
                        have_list = true;
                        vf.vlan = VlanId::try_from(v.vlan_id).unwrap_or_default();
                        vf.qos = v.qos;
                        vf.vlan_proto = match v.protocol {
                            link::VlanProtocol::Ieee8021Ad => VlanProto::Dot1Ad,
                            _ => VlanProto::Dot1Q,
                        };
                    }
                }
                VfInfo::Rate(r) => {
                    vf.min_tx_rate = r.min_tx_rate;
                    vf.max_tx_rate = r.max_tx_rate;
                }
                VfInfo::TxRate(r) if vf.max_tx_rate == 0 => vf.max_tx_rate = r.rate,
                VfInfo::SpoofCheck(s) => vf.spoofchk = Some(s.enabled),
                VfInfo::Trust(t) => vf.trust = Some(t.enabled),
                VfInfo::LinkState(l) => {
                    vf.link_state = match l.state {
                        link::VfLinkState::Auto => VfLinkState::Auto,
                        link::VfLinkState::Enable => VfLinkState::Enable,
                        link::VfLinkState::Disable => VfLinkState::Disable,
                        link::VfLinkState::Other(n) => VfLinkState::Other(n),
                        _ => VfLinkState::Other(u32::MAX),
                    }
                }
                _ => {}
            }
        }
    }
    Some(PfLinkState {
        ifname,
        ifindex: msg.header.index,
        num_vf: num_vf.unwrap_or(vfs.len() as u32),
        vfs: vfs.into_values().collect(),
    })
}

/// A link's own attributes, spelled the way `sys/class/net/<name>/` spells them, so either
/// source fills the inventory identically. `None` for a message without a usable name.
pub fn link_attrs(msg: &link::LinkMessage) -> Option<LinkAttrs> {
    let mut l = LinkAttrs {
        ifname: "lo".parse().ok()?,
        ifindex: msg.header.index,
        parent: None,
        address: None,
        mtu: None,
        operstate: None,
        speed_mbps: None,
        phys_port_name: None,
        phys_switch_id: None,
        phys_port_id: None,
    };
    let mut named = false;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => {
                l.ifname = n.parse().ok()?;
                named = true;
            }
            LinkAttribute::ParentDevName(p) => l.parent = Some(p.clone()),
            LinkAttribute::Address(b) if b.len() == 6 => l.address = MacAddress::from_slice(b),
            LinkAttribute::Mtu(m) => l.mtu = Some(*m),
            LinkAttribute::OperState(s) => l.operstate = Some(operstate(*s).to_string()),
            LinkAttribute::PhysPortName(n) => l.phys_port_name = Some(n.clone()),
            LinkAttribute::PhysSwitchId(id) => l.phys_switch_id = hex_id(id),
            LinkAttribute::PhysPortId(id) => l.phys_port_id = hex_id(id),
            _ => {}
        }
    }
    named.then_some(l)
}

/// The names of `net/core/net-sysfs.c`'s `operstates[]`.
fn operstate(s: link::State) -> &'static str {
    match s {
        link::State::Unknown => "unknown",
        link::State::NotPresent => "notpresent",
        link::State::Down => "down",
        link::State::LowerLayerDown => "lowerlayerdown",
        link::State::Testing => "testing",
        link::State::Dormant => "dormant",
        link::State::Up => "up",
        // sysfs prints "unknown" for values past its table.
        _ => "unknown",
    }
}

/// `%*phN`: lower-case hex, no separators, as `phys_switch_id`/`phys_port_id` read in sysfs.
fn hex_id(id: &link::LinkPhysId) -> Option<String> {
    let b = id.id.get(..id.len)?;
    (!b.is_empty()).then(|| b.iter().map(|x| format!("{x:02x}")).collect())
}

pub(crate) fn vf_id(a: &VfInfo) -> Option<u32> {
    Some(match a {
        VfInfo::Mac(v) => v.vf_id,
        VfInfo::Vlan(v) => v.vf_id,
        VfInfo::Rate(v) => v.vf_id,
        VfInfo::TxRate(v) => v.vf_id,
        VfInfo::SpoofCheck(v) => v.vf_id,
        VfInfo::Trust(v) => v.vf_id,
        VfInfo::LinkState(v) => v.vf_id,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, Parseable};
    use netlink_packet_route::link::{
        LinkMessage, LinkVfInfo, VfInfoLinkState, VfInfoMac, VfInfoRate, VfInfoSpoofCheck,
        VfInfoTrust, VfInfoVlan, VfVlanInfo, VlanProtocol,
    };
    use proptest::prelude::*;

    fn vf_info(id: u32, mac: [u8; 6], vlan: u32, qos: u32, spoof: bool, trust: bool) -> LinkVfInfo {
        LinkVfInfo(vec![
            VfInfo::Mac(VfInfoMac::new(id, &mac)),
            VfInfo::Vlan(VfInfoVlan::new(id, vlan, qos)),
            VfInfo::Rate(VfInfoRate::new(id, 10, 1000)),
            VfInfo::SpoofCheck(VfInfoSpoofCheck::new(id, spoof)),
            VfInfo::LinkState(VfInfoLinkState::new(id, link::VfLinkState::Disable)),
            VfInfo::Trust(VfInfoTrust::new(id, trust)),
        ])
    }

    /// Emits through netlink-packet-route's encoder and parses back, as the kernel path would.
    fn round_trip(msg: &LinkMessage) -> LinkMessage {
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        LinkMessage::parse(&buf[..]).unwrap()
    }

    #[test]
    fn parses_emitted_vf_list() {
        let mut msg = LinkMessage::default();
        msg.header.index = 9;
        msg.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::NumVf(2),
            LinkAttribute::VfInfoList(vec![
                vf_info(0, [2, 0x11, 0x22, 0x33, 0x44, 0x55], 100, 3, true, false),
                LinkVfInfo(vec![
                    VfInfo::Mac(VfInfoMac::new(1, &[0; 6])),
                    VfInfo::Vlan(VfInfoVlan::new(1, 0, 0)),
                    VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
                        1,
                        200,
                        0,
                        VlanProtocol::Ieee8021Ad,
                    ))]),
                ]),
            ]),
        ];
        let st = pf_link_state(&round_trip(&msg)).unwrap();
        assert_eq!(st.ifname.as_str(), "eth0");
        assert_eq!((st.ifindex, st.num_vf, st.vfs.len()), (9, 2, 2));
        let v0 = &st.vfs[0];
        assert_eq!(v0.mac.to_string(), "02:11:22:33:44:55");
        assert_eq!(
            (v0.vlan.get(), v0.qos, v0.vlan_proto),
            (100, 3, VlanProto::Dot1Q)
        );
        assert_eq!((v0.spoofchk, v0.trust), (Some(true), Some(false)));
        assert_eq!(v0.link_state, VfLinkState::Disable);
        assert_eq!((v0.min_tx_rate, v0.max_tx_rate), (10, 1000));
        let v1 = &st.vfs[1];
        assert!(v1.mac.is_zero());
        assert_eq!((v1.vlan.get(), v1.vlan_proto), (200, VlanProto::Dot1Ad));
        assert_eq!((v1.spoofchk, v1.trust), (None, None));
    }

    #[test]
    fn link_attributes_are_spelled_as_sysfs_spells_them() {
        use netlink_packet_route::link::{LinkPhysId, State};
        let id = LinkPhysId::parse(&[0x1c, 0x34, 0xda, 0x0f][..]).unwrap();
        let mut msg = LinkMessage::default();
        msg.header.index = 12;
        msg.attributes = vec![
            LinkAttribute::IfName("enp59s0f0".into()),
            LinkAttribute::Address(vec![0x3c, 0xfd, 0xfe, 0x3b, 0, 1]),
            LinkAttribute::Mtu(9000),
            LinkAttribute::OperState(State::LowerLayerDown),
            LinkAttribute::ParentDevName("0000:3b:00.0".into()),
            LinkAttribute::PhysPortName("p0".into()),
            LinkAttribute::PhysSwitchId(id),
        ];
        let l = link_attrs(&round_trip(&msg)).unwrap();
        assert_eq!((l.ifname.as_str(), l.ifindex), ("enp59s0f0", 12));
        assert_eq!(l.address.unwrap().to_string(), "3c:fd:fe:3b:00:01");
        assert_eq!(l.mtu, Some(9000));
        assert_eq!(l.operstate.as_deref(), Some("lowerlayerdown"));
        assert_eq!(l.parent.as_deref(), Some("0000:3b:00.0"));
        assert_eq!(l.phys_port_name.as_deref(), Some("p0"));
        assert_eq!(l.phys_switch_id.as_deref(), Some("1c34da0f"));
        assert_eq!((l.phys_port_id.as_deref(), l.speed_mbps), (None, None));
        assert!(l.describes("enp59s0f0", &"0000:3b:00.0".parse().unwrap()));
        assert!(!l.describes("enp59s0f0", &"0000:3b:00.1".parse().unwrap()));
        // An InfiniBand-sized hardware address is not a MAC; a nameless message is no link.
        msg.attributes[1] = LinkAttribute::Address(vec![0; 20]);
        assert_eq!(link_attrs(&round_trip(&msg)).unwrap().address, None);
        msg.attributes.remove(0);
        assert!(link_attrs(&round_trip(&msg)).is_none());
    }

    #[test]
    fn links_without_vfs_are_skipped() {
        let mut msg = LinkMessage::default();
        msg.attributes = vec![LinkAttribute::IfName("lo".into()), LinkAttribute::NumVf(0)];
        assert!(pf_link_state(&round_trip(&msg)).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_vf_values_round_trip(
            id in 0u32..256, mac: [u8; 6], vlan in 0u32..=4095, qos in 0u32..8,
            spoof: bool, trust: bool,
        ) {
            let mut msg = LinkMessage::default();
            msg.attributes = vec![
                LinkAttribute::IfName("pf".into()),
                LinkAttribute::VfInfoList(vec![vf_info(id, mac, vlan, qos, spoof, trust)]),
            ];
            let st = pf_link_state(&round_trip(&msg)).unwrap();
            let v = &st.vfs[0];
            prop_assert_eq!(v.vf, id);
            prop_assert_eq!(v.mac.octets(), mac);
            prop_assert_eq!(u32::from(v.vlan.get()), vlan);
            prop_assert_eq!(v.spoofchk, Some(spoof));
            prop_assert_eq!(v.trust, Some(trust));
        }

        #[test]
        fn garbage_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(m) = LinkMessage::parse(&bytes[..]) {
                let _ = pf_link_state(&m);
            }
        }
    }
}
