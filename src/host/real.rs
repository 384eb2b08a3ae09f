//! The real kernel: sysfs writes under the root (normally `/`), RTM_SETLINK, uevents.
//!
//! Over any other root (a fixture tree) the host is read-only: its VF state comes from the
//! tree's `vf-state.json`, and every change is refused. Writing a fixture as if it were a
//! kernel would corrupt it and, worse, send RTM_SETLINK to the *real* host's links of the
//! same name; `--simulate` is the way to act on a fixture.

use std::time::{Duration, Instant};

use super::events::{self, OnChange, Uevents, Watch};
use super::{Host, HostError, Knob, SysWrite};
use crate::netlink::{FixtureVfState, PfLinkState, VfStateSource};
use crate::rtnl::{KernelVfState, LinkChange, Request, Rtnl};
use crate::sysfs::SysfsRoot;
use crate::types::{DriverName, IfName};

pub struct RealHost {
    root: SysfsRoot,
}

impl RealHost {
    pub fn new(root: SysfsRoot) -> Self {
        RealHost { root }
    }
}

impl RealHost {
    /// Refuses changes unless the root is the live system's `/`.
    fn live(&self, op: &str) -> Result<(), HostError> {
        if self.root.is_host() {
            return Ok(());
        }
        Err(HostError::other(
            op,
            format!(
                "{} is not the live system; a fixture tree is only changed through the simulated kernel",
                self.root.path().display()
            ),
        ))
    }
}

impl Host for RealHost {
    fn sysfs(&self, _: super::Sealed) -> &SysfsRoot {
        &self.root
    }

    fn simulated(&self) -> bool {
        false
    }

    fn vf_states(&self) -> Result<Vec<PfLinkState>, HostError> {
        if !self.root.is_host() {
            let src = FixtureVfState::new(self.root.path());
            if !src.exists() {
                return Ok(Vec::new());
            }
            let mut links = src
                .vf_state()
                .map_err(|e| HostError::other("reading vf-state.json", e.to_string()))?;
            // A fixture's self-chosen MACs are what the kernel reported too: the same rule.
            for l in &mut links {
                super::normalize_self_chosen(&self.root, l);
            }
            return Ok(links);
        }
        let mut links = KernelVfState
            .vf_state()
            .map_err(|e| HostError::other("RTM_GETLINK dump", e.to_string()))?;
        for l in &mut links {
            super::normalize_self_chosen(&self.root, l);
        }
        Ok(links)
    }

    fn vf_state_of(&self, pf: &IfName) -> Result<Option<PfLinkState>, HostError> {
        if !self.root.is_host() {
            return Ok(self.vf_states()?.into_iter().find(|l| &l.ifname == pf));
        }
        let op = format!("read {pf} VF state");
        let mut l = Rtnl::open()
            .and_then(|mut s| s.pf_vf_state(pf))
            .map_err(|e| HostError::from_rtnl(op, e))?;
        if let Some(l) = l.as_mut() {
            super::normalize_self_chosen(&self.root, l);
        }
        Ok(l)
    }

    fn vf_counters(&self, pf: &IfName) -> Result<Vec<crate::rtnl::VfCounters>, HostError> {
        if !self.root.is_host() {
            return Ok(Vec::new());
        }
        Rtnl::open()
            .and_then(|mut s| s.pf_vf_counters(pf))
            .map_err(|e| HostError::from_rtnl(format!("read {pf} VF counters"), e))
    }

    fn addressed_links(&self) -> Result<std::collections::BTreeSet<u32>, HostError> {
        if !self.root.is_host() {
            return Ok(Default::default());
        }
        Rtnl::open()
            .and_then(|mut s| s.addressed_links())
            .map_err(|e| HostError::from_rtnl("RTM_GETADDR dump", e))
    }

    fn devlink_health(&self) -> Result<Vec<crate::devlink::HealthReporter>, HostError> {
        if !self.root.is_host() {
            return Ok(Vec::new());
        }
        let _span = tracing::debug_span!("devlink_health").entered();
        match crate::devlink::Devlink::open() {
            Err(crate::devlink::DevlinkError::NoFamily) => Ok(Vec::new()),
            Err(e) => Err(HostError::other("devlink health reporters", e.to_string())),
            Ok(mut d) => d
                .health_reporters()
                .map_err(|e| HostError::other("devlink health reporters", e.to_string())),
        }
    }

    fn set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError> {
        let op = format!("{pf} vf {vf} {}", knob.describe());
        self.live(&op)?;
        Rtnl::open()
            .and_then(|mut s| s.set_vf(pf, vf, knob))
            .map_err(|e| HostError::from_rtnl(op, e))
    }

