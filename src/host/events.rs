//! Kernel events, owned by the host: what makes waiting ([`Host::wait_until`]) and watching
//! ([`Host::watch`]) event-driven instead of sleeping or rescanning blindly.
//!
//! On hardware the kernel says it: kobject uevents (VFs, netdevs and drivers come and go)
//! and rtnetlink RTMGRP_LINK messages (PF carrier/operstate, which sends no uevent). The
//! simulated kernel only writes files, so there inotify watches the directories it changes.
//! Callers (the device plugin, `placement sync --watch`) get one callback either way and
//! never learn which kind of host they watch.
//!
//! [`Host::wait_until`]: super::Host::wait_until
//! [`Host::watch`]: super::Host::watch

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netlink_sys::{protocols, Socket, SocketAddr};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::inotify;

/// What a watcher calls on a change. Called from the watcher's own thread.
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// File a test or operator touches at the top of a simulated tree to force a rescan
/// (`touch` is enough: the tree's top directory is watched).
pub const RESCAN_TRIGGER: &str = ".vifman-rescan";

/// A running watcher; it stops (within one poll period) when this is dropped.
#[must_use = "the watcher stops when its Watch is dropped"]
pub struct Watch {
    stop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often a watcher thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(250);
/// Events come in bursts (one numvfs write = dozens of files); coalesce them.
const SETTLE: Duration = Duration::from_millis(3);

/// Waits up to `timeout` until one of `fds` is readable; false on timeout, signal or error.
fn poll_in(fds: &[BorrowedFd<'_>], timeout: Duration) -> bool {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|f| PollFd::from_borrowed_fd(*f, PollFlags::IN))
        .collect();
    let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    matches!(poll(&mut pfds, Some(&ts)), Ok(n) if n > 0)
}

/// A non-blocking socket subscribed to one multicast group of `proto`.
fn netlink_group(proto: isize, group: u32) -> std::io::Result<Socket> {
    let mut s = Socket::new(proto)?;
    s.bind(&SocketAddr::new(0, group))?;
    s.set_non_blocking(true)?;
    Ok(s)
}

/// Reads every queued datagram; the content does not matter, only that something changed.
fn drain(sock: &Socket, buf: &mut Vec<u8>) {
    loop {
        buf.clear();
        match sock.recv(buf, 0) {
            Ok(_) => {
                if let Ok(text) = std::str::from_utf8(buf) {
                    tracing::trace!(event = %text.split('\0').next().unwrap_or(""), "kernel event");
                }
            }
            Err(_) => return,
        }
    }
}

/// Kernel-originated uevents (group 1), for a real host's `wait_until`.
pub(crate) struct Uevents {
    socket: Socket,
    buf: Vec<u8>,
}

impl Uevents {
    pub(crate) fn open() -> std::io::Result<Self> {
        Ok(Uevents {
            socket: netlink_group(protocols::NETLINK_KOBJECT_UEVENT, 1)?,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Waits up to `timeout` for at least one event and drains the queued ones; false on
    /// timeout.
    pub(crate) fn wait(&mut self, timeout: Duration) -> bool {
        if !poll_in(&[self.socket.as_fd()], timeout) {
            return false;
        }
        drain(&self.socket, &mut self.buf);
        true
    }
}

/// Kernel events of the calling thread's network namespace: uevents and RTMGRP_LINK. The
/// sockets are opened here, so the namespace is the caller's, not the watcher thread's.
pub(crate) fn watch_kernel(on_change: OnChange) -> std::io::Result<Watch> {
    let uevent = netlink_group(protocols::NETLINK_KOBJECT_UEVENT, 1)?;
    let link = netlink_group(protocols::NETLINK_ROUTE, libc::RTMGRP_LINK as u32)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::Builder::new()
        .name("vifman-uevent".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(64 * 1024);
            while !s.load(Ordering::Relaxed) {
                if !poll_in(&[uevent.as_fd(), link.as_fd()], POLL) {
                    continue;
                }
                std::thread::sleep(SETTLE * 10);
                drain(&uevent, &mut buf);
                drain(&link, &mut buf);
                let _s = tracing::debug_span!("kernel_event").entered();
                on_change();
            }
        })?;
    Ok(Watch { stop })
}

/// An inotify instance that remembers what it watches.
struct Inotify {
    fd: OwnedFd,
    watched: HashSet<PathBuf>,
}

impl Inotify {
    fn new() -> std::io::Result<Inotify> {
        Ok(Inotify {
            fd: inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?,
            watched: HashSet::new(),
        })
    }

    /// Watch every path not yet watched. MODIFY, not CLOSE_WRITE: the store opens its files
    /// read-write even to read them, and a rescan must not trigger the next one. (A
    /// re-created directory gets a new inode, so paths that vanished are forgotten and
    /// watched again when they come back.)
    fn ensure(&mut self, paths: &[PathBuf]) {
        self.watched.retain(|p| p.exists());
        let mask = inotify::WatchFlags::CREATE
            | inotify::WatchFlags::DELETE
            | inotify::WatchFlags::MOVED_TO
            | inotify::WatchFlags::MOVED_FROM
            | inotify::WatchFlags::MODIFY
            | inotify::WatchFlags::DELETE_SELF;
        for p in paths {
            if self.watched.contains(p) {
                continue;
            }
            match inotify::add_watch(&self.fd, p.as_path(), mask) {
                Ok(_) => {
                    self.watched.insert(p.clone());
                }
                Err(e) => tracing::trace!(path = %p.display(), err = %e, "inotify_add_watch"),
            }
        }
    }

    /// Drain queued events; true if there were any.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 16384];
        let mut any = false;
        while matches!(rustix::io::read(&self.fd, &mut buf), Ok(n) if n > 0) {
            any = true;
        }
        any
    }
}

/// Watch the directories `paths()` names (re-evaluated after every event burst, so new VF
/// directories are picked up) and call `on_change` on any change in them.
pub fn watch_paths(
    paths: impl Fn() -> Vec<PathBuf> + Send + 'static,
    on_change: OnChange,
) -> std::io::Result<Watch> {
    let mut ino = Inotify::new()?;
    ino.ensure(&paths());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::Builder::new()
        .name("vifman-inotify".into())
        .spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if !poll_in(&[ino.fd.as_fd()], POLL) {
                    continue;
                }
                ino.drain();
                std::thread::sleep(SETTLE);
                ino.drain();
                ino.ensure(&paths());
                let _s = tracing::debug_span!("files_changed").entered();
                on_change();
            }
        })?;
    Ok(Watch { stop })
}

