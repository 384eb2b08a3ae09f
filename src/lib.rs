//! vifman: the host side of os-vif — SR-IOV/PCI inventory, VF assignment and software VIFs.
//!
//! Data flows one way: scan (sysfs, netlink) → select → actuate → emit an os-vif object.

pub mod cli;
pub mod vif;
