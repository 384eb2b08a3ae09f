//! Human names for PCI ids. Names are cosmetic: no decision anywhere is keyed on them.

use std::collections::HashMap;

use pci_ids::FromId;

/// Vendor/device/subsystem names resolved for one id tuple.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub vendor: Option<String>,
    pub device: Option<String>,
    pub subsystem: Option<String>,
    /// Marketing model name: the NIC database entry when there is one, else the pci.ids
    /// device name.
    pub model: Option<String>,
    pub class: Option<String>,
}

type Key = (
    Option<u16>,
    Option<u16>,
    Option<u16>,
    Option<u16>,
    Option<u32>,
);

/// Memoizes lookups: a host with 2048 VFs has a handful of distinct id tuples, and the
/// subsystem lookup in pci-ids is a linear walk.
#[derive(Debug, Default)]
pub struct NameCache {
    cache: HashMap<Key, Names>,
}

impl NameCache {
    pub fn get(&mut self, key: Key) -> &Names {
        self.cache.entry(key).or_insert_with(|| lookup(key))
    }
}

fn lookup((vendor, device, sv, sd, class): Key) -> Names {
    let mut n = Names::default();
    if let Some(v) = vendor {
        n.vendor = pci_ids::Vendor::from_id(v).map(|v| v.name().to_string());
        if let Some(d) = device.and_then(|d| pci_ids::Device::from_vid_pid(v, d)) {
            n.device = Some(d.name().to_string());
            if let (Some(sv), Some(sd)) = (sv, sd) {
                n.subsystem = d
                    .subsystems()
                    .find(|s| s.subvendor() == sv && s.subdevice() == sd)
                    .map(|s| s.name().to_string());
            }
        }
    }
    // The curated NIC database names cards the way operators know them; it is keyed on PF ids.
    // VF ids are shared across a family, so a VF keeps its pci.ids name and the database is
    // only a fallback for VFs pci.ids does not know.
    if let (Some(v), Some(d)) = (vendor, device) {
        n.model = crate::hwdb::by_pf(v, d).map(|m| m.name.clone());
    }
    if n.model.is_none() {
        n.model = n.device.clone();
    }
    if let (None, Some(v), Some(d)) = (&n.model, vendor, device) {
        n.model = crate::hwdb::lookup(v, d).map(|m| format!("{} VF", m.name));
    }
    n.class = class.map(class_name);
    n
}

/// A class code (`0xBBSSPP`) named the way lspci names it (pciutils `pci_lookup_name` with
/// `PCI_LOOKUP_CLASS`): the subclass name; else the base class name with the 16-bit code,
/// `Unassigned class [ffff]`; else `Class 1234`. Never the raw code alone, so a device
/// reading all-ones (powered off, surprise-removed) still shows what lspci shows.
pub fn class_name(class: u32) -> String {
    let (base, sub) = ((class >> 16) as u8, (class >> 8) as u8);
    let code = (class >> 8) & 0xffff;
    if let Some(s) = pci_ids::Subclass::from_cid_sid(base, sub) {
        return s.name().to_string();
    }
    match pci_ids::Class::from_id(base) {
        Some(c) => format!("{} [{code:04x}]", c.name()),
        None => format!("Class {code:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::class_name;

    #[test]
    fn class_names_follow_lspci() {
        assert_eq!(class_name(0x020000), "Ethernet controller");
        assert_eq!(class_name(0x010802), "Non-Volatile memory controller");
        assert_eq!(class_name(0xffff00), "Unassigned class [ffff]");
        assert_eq!(class_name(0x02ee00), "Network controller [02ee]");
        assert_eq!(class_name(0x420100), "Class 4201");
    }
}
