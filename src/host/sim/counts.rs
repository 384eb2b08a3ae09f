//! Counts of what the simulated kernel was asked (see [`SimCounts`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::SimHost;

/// How often the simulated kernel was asked what a real one answers over netlink, and how
/// often it parsed its devlink record: tests assert an operation asks once where once will
/// do (the real host's requests are counted in [`crate::rtnl::count`]).
#[derive(Debug, Default)]
pub struct SimCounts {
    pub(super) link_reads: AtomicU64,
    pub(super) port_fn_reads: AtomicU64,
    pub(super) port_fn_dumps: AtomicU64,
    pub(super) counter_reads: AtomicU64,
    pub(super) eswitch_reads: AtomicU64,
    pub(super) host_reads: AtomicU64,
    pub(super) scans: AtomicU64,
    pub(super) record_parses: AtomicU64,
}

/// A snapshot of [`SimCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCountsNow {
    /// One PF's VF records (`vf_state_of`: RTM_GETLINK of the PF).
    pub link_reads: u64,
    /// One VF's port function (`vf_port_function`: a port dump on the real host).
    pub port_fn_reads: u64,
    /// Every VF port function of one PF (`vf_port_functions`: one port dump).
    pub port_fn_dumps: u64,
    /// One PF's VF counters (`vf_counters`: a link dump with stats).
    pub counter_reads: u64,
    /// One PF's eswitch (`eswitch_of`).
    pub eswitch_reads: u64,
    /// Host-wide reads (`read`: the sysfs scan and the VF-state dump).
    pub host_reads: u64,
    /// Walks of the sysfs tree (`scan`, also the one in each `read`).
    pub scans: u64,
    /// Parses of `devlink.json`.
    pub record_parses: u64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl SimHost {
    /// The counts so far (see [`SimCounts`]).
    pub fn counts(&self) -> SimCountsNow {
        let l = |c: &AtomicU64| c.load(Relaxed);
        let c = &self.counts;
        SimCountsNow {
            link_reads: l(&c.link_reads),
            port_fn_reads: l(&c.port_fn_reads),
            port_fn_dumps: l(&c.port_fn_dumps),
            counter_reads: l(&c.counter_reads),
            eswitch_reads: l(&c.eswitch_reads),
            host_reads: l(&c.host_reads),
            scans: l(&c.scans),
            record_parses: l(&c.record_parses),
        }
    }
}
