//! Switchdev representor discovery, the way os-vif's `linux_net` does it, under a
//! configurable sysfs root so that it can be tested on a tree built in a tempdir.

use std::fs;
use std::path::{Path, PathBuf};

use super::{BackendError, Result};

/// A VF's place in the switch: the PF it belongs to and its VF number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfLocation {
    pub pf_pci: String,
    pub vf_num: u32,
}

fn sysfs_err(path: &Path, msg: impl Into<String>) -> BackendError {
    BackendError::Sysfs {
        path: path.display().to_string(),
        msg: msg.into(),
    }
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

fn link_basename(p: &Path) -> Option<String> {
    fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()))
}

/// VF number = N of the `physfn/virtfnN` link that points back at the VF.
pub fn vf_location(root: &Path, vf_pci: &str) -> Result<VfLocation> {
    let _s = tracing::debug_span!("vf_location", vf_pci).entered();
    let dev = root.join("bus/pci/devices").join(vf_pci);
    if !dev.exists() {
        return Err(sysfs_err(&dev, format!("PCI device {vf_pci} not found")));
    }
    let physfn = dev.join("physfn");
    let pf_pci = link_basename(&physfn)
        .ok_or_else(|| sysfs_err(&physfn, format!("{vf_pci} is not a VF (no physfn link)")))?;
    let entries = fs::read_dir(&physfn).map_err(|e| sysfs_err(&physfn, e.to_string()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("virtfn") {
            if let Ok(n) = n.parse::<u32>() {
                if link_basename(&e.path()).as_deref() == Some(vf_pci) {
                    return Ok(VfLocation { pf_pci, vf_num: n });
                }
            }
        }
    }
    Err(sysfs_err(
        &physfn,
        format!("no virtfnN link of {pf_pci} points at {vf_pci}"),
    ))
}

/// Parses a representor's `phys_port_name` to (pf, vf): `N`, `vfN`, `pfXvfN`, `cXpfYvfN`.
pub fn parse_port_name(s: &str) -> Option<(Option<u32>, u32)> {
    if let Ok(n) = s.parse::<u32>() {
        return Some((None, n));
    }
    if let Some(n) = s.strip_prefix("vf") {
        return n.parse().ok().map(|n| (None, n));
    }
    let rest = match s.find("pf") {
        Some(0) => &s[2..],
        Some(i) if s.starts_with('c') && s[1..i].parse::<u32>().is_ok() => &s[i + 2..],
        _ => return None,
    };
    let (pf, vf) = rest.split_once("vf")?;
    Some((Some(pf.parse().ok()?), vf.parse().ok()?))
}

fn pci_function(pci: &str) -> Option<u32> {
    pci.rsplit(['.', ':']).next()?.parse().ok()
}

/// The representor netdev of a VF on the kernel (`system`) datapath: same
/// `phys_switch_id` as the PF uplink, `phys_port_name` naming this VF.
pub fn find_representor(root: &Path, vf_pci: &str) -> Result<String> {
    let _s = tracing::debug_span!("find_representor", vf_pci).entered();
    let loc = vf_location(root, vf_pci)?;
    let pf_net = root.join("bus/pci/devices").join(vf_pci).join("physfn/net");
    let mut pf_switch: Option<String> = None;
    if let Ok(rd) = fs::read_dir(&pf_net) {
        let mut cands: Vec<(bool, String)> = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if let Some(sw) = read_trim(&p.join("phys_switch_id")).filter(|s| !s.is_empty()) {
                let uplink = read_trim(&p.join("phys_port_name")).is_some_and(|n| {
                    n.strip_prefix('p')
                        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                });
                cands.push((uplink, sw));
            }
        }
        cands.sort_by_key(|(uplink, _)| !*uplink);
        pf_switch = cands.into_iter().next().map(|(_, s)| s);
    }
    let sw = pf_switch.ok_or_else(|| {
        sysfs_err(
            &pf_net,
            format!("PF {} has no netdev with a phys_switch_id", loc.pf_pci),
        )
    })?;
    let pf_func = pci_function(&loc.pf_pci);
    let class_net: PathBuf = root.join("class/net");
    let rd = fs::read_dir(&class_net).map_err(|e| sysfs_err(&class_net, e.to_string()))?;
    let mut names: Vec<_> = rd.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let p = e.path();
        if read_trim(&p.join("phys_switch_id")).as_deref() != Some(sw.as_str()) {
            continue;
        }
        let Some(pn) = read_trim(&p.join("phys_port_name")) else {
            continue;
        };
        if let Some((pf, vf)) = parse_port_name(&pn) {
            if vf == loc.vf_num && pf.is_none_or(|pf| Some(pf) == pf_func) {
                return Ok(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    Err(sysfs_err(
        &class_net,
        format!(
            "Failed getting representor port for PF {} with VF {}",
            loc.pf_pci, loc.vf_num
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn netdev(root: &Path, name: &str, sw: &str, port: &str) -> PathBuf {
        let d = root.join("devices/virtual/net").join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("phys_switch_id"), format!("{sw}\n")).unwrap();
        fs::write(d.join("phys_port_name"), format!("{port}\n")).unwrap();
        fs::create_dir_all(root.join("class/net")).unwrap();
        symlink(&d, root.join("class/net").join(name)).unwrap();
        d
    }

    /// PF 0000:03:00.1 (uplink p1 with netdev pf1), two VFs, representors in pfXvfN form,
    /// plus a decoy with another switch id.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let pci = r.join("devices/pci0000:00");
        let pf = pci.join("0000:03:00.1");
        fs::create_dir_all(pf.join("net")).unwrap();
        let pfnet = netdev(r, "pf1", "abcd", "p1");
        symlink(&pfnet, pf.join("net/pf1")).unwrap();
        fs::create_dir_all(r.join("bus/pci/devices")).unwrap();
        symlink(&pf, r.join("bus/pci/devices/0000:03:00.1")).unwrap();
        for (n, addr) in [(0, "0000:03:00.2"), (1, "0000:03:00.3")] {
            let vf = pci.join(addr);
            fs::create_dir_all(&vf).unwrap();
            symlink(&pf, vf.join("physfn")).unwrap();
            symlink(&vf, pf.join(format!("virtfn{n}"))).unwrap();
            symlink(&vf, r.join("bus/pci/devices").join(addr)).unwrap();
        }
        netdev(r, "eth_rep0", "abcd", "pf1vf0");
        netdev(r, "eth_rep1", "abcd", "pf1vf1");
        netdev(r, "other_rep1", "ffff", "pf1vf1");
        netdev(r, "wrongpf1", "abcd", "pf0vf1");
        t
    }

    #[test]
    fn finds_vf_number_and_pf() {
        let t = tree();
        let loc = vf_location(t.path(), "0000:03:00.3").unwrap();
        assert_eq!(
            loc,
            VfLocation {
                pf_pci: "0000:03:00.1".into(),
                vf_num: 1
            }
        );
    }

    #[test]
    fn finds_representor_by_switch_id_and_port_name() {
        let t = tree();
        assert_eq!(
            find_representor(t.path(), "0000:03:00.3").unwrap(),
            "eth_rep1"
        );
        assert_eq!(
            find_representor(t.path(), "0000:03:00.2").unwrap(),
            "eth_rep0"
        );
    }

    #[test]
    fn missing_device_and_non_vf_are_clear_errors() {
        let t = tree();
        let e = find_representor(t.path(), "0000:09:00.0").unwrap_err();
        assert!(
            e.to_string().contains("PCI device 0000:09:00.0 not found"),
            "{e}"
        );
        let e = find_representor(t.path(), "0000:03:00.1").unwrap_err();
        assert!(e.to_string().contains("not a VF"), "{e}");
    }

    #[test]
    fn port_name_forms() {
        assert_eq!(parse_port_name("3"), Some((None, 3)));
        assert_eq!(parse_port_name("vf7"), Some((None, 7)));
        assert_eq!(parse_port_name("pf1vf2"), Some((Some(1), 2)));
        assert_eq!(parse_port_name("c1pf0vf9"), Some((Some(0), 9)));
        assert_eq!(parse_port_name("p0"), None);
        assert_eq!(parse_port_name("pf0sf1"), None);
    }
}
