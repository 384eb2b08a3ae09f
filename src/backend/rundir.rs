//! vifman's own run-time directory (`/run/vifman` for root): per-object lock files that
//! serialise concurrent plug/unplug, and the record of which vhost-user socket directories
//! vifman created. Also the one "make a directory without following a symlink" helper,
//! shared with the vhost-user socket directory.
//!
//! Every path component vifman creates is made with `mkdirat` relative to its parent's
//! descriptor and reopened with `O_NOFOLLOW`, so a symlink planted there is refused rather
//! than followed; lock files are opened `O_NOFOLLOW | O_NONBLOCK` and must be regular files
//! owned by us (a FIFO planted as a lock must not hang every command).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{self as rfs, FileType, FlockOperation, Mode, OFlags};

use super::{BackendError, Result};
use crate::types::IfName;

/// The default run directory: `/run/vifman` for root; for another user
/// `$XDG_RUNTIME_DIR/vifman` when set (plug needs CAP_NET_ADMIN, so that is rare).
pub fn default_dir() -> PathBuf {
    if !rustix::process::geteuid().is_root() {
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("vifman");
        }
    }
    PathBuf::from("/run/vifman")
}

fn io_err(path: &Path, msg: impl std::fmt::Display) -> BackendError {
    BackendError::RunDir {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// An existing directory, or one this call made.
pub(crate) struct Dir {
    pub fd: OwnedFd,
    pub created: bool,
    pub uid: u32,
    pub mode: u32,
}

/// Opens directory `path`, creating it (mode `mode` exactly, group `gid`) if missing; with
/// `parents`, missing ancestors are made the same way. The last component is never followed
/// if it is a symlink; ancestors are resolved normally (`/var/run` is a symlink on many
/// systems).
pub(crate) fn ensure_dir(path: &Path, mode: u32, gid: Option<u32>, parents: bool) -> Result<Dir> {
    let _s = tracing::debug_span!("ensure_dir", path = %path.display()).entered();
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io_err(path, "not a directory path with a parent"));
    };
    let parent_fd = match rfs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT && parents && parent != path => {
            ensure_dir(parent, mode, None, true)?.fd
        }
        Err(e) if e == rustix::io::Errno::NOENT => {
            return Err(io_err(parent, "parent directory does not exist"))
        }
        Err(e) => return Err(io_err(parent, io::Error::from(e))),
    };
    let open = || {
        rfs::openat(
            &parent_fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let refuse = |e: rustix::io::Errno| {
        // O_DIRECTORY makes a symlink fail with ENOTDIR rather than ELOOP: look closer.
        let is_link = || {
            rfs::statat(&parent_fd, name, rfs::AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
        };
        match e {
            rustix::io::Errno::LOOP => io_err(path, "is a symlink; refusing it"),
            rustix::io::Errno::NOTDIR if is_link() => io_err(path, "is a symlink; refusing it"),
            rustix::io::Errno::NOTDIR => io_err(path, "exists and is not a directory"),
            e => io_err(path, io::Error::from(e)),
        }
    };
    let (fd, created) = match open() {
        Ok(fd) => (fd, false),
        Err(rustix::io::Errno::NOENT) => {
            let created = match rfs::mkdirat(&parent_fd, name, Mode::from_raw_mode(mode)) {
                Ok(()) => true,
                // Another process made it between our open and mkdir: use theirs.
                Err(rustix::io::Errno::EXIST) => false,
                Err(e) => {
                    return Err(io_err(
                        path,
                        format!("cannot create: {}", io::Error::from(e)),
                    ))
                }
            };
            (open().map_err(refuse)?, created)
        }
        Err(e) => return Err(refuse(e)),
    };
    if created {
        // mkdir's mode is filtered by the umask; set it exactly, on the opened directory.
        rfs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| io_err(path, format!("chmod: {}", io::Error::from(e))))?;
        if let Some(g) = gid {
            if g == u32::MAX {
                return Err(io_err(path, "group id 4294967295 (-1) is not a group"));
            }
            let g = rustix::process::Gid::from_raw(g);
            rfs::fchown(&fd, None, Some(g)).map_err(|e| {
                io_err(
                    path,
                    format!("chown to gid {}: {}", g.as_raw(), io::Error::from(e)),
                )
            })?;
        }
    }
    let st = rfs::fstat(&fd).map_err(|e| io_err(path, io::Error::from(e)))?;
    Ok(Dir {
        fd,
        created,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
    })
}

/// What one lock file stands for. Netdevs and OVS ports share one name space (an OVS port
/// is named after its netdev), so both are `Link`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockKey {
    Link(IfName),
    /// A vhost-user socket, by its (normalised) path.
    Socket(PathBuf),
}

impl LockKey {
    /// A file name: interface names are safe as they are (no '/', not `.`/`..`); paths are
    /// hashed, since they hold '/' and may exceed NAME_MAX.
    fn file_name(&self) -> String {
        match self {
            LockKey::Link(n) => format!("link-{n}.lock"),
            LockKey::Socket(p) => {
                format!("sock-{:016x}.lock", fnv1a(p.as_os_str().as_encoded_bytes()))
            }
        }
    }
}

/// FNV-1a: stable across builds (std's hasher is not), so two vifman versions agree.
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Held locks; dropping closes the files, which releases them (also when the process dies).
#[derive(Debug)]
pub struct Locks {
    _held: Vec<OwnedFd>,
}

