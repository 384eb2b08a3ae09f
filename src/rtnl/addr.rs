//! Addresses and routes on a link: what a CNI plugin applies inside a pod's namespace from
//! an IPAM result, and reads back for CHECK. Requests carry the link by index, which the
//! caller has just read in the same namespace (never one remembered across runs).

use std::net::IpAddr;

use netlink_packet_core::{NetlinkPayload, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::client::{Request, Result, Rtnl};
use crate::types::IpPrefix;

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// A route as the kernel reports it on one link (main table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub dst: IpPrefix,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
}

impl Request {
    /// RTM_NEWADDR: `addr` on link `index` (fails with EEXIST if it is already there).
    pub fn new_addr(index: u32, label: &str, addr: &IpPrefix) -> Self {
        let mut m = AddressMessage::default();
        m.header.family = family(&addr.addr());
        m.header.prefix_len = addr.prefix_len();
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(addr.addr()));
        m.attributes.push(AddressAttribute::Address(addr.addr()));
        Request {
            label: format!("add address {addr} to {label}"),
            msg: RouteNetlinkMessage::NewAddress(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        }
    }

    /// RTM_NEWROUTE in the main table through link `index`, via `gateway` if given
    /// (otherwise a link-scope route), with an optional metric.
    pub fn new_route(
        index: u32,
        label: &str,
        dst: &IpPrefix,
        gateway: Option<IpAddr>,
        priority: Option<u32>,
    ) -> Self {
        let mut m = RouteMessage::default();
        let net = dst.network();
        m.header.address_family = family(&net.addr());
        m.header.destination_prefix_length = net.prefix_len();
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.kind = RouteType::Unicast;
        m.header.scope = if gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        if net.prefix_len() > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(net.addr())));
        }
        if let Some(gw) = gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        m.attributes.push(RouteAttribute::Oif(index));
        if let Some(p) = priority {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        Request {
            label: format!(
                "add route {net}{} on {label}",
                gateway.map(|g| format!(" via {g}")).unwrap_or_default()
            ),
            msg: RouteNetlinkMessage::NewRoute(m),
            flags: NLM_F_CREATE | NLM_F_EXCL,
        }
    }
}

/// Whether an address says someone configured the link: anything but an IPv6 link-local
/// address, which the kernel adds by itself to every link that comes up.
pub fn configured_address(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        IpAddr::V4(_) => true,
    }
}

impl Rtnl {
    /// The links (by index) carrying a configured address (see [`configured_address`]), from
    /// one RTM_GETADDR dump of this namespace.
    pub fn addressed_links(&mut self) -> Result<std::collections::BTreeSet<u32>> {
        let _s = tracing::trace_span!("rtnl_dump_addressed_links").entered();
        let parts = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
        let mut out = std::collections::BTreeSet::new();
        for p in parts {
            let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) = p.payload else {
                continue;
            };
            let configured = a.attributes.iter().any(|x| match x {
                AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => {
                    configured_address(ip)
                }
                _ => false,
            });
            if configured {
                out.insert(a.header.index);
            }
        }
        Ok(out)
    }

    /// The addresses on link `index` (both families).
    pub fn addrs_of(&mut self, index: u32) -> Result<Vec<IpPrefix>> {
        let _s = tracing::trace_span!("rtnl_dump_addrs", index).entered();
        let parts = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
        let mut out = vec![];
        for p in parts {
            let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) = p.payload else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            let ip = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let ip = ip.or_else(|| {
                a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(p) = ip.and_then(|ip| IpPrefix::new(ip, a.header.prefix_len).ok()) {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// The main-table routes whose output link is `index` (both families).
    pub fn routes_of(&mut self, index: u32) -> Result<Vec<RouteEntry>> {
        let _s = tracing::trace_span!("rtnl_dump_routes", index).entered();
        let mut out = vec![];
        for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = RouteMessage::default();
            q.header.address_family = fam;
            for p in self.dump(RouteNetlinkMessage::GetRoute(q))? {
                let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) = p.payload
                else {
                    continue;
                };
                if r.header.table != RouteHeader::RT_TABLE_MAIN {
                    continue;
                }
                let mut dst = None;
                let mut gateway = None;
                let mut oif = None;
                for a in &r.attributes {
                    match a {
                        RouteAttribute::Destination(d) => dst = ip_of(d),
                        RouteAttribute::Gateway(g) => gateway = ip_of(g),
                        RouteAttribute::Oif(o) => oif = Some(*o),
                        _ => {}
                    }
                }
                if oif != Some(index) {
                    continue;
                }
                let dst = dst.unwrap_or(if fam == AddressFamily::Inet {
                    IpAddr::from([0u8; 4])
                } else {
                    IpAddr::from([0u16; 8])
                });
                if let Ok(dst) = IpPrefix::new(dst, r.header.destination_prefix_length) {
                    out.push(RouteEntry { dst, gateway, oif });
                }
            }
        }
        Ok(out)
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}
