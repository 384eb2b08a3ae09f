//! fd-relative file access, the hot path of a scan.
//!
//! Opening `/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:02.0/vendor` by full path makes the
//! kernel walk a dozen components for every attribute. A scan instead opens each device
//! directory once (with `openat2(RESOLVE_BENEATH)`, so the kernel itself guarantees the walk
//! never leaves the sysfs root) and reads attributes relative to it. This is the only module
//! with `unsafe`: thin libc calls whose results are checked and wrapped in `OwnedFd` at once.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::attr::{classify, Raw};

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn fd_result(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// Opens a directory by absolute path without following a final symlink (`O_PATH`: no read
/// permission needed, usable only as a base for `*at` calls).
pub(crate) fn open_dir_path(abs: &Path) -> io::Result<OwnedFd> {
    let c = cpath(abs)?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let r = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    fd_result(r as libc::c_long)
}

/// Opens directory `rel` beneath `root`, following symlinks only while they stay beneath it:
/// an escaping link gives EXDEV, a loop ELOOP. ENOSYS on kernels before 5.6.
pub(crate) fn open_dir_beneath(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    openat2_beneath(
        root,
        rel,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    )
}

/// `openat2(root, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: `..` stops at the root
/// and absolute links mean the root, as for every other access (see [`crate::confined`]).
fn openat2_beneath(root: &OwnedFd, rel: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cpath(rel)?;
    // SAFETY: open_how is plain data; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid fd, NUL-terminated path and a correctly sized open_how for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    fd_result(r)
}

/// Opens entry `name` of `dir` as a directory base for `*at` calls, refusing to follow it if it
/// is a symlink (so nothing outside the already-confined `dir` is reached).
pub(crate) fn open_subdir(dir: &OwnedFd, name: &CStr) -> io::Result<OwnedFd> {
    open_at(
        dir,
        name,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    )
}

/// `openat(dir, name, flags)`.
fn open_at(dir: &OwnedFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and NUL-terminated name.
    let r = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    fd_result(r as libc::c_long)
}

/// Reads the file at `rel` beneath `root` in one open (links on the way followed only while
/// they stay beneath it, the file itself not followed); ENOSYS before Linux 5.6.
pub(crate) fn read_beneath<'a>(
    root: &OwnedFd,
    rel: &Path,
    buf: &'a mut [u8],
    closer: &mut Closer,
) -> io::Result<Raw<'a>> {
    let opened = openat2_beneath(
        root,
        rel,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
    );
    match opened {
        Ok(fd) => Ok(read_then_defer(fd, buf, closer)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) => Err(e),
        Err(e) => Ok(classify(e)),
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

/// Opens `rel` (a directory path relative to `dir`) for listing.
fn open_dir_for_listing(dir: &OwnedFd, rel: &CStr) -> io::Result<OwnedFd> {
    open_at(
        dir,
        rel,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    )
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
    match open_at(
        dir,
        name,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
    ) {
        Ok(fd) => read_then_defer(fd, buf, closer),
        Err(e) => classify(e),
    }
}

/// Descriptors closed in bulk: a scan opens and closes five files per PCI function, and one
/// `close_range` for a run of consecutive descriptors replaces dozens of `close` calls. Only
/// descriptors handed to [`Closer::defer`] are ever closed, so it is safe on a shared table;
/// on a scanner thread's private table (see `scan`) the runs are long.
#[derive(Default)]
pub(crate) struct Closer {
    fds: Vec<RawFd>,
}

/// Flush before this many descriptors are held, well under the usual 1024 limit.
const CLOSER_MAX: usize = 256;

impl Closer {
    pub(crate) fn defer(&mut self, fd: OwnedFd) {
        self.fds.push(fd.into_raw_fd());
        if self.fds.len() >= CLOSER_MAX {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        self.fds.sort_unstable();
        let mut i = 0;
        while i < self.fds.len() {
            let lo = self.fds[i];
            let mut hi = lo;
            while i + 1 < self.fds.len() && self.fds[i + 1] == hi + 1 {
                i += 1;
                hi += 1;
            }
            i += 1;
            // SAFETY: every descriptor in lo..=hi was handed over by `defer` and is owned by
            // nothing else; close_range(2) closes exactly that range.
            let r = unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi as u32, 0u32) };
            if r != 0 {
                // Kernels before 5.9: one by one.
                for fd in lo..=hi {
                    // SAFETY: as above, each descriptor is ours alone.
                    unsafe { libc::close(fd) };
                }
            }
        }
        self.fds.clear();
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The target of symlink `name` in `dir`, into `buf`; its length.
pub(crate) fn readlink_into(dir: &OwnedFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: valid fd, NUL-terminated name, and `buf` is writable for `buf.len()` bytes.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n == buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
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
    let fd = open_dir_for_listing(dir, rel)?;
    // SAFETY: fdopendir takes ownership of the descriptor on success; on failure we still
    // own it and `fd` closes it when dropped.
    let dirp = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if dirp.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    let mut out = Vec::new();
    loop {
        // SAFETY: dirp is a valid DIR* until closedir below; the entry is copied before the
        // next readdir call invalidates it.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated within the dirent.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        let b = name.to_bytes();
        if b != b"." && b != b".." {
            out.push(String::from_utf8_lossy(b).into_owned());
        }
    }
    // SAFETY: dirp came from fdopendir and is closed exactly once.
    unsafe { libc::closedir(dirp) };
    Ok(out)
}

pub(crate) fn cname(s: &str) -> Option<CString> {
    CString::new(s).ok()
}
