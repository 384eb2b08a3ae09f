//! The slot files: a state directory holding two slots written alternately, so a crash at any
//! byte leaves the previous state loadable, and a lock file so concurrent vifman processes
//! serialise their read-modify-write cycles and never hand out one VF twice.
//!
//! Each slot is `{"seq":N,"len":L,"hash":H}\n<body>`; the newest slot whose length and FNV-1a
//! hash check out wins. One `fdatasync` per write, no rename, no temporary file, no directory
//! fsync after the slots exist: that is what makes durable allocate+release fast.
//!
//! The directory runs as root on production hosts, so it is treated as hostile ground:
//! - it is created 0700 whatever the umask, and refused when another user owns it or may
//!   write to it;
//! - every file in it is opened relative to the directory's descriptor with `O_NOFOLLOW` and
//!   `O_NONBLOCK`, then checked with `fstat` to be a regular file owned by the running user, so
//!   a symlink cannot redirect a write and a FIFO at `lock` cannot hang every command;
//! - losing data is never silent: once a store has been written (`marker`), slots that are
//!   missing, empty or damaged are an error naming the files and the way out, never a fresh
//!   empty store (which would hand allocated VFs out a second time). Falling back to the older
//!   slot when only the newest is damaged is allowed, and reported as a warning.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::AtFlags;
use rustix::io::Errno;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use super::files::create_state_dir;
#[cfg(test)]
use super::files::{euid, Mode};
use super::files::{open_dir, open_in, sync_dir};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/vifman";

const SLOTS: [&str; 2] = ["state.a", "state.b"];
const LOCK: &str = "lock";
/// Written once, after the first durable save: from then on empty slots mean lost data.
const MARKER: &str = "marker";
/// The store format: the records' optional top-level `version` (absent: this one). Written
/// by no vifman yet; a later format that older vifman must not misread sets another.
pub const STORE_VERSION: u64 = 1;
const MARKER_TEXT: &[u8] = b"vifman allocation store: state.a/state.b hold the records; \
if both are missing or empty, run `vifman reconcile --repair`\n";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what vifman created: a symlink, a FIFO, another user's file.
    #[error("{path}: {reason}; refusing to use it")]
    Unsafe { path: PathBuf, reason: String },
    #[error("state directory {dir}: no slot can be read ({detail}); refusing to guess; a repair sets the damaged files aside and rebuilds what the hardware shows")]
    Damaged { dir: PathBuf, detail: String },
    #[error("state directory {dir} has held allocations (its `marker` file exists) but {detail}; refusing to start from an empty store, which would hand allocated VFs out again; a repair rebuilds what the hardware shows")]
    Lost { dir: PathBuf, detail: String },
    #[error("state directory {dir}: slot generation {seq} is the last one; a new write would look older than it; move the directory aside and repair the store")]
    Exhausted { dir: PathBuf, seq: u64 },
    /// A slot that checks out but whose records do not decode: `detail` names the record
    /// (the VIF and VF of an allocation, ...), the field and what is wrong with its value.
    #[error("{path}: the records cannot be decoded: {detail}")]
    Decode { path: PathBuf, detail: String },
    /// A slot written in a store format this vifman does not know (a later version's).
    #[error("{path}: the records are in store format version {found}, this vifman reads version {STORE_VERSION} only; refusing to read or rewrite them (a newer vifman wrote them?)")]
    Version { path: PathBuf, found: String },
    #[error("state {path}: cannot encode: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn errno(path: &Path) -> impl FnOnce(Errno) -> StoreError + '_ {
    move |e| StoreError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[derive(Serialize, Deserialize)]
struct SlotHeader {
    seq: u64,
    len: usize,
    hash: u64,
}

/// What one slot file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Missing,
    Empty,
    Damaged(&'static str),
    Valid { seq: u64, body: Vec<u8> },
}

impl Slot {
    fn parse(buf: &[u8]) -> Slot {
        if buf.is_empty() {
            return Slot::Empty;
        }
        let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
            return Slot::Damaged("no header line");
        };
        let Ok(h) = serde_json::from_slice::<SlotHeader>(&buf[..nl]) else {
            return Slot::Damaged("unreadable header");
        };
        let body = &buf[nl + 1..];
        if body.len() < h.len {
            return Slot::Damaged("truncated");
        }
        if fnv1a(&body[..h.len]) != h.hash {
            return Slot::Damaged("checksum mismatch");
        }
        Slot::Valid {
            seq: h.seq,
            body: body[..h.len].to_vec(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Slot::Missing => "missing".into(),
            Slot::Empty => "empty".into(),
            Slot::Damaged(why) => format!("damaged ({why})"),
            Slot::Valid { seq, .. } => format!("generation {seq}"),
        }
    }
}

