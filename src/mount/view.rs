//! What the mount shows and does, independent of FUSE: the simulated kernel's tree in the state
//! dir as sysfs presents it (kernel modes, a page as the size of text attributes, the write-only
//! files a fixture cannot store), and writes routed to the simulated kernel's rules
//! ([`crate::host::sim::dispatch`]). Every file access goes through a [`Confined`] handle on the
//! simulation's tree, as the simulated kernel's own accesses do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::FileType;

use super::faults::Rules;
use crate::confined::Confined;
use crate::host::sim::dispatch;
use crate::host::SimHost;

/// The mount's own directory (fault control), beside the kernel's `sys/` and `proc/`.
pub const CONTROL_DIR: &str = ".vifman";
pub const FAULTS_FILE: &str = ".vifman/faults";

/// Files outside `sys/` (VF-state shards of a big host) are read whole; this bounds them.
const READ_LIMIT: usize = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

/// One entry as `stat` shows it through the mount.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub kind: Kind,
    pub perm: u16,
    pub size: u64,
    pub mtime: SystemTime,
}

type Errno = i32;

pub struct View {
    sim: SimHost,
    tree: Confined,
    /// The kernel's device lock: one store at a time, whichever client writes.
    device_lock: Mutex<()>,
    faults: Mutex<Rules>,
    /// Netdevs a `netdevs late` rule hides, until the instant they appear.
    late: Mutex<HashMap<String, Instant>>,
    started: SystemTime,
}

fn errno_of(e: &crate::confined::AccessError) -> Errno {
    e.errno().unwrap_or(libc::EIO)
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    UNIX_EPOCH + Duration::new(sec.max(0) as u64, nsec.clamp(0, 999_999_999) as u32)
}

impl View {
    pub fn new(sim: SimHost) -> std::io::Result<View> {
        let tree = Confined::open(sim.dir())?;
        Ok(View {
            sim,
            tree,
            device_lock: Mutex::new(()),
            faults: Mutex::default(),
            late: Mutex::default(),
            started: SystemTime::now(),
        })
    }

    /// Hidden: the simulation's bookkeeping (dot files: source mark, remembered names, the
    /// spares of atomic replaces) and netdevs a fault rule keeps back for now.
    fn hidden(&self, rel: &Path) -> bool {
        for (i, c) in rel.components().enumerate() {
            let c = c.as_os_str().to_string_lossy();
            if c.starts_with('.') && !(i == 0 && c == CONTROL_DIR) {
                return true;
            }
        }
        let late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        if late.is_empty() {
            return false;
        }
        let now = Instant::now();
        rel.iter().zip(rel.iter().skip(1)).any(|(parent, name)| {
            parent == "net" && late.get(&*name.to_string_lossy()).is_some_and(|t| *t > now)
        })
    }

    fn is_synthetic(rel: &Path) -> bool {
        match (rel.parent(), rel.file_name().and_then(|n| n.to_str())) {
            (Some(dir), Some(name)) => dispatch::synthetic(dir).contains(&name),
            _ => false,
        }
    }

