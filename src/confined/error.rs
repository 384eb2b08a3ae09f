//! The errors of confined access, and how a path is named in them: as the operator would see
//! it on the host (`/sys/…`), not relative to the root vifman was given.

use std::io;
use std::path::Path;

use rustix::fs::FileType;

/// What went wrong with one path, named as the operator would see it on the host (`/sys/…`).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{path} is a symlink; refusing to follow it")]
    Symlink { path: String },
    #[error("{path} is a {kind}, not a regular file; skipped")]
    NotRegular { path: String, kind: &'static str },
    #[error("{path} is larger than {limit} bytes; refusing to read it")]
    TooLarge { path: String, limit: usize },
    #[error("{path} is not a path inside the root")]
    BadPath { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl AccessError {
    /// The errno behind the failure, when there is one (ENOENT for a missing file).
    pub fn errno(&self) -> Option<i32> {
        match self {
            AccessError::Io { source, .. } => source.raw_os_error(),
            AccessError::Symlink { .. } => Some(libc::ELOOP),
            AccessError::NotRegular { .. } | AccessError::BadPath { .. } => Some(libc::EINVAL),
            AccessError::TooLarge { .. } => Some(libc::EFBIG),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }

    pub(super) fn io(rel: &Path, source: io::Error) -> Self {
        AccessError::Io {
            path: show(rel),
            source,
        }
    }
}

pub(super) fn show(rel: &Path) -> String {
    format!("/{}", rel.display())
}

pub(super) fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}
