//! Link requests and replies: the builders the software backends batch (bridge, veth,
//! macvtap, one-message link changes, deletes) and [`Link`], a link as RTM_GETLINK reports it.
//! Links are addressed by name wherever the kernel allows it, so nothing stale (an ifindex
//! from an earlier run) is ever sent.

use netlink_packet_core::{NetlinkPayload, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, State,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::client::{Request, Result, Rtnl, RtnlError};

/// Kernel state of one link, as read back with RTM_GETLINK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub address: Option<Vec<u8>>,
    /// Ifindex of the bridge/OVS master, if enslaved.
    pub master: Option<u32>,
    /// IFF_UP (administrative state).
    pub up: bool,
    pub oper_up: bool,
    /// IFLA_INFO_KIND: "bridge", "tun", "veth", ... (None for plain devices).
    pub kind: Option<String>,
    pub group: u32,
    /// IFLA_LINK: the lower device of a macvtap/macvlan/vlan.
    pub lower: Option<u32>,
    /// IFLA_MACVLAN_MODE of a macvtap/macvlan.
    pub macvlan_mode: Option<u32>,
    /// IFLA_TUN_TYPE of a tun/tap device: 1 = TUN (layer 3), 2 = TAP.
    pub tun_type: Option<u8>,
    /// IFLA_TUN_OWNER of a tun/tap device (absent when it has no owner).
    pub tun_owner: Option<u32>,
    /// IFLA_PARENT_DEV_NAME: the bus device behind the netdev ("0000:3b:02.0" for a VF),
    /// which identifies a netdev after a move into another namespace (Linux 5.16+).
    pub parent_dev: Option<String>,
}

impl Link {
    fn from_msg(m: &LinkMessage) -> Self {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            mtu: 0,
            address: None,
            master: None,
            up: m.header.flags.contains(LinkFlags::Up),
            oper_up: false,
            kind: None,
            group: 0,
            lower: None,
            macvlan_mode: None,
            tun_type: None,
            tun_owner: None,
            parent_dev: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Mtu(v) => l.mtu = *v,
                LinkAttribute::Address(v) => l.address = Some(v.clone()),
                LinkAttribute::Controller(v) => l.master = Some(*v),
                LinkAttribute::OperState(s) => l.oper_up = matches!(s, State::Up),
                LinkAttribute::Group(g) => l.group = *g,
                LinkAttribute::Link(v) => l.lower = Some(*v),
                LinkAttribute::ParentDevName(n) => l.parent_dev = Some(n.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                            LinkInfo::Data(InfoData::Tun(d)) => {
                                for x in d {
                                    l.read_tun_attr(x);
                                }
                            }
                            LinkInfo::Data(InfoData::MacVtap(d)) => {
                                for x in d {
                                    if let netlink_packet_route::link::InfoMacVtap::Mode(m) = x {
                                        l.macvlan_mode = Some(u32::from(*m));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }

    /// netlink-packet-route leaves IFLA_INFO_DATA of tun devices unparsed.
    fn read_tun_attr(&mut self, a: &netlink_packet_route::link::InfoTun) {
        use netlink_packet_core::Nla;
        const IFLA_TUN_OWNER: u16 = 1;
        const IFLA_TUN_TYPE: u16 = 3;
        let mut v = vec![0u8; a.value_len()];
        a.emit_value(&mut v);
        match (a.kind(), v.as_slice()) {
            (IFLA_TUN_TYPE, [t]) => self.tun_type = Some(*t),
            (IFLA_TUN_OWNER, [a, b, c, d]) => {
                self.tun_owner = Some(u32::from_ne_bytes([*a, *b, *c, *d]))
            }
            _ => {}
        }
    }

    pub fn mac_string(&self) -> Option<String> {
        self.address.as_ref().map(|a| {
            a.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
    }
}

/// What to change on an existing link in one RTM_NEWLINK (all in one message, so that a
/// plug step is one round trip, or none when pipelined).
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    /// `Some(0)` detaches from the current master.
    pub master: Option<u32>,
    pub mtu: Option<u32>,
    pub address: Option<[u8; 6]>,
    pub up: Option<bool>,
    pub group: Option<u32>,
}

/// Settings for a new Linux bridge (os-vif's hybrid bridge: STP off, no forward delay,
/// no multicast snooping, so a freshly plugged port forwards at once).
#[derive(Debug, Clone, Default)]
pub struct BridgeSpec {
    pub mtu: Option<u32>,
    pub ageing_time: Option<u32>,
}

impl Request {
    pub fn new_bridge(name: &str, spec: &BridgeSpec) -> Self {
        let mut data = vec![
            InfoBridge::StpState(BridgeStpState::Disabled),
            InfoBridge::ForwardDelay(0),
            InfoBridge::MulticastSnooping(false),
        ];
        if let Some(a) = spec.ageing_time {
            data.push(InfoBridge::AgeingTime(a));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = spec.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            LinkInfo::Data(InfoData::Bridge(data)),
        ]));
        Request {
            label: format!("create bridge {name}"),
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        }
    }

    pub fn new_veth(name: &str, peer: &str, mtu: Option<u32>) -> Self {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        Request {
            label: format!("create veth {name}/{peer}"),
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        }
    }

    /// A macvtap on `lower` (os-vif VIFDirect). `mode` is IFLA_MACVLAN_MODE: 2 vepa,
    /// 4 bridge, 8 passthru.
    pub fn new_macvtap(
        name: &str,
        lower: u32,
        mode: u32,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> Self {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Link(lower));
        if let Some(a) = mac {
            m.attributes.push(LinkAttribute::Address(a.to_vec()));
        }
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVtap),
            LinkInfo::Data(InfoData::MacVtap(vec![
                netlink_packet_route::link::InfoMacVtap::Mode(
                    netlink_packet_route::link::MacVtapMode::from(mode),
                ),
            ])),
        ]));
        Request {
            label: format!("create macvtap {name}"),
            msg: RouteNetlinkMessage::NewLink(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        }
    }