/// Takes the exclusive locks for `keys` under `<run_dir>/locks`, in sorted order so two
/// commands locking overlapping sets cannot deadlock. Gives up after `timeout`.
pub fn lock(run_dir: &Path, keys: &[LockKey], timeout: Duration) -> Result<Locks> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    let _s = tracing::debug_span!("lock", n = keys.len()).entered();
    let dir_path = run_dir.join("locks");
    let dir = ensure_dir(&dir_path, 0o700, None, true)?;
    let me = rustix::process::geteuid().as_raw();
    if dir.uid != me {
        return Err(io_err(
            &dir_path,
            format!("is owned by uid {}, not by us ({me})", dir.uid),
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut held = Vec::with_capacity(keys.len());
    for k in &keys {
        let name = k.file_name();
        let path = dir_path.join(&name);
        let fd = rfs::openat(
            &dir.fd,
            name.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => io_err(&path, "lock file is a symlink; refusing it"),
            e => io_err(&path, io::Error::from(e)),
        })?;
        let st = rfs::fstat(&fd).map_err(|e| io_err(&path, io::Error::from(e)))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(io_err(
                &path,
                "lock file is not a regular file; refusing it",
            ));
        }
        if st.st_uid != me {
            return Err(io_err(
                &path,
                format!("lock file is owned by uid {}, not by us", st.st_uid),
            ));
        }
        wait_lock(&fd, &path, deadline)?;
        held.push(fd);
    }
    Ok(Locks { _held: held })
}

/// flock with a deadline: a lock held by a hung process must give an error, not a hang.
fn wait_lock(fd: &impl AsFd, path: &Path, deadline: Instant) -> Result<()> {
    let mut pause = Duration::from_millis(2);
    loop {
        match rfs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io_err(path, io::Error::from(e))),
        }
        if Instant::now() >= deadline {
            return Err(io_err(
                path,
                "timed out waiting for another vifman holding this lock",
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Records that vifman created vhost-user socket directory `dir`, so that unplug may
/// remove stale sockets in it (and only there).
pub(crate) fn record_created_socket_dir(run_dir: &Path, dir: &Path) -> Result<()> {
    let rec = ensure_dir(&run_dir.join("vhostuser"), 0o700, None, true)?;
    let name = format!("dir-{:016x}", fnv1a(dir.as_os_str().as_encoded_bytes()));
    let fd = rfs::openat(
        &rec.fd,
        name.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io_err(&run_dir.join("vhostuser").join(&name), io::Error::from(e)))?;
    std::fs::File::from(fd)
        .write_all(dir.as_os_str().as_encoded_bytes())
        .map_err(|e| io_err(&run_dir.join("vhostuser").join(&name), e))
}

/// Whether vifman recorded creating socket directory `dir`.
pub(crate) fn created_socket_dir(run_dir: &Path, dir: &Path) -> bool {
    let name = format!("dir-{:016x}", fnv1a(dir.as_os_str().as_encoded_bytes()));
    let Ok(rec) = rfs::open(
        run_dir.join("vhostuser"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(fd) = rfs::openat(
        &rec,
        name.as_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut s = Vec::new();
    std::fs::File::from(fd)
        .take(4096)
        .read_to_end(&mut s)
        .is_ok_and(|_| s == dir.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    #[test]
    fn lock_files_are_regular_and_serialise() {
        let t = tempfile::tempdir().unwrap();
        let run = t.path().join("run");
        let k = [LockKey::Link("tap0".parse().unwrap())];
        let held = lock(&run, &k, Duration::from_secs(1)).unwrap();
        assert_eq!(
            std::fs::metadata(run.join("locks")).unwrap().mode() & 0o7777,
            0o700
        );
        // A second holder (another open file description) waits, then times out.
        let e = lock(&run, &k, Duration::from_millis(50)).unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
        drop(held);
        lock(&run, &k, Duration::from_millis(50)).unwrap();

        // A FIFO or a symlink planted as a lock file is refused at once, never waited on.
        let fifo = run.join("locks/link-fifo0.lock");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = lock(
            &run,
            &[LockKey::Link("fifo0".parse().unwrap())],
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        symlink("/etc/passwd", run.join("locks/link-sym0.lock")).unwrap();
        let e = lock(
            &run,
            &[LockKey::Link("sym0".parse().unwrap())],
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
    }

    #[test]
    fn ensure_dir_never_follows_the_last_component() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::create_dir(&target).unwrap();
        symlink(&target, t.path().join("link")).unwrap();
        let e = ensure_dir(&t.path().join("link"), 0o750, None, false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("symlink"), "{e}");
        let e = ensure_dir(&t.path().join("no/such"), 0o750, None, false)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("parent directory does not exist"),
            "{e}"
        );
        let d = ensure_dir(&t.path().join("a/b"), 0o750, None, true).unwrap();
        assert!(d.created && d.mode == 0o750);
        assert!(
            !ensure_dir(&t.path().join("a/b"), 0o750, None, true)
                .unwrap()
                .created
        );
    }

    #[test]
    fn socket_dir_records() {
        let t = tempfile::tempdir().unwrap();
        let d = Path::new("/run/vhu");
        assert!(!created_socket_dir(t.path(), d));
        record_created_socket_dir(t.path(), d).unwrap();
        assert!(created_socket_dir(t.path(), d));
        assert!(!created_socket_dir(t.path(), Path::new("/run/other")));
    }
}
