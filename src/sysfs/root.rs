//! The sysfs root and the containment rules for everything read beneath it.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

use crate::confined::{AccessError, Confined};

#[derive(Debug, Error)]
pub enum SysfsError {
    #[error("sysfs root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("sysfs root {0} is not a directory")]
    NotADirectory(PathBuf),
}

/// A directory that plays the role of `/` for sysfs reads: `/` on a host, a fixture tree in tests.
///
/// The root is canonicalized once; every later path is kept *relative* to it and resolved
/// lexically, so nothing the tree contains (absolute links, `..` chains, loops) can make a read
/// leave it.
#[derive(Debug, Clone)]
pub struct SysfsRoot {
    root: PathBuf,
    /// Opened on first use and shared by clones: the descriptor every confined access
    /// resolves against (see [`super::confined`]).
    dir: std::sync::Arc<std::sync::OnceLock<Result<Confined, (i32, String)>>>,
}

impl SysfsRoot {
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, SysfsError> {
        let dir = dir.as_ref();
        let root = dir.canonicalize().map_err(|source| SysfsError::Root {
            path: dir.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(SysfsError::NotADirectory(root));
        }
        Ok(Self {
            root,
            dir: Default::default(),
        })
    }

    /// The host's own `/`.
    pub fn host() -> Self {
        Self {
            root: PathBuf::from("/"),
            dir: Default::default(),
        }
    }

    pub(crate) fn confined_handle(&self) -> Result<&Confined, AccessError> {
        let r = self.dir.get_or_init(|| {
            Confined::open(&self.root).map_err(|e| (e.raw_os_error().unwrap_or(0), e.to_string()))
        });
        r.as_ref().map_err(|(errno, _)| AccessError::Io {
            path: self.root.display().to_string(),
            source: io::Error::from_raw_os_error(*errno),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// True when this is the live system, where netlink and udev describe the same devices.
    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    pub(crate) fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }
}

/// How a symlink failed to resolve to something usable inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkError {
    Missing,
    NotALink,
    Escapes(String),
    Loop,
    Io(String),
}

impl LinkError {
    pub(crate) fn describe(&self, what: &str) -> String {
        match self {
            LinkError::Missing => format!("{what} is missing or dangling"),
            LinkError::NotALink => format!("{what} should be a symlink but is not"),
            LinkError::Escapes(t) => {
                format!("{what} points outside the sysfs root ({t}); not followed")
            }
            LinkError::Loop => format!("{what} is a symlink loop; not followed"),
            LinkError::Io(e) => format!("{what} unreadable: {e}"),
        }
    }
}

impl LinkError {
    pub(crate) fn from_readlink(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT) => LinkError::Missing,
            Some(libc::EINVAL) => LinkError::NotALink,
            _ => LinkError::Io(e.to_string()),
        }
    }

    pub(crate) fn from_open(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT) => LinkError::Missing,
            Some(libc::EXDEV) => LinkError::Escapes("resolves beyond the root".into()),
            Some(libc::ELOOP) => LinkError::Loop,
            _ => LinkError::Io(e.to_string()),
        }
    }
}

/// Resolves symlink `link` (root-relative) with target `target` purely lexically: `..` pops,
/// absolute targets restart at the root (in a fixture too: a tree captured or mocked with
/// absolute links, as libvirt's PCI mock writes them, means its own root, as the kernel's
/// `RESOLVE_IN_ROOT` would take it), and climbing above the root is refused.
pub(crate) fn lexical(link: &Path, target: &Path) -> Result<PathBuf, LinkError> {
    let mut out = link.parent().map(Path::to_path_buf).unwrap_or_default();
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                out = PathBuf::new();
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(LinkError::Escapes(target.display().to_string()));
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// Most links in sysfs are chains of at most two hops; 8 means "something is looping".
const MAX_HOPS: usize = 8;

/// Resolves links relative to a root, caching which directories are known to be real
/// directories (not symlinks) so each ancestor is `lstat`ed once per scan, not once per file.
#[derive(Debug)]
pub(crate) struct Resolver<'r> {
    pub(crate) root: &'r SysfsRoot,
    verified: HashSet<PathBuf>,
}

impl<'r> Resolver<'r> {
    pub(crate) fn new(root: &'r SysfsRoot) -> Self {
        let mut verified = HashSet::new();
        verified.insert(PathBuf::new());
        Self { root, verified }
    }

