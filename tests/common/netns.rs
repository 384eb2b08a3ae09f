//! Private network namespaces for the kernel tests.
//!
//! Every kernel test runs on a thread that unshares its network namespace first, so the
//! host's interfaces are never touched; daemons started from that thread inherit it.

use std::path::Path;

use vifman::backend::rtnl::{LinkChange, Request, Rtnl};

/// Why a privileged test cannot run here, or None if it can.
pub fn cannot_run_privileged() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN for unshare)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    None
}

/// Runs `f` on a fresh thread inside a new network namespace with `lo` up. Returns None
/// (after printing why) when the machine cannot do that; set VIFMAN_REQUIRE_NETNS=1 to
/// turn the skip into a failure.
pub fn in_netns<R: Send>(test: &str, f: impl FnOnce() -> R + Send) -> Option<R> {
    if let Some(why) = cannot_run_privileged() {
        skip(test, &why);
        return None;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare only affects this thread's namespace set.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                let e = std::io::Error::last_os_error();
                skip(test, &format!("unshare(CLONE_NEWNET): {e}"));
                return None;
            }
            let mut rt = Rtnl::open().expect("rtnetlink in new netns");
            let lo = rt.get_link("lo").unwrap().expect("lo exists");
            rt.request(Request::set_link(
                lo.index,
                "lo",
                &LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            ))
            .unwrap();
            Some(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

pub fn skip(test: &str, why: &str) {
    if std::env::var_os("VIFMAN_REQUIRE_NETNS").is_some() {
        panic!("{test}: cannot run: {why}");
    }
    eprintln!("SKIP {test}: {why}");
}

pub fn rtnl() -> Rtnl {
    Rtnl::open().expect("rtnetlink")
}

/// Names of all links in the current (test) namespace, sorted.
pub fn link_names() -> Vec<String> {
    let mut v: Vec<_> = rtnl()
        .dump_links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    v.sort();
    v
}
