//! A directory opened once under the root, whose entries are then reached one shallow `*at`
//! call each. Reading three `aer_dev_*` files of a device by full path makes the kernel walk
//! `sys/bus/pci/devices/ADDR -> ../../../devices/pci…/…/ADDR` three times; on a host with
//! thousands of functions and netdevs those walks were most of `vifman inventory`'s time.
//! The rules are [`Confined`]'s: the directory is reached with `openat2(RESOLVE_IN_ROOT)`,
//! an entry must be a single plain name, is never followed (`O_NOFOLLOW`), opened without
//! blocking and checked to be a regular file; errors name the same path a full-path access
//! would.

use std::cell::Cell;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::{clean, kind_name, read_limited, show, AccessError, Confined, ATTR_LIMIT};

/// See the module documentation.
#[derive(Debug)]
pub struct ConfinedDir {
    fd: OwnedFd,
    rel: PathBuf,
    /// The offset has moved past the start (a second listing rewinds first).
    listed: Cell<bool>,
}

impl Confined {
    /// Opens directory `rel` (links on the way followed while they stay beneath the root) as
    /// a base for reads of its entries.
    /// Opened for reading (as [`Confined::list`] opens), so the same descriptor serves the
    /// listing and the `*at` calls.
    pub fn open_dir(&self, rel: &Path) -> Result<ConfinedDir, AccessError> {
        let rel = clean(rel)?;
        let fd = self
            .openat2(&rel, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| AccessError::io(&rel, e))?;
        Ok(ConfinedDir {
            fd,
            rel,
            listed: Cell::new(false),
        })
    }
}

impl ConfinedDir {
    /// The root-relative path of entry `name`, as errors name it.
    fn path_of(&self, name: &str) -> PathBuf {
        self.rel.join(name)
    }

