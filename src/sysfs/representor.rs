//! Switchdev VF representors, found the way os-vif's `get_representor_port` finds them:
//! same `phys_switch_id` as the PF's uplink, and a `phys_port_name` naming the VF.
//!
//! One rule serves both the inventory scan ([`match_representors`]) and the backends'
//! point lookup ([`find_representor`]: "the representor of VF n of PF p"), so `inventory`
//! lists exactly the representor that `plug` will use.
//!
//! The `phys_port_name` forms kernels emit for VF representors:
//! - `pfXvfY`, and `cXpfYvfZ` for a VF of an external host (SmartNIC): every driver that
//!   registers devlink ports (mlx5 since Linux 4.18, ice, bnxt, sfc ef100, netdevsim) and
//!   nfp, which spells it itself;
//! - a bare `N` (= VF N): mlx5 before Linux 4.18 (`"%d", rep->vport - 1`), replaced by
//!   `pfXvfY` in commit c12ecc230564 because VF LAG gave both PFs' representors one switch
//!   id. DPDK's mlx5 PMD still parses it as its "legacy" form, and distributions with those
//!   kernels are still deployed, so it is accepted;
//! - `vfN`: accepted for symmetry with `pfXvfY` (no PF number).
//!
//! A name without a PF number (`N`, `vfN`) is ambiguous when two PFs share a switch id, so
//! it is only taken from a netdev whose `device` is the PF itself (mlx5 representors hang
//! off the PF's PCI device). Uplinks (`p0`, `p0s1`), PF representors (`pf0`, `c1pf0`) and
//! sub-functions (`pf0sf1`) are not VF representors.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::attr::{Raw, ATTR_BUF};
use super::fd;
use super::model::{NetDev, PciDevice, Representor};
use super::root::{Resolver, SysfsRoot};
use crate::types::PciAddress;

/// The parts of a VF representor's `phys_port_name` (see the module docs for the forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortName {
    pub controller: Option<u32>,
    pub pf: Option<u32>,
    pub vf: u32,
}

fn take_num<'a>(s: &'a str, prefix: &str) -> Option<(u32, &'a str)> {
    let rest = s.strip_prefix(prefix)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 || end > 9 {
        return None;
    }
    Some((rest[..end].parse().ok()?, &rest[end..]))
}

/// Parses a VF representor port name; uplinks (`p0`), PF representors (`pf0`) and
/// sub-functions (`pf0sf1`) are not VF representors and give `None`.
pub fn parse_port_name(s: &str) -> Option<PortName> {
    // Legacy mlx5: the bare VF index.
    if !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(PortName {
            controller: None,
            pf: None,
            vf: s.parse().ok()?,
        });
    }
    let (controller, s) = match take_num(s, "c") {
        Some((c, rest)) => (Some(c), rest),
        None => (None, s),
    };
    let (pf, s) = match take_num(s, "pf") {
        Some((p, rest)) => (Some(p), rest),
        None if controller.is_some() => return None,
        None => (None, s),
    };
    let (vf, rest) = take_num(s, "vf")?;
    rest.is_empty().then_some(PortName { controller, pf, vf })
}

/// Whether a representor port name `p` on netdev whose `device` is `device` names a VF of
/// `pf` (already known to share its switch id).
///
/// For `pfXvfY` names X must equal the PF's PCI function number, because dual-port NICs share
/// one switch id across both PFs (os-vif applies the same rule). A name without a PF number
/// is only accepted from a netdev that hangs off the PF itself (or one with no device link).
pub fn belongs_to(p: &PortName, pf: PciAddress, device: Option<PciAddress>) -> bool {
    match p.pf {
        Some(x) => x == u32::from(pf.function()),
        None => device.is_none_or(|d| d == pf),
    }
}

/// Whether a PF netdev with this port name can be the uplink whose switch id the PF's
/// representors share: anything that is not itself a VF representor.
fn is_uplink(port_name: Option<&str>) -> bool {
    port_name.and_then(parse_port_name).is_none()
}

