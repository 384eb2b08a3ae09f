//! Which VF knob a NIC refuses, and with which errno: one table, used by the engine to refuse a
//! request before changing anything and by the simulated kernel to answer as the real driver
//! does. Two copies of this table drifted before; now the engine's pre-check and the
//! simulation cannot disagree.

use super::Knob;
use crate::hwdb::NicModel;
use crate::netlink::VlanProto;

/// A knob this NIC's driver refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What the driver answers RTM_SETLINK with.
    pub errno: i32,
    /// The knob, as an operator names it.
    pub knob: &'static str,
    /// What to do instead.
    pub hint: &'static str,
}

/// The driver's answer to `k` per the hardware database, if it refuses it.
pub fn refusal(m: &NicModel, k: &Knob) -> Option<Refusal> {
    let no = |errno, knob, hint| Some(Refusal { errno, knob, hint });
    match k {
        Knob::Mac { mac } if mac.is_zero() && m.quirks.rejects_zero_mac => {
            no(libc::EINVAL, "zero MAC", "this NIC keeps a MAC on every VF")
        }
        Knob::Vlan {
            proto: VlanProto::Dot1Ad,
            ..
        } if !m.caps.vlan_8021ad => {
            no(libc::EPROTONOSUPPORT, "vlan protocol 802.1ad", "use 802.1q")
        }
        Knob::Spoofchk { .. } if !m.caps.spoofchk => {
            no(libc::EOPNOTSUPP, "spoofchk", "leave spoofchk unset")
        }
        Knob::Trust { .. } if !m.caps.trust => no(libc::EOPNOTSUPP, "trust", "leave trust unset"),
        Knob::LinkState { .. } if !m.caps.link_state => {
            no(libc::EOPNOTSUPP, "link state", "leave the link state unset")
        }
        Knob::Rate { min_mbps, .. } if *min_mbps > 0 && !m.caps.min_tx_rate => {
            no(libc::EINVAL, "min_tx_rate", "leave the minimum rate unset")
        }
        Knob::Rate { max_mbps, .. } if *max_mbps > 0 && !m.caps.max_tx_rate => no(
            libc::EOPNOTSUPP,
            "max_tx_rate",
            "leave the maximum rate unset",
        ),
        _ => None,
    }
}
