//! fd-relative file access, the hot path of a scan.
//!
//! Opening `/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:02.0/vendor` by full path makes the
//! kernel walk a dozen components for every attribute. A scan instead opens each device
//! directory once (with `openat2(RESOLVE_IN_ROOT)`, so the kernel itself guarantees the walk
//! never leaves the sysfs root) and reads attributes relative to it. The calls go through
//! `rustix`, which checks results and hands back `OwnedFd`s; the one `unsafe` left is
//! `close_range(2)`, which rustix does not wrap.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::attr::{classify, Raw};

/// Opens a directory by absolute path without following a final symlink (`O_PATH`: no read
/// permission needed, usable only as a base for `*at` calls).
pub(crate) fn open_dir_path(abs: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::open(abs, flags, Mode::empty())?)
}

/// Opens directory `rel` beneath `root`, following symlinks only while they stay beneath it:
/// an escaping link gives EXDEV, a loop ELOOP. ENOSYS on kernels before 5.6.
pub(crate) fn open_dir_beneath(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(openat2_beneath(root, rel, flags)?)
}

/// `openat2(root, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` stops at the root
/// and absolute links mean the root, as for every other access (see [`crate::confined`]).
fn openat2_beneath(root: &OwnedFd, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    crate::confined::openat2_in_root(root, rel, flags, Mode::empty())
}

/// Opens entry `name` of `dir` as a directory base for `*at` calls, refusing to follow it if it
/// is a symlink (so nothing outside the already-confined `dir` is reached).
pub(crate) fn open_subdir(dir: &OwnedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// Reads the file at `rel` beneath `root` in one open (links on the way followed only while
/// they stay beneath it, the file itself not followed); ENOSYS before Linux 5.6, EPERM where
/// seccomp filters `openat2`, so the caller can fall back.
pub(crate) fn read_beneath<'a>(
    root: &OwnedFd,
    rel: &Path,
    buf: &'a mut [u8],
    closer: &mut Closer,
) -> io::Result<Raw<'a>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match openat2_beneath(root, rel, flags) {
        Ok(fd) => Ok(read_then_defer(fd, buf, closer)),
        Err(e @ (Errno::NOSYS | Errno::PERM)) => Err(e.into()),
        Err(e) => Ok(classify(e.into())),
    }
}
/// One read of an opened attribute file, whose close goes to `closer`.
fn read_then_defer<'a>(fd: OwnedFd, buf: &'a mut [u8], closer: &mut Closer) -> Raw<'a> {
    let mut f = File::from(fd);
    let raw = match f.read(buf) {
        // Only an empty or failed read can come from something that is not an attribute
        // file; the file type is checked then, not on every read.
        Ok(0) => special(&f).unwrap_or_else(|| super::attr::decode(buf, 0)),
        Ok(n) => super::attr::decode(buf, n),
        Err(e) => special(&f).unwrap_or_else(|| classify(e)),
    };
    closer.defer(f.into());
    raw
}

/// A FIFO, socket or device node where an attribute file should be: say so.
fn special(f: &File) -> Option<Raw<'static>> {
    use std::os::unix::fs::FileTypeExt;
    let t = f.metadata().ok()?.file_type();
    let kind = if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        return None;
    };
    Some(Raw::Failed(format!(
        "is a {kind}, not an attribute file; skipped"
    )))
}

/// Reads attribute `name` of directory `dir` with one openat/read/close.
pub(crate) fn read_at<'a>(dir: &OwnedFd, name: &CStr, buf: &'a mut [u8]) -> Raw<'a> {
    read_at_deferred(dir, name, buf, &mut Closer::default())
}

/// [`read_at`], leaving the close to `closer`.
pub(crate) fn read_at_deferred<'a>(
    dir: &OwnedFd,
    name: &CStr,
    buf: &'a mut [u8],
    closer: &mut Closer,
) -> Raw<'a> {
    // O_NONBLOCK: a FIFO planted where an attribute should be opens at once (and reads as
    // nothing) instead of waiting for a writer that never comes.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => read_then_defer(fd, buf, closer),
        Err(e) => classify(e.into()),
    }
}

