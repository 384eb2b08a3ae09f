//! Per-interface sysctls: the one kernel write the software VIF backends make outside
//! rtnetlink, kept in the kernel-access layer with the rest.

use crate::types::IfName;

/// `net.ipv6.conf.<name>.disable_ipv6 = 1`. There is no rtnetlink attribute for it, hence the
/// sysctl file, which resolves in the calling thread's network namespace. `Ok(false)`: the
/// kernel has no IPv6 (or no such interface), so there is nothing to disable. The name is an
/// [`IfName`], so it cannot climb out of `/proc/sys/net/ipv6/conf`.
pub fn disable_ipv6(name: &IfName) -> std::io::Result<bool> {
    let _s = tracing::debug_span!("sysctl_disable_ipv6", %name).entered();
    let p = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&p, "1") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
