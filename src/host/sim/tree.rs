//! File-level mechanics of the simulated kernel: the same files and relative links the real
//! PCI core and net core create, so the scanner cannot tell the difference.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use super::{default_vf_state, SimHost};
use crate::host::HostError;
use crate::hwdb::NicModel;
use crate::netlink::PfLinkState;
use crate::types::{IfName, PciAddress};

pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            copy_tree(&from, &to)?;
        } else if fs::copy(&from, &to).is_err() {
            // Unreadable fixture files (the broken trees) stay unreadable-ish: empty.
            fs::write(&to, b"")?;
        }
    }
    Ok(())
}

fn io_err(e: std::io::Error) -> HostError {
    HostError::from_io("sim", &e)
}

/// `target` as seen from the directory holding `link` (both inside the root).
fn relative(link: &Path, target: &Path) -> PathBuf {
    let from: Vec<Component> = link
        .parent()
        .unwrap_or(Path::new(""))
        .components()
        .collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

pub struct Tree<'a> {
    root: &'a Path,
}

impl<'a> Tree<'a> {
    pub fn new(root: &'a Path) -> Self {
        Tree { root }
    }

    fn abs(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Resolve a link inside the root to a root-relative path (lexically; fixtures are ours).
    fn resolve(&self, rel_link: &Path) -> Option<PathBuf> {
        let target = fs::read_link(self.abs(rel_link)).ok()?;
        let mut out: Vec<Component> = rel_link.parent()?.components().collect();
        for c in target.components() {
            match c {
                Component::ParentDir => {
                    out.pop()?;
                }
                Component::Normal(_) => out.push(c),
                _ => return None,
            }
        }
        Some(out.iter().collect())
    }

    pub fn device_dir(&self, a: &PciAddress) -> Option<PathBuf> {
        self.resolve(&PathBuf::from(format!("sys/bus/pci/devices/{a}")))
    }

    fn link(&self, link_rel: &Path, target_rel: &Path) -> Result<(), HostError> {
        let l = self.abs(link_rel);
        if let Some(p) = l.parent() {
            fs::create_dir_all(p).map_err(io_err)?;
        }
        let _ = fs::remove_file(&l);
        symlink(relative(link_rel, target_rel), &l).map_err(io_err)
    }

    pub fn read_attr(&self, a: &PciAddress, attr: &str) -> Option<String> {
        let d = self.device_dir(a)?;
        fs::read_to_string(self.abs(d.join(attr)))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn read_hex(&self, a: &PciAddress, attr: &str) -> Option<u16> {
        let s = self.read_attr(a, attr)?;
        u16::from_str_radix(s.trim_start_matches("0x"), 16).ok()
    }

    pub fn write_attr(&self, a: &PciAddress, attr: &str, value: &str) -> Result<(), HostError> {
        let d = self
            .device_dir(a)
            .ok_or_else(|| HostError::kernel("sim", libc::ENOENT))?;
        // A sysfs attribute write is all-or-nothing in the kernel; a process killed mid-write
        // must not leave a half-written file in the simulation either.
        super::replace_file(&self.abs(d.join(attr)), value.as_bytes()).map_err(io_err)
    }

    pub fn netdev_device(&self, ifname: &str) -> Option<PciAddress> {
        let dev = self.resolve(&PathBuf::from(format!("sys/class/net/{ifname}/device")))?;
        dev.file_name()?.to_str()?.parse().ok()
    }

    pub fn link_speed(&self, ifname: &str) -> Option<u32> {
        fs::read_to_string(self.abs(format!("sys/class/net/{ifname}/speed")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn set_operstate(&self, ifname: &str, state: &str) -> Result<(), HostError> {
        let p = self.abs(format!("sys/class/net/{ifname}/operstate"));
        if !p.exists() {
            return Err(HostError::kernel("sim", libc::ENODEV));
        }
        fs::write(p, format!("{state}\n")).map_err(io_err)
    }

    fn netdevs_of(&self, dev_dir: &Path) -> Vec<String> {
        fs::read_dir(self.abs(dev_dir.join("net")))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The PF's own netdev, not one of its switchdev representors (which live in the same
    /// `net/` directory and carry `pfXvfY`-style phys_port_names).
    fn uplink_netdev(&self, pf_dir: &Path) -> Option<String> {
        let mut names = self.netdevs_of(pf_dir);
        names.sort();
        names.into_iter().find(|nd| {
            let ppn =
                fs::read_to_string(self.abs(pf_dir.join("net").join(nd).join("phys_port_name")))
                    .unwrap_or_default();
            crate::sysfs::representor::parse_port_name(ppn.trim()).is_none()
        })
    }

    fn driver_of(&self, dev_dir: &Path) -> Option<String> {
        fs::read_link(self.abs(dev_dir.join("driver")))
            .ok()?
            .file_name()?
            .to_str()
            .map(String::from)
    }

    fn max_file_number(&self, glob_dir: &str, file: &str) -> u32 {
        fs::read_dir(self.abs(glob_dir))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter_map(|e| fs::read_to_string(e.path().join(file)).ok())
                    .filter_map(|s| s.trim().parse::<u32>().ok())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    fn next_iommu_group(&self) -> u32 {
        fs::read_dir(self.abs("sys/kernel/iommu_groups"))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                    .max()
                    .map(|m| m + 1)
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// What the PCI core does on `echo N > sriov_numvfs`, with the kernel's errors.
    pub fn set_numvfs(
        &self,
        sim: &SimHost,
        pf: &PciAddress,
        n: u32,
        model: Option<&NicModel>,
    ) -> Result<(), HostError> {
        let pf_dir = self
            .device_dir(pf)
            .ok_or_else(|| HostError::kernel("sim", libc::ENODEV))?;
        let num = |name: &str| -> Option<u32> {
            fs::read_to_string(self.abs(pf_dir.join(name)))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let total = num("sriov_totalvfs").ok_or_else(|| HostError::kernel("sim", libc::ENOENT))?;
        let current = num("sriov_numvfs").unwrap_or(0);
        if n > total {
            return Err(HostError::kernel("sim", libc::ERANGE));
        }
        if n == current {
            return Ok(());
        }
        if current != 0 && n != 0 {
            return Err(HostError::kernel("sim", libc::EBUSY));
        }
        if self.driver_of(&pf_dir).is_none() {
            return Err(HostError::kernel("sim", libc::ENOENT));
        }
        let pf_netdev = self.uplink_netdev(&pf_dir);
        if n == 0 {
            for i in 0..current {
                let link = pf_dir.join(format!("virtfn{i}"));
                if let Some(vf_dir) = self.resolve(&link) {
                    self.remove_vf(&vf_dir)?;
                }
                let _ = fs::remove_file(self.abs(&link));
            }
            if let Some(nd) = &pf_netdev {
                if let Some(mut l) = sim.load_link(nd)? {
                    l.num_vf = 0;
                    l.vfs.clear();
                    sim.save_link(&l)?;
                }
            }
        } else {
            let offset = num("sriov_offset").unwrap_or(1);
            let stride = num("sriov_stride").unwrap_or(1);
            let vf_device = fs::read_to_string(self.abs(pf_dir.join("sriov_vf_device")))
                .ok()
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let autoprobe = num("sriov_drivers_autoprobe").unwrap_or(1) == 1;
            let rid = ((pf.bus() as u32) << 8) | ((pf.slot() as u32) << 3) | pf.function() as u32;
            let parent = pf_dir.parent().unwrap_or(Path::new("")).to_path_buf();
            let has_group = fs::symlink_metadata(self.abs(pf_dir.join("iommu_group"))).is_ok();
            for i in 0..n {
                let vr = rid + offset + i * stride;
                let vf = PciAddress::new(
                    pf.domain(),
                    (vr >> 8) as u8,
                    ((vr >> 3) & 0x1f) as u8,
                    (vr & 7) as u8,
                )
                .map_err(|e| HostError::other("sim", e.to_string()))?;
                let vf_dir = parent.join(vf.to_string());
                fs::create_dir_all(self.abs(&vf_dir)).map_err(io_err)?;
                for attr in [
                    "vendor",
                    "subsystem_vendor",
                    "subsystem_device",
                    "class",
                    "revision",
                    "numa_node",
                    "local_cpulist",
                    "local_cpus",
                ] {
                    if let Ok(v) = fs::read(self.abs(pf_dir.join(attr))) {
                        fs::write(self.abs(vf_dir.join(attr)), v).map_err(io_err)?;
                    }
                }
                fs::write(self.abs(vf_dir.join("device")), format!("0x{vf_device}\n"))
                    .map_err(io_err)?;
                fs::write(self.abs(vf_dir.join("driver_override")), "(null)\n").map_err(io_err)?;
                fs::write(self.abs(vf_dir.join("config")), [0u8; 256]).map_err(io_err)?;
                self.link(&vf_dir.join("physfn"), &pf_dir)?;
                self.link(&pf_dir.join(format!("virtfn{i}")), &vf_dir)?;
                self.link(&PathBuf::from(format!("sys/bus/pci/devices/{vf}")), &vf_dir)?;
                if has_group {
                    let g = self.next_iommu_group();
                    let gdir = PathBuf::from(format!("sys/kernel/iommu_groups/{g}"));
                    self.link(&gdir.join("devices").join(vf.to_string()), &vf_dir)?;
                    self.link(&vf_dir.join("iommu_group"), &gdir)?;
                }
                if autoprobe {
                    if let Some(m) = model {
                        self.bind(
                            &vf,
                            &vf_dir,
                            &m.vf_driver,
                            Some((pf_netdev.as_deref(), i, m)),
                        )?;
                    }
                }
            }
            if let Some(nd) = &pf_netdev {
                let ifindex = fs::read_to_string(self.abs(format!("sys/class/net/{nd}/ifindex")))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                let mut entry = match sim.load_link(nd)? {
                    Some(l) => l,
                    None => PfLinkState {
                        ifname: nd
                            .parse::<IfName>()
                            .map_err(|e| HostError::other("sim", e.to_string()))?,
                        ifindex,
                        num_vf: 0,
                        vfs: vec![],
                    },
                };
                entry.num_vf = n;
                entry.vfs = (0..n).map(default_vf_state).collect();
                sim.save_link(&entry)?;
            }
        }
        super::replace_file(
            &self.abs(pf_dir.join("sriov_numvfs")),
            format!("{n}\n").as_bytes(),
        )
        .map_err(io_err)
    }

    fn remove_vf(&self, vf_dir: &Path) -> Result<(), HostError> {
        let name = vf_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(drv) = self.driver_of(vf_dir) {
            let _ = fs::remove_file(self.abs(format!("sys/bus/pci/drivers/{drv}/{name}")));
        }
        for nd in self.netdevs_of(vf_dir) {
            let _ = fs::remove_file(self.abs(format!("sys/class/net/{nd}")));
        }
        if let Some(g) = self.resolve(&vf_dir.join("iommu_group")) {
            let _ = fs::remove_dir_all(self.abs(g));
        }
        let _ = fs::remove_file(self.abs(format!("sys/bus/pci/devices/{name}")));
        fs::remove_dir_all(self.abs(vf_dir)).map_err(io_err)
    }

    fn is_net_driver(driver: &str, model: Option<&NicModel>) -> bool {
        model.is_some_and(|m| m.vf_driver == driver || m.pf_driver == driver)
    }

    /// Bind `dev` to `driver`: links both ways, and a netdev when it is a NIC driver.
    fn bind(
        &self,
        dev: &PciAddress,
        dev_dir: &Path,
        driver: &str,
        vf: Option<(Option<&str>, u32, &NicModel)>,
    ) -> Result<(), HostError> {
        let ddir = PathBuf::from(format!("sys/bus/pci/drivers/{driver}"));
        for f in ["bind", "unbind", "new_id", "remove_id", "uevent"] {
            let p = self.abs(ddir.join(f));
            if !p.exists() {
                fs::create_dir_all(self.abs(&ddir)).map_err(io_err)?;
                fs::write(p, "").map_err(io_err)?;
            }
        }
        // The `driver` link is the commit point: the netdev exists before it does (and is
        // removed after it in unbind), so a process killed half-way never leaves a bound NIC
        // without its netdev — in the kernel, probe is atomic from userspace's view.
        if let Some((pf_netdev, idx, model)) = vf {
            if Self::is_net_driver(driver, Some(model)) {
                let name = match (self.remembered_name(dev), pf_netdev) {
                    (Some(n), _) => n,
                    (None, Some(p)) if p.len() + 1 + idx.to_string().len() <= 15 => {
                        format!("{p}v{idx}")
                    }
                    _ => format!("vf{}", dev.to_string().replace([':', '.'], ""))
                        .chars()
                        .take(15)
                        .collect(),
                };
                let ifindex = self.max_file_number("sys/class/net", "ifindex") + 1;
                let ndir = dev_dir.join("net").join(&name);
                fs::create_dir_all(self.abs(&ndir)).map_err(io_err)?;
                let h = dev.to_string().bytes().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100000001b3)
                });
                let mac = format!(
                    "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    (h >> 8) as u8,
                    (h >> 16) as u8,
                    (h >> 24) as u8,
                    (h >> 32) as u8,
                    (h >> 40) as u8
                );
                for (f, v) in [
                    ("address", format!("{mac}\n")),
                    ("ifindex", format!("{ifindex}\n")),
                    ("operstate", "down\n".into()),
                    ("mtu", "1500\n".into()),
                    ("addr_assign_type", "1\n".into()),
                    ("type", "1\n".into()),
                ] {
                    fs::write(self.abs(ndir.join(f)), v).map_err(io_err)?;
                }
                self.link(&ndir.join("device"), dev_dir)?;
                self.link(&PathBuf::from(format!("sys/class/net/{name}")), &ndir)?;
            }
        }
        self.link(&ddir.join(dev.to_string()), dev_dir)?;
        self.link(&dev_dir.join("driver"), &ddir)
    }

    /// udev gives a rebound NIC the same (path-based) name again; remember names across
    /// unbind so the simulation does too.
    fn names_file(&self) -> PathBuf {
        self.abs(".vifman-sim-names.json")
    }

    fn remembered_name(&self, dev: &PciAddress) -> Option<String> {
        let m: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&fs::read_to_string(self.names_file()).ok()?).ok()?;
        m.get(&dev.to_string()).cloned()
    }

    fn remember_name(&self, dev: &PciAddress, name: &str) -> Result<(), HostError> {
        let mut m: std::collections::BTreeMap<String, String> =
            fs::read_to_string(self.names_file())
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
        m.insert(dev.to_string(), name.to_string());
        fs::write(
            self.names_file(),
            serde_json::to_string(&m).expect("map encodes"),
        )
        .map_err(io_err)
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
        fs::remove_file(self.abs(dir.join("driver"))).map_err(io_err)?;
        let _ = fs::remove_file(self.abs(format!("sys/bus/pci/drivers/{driver}/{dev}")));
        for nd in netdevs {
            let _ = fs::remove_file(self.abs(format!("sys/class/net/{nd}")));
        }
        let _ = fs::remove_dir_all(self.abs(dir.join("net")));
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
        let over = fs::read_to_string(self.abs(dir.join("driver_override")))
            .unwrap_or_default()
            .trim()
            .to_string();
        let pf = self
            .resolve(&dir.join("physfn"))
            .and_then(|p| p.file_name()?.to_str()?.parse::<PciAddress>().ok());
        let (vendor, device) = (
            self.read_hex(dev, "vendor").unwrap_or(0),
            self.read_hex(dev, "device").unwrap_or(0),
        );
        let model = crate::hwdb::lookup(vendor, device);
        let driver = if !over.is_empty() && over != "(null)" {
            over
        } else {
            match model {
                Some(m) if pf.is_some() => m.vf_driver.clone(),
                Some(m) => m.pf_driver.clone(),
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