fn read_slot(f: Option<&mut File>, path: &Path) -> Result<Slot, StoreError> {
    let Some(f) = f else {
        return Ok(Slot::Missing);
    };
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(0)).map_err(io(path))?;
    f.read_to_end(&mut buf).map_err(io(path))?;
    Ok(Slot::parse(&buf))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read only; create nothing.
    Peek,
    /// The normal read-modify-write cycle.
    Write,
    /// `reconcile --repair`: a lost or damaged store is set aside instead of refused.
    Repair,
}

/// The records' `version`, when they carry one this vifman does not read (as written, for
/// the message). Records that are not an object are left to the decoder to report.
fn check_version(body: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        version: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(Probe { version: Some(v) }) if v.as_u64() != Some(STORE_VERSION) => {
            let mut shown = v.to_string();
            if shown.len() > 40 {
                shown = format!("{}...", shown.chars().take(40).collect::<String>());
            }
            Err(shown)
        }
        _ => Ok(()),
    }
}

/// An open, exclusively locked state directory. Dropping it releases the lock.
pub struct Store {
    dir: PathBuf,
    dirfd: OwnedFd,
    _lock: Option<File>,
    slots: [Option<File>; 2],
    /// (seq, slot index, body) of the newest valid slot, if any.
    newest: Option<(u64, usize, Vec<u8>)>,
    marked: bool,
    warnings: Vec<String>,
}

