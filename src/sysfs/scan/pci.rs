//! Which PCI functions exist, and what each one's own directory says about it (ids, driver,
//! NUMA node, IOMMU group, whether it is a VF or a PF).
//!
//! Kept apart from the SR-IOV relations ([`super::sriov`]) because finding devices is about
//! walking the tree quickly and surviving damaged links, while the relations are about
//! reconciling what PFs and VFs say about each other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::layout::PCI_DEVICES;
use super::worker::{Dir, Need, Worker};
use crate::sysfs::attr;
use crate::sysfs::fd;
use crate::sysfs::model::{PciDevice, PciIds, Sriov};
use crate::sysfs::point;
use crate::sysfs::root::{lexical, LinkError};
use crate::types::PciAddress;

impl Worker<'_, '_> {
    /// `sys/bus/pci/devices` says which devices exist. Where each one's directory is comes
    /// from walking the device tree down from the host bridges, one level of bridges at a
    /// time, so a device costs no link read and its directory opens relative to its parent's;
    /// whatever the walk does not reach (devices under a VMD endpoint, damaged trees) is found
    /// through its bus link as before.
    pub(super) fn scan_pci(&mut self) -> Vec<PciDevice> {
        let Some((bus, names)) = self.open_and_list(Path::new(PCI_DEVICES), Need::Required) else {
            return Vec::new();
        };
        let mut pending: HashMap<PciAddress, String> = HashMap::with_capacity(names.len());
        for name in names {
            match name.parse::<PciAddress>() {
                Ok(addr) => {
                    pending.insert(addr, name);
                }
                Err(e) => self.warn(&bus.rel.join(&name), format!("ignored: {e}")),
            }
        }
        let mut out = Vec::with_capacity(pending.len());
        let mut parents = if self.ctx.walk {
            self.host_bridges()
        } else {
            Vec::new()
        };
        while !parents.is_empty() && !pending.is_empty() {
            let mut level = Vec::new();
            for (i, p) in parents.iter().enumerate() {
                let Ok(names) = fd::list_at(&p.fd, c".") else {
                    continue;
                };
                for n in names {
                    if let Some(a) = n
                        .parse::<PciAddress>()
                        .ok()
                        .filter(|a| pending.contains_key(a))
                    {
                        pending.remove(&a);
                        level.push((i, n, a));
                    }
                }
            }
            let (ps, bus) = (&parents, &bus);
            let found = self.par_map(level, |w, (i, name, addr)| {
                Some(w.scan_device_under(bus, &ps[i], &name, addr))
            });
            parents = Vec::new();
            for (d, bridge) in found {
                // Re-opened here: a scanner thread's descriptors live in its own table.
                parents.extend(bridge.and_then(|rel| self.open_dir(&rel).ok()));
                out.push(d);
            }
        }
        let rest: Vec<(String, PciAddress)> = pending.into_iter().map(|(a, n)| (n, a)).collect();
        let bus = &bus;
        out.extend(self.par_map(rest, |w, (name, addr)| {
            Some(w.scan_device(bus, &name, addr))
        }));
        out
    }

    /// `sys/devices/pciDDDD:BB`, the roots of the device tree.
    fn host_bridges(&mut self) -> Vec<Dir> {
        let base = Path::new("sys/devices");
        let Ok(dir) = self.open_dir(base) else {
            return Vec::new();
        };
        let Ok(names) = fd::list_at(&dir.fd, c".") else {
            return Vec::new();
        };
        names
            .iter()
            .filter(|n| n.starts_with("pci"))
            .filter_map(|n| self.open_dir(&base.join(n)).ok())
            .collect()
    }

    /// A device the walk found as entry `name` of `parent`; also hands back its directory when
    /// it is a PCI bridge, whose entries are the next level. An entry that is not a plain
    /// directory (a symlink in a damaged tree) goes the bus-link way.
    fn scan_device_under(
        &mut self,
        bus: &Dir,
        parent: &Dir,
        name: &str,
        address: PciAddress,
    ) -> (PciDevice, Option<PathBuf>) {
        let dir = fd::cname(name).and_then(|c| fd::open_subdir(&parent.fd, &c).ok());
        let Some(fd) = dir else {
            return (self.scan_device(bus, name, address), None);
        };
        let dir = Dir {
            fd,
            rel: parent.rel.join(name),
        };
        let d = self.read_device(&dir, address);
        let bridge = d.ids.is_pci_bridge().then(|| dir.rel.clone());
        self.closer.defer(dir.fd);
        (d, bridge)
    }

    fn scan_device(&mut self, bus: &Dir, name: &str, address: PciAddress) -> PciDevice {
        let entry = bus.rel.join(name);
        match self.device_dir(bus, name, &entry) {
            Ok(dir) => {
                let d = self.read_device(&dir, address);
                self.closer.defer(dir.fd);
                d
            }
            Err(e) => {
                self.warn(&entry, e.describe("device link"));
                PciDevice::new(address)
            }
        }
    }

