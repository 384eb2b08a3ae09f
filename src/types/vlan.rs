use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// An 802.1Q VLAN id. 0 means "untagged/priority only" to the kernel's VF API, so it is valid;
/// 4095 is reserved on the wire but the kernel accepts it, so we do too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VlanId(u16);

impl VlanId {
    pub const MAX: u16 = 4095;

    pub fn new(id: u16) -> Result<Self, TypeError> {
        if id > Self::MAX {
            return Err(TypeError::VlanId {
                input: id.to_string(),
                reason: "above 4095",
            });
        }
        Ok(Self(id))
    }

    pub fn get(&self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for VlanId {
    type Error = TypeError;
    fn try_from(v: u32) -> Result<Self, TypeError> {
        u16::try_from(v)
            .ok()
            .filter(|v| *v <= Self::MAX)
            .map(Self)
            .ok_or_else(|| TypeError::VlanId {
                input: v.to_string(),
                reason: "above 4095",
            })
    }
}

impl FromStr for VlanId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::VlanId {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("not a decimal number"));
        }
        let v: u16 = s.parse().map_err(|_| err("not a decimal number"))?;
        Self::new(v).map_err(|_| err("above 4095"))
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for VlanId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for VlanId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        VlanId::try_from(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert_eq!("0".parse::<VlanId>().unwrap().get(), 0);
        assert_eq!("4095".parse::<VlanId>().unwrap().get(), 4095);
        for bad in ["4096", "-1", "", "+1", "1 ", "99999", "0x10"] {
            assert!(bad.parse::<VlanId>().is_err(), "{bad:?}");
        }
        assert!(VlanId::try_from(70000u32).is_err());
        assert!(serde_json::from_str::<VlanId>("4096").is_err());
        assert_eq!(serde_json::from_str::<VlanId>("100").unwrap().get(), 100);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = s.parse::<VlanId>();
        }

        #[test]
        fn accepts_exactly_the_range(v in 0u32..100_000) {
            prop_assert_eq!(v.to_string().parse::<VlanId>().is_ok(), v <= 4095);
        }
    }
}
