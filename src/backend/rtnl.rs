//! A small synchronous rtnetlink client: one socket, explicit sequence numbers, and a
//! pipelined batch mode (send many requests, then collect the acks) because a netlink round
//! trip per step is what makes `ip`-style plugging slow.
//!
//! Only links are covered: that is all the software backends need. Kernel errors carry the
//! extended-ack text ("Unknown device type", ...) when the kernel provides one.

use std::collections::HashMap;
use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage, State,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use thiserror::Error;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
/// Keep each datagram well below the kernel's per-skb limit.
const MAX_BATCH_BYTES: usize = 32 * 1024;

#[derive(Debug, Error)]
pub enum RtnlError {
    /// Not a `#[from]`/source: the text is already in the message (see BackendError).
    #[error("netlink socket: {0}")]
    Io(io::Error),
    /// The kernel refused the request: errno plus the extended-ack message if any.
    #[error("{}{}", io::Error::from_raw_os_error(*errno), ext.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel { errno: i32, ext: Option<String> },
    #[error("malformed netlink reply: {0}")]
    Decode(String),
}

impl From<io::Error> for RtnlError {
    fn from(e: io::Error) -> Self {
        RtnlError::Io(e)
    }
}

impl RtnlError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            RtnlError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, RtnlError>;

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

/// One request of a batch, with a label for error messages.
pub struct Request {
    pub label: String,
    msg: RouteNetlinkMessage,
    flags: u16,
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

pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a route socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Without these the kernel echoes the whole request in every error and omits
        // the human-readable reason.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    fn encode(&mut self, msg: RouteNetlinkMessage, flags: u16, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut h = NetlinkHeader::default();
        h.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        h.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
        self.seq
    }

    /// Runs one request and waits for its ack.
    pub fn request(&mut self, req: Request) -> Result<()> {
        let label = req.label.clone();
        let _s = tracing::debug_span!("rtnl", op = %label).entered();
        self.batch(vec![req]).pop().expect("one result per request")
    }

    /// Sends all requests (packed into as few datagrams as fit), then reads one ack per
    /// request. Results come back in request order; a failed request does not stop the
    /// kernel from processing the following ones.
    pub fn batch(&mut self, reqs: Vec<Request>) -> Vec<Result<()>> {
        let _s = tracing::debug_span!("rtnl_batch", n = reqs.len()).entered();
        let n = reqs.len();
        let mut results: Vec<Option<Result<()>>> = (0..n).map(|_| None).collect();
        let mut pending: HashMap<u32, usize> = HashMap::new();
        let mut out = Vec::with_capacity(MAX_BATCH_BYTES);
        for (i, r) in reqs.into_iter().enumerate() {
            let seq = self.encode(r.msg, r.flags, &mut out);
            pending.insert(seq, i);
            if out.len() >= MAX_BATCH_BYTES {
                if let Err(e) = self.sock.send(&out, 0) {
                    return fail_all(results, &pending, e);
                }
                out.clear();
            }
        }
        if !out.is_empty() {
            if let Err(e) = self.sock.send(&out, 0) {
                return fail_all(results, &pending, e);
            }
        }
        while !pending.is_empty() {
            let len = match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(l) => l,
                Err(e) => return fail_all(results, &pending, e),
            };
            let mut off = 0;
            while off + NLMSG_HDRLEN <= len {
                let m = &self.buf[off..len];
                let mlen = u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize;
                if mlen < NLMSG_HDRLEN || mlen > m.len() {
                    break;
                }
                let ty = u16::from_ne_bytes(m[4..6].try_into().unwrap());
                let seq = u32::from_ne_bytes(m[8..12].try_into().unwrap());
                if ty == NLMSG_ERROR {
                    if let Some(i) = pending.remove(&seq) {
                        results[i] = Some(parse_ack(&m[..mlen]));
                    }
                }
                off += (mlen + 3) & !3;
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every request answered"))
            .collect()
    }

    /// RTM_GETLINK by name; `Ok(None)` when the kernel says ENODEV.
    pub fn get_link(&mut self, name: &str) -> Result<Option<Link>> {
        let _s = tracing::trace_span!("rtnl_getlink", name).entered();
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_one(m)
    }

    pub fn get_link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.get_one(m)
    }

    fn get_one(&mut self, m: LinkMessage) -> Result<Option<Link>> {
        let mut out = Vec::new();
        let seq = self.encode(RouteNetlinkMessage::GetLink(m), 0, &mut out);
        self.sock.send(&out, 0)?;
        let mut found = None;
        loop {
            let len = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= len {
                let m = &self.buf[off..len];
                let mlen = u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize;
                if mlen < NLMSG_HDRLEN || mlen > m.len() {
                    return Err(RtnlError::Decode("truncated message".into()));
                }
                let ty = u16::from_ne_bytes(m[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(m[8..12].try_into().unwrap());
                if mseq == seq {
                    if ty == NLMSG_ERROR {
                        return match parse_ack(&m[..mlen]) {
                            Ok(()) => Ok(found),
                            Err(RtnlError::Kernel { errno, .. }) if errno == libc::ENODEV => {
                                Ok(None)
                            }
                            Err(e) => Err(e),
                        };
                    }
                    found = Some(decode_link(&m[..mlen])?);
                }
                off += (mlen + 3) & !3;
            }
        }
    }

    /// Every link in the namespace (RTM_GETLINK dump).
    pub fn dump_links(&mut self) -> Result<Vec<Link>> {
        let _s = tracing::trace_span!("rtnl_dump_links").entered();
        let mut out = Vec::new();
        let seq = self.encode(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            &mut out,
        );
        self.sock.send(&out, 0)?;
        let mut links = Vec::new();
        loop {
            let len = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= len {
                let m = &self.buf[off..len];
                let mlen = u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize;
                if mlen < NLMSG_HDRLEN || mlen > m.len() {
                    return Err(RtnlError::Decode("truncated message".into()));
                }
                let ty = u16::from_ne_bytes(m[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(m[8..12].try_into().unwrap());
                if mseq == seq {
                    match ty {
                        NLMSG_DONE => return Ok(links),
                        NLMSG_ERROR => {
                            parse_ack(&m[..mlen])?;
                            return Ok(links);
                        }
                        _ => links.push(decode_link(&m[..mlen])?),
                    }
                }
                off += (mlen + 3) & !3;
            }
        }
    }
}

fn fail_all(
    mut results: Vec<Option<Result<()>>>,
    pending: &HashMap<u32, usize>,
    e: io::Error,
) -> Vec<Result<()>> {
    for &i in pending.values() {
        results[i] = Some(Err(RtnlError::Io(io::Error::new(e.kind(), e.to_string()))));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(RtnlError::Decode("no reply".into()))))
        .collect()
}

fn decode_link(raw: &[u8]) -> Result<Link> {
    let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw)
        .map_err(|e| RtnlError::Decode(e.to_string()))?;
    match msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => Ok(Link::from_msg(&l)),
        other => Err(RtnlError::Decode(format!(
            "expected RTM_NEWLINK, got type {}",
            other.message_type()
        ))),
    }
}

