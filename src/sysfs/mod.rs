//! Our own sysfs reader, rooted anywhere (`/` on a host, a fixture tree in tests).
//!
//! The `sysfs-class` crate was rejected: it hard-codes `/sys`, has no SR-IOV attributes and
//! panics on short attribute values. This module reads exactly the files the inventory needs,
//! once each, and turns every oddity into a [`Warning`] instead of an error.

pub mod aer;
mod attr;
pub mod busdev;
pub mod checkpoint;
mod fd;
mod model;
pub mod netdev;
pub mod point;
pub mod representor;
mod root;
mod scan;
pub mod selfmac;
pub mod serial;
pub mod vfio;
pub mod vfioholders;
mod warning;

pub use crate::confined::{AccessError, Confined};
pub use model::{NetDev, PciDevice, PciIds, Representor, ScanReport, Sriov};
pub use root::{SysfsError, SysfsRoot};
pub use scan::{netdev_attr, scan, scan_with_deferred_links, scan_with_links};
pub use warning::Warning;
