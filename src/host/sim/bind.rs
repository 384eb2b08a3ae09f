//! Driver binding in the simulated tree: bind (a netdev for a NIC driver, named as udev
//! names it), unbind, and `drivers_probe` with the PCI core's choice of driver.

use std::path::Path;

use super::tree::{acc_err, Tree};
use crate::fixture::layout;
use crate::fixture::model::NetdevSpec;
use crate::fixture::shape::{self, ARPHRD_ETHER};
use crate::host::HostError;
use crate::hwdb::NicModel;
use crate::types::PciAddress;

/// A locally administered MAC derived from `seed` (FNV-1a), as a driver that invents one at
/// probe gives it: stable across runs, so two simulations of one fixture agree.
pub(super) fn local_mac(seed: &str) -> String {
    let h = seed.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        (h >> 8) as u8,
        (h >> 16) as u8,
        (h >> 24) as u8,
        (h >> 32) as u8,
        (h >> 40) as u8
    )
}

impl Tree<'_> {
    fn is_net_driver(driver: &str, model: Option<&NicModel>) -> bool {
        model.is_some_and(|m| m.vf_driver == driver || m.pf_driver == driver)
    }

    /// Bind `dev` to `driver`: links both ways, and a netdev when it is a NIC driver.
    pub(super) fn bind(
        &self,
        dev: &PciAddress,
        dev_dir: &Path,
        driver: &str,
        vf: Option<(Option<&str>, u32, &NicModel)>,
    ) -> Result<(), HostError> {
        // Loading the module made its directory (the fixture writer's control files, and the
        // `uevent` every kobject has); the first bind in the simulation stands in for that.
        let ddir = layout::driver_dir(driver);
        for f in layout::DRIVER_FILES.iter().chain(&["uevent"]) {
            let p = ddir.join(f);
            if !self.c.exists(&p) {
                self.put(p, "")?;
            }
        }
        // The `driver` link is the commit point: the netdev exists before it does (and is
        // removed after it in unbind), so a process killed half-way never leaves a bound NIC
        // without its netdev — in the kernel, probe is atomic from userspace's view.
        let name = match vf {
            Some((pf_netdev, idx, model)) if Self::is_net_driver(driver, Some(model)) => {
                Some(match (self.remembered_name(dev), pf_netdev) {
                    (Some(n), _) => n,
                    (None, Some(p)) if p.len() + 1 + idx.to_string().len() <= 15 => {
                        format!("{p}v{idx}")
                    }
                    _ => format!("vf{}", dev.to_string().replace([':', '.'], ""))
                        .chars()
                        .take(15)
                        .collect(),
                })
            }
            Some(_) => None,
            // A whole NIC back on its own driver (after passthrough): udev names it as before.
            None => self.remembered_name(dev).filter(|_| {
                Self::is_net_driver(
                    driver,
                    crate::hwdb::lookup(
                        self.read_hex(dev, "vendor").unwrap_or(0),
                        self.read_hex(dev, "device").unwrap_or(0),
                    ),
                )
            }),
        };
        if let Some(name) = name {
            let nd = NetdevSpec {
                addr_assign_type: 1,
                ..NetdevSpec::new(
                    &name,
                    &local_mac(&dev.to_string()),
                    self.max_file_number("sys/class/net", "ifindex") + 1,
                )
            };
            let ndir = dev_dir.join("net").join(&name);
            shape::netdev(self, &nd, &ndir, Some(dev_dir), ARPHRD_ETHER, "down")?;
        }
        shape::bound(self, driver, dev, dev_dir)
    }

    /// udev gives a rebound NIC the same (path-based) name again; remember names across
    /// unbind so the simulation does too.
    fn names_file(&self) -> &'static Path {
        Path::new(".vifman-sim-names.json")
    }

    fn remembered_name(&self, dev: &PciAddress) -> Option<String> {
        let m: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&self.read(self.names_file())?).ok()?;
        m.get(&dev.to_string()).cloned()
    }

    fn remember_name(&self, dev: &PciAddress, name: &str) -> Result<(), HostError> {
        let mut m: std::collections::BTreeMap<String, String> = self
            .read(self.names_file())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        m.insert(dev.to_string(), name.to_string());
        self.put(
            self.names_file(),
            serde_json::to_string(&m).expect("map encodes"),
        )
    }

    pub fn unbind(&self, dev: &PciAddress, driver: &str) -> Result<(), HostError> {
        let dir = self
            .device_dir(dev)
            .ok_or_else(|| HostError::kernel("sim", libc::ENODEV))?;
        if self.driver_of(&dir).as_deref() != Some(driver) {
            return Err(HostError::kernel("sim", libc::ENODEV));
        }
        let netdevs = self.netdevs_of(&dir);
        if let Some(nd) = netdevs.first() {
            self.remember_name(dev, nd)?;
        }
        // Unbound first (the commit point, see `bind`), then the netdev goes.
        self.c.remove_file(&dir.join("driver")).map_err(acc_err)?;
        let _ = self
            .c
            .remove_file(&layout::driver_dir(driver).join(dev.to_string()));
        for nd in netdevs {
            let _ = self.c.remove_file(&layout::class_net_link(&nd));
        }
        let _ = self.c.remove_all(&dir.join("net"));
        Ok(())
    }

    /// `echo ADDR > drivers_probe`: driver_override if set, else the device's native driver.
    pub fn probe(&self, dev: &PciAddress) -> Result<(), HostError> {
        let dir = self
            .device_dir(dev)
            .ok_or_else(|| HostError::kernel("sim", libc::ENODEV))?;
        if self.driver_of(&dir).is_some() {
            return Ok(());
        }
        let over = self
            .read(dir.join("driver_override"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let pf = self
            .resolve(&dir.join("physfn"))
            .and_then(|p| p.file_name()?.to_str()?.parse::<PciAddress>().ok());
        let overridden = !over.is_empty() && over != "(null)";
        // The PCI core's pci_device_can_probe(): a VF of a PF with sriov_drivers_autoprobe=0
        // is probed by no driver unless driver_override names one; the write still succeeds.
        if !overridden {
            if let Some(pf_dir) = pf.and_then(|p| self.device_dir(&p)) {
                let ap = self.read(pf_dir.join("sriov_drivers_autoprobe"));
                if ap.as_deref().map(str::trim) == Some("0") {
                    return Ok(());
                }
            }
        }
        let (vendor, device) = (
            self.read_hex(dev, "vendor").unwrap_or(0),
            self.read_hex(dev, "device").unwrap_or(0),
        );
        let model = crate::hwdb::lookup(vendor, device);
        let driver = if overridden {
            over
        } else {
            match model {
                Some(m) if pf.is_some() => m.vf_driver.to_string(),
                Some(m) => m.pf_driver.to_string(),
                // No driver claims it: the kernel returns success and leaves it unbound.
                None => return Ok(()),
            }
        };
        let vf = match (pf, model) {
            (Some(pfa), Some(m)) => {
                let pf_dir = self.device_dir(&pfa);
                let idx = pf_dir.as_ref().and_then(|pd| {
                    (0..1024).find(|i| {
                        self.resolve(&pd.join(format!("virtfn{i}")))
                            .is_some_and(|t| t == dir)
                    })
                });
                let pf_netdev = pf_dir.as_ref().and_then(|pd| self.uplink_netdev(pd));
                idx.map(|i| (pf_netdev, i, m))
            }
            _ => None,
        };
        match vf {
            Some((pn, i, m)) => self.bind(dev, &dir, &driver, Some((pn.as_deref(), i, m))),
            None => self.bind(dev, &dir, &driver, None),
        }
    }
}
