//! The lowest layer of actuation: the only code that writes to sysfs or sends RTM_SETLINK.
//! The engine above is identical on a real kernel and on the simulation; only the [`Host`]
//! behind it differs, so `--simulate` exercises the very code that runs in production.
//!
//! This file holds the [`Host`] trait itself; what the trait speaks in lives beside it, one job
//! per file, so a reader of the trait is not wading through errno tables: [`HostError`] and the
//! errno names in `error`, the closed set of sysfs writes ([`SysWrite`]) and the guard every
//! write runs first in `syswrite`, the one read of the host for the read model in `read`.

mod error;
mod eswitch;
pub mod events;
mod portfn;
mod rate;
pub mod read;
mod real;
mod refusal;
pub mod sim;
pub mod sysctl;
mod syswrite;
pub mod tun;

pub use crate::netlink::{Knob, KnobKind};
pub use error::{errno_name, HostError};
pub use eswitch::{EswitchInfo, PfId};
pub use events::{OnChange, Watch};
pub use portfn::{describe_set as describe_port_function_set, VfPortFunction};
pub use rate::{RateEntry, RateObjects, RateOp};
pub use read::normalize_self_chosen;
pub use read::{HostRead, VfStateOrigin};
pub use real::RealHost;
pub use refusal::{refusal, Refusal};
pub use sim::SimHost;
pub use syswrite::{refuse_bound_reset, SysWrite};

use std::time::Duration;

use crate::netlink::PfLinkState;
use crate::sysfs::{ScanReport, SysfsRoot};
/// Kept here too: driver names appear in every [`SysWrite`] the host performs.
pub use crate::types::DriverName;
use crate::types::{BusDevice, IfName, PciAddress};

/// Only `host/` can make one, so only `host/` can call [`Host::sysfs`]: code above reads the
/// kernel through the typed methods of [`Host`], never by building paths under the root.
pub struct Sealed(());

