//! The simulated kernel's write journal: one line per change request that reached it (sysfs
//! write, VF setlink, link up/down, MTU), in order, appended to `.vifman-sim-writes` at the
//! top of the simulation's tree. Tests count lines to prove that an apply on a host already
//! in its desired state writes nothing, and read the order to check sequencing rules.
//! Refused requests (injected faults) are not journalled: the kernel changed nothing.

use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::SimHost;

/// The journal's file name inside the simulation's tree.
pub const JOURNAL: &str = ".vifman-sim-writes";

impl SimHost {
    /// Append `op` to the journal. Best effort: a journal that cannot be written only costs the
    /// tests their evidence, never the simulated change.
    pub(super) fn journal(&self, op: &str) {
        let Ok(c) = self.root.confined() else { return };
        let flags =
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(c.as_fd(), JOURNAL, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => {
                let line = format!("{}\n", op.replace('\n', " "));
                if let Err(e) = rustix::io::write(&fd, line.as_bytes()) {
                    tracing::warn!("simulation journal: {e}");
                }
            }
            Err(e) => tracing::warn!("simulation journal: {e}"),
        }
    }
}

/// The journal of the simulation in `sim_root`, one entry per write (empty when none).
pub fn read_journal(sim_root: &Path) -> Vec<String> {
    std::fs::read_to_string(sim_root.join(JOURNAL))
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}
