//! RTM_SETLINK requests: one VF knob on a PF, or a link up. Synchronous, one request, one ack.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    LinkAttribute, LinkFlags, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac,
    VfInfoRate, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState as NlLinkState, VfVlan,
    VfVlanInfo, VlanProtocol,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::{HostError, Knob};
use crate::netlink::{VfLinkState, VlanProto};
use crate::types::IfName;

/// The IFLA_VF_* attribute carrying `knob` for VF `vf`.
pub fn vf_info(vf: u32, knob: &Knob) -> VfInfo {
    match knob {
        Knob::Mac { mac } => VfInfo::Mac(VfInfoMac::new(vf, &mac.octets())),
        Knob::Vlan {
            vlan,
            qos,
            proto: VlanProto::Dot1Q,
        } => VfInfo::Vlan(VfInfoVlan::new(vf, vlan.get() as u32, *qos)),
        // 802.1ad only exists in IFLA_VF_VLAN_LIST.
        Knob::Vlan {
            vlan,
            qos,
            proto: VlanProto::Dot1Ad,
        } => VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
            vf,
            vlan.get() as u32,
            *qos,
            VlanProtocol::Ieee8021Ad,
        ))]),
        Knob::Spoofchk { on } => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, *on)),
        Knob::Trust { on } => VfInfo::Trust(VfInfoTrust::new(vf, *on)),
        Knob::LinkState { state } => VfInfo::LinkState(VfInfoLinkState::new(
            vf,
            match state {
                VfLinkState::Auto => NlLinkState::Auto,
                VfLinkState::Enable => NlLinkState::Enable,
                VfLinkState::Disable => NlLinkState::Disable,
                VfLinkState::Other(n) => NlLinkState::Other(*n),
            },
        )),
        Knob::Rate { min_mbps, max_mbps } => {
            VfInfo::Rate(VfInfoRate::new(vf, *min_mbps, *max_mbps))
        }
    }
}

/// Send one request and wait for its ack; a kernel NACK becomes `HostError::Kernel` with errno.
fn request(op: &str, msg: LinkMessage) -> Result<(), HostError> {
    let sock_err = |e: std::io::Error| HostError::from_io(format!("{op}: netlink socket"), &e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(sock_err)?;
    socket.bind_auto().map_err(sock_err)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(sock_err)?;
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::SetLink(msg)),
    );
    packet.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut out = vec![0; packet.buffer_len()];
    packet.serialize(&mut out);
    socket.send(&out, 0).map_err(sock_err)?;
    let mut buf = Vec::with_capacity(8192);
    loop {
        buf.clear();
        let n = socket.recv(&mut buf, 0).map_err(sock_err)?;
        let mut off = 0;
        while off < n {
            let reply: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&buf[off..n])
                    .map_err(|e| HostError::other(op, format!("bad netlink reply: {e}")))?;
            let len = reply.header.length as usize;
            if let NetlinkPayload::Error(e) = reply.payload {
                return match e.code {
                    None => Ok(()),
                    Some(code) => Err(HostError::kernel(op, -code.get())),
                };
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

/// `ip link set PF vf N <knob>` as one RTM_SETLINK.
pub fn set_vf_knob(pf: &IfName, pf_ifindex: u32, vf: u32, knob: &Knob) -> Result<(), HostError> {
    let op = format!("{pf} vf {vf} {}", knob.describe());
    let _span =
        tracing::info_span!("rtm_setlink_vf", pf = %pf, vf, knob = knob.kind().name()).entered();
    let mut msg = LinkMessage::default();
    msg.header.index = pf_ifindex;
    msg.attributes
        .push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![vf_info(
            vf, knob,
        )])]));
    request(&op, msg)
}

/// RTM_GETLINK for one link (not a dump) with its VF info: the cheap read-back after a set.
pub fn get_link_vfs(ifindex: u32) -> Result<Option<crate::netlink::PfLinkState>, HostError> {
    let op = format!("RTM_GETLINK ifindex {ifindex}");
    let _span = tracing::debug_span!("rtm_getlink_one", ifindex).entered();
    let sock_err = |e: std::io::Error| HostError::from_io(format!("{op}: netlink socket"), &e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(sock_err)?;
    socket.bind_auto().map_err(sock_err)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(sock_err)?;
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    msg.attributes.push(LinkAttribute::ExtMask(vec![
        netlink_packet_route::link::LinkExtentMask::Vf,
        netlink_packet_route::link::LinkExtentMask::SkipStats,
    ]));
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(msg)),
    );
    packet.header.flags = NLM_F_REQUEST;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut out = vec![0; packet.buffer_len()];
    packet.serialize(&mut out);
    socket.send(&out, 0).map_err(sock_err)?;
    // One reply; size it first, a PF with many VFs does not fit a fixed buffer.
    let mut buf = Vec::new();
    let want = socket
        .recv(&mut buf, libc::MSG_PEEK | libc::MSG_TRUNC)
        .map_err(sock_err)?;
    buf = Vec::with_capacity(want.max(4096));
    let n = socket.recv(&mut buf, 0).map_err(sock_err)?;
    let reply: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&buf[..n])
        .map_err(|e| HostError::other(&op, format!("bad netlink reply: {e}")))?;
    match reply.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
            Ok(crate::netlink::pf_link_state(&l))
        }
        NetlinkPayload::Error(e) if e.code.is_some() => {
            Err(HostError::kernel(op, -e.code.map(|c| c.get()).unwrap_or(0)))
        }
        _ => Ok(None),
    }
}

/// Send an arbitrary IFLA_VF_INFO (tests use it to prove the kernel rejects bad encodings).
pub fn set_vf_raw(ifindex: u32, info: VfInfo) -> Result<(), HostError> {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    msg.attributes
        .push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![info])]));
    request("raw vf info", msg)
}

pub fn set_link_up(ifname: &IfName) -> Result<(), HostError> {
    let op = format!("{ifname} up");
    let _span = tracing::info_span!("rtm_setlink_up", ifname = %ifname).entered();
    let c =
        std::ffi::CString::new(ifname.as_str()).map_err(|_| HostError::other(&op, "bad name"))?;
    // SAFETY: a NUL-terminated name; if_nametoindex only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(HostError::from_io(op, &std::io::Error::last_os_error()));
    }
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    request(&op, msg)
}
