//! The lowest layer of actuation: the only code that writes to sysfs or sends RTM_SETLINK.
//! The engine above is identical on a real kernel and on the simulation; only the [`Host`]
//! behind it differs, so `--simulate` exercises the very code that runs in production.

pub mod events;
mod knob;
mod real;
pub mod sim;

pub use events::{OnChange, Watch};
pub use knob::{Knob, KnobKind};
pub use real::RealHost;
pub use sim::SimHost;

use std::time::Duration;

use crate::netlink::PfLinkState;
use crate::sysfs::{ScanReport, SysfsRoot};
use crate::types::{IfName, PciAddress};

/// Report a self-chosen VF MAC (see [`crate::sysfs::selfmac`]) as "no admin MAC" (zero), so
/// the engine saves, compares and restores what an administrator set, not what igbvf picked.
pub fn normalize_self_chosen(root: &std::path::Path, link: &mut PfLinkState) {
    for s in &mut link.vfs {
        if s.mac.is_zero() {
            continue;
        }
        let net = root.join(format!(
            "sys/class/net/{}/device/virtfn{}/net",
            link.ifname, s.vf
        ));
        let Ok(mut it) = std::fs::read_dir(&net) else {
            continue;
        };
        if let Some(Ok(e)) = it.next() {
            if crate::sysfs::selfmac::is_self_chosen(root, &e.file_name().to_string_lossy(), &s.mac)
            {
                s.mac = crate::types::MacAddress::from_slice(&[0; 6]).expect("six bytes");
            }
        }
    }
}

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
}

impl HostError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            HostError::Kernel { errno, .. } => Some(*errno),
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
        _ => "errno",
    }
}

/// The sysfs writes vifman makes. An enum, not a path: nothing but these files can be written,
/// and every path component is a validated newtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysWrite {
    NumVfs(PciAddress, u32),
    Autoprobe(PciAddress, bool),
    /// `None` clears it (writes "\n", as the kernel expects).
    DriverOverride(PciAddress, Option<DriverName>),
    Unbind(PciAddress, DriverName),
    Probe(PciAddress),
}

impl SysWrite {
    /// Path relative to the sysfs root, and the bytes written.
    pub fn target(&self) -> (String, String) {
        match self {
            SysWrite::NumVfs(a, n) => (
                format!("sys/bus/pci/devices/{a}/sriov_numvfs"),
                format!("{n}\n"),
            ),
            SysWrite::Autoprobe(a, b) => (
                format!("sys/bus/pci/devices/{a}/sriov_drivers_autoprobe"),
                format!("{}\n", *b as u8),
            ),
            SysWrite::DriverOverride(a, d) => (
                format!("sys/bus/pci/devices/{a}/driver_override"),
                d.as_ref()
                    .map(|d| format!("{d}\n"))
                    .unwrap_or_else(|| "\n".into()),
            ),
            SysWrite::Unbind(a, d) => (format!("sys/bus/pci/drivers/{d}/unbind"), format!("{a}\n")),
            SysWrite::Probe(a) => ("sys/bus/pci/drivers_probe".into(), format!("{a}\n")),
        }
    }

    pub fn describe(&self) -> String {
        let (p, v) = self.target();
        format!("write {:?} to /{p}", v.trim_end())
    }
}

/// A kernel driver name: what may follow `sys/bus/pci/drivers/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DriverName(String);

impl DriverName {
    pub fn new(s: &str) -> Result<Self, String> {
        if s.is_empty()
            || s.len() > 64
            || s == "."
            || s == ".."
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(format!("{s:?} is not a driver name"));
        }
        Ok(DriverName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DriverName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DriverName::new(&s)
    }
}
impl From<DriverName> for String {
    fn from(d: DriverName) -> String {
        d.0
    }
}
impl std::fmt::Display for DriverName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything the engine needs from a kernel.
pub trait Host {
    fn root(&self) -> &SysfsRoot;
    /// True for the simulation (reported in output so nobody mistakes it for hardware).
    fn simulated(&self) -> bool;
    fn scan(&self) -> ScanReport {
        crate::sysfs::scan(self.root())
    }
    fn vf_states(&self) -> Result<Vec<PfLinkState>, HostError>;
    /// One PF's VF state (cheaper than a full dump on a big host). The PF is named, never
    /// given by ifindex: an index remembered from an earlier run may now be another link.
    fn vf_state_of(&self, pf: &IfName) -> Result<Option<PfLinkState>, HostError> {
        Ok(self.vf_states()?.into_iter().find(|l| &l.ifname == pf))
    }
    /// One VF knob, one RTM_SETLINK on the PF (by name), so a failure names exactly one knob.
    fn set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError>;
    fn write(&self, w: &SysWrite) -> Result<(), HostError>;
    fn link_up(&self, ifname: &IfName) -> Result<(), HostError>;
    /// Block until `ready()` holds, re-checking on each kernel event (uevent), never by
    /// fixed sleeps; fail after `timeout`.
    fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        ready: &mut dyn FnMut() -> bool,
    ) -> Result<(), HostError>;
    /// Call `on_change` (from a watcher thread, bursts coalesced) whenever the host may have
    /// changed: kernel uevents and rtnetlink link messages on a real kernel, file changes in
    /// the simulation's tree. Watching stops when the returned [`Watch`] is dropped.
    fn watch(&self, on_change: OnChange) -> Result<Watch, HostError>;
}