/// Everything the engine needs from a kernel.
pub trait Host {
    /// The root the host's sysfs reads and writes are confined to. Callable only inside
    /// `host/` (see [`Sealed`]).
    fn sysfs(&self, _: Sealed) -> &SysfsRoot;
    /// True for the simulation (reported in output so nobody mistakes it for hardware).
    fn simulated(&self) -> bool;
    fn scan(&self) -> ScanReport {
        crate::sysfs::scan(self.sysfs(Sealed(())))
    }
    /// The scan and every PF's VF state in one read (see [`HostRead`]): what the read model
    /// is built from.
    fn read(&self) -> HostRead {
        read::read_root(self.sysfs(Sealed(())))
    }
    /// Where the host's tree is, for event watching and labels (never for reading files).
    fn location(&self) -> &std::path::Path {
        self.sysfs(Sealed(())).path()
    }
    /// The driver bound to `a` now, for comparing and recording. A driver whose name
    /// [`DriverName`] refuses reads as `None` here (with a logged warning); code about to
    /// unbind or reset uses [`Host::bound_driver`], which tells the two apart.
    fn driver_of(&self, a: &PciAddress) -> Option<DriverName> {
        self.sysfs(Sealed(())).driver_of(a).unwrap_or_else(|e| {
            tracing::warn!(device = %a, "driver link: {e}");
            None
        })
    }
    /// The driver bound to `a` now: `Ok(None)` only when nothing is bound, an error naming
    /// the device and the refused name when a driver vifman cannot name is.
    fn bound_driver(&self, a: &PciAddress) -> Result<Option<DriverName>, HostError> {
        self.sysfs(Sealed(())).driver_of(a).map_err(|e| {
            HostError::other(
                format!("{a} driver"),
                format!("bound to a driver whose name vifman cannot use: {e}"),
            )
        })
    }
    /// `a`'s `driver_override` (`None`: unset). A value that is not a driver name reads as
    /// `None`, with a logged warning.
    fn driver_override_of(&self, a: &PciAddress) -> Option<DriverName> {
        self.sysfs(Sealed(()))
            .driver_override_of(a)
            .unwrap_or_else(|e| {
                tracing::warn!(device = %a, "driver_override: {e}");
                None
            })
    }
    fn netdevs_of(&self, a: &PciAddress) -> Vec<IfName> {
        self.sysfs(Sealed(())).netdevs_of(a)
    }
    /// VFs the PCI core has created for PF `pf` (its `virtfnN` links).
    fn vf_count(&self, pf: &PciAddress) -> usize {
        self.sysfs(Sealed(())).virtfn_count(pf)
    }
    /// The non-PCI bus device behind netdev `n` (netdevsim's), if it is one.
    fn bus_device_of(&self, n: &IfName) -> Option<BusDevice> {
        self.sysfs(Sealed(())).netdev_bus_device(n)
    }
    /// The SR-IOV facts of a non-PCI PF (`sriov_numvfs`, its netdevs); None when `d` is
    /// not one.
    fn bus_sriov(&self, d: &BusDevice) -> Option<crate::sysfs::busdev::BusSriov> {
        self.sysfs(Sealed(())).bus_sriov(d)
    }
    /// The host's non-PCI SR-IOV PFs (`SysfsRoot::bus_sriov_pfs`) beside a scan of the same host: the netdevs `scan` found under
    /// a PCI function are not asked again.
    fn bus_sriov_pfs_beside(
        &self,
        scan: &crate::sysfs::ScanReport,
    ) -> Vec<crate::sysfs::busdev::BusSriov> {
        self.sysfs(Sealed(()))
            .bus_sriov_pfs_except(|n| scan.netdev(n).is_some_and(|d| d.device.is_some()))
    }
    /// A netdev's attributes by point reads (a non-PCI PF's netdev, outside the PCI scan).
    fn netdev_point(&self, n: &IfName) -> Option<crate::sysfs::NetDev> {
        self.sysfs(Sealed(())).netdev_point(n)
    }
    /// PF `pf`'s VFs by index, from its `virtfnN` links.
    fn vfs_of(&self, pf: &PciAddress) -> Vec<(u32, PciAddress)> {
        self.sysfs(Sealed(())).virtfns_of(pf)
    }
    /// The reset methods the kernel would use for `a`, in order (its `reset_method`); None
    /// when the file is absent (an older kernel, or a function with no reset at all).
    fn reset_methods_of(&self, a: &PciAddress) -> Option<Vec<String>> {
        self.sysfs(Sealed(())).reset_methods_of(a)
    }
    /// Reset function `vf`, which must have no driver bound (unbind it first). One traced
    /// operation, so the reset shows in a span of its own.
    fn reset_function(&self, vf: &PciAddress) -> Result<(), HostError> {
        let _span = tracing::info_span!("reset_function", vf = %vf).entered();
        self.write(&SysWrite::Reset(*vf))
    }
    fn iommu_group_of(&self, a: &PciAddress) -> Option<u32> {
        self.sysfs(Sealed(())).iommu_group_of(a)
    }
    fn device_present(&self, a: &PciAddress) -> bool {
        self.sysfs(Sealed(())).device_present(a)
    }
    fn default_route_dev(&self) -> Option<String> {
        self.sysfs(Sealed(())).default_route_dev()
    }
    fn noiommu(&self) -> bool {
        self.sysfs(Sealed(())).noiommu()
    }
    /// Is the netdev administratively up (IFF_UP)?
    fn admin_up(&self, ifname: &IfName) -> Option<bool> {
        self.sysfs(Sealed(())).netdev_admin_up(ifname.as_str())
    }
    /// Devices stacked on the netdev (`master`, `upper_*`): a bond, bridge, macvtap or VLAN
    /// device using it.
    fn uppers_of(&self, ifname: &IfName) -> Vec<String> {
        self.sysfs(Sealed(())).netdev_uppers(ifname.as_str())
    }
    /// [`Host::uppers_of`] of each of `names`, in order (a view reads every VF netdev's at
    /// once, side by side on a big host).
    fn uppers_of_many(&self, names: &[&str]) -> Vec<Vec<String>> {
        self.sysfs(Sealed(())).netdev_uppers_many(names)
    }
    /// Ifindexes of this namespace's links that carry a configured address (not only the
    /// IPv6 link-local one every up link gets). One dump for the whole host; empty where
    /// the host cannot tell (a fixture tree read without the simulation).
    fn addressed_links(&self) -> Result<std::collections::BTreeSet<u32>, HostError> {
        Ok(Default::default())
    }
    /// PCI devices kubelet's device manager has given to containers (its checkpoint,
    /// read-only), with the resource holding each.
    fn kubelet_devices(&self) -> std::collections::BTreeMap<PciAddress, String> {
        self.sysfs(Sealed(())).kubelet_devices()
    }
    /// IOMMU group → pids holding `/dev/vfio/<group>` open (from `proc/*/fd` under the root).
    fn vfio_group_holders(&self) -> std::collections::BTreeMap<u32, Vec<u32>> {
        self.sysfs(Sealed(())).vfio_group_holders()
    }
    /// Per-VF traffic counters of PF `pf` (IFLA_VF_STATS), one request for all its VFs.
    /// Empty where the host has none to report (fixture trees and the simulation).
    fn vf_counters(&self, pf: &IfName) -> Result<Vec<crate::rtnl::VfCounters>, HostError> {
        let _ = pf;
        Ok(Vec::new())
    }
    /// The PCIe AER totals of each of `devices` (one message per unreadable or malformed
    /// `aer_dev_*` file) and [`Host::carrier_changes`] of each of `netdevs`, in order: the
    /// health sample's counters in one batch, which the sysfs layer reads on two threads for
    /// a big host.
    fn health_counters(
        &self,
        devices: &[PciAddress],
        netdevs: &[IfName],
    ) -> crate::sysfs::aer::HealthCounters {
        let _span = tracing::debug_span!(
            "health_counters",
            devices = devices.len(),
            netdevs = netdevs.len()
        )
        .entered();
        self.sysfs(Sealed(())).health_counters(devices, netdevs)
    }
    /// Every devlink health reporter of the host, device and port reporters of every
    /// instance (one dump), for the health model. Empty where the host has none to report:
    /// fixture trees, the simulation, a kernel without devlink.
    fn devlink_health(&self) -> Result<Vec<crate::devlink::HealthReporter>, HostError> {
        Ok(Vec::new())
    }
    /// The netdev's `carrier_changes` counter (link flaps are its growth over time).
    fn carrier_changes(&self, ifname: &IfName) -> Option<u64> {
        self.sysfs(Sealed(())).carrier_changes(ifname.as_str())
    }
    fn mtu_of(&self, ifname: &IfName) -> Option<u32> {
        self.sysfs(Sealed(())).netdev_mtu(ifname.as_str())
    }
    /// The function's PCIe DSN or VPD serial (see [`crate::sysfs::serial`]).
    fn device_serial(&self, a: &PciAddress) -> Option<String> {
        self.sysfs(Sealed(())).device_serial(a)
    }
    /// The VPD serial of one function as nova reads it for `remote_managed` (the VPD `SN`,
    /// not the DSN: nova reads libvirt's VPD capability): None when the function has no VPD,
    /// `Some(None)` when its VPD carries no serial (then nova does not fall back to the PF).
    fn vpd_serial(&self, a: &PciAddress) -> Option<Option<String>> {
        let _span = tracing::debug_span!("vpd_serial", dev = %a).entered();
        self.sysfs(Sealed(()))
            .vpd(a)
            .map(|v| crate::sysfs::serial::sn_from_vpd(&v))
    }
    fn vf_states(&self) -> Result<Vec<PfLinkState>, HostError>;
    /// One PF's VF state (cheaper than a full dump on a big host). The PF is named, never
    /// given by ifindex: an index remembered from an earlier run may now be another link.
    fn vf_state_of(&self, pf: &IfName) -> Result<Option<PfLinkState>, HostError> {
        Ok(self.vf_states()?.into_iter().find(|l| &l.ifname == pf))
    }
    /// One VF knob, one RTM_SETLINK on the PF (by name), so a failure names exactly one knob.
    fn set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError>;
    /// The PF's devlink eswitch; None where it has no devlink instance with an eswitch (igb,
    /// fixture trees read without the simulation).
    fn eswitch_of(&self, pf: &PfId) -> Result<Option<EswitchInfo>, HostError> {
        let _ = pf;
        Ok(None)
    }
    /// [`Host::eswitch_of`] of each PF in `pfs`, in order: the inventory asks for every PF,
    /// and the real host shares its host-wide devlink dumps (instances, rates, ports) among
    /// them instead of sending each per PF.
    fn eswitches_of(&self, pfs: &[PfId]) -> Vec<Result<Option<EswitchInfo>, HostError>> {
        pfs.iter().map(|pf| self.eswitch_of(pf)).collect()
    }
    /// The bare devlink eswitch mode set: the vendor order rules are the engine's
    /// (`engine::eswitch`), this is one kernel request.
    fn set_eswitch_mode(
        &self,
        pf: &PfId,
        mode: crate::devlink::EswitchMode,
    ) -> Result<(), HostError> {
        self.set_eswitch(pf, &crate::devlink::EswitchSet::mode(mode))
    }
    /// One `devlink dev eswitch set` request: the mode and/or the inline and encap modes.
    fn set_eswitch(&self, pf: &PfId, set: &crate::devlink::EswitchSet) -> Result<(), HostError> {
        Err(HostError::kernel(
            format!("devlink eswitch set {pf} {set}"),
            libc::EOPNOTSUPP,
        ))
    }
    /// Both VF rates through the VF's devlink rate leaf, when the PF's eswitch is in
    /// switchdev mode (where IFLA_VF_RATE answers EOPNOTSUPP, "Please use devlink API").
    /// `Ok(false)`: not switchdev (or no devlink), the caller uses [`Host::set_vf`].
    fn set_vf_rate_switchdev(
        &self,
        pf: &IfName,
        vf: u32,
        min_mbps: u32,
        max_mbps: u32,
    ) -> Result<bool, HostError> {
        let _ = (pf, vf, min_mbps, max_mbps);
        Ok(false)
    }
    /// The devlink port function of VF `vf`, when the PF's eswitch is in switchdev mode and
    /// the VF's port reports a function with hw_addr; None otherwise (legacy mode, no
    /// devlink, netdevsim), and the VF's MAC goes through IFLA_VF_MAC.
    fn vf_port_function(&self, pf: &IfName, vf: u32) -> Result<Option<VfPortFunction>, HostError> {
        let _ = (pf, vf);
        Ok(None)
    }
    /// Every VF port function of PF `pf`, by VF index, from one lookup (one port dump on
    /// the real host) where [`Host::vf_port_function`] per VF would dump the ports once per
    /// VF: `vf show PF` asks for all of them. Empty where [`Host::vf_port_function`] says
    /// None for every VF.
    fn vf_port_functions(
        &self,
        pf: &IfName,
    ) -> Result<std::collections::BTreeMap<u32, VfPortFunction>, HostError> {
        let _ = pf;
        Ok(Default::default())
    }
    /// `devlink port function set` on VF `vf`'s port: hw_addr, then state, in one request.
    fn set_vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
        hw_addr: Option<crate::types::MacAddress>,
        state: Option<crate::devlink::FnState>,
    ) -> Result<(), HostError> {
        Err(HostError::kernel(
            portfn::describe_set(pf, vf, hw_addr, state),
            libc::EOPNOTSUPP,
        ))
    }
    /// The devlink rate objects (VF leaves and nodes) of the PF's instance; None where the
    /// PF has no devlink eswitch.
    fn rate_objects(&self, pf: &PfId) -> Result<Option<RateObjects>, HostError> {
        let _ = pf;
        Ok(None)
    }
    /// One devlink rate request ([`RateOp`]): a node added, set or deleted, or a VF's leaf
    /// set (rates and/or parent). No checks beyond the kernel's: the engine's are in
    /// `engine::rate`.
    fn change_rate(&self, pf: &PfId, op: &RateOp) -> Result<(), HostError> {
        Err(HostError::kernel(op.describe(pf), libc::EOPNOTSUPP))
    }
    fn write(&self, w: &SysWrite) -> Result<(), HostError>;
    fn link_up(&self, ifname: &IfName) -> Result<(), HostError>;
    /// Administratively down (undoing a `link_up`, or a policy's `up = false`).
    fn link_down(&self, ifname: &IfName) -> Result<(), HostError>;
    /// A netdev's MTU (RTM_SETLINK IFLA_MTU).
    fn set_mtu(&self, ifname: &IfName, mtu: u32) -> Result<(), HostError>;
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

    /// Make sure PCI driver `d` is registered, loading its module if it is not, so a bind
    /// fails at once with the reason instead of waiting out a probe that cannot succeed
    /// (`vfio-pci` is often not loaded when `apply --boot` runs early in boot). The
    /// simulated kernel has every driver built in.
    fn load_driver(&self, d: &DriverName) -> Result<(), HostError> {
        let _ = d;
        Ok(())
    }

    /// Move `vf` to driver `to` (None: leave it unbound) with `driver_override` set to
    /// `override_to`, as the PCI core needs: override, unbind, drivers_probe, then wait for
    /// the bind to show. Already on `to`: only the override is written.
    ///
    /// The probe itself always runs with `to` as the override: the PCI core probes a VF of a
    /// PF with `sriov_drivers_autoprobe=0` only when driver_override names a driver
    /// (`pci_device_can_probe`), which is exactly the state `apply` creates VFs in when
    /// some of them are bound for vfio-pci. The wanted override is written back after.
    fn bind(
        &self,
        vf: &PciAddress,
        to: Option<&DriverName>,
        override_to: Option<&DriverName>,
    ) -> Result<(), HostError> {
        let _span =
            tracing::info_span!("bind", vf = %vf, to = to.map(|d| d.as_str()).unwrap_or("-"))
                .entered();
        // Checked before the first write: a bound driver vifman cannot name cannot be
        // unbound by name, and must not be taken for "unbound".
        let cur = self.bound_driver(vf)?;
        if cur.is_some() && cur.as_ref() == to {
            return self.write(&SysWrite::DriverOverride(*vf, override_to.cloned()));
        }
        if let Some(d) = to {
            self.load_driver(d)?;
        }
        let probe_as = to.or(override_to);
        self.write(&SysWrite::DriverOverride(*vf, probe_as.cloned()))?;
        if let Some(cur) = cur {
            self.write(&SysWrite::Unbind(*vf, cur))?;
        }
        if let Some(d) = to {
            self.write(&SysWrite::Probe(*vf))?;
            self.wait_until(&format!("{vf} bound to {d}"), BIND_TIMEOUT, &mut || {
                self.driver_of(vf).as_ref() == Some(d)
            })?;
        }
        if probe_as != override_to {
            self.write(&SysWrite::DriverOverride(*vf, override_to.cloned()))?;
        }
        Ok(())
    }

    /// Unbind `vf` from `driver` and probe it again (a PF-set MAC reaches igb/ixgbe VFs only
    /// when their driver re-registers), waiting until it is back. Probed with `driver` as
    /// the override when none is set, for the same autoprobe=0 reason as [`Host::bind`].
    fn reprobe(&self, vf: &PciAddress, driver: &DriverName) -> Result<(), HostError> {
        let _span = tracing::info_span!("reprobe", vf = %vf, driver = %driver).entered();
        let pinned = self.driver_override_of(vf).is_none();
        if pinned {
            self.write(&SysWrite::DriverOverride(*vf, Some(driver.clone())))?;
        }
        self.write(&SysWrite::Unbind(*vf, driver.clone()))?;
        self.write(&SysWrite::Probe(*vf))?;
        let waited = self.wait_until(
            &format!("{vf} rebound to {driver}"),
            BIND_TIMEOUT,
            &mut || self.driver_of(vf).as_ref() == Some(driver),
        );
        if pinned {
            self.write(&SysWrite::DriverOverride(*vf, None))?;
        }
        waited
    }
}

/// How long a driver may take to bind a device after drivers_probe.
const BIND_TIMEOUT: Duration = Duration::from_secs(10);
