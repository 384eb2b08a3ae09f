//! vifman: the host side of os-vif — SR-IOV/PCI inventory, VF assignment and software VIFs.
//!
//! Data flows one way: scan (sysfs, netlink) → select → actuate → emit an os-vif object.

// Every `unsafe` block says why it is sound; the few left are syscalls rustix does not wrap.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod backend;
pub mod cli;
pub mod cni;
pub mod config;
pub mod confined;
pub mod devlink;
pub mod engine;
pub mod fixture;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod host;
pub mod hwdb;
pub mod inventory;
pub mod libvirt;
#[cfg(feature = "mount")]
pub mod mount;
pub mod netlink;
pub mod rtnl;
pub mod store;
pub mod sysfs;
pub mod types;
pub mod udev;
pub mod view;
pub mod vif;
