//! Which processes hold a `/dev/vfio/<group>` open: a VM (QEMU) or a DPDK application using
//! the group. Read from the `proc/<pid>/fd/<n>` links under the root (the live `/proc`, or a
//! fixture's `proc/` where a test plants such a link), through the confined reader: the
//! links are read, never followed. A process that exits mid-scan or whose fds we may not
//! read is skipped — what cannot be seen is simply not a sign (documented in handoff.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::root::SysfsRoot;

/// A cap on processes scanned, so a pathological `/proc` cannot make a read path unbounded.
const MAX_PIDS: usize = 65_536;

/// The group number of an fd link's target, when it is `/dev/vfio/<N>`.
pub fn vfio_group_of_target(target: &str) -> Option<u32> {
    target.strip_prefix("/dev/vfio/")?.parse().ok()
}

impl SysfsRoot {
    /// IOMMU group → the pids holding `/dev/vfio/<group>` open, each sorted.
    pub fn vfio_group_holders(&self) -> BTreeMap<u32, Vec<u32>> {
        let _span = tracing::debug_span!("vfio_group_holders").entered();
        let mut out: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let Ok(c) = self.confined() else {
            return out;
        };
        let Ok(pids) = c.list(&PathBuf::from("proc")) else {
            return out;
        };
        for pid in pids
            .iter()
            .filter_map(|p| p.parse::<u32>().ok())
            .take(MAX_PIDS)
        {
            let fd_dir = PathBuf::from(format!("proc/{pid}/fd"));
            let Ok(fds) = c.list(&fd_dir) else { continue };
            for fd in fds {
                let Ok(t) = c.readlink(&fd_dir.join(&fd)) else {
                    continue;
                };
                if let Some(g) = t.to_str().and_then(vfio_group_of_target) {
                    let v = out.entry(g).or_default();
                    if !v.contains(&pid) {
                        v.push(pid);
                    }
                }
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::vfio_group_of_target;

    #[test]
    fn only_group_nodes_count() {
        assert_eq!(vfio_group_of_target("/dev/vfio/12"), Some(12));
        assert_eq!(vfio_group_of_target("/dev/vfio/vfio"), None);
        assert_eq!(vfio_group_of_target("/dev/vfio/noiommu-3"), None);
        assert_eq!(vfio_group_of_target("socket:[1234]"), None);
        assert_eq!(vfio_group_of_target("/tmp/dev/vfio/1"), None);
    }
}
