//! MAC policies: `stable` gives a VF the same MAC after every boot, derived from what
//! identifies the card (its serial) and the VF's index, so guests, DHCP reservations and
//! switch port security keep working across host reboots without vifman storing anything.

use crate::types::MacAddress;

/// A locally administered unicast MAC from `key` (the PF's serial, else its PCI address) and
/// the VF index. FNV-1a 64 over a versioned string; the first octet gets the locally
/// administered bit set and the multicast bit cleared.
pub fn stable_mac(key: &str, vf: u32) -> MacAddress {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("vifman-stable-mac-v1\0{key}\0{vf}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    MacAddress::new([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
}

/// A fresh random locally administered unicast MAC (the kernel's getrandom).
pub(super) fn random_mac() -> MacAddress {
    let mut b = [0u8; 6];
    let mut filled = 0;
    while filled < b.len() {
        match rustix::rand::getrandom(&mut b[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            // No entropy source at all: fall back to the clock, still locally administered.
            Err(_) => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                b.copy_from_slice(&t.to_le_bytes()[..6]);
                break;
            }
        }
    }
    b[0] = (b[0] & 0xfc) | 0x02;
    MacAddress::new(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_macs_are_stable_unicast_local_and_distinct() {
        let a = stable_mac("00-1b-21-ff-ff-a0-b1-c2", 0);
        assert_eq!(a, stable_mac("00-1b-21-ff-ff-a0-b1-c2", 0));
        assert_ne!(a, stable_mac("00-1b-21-ff-ff-a0-b1-c2", 1));
        assert_ne!(a, stable_mac("00-1b-21-ff-ff-a0-b1-c3", 0));
        for vf in 0..256 {
            let m = stable_mac("k", vf).octets();
            assert_eq!(m[0] & 3, 2, "{m:?}");
        }
        let r = random_mac().octets();
        assert_eq!(r[0] & 3, 2);
    }
}