    /// `name` as one plain path component, or the error a full-path access would give.
    fn entry<'n>(&self, name: &'n str) -> Result<&'n OsStr, AccessError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(AccessError::BadPath {
                path: show(&self.path_of(name)),
            });
        }
        Ok(OsStr::from_bytes(name.as_bytes()))
    }

    /// What [`Confined::read`] of `rel/name` gives, with one shallow open.
    pub fn read(&self, name: &str, limit: usize) -> Result<Vec<u8>, AccessError> {
        let rel = self.path_of(name);
        let _span = tracing::trace_span!("confined_read", path = %rel.display()).entered();
        let e = self.entry(name)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, e, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) if self.kind(e) == Some("symlink") => {
                return Err(AccessError::Symlink { path: show(&rel) })
            }
            Err(rustix::io::Errno::NXIO) => {
                return Err(AccessError::NotRegular {
                    path: show(&rel),
                    kind: self.kind(e).unwrap_or("special file"),
                })
            }
            Err(err) => return Err(AccessError::io(&rel, err.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|err| AccessError::io(&rel, err.into()))?;
        let t = FileType::from_raw_mode(st.st_mode);
        if t != FileType::RegularFile {
            return Err(AccessError::NotRegular {
                path: show(&rel),
                kind: kind_name(t),
            });
        }
        read_limited(std::fs::File::from(fd), &rel, limit)
    }

    /// [`ConfinedDir::read`] as text, trailing whitespace trimmed (as [`Confined::read_attr`]).
    pub fn read_attr(&self, name: &str) -> Result<String, AccessError> {
        let b = self.read(name, ATTR_LIMIT)?;
        Ok(String::from_utf8_lossy(&b).trim_end().to_string())
    }

    /// The target of symlink `name` (read, never followed).
    pub fn readlink(&self, name: &str) -> Result<PathBuf, AccessError> {
        let e = self.entry(name)?;
        let t = rustix::fs::readlinkat(&self.fd, e, Vec::new())
            .map_err(|err| AccessError::io(&self.path_of(name), err.into()))?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// The last component of symlink `name`'s target (as [`Confined::link_name`]).
    pub fn link_name(&self, name: &str) -> Option<String> {
        let t = self.readlink(name).ok()?;
        t.file_name()?.to_str().map(String::from)
    }

    /// The directory's entries, `.` and `..` left out (as [`Confined::list`]), read with
    /// `getdents` on the descriptor itself (no second open).
    pub fn list(&self) -> Result<Vec<String>, AccessError> {
        let err = |e: rustix::io::Errno| AccessError::io(&self.rel, e.into());
        if self.listed.replace(true) {
            rustix::fs::seek(&self.fd, rustix::fs::SeekFrom::Start(0)).map_err(err)?;
        }
        let mut buf = Vec::with_capacity(8192);
        let mut it = rustix::fs::RawDir::new(&self.fd, buf.spare_capacity_mut());
        let mut out = Vec::new();
        while let Some(ent) = it.next() {
            let ent = ent.map_err(err)?;
            let b = ent.file_name().to_bytes();
            if b != b"." && b != b".." {
                out.push(String::from_utf8_lossy(b).into_owned());
            }
        }
        Ok(out)
    }

    /// The type of entry `name` itself (not followed), if it exists.
    fn kind(&self, name: &OsStr) -> Option<&'static str> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some(kind_name(FileType::from_raw_mode(st.st_mode)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Every outcome a full-path read has (value, missing, planted symlink, FIFO, too large,
    /// a name that is not one component) comes out the same through the opened directory,
    /// errors naming the same path; listing and link reads likewise.
    #[test]
    fn same_answers_as_full_path_access() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let dev = root.path().join("sys/devices/pci0000:00/0000:00:01.0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(root.path().join("sys/bus/pci/devices")).unwrap();
        symlink(
            "../../../devices/pci0000:00/0000:00:01.0",
            root.path().join("sys/bus/pci/devices/0000:00:01.0"),
        )
        .unwrap();
        std::fs::write(dev.join("aer_dev_fatal"), "TOTAL_ERR_FATAL 2\n").unwrap();
        std::fs::write(dev.join("big"), vec![b'x'; 5000]).unwrap();
        std::fs::write(outside.path().join("victim"), "precious\n").unwrap();
        symlink(outside.path().join("victim"), dev.join("planted")).unwrap();
        symlink("../../../devices/pci0000:00", dev.join("master")).unwrap();
        let fifo = std::ffi::CString::new(dev.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo only reads the path it is given.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let c = Confined::open(root.path()).unwrap();
        let rel = Path::new("sys/bus/pci/devices/0000:00:01.0");
        let d = c.open_dir(rel).unwrap();
        let show = |r: Result<Vec<u8>, AccessError>| match r {
            Ok(b) => format!("ok {}", String::from_utf8_lossy(&b)),
            Err(e) => format!("err {e} ({:?})", e.errno()),
        };
        for name in [
            "aer_dev_fatal",
            "missing",
            "planted",
            "fifo",
            "big",
            "master",
        ] {
            assert_eq!(
                show(d.read(name, 4096)),
                show(c.read(&rel.join(name), 4096)),
                "{name}"
            );
        }
        assert_eq!(d.read_attr("aer_dev_fatal").unwrap(), "TOTAL_ERR_FATAL 2");
        assert!(show(d.read("planted", 4096)).contains("symlink"));
        assert!(matches!(
            d.read("../x", 10),
            Err(AccessError::BadPath { .. })
        ));
        assert_eq!(d.link_name("master").as_deref(), Some("pci0000:00"));
        assert_eq!(
            d.readlink("missing").unwrap_err().to_string(),
            c.readlink(&rel.join("missing")).unwrap_err().to_string()
        );
        let (mut a, mut b) = (d.list().unwrap(), c.list(rel).unwrap());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        // A second listing starts over.
        let mut again = d.list().unwrap();
        again.sort();
        assert_eq!(again, a);
        assert!(c
            .open_dir(Path::new("sys/nothing"))
            .unwrap_err()
            .is_not_found());
    }
}
