//! The closed set of sysfs writes vifman makes, and the guard every [`Host::write`] runs first.
//! Separate from the trait so the write vocabulary (paths, bytes, descriptions for plans and
//! logs) reads in one place, the same for the real and the simulated host.

use super::{Host, HostError};
use crate::types::{BusDevice, DriverName, PciAddress};

/// The sysfs writes vifman makes. An enum, not a path: nothing but these files can be written,
/// and every path component is a validated newtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysWrite {
    NumVfs(PciAddress, u32),
    /// `sriov_numvfs` of a PF that is not a PCI function (netdevsim's bus device).
    BusNumVfs(BusDevice, u32),
    Autoprobe(PciAddress, bool),
    /// `None` clears it (writes "\n", as the kernel expects).
    DriverOverride(PciAddress, Option<DriverName>),
    Unbind(PciAddress, DriverName),
    Probe(PciAddress),
    /// `echo 1 > reset`: a function reset by the kernel's `reset_method` list. Refused by
    /// every [`Host`] while a driver is bound (see [`refuse_bound_reset`]).
    Reset(PciAddress),
}

impl SysWrite {
    /// Path relative to the sysfs root, and the bytes written.
    pub fn target(&self) -> (String, String) {
        match self {
            SysWrite::NumVfs(a, n) => (
                format!("sys/bus/pci/devices/{a}/sriov_numvfs"),
                format!("{n}\n"),
            ),
            SysWrite::BusNumVfs(d, n) => {
                (format!("{}/sriov_numvfs", d.sysfs_dir()), format!("{n}\n"))
            }
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
            SysWrite::Reset(a) => (format!("sys/bus/pci/devices/{a}/reset"), "1\n".into()),
        }
    }

    pub fn describe(&self) -> String {
        let (p, v) = self.target();
        format!("write {:?} to /{p}", v.trim_end())
    }
}

/// The guard every [`Host::write`] runs first: a function reset is never written while a
/// driver is bound. The kernel would accept it (it saves and restores the driver's state
/// around the reset), but the tenant's driver state would survive into the next tenant, and
/// on igbvf under QEMU the write hung the guest for minutes. Failing here is instant.
pub fn refuse_bound_reset(host: &(impl Host + ?Sized), w: &SysWrite) -> Result<(), HostError> {
    let SysWrite::Reset(a) = w else {
        return Ok(());
    };
    match host.bound_driver(a) {
        Ok(None) => Ok(()),
        Ok(Some(d)) => Err(HostError::other(
            w.describe(),
            format!("{a} is bound to {d}; vifman resets a function only with no driver bound"),
        )),
        Err(e) => Err(HostError::other(w.describe(), e.to_string())),
    }
}
