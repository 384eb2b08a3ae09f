//! Failure injection for the simulated kernel: `VIFMAN_SIM_FAIL="vf.trust:EIO,probe"` makes the
//! first `trust` set and the first `drivers_probe` of this process fail with that errno
//! (default EIO); `VIFMAN_SIM_CRASH="vf.vlan"` aborts the process at that step, like kill -9.
//! One-shot per process, so the rollback that follows a failure can itself succeed.
//! `vf.vlan:IGNORE` makes the first VLAN set answer success and change nothing (a driver that
//! applies asynchronously and loses the change): what only a read-back catches.
//! `numvfs` fails any `sriov_numvfs` write, `numvfs.enable` only one that creates VFs (so
//! the removal of an N -> 0 -> M change goes in and the rollback after it runs), as the VM
//! tier's patched netdevsim does with `faults/sriov_configure` and `faults/sriov_enable`.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::host::HostError;

/// The "errno" of a request the kernel accepts and does not carry out.
const IGNORE: i32 = 0;

#[derive(Debug, Default)]
pub struct Faults {
    fail: Mutex<HashMap<String, i32>>,
    crash: Vec<String>,
}

fn errno_of(name: &str) -> i32 {
    errno_by_name(name).unwrap_or(libc::EIO)
}

/// The errno a fault names (`EBUSY`, or a number), `None` when it names none: the mount's
/// fault file (`crate::mount`) refuses such a rule instead of guessing EIO.
pub fn errno_by_name(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (n > 0 && n < 4096).then_some(n);
    }
    Some(match name.to_ascii_uppercase().as_str() {
        "EINVAL" => libc::EINVAL,
        "EBUSY" => libc::EBUSY,
        "EPERM" => libc::EPERM,
        "EACCES" => libc::EACCES,
        "ENOENT" => libc::ENOENT,
        "ENODEV" => libc::ENODEV,
        "ERANGE" => libc::ERANGE,
        "EOPNOTSUPP" => libc::EOPNOTSUPP,
        "ENOMEM" => libc::ENOMEM,
        "ENOSPC" => libc::ENOSPC,
        "EAGAIN" => libc::EAGAIN,
        "ETIMEDOUT" => libc::ETIMEDOUT,
        "ENETDOWN" => libc::ENETDOWN,
        "EIO" => libc::EIO,
        "ENOTTY" => libc::ENOTTY,
        "IGNORE" => IGNORE,
        _ => return None,
    })
}

impl Faults {
    pub fn parse(fail: &str, crash: &str) -> Faults {
        let fail = fail
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once(':') {
                Some((op, e)) => (op.to_string(), errno_of(e)),
                None => (s.to_string(), libc::EIO),
            })
            .collect();
        Faults {
            fail: Mutex::new(fail),
            crash: crash
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    pub fn from_env() -> Faults {
        Faults::parse(
            &std::env::var("VIFMAN_SIM_FAIL").unwrap_or_default(),
            &std::env::var("VIFMAN_SIM_CRASH").unwrap_or_default(),
        )
    }

    pub fn check(&self, step: &str, op: &str) -> Result<(), HostError> {
        if self.crash.iter().any(|c| c == step) {
            tracing::error!(step, "VIFMAN_SIM_CRASH: aborting");
            std::process::abort();
        }
        let hit = self
            .fail
            .lock()
            .map(|mut m| match m.get(step) {
                Some(&e) if e != IGNORE => m.remove(step),
                _ => None,
            })
            .unwrap_or(None);
        match hit {
            Some(errno) => Err(HostError::kernel(op, errno)),
            None => Ok(()),
        }
    }

    /// Whether `step` is to be accepted and not carried out this once (`step:IGNORE`).
    pub fn ignored(&self, step: &str) -> bool {
        self.fail
            .lock()
            .map(|mut m| {
                if m.get(step) == Some(&IGNORE) {
                    m.remove(step);
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false)
    }
}
