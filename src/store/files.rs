//! The state directory as hostile ground: every file opened relative to the directory's
//! descriptor with `O_NOFOLLOW | O_NONBLOCK` and checked with `fstat`, the directory itself
//! created 0700 and refused when another user owns it or may write to it.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

pub(super) use rustix::fs::Mode;
use rustix::fs::{AtFlags, FileType, OFlags};
use rustix::io::Errno;

use super::slots::{errno, io, StoreError};

fn file_kind(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "special file",
    }
}

pub(super) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuse anything but a regular file owned by the user running vifman.
pub(super) fn check_file(fd: impl AsFd, path: &Path) -> Result<(), StoreError> {
    let st = rustix::fs::fstat(fd).map_err(errno(path))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            reason: format!("is a {}, not a regular file", file_kind(t)),
        });
    }
    if st.st_uid != euid() {
        return Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            reason: format!(
                "is owned by uid {}, not by the user running vifman (uid {})",
                st.st_uid,
                euid()
            ),
        });
    }
    Ok(())
}

/// Open `name` in the state directory without following a symlink and without blocking on a
/// FIFO; `None` when it does not exist and `create` is false.
pub(super) fn open_in(
    dirfd: &OwnedFd,
    dir: &Path,
    name: &str,
    create: bool,
) -> Result<Option<File>, StoreError> {
    let path = dir.join(name);
    let mut flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if create {
        flags |= OFlags::CREATE;
    }
    match rustix::fs::openat(dirfd, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => {
            check_file(&fd, &path)?;
            Ok(Some(File::from(fd)))
        }
        Err(Errno::NOENT) if !create => Ok(None),
        Err(e) => {
            // Name what is there instead of the bare errno (ELOOP for a symlink, ENXIO for a
            // socket, EISDIR for a directory).
            if let Ok(st) = rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                let t = FileType::from_raw_mode(st.st_mode);
                if t != FileType::RegularFile {
                    let reason = if t == FileType::Symlink {
                        "is a symbolic link (vifman never follows links in its state directory)"
                            .to_string()
                    } else {
                        format!("is a {}, not a regular file", file_kind(t))
                    };
                    return Err(StoreError::Unsafe { path, reason });
                }
            }
            Err(errno(&path)(e))
        }
    }
}

/// Open the state directory itself, creating it (0700 whatever the umask) when `create`.
/// `None` when it does not exist and `create` is false. The directory may be reached through
/// a symlink an administrator set up; the files inside never are.
pub(super) fn open_dir(dir: &Path, create: bool) -> Result<Option<OwnedFd>, StoreError> {
    let mut created = false;
    if create {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)) {
            Ok(()) => created = true,
            Err(Errno::EXIST) => {}
            Err(e) => return Err(errno(dir)(e)),
        }
    }
    let fd = match rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) if !create => return Ok(None),
        Err(Errno::NOTDIR) => {
            return Err(StoreError::Unsafe {
                path: dir.to_path_buf(),
                reason: "is not a directory".into(),
            })
        }
        Err(e) => return Err(errno(dir)(e)),
    };
    if created {
        // mkdir's mode passes through the umask; the docs promise 0700.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700)).map_err(errno(dir))?;
    }
    let st = rustix::fs::fstat(&fd).map_err(errno(dir))?;
    if st.st_uid != euid() {
        return Err(StoreError::Unsafe {
            path: dir.to_path_buf(),
            reason: format!(
                "is owned by uid {}, not by the user running vifman (uid {})",
                st.st_uid,
                euid()
            ),
        });
    }
    if st.st_mode & 0o022 != 0 {
        return Err(StoreError::Unsafe {
            path: dir.to_path_buf(),
            reason: format!(
                "is writable by other users (mode {:o}), who could replace the store's files; `chmod 700` it",
                st.st_mode & 0o7777
            ),
        });
    }
    Ok(Some(fd))
}

/// Create the state directory (mode 0700 whatever the umask) if it is missing, and check it.
/// Callers that put their own files there (the simulated kernel) call this first, so the
/// directory never starts out with the wrong mode.
pub fn create_state_dir(dir: &Path) -> Result<(), StoreError> {
    open_dir(dir, true).map(|_| ())
}

pub(super) fn sync_dir(dirfd: &OwnedFd, dir: &Path) -> Result<(), StoreError> {
    rustix::fs::fsync(dirfd).map_err(errno(dir))
}
