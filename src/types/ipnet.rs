use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::TypeError;

/// An IP address with its prefix length, as CNI results spell it (`10.1.2.3/24`,
/// `fd00::5/64`): the prefix is checked against the family, so `10.0.0.1/33` never reaches
/// an RTM_NEWADDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, TypeError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(TypeError::new(
                "IP prefix",
                &format!("{addr}/{len}"),
                "prefix length too long for the address family",
            ));
        }
        Ok(IpPrefix { addr, len })
    }
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
    /// The network address: host bits cleared (what a route's destination must be).
    pub fn network(&self) -> IpPrefix {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let m = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & m).into())
            }
        };
        IpPrefix {
            addr,
            len: self.len,
        }
    }
}

impl FromStr for IpPrefix {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        let bad = |reason| TypeError::new("IP prefix", s, reason);
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/LENGTH"))?;
        let addr: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
        if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("prefix length is not a number"));
        }
        let len: u8 = l
            .parse()
            .map_err(|_| bad("prefix length is not a number"))?;
        IpPrefix::new(addr, len)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

super::serde_as_string!(IpPrefix, "an IP address with a prefix length");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_network() {
        let p: IpPrefix = "10.1.2.3/24".parse().unwrap();
        assert_eq!(p.network().to_string(), "10.1.2.0/24");
        assert_eq!(
            "0.0.0.0/0"
                .parse::<IpPrefix>()
                .unwrap()
                .network()
                .prefix_len(),
            0
        );
        let v6: IpPrefix = "fd00::5/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "fd00::/64");
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "x/8",
            "::1/129",
            "10.0.0.1/+1",
            "1.2.3.4/",
        ] {
            assert!(bad.parse::<IpPrefix>().is_err(), "{bad}");
        }
    }
}
