//! Choosing and reading the VF runtime-state source for a sysfs root.

use std::path::Path;

use super::{build, Inventory, VfStateOrigin};
use crate::netlink::{FixtureVfState, VfStateDump, VfStateSource, VF_STATE_FILE};
use crate::rtnl::KernelVfState;
use crate::sysfs::{scan_with_deferred_links, SysfsRoot, Warning};

/// VF state and every link's own attributes (which the scan uses in place of per-netdev sysfs
/// files) from one dump: the kernel for the live root, `<root>/vf-state.json` for a fixture
/// (none if absent). Failures degrade to a warning: the sysfs half of the inventory is still
/// worth showing.
pub fn load_link_dump(root: &SysfsRoot) -> (VfStateDump, VfStateOrigin, Vec<Warning>) {
    if root.is_host() {
        return match KernelVfState.link_dump() {
            Ok(l) => (l, VfStateOrigin::Kernel, Vec::new()),
            Err(e) => (
                VfStateDump::default(),
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
        return (VfStateDump::default(), VfStateOrigin::None, Vec::new());
    }
    match src.link_dump() {
        Ok(l) => (l, VfStateOrigin::Fixture, Vec::new()),
        Err(e) => (
            VfStateDump::default(),
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
    // The dump's link records spare the scan every netdev's attribute files; it is loaded on
    // its own thread while the scan reads the PCI devices, and joined for the netdev half.
    let (mut report, (dump, origin, extra)) = std::thread::scope(|s| {
        let job = s.spawn(|| load_link_dump(root));
        let mut loaded = None;
        let report = scan_with_deferred_links(root, || {
            let l = loaded.insert(job.join().unwrap_or_else(|_| {
                (
                    VfStateDump::default(),
                    VfStateOrigin::None,
                    vec![Warning::new(
                        "netlink",
                        "internal error: the dump reader panicked",
                    )],
                )
            }));
            &l.0.netdevs
        });
        // The scan always asks; should it not, read the dump here.
        (report, loaded.unwrap_or_else(|| load_link_dump(root)))
    });
    // On the live host the devlink port map is authoritative for representors; name
    // parsing stays for PFs without a devlink instance (and for fixture trees).
    if root.is_host() {
        if let Some(ports) = crate::devlink::portmap::live_ports() {
            crate::devlink::portmap::apply_port_map(&mut report.representors, &ports);
        }
    }
    let mut inv = build(&report, label, &dump.links, origin, extra);
    mark_self_chosen_free(root, &mut inv);
    if root.is_host() && crate::udev::ENABLED {
        add_udev(&mut inv);
    }
    inv
}

/// A VF whose "admin MAC" is only its own random address is free (igb and i40e report it).
/// Only a VF netdev already carrying its admin MAC can have chosen it itself, so only those
/// get their `addr_assign_type` read.
fn mark_self_chosen_free(root: &SysfsRoot, inv: &mut Inventory) {
    let mut cands = Vec::new();
    for (p, pf) in inv.physical_functions.iter().enumerate() {
        for (v, vf) in pf.vfs.iter().enumerate() {
            if vf.free || vf.device.driver.as_deref() == Some("vfio-pci") {
                continue;
            }
            if let (Some(a), Some(n)) = (&vf.admin, &vf.netdev) {
                if !a.mac.is_zero() && n.mac == Some(a.mac) {
                    cands.push((p, v, n.name.clone()));
                }
            }
        }
    }
    let names: Vec<&str> = cands.iter().map(|(_, _, n)| n.as_str()).collect();
    let random = crate::sysfs::selfmac::are_random(root, &names);
    for ((p, v, _), r) in cands.iter().zip(random) {
        if r {
            inv.physical_functions[*p].vfs[*v].free = true;
        }
    }
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
