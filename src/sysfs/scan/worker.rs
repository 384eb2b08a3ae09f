//! A scanner's per-thread state and the reads every pass of the scan shares.
//!
//! Every pass (PCI, SR-IOV, IOMMU, netdev) needs the same few things: open a directory without
//! leaving the root (with `openat2` where the kernel has it, lexical resolution where not),
//! read an attribute and turn whatever is odd about it into a [`Warning`] naming the file, and
//! read a link's basename cheaply. They live here, on one [`Worker`] per thread, so those
//! rules are the same for every kind of kernel object.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sysfs::attr::{Raw, ATTR_BUF};
use crate::sysfs::fd;
use crate::sysfs::root::{display_rel, lexical, LinkError, Resolver, SysfsRoot};
use crate::sysfs::warning::Warning;
use crate::types::{DriverName, PciAddress};

/// What every worker thread shares.
pub(super) struct Ctx<'r> {
    pub(super) root: &'r SysfsRoot,
    pub(super) rootfd: OwnedFd,
    /// `openat2(RESOLVE_IN_ROOT)` works here (Linux ≥ 5.6 and not filtered by seccomp).
    pub(super) beneath: AtomicBool,
    /// Find device directories by walking down from the host bridges (see `scan_pci`).
    pub(super) walk: bool,
}

/// An open directory and its root-relative path (for warnings and link resolution).
pub(super) struct Dir {
    pub(super) fd: OwnedFd,
    pub(super) rel: PathBuf,
}

/// Whether a file's absence is itself news: a device without `vendor` is damaged, one
/// without `driver_override` is just an older kernel.
pub(super) enum Need {
    Required,
    Optional,
}

/// One per scanner thread: its read buffer, warnings and deferred closes are its own, so
/// threads share nothing mutable but the `openat2` verdict.
pub(super) struct Worker<'c, 'r> {
    pub(super) ctx: &'c Ctx<'r>,
    /// Only used where `openat2` is unavailable: lexical resolution plus ancestor checks.
    pub(super) res: Resolver<'r>,
    pub(super) buf: Vec<u8>,
    pub(super) warnings: Vec<Warning>,
    pub(super) closer: fd::Closer,
}

impl<'c, 'r> Worker<'c, 'r> {
    pub(super) fn new(ctx: &'c Ctx<'r>) -> Self {
        Self {
            ctx,
            res: Resolver::new(ctx.root),
            buf: vec![0; ATTR_BUF],
            warnings: Vec::new(),
            closer: fd::Closer::default(),
        }
    }

    pub(super) fn warn(&mut self, rel: &Path, msg: impl Into<String>) {
        self.warnings.push(Warning::new(display_rel(rel), msg));
    }

