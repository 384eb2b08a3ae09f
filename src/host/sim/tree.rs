//! File-level mechanics of the simulated kernel: the same files and relative links the real
//! PCI core and net core create, so the scanner cannot tell the difference.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use super::{default_vf_state, SimHost};
use crate::confined::{AccessError, Confined, ATTR_LIMIT};
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
        } else if !ft.is_file() {
            // A FIFO, socket or device node has no place in a sysfs tree (and copying a FIFO
            // would block for ever): left out, as the scanner leaves it out.
            tracing::warn!(path = %from.display(), "not a regular file; not copied into the simulation");
        } else if fs::copy(&from, &to).is_err() {
            // Unreadable fixture files (the broken trees) stay unreadable-ish: empty.
            fs::write(&to, b"")?;
        }
    }
    Ok(())
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

/// The simulation's tree, every access confined to it (see [`crate::confined`]): a fixture
/// with a planted link cannot make the simulated kernel write outside its copy.
pub struct Tree<'a> {
    pub(super) c: &'a Confined,
}

pub(super) fn acc_err(e: AccessError) -> HostError {
    HostError::from_access("sim", &e)
}

impl<'a> Tree<'a> {
    pub fn new(c: &'a Confined) -> Self {
        Tree { c }
    }

    pub(super) fn read(&self, rel: impl AsRef<Path>) -> Option<String> {
        self.c.read_attr(rel.as_ref()).ok()
    }

    pub(super) fn put(&self, rel: impl AsRef<Path>, v: impl AsRef<[u8]>) -> Result<(), HostError> {
        self.c.replace(rel.as_ref(), v.as_ref()).map_err(acc_err)
    }

    pub(super) fn list(&self, rel: impl AsRef<Path>) -> Vec<String> {
        self.c.list(rel.as_ref()).unwrap_or_default()
    }

    /// Resolve a link inside the root to a root-relative path (lexically; fixtures are ours).
    pub(super) fn resolve(&self, rel_link: &Path) -> Option<PathBuf> {
        let target = self.c.readlink(rel_link).ok()?;
        let mut out: Vec<Component> = rel_link.parent()?.components().collect();
        for c in target.components() {
            match c {
                Component::ParentDir => {
                    out.pop()?;
                }
                Component::Normal(_) => out.push(c),
                // Absolute: from the root, as the kernel resolves it in the tree's own world.
                Component::RootDir => out.clear(),
                _ => return None,
            }
        }
        Some(out.iter().collect())
    }

    pub fn device_dir(&self, a: &PciAddress) -> Option<PathBuf> {
        self.resolve(&PathBuf::from(format!("sys/bus/pci/devices/{a}")))
    }

    pub(super) fn link(&self, link_rel: &Path, target_rel: &Path) -> Result<(), HostError> {
        self.c
            .symlink(&relative(link_rel, target_rel), link_rel)
            .map_err(acc_err)
    }

    pub fn read_attr(&self, a: &PciAddress, attr: &str) -> Option<String> {
        let d = self.device_dir(a)?;
        self.read(d.join(attr)).map(|s| s.trim().to_string())
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
        self.put(d.join(attr), value)
    }

    pub fn netdev_device(&self, ifname: &str) -> Option<PciAddress> {
        let dev = self.resolve(&PathBuf::from(format!("sys/class/net/{ifname}/device")))?;
        dev.file_name()?.to_str()?.parse().ok()
    }

    pub fn link_speed(&self, ifname: &str) -> Option<u32> {
        self.read(format!("sys/class/net/{ifname}/speed"))?
            .trim()
            .parse()
            .ok()
    }

