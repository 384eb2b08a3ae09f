//! A VF count change that leaves the count as it was when the kernel refuses it. The kernel
//! takes N -> M only through 0 (EBUSY otherwise), so a change is two writes; when the removal
//! went in and the new count is refused, the PF would be left with no VFs at all. This puts
//! the old count back (0 first where a failed step left some), reads it back and says so.
//! One rule for both kinds of PF `vifman numvfs` changes: PCI PFs (VFs are devices that
//! bind drivers) and non-PCI ones (netdevsim: a bus device whose `sriov_numvfs` makes VF
//! records behind its netdev). The eswitch order rule that re-creates VFs uses the same
//! steps ([`VfCountPf::set`]).

use std::time::Duration;

use super::{Engine, EngineError};
use crate::host::{Host, HostError, SysWrite};
use crate::hwdb::NicModel;
use crate::sysfs::busdev::BusSriov;
use crate::types::{BusDevice, IfName, PciAddress};

/// A PF whose VF count changes, with what waiting for its VFs needs.
#[derive(Debug, Clone)]
pub(crate) enum VfCountPf {
    Pci {
        addr: PciAddress,
        autoprobe: bool,
        model: Option<&'static NicModel>,
    },
    /// `netdev`: the PF netdev whose netlink VF list must show the count (none when the
    /// device has no netdev).
    Bus {
        dev: BusDevice,
        netdev: Option<IfName>,
    },
}

impl std::fmt::Display for VfCountPf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VfCountPf::Pci { addr, .. } => write!(f, "{addr}"),
            VfCountPf::Bus { dev, .. } => write!(f, "{dev}"),
        }
    }
}

impl VfCountPf {
    pub(crate) fn bus(s: &BusSriov) -> VfCountPf {
        VfCountPf::Bus {
            dev: s.device.clone(),
            netdev: s.netdevs.first().cloned(),
        }
    }

    /// The VF count now: the PCI core's `virtfnN` links, or the bus device's `sriov_numvfs`.
    pub(crate) fn count(&self, host: &dyn Host) -> Option<u32> {
        match self {
            VfCountPf::Pci { addr, .. } => Some(host.vf_count(addr) as u32),
            VfCountPf::Bus { dev, .. } => host.bus_sriov(dev)?.num_vfs.ok(),
        }
    }

    /// Write the count `n` (from 0, or to 0) and wait, on kernel events, until the kernel
    /// shows it.
    pub(crate) fn set(&self, host: &dyn Host, n: u32, timeout: Duration) -> Result<(), HostError> {
        match self {
            VfCountPf::Pci {
                addr,
                autoprobe,
                model,
            } => super::numvfs::create_vfs(host, addr, n, *autoprobe, *model, timeout),
            VfCountPf::Bus { dev, netdev } => set_bus_vfs(host, dev, netdev.as_ref(), n, timeout),
        }
    }
}

/// `sriov_numvfs` = `n` on a non-PCI PF, then wait until both the file and the PF netdev's
/// netlink VF records (IFLA_NUM_VF and the IFLA_VFINFO_LIST entries) show `n`: there are no
/// VF devices whose uevents would tell, and what runs next (`vf set`) reads the records.
fn set_bus_vfs(
    host: &dyn Host,
    dev: &BusDevice,
    netdev: Option<&IfName>,
    n: u32,
    timeout: Duration,
) -> Result<(), HostError> {
    let _span = tracing::info_span!("bus_numvfs", dev = %dev, n).entered();
    host.write(&SysWrite::BusNumVfs(dev.clone(), n))?;
    let mut ready = || {
        if host.bus_sriov(dev).and_then(|s| s.num_vfs.ok()) != Some(n) {
            return false;
        }
        let Some(nd) = netdev else { return true };
        match host.vf_state_of(nd) {
            Ok(Some(l)) => l.num_vf == n && l.vfs.len() == n as usize,
            // A PF with no VFs has no VF records at all.
            Ok(None) => n == 0,
            Err(_) => false,
        }
    };
    let what = match netdev {
        Some(nd) => format!("{n} VFs of {dev} in sriov_numvfs and in {nd}'s VF list"),
        None => format!("{n} VFs of {dev} in sriov_numvfs"),
    };
    host.wait_until(&what, timeout, &mut ready)
}

