//! The simulated kernel's non-PCI SR-IOV PF (netdevsim's bus device): a tree directory
//! `sys/bus/<bus>/devices/<name>` with `sriov_numvfs` and the PF netdev(s) under `net/`.
//! A write of the count follows netdevsim's `nsim_drv_configure_vfs`: the same count is a
//! no-op, N -> M with both non-zero is EBUSY, above `sriov_totalvfs` (where the tree has
//! one) ENOMEM; otherwise the count is stored and every PF netdev's netlink VF records are
//! re-made with the kernel's defaults (netdevsim keeps no VF configuration across a count
//! change in the records vifman reads back), so IFLA_NUM_VF and the VF list follow.

use std::path::PathBuf;

use super::SimHost;
use crate::host::{Host, HostError};
use crate::netlink::PfLinkState;
use crate::types::BusDevice;

impl SimHost {
    pub(super) fn set_bus_numvfs(&self, d: &BusDevice, n: u32, op: &str) -> Result<(), HostError> {
        let c = self.confined()?;
        let s = self
            .bus_sriov(d)
            .ok_or_else(|| HostError::kernel(op, libc::ENOENT))?;
        let cur = s
            .num_vfs
            .map_err(|m| HostError::other(op, format!("the tree's count is unreadable: {m}")))?;
        if cur == n {
            return Ok(());
        }
        if cur != 0 && n != 0 {
            return Err(HostError::kernel(op, libc::EBUSY));
        }
        if s.total_vfs.is_some_and(|t| n > t) {
            return Err(HostError::kernel(op, libc::ENOMEM));
        }
        let file = PathBuf::from(format!("{}/sriov_numvfs", d.sysfs_dir()));
        c.write(&file, format!("{n}\n").as_bytes())
            .map_err(|e| HostError::from_access(op, &e))?;
        for nd in &s.netdevs {
            let ifindex = match self.load_link(nd.as_str())? {
                Some(l) => l.ifindex,
                None => c
                    .read_attr(&PathBuf::from(format!("sys/class/net/{nd}/ifindex")))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0),
            };
            self.save_link(&PfLinkState {
                ifname: nd.clone(),
                ifindex,
                num_vf: n,
                vfs: (0..n).map(crate::netlink::VfState::unconfigured).collect(),
            })?;
        }
        Ok(())
    }
}
