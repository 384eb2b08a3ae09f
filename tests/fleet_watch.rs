//! The real host's watcher (`Host::watch`) against the real kernel: in a private network namespace, creating a
//! veth pair and bringing it up and down must wake it (rtnetlink RTMGRP_LINK, the path PF
//! carrier changes take), without polling. Skipped without root.
#![cfg(feature = "fleet")]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use vifman::host::{Host, RealHost};
use vifman::sysfs::SysfsRoot;

#[test]
fn kernel_link_events_wake_the_watcher() {
    std::thread::spawn(|| {
        // SAFETY: unshare only changes this thread's namespace membership.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "SKIPPED: cannot unshare a network namespace ({}); needs root",
                std::io::Error::last_os_error()
            );
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let notify = Arc::new(tokio::sync::Notify::new());
        let n = notify.clone();
        // Sockets opened on this thread live in the new namespace, as do `ip`'s children.
        let host = RealHost::new(SysfsRoot::new(Path::new("/")).unwrap());
        let _w = host.watch(Arc::new(move || n.notify_one())).unwrap();
        let ip = |args: &[&str]| {
            let o = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                o.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        for step in [
            &[
                "link", "add", "vfm0", "type", "veth", "peer", "name", "vfm1",
            ][..],
            &["link", "set", "vfm0", "up"],
            &["link", "set", "vfm0", "down"],
        ] {
            ip(step);
            let woke = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), notify.notified())
                    .await
                    .is_ok()
            });
            assert!(woke, "no wake-up after ip {step:?}");
        }
    })
    .join()
    .unwrap();
}
