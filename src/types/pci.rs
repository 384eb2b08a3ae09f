use std::fmt;
use std::str::FromStr;

use super::TypeError;

/// A PCI function address, `domain:bus:slot.function`.
///
/// Domains are 16 bits on ordinary hosts, but Intel VMD puts its child devices in synthetic
/// domains above 0xffff (`10000:e1:00.0`), so the domain is stored as `u32` and accepted with
/// 4 or 5 hex digits. A 5-digit spelling is only accepted when the value needs it, which keeps
/// `Display` and `FromStr` exact inverses (the kernel never pads to 5 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    domain: u32,
    bus: u8,
    slot: u8,
    function: u8,
}

impl PciAddress {
    pub const MAX_DOMAIN: u32 = 0xf_ffff;

    pub fn new(domain: u32, bus: u8, slot: u8, function: u8) -> Result<Self, TypeError> {
        let err = |reason| TypeError::PciAddress {
            input: format!("{domain:x}:{bus:02x}:{slot:02x}.{function:x}"),
            reason,
        };
        if domain > Self::MAX_DOMAIN {
            return Err(err("domain above 0xfffff"));
        }
        if slot > 0x1f {
            return Err(err("slot above 0x1f"));
        }
        if function > 7 {
            return Err(err("function above 7"));
        }
        Ok(Self {
            domain,
            bus,
            slot,
            function,
        })
    }

    /// An address written in the code itself (the fixture presets' hardware layout). In a
    /// `const` an out-of-range slot or function fails the build; elsewhere it panics, so it is
    /// only for addresses whose parts are fixed by the code, never for input: that goes
    /// through [`PciAddress::new`] or `FromStr`.
    pub const fn literal(domain: u16, bus: u8, slot: u8, function: u8) -> Self {
        assert!(
            slot <= 0x1f && function <= 7,
            "PCI slot above 0x1f or function above 7"
        );
        Self {
            domain: domain as u32,
            bus,
            slot,
            function,
        }
    }

    pub fn domain(&self) -> u32 {
        self.domain
    }
    pub fn bus(&self) -> u8 {
        self.bus
    }
    pub fn slot(&self) -> u8 {
        self.slot
    }
    pub fn function(&self) -> u8 {
        self.function
    }

    /// Routing ID: bus in the high byte, device and function in the low byte.
    pub fn rid(&self) -> u16 {
        (u16::from(self.bus) << 8) | (u16::from(self.slot) << 3) | u16::from(self.function)
    }

    /// Address of VF `n` of this PF: the SR-IOV rule RID(PF) + First VF Offset + n × VF
    /// Stride, in the PF's domain. The one copy of the rule, for the fixture writer and the
    /// simulated kernel alike; None when the VF would land past bus 255.
    pub fn vf_address(&self, offset: u32, stride: u32, n: u32) -> Option<PciAddress> {
        vf_rid(self.rid(), offset, stride, n).map(|rid| PciAddress {
            domain: self.domain,
            bus: (rid >> 8) as u8,
            slot: ((rid >> 3) & 0x1f) as u8,
            function: (rid & 7) as u8,
        })
    }
}

/// The routing ID of VF `n` of the PF at `pf_rid`; None past the last bus.
pub fn vf_rid(pf_rid: u16, offset: u32, stride: u32, n: u32) -> Option<u16> {
    let rid = u64::from(pf_rid) + u64::from(offset) + u64::from(stride) * u64::from(n);
    u16::try_from(rid).ok()
}

fn hex_exact(s: &str, digits: usize) -> Option<u32> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

impl PciAddress {
    /// What an operator types: the full form, or `BB:DD.F` meaning domain 0000 (as lspci
    /// prints addresses on single-domain hosts). Not for names read from sysfs, which always
    /// carry the domain: there a short form is a damaged tree.
    pub fn parse_user(s: &str) -> Result<Self, TypeError> {
        match s.parse() {
            Ok(a) => Ok(a),
            Err(e) if s.matches(':').count() == 1 => format!("0000:{s}").parse().map_err(|_| e),
            Err(e) => Err(e),
        }
    }
}

