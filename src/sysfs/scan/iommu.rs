//! IOMMU group membership: which functions share a group and so must be passed through
//! together. Derived from the devices' own `iommu_group` links where possible, so the group
//! directories are read only when some device could not be.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::layout::IOMMU_GROUPS;
use super::worker::{Need, Worker};
use crate::sysfs::fd;
use crate::sysfs::model::PciDevice;
use crate::types::PciAddress;

impl Worker<'_, '_> {
    pub(super) fn fill_iommu_members(&mut self, devices: &mut [PciDevice]) {
        let mut groups: BTreeMap<u32, BTreeSet<PciAddress>> = BTreeMap::new();
        for d in devices.iter() {
            if let Some(g) = d.iommu_group {
                groups.entry(g).or_default().insert(d.address);
            }
        }
        if groups.is_empty() {
            return;
        }
        // Every PCI function has its own `iommu_group` link, so membership is already known
        // from the links. The group directories are only read when some device could not be
        // read (its link is unknown), which on a healthy host saves a directory per group.
        if devices.iter().all(|d| d.present) {
            for d in devices.iter_mut() {
                if let Some(m) = d.iommu_group.and_then(|g| groups.get(&g)) {
                    d.iommu_group_members = m.iter().copied().collect();
                }
            }
            return;
        }
        let base = Path::new(IOMMU_GROUPS);
        match self.open_dir(base) {
            Ok(dir) => {
                let groups_vec: Vec<(u32, BTreeSet<PciAddress>)> =
                    std::mem::take(&mut groups).into_iter().collect();
                let dir = &dir;
                groups = self
                    .par_map(groups_vec, |w, (g, mut members)| {
                        let sub = format!("{g}/devices");
                        let c = fd::cname(&sub)?;
                        for name in w.list_sub(dir, &c, Need::Required).unwrap_or_default() {
                            match name.parse::<PciAddress>() {
                                Ok(a) => {
                                    members.insert(a);
                                }
                                Err(_) => w.warn(
                                    &dir.rel.join(&sub).join(&name),
                                    "not a PCI address; ignored",
                                ),
                            }
                        }
                        Some((g, members))
                    })
                    .into_iter()
                    .collect();
            }
            Err(_) => self.warn(
                base,
                "missing; IOMMU group members derived from the devices' iommu_group links",
            ),
        }
        for d in devices.iter_mut() {
            if let Some(m) = d.iommu_group.and_then(|g| groups.get(&g)) {
                d.iommu_group_members = m.iter().copied().collect();
            }
        }
    }
}
