//! Network interfaces of PCI functions: which netdevs exist (`sys/class/net`), which function
//! owns each, and their attributes.
//!
//! Separate from the PCI passes because its inputs differ: the attributes come from the
//! netlink link dump wherever a record describes the netdev (one dump instead of a file per
//! attribute), and from sysfs files only where no record does.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::layout::{CLASS_NET, PCI_DEVICES};
use super::worker::{Ctx, Dir, Need, Worker};
use crate::netlink::LinkAttrs;
use crate::sysfs::attr::{self, Raw};
use crate::sysfs::fd;
use crate::sysfs::model::{NetDev, PciDevice};
use crate::sysfs::root::{LinkError, SysfsRoot};
use crate::types::{IfName, MacAddress, PciAddress};

/// Link records by netdev name.
pub(super) type Links<'a> = HashMap<&'a str, &'a LinkAttrs>;

impl Worker<'_, '_> {
    /// `class`: `sys/class/net` and its entries, listed beforehand; `links`: records standing
    /// in for netdev attribute files.
    pub(super) fn scan_netdevs(
        &mut self,
        devices: &mut [PciDevice],
        class: Option<(Dir, Vec<String>)>,
        links: &Links,
    ) -> Vec<NetDev> {
        let base = Path::new(CLASS_NET);
        let vfs: HashSet<PciAddress> = devices
            .iter()
            .filter(|d| d.physfn.is_some())
            .map(|d| d.address)
            .collect();
        let vfs = &vfs;
        let mut out = match class {
            Some((class, names)) => {
                let class = &class;
                self.par_map(names, |w, n| {
                    if let Some(nd) = w.netdev_from_record(class, &n, vfs, links) {
                        return Some(nd);
                    }
                    let link = class.rel.join(&n);
                    let c = fd::cname(&n)?;
                    let target = match w.link_target(class, &c) {
                        Ok(t) => t,
                        Err(LinkError::NotALink) => link,
                        Err(LinkError::Missing) => return None, // vanished since the readdir
                        Err(e) => {
                            w.warn(&link, e.describe("netdev link"));
                            return None;
                        }
                    };
                    w.scan_netdev(&n, &target, vfs, links)
                })
            }
            None => {
                self.warn(
                    base,
                    "directory missing; netdevs taken from each device's net/ directory",
                );
                let items = self.netdevs_from_devices(devices);
                self.par_map(items, |w, (name, target)| {
                    w.scan_netdev(&name, &target, vfs, links)
                })
            }
        };
        let pos: HashMap<PciAddress, usize> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.address, i))
            .collect();
        for nd in &out {
            if let Some(&i) = nd.device.as_ref().and_then(|a| pos.get(a)) {
                devices[i].netdevs.push(nd.name.clone());
            }
        }
        for d in devices.iter_mut() {
            d.netdevs.sort();
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The common case on a big host, without building paths: netdev `name` has a complete
    /// link record, and its plain `sys/class/net` link (`../../devices/.../<pci>/net/<name>`)
    /// names the record's parent as owner. `None` sends it the long way, which also reports
    /// whatever is odd about it.
    fn netdev_from_record(
        &self,
        class: &Dir,
        name: &str,
        vfs: &HashSet<PciAddress>,
        links: &Links,
    ) -> Option<NetDev> {
        let l = links.get(name)?;
        l.speed_mbps?;
        let mut buf = [0u8; 1024];
        let n = fd::readlink_into(&class.fd, &fd::cname(name)?, &mut buf).ok()?;
        let [dev, net, last] = plain_link_tail(&class.rel, &buf[..n])?;
        if net != b"net" || last != name.as_bytes() {
            return None;
        }
        let device: PciAddress = std::str::from_utf8(dev).ok()?.parse().ok()?;
        if !l.describes(name, &device) {
            return None;
        }
        let mut nd = NetDev::unread(name.parse().ok()?, device);
        from_link(&mut nd, l, !vfs.contains(&device));
        Some(nd)
    }

    /// One netdev; `None` for netdevs that do not belong to a PCI function (lo, bridges).
    fn scan_netdev(
        &mut self,
        name: &str,
        target: &Path,
        vfs: &HashSet<PciAddress>,
        links: &Links,
    ) -> Option<NetDev> {
        let display = Path::new(CLASS_NET).join(name);
        let Ok(ifname) = name.parse::<IfName>() else {
            self.warn(&display, "not a valid interface name; ignored");
            return None;
        };
        // Where the netdev lives decides whether we care: only netdevs of PCI functions.
        let device = pci_parent_of_netdev(target)?;
        let mut nd = NetDev::unread(ifname, device);
        let switch_port = !vfs.contains(&device);
        let link = links
            .get(name)
            .copied()
            .filter(|l| l.describes(name, &device));
        if let Some(l) = link {
            from_link(&mut nd, l, switch_port);
            if l.speed_mbps.is_some() {
                return Some(nd);
            }
        }
        match self.open_dir(target) {
            Ok(dir) if link.is_some() => nd.speed = self.read_speed(&dir),
            Ok(dir) => self.read_netdev_attrs(&dir, &mut nd, switch_port),
            Err(e) => self.warn(&display, e.describe("netdev link")),
        }
        Some(nd)
    }

    fn read_speed(&mut self, dir: &Dir) -> Option<u32> {
        // "-1" and 4294967295 both mean "unknown" depending on kernel version.
        self.attr(dir, c"speed", Need::Optional, "a speed in Mb/s", |s| {
            if s == "-1" {
                Some(None)
            } else {
                attr::parse_dec::<u32>(s).map(|v| Some(v).filter(|v| *v != u32::MAX))
            }
        })
        .flatten()
    }

    /// Fallback when `sys/class/net` is absent: read each network device's `net/` directory.
    fn netdevs_from_devices(&mut self, devices: &[PciDevice]) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for d in devices
            .iter()
            // Unknown class too: mock trees often have no `class` file.
            .filter(|d| d.present && matches!(d.ids.base_class(), Some(0x02) | None))
        {
            let net = Path::new(PCI_DEVICES)
                .join(d.address.to_string())
                .join("net");
            let Ok(dir) = self.open_dir(&net) else {
                continue;
            };
            for n in self.list(&dir, Need::Optional).unwrap_or_default() {
                let p = dir.rel.join(&n);
                out.push((n, p));
            }
        }
        out
    }

    /// `switch_ports`: also read the `phys_*` attributes. Only PF-side netdevs (uplinks and
    /// representors) need them; a VF's own netdev is never a switchdev port, and skipping
    /// three opens per VF matters on a 2048-VF host.
    fn read_netdev_attrs(&mut self, dir: &Dir, nd: &mut NetDev, switch_ports: bool) {
        let text = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        nd.ifindex = self.attr(
            dir,
            c"ifindex",
            Need::Required,
            "a decimal index",
            attr::parse_dec,
        );
        nd.mac = self.attr(dir, c"address", Need::Required, "a MAC address", |s| {
            s.parse::<MacAddress>().ok()
        });
        nd.operstate = self.attr(dir, c"operstate", Need::Optional, "text", text);
        nd.mtu = self.attr(
            dir,
            c"mtu",
            Need::Optional,
            "a decimal number",
            attr::parse_dec,
        );
        nd.speed = self.read_speed(dir);
        if !switch_ports {
            return;
        }
        nd.phys_port_name = self.attr(dir, c"phys_port_name", Need::Optional, "text", text);
        nd.phys_switch_id = self.attr(dir, c"phys_switch_id", Need::Optional, "text", text);
        nd.phys_port_id = self.attr(dir, c"phys_port_id", Need::Optional, "text", text);
    }
}