/// Pairs each PF with its VF representors.
pub fn match_representors(devices: &[PciDevice], netdevs: &[NetDev]) -> Vec<Representor> {
    let mut by_switch: HashMap<&str, Vec<(&NetDev, PortName)>> = HashMap::new();
    for n in netdevs {
        if let (Some(sw), Some(pn)) = (&n.phys_switch_id, &n.phys_port_name) {
            if let Some(p) = parse_port_name(pn) {
                by_switch.entry(sw.as_str()).or_default().push((n, p));
            }
        }
    }
    if by_switch.is_empty() {
        return Vec::new();
    }
    let by_name: HashMap<&str, &NetDev> = netdevs.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out = Vec::new();
    for pf in devices.iter().filter(|d| d.sriov.is_some()) {
        // The PF's switch id comes from its own non-representor netdev (the uplink).
        let switch_id = pf
            .netdevs
            .iter()
            .filter_map(|n| by_name.get(n.as_str()))
            .filter(|n| is_uplink(n.phys_port_name.as_deref()))
            .find_map(|n| n.phys_switch_id.as_deref());
        let Some(reps) = switch_id.and_then(|sw| by_switch.get(sw)) else {
            continue;
        };
        for (n, p) in reps {
            if belongs_to(p, pf.address, n.device) {
                out.push(Representor {
                    netdev: n.name.clone(),
                    pf: pf.address,
                    vf_index: p.vf,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.pf, a.vf_index, &a.netdev).cmp(&(b.pf, b.vf_index, &b.netdev)));
    out
}

// ---- point lookups for the backends --------------------------------------------------

/// A failed point lookup, naming the sysfs path involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {msg}")]
pub struct LookupError {
    pub path: String,
    pub msg: String,
}

fn lookup_err(rel: &Path, msg: impl Into<String>) -> LookupError {
    LookupError {
        path: super::root::display_rel(rel),
        msg: msg.into(),
    }
}

/// A VF's place on its PF's switch: the PF and the N of the PF's `virtfnN` link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfLocation {
    pub pf: PciAddress,
    pub vf_index: u32,
}

/// Reads single directories beneath a root with the scanner's fd-safe primitives: every
/// directory is opened with `openat2(RESOLVE_BENEATH)` (or, before Linux 5.6, resolved
/// lexically inside the root), attributes and links are read relative to it without
/// following a final symlink.
struct Point<'r> {
    root: &'r SysfsRoot,
    fd: OwnedFd,
}

impl<'r> Point<'r> {
    fn new(root: &'r SysfsRoot) -> Result<Self, LookupError> {
        let fd = fd::open_dir_path(root.path())
            .map_err(|e| lookup_err(Path::new(""), format!("sysfs root: {e}")))?;
        Ok(Point { root, fd })
    }

    fn dir(&self, rel: &Path) -> std::io::Result<OwnedFd> {
        match fd::open_dir_beneath(&self.fd, rel) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                let real = Resolver::new(self.root)
                    .resolve_dir(rel)
                    .map_err(|e| std::io::Error::other(e.describe("path")))?;
                fd::open_dir_path(&self.root.abs(&real))
            }
            r => r,
        }
    }

    fn list(&self, dir: &OwnedFd) -> Vec<String> {
        let mut v = fd::list_at(dir, c".").unwrap_or_default();
        v.sort();
        v
    }

    fn attr(&self, dir: &OwnedFd, name: &std::ffi::CStr) -> Option<String> {
        let mut buf = [0u8; ATTR_BUF];
        match fd::read_at(dir, name, &mut buf) {
            Raw::Value(v) if !v.is_empty() => Some(v.to_string()),
            _ => None,
        }
    }

    fn link_base(&self, dir: &OwnedFd, name: &str) -> Option<String> {
        let c = fd::cname(name)?;
        let t = fd::readlink_at(dir, &c).ok()?;
        t.file_name().map(|f| f.to_string_lossy().into_owned())
    }

    fn link_addr(&self, dir: &OwnedFd, name: &str) -> Option<PciAddress> {
        self.link_base(dir, name)?.parse().ok()
    }
}

fn device_rel(addr: PciAddress) -> PathBuf {
    PathBuf::from(format!("sys/bus/pci/devices/{addr}"))
}

/// The PF of VF `vf` and its VF index.
pub fn vf_location(root: &SysfsRoot, vf: PciAddress) -> Result<VfLocation, LookupError> {
    let _s = tracing::debug_span!("vf_location", %vf).entered();
    let pt = Point::new(root)?;
    vf_location_in(&pt, vf)
}

fn vf_location_in(pt: &Point, vf: PciAddress) -> Result<VfLocation, LookupError> {
    let rel = device_rel(vf);
    let dir = pt
        .dir(&rel)
        .map_err(|e| lookup_err(&rel, format!("PCI device {vf} not found ({e})")))?;
    let pf = pt.link_addr(&dir, "physfn").ok_or_else(|| {
        lookup_err(
            &rel.join("physfn"),
            format!("{vf} is not a VF (no physfn link)"),
        )
    })?;
    let pf_rel = device_rel(pf);
    let pf_dir = pt
        .dir(&pf_rel)
        .map_err(|e| lookup_err(&pf_rel, format!("PF {pf} of {vf} not found ({e})")))?;
    for name in pt.list(&pf_dir) {
        let Some(n) = name
            .strip_prefix("virtfn")
            .and_then(super::attr::parse_dec::<u32>)
        else {
            continue;
        };
        if pt.link_addr(&pf_dir, &name) == Some(vf) {
            return Ok(VfLocation { pf, vf_index: n });
        }
    }
    Err(lookup_err(
        &pf_rel,
        format!("no virtfnN link of {pf} points at {vf}"),
    ))
}

/// The names in `<device>/net/` of PCI function `dev`, sorted; empty when it has no netdev
/// (e.g. bound to vfio-pci).
pub fn device_netdevs(root: &SysfsRoot, dev: PciAddress) -> Result<Vec<String>, LookupError> {
    let _s = tracing::debug_span!("device_netdevs", %dev).entered();
    let pt = Point::new(root)?;
    let rel = device_rel(dev);
    pt.dir(&rel)
        .map_err(|e| lookup_err(&rel, format!("PCI device {dev} not found ({e})")))?;
    Ok(match pt.dir(&rel.join("net")) {
        Ok(d) => pt.list(&d),
        Err(_) => Vec::new(),
    })
}

