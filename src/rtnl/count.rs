//! Per-process counts of the netlink requests vifman sends, by family and kind. They exist so
//! tests (and a curious operator under a debugger) can check that an operation asks the
//! kernel only as often as it needs to: a dump per VF where one per PF would do is a cost
//! that no output shows. Relaxed atomics: a count, not a synchronisation point.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static RTNL_DUMPS: AtomicU64 = AtomicU64::new(0);
static RTNL_OTHER: AtomicU64 = AtomicU64::new(0);
static DEVLINK_DUMPS: AtomicU64 = AtomicU64::new(0);
static DEVLINK_OTHER: AtomicU64 = AtomicU64::new(0);

/// The requests sent so far by this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// rtnetlink dumps (RTM_GETLINK with NLM_F_DUMP: the VF-state and counter dumps).
    pub rtnl_dumps: u64,
    /// Other rtnetlink requests (a GET of one link, sets, batches' messages).
    pub rtnl_other: u64,
    /// devlink dumps (`dev`, `port`, `rate`, `health` dumps).
    pub devlink_dumps: u64,
    /// Other devlink requests (eswitch get, info, sets).
    pub devlink_other: u64,
}

impl RequestCounts {
    /// The requests between `earlier` and `self`.
    pub fn since(self, earlier: RequestCounts) -> RequestCounts {
        RequestCounts {
            rtnl_dumps: self.rtnl_dumps - earlier.rtnl_dumps,
            rtnl_other: self.rtnl_other - earlier.rtnl_other,
            devlink_dumps: self.devlink_dumps - earlier.devlink_dumps,
            devlink_other: self.devlink_other - earlier.devlink_other,
        }
    }
}

/// The counts now.
pub fn requests() -> RequestCounts {
    RequestCounts {
        rtnl_dumps: RTNL_DUMPS.load(Relaxed),
        rtnl_other: RTNL_OTHER.load(Relaxed),
        devlink_dumps: DEVLINK_DUMPS.load(Relaxed),
        devlink_other: DEVLINK_OTHER.load(Relaxed),
    }
}

pub(crate) fn rtnl(dump: bool, n: u64) {
    if dump { &RTNL_DUMPS } else { &RTNL_OTHER }.fetch_add(n, Relaxed);
}

pub(crate) fn devlink(dump: bool) {
    if dump { &DEVLINK_DUMPS } else { &DEVLINK_OTHER }.fetch_add(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_family_and_kind() {
        let before = requests();
        rtnl(true, 1);
        devlink(false);
        devlink(true);
        let d = requests().since(before);
        // Other tests in this process may send requests meanwhile: at least ours.
        assert!(d.rtnl_dumps >= 1 && d.devlink_dumps >= 1 && d.devlink_other >= 1);
    }
}