/// Reads attribute `attr` of each netdev in `names` (`sys/class/net/<name>/<attr>`), confined
/// to the root like the scan and on its threads; `None` where it is missing or unreadable.
pub fn netdev_attr(root: &SysfsRoot, names: &[&str], attr: &CStr) -> Vec<Option<String>> {
    let Ok(rootfd) = fd::open_dir_path(root.path()) else {
        return vec![None; names.len()];
    };
    let ctx = Ctx {
        root,
        rootfd,
        beneath: AtomicBool::new(true),
        walk: false,
    };
    let mut w = Worker::new(&ctx);
    w.par_map(names.to_vec(), |w, n| {
        let rel = Path::new(CLASS_NET).join(n);
        if w.ctx.beneath.load(Ordering::Relaxed) {
            let file = rel.join(attr.to_string_lossy().as_ref());
            match fd::read_beneath(&w.ctx.rootfd, &file, &mut w.buf, &mut w.closer) {
                Ok(Raw::Value(v)) => return Some(Some(v.to_string())),
                Ok(_) => return Some(None),
                Err(_) => w.ctx.beneath.store(false, Ordering::Relaxed),
            }
        }
        let v = w
            .open_dir(&rel)
            .ok()
            .and_then(|dir| w.attr(&dir, attr, Need::Optional, "text", |s| Some(s.to_string())));
        Some(v)
    })
}

