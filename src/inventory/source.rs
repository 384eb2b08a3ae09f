//! Choosing and reading the VF runtime-state source for a sysfs root.

use std::path::Path;

use super::{build, Inventory, VfStateOrigin};
use crate::netlink::{FixtureVfState, KernelVfState, PfLinkState, VfStateSource, VF_STATE_FILE};
use crate::sysfs::{scan, SysfsRoot, Warning};

/// The kernel for the live root, `<root>/vf-state.json` for a fixture (none if absent).
/// Failures degrade to a warning: the sysfs half of the inventory is still worth showing.
pub fn load_vf_state(root: &SysfsRoot) -> (Vec<PfLinkState>, VfStateOrigin, Vec<Warning>) {
    if root.is_host() {
        return match KernelVfState.vf_state() {
            Ok(l) => (l, VfStateOrigin::Kernel, Vec::new()),
            Err(e) => (
                Vec::new(),
                VfStateOrigin::None,
                vec![Warning::new(
                    "netlink",
                    format!("VF state unavailable: {e}"),
                )],
            ),
        };
    }
    let src = FixtureVfState::new(root.path());
    if !src.exists() {
        return (Vec::new(), VfStateOrigin::None, Vec::new());
    }
    match src.vf_state() {
        Ok(l) => (l, VfStateOrigin::Fixture, Vec::new()),
        Err(e) => (
            Vec::new(),
            VfStateOrigin::None,
            vec![Warning::new(
                format!("/{VF_STATE_FILE}"),
                format!("ignored: {}", strip_path(&e.to_string(), src.path())),
            )],
        ),
    }
}

/// Error messages from the fixture reader start with its absolute path; the warning already
/// names the file relative to the root, and absolute paths would make output machine-specific.
fn strip_path(msg: &str, path: &Path) -> String {
    let p = format!("{}: ", path.display());
    msg.strip_prefix(&p).unwrap_or(msg).to_string()
}

/// Scan + VF state + join: the whole unfiltered inventory for `root`. `label` is how the root
/// is spelled in the output.
pub fn collect(root: &SysfsRoot, label: &str) -> Inventory {
    let report = scan(root);
    let (links, origin, extra) = load_vf_state(root);
    let mut inv = build(&report, label, &links, origin, extra);
    // A VF whose "admin MAC" is only its own random address is free (igb reports it).
    for pf in &mut inv.physical_functions {
        for vf in &mut pf.vfs {
            if vf.free || vf.device.driver.as_deref() == Some("vfio-pci") {
                continue;
            }
            if let (Some(a), Some(n)) = (&vf.admin, &vf.netdev) {
                if crate::sysfs::selfmac::is_self_chosen(root.path(), n.name.as_str(), &a.mac) {
                    vf.free = true;
                }
            }
        }
    }
    if root.is_host() && crate::udev::ENABLED {
        add_udev(&mut inv);
    }
    inv
}

/// udev only describes the live system, so this runs for root `/` only.
fn add_udev(inv: &mut Inventory) {
    for pf in &mut inv.physical_functions {
        pf.device.udev =
            crate::udev::lookup(&pf.device.address, pf.netdevs.first().map(|n| &n.name));
        for vf in &mut pf.vfs {
            vf.device.udev =
                crate::udev::lookup(&vf.device.address, vf.netdev.as_ref().map(|n| &n.name));
        }
    }
}
