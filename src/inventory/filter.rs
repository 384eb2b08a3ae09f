//! `--pf`, `--vendor` and `--free` narrowing of an inventory.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::model::Inventory;
use crate::types::{BusDevice, IfName, PciAddress};

/// A PF named on the command line: by PCI address (or `pci/ADDR` handle), by its netdev,
/// or a non-PCI PF by its `bus/name` (`netdevsim/netdevsim10`, its devlink handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfSelector {
    Address(PciAddress),
    Netdev(IfName),
    Bus(BusDevice),
}

impl FromStr for PfSelector {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, FilterError> {
        if let Ok(a) = PciAddress::parse_user(s.strip_prefix("pci/").unwrap_or(s)) {
            return Ok(Self::Address(a));
        }
        if let Ok(n) = s.parse::<IfName>() {
            return Ok(Self::Netdev(n));
        }
        s.parse::<BusDevice>()
            .map(Self::Bus)
            .map_err(|_| FilterError::BadSelector(s.to_string()))
    }
}

impl fmt::Display for PfSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(a) => a.fmt(f),
            Self::Netdev(n) => n.fmt(f),
            Self::Bus(d) => d.fmt(f),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("{0:?} is neither a PCI address (0000:3b:00.0), an interface name, nor a non-PCI PF's BUS/DEVICE (netdevsim/netdevsim10)")]
    BadSelector(String),
    #[error("{0:?} is not a PCI vendor id (expected 4 hex digits, e.g. 8086)")]
    BadVendor(String),
    #[error("no SR-IOV physical function matches --pf {0}")]
    NoSuchPf(String),
}

/// Parses `8086` or `0x8086`.
pub fn parse_vendor(s: &str) -> Result<u16, FilterError> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.len() != 4 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FilterError::BadVendor(s.to_string()));
    }
    u16::from_str_radix(h, 16).map_err(|_| FilterError::BadVendor(s.to_string()))
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub pf: Option<PfSelector>,
    pub vendor: Option<u16>,
    /// Keep only VFs that are free (see `VfEntry::free`); PFs stay listed for context.
    pub free_only: bool,
}

impl Filter {
    /// Non-PCI PFs (`bus_functions`) are selected by `--pf` (their netdev or `bus/name`);
    /// `--vendor` drops them (they have no PCI vendor); `--free` empties their VF lists
    /// (their VFs are never free) and keeps the PFs, as it keeps PCI PFs.
    pub fn apply(&self, inv: &mut Inventory) -> Result<(), FilterError> {
        if let Some(sel) = &self.pf {
            inv.physical_functions.retain(|p| match sel {
                PfSelector::Address(a) => p.device.address == *a,
                PfSelector::Netdev(n) => p.netdevs.iter().any(|d| d.name == *n),
                PfSelector::Bus(_) => false,
            });
            inv.bus_functions.retain(|p| match sel {
                PfSelector::Address(_) => false,
                PfSelector::Netdev(n) => p.netdevs.iter().any(|d| d.name == *n),
                PfSelector::Bus(d) => p.device == d.to_string(),
            });
            if inv.physical_functions.is_empty() && inv.bus_functions.is_empty() {
                return Err(FilterError::NoSuchPf(sel.to_string()));
            }
        }
        if let Some(v) = self.vendor {
            let want = format!("{v:04x}");
            inv.physical_functions
                .retain(|p| p.device.vendor_id.as_deref() == Some(want.as_str()));
            inv.bus_functions.clear();
        }
        if self.free_only {
            for p in &mut inv.physical_functions {
                p.vfs.retain(|v| v.free);
            }
            for p in &mut inv.bus_functions {
                p.vfs.retain(|v| v.free);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert!(matches!("0000:3b:00.0".parse(), Ok(PfSelector::Address(_))));
        assert!(matches!("enp59s0f0".parse(), Ok(PfSelector::Netdev(_))));
        match "3b:00.0".parse() {
            Ok(PfSelector::Address(a)) => assert_eq!(a.to_string(), "0000:3b:00.0"),
            other => panic!("{other:?}"),
        }
        assert!(matches!("pci/3b:00.0".parse(), Ok(PfSelector::Address(_))));
        match "netdevsim/netdevsim10".parse() {
            Ok(PfSelector::Bus(d)) => assert_eq!(d.to_string(), "netdevsim/netdevsim10"),
            other => panic!("{other:?}"),
        }
        assert!("a/b/c".parse::<PfSelector>().is_err());
        assert!("../x".parse::<PfSelector>().is_err());
        assert_eq!(parse_vendor("8086"), Ok(0x8086));
        assert_eq!(parse_vendor("0x15B3"), Ok(0x15b3));
        assert!(parse_vendor("808").is_err());
        assert!(parse_vendor("+086").is_err());
    }
}