/// Descriptors closed in bulk: a scan opens and closes five files per PCI function, and one
/// `close_range` for a run of consecutive descriptors replaces dozens of `close` calls. Only
/// descriptors handed to [`Closer::defer`] are ever closed, so it is safe on a shared table;
/// on a scanner thread's private table (see `scan::par`) the runs are long.
#[derive(Default)]
pub(crate) struct Closer {
    /// Kept as `OwnedFd`s until the kernel has closed them, so a descriptor whose bulk close
    /// failed is still closed (by its drop) and none can leak or be closed twice.
    fds: Vec<OwnedFd>,
}

/// Flush before this many descriptors are held, well under the usual 1024 limit.
const CLOSER_MAX: usize = 256;

impl Closer {
    pub(crate) fn defer(&mut self, fd: OwnedFd) {
        self.fds.push(fd);
        if self.fds.len() >= CLOSER_MAX {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        // Highest first, so each run of consecutive numbers is taken off the tail.
        self.fds
            .sort_unstable_by_key(|fd| std::cmp::Reverse(fd.as_raw_fd()));
        while let Some(last) = self.fds.last() {
            let lo = last.as_raw_fd();
            let mut from = self.fds.len() - 1;
            while from > 0 && self.fds[from - 1].as_raw_fd() == self.fds[from].as_raw_fd() + 1 {
                from -= 1;
            }
            let hi = self.fds[from].as_raw_fd();
            if close_range(lo, hi).is_ok() {
                // The kernel closed them: the `OwnedFd`s must not close those numbers again.
                for fd in self.fds.drain(from..) {
                    let _ = fd.into_raw_fd();
                }
            } else {
                // Kernels before 5.9 (or a seccomp filter): each one closes as it drops.
                self.fds.truncate(from);
            }
        }
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `close_range(lo, hi, 0)`. Private to [`Closer`], whose `OwnedFd`s own exactly `lo..=hi`
/// when it calls this and give those numbers up if it succeeds.
fn close_range(lo: RawFd, hi: RawFd) -> io::Result<()> {
    let (lo, hi) = (lo as libc::c_uint, hi as libc::c_uint);
    // SAFETY: the caller owns every descriptor in lo..=hi (through `OwnedFd`s nothing else
    // shares) and forgets them on success, so no descriptor anyone else uses is closed and
    // none is closed twice. close_range(2) takes three integers and touches no memory.
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0 as libc::c_uint) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The target of symlink `name` in `dir`, into `buf`; its length.
pub(crate) fn readlink_into(dir: &OwnedFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    let n = rustix::fs::readlinkat_raw(dir, name, buf)?;
    // A full buffer may be a truncated target; never hand on a shortened path.
    if n == len {
        return Err(Errno::NAMETOOLONG.into());
    }
    Ok(n)
}

/// The target of symlink `name` in `dir`.
pub(crate) fn readlink_at(dir: &OwnedFd, name: &CStr) -> io::Result<PathBuf> {
    let mut buf = [0u8; 1024];
    let n = readlink_into(dir, name, &mut buf)?;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..n])))
}

/// Entry names of directory `rel` under `dir` (no `.`/`..`), unsorted.
pub(crate) fn list_at(dir: &OwnedFd, rel: &CStr) -> io::Result<Vec<String>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, rel, flags, Mode::empty())?;
    let mut entries = rustix::fs::Dir::new(fd)?;
    let mut out = Vec::new();
    // A read error ends the listing with what was read so far, as readdir(3) did before.
    while let Some(Ok(ent)) = entries.read() {
        let b = ent.file_name().to_bytes();
        if b != b"." && b != b".." {
            out.push(String::from_utf8_lossy(b).into_owned());
        }
    }
    Ok(out)
}

pub(crate) fn cname(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of consecutive and scattered descriptors, more than one flush's worth, with the
    /// gaps closed in between: the bulk close takes the runs apart without panicking and
    /// leaves nothing held.
    #[test]
    fn closer_closes_each_descriptor_once() {
        let base = File::open("/dev/null").unwrap();
        let mut kept = Vec::new();
        let mut closer = Closer::default();
        for i in 0..CLOSER_MAX + 40 {
            let fd = OwnedFd::from(base.try_clone().unwrap());
            // Every seventh one stays open for a while, leaving gaps between runs.
            if i % 7 == 0 {
                kept.push(fd);
            } else {
                closer.defer(fd);
            }
        }
        closer.flush();
        assert!(closer.fds.is_empty());
        drop(kept);
        for _ in 0..5 {
            closer.defer(OwnedFd::from(base.try_clone().unwrap()));
        }
        drop(closer);
    }
}
