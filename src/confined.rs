//! The one way in: every file vifman reads, writes, creates or removes under a sysfs root (the
//! scanner's hot path aside, which uses the same `openat2` rules in `sysfs::fd`) goes through a
//! [`Confined`] handle on that root. It sits below `sysfs`, `netlink` and `host`, which all use it.
//!
//! Paths are resolved by the kernel with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! against a descriptor of the root: `..` cannot climb above it and an absolute symlink inside
//! the tree (libvirt's PCI mock writes them) means "from the root", exactly as it would on the
//! host the tree was taken from. The last component is never followed (`O_NOFOLLOW`): sysfs
//! attribute files are never symlinks, so one that is was planted, and writing through it is
//! how a fixture tree could make a root-owned process overwrite a file elsewhere. Opens are
//! `O_NONBLOCK` and the file type is checked before any read or write, so a FIFO, socket or
//! device node where an attribute should be is an error, not a hang.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

mod dir;
mod error;
pub use dir::ConfinedDir;
pub use error::AccessError;
use error::{kind_name, show};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags};

/// See [`Confined::identity`].
pub type FileIdentity = (u64, u64, i64, i64);

/// A descriptor on a root directory, through which every access beneath it is made.
#[derive(Debug)]
pub struct Confined {
    fd: OwnedFd,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// How often a lookup is retried when the kernel reports a racing rename.
const EAGAIN_RETRIES: u32 = 64;

/// `openat2(dir, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, the one way vifman
/// resolves a path under a root (the scanner's `sysfs::fd` uses it too).
///
/// The kernel answers EAGAIN when a `rename` anywhere on the system raced a `..` step of the
/// lookup, because it can then no longer prove the walk stayed inside the root. sysfs links
/// are full of `..` (`class/net/X -> ../../devices/...`) and a busy host renames files all the
/// time (every atomic save does), so this is routine, not an attack: retry, a bounded number
/// of times, and only then report it.
pub(crate) fn openat2_in_root(
    dir: impl AsFd,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> rustix::io::Result<OwnedFd> {
    let dir = dir.as_fd();
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags | OFlags::CLOEXEC, mode, RESOLVE) {
            Err(rustix::io::Errno::AGAIN) if tries < EAGAIN_RETRIES => {
                tries += 1;
                if tries > 8 {
                    std::thread::yield_now();
                }
            }
            r => return r,
        }
    }
}

/// `rel` as a clean relative path: a leading `/` means the root; `.` components go; `..` is
/// refused rather than interpreted (callers build paths from validated names).
fn clean(rel: &Path) -> Result<PathBuf, AccessError> {
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(AccessError::BadPath { path: show(rel) })
            }
        }
    }
    Ok(out)
}

fn split(rel: &Path) -> Result<(PathBuf, &OsStr), AccessError> {
    let name = rel
        .file_name()
        .ok_or_else(|| AccessError::BadPath { path: show(rel) })?;
    Ok((clean(rel.parent().unwrap_or(Path::new("")))?, name))
}

