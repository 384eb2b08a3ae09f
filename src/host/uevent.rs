//! Kernel uevents (NETLINK_KOBJECT_UEVENT): how the real host waits for VFs and their netdevs to
//! appear after an `sriov_numvfs` write without sleeping blindly.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_KOBJECT_UEVENT, Socket, SocketAddr};

pub struct UeventListener {
    socket: Socket,
}

impl UeventListener {
    pub fn open() -> std::io::Result<Self> {
        let mut socket = Socket::new(NETLINK_KOBJECT_UEVENT)?;
        // Group 1 = kernel-originated events.
        socket.bind(&SocketAddr::new(0, 1))?;
        socket.set_non_blocking(true)?;
        Ok(UeventListener { socket })
    }

    /// Wait up to `timeout` for at least one event; drain all queued ones. Returns false on
    /// timeout.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut fds = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut fds, 1, ms) };
        if n <= 0 {
            return false;
        }
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            buf.clear();
            match self.socket.recv(&mut buf, 0) {
                Ok(_) => {
                    if let Ok(text) = std::str::from_utf8(&buf) {
                        tracing::trace!(event = %text.split('\0').next().unwrap_or(""), "uevent");
                    }
                }
                Err(_) => break,
            }
        }
        true
    }
}