    /// Opens directory `rel` (symlinks followed, but never out of the root).
    pub(super) fn open_dir(&mut self, rel: &Path) -> Result<Dir, LinkError> {
        if self.ctx.beneath.load(Ordering::Relaxed) {
            match fd::open_dir_beneath(&self.ctx.rootfd, rel) {
                Ok(fd) => {
                    return Ok(Dir {
                        fd,
                        rel: rel.to_path_buf(),
                    })
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => {
                    self.ctx.beneath.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(LinkError::from_open(&e)),
            }
        }
        let real = self.res.resolve_dir(rel)?;
        match fd::open_dir_path(&self.ctx.root.abs(&real)) {
            Ok(fd) => Ok(Dir { fd, rel: real }),
            Err(e) => Err(LinkError::from_open(&e)),
        }
    }

    pub(super) fn list(&mut self, dir: &Dir, need: Need) -> Option<Vec<String>> {
        self.list_sub(dir, c".", need)
    }

    pub(super) fn list_sub(&mut self, dir: &Dir, sub: &CStr, need: Need) -> Option<Vec<String>> {
        match fd::list_at(&dir.fd, sub) {
            Ok(mut names) => {
                names.sort();
                Some(names)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if let Need::Required = need {
                    let rel = dir.rel.join(sub.to_string_lossy().as_ref());
                    self.warn(&rel, "directory missing");
                }
                None
            }
            Err(e) => {
                let rel = dir.rel.join(sub.to_string_lossy().as_ref());
                self.warn(&rel, format!("cannot list directory: {e}"));
                None
            }
        }
    }

    /// Opens and lists a directory given by root-relative path.
    pub(super) fn open_and_list(&mut self, rel: &Path, need: Need) -> Option<(Dir, Vec<String>)> {
        match self.open_dir(rel) {
            Ok(d) => {
                let names = self.list(&d, Need::Optional)?;
                Some((d, names))
            }
            Err(LinkError::Missing) => {
                if let Need::Required = need {
                    self.warn(rel, "directory missing");
                }
                None
            }
            Err(e) => {
                self.warn(rel, e.describe("directory"));
                None
            }
        }
    }

    /// Reads and parses one attribute. Missing optional attributes and "no value" errors are
    /// silent; everything else unexpected becomes a warning naming the file.
    pub(super) fn attr<T>(
        &mut self,
        dir: &Dir,
        name: &CStr,
        need: Need,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let msg = match fd::read_at_deferred(&dir.fd, name, &mut self.buf, &mut self.closer) {
            // Empty optional attributes are how dumps record "driver returned an error".
            Raw::Value("") if matches!(need, Need::Optional) => return None,
            Raw::Value(s) => match parse(s) {
                Some(v) => return Some(v),
                None => format!("unexpected content {:?}, expected {expected}", clip(s)),
            },
            Raw::Missing => match need {
                Need::Required => "missing".to_string(),
                Need::Optional => return None,
            },
            Raw::NoValue => return None,
            Raw::Failed(e) => format!("unreadable: {e}"),
        };
        let rel = dir.rel.join(name.to_string_lossy().as_ref());
        self.warn(&rel, msg);
        None
    }

    /// Target of link `name` in `dir`, resolved lexically and checked to stay in the root.
    pub(super) fn link_target(&self, dir: &Dir, name: &CStr) -> Result<PathBuf, LinkError> {
        let t = fd::readlink_at(&dir.fd, name).map_err(|e| LinkError::from_readlink(&e))?;
        let link = dir.rel.join(name.to_string_lossy().as_ref());
        lexical(&link, &t)
    }

    /// Basename of the target of link `name` in `dir`, checked like [`Self::link_target`] but
    /// without building paths: this runs four times per PCI function.
    pub(super) fn link_basename(&self, dir: &Dir, name: &CStr) -> Result<String, LinkError> {
        let mut buf = [0u8; 1024];
        let n =
            fd::readlink_into(&dir.fd, name, &mut buf).map_err(|e| LinkError::from_readlink(&e))?;
        if let Some(b) = lexical_basename(&dir.rel, &buf[..n]) {
            return b.map(str::to_string);
        }
        let t = self.link_target(dir, name)?;
        t.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| LinkError::Escapes(t.display().to_string()))
    }

    /// Basename of a link; a missing link is `None` without a warning (unbound driver, no
    /// IOMMU), anything else wrong with it is a warning.
    pub(super) fn link_name(&mut self, dir: &Dir, name: &CStr) -> Option<String> {
        let r = self.link_basename(dir, name);
        match r {
            Ok(n) => Some(n),
            Err(LinkError::Missing) => None,
            Err(e) => {
                let n = name.to_string_lossy();
                let msg = e.describe(&format!("{n} link"));
                self.warn(&dir.rel.join(n.as_ref()), msg);
                None
            }
        }
    }

    /// A driver name read from `rel` (a `driver` link's target, a `drivers/` entry), typed
    /// here once. A name [`DriverName`] refuses is a warning on `rel`, so the device is still
    /// listed and shows why its driver is blank, instead of vanishing or carrying a name the
    /// engine could not act on.
    pub(super) fn driver_name(&mut self, rel: &Path, what: &str, n: &str) -> Option<DriverName> {
        match DriverName::new(n) {
            Ok(d) => Some(d),
            Err(e) => {
                self.warn(rel, format!("{what}{e}"));
                None
            }
        }
    }

    pub(super) fn link_addr(&mut self, dir: &Dir, name: &CStr) -> Option<PciAddress> {
        let n = self.link_name(dir, name)?;
        match n.parse() {
            Ok(a) => Some(a),
            Err(e) => {
                let rel = dir.rel.join(name.to_string_lossy().as_ref());
                self.warn(&rel, format!("link target is not a PCI address: {e}"));
                None
            }
        }
    }

    pub(super) fn exists(&self, dir: &Dir, name: &CStr) -> bool {
        !matches!(fd::read_at(&dir.fd, name, &mut [0u8; 64]), Raw::Missing)
    }
}

/// The last component of `target` (a link's text) resolved lexically from directory `dir`,
/// as [`lexical`] would give it, from the bytes alone: `Some(Err)` when it climbs out of the
/// root, `None` when the answer needs the full path (the target ends in `..` or `.`).
fn lexical_basename<'t>(dir: &Path, target: &'t [u8]) -> Option<Result<&'t str, LinkError>> {
    let escapes = || {
        Some(Err(LinkError::Escapes(
            String::from_utf8_lossy(target).into_owned(),
        )))
    };
    let mut depth = dir.components().count();
    if target.first() == Some(&b'/') {
        depth = 0;
    }
    let mut last = None;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if depth == 0 {
                    return escapes();
                }
                depth -= 1;
                last = None;
            }
            _ => {
                depth += 1;
                last = Some(c);
            }
        }
    }
    match target.split(|b| *b == b'/').next_back() {
        Some(b"" | b"." | b"..") => None,
        _ => last.and_then(|c| std::str::from_utf8(c).ok()).map(Ok),
    }
}

/// Keeps warnings about garbage files one line long.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-level fast path must agree with the path-based resolution it shortcuts.
    #[test]
    fn lexical_basename_agrees_with_lexical() {
        let dirs = [
            "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0",
            "sys",
            "",
        ];
        let targets = [
            "../../../bus/pci/drivers/iavf",
            "../../../../bus/pci/drivers/ghost",
            "../0000:01:02.0",
            "../../../kernel/iommu_groups/7",
            "../../../../../../etc",
            "/etc",
            "/sys/bus/pci/drivers/igb",
            "iommu_group",
            "./a/./b",
            "a//b",
            "x/..",
            "x/.",
            "x/",
            "..",
            "",
        ];
        for d in dirs {
            for t in targets {
                let dir = Path::new(d);
                let slow = lexical(&dir.join("link"), Path::new(t)).and_then(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .ok_or_else(|| LinkError::Escapes(p.display().to_string()))
                });
                match lexical_basename(dir, t.as_bytes()) {
                    None => {}
                    Some(Ok(b)) => assert_eq!(slow.ok().as_deref(), Some(b), "{d} {t}"),
                    Some(Err(e)) => assert_eq!(
                        slow.err().map(|e| e.describe("x")),
                        Some(e.describe("x")),
                        "{d} {t}"
                    ),
                }
            }
        }
    }
}