    pub fn set_operstate(&self, ifname: &str, state: &str) -> Result<(), HostError> {
        let p = PathBuf::from(format!("sys/class/net/{ifname}/operstate"));
        if !self.c.exists(&p) {
            return Err(HostError::kernel("sim", libc::ENODEV));
        }
        self.put(p, format!("{state}\n"))?;
        // IFF_UP follows the administrative state, as `ip link set up/down` changes it.
        let flags = PathBuf::from(format!("sys/class/net/{ifname}/flags"));
        if let Some(f) = self.read(&flags) {
            if let Ok(v) = u32::from_str_radix(f.trim().trim_start_matches("0x"), 16) {
                let v = if state == "up" { v | 1 } else { v & !1 };
                self.put(flags, format!("0x{v:x}\n"))?;
            }
        }
        Ok(())
    }

    /// `ip link set IF mtu N`: the driver's bounds from `min_mtu`/`max_mtu` files when the
    /// fixture has them (EINVAL outside), else any value the policy parser allowed.
    pub fn set_mtu(&self, ifname: &str, mtu: u32) -> Result<(), HostError> {
        let dir = PathBuf::from(format!("sys/class/net/{ifname}"));
        if !self.c.exists(&dir.join("mtu")) {
            return Err(HostError::kernel("sim", libc::ENODEV));
        }
        let bound = |f: &str| {
            self.read(dir.join(f))
                .and_then(|s| s.trim().parse::<u32>().ok())
        };
        if bound("min_mtu").is_some_and(|m| mtu < m) || bound("max_mtu").is_some_and(|m| mtu > m) {
            return Err(HostError::kernel("sim", libc::EINVAL));
        }
        self.put(dir.join("mtu"), format!("{mtu}\n"))
    }

    fn netdevs_of(&self, dev_dir: &Path) -> Vec<String> {
        self.list(dev_dir.join("net"))
    }

    /// The PF's own netdev, not one of its switchdev representors (which live in the same
    /// `net/` directory and carry `pfXvfY`-style phys_port_names).
    pub(super) fn uplink_netdev(&self, pf_dir: &Path) -> Option<String> {
        let mut names = self.netdevs_of(pf_dir);
        names.sort();
        names.into_iter().find(|nd| {
            let ppn = self
                .read(pf_dir.join("net").join(nd).join("phys_port_name"))
                .unwrap_or_default();
            crate::sysfs::representor::parse_port_name(ppn.trim()).is_none()
        })
    }

    pub(super) fn driver_of(&self, dev_dir: &Path) -> Option<String> {
        self.c.link_name(&dev_dir.join("driver"))
    }

    pub(super) fn max_file_number(&self, glob_dir: &str, file: &str) -> u32 {
        self.list(glob_dir)
            .into_iter()
            .filter_map(|e| self.read(Path::new(glob_dir).join(e).join(file)))
            .filter_map(|s| s.trim().parse::<u32>().ok())
            .max()
            .unwrap_or(0)
    }