    pub fn set_link(index: u32, label: &str, ch: &LinkChange) -> Self {
        Self::change(index, None, label, ch)
    }

    /// Addresses the link by name (index 0 + IFLA_IFNAME), which saves a lookup round
    /// trip per link in batches.
    pub fn set_link_by_name(name: &str, ch: &LinkChange) -> Self {
        Self::change(0, Some(name), name, ch)
    }

    fn change(index: u32, name: Option<&str>, label: &str, ch: &LinkChange) -> Self {
        let mut m = LinkMessage::default();
        m.header.index = index;
        if let Some(n) = name {
            m.attributes.push(LinkAttribute::IfName(n.to_string()));
        }
        if let Some(up) = ch.up {
            m.header.change_mask = LinkFlags::Up;
            if up {
                m.header.flags = LinkFlags::Up;
            }
        }
        if let Some(a) = ch.address {
            m.attributes.push(LinkAttribute::Address(a.to_vec()));
        }
        if let Some(mtu) = ch.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(master) = ch.master {
            m.attributes.push(LinkAttribute::Controller(master));
        }
        if let Some(g) = ch.group {
            m.attributes.push(LinkAttribute::Group(g));
        }
        Request {
            label: format!("configure {label}"),
            // RTM_NEWLINK on an existing index is what `ip link set` sends; it accepts
            // every attribute RTM_SETLINK does.
            msg: RouteNetlinkMessage::NewLink(m),
            flags: 0,
        }
    }

