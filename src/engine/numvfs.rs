//! numvfs: change a PF's VF count the way the kernel needs it (0 first), then wait for the VFs
//! and their netdevs to exist; a refused count is rolled back (`vfcount`). A PF that is not
//! a PCI function (netdevsim) is addressed by netdev or `BUS/DEVICE` and changed the same way.

use std::time::Duration;

use super::vfcount::{change_count, VfCountPf};
use super::{Engine, EngineError};
use crate::host::SysWrite;
use crate::hwdb;
use crate::store::StoreState;
use crate::sysfs::ScanReport;
use crate::types::PciAddress;

/// A PF given as a PCI address or a netdev name.
pub fn resolve_pf(scan: &ScanReport, s: &str) -> Result<PciAddress, EngineError> {
    let addr = match PciAddress::parse_user(s) {
        Ok(a) => a,
        Err(_) => {
            let nd = s.parse::<crate::types::IfName>().map_err(|e| {
                EngineError::Request(format!(
                    "PF {s:?}: neither a PCI address nor an interface name, nor a non-PCI SR-IOV device BUS/DEVICE ({e})"
                ))
            })?;
            scan.netdev(nd.as_str())
                .and_then(|n| n.device)
                .ok_or_else(|| {
                    EngineError::Request(format!("no netdev {nd} backed by a PCI device"))
                })?
        }
    };
    match scan.device(&addr) {
        Some(d) if d.sriov.is_some() => Ok(addr),
        Some(_) => Err(EngineError::Request(format!(
            "{addr} is not an SR-IOV physical function (no sriov_totalvfs)"
        ))),
        None => Err(EngineError::Request(format!("no PCI device {addr}"))),
    }
}

impl Engine<'_> {
    pub fn numvfs(
        &self,
        pf: &str,
        n: u32,
        autoprobe: Option<bool>,
        timeout: Duration,
    ) -> Result<String, EngineError> {
        let _span = tracing::info_span!("numvfs", pf, n).entered();
        let mut store = self.open_store()?;
        let st: StoreState = store.load()?;
        let scan = self.host.scan();
        let addr = match resolve_pf(&scan, pf) {
            Ok(a) => a,
            // Not a PCI PF: a netdevsim-style bus device with a VF count of its own?
            Err(pci) => match super::vfcount::resolve_bus_pf(self.host, pf) {
                Some(s) => return self.numvfs_bus(&s, n, autoprobe, timeout),
                None => return Err(pci),
            },
        };
        let busy: Vec<String> = st
            .allocations
            .iter()
            .filter(|a| a.pf == addr)
            .map(|a| a.vif_id.to_string())
            .collect();
        if let Some(w) = st.whole_holder(&addr) {
            return Err(EngineError::Busy(format!(
                "{addr} is passed through whole (allocation {}); release it first",
                w.id
            )));
        }
        if !busy.is_empty() {
            return Err(EngineError::Busy(format!(
                "{addr} has {} allocated VF(s) (VIFs {}); release them first",
                busy.len(),
                busy.join(", ")
            )));
        }
        let dev = scan.device(&addr).expect("resolved");
        let sriov = dev.sriov.as_ref().expect("resolved");
        let total = sriov.total_vfs.unwrap_or(0);
        if n > total {
            return Err(EngineError::Request(format!(
                "{addr} supports at most {total} VFs (sriov_totalvfs); asked for {n}"
            )));
        }
        if let Some(on) = autoprobe {
            self.host.write(&SysWrite::Autoprobe(addr, on))?;
        }
        // An unreadable count is not zero: the tree is damaged, and writing blind could
        // remove VFs that are in use.
        let Some(current) = sriov.num_vfs else {
            let why = scan
                .warnings
                .iter()
                .find(|w| w.path.ends_with("/sriov_numvfs") && w.path.contains(&addr.to_string()))
                .map(|w| w.message.clone())
                .unwrap_or_else(|| "unreadable".into());
            return Err(EngineError::Request(format!(
                "{addr}: sriov_numvfs {why}; refusing to change the VF count"
            )));
        };
        if current == n {
            return Ok(format!("{addr}: already {n} VFs"));
        }
        let autoprobe_on = autoprobe.or(sriov.drivers_autoprobe).unwrap_or(true);
        let model = hwdb::by_pf(dev.ids.vendor.unwrap_or(0), dev.ids.device.unwrap_or(0));
        let target = VfCountPf::Pci {
            addr,
            autoprobe: autoprobe_on,
            model,
        };
        // 0 first when both counts are non-zero (the kernel answers EBUSY to N -> M); a
        // refused new count puts the old one back.
        change_count(self.host, &target, current, n, timeout)?;
        Ok(format!("{addr}: {current} -> {n} VFs"))
    }
}

/// Write `sriov_numvfs` = `n` (from 0) and wait, on kernel events, until the VFs exist and,
/// when autoprobe is on, are bound, with netdevs where their driver is the model's VF
/// driver. Shared by `vifman numvfs` and the eswitch order rule that re-creates VFs.
pub(crate) fn create_vfs(
    host: &dyn crate::host::Host,
    addr: &PciAddress,
    n: u32,
    autoprobe_on: bool,
    model: Option<&hwdb::NicModel>,
    timeout: Duration,
) -> Result<(), crate::host::HostError> {
    host.write(&SysWrite::NumVfs(*addr, n))?;
    let mut ready = || {
        if host.vf_count(addr) != n as usize {
            return false;
        }
        if n == 0 || !autoprobe_on {
            return true;
        }
        // Each VF bound, and with a netdev when its driver is a NIC driver: point reads
        // of the new VFs only, not a rescan of the host per wake-up.
        let vfs = host.vfs_of(addr);
        vfs.len() == n as usize
            && vfs.iter().all(|(_, a)| match host.driver_of(a) {
                None => false,
                Some(drv) => {
                    model.is_none_or(|m| m.vf_driver != drv) || !host.netdevs_of(a).is_empty()
                }
            })
    };
    let what = if n == 0 {
        format!("VFs of {addr} removed")
    } else {
        format!("{n} VFs of {addr} with drivers and netdevs")
    };
    host.wait_until(&what, timeout, &mut ready)
}