/// Change `pf`'s VF count from `current` to `n` (through 0 when both are non-zero). A failed
/// step is rolled back to `current`; the error names the step, the kernel's errno and what
/// the rollback did.
pub(crate) fn change_count(
    host: &dyn Host,
    pf: &VfCountPf,
    current: u32,
    n: u32,
    timeout: Duration,
) -> Result<(), EngineError> {
    let _span = tracing::info_span!("vf_count_change", pf = %pf, current, n).entered();
    let fail = |from: u32, to: u32, cause: HostError| EngineError::Actuation {
        step: format!("sriov_numvfs {from} -> {to} on {pf}"),
        cause,
        rollback: restore(host, pf, current, timeout),
        next: None,
    };
    if current != 0 && n != 0 {
        pf.set(host, 0, timeout).map_err(|e| fail(current, 0, e))?;
    }
    let from = if n == 0 { current } else { 0 };
    pf.set(host, n, timeout).map_err(|e| fail(from, n, e))
}

/// Bring `pf` back to `old` VFs after a failed step, and say what happened: unchanged, put
/// back (read back), or not.
pub(crate) fn restore(host: &dyn Host, pf: &VfCountPf, old: u32, timeout: Duration) -> String {
    let _span = tracing::info_span!("vf_count_restore", pf = %pf, old).entered();
    let now = pf.count(host);
    if now == Some(old) {
        return format!("nothing to roll back: the kernel kept the count at {old} (read back)");
    }
    let now_s = now.map_or_else(|| "unreadable".to_string(), |c| c.to_string());
    // A step that failed half way (a timeout with some VFs made) is cleared first: the
    // kernel takes a new count only from 0.
    if now != Some(0) {
        if let Err(e) = pf.set(host, 0, timeout) {
            return format!("NOT rolled back: the count is {now_s} and clearing it failed ({e}); it should be {old}");
        }
    }
    if old > 0 {
        if let Err(e) = pf.set(host, old, timeout) {
            return format!(
                "NOT rolled back: restoring sriov_numvfs to {old} failed ({e}); the PF has {} VFs",
                pf.count(host)
                    .map_or_else(|| "an unreadable number of".into(), |c| c.to_string())
            );
        }
    }
    match pf.count(host) {
        Some(c) if c == old => {
            format!("rolled back: sriov_numvfs {now_s} -> {old}, read back {c}")
        }
        c => format!(
            "NOT rolled back: sriov_numvfs {old} was written back but the kernel shows {}",
            c.map_or_else(|| "an unreadable count".into(), |c| c.to_string())
        ),
    }
}

/// A non-PCI SR-IOV PF named by its netdev or by `BUS/DEVICE` (its devlink handle, e.g.
/// `netdevsim/netdevsim1`); None when `pf` names none.
pub(crate) fn resolve_bus_pf(host: &dyn Host, pf: &str) -> Option<BusSriov> {
    if let Ok(d) = pf.parse::<BusDevice>() {
        return (d.bus() != "pci").then(|| host.bus_sriov(&d)).flatten();
    }
    let nd = pf.parse::<IfName>().ok()?;
    host.bus_sriov(&host.bus_device_of(&nd)?)
}

impl Engine<'_> {
    /// `vifman numvfs` on a non-PCI PF: no allocations can hold its VFs (they are no PCI
    /// functions) and there is no driver autoprobe; the count's limit is its
    /// `sriov_totalvfs` where it has one, else the kernel's answer.
    pub(crate) fn numvfs_bus(
        &self,
        s: &BusSriov,
        n: u32,
        autoprobe: Option<bool>,
        timeout: Duration,
    ) -> Result<String, EngineError> {
        let dev = &s.device;
        let label = match s.netdevs.first() {
            Some(nd) => format!("{dev} ({nd})"),
            None => dev.to_string(),
        };
        if autoprobe.is_some() {
            return Err(EngineError::Request(format!(
                "{label} is not a PCI PF: its VFs are not devices, so there is no driver autoprobe to set"
            )));
        }
        let current = s.num_vfs.clone().map_err(|why| {
            EngineError::Request(format!(
                "{label}: sriov_numvfs {why}; refusing to change the VF count"
            ))
        })?;
        if let Some(total) = s.total_vfs.filter(|t| n > *t) {
            return Err(EngineError::Request(format!(
                "{label} supports at most {total} VFs (sriov_totalvfs); asked for {n}"
            )));
        }
        if current == n {
            return Ok(format!("{label}: already {n} VFs"));
        }
        change_count(self.host, &VfCountPf::bus(s), current, n, timeout)?;
        let now = VfCountPf::bus(s).count(self.host);
        Ok(format!(
            "{label}: {current} -> {n} VFs (read back {})",
            now.map_or_else(|| "unreadable".into(), |c| c.to_string())
        ))
    }
}
