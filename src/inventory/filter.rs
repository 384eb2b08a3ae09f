//! `--pf`, `--vendor` and `--free` narrowing of an inventory.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::model::Inventory;
use crate::types::{IfName, PciAddress};

/// A PF named on the command line, by PCI address or by its netdev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfSelector {
    Address(PciAddress),
    Netdev(IfName),
}

impl FromStr for PfSelector {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, FilterError> {
        if let Ok(a) = PciAddress::parse_user(s) {
            return Ok(Self::Address(a));
        }
        s.parse::<IfName>()
            .map(Self::Netdev)
            .map_err(|_| FilterError::BadSelector(s.to_string()))
    }
}

impl fmt::Display for PfSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(a) => a.fmt(f),
            Self::Netdev(n) => n.fmt(f),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("{0:?} is neither a PCI address (0000:3b:00.0) nor an interface name")]
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
    pub fn apply(&self, inv: &mut Inventory) -> Result<(), FilterError> {
        if let Some(sel) = &self.pf {
            inv.physical_functions.retain(|p| match sel {
                PfSelector::Address(a) => p.device.address == *a,
                PfSelector::Netdev(n) => p.netdevs.iter().any(|d| d.name == *n),
            });
            if inv.physical_functions.is_empty() {
                return Err(FilterError::NoSuchPf(sel.to_string()));
            }
        }
        if let Some(v) = self.vendor {
            let want = format!("{v:04x}");
            inv.physical_functions
                .retain(|p| p.device.vendor_id.as_deref() == Some(want.as_str()));
        }
        if self.free_only {
            for p in &mut inv.physical_functions {
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
        assert!("a/b".parse::<PfSelector>().is_err());
        assert_eq!(parse_vendor("8086"), Ok(0x8086));
        assert_eq!(parse_vendor("0x15B3"), Ok(0x15b3));
        assert!(parse_vendor("808").is_err());
        assert!(parse_vendor("+086").is_err());
    }
}