    fn eswitch_of(&self, pf: &super::PfId) -> Result<Option<super::EswitchInfo>, HostError> {
        if !self.root.is_host() {
            return Ok(self.recorded_eswitch(pf));
        }
        super::eswitch::real_eswitch_of(pf)
    }

    fn eswitches_of(
        &self,
        pfs: &[super::PfId],
    ) -> Vec<Result<Option<super::EswitchInfo>, HostError>> {
        if !self.root.is_host() {
            return pfs.iter().map(|pf| Ok(self.recorded_eswitch(pf))).collect();
        }
        super::eswitch::real_eswitches_of(pfs)
    }

    fn set_eswitch(
        &self,
        pf: &super::PfId,
        set: &crate::devlink::EswitchSet,
    ) -> Result<(), HostError> {
        self.live(&format!("devlink eswitch set {pf} {set}"))?;
        super::eswitch::real_set_eswitch(pf, set)
    }

    fn set_vf_rate_switchdev(
        &self,
        pf: &IfName,
        vf: u32,
        min_mbps: u32,
        max_mbps: u32,
    ) -> Result<bool, HostError> {
        if !self.root.is_host() {
            return Ok(false);
        }
        match super::eswitch::real_switchdev_rate_leaf(pf, vf)? {
            None => Ok(false),
            Some((dev, port)) => {
                super::eswitch::real_set_rate_leaf(&dev, port, min_mbps, max_mbps)?;
                Ok(true)
            }
        }
    }

    fn vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
    ) -> Result<Option<super::VfPortFunction>, HostError> {
        if !self.root.is_host() {
            return Ok(None);
        }
        super::portfn::real_vf_port_function(pf, vf)
    }

    fn vf_port_functions(
        &self,
        pf: &IfName,
    ) -> Result<std::collections::BTreeMap<u32, super::VfPortFunction>, HostError> {
        if !self.root.is_host() {
            return Ok(Default::default());
        }
        super::portfn::real_vf_port_functions(pf)
    }

    fn set_vf_port_function(
        &self,
        pf: &IfName,
        vf: u32,
        hw_addr: Option<crate::types::MacAddress>,
        state: Option<crate::devlink::FnState>,
    ) -> Result<(), HostError> {
        self.live(&super::portfn::describe_set(pf, vf, hw_addr, state))?;
        super::portfn::real_set_vf_port_function(pf, vf, hw_addr, state)
    }

    fn rate_objects(&self, pf: &super::PfId) -> Result<Option<super::RateObjects>, HostError> {
        if !self.root.is_host() {
            let Some((r, a)) = self.recorded_pf(pf) else {
                return Ok(None);
            };
            let uplink = super::rate::record_uplink(&r, &a).and_then(|u| u.parse().ok());
            let link = match uplink {
                Some(u) => self.vf_state_of(&u)?,
                None => None,
            };
            return Ok(super::rate::rates_from_record(&r, &a, link.as_ref()));
        }
        super::rate::real_rate_objects(pf)
    }

    fn change_rate(&self, pf: &super::PfId, op: &super::RateOp) -> Result<(), HostError> {
        self.live(&op.describe(pf))?;
        super::rate::real_change_rate(pf, op)
    }

    fn write(&self, w: &SysWrite) -> Result<(), HostError> {
        let (rel, value) = w.target();
        let _span =
            tracing::info_span!("sysfs_write", path = %rel, value = value.trim_end()).entered();
        let op = w.describe();
        self.live(&op)?;
        super::refuse_bound_reset(self, w)?;
        let c = self
            .root
            .confined()
            .map_err(|e| HostError::from_access(&op, &e))?;
        // sysfs takes the whole value in one write(2); a short write is an error there.
        c.write(std::path::Path::new(&rel), value.as_bytes())
            .map_err(|e| HostError::from_access(&op, &e))
    }

    fn link_up(&self, ifname: &IfName) -> Result<(), HostError> {
        self.live(&format!("set {ifname} up"))?;
        let _span = tracing::info_span!("rtm_setlink_up", ifname = %ifname).entered();
        let up = LinkChange {
            up: Some(true),
            ..Default::default()
        };
        Rtnl::open()
            .and_then(|mut s| s.request(Request::set_link_by_name(ifname.as_str(), &up)))
            .map_err(|e| HostError::from_rtnl(format!("{ifname} up"), e))
    }

    fn link_down(&self, ifname: &IfName) -> Result<(), HostError> {
        self.live(&format!("set {ifname} down"))?;
        let _span = tracing::info_span!("rtm_setlink_down", ifname = %ifname).entered();
        let down = LinkChange {
            up: Some(false),
            ..Default::default()
        };
        Rtnl::open()
            .and_then(|mut s| s.request(Request::set_link_by_name(ifname.as_str(), &down)))
            .map_err(|e| HostError::from_rtnl(format!("{ifname} down"), e))
    }

    fn set_mtu(&self, ifname: &IfName, mtu: u32) -> Result<(), HostError> {
        self.live(&format!("set {ifname} mtu {mtu}"))?;
        let _span = tracing::info_span!("rtm_setlink_mtu", ifname = %ifname, mtu).entered();
        let change = LinkChange {
            mtu: Some(mtu),
            ..Default::default()
        };
        Rtnl::open()
            .and_then(|mut s| s.request(Request::set_link_by_name(ifname.as_str(), &change)))
            .map_err(|e| HostError::from_rtnl(format!("{ifname} mtu {mtu}"), e))
    }

    fn load_driver(&self, d: &DriverName) -> Result<(), HostError> {
        if self.root.pci_driver_registered(d) {
            return Ok(());
        }
        self.live(&format!("load driver {d}"))?;
        let _span = tracing::info_span!("modprobe", module = %d).entered();
        let out = modprobe(d);
        if self.root.pci_driver_registered(d) {
            return Ok(());
        }
        Err(HostError::other(
            format!("driver {d}"),
            format!(
                "not registered (no /sys/bus/pci/drivers/{d}) and `modprobe {d}` did not load it: {}",
                out
            ),
        ))
    }

    fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        ready: &mut dyn FnMut() -> bool,
    ) -> Result<(), HostError> {
        let _span = tracing::info_span!("wait_uevents", what).entered();
        let start = Instant::now();
        let mut listener = match Uevents::open() {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("cannot listen to uevents ({e}); re-checking every 50 ms instead");
                None
            }
        };
        loop {
            if ready() {
                tracing::debug!(waited_ms = start.elapsed().as_millis() as u64, "ready");
                return Ok(());
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(HostError::Timeout {
                    op: "wait".into(),
                    what: what.into(),
                    waited: start.elapsed(),
                });
            }
            match listener.as_mut() {
                // Re-check at least every 250 ms: a uevent for a file that appears through a
                // path we do not watch (e.g. driver bind inside another module) is not lost.
                Some(l) => {
                    l.wait(left.min(Duration::from_millis(250)));
                }
                None => std::thread::sleep(left.min(Duration::from_millis(50))),
            }
        }
    }

    fn watch(&self, on_change: OnChange) -> Result<Watch, HostError> {
        events::watch_kernel(on_change)
            .map_err(|e| HostError::from_io("watch kernel events (uevent, RTMGRP_LINK)", &e))
    }
}