    pub fn meta(&self, rel: &Path) -> Result<Meta, Errno> {
        if self.hidden(rel) {
            return Err(libc::ENOENT);
        }
        let virt = |kind, perm| Meta {
            kind,
            perm,
            size: if kind == Kind::File { 4096 } else { 0 },
            mtime: self.started,
        };
        if rel == Path::new(CONTROL_DIR) {
            return Ok(virt(Kind::Dir, 0o755));
        }
        if rel == Path::new(FAULTS_FILE) {
            return Ok(virt(Kind::File, 0o644));
        }
        if rel.starts_with(CONTROL_DIR) {
            return Err(libc::ENOENT);
        }
        let st = match self.tree.metadata(rel) {
            Ok(st) => st,
            Err(e) if e.is_not_found() && Self::is_synthetic(rel) => {
                let name = rel.file_name().unwrap_or_default().to_string_lossy();
                return Ok(virt(Kind::File, dispatch::classify(rel).mode(&name)));
            }
            Err(e) if e.is_not_found() && dispatch::computed(&self.tree, rel).is_some() => {
                let name = rel.file_name().unwrap_or_default().to_string_lossy();
                return Ok(virt(Kind::File, dispatch::classify(rel).mode(&name)));
            }
            Err(e) => return Err(errno_of(&e)),
        };
        let mtime = time(st.st_mtime as i64, st.st_mtime_nsec as i64);
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Meta {
                kind: Kind::Dir,
                perm: 0o755,
                size: 0,
                mtime,
            },
            FileType::Symlink => Meta {
                kind: Kind::Symlink,
                perm: 0o777,
                size: st.st_size as u64,
                mtime,
            },
            FileType::RegularFile => {
                let size = if rel.starts_with("proc") {
                    0
                } else if rel.starts_with("sys") && !dispatch::is_binary(&name) {
                    4096
                } else {
                    st.st_size as u64
                };
                // A fixture's mode-000 file (broken-unreadable) stays unreadable.
                let perm = if st.st_mode & 0o777 == 0 {
                    0
                } else {
                    dispatch::classify(rel).mode(&name)
                };
                Meta {
                    kind: Kind::File,
                    perm,
                    size,
                    mtime,
                }
            }
            // Not a sysfs thing (the simulation never copies one): not shown.
            _ => return Err(libc::ENOENT),
        })
    }

    /// Entries of directory `rel` with their kinds, hidden ones left out, the kernel's
    /// write-only files added.
    pub fn list(&self, rel: &Path) -> Result<Vec<(String, Kind)>, Errno> {
        if rel == Path::new(CONTROL_DIR) {
            return Ok(vec![("faults".into(), Kind::File)]);
        }
        if self.hidden(rel) || rel.starts_with(CONTROL_DIR) {
            return Err(libc::ENOENT);
        }
        let mut names = self.tree.list(rel).map_err(|e| errno_of(&e))?;
        names.sort();
        let mut out: Vec<(String, Kind)> = names
            .into_iter()
            .filter_map(|n| {
                let m = self.meta(&rel.join(&n)).ok()?;
                Some((n, m.kind))
            })
            .collect();
        for s in dispatch::synthetic(rel) {
            if !out.iter().any(|(n, _)| n == s) {
                out.push((s.to_string(), Kind::File));
            }
        }
        for s in dispatch::computed_names(rel) {
            if !out.iter().any(|(n, _)| n == s)
                && dispatch::computed(&self.tree, &rel.join(s)).is_some()
            {
                out.push((s.to_string(), Kind::File));
            }
        }
        if rel.as_os_str().is_empty() {
            out.push((CONTROL_DIR.into(), Kind::Dir));
        }
        Ok(out)
    }

    pub fn readlink(&self, rel: &Path) -> Result<PathBuf, Errno> {
        if self.hidden(rel) {
            return Err(libc::ENOENT);
        }
        self.tree.readlink(rel).map_err(|e| errno_of(&e))
    }

    /// kernfs refuses to open a file for an access its attribute has no method for (EACCES,
    /// even for root); mode bits are the kernel's business (`default_permissions`).
    pub fn check_open(&self, rel: &Path, read: bool, write: bool) -> Result<(), Errno> {
        let m = self.meta(rel)?;
        match m.kind {
            Kind::Dir if write => return Err(libc::EISDIR),
            Kind::Dir => return Ok(()),
            _ => {}
        }
        if rel == Path::new(FAULTS_FILE) {
            return Ok(());
        }
        let a = dispatch::classify(rel);
        if (read && !a.readable()) || (write && a.store().is_none()) {
            return Err(libc::EACCES);
        }
        Ok(())
    }

    pub fn read(&self, rel: &Path, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let all = if rel == Path::new(FAULTS_FILE) {
            self.faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .render()
                .into_bytes()
        } else {
            if self.hidden(rel) {
                return Err(libc::ENOENT);
            }
            if !dispatch::classify(rel).readable() {
                return Err(libc::EACCES);
            }
            match self.tree.read(rel, READ_LIMIT) {
                Err(e) if e.is_not_found() => dispatch::computed(&self.tree, rel)
                    .map(String::into_bytes)
                    .ok_or(libc::ENOENT)?,
                r => r.map_err(|e| errno_of(&e))?,
            }
        };
        let start = (offset as usize).min(all.len());
        let end = start.saturating_add(size as usize).min(all.len());
        Ok(all[start..end].to_vec())
    }

    /// One `write(2)`, as the kernel's store sees it: armed faults first, then the simulated
    /// kernel's rule under the device lock.
    pub fn write(&self, rel: &Path, data: &[u8]) -> Result<(), Errno> {
        let _span = tracing::info_span!("mount_write", path = %rel.display()).entered();
        if rel == Path::new(FAULTS_FILE) {
            let text = std::str::from_utf8(data).map_err(|_| libc::EINVAL)?;
            return self
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .apply(text)
                .map_err(|e| {
                    tracing::warn!(%e, "fault rule refused");
                    libc::EINVAL
                });
        }
        if self.hidden(rel) {
            return Err(libc::ENOENT);
        }
        if dispatch::classify(rel).store().is_none() {
            return Err(libc::EACCES);
        }
        let verdict = self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(rel);
        // A poisoned lock only means an earlier writer panicked; the tree is still whole
        // (every simulated change commits with one atomic rename or link).
        let _device = self.device_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = verdict.delay {
            std::thread::sleep(d);
        }
        if let Some(e) = verdict.fail {
            tracing::info!(errno = e, "injected fault");
            return Err(e);
        }
        let late = self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .late_armed();
        let before = if late { self.netdevs() } else { Vec::new() };
        let r = dispatch::store(&self.sim, rel, data);
        if late {
            let new: Vec<String> = self
                .netdevs()
                .into_iter()
                .filter(|n| !before.contains(n))
                .collect();
            if !new.is_empty() {
                let d = self
                    .faults
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take_late();
                if let Some(d) = d {
                    let until = Instant::now() + d;
                    let mut l = self.late.lock().unwrap_or_else(|p| p.into_inner());
                    l.retain(|_, t| *t > Instant::now());
                    l.extend(new.into_iter().map(|n| (n, until)));
                }
            }
        }
        r.map_err(|e| {
            tracing::info!(%e, "store refused");
            e.errno().unwrap_or(libc::EIO)
        })
    }

    fn netdevs(&self) -> Vec<String> {
        self.tree
            .list(Path::new("sys/class/net"))
            .unwrap_or_default()
    }
}
