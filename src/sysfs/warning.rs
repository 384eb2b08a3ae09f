use std::fmt;

use serde::Serialize;

/// A problem found while scanning that did not stop the scan.
///
/// Scans never fail because one file is missing or unreadable: real sysfs races with hotplug
/// and drivers return EIO/EOPNOTSUPP for attributes they do not implement. The affected device
/// is still reported, and the problem is recorded here so the operator can see what is partial.
/// `path` is relative to the sysfs root but spelled absolute (`/sys/bus/pci/...`), so the same
/// fixture gives the same warning text wherever it is checked out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

impl Warning {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
