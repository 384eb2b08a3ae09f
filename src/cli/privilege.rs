//! "Needs CAP_NET_ADMIN" before anything changes, not an EPERM half-way through a transaction
//! that then has to be rolled back (and, without the capability, may not roll back either).

use anyhow::bail;

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;

fn name(cap: u32) -> &'static str {
    match cap {
        CAP_NET_ADMIN => "CAP_NET_ADMIN",
        CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
        _ => "a capability",
    }
}

/// The effective capability set of this thread (`capget`). `None` when the kernel does not
/// answer (a seccomp filter, say): then the kernel's own EPERM is the answer.
fn effective() -> Option<u64> {
    rustix::thread::capabilities(None)
        .ok()
        .map(|c| c.effective.bits())
}

fn missing(eff: u64, caps: &[u32]) -> Vec<&'static str> {
    caps.iter()
        .filter(|c| eff & (1u64 << **c) == 0)
        .map(|c| name(*c))
        .collect()
}

/// Fails with one line naming the missing capabilities, for `what`.
pub fn require(what: &str, caps: &[u32]) -> anyhow::Result<()> {
    let Some(eff) = effective() else {
        return Ok(());
    };
    let m = missing(eff, caps);
    if !m.is_empty() {
        bail!(
            "{what} needs {} (or root); nothing was changed",
            m.join(" and ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing() {
        assert_eq!(
            missing(0, &[CAP_NET_ADMIN, CAP_SYS_ADMIN]),
            ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
        );
        assert!(missing(u64::MAX, &[CAP_NET_ADMIN]).is_empty());
        assert_eq!(
            missing(1 << CAP_NET_ADMIN, &[CAP_NET_ADMIN, CAP_SYS_ADMIN]),
            ["CAP_SYS_ADMIN"]
        );
    }
}
