//! PF/VF relations: a PF's `sriov_*` attributes and `virtfnN` links, a VF's `physfn` link,
//! and the reconciliation of the two.
//!
//! Both ends are read and checked against each other because a damaged or half-updated tree
//! can disagree (a VF pointing at a PF that does not list it, more VFs than `sriov_totalvfs`),
//! and the inventory must say so rather than trust either side.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::layout::{PCI_DEVICES, PCI_DRIVERS};
use super::worker::{Dir, Need, Worker};
use crate::sysfs::attr;
use crate::sysfs::fd;
use crate::sysfs::model::{PciDevice, Sriov};
use crate::sysfs::root::display_rel;
use crate::types::PciAddress;

/// The PCI spec's ceiling on TotalVFs (a 16-bit field).
const MAX_VFS: u32 = 65535;

impl Worker<'_, '_> {
    pub(super) fn scan_sriov(&mut self, dir: &Dir) -> Option<Sriov> {
        let dec = "a decimal number";
        let total = self.attr(dir, c"sriov_totalvfs", Need::Optional, dec, attr::parse_dec);
        if total.is_none() {
            // A tree that lost `sriov_totalvfs` but still has `sriov_numvfs` is a damaged PF,
            // not an ordinary device; only when both are absent is this not a PF at all.
            let has_total = self.exists(dir, c"sriov_totalvfs");
            if !has_total && !self.exists(dir, c"sriov_numvfs") {
                return None;
            }
            if !has_total {
                let rel = dir.rel.join("sriov_totalvfs");
                self.warn(&rel, "missing although sriov_numvfs exists");
            }
        }
        let mut sr = Sriov {
            total_vfs: total,
            num_vfs: self.attr(dir, c"sriov_numvfs", Need::Required, dec, attr::parse_dec),
            offset: self.attr(dir, c"sriov_offset", Need::Optional, dec, attr::parse_dec),
            stride: self.attr(dir, c"sriov_stride", Need::Optional, dec, attr::parse_dec),
            vf_device: self.attr(
                dir,
                c"sriov_vf_device",
                Need::Optional,
                "a hex id",
                attr::parse_hex_u16,
            ),
            drivers_autoprobe: self.attr(
                dir,
                c"sriov_drivers_autoprobe",
                Need::Optional,
                "0 or 1",
                attr::parse_bool01,
            ),
            vfs: Vec::new(),
        };
        // The PCI spec caps TotalVFs at 65535, and the kernel never creates more than TotalVFs;
        // a bigger number is a damaged tree, read by listing rather than trusted as a count.
        if sr.total_vfs.is_some_and(|t| t > MAX_VFS) {
            self.warn(
                &dir.rel.join("sriov_totalvfs"),
                format!(
                    "{} exceeds the PCI limit of {MAX_VFS}; ignored",
                    sr.total_vfs.unwrap_or(0)
                ),
            );
            sr.total_vfs = None;
        }
        if let Some(n) = sr.num_vfs.filter(|n| *n > sr.total_vfs.unwrap_or(MAX_VFS)) {
            self.warn(
                &dir.rel.join("sriov_numvfs"),
                format!(
                    "{n} exceeds sriov_totalvfs ({}); VFs taken from the virtfn links",
                    sr.total_vfs.map_or("unknown".into(), |t| t.to_string())
                ),
            );
            sr.num_vfs = None;
        }
        match sr.num_vfs {
            // The fast path: exactly the links the kernel promises, no directory walk.
            Some(n) => {
                for i in 0..n {
                    let link = format!("virtfn{i}");
                    let Some(c) = fd::cname(&link) else { continue };
                    if let Some(a) = self
                        .link_basename(dir, &c)
                        .ok()
                        .and_then(|b| b.parse::<PciAddress>().ok())
                    {
                        sr.vfs.push((i, a));
                        continue;
                    }
                    // Not a VF address: say exactly what it is.
                    match self.link_target(dir, &c) {
                        Ok(t) => match t.file_name().and_then(|n| n.to_str()).map(str::parse) {
                            Some(Ok(a)) => sr.vfs.push((i, a)),
                            _ => self.warn(
                                &dir.rel.join(&link),
                                format!("link target {:?} is not a PCI address", display_rel(&t)),
                            ),
                        },
                        Err(e) => {
                            let msg = e.describe(&format!("{link} link (sriov_numvfs is {n})"));
                            self.warn(&dir.rel.join(&link), msg);
                        }
                    }
                }
            }
            // numvfs unreadable: find whatever virtfnN links exist.
            None => sr = self.virtfns_by_listing(dir, sr),
        }
        Some(sr)
    }

