//! Some PF drivers (igb, ixgbe) report a VF's *own* MAC as its admin MAC: the VF driver picks a
//! random address and registers it with the PF over the mailbox, and from then on
//! IFLA_VF_MAC shows it although no administrator set anything. Treating that as "in use"
//! would make every igb VF look taken (seen on a real igb under QEMU).
//!
//! The tell: the VF's netdev has that same MAC and the kernel says it was randomly generated
//! (`addr_assign_type` = NET_ADDR_RANDOM). A PF-set MAC reaches the VF netdev as a permanent
//! address instead.

use std::path::PathBuf;

use crate::types::MacAddress;

const NET_ADDR_RANDOM: u8 = 1;

/// True when `admin` is merely the VF's self-chosen address (see the module docs).
pub fn is_self_chosen(root: &super::SysfsRoot, vf_netdev: &str, admin: &MacAddress) -> bool {
    if admin.is_zero() {
        return false;
    }
    let Ok(c) = root.confined() else {
        return false;
    };
    let dir = PathBuf::from("sys/class/net").join(vf_netdev);
    let read = |f: &str| c.read_attr(&dir.join(f)).ok();
    let same = read("address")
        .and_then(|a| a.parse::<MacAddress>().ok())
        .is_some_and(|m| &m == admin);
    let random =
        read("addr_assign_type").and_then(|t| t.parse::<u8>().ok()) == Some(NET_ADDR_RANDOM);
    same && random
}

/// For each netdev: was its address randomly generated (`addr_assign_type` = NET_ADDR_RANDOM)?
/// For callers that already know each netdev's MAC equals its VF's admin MAC; read through the
/// scanner, so confined to the root and parallel on big hosts.
pub fn are_random(root: &super::SysfsRoot, netdevs: &[&str]) -> Vec<bool> {
    super::netdev_attr(root, netdevs, c"addr_assign_type")
        .into_iter()
        .map(|v| v.and_then(|t| t.parse::<u8>().ok()) == Some(NET_ADDR_RANDOM))
        .collect()
}