    fn next_iommu_group(&self) -> u32 {
        self.list("sys/kernel/iommu_groups")
            .into_iter()
            .filter_map(|e| e.parse::<u32>().ok())
            .max()
            .map(|m| m + 1)
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
        let num = |name: &str| -> Option<u32> { self.read(pf_dir.join(name))?.trim().parse().ok() };
        let total = num("sriov_totalvfs").ok_or_else(|| HostError::kernel("sim", libc::ENOENT))?;
        if total > 65535 {
            return Err(HostError::other(
                "sim",
                format!("sriov_totalvfs of {pf} is {total}, beyond the PCI limit of 65535; refusing to act on a damaged tree"),
            ));
        }
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
        // bnxt_en refuses to create VFs while its PF is down.
        if n != 0 && model.is_some_and(|m| m.quirks.numvfs_needs_pf_up) {
            let state = pf_netdev
                .as_ref()
                .and_then(|nd| self.read(format!("sys/class/net/{nd}/operstate")));
            if state.as_deref().map(str::trim) != Some("up") {
                return Err(HostError::kernel("sim", libc::ENETDOWN));
            }
        }
        if n == 0 {
            for i in 0..current {
                let link = pf_dir.join(format!("virtfn{i}"));
                if let Some(vf_dir) = self.resolve(&link) {
                    self.remove_vf(&vf_dir)?;
                }
                let _ = self.c.remove_file(&link);
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
            let vf_device = self
                .read(pf_dir.join("sriov_vf_device"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let autoprobe =
                num("sriov_drivers_autoprobe").unwrap_or(1) == 1 && self.bus_autoprobe();
            let parent = pf_dir.parent().unwrap_or(Path::new("")).to_path_buf();
            let has_group = self.c.exists(&pf_dir.join("iommu_group"));
            if offset == 0 || stride == 0 {
                return Err(HostError::other(
                    "sim",
                    format!("{pf} has sriov_offset {offset} / sriov_stride {stride}: its VFs would land on the PF itself; refusing"),
                ));
            }
            // Every VF address first: a bad offset/stride is refused before anything exists.
            let mut addrs = Vec::with_capacity(n as usize);
            for i in 0..n {
                let vf = pf.vf_address(offset, stride, i).ok_or_else(|| {
                    HostError::other("sim", format!("VF {i} of {pf} would be past the last bus"))
                })?;
                let vf_dir = parent.join(vf.to_string());
                if vf == *pf || self.c.exists(&vf_dir) {
                    return Err(HostError::other(
                        "sim",
                        format!("VF {i} of {pf} would be {vf}, which already exists; refusing to write over it"),
                    ));
                }
                addrs.push((vf, vf_dir));
            }
            for (i, (vf, vf_dir)) in (0..n).zip(addrs) {
                self.c.create_dir_all(&vf_dir).map_err(acc_err)?;
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
                    if let Ok(v) = self.c.read(&pf_dir.join(attr), ATTR_LIMIT) {
                        self.put(vf_dir.join(attr), v)?;
                    }
                }
                self.put(vf_dir.join("device"), format!("0x{vf_device}\n"))?;
                self.put(vf_dir.join("driver_override"), "(null)\n")?;
                self.put(vf_dir.join("config"), [0u8; 256])?;
                // Every SR-IOV VF must support FLR (PCIe spec); the simulation gives its VFs
                // the reset files when the fixture's PF has them, as the kernel shows them.
                if self.c.exists(&pf_dir.join("reset_method")) {
                    self.put(vf_dir.join("reset_method"), "flr\n")?;
                    self.put(vf_dir.join("reset"), "")?;
                }
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
                let ifindex = self
                    .read(format!("sys/class/net/{nd}/ifindex"))
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
        self.put(pf_dir.join("sriov_numvfs"), format!("{n}\n"))
    }

    pub(super) fn remove_vf(&self, vf_dir: &Path) -> Result<(), HostError> {
        let name = vf_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(drv) = self.driver_of(vf_dir) {
            let _ = self
                .c
                .remove_file(Path::new(&format!("sys/bus/pci/drivers/{drv}/{name}")));
        }
        for nd in self.netdevs_of(vf_dir) {
            let _ = self
                .c
                .remove_file(Path::new(&format!("sys/class/net/{nd}")));
        }
        if let Some(g) = self.resolve(&vf_dir.join("iommu_group")) {
            let _ = self.c.remove_all(&g);
        }
        let _ = self
            .c
            .remove_file(Path::new(&format!("sys/bus/pci/devices/{name}")));
        self.c.remove_all(vf_dir).map_err(acc_err)
    }

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
        let ddir = PathBuf::from(format!("sys/bus/pci/drivers/{driver}"));
        for f in ["bind", "unbind", "new_id", "remove_id", "uevent"] {
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
        {
            if let Some(name) = name {
                let ifindex = self.max_file_number("sys/class/net", "ifindex") + 1;
                let ndir = dev_dir.join("net").join(&name);
                self.c.create_dir_all(&ndir).map_err(acc_err)?;
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
                    self.put(ndir.join(f), v)?;
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
            .remove_file(Path::new(&format!("sys/bus/pci/drivers/{driver}/{dev}")));
        for nd in netdevs {
            let _ = self
                .c
                .remove_file(Path::new(&format!("sys/class/net/{nd}")));
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