    /// `sr` with the VFs of whatever `virtfnN` links `dir` has.
    pub(super) fn virtfns_by_listing(&mut self, dir: &Dir, mut sr: Sriov) -> Sriov {
        for name in self.list(dir, Need::Optional).unwrap_or_default() {
            let Some(i) = name.strip_prefix("virtfn").and_then(attr::parse_dec::<u32>) else {
                continue;
            };
            let Some(c) = fd::cname(&name) else { continue };
            if let Some(a) = self.link_addr(dir, &c) {
                sr.vfs.push((i, a));
            }
        }
        sr.vfs.sort();
        sr
    }

    /// Ties VFs to PFs from both directions and adds devices the bus listing did not have.
    pub(super) fn link_vfs(&mut self, devices: &mut Vec<PciDevice>) {
        let mut index: HashMap<PciAddress, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.address, i))
            .collect();
        let links: Vec<(PciAddress, u32, PciAddress)> = devices
            .iter()
            .filter_map(|d| d.sriov.as_ref().map(|s| (d.address, s)))
            .flat_map(|(pf, s)| s.vfs.iter().map(move |(i, vf)| (pf, *i, *vf)))
            .collect();
        let mut claimed = BTreeSet::new();
        for (pf, i, vf) in links {
            let pos = match index.get(&vf) {
                Some(p) => *p,
                None => {
                    self.warn(
                        &Path::new(PCI_DEVICES).join(vf.to_string()),
                        format!("VF {i} of {pf} is not listed on the PCI bus"),
                    );
                    devices.push(PciDevice::new(vf));
                    index.insert(vf, devices.len() - 1);
                    devices.len() - 1
                }
            };
            let d = &mut devices[pos];
            d.vf_index = Some(i);
            match d.physfn {
                None => d.physfn = Some(pf),
                Some(p) if p != pf => {
                    let rel = Path::new(PCI_DEVICES).join(vf.to_string()).join("physfn");
                    self.warn(
                        &rel,
                        format!("points at {p} but {pf} lists it as virtfn{i}"),
                    );
                }
                Some(_) => {}
            }
            claimed.insert(vf);
        }
        for d in devices.iter() {
            if let (Some(pf), false) = (d.physfn, claimed.contains(&d.address)) {
                let rel = Path::new(PCI_DEVICES)
                    .join(d.address.to_string())
                    .join("physfn");
                self.warn(
                    &rel,
                    format!("points at {pf}, which has no virtfn link to this VF"),
                );
            }
        }
        if devices.iter().any(|d| !d.present) {
            self.fill_drivers_from_bus(devices);
            infer_vf_ids(devices, &index);
        }
        devices.sort_by_key(|a| a.address);
    }

    /// For devices whose own directory is unreachable, the driver's directory still lists
    /// them (`sys/bus/pci/drivers/<drv>/<addr>`). Only walked when needed.
    fn fill_drivers_from_bus(&mut self, devices: &mut [PciDevice]) {
        let mut by_addr = HashMap::new();
        if let Some((drivers, names)) = self.open_and_list(Path::new(PCI_DRIVERS), Need::Optional) {
            for drv in names {
                let Some(c) = fd::cname(&drv) else { continue };
                for e in self
                    .list_sub(&drivers, &c, Need::Optional)
                    .unwrap_or_default()
                {
                    if let Ok(a) = e.parse::<PciAddress>() {
                        by_addr.insert(a, drv.clone());
                    }
                }
            }
        }
        for d in devices.iter_mut().filter(|d| !d.present) {
            if let Some(drv) = by_addr.get(&d.address) {
                let rel = Path::new(PCI_DRIVERS).join(drv);
                d.driver = self.driver_name(&rel, "directory name ", drv);
                d.driver_unusable = d.driver.is_none();
            }
        }
    }
}

/// A VF whose directory is unreadable still has known ids: the PF's vendor and the PF's
/// `sriov_vf_device`. Filled in so the VF keeps its model name; class and revision stay unknown.
fn infer_vf_ids(devices: &mut [PciDevice], index: &HashMap<PciAddress, usize>) {
    let ids: Vec<(usize, Option<u16>, Option<u16>)> = devices
        .iter()
        .filter(|d| !d.present)
        .filter_map(|d| {
            let pf = &devices[*index.get(&d.physfn?)?];
            let vf_device = pf.sriov.as_ref()?.vf_device;
            Some((*index.get(&d.address)?, pf.ids.vendor, vf_device))
        })
        .collect();
    for (i, vendor, device) in ids {
        devices[i].ids.vendor = vendor;
        devices[i].ids.device = device;
    }
}
