//! Optional udev enrichment (feature `udev`): the names and paths udev's rules and hwdb give a
//! device, which the kernel alone does not know (`ID_NET_NAME_PATH=enp59s0f0`,
//! `ID_MODEL_FROM_DATABASE=...`, `ID_PATH=pci-0000:3b:00.0`).
//!
//! Only meaningful on the live root: libudev refuses syspaths outside `/sys`, and a fixture
//! tree has no udev database. Lookups are best-effort; a device udev does not know simply gets
//! no properties. Never authoritative: the inventory itself comes from [`crate::sysfs`].

use serde::Serialize;

use crate::types::{IfName, PciAddress};

/// The udev properties the inventory shows. Every field is optional because udevd may not be
/// running (containers, this CI VM) or its rules may not set them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdevProps {
    pub id_path: Option<String>,
    pub id_model_from_database: Option<String>,
    pub id_vendor_from_database: Option<String>,
    pub id_net_name_path: Option<String>,
    pub id_net_name_slot: Option<String>,
}

impl UdevProps {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(feature = "udev")]
mod imp {
    use super::*;
    use tracing::debug_span;

    fn prop(d: &udev::Device, key: &str) -> Option<String> {
        d.property_value(key)
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    }

    /// Properties of PCI function `addr`, plus the `ID_NET_NAME_*` of its netdev if given.
    pub fn lookup(addr: &PciAddress, netdev: Option<&IfName>) -> Option<UdevProps> {
        let _s = debug_span!("udev_lookup", %addr).entered();
        let mut p = UdevProps::default();
        if let Ok(d) = udev::Device::from_subsystem_sysname("pci".into(), addr.to_string()) {
            p.id_path = prop(&d, "ID_PATH");
            p.id_model_from_database = prop(&d, "ID_MODEL_FROM_DATABASE");
            p.id_vendor_from_database = prop(&d, "ID_VENDOR_FROM_DATABASE");
        }
        if let Some(n) = netdev {
            if let Ok(d) = udev::Device::from_subsystem_sysname("net".into(), n.to_string()) {
                p.id_net_name_path = prop(&d, "ID_NET_NAME_PATH");
                p.id_net_name_slot = prop(&d, "ID_NET_NAME_SLOT");
                if p.id_path.is_none() {
                    p.id_path = prop(&d, "ID_PATH");
                }
            }
        }
        (!p.is_empty()).then_some(p)
    }
}

#[cfg(not(feature = "udev"))]
mod imp {
    use super::*;

    /// Built without the `udev` feature: nothing to add.
    pub fn lookup(_addr: &PciAddress, _netdev: Option<&IfName>) -> Option<UdevProps> {
        None
    }
}

pub use imp::lookup;

/// Whether this build can enrich at all (for `--help` texts and tests).
pub const ENABLED: bool = cfg!(feature = "udev");