/// The representor netdev of VF `vf` on the kernel (switchdev) datapath: the devlink port
/// map's (`devlink::portmap`, as the inventory: the live kernel's or a tree's record) when the
/// PF has a devlink instance; otherwise the netdev that shares the PF uplink's
/// `phys_switch_id` and whose `phys_port_name` names this VF under the same rule as
/// [`match_representors`].
pub fn find_representor(root: &SysfsRoot, vf: PciAddress) -> Result<String, LookupError> {
    let _s = tracing::debug_span!("find_representor", %vf).entered();
    let pt = Point::new(root)?;
    let loc = vf_location_in(&pt, vf)?;
    let key = crate::devlink::portmap::PfKey::pci(loc.pf);
    // The devlink port map first (the same rule and source the inventory applies: the live
    // kernel's, or a tree's recorded one; a malformed record is ignored as by the read path).
    if let Ok(Some(ports)) = crate::devlink::portmap::ports_of_root(root) {
        if let Some(r) = crate::devlink::portmap::port_map_representor(&ports, &key, loc.vf_index) {
            return r.ok_or_else(|| no_vf_port(&loc.pf.to_string(), loc.vf_index));
        }
    }
    by_switch_id(&pt, loc)
}

/// The representor of VF `vf` of the PF whose netdev is `pf_netdev` (a PCI PF's uplink or a
/// non-PCI PF's, netdevsim's): the point lookup by PF netdev. The port map's answer through
/// [`crate::devlink::portmap::netdev_representor`], the function the inventory's non-PCI PFs
/// are listed with; for a PCI PF without a devlink instance, `phys_port_name` as in
/// [`find_representor`].
pub fn find_representor_of(
    root: &SysfsRoot,
    pf_netdev: &crate::types::IfName,
    vf: u32,
) -> Result<String, LookupError> {
    let _s = tracing::debug_span!("find_representor_of", pf = %pf_netdev, vf).entered();
    let pt = Point::new(root)?;
    if let Ok(Some(ports)) = crate::devlink::portmap::ports_of_root(root) {
        if let Some(r) = crate::devlink::portmap::netdev_representor(&ports, pf_netdev.as_str(), vf)
        {
            return r.ok_or_else(|| no_vf_port(pf_netdev.as_str(), vf));
        }
    }
    let rel = PathBuf::from(format!("sys/class/net/{pf_netdev}"));
    let dir = pt
        .dir(&rel)
        .map_err(|e| lookup_err(&rel, format!("no netdev {pf_netdev} ({e})")))?;
    let pf = pt.link_addr(&dir, "device").ok_or_else(|| {
        lookup_err(
            &rel.join("device"),
            format!("{pf_netdev} is not the netdev of a PCI function, and no devlink port has it"),
        )
    })?;
    by_switch_id(&pt, VfLocation { pf, vf_index: vf })
}

fn no_vf_port(pf: &str, vf: u32) -> LookupError {
    lookup_err(
        Path::new("sys/class/net"),
        format!(
            "PF {pf} has a devlink instance but no representor port for VF {vf} (eswitch not in switchdev mode?)"
        ),
    )
}

/// The `phys_port_name` rule for one VF: the netdev sharing the PF uplink's switch id whose
/// port name names the VF.
fn by_switch_id(pt: &Point, loc: VfLocation) -> Result<String, LookupError> {
    let pf_net = device_rel(loc.pf).join("net");
    let pf_nd = pt.dir(&pf_net).ok();
    let switch_id = pf_nd.iter().flat_map(|d| pt.list(d)).find_map(|name| {
        let d = pt.dir(&pf_net.join(&name)).ok()?;
        if !is_uplink(pt.attr(&d, c"phys_port_name").as_deref()) {
            return None;
        }
        pt.attr(&d, c"phys_switch_id")
    });
    let sw = switch_id.ok_or_else(|| {
        lookup_err(
            &pf_net,
            format!("PF {} has no netdev with a phys_switch_id", loc.pf),
        )
    })?;
    let class_net = Path::new("sys/class/net");
    let cn = pt
        .dir(class_net)
        .map_err(|e| lookup_err(class_net, e.to_string()))?;
    for name in pt.list(&cn) {
        let Ok(d) = pt.dir(&class_net.join(&name)) else {
            continue;
        };
        if pt.attr(&d, c"phys_switch_id").as_deref() != Some(sw.as_str()) {
            continue;
        }
        let Some(p) = pt
            .attr(&d, c"phys_port_name")
            .as_deref()
            .and_then(parse_port_name)
        else {
            continue;
        };
        if p.vf == loc.vf_index && belongs_to(&p, loc.pf, pt.link_addr(&d, "device")) {
            return Ok(name);
        }
    }
    Err(lookup_err(
        class_net,
        format!(
            "no representor port for VF {} of PF {}",
            loc.vf_index, loc.pf
        ),
    ))
}

#[cfg(test)]
#[path = "representor_tests.rs"]
mod tests;