/// Run kmod's `modprobe` for a driver's module (it maps `-`/`_` and aliases); what it said.
fn modprobe(d: &DriverName) -> String {
    let run = |bin: &str| {
        std::process::Command::new(bin)
            .args(["-q", "--", d.as_str()])
            .stdin(std::process::Stdio::null())
            .output()
    };
    let found = ["modprobe", "/usr/sbin/modprobe", "/sbin/modprobe"]
        .iter()
        .find_map(|b| run(b).ok());
    match found {
        None => "modprobe is not installed".into(),
        Some(o) if o.status.success() => "modprobe succeeded but no driver registered".into(),
        Some(o) => {
            let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if err.is_empty() {
                format!("modprobe exited with {}", o.status)
            } else {
                err
            }
        }
    }
}

impl RealHost {
    /// A fixture tree's answer for the eswitch: its devlink record's, where it has one (a
    /// malformed record is reported by the read path and answers nothing here).
    fn recorded_eswitch(&self, pf: &super::PfId) -> Option<super::EswitchInfo> {
        if let Some((r, a)) = self.recorded_pf(pf) {
            return super::eswitch::eswitch_from_record(&r, &a);
        }
        // A non-PCI PF (netdevsim's instance) the tree recorded.
        let c = self.root.confined().ok()?;
        let r = crate::devlink::record::DevlinkRecord::load(c)
            .ok()
            .flatten()?;
        let dev = super::eswitch::record_bus_instance(&r, pf)?;
        super::eswitch::instance_from_record(&r, &dev)
    }

    /// The tree's devlink record and the PCI address of the PF `pf` names in it.
    fn recorded_pf(
        &self,
        pf: &super::PfId,
    ) -> Option<(
        crate::devlink::record::DevlinkRecord,
        crate::types::PciAddress,
    )> {
        let c = self.root.confined().ok()?;
        let r = crate::devlink::record::DevlinkRecord::load(c)
            .ok()
            .flatten()?;
        let a = match pf {
            super::PfId::Pci(a) => *a,
            super::PfId::Netdev(n) => r.instances.iter().find_map(|i| {
                let a: crate::types::PciAddress = i.dev.dev.parse().ok()?;
                self.root.netdevs_of(&a).contains(n).then_some(a)
            })?,
            super::PfId::Handle(h) => r.instance(h)?.dev.dev.parse().ok()?,
        };
        Some((r, a))
    }
}
