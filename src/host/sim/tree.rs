//! File-level mechanics of the simulated kernel: the tree's confined access, the shapes of
//! [`crate::fixture::shape`] written into it, and the netdev attribute writes. What the PCI
//! core does on a `sriov_numvfs` write is in `numvfs.rs`, binding and probing in `bind.rs`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use crate::confined::{AccessError, Confined};
use crate::fixture::shape::Sink;
use crate::host::HostError;
use crate::types::PciAddress;

/// The simulation's private copy of a fixture at `dst`: links copied as links, special files
/// (FIFOs, sockets, device nodes) left out with a warning, and a file that cannot be read
/// copied as an empty one, so a damaged fixture still opens and its readers report the damage.
///
/// `tests/common/tree.rs` has its own `copy_tree` on purpose, not a call to this one: the tests
/// want the opposite policy (any unreadable or odd entry in a shipped fixture is a broken test
/// setup and must fail loudly, not be papered over), and sharing this function would put a
/// simulated-kernel internal into the library's public API only for the tests' sake.
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

/// The simulation's tree, every access confined to it (see [`crate::confined`]): a fixture
/// with a planted link cannot make the simulated kernel write outside its copy.
pub struct Tree<'a> {
    pub(super) c: &'a Confined,
}

pub(super) fn acc_err(e: AccessError) -> HostError {
    HostError::from_access("sim", &e)
}

/// The simulated kernel writes the fixture writer's shapes into its confined copy; files are
/// replaced atomically, as a sysfs attribute changes in one step.
impl Sink for Tree<'_> {
    type Error = HostError;

    fn dir(&self, rel: &Path) -> Result<(), HostError> {
        self.c.create_dir_all(rel).map_err(acc_err)
    }

    fn file(&self, rel: &Path, content: &[u8]) -> Result<(), HostError> {
        self.put(rel, content)
    }

    fn symlink(&self, rel: &Path, target: &Path) -> Result<(), HostError> {
        self.c.symlink(target, rel).map_err(acc_err)
    }
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

    pub(super) fn netdevs_of(&self, dev_dir: &Path) -> Vec<String> {
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
}