/// The directories the simulated kernel rewrites: the device and netdev lists, every
/// SR-IOV device and netdev directory (driver links, operstate), the VF-state files, and the
/// tree's top (for [`RESCAN_TRIGGER`]).
pub(crate) fn sim_paths(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![
        root.to_path_buf(),
        root.join(crate::netlink::VF_STATE_SHARDS),
        root.join("sys/bus/pci/devices"),
        root.join("sys/class/net"),
    ];
    let list = |d: PathBuf| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|it| it.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for dev in list(root.join("sys/bus/pci/devices")) {
        if dev.join("sriov_totalvfs").exists() || dev.join("physfn").exists() {
            v.extend(std::fs::canonicalize(&dev));
        }
    }
    for nd in list(root.join("sys/class/net")) {
        v.extend(std::fs::canonicalize(&nd));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    fn counter() -> (Arc<AtomicUsize>, OnChange) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (
            n,
            Arc::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    fn wait_for(n: &AtomicUsize, at_least: usize) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if n.load(Ordering::SeqCst) >= at_least {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_file_change_in_a_watched_dir_calls_back_and_a_new_dir_is_picked_up() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().to_path_buf();
        let sub = top.join("sub");
        let (n, cb) = counter();
        let s2 = sub.clone();
        let t2 = top.clone();
        let w = watch_paths(move || vec![t2.clone(), s2.clone()], cb).unwrap();
        std::fs::write(top.join(RESCAN_TRIGGER), "").unwrap();
        assert!(wait_for(&n, 1), "no call after touching the trigger");
        // `sub` did not exist at first; the burst re-evaluates the list and watches it.
        std::fs::create_dir(&sub).unwrap();
        assert!(wait_for(&n, 2));
        std::thread::sleep(Duration::from_millis(50));
        let before = n.load(Ordering::SeqCst);
        std::fs::write(sub.join("state.json"), "{}").unwrap();
        assert!(
            wait_for(&n, before + 1),
            "no call for a file in the new dir"
        );
        drop(w);
    }

    #[test]
    fn uevent_wait_times_out_quietly() {
        // Opening a uevent socket needs no privilege; nothing happens in 50 ms here (or if
        // something does, the wait returns early, which is also fine).
        if let Ok(mut u) = Uevents::open() {
            let t = Instant::now();
            let woke = u.wait(Duration::from_millis(50));
            assert!(woke || t.elapsed() >= Duration::from_millis(45));
        }
    }
}
