//! The real kernel: sysfs writes under the root (normally `/`), RTM_SETLINK, uevents.

use std::io::Write;
use std::time::{Duration, Instant};

use super::events::{self, OnChange, Uevents, Watch};
use super::{Host, HostError, Knob, SysWrite};
use crate::netlink::{PfLinkState, VfStateSource};
use crate::rtnl::{KernelVfState, LinkChange, Request, Rtnl};
use crate::sysfs::SysfsRoot;
use crate::types::IfName;

pub struct RealHost {
    root: SysfsRoot,
}

impl RealHost {
    pub fn new(root: SysfsRoot) -> Self {
        RealHost { root }
    }
}

impl Host for RealHost {
    fn root(&self) -> &SysfsRoot {
        &self.root
    }

    fn simulated(&self) -> bool {
        false
    }

    fn vf_states(&self) -> Result<Vec<PfLinkState>, HostError> {
        let mut links = KernelVfState
            .vf_state()
            .map_err(|e| HostError::other("RTM_GETLINK dump", e.to_string()))?;
        for l in &mut links {
            super::normalize_self_chosen(self.root.path(), l);
        }
        Ok(links)
    }

    fn vf_state_of(&self, pf: &IfName) -> Result<Option<PfLinkState>, HostError> {
        let op = format!("read {pf} VF state");
        let mut l = Rtnl::open()
            .and_then(|mut s| s.pf_vf_state(pf))
            .map_err(|e| HostError::from_rtnl(op, e))?;
        if let Some(l) = l.as_mut() {
            super::normalize_self_chosen(self.root.path(), l);
        }
        Ok(l)
    }

    fn set_vf(&self, pf: &IfName, vf: u32, knob: &Knob) -> Result<(), HostError> {
        let op = format!("{pf} vf {vf} {}", knob.describe());
        Rtnl::open()
            .and_then(|mut s| s.set_vf(pf, vf, knob))
            .map_err(|e| HostError::from_rtnl(op, e))
    }

    fn write(&self, w: &SysWrite) -> Result<(), HostError> {
        let (rel, value) = w.target();
        let path = self.root.path().join(&rel);
        let _span =
            tracing::info_span!("sysfs_write", path = %path.display(), value = value.trim_end())
                .entered();
        let op = w.describe();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| HostError::from_io(&op, &e))?;
        // sysfs takes the whole value in one write(2); a short write is an error there.
        f.write_all(value.as_bytes())
            .map_err(|e| HostError::from_io(&op, &e))
    }

    fn link_up(&self, ifname: &IfName) -> Result<(), HostError> {
        let _span = tracing::info_span!("rtm_setlink_up", ifname = %ifname).entered();
        let up = LinkChange {
            up: Some(true),
            ..Default::default()
        };
        Rtnl::open()
            .and_then(|mut s| s.request(Request::set_link_by_name(ifname.as_str(), &up)))
            .map_err(|e| HostError::from_rtnl(format!("{ifname} up"), e))
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
