//! SR-IOV over rtnetlink: the [`Knob`] ↔ IFLA_VF_* encoding, one knob per RTM_SETLINK on the
//! PF, and the VF-state reads (one PF, or the whole dump the inventory uses).
//!
//! The PF is always addressed by name (IFLA_IFNAME, index 0): an ifindex stored at allocate
//! time would, after a driver reload re-created the netdev, name whatever link now has it.

use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac,
    VfInfoRate, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState as NlLinkState, VfVlan,
    VfVlanInfo, VlanProtocol,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::client::{Request, Result, Rtnl, RtnlError};
use crate::netlink::{
    link_attrs, pf_link_state, Knob, PfLinkState, VfLinkState, VfStateDump, VfStateError,
    VfStateSource, VlanProto,
};
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

/// `ip link set PF vf N <knob>` as one RTM_SETLINK addressed by the PF's name.
pub fn set_vf_request(pf: &IfName, vf: u32, knob: &Knob) -> Request {
    let mut r = set_vf_info(pf, vf_info(vf, knob));
    r.label = format!("{pf} vf {vf} {}", knob.describe());
    r
}

/// An arbitrary IFLA_VF_INFO for `pf` (tests use it to prove the kernel rejects bad
/// encodings).
pub fn set_vf_info(pf: &IfName, info: VfInfo) -> Request {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(pf.to_string()));
    m.attributes
        .push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![info])]));
    Request {
        label: format!("{pf} raw vf info"),
        msg: RouteNetlinkMessage::SetLink(m),
        flags: 0,
    }
}

/// IFLA_EXT_MASK asking for VF info without the per-VF statistics nobody reads.
fn vf_ext_mask() -> LinkAttribute {
    LinkAttribute::ExtMask(vec![LinkExtentMask::Vf, LinkExtentMask::SkipStats])
}

impl Rtnl {
    /// One VF knob on `pf`: one RTM_SETLINK, so a failure names exactly one knob.
    pub fn set_vf(&mut self, pf: &IfName, vf: u32, knob: &Knob) -> Result<()> {
        let _s = tracing::info_span!("rtm_setlink_vf", pf = %pf, vf, knob = knob.kind().name())
            .entered();
        self.request(set_vf_request(pf, vf, knob))
    }

    /// One PF's VF state (RTM_GETLINK of one link, not a dump): the cheap read-back after a
    /// set. `Ok(None)` when no such link exists or it reports no VFs.
    pub fn pf_vf_state(&mut self, pf: &IfName) -> Result<Option<PfLinkState>> {
        let _s = tracing::debug_span!("rtm_getlink_vfs", pf = %pf).entered();
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(pf.to_string()));
        m.attributes.push(vf_ext_mask());
        Ok(self.get_link_msg(m)?.as_ref().and_then(pf_link_state))
    }

    /// Every link with its VF info, in one dump.
    pub fn dump_vf_state(&mut self) -> Result<VfStateDump> {
        let span = tracing::info_span!(
            "rtm_getlink_dump",
            ext_mask = "VF|SKIP_STATS",
            links = tracing::field::Empty
        );
        let _g = span.enter();
        let mut m = LinkMessage::default();
        m.attributes.push(vf_ext_mask());
        let msgs = self.dump_link_msgs(m)?;
        span.record("links", msgs.len());
        Ok(VfStateDump {
            links: msgs.iter().filter_map(pf_link_state).collect(),
            netdevs: msgs.iter().filter_map(link_attrs).collect(),
        })
    }
}

/// VF state straight from the running kernel (the calling thread's network namespace).
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelVfState;

impl VfStateSource for KernelVfState {
    fn vf_state(&self) -> std::result::Result<Vec<PfLinkState>, VfStateError> {
        self.link_dump().map(|d| d.links)
    }

    /// One dump answers both: VF state on the PFs and every link's own attributes. Speed is
    /// not an rtnetlink attribute, so `speed_mbps` stays absent and the scanner reads sysfs.
    fn link_dump(&self) -> std::result::Result<VfStateDump, VfStateError> {
        let d = Rtnl::open()
            .and_then(|mut s| s.dump_vf_state())
            .map_err(vf_state_error)?;
        tracing::debug!(
            links = d.netdevs.len(),
            with_vfs = d.links.len(),
            "RTM_GETLINK dump done"
        );
        Ok(d)
    }
}

fn vf_state_error(e: RtnlError) -> VfStateError {
    match e {
        RtnlError::Io(e) => VfStateError::Socket(e),
        RtnlError::Kernel { errno, ext } => VfStateError::Kernel(match ext {
            Some(m) => std::io::Error::other(format!(
                "{} ({m})",
                std::io::Error::from_raw_os_error(errno)
            )),
            None => std::io::Error::from_raw_os_error(errno),
        }),
        RtnlError::Decode(m) => VfStateError::Decode(m),
        RtnlError::Timeout(d) => VfStateError::Timeout(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{MacAddress, VlanId};

    /// This machine has no SR-IOV; the dump must still succeed and simply report no PFs.
    #[test]
    fn real_dump_works_without_sriov() {
        let mut s = match Rtnl::open() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping: cannot open NETLINK_ROUTE here: {e}");
                return;
            }
        };
        let d = s.dump_vf_state().unwrap();
        assert!(!d.netdevs.is_empty(), "every namespace has at least lo");
        for pf in KernelVfState.vf_state().unwrap() {
            assert_eq!(pf.vfs.len() as u32, pf.num_vf);
        }
        assert!(s.pf_vf_state(&"lo".parse().unwrap()).unwrap().is_none());
        assert!(s
            .pf_vf_state(&"vifmannone0".parse().unwrap())
            .unwrap()
            .is_none());
    }

    #[test]
    fn vf_requests_name_the_pf_never_an_index() {
        let pf: IfName = "enp1s0f0".parse().unwrap();
        for knob in [
            Knob::Mac {
                mac: "02:00:00:00:00:01".parse::<MacAddress>().unwrap(),
            },
            Knob::Vlan {
                vlan: VlanId::new(7).unwrap(),
                qos: 0,
                proto: VlanProto::Dot1Ad,
            },
        ] {
            let r = set_vf_request(&pf, 3, &knob);
            let RouteNetlinkMessage::SetLink(m) = &r.msg else {
                panic!("RTM_SETLINK expected")
            };
            assert_eq!(m.header.index, 0);
            assert_eq!(m.attributes[0], LinkAttribute::IfName("enp1s0f0".into()));
            assert!(r.label.starts_with("enp1s0f0 vf 3 "), "{}", r.label);
        }
    }
}