impl Confined {
    pub fn open(root: &Path) -> io::Result<Confined> {
        let fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Confined { fd })
    }

    fn openat2(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let p: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        // openat2 insists on a zero mode unless it creates.
        Ok(openat2_in_root(&self.fd, p, flags, Mode::empty())?)
    }

    /// The directory `rel`, for `*at` calls on its entries.
    fn dir(&self, rel: &Path) -> Result<OwnedFd, AccessError> {
        self.openat2(rel, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| AccessError::io(rel, e))
    }

    /// Opens the existing regular file `rel` (last component not followed, never blocking).
    fn open_file(&self, rel: &Path, flags: OFlags) -> Result<std::fs::File, AccessError> {
        let rel = &clean(rel)?;
        let fd = match self.openat2(rel, flags | OFlags::NOFOLLOW | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) && self.is_symlink(rel) => {
                return Err(AccessError::Symlink { path: show(rel) })
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                // A socket (or a FIFO opened for writing with no reader).
                return Err(AccessError::NotRegular {
                    path: show(rel),
                    kind: self.kind_of(rel).unwrap_or("special file"),
                });
            }
            Err(e) => return Err(AccessError::io(rel, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| AccessError::io(rel, e.into()))?;
        let t = FileType::from_raw_mode(st.st_mode);
        if t != FileType::RegularFile {
            return Err(AccessError::NotRegular {
                path: show(rel),
                kind: kind_name(t),
            });
        }
        Ok(std::fs::File::from(fd))
    }

    fn is_symlink(&self, rel: &Path) -> bool {
        self.kind_of(rel) == Some("symlink")
    }

    /// The type of `rel` itself (not followed), if it exists.
    pub fn kind_of(&self, rel: &Path) -> Option<&'static str> {
        let rel = clean(rel).ok()?;
        let (parent, name) = split(&rel).ok()?;
        let d = self.dir(&parent).ok()?;
        let st = rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some(kind_name(FileType::from_raw_mode(st.st_mode)))
    }

    /// (inode, size, mtime s, mtime ns) of `rel` itself: changes whenever the file is
    /// replaced or rewritten, so a cache keyed by it is never stale, also across processes.
    pub fn identity(&self, rel: &Path) -> Result<FileIdentity, AccessError> {
        let rel = &clean(rel)?;
        let (parent, name) = split(rel)?;
        let d = self.dir(&parent)?;
        let st = rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| AccessError::io(rel, e.into()))?;
        Ok((
            st.st_ino,
            st.st_size as u64,
            st.st_mtime as i64,
            st.st_mtime_nsec as i64,
        ))
    }

    /// `lstat` of `rel` (never followed): what a view over the tree (the FUSE mount) reports
    /// for it, resolved under the same rules as every other access.
    pub fn metadata(&self, rel: &Path) -> Result<rustix::fs::Stat, AccessError> {
        let rel = &clean(rel)?;
        if rel.as_os_str().is_empty() {
            return rustix::fs::fstat(&self.fd).map_err(|e| AccessError::io(rel, e.into()));
        }
        let (parent, name) = split(rel)?;
        let d = self.dir(&parent)?;
        rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| AccessError::io(rel, e.into()))
    }

    pub fn exists(&self, rel: &Path) -> bool {
        self.kind_of(rel).is_some()
    }

    /// Reads regular file `rel`, at most `limit` bytes (more is an error: sysfs attributes are
    /// a page at most, and a planted multi-gigabyte file must not be slurped).
    pub fn read(&self, rel: &Path, limit: usize) -> Result<Vec<u8>, AccessError> {
        let _span = tracing::trace_span!("confined_read", path = %rel.display()).entered();
        let f = self.open_file(rel, OFlags::RDONLY)?;
        read_limited(f, rel, limit)
    }

    /// [`Confined::read`] as text, trailing whitespace trimmed (how sysfs values are meant).
    pub fn read_attr(&self, rel: &Path) -> Result<String, AccessError> {
        let b = self.read(rel, ATTR_LIMIT)?;
        Ok(String::from_utf8_lossy(&b).trim_end().to_string())
    }

    /// Writes `bytes` to the existing regular file `rel` in one `write(2)`, as sysfs wants.
    pub fn write(&self, rel: &Path, bytes: &[u8]) -> Result<(), AccessError> {
        let _span = tracing::debug_span!("confined_write", path = %rel.display()).entered();
        let mut f = self.open_file(rel, OFlags::WRONLY)?;
        f.write_all(bytes).map_err(|e| AccessError::io(rel, e))
    }

    /// The target of symlink `rel` (the link itself is read, never followed).
    pub fn readlink(&self, rel: &Path) -> Result<PathBuf, AccessError> {
        let rel = &clean(rel)?;
        let (parent, name) = split(rel)?;
        let d = self.dir(&parent)?;
        let t = rustix::fs::readlinkat(&d, name, Vec::new())
            .map_err(|e| AccessError::io(rel, e.into()))?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// The last component of symlink `rel`'s target: how sysfs names a driver or a group.
    pub fn link_name(&self, rel: &Path) -> Option<String> {
        let t = self.readlink(rel).ok()?;
        t.file_name()?.to_str().map(String::from)
    }

    /// Entry names of directory `rel` (no `.`/`..`), unsorted.
    pub fn list(&self, rel: &Path) -> Result<Vec<String>, AccessError> {
        let rel = &clean(rel)?;
        let fd = self
            .openat2(rel, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| AccessError::io(rel, e))?;
        let dir = rustix::fs::Dir::new(fd).map_err(|e| AccessError::io(rel, e.into()))?;
        let mut out = Vec::new();
        for ent in dir {
            let ent = ent.map_err(|e| AccessError::io(rel, e.into()))?;
            let b = ent.file_name().to_bytes();
            if b != b"." && b != b".." {
                out.push(String::from_utf8_lossy(b).into_owned());
            }
        }
        Ok(out)
    }

    /// Creates directory `rel` and its missing parents (existing ones are fine).
    pub fn create_dir_all(&self, rel: &Path) -> Result<(), AccessError> {
        let rel = clean(rel)?;
        let mut cur = PathBuf::new();
        for c in rel.components() {
            let d = self.dir(&cur)?;
            cur.push(c);
            match rustix::fs::mkdirat(&d, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(AccessError::io(&cur, e.into())),
            }
        }
        Ok(())
    }

    /// Creates (or replaces) the symlink `rel` pointing at `target`.
    pub fn symlink(&self, target: &Path, rel: &Path) -> Result<(), AccessError> {
        let rel = &clean(rel)?;
        let (parent, name) = split(rel)?;
        self.create_dir_all(&parent)?;
        let d = self.dir(&parent)?;
        let _ = rustix::fs::unlinkat(&d, name, AtFlags::empty());
        rustix::fs::symlinkat(target, &d, name).map_err(|e| AccessError::io(rel, e.into()))
    }

    /// Removes file or symlink `rel` (a missing one is fine).
    pub fn remove_file(&self, rel: &Path) -> Result<(), AccessError> {
        self.remove(rel, false)
    }

    /// Removes `rel` and everything below it, never following a symlink (a link is removed,
    /// not its target). A missing `rel` is fine.
    pub fn remove_all(&self, rel: &Path) -> Result<(), AccessError> {
        self.remove(rel, true)
    }

    fn remove(&self, rel: &Path, recursive: bool) -> Result<(), AccessError> {
        let rel = &clean(rel)?;
        let (parent, name) = split(rel)?;
        let d = match self.dir(&parent) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        if recursive {
            return remove_entry(&d, name, rel);
        }
        match rustix::fs::unlinkat(&d, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(AccessError::io(rel, e.into())),
        }
    }

    /// Moves `from` (any kind, not followed) to `to`, creating `to`'s missing parents; both
    /// stay beneath the root. An existing `to` is replaced as rename(2) does.
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), AccessError> {
        let (from, to) = (&clean(from)?, &clean(to)?);
        let (fp, fname) = split(from)?;
        let (tp, tname) = split(to)?;
        self.create_dir_all(&tp)?;
        let (fd, td) = (self.dir(&fp)?, self.dir(&tp)?);
        rustix::fs::renameat(&fd, fname, &td, tname).map_err(|e| AccessError::io(from, e.into()))
    }

    /// Replaces regular file `rel` (creating it if missing) atomically: readers see the old or
    /// the new content, never a torn file. Fills a spare next to it, then swaps the two names
    /// with `renameat2(RENAME_EXCHANGE)`; a crash mid-write only damages the spare. A symlink
    /// at `rel` or at the spare is refused, never written through.
    pub fn replace(&self, rel: &Path, bytes: &[u8]) -> Result<(), AccessError> {
        let rel = &clean(rel)?;
        let (parent, name) = split(rel)?;
        self.create_dir_all(&parent)?;
        let d = self.dir(&parent)?;
        let mut spare_name = std::ffi::OsString::from(".");
        spare_name.push(name);
        spare_name.push(".spare");
        let spare_rel = parent.join(&spare_name);
        let target_kind = match rustix::fs::statat(&d, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
            Err(rustix::io::Errno::NOENT) => None,
            Err(e) => return Err(AccessError::io(rel, e.into())),
        };
        match target_kind {
            None | Some(FileType::RegularFile) => {}
            Some(FileType::Symlink) => return Err(AccessError::Symlink { path: show(rel) }),
            Some(t) => {
                return Err(AccessError::NotRegular {
                    path: show(rel),
                    kind: kind_name(t),
                })
            }
        }
        {
            // Overwrite, then trim: no O_TRUNC, because ext4 treats truncate-to-zero-and-
            // rewrite as a replace and flushes it on close (auto_da_alloc).
            let fd = rustix::fs::openat(
                &d,
                &spare_name,
                OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .map_err(|e| match e {
                rustix::io::Errno::LOOP => AccessError::Symlink {
                    path: show(&spare_rel),
                },
                e => AccessError::io(&spare_rel, e.into()),
            })?;
            let st = rustix::fs::fstat(&fd).map_err(|e| AccessError::io(&spare_rel, e.into()))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(AccessError::NotRegular {
                    path: show(&spare_rel),
                    kind: kind_name(FileType::from_raw_mode(st.st_mode)),
                });
            }
            let mut f = std::fs::File::from(fd);
            f.write_all(bytes)
                .and_then(|()| f.set_len(bytes.len() as u64))
                .map_err(|e| AccessError::io(&spare_rel, e))?;
        }
        let swapped = target_kind.is_some()
            && rustix::fs::renameat_with(&d, &spare_name, &d, name, RenameFlags::EXCHANGE).is_ok();
        if !swapped {
            // New file, or a filesystem without RENAME_EXCHANGE: a plain atomic rename.
            rustix::fs::renameat(&d, &spare_name, &d, name)
                .map_err(|e| AccessError::io(rel, e.into()))?;
        }
        Ok(())
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn remove_entry(dir: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), AccessError> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(AccessError::io(rel, e.into())),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| AccessError::io(rel, e.into()))?;
        let mut names = Vec::new();
        {
            let dup = rustix::io::dup(&sub).map_err(|e| AccessError::io(rel, e.into()))?;
            let it = rustix::fs::Dir::new(dup).map_err(|e| AccessError::io(rel, e.into()))?;
            for ent in it {
                let ent = ent.map_err(|e| AccessError::io(rel, e.into()))?;
                let b = ent.file_name().to_bytes();
                if b != b"." && b != b".." {
                    names.push(OsStr::from_bytes(b).to_os_string());
                }
            }
        }
        for n in names {
            remove_entry(&sub, &n, &rel.join(&n))?;
        }
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(AccessError::io(rel, e.into())),
        }
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(AccessError::io(rel, e.into())),
        }
    }
}

/// A sysfs attribute is at most a page; 64 KiB leaves room for fixture quirks.
pub const ATTR_LIMIT: usize = 64 * 1024;

/// Reads the opened file `f` (the file `rel`), at most `limit` bytes (more is an error).
fn read_limited(f: std::fs::File, rel: &Path, limit: usize) -> Result<Vec<u8>, AccessError> {
    let mut buf = Vec::new();
    let n = f
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AccessError::io(rel, e))?;
    if n > limit {
        return Err(AccessError::TooLarge {
            path: show(rel),
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
#[path = "confined_tests.rs"]
mod tests;
