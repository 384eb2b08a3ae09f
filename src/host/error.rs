//! How a kernel refusal reaches the engine: [`HostError`] keeps the errno so callers can match
//! on it and name it (`trust: EOPNOTSUPP`), whichever access path (sysfs, rtnetlink, devlink)
//! failed. Kept apart from the [`super::Host`] trait because every layer above matches on the
//! error while only `host/` implements the trait.

use std::time::Duration;

use crate::sysfs::AccessError;

/// A kernel error with the errno kept, so callers can name it ("trust: EOPNOTSUPP").
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{op}: {} ({})", errno_name(*.errno), std::io::Error::from_raw_os_error(*.errno))]
    Kernel { op: String, errno: i32 },
    #[error("{op}: {message}")]
    Other { op: String, message: String },
    #[error("{op}: timed out after {waited:?} waiting for {what}")]
    Timeout {
        op: String,
        what: String,
        waited: Duration,
    },
    /// Neither MAC path took the address: the VF's devlink port function answered
    /// EOPNOTSUPP to hw_addr, and IFLA_VF_MAC was refused too. Nothing was changed.
    #[error("{op}: the devlink port function does not support hw_addr (EOPNOTSUPP), and the IFLA_VF_MAC fallback was refused: {legacy}")]
    MacUnsupported { op: String, legacy: Box<HostError> },
}

impl HostError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            HostError::Kernel { errno, .. } => Some(*errno),
            HostError::MacUnsupported { legacy, .. } => legacy.errno(),
            _ => None,
        }
    }
    pub fn kernel(op: impl Into<String>, errno: i32) -> Self {
        HostError::Kernel {
            op: op.into(),
            errno,
        }
    }
    pub fn other(op: impl Into<String>, message: impl Into<String>) -> Self {
        HostError::Other {
            op: op.into(),
            message: message.into(),
        }
    }
    /// A confined access failure: the errno where there is one, and the path named.
    pub(crate) fn from_access(op: impl Into<String>, e: &AccessError) -> Self {
        match e {
            AccessError::Io { source, .. } if source.raw_os_error().is_some() => {
                HostError::kernel(op, source.raw_os_error().unwrap_or(libc::EIO))
            }
            _ => HostError::other(op, e.to_string()),
        }
    }
    pub(crate) fn from_io(op: impl Into<String>, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => HostError::kernel(op, n),
            None => HostError::other(op, e.to_string()),
        }
    }
    /// A failed netlink request: the errno stays matchable; a lost reply is a timeout.
    pub(crate) fn from_rtnl(op: impl Into<String>, e: crate::rtnl::RtnlError) -> Self {
        use crate::rtnl::RtnlError;
        let op = op.into();
        match e {
            RtnlError::Kernel { errno, ext } => {
                if let Some(ext) = ext {
                    tracing::info!(op = %op, errno, reason = %ext, "kernel refused");
                }
                HostError::kernel(op, errno)
            }
            RtnlError::Io(e) => HostError::from_io(format!("{op}: netlink socket"), &e),
            RtnlError::Decode(m) => HostError::other(op, format!("malformed netlink reply: {m}")),
            RtnlError::Timeout(waited) => HostError::Timeout {
                op,
                what: "the kernel's netlink reply".into(),
                waited,
            },
        }
    }
}

pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENODEV => "ENODEV",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::EACCES => "EACCES",
        libc::EEXIST => "EEXIST",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENOMEM => "ENOMEM",
        libc::EAGAIN => "EAGAIN",
        libc::ENOSPC => "ENOSPC",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENOTTY => "ENOTTY",
        _ => "errno",
    }
}
