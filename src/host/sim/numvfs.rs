//! What the PCI core does on `echo N > sriov_numvfs` in the simulated tree: the kernel's
//! refusals (ERANGE past totalvfs, EBUSY from N to M, ENOENT without a PF driver, ENETDOWN
//! where the driver needs its PF up), then the VFs, made with the fixture writer's shapes,
//! and their netlink state.

use std::path::Path;

use super::tree::{acc_err, Tree};
use super::SimHost;
use crate::confined::ATTR_LIMIT;
use crate::fixture::layout;
use crate::fixture::shape::{self, Sink};
use crate::host::HostError;
use crate::hwdb::NicModel;
use crate::netlink::{PfLinkState, VfState};
use crate::types::{IfName, PciAddress};

/// The files a VF takes from its PF: the vendor and subsystem IDs, class and revision the PF's
/// SR-IOV capability gives it, and the PF's NUMA placement.
pub(super) const INHERITED: &[&str] = &[
    "vendor",
    "subsystem_vendor",
    "subsystem_device",
    "class",
    "revision",
    "numa_node",
    "local_cpulist",
    "local_cpus",
];

impl Tree<'_> {
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
                self.add_vf(&pf_dir, i, &vf, &vf_dir, has_group)?;
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
                entry.vfs = (0..n).map(VfState::unconfigured).collect();
                sim.save_link(&entry)?;
            }
        }
        self.put(pf_dir.join("sriov_numvfs"), format!("{n}\n"))
    }

    /// VF `n` of the PF at `pf_dir` appears at `vf_dir`, unbound: the identity files it
    /// inherits from its PF, and the links the fixture writer gives a VF (on the bus, to and
    /// from its PF, in a new IOMMU group of its own when the PF has one).
    fn add_vf(
        &self,
        pf_dir: &Path,
        n: u32,
        vf: &PciAddress,
        vf_dir: &Path,
        has_group: bool,
    ) -> Result<(), HostError> {
        self.dir(vf_dir)?;
        for attr in INHERITED {
            if let Ok(v) = self.c.read(&pf_dir.join(attr), ATTR_LIMIT) {
                self.put(vf_dir.join(attr), v)?;
            }
        }
        let vf_device = self
            .read(pf_dir.join("sriov_vf_device"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        self.put(vf_dir.join("device"), format!("0x{vf_device}\n"))?;
        self.put(vf_dir.join("driver_override"), "(null)\n")?;
        self.put(vf_dir.join("config"), [0u8; 256])?;
        // Every SR-IOV VF must support FLR (PCIe spec); the simulation gives its VFs
        // the reset files when the fixture's PF has them, as the kernel shows them.
        if self.c.exists(&pf_dir.join("reset_method")) {
            self.put(vf_dir.join("reset_method"), "flr\n")?;
            self.put(vf_dir.join("reset"), "")?;
        }
        shape::physfn(self, vf_dir, pf_dir)?;
        shape::virtfn(self, pf_dir, n, vf_dir)?;
        shape::on_bus(self, vf, vf_dir)?;
        if has_group {
            shape::iommu_member(self, self.next_iommu_group(), vf, vf_dir)?;
        }
        Ok(())
    }

    pub(super) fn remove_vf(&self, vf_dir: &Path) -> Result<(), HostError> {
        let name = vf_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(drv) = self.driver_of(vf_dir) {
            let _ = self.c.remove_file(&layout::driver_dir(&drv).join(&name));
        }
        for nd in self.netdevs_of(vf_dir) {
            let _ = self.c.remove_file(&layout::class_net_link(&nd));
        }
        if let Some(g) = self.resolve(&vf_dir.join("iommu_group")) {
            let _ = self.c.remove_all(&g);
        }
        let _ = self.c.remove_file(&layout::bus_device_link(&name));
        self.c.remove_all(vf_dir).map_err(acc_err)
    }
}
