//! One error type for every backend, so the CLI can print one line and callers can match on
//! the kind (e.g. "absent" is not an error for unplug, "collision" is never retried).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackendError {
    /// The VIF object lacks something the backend needs, or carries an invalid value.
    #[error("invalid VIF: {0}")]
    InvalidVif(String),
    /// No backend handles this VIF class / port profile combination.
    #[error("unsupported VIF: {0}")]
    Unsupported(String),
    #[error("interface name {name:?} is {len} bytes; Linux allows at most 15")]
    IfNameTooLong { name: String, len: usize },
    #[error("MTU {mtu} for {name} is out of range ({min}..={max})")]
    MtuOutOfRange {
        name: String,
        mtu: i64,
        min: u32,
        max: u32,
    },
    /// A netdev with the wanted name exists but is not what we would have created.
    #[error("name collision: {name} already exists as {found}, expected {wanted}")]
    NameCollision {
        name: String,
        found: String,
        wanted: String,
    },
    #[error("bridge {0} does not exist and creating it was not requested (network.should_provide_bridge is false; pass --create-bridge)")]
    BridgeMissing(String),
    // Causes are part of the message rather than `source`s: the CLI prints the error
    // chain, and a cause shown twice reads as two failures.
    #[error("{op}: {error}")]
    Netlink {
        op: String,
        error: crate::backend::rtnl::RtnlError,
    },
    #[error("{op}: {error}")]
    Tap { op: String, error: std::io::Error },
    #[error(transparent)]
    Ovsdb(#[from] crate::backend::ovs::jsonrpc::OvsdbError),
    #[error("{path}: {msg}")]
    Socket { path: String, msg: String },
    /// vifman's own run-time directory (locks, records) is unusable.
    #[error("{path}: {msg}")]
    RunDir { path: String, msg: String },
    #[error("sysfs {path}: {msg}")]
    Sysfs { path: String, msg: String },
}

impl BackendError {
    pub(crate) fn netlink(op: impl Into<String>, source: crate::backend::rtnl::RtnlError) -> Self {
        BackendError::Netlink {
            op: op.into(),
            error: source,
        }
    }
}

pub type Result<T> = std::result::Result<T, BackendError>;
