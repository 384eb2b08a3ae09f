//! Host change notification: what makes the device plugin (and `placement sync --watch`)
//! rescan. On hardware the kernel says it — kobject uevents (VFs and drivers come and go) and
//! rtnetlink link messages (PF carrier/operstate, which sends no uevent). The simulated kernel
//! only writes files, so there inotify watches the directories it changes. Both feed one
//! `Notify`; the consumer keeps a slow periodic rescan as a safety net.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// File a test or operator touches in the sim-root to force a rescan (`touch` is enough).
pub const RESCAN_TRIGGER: &str = ".vifman-rescan";

/// Stops its watcher thread when dropped (within one poll period).
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const POLL: Duration = Duration::from_millis(250);
/// Events come in bursts (one numvfs write = dozens of files); coalesce them.
const SETTLE: Duration = Duration::from_millis(3);

fn poll_fds(fds: &mut [libc::pollfd], timeout: Duration) -> bool {
    // SAFETY: `fds` is a valid slice of pollfd for the duration of the call.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout.as_millis() as i32,
        )
    };
    n > 0
}

struct Inotify {
    fd: std::os::fd::OwnedFd,
    watched: std::collections::HashSet<PathBuf>,
}

impl Inotify {
    fn new() -> std::io::Result<Inotify> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor we own.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(Inotify {
            fd,
            watched: Default::default(),
        })
    }

    /// Watch every path not yet watched. IN_MODIFY, not IN_CLOSE_WRITE: the store opens its
    /// files read-write even to read them, and a rescan must not trigger the next one. (A
    /// re-created directory gets a new inode, so paths
    /// that vanished are forgotten and watched again when they come back).
    fn ensure(&mut self, paths: &[PathBuf]) {
        self.watched.retain(|p| p.exists());
        let mask = libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_MODIFY
            | libc::IN_DELETE_SELF;
        for p in paths {
            if self.watched.contains(p) {
                continue;
            }
            let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: valid fd and NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
            if wd >= 0 {
                self.watched.insert(p.clone());
            } else {
                tracing::trace!(path = %p.display(), err = %std::io::Error::last_os_error(), "inotify_add_watch");
            }
        }
    }

    /// Drain queued events; true if there were any.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 16384];
        let mut any = false;
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return any;
            }
            any = true;
        }
    }
}

/// Watch the directories `paths()` names (re-evaluated after every event burst, so new VF
/// directories are picked up) and notify on any change.
pub fn watch_paths(
    paths: impl Fn() -> Vec<PathBuf> + Send + 'static,
    notify: Arc<Notify>,
) -> std::io::Result<WatchHandle> {
    let mut ino = Inotify::new()?;
    ino.ensure(&paths());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::Builder::new()
        .name("vifman-inotify".into())
        .spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut fds = [libc::pollfd {
                    fd: ino.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                if !poll_fds(&mut fds, POLL) {
                    continue;
                }
                ino.drain();
                std::thread::sleep(SETTLE);
                ino.drain();
                ino.ensure(&paths());
                tracing::debug!("host files changed");
                notify.notify_one();
            }
        })?;
    Ok(WatchHandle { stop })
}

/// The directories the simulated kernel rewrites: the device and netdev lists, every
/// SR-IOV device and netdev directory (driver links, operstate), the VF-state files, and the
/// root itself (for [`RESCAN_TRIGGER`]).
pub fn sim_paths(root: &Path) -> Vec<PathBuf> {
    let mut v = vec![
        root.to_path_buf(),
        root.join("vf-state.d"),
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

fn netlink_group(proto: isize, group: u32) -> std::io::Result<netlink_sys::Socket> {
    let mut s = netlink_sys::Socket::new(proto)?;
    s.bind(&netlink_sys::SocketAddr::new(0, group))?;
    s.set_non_blocking(true)?;
    Ok(s)
}

/// Kernel events on a real host: uevents (group 1) and rtnetlink RTMGRP_LINK (group 1).
pub fn watch_kernel(notify: Arc<Notify>) -> std::io::Result<WatchHandle> {
    let uevent = netlink_group(netlink_sys::protocols::NETLINK_KOBJECT_UEVENT, 1)?;
    let link = netlink_group(
        netlink_sys::protocols::NETLINK_ROUTE,
        libc::RTMGRP_LINK as u32,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::Builder::new()
        .name("vifman-uevent".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(64 * 1024);
            while !s.load(Ordering::Relaxed) {
                let mut fds = [
                    libc::pollfd {
                        fd: uevent.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: link.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                if !poll_fds(&mut fds, POLL) {
                    continue;
                }
                std::thread::sleep(SETTLE * 10);
                for sock in [&uevent, &link] {
                    loop {
                        buf.clear();
                        if sock.recv(&mut buf, 0).is_err() {
                            break;
                        }
                    }
                }
                tracing::debug!("kernel event");
                notify.notify_one();
            }
        })?;
    Ok(WatchHandle { stop })
}

/// The right watcher for a host — inotify on a simulation's tree, kernel events otherwise —
/// plus the allocation store in `state_dir`, so allocations made by other vifman processes
/// (the CLI) show up at once.
pub fn watch_host(
    root: &Path,
    simulated: bool,
    state_dir: &Path,
    notify: Arc<Notify>,
) -> std::io::Result<Vec<WatchHandle>> {
    let state = state_dir.to_path_buf();
    if simulated {
        let root = root.to_path_buf();
        Ok(vec![watch_paths(
            move || {
                let mut v = sim_paths(&root);
                v.push(state.clone());
                v
            },
            notify,
        )?])
    } else {
        Ok(vec![
            watch_kernel(notify.clone())?,
            watch_paths(move || vec![state.clone()], notify)?,
        ])
    }
}