/// The last three components of a relative link `target` of the plain kernel shape (leading
/// `..`s, then names only) that stays inside the root when resolved from `dir`; `None` for
/// anything else, which callers resolve the long way.
fn plain_link_tail<'t>(dir: &Path, target: &'t [u8]) -> Option<[&'t [u8]; 3]> {
    let mut ups = 0;
    let mut names: Vec<&[u8]> = Vec::with_capacity(12);
    for c in target.split(|b| *b == b'/') {
        match c {
            b".." if names.is_empty() => ups += 1,
            b"" | b"." | b".." => return None,
            _ => names.push(c),
        }
    }
    if ups > dir.components().count() || names.len() < 3 {
        return None;
    }
    let t = &names[names.len() - 3..];
    Some([t[0], t[1], t[2]])
}

/// The sysfs attributes a link record carries, with the same rules as the file reads: no
/// `phys_*` for a VF's own netdev, empty text is no value, `u32::MAX` speed is unknown.
fn from_link(nd: &mut NetDev, l: &LinkAttrs, switch_port: bool) {
    let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    nd.ifindex = Some(l.ifindex);
    nd.mac = l.address;
    nd.operstate = text(&l.operstate);
    nd.mtu = l.mtu;
    nd.speed = l.speed_mbps.flatten().filter(|v| *v != u32::MAX);
    if switch_port {
        nd.phys_port_name = text(&l.phys_port_name);
        nd.phys_switch_id = text(&l.phys_switch_id);
        nd.phys_port_id = text(&l.phys_port_id);
    }
}

/// `.../0000:3b:00.0/net/eth0` → `0000:3b:00.0`. Netdevs of virtual devices (`devices/virtual/
/// net/lo`) or of non-PCI parents yield `None`.
fn pci_parent_of_netdev(target: &Path) -> Option<PciAddress> {
    let net = target.parent()?;
    if net.file_name()? != "net" {
        return None;
    }
    net.parent()?.file_name()?.to_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_link_tails() {
        fn t(s: &str) -> Option<[&[u8]; 3]> {
            plain_link_tail(Path::new("sys/class/net"), s.as_bytes())
        }
        let tail = t("../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/net/eth0").unwrap();
        assert_eq!(tail, [&b"0000:01:00.0"[..], b"net", b"eth0"]);
        for odd in [
            "../../../../etc/net/x", // climbs out of the root
            "/sys/devices/x/net/eth0",
            "../../devices/x/../net/eth0",
            "../../devices/./x/net/eth0",
            "../../devices//x/net/eth0",
            "../../net/",
            "eth0",
        ] {
            assert_eq!(t(odd), None, "{odd}");
        }
    }
}