/// Decodes an NLMSG_ERROR by hand: the crate's parser does not expose the extended-ack
/// TLVs, and those carry the only useful text ("Unknown device type").
fn parse_ack(m: &[u8]) -> Result<()> {
    if m.len() < NLMSG_HDRLEN + 4 {
        return Err(RtnlError::Decode("short NLMSG_ERROR".into()));
    }
    let flags = u16::from_ne_bytes(m[6..8].try_into().unwrap());
    let code = i32::from_ne_bytes(m[16..20].try_into().unwrap());
    if code == 0 {
        return Ok(());
    }
    let mut ext = None;
    if flags & NLM_F_ACK_TLVS != 0 && m.len() >= NLMSG_HDRLEN + 4 + NLMSG_HDRLEN {
        let orig_len = u32::from_ne_bytes(m[20..24].try_into().unwrap()) as usize;
        let mut off = NLMSG_HDRLEN
            + 4
            + if flags & NLM_F_CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                (orig_len + 3) & !3
            };
        while off + 4 <= m.len() {
            let alen = u16::from_ne_bytes(m[off..off + 2].try_into().unwrap()) as usize;
            let aty = u16::from_ne_bytes(m[off + 2..off + 4].try_into().unwrap()) & 0x3fff;
            if alen < 4 || off + alen > m.len() {
                break;
            }
            if aty == NLMSGERR_ATTR_MSG {
                let s = &m[off + 4..off + alen];
                let s = s.split(|b| *b == 0).next().unwrap_or(&[]);
                ext = Some(String::from_utf8_lossy(s).into_owned());
            }
            off += (alen + 3) & !3;
        }
    }
    Err(RtnlError::Kernel { errno: -code, ext })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_msg(code: i32, ext: Option<&str>) -> Vec<u8> {
        let mut m = vec![0u8; 36];
        m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        let mut flags = NLM_F_CAPPED;
        if ext.is_some() {
            flags |= NLM_F_ACK_TLVS;
        }
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        m[16..20].copy_from_slice(&code.to_ne_bytes());
        m[20..24].copy_from_slice(&40u32.to_ne_bytes());
        if let Some(t) = ext {
            let mut v = t.as_bytes().to_vec();
            v.push(0);
            let alen = 4 + v.len();
            m.extend_from_slice(&(alen as u16).to_ne_bytes());
            m.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            m.extend_from_slice(&v);
            while !m.len().is_multiple_of(4) {
                m.push(0);
            }
        }
        let l = m.len() as u32;
        m[0..4].copy_from_slice(&l.to_ne_bytes());
        m
    }

    #[test]
    fn ack_is_ok() {
        assert!(parse_ack(&err_msg(0, None)).is_ok());
    }

    #[test]
    fn extack_text_is_kept() {
        let e = parse_ack(&err_msg(-libc::EOPNOTSUPP, Some("Unknown device type"))).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
        assert!(e.to_string().contains("(Unknown device type)"), "{e}");
    }

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
}