    /// Move link `index` into the network namespace open at `netns_fd`, renaming it to
    /// `new_name` in the same message: the kernel checks the name against the target
    /// namespace, so a clash there fails the move instead of leaving a half-moved link.
    pub fn move_link(
        index: u32,
        label: &str,
        netns_fd: std::os::fd::RawFd,
        new_name: Option<&str>,
    ) -> Self {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::NetNsFd(netns_fd));
        if let Some(n) = new_name {
            m.attributes.push(LinkAttribute::IfName(n.to_string()));
        }
        Request {
            label: format!("move {label} to another network namespace"),
            msg: RouteNetlinkMessage::NewLink(m),
            flags: 0,
        }
    }

    /// Rename link `index` (it must be down).
    pub fn rename_link(index: u32, label: &str, new_name: &str) -> Self {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes
            .push(LinkAttribute::IfName(new_name.to_string()));
        Request {
            label: format!("rename {label} to {new_name}"),
            msg: RouteNetlinkMessage::NewLink(m),
            flags: 0,
        }
    }

    pub fn del_link(index: u32, label: &str) -> Self {
        let mut m = LinkMessage::default();
        m.header.index = index;
        Request {
            label: format!("delete {label}"),
            msg: RouteNetlinkMessage::DelLink(m),
            flags: 0,
        }
    }

    /// Delete every link in a group: one request, one RCU wait for all of them.
    pub fn del_group(group: u32) -> Self {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::Group(group));
        Request {
            label: format!("delete link group {group}"),
            msg: RouteNetlinkMessage::DelLink(m),
            flags: 0,
        }
    }
}

impl Rtnl {
    /// RTM_GETLINK by name; `Ok(None)` when the kernel says ENODEV.
    pub fn get_link(&mut self, name: &str) -> Result<Option<Link>> {
        let _s = tracing::trace_span!("rtnl_getlink", name).entered();
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link_msg(m)?
            .map(|m| Ok(Link::from_msg(&m)))
            .transpose()
    }

    /// RTM_GETLINK by index, for an index the kernel itself just reported (a master, a
    /// lower device), never one remembered across runs.
    pub fn get_link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let _s = tracing::trace_span!("rtnl_getlink", index).entered();
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.get_link_msg(m)?
            .map(|m| Ok(Link::from_msg(&m)))
            .transpose()
    }

    /// Every link in the namespace (RTM_GETLINK dump).
    pub fn dump_links(&mut self) -> Result<Vec<Link>> {
        let _s = tracing::trace_span!("rtnl_dump_links").entered();
        Ok(self
            .dump_link_msgs(LinkMessage::default())?
            .iter()
            .map(Link::from_msg)
            .collect())
    }

    /// One link's RTM_NEWLINK reply to a GETLINK for `m` (by index or IFLA_IFNAME).
    pub(crate) fn get_link_msg(&mut self, m: LinkMessage) -> Result<Option<LinkMessage>> {
        self.get(RouteNetlinkMessage::GetLink(m), libc::ENODEV)?
            .map(link_payload)
            .transpose()
    }

    /// A RTM_GETLINK dump filtered/extended by `m`'s attributes (IFLA_EXT_MASK).
    pub(crate) fn dump_link_msgs(&mut self, m: LinkMessage) -> Result<Vec<LinkMessage>> {
        self.dump(RouteNetlinkMessage::GetLink(m))?
            .into_iter()
            .map(link_payload)
            .collect()
    }
}

fn link_payload(
    msg: netlink_packet_core::NetlinkMessage<RouteNetlinkMessage>,
) -> Result<LinkMessage> {
    match msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => Ok(l),
        other => Err(RtnlError::Decode(format!(
            "expected RTM_NEWLINK, got type {}",
            other.message_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_link_carries_all_changes_in_one_message() {
        let r = Request::set_link(
            7,
            "tap0",
            &LinkChange {
                master: Some(3),
                mtu: Some(1450),
                address: Some([2, 0, 0, 0, 0, 1]),
                up: Some(true),
                group: None,
            },
        );
        let RouteNetlinkMessage::NewLink(m) = r.msg else {
            panic!()
        };
        assert_eq!(m.header.index, 7);
        assert!(m.header.flags.contains(LinkFlags::Up));
        assert_eq!(m.attributes.len(), 3);
    }

    #[test]
    fn set_link_by_name_sends_no_index() {
        let r = Request::set_link_by_name(
            "eth0",
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        );
        let RouteNetlinkMessage::NewLink(m) = r.msg else {
            panic!()
        };
        assert_eq!(m.header.index, 0);
        assert_eq!(m.attributes, vec![LinkAttribute::IfName("eth0".into())]);
    }
}