impl FromStr for PciAddress {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, TypeError> {
        let err = |reason| TypeError::PciAddress {
            input: s.to_string(),
            reason,
        };
        let (rest, func) = s.rsplit_once('.').ok_or_else(|| err("missing '.'"))?;
        let mut parts = rest.split(':');
        let (Some(dom), Some(bus), Some(slot), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("expected three ':'-separated fields before '.'"));
        };
        let domain = match dom.len() {
            4 => hex_exact(dom, 4),
            5 => hex_exact(dom, 5).filter(|d| *d > 0xffff),
            _ => None,
        }
        .ok_or_else(|| err("domain must be 4 hex digits (5 only for VMD domains above ffff)"))?;
        let bus = hex_exact(bus, 2).ok_or_else(|| err("bus must be 2 hex digits"))?;
        let slot = hex_exact(slot, 2).ok_or_else(|| err("slot must be 2 hex digits"))?;
        let function = hex_exact(func, 1).ok_or_else(|| err("function must be 1 hex digit"))?;
        if slot > 0x1f {
            return Err(err("slot above 1f"));
        }
        if function > 7 {
            return Err(err("function above 7"));
        }
        Ok(Self {
            domain,
            bus: bus as u8,
            slot: slot as u8,
            function: function as u8,
        })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.slot, self.function
        )
    }
}

super::serde_as_string!(PciAddress, "a PCI address like 0000:3b:00.1");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vf_addresses_follow_offset_and_stride() {
        // The igb lab: PF 01:00.0, offset 128, stride 2 → VF1 at 01:10.2.
        let pf: PciAddress = "0000:01:00.0".parse().unwrap();
        assert_eq!(
            pf.vf_address(128, 2, 1).unwrap().to_string(),
            "0000:01:10.2"
        );
        // i40e in nfv-host: PF 3b:00.0, offset 16, stride 1 → VF8 at 3b:03.0.
        let pf: PciAddress = "0000:3b:00.0".parse().unwrap();
        assert_eq!(pf.vf_address(16, 1, 8).unwrap().to_string(), "0000:3b:03.0");
        let last: PciAddress = "0000:ff:1f.0".parse().unwrap();
        assert_eq!(last.vf_address(128, 2, 0), None);
    }

    #[test]
    fn parses_and_displays_lowercase() {
        let a: PciAddress = "0000:3B:00.1".parse().unwrap();
        assert_eq!(a.to_string(), "0000:3b:00.1");
        assert_eq!(
            (a.domain(), a.bus(), a.slot(), a.function()),
            (0, 0x3b, 0, 1)
        );
    }

    #[test]
    fn vmd_domain_has_five_digits() {
        let a: PciAddress = "10000:e1:00.0".parse().unwrap();
        assert_eq!(a.domain(), 0x10000);
        assert_eq!(a.to_string(), "10000:e1:00.0");
        assert!("00001:00:00.0".parse::<PciAddress>().is_err());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "0000:00:00",
            "000:00:00.0",
            "0000:0:00.0",
            "0000:00:20.0",
            "0000:00:00.8",
            "0000:00:00.00",
            "00:00.0",
            "0000:00:00:00.0",
            "+000:00:00.0",
            "0000:+0:00.0",
            "../../etc",
            "0000:00:00.0\n",
            "１０００:00:00.0",
        ] {
            assert!(bad.parse::<PciAddress>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn orders_by_domain_bus_slot_function() {
        let mut v: Vec<PciAddress> = [
            "0000:3b:00.1",
            "0000:01:10.2",
            "0000:3b:00.0",
            "10000:00:00.0",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            s,
            [
                "0000:01:10.2",
                "0000:3b:00.0",
                "0000:3b:00.1",
                "10000:00:00.0"
            ]
        );
    }

    #[test]
    fn serde_is_a_string() {
        let a: PciAddress = "0000:01:00.0".parse().unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"0000:01:00.0\"");
        let b: PciAddress = serde_json::from_str("\"0000:01:00.0\"").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<PciAddress>("\"junk\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = s.parse::<PciAddress>();
        }

        #[test]
        fn near_miss_never_panics(s in "[0-9a-fA-F:.]{0,16}") {
            let _ = s.parse::<PciAddress>();
        }

        #[test]
        fn round_trips(d in 0u32..=0xfffff, b: u8, sl in 0u8..=0x1f, f in 0u8..=7) {
            let a = PciAddress::new(d, b, sl, f).unwrap();
            prop_assert_eq!(a.to_string().parse::<PciAddress>().unwrap(), a);
        }
    }
}
