//! The allocation store: a state directory holding two slot files written alternately, so a
//! crash at any byte leaves the previous state loadable, and a lock file so concurrent vifman
//! processes serialise their read-modify-write cycles and never hand out one VF twice.
//!
//! Each slot is `{"seq":N,"len":L,"hash":H}\n<body>`; the newest slot whose length and FNV-1a
//! hash check out wins. One `fdatasync` per write, no rename, no directory fsync after the
//! slots exist: that is what makes durable allocate+release fast.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/vifman";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state directory {0}: both state slots are damaged; refusing to guess (restore from backup or remove the directory after checking the hardware with `vifman reconcile`)")]
    Damaged(PathBuf),
    #[error("state {path}: cannot encode: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
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

/// An open, exclusively locked state directory. Dropping it releases the lock.
pub struct Store {
    dir: PathBuf,
    _lock: File,
    slots: [File; 2],
    /// (seq, slot index) of the newest valid slot, if any.
    newest: Option<(u64, usize)>,
}

impl Store {
    /// Open (creating if needed, mode 0700) and take the exclusive lock, waiting for other
    /// vifman processes to finish their cycle.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let _span = tracing::debug_span!("store_lock", dir = %dir.display()).entered();
        lock.lock().map_err(io(&lock_path))?;
        let mut created = false;
        let mut open_slot = |name: &str| -> Result<File, StoreError> {
            let p = dir.join(name);
            created |= !p.exists();
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .mode(0o600)
                .open(&p)
                .map_err(io(&p))
        };
        let slots = [open_slot("state.a")?, open_slot("state.b")?];
        if created {
            // New directory entries must survive a crash too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        let mut store = Store {
            dir: dir.to_path_buf(),
            _lock: lock,
            slots,
            newest: None,
        };
        store.newest = store.scan()?;
        Ok(store)
    }

    /// Read the current state without creating anything: `None` when the directory does not
    /// exist (a host vifman never allocated on). Takes the lock briefly, so it never sees a
    /// half-finished cycle's intermediate state.
    pub fn peek<T: DeserializeOwned + Default>(dir: &Path) -> Result<Option<T>, StoreError> {
        if !dir.join("lock").exists() {
            return Ok(None);
        }
        Store::open(dir)?.load().map(Some)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_slot(&mut self, i: usize) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let path = self.dir.join(if i == 0 { "state.a" } else { "state.b" });
        let f = &mut self.slots[i];
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        f.read_to_end(&mut buf).map_err(io(&path))?;
        let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
            return Ok(None);
        };
        let Ok(h) = serde_json::from_slice::<SlotHeader>(&buf[..nl]) else {
            return Ok(None);
        };
        let body = &buf[nl + 1..];
        if body.len() < h.len || fnv1a(&body[..h.len]) != h.hash {
            return Ok(None);
        }
        Ok(Some((h.seq, body[..h.len].to_vec())))
    }

    fn scan(&mut self) -> Result<Option<(u64, usize)>, StoreError> {
        let a = self.read_slot(0)?.map(|(s, _)| (s, 0));
        let b = self.read_slot(1)?.map(|(s, _)| (s, 1));
        let both_empty = self
            .slots
            .iter()
            .all(|f| f.metadata().map(|m| m.len() == 0).unwrap_or(false));
        match (a, b) {
            (None, None) if !both_empty => Err(StoreError::Damaged(self.dir.clone())),
            (x, y) => Ok(x.into_iter().chain(y).max()),
        }
    }

    /// The current state, or `T::default()` for a new directory.
    pub fn load<T: DeserializeOwned + Default>(&mut self) -> Result<T, StoreError> {
        let Some((_, i)) = self.newest else {
            return Ok(T::default());
        };
        let (_, body) = self
            .read_slot(i)?
            .ok_or_else(|| StoreError::Damaged(self.dir.clone()))?;
        serde_json::from_slice(&body).map_err(|e| StoreError::Io {
            path: self.dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Durably replace the state: write the older slot, fdatasync, and only then is it newest.
    pub fn save<T: Serialize>(&mut self, state: &T) -> Result<(), StoreError> {
        let body = serde_json::to_vec(state).map_err(|source| StoreError::Encode {
            path: self.dir.clone(),
            source,
        })?;
        let (seq, target) = match self.newest {
            None => (1, 0),
            Some((s, i)) => (s + 1, 1 - i),
        };
        let header = serde_json::to_vec(&SlotHeader {
            seq,
            len: body.len(),
            hash: fnv1a(&body),
        })
        .expect("header encodes");
        let path = self
            .dir
            .join(if target == 0 { "state.a" } else { "state.b" });
        let _span =
            tracing::debug_span!("store_save", path = %path.display(), seq, bytes = body.len())
                .entered();
        let f = &mut self.slots[target];
        let mut out = Vec::with_capacity(header.len() + 1 + body.len());
        out.extend_from_slice(&header);
        out.push(b'\n');
        out.extend_from_slice(&body);
        f.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        f.write_all(&out).map_err(io(&path))?;
        f.set_len(out.len() as u64).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        self.newest = Some((seq, target));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
    struct S {
        n: u32,
        items: Vec<String>,
    }

    #[test]
    fn save_load_and_torn_writes() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(d.path()).unwrap();
            assert_eq!(s.load::<S>().unwrap(), S::default());
            s.save(&S {
                n: 1,
                items: vec!["a".into()],
            })
            .unwrap();
            s.save(&S {
                n: 2,
                items: vec![],
            })
            .unwrap();
        }
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.load::<S>().unwrap().n, 2);
        s.save(&S {
            n: 3,
            items: vec![],
        })
        .unwrap();
        drop(s);
        // Tear the newest slot (seq 3 lives in state.a): the previous state comes back.
        let a = d.path().join("state.a");
        let text = std::fs::read(&a).unwrap();
        std::fs::write(&a, &text[..text.len() - 3]).unwrap();
        let mut s = Store::open(d.path()).unwrap();
        assert_eq!(s.load::<S>().unwrap().n, 2);
        // Writing again goes to the damaged slot, never over the good one.
        s.save(&S {
            n: 4,
            items: vec![],
        })
        .unwrap();
        drop(s);
        assert_eq!(Store::open(d.path()).unwrap().load::<S>().unwrap().n, 4);
        // Both damaged: a clear refusal, not an empty state.
        std::fs::write(d.path().join("state.a"), b"junk").unwrap();
        std::fs::write(d.path().join("state.b"), b"junk").unwrap();
        assert!(matches!(Store::open(d.path()), Err(StoreError::Damaged(_))));
    }
}
