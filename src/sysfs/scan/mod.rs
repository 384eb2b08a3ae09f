//! The scan itself: one pass over `sys/bus/pci/devices`, one over `sys/class/net`, one
//! directory read per IOMMU group. Each attribute file is opened exactly once, relative to its
//! device directory, and big hosts are scanned on a few threads.
//!
//! This module only orders the passes; each pass lives in its own submodule so that the
//! rules for one kind of kernel object can be read (and changed) without the others:
//!
//! - [`layout`]: where in the tree each pass looks;
//! - [`worker`]: a scanner's per-thread state and the confined reads every pass shares;
//! - [`par`]: spreading a pass over threads on big hosts;
//! - [`pci`]: which PCI functions exist and what each one's own directory says;
//! - [`sriov`]: PF/VF relations, checked from both ends;
//! - [`iommu`]: IOMMU group membership;
//! - [`netdev`]: network interfaces of PCI functions.

mod iommu;
mod layout;
mod netdev;
mod par;
mod pci;
mod sriov;
mod worker;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::debug_span;

use super::fd;
use super::model::ScanReport;
use super::representor;
use super::root::SysfsRoot;
use super::warning::Warning;
use crate::netlink::LinkAttrs;
use layout::CLASS_NET;
use netdev::Links;
use worker::{Ctx, Need, Worker};

pub use netdev::netdev_attr;

/// Scans the PCI bus and network class under `root`. Never fails and never panics on tree
/// content: whatever could not be read is reported in [`ScanReport::warnings`].
pub fn scan(root: &SysfsRoot) -> ScanReport {
    scan_with(root, || &[], Mode::default())
}

/// [`scan`], taking each netdev's attributes from `links` (the `RTM_GETLINK` dump the inventory
/// makes anyway for VF state) instead of from its sysfs files wherever a link record describes
/// that netdev. sysfs still decides which netdevs exist and which PCI function owns each.
pub fn scan_with_links(root: &SysfsRoot, links: &[LinkAttrs]) -> ScanReport {
    scan_with(root, || links, Mode::default())
}

/// [`scan_with_links`] for a dump still being loaded: `links` is called (e.g. joining the
/// thread that reads the dump) only when the PCI half of the scan is done, so the two overlap.
pub fn scan_with_deferred_links<'a>(
    root: &SysfsRoot,
    links: impl FnOnce() -> &'a [LinkAttrs],
) -> ScanReport {
    scan_with(root, links, Mode::default())
}

/// How to scan; only tests change the defaults, to check each shortcut against the long way.
#[derive(Clone, Copy)]
struct Mode {
    /// `false` forces the pre-5.6 fallback (lexical resolution + ancestor checks).
    openat2: bool,
    /// `false` finds every device directory through its bus link instead of the tree walk.
    walk: bool,
}

impl Default for Mode {
    fn default() -> Self {
        Mode {
            openat2: true,
            walk: true,
        }
    }
}

fn scan_with<'a>(
    root: &SysfsRoot,
    links: impl FnOnce() -> &'a [LinkAttrs],
    mode: Mode,
) -> ScanReport {
    let _span = debug_span!("sysfs_scan", root = %root.path().display()).entered();
    let rootfd = match fd::open_dir_path(root.path()) {
        Ok(f) => f,
        Err(e) => {
            links(); // a deferred loader is always joined
            return ScanReport {
                devices: Vec::new(),
                netdevs: Vec::new(),
                representors: Vec::new(),
                warnings: vec![Warning::new("/", format!("cannot open sysfs root: {e}"))],
            };
        }
    };
    let ctx = Ctx {
        root,
        rootfd,
        beneath: AtomicBool::new(mode.openat2),
        walk: mode.walk,
    };
    let mut main = Worker::new(&ctx);
    // `sys/class/net` is listed on the side while the PCI devices are read.
    let (mut devices, (class, class_warnings)) = std::thread::scope(|s| {
        let lister = s.spawn(|| {
            let mut w = Worker::new(&ctx);
            let listed = w.open_and_list(Path::new(CLASS_NET), Need::Optional);
            (listed, w.warnings)
        });
        let devices = main.scan_pci();
        let listed = lister.join().unwrap_or_else(|_| {
            let mut w = Worker::new(&ctx);
            (
                w.open_and_list(Path::new(CLASS_NET), Need::Optional),
                w.warnings,
            )
        });
        (devices, listed)
    });
    main.warnings.extend(class_warnings);
    main.link_vfs(&mut devices);
    main.fill_iommu_members(&mut devices);
    let links: Links = links().iter().map(|l| (l.ifname.as_str(), l)).collect();
    let netdevs = main.scan_netdevs(&mut devices, class, &links);
    let representors = representor::match_representors(&devices, &netdevs);
    let mut warnings = main.warnings;
    warnings.sort();
    warnings.dedup();
    tracing::debug!(
        devices = devices.len(),
        netdevs = netdevs.len(),
        representors = representors.len(),
        warnings = warnings.len(),
        openat2 = ctx.beneath.load(Ordering::Relaxed),
        "sysfs scan done"
    );
    ScanReport {
        devices,
        netdevs,
        representors,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> SysfsRoot {
        SysfsRoot::new(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/sysfs")
                .join(name),
        )
        .unwrap()
    }

    /// Fixture `name` scanned the default way and in `mode`; `None` if it is not checked out.
    fn default_and(name: &str, mode: Mode) -> Option<(serde_json::Value, serde_json::Value)> {
        let root = fixture(name);
        if !root.path().join("sys").is_dir() {
            return None;
        }
        let a = serde_json::to_value(scan_with(&root, || &[], Mode::default())).unwrap();
        let b = serde_json::to_value(scan_with(&root, || &[], mode)).unwrap();
        Some((a, b))
    }

    /// The tree walk finds the same devices in the same directories as the bus links, with
    /// the same warnings, on every shipped tree, damaged ones included.
    #[test]
    fn tree_walk_agrees_with_bus_links() {
        for name in [
            "igb-real",
            "nfv-host",
            "broken-links",
            "broken-missing",
            "broken-garbage",
            "broken-unreadable",
            "broken-virtfn-mismatch",
        ] {
            let bus_links = Mode {
                openat2: true,
                walk: false,
            };
            let Some((a, b)) = default_and(name, bus_links) else {
                continue;
            };
            assert_eq!(a, b, "{name}");
        }
    }

    /// Kernels without openat2 take the lexical path; both must see the same tree.
    #[test]
    fn fallback_without_openat2_agrees() {
        for name in ["igb-real", "nfv-host", "broken-links"] {
            let long_way = Mode {
                openat2: false,
                walk: false,
            };
            let Some((a, b)) = default_and(name, long_way) else {
                continue;
            };
            assert_eq!(a["devices"], b["devices"], "{name}");
            assert_eq!(a["netdevs"], b["netdevs"], "{name}");
            assert_eq!(a["representors"], b["representors"], "{name}");
            let msgs = |v: &serde_json::Value| v["warnings"].as_array().unwrap().len();
            assert_eq!(msgs(&a), msgs(&b), "{name}: {a:#}\n{b:#}");
        }
    }
}