    /// Reads the link at `link` (relative) and returns its target as a relative, normalized
    /// path, without touching the target. Targets that climb above the root are refused.
    pub(crate) fn read_link(&self, link: &Path) -> Result<PathBuf, LinkError> {
        let target = match std::fs::read_link(self.root.abs(link)) {
            Ok(t) => t,
            Err(e) => return Err(LinkError::from_readlink(&e)),
        };
        lexical(link, &target)
    }

    /// Follows `path` (a symlink or a directory) to a real directory inside the root.
    ///
    /// Uses `readlink` as the probe: EINVAL proves the path exists and is not a symlink, which
    /// saves an `lstat` per device on big hosts. Whether it really is a directory shows up on
    /// the first attribute read (ENOTDIR becomes a warning there).
    pub(crate) fn resolve_dir(&mut self, path: &Path) -> Result<PathBuf, LinkError> {
        let mut cur = path.to_path_buf();
        for _ in 0..MAX_HOPS {
            match self.read_link(&cur) {
                Ok(next) => cur = next,
                Err(LinkError::NotALink) => {
                    self.verify_ancestors(&cur)?;
                    self.verified.insert(cur.clone());
                    return Ok(cur);
                }
                Err(e) => return Err(e),
            }
        }
        Err(LinkError::Loop)
    }

    /// Ensures no ancestor of `rel` is a symlink leading out of the root. In a real sysfs none
    /// of them is a symlink at all, so this costs one `lstat` per directory the first time.
    fn verify_ancestors(&mut self, rel: &Path) -> Result<(), LinkError> {
        let mut pending = Vec::new();
        let mut p = rel.parent();
        while let Some(a) = p {
            if self.verified.contains(a) {
                break;
            }
            pending.push(a.to_path_buf());
            p = a.parent();
        }
        for a in pending.into_iter().rev() {
            let abs = self.root.abs(&a);
            let meta = std::fs::symlink_metadata(&abs).map_err(|e| LinkError::Io(e.to_string()))?;
            if meta.file_type().is_symlink() {
                let canon = abs.canonicalize().map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) => LinkError::Loop,
                    _ => LinkError::Io(e.to_string()),
                })?;
                if !canon.starts_with(self.root.path()) {
                    return Err(LinkError::Escapes(canon.display().to_string()));
                }
            }
            self.verified.insert(a);
        }
        Ok(())
    }
}

/// Spells a root-relative path the way the operator would see it on a host: `/sys/...`.
pub(crate) fn display_rel(rel: &Path) -> String {
    format!("/{}", rel.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn refuses_escapes_and_loops() {
        let t = tempfile::tempdir().unwrap();
        let root = SysfsRoot::new(t.path()).unwrap();
        std::fs::create_dir_all(t.path().join("sys/devices/a")).unwrap();
        std::fs::create_dir_all(t.path().join("sys/bus")).unwrap();
        symlink("../devices/a", t.path().join("sys/bus/good")).unwrap();
        symlink("../../../../../etc", t.path().join("sys/bus/up")).unwrap();
        symlink("/etc", t.path().join("sys/bus/abs")).unwrap();
        symlink("loop2", t.path().join("sys/bus/loop1")).unwrap();
        symlink("loop1", t.path().join("sys/bus/loop2")).unwrap();
        symlink("/", t.path().join("sys/devices/escape")).unwrap();
        let mut r = Resolver::new(&root);
        assert_eq!(
            r.resolve_dir(Path::new("sys/bus/good")).unwrap(),
            Path::new("sys/devices/a")
        );
        assert!(matches!(
            r.resolve_dir(Path::new("sys/bus/up")),
            Err(LinkError::Escapes(_))
        ));
        // Absolute targets mean the tree's own root: `/etc` is `<root>/etc`, absent here.
        assert_eq!(
            r.resolve_dir(Path::new("sys/bus/abs")),
            Err(LinkError::Missing)
        );
        symlink("/sys/devices/a", t.path().join("sys/bus/abs_in")).unwrap();
        assert_eq!(
            r.resolve_dir(Path::new("sys/bus/abs_in")).unwrap(),
            Path::new("sys/devices/a")
        );
        assert_eq!(
            r.resolve_dir(Path::new("sys/bus/loop1")),
            Err(LinkError::Loop)
        );
        // A directory reached *through* a symlinked ancestor that leaves the root.
        assert!(matches!(
            r.resolve_dir(Path::new("sys/devices/escape/etc")),
            Err(LinkError::Escapes(_))
        ));
        assert_eq!(
            r.resolve_dir(Path::new("sys/bus/none")),
            Err(LinkError::Missing)
        );
    }
}
