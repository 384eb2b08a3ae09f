use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// An Ethernet MAC address. The all-zero address is meaningful here: it is how the kernel
/// reports a VF whose administrative MAC was never set, which is what "free" keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddress([u8; 6]);

impl MacAddress {
    pub const ZERO: MacAddress = MacAddress([0; 6]);

    pub const fn new(bytes: [u8; 6]) -> Self {
        Self(bytes)
    }

    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// Netlink carries MACs in a 32-byte buffer; only the first six bytes are Ethernet.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.get(..6).map(|s| {
            let mut a = [0u8; 6];
            a.copy_from_slice(s);
            Self(a)
        })
    }
}

impl FromStr for MacAddress {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::MacAddress {
            input: s.to_string(),
            reason,
        };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 {
                return Err(err("more than six octets"));
            }
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err("each octet must be two hex digits"));
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| err("bad hex"))?;
            n += 1;
        }
        if n != 6 {
            return Err(err("fewer than six octets"));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

super::serde_as_string!(MacAddress, "a MAC address like 02:00:00:00:00:01");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses() {
        let m: MacAddress = "02:11:22:33:44:5A".parse().unwrap();
        assert_eq!(m.to_string(), "02:11:22:33:44:5a");
        assert!(!m.is_multicast());
        assert!(!m.is_zero());
        assert!("01:00:5e:00:00:01"
            .parse::<MacAddress>()
            .unwrap()
            .is_multicast());
        assert!("00:00:00:00:00:00".parse::<MacAddress>().unwrap().is_zero());
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "02:11:22:33:44",
            "02:11:22:33:44:55:66",
            "2:11:22:33:44:55",
            "02-11-22-33-44-55",
            "02:11:22:33:44:5g",
            "02:11:22:33:44:+5",
            "02:11:22:33:44:55\n",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = s.parse::<MacAddress>();
        }

        #[test]
        fn round_trips(b: [u8; 6]) {
            let m = MacAddress::new(b);
            prop_assert_eq!(m.to_string().parse::<MacAddress>().unwrap(), m);
        }
    }
}