impl Store {
    /// Open (creating the directory 0700 and the lock if needed) and take the exclusive lock,
    /// waiting for other vifman processes to finish their cycle.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Ok(Self::open_as(dir, Access::Write)?.expect("created").0)
    }

    /// Read the current state without creating anything: `None` when the directory does not
    /// exist (a host vifman never allocated on). Takes the lock briefly when there is one, so
    /// it never sees a half-finished cycle's intermediate state.
    pub fn peek<T: DeserializeOwned + Default>(dir: &Path) -> Result<Option<T>, StoreError> {
        match Self::open_as(dir, Access::Peek)? {
            None => Ok(None),
            Some((mut s, _)) => s.load().map(Some),
        }
    }

    /// Open for `reconcile --repair`: like [`Store::open`], but a store whose slots are lost or
    /// all damaged is not refused: the damaged slot files are renamed `<slot>.damaged-<time>`
    /// (kept for inspection) and the store starts empty. Returns, for a store that had to be
    /// started over, what was set aside; the caller must then [`Store::save`] the rebuilt
    /// state before dropping the store, or the next open reports the loss again.
    pub fn open_for_repair(dir: &Path) -> Result<(Store, Option<Vec<String>>), StoreError> {
        Ok(Self::open_as(dir, Access::Repair)?.expect("created"))
    }

    #[allow(clippy::type_complexity)]
    fn open_as(
        dir: &Path,
        access: Access,
    ) -> Result<Option<(Store, Option<Vec<String>>)>, StoreError> {
        let create = access != Access::Peek;
        let Some(dirfd) = open_dir(dir, create)? else {
            return Ok(None);
        };
        let lock = open_in(&dirfd, dir, LOCK, create)?;
        if let Some(l) = &lock {
            let _span = tracing::debug_span!("store_lock", dir = %dir.display()).entered();
            l.lock().map_err(io(&dir.join(LOCK)))?;
        }
        let marked = match rustix::fs::statat(&dirfd, MARKER, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(errno(&dir.join(MARKER))(e)),
        };
        let mut slots = [
            open_in(&dirfd, dir, SLOTS[0], false)?,
            open_in(&dirfd, dir, SLOTS[1], false)?,
        ];
        let reads = [
            read_slot(slots[0].as_mut(), &dir.join(SLOTS[0]))?,
            read_slot(slots[1].as_mut(), &dir.join(SLOTS[1]))?,
        ];
        let mut store = Store {
            dir: dir.to_path_buf(),
            dirfd,
            _lock: lock,
            slots,
            newest: None,
            marked,
            warnings: vec![],
        };
        let mut set_aside = None;
        match store.judge(reads.clone()) {
            Ok(()) => {}
            Err(StoreError::Lost { .. } | StoreError::Damaged { .. })
                if access == Access::Repair =>
            {
                set_aside = Some(store.set_aside(&reads)?);
            }
            Err(e) => return Err(e),
        }
        for w in &store.warnings {
            tracing::warn!(dir = %store.dir.display(), "{w}");
        }
        Ok(Some((store, set_aside)))
    }

    /// Pick the newest valid slot, warn about a damaged other one, refuse lost data.
    fn judge(&mut self, reads: [Slot; 2]) -> Result<(), StoreError> {
        let detail = || {
            format!(
                "{} is {}, {} is {}",
                SLOTS[0],
                reads[0].describe(),
                SLOTS[1],
                reads[1].describe()
            )
        };
        let valid: Vec<(u64, usize)> = reads
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Valid { seq, .. } => Some((*seq, i)),
                _ => None,
            })
            .collect();
        let Some(&(seq, i)) = valid.iter().max() else {
            if reads.iter().any(|s| matches!(s, Slot::Damaged(_))) {
                return Err(StoreError::Damaged {
                    dir: self.dir.clone(),
                    detail: detail(),
                });
            }
            if self.marked {
                return Err(StoreError::Lost {
                    dir: self.dir.clone(),
                    detail: detail(),
                });
            }
            return Ok(());
        };
        // The slots alternate, so from generation 2 on both have been written: an empty or
        // missing other slot is damage too, not a store that was only ever saved once.
        let other = &reads[1 - i];
        let damaged = match other {
            Slot::Damaged(_) => true,
            Slot::Missing | Slot::Empty => seq >= 2,
            Slot::Valid { .. } => false,
        };
        if damaged {
            self.warnings.push(format!(
                "{} is {}; using {} (generation {seq}); allocations saved after it may be missing: a reconcile compares the records with the hardware",
                self.dir.join(SLOTS[1 - i]).display(),
                other.describe(),
                SLOTS[i],
            ));
        }
        let Slot::Valid { body, .. } = &reads[i] else {
            unreachable!("picked a valid slot")
        };
        self.newest = Some((seq, i, body.clone()));
        Ok(())
    }

    /// Rename every slot file that exists out of the way (repair of a lost store).
    fn set_aside(&mut self, reads: &[Slot; 2]) -> Result<Vec<String>, StoreError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut out = vec![];
        for (i, name) in SLOTS.iter().enumerate() {
            if reads[i] == Slot::Missing {
                continue;
            }
            let to = format!("{name}.damaged-{stamp}");
            rustix::fs::renameat(&self.dirfd, *name, &self.dirfd, to.as_str())
                .map_err(errno(&self.dir.join(name)))?;
            self.slots[i] = None;
            out.push(format!(
                "{} ({}) moved to {to}",
                self.dir.join(name).display(),
                reads[i].describe()
            ));
        }
        sync_dir(&self.dirfd, &self.dir)?;
        self.newest = None;
        self.warnings.clear();
        Ok(out)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Problems found on open that did not stop it (a damaged older slot); also logged.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The current state, or `T::default()` for a new directory.
    pub fn load<T: DeserializeOwned + Default>(&mut self) -> Result<T, StoreError> {
        let Some((_, i, body)) = &self.newest else {
            return Ok(T::default());
        };
        let path = || self.dir.join(SLOTS[*i]);
        check_version(body).map_err(|found| StoreError::Version {
            path: path(),
            found,
        })?;
        serde_json::from_slice(body).map_err(|e| StoreError::Decode {
            path: path(),
            detail: super::locate::explain(body, &e),
        })
    }

    /// Durably replace the state: write the older slot, fdatasync, and only then is it newest.
    pub fn save<T: Serialize>(&mut self, state: &T) -> Result<(), StoreError> {
        let body = serde_json::to_vec(state).map_err(|source| StoreError::Encode {
            path: self.dir.clone(),
            source,
        })?;
        let (seq, target) = match &self.newest {
            None => (1, 0),
            Some((s, i, _)) => (
                s.checked_add(1).ok_or(StoreError::Exhausted {
                    dir: self.dir.clone(),
                    seq: *s,
                })?,
                1 - i,
            ),
        };
        let header = serde_json::to_vec(&SlotHeader {
            seq,
            len: body.len(),
            hash: fnv1a(&body),
        })
        .expect("header encodes");
        let path = self.dir.join(SLOTS[target]);
        let _span =
            tracing::debug_span!("store_save", path = %path.display(), seq, bytes = body.len())
                .entered();
        let created = self.slots[target].is_none();
        if created {
            self.slots[target] = open_in(&self.dirfd, &self.dir, SLOTS[target], true)?;
        }
        let f = self.slots[target].as_mut().expect("opened");
        let mut out = Vec::with_capacity(header.len() + 1 + body.len());
        out.extend_from_slice(&header);
        out.push(b'\n');
        out.extend_from_slice(&body);
        f.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        f.write_all(&out).map_err(io(&path))?;
        f.set_len(out.len() as u64).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        if created {
            // A new directory entry must survive a crash too.
            sync_dir(&self.dirfd, &self.dir)?;
        }
        self.newest = Some((seq, target, body));
        if !self.marked {
            self.mark()?;
        }
        Ok(())
    }

    /// Record, after the first durable save, that this directory holds a store.
    fn mark(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(MARKER);
        let mut f = open_in(&self.dirfd, &self.dir, MARKER, true)?.expect("created");
        f.set_len(0).map_err(io(&path))?;
        f.write_all(MARKER_TEXT).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        sync_dir(&self.dirfd, &self.dir)?;
        self.marked = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
