//! Point reads: one fact about one device, for code that acts between scans (the engine's
//! read-backs and waits, the device plugin's allocate answer). The same confined opens as
//! everything else under the root; the scanner stays the way to read the whole host.
//!
//! This is the only place outside the scanner that builds sysfs paths, so the rules live
//! once: what an empty `driver_override` looks like, where a default route is, what a VF
//! count is.

use std::path::{Path, PathBuf};

use super::root::SysfsRoot;
use crate::confined::{AccessError, Confined};
use crate::types::{DriverName, IfName, PciAddress, TypeError};

/// The kernel prints an unset `driver_override` as `(null)`; fixtures sometimes leave it empty.
/// `None` for those, else the value typed (or why it is not a driver name).
pub fn parse_driver_override(s: &str) -> Option<Result<DriverName, TypeError>> {
    let s = s.trim();
    (!s.is_empty() && s != "(null)").then(|| DriverName::new(s))
}

fn dev(a: &PciAddress, what: &str) -> PathBuf {
    PathBuf::from(format!("sys/bus/pci/devices/{a}/{what}"))
}

impl SysfsRoot {
    /// The confined handle on this root (opened once, shared by clones).
    pub fn confined(&self) -> Result<&Confined, AccessError> {
        self.confined_handle()
    }

    /// Is a PCI driver of that name registered (`sys/bus/pci/drivers/<d>`)? A probe with
    /// an override naming an unregistered driver binds nothing and fails nowhere.
    pub fn pci_driver_registered(&self, d: &DriverName) -> bool {
        self.confined().is_ok_and(|c| {
            c.exists(&PathBuf::from(format!(
                "sys/bus/pci/drivers/{}",
                d.as_str()
            )))
        })
    }

    /// Does `sys/bus/pci/devices/<a>` exist?
    pub fn device_present(&self, a: &PciAddress) -> bool {
        self.confined()
            .is_ok_and(|c| c.exists(&PathBuf::from(format!("sys/bus/pci/devices/{a}"))))
    }

    /// The driver bound to `a`, from its `driver` link: `Ok(None)` when unbound, `Err` when
    /// a driver is bound whose name [`DriverName`] refuses (the caller must not take that
    /// for "unbound").
    pub fn driver_of(&self, a: &PciAddress) -> Result<Option<DriverName>, TypeError> {
        let Some(n) = self
            .confined()
            .ok()
            .and_then(|c| c.link_name(&dev(a, "driver")))
        else {
            return Ok(None);
        };
        DriverName::new(&n).map(Some)
    }

    /// `a`'s `driver_override`: `Ok(None)` when unset (or unreadable), `Err` for a value that
    /// is not a driver name.
    pub fn driver_override_of(&self, a: &PciAddress) -> Result<Option<DriverName>, TypeError> {
        let Some(c) = self.confined().ok() else {
            return Ok(None);
        };
        let Ok(s) = c.read_attr(&dev(a, "driver_override")) else {
            return Ok(None);
        };
        parse_driver_override(&s).transpose()
    }

    /// Netdevs under `a`'s `net/` directory, sorted.
    pub fn netdevs_of(&self, a: &PciAddress) -> Vec<IfName> {
        let Ok(c) = self.confined() else {
            return Vec::new();
        };
        let mut v: Vec<IfName> = c
            .list(&dev(a, "net"))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        v.sort();
        v
    }

    /// How many `virtfnN` links PF `a` has: the VFs the PCI core has created so far.
    pub fn virtfn_count(&self, a: &PciAddress) -> usize {
        let Ok(c) = self.confined() else { return 0 };
        c.list(&PathBuf::from(format!("sys/bus/pci/devices/{a}")))
            .map(|v| {
                v.iter()
                    .filter(|n| {
                        n.strip_prefix("virtfn")
                            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// PF `a`'s VFs by index, from its `virtfnN` links (what the PCI core created so far).
    pub fn virtfns_of(&self, a: &PciAddress) -> Vec<(u32, PciAddress)> {
        let Ok(c) = self.confined() else {
            return Vec::new();
        };
        let dir = PathBuf::from(format!("sys/bus/pci/devices/{a}"));
        let mut v: Vec<(u32, PciAddress)> = c
            .list(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| {
                let i = n.strip_prefix("virtfn")?.parse().ok()?;
                let t = c.link_name(&dir.join(&n))?.parse().ok()?;
                Some((i, t))
            })
            .collect();
        v.sort();
        v
    }

    /// `a`'s `reset_method`, split into method names; None when the file cannot be read.
    pub fn reset_methods_of(&self, a: &PciAddress) -> Option<Vec<String>> {
        let c = self.confined().ok()?;
        let t = c.read_attr(&dev(a, "reset_method")).ok()?;
        Some(t.split_whitespace().map(String::from).collect())
    }

    /// `a`'s IOMMU group number, from its `iommu_group` link.
    pub fn iommu_group_of(&self, a: &PciAddress) -> Option<u32> {
        self.confined()
            .ok()?
            .link_name(&dev(a, "iommu_group"))?
            .parse()
            .ok()
    }

    /// The netdev carrying the IPv4 default route (`proc/net/route` under the root).
    pub fn default_route_dev(&self) -> Option<String> {
        let c = self.confined().ok()?;
        let text = c
            .read(Path::new("proc/net/route"), 1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok()?;
        parse_default_route(&text)
    }

    /// vfio's no-IOMMU mode: devices without an IOMMU group can still go to vfio-pci.
    pub fn noiommu(&self) -> bool {
        self.confined().is_ok_and(|c| {
            c.read_attr(Path::new(
                "sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
            ))
            .is_ok_and(|s| s == "Y" || s == "1")
        })
    }
}

/// The interface of the first all-zero destination in a `/proc/net/route` table.
pub fn parse_default_route(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_reads_on_the_shipped_host() {
        let root =
            SysfsRoot::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sysfs/nfv-host"))
                .unwrap();
        let scan = crate::sysfs::scan(&root);
        let mut seen = 0;
        for d in &scan.devices {
            assert_eq!(
                root.driver_of(&d.address),
                Ok(d.driver.clone()),
                "{}",
                d.address
            );
            assert_eq!(
                root.driver_override_of(&d.address),
                Ok(d.driver_override.clone()),
                "{}",
                d.address
            );
            assert_eq!(root.iommu_group_of(&d.address), d.iommu_group);
            let mut nd = d.netdevs.clone();
            nd.sort();
            assert_eq!(root.netdevs_of(&d.address), nd, "{}", d.address);
            if let Some(s) = &d.sriov {
                assert_eq!(root.virtfn_count(&d.address), s.vfs.len());
                seen += 1;
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn overrides_and_routes() {
        assert_eq!(parse_driver_override("(null)\n"), None);
        assert_eq!(parse_driver_override(""), None);
        assert_eq!(
            parse_driver_override("vfio-pci\n"),
            Some(Ok(DriverName::vfio_pci()))
        );
        assert_eq!(
            parse_driver_override("i6300ESB timer\n"),
            Some(DriverName::new("i6300ESB timer"))
        );
        assert!(matches!(
            parse_driver_override("a/b"),
            Some(Err(TypeError::DriverName { .. }))
        ));
        let t = "Iface\tDestination\tGateway\neth1\t0000A8C0\t0\neth0\t00000000\t0101A8C0\n";
        assert_eq!(parse_default_route(t).as_deref(), Some("eth0"));
        assert_eq!(parse_default_route("Iface\n"), None);
    }
}