    fn read_device(&mut self, dir: &Dir, address: PciAddress) -> PciDevice {
        let mut d = PciDevice::new(address);
        d.present = true;
        d.ids = self.read_ids(dir);
        if let Some(n) = self.link_name(dir, c"driver") {
            d.driver = self.driver_name(&dir.rel.join("driver"), "link target ", &n);
            d.driver_unusable = d.driver.is_none();
        }
        let over = self.attr(
            dir,
            c"driver_override",
            Need::Optional,
            "a driver name",
            |s| Some(point::parse_driver_override(s)),
        );
        d.driver_override = match over.flatten() {
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                self.warn(&dir.rel.join("driver_override"), e.to_string());
                None
            }
            None => None,
        };
        d.numa_node = self
            .attr(
                dir,
                c"numa_node",
                Need::Optional,
                "a node number or -1",
                attr::parse_numa,
            )
            .flatten();
        if let Some(g) = self.link_name(dir, c"iommu_group") {
            match attr::parse_dec::<u32>(&g) {
                Some(n) => d.iommu_group = Some(n),
                None => self.warn(
                    &dir.rel.join("iommu_group"),
                    format!("link target {g:?} is not a group number"),
                ),
            }
        }
        d.physfn = self.link_addr(dir, c"physfn");
        if d.physfn.is_none() {
            d.sriov = self.scan_sriov(dir);
            // A PF known only by its virtfnN links (no sriov_* files: mock trees such as the
            // k8s device plugin's look like this) is still a PF.
            if d.sriov.is_none() && self.exists(dir, c"virtfn0") {
                d.sriov = Some(self.virtfns_by_listing(dir, Sriov::default()));
            }
        }
        d
    }

    /// Vendor, device, subsystem and class come from `uevent` in one read (the kernel renders
    /// it from the same `struct pci_dev` fields as the individual files); any id missing or
    /// unparsable there is read from its own attribute file, which then gets the warning.
    fn read_ids(&mut self, dir: &Dir) -> PciIds {
        let mut ids = PciIds::default();
        if let Some(u) = self.attr(dir, c"uevent", Need::Optional, "KEY=value lines", |s| {
            Some(parse_uevent(s))
        }) {
            ids = u;
        }
        let hex16 = "a hex id like 0x8086";
        if ids.vendor.is_none() {
            ids.vendor = self.attr(dir, c"vendor", Need::Required, hex16, attr::parse_hex_u16);
        }
        if ids.device.is_none() {
            ids.device = self.attr(dir, c"device", Need::Required, hex16, attr::parse_hex_u16);
        }
        if ids.subsystem_vendor.is_none() {
            ids.subsystem_vendor = self.attr(
                dir,
                c"subsystem_vendor",
                Need::Optional,
                hex16,
                attr::parse_hex_u16,
            );
        }
        if ids.subsystem_device.is_none() {
            ids.subsystem_device = self.attr(
                dir,
                c"subsystem_device",
                Need::Optional,
                hex16,
                attr::parse_hex_u16,
            );
        }
        if ids.class.is_none() {
            ids.class = self.attr(
                dir,
                c"class",
                Need::Required,
                "a class code like 0x020000",
                |s| attr::parse_hex_u32(s, 0xff_ffff),
            );
        }
        ids.revision = self.attr(
            dir,
            c"revision",
            Need::Optional,
            "a hex byte like 0x01",
            |s| attr::parse_hex_u32(s, 0xff).map(|v| v as u8),
        );
        ids
    }

    /// The device directory behind a `sys/bus/pci/devices` entry. The link is read relative
    /// to the already-open bus directory, so only the final open walks the whole path.
    fn device_dir(&mut self, bus: &Dir, name: &str, entry: &Path) -> Result<Dir, LinkError> {
        let cname = fd::cname(name).ok_or(LinkError::NotALink)?;
        let real = match fd::readlink_at(&bus.fd, &cname) {
            Ok(t) => lexical(entry, &t)?,
            Err(e) => match LinkError::from_readlink(&e) {
                LinkError::NotALink => entry.to_path_buf(),
                other => return Err(other),
            },
        };
        self.open_dir(&real)
    }
}

/// `PCI_ID=8086:154C`, `PCI_SUBSYS_ID=8086:0000`, `PCI_CLASS=20000` from a PCI `uevent`.
fn parse_uevent(s: &str) -> PciIds {
    let mut ids = PciIds::default();
    let pair = |v: &str| {
        v.split_once(':')
            .map(|(a, b)| (attr::parse_hex_u16(a), attr::parse_hex_u16(b)))
            .unwrap_or((None, None))
    };
    for line in s.lines() {
        if let Some(v) = line.strip_prefix("PCI_ID=") {
            (ids.vendor, ids.device) = pair(v);
        } else if let Some(v) = line.strip_prefix("PCI_SUBSYS_ID=") {
            (ids.subsystem_vendor, ids.subsystem_device) = pair(v);
        } else if let Some(v) = line.strip_prefix("PCI_CLASS=") {
            ids.class = attr::parse_hex_u32(v, 0xff_ffff);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_ids() {
        let ids = parse_uevent(
            "DRIVER=iavf\nPCI_CLASS=20000\nPCI_ID=8086:154C\nPCI_SUBSYS_ID=8086:0000\n",
        );
        assert_eq!((ids.vendor, ids.device), (Some(0x8086), Some(0x154c)));
        assert_eq!(
            (ids.subsystem_vendor, ids.subsystem_device),
            (Some(0x8086), Some(0))
        );
        assert_eq!(ids.class, Some(0x020000));
        let junk = parse_uevent("PCI_ID=zz\nPCI_CLASS=\n");
        assert_eq!((junk.vendor, junk.class), (None, None));
    }
}
